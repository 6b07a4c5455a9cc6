//! `claw init`: a new install is one commit with a complete lock, and composed skills build.

mod support;

use support::*;

#[test]
fn init_makes_a_repository_with_one_commit_that_builds() {
    let tmp = tempfile::tempdir().unwrap();
    builtin(tmp.path(), &["init", "my-agent"]);
    let dir = tmp.path().join("my-agent");
    assert_eq!(commit_count(&dir), 1);
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    assert_eq!(git(&dir, &["rev-parse", "refs/claw/pristine^{tree}"]).trim(), tree_id(&dir));
    assert!(read(&dir, ".claw/install.toml").contains("name = \"my-agent\""));
    assert!(git(&dir, &["ls-files", "Cargo.lock"]).contains("Cargo.lock"), "the lock is committed");
    // The lock is complete and consistent: cargo resolves it without changing a line. (Compiling
    // with it is proven once, by CI's `cargo test --locked` of the install holding every skill.)
    let resolve = cargo(&dir, &["metadata", "--locked", "--format-version", "1"]);
    assert!(resolve.status.success(), "cargo metadata --locked failed:\n{}", String::from_utf8_lossy(&resolve.stderr));
    assert_eq!(git(&dir, &["status", "--porcelain"]), "", "resolving must not dirty the install");
}

#[test]
fn skills_compose_into_a_tree_that_builds_and_passes_their_tests() {
    let tmp = tempfile::tempdir().unwrap();
    ok(tmp.path(), &["init", "x", "--bare", "--skill", "alpha", "--skill", "beta", "--skill", "stamp", "--yes"]);
    let dir = tmp.path().join("x");
    assert_eq!(commit_count(&dir), 1);
    let log = git(&dir, &["log", "--format=%(trailers)"]);
    assert!(
        log.contains("Claw-Skill-Applied: alpha 1.0.0") && log.contains("Claw-Skill-Applied: stamp 0.3.0"),
        "{log}"
    );
    // The install's unit tests and the skills' own tests (its end-to-end tests need the agent
    // image and run in the base's own suite).
    let test = cargo(&dir, &["test", "--workspace", "--quiet", "--lib", "--bins", "--test", "alpha"]);
    assert!(test.status.success(), "cargo test failed:\n{}", String::from_utf8_lossy(&test.stderr));
}

#[test]
fn init_refuses_a_folder_that_is_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("x")).unwrap();
    write(&tmp.path().join("x"), "keep.txt", "mine");
    let err = fails(tmp.path(), &["init", "x"], 1);
    assert!(err.contains("already exists and is not empty"), "{err}");
    assert_eq!(read(&tmp.path().join("x"), "keep.txt"), "mine");
}

#[test]
fn a_failed_init_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let err = fails(tmp.path(), &["init", "x", "--skill", "nonesuch"], 1);
    assert!(err.contains("nonesuch"), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
