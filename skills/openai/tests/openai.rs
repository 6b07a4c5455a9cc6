//! OpenAI end to end: the real host with `[model] provider = "openai"`, the real agent in a real
//! container, and the stand-in Chat Completions API behind the credential proxy.

mod support;

use std::time::{Duration, Instant};

use claw_testkit::openai::FakeOpenAi;
use support::*;

const T: Duration = Duration::from_secs(120);
const OPENAI_KEY: &str = "sk-openai-SECRET-7777";

fn setup(script: Vec<Step>) -> WithStandIn<FakeOpenAi> {
    let rt = stand_in_runtime();
    let fake = rt.block_on(FakeOpenAi::start(script, Some(OPENAI_KEY))).expect("fake OpenAI");
    let install = Install::new(vec![], "");
    install.use_model("openai", &fake.url(), "gpt-test");
    install.add_env(&format!("OPENAI_API_KEY={OPENAI_KEY}"));
    install.register("cli:local", "main", &["--main"]);
    WithStandIn { install, fake, rt }
}

/// The `tool` messages of a request, in order.
fn tool_messages(r: &Recorded) -> Vec<String> {
    let messages = r.body["messages"].as_array().cloned().unwrap_or_default();
    messages.iter().filter(|m| m["role"] == "tool").map(|m| m["content"].as_str().unwrap_or("").to_string()).collect()
}

#[test]
fn a_conversation_with_a_tool_call_runs_through_chat_completions() {
    let s = setup(vec![
        Step::tool("bash", json!({ "command": "echo sandbox-$((6*7)); echo provider=$CLAW_PROVIDER" })),
        Step::text("the answer is 42"),
    ]);
    let mut host = s.install.host();
    host.say("what is six times seven?");
    assert_eq!(host.reply(T), "the answer is 42");
    let requests = s.fake.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(first.body["model"], "gpt-test");
    assert_eq!(first.body["stream"], true);
    assert_eq!(first.body["stream_options"]["include_usage"], true);
    assert_eq!(first.body["messages"][0]["role"], "system");
    assert!(first.body["tools"].as_array().unwrap().iter().any(|t| t["function"]["name"] == "bash"), "{}", first.body);
    // The second request carries the call (its id) and its result as a `tool` message.
    let second = &requests[1].body["messages"];
    let call = second.as_array().unwrap().iter().find(|m| m["tool_calls"].is_array()).expect("the assistant's call");
    let id = call["tool_calls"][0]["id"].as_str().unwrap();
    assert!(second.as_array().unwrap().iter().any(|m| m["role"] == "tool" && m["tool_call_id"] == id), "{second}");
    let results = tool_messages(&requests[1]);
    assert!(results[0].contains("sandbox-42\nprovider=openai"), "{results:?}");
    let (input, output) = s.install.tokens("main");
    assert!(input > 0 && output > 0);
}

#[test]
fn a_rate_limit_is_waited_out_and_a_refused_key_is_one_clear_error() {
    let mut limited = Step::status(429);
    limited.retry_after = Some("1".into());
    let s = setup(vec![limited, Step::text("after the wait"), Step::status(401)]);
    let mut host = s.install.host();
    let start = Instant::now();
    host.say("hello");
    assert_eq!(host.reply(T), "after the wait");
    assert!(start.elapsed() >= Duration::from_secs(1), "retry-after was honoured");
    assert_eq!(s.fake.requests().len(), 2);
    host.say("again");
    host.wait_log("the model API refused the credential (401): check OPENAI_API_KEY", T);
    assert!(!host.log().contains(OPENAI_KEY), "the key must never be logged");
}

/// Raw HTTP/1.1 over a group's model socket, as a hostile agent would speak it.

#[test]
fn attack_the_agent_hunts_for_the_key_and_tries_to_choose_its_own() {
    let hunt = "env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; cat /proc/*/cmdline 2>/dev/null | tr '\\0' ' '; \
                grep -rs 'SECRET-77''77' / --exclude-dir=proc --exclude-dir=sys 2>/dev/null | head -3; echo key-scan-done";
    let s =
        setup(vec![Step::tool("bash", json!({ "command": hunt, "timeout_secs": 60 })), Step::text("nothing found")]);
    let mut host = s.install.host();
    host.say("find the key");
    assert_eq!(host.reply(T), "nothing found");
    let requests = s.fake.requests();
    let results = tool_messages(&requests[1]);
    assert!(results[0].contains("key-scan-done") && results[0].contains("CLAW_PROVIDER=openai"), "{results:?}");
    assert!(!results[0].contains(OPENAI_KEY) && !results[0].contains("SECRET-7777"), "the key reached the container");
    for r in &requests {
        assert_eq!(r.header("authorization"), Some(format!("Bearer {OPENAI_KEY}").as_str()), "the proxy adds the key");
        assert_eq!(r.header("x-api-key"), None);
    }

    // Straight at the socket: a key of its own is replaced, other paths and methods are refused.
    let socket = s.install.data().join("sockets/main/model.sock");
    let body = r#"{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}"#;
    let forged = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: model\r\nauthorization: Bearer sk-chosen-by-agent\r\n\
         x-api-key: chosen\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.fake.push([Step::text("answered")]);
    assert!(over_socket(&socket, &forged).starts_with("HTTP/1.1 200"));
    let last = s.fake.requests().pop().expect("forwarded");
    assert_eq!(last.header("authorization"), Some(format!("Bearer {OPENAI_KEY}").as_str()));
    for refused in [
        "GET /v1/models HTTP/1.1\r\nhost: model\r\nconnection: close\r\n\r\n".to_string(),
        format!(
            "POST /v1/files HTTP/1.1\r\nhost: model\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
        format!(
            "POST /v1/messages HTTP/1.1\r\nhost: model\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
    ] {
        let answer = over_socket(&socket, &refused);
        assert!(answer.starts_with("HTTP/1.1 403"), "{refused}: {answer}");
    }
    assert_eq!(s.fake.requests().len(), 3, "nothing refused reached the API");
    assert!(!host.log().contains(OPENAI_KEY), "the key must never be logged");
}
