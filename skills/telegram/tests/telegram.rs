//! Telegram end to end: the real host polls the stand-in Bot API, runs the agent in a real
//! container against the fake model, and answers through `sendMessage`.

mod support;

use std::time::Duration;

use claw_testkit::telegram::{BOT_ID, BOT_USERNAME, FakeTelegram};
use support::*;

const T: Duration = Duration::from_secs(120);
const TOKEN: &str = "4242:telegram-test-token";

fn setup(script: Vec<Step>, token: &str) -> WithStandIn<FakeTelegram> {
    let rt = stand_in_runtime();
    let fake = rt.block_on(FakeTelegram::start(TOKEN)).expect("fake Bot API");
    let install = Install::new(script, "assistant_name = \"Andy\"\nchannels = [\"cli\", \"telegram\"]");
    install.add_env(&format!("TELEGRAM_BOT_TOKEN={token}\nTELEGRAM_API_URL={}", fake.url()));
    WithStandIn { install, fake, rt }
}

fn user(id: i64) -> Value {
    json!({ "id": id, "is_bot": false, "first_name": "Ann", "last_name": "Lee" })
}

fn group(id: i64) -> Value {
    json!({ "id": id, "type": "supergroup", "title": format!("Group {id}") })
}

#[test]
fn a_message_runs_the_agent_and_the_reply_goes_back_through_send_message() {
    let s = setup(vec![Step::text("hello from the agent"), Step::text("answer to the mention")], TOKEN);
    s.install.register("telegram:-1001", "main", &["--main"]);
    s.install.register("telegram:-1002", "team", &[]);
    let host = s.install.host();
    host.wait_log("telegram: connected", T);

    // The bot's own message is ignored; the person's runs the agent.
    s.fake.message(group(-1001), json!({ "id": BOT_ID, "is_bot": true, "first_name": "Claw" }), "my own echo");
    s.fake.message(group(-1001), user(42), "hi <there> & welcome");
    let reply = wait_for("the reply", || s.fake.sent().into_iter().find(|(chat, _)| *chat == -1001));
    assert_eq!(reply.1, "hello from the agent");
    let prompt = user_text(&s.install.requests()[0]);
    assert!(prompt.contains("hi &lt;there&gt; &amp; welcome") && prompt.contains("Ann Lee"), "{prompt}");
    assert!(!prompt.contains("my own echo"), "the bot's own message reached the agent: {prompt}");
    assert!(s.fake.calls().iter().any(|c| c.method == "sendChatAction" && c.params["action"] == "typing"));

    // In a group that needs the trigger, the bot's @mention is the trigger.
    s.fake.message(group(-1002), user(43), "no mention, no run");
    s.fake.message(group(-1002), user(43), &format!("@{BOT_USERNAME} what now?"));
    let reply = wait_for("the mention's reply", || s.fake.sent().into_iter().find(|(chat, _)| *chat == -1002));
    assert_eq!(reply.1, "answer to the mention");
    let prompt = user_text(&s.install.requests()[1]);
    assert!(prompt.contains("@Andy what now?") && prompt.contains("no mention, no run"), "{prompt}");

    // An unregistered chat is metadata only; /chatid tells a person what to register.
    s.fake.message(json!({ "id": 555, "type": "private", "first_name": "Bob" }), user(555), "who are you?");
    s.fake.message(json!({ "id": 555, "type": "private", "first_name": "Bob" }), user(555), "/chatid");
    let answer = wait_for("the /chatid answer", || s.fake.sent().into_iter().find(|(chat, _)| *chat == 555));
    assert_eq!(answer.1, "This chat is telegram:555");
    assert_eq!(s.install.count("SELECT count(*) FROM chats WHERE jid = 'telegram:555' AND name = 'Bob'"), 1);
    assert_eq!(s.install.count("SELECT count(*) FROM messages WHERE chat_jid = 'telegram:555'"), 0);
    assert_eq!(s.install.requests().len(), 2, "no run for the unregistered chat");
    assert_eq!(s.install.count("SELECT count(*) FROM messages WHERE content = '/chatid'"), 0);
}

#[test]
fn a_rate_limited_reply_waits_and_is_delivered_once() {
    let s = setup(vec![Step::text("after the wait")], TOKEN);
    s.install.register("telegram:-1001", "main", &["--main"]);
    let host = s.install.host();
    host.wait_log("telegram: connected", T);
    s.fake.fail_next("sendMessage", 429, Some(1));
    s.fake.message(group(-1001), user(42), "hello");
    let reply = wait_for("the reply", || s.fake.sent().into_iter().find(|(_, text)| text == "after the wait"));
    assert_eq!(reply.0, -1001);
    std::thread::sleep(Duration::from_secs(2));
    let sends = s.fake.calls().iter().filter(|c| c.method == "sendMessage").count();
    assert_eq!(sends, 2, "one refused with 429, one accepted");
    assert_eq!(s.fake.sent().len(), 1, "delivered once");
}

#[test]
fn a_bad_token_is_one_clear_error_and_a_backoff_not_a_crash_loop() {
    let s = setup(vec![], "4242:wrong-token");
    let mut host = s.install.host();
    host.wait_log("the bot token was refused", T);
    std::thread::sleep(Duration::from_secs(3));
    assert!(host.is_running(), "the host must keep running:\n{}", host.log());
    assert_eq!(host.log().matches("the bot token was refused").count(), 1, "{}", host.log());
    assert_eq!(s.fake.calls().len(), 1, "it backs off instead of hammering the API");
    let doctor = claw_host(s.install.path()).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(report.contains("FAIL  channel telegram: down: the bot token was refused"), "{report}");
    assert!(!report.contains("wrong-token"), "the token must not be printed: {report}");
}

#[test]
fn a_missing_token_stops_the_start_with_a_message_naming_it() {
    let install = Install::new(vec![], "channels = [\"cli\", \"telegram\"]");
    let out = claw_host(install.path()).arg("run").output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("channel telegram: TELEGRAM_BOT_TOKEN is not set"), "{stderr}");
}
