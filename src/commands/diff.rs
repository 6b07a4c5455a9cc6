//! `claw diff`: the person's customisations, i.e. the work tree against the pristine tree.
//! On a terminal it is coloured and paged; `--json` gives a summary per file.

use std::io::Write;
use std::path::Path;

use git2::{Delta, DiffFormat, DiffOptions, Patch};

use crate::error::{Context, Error, Result};
use crate::install::Install;
use crate::lock::Access;
use crate::repo;

pub fn diff(dir: &Path, json: bool) -> Result<()> {
    let install = Install::open(dir, Access::Read)?;
    let pristine = repo::pristine_commit(&install.repo)?.tree().context("reading the pristine tree")?;
    let mut opts = DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).show_untracked_content(true);
    let diff = install
        .repo
        .diff_tree_to_workdir_with_index(Some(&pristine), Some(&mut opts))
        .context("diffing against the pristine tree")?;
    if json {
        return summary(&diff);
    }
    let mut out = crate::pager::open();
    let mut failed = None;
    let printed = diff.print(DiffFormat::Patch, |_, _, line| {
        let prefix = match line.origin() {
            '+' | '-' | ' ' => vec![line.origin() as u8],
            _ => vec![],
        };
        let written = out.write_all(&prefix).and_then(|()| out.write_all(line.content()));
        written.map_err(|e| failed = Some(e)).is_ok()
    });
    if let Some(e) = failed.or_else(|| out.flush().err()) {
        return Err(Error::output(&e));
    }
    printed.context("printing the diff")?;
    Ok(())
}

/// Each changed file: its path, how it changed, and lines added and removed.
fn summary(diff: &git2::Diff) -> Result<()> {
    let mut files = Vec::new();
    for (i, delta) in diff.deltas().enumerate() {
        let path = delta.new_file().path().or_else(|| delta.old_file().path());
        let path = path.map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let status = match delta.status() {
            Delta::Added | Delta::Untracked => "added",
            Delta::Deleted => "deleted",
            Delta::Renamed => "renamed",
            Delta::Typechange => "type changed",
            _ => "modified",
        };
        let patch = Patch::from_diff(diff, i).context("counting the diff's lines")?;
        let (_, added, removed) =
            patch.map(|p| p.line_stats()).transpose().context("counting the diff's lines")?.unwrap_or((0, 0, 0));
        files.push(serde_json::json!({ "path": path, "status": status, "added": added, "removed": removed }));
    }
    let doc = serde_json::json!({ "files": files });
    println!("{}", serde_json::to_string_pretty(&doc).context("writing JSON")?);
    Ok(())
}
