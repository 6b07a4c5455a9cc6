//! The built-in runtime skills as the generator sees them: each is one commit in, its removal
//! the exact inverse, and they compose with each other and with a channel in any order.
//! (Their tests, the base's sandbox battery on each runtime, run in CI's install holding every
//! skill.)

mod support;

use std::path::Path;

use support::*;

fn install(tmp: &Path, name: &str) -> std::path::PathBuf {
    std::fs::create_dir(tmp.join(name)).expect("mkdir");
    builtin(&tmp.join(name), &["init", "x", "--bare"]);
    tmp.join(name).join("x")
}

#[test]
fn each_runtime_is_one_commit_in_and_its_removal_the_exact_inverse() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = install(tmp.path(), "a");
    let bare = tree_id(&dir);
    for (runtime, other) in [("gvisor", "podman"), ("podman", "gvisor")] {
        builtin(&dir, &["skill", "apply", runtime, "--yes"]);
        assert_eq!(git(&dir, &["status", "--porcelain"]), "");
        let changed = git(&dir, &["diff", "--name-status", "HEAD~1", "HEAD"]);
        let added = format!("A\tsrc/runtimes/{runtime}.rs");
        assert!(changed.contains(&added) && changed.contains("M\tsrc/runtimes/mod.rs"), "{changed}");
        assert!(!changed.contains("Cargo"), "no crate comes with a runtime: {changed}");
        let registry = read(&dir, "src/runtimes/mod.rs");
        assert!(registry.contains(&format!("(\"{runtime}\", {runtime}::open)")), "{registry}");
        assert!(!registry.contains(other), "{registry}");
        builtin(&dir, &["skill", "remove", runtime]);
        assert_eq!(tree_id(&dir), bare, "removing {runtime} gives back the tree without it");
    }
}

#[test]
fn the_runtimes_and_a_channel_compose_in_either_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (install(tmp.path(), "a"), install(tmp.path(), "b"));
    for skill in ["gvisor", "telegram", "podman"] {
        builtin(&a, &["skill", "apply", skill, "--yes"]);
    }
    for skill in ["podman", "telegram", "gvisor"] {
        builtin(&b, &["skill", "apply", skill, "--yes"]);
    }
    assert_eq!(tree_id(&a), tree_id(&b));
}
