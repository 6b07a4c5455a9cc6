//! The journal makes a change all-or-nothing. Every object of a change (trees, commits) is in
//! the object store before the journal is written; the journal then names the target tree, the
//! paths to write and what to do last. A claw killed at any point leaves either no journal (the
//! change never began or is finished) or a journal that the next claw call replays to the end.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};

use crate::error::{Context, Result};
use crate::repo;
use crate::workdir;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// The tree the touched paths must end up as.
    pub target_tree: String,
    pub paths: Vec<String>,
    pub finish: Finish,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Finish {
    /// Stage the paths, then move the branch and the pristine ref.
    Commit { branch: String, new_head: String, new_pristine: String, reflog: String },
    /// Leave the files (with conflict markers) for the person, and record the pending change.
    Pending { pending: crate::pending::Pending },
}

pub fn path(claw_dir: &Path) -> PathBuf {
    claw_dir.join("journal.toml")
}

impl Journal {
    /// Writes the journal durably (temporary file, fsync, rename).
    pub fn begin(&self, claw_dir: &Path) -> Result<()> {
        let text = toml::to_string(self).context("writing the journal")?;
        let tmp = claw_dir.join("journal.toml.tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).context("writing the journal")?;
            f.write_all(text.as_bytes()).context("writing the journal")?;
            f.sync_all().context("writing the journal")?;
        }
        std::fs::rename(&tmp, path(claw_dir)).context("writing the journal")
    }

    /// Carries the change to its end: writes every path, then finishes. Safe to run again.
    pub fn complete(&self, repo: &Repository, root: &Path, claw_dir: &Path) -> Result<()> {
        // Only the change's paths are read back from the target tree, not the whole tree.
        let target = repo.find_tree(oid(&self.target_tree)?).context("reading the change's tree")?;
        for (written, p) in self.paths.iter().enumerate() {
            workdir::fault_point(written);
            workdir::put(root, p, repo::entry_at(repo, &target, p)?.as_ref())?;
        }
        match &self.finish {
            Finish::Commit { branch, new_head, new_pristine, reflog } => {
                repo::stage_paths(repo, root, &self.paths)?;
                repo::set_ref(repo, repo::PRISTINE_REF, oid(new_pristine)?, reflog)?;
                repo::set_ref(repo, branch, oid(new_head)?, reflog)?;
            }
            Finish::Pending { pending } => pending.save(claw_dir)?,
        }
        std::fs::remove_file(path(claw_dir)).context("removing the journal")
    }
}

/// Finishes an interrupted change, if there is one. Returns whether there was.
pub fn recover(repo: &Repository, root: &Path, claw_dir: &Path) -> Result<bool> {
    let Ok(text) = std::fs::read_to_string(path(claw_dir)) else {
        return Ok(false);
    };
    let journal: Journal = toml::from_str(&text).context("reading the journal of an interrupted change")?;
    journal.complete(repo, root, claw_dir)?;
    Ok(true)
}

pub fn oid(text: &str) -> Result<Oid> {
    Oid::from_str(text).with_context(|| format!("invalid object id {text:?}"))
}
