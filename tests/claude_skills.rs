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

#[test]
fn a_default_install_has_claude_code_skills_with_valid_front_matter() {
    let tmp = tempfile::tempdir().unwrap();
    builtin(tmp.path(), &["init", "my-agent"]);
    let names = check_claude_skills(&tmp.path().join("my-agent"));
    let mut expected: Vec<String> = WORKFLOWS.iter().map(|s| s.to_string()).collect();
    expected.push("whatsapp".into());
    expected.extend(builtin_skills().into_iter().filter(|n| n != "whatsapp").map(|n| format!("add-{n}")));
    expected.sort();
    assert_eq!(names, expected);
    let whatsapp = read(&tmp.path().join("my-agent"), ".claude/skills/whatsapp/SKILL.md");
    assert!(whatsapp.contains("description: \"Use when the person wants to chat"), "its own description:\n{whatsapp}");
}

#[test]
fn an_install_with_every_catalogue_skill_has_valid_claude_code_skills() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["init".to_string(), "all".to_string()];
    for name in builtin_skills() {
        args.extend(["--skill".to_string(), name]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    builtin(tmp.path(), &args);
    let names = check_claude_skills(&tmp.path().join("all"));
    for skill in builtin_skills() {
        assert!(names.contains(&skill), "{skill} has a Claude Code skill: {names:?}");
    }
    assert!(!names.iter().any(|n| n.starts_with("add-")), "every skill is applied: no add- skill is left: {names:?}");
    for w in WORKFLOWS {
        assert!(names.iter().any(|n| n == w), "{w}: {names:?}");
    }
}

/// claw's own workflow skills, in every install.
const WORKFLOWS: [&str; 6] = ["claw", "customize", "debug", "new-skill", "setup", "update"];

/// The `[[env]]` names a catalogue skill declares.
fn env_keys(skill: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("skills").join(skill).join("skill.toml");
    let manifest: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let env = manifest.get("env").and_then(|e| e.as_array()).cloned().unwrap_or_default();
    env.iter().map(|e| e["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn every_catalogue_skill_not_applied_has_an_add_skill_naming_its_apply_command_and_keys() {
    let tmp = tempfile::tempdir().unwrap();
    builtin(tmp.path(), &["init", "bare", "--bare"]);
    let install = tmp.path().join("bare");
    for skill in builtin_skills() {
        let md = read(&install, &format!(".claude/skills/add-{skill}/SKILL.md"));
        assert!(md.contains(&format!("    claw skill apply {skill}\n")), "add-{skill} names its command:\n{md}");
        for step in [
            "claw skill list",
            &format!("claw skill show {skill}"),
            "--dry-run",
            "doctor",
            &format!("claw skill remove {skill}"),
        ] {
            assert!(md.contains(step), "add-{skill} has the step {step:?}:\n{md}");
        }
        assert!(
            md.contains("Never ask for a token") || env_keys(&skill).is_empty(),
            "add-{skill}: secrets are never asked for in chat"
        );
        for key in env_keys(&skill) {
            assert!(md.contains(&format!("`{key}`")), "add-{skill} names the key {key}:\n{md}");
        }
    }
    let claude = read(&install, "CLAUDE.md");
    for rule in ["Never hand a key to a container", "Never widen the sandbox", "Never commit `.env`"] {
        assert!(claude.contains(rule), "CLAUDE.md states the rule {rule:?}");
    }
    assert_eq!(
        read(&install, "SKILLS.md"),
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("SKILLS.md")).unwrap()
    );
    // The generic skill names only what the catalogue holds.
    let claw = read(&install, ".claude/skills/claw/SKILL.md");
    let description = claw.lines().find(|l| l.starts_with("description:")).unwrap();
    for skill in builtin_skills() {
        assert!(description.contains(&skill), "{description}");
    }
    for absent in ["Slack", "Gmail", "slack", "gmail"] {
        assert!(
            builtin_skills().iter().any(|c| c == &absent.to_lowercase()) || !description.contains(absent),
            "{description}"
        );
    }
}

#[test]
fn applying_a_skill_swaps_its_add_skill_for_its_own_and_removing_it_swaps_back() {
    let tmp = tempfile::tempdir().unwrap();
    builtin(tmp.path(), &["init", "x"]);
    let install = tmp.path().join("x");
    assert!(install.join(".claude/skills/add-telegram/SKILL.md").is_file());
    // A channel that conflicts with nothing applied is added as is.
    let add = read(&install, ".claude/skills/add-telegram/SKILL.md");
    assert!(add.contains("    claw skill apply telegram\n"), "{add}");
    builtin(&install, &["skill", "apply", "telegram"]);
    assert!(!install.join(".claude/skills/add-telegram").exists());
    assert!(install.join(".claude/skills/telegram/SKILL.md").is_file());
    let show = git(&install, &["show", "--stat", "--format="]);
    assert!(show.contains(".claude/skills/add-telegram/SKILL.md"), "{show}");
    builtin(&install, &["skill", "remove", "whatsapp"]);
    assert!(install.join(".claude/skills/add-whatsapp/SKILL.md").is_file());
    assert!(!install.join(".claude/skills/whatsapp").exists());
    check_claude_skills(&install);
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
