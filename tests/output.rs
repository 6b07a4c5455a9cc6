//! What claw prints: `--json` on every command that reports parses as JSON, diffs are coloured
//! and paged only on a terminal (never when piped; `NO_COLOR` honoured), and `init` ends with
//! the next steps.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = builtin(dir, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("claw {args:?}: not JSON ({e}):\n{out}"))
}

#[test]
fn every_reporting_command_gives_json_with_json() {
    let tmp = tempfile::tempdir().unwrap();
    builtin(tmp.path(), &["init", "x"]);
    let dir = tmp.path().join("x");
    assert_eq!(json(&dir, &["status", "--json"])["skills"][0]["name"], "whatsapp");
    let list = json(&dir, &["skill", "list", "--json"]);
    assert!(list.as_array().unwrap().iter().any(|s| s["name"] == "telegram"), "{list}");
    let show = json(&dir, &["skill", "show", "telegram", "--json"]);
    assert_eq!(show["env"][0]["name"], "TELEGRAM_BOT_TOKEN");
    assert_eq!(show["kind"], "channel");
    let preview = json(&dir, &["skill", "apply", "telegram", "--dry-run", "--json"]);
    assert_eq!(preview["dry_run"], true);
    assert!(preview["files"].as_array().unwrap().iter().any(|f| f == "src/channels/telegram.rs"), "{preview}");
    assert!(preview["capabilities"].as_str().unwrap().contains("TELEGRAM_BOT_TOKEN"));
    let removal = json(&dir, &["skill", "remove", "whatsapp", "--dry-run", "--json"]);
    assert!(removal["files"].as_array().unwrap().iter().any(|f| f == "src/channels/whatsapp.rs"), "{removal}");
    assert_eq!(json(&dir, &["update", "--dry-run", "--json"])["nothing_to_do"], true);
    write(&dir, "README.md", "mine\n");
    let diff = json(&dir, &["diff", "--json"]);
    assert_eq!(diff["files"][0]["path"], "README.md");
    assert_eq!(diff["files"][0]["added"], 1);
    git(&dir, &["commit", "-qam", "mine"]);
    let applied = json(&dir, &["skill", "apply", "telegram", "--json"]);
    assert_eq!(applied["dry_run"], false);
    assert_eq!(applied["commit"].as_str().unwrap(), git(&dir, &["rev-parse", "HEAD"]).trim());
    assert_eq!(json(&dir, &["skill", "apply", "telegram", "--json"])["nothing_to_do"], true);
}

/// `claw ARGS` on a pseudo-terminal (util-linux `script`), with `env` set; its output bytes.
fn on_a_terminal(dir: &Path, args: &str, env: &str) -> Option<Vec<u8>> {
    let line = format!("env {env} {:?} {args}", env!("CARGO_BIN_EXE_claw"));
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(dir)
        .env_remove("CLAW_SKILLS")
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

#[test]
fn diffs_are_coloured_and_paged_on_a_terminal_only() {
    let tmp = tempfile::tempdir().unwrap();
    builtin(tmp.path(), &["init", "x"]);
    let dir = tmp.path().join("x");
    write(&dir, "README.md", "mine\n");
    let piped = builtin(&dir, &["diff"]);
    assert!(piped.starts_with("diff --git") && !piped.contains('\u{1b}'), "no escapes into a pipe:\n{piped}");
    let preview = builtin(&dir, &["skill", "apply", "telegram", "--dry-run"]);
    assert!(!preview.contains('\u{1b}'));
    let Some(coloured) = on_a_terminal(&dir, "diff", "PAGER=cat") else {
        eprintln!("no `script` here to make a terminal: the terminal half is skipped");
        return;
    };
    let coloured = String::from_utf8_lossy(&coloured);
    assert!(coloured.contains("\u{1b}[32m+mine"), "{coloured:?}");
    let plain = on_a_terminal(&dir, "diff", "PAGER=cat NO_COLOR=1").unwrap();
    assert!(!plain.contains(&0x1b), "NO_COLOR is honoured");
    let paged = on_a_terminal(&dir, "skill apply telegram --dry-run", "'PAGER=sed s/^/paged:/'").unwrap();
    let paged = String::from_utf8_lossy(&paged);
    assert!(paged.lines().all(|l| l.starts_with("paged:")) && paged.contains("telegram.rs"), "{paged}");
}

#[test]
fn init_ends_with_the_next_steps_and_each_skills_own_setup() {
    let tmp = tempfile::tempdir().unwrap();
    let out = builtin(tmp.path(), &["init", "x", "--skill", "telegram"]);
    let steps = out.split("Next steps:").nth(1).unwrap_or_else(|| panic!("{out}"));
    let order =
        [".env.example .env", "container/build.sh", "register cli:local", "doctor", "-- run", "telegram:", "whatsapp:"];
    let mut at = 0;
    for step in order {
        let found = steps[at..].find(step).unwrap_or_else(|| panic!("{step:?} after byte {at} in:\n{steps}"));
        at += found;
    }
    assert!(steps.contains("TELEGRAM_BOT_TOKEN") && steps.contains(".claude/skills/telegram/SKILL.md"), "{steps}");
}
