//! `claw continue` and `claw abort`: finish or drop a change that stopped on conflicts.

use std::path::Path;

use crate::error::{Code, Context, Error, Result, bail};
use crate::install::Install;
use crate::pending::Pending;
use crate::{journal, merge, repo, workdir};

pub fn continue_change(dir: &Path) -> Result<()> {
    let install = Install::open(dir)?;
    let pending = install.pending()?.context("there is no change waiting to be continued")?;
    let repo = &install.repo;
    let head = repo::head_commit(repo)?;
    if head.id().to_string() != pending.old_head {
        bail!("HEAD moved since the change began; run `claw abort` and apply again");
    }
    let mut left = Vec::new();
    for path in &pending.conflicted {
        if let Ok(data) = std::fs::read(install.root.join(path)) {
            left.extend(merge::marker_lines(&data).into_iter().map(|line| format!("  {path}:{line}")));
        }
    }
    if !left.is_empty() {
        return Err(Error::with_code(
            Code::Conflict,
            format!("conflict markers remain; resolve them first:\n{}", left.join("\n")),
        ));
    }
    repo::stage_paths(repo, &install.root, &repo::dirty_paths(repo)?)?;
    let tree = repo.index().and_then(|mut i| i.write_tree()).context("writing the resolved tree")?;
    let commit = repo::commit(repo, tree, &[head.id()], &pending.message)?;
    let title = pending.message.lines().next().unwrap_or_default().to_string();
    repo::set_ref(repo, repo::PRISTINE_REF, journal::oid(&pending.new_pristine)?, &title)?;
    repo::set_ref(repo, &repo::head_ref_name(repo)?, commit, &title)?;
    Pending::clear(&install.claw_dir)?;
    println!("{title}: committed {} with your resolutions.", &commit.to_string()[..12]);
    Ok(())
}

pub fn abort(dir: &Path) -> Result<()> {
    let install = Install::open(dir)?;
    let pending = install.pending()?.context("there is no change to abort")?;
    let head = repo::head_commit(&install.repo)?;
    let tree = repo::read_tree(&install.repo, head.tree_id())?;
    for path in &pending.paths {
        workdir::put(&install.root, path, tree.get(path))?;
    }
    repo::stage_paths(&install.repo, &install.root, &pending.paths)?;
    Pending::clear(&install.claw_dir)?;
    println!(
        "Aborted: {}; the work tree is back at the last commit.",
        pending.message.lines().next().unwrap_or_default()
    );
    Ok(())
}
