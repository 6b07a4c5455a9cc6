//! What was reviewed is what is kept: an install composes every change from the base, templates
//! and skills pinned in its own git objects. A skill edited on disk, a newer claw and a moved
//! skills folder change nothing until `claw update`.

mod support;

use std::path::Path;

use support::*;

/// Stdout of a successful run.
fn stdout_of(out: std::process::Output, what: &str) -> String {
    assert!(out.status.success(), "{what}:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes `skill.toml` in `dir` say `version = new` and adds a `[changes]` note for it.
fn bump(dir: &Path, old: &str, new: &str, note: &str) {
    let path = dir.join("skill.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let bumped = text.replacen(&format!("version = \"{old}\""), &format!("version = \"{new}\""), 1);
    assert_ne!(bumped, text, "{} has no version {old}", path.display());
    let changes = format!("\n[changes]\n\"{new}\" = \"{note}\"\n");
    std::fs::write(&path, bumped + &changes).unwrap();
}

#[test]
fn a_local_skill_changed_on_disk_reaches_the_install_only_through_update() {
    let tmp = tempfile::tempdir().unwrap();
    let skills = tmp.path().join("my-skills");
    copy_dir(&fixtures("skills"), &skills);
    let dir = install(tmp.path());
    claw_ok(&dir, &skills, &["skill", "apply", "alpha", "--yes"]);

    std::fs::write(skills.join("alpha/files/build.rs"), "fn main() { /* runs at build time */ }\n").unwrap();
    bump(&skills.join("alpha"), "1.0.0", "1.1.0", "Adds a build script.");

    // An unrelated change neither reads nor commits the new version.
    claw_ok(&dir, &skills, &["skill", "apply", "beta", "--yes"]);
    assert_eq!(git(&dir, &["log", "-1", "--format=%(trailers)"]).trim(), "Claw-Skill-Applied: beta 2.1.0");
    assert!(!git(&dir, &["ls-files"]).lines().any(|f| f == "build.rs"), "build.rs came in unreviewed");
    assert!(read(&dir, ".claw/install.toml").contains("version = \"1.0.0\""));
    // Nor does `git gc` lose what is pinned.
    git(&dir, &["gc", "--quiet", "--prune=now"]);
    claw_ok(&dir, &skills, &["skill", "remove", "beta"]);

    let status = claw_ok(&dir, &skills, &["status"]);
    assert!(status.contains("updates available") && status.contains("alpha 1.0.0 -> 1.1.0"), "{status}");
    let json: serde_json::Value = serde_json::from_str(&claw_ok(&dir, &skills, &["status", "--json"])).unwrap();
    assert_eq!(json["updates"][0]["name"], "alpha");
    assert_eq!(json["updates"][0]["to"], "1.1.0");

    let before = snapshot(&dir);
    let preview = claw_ok(&dir, &skills, &["update", "alpha", "--dry-run"]);
    assert!(preview.contains("diff --git a/build.rs b/build.rs\nnew file mode 100644"), "{preview}");
    assert_eq!(snapshot(&dir), before);
    // A local skill is not built in, and its new build.rs runs code at build time: without
    // --allow-build-code (and no terminal) nothing is written, --yes or not.
    let err = stderr_of_failure(claw_with(&dir, &skills, &["update", "alpha"]));
    assert!(err.contains("Review it with --dry-run") && err.contains("--allow-build-code"), "{err}");
    assert_eq!(snapshot(&dir), before);
    let err = stderr_of_failure(claw_with(&dir, &skills, &["update", "alpha", "--yes"]));
    assert!(err.contains("build.rs") && err.contains("--allow-build-code"), "{err}");
    assert_eq!(snapshot(&dir), before);

    let shown = claw_ok(&dir, &skills, &["update", "alpha", "--yes", "--allow-build-code"]);
    assert!(shown.contains("alpha 1.0.0 -> 1.1.0\n  1.1.0: Adds a build script."), "{shown}");
    assert!(shown.contains("+fn main() { /* runs at build time */ }"), "{shown}");
    assert_eq!(git(&dir, &["log", "-1", "--format=%(trailers)"]).trim(), "Claw-Skill-Updated: alpha 1.0.0 -> 1.1.0");
    assert_eq!(git(&dir, &["log", "-1", "--format=%s"]).trim(), "claw: update alpha");
    assert_eq!(read(&dir, "build.rs"), "fn main() { /* runs at build time */ }\n");
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    assert!(!claw_ok(&dir, &skills, &["status"]).contains("updates available"));
}

#[test]
fn a_newer_claw_changes_nothing_until_update() {
    let tmp = tempfile::tempdir().unwrap();
    let newer = tmp.path().join("newer-claw");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for part in ["base", "skills", "templates"] {
        copy_dir(&root.join(part), &newer.join(part));
    }
    let base_toml = newer.join("base/.claw/base.toml");
    let text = std::fs::read_to_string(&base_toml).unwrap().replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1);
    let note = "\"0.2.0\" = \"A newer base.\"\n";
    let text = match text.contains("\n[changes]\n") {
        true => text.replacen("\n[changes]\n", &format!("\n[changes]\n{note}"), 1),
        false => format!("{text}\n[changes]\n{note}"),
    };
    std::fs::write(&base_toml, text).unwrap();
    std::fs::write(newer.join("base/NEWS.md"), "new in base 0.2.0\n").unwrap();
    std::fs::write(newer.join("skills/telegram/files/src/channels/telegram_news.rs"), "// new in 0.2.0\n").unwrap();
    bump(&newer.join("skills/telegram"), "0.1.0", "0.2.0", "Adds a news file.");

    builtin(tmp.path(), &["init", "x", "--bare", "--skill", "telegram"]);
    let dir = tmp.path().join("x");
    let record = read(&dir, ".claw/install.toml");

    // The newer claw's next unrelated change is exactly what this claw would have made.
    std::fs::create_dir(tmp.path().join("ref")).unwrap();
    builtin(&tmp.path().join("ref"), &["init", "x", "--bare", "--skill", "telegram"]);
    let reference = tmp.path().join("ref/x");
    builtin(&reference, &["skill", "remove", "telegram"]);
    stdout_of(newer_claw(&dir, &newer, &["skill", "remove", "telegram"]), "remove with the newer claw");
    assert_eq!(tree_id(&dir), tree_id(&reference));
    assert!(!dir.join("NEWS.md").exists());
    builtin(&reference, &["skill", "apply", "telegram"]);
    stdout_of(newer_claw(&dir, &newer, &["skill", "apply", "telegram"]), "apply with the newer claw");
    assert_eq!(tree_id(&dir), tree_id(&reference), "a newly applied built-in skill comes from the pinned catalogue");
    assert_eq!(read(&dir, ".claw/install.toml"), record);
    assert_eq!(git(&dir, &["log", "-1", "--format=%(trailers)"]).trim(), "Claw-Skill-Applied: telegram 0.1.0");

    assert!(!builtin(&dir, &["status"]).contains("updates available"));
    let status = stdout_of(newer_claw(&dir, &newer, &["status"]), "status");
    assert!(status.contains("base 0.1.0 -> 0.2.0") && status.contains("telegram 0.1.0 -> 0.2.0"), "{status}");

    let before = snapshot(&dir);
    let preview = stdout_of(newer_claw(&dir, &newer, &["update", "--dry-run"]), "update --dry-run");
    assert!(preview.contains("+++ b/NEWS.md") && preview.contains("+++ b/src/channels/telegram_news.rs"), "{preview}");
    assert_eq!(snapshot(&dir), before);

    let shown = stdout_of(newer_claw(&dir, &newer, &["update"]), "update");
    assert!(shown.contains("0.2.0: A newer base.") && shown.contains("0.2.0: Adds a news file."), "{shown}");
    let trailers = git(&dir, &["log", "-1", "--format=%(trailers)"]);
    assert_eq!(trailers.trim(), "Claw-Base-Updated: 0.1.0 -> 0.2.0\nClaw-Skill-Updated: telegram 0.1.0 -> 0.2.0");
    assert_eq!(read(&dir, "NEWS.md"), "new in base 0.2.0\n");
    assert!(dir.join("src/channels/telegram_news.rs").exists());
    assert!(read(&dir, ".claw/install.toml").contains("base = \"0.2.0\""));
    assert!(!stdout_of(newer_claw(&dir, &newer, &["status"]), "status").contains("updates available"));
    // Now pinned, the newer material stays when an older claw makes the next change.
    builtin(&dir, &["skill", "remove", "telegram"]);
    assert!(dir.join("NEWS.md").exists());
}

#[test]
fn moving_the_local_skills_folder_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("skills-here");
    copy_dir(&fixtures("skills"), &first);
    let dir = install(tmp.path());
    claw_ok(&dir, &first, &["skill", "apply", "alpha", "--var", "greeting=moved", "--yes"]);
    let record = read(&dir, ".claw/install.toml");
    assert!(record.contains("source = \"local\""), "{record}");
    assert!(!record.contains(tmp.path().to_str().unwrap()) && !record.contains("\"/"), "{record}");

    let second = tmp.path().join("skills-there");
    std::fs::rename(&first, &second).unwrap();
    claw_ok(&dir, &second, &["skill", "apply", "beta", "--yes"]);
    // Without any skills folder at all, the pinned copies are enough.
    builtin(&dir, &["skill", "remove", "beta"]);
    builtin(&dir, &["status"]);
    assert_eq!(read(&dir, ".claw/install.toml"), record);

    std::fs::create_dir(tmp.path().join("ref")).unwrap();
    let reference = install(&tmp.path().join("ref"));
    ok(&reference, &["skill", "apply", "alpha", "--var", "greeting=moved", "--yes"]);
    assert_eq!(tree_id(&dir), tree_id(&reference), "the install does not depend on where its skills were");
}

#[test]
fn reapplying_a_skill_keeps_its_variables_and_var_changes_only_what_it_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    ok(&dir, &["skill", "apply", "alpha", "--var", "greeting=kept", "--yes"]);
    let commits = commit_count(&dir);
    let out = ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    assert!(out.contains("alpha is already applied"), "{out}");
    assert_eq!(commit_count(&dir), commits);
    assert!(read(&dir, ".claw/install.toml").contains("greeting = \"kept\""));
    ok(&dir, &["skill", "apply", "alpha", "--var", "greeting=changed", "--yes"]);
    assert!(read(&dir, "src/channels/alpha.rs").contains("\"changed\""));
    assert_eq!(commit_count(&dir), commits + 1);
}

#[test]
fn updating_a_local_skill_needs_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_claw"))
        .args(["update", "alpha"])
        .current_dir(&dir)
        .env_remove("CLAW_SKILLS")
        .env_remove("CLAW_BUILTIN_DIR")
        .output()
        .unwrap();
    let err = stderr_of_failure(out);
    assert!(
        err.contains("alpha: local skills; name the folder that holds the newer version with --skills DIR"),
        "{err}"
    );
    let err = fails(&dir, &["update", "nonesuch"], 1);
    assert!(err.contains("nonesuch is not applied (applied: alpha)"), "{err}");
    assert!(ok(&dir, &["update"]).contains("Nothing to update"));
}

fn claw_ok(dir: &Path, skills: &Path, args: &[&str]) -> String {
    stdout_of(claw_with(dir, skills, args), &format!("claw {args:?}"))
}

fn stderr_of_failure(out: std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(1), "stdout: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}
