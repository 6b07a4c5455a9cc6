//! The promise under pressure: two claws at once, a claw killed at any moment, git moving HEAD
//! behind claw's back, files git does not track, and a person's CRLF line endings.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// A default install (WhatsApp) from the built-in catalogue, named `x` inside `parent`.
fn default_install(parent: &Path) -> PathBuf {
    builtin(parent, &["init", "x"]);
    parent.join("x")
}

fn spawn_builtin(dir: &Path, args: &[&str]) -> Child {
    builtin_command(dir, args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("run claw")
}

fn copy(template: &Path, to: &Path) {
    let out = Command::new("cp").arg("-a").arg(template).arg(to).output().expect("cp");
    assert!(out.status.success(), "cp -a: {}", String::from_utf8_lossy(&out.stderr));
}

const GIT_LOCKS: [&str; 3] = ["index.lock", "refs/heads/main.lock", "refs/claw/pristine.lock"];

#[test]
fn of_two_claws_started_together_one_changes_the_install_and_the_other_exits_4() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("template")).unwrap();
    let template = default_install(&tmp.path().join("template"));
    let start = commit_count(&template);
    for trial in 0..60 {
        let dir = tmp.path().join(format!("pair{trial}"));
        copy(&template, &dir);
        let apply = spawn_builtin(&dir, &["skill", "apply", "telegram"]);
        let remove = spawn_builtin(&dir, &["skill", "remove", "whatsapp"]);
        let (apply, remove) = (apply.wait_with_output().unwrap(), remove.wait_with_output().unwrap());
        let codes = (apply.status.code(), remove.status.code());
        let wins = [codes.0, codes.1].iter().filter(|c| **c == Some(0)).count();
        assert!(
            wins <= 1 && [codes.0, codes.1].iter().all(|c| *c == Some(0) || *c == Some(4)),
            "trial {trial}: exit codes {codes:?}\napply: {}\nremove: {}",
            String::from_utf8_lossy(&apply.stderr),
            String::from_utf8_lossy(&remove.stderr)
        );
        assert_eq!(commit_count(&dir), start + wins, "trial {trial}: a commit was lost");
        assert_eq!(git(&dir, &["status", "--porcelain", "--ignored"]), "", "trial {trial}");
        assert_eq!(
            git(&dir, &["rev-parse", "HEAD:.claw/install.toml"]),
            git(&dir, &["rev-parse", "refs/claw/pristine:.claw/install.toml"]),
            "trial {trial}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Trials run this many at a time; the apply is measured under the same load.
const WORKERS: u32 = 4;

#[test]
fn a_claw_killed_at_any_moment_of_an_apply_leaves_the_before_or_the_after_tree() {
    const TRIALS: u32 = 300;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("template")).unwrap();
    let template = default_install(&tmp.path().join("template"));
    let before = tree_id(&template);
    let measured: Vec<(Duration, String)> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (template, tmp) = (&template, tmp.path());
                s.spawn(move || {
                    let dir = tmp.join(format!("measured{w}"));
                    copy(template, &dir);
                    let started = Instant::now();
                    builtin(&dir, &["skill", "apply", "telegram"]);
                    (started.elapsed(), tree_id(&dir))
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let duration = measured.iter().map(|(d, _)| *d).max().unwrap();
    let after = measured[0].1.clone();
    let ended_after: u32 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (template, tmp, before, after) = (&template, tmp.path(), &before, &after);
                s.spawn(move || {
                    let mut ended_after = 0;
                    for trial in (w..TRIALS).step_by(WORKERS as usize) {
                        let delay = duration.mul_f64(f64::from(trial) / f64::from(TRIALS));
                        let dir = tmp.join(format!("kill{trial}"));
                        copy(template, &dir);
                        let mut child = spawn_builtin(&dir, &["skill", "apply", "telegram"]);
                        std::thread::sleep(delay);
                        // SAFETY: sends SIGKILL to the child this test spawned and has not waited for.
                        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
                        let _ = child.wait();
                        let status = claw(&dir, &["status"]);
                        let err = String::from_utf8_lossy(&status.stderr);
                        assert!(status.status.success(), "trial {trial}: status after a kill at {delay:?}: {err}");
                        let tree = tree_id(&dir);
                        assert!(
                            &tree == before || &tree == after,
                            "trial {trial} ({delay:?}): neither before nor after"
                        );
                        ended_after += u32::from(&tree == after);
                        assert_eq!(git(&dir, &["status", "--porcelain"]), "", "trial {trial} ({delay:?})");
                        for lock in GIT_LOCKS {
                            assert!(!dir.join(".git").join(lock).exists(), "trial {trial}: {lock} left behind");
                        }
                        // Best effort: the temporary folder goes at the end of the test anyway.
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                    ended_after
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    eprintln!("apply took {duration:?}; of {TRIALS} kills, {} ended before, {ended_after} after", TRIALS - ended_after);
    assert!(ended_after > 0 && ended_after < TRIALS, "the kills must spread over the apply");
}

#[test]
fn a_skill_shipping_env_over_the_persons_ignored_env_is_refused_and_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let hostile = fixtures("hostile");
    // Not on disk yet, but ignored: a file the person would never see in `git status`.
    let before = snapshot(&dir);
    let out = claw_with(&dir, &hostile, &["skill", "apply", "dotenv", "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("files git does not track") && err.contains("  .env (ignored)"), "{err}");
    assert_eq!(snapshot(&dir), before);

    write(&dir, ".env", "ANTHROPIC_API_KEY=the-persons-own\n");
    let before = snapshot(&dir);
    for args in [&["skill", "apply", "dotenv", "--yes"][..], &["skill", "apply", "dotenv", "--yes", "--allow-dirty"]] {
        let out = claw_with(&dir, &hostile, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("  .env (ignored)") && err.contains("nothing was written"), "{err}");
        assert_eq!(snapshot(&dir), before);
    }
    assert_eq!(read(&dir, ".env"), "ANTHROPIC_API_KEY=the-persons-own\n");
}

#[test]
fn an_untracked_file_where_a_skill_adds_one_is_refused_even_with_allow_dirty() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    write(&dir, "src/channels/alpha.rs", "// the person's own, not yet committed\n");
    let before = snapshot(&dir);
    let err = fails(&dir, &["skill", "apply", "alpha", "--yes", "--allow-dirty"], 1);
    assert!(err.contains("\n  src/channels/alpha.rs"), "{err}");
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn after_git_reset_status_tells_the_truth_and_the_undone_skill_applies_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    let applied = tree_id(&dir);
    git(&dir, &["reset", "-q", "--hard", "HEAD~1"]);

    let out = claw(&dir, &["status"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("skills: none"), "{stdout}");
    assert!(stdout.contains("your edits against the generated tree: none"), "{stdout}");
    assert!(
        stderr.contains("HEAD was moved by git") && stderr.contains("refs/claw/pristine now follows it"),
        "{stderr}"
    );
    assert_eq!(git(&dir, &["rev-parse", "refs/claw/pristine^{tree}"]), git(&dir, &["rev-parse", "HEAD^{tree}"]));
    let again = claw(&dir, &["status"]);
    assert!(String::from_utf8_lossy(&again.stderr).is_empty(), "repaired once, then quiet");

    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    assert_eq!(tree_id(&dir), applied);
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");

    // A revert is followed the same way.
    git(&dir, &["revert", "--no-edit", "HEAD"]);
    assert!(ok(&dir, &["status"]).contains("skills: none"));
    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    assert_eq!(tree_id(&dir), applied);
}

#[test]
fn a_record_edited_by_hand_is_explained_and_no_change_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let record = read(&dir, ".claw/install.toml");
    write(&dir, ".claw/install.toml", &format!("{record}# mine\n"));
    git(&dir, &["commit", "-qam", "edit the record"]);
    let stdout = ok(&dir, &["status"]);
    assert!(stdout.contains("out of step: HEAD's .claw/install.toml is not one claw wrote"), "{stdout}");
    let before = snapshot(&dir);
    let err = fails(&dir, &["skill", "apply", "alpha", "--yes"], 1);
    assert!(err.contains("git checkout refs/claw/pristine -- .claw/install.toml"), "{err}");
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn a_cargo_toml_converted_to_crlf_merges_cleanly_and_keeps_crlf() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = default_install(tmp.path());
    let crlf = read(&dir, "Cargo.toml").replace('\n', "\r\n");
    write(&dir, "Cargo.toml", &crlf);
    git(&dir, &["commit", "-qam", "Cargo.toml in CRLF"]);
    builtin(&dir, &["skill", "apply", "telegram", "--replace", "whatsapp"]);
    let text = read(&dir, "Cargo.toml");
    assert!(text.contains("frankenstein") && !text.contains("whatsapp-rust"), "{text}");
    assert_eq!(text.matches('\n').count(), text.matches("\r\n").count(), "every line keeps CRLF:\n{text}");
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
}
