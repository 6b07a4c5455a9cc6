//! Applying and removing skills: order independence, exact inverse, idempotence, the shape of
//! an apply commit, `--replace`, `requires`, and variables.

mod support;

use support::*;

#[test]
fn order_of_application_does_not_matter() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("a")).unwrap();
    std::fs::create_dir(tmp.path().join("b")).unwrap();
    let a = install(&tmp.path().join("a"));
    let b = install(&tmp.path().join("b"));
    ok(&a, &["skill", "apply", "alpha", "--yes"]);
    ok(&a, &["skill", "apply", "beta", "--yes"]);
    ok(&b, &["skill", "apply", "beta", "--yes"]);
    ok(&b, &["skill", "apply", "alpha", "--yes"]);
    assert_eq!(tree_id(&a), tree_id(&b));
    let registry = read(&a, "src/channels/mod.rs");
    assert!(
        registry.contains(
            "        (\"cli\", cli::open),\n        (\"alpha\", alpha::open),\n        (\"beta\", beta::open),\n"
        ),
        "{registry}"
    );
}

#[test]
fn remove_is_the_exact_inverse_of_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let before = tree_id(&dir);
    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    let with_alpha = tree_id(&dir);
    ok(&dir, &["skill", "apply", "beta", "--yes"]);
    ok(&dir, &["skill", "remove", "beta"]);
    assert_eq!(tree_id(&dir), with_alpha);
    ok(&dir, &["skill", "remove", "alpha"]);
    assert_eq!(tree_id(&dir), before);
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    assert_eq!(git(&dir, &["rev-parse", "refs/claw/pristine^{tree}"]).trim(), before);
}

#[test]
fn applying_an_applied_skill_is_a_no_op() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    let commits = commit_count(&dir);
    let out = ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    assert!(out.contains("alpha is already applied"), "{out}");
    assert_eq!(commit_count(&dir), commits);
}

#[test]
fn removing_a_skill_that_is_not_applied_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    let err = fails(&dir, &["skill", "remove", "beta"], 1);
    assert!(err.contains("beta is not applied (applied: alpha)"), "{err}");
}

#[test]
fn an_apply_commit_holds_new_files_one_line_registrations_and_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    let files = git(&dir, &["show", "--format=", "--name-only"]);
    let mut files: Vec<&str> = files.lines().collect();
    files.sort();
    assert_eq!(
        files,
        [
            ".claude/skills/alpha/SKILL.md",
            // The first-run skill lists each applied skill's own setup.
            ".claude/skills/setup/SKILL.md",
            ".claw/install.toml",
            ".env.example",
            "CLAUDE.md",
            "Cargo.lock",
            "Cargo.toml",
            "src/channels/alpha.rs",
            "src/channels/mod.rs",
            // ALPHA_TOKEN's config key, written from its [[env]].
            "src/config.rs",
            "tests/alpha.rs"
        ]
    );
    let registry = git(&dir, &["show", "--format=", "--unified=0", "--", "src/channels/mod.rs"]);
    let changed: Vec<&str> = registry
        .lines()
        .filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++") && !l.starts_with("---"))
        .collect();
    assert_eq!(changed, ["+pub mod alpha;", "+        (\"alpha\", alpha::open),"]);
    let manifest = git(&dir, &["show", "--format=", "--unified=0", "--", "Cargo.toml"]);
    let changed: Vec<&str> = manifest.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).collect();
    assert_eq!(changed, ["+itoa = \"1.0.10\""]);
    assert!(git(&dir, &["show", "--format=", "--", ".env.example"]).contains("+ALPHA_TOKEN="));
    let trailers = git(&dir, &["log", "-1", "--format=%(trailers)"]);
    assert_eq!(trailers.trim(), "Claw-Skill-Applied: alpha 1.0.0");
    assert_eq!(git(&dir, &["log", "-1", "--format=%s"]).trim(), "claw: apply alpha");
}

#[test]
fn replace_swaps_one_skill_for_another_in_one_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    let commits = commit_count(&dir);
    ok(&dir, &["skill", "apply", "beta", "--replace", "alpha", "--yes"]);
    assert_eq!(commit_count(&dir), commits + 1);
    assert_eq!(git(&dir, &["log", "-1", "--format=%s"]).trim(), "claw: apply beta (replaces alpha)");
    let trailers = git(&dir, &["log", "-1", "--format=%(trailers)"]);
    assert!(
        trailers.contains("Claw-Skill-Applied: beta 2.1.0") && trailers.contains("Claw-Skill-Removed: alpha 1.0.0"),
        "{trailers}"
    );
    let files = git(&dir, &["ls-files"]);
    let mentions: Vec<&str> =
        // SKILLS.md, the skill format, uses a skill named alpha as its example.
        files.lines().filter(|f| *f != "SKILLS.md").filter(|f| mentions_word(&read(&dir, f), "alpha")).collect();
    assert!(mentions.is_empty(), "alpha is still mentioned in: {mentions:?}");
    let err = fails(&dir, &["skill", "apply", "alpha", "--replace", "nonesuch", "--yes"], 1);
    assert!(err.contains("--replace nonesuch: nonesuch is not applied"), "{err}");
}

#[test]
fn requires_is_enforced_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let err = fails(&dir, &["skill", "apply", "stamp", "--yes"], 1);
    assert!(err.contains("skill stamp requires alpha, which is not applied"), "{err}");
    ok(&dir, &["skill", "apply", "stamp", "alpha", "--yes"]);
    let err = fails(&dir, &["skill", "remove", "alpha"], 1);
    assert!(err.contains("cannot remove alpha: skill stamp requires it"), "{err}");
    ok(&dir, &["skill", "remove", "alpha", "stamp"]);
}

#[test]
fn variables_are_rendered_checked_and_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let err = fails(&dir, &["skill", "apply", "alpha", "--var", "colour=red", "--yes"], 1);
    assert!(err.contains("skill alpha has no variable \"colour\" (it has: greeting)"), "{err}");
    ok(&dir, &["skill", "apply", "alpha", "--var", "greeting=hi there", "--yes"]);
    assert!(read(&dir, "src/channels/alpha.rs").contains("pub const GREETING: &str = \"hi there\";"));
    assert!(read(&dir, ".claw/install.toml").contains("greeting = \"hi there\""));
    // A later change recomposes with the recorded value.
    ok(&dir, &["skill", "apply", "beta", "--yes"]);
    assert!(read(&dir, "src/channels/alpha.rs").contains("hi there"));
}

#[test]
fn skills_from_a_folder_need_confirmation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let before = snapshot(&dir);
    let err = fails(&dir, &["skill", "apply", "alpha"], 1);
    assert!(err.contains("not built into claw: review the change with --dry-run, then apply it with --yes"), "{err}");
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn list_and_status_report_in_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    let list: serde_json::Value = serde_json::from_str(&ok(&dir, &["skill", "list", "--json"])).unwrap();
    let alpha = list.as_array().unwrap().iter().find(|s| s["name"] == "alpha").unwrap();
    assert_eq!(alpha["applied"], "1.0.0");
    assert_eq!(alpha["env"][0]["name"], "ALPHA_TOKEN");
    let status: serde_json::Value = serde_json::from_str(&ok(&dir, &["status", "--json"])).unwrap();
    assert_eq!(status["skills"][0]["name"], "alpha");
    assert_eq!(status["edits"].as_array().unwrap().len(), 0);
}

/// Whether `word` stands in `text` as a word of its own (not inside `alphanumeric`).
fn mentions_word(text: &str, word: &str) -> bool {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric() && c != '_').any(|w| w == word)
}
