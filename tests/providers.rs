//! The built-in provider skills as the generator sees them: each one commit in and the exact
//! inverse out, swapped for the other in one commit each way, composing with a channel in either
//! order, and named in the capability report as a proxy route. (Building and testing the
//! generated code happens once, in CI's install holding every skill.)

mod support;

use std::path::{Path, PathBuf};

use support::*;

fn bare(tmp: &Path, name: &str) -> PathBuf {
    std::fs::create_dir(tmp.join(name)).expect("mkdir");
    builtin(&tmp.join(name), &["init", "x", "--bare"]);
    tmp.join(name).join("x")
}

#[test]
fn a_provider_is_one_commit_in_and_its_removal_the_exact_inverse() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (skill, route, key) in [("openai", "openai::ROUTE", Some("OPENAI_API_KEY")), ("ollama", "ollama::ROUTE", None)]
    {
        let dir = bare(tmp.path(), skill);
        let before = tree_id(&dir);
        builtin(&dir, &["skill", "apply", skill, "--yes"]);
        assert_eq!(commit_count(&dir), 2, "{skill}: one commit");
        let message = git(&dir, &["log", "-1", "--format=%B"]);
        assert!(message.contains(&format!("Proxy routes: {route} ({skill})")), "{message}");
        assert!(read(&dir, "src/providers/mod.rs").contains(&format!("        {route},\n")));
        let agent = read(&dir, "agent/src/providers/mod.rs");
        assert!(agent.contains(&format!("pub mod {skill};")), "{agent}");
        for file in [
            format!("src/providers/{skill}.rs"),
            format!("agent/src/providers/{skill}.rs"),
            format!("testkit/src/{skill}.rs"),
        ] {
            assert!(dir.join(&file).exists(), "{file}");
        }
        if let Some(key) = key {
            assert!(read(&dir, ".env.example").contains(key) && read(&dir, "src/config.rs").contains(key));
        }

        builtin(&dir, &["skill", "remove", skill]);
        assert_eq!(commit_count(&dir), 3, "{skill}: one commit out");
        assert_eq!(tree_id(&dir), before, "{skill}: removing it gives back the tree without it");
        assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    }
}

#[test]
fn swapping_providers_is_one_commit_each_way_and_composes_with_a_channel_in_either_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (swapped, ollama, openai) = (bare(tmp.path(), "s"), bare(tmp.path(), "l"), bare(tmp.path(), "o"));
    builtin(&ollama, &["skill", "apply", "ollama", "--yes"]);
    builtin(&openai, &["skill", "apply", "openai", "--yes"]);
    builtin(&swapped, &["skill", "apply", "openai", "--yes"]);
    builtin(&swapped, &["skill", "apply", "ollama", "--replace", "openai", "--yes"]);
    assert_eq!(commit_count(&swapped), 3);
    assert_eq!(tree_id(&swapped), tree_id(&ollama));
    builtin(&swapped, &["skill", "apply", "openai", "--replace", "ollama", "--yes"]);
    assert_eq!(commit_count(&swapped), 4);
    assert_eq!(tree_id(&swapped), tree_id(&openai));

    let (a, b) = (bare(tmp.path(), "a"), bare(tmp.path(), "b"));
    for skill in ["telegram", "openai", "ollama"] {
        builtin(&a, &["skill", "apply", skill, "--yes"]);
    }
    for skill in ["ollama", "openai", "telegram"] {
        builtin(&b, &["skill", "apply", skill, "--yes"]);
    }
    assert_eq!(tree_id(&a), tree_id(&b));
}
