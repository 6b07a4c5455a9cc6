//! Gmail end to end: the real host goes through the OAuth consent (loopback redirect, PKCE)
//! against the stand-in Google endpoints, polls the history API, runs the agent in a real
//! container against the fake model, and answers with `messages.send` in the same thread.

mod support;

use std::time::Duration;

use claw_testkit::gmail::{ADDRESS, CLIENT_ID, CLIENT_SECRET, FakeGmail};
use support::*;

const T: Duration = Duration::from_secs(120);

fn setup(script: Vec<Step>, secret: &str) -> WithStandIn<FakeGmail> {
    let rt = stand_in_runtime();
    let fake = rt.block_on(FakeGmail::start()).expect("fake Gmail");
    let install = Install::new(script, "assistant_name = \"Andy\"\nchannels = [\"cli\", \"gmail\"]");
    let url = fake.url();
    install.add_env(&format!(
        "GMAIL_CLIENT_ID={CLIENT_ID}\nGMAIL_CLIENT_SECRET={secret}\nGMAIL_API_URL={url}\nGMAIL_TOKEN_URL={url}/token\n\
         GMAIL_AUTH_URL={url}/o/oauth2/v2/auth"
    ));
    WithStandIn { install, fake, rt }
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    let raw = String::from_utf8_lossy(raw);
    let head = raw.split("\r\n\r\n").next().unwrap_or("").replace("\r\n ", " ").replace("\r\n\t", " ");
    head.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
}

#[test]
fn consent_then_a_mail_is_answered_in_its_thread() {
    let s = setup(vec![Step::text("hello from the agent"), Step::text("second answer")], CLIENT_SECRET);
    s.install.register("gmail:ann@example.org", "main", &["--main"]);
    let mut host = s.install.host();

    // No refresh token yet: the host logs the consent address; the person opens it and Google
    // redirects to the host's loopback port with a code, which it exchanges with PKCE.
    host.wait_log("gmail: not authorized yet", T);
    let log = host.log();
    let url = log.split("open ").nth(1).and_then(|r| r.split(" in a browser").next()).expect("the consent address");
    assert!(url.contains("code_challenge_method=S256") && url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"));
    let page = s.rt.block_on(async { reqwest::get(url).await.expect("consent").text().await.expect("page") });
    assert!(page.contains("Gmail is connected"), "{page}");
    host.wait_log("gmail: connected", T);
    let token = s.install.data().join("gmail/token.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&token).expect("token").permissions().mode() & 0o077,
        0,
        "token.json is not owner-only"
    );
    let refresh = std::fs::read_to_string(&token).expect("token");
    assert!(refresh.contains("1//refresh-"), "{refresh}");
    assert!(!host.log().contains("1//refresh-") && !host.log().contains(CLIENT_SECRET), "a secret was logged");
    std::thread::sleep(Duration::from_secs(1));

    // The account's own mail is skipped; Ann's HTML mail runs the agent, answered in its thread.
    s.fake.deliver(
        &format!("From: <{ADDRESS}>\nTo: ann@example.org\nSubject: mine\n\nmy own echo\n"),
        None,
        &["INBOX"],
    );
    s.fake.deliver(
        "From: ann@example.org\nTo: ann@example.org\nSubject: sent\n\nsent copy\n",
        None,
        &["INBOX", "SENT"],
    );
    let thread = "18c0aaaa00000001";
    s.fake.deliver(
        concat!(
            "From: Ann Lee <ann@example.org>\nTo: assistant@gmail.test\nSubject: Lunch plans\n",
            "Message-ID: <g1@example.org>\nReferences: <g0@example.org>\nMIME-Version: 1.0\n",
            "Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/html; charset=utf-8\n\n",
            "<p>hi <b>there</b> &amp; welcome</p>\n--b1\nContent-Type: image/png\n",
            "Content-Disposition: attachment; filename=\"menu.png\"\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--b1--\n"
        ),
        Some(thread),
        &["INBOX", "UNREAD"],
    );
    let reply = wait_for("the reply", || s.fake.sent().into_iter().next());
    assert_eq!(reply.thread_id, thread, "the reply is in the mail's thread");
    assert_eq!(header(&reply.raw, "To").as_deref(), Some("ann@example.org"));
    assert_eq!(header(&reply.raw, "In-Reply-To").as_deref(), Some("<g1@example.org>"));
    assert_eq!(header(&reply.raw, "References").as_deref(), Some("<g0@example.org> <g1@example.org>"));
    assert_eq!(header(&reply.raw, "Subject").as_deref(), Some("Re: Lunch plans"));
    assert!(String::from_utf8_lossy(&reply.raw).contains("hello from the agent"));
    let prompt = user_text(&s.install.requests()[0]);
    assert!(prompt.contains("Lunch plans") && prompt.contains("there") && prompt.contains("Ann Lee"), "{prompt}");
    assert!(prompt.contains("[attachment: menu.png (image/png"), "{prompt}");
    assert!(!prompt.contains("<b>") && !prompt.contains("my own echo") && !prompt.contains("sent copy"), "{prompt}");

    // An expired access token is refreshed; a 429 waits; a CRLF in a subject forges no header.
    s.fake.expire_access_tokens();
    s.fake.fail_next("/history", 429);
    let forged = "=?utf-8?b?SGkNCkJjYzogdmljdGltQGV2aWwuZXhhbXBsZQ0KDQpib2R5?=";
    s.fake.deliver(
        &format!("From: ann@example.org\nSubject: {forged}\nMessage-ID: <g2@example.org>\nIn-Reply-To: <g1@example.org>\n\nagain\n"),
        Some(thread),
        &["INBOX"],
    );
    let reply = wait_for("the second reply", || s.fake.sent().into_iter().nth(1));
    let head = String::from_utf8_lossy(&reply.raw).split("\r\n\r\n").next().unwrap_or("").to_string();
    assert!(head.lines().all(|l| !l.starts_with("Bcc:")), "a forged header: {head}");
    assert_eq!(header(&reply.raw, "In-Reply-To").as_deref(), Some("<g2@example.org>"));

    // A mail over the size limit is skipped without being held in memory; the next one is read.
    let big = "x".repeat(76).repeat(20 << 20 >> 6);
    s.fake.deliver(&format!("From: ann@example.org\nSubject: huge\n\n{big}\n"), Some(thread), &["INBOX"]);
    host.wait_log("is over 16 MB: not read", T);
    assert!(host.is_running());

    // An unregistered sender is metadata only.
    s.fake.deliver("From: Bob <bob@example.org>\nSubject: hello?\n\nwho are you?\n", None, &["INBOX"]);
    wait_for("bob's chat", || {
        (s.install.count("SELECT count(*) FROM chats WHERE jid = 'gmail:bob@example.org'") == 1).then_some(())
    });
    assert_eq!(s.install.count("SELECT count(*) FROM messages WHERE chat_jid = 'gmail:bob@example.org'"), 0);
    assert_eq!(s.install.requests().len(), 2, "no run for the unregistered sender");
    assert_eq!(s.fake.sent().len(), 2);
    let bodies = json!(s.install.requests().iter().map(|r| &r.body).collect::<Vec<_>>()).to_string();
    assert!(!bodies.contains("ya29.") && !bodies.contains("1//refresh"), "a token reached the model");
}

#[test]
fn a_refused_client_is_one_clear_error_and_a_backoff_not_a_crash_loop() {
    let s = setup(vec![], "GOCSPX-wrong");
    let dir = s.install.data().join("gmail");
    std::fs::create_dir_all(&dir).expect("data/gmail");
    std::fs::write(dir.join("token.json"), json!({ "refresh_token": s.fake.grant() }).to_string()).expect("token");
    let mut host = s.install.host();
    host.wait_log("the OAuth client or grant was refused", T);
    std::thread::sleep(Duration::from_secs(3));
    assert!(host.is_running(), "the host must keep running:\n{}", host.log());
    assert_eq!(host.log().matches("was refused").count(), 1, "{}", host.log());
    assert_eq!(s.fake.calls().iter().filter(|c| c.ends_with("/token")).count(), 1, "it backs off");
    let doctor = claw_host(s.install.path()).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        report.contains("FAIL  channel gmail: down: the OAuth client or grant was refused (invalid_client)"),
        "{report}"
    );
    assert!(!report.contains("GOCSPX-wrong") && !host.log().contains("GOCSPX-wrong"), "the secret was printed");
}

#[test]
fn a_missing_client_stops_the_start_with_a_message_naming_it() {
    let install = Install::new(vec![], "channels = [\"cli\", \"gmail\"]");
    let out = claw_host(install.path()).arg("run").output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("channel gmail: GMAIL_CLIENT_ID is not set"), "{stderr}");
}
