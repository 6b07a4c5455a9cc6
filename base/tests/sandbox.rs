//! The sandbox, end to end: real containers, the real agent, the fake model behind the proxy.

mod support;

use std::time::Duration;

use support::*;

/// Long enough for a stuck first attempt to hit the hard timeout (40 s) and be retried.
const T: Duration = Duration::from_secs(120);

#[test]
fn a_tool_call_runs_inside_the_container_and_the_session_resumes() {
    let install = Install::new(
        vec![
            Step::tool("bash", json!({ "command": "echo sandbox-$((6*7)); id -u; ls /workspace" })),
            Step::text("the answer is 42"),
            Step::text("second answer"),
        ],
        "",
    );
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("what is six times seven?");
    assert_eq!(host.reply(T), "the answer is 42");
    let requests = install.requests();
    let results = tool_results(&requests[1]);
    assert_eq!(results.len(), 1, "{results:?}");
    let uid = agent_uid(&install);
    assert!(results[0].contains(&format!("sandbox-42\n{uid}\nglobal\ngroup\n")), "{}", results[0]);
    assert_eq!(requests[0].header("x-api-key"), Some(KEY), "the proxy adds the key");

    host.say("and again?");
    assert_eq!(host.reply(T), "second answer");
    let third = &install.requests()[2];
    let history = user_text(third);
    assert!(
        history.contains("what is six times seven?") && history.contains("and again?"),
        "the session resumed: {history}"
    );

    // The proxy counted the group's tokens from the streamed responses.
    let db = rusqlite::Connection::open(install.data().join("claw.db")).unwrap();
    let tokens = || {
        db.query_row("SELECT input_tokens, output_tokens FROM usage WHERE folder = 'main'", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
    };
    let deadline = std::time::Instant::now() + T;
    while !matches!(tokens(), Ok((i, o)) if i > 0 && o > 0) {
        assert!(std::time::Instant::now() < deadline, "no tokens counted for group main: {:?}", tokens());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every probe runs as a bash call inside group A's container; the results come back to the
/// model as tool results, which the test reads from the fake model's log.
#[test]
fn escape_attempts_fail_and_the_host_keeps_serving() {
    let probes = [
        (
            "network",
            "wget -q -T 3 -O- http://1.1.1.1/ >/dev/null 2>&1; echo \"internet rc=$?\"; nc -w 3 172.17.0.1 2375 </dev/null >/dev/null 2>&1; echo \"host rc=$?\"; cat /proc/net/dev | grep -v -c lo",
        ),
        ("writes", "for d in / /etc /usr; do touch $d/probe 2>/dev/null && echo \"wrote $d\"; done; echo writes-done"),
        (
            "other group",
            "ls /workspace; cat /workspace/*/b-secret.txt 2>&1; find / -name b-secret.txt 2>/dev/null; echo search-done",
        ),
        (
            "key",
            "env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; grep -rs 'SECRET-42''42' /workspace /run /etc /tmp /bin /usr 2>/dev/null | head -3; echo key-scan-done",
        ),
        ("root", "id -u; su -c id root 2>&1; echo \"su rc=$?\""),
        ("fork bomb", "i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; echo forked"),
    ];
    let mut script: Vec<Step> =
        probes.iter().map(|(_, cmd)| Step::tool("bash", json!({ "command": cmd, "timeout_secs": 60 }))).collect();
    script.push(Step::text("probes done"));
    script.push(Step::text("still here"));
    let install = Install::new(script, "");
    // The probes take a while under load: no hard timeout may cut this run short.
    let config = std::fs::read_to_string(install.path().join("claw.toml")).unwrap();
    std::fs::write(
        install.path().join("claw.toml"),
        config.replace("hard_timeout_secs = 40", "hard_timeout_secs = 170"),
    )
    .unwrap();
    install.register("cli:local", "a", &["--main"]);
    install.register("cli:b", "b", &["--no-trigger"]);
    let mut host = install.host();
    std::fs::write(install.data().join("groups/b/b-secret.txt"), "B-PRIVATE").unwrap();

    host.say("run the probes");
    assert_eq!(host.reply(Duration::from_secs(180)), "probes done");
    let results = tool_results(install.requests().last().unwrap());
    assert_eq!(results.len(), probes.len(), "{results:#?}\n{}", host.log());
    let by_name: Vec<(&str, &String)> = probes.iter().map(|(n, _)| *n).zip(&results).collect();
    for (name, out) in &by_name {
        assert!(!out.contains(KEY), "{name}: the key leaked:\n{out}");
    }
    let get = |n: &str| by_name.iter().find(|(name, _)| *name == n).map(|(_, o)| o.as_str()).unwrap();
    let network = get("network");
    assert!(network.contains("internet rc=") && !network.contains("internet rc=0"), "{network}");
    assert!(network.contains("host rc=") && !network.contains("host rc=0"), "{network}");
    assert!(network.contains("\n2\n"), "no interface but lo (2 counts the header lines): {network}");
    assert!(!get("writes").contains("wrote"), "{}", get("writes"));
    assert!(
        get("other group").starts_with("global\ngroup\n") && !get("other group").contains("B-PRIVATE"),
        "{}",
        get("other group")
    );
    assert!(get("key").contains("key-scan-done") && !get("key").contains("SECRET-4242"), "{}", get("key"));
    let uid = agent_uid(&install);
    assert!(get("root").starts_with(&format!("{uid}\n")) && !get("root").contains("su rc=0"), "{}", get("root"));
    // The pids limit stops the loop: the shell cannot fork and gives up (exit code 2).
    assert!(get("fork bomb").contains("[exit code 2]") || get("fork bomb").contains("forked"), "{}", get("fork bomb"));

    // The host is unharmed and answers the next message (in a fresh container if need be).
    host.say("are you there?");
    assert_eq!(host.reply(Duration::from_secs(60)), "still here");
    assert!(host.is_running());
}

/// The memory limit stops a hog. Under Docker's default runtime the kernel kills the hog alone
/// and the agent reports it; under gVisor, whose kernel is one process on the host, the whole
/// container is killed and the run is tried again. Either way nothing passes the limit and the
/// host keeps serving.
#[test]
fn the_memory_limit_stops_a_hog_and_the_host_keeps_serving() {
    let hog = "head -c 400000000 /dev/zero | sort >/dev/null 2>&1; echo \"memory rc=$?\"";
    let install = Install::new(vec![Step::tool("bash", json!({ "command": hog })), Step::text("after the hog")], "");
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("use a lot of memory");
    assert_eq!(host.reply(T), "after the hog");
    let results: Vec<String> = install.requests().iter().flat_map(tool_results).collect();
    let killed = host.log().contains("the container exited (code Some(137))");
    assert!(results.iter().all(|r| !r.contains("memory rc=0")), "the limit must stop it: {results:?}");
    assert!(killed || results.iter().any(|r| r.contains("memory rc=")), "{results:?}\n{}", host.log());
    assert!(host.is_running());
}

#[test]
fn a_group_may_act_only_on_its_own_chat_and_tasks() {
    let install = Install::new(
        vec![
            Step::tool(
                "schedule_task",
                json!({ "prompt": "water the plants", "kind": "cron", "spec": "0 9 * * *", "chat": "cli:b" }),
            ),
            Step::text("scheduled for b"),
            Step::tool("send_message", json!({ "chat": "cli:b", "text": "from a" })),
            Step::tool("tasks", json!({ "op": "cancel", "id": 1 })),
            Step::text("a tried"),
            Step::tool("send_message", json!({ "chat": "cli:a", "text": "hello a, from main" })),
            Step::tool("tasks", json!({ "op": "pause", "id": 1 })),
            Step::text("main done"),
        ],
        "",
    );
    install.register("cli:local", "main", &["--main"]);
    install.register("cli:a", "a", &["--no-trigger"]);
    install.register("cli:b", "b", &["--no-trigger"]);
    let mut host = install.host();
    host.say("schedule something for b");
    assert_eq!(host.reply(T), "scheduled for b");
    host.say(">cli:a try to reach b");
    assert_eq!(host.reply(T), "[cli:a] a tried");
    let a_results = tool_results(&install.requests()[4]);
    assert!(a_results.iter().any(|r| r.contains("group a may not act on chat cli:b")), "{a_results:?}");
    host.wait_log("refused send_message", T);
    host.say("now you, main");
    assert_eq!(host.reply(T), "[cli:a] hello a, from main");
    assert_eq!(host.reply(T), "main done");
    let main_results = tool_results(install.requests().last().unwrap());
    assert!(main_results.iter().any(|r| r.contains("\"status\":\"paused\"")), "{main_results:?}");
    assert!(!host.replies_for(Duration::from_millis(300)).iter().any(|l| l.contains("from a")));
}

/// An image whose "agent" prints junk, a line over the protocol's limit, and exits 3.
fn misbehaving_install(output_cap: usize) -> Install {
    const SCRIPT: &str = r#"#!/bin/sh
read -r line
echo 'not json at all'
echo '{"type":"output","text":"x","extra":1}'
head -c 1100000 /dev/zero | tr '\0' x
echo
exit 3
"#;
    let image = scripted_image("claw-test-misbehaving", SCRIPT);
    let install = Install::new(vec![], "");
    install.use_image(&image);
    let config = std::fs::read_to_string(install.path().join("claw.toml")).unwrap();
    let config = config
        .replace(&format!("image = \"{image}\""), &format!("image = \"{image}\"\noutput_cap_bytes = {output_cap}"))
        .replace("max_attempts = 3", "max_attempts = 2");
    std::fs::write(install.path().join("claw.toml"), config).unwrap();
    install.register("cli:local", "main", &["--main"]);
    install
}

#[test]
fn malformed_lines_and_a_crashed_container_leave_a_clean_state() {
    let install = misbehaving_install(4 << 20);
    let mut host = install.host();
    host.say("hello");
    host.wait_log("giving up until the next message", T);
    let log = host.log();
    assert!(log.contains("malformed protocol line") && log.contains("not json at all"), "{log}");
    assert!(log.contains("unknown field `extra`"), "{log}");
    assert!(log.contains("line over 1048576 bytes dropped"), "{log}");
    assert!(log.contains("the container exited (code Some(3))"), "{log}");
    assert!(host.is_running());
    assert!(install.containers().is_empty(), "{:?}", install.containers());
}

#[test]
fn output_past_the_cap_stops_the_container() {
    let install = misbehaving_install(1 << 20);
    let mut host = install.host();
    host.say("hello");
    host.wait_log("giving up until the next message", T);
    assert!(host.log().contains("run failed: output over 1048576 bytes"), "{}", host.log());
    assert!(host.is_running());
    assert!(install.containers().is_empty(), "{:?}", install.containers());
}

#[test]
fn a_run_past_its_hard_timeout_is_stopped() {
    let mut slow = Step::text("too late");
    slow.delay_ms = Some(8000);
    let install = Install::new(vec![slow], "");
    let config = std::fs::read_to_string(install.path().join("claw.toml"))
        .unwrap()
        .replace("hard_timeout_secs = 40", "hard_timeout_secs = 2");
    std::fs::write(install.path().join("claw.toml"), config.replace("max_attempts = 3", "max_attempts = 1")).unwrap();
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("take your time");
    host.wait_log("hard timeout of 2 s", T);
    host.wait_log("giving up", T);
    assert!(host.is_running());
    std::thread::sleep(Duration::from_millis(500));
    assert!(install.containers().is_empty());
}

#[test]
fn the_agent_retries_a_rate_limit_and_names_the_credential_on_401() {
    let install = Install::new(vec![Step::status(429), Step::text("after the retry"), Step::status(401)], "");
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("hi");
    assert_eq!(host.reply(T), "after the retry");
    assert_eq!(install.requests().len(), 2);
    host.say("again");
    host.wait_log("the model API refused the credential (401): check ANTHROPIC_API_KEY", T);
    assert!(!host.log().contains(KEY), "the key must never be logged");
}
