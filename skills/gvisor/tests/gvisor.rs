//! The base's sandbox battery and its attack tests, every container under gVisor. This file is
//! named after the runtime, so the shared test support runs its installs with
//! `[container] runtime = "gvisor"`; the battery's files are the base's own, included here.

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
