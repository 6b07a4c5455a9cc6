//! A skill is untrusted input: every way out of the install, and every broken skill, is refused
//! with a clear message and nothing written.

mod support;

use std::path::Path;

use support::*;

fn refused(dir: &Path, skills: &Path, name: &str, expect: &str) {
    let before = snapshot(dir);
    let out = claw_with(dir, skills, &["skill", "apply", name, "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{name}: {err}");
    assert!(err.contains(expect), "{name}: expected {expect:?} in:\n{err}");
    assert_eq!(snapshot(dir), before, "{name} wrote something");
}

#[test]
fn hostile_and_broken_skills_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let hostile = fixtures("hostile");
    refused(&dir, &hostile, "dotdot", "leaves the install ('..')");
    assert!(!tmp.path().join("outside").exists());
    refused(&dir, &hostile, "absolute", "absolute path \"/tmp/claw-pwned.txt\"");
    assert!(!Path::new("/tmp/claw-pwned.txt").exists());
    refused(&dir, &hostile, "dotgit", "writes into .git, which belongs to git or claw");
    refused(&dir, &hostile, "dotclaw", "writes into .claw, which belongs to git or claw");
    refused(&dir, &hostile, "undefined", "template src/undefined.rs.j2 line 1: undefined value");
    refused(
        &dir,
        &hostile,
        "noslot",
        "there is no slot \"teleport\" in the base (slots: agent-deps, agent-keys, channel-modules, channels,",
    );
    refused(&dir, &hostile, "unknownfield", "unknown field `colour`");
    refused(&dir, &hostile, "badversion", "skill badversion: invalid skill.toml");
    refused(&dir, &hostile, "overwrite", "adds src/main.rs, which the base already has");
}

#[test]
fn a_write_through_a_symlink_out_of_the_install_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("escape")).unwrap();
    git(&dir, &["add", "escape"]);
    git(&dir, &["commit", "-qm", "a link"]);
    refused(
        &dir,
        &fixtures("hostile"),
        "symlink",
        "refusing to write escape/pwned.txt: escape is a symlink that leaves the install",
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn symlinks_and_oversized_files_inside_a_skill_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let skills = tmp.path().join("skills");
    copy_dir(&fixtures("skills").join("alpha"), &skills.join("alpha"));
    std::os::unix::fs::symlink("/etc/passwd", skills.join("alpha/files/src/passwd.rs")).unwrap();
    refused(&dir, &skills, "alpha", "files/src/passwd.rs is a symlink; a skill may hold only plain files");
    std::fs::remove_file(skills.join("alpha/files/src/passwd.rs")).unwrap();
    std::fs::write(skills.join("alpha/files/big.bin"), vec![b'x'; 2 << 20]).unwrap();
    refused(&dir, &skills, "alpha", "files/big.bin is 2097152 bytes, over the 1048576-byte limit");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn slot_edits_with_attributes_or_file_reading_macros_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let hostile = fixtures("hostile");
    refused(
        &dir,
        &hostile,
        "pathattr",
        "a rust-items slot takes only a plain `mod name;` or `use path;` (no attributes)",
    );
    refused(
        &dir,
        &hostile,
        "include",
        "a rust-list slot takes a plain expression: no macros but vec! and format! (found include!)",
    );
}

#[test]
fn a_var_with_quotes_and_braces_in_a_rust_slot_renders_as_a_string_literal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let value = r#"x", required: true }); std::process::exit(1); ({ "{}"#;
    let var = format!("doc={value}");
    let out = claw_with(&dir, &fixtures("hostile"), &["skill", "apply", "literal", "--yes", "--var", &var]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = read(&dir, "agent/src/tools/mod.rs");
    let line = config.lines().find(|l| l.contains("\"LITERAL\"")).expect("the entry is registered");
    assert_eq!(line.trim(), format!("Box::new(Key {{ name: \"LITERAL\", doc: {value:?}, required: false }}),"));
    assert_eq!(config.matches("std::process::exit").count(), 1, "the value became code:\n{config}");
}

#[test]
fn control_characters_in_a_skills_files_are_shown_escaped_in_the_dry_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let out = claw_with(&dir, &fixtures("hostile"), &["skill", "apply", "ansi", "--dry-run"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("+rm -rf ~ \\r\\u{1b}[2Kharmless line"), "{stdout}");
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('\r'), "raw control characters reached the terminal");
}

#[test]
fn a_summary_that_would_forge_commit_trailers_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    refused(&dir, &fixtures("hostile"), "forged", "summary must be one line of text without control characters");
}
