//! Git's own lock files (`index.lock`, `refs/heads/main.lock`, `refs/claw/pristine.lock`) that a
//! claw killed in the middle of writing the index or a ref leaves behind. Every such write runs
//! while the journal or the `writing` marker exists, so the next claw knows that a lock file it
//! finds then is one claw left, and removes it. A lock file found at any other time is git's
//! (or the person's) and is never touched.

use std::path::{Path, PathBuf};

use git2::Repository;

use crate::error::{Context, Result, bail};
use crate::journal;

fn marker(claw_dir: &Path) -> PathBuf {
    claw_dir.join("writing")
}

/// Whether a claw died between writing the marker (or the journal) and removing it.
pub fn interrupted(claw_dir: &Path) -> bool {
    marker(claw_dir).exists() || journal::path(claw_dir).exists()
}

/// Runs `write` (index and ref writes) with the marker in place. The marker stays only if the
/// process dies inside; on an error libgit2 has already removed its own lock files.
pub fn marked<T>(claw_dir: &Path, write: impl FnOnce() -> Result<T>) -> Result<T> {
    std::fs::write(marker(claw_dir), std::process::id().to_string()).context("writing claw's marker")?;
    let result = write();
    let _ = std::fs::remove_file(marker(claw_dir));
    result
}

/// The lock files of everything claw writes (relative to `.git`) that exist now.
fn present(repo: &Repository) -> Vec<String> {
    let git_dir = repo.path();
    let mut candidates = vec!["index.lock".to_string()];
    let head = std::fs::read_to_string(git_dir.join("HEAD")).unwrap_or_default();
    if let Some(branch) = head.trim().strip_prefix("ref: ").filter(|b| b.starts_with("refs/heads/")) {
        candidates.push(format!("{branch}.lock"));
    }
    if let Ok(entries) = std::fs::read_dir(git_dir.join("refs/claw")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".lock") {
                candidates.push(format!("refs/claw/{name}"));
            }
        }
    }
    candidates.retain(|rel| git_dir.join(rel).exists());
    candidates
}

/// Refuses to begin a change while git holds a lock claw would need: the change would stop
/// half-way, and the next claw must never take such a lock file for one of its own.
pub fn ensure_free(repo: &Repository) -> Result<()> {
    let held = present(repo);
    if !held.is_empty() {
        bail!(
            "git holds {} (a git command is running, or one was killed); nothing was written. \
             claw removes only lock files it left itself: once no git command runs, remove {} and try again.",
            held.iter().map(|h| format!(".git/{h}")).collect::<Vec<_>>().join(", "),
            if held.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(())
}

/// After an interrupted write, removes the lock files claw could have left; returns their paths
/// relative to `.git`. Run only under the exclusive lock, before replaying the journal.
pub fn recover(repo: &Repository, claw_dir: &Path) -> Result<Vec<String>> {
    if !interrupted(claw_dir) {
        return Ok(Vec::new());
    }
    let removed = present(repo);
    for rel in &removed {
        let path = repo.path().join(rel);
        std::fs::remove_file(&path).with_context(|| format!("removing the stale {}", path.display()))?;
    }
    let _ = std::fs::remove_file(marker(claw_dir));
    Ok(removed)
}
