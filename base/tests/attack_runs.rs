//! Attacks on the run path, end to end (real Docker, the real `claw-host`, the fake model): a
//! container flooding its output, a missing agent image, a group registered while the host
//! runs, and a refused request that the model must see as refused.

mod support;

use std::time::{Duration, Instant};

use support::*;

const T: Duration = Duration::from_secs(120);

/// An agent that answers every prompt and follow-up (`hello answered` when the text says
/// hello), except its group's very first run: that one does `flood`, then hangs on to its
/// container, as a hostile agent would.
fn flooding_install(name: &str, flood: &str) -> Install {
    let script = format!(
        r#"#!/bin/sh
seq=0
while read -r line; do
  case "$line" in *'"type":"close"'*) exit 0 ;; esac
  case "$line" in *'"type":"followup"'*) seq=$(echo "$line" | sed 's/.*"seq":\([0-9]*\).*/\1/') ;; esac
  if [ ! -e flooded ]; then
    touch flooded
    {flood}
    sleep 600
  fi
  case "$line" in *hello*) echo '{{"type":"output","text":"hello answered"}}' ;; esac
  echo "{{\"type\":\"done\",\"session\":\"s\",\"seq\":$seq}}"
done
"#
    );
    let image = scripted_image(name, &script);
    let install = Install::new(vec![], "");
    install.use_image(&image);
    install.register("cli:local", "main", &["--main"]);
    install
}

/// Says `flood`, then `hello` a second later: `hello` must be answered within 5 s, and the host
/// log must grow by less than 1 MB through all of it. Returns the host, still running.
fn the_next_message_is_answered_within_5_s(install: &Install) -> Host {
    let mut host = install.host();
    let log_before = host.log().len();
    host.say("flood");
    std::thread::sleep(Duration::from_secs(1));
    host.say("hello");
    let asked = Instant::now();
    loop {
        let left = Duration::from_secs(5).checked_sub(asked.elapsed()).unwrap_or_default();
        match host.next_line(left) {
            Some(reply) if reply == "hello answered" => break,
            Some(_) => {}
            None => {
                let log = host.log();
                let grown = log.len() - log_before;
                panic!("hello was not answered within 5 s (the log grew by {grown} bytes); it ends:\n{}", tail(&log))
            }
        }
    }
    let grown = host.log().len() - log_before;
    assert!(grown < 1 << 20, "the host log grew by {grown} bytes");
    assert!(host.is_running());
    host
}

fn tail(log: &str) -> &str {
    let mut start = log.len().saturating_sub(4000);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

#[test]
fn output_past_its_cap_is_drained_and_the_groups_next_message_is_answered_within_5_s() {
    // 1.1 MB at once, then more for as long as the container lives.
    let install = flooding_install("claw-test-stdout-flood", "head -c 1100000 /dev/zero | tr '\\0' x; echo; yes");
    let _host = the_next_message_is_answered_within_5_s(&install);
    // Docker's own copy of the output is bounded too.
    let warm = install.containers();
    assert_eq!(warm.len(), 1, "the flooding container is gone, the answering one is warm");
    let out = docker()
        .args(["inspect", "-f", "{{.HostConfig.LogConfig.Type}} {{json .HostConfig.LogConfig.Config}}", &warm[0]])
        .output()
        .unwrap();
    let config = String::from_utf8_lossy(&out.stdout);
    // Podman's Docker-compatible inspect leaves the options out (tests/podman.rs checks its own).
    let options = runtime() == "podman" || config.contains("\"max-size\":\"1m\"");
    assert!(config.contains("json-file") && options, "{config}");
}

#[test]
fn a_stderr_flood_is_capped_and_the_groups_next_message_is_answered_within_5_s() {
    let install = flooding_install(
        "claw-test-stderr-flood",
        "timeout 5 yes 'stderr noise, stderr noise, stderr noise, stderr noise, stderr noise' >&2",
    );
    let host = the_next_message_is_answered_within_5_s(&install);
    let log = host.log();
    assert!(log.contains("run failed: stderr over 262144 bytes"), "{}", tail(&log));
    assert!(log.contains("more bytes of stderr not logged"), "one summary line: {}", tail(&log));
}

#[test]
fn a_missing_agent_image_is_told_to_the_chat_once_with_the_fix_and_not_retried() {
    let install = Install::new(vec![], "");
    install.use_image("claw-test-no-such-image:latest");
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("hi");
    assert_eq!(
        host.reply(T),
        "the agent image claw-test-no-such-image:latest is missing: run container/build.sh",
        "the chat is told what to do"
    );
    assert!(host.replies_for(Duration::from_secs(3)).is_empty(), "told once");
    let log = host.log();
    assert_eq!(log.matches("run failed").count(), 1, "no retry:\n{log}");
    assert!(log.contains("giving up until the next message"), "{log}");
    assert!(install.containers().is_empty(), "no container left behind: {:?}", install.containers());
}

#[test]
fn a_container_that_fails_to_start_is_removed_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), format!("FROM {}\nENTRYPOINT [\"/no/such/agent\"]\n", image()))
        .unwrap();
    let tag = "claw-test-no-entrypoint:latest";
    let built = docker().args(["build", "-q", "-t", tag]).arg(dir.path()).output().unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let install = Install::new(vec![], "");
    install.use_image(tag);
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("hi");
    host.wait_log("giving up until the next message", T);
    let log = host.log();
    // Docker fails it at start, Podman already at attach: either way it is retried.
    let failed = log.lines().filter(|l| l.contains("run failed: ") && l.contains("/no/such/agent")).count();
    assert_eq!(failed, 3, "a failed start is retried:\n{log}");
    assert!(install.containers().is_empty(), "no container left behind: {:?}", install.containers());
}

#[test]
fn a_group_registered_while_the_host_runs_answers_its_next_message_with_no_restart() {
    let install = Install::new(vec![Step::text("hello, late group")], "");
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say(">cli:late before registration");
    std::thread::sleep(Duration::from_millis(500));
    install.register("cli:late", "late", &["--no-trigger"]);
    host.say(">cli:late are you there now?");
    assert_eq!(host.reply(T), "[cli:late] hello, late group");
    let prompt = user_text(&install.requests()[0]);
    assert!(prompt.contains("are you there now?"), "{prompt}");
    assert!(!prompt.contains("before registration"), "an unregistered chat is metadata only: {prompt}");
    assert!(install.data().join("groups/late").is_dir());
    assert_eq!(host.log().matches("claw-host is running").count(), 1, "no restart");
}

#[test]
fn a_refused_send_message_reaches_the_model_as_an_error() {
    let install = Install::new(
        vec![
            Step::tool("send_message", json!({ "chat": "cli:b", "text": "from a" })),
            Step::tool("send_message", json!({ "text": "progress, in my own chat" })),
            Step::text("a done"),
        ],
        "",
    );
    install.register("cli:a", "a", &["--no-trigger"]);
    install.register("cli:b", "b", &["--no-trigger"]);
    let mut host = install.host();
    host.say(">cli:a try to reach b");
    assert_eq!(host.reply(T), "[cli:a] progress, in my own chat");
    assert_eq!(host.reply(T), "[cli:a] a done");
    let results = tool_result_blocks(install.requests().last().expect("requests"));
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results[0]["is_error"], true, "{results:?}");
    assert!(results[0]["content"].as_str().unwrap_or_default().contains("group a may not act on chat cli:b"));
    assert_eq!(results[1]["is_error"], false, "{results:?}");
    assert_eq!(results[1]["content"], "sent");
    assert!(!host.replies_for(Duration::from_millis(300)).iter().any(|l| l.contains("from a")));
}

/// Every `tool_result` block the model was sent in request `r`.
fn tool_result_blocks(r: &Recorded) -> Vec<Value> {
    let messages = r.body["messages"].as_array().cloned().unwrap_or_default();
    let blocks = messages.iter().flat_map(|m| m["content"].as_array().cloned().unwrap_or_default());
    blocks.filter(|b| b["type"] == "tool_result").collect()
}
