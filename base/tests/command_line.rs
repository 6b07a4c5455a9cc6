//! The host's own command line as a new user meets it: help, the service definitions it prints,
//! and what doctor says about an install with no claw.toml.

mod support;

use support::*;

fn run(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    claw_host(dir).args(args).output().expect("run claw-host")
}

#[test]
fn help_exits_zero_and_a_bad_command_exits_one_with_the_usage() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--help", "-h", "help"] {
        let out = run(dir.path(), &[flag]);
        assert!(out.status.success(), "{flag}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("usage: claw-host run"));
    }
    let out = run(dir.path(), &["frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: claw-host run"));
}

#[test]
fn the_launchd_plist_is_valid_even_for_a_folder_named_with_xml_characters() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("a & <b>");
    std::fs::create_dir(&dir).unwrap();
    let out = run(&dir, &["service", "launchd"]);
    assert!(out.status.success(), "{out:?}");
    let plist = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(plist.starts_with("<?xml "), "the XML declaration comes first:\n{plist}");
    // Python's plistlib is the reference reader here.
    let script = "import plistlib,sys; p=plistlib.loads(sys.stdin.buffer.read()); print(p['Label']); print(p['WorkingDirectory']); print(p['ProgramArguments'][1])";
    let mut python = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    python.stdin.take().unwrap().write_all(plist.as_bytes()).unwrap();
    let parsed = python.wait_with_output().unwrap();
    assert!(parsed.status.success(), "plistlib refused it: {}\n{plist}", String::from_utf8_lossy(&parsed.stderr));
    let text = String::from_utf8_lossy(&parsed.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["com.claw.host", dir.canonicalize().unwrap().to_str().unwrap(), "run"]
    );
}

#[test]
fn the_systemd_unit_does_not_wait_for_a_system_unit_and_says_how_to_outlive_the_login() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["service", "systemd"]);
    assert!(out.status.success(), "{out:?}");
    let unit = String::from_utf8_lossy(&out.stdout);
    assert!(!unit.contains("docker.service"), "a user manager cannot order after a system unit:\n{unit}");
    assert!(unit.contains("loginctl enable-linger") && unit.contains("no terminal"), "{unit}");
    assert!(unit.contains("ExecStart=") && unit.contains(" run\n"), "{unit}");
}

#[test]
fn doctor_says_when_there_is_no_claw_toml() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ok    configuration: claw.toml absent: the defaults apply"), "{text}");
    assert!(text.contains("model API: https://api.anthropic.com"), "the model API is checked:\n{text}");
}
