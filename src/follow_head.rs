//! The record follows HEAD. What an install is generated from is what HEAD's
//! `.claw/install.toml` says; `refs/claw/pristine` must hold the generated tree of that same
//! state. git moves HEAD without claw (`reset`, `revert`, `cherry-pick`), so every claw call
//! checks the two against each other, and after such a move points the pristine ref back at
//! the generated state HEAD now records, found on the ref's own history.

use std::path::Path;

use git2::{Oid, Repository};

use crate::error::{Context, Result, bail};
use crate::install_record::RECORD_PATH;
use crate::repo;

fn record_blob(commit: &git2::Commit) -> Result<Option<Oid>> {
    let tree = commit.tree().context("reading a commit's tree")?;
    Ok(tree.get_path(Path::new(RECORD_PATH)).ok().map(|e| e.id()))
}

/// Whether HEAD's record is the pristine tree's (the cheap check every call makes).
pub fn in_step(repo: &Repository) -> Result<bool> {
    let head = repo::head_commit(repo)?;
    let pristine = repo::pristine_commit(repo)?;
    Ok(record_blob(&head)? == record_blob(&pristine)?)
}

/// Brings the pristine ref in step with HEAD. Returns what was repaired, for the person, or
/// `None` when nothing was out of step. Needs the exclusive lock.
pub fn repair(repo: &Repository) -> Result<Option<String>> {
    let head = repo::head_commit(repo)?;
    let pristine = repo::pristine_commit(repo)?;
    let wanted = record_blob(&head)?;
    if wanted == record_blob(&pristine)? {
        return Ok(None);
    }
    let short = |id: Oid| id.to_string()[..12].to_string();
    let Some(wanted) = wanted else {
        bail!(
            "HEAD ({}) has no {RECORD_PATH}, so claw cannot tell what it is generated from. \
             Put it back with `git checkout {} -- {RECORD_PATH}` and commit, or move HEAD back to a commit claw made.",
            short(head.id()),
            repo::PRISTINE_REF
        );
    };
    let mut at = pristine.parent(0).ok();
    while let Some(commit) = at {
        if record_blob(&commit)? == Some(wanted) {
            let state =
                commit.summary().ok().flatten().unwrap_or_default().trim_start_matches("pristine: ").to_string();
            let why = format!("follow HEAD back to the state after `{state}`");
            let id = repo::commit(repo, commit.tree_id(), &[pristine.id()], &format!("pristine: {why}\n"))?;
            repo::set_ref(repo, repo::PRISTINE_REF, id, &why)?;
            return Ok(Some(format!(
                "HEAD was moved by git (reset, revert or cherry-pick) to the state after `{state}`; \
                 {} now follows it (was {})",
                repo::PRISTINE_REF,
                short(pristine.id())
            )));
        }
        at = commit.parent(0).ok();
    }
    bail!(
        "HEAD's {RECORD_PATH} is not one claw wrote (it was edited by hand, or HEAD came from another repository), \
         so claw cannot tell what the install is generated from. Put claw's record back with \
         `git checkout {} -- {RECORD_PATH}` and commit, or move HEAD back to a commit claw made (see `git reflog`).",
        repo::PRISTINE_REF
    )
}
