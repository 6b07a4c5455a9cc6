//! An open install: its repository, its lock, and what it is generated from. Opening one takes
//! the lock (shared for reading, exclusive for changing), finishes any change an earlier claw
//! was killed in the middle of, and brings the pristine ref in step with HEAD.

use std::path::{Path, PathBuf};

use git2::Repository;

use crate::compose::Selected;
use crate::error::{Context, Result, bail};
use crate::install_record::{InstallRecord, RECORD_PATH};
use crate::lock::{Access, Lock};
use crate::pending::Pending;
use crate::sources::{self, Material};
use crate::tree::Tree;
use crate::{follow_head, git_locks, journal, repo};

pub struct Install {
    pub repo: Repository,
    pub root: PathBuf,
    /// claw's private state (lock, journal, pending change), inside `.git` so that it is never
    /// part of the work tree.
    pub claw_dir: PathBuf,
    /// The pristine tree, read once: it cannot change while the lock is held.
    pristine: std::cell::OnceCell<(git2::Oid, Tree)>,
    /// Why HEAD's record cannot be followed (see `follow_head`), if it cannot.
    pub drift: Option<String>,
    _lock: Lock,
}

impl Install {
    /// Opens the install at (or above) `dir`. A reader that finds something to repair (an
    /// interrupted change, or HEAD moved by git) takes the lock exclusively to repair it.
    pub fn open(dir: &Path, access: Access) -> Result<Install> {
        let repo = Repository::discover(dir)
            .with_context(|| format!("{} is not inside a git repository made by `claw init`", dir.display()))?;
        let root = repo.workdir().context("the repository has no work tree")?.to_path_buf();
        let claw_dir = repo.path().join("claw");
        let mut lock = Lock::acquire(&claw_dir, access)?;
        if access == Access::Read && (git_locks::interrupted(&claw_dir) || !follow_head::in_step(&repo)?) {
            drop(lock);
            lock = Lock::acquire(&claw_dir, Access::Write)?;
        }
        let interrupted = git_locks::interrupted(&claw_dir);
        let stale = git_locks::recover(&repo, &claw_dir)?;
        if !stale.is_empty() {
            eprintln!("claw: removed git lock files left by an interrupted claw: {}", stale.join(", "));
        }
        if journal::recover(&repo, &root, &claw_dir)? {
            eprintln!("claw: finished a change that was interrupted");
        }
        if interrupted {
            finish_continue(&repo, &claw_dir)?;
        }
        let mut drift = None;
        if lock.access == Access::Write {
            match follow_head::repair(&repo) {
                Ok(Some(repaired)) => eprintln!("claw: {repaired}"),
                Ok(None) => {}
                Err(e) => drift = Some(e.message),
            }
        }
        // The pristine tree is read when a command needs it; here only its ref must exist.
        repo::pristine_commit(&repo)?;
        Ok(Install { repo, root, claw_dir, pristine: std::cell::OnceCell::new(), drift, _lock: lock })
    }

    /// The pristine tree and the commit that holds it.
    pub fn pristine(&self) -> Result<&(git2::Oid, Tree)> {
        if let Some(cached) = self.pristine.get() {
            return Ok(cached);
        }
        let commit = repo::pristine_commit(&self.repo)?;
        let tree = repo::read_tree(&self.repo, commit.tree_id())?;
        Ok(self.pristine.get_or_init(|| (commit.id(), tree)))
    }

    /// What the install is generated from, as recorded in the pristine tree.
    pub fn record(&self) -> Result<InstallRecord> {
        if let Some((_, tree)) = self.pristine.get() {
            let text = tree.text(RECORD_PATH).with_context(|| format!("the pristine tree has no {RECORD_PATH}"))?;
            return InstallRecord::parse(text);
        }
        // Only the record's blob, not the whole tree (`claw status` needs nothing else).
        let missing = || format!("the pristine tree has no {RECORD_PATH}");
        let tree = repo::pristine_commit(&self.repo)?.tree().context("reading the pristine tree")?;
        let entry = tree.get_path(Path::new(RECORD_PATH)).with_context(missing)?;
        let blob = self.repo.find_blob(entry.id()).with_context(missing)?;
        InstallRecord::parse(std::str::from_utf8(blob.content()).with_context(missing)?)
    }

    /// The base, templates and catalogue pinned in the install.
    pub fn material(&self, record: &InstallRecord) -> Result<Material> {
        Material::pinned(&self.repo, record)
    }

    /// Every recorded skill exactly as it was applied (its pinned tree), with its variables.
    pub fn selected(&self, record: &InstallRecord) -> Result<Vec<Selected>> {
        record
            .skills
            .iter()
            .map(|r| {
                let skill = sources::pinned_skill(&self.repo, r)?;
                let vars = skill.manifest.resolve_vars(&r.vars)?;
                Ok(Selected { skill, vars })
            })
            .collect()
    }

    pub fn pending(&self) -> Result<Option<Pending>> {
        Pending::load(&self.claw_dir)
    }

    /// Refuses a change while another waits for its conflicts, or while HEAD's record is not
    /// one claw can follow.
    pub fn ensure_no_pending(&self) -> Result<()> {
        if let Some(drift) = &self.drift {
            bail!("{drift}");
        }
        if let Some(p) = self.pending()? {
            bail!(
                "a change is waiting for its conflicts to be resolved ({}): edit {}, then run `claw continue`, or `claw abort`",
                p.message.lines().next().unwrap_or_default(),
                p.conflicted.join(", ")
            );
        }
        Ok(())
    }
}

/// A `claw continue` killed after it moved the branch but before it dropped the pending change:
/// HEAD is the change's commit on the old head, so the change is done.
fn finish_continue(repo: &Repository, claw_dir: &Path) -> Result<()> {
    let Some(pending) = Pending::load(claw_dir)? else { return Ok(()) };
    let head = repo::head_commit(repo)?;
    let parent = head.parent_id(0).map(|p| p.to_string()).unwrap_or_default();
    if parent == pending.old_head && head.message_bytes() == pending.message.as_bytes() {
        Pending::clear(claw_dir)?;
    }
    Ok(())
}
