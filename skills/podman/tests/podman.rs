//! The base's sandbox battery and its attack tests, every container on Podman. This file is
//! named after the runtime, so the shared test support runs its installs with
//! `[container] runtime = "podman"` and points its `docker` commands at Podman's socket.

// Each of the base's test files declares the shared support module: included here, it is
// compiled once per file, as in the base's own test binaries.
#![allow(clippy::duplicate_mod)]

#[path = "attack.rs"]
mod attack;
#[path = "attack_runs.rs"]
mod attack_runs;
#[path = "sandbox.rs"]
mod sandbox;
mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(120);

#[test]
fn every_container_runs_on_podman_with_the_hardening_and_doctor_checks_the_socket() {
    assert_eq!(runtime(), "podman");
    let probe = Step::tool(
        "bash",
        json!({ "command": "id -u; touch /probe 2>&1; echo > /workspace/group/mine && echo wrote" }),
    );
    let install = Install::new(vec![probe, Step::text("hello from podman")], "");
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("hi");
    assert_eq!(host.reply(T), "hello from podman");
    // The agent's uid is the install's, its root is read-only, its group folder writable.
    let results = tool_results(&install.requests()[1]);
    let uid = agent_uid(&install);
    assert!(results.len() == 1 && results[0].starts_with(&format!("{uid}\n")), "{results:?}\n{}", host.log());
    assert!(results[0].contains("Read-only file system") && results[0].contains("wrote"), "{results:?}");
    // The warm container is Podman's, not Docker's.
    let containers = install.containers();
    assert_eq!(containers.len(), 1, "{containers:?}");
    let format = "{{.HostConfig.NetworkMode}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{.HostConfig.PidsLimit}} {{.HostConfig.Memory}}";
    let out = docker().args(["inspect", "-f", format, &containers[0]]).output().expect("inspect");
    let settings = String::from_utf8_lossy(&out.stdout);
    assert!(settings.starts_with("none true") && settings.contains("no-new-privileges"), "{settings}");
    assert!(settings.trim_end().ends_with(&format!("64 {}", 256 << 20)), "{settings}");
    // Podman's Docker-compatible inspect leaves the log options out; its own shows the bound.
    let format = "{{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Size}}";
    let log = Command::new("podman").args(["inspect", "--format", format, &containers[0]]).output().expect("podman");
    assert_eq!(String::from_utf8_lossy(&log.stdout).trim(), "json-file 1MB");
    let data = install.data().canonicalize().expect("data");
    let on_docker = Command::new("docker")
        .env_remove("DOCKER_HOST")
        .args(["ps", "-aq", "--filter", &format!("label=claw.data={}", data.display())])
        .output()
        .expect("docker ps");
    assert!(on_docker.stdout.is_empty(), "nothing runs on Docker's engine");

    let out = claw_host(install.path()).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("ok    podman: reachable at unix:///run/podman/podman.sock"), "{report}");
    assert!(report.contains(&format!("ok    image: {} present", image())), "{report}");
}

#[test]
fn doctor_names_the_fix_when_the_socket_does_not_answer() {
    let install = Install::new(vec![], "");
    let config = std::fs::read_to_string(install.path().join("claw.toml")).expect("config");
    let gone = install.path().join("no-such-podman.sock");
    let config =
        config.replace("runtime = \"podman\"", &format!("runtime = \"podman\"\nsocket = \"{}\"", gone.display()));
    std::fs::write(install.path().join("claw.toml"), config).expect("config");
    let out = claw_host(install.path()).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    let fail = report.lines().find(|l| l.starts_with("FAIL  podman: ")).unwrap_or_else(|| panic!("{report}"));
    assert!(fail.contains("podman system service --time=0 unix:///run/podman/podman.sock"), "{fail}");
}
