//! Email end to end against real servers: the real host reads a Dovecot mailbox over IMAP IDLE,
//! runs the agent in a real container against the fake model, and answers through a real SMTP
//! server (aiosmtpd), in the same thread.

mod support;

use std::time::Duration;

use claw_testkit::email::{ADDRESS, MailServers, PASSWORD};
use support::*;

const T: Duration = Duration::from_secs(120);

struct Setup {
    install: Install,
    mail: MailServers,
}

fn setup(script: Vec<Step>, password: &str) -> Setup {
    let mail = MailServers::start(PASSWORD).expect("dovecot-imapd and aiosmtpd (see .ci/run)");
    let install = Install::new(script, "assistant_name = \"Andy\"\nchannels = [\"cli\", \"email\"]");
    install.add_env(&format!(
        "EMAIL_ADDRESS={ADDRESS}\nEMAIL_PASSWORD={password}\nEMAIL_IMAP_URL={}\nEMAIL_SMTP_URL={}",
        mail.imap_url(),
        mail.smtp_url()
    ));
    Setup { install, mail }
}

/// The value of header `name` in a raw mail (unfolded), if present.
fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap_or("").replace("\r\n ", " ").replace("\r\n\t", " ");
    head.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
}

#[test]
fn a_mail_runs_the_agent_and_the_reply_goes_back_in_the_same_thread() {
    let s = setup(vec![Step::text("hello from the agent"), Step::text("second answer")], PASSWORD);
    s.install.register("email:ann@example.org", "main", &["--main"]);
    let host = s.install.host();
    host.wait_log("email: connected", T);

    // The bot's own mail and an automatic reply are skipped; the person's HTML mail runs the agent.
    s.mail.deliver(&format!("From: <{ADDRESS}>\nTo: ann@example.org\nSubject: mine\n\nmy own echo\n")).expect("own");
    s.mail
        .deliver("From: Ann <ann@example.org>\nTo: x@example.org\nAuto-Submitted: auto-replied\nSubject: away\n\nout of office\n")
        .expect("auto");
    s.mail
        .deliver(concat!(
            "From: Ann Lee <Ann@Example.org>\nTo: assistant@example.test\nSubject: Lunch plans\n",
            "Message-ID: <m1@example.org>\nReferences: <m0@example.org>\nMIME-Version: 1.0\n",
            "Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/html; charset=utf-8\n\n",
            "<html><body><p>hi <b>there</b> &amp; welcome</p><script>alert(1)</script></body></html>\n",
            "--b1\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"plan.pdf\"\n",
            "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b1--\n"
        ))
        .expect("deliver");
    let reply = wait_for("the reply", || s.mail.sent().into_iter().next());
    assert_eq!(header(&reply, "X-Envelope-To").as_deref(), Some("ann@example.org"), "{reply}");
    assert_eq!(header(&reply, "In-Reply-To").as_deref(), Some("<m1@example.org>"), "{reply}");
    assert_eq!(header(&reply, "References").as_deref(), Some("<m0@example.org> <m1@example.org>"), "{reply}");
    assert_eq!(header(&reply, "Subject").as_deref(), Some("Re: Lunch plans"), "{reply}");
    assert!(header(&reply, "From").is_some_and(|f| f.contains(ADDRESS)), "{reply}");
    assert!(reply.contains("hello from the agent"), "{reply}");
    let prompt = user_text(&s.install.requests()[0]);
    assert!(prompt.contains("Lunch plans") && prompt.contains("there") && prompt.contains("Ann Lee"), "{prompt}");
    assert!(prompt.contains("[attachment: plan.pdf (application/pdf"), "{prompt}");
    assert!(
        !prompt.contains("<b>") && !prompt.contains("my own echo") && !prompt.contains("out of office"),
        "{prompt}"
    );
    assert!(
        !json!(s.install.requests().iter().map(|r| &r.body).collect::<Vec<_>>()).to_string().contains(PASSWORD),
        "the mailbox password reached the model"
    );

    // A subject carrying CRLF (RFC 2047 encoded) must not forge a header in the reply.
    let forged = "=?utf-8?b?SGkNCkJjYzogdmljdGltQGV2aWwuZXhhbXBsZQ0KDQpib2R5?="; // "Hi\r\nBcc: victim@evil.example\r\n\r\nbody"
    s.mail
        .deliver(&format!(
            "From: ann@example.org\nSubject: {forged}\nMessage-ID: <m2@example.org>\nIn-Reply-To: <m1@example.org>\n\nagain\n"
        ))
        .expect("deliver");
    let reply = wait_for("the second reply", || s.mail.sent().into_iter().nth(1));
    assert_eq!(header(&reply, "X-Envelope-To").as_deref(), Some("ann@example.org"), "{reply}");
    let head = reply.split("\r\n\r\n").next().unwrap_or("");
    assert!(
        head.lines().all(|l| !l.starts_with("Bcc:")) && header(&reply, "Bcc").is_none(),
        "a forged header: {reply}"
    );
    assert!(header(&reply, "Subject").is_some_and(|s| s.starts_with("Re: Hi")), "{reply}");
    assert_eq!(header(&reply, "In-Reply-To").as_deref(), Some("<m2@example.org>"), "{reply}");
    assert_eq!(header(&reply, "References").as_deref(), Some("<m1@example.org> <m2@example.org>"), "{reply}");

    // An unregistered sender is metadata only.
    s.mail.deliver("From: Bob <bob@example.org>\nSubject: hello?\n\nwho are you?\n").expect("deliver");
    wait_for("bob's chat", || {
        (s.install.count("SELECT count(*) FROM chats WHERE jid = 'email:bob@example.org'") == 1).then_some(())
    });
    assert_eq!(s.install.count("SELECT count(*) FROM messages WHERE chat_jid = 'email:bob@example.org'"), 0);
    assert_eq!(s.install.requests().len(), 2, "no run for the unregistered sender");
    assert_eq!(s.mail.sent().len(), 2);
    // The channel's files are the owner's only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.install.data().join("email/threads.json")).expect("threads").permissions().mode();
    assert_eq!(mode & 0o077, 0, "threads.json is readable by others: {mode:o}");
}

#[test]
fn a_huge_or_hostile_mail_is_read_within_bounds() {
    let s = setup(vec![Step::text("got it")], PASSWORD);
    s.install.register("email:+family", "family", &["--no-trigger"]);
    let host = s.install.host();
    host.wait_log("email: connected", T);
    // Mail to the plus address goes to that address's chat, whoever sends it; of 4 MB, only the
    // first MB is fetched and 64 KB of text reach the agent.
    let big = "x".repeat(76).repeat(4 * 1024 * 1024 / 76);
    s.mail
        .deliver(&format!(
            "From: Carl <carl@example.org>\nTo: assistant+family@example.test\nSubject: big\n\n{big}\nEND\n"
        ))
        .expect("big");
    let reply = wait_for("the reply", || s.mail.sent().into_iter().next());
    assert_eq!(header(&reply, "X-Envelope-To").as_deref(), Some("carl@example.org"), "{reply}");
    let prompt = user_text(&s.install.requests()[0]);
    assert!(prompt.contains("the rest of this mail was not read"), "{}", &prompt[..prompt.len().min(500)]);
    assert!(prompt.len() < 100_000 && !prompt.contains("END"), "more than the limit was read");
    // A thousand nested parts do not take the host down; the mail still reaches the agent.
    let nested: String =
        (0..1000).map(|i| format!("--n{i}\nContent-Type: multipart/mixed; boundary=n{}\n\n", i + 1)).collect();
    s.mail
        .deliver(&format!(
            "From: carl@example.org\nTo: assistant+family@example.test\nSubject: nested\nMIME-Version: 1.0\n\
             Content-Type: multipart/mixed; boundary=n0\n\n{nested}\n"
        ))
        .expect("nested");
    s.install.wait_requests(2, T);
    assert!(user_text(&s.install.requests()[1]).contains("[subject: nested]"));
    assert_eq!(s.install.count("SELECT count(*) FROM chats WHERE jid = 'email:+family'"), 1);
}

#[test]
fn a_refused_login_is_one_clear_error_and_a_backoff_not_a_crash_loop() {
    let s = setup(vec![], "wrong-password");
    let mut host = s.install.host();
    host.wait_log("the login was refused", T);
    std::thread::sleep(Duration::from_secs(3));
    assert!(host.is_running(), "the host must keep running:\n{}", host.log());
    assert_eq!(host.log().matches("the login was refused").count(), 1, "{}", host.log());
    let log = std::fs::read_to_string(s.mail.path().join("dovecot.log")).unwrap_or_default();
    assert_eq!(log.matches("auth failed").count(), 1, "it backs off instead of retrying: {log}");
    let doctor = claw_host(s.install.path()).arg("doctor").output().expect("doctor");
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(report.contains("FAIL  channel email: down: the login was refused"), "{report}");
    assert!(!report.contains("wrong-password") && !host.log().contains("wrong-password"), "the password was printed");
}

#[test]
fn missing_settings_stop_the_start_with_a_message_naming_them() {
    let install = Install::new(vec![], "channels = [\"cli\", \"email\"]");
    let out = claw_host(install.path()).arg("run").output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("channel email: EMAIL_ADDRESS is not set"), "{stderr}");
}
