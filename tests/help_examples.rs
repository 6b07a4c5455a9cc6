//! Every example in `claw --help` and its commands' help runs as printed: a person copies them
//! first, so each one is run here, `claw init` in an empty folder and the rest in a fresh install.

mod support;

use std::path::Path;
use std::process::Output;

use support::*;

const HELPS: &[&[&str]] = &[
    &[],
    &["init"],
    &["skill"],
    &["skill", "list"],
    &["skill", "show"],
    &["skill", "apply"],
    &["skill", "remove"],
    &["skill", "new"],
    &["skill", "check"],
    &["skill", "capture"],
    &["status"],
    &["update"],
    &["diff"],
    &["doctor"],
    &["continue"],
    &["abort"],
];

fn run(dir: &Path, args: &[&str]) -> Output {
    builtin_command(dir, args).output().expect("run claw")
}

/// The example command lines of one help text: the lines under "Examples:" up to the next blank
/// line, each without its trailing explanation (set off by two spaces or more).
fn examples(help: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.trim_end() == "Examples:" {
            inside = true;
        } else if line.trim().is_empty() {
            inside = false;
        } else if inside {
            let command = line.trim_start().split("  ").next().unwrap_or_default().trim();
            found.push(command.to_string());
        }
    }
    found
}

#[test]
fn every_help_example_runs_as_printed() {
    let mut ran = Vec::new();
    for help_args in HELPS {
        let mut args = help_args.to_vec();
        args.push("--help");
        let help = run(Path::new("."), &args);
        assert!(help.status.success(), "claw {args:?}");
        for example in examples(&String::from_utf8_lossy(&help.stdout)) {
            let words: Vec<&str> = example.split_whitespace().collect();
            assert_eq!(words.first(), Some(&"claw"), "an example is a claw command: {example}");
            let tmp = tempfile::tempdir().unwrap();
            let dir = if words.get(1) == Some(&"init") {
                tmp.path().to_path_buf()
            } else {
                builtin(tmp.path(), &["init", "my-agent"]);
                tmp.path().join("my-agent")
            };
            let out = run(&dir, &words[1..]);
            assert!(
                out.status.success(),
                "`{example}` (from claw {args:?}) failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            ran.push(example);
        }
    }
    for expected in [
        "claw skill apply telegram --replace whatsapp",
        "claw init my-agent --bare",
        "claw update --dry-run",
        "claw skill check --all --no-build",
        "claw skill capture mine --dir my-skills",
    ] {
        assert!(ran.iter().any(|e| e == expected), "{expected} is among the examples run: {ran:?}");
    }
}

#[test]
fn examples_are_read_without_their_explanation() {
    let help =
        "About\n\nExamples:\n  claw init my-agent       a new install\n  claw diff\n\nExit codes:\n  0  success\n";
    assert_eq!(examples(help), ["claw init my-agent", "claw diff"]);
}
