//! Writing files into the person's work tree. Each file is written whole (temporary file, then
//! rename), and no write may pass through a symlink that leads out of the install.

use std::path::{Path, PathBuf};

use crate::error::{Context, Result, bail};
use crate::tree::{Entry, Mode, Tree};

/// Refuses `path` if any folder on the way to it is a symlink that resolves outside `root`, or
/// is not a folder at all. Run for every path of a change before the first write.
pub fn check_target(root: &Path, path: &str) -> Result<()> {
    let real_root = root.canonicalize().with_context(|| format!("{}", root.display()))?;
    let mut at = PathBuf::from(root);
    let components: Vec<&str> = path.split('/').collect();
    for (i, part) in components.iter().enumerate() {
        at.push(part);
        let last = i + 1 == components.len();
        let Ok(meta) = std::fs::symlink_metadata(&at) else {
            return Ok(());
        };
        if meta.file_type().is_symlink() && !last {
            let real = at.canonicalize().unwrap_or_default();
            if !real.starts_with(&real_root) {
                let link = components[..=i].join("/");
                bail!("refusing to write {path}: {link} is a symlink that leaves the install");
            }
        } else if !meta.is_dir() && !last {
            bail!("refusing to write {path}: {} is a file", components[..=i].join("/"));
        }
    }
    Ok(())
}

/// The paths of a change that land where git does not look: a path not in HEAD that exists on
/// disk (untracked or ignored, e.g. the person's `.env` with their key), or a new path the
/// install's ignore rules hide (a file the person would never see in `git status`). Such a
/// file is the person's or would escape review, so a change that touches one is refused.
pub fn untracked_targets(repo: &git2::Repository, root: &Path, head: &Tree, paths: &[String]) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for path in paths.iter().filter(|p| head.get(p).is_none()) {
        let on_disk = std::fs::symlink_metadata(root.join(path)).is_ok();
        let ignored = repo.is_path_ignored(path).with_context(|| format!("checking whether git ignores {path}"))?;
        if on_disk || ignored {
            found.push(format!("{path} ({})", if ignored { "ignored" } else { "untracked" }));
        }
    }
    Ok(found)
}

/// Writes `entry` at `path` (or deletes the file when `entry` is `None`).
pub fn put(root: &Path, path: &str, entry: Option<&Entry>) -> Result<()> {
    check_target(root, path)?;
    let target = root.join(path);
    let Some(entry) = entry else {
        match std::fs::remove_file(&target) {
            Ok(()) => prune_empty_dirs(root, &target),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => bail!("removing {path}: {e}"),
        }
        return Ok(());
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating the folder of {path}"))?;
    }
    let tmp =
        target.with_file_name(format!(".{}.claw-tmp", target.file_name().and_then(|n| n.to_str()).unwrap_or("file")));
    let _ = std::fs::remove_file(&tmp);
    match entry.mode {
        Mode::Symlink => {
            let dest = String::from_utf8_lossy(&entry.data).into_owned();
            std::os::unix::fs::symlink(dest, &tmp).with_context(|| format!("writing {path}"))?;
        }
        Mode::File | Mode::Executable => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&tmp, &entry.data).with_context(|| format!("writing {path}"))?;
            let mode = if entry.mode == Mode::Executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("setting the mode of {path}"))?;
        }
    }
    if target.is_dir() && !target.is_symlink() {
        bail!("refusing to write {path}: it is a folder in the work tree");
    }
    std::fs::rename(&tmp, &target).with_context(|| format!("writing {path}"))
}

fn prune_empty_dirs(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Test-only fault injection: with `CLAW_FAULT_AFTER_WRITES=N` in a debug build, the process
/// exits abruptly (as if killed) after writing N files of a change.
pub fn fault_point(written: usize) {
    if cfg!(debug_assertions)
        && let Ok(n) = std::env::var("CLAW_FAULT_AFTER_WRITES")
        && n.parse() == Ok(written)
    {
        eprintln!("claw: fault injected after {written} writes");
        std::process::exit(137);
    }
}
