//! `claw continue` and `claw abort`: finish or drop a change that stopped on conflicts.

use std::path::Path;

use crate::error::{Code, Context, Error, Result, bail};
use crate::install::Install;
use crate::lock::Access;
use crate::pending::Pending;
use crate::{git_locks, journal, merge, repo, workdir};

pub fn continue_change(dir: &Path) -> Result<()> {
    let install = Install::open(dir, Access::Write)?;
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
    // Exactly the change's paths, as the person left them; anything else dirty or untracked
    // (scratch files, `.orig` files, other work) stays out of the commit.
    let tree =
        repo::tree_with_paths(repo, &head.tree().context("reading HEAD's tree")?, &install.root, &pending.paths)?;
    let commit = repo::commit(repo, tree, &[head.id()], &pending.message)?;
    let title = pending.message.lines().next().unwrap_or_default().to_string();
    let branch = repo::head_ref_name(repo)?;
    git_locks::ensure_free(repo)?;
    git_locks::marked(&install.claw_dir, || {
        repo::stage_paths(repo, &install.root, &pending.paths)?;
        repo::set_ref(repo, repo::PRISTINE_REF, journal::oid(&pending.new_pristine)?, &title)?;
        repo::set_ref(repo, &branch, commit, &title)?;
        Pending::clear(&install.claw_dir)
    })?;
    println!("{title}: committed {} with your resolutions.", &commit.to_string()[..12]);
    Ok(())
}

pub fn abort(dir: &Path) -> Result<()> {
    let install = Install::open(dir, Access::Write)?;
    let pending = install.pending()?.context("there is no change to abort")?;
    let head = repo::head_commit(&install.repo)?;
    let tree = repo::read_tree(&install.repo, head.tree_id())?;
    git_locks::ensure_free(&install.repo)?;
    for path in &pending.paths {
        workdir::put(&install.root, path, tree.get(path))?;
    }
    git_locks::marked(&install.claw_dir, || {
        repo::stage_paths(&install.repo, &install.root, &pending.paths)?;
        Pending::clear(&install.claw_dir)
    })?;
    println!(
        "Aborted: {}; the work tree is back at the last commit.",
        pending.message.lines().next().unwrap_or_default()
    );
    Ok(())
}
