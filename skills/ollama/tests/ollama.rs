//! Ollama end to end: the real host with `[model] provider = "ollama"` and no key at all, the
//! real agent in a real container (still without a network: the host's proxy reaches Ollama on
//! the host's loopback), and the stand-in Ollama API.

mod support;

use std::time::{Duration, Instant};

use claw_testkit::ollama::{FakeOllama, MODEL};
use support::*;

const T: Duration = Duration::from_secs(120);

fn setup(script: Vec<Step>) -> WithStandIn<FakeOllama> {
    let rt = stand_in_runtime();
    let fake = rt.block_on(FakeOllama::start(script)).expect("fake Ollama");
    let install = Install::new(vec![], "");
    install.use_model("ollama", &fake.url(), MODEL);
    // No key of any provider: Ollama needs none.
    std::fs::write(install.path().join(".env"), "").expect(".env");
    install.register("cli:local", "main", &["--main"]);
    WithStandIn { install, fake, rt }
}

fn tool_messages(r: &Recorded) -> Vec<Value> {
    let messages = r.body["messages"].as_array().cloned().unwrap_or_default();
    messages.into_iter().filter(|m| m["role"] == "tool").collect()
}

#[test]
fn a_conversation_with_a_tool_call_runs_through_ollama_with_no_key() {
    let s = setup(vec![
        Step::tool(
            "bash",
            json!({ "command": "echo sandbox-$((6*7)); echo provider=$CLAW_PROVIDER; env | grep -c _KEY" }),
        ),
        Step::text("the answer is 42"),
    ]);
    let doctor = claw_host(s.install.path()).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(report.contains(&format!("ok    provider: ollama at {} (no key needed)", s.fake.url())), "{report}");
    assert!(report.contains("ok    credentials"), "{report}");

    let mut host = s.install.host();
    host.say("what is six times seven?");
    assert_eq!(host.reply(T), "the answer is 42");
    let requests = s.fake.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.path, "/api/chat");
    assert_eq!(first.body["model"], MODEL);
    assert_eq!(first.body["stream"], true);
    assert!(first.body["tools"].as_array().unwrap().iter().any(|t| t["function"]["name"] == "bash"), "{}", first.body);
    for r in &requests {
        assert_eq!(r.header("authorization"), None, "no credential is sent to Ollama");
        assert_eq!(r.header("x-api-key"), None);
    }
    // The call went back as the assistant's, its result as a `tool` message naming the tool.
    let second = &requests[1].body["messages"];
    let call = second.as_array().unwrap().iter().find(|m| m["tool_calls"].is_array()).expect("the assistant's call");
    assert_eq!(
        call["tool_calls"][0]["function"]["arguments"]["command"].as_str().map(|c| c.contains("sandbox")),
        Some(true)
    );
    let results = tool_messages(&requests[1]);
    assert_eq!(results[0]["tool_name"], "bash");
    assert!(results[0]["content"].as_str().unwrap().contains("sandbox-42\nprovider=ollama\n0"), "{results:?}");
    let (input, output) = s.install.tokens("main");
    assert!(input > 0 && output > 0);
}

#[test]
fn a_busy_server_is_waited_out_and_an_unknown_model_is_one_clear_error() {
    let mut busy = Step::status(503);
    busy.retry_after = Some("1".into());
    let s = setup(vec![busy, Step::text("after the wait")]);
    let mut host = s.install.host();
    let start = Instant::now();
    host.say("hello");
    assert_eq!(host.reply(T), "after the wait");
    assert!(start.elapsed() >= Duration::from_secs(1), "retry-after was honoured");
    assert_eq!(s.fake.requests().len(), 2);
    drop(host);

    let config = s.install.path().join("claw.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace(&format!("name = \"{MODEL}\""), "name = \"llama-not-pulled\""))
        .expect("config");
    let mut host = s.install.host();
    host.say("again");
    host.wait_log("not found, try pulling it first: pull the model on the host", T);
}

/// Raw HTTP/1.1 over a group's model socket, as a hostile agent would speak it.

#[test]
fn attack_the_agent_reaches_no_ollama_endpoint_but_chat() {
    let s = setup(vec![]);
    let host = s.install.host();
    let socket = s.install.data().join("sockets/main/model.sock");
    // Pulling, deleting, creating or copying models, or reading the server's state, would let an
    // agent fill the host's disk or break other installs' models: only /api/chat is forwarded.
    for (method, path) in [
        ("POST", "/api/pull"),
        ("DELETE", "/api/delete"),
        ("POST", "/api/create"),
        ("POST", "/api/copy"),
        ("POST", "/api/push"),
        ("POST", "/api/generate"),
        ("GET", "/api/tags"),
        ("GET", "/api/chat"),
        ("POST", "/api/chat/../pull"),
    ] {
        let body = format!(r#"{{"model":"{MODEL}","name":"{MODEL}"}}"#);
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: model\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let answer = over_socket(&socket, &request);
        assert!(answer.starts_with("HTTP/1.1 403") || answer.starts_with("HTTP/1.1 400"), "{method} {path}: {answer}");
    }
    assert!(s.fake.requests().is_empty(), "nothing refused reached Ollama: {:?}", s.fake.requests());
    drop(host);
}
