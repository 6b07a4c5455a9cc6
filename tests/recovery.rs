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
fn a_locked_install_names_the_owner_and_a_stale_lock_is_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let mut owner = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::create_dir_all(dir.join(".git/claw")).unwrap();
    std::fs::write(dir.join(".git/claw/lock"), owner.id().to_string()).unwrap();
    let before = snapshot(&dir);
    let err = fails(&dir, &["skill", "apply", "alpha", "--yes"], 4);
    assert!(err.contains(&format!("locked by pid {}", owner.id())), "{err}");
    assert_eq!(snapshot(&dir), before);
    owner.kill().unwrap();
    owner.wait().unwrap();
    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    assert!(!dir.join(".git/claw/lock").exists());
}
