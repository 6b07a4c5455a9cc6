//! The command line as a person meets it: a misspelt skill gets a suggestion, output into a
//! closed pipe ends quietly, commits carry git's identity variables, and errors read as plain
//! sentences without libgit2's internals.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use support::*;

/// The real binary with the built-in catalogue and no identity from the environment.
fn claw_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_claw"));
    cmd.args(args).current_dir(dir).env_remove("CLAW_SKILLS").env_remove("CLAW_FAULT_AFTER_WRITES");
    cmd.env_remove("CLAW_BUILTIN_DIR");
    for role in ["AUTHOR", "COMMITTER"] {
        cmd.env_remove(format!("GIT_{role}_NAME")).env_remove(format!("GIT_{role}_EMAIL"));
    }
    cmd
}

#[test]
fn a_misspelt_skill_gets_a_did_you_mean() {
    let tmp = tempfile::tempdir().unwrap();
    builtin(tmp.path(), &["init", "my-agent"]);
    let out = claw_cmd(&tmp.path().join("my-agent"), &["skill", "apply", "telegarm"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("did you mean telegram?"), "{err}");
    let out = claw_with(tmp.path(), &fixtures("skills"), &["init", "x", "--bare", "--skill", "alpah"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean alpha?"));
}

#[test]
fn a_dry_run_into_a_closed_pipe_ends_quietly_with_success() {
    let tmp = tempfile::tempdir().unwrap();
    builtin(tmp.path(), &["init", "my-agent"]);
    let dir = tmp.path().join("my-agent");
    // The reader goes away at once, as `| head -1` does once it has its line: every write fails.
    let mut child = claw_cmd(&dir, &["skill", "apply", "telegram", "--dry-run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err, "", "nothing to say about a closed pipe");
    // And through a real shell pipeline, with pipefail so claw's own status counts.
    let line = format!("{:?} skill apply telegram --dry-run | head -1", env!("CARGO_BIN_EXE_claw"));
    let out = pipeline(&dir, &line);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    // Commands that print with println! too.
    for args in ["status --json", "skill list --json", "skill show telegram", "skill show telegram --json"] {
        let line = format!("{:?} {args} | head -c1", env!("CARGO_BIN_EXE_claw"));
        let out = pipeline(&dir, &line);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.is_empty(), "claw {args} | head: {err}");
    }
}

#[test]
fn commits_carry_the_git_author_and_committer_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let status = claw_cmd(tmp.path(), &["init", "my-agent"])
        .env("GIT_AUTHOR_NAME", "Ada Author")
        .env("GIT_AUTHOR_EMAIL", "ada@example.org")
        .env("GIT_COMMITTER_NAME", "Cy Committer")
        .env("GIT_COMMITTER_EMAIL", "cy@example.org")
        .status()
        .unwrap();
    assert!(status.success());
    let dir = tmp.path().join("my-agent");
    assert_eq!(
        git(&dir, &["log", "-1", "--format=%an <%ae> / %cn <%ce>"]).trim(),
        "Ada Author <ada@example.org> / Cy Committer <cy@example.org>"
    );
    let out = claw_cmd(&dir, &["skill", "apply", "telegram", "--replace", "whatsapp"])
        .env("GIT_AUTHOR_NAME", "Bea Author")
        .env("GIT_AUTHOR_EMAIL", "bea@example.org")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(git(&dir, &["log", "-1", "--format=%an <%ae>"]).trim(), "Bea Author <bea@example.org>");
}

#[test]
fn errors_from_git_carry_no_libgit2_internals() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [&["status"][..], &["skill", "apply", "telegram"], &["diff"]] {
        let out = claw_cmd(tmp.path(), args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(!err.contains("class=") && !err.contains("code="), "{args:?}: {err}");
    }
}

/// `line` run by bash with pipefail in `dir`, with the built-in catalogue only.
fn pipeline(dir: &std::path::Path, line: &str) -> std::process::Output {
    Command::new("bash")
        .args(["-o", "pipefail", "-c", line])
        .current_dir(dir)
        .env_remove("CLAW_SKILLS")
        .env_remove("CLAW_BUILTIN_DIR")
        .output()
        .unwrap()
}
