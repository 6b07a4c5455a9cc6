//! Discord end to end: the real host connects to the stand-in gateway, runs the agent in a real
//! container against the fake model, and answers through `POST /channels/{id}/messages`.

mod support;

use std::time::Duration;

use claw_testkit::discord::{BOT_ID, BOT_NAME, FakeDiscord, GENERAL, TEAM};
use support::*;

const T: Duration = Duration::from_secs(120);
const TOKEN: &str = "MTEwMDAw.discord-test.token4242";
const DM: &str = "1400000000000000555";

fn setup(script: Vec<Step>, token: &str) -> WithStandIn<FakeDiscord> {
    let rt = stand_in_runtime();
    let fake = rt.block_on(FakeDiscord::start(TOKEN)).expect("fake Discord");
    let install = Install::new(script, "assistant_name = \"Andy\"\nchannels = [\"cli\", \"discord\"]");
    install.add_env(&format!("DISCORD_BOT_TOKEN={token}\nDISCORD_API_URL={}", fake.url()));
    WithStandIn { install, fake, rt }
}

fn sent_to(fake: &FakeDiscord, channel: &str) -> Vec<String> {
    fake.sent().into_iter().filter(|(c, _)| c == channel).map(|(_, text)| text).collect()
}

const ANN: (&str, &str) = ("1500000000000000042", "ann");

#[test]
fn a_message_runs_the_agent_and_the_reply_goes_back_through_rest() {
    let long = format!("{}\n{}", "a".repeat(1990), "b".repeat(2500));
    let s = setup(vec![Step::text("hello @everyone from the agent"), Step::text(&long)], TOKEN);
    s.install.register(&format!("discord:{GENERAL}"), "main", &["--main"]);
    s.install.register(&format!("discord:{TEAM}"), "team", &[]);
    let host = s.install.host();
    host.wait_log("discord: connected", T);

    // The bot's own message is ignored; the person's runs the agent.
    s.fake.message(GENERAL, true, (BOT_ID, BOT_NAME), "my own echo");
    s.fake.message(GENERAL, true, ANN, "hi <there> & welcome");
    let reply = wait_for("the reply", || sent_to(&s.fake, GENERAL).into_iter().next());
    assert_eq!(reply, "hello @everyone from the agent");
    let post = s.fake.calls().into_iter().find(|c| c.path.ends_with("/messages")).expect("a post");
    assert_eq!(post.body["allowed_mentions"], json!({ "parse": [] }), "a reply pings no one");
    let prompt = user_text(&s.install.requests()[0]);
    assert!(prompt.contains("hi &lt;there&gt; &amp; welcome") && prompt.contains("ann (global)"), "{prompt}");
    assert!(!prompt.contains("my own echo"), "the bot's own message reached the agent: {prompt}");
    assert!(s.fake.calls().iter().any(|c| c.path.ends_with("/typing")));

    // In a channel that needs the trigger, the bot's mention is the trigger; a long reply is cut
    // to Discord's 2,000 characters.
    s.fake.message(TEAM, true, ANN, "no mention, no run");
    s.fake.message(TEAM, true, ANN, &format!("<@{BOT_ID}> what now?"));
    let pieces = wait_for("the long reply", || Some(sent_to(&s.fake, TEAM)).filter(|p| p.len() == 3));
    assert!(
        pieces.iter().all(|p| p.chars().count() <= 2000),
        "{:?}",
        pieces.iter().map(|p| p.len()).collect::<Vec<_>>()
    );
    assert_eq!(pieces.concat().replace('\n', ""), long.replace('\n', ""));
    let prompt = user_text(&s.install.requests()[1]);
    assert!(prompt.contains("@Andy what now?") && prompt.contains("no mention, no run"), "{prompt}");

    // An unregistered chat (a DM) is metadata only; /chatid tells a person what to register.
    s.fake.message(DM, false, ("1500000000000000555", "bob"), "who are you?");
    s.fake.message(DM, false, ("1500000000000000555", "bob"), "/chatid");
    let answer = wait_for("the /chatid answer", || sent_to(&s.fake, DM).into_iter().next());
    assert_eq!(answer, format!("This chat is discord:{DM}"));
    assert_eq!(
        s.install.count(&format!("SELECT count(*) FROM chats WHERE jid = 'discord:{DM}' AND name = 'bob (global)'")),
        1
    );
    assert_eq!(s.install.count(&format!("SELECT count(*) FROM messages WHERE chat_jid = 'discord:{DM}'")), 0);
    assert_eq!(s.install.requests().len(), 2, "no run for the unregistered chat (nor for the bot's echoes)");
}

#[test]
fn rate_limits_are_waited_out_and_each_piece_is_delivered_once() {
    // Seven pieces: the channel's bucket holds five per 5 s, which the headers announce.
    let long = (0..7).map(|i| i.to_string().repeat(2000)).collect::<Vec<_>>().join("\n");
    let s = setup(vec![Step::text("after the wait"), Step::text(&long)], TOKEN);
    s.install.register(&format!("discord:{GENERAL}"), "main", &["--main"]);
    let host = s.install.host();
    host.wait_log("discord: connected", T);
    s.fake.fail_next("/messages", 1.0);
    s.fake.message(GENERAL, true, ANN, "hello");
    wait_for("the reply", || sent_to(&s.fake, GENERAL).into_iter().find(|t| t == "after the wait"));
    let posts = || s.fake.calls().iter().filter(|c| c.path.ends_with("/messages")).count();
    assert_eq!(posts(), 2, "one refused with 429, one accepted");

    s.fake.message(GENERAL, true, ANN, "the long one");
    wait_for("seven pieces", || (sent_to(&s.fake, GENERAL).len() == 8).then_some(()));
    assert_eq!(posts(), 9, "the empty bucket was waited out, not hit");
}

#[test]
fn reconnects_resume_the_session_and_a_dead_connection_is_noticed() {
    let s = setup(vec![Step::text("one"), Step::text("two"), Step::text("three")], TOKEN);
    s.fake.set_heartbeat(1000);
    s.install.register(&format!("discord:{GENERAL}"), "main", &["--main"]);
    let host = s.install.host();
    host.wait_log("discord: connected", T);
    s.fake.message(GENERAL, true, ANN, "first");
    wait_for("the first reply", || sent_to(&s.fake, GENERAL).into_iter().find(|t| t == "one"));

    // Opcode 7: reconnect and resume, the session kept.
    s.fake.reconnect();
    wait_for("a resume", || (s.fake.counts().1 == 1).then_some(()));
    // No heartbeat ACK: the connection is a zombie; the host drops it and resumes.
    s.fake.swallow_acks(true);
    wait_for("a second resume", || (s.fake.counts().1 == 2).then_some(()));
    s.fake.swallow_acks(false);
    s.fake.message(GENERAL, true, ANN, "second");
    wait_for("the second reply", || sent_to(&s.fake, GENERAL).into_iter().find(|t| t == "two"));

    // Opcode 9, not resumable: a fresh Identify.
    s.fake.raw(r#"{"op":9,"d":false,"s":null,"t":null}"#);
    wait_for("a second identify", || (s.fake.counts().0 == 2).then_some(()));
    host.wait_log("discord: connected", T);
    s.fake.message(GENERAL, true, ANN, "third");
    wait_for("the third reply", || sent_to(&s.fake, GENERAL).into_iter().find(|t| t == "three"));
    assert_eq!(s.install.count("SELECT count(*) FROM messages WHERE content IN ('first', 'second', 'third')"), 3);
}

#[test]
fn a_session_dropped_at_once_each_time_is_retried_with_growing_waits() {
    let s = setup(vec![], TOKEN);
    let host = s.install.host();
    host.wait_log("discord: connected", T);
    s.fake.flap();
    std::thread::sleep(Duration::from_secs(20));
    // Waits of 2-6, 4-8, 8-12 s: one to three resumes in 20 s (a wait of 1-5 s each: four or more).
    let resumes = s.fake.counts().1;
    assert!((1..=3).contains(&resumes), "{resumes} resumes in 20 s\n{}", host.log());
}

#[test]
fn hostile_frames_are_dropped_and_the_channel_keeps_serving() {
    let s = setup(vec![Step::text("still here")], TOKEN);
    s.install.register(&format!("discord:{GENERAL}"), "main", &["--main"]);
    let mut host = s.install.host();
    host.wait_log("discord: connected", T);
    s.fake.raw("{not json");
    s.fake.raw(r#"{"op":0,"s":null,"t":"MESSAGE_CREATE","d":"nonsense"}"#);
    // Forged messages: a channel id that is not a snowflake, an author with no id.
    s.fake.dispatch(
        "MESSAGE_CREATE",
        json!({ "id": "1", "channel_id": "../1", "author": { "id": "2", "username": "x" },
        "content": "forged", "timestamp": "2026-01-01T00:00:00+00:00" }),
    );
    s.fake.dispatch(
        "MESSAGE_CREATE",
        json!({ "id": "2", "channel_id": GENERAL, "author": { "username": "x" },
        "content": "no author", "timestamp": "2026-01-01T00:00:00+00:00" }),
    );
    // A frame far over any payload's size: the socket is dropped and the session resumed.
    s.fake.raw(&format!(r#"{{"op":0,"pad":"{}"}}"#, "x".repeat(9 << 20)));
    wait_for("a resume", || (s.fake.counts().1 >= 1).then_some(()));
    s.fake.message(GENERAL, true, ANN, &format!("<@!{BOT_ID}> still there?"));
    let reply = wait_for("the reply", || sent_to(&s.fake, GENERAL).into_iter().next());
    assert_eq!(reply, "still here");
    assert!(host.is_running(), "{}", host.log());
    assert_eq!(s.install.count("SELECT count(*) FROM messages WHERE content IN ('forged', 'no author')"), 0);
}

#[test]
fn a_bad_token_is_one_clear_error_and_a_backoff_not_a_crash_loop() {
    let s = setup(vec![], "wrong-discord-token");
    let mut host = s.install.host();
    host.wait_log("the bot token was refused", T);
    std::thread::sleep(Duration::from_secs(3));
    assert!(host.is_running(), "the host must keep running:\n{}", host.log());
    assert_eq!(host.log().matches("the bot token was refused").count(), 1, "{}", host.log());
    assert_eq!(s.fake.calls().len(), 1, "it backs off instead of hammering the API");
    let doctor = claw_host(s.install.path()).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(report.contains("FAIL  channel discord: down: the bot token was refused"), "{report}");
    assert!(
        !report.contains("wrong-discord") && !host.log().contains("wrong-discord"),
        "the token must not be printed"
    );
}

#[test]
fn a_missing_token_stops_the_start_with_a_message_naming_it() {
    let install = Install::new(vec![], "channels = [\"cli\", \"discord\"]");
    let out = claw_host(install.path()).arg("run").output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("channel discord: DISCORD_BOT_TOKEN is not set"), "{stderr}");
}
