//! Slack end to end: the real host opens Socket Mode on the stand-in, runs the agent in a real
//! container against the fake model, and answers through `chat.postMessage` (in the thread the
//! message came from).

mod support;

use std::time::Duration;

use claw_testkit::slack::{BOT_ID, BOT_USER, FakeSlack, Posted};
use support::*;

const T: Duration = Duration::from_secs(120);
const BOT: &str = "xoxb-4242-slack-test-token";
const APP: &str = "xapp-1-A0CLAW-4242-app-token";

fn setup(script: Vec<Step>, bot: &str) -> WithStandIn<FakeSlack> {
    let rt = stand_in_runtime();
    let fake = rt.block_on(FakeSlack::start(BOT, APP)).expect("fake Slack");
    let install = Install::new(script, "assistant_name = \"Andy\"\nchannels = [\"cli\", \"slack\"]");
    install.add_env(&format!("SLACK_BOT_TOKEN={bot}\nSLACK_APP_TOKEN={APP}\nSLACK_API_URL={}", fake.url()));
    WithStandIn { install, fake, rt }
}

fn posted_to(fake: &FakeSlack, channel: &str) -> Option<Posted> {
    fake.posted().into_iter().find(|p| p.channel == channel)
}

#[test]
fn a_message_runs_the_agent_and_the_reply_goes_back_to_its_thread() {
    let s = setup(vec![Step::text("hello <!channel> from the **agent**"), Step::text("answer in the thread")], BOT);
    s.install.register("slack:C0001", "main", &["--main"]);
    s.install.register("slack:C0002", "team", &[]);
    let host = s.install.host();
    host.wait_log("slack: connected", T);

    // The bot's own message is ignored; the person's runs the agent. Slack escapes `<`, `>`, `&`.
    s.fake.event(json!({ "type": "message", "channel": "C0001", "user": BOT_USER, "bot_id": BOT_ID,
        "text": "my own echo", "ts": "1700000000.000001", "channel_type": "channel" }));
    s.fake.message("C0001", "U42", "hi &lt;there&gt; &amp; welcome", None);
    let reply = wait_for("the reply", || posted_to(&s.fake, "C0001"));
    // Markup the agent writes cannot ping the channel; Markdown bold becomes mrkdwn bold.
    assert_eq!(
        reply,
        Posted { channel: "C0001".into(), text: "hello &lt;!channel&gt; from the *agent*".into(), thread_ts: None }
    );
    let prompt = user_text(&s.install.requests()[0]);
    assert!(prompt.contains("hi &lt;there&gt; &amp; welcome") && prompt.contains("Person U42"), "{prompt}");
    assert!(!prompt.contains("my own echo"), "the bot's own message reached the agent: {prompt}");

    // In a channel that needs the trigger, the bot's mention is the trigger; a reply to a thread
    // goes to that thread.
    s.fake.message("C0002", "U43", "no mention, no run", None);
    s.fake.message("C0002", "U43", &format!("<@{BOT_USER}> what now?"), Some("1700000000.000100"));
    let reply = wait_for("the thread's reply", || posted_to(&s.fake, "C0002"));
    assert_eq!(reply.text, "answer in the thread");
    assert_eq!(reply.thread_ts.as_deref(), Some("1700000000.000100"));
    let prompt = user_text(&s.install.requests()[1]);
    assert!(prompt.contains("@Andy what now?") && prompt.contains("no mention, no run"), "{prompt}");

    // An unregistered chat is metadata only; /chatid tells a person what to register.
    s.fake.message("D0555", "U555", "who are you?", None);
    let chatid = s.fake.slash("/chatid", "D0555", "U555");
    let ack = wait_for("the /chatid answer", || s.fake.acks().into_iter().find(|a| a["envelope_id"] == chatid));
    assert_eq!(ack["payload"]["text"], "This chat is slack:D0555");
    wait_for("the DM's metadata", || {
        (s.install.count("SELECT count(*) FROM chats WHERE jid = 'slack:D0555' AND name = 'Person U555'") == 1)
            .then_some(())
    });
    assert_eq!(s.install.count("SELECT count(*) FROM messages WHERE chat_jid = 'slack:D0555'"), 0);
    assert_eq!(s.install.requests().len(), 2, "no run for the unregistered chat (nor for the bot's echoes)");
    // Every envelope (the person's, the bot's echoes, the command) was acknowledged.
    std::thread::sleep(Duration::from_secs(1));
    assert!(s.fake.acks().len() >= 8, "{:?}", s.fake.acks());
    assert!(s.fake.calls().iter().all(|c| c.authorized), "every call carried its token");
}

#[test]
fn a_rate_limited_reply_waits_and_is_delivered_once() {
    let s = setup(vec![Step::text("after the wait")], BOT);
    s.install.register("slack:C0001", "main", &["--main"]);
    let host = s.install.host();
    host.wait_log("slack: connected", T);
    s.fake.fail_next("chat.postMessage", "ratelimited", 1);
    s.fake.message("C0001", "U42", "hello", None);
    let reply = wait_for("the reply", || s.fake.posted().into_iter().find(|p| p.text == "after the wait"));
    assert_eq!(reply.channel, "C0001");
    std::thread::sleep(Duration::from_secs(2));
    let sends = s.fake.calls().iter().filter(|c| c.method == "chat.postMessage").count();
    assert_eq!(sends, 2, "one refused with 429, one accepted");
    assert_eq!(s.fake.posted().len(), 1, "delivered once");
}

#[test]
fn a_session_dropped_at_once_each_time_is_retried_with_growing_waits() {
    let s = setup(vec![], BOT);
    let host = s.install.host();
    host.wait_log("slack: connected", T);
    s.fake.flap();
    std::thread::sleep(Duration::from_secs(9));
    // Waits of 2, 4, 8 s: two more connections in 9 s (a reconnect each second would be 8 or 9).
    let connections = s.fake.connections();
    assert!((2..=4).contains(&connections), "{connections} connections in 9 s\n{}", host.log());
}

#[test]
fn a_refresh_reconnects_and_an_unacknowledged_envelope_is_stored_once() {
    let s = setup(vec![Step::text("one"), Step::text("two")], BOT);
    s.install.register("slack:C0001", "main", &["--main"]);
    let host = s.install.host();
    host.wait_log("slack: connected", T);
    s.fake.message("C0001", "U42", "first", None);
    wait_for("the first reply", || s.fake.posted().into_iter().find(|p| p.text == "one"));
    s.fake.refresh();
    wait_for("a second connection", || (s.fake.connections() == 2).then_some(()));
    // Slack redelivers an envelope whose ack it missed: the same message, stored once.
    let event = json!({ "type": "message", "channel": "C0001", "user": "U42", "text": "twice", "ts": "1700000001.000001",
        "channel_type": "channel" });
    s.fake.event(event.clone());
    s.fake.event(event);
    s.fake.message("C0001", "U42", "second", None);
    wait_for("the second reply", || s.fake.posted().into_iter().find(|p| p.text == "two"));
    assert_eq!(s.install.count("SELECT count(*) FROM messages WHERE content = 'twice'"), 1);
}

#[test]
fn hostile_frames_are_dropped_and_the_channel_keeps_serving() {
    let s = setup(vec![Step::text("still here")], BOT);
    s.install.register("slack:C0001", "main", &["--main"]);
    let mut host = s.install.host();
    host.wait_log("slack: connected", T);
    s.fake.raw("{not json");
    s.fake.raw(r#"{"type":"events_api"}"#);
    // Forged envelopes: a channel id that is not one, an event with no sender, a bogus type.
    for event in [
        json!({ "type": "message", "channel": "C0001/../x", "user": "U1", "text": "forged", "ts": "1.1" }),
        json!({ "type": "message", "channel": "C0001", "text": "no sender", "ts": "1.2" }),
        json!({ "type": "message", "channel": ["C0001"], "user": 7, "ts": 3 }),
    ] {
        s.fake.event(event);
    }
    // A frame far over any envelope's size: the socket is dropped and opened again.
    s.fake.raw(&format!(r#"{{"type":"hello","pad":"{}"}}"#, "x".repeat(2 << 20)));
    wait_for("a reconnection", || (s.fake.connections() >= 2).then_some(()));
    s.fake.message("C0001", "U42", "<@UCLAWBOT|claw> still there?", None);
    let reply = wait_for("the reply", || s.fake.posted().into_iter().next());
    assert_eq!(reply.text, "still here");
    assert!(host.is_running(), "{}", host.log());
    assert_eq!(s.install.count("SELECT count(*) FROM messages WHERE content IN ('forged', 'no sender')"), 0);
}

#[test]
fn a_bad_token_is_one_clear_error_and_a_backoff_not_a_crash_loop() {
    let s = setup(vec![], "xoxb-wrong-token");
    let mut host = s.install.host();
    host.wait_log("the token was refused", T);
    std::thread::sleep(Duration::from_secs(3));
    assert!(host.is_running(), "the host must keep running:\n{}", host.log());
    assert_eq!(host.log().matches("the token was refused").count(), 1, "{}", host.log());
    assert!(host.log().contains("check SLACK_BOT_TOKEN"), "{}", host.log());
    assert_eq!(s.fake.calls().len(), 1, "it backs off instead of hammering the API");
    let doctor = claw_host(s.install.path()).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(report.contains("FAIL  channel slack: down: the token was refused (invalid_auth)"), "{report}");
    assert!(!report.contains("wrong-token") && !host.log().contains("wrong-token"), "the token must not be printed");
}

#[test]
fn a_missing_or_swapped_token_stops_the_start_with_a_message_naming_it() {
    let install = Install::new(vec![], "channels = [\"cli\", \"slack\"]");
    let out = claw_host(install.path()).arg("run").output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("channel slack: SLACK_BOT_TOKEN is not set"), "{stderr}");

    install.add_env(&format!("SLACK_BOT_TOKEN={APP}\nSLACK_APP_TOKEN={BOT}"));
    let out = claw_host(install.path()).arg("run").output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("SLACK_APP_TOKEN the app-level token (xapp-"), "{stderr}");
    assert!(!stderr.contains("4242"), "no token in the message: {stderr}");
}
