//! Cargo.lock follows every change that alters a manifest, in the same commit; when cargo cannot
//! reach the registry the change still lands with the previous lock, and the person is told what
//! to run once online.

mod support;

use std::process::Command;

use support::*;

#[test]
fn an_apply_with_the_registry_unreachable_keeps_the_old_lock_and_says_what_to_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let lock_before = git(&dir, &["show", "HEAD:Cargo.lock"]);
    let empty_home = tmp.path().join("cargo-home");
    std::fs::create_dir(&empty_home).unwrap();
    // No local index and a proxy that refuses every connection: neither offline nor online works.
    let out = Command::new(env!("CARGO_BIN_EXE_claw"))
        .args(["skill", "apply", "alpha", "--yes"])
        .current_dir(&dir)
        .env("CLAW_SKILLS", fixtures("skills"))
        .env("CARGO_HOME", &empty_home)
        .env("CARGO_HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("Cargo.lock was not updated") && err.contains("run `cargo update --workspace`"),
        "the person is told:\n{err}"
    );
    assert_eq!(git(&dir, &["show", "HEAD:Cargo.lock"]), lock_before, "the previous lock is kept");
    assert!(git(&dir, &["log", "-1", "--format=%B"]).contains("Cargo.lock was not updated"));
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
}

#[test]
fn a_remove_takes_the_skills_crates_out_of_the_lock_and_keeps_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let bare = git(&dir, &["show", "HEAD:Cargo.lock"]);
    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    ok(&dir, &["skill", "remove", "alpha"]);
    assert_eq!(git(&dir, &["show", "HEAD:Cargo.lock"]), bare, "the inverse change gives back the same lock");
}
