//! One change of an install (apply, remove, replace): merge the person's tree with the new
//! pristine tree, then write it all at once through the journal and make one commit. With
//! conflicts, either nothing is written (the default) or diff3 markers are left for the person.

use std::io::Write;

use crate::error::{Code, Error, Result, bail};
use crate::install::Install;
use crate::journal::{Finish, Journal};
use crate::merge::{self, Conflict};
use crate::pending::Pending;
use crate::repo;
use crate::tree::{Entry, Tree};
use crate::{git_locks, workdir};

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub dry_run: bool,
    pub markers: bool,
    pub allow_dirty: bool,
}

#[derive(Debug)]
pub enum Outcome {
    Committed {
        commit: git2::Oid,
        changed: usize,
    },
    /// Dry run: nothing was written.
    Previewed,
    /// Conflict markers were written; nothing was committed.
    Pending {
        conflicts: Vec<Conflict>,
    },
}

/// Moves the install to `new_pristine`, keeping the person's edits.
pub fn run(
    install: &Install,
    new_pristine: &Tree,
    message: &str,
    opts: Options,
    out: &mut dyn Write,
) -> Result<Outcome> {
    let repo = &install.repo;
    let (old_pristine_id, ancestor) = install.pristine()?;
    let old_pristine_id = *old_pristine_id;
    let head = repo::head_commit(repo)?;
    // Untouched since the last change (the usual case), HEAD's tree is the pristine one, already read.
    let old_pristine_tree = repo.find_commit(old_pristine_id).map(|c| c.tree_id()).ok();
    let ours = if old_pristine_tree == Some(head.tree_id()) {
        ancestor.clone()
    } else {
        repo::read_tree(repo, head.tree_id())?
    };
    let dirty = repo::dirty_paths(repo)?;
    if !dirty.is_empty() && !opts.allow_dirty && !opts.dry_run {
        bail!(
            "the work tree has uncommitted changes; commit or stash them first (or pass --allow-dirty):\n  {}",
            dirty.join("\n  ")
        );
    }
    let merged = merge::merge_trees(ancestor, &ours, new_pristine)?;
    let touched = changed_paths(&ours, &merged.tree);
    let clash: Vec<&String> = touched.iter().filter(|p| dirty.contains(p)).collect();
    if !clash.is_empty() && !opts.dry_run {
        bail!(
            "the change would overwrite uncommitted changes in:\n  {}",
            clash.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
        );
    }
    let untracked = workdir::untracked_targets(repo, &install.root, &ours, &touched)?;
    if !untracked.is_empty() {
        bail!(
            "the change would write over files git does not track (untracked or ignored, such as your own .env); \
             nothing was written. Move them aside first:\n  {}",
            untracked.join("\n  ")
        );
    }
    if opts.dry_run {
        for path in &touched {
            write_out(
                out,
                &crate::sanitize::escape_controls(&unified_diff(path, ours.get(path), merged.tree.get(path))?),
            )?;
        }
        if !merged.conflicts.is_empty() {
            write_out(out, &conflict_report(&merged.conflicts))?;
        }
        return Ok(Outcome::Previewed);
    }
    if !merged.conflicts.is_empty() && !opts.markers {
        return Err(Error::with_code(
            Code::Conflict,
            format!(
                "{}nothing was written. Resolve by hand with --conflicts markers, or undo your edit on those lines.",
                conflict_report(&merged.conflicts)
            ),
        ));
    }
    for path in &touched {
        workdir::check_target(&install.root, path)?;
    }
    let pristine_tree_id = match old_pristine_tree {
        Some(base) => repo::write_tree_from(repo, base, ancestor, new_pristine)
            .or_else(|_| repo::write_tree(repo, new_pristine))?,
        None => repo::write_tree(repo, new_pristine)?,
    };
    let first_line = message.lines().next().unwrap_or("claw change");
    let new_pristine_id =
        repo::commit(repo, pristine_tree_id, &[old_pristine_id], &format!("pristine: {first_line}\n"))?;
    // Without edits of the person's, the merged tree is the pristine one: written once.
    let target_tree =
        if merged.tree == *new_pristine { pristine_tree_id } else { repo::write_tree(repo, &merged.tree)? };
    let finish = if merged.conflicts.is_empty() {
        let new_head = repo::commit(repo, target_tree, &[head.id()], message)?;
        Finish::Commit {
            branch: repo::head_ref_name(repo)?,
            new_head: new_head.to_string(),
            new_pristine: new_pristine_id.to_string(),
            reflog: first_line.to_string(),
        }
    } else {
        let pending = Pending {
            message: message.to_string(),
            old_head: head.id().to_string(),
            new_pristine: new_pristine_id.to_string(),
            paths: touched.clone(),
            conflicted: merged.conflicts.iter().map(|c| c.path.clone()).collect(),
        };
        Finish::Pending { pending }
    };
    git_locks::ensure_free(repo)?;
    let journal = Journal { target_tree: target_tree.to_string(), paths: touched.clone(), finish };
    journal.begin(&install.claw_dir)?;
    journal.complete(repo, &install.root, &install.claw_dir)?;
    match journal.finish {
        Finish::Commit { new_head, .. } => {
            Ok(Outcome::Committed { commit: crate::journal::oid(&new_head)?, changed: touched.len() })
        }
        Finish::Pending { .. } => Ok(Outcome::Pending { conflicts: merged.conflicts }),
    }
}

/// Paths whose entry differs between two trees.
pub fn changed_paths(from: &Tree, to: &Tree) -> Vec<String> {
    let mut paths: Vec<String> = from.paths().chain(to.paths()).filter(|p| from.get(p) != to.get(p)).cloned().collect();
    paths.sort();
    paths.dedup();
    paths
}

pub fn conflict_report(conflicts: &[Conflict]) -> String {
    let mut text = String::from("conflicts with your edits:\n");
    for c in conflicts {
        if c.lines.is_empty() {
            text.push_str(&format!("  {}: {}\n", c.path, c.reason));
        }
        for (start, end) in &c.lines {
            let at = if start == end { start.to_string() } else { format!("{start}-{end}") };
            text.push_str(&format!("  {}:{at}: {}\n", c.path, c.reason));
        }
    }
    text
}

/// A unified diff of one path, as `git diff` would print it.
pub fn unified_diff(path: &str, old: Option<&Entry>, new: Option<&Entry>) -> Result<String> {
    let mut opts = git2::DiffOptions::new();
    opts.context_lines(3);
    let old_path = old.map(|_| std::path::Path::new(path));
    let new_path = new.map(|_| std::path::Path::new(path));
    let mut patch = git2::Patch::from_buffers(
        old.map_or(&[][..], |e| &e.data),
        old_path,
        new.map_or(&[][..], |e| &e.data),
        new_path,
        Some(&mut opts),
    )
    .map_err(|e| Error::new(format!("diffing {path}: {}", e.message())))?;
    let buf = patch.to_buf().map_err(|e| Error::new(format!("diffing {path}: {}", e.message())))?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    // libgit2 labels a buffer diff as a modification; say "new" and "deleted" as git does.
    let header = match (old, new) {
        (None, Some(e)) => {
            format!("diff --git a/{path} b/{path}\nnew file mode {}\n--- /dev/null\n+++ b/{path}\n", mode(e))
        }
        (Some(e), None) => {
            format!("diff --git a/{path} b/{path}\ndeleted file mode {}\n--- a/{path}\n+++ /dev/null\n", mode(e))
        }
        _ => return Ok(text),
    };
    Ok(match text.find("\n@@") {
        Some(at) => format!("{header}{}", &text[at + 1..]),
        None => header,
    })
}

fn mode(entry: &Entry) -> &'static str {
    match entry.mode {
        crate::tree::Mode::File => "100644",
        crate::tree::Mode::Executable => "100755",
        crate::tree::Mode::Symlink => "120000",
    }
}

fn write_out(out: &mut dyn Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes()).map_err(|e| Error::output(&e))
}
