//! The host, end to end: triggers, concurrency, follow-ups, crash recovery and bad input, with
//! real containers, a real SQLite store and the fake model.

mod support;

use std::time::Duration;

use support::*;

/// Long enough for a stuck first attempt to hit the hard timeout (40 s) and be retried.
const T: Duration = Duration::from_secs(120);

fn delayed(text: &str, ms: u64) -> Step {
    let mut s = Step::text(text);
    s.delay_ms = Some(ms);
    s
}

fn db(install: &Install) -> rusqlite::Connection {
    rusqlite::Connection::open(install.data().join("claw.db")).unwrap()
}

fn count(install: &Install, sql: &str) -> i64 {
    db(install).query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_non_main_group_waits_for_its_trigger_and_sees_every_message_since() {
    let install = Install::new(vec![Step::text("hi both")], "");
    install.register("cli:team", "team", &[]);
    let mut host = install.host();
    host.say(">cli:team good morning <everyone>");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(install.requests().is_empty(), "no trigger, no run");
    assert!(install.containers().is_empty());
    assert_eq!(
        count(&install, "SELECT COUNT(*) FROM messages WHERE chat_jid = 'cli:team'"),
        1,
        "the message is stored"
    );
    host.say(">cli:team @Andy what did I say & why?");
    assert_eq!(host.reply(T), "[cli:team] hi both");
    let prompt = user_text(&install.requests()[0]);
    assert!(
        prompt.contains("good morning &lt;everyone&gt;") && prompt.contains("@Andy what did I say &amp; why?"),
        "{prompt}"
    );
}

#[test]
fn groups_run_in_their_own_containers_and_the_cap_makes_them_wait() {
    // Two groups at once, cap 2: both containers exist at the same time.
    let install = Install::new(vec![delayed("first", 1500), delayed("second", 1500)], "");
    install.register("cli:x", "x", &["--no-trigger"]);
    install.register("cli:y", "y", &["--no-trigger"]);
    let mut host = install.host();
    host.say(">cli:x go");
    host.say(">cli:y go");
    install.wait_requests(2, T);
    assert_eq!(install.containers().len(), 2, "one container per group, side by side");
    let mut chats: Vec<String> =
        [host.reply(T), host.reply(T)].iter().map(|r| r.split(']').next().unwrap_or_default().to_string()).collect();
    chats.sort();
    assert_eq!(chats, ["[cli:x", "[cli:y"], "each group answered in its own chat");
    drop(host);

    // Cap 1: the second group waits for the first to give its slot back.
    let install = Install::new(vec![delayed("x done", 1000), Step::text("y done")], "");
    let config = std::fs::read_to_string(install.path().join("claw.toml"))
        .unwrap()
        .replace("max_concurrent = 5", "max_concurrent = 1")
        .replace("idle_timeout_secs = 3", "idle_timeout_secs = 1");
    std::fs::write(install.path().join("claw.toml"), config).unwrap();
    install.register("cli:x", "x", &["--no-trigger"]);
    install.register("cli:y", "y", &["--no-trigger"]);
    let mut host = install.host();
    host.say(">cli:x go");
    install.wait_requests(1, T);
    host.say(">cli:y go");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(install.requests().len(), 1, "y must wait while x holds the only slot");
    assert_eq!(install.containers().len(), 1);
    assert_eq!(host.reply(T), "[cli:x] x done");
    assert_eq!(host.reply(T), "[cli:y] y done");
}

#[test]
fn a_follow_up_reaches_the_running_container() {
    let mut first = Step::tool("bash", json!({ "command": "echo working" }));
    first.delay_ms = Some(1500);
    let install = Install::new(vec![first, Step::text("handled both")], "");
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("start something long");
    install.wait_requests(1, T);
    host.say("and also this");
    assert_eq!(host.reply(T), "handled both");
    let second = user_text(&install.requests()[1]);
    assert!(second.contains("and also this"), "the follow-up joined the run: {second}");
    assert_eq!(host.log().matches("started a container").count(), 1, "no second container");
}

/// A follow-up can cross the agent's `done` on the wire. A scripted agent makes the crossing
/// certain: it replies, waits until the host has sent the follow-up, ends the run without it,
/// and only then answers it. The host must read on and deliver that answer.
#[test]
fn a_follow_up_that_crosses_the_end_of_a_run_is_still_answered() {
    const SCRIPT: &str = r#"#!/bin/sh
read -r prompt
echo '{"type":"output","text":"first"}'
sleep 3
echo '{"type":"done","session":"s1","seq":0}'
read -r followup
case "$followup" in *'"seq":1'*'and two'*) echo '{"type":"output","text":"crossed"}' ;; esac
echo '{"type":"done","session":"s1","seq":1}'
read -r close
"#;
    let image = scripted_image("claw-test-crossing", SCRIPT);
    let install = Install::new(vec![], "");
    install.use_image(&image);
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("one");
    assert_eq!(host.reply(T), "first");
    host.say("and two");
    assert_eq!(host.reply(T), "crossed");
    assert!(!host.log().contains("run failed"), "{}", host.log());
}

#[test]
fn a_killed_host_runs_the_pending_batch_once_and_never_replies_twice() {
    let install = Install::new(vec![delayed("lost with the first host", 4000), Step::text("answered once")], "");
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("please answer");
    install.wait_requests(1, T);
    host.kill9();
    assert!(!install.containers().is_empty(), "the killed host left its container behind");

    let host = install.host();
    host.wait_log("removed containers left by an earlier run", T);
    host.wait_log("recovered runs from an earlier crash", T);
    assert_eq!(host.reply(T), "answered once");
    assert!(host.replies_for(Duration::from_secs(2)).is_empty(), "exactly one reply");
    assert_eq!(count(&install, "SELECT COUNT(*) FROM messages"), 1, "nothing lost, nothing duplicated");
    drop(host);

    // Killed after the reply was sent: the next start does not run that batch again.
    let host = install.host();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(host.replies_for(Duration::from_millis(500)).is_empty());
    assert_eq!(install.requests().len(), 2, "no re-run of an answered batch");
}

#[test]
fn bad_input_never_crashes_the_host() {
    let install = Install::new(vec![Step::text("still fine")], "");
    // Invalid folder names are refused where they enter.
    let bad = claw_host(install.path()).args(["register", "cli:x", "x", "../evil"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("invalid group folder \"../evil\""));
    install.register("cli:local", "main", &["--main"]);
    install.register("cli:quiet", "quiet", &[]);
    let mut host = install.host();
    host.say(">cli:stranger hello?");
    host.say(&format!(">cli:quiet {}", "x".repeat(1 << 20)));
    let burst: String = (0..10_000).map(|i| format!(">cli:quiet message {i}\n")).collect();
    host.say(burst.trim_end());
    let deadline = std::time::Instant::now() + T;
    while count(&install, "SELECT COUNT(*) FROM messages WHERE chat_jid = 'cli:quiet'") < 10_001 {
        assert!(std::time::Instant::now() < deadline, "the burst was not stored");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(count(&install, "SELECT MAX(LENGTH(content)) FROM messages"), 1 << 20);
    assert_eq!(
        count(&install, "SELECT COUNT(*) FROM messages WHERE chat_jid = 'cli:stranger'"),
        0,
        "an unknown chat is metadata only"
    );
    assert_eq!(count(&install, "SELECT COUNT(*) FROM chats WHERE jid = 'cli:stranger'"), 1);
    host.say("are you alive?");
    assert_eq!(host.reply(T), "still fine");
    assert!(host.is_running());
    drop(host);

    // A corrupt configuration is a clear error at start, naming the key.
    std::fs::write(install.path().join("claw.toml"), "max_concurent = 3\n").unwrap();
    let out = claw_host(install.path()).arg("run").output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown field `max_concurent`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigterm_stops_the_host_and_its_containers() {
    let install = Install::new(vec![Step::text("hello")], "");
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("hi");
    assert_eq!(host.reply(T), "hello");
    assert_eq!(install.containers().len(), 1, "kept warm for follow-ups");
    let status = host.terminate();
    assert!(status.success(), "{status:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(install.containers().is_empty(), "{:?}", install.containers());
}

#[test]
fn doctor_reports_each_check_and_fails_on_missing_credentials() {
    let install = Install::new(vec![], "");
    install.register("cli:local", "main", &["--main"]);
    let doctor = || claw_host(install.path()).arg("doctor").output().unwrap();
    let out = doctor();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let image = format!("ok    image: {} present", image());
    for check in [
        "ok    configuration: claw.toml parsed",
        "ok    credentials",
        "ok    model API",
        "ok    docker",
        &image,
        "ok    groups: 1 registered",
        "ok    disk",
    ] {
        assert!(text.contains(check), "{check:?} missing in:\n{text}");
    }
    std::fs::remove_file(install.path().join(".env")).unwrap();
    let out = doctor();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FAIL  credentials: ANTHROPIC_API_KEY not set; add them to .env")
    );
}

#[test]
fn a_scheduled_task_runs_in_its_groups_container_and_reports_to_its_chat() {
    let at = (chrono_now() + 2).to_string();
    let install = Install::new(
        vec![
            Step::tool(
                "schedule_task",
                json!({ "prompt": "send the daily report", "kind": "once", "spec": at, "context": "isolated" }),
            ),
            Step::text("scheduled"),
            Step::text("here is the daily report"),
        ],
        "",
    );
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("remind me in two seconds");
    assert_eq!(host.reply(T), "scheduled");
    assert_eq!(host.reply(T), "here is the daily report");
    let task_request = &install.requests()[2];
    assert!(user_text(task_request).contains("send the daily report"));
    assert_eq!(
        task_request.body["messages"].as_array().map(Vec::len),
        Some(1),
        "an isolated task starts from a fresh session"
    );
    let logged = || count(&install, "SELECT COUNT(*) FROM task_runs WHERE status = 'ok'");
    let deadline = std::time::Instant::now() + T;
    while logged() < 1 {
        assert!(std::time::Instant::now() < deadline, "the task run was not logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status: String = db(&install).query_row("SELECT status FROM tasks", [], |r| r.get(0)).unwrap();
    assert_eq!(status, "completed");
}

/// Now as an RFC 3339 instant, `secs` from now, built without a date library in the test.
fn chrono_now() -> Rfc3339Later {
    Rfc3339Later(std::time::SystemTime::now())
}

struct Rfc3339Later(std::time::SystemTime);

impl std::ops::Add<u64> for Rfc3339Later {
    type Output = String;
    fn add(self, secs: u64) -> String {
        let out = std::process::Command::new("date")
            .args([
                "-u",
                "-d",
                &format!("@{}", self.0.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + secs),
                "+%Y-%m-%dT%H:%M:%SZ",
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
}
