//! Who may touch the host's files. Everything the host creates is owner-only (umask 077): the
//! data folder, `claw.db`, the sockets. Containers run under an owner of their own: as root, a
//! high per-install uid that is no real account, which owns only its group's folder and socket;
//! otherwise the host's own uid, behind the 0700 data folder. And no file an agent leaves can
//! carry setuid/setgid bits past its run.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// The first uid of the range per-install agent uids come from: far above any real account
/// (useradd stops at 60000; systemd's dynamic users end below 2^31 - 1 too, at 0x7fff_ffff, but
/// allocate from 61184-65519).
const AGENT_UID_BASE: u32 = 2_000_000_000;

/// Makes everything this process creates owner-only, and lets it hold as many files open as
/// the system allows (each model connection is one).
pub fn restrict_process() {
    // SAFETY: umask and get/setrlimit only change this process's own settings.
    unsafe {
        libc::umask(0o077);
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The uid:gid a group's container runs as. As root: 2,000,000,000 plus a hash of the
/// (canonical) data folder, so no real account and no other install shares it. Otherwise the
/// host's own, since the group folder is bind-mounted and the container must write it.
pub fn agent_ids(data_dir: &Path) -> (u32, u32) {
    // SAFETY: getuid and getgid have no preconditions and cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if uid != 0 {
        return (uid, gid);
    }
    // FNV-1a: stable across builds and Rust versions, unlike std's hasher.
    let hash = data_dir
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    let id = AGENT_UID_BASE + (hash % 1_000_000) as u32;
    (id, id)
}

/// Makes `path` owned by the group's container and `mode`. A folder another uid owns (one from
/// an earlier version, or a moved install) is handed over with all it holds. Called only while
/// no container runs, so the walk cannot be raced.
pub fn give_to_agent(path: &Path, data_dir: &Path, mode: u32) -> Result<(), String> {
    let (uid, gid) = agent_ids(data_dir);
    let owner = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.uid();
    if owner != uid {
        chown_tree(path, uid, gid).map_err(|e| format!("{}: chown: {e}", path.display()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: chmod: {e}", path.display()))
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// `path`'s permission bits when they grant more than `max`; None if it is missing or narrow.
pub fn too_wide(path: &Path, max: u32) -> Option<u32> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & !max != 0).then_some(mode)
}

/// Narrows `path` to `max` if it is wider, saying so: the person should know it was exposed.
pub fn narrow(path: &Path, max: u32) {
    if let Some(mode) = too_wide(path, max) {
        tracing::warn!("{} was {mode:o}, readable by other users; setting it to {max:o}", path.display());
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & max)) {
            tracing::error!("{}: chmod {max:o}: {e}", path.display());
        }
    }
}

/// Clears setuid/setgid bits on everything under `dir` (a group folder). The container may be
/// running and swapping names for symlinks meanwhile, so nothing here follows one: every entry
/// is opened with O_PATH|O_NOFOLLOW relative to its parent and changed through that handle.
pub fn strip_setuid(dir: &Path) {
    if let Some(handle) = open_nofollow(libc::AT_FDCWD, dir.as_os_str()) {
        strip_under(handle, 0);
    }
}

/// Opens `name` relative to the directory handle `dir` as an O_PATH handle; a symlink is
/// opened as itself, never followed.
fn open_nofollow(dir: libc::c_int, name: &std::ffi::OsStr) -> Option<OwnedFd> {
    let name = std::ffi::CString::new(name.as_encoded_bytes()).ok()?;
    // SAFETY: a valid C string; the returned fd, if any, is owned by the OwnedFd below.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
    // SAFETY: fd was just opened and is owned by nothing else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn strip_under(handle: OwnedFd, depth: usize) {
    let handle = std::fs::File::from(handle);
    // fstat on the handle itself: a symlink is seen as one, never followed.
    let Ok(meta) = handle.metadata() else {
        return;
    };
    let path = format!("/proc/self/fd/{}", handle.as_raw_fd());
    let mode = meta.permissions().mode();
    if meta.is_file() && mode & 0o6000 != 0 {
        if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o1777)) {
            tracing::warn!("clearing a setuid bit: {e}");
        }
    } else if meta.is_dir() && depth < 64 {
        let Ok(entries) = std::fs::read_dir(&path) else {
            return;
        };
        for entry in entries.flatten() {
            if let Some(child) = open_nofollow(handle.as_raw_fd(), &entry.file_name()) {
                strip_under(child, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setuid_bits_are_cleared_and_symlinks_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "x").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let planted = dir.path().join("sub/sh");
        std::fs::write(&planted, "x").unwrap();
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o6755)).unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("link")).unwrap();
        strip_setuid(dir.path());
        assert_eq!(std::fs::metadata(&planted).unwrap().permissions().mode() & 0o7777, 0o755);
        assert_eq!(std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777, 0o4755);
    }

    #[test]
    fn modes_wider_than_allowed_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(too_wide(&file, 0o600), Some(0o644));
        narrow(&file, 0o600);
        assert_eq!(too_wide(&file, 0o600), None);
        assert_eq!(too_wide(&dir.path().join("missing"), 0o600), None);
    }
}
