//! A claw killed in the middle of a change, and two claws at once.

mod support;

use std::process::Command;

use support::*;

#[test]
fn a_change_killed_between_two_writes_is_completed_by_the_next_call() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("clean")).unwrap();
    let reference = install(&tmp.path().join("clean"));
    ok(&reference, &["skill", "apply", "alpha", "beta", "--yes"]);

    let dir = install(tmp.path());
    let out = Command::new(env!("CARGO_BIN_EXE_claw"))
        .args(["skill", "apply", "alpha", "beta", "--yes"])
        .current_dir(&dir)
        .env("CLAW_SKILLS", fixtures("skills"))
        .env("CLAW_FAULT_AFTER_WRITES", "3")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137), "{}", String::from_utf8_lossy(&out.stderr));
    assert_ne!(git(&dir, &["status", "--porcelain"]), "", "the fault must hit mid-change");
    assert_eq!(commit_count(&dir), 1);

    let status = claw(&dir, &["status"]);
    assert!(status.status.success());
    assert!(String::from_utf8_lossy(&status.stderr).contains("finished a change that was interrupted"));
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    assert_eq!(commit_count(&dir), 2);
    assert_eq!(tree_id(&dir), tree_id(&reference));
    assert_eq!(
        git(&dir, &["rev-parse", "refs/claw/pristine^{tree}"]),
        git(&reference, &["rev-parse", "refs/claw/pristine^{tree}"])
    );
}

#[test]
fn a_second_claw_exits_4_naming_the_writer_and_readers_share_the_lock() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    std::fs::create_dir_all(dir.join(".git/claw")).unwrap();
    // This test process is the writer: it holds the lock as claw does, with its pid inside.
    let mut held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(".git/claw/lock"))
        .unwrap();
    held.try_lock().unwrap();
    write!(held, "{}", std::process::id()).unwrap();
    let before = snapshot(&dir);
    let err = fails(&dir, &["skill", "apply", "alpha", "--yes"], 4);
    assert!(err.contains(&format!("locked by pid {}", std::process::id())), "{err}");
    let err = fails(&dir, &["status"], 4);
    assert!(err.contains("locked by pid"), "{err}");
    assert_eq!(snapshot(&dir), before);
    held.unlock().unwrap();

    // A reader does not keep out another reader, only a writer.
    held.try_lock_shared().unwrap();
    ok(&dir, &["status"]);
    ok(&dir, &["diff"]);
    let err = fails(&dir, &["skill", "apply", "alpha", "--yes"], 4);
    assert!(err.contains("in use by another claw"), "{err}");
    held.unlock().unwrap();

    // A pid left in the file by a claw that is gone means nothing: the kernel's lock decides.
    std::fs::write(dir.join(".git/claw/lock"), "999999999").unwrap();
    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    assert!(dir.join(".git/claw/lock").exists(), "the lock file is never deleted");
}

#[test]
fn git_lock_files_left_by_a_killed_claw_are_removed_and_the_change_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let out = Command::new(env!("CARGO_BIN_EXE_claw"))
        .args(["skill", "apply", "alpha", "--yes"])
        .current_dir(&dir)
        .env("CLAW_SKILLS", fixtures("skills"))
        .env("CLAW_FAULT_AFTER_WRITES", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137), "{}", String::from_utf8_lossy(&out.stderr));
    // As if killed inside libgit2's index and ref writes.
    for lock in ["index.lock", "refs/heads/main.lock", "refs/claw/pristine.lock"] {
        std::fs::write(dir.join(".git").join(lock), "").unwrap();
    }
    let status = claw(&dir, &["status"]);
    let err = String::from_utf8_lossy(&status.stderr);
    assert!(status.status.success(), "{err}");
    assert!(
        err.contains("removed git lock files left by an interrupted claw: index.lock, refs/heads/main.lock"),
        "{err}"
    );
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    assert_eq!(commit_count(&dir), 2);
    for lock in ["index.lock", "refs/heads/main.lock", "refs/claw/pristine.lock"] {
        assert!(!dir.join(".git").join(lock).exists(), "{lock}");
    }
}

#[test]
fn a_git_lock_file_claw_did_not_leave_is_kept_and_the_change_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    std::fs::write(dir.join(".git/index.lock"), "").unwrap();
    let before = snapshot(&dir);
    let err = fails(&dir, &["skill", "apply", "alpha", "--yes"], 1);
    assert!(err.contains("git holds .git/index.lock") && err.contains("nothing was written"), "{err}");
    assert_eq!(snapshot(&dir), before);
    ok(&dir, &["status"]);
    assert!(dir.join(".git/index.lock").exists(), "the person's git lock is not claw's to remove");
    std::fs::remove_file(dir.join(".git/index.lock")).unwrap();
    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
}
