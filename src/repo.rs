//! The git side of an install (git2): reading and writing trees, commits, the pristine ref, and
//! the work tree's dirty paths. Trees are written straight to the object store, never through
//! the work tree, so computing a change touches nothing the person can see.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{ObjectType, Oid, Repository, Signature, StatusOptions, TreeWalkMode, TreeWalkResult};

use crate::error::{Context, Result, bail};
use crate::tree::{Entry, Mode, Tree};

/// Where the pristine tree of an install is kept, as a chain of commits of its own.
pub const PRISTINE_REF: &str = "refs/claw/pristine";

pub fn read_tree(repo: &Repository, oid: Oid) -> Result<Tree> {
    let root = repo.find_tree(oid).context("reading a tree")?;
    let mut tree = Tree::new();
    let mut failure = None;
    root.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() != Some(ObjectType::Blob) {
            return TreeWalkResult::Ok;
        }
        let path = format!("{dir}{}", entry.name().unwrap_or_default());
        let mode = match entry.filemode() {
            0o100755 => Mode::Executable,
            0o120000 => Mode::Symlink,
            _ => Mode::File,
        };
        match read_blob(repo, entry.id()) {
            Ok(data) => tree.insert(path, Entry { data, mode }),
            Err(e) => {
                failure = Some(format!("{path}: {}", e.message()));
                return TreeWalkResult::Abort;
            }
        }
        TreeWalkResult::Ok
    })
    .ok();
    if let Some(f) = failure {
        bail!("reading a tree: {f}");
    }
    Ok(tree)
}

/// A blob's content. One command reads the same blobs in several trees (the pinned base, the
/// pristine tree, HEAD's), so each is inflated and checked once per process.
fn read_blob(repo: &Repository, id: Oid) -> Result<Vec<u8>, git2::Error> {
    use std::sync::{Mutex, OnceLock};
    type Blobs = BTreeMap<(std::path::PathBuf, Oid), Vec<u8>>;
    static READ: OnceLock<Mutex<Blobs>> = OnceLock::new();
    let cache = READ.get_or_init(Default::default);
    let key = (repo.path().to_path_buf(), id);
    if let Some(data) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(data);
    }
    let data = repo.find_blob(id)?.content().to_vec();
    if let Ok(mut c) = cache.lock() {
        c.insert(key, data.clone());
    }
    Ok(data)
}

/// The file at `path` in `tree`, if there is one.
pub fn entry_at(repo: &Repository, tree: &git2::Tree, path: &str) -> Result<Option<Entry>> {
    let Ok(entry) = tree.get_path(Path::new(path)) else { return Ok(None) };
    if entry.kind() != Some(ObjectType::Blob) {
        return Ok(None);
    }
    let mode = match entry.filemode() {
        0o100755 => Mode::Executable,
        0o120000 => Mode::Symlink,
        _ => Mode::File,
    };
    let blob = repo.find_blob(entry.id()).with_context(|| format!("reading {path}"))?;
    Ok(Some(Entry { data: blob.content().to_vec(), mode }))
}

/// Writes `tree` to the object store and returns its id.
pub fn write_tree(repo: &Repository, tree: &Tree) -> Result<Oid> {
    let entries: Vec<(&str, &Entry)> = tree.iter().map(|(p, e)| (p.as_str(), e)).collect();
    write_dir(repo, &entries).context("writing a tree")
}

fn write_dir(repo: &Repository, entries: &[(&str, &Entry)]) -> Result<Oid, git2::Error> {
    let mut builder = repo.treebuilder(None)?;
    let mut subdirs: BTreeMap<&str, Vec<(&str, &Entry)>> = BTreeMap::new();
    for (path, entry) in entries {
        match path.split_once('/') {
            Some((dir, rest)) => subdirs.entry(dir).or_default().push((rest, entry)),
            None => {
                let oid = repo.blob(&entry.data)?;
                let mode = match entry.mode {
                    Mode::File => 0o100644,
                    Mode::Executable => 0o100755,
                    Mode::Symlink => 0o120000,
                };
                builder.insert(path, oid, mode)?;
            }
        }
    }
    for (dir, children) in subdirs {
        let oid = write_dir(repo, &children)?;
        builder.insert(dir, oid, 0o040000)?;
    }
    builder.write()
}

/// Writes `new` as `base` (whose contents are `base_tree`) changed where the two differ: only the
/// changed files' blobs and the folders above them are written, not every blob of the tree.
pub fn write_tree_from(repo: &Repository, base: Oid, base_tree: &Tree, new: &Tree) -> Result<Oid> {
    let base = repo.find_tree(base).context("reading the previous tree")?;
    let mut update = git2::build::TreeUpdateBuilder::new();
    for path in base_tree.paths().filter(|p| !new.contains(p)) {
        update.remove(path.as_str());
    }
    for (path, entry) in new.iter().filter(|(p, e)| base_tree.get(p) != Some(*e)) {
        let blob = repo.blob(&entry.data).with_context(|| format!("storing {path}"))?;
        let mode = match entry.mode {
            Mode::File => git2::FileMode::Blob,
            Mode::Executable => git2::FileMode::BlobExecutable,
            Mode::Symlink => git2::FileMode::Link,
        };
        update.upsert(path.as_str(), blob, mode);
    }
    update.create_updated(repo, &base).context("writing a tree")
}

/// The id `tree` would have in any repository, computed in memory: nothing is written.
pub fn hash_tree(tree: &Tree) -> Result<Oid> {
    let odb = git2::Odb::new().context("hashing a tree")?;
    odb.add_new_mempack_backend(1).context("hashing a tree")?;
    let scratch = Repository::from_odb(odb).context("hashing a tree")?;
    write_tree(&scratch, tree)
}

/// Who a commit is by, as git itself decides: `GIT_AUTHOR_NAME`/`GIT_AUTHOR_EMAIL` (or the
/// `COMMITTER` pair, for `role` "COMMITTER"), then `user.name`/`user.email` from git config, then
/// claw's own name, so scripts and CI can set the identity the way they do for git.
pub fn signature(repo: &Repository, role: &str) -> Result<Signature<'static>> {
    let config = repo.config().ok();
    let field = |env: &str, key: &str, fallback: &str| {
        std::env::var(format!("GIT_{role}_{env}"))
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| config.as_ref().and_then(|c| c.get_string(key).ok()))
            .unwrap_or_else(|| fallback.to_string())
    };
    let (name, email) = (field("NAME", "user.name", "claw"), field("EMAIL", "user.email", "claw@localhost"));
    Signature::now(&name, &email).with_context(|| format!("the commit's {} {name:?} <{email}>", role.to_lowercase()))
}

/// Creates a commit object without moving any ref.
pub fn commit(repo: &Repository, tree: Oid, parents: &[Oid], message: &str) -> Result<Oid> {
    let (author, committer) = (signature(repo, "AUTHOR")?, signature(repo, "COMMITTER")?);
    let tree = repo.find_tree(tree).context("finding a tree")?;
    let parents: Vec<git2::Commit> =
        parents.iter().map(|p| repo.find_commit(*p)).collect::<Result<_, _>>().context("finding a parent commit")?;
    let refs: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(None, &author, &committer, message, &tree, &refs).context("writing a commit")
}

pub fn head_commit(repo: &Repository) -> Result<git2::Commit<'_>> {
    repo.head().and_then(|h| h.peel_to_commit()).context("reading HEAD (is this an install made by `claw init`?)")
}

/// The full name of the branch HEAD points to, e.g. `refs/heads/main`.
pub fn head_ref_name(repo: &Repository) -> Result<String> {
    let head = repo.find_reference("HEAD").context("reading HEAD")?;
    match head.symbolic_target().context("reading HEAD")? {
        Some(name) => Ok(name.to_string()),
        None => bail!("HEAD is detached; check out a branch before changing the install"),
    }
}

pub fn pristine_commit(repo: &Repository) -> Result<git2::Commit<'_>> {
    repo.find_reference(PRISTINE_REF)
        .and_then(|r| r.peel_to_commit())
        .with_context(|| format!("{PRISTINE_REF} is missing: this repository was not made by `claw init`"))
}

/// Sets `name` to `target`, with a reflog line saying why.
pub fn set_ref(repo: &Repository, name: &str, target: Oid, why: &str) -> Result<()> {
    repo.reference(name, target, true, why).map(|_| ()).with_context(|| format!("updating {name}"))
}

/// Paths that differ from HEAD in the index or the work tree, untracked ones included; ignored
/// files are not the person's work and do not count.
pub fn dirty_paths(repo: &Repository) -> Result<Vec<String>> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false).renames_head_to_index(false);
    let statuses = repo.statuses(Some(&mut opts)).context("reading the work tree's status")?;
    Ok(statuses.iter().filter_map(|s| s.path().ok().map(str::to_string)).collect())
}

/// Brings the index entries of `paths` in line with the work tree (added, changed or removed).
pub fn stage_paths(repo: &Repository, root: &Path, paths: &[String]) -> Result<()> {
    let mut index = repo.index().context("opening the index")?;
    for path in paths {
        let on_disk = std::fs::symlink_metadata(root.join(path)).is_ok();
        if on_disk {
            index.add_path(Path::new(path)).with_context(|| format!("staging {path}"))?;
        } else if index.get_path(Path::new(path), 0).is_some() {
            index.remove_path(Path::new(path)).with_context(|| format!("unstaging {path}"))?;
        }
    }
    index.write().context("writing the index")
}

/// `base` with each of `paths` replaced by the work tree's file (or removed where there is
/// none), written to the object store; returns the new tree's id. Nothing else is read.
pub fn tree_with_paths(repo: &Repository, base: &git2::Tree, root: &Path, paths: &[String]) -> Result<Oid> {
    let mut update = git2::build::TreeUpdateBuilder::new();
    for path in paths {
        let full = root.join(path);
        let Ok(meta) = std::fs::symlink_metadata(&full) else {
            update.remove(path.as_str());
            continue;
        };
        let (data, mode) = if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&full).with_context(|| format!("reading {path}"))?;
            (target.into_os_string().into_encoded_bytes(), git2::FileMode::Link)
        } else {
            use std::os::unix::fs::PermissionsExt;
            let exec = meta.permissions().mode() & 0o111 != 0;
            let data = std::fs::read(&full).with_context(|| format!("reading {path}"))?;
            (data, if exec { git2::FileMode::BlobExecutable } else { git2::FileMode::Blob })
        };
        let blob = repo.blob(&data).with_context(|| format!("storing {path}"))?;
        update.upsert(path.as_str(), blob, mode);
    }
    update.create_updated(repo, base).context("writing the resolved tree")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_tree_has_the_id_a_real_write_gives_it() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repository::init(tmp.path()).unwrap();
        let mut tree = Tree::new();
        tree.insert("a/b.txt", Entry::file("b"));
        tree.insert("run.sh", Entry { data: b"#!/bin/sh\n".to_vec(), mode: Mode::Executable });
        let hashed = hash_tree(&tree).unwrap();
        assert!(repo.find_tree(hashed).is_err(), "hashing must not write to the repository");
        assert_eq!(write_tree(&repo, &tree).unwrap(), hashed);
    }

    #[test]
    fn a_tree_written_as_changes_to_another_has_the_id_of_a_whole_write() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repository::init(tmp.path()).unwrap();
        let mut old = Tree::new();
        old.insert("a/b.txt", Entry::file("b"));
        old.insert("a/gone.txt", Entry::file("gone"));
        old.insert("keep.txt", Entry::file("keep"));
        old.insert("run.sh", Entry::file("#!/bin/sh\n"));
        let base = write_tree(&repo, &old).unwrap();
        let mut new = old.clone();
        new.remove("a/gone.txt");
        new.insert("a/b.txt", Entry::file("b2"));
        new.insert("x/y/z.rs", Entry::file("new"));
        new.insert("run.sh", Entry { data: b"#!/bin/sh\n".to_vec(), mode: Mode::Executable });
        assert_eq!(write_tree_from(&repo, base, &old, &new).unwrap(), write_tree(&repo, &new).unwrap());
        let mut emptied = old.clone();
        emptied.remove("a/b.txt");
        emptied.remove("a/gone.txt");
        assert_eq!(write_tree_from(&repo, base, &old, &emptied).unwrap(), write_tree(&repo, &emptied).unwrap());
    }
}
