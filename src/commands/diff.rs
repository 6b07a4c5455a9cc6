//! `claw diff`: the person's customisations, i.e. the work tree against the pristine tree.

use std::io::Write;
use std::path::Path;

use git2::{DiffFormat, DiffOptions};

use crate::error::{Context, Error, Result};
use crate::install::Install;
use crate::lock::Access;
use crate::repo;

pub fn diff(dir: &Path) -> Result<()> {
    let install = Install::open(dir, Access::Read)?;
    let pristine = repo::pristine_commit(&install.repo)?.tree().context("reading the pristine tree")?;
    let mut opts = DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).show_untracked_content(true);
    let diff = install
        .repo
        .diff_tree_to_workdir_with_index(Some(&pristine), Some(&mut opts))
        .context("diffing against the pristine tree")?;
    let mut out = std::io::stdout().lock();
    let mut failed = None;
    let printed = diff.print(DiffFormat::Patch, |_, _, line| {
        let prefix = match line.origin() {
            '+' | '-' | ' ' => vec![line.origin() as u8],
            _ => vec![],
        };
        let written = out.write_all(&prefix).and_then(|()| out.write_all(line.content()));
        written.map_err(|e| failed = Some(e)).is_ok()
    });
    if let Some(e) = failed {
        return Err(Error::output(&e));
    }
    printed.context("printing the diff")?;
    Ok(())
}
