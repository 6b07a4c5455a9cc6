//! The authoring kit: `claw skill new` scaffolds a skill that passes `claw skill check` as written,
//! `check` names a broken template's file and line and reports a pair of skills that cannot be
//! applied together, and `claw skill capture` turns hand edits into a skill that reproduces them
//! byte for byte in a fresh install.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use support::*;

fn run(dir: &Path, args: &[&str]) -> Output {
    builtin_command(dir, args).output().expect("run claw")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn every_scaffold_passes_check_unedited() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, kind) in [("demo", "tool"), ("my-chat", "channel"), ("my-model", "provider")] {
        let out = run(tmp.path(), &["skill", "new", name, "--kind", kind, "--dir", "mine"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    assert!(tmp.path().join("mine/my-chat/tests/my-chat.rs").is_file(), "a channel comes with a test");
    let out = run(tmp.path(), &["--skills", "mine", "skill", "check", "demo", "my-chat", "my-model", "--no-build"]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    for (skill, step) in [("demo", "templates"), ("my-chat", "apply"), ("my-chat + my-model", "pair")] {
        let ok = report.lines().any(|l| {
            let cols: Vec<&str> = l.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
            cols.len() > 2 && cols[0] == skill && cols[1] == step && cols[2] == "ok"
        });
        assert!(ok, "{skill} {step} ok in\n{report}");
    }
    // The JSON report has one row per step, each with its time.
    let out = run(tmp.path(), &["--skills", "mine", "skill", "check", "demo", "--no-build", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], true);
    assert!(json["rows"].as_array().unwrap().iter().any(|r| r["step"] == "apply" && r["result"] == "ok"));
}

#[test]
fn new_refuses_a_bad_name_and_an_existing_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["skill", "new", "My_Tool", "--kind", "tool"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("invalid skill name \"My_Tool\""), "{}", text(&out));
    assert!(run(tmp.path(), &["skill", "new", "demo", "--kind", "tool"]).status.success());
    assert!(tmp.path().join("skills/demo/skill.toml").is_file(), "the default folder is ./skills");
    let again = run(tmp.path(), &["skill", "new", "demo", "--kind", "channel"]);
    assert!(text(&again).contains("already exists"), "{}", text(&again));
}

#[test]
fn a_broken_template_fails_check_naming_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(run(tmp.path(), &["skill", "new", "demo", "--kind", "tool", "--dir", "mine"]).status.success());
    let file = tmp.path().join("mine/demo/files/agent/src/tools/demo.rs.j2");
    let source = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, source.replacen("pub struct", "const X: &str = {{ vars.nope }};\npub struct", 1)).unwrap();
    let line = std::fs::read_to_string(&file).unwrap().lines().position(|l| l.contains("vars.nope")).unwrap() + 1;
    let out = run(tmp.path(), &["--skills", "mine", "skill", "check", "demo", "--no-build"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = text(&out);
    let named = format!("files/agent/src/tools/demo.rs.j2 line {line}");
    assert!(report.contains(&named) && report.contains("FAIL"), "{named} in\n{report}");
}

#[test]
fn check_all_reports_a_pair_that_cannot_be_applied_together() {
    let tmp = tempfile::tempdir().unwrap();
    let out =
        run(tmp.path(), &["--skills", fixtures("kit").to_str().unwrap(), "skill", "check", "--all", "--no-build"]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let row = report.lines().find(|l| l.starts_with("clash-a + clash-b")).unwrap_or_default();
    assert!(row.contains("pair") && row.contains("FAIL") && row.contains("agent/src/tools/clash.rs"), "{report}");
    // The built-in catalogue is checked too, and its own pair passes.
    assert!(report.lines().any(|l| l.starts_with("telegram + whatsapp") && l.contains(" ok ")), "{report}");
    assert!(report.lines().any(|l| l.starts_with("clash-a") && l.contains("apply") && l.contains(" ok ")), "{report}");
}

/// Every file of an install's work tree (without .git), by path.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if rel == ".git" || rel == "target" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                use std::os::unix::fs::PermissionsExt;
                let mut data = std::fs::read(&path).unwrap();
                if std::fs::metadata(&path).unwrap().permissions().mode() & 0o111 != 0 {
                    data.extend_from_slice(b"\n(executable)");
                }
                out.insert(rel, data);
            }
        }
    }
    out
}

/// What claw writes for every applied skill (its record and Claude Code files), not the edits.
fn claws_records(path: &str) -> bool {
    path == ".claw/install.toml" || path == "CLAUDE.md" || path.starts_with(".claude/skills/")
}

#[test]
fn captured_edits_applied_to_a_fresh_install_reproduce_them_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    let out = run(&one, &["init", "agent", "--bare"]);
    assert!(out.status.success(), "{}", text(&out));
    let edited = one.join("agent");

    // Hand edits: new files (one that looks like a template, one executable, a test), a tool
    // registered at its two slots, an image package, a dependency, an environment variable...
    write(&edited, "agent/src/tools/shout.rs", "//! Shouts {{ text }}.\npub struct Shout;\n");
    write(&edited, "notes.md.j2", "{% raw %} and {{ x }} stay as written\n");
    write(&edited, "tests/shout.rs", "#[test]\nfn shouts() {}\n");
    std::fs::create_dir_all(edited.join("scripts")).unwrap();
    write(&edited, "scripts/hello.sh", "#!/bin/sh\necho hi\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(edited.join("scripts/hello.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let tools = read(&edited, "agent/src/tools/mod.rs").replace("mod search;\n", "mod search;\nmod shout;\n").replace(
        "        Box::new(tasks::TaskAdmin),\n",
        "        Box::new(tasks::TaskAdmin),\n        Box::new(shout::Shout),\n",
    );
    write(&edited, "agent/src/tools/mod.rs", &tools);
    write(&edited, "container/packages.txt", &(read(&edited, "container/packages.txt") + "curl\n"));
    let manifest = read(&edited, "agent/Cargo.toml");
    let table = manifest.find("[dependencies]\n").unwrap();
    let deps_end = manifest[table..].find("\n\n").map_or(manifest.len(), |i| table + i + 1);
    write(&edited, "agent/Cargo.toml", &format!("{}itoa = \"1\"\n{}", &manifest[..deps_end], &manifest[deps_end..]));
    let env = read(&edited, ".env.example")
        + "\n# mine\n# How loud the agent shouts (optional)\n# e.g. SHOUT_LEVEL=3\nSHOUT_LEVEL=\n";
    write(&edited, ".env.example", &env);
    // ...and its config key, as claw writes it from a skill's [[env]].
    let config = read(&edited, "src/config.rs").replace(
        "(default claw.toml)\", required: false },\n",
        "(default claw.toml)\", required: false },\n    Key { name: \"SHOUT_LEVEL\", doc: \"How loud the agent shouts\", required: false },\n",
    );
    write(&edited, "src/config.rs", &config);
    // ...and two that no skill can carry.
    write(&edited, "README.md", &(read(&edited, "README.md") + "My notes.\n"));
    std::fs::remove_file(edited.join("PROTOCOL.md")).unwrap();

    let out = run(&edited, &["skill", "capture", "mine", "--dir", "../../skills"]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    for line in [
        "file            agent/src/tools/shout.rs",
        "edits           agent/src/tools/mod.rs: at tool-modules, tools",
        "dependencies    agent/Cargo.toml: itoa",
        "env             .env.example: SHOUT_LEVEL",
        "not capturable  README.md: a file of the base outside every slot",
        "not capturable  PROTOCOL.md: removed",
    ] {
        assert!(report.contains(line), "{line:?} in\n{report}");
    }
    // The person's tree, less what could not be captured, is what the skill must reproduce.
    let skills = tmp.path().join("skills");
    assert!(run(tmp.path(), &["--skills", "skills", "skill", "check", "mine", "--no-build"]).status.success());
    let out = run(&two, &["--skills", skills.to_str().unwrap(), "init", "agent", "--bare", "--skill", "mine", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    git(&edited, &["checkout", "--", "README.md", "PROTOCOL.md"]);
    let (want, got) = (files(&edited), files(&two.join("agent")));
    let differing: Vec<&String> = want
        .keys()
        .chain(got.keys())
        .filter(|p| !claws_records(p) && p.as_str() != "Cargo.lock" && want.get(*p) != got.get(*p))
        .collect();
    assert!(differing.is_empty(), "the captured skill does not reproduce: {differing:?}");
    assert!(read(&two.join("agent"), "Cargo.lock").contains("name = \"itoa\""));
}

#[test]
fn capture_in_an_unedited_install_makes_an_empty_skill_that_applies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let out = run(&dir, &["skill", "capture", "nothing", "--dir", "my-skills"]);
    assert!(text(&out).contains("no edits"), "{}", text(&out));
    let out = run(&dir, &["--skills", "my-skills", "skill", "check", "nothing", "--no-build"]);
    assert!(out.status.success(), "{}", text(&out));
    // A skills folder inside the install is never captured itself.
    let out = run(&dir, &["skill", "capture", "again", "--dir", "my-skills"]);
    assert!(text(&out).contains("no edits"), "{}", text(&out));
    assert!(run(&dir, &["skill", "capture", "again", "--dir", "my-skills"]).status.code() == Some(1));
}
