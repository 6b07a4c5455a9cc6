//! The base's sandbox battery and its attack tests, every container under gVisor. This file is
//! named after the runtime, so the shared test support runs its installs with
//! `[container] runtime = "gvisor"`; the battery's files are the base's own, included here.

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

use std::time::Duration;

use support::*;

const T: Duration = Duration::from_secs(120);

#[test]
fn every_container_runs_on_runsc_and_doctor_checks_it_is_registered() {
    assert_eq!(runtime(), "gvisor");
    let probe = Step::tool("bash", json!({ "command": "uname -v; id -u" }));
    let install = Install::new(vec![probe, Step::text("probed")], "");
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("which kernel is this?");
    assert_eq!(host.reply(T), "probed");
    // The container stays warm for its idle timeout: the engine says which runtime it runs on.
    let containers = install.containers();
    assert_eq!(containers.len(), 1, "{containers:?}");
    let out = docker().args(["inspect", "-f", "{{.HostConfig.Runtime}}", &containers[0]]).output().expect("docker");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "runsc");
    // Inside, the kernel is gVisor's (it reports a fixed version), and the user is the agent's.
    let results = tool_results(&install.requests()[1]);
    assert_eq!(results.len(), 1, "one tool call, one run: {}", host.log());
    let uid = agent_uid(&install);
    assert!(
        results[0].contains("#1 SMP Sun Jan 10 15:06:54 PST 2016") && results[0].contains(&uid.to_string()),
        "{results:?}"
    );

    let out = claw_host(install.path()).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("ok    gvisor: reachable at unix://"), "{report}");
    assert!(report.contains("ok    runtime runsc: registered with the engine"), "{report}");
}

/// An engine without runsc: a stand-in for Docker's API on a Unix socket that answers what
/// doctor asks (version, image, info) and lists only runc.
fn engine_without_runsc(socket: &std::path::Path) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::os::unix::net::UnixListener::bind(socket).expect("bind");
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut stream = stream;
                loop {
                    let mut request = String::new();
                    let mut line = String::new();
                    while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) && line != "\r\n" {
                        request.push_str(&line);
                        line.clear();
                    }
                    if request.is_empty() {
                        return;
                    }
                    let body = match request.split(' ').nth(1).unwrap_or_default() {
                        path if path.ends_with("/version") => r#"{"ApiVersion":"1.41","Version":"20.10.0"}"#,
                        path if path.ends_with("/info") => r#"{"Runtimes":{"runc":{"path":"runc"}}}"#,
                        _ => r#"{"Id":"sha256:0"}"#,
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    if stream.write_all(format!("{head}{body}").as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

#[test]
fn doctor_names_the_fix_when_runsc_is_not_registered() {
    let install = Install::new(vec![], "");
    let socket = install.path().join("engine.sock");
    engine_without_runsc(&socket);
    let config = std::fs::read_to_string(install.path().join("claw.toml")).expect("config");
    let config =
        config.replace("runtime = \"gvisor\"", &format!("runtime = \"gvisor\"\nsocket = \"{}\"", socket.display()));
    std::fs::write(install.path().join("claw.toml"), config).expect("config");
    let out = claw_host(install.path()).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{report}");
    assert!(report.contains("ok    gvisor: reachable at unix://"), "{report}");
    let fail = report.lines().find(|l| l.starts_with("FAIL  runtime runsc: ")).unwrap_or_else(|| panic!("{report}"));
    assert!(fail.contains("not registered with the engine") && fail.contains("/etc/docker/daemon.json"), "{fail}");
    assert!(fail.contains("\"runtimeArgs\": [\"--network=none\", \"--host-uds=open\"]"), "{fail}");
}
