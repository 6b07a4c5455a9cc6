//! The Claude Code skills in an install (`.claude/skills/*/SKILL.md`) load in Claude Code: their
//! front matter is YAML, read here by a real YAML parser, and follows Claude Code's rules.

mod support;

use std::path::Path;

use serde::Deserialize;
use support::*;

#[derive(Deserialize)]
struct FrontMatter {
    name: String,
    description: String,
}

/// Checks every `.claude/skills/*/SKILL.md` of `install`; returns the folder names.
fn check_claude_skills(install: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(install.join(".claude/skills")).unwrap() {
        let folder = entry.unwrap().file_name().into_string().unwrap();
        let text = std::fs::read_to_string(install.join(".claude/skills").join(&folder).join("SKILL.md")).unwrap();
        let yaml = text
            .strip_prefix("---\n")
            .and_then(|rest| rest.split_once("\n---\n"))
            .map(|(yaml, _)| yaml)
            .unwrap_or_else(|| panic!("{folder}/SKILL.md has no front matter:\n{text}"));
        let front: FrontMatter =
            serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{folder}/SKILL.md: invalid YAML: {e}\n{yaml}"));
        assert_eq!(front.name, folder, "the name matches the folder");
        assert!(
            !front.name.is_empty()
                && front.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{folder}: name {:?} is not ^[a-z0-9-]+$",
            front.name
        );
        let chars = front.description.chars().count();
        assert!((1..=1024).contains(&chars), "{folder}: description of {chars} characters");
        assert!(!front.description.contains(['<', '>']), "{folder}: {:?}", front.description);
        names.push(folder);
    }
    names.sort();
    names
}

fn catalogue() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("skills");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("skill.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_default_install_has_claude_code_skills_with_valid_front_matter() {
    let tmp = tempfile::tempdir().unwrap();
    builtin(tmp.path(), &["init", "my-agent"]);
    let names = check_claude_skills(&tmp.path().join("my-agent"));
    assert_eq!(names, ["claw", "customize", "whatsapp"]);
    let whatsapp = read(&tmp.path().join("my-agent"), ".claude/skills/whatsapp/SKILL.md");
    assert!(whatsapp.contains("description: \"Use when the person wants to chat"), "its own description:\n{whatsapp}");
}

#[test]
fn an_install_with_every_catalogue_skill_has_valid_claude_code_skills() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["init".to_string(), "all".to_string()];
    for name in catalogue() {
        args.extend(["--skill".to_string(), name]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    builtin(tmp.path(), &args);
    let names = check_claude_skills(&tmp.path().join("all"));
    for skill in catalogue() {
        assert!(names.contains(&skill), "{skill} has a Claude Code skill: {names:?}");
    }
}

#[test]
fn a_skill_name_with_an_underscore_or_a_description_with_angle_brackets_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let skills = tmp.path().join("skills");
    copy_dir(&fixtures("skills").join("beta"), &skills.join("beta"));
    let manifest = skills.join("beta/skill.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replacen("summary = ", "description = \"Use when <b>\"\nsummary = ", 1)).unwrap();
    let out = claw_with(tmp.path(), &skills, &["init", "x", "--bare", "--skill", "beta", "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("skill beta") && err.contains("description") && err.contains("'<'"), "{err}");
    let out = claw_with(tmp.path(), &skills, &["init", "y", "--bare", "--skill", "my_beta", "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid skill name \"my_beta\""), "{err}");
}
