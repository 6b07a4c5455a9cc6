//! Where skills come from: `--skills DIR` layers on the built-in catalogue (a name in DIR
//! shadows the built-in one), and `--from URL@COMMIT` takes a skill from a git repository pinned
//! to that commit, which a moved branch never changes.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::*;

fn run(dir: &Path, args: &[&str]) -> Output {
    builtin_command(dir, args).output().expect("run claw")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn ok_run(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(out.status.success(), "claw {args:?}:\n{}", text(&out));
    text(&out)
}

#[test]
fn a_skills_folder_adds_to_the_built_in_catalogue_and_shadows_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    ok_run(tmp.path(), &["skill", "new", "mine", "--kind", "tool", "--dir", "skills"]);
    let list = ok_run(tmp.path(), &["--skills", "skills", "skill", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&list).unwrap();
    let source = |name: &str| rows.as_array().unwrap().iter().find(|r| r["name"] == name).map(|r| r["source"].clone());
    assert_eq!(source("mine"), Some("local".into()));
    assert_eq!(source("telegram"), Some("builtin".into()));

    // A local telegram shadows the built-in one, and the list says so.
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("skills/telegram"), &tmp.path().join("skills/telegram"));
    let list = ok_run(tmp.path(), &["--skills", "skills", "skill", "list"]);
    assert!(list.contains("shadowing the built-in telegram"), "{list}");
    assert!(ok_run(tmp.path(), &["--skills", "skills", "skill", "show", "telegram"]).contains("from local"));

    // Built-in and local skills together, in one init.
    std::fs::remove_dir_all(tmp.path().join("skills/telegram")).unwrap();
    ok_run(tmp.path(), &["--skills", "skills", "init", "agent", "--skill", "telegram", "--skill", "mine", "--yes"]);
    let record = read(&tmp.path().join("agent"), ".claw/install.toml");
    assert!(record.contains("name = \"telegram\"\nversion = \"0.1.0\"\nsource = \"builtin\""), "{record}");
    assert!(record.contains("name = \"mine\"\nversion = \"0.1.0\"\nsource = \"local\""), "{record}");
}

#[test]
fn a_missing_skills_folder_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["--skills", "nowhere", "init", "agent", "--skill", "telegram"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out);
    assert!(err.contains("the skills folder nowhere (--skills or CLAW_SKILLS) does not exist"), "{err}");
    assert!(!err.contains("os error"), "{err}");
}

fn git_in(dir: &Path, args: &[&str]) -> String {
    git(dir, args)
}

/// A bare repository holding `skill` in `skills/NAME/`, committed through a clone; returns the
/// commit id.
fn publish(tmp: &Path, skill: &Path, name: &str, message: &str) -> String {
    let clone = tmp.join("clone");
    if !clone.exists() {
        let status = Command::new("git").args(["init", "-q", "--bare"]).arg(tmp.join("skills.git")).status().unwrap();
        assert!(status.success());
        let status =
            Command::new("git").arg("clone").arg("-q").arg(tmp.join("skills.git")).arg(&clone).status().unwrap();
        assert!(status.success());
    }
    let target = clone.join("skills").join(name);
    let _ = std::fs::remove_dir_all(&target);
    copy_dir(skill, &target);
    git_in(&clone, &["add", "-A"]);
    git_in(&clone, &["commit", "-q", "-m", message]);
    git_in(&clone, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    git_in(&clone, &["rev-parse", "HEAD"]).trim().to_string()
}

#[test]
fn a_skill_from_git_stays_pinned_to_its_commit_when_the_branch_moves() {
    let tmp = tempfile::tempdir().unwrap();
    ok_run(tmp.path(), &["skill", "new", "greeter", "--kind", "tool", "--dir", "work"]);
    let skill = tmp.path().join("work/greeter");
    let first = publish(tmp.path(), &skill, "greeter", "v1");
    ok_run(tmp.path(), &["init", "agent", "--bare"]);
    let agent = tmp.path().join("agent");
    let repo_url = tmp.path().join("skills.git");
    let from = format!("{}@{first}", repo_url.display());

    // A branch name is refused: only a commit pins.
    let out = run(&agent, &["skill", "apply", "greeter", "--from", &format!("{}@main", repo_url.display())]);
    assert!(text(&out).contains("not a full commit id"), "{}", text(&out));
    // Not built in: shown and confirmed, or --yes.
    let out = run(&agent, &["skill", "apply", "greeter", "--from", &from]);
    assert!(text(&out).contains("not built into claw"), "{}", text(&out));
    ok_run(&agent, &["skill", "apply", "greeter", "--from", &from, "--yes"]);
    let record = read(&agent, ".claw/install.toml");
    assert!(record.contains("source = \"git\""), "{record}");
    assert!(record.contains(&format!("commit = \"{first}\"")), "{record}");
    let applied = read(&agent, "agent/src/tools/greeter.rs");

    // The branch moves on; nothing the install does brings the new commit in.
    let source = skill.join("files/agent/src/tools/greeter.rs.j2");
    let moved = std::fs::read_to_string(&source).unwrap().replace("Greets someone by name.", "Greets, moved on.");
    std::fs::write(&source, moved).unwrap();
    let second = publish(tmp.path(), &skill, "greeter", "v2");
    assert_ne!(first, second);
    assert!(ok_run(&agent, &["update"]).contains("Nothing to update"));
    ok_run(&agent, &["skill", "apply", "whatsapp"]);
    ok_run(&agent, &["skill", "remove", "whatsapp"]);
    assert_eq!(read(&agent, "agent/src/tools/greeter.rs"), applied);
    assert!(read(&agent, ".claw/install.toml").contains(&format!("commit = \"{first}\"")));

    // Naming the new commit is how it moves, in one commit with the new content.
    let to = format!("{}@{second}", repo_url.display());
    ok_run(&agent, &["skill", "apply", "greeter", "--from", &to, "--yes"]);
    assert!(read(&agent, "agent/src/tools/greeter.rs").contains("Greets, moved on."));
    assert!(read(&agent, ".claw/install.toml").contains(&format!("commit = \"{second}\"")));

    // A commit the repository does not have is named.
    let absent = format!("{}@{}", repo_url.display(), "0".repeat(40));
    let out = run(&agent, &["skill", "apply", "greeter", "--from", &absent, "--yes"]);
    assert!(text(&out).contains("has no commit 0000000000000000000000000000000000000000"), "{}", text(&out));
}
