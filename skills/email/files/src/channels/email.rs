//! Any mailbox over IMAP IDLE (async-imap over tokio-rustls) and SMTP (lettre, rustls). New mail
//! is found by IDLE, re-issued every few minutes, or by polling when the server has no IDLE.
//! Chats are `email:<sender address>`, or `email:+tag` for mail to `you+tag@domain`. A reply goes
//! in the same thread (`In-Reply-To`, `References`, `Re:`). A mail is confirmed (the last UID
//! kept in `data/email/state.json`) only once the host has stored it; the bot's own mail and
//! automatic replies are skipped; HTML becomes text; attachments become placeholders.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::TryStreamExt;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::{AsyncSmtpTransport, authentication::Credentials, extension::ClientId};
use lettre::{AsyncTransport, Message as Mail, Tokio1Executor};
use mail_parser::{MessageParser, MimeHeaders};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};

use super::{BoxFuture, Channel, Inbound, Result};
use crate::config::{self, Config};

/// IDLE is ended and re-issued this often (servers drop it after 30 minutes; NATs sooner).
const RE_IDLE: Duration = Duration::from_secs(10 * 60);
/// How often a server without IDLE is polled.
const POLL: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
const STEADY: Duration = Duration::from_secs(60);
/// Only this much of a message is fetched: a huge mail costs no more than this.
const MAX_FETCH: usize = 1 << 20;
/// The most text of one mail the agent is given (characters).
const MAX_TEXT: usize = 64 * 1024;
/// Threads remembered for replies (one per chat).
const MAX_THREADS: usize = 5000;
const SEND_ATTEMPTS: u32 = 3;

pub fn open(config: &Config) -> Result<Box<dyn Channel>> {
    let need = |key: &str, what: &str| config::env(key)?.ok_or(format!("{key} is not set: add {what} to .env"));
    let address = need("EMAIL_ADDRESS", "the mailbox's address")?.to_ascii_lowercase();
    let password = need("EMAIL_PASSWORD", "the mailbox's (app) password")?;
    let imap = Server::parse(&need("EMAIL_IMAP_URL", "the IMAP server, e.g. imaps://imap.fastmail.com")?, "imap")?;
    let smtp = Server::parse(&need("EMAIL_SMTP_URL", "the SMTP server, e.g. smtps://smtp.fastmail.com")?, "smtp")?;
    let mailbox: Mailbox = address.parse().map_err(|e| format!("EMAIL_ADDRESS {address:?}: {e}"))?;
    let user = config::env("EMAIL_USERNAME")?.unwrap_or_else(|| address.clone());
    let mut builder = match (smtp.tls, smtp.port) {
        (true, 465) => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host),
        (true, _) => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host),
        (false, _) => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)),
    }
    .map_err(|e| format!("EMAIL_SMTP_URL: {e}"))?;
    let domain = address.rsplit('@').next().unwrap_or("localhost").to_string();
    builder = builder.port(smtp.port).hello_name(ClientId::Domain(domain));
    let dir = config.data_dir.join("email");
    let threads = std::fs::read(dir.join("threads.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    Ok(Box::new(Email(Arc::new(Inner {
        smtp: builder.credentials(Credentials::new(user.clone(), password.clone())).build(),
        imap,
        mailbox: config::env("EMAIL_MAILBOX")?.unwrap_or_else(|| "INBOX".into()),
        user,
        password,
        me: mailbox,
        address,
        assistant: config.assistant_name.clone(),
        data_dir: config.data_dir.clone(),
        dir,
        threads: Mutex::new(threads.unwrap_or_default()),
    }))))
}

/// `imaps://host[:993]` or `smtps://host[:465]` (TLS), `smtp://host:587` (STARTTLS), and plain
/// `imap://` / `smtp://` only to a loopback host, so a password never crosses a network unencrypted.
#[derive(Debug, PartialEq)]
struct Server {
    host: String,
    port: u16,
    tls: bool,
}

impl Server {
    fn parse(url: &str, proto: &str) -> Result<Server> {
        let bad = |why: &str| format!("{url:?} is not a {proto} server address: {why}");
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected scheme://host[:port]"))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad("the port is not a number"))?)),
            None => (rest, None),
        };
        if host.is_empty() || host.contains(['/', '@', '?', ' ']) {
            return Err(bad("expected a host name, with no user or path"));
        }
        let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let (tls, default) = match (scheme, proto) {
            ("imaps", "imap") => (true, 993),
            ("smtps", "smtp") => (true, 465),
            ("smtp", "smtp") if !loopback => (true, 587),
            ("imap" | "smtp", _) if scheme == proto && loopback => (false, if proto == "imap" { 143 } else { 25 }),
            ("imap", _) => return Err(bad("use imaps:// (TLS); plain imap:// is only for a loopback server")),
            _ => return Err(bad(&format!("use {proto}s://"))),
        };
        Ok(Server { host: host.to_string(), port: port.unwrap_or(default), tls })
    }
}

struct Email(Arc<Inner>);

struct Inner {
    smtp: AsyncSmtpTransport<Tokio1Executor>,
    imap: Server,
    mailbox: String,
    user: String,
    /// Never logged.
    password: String,
    me: Mailbox,
    /// `me`'s address, lower case.
    address: String,
    assistant: String,
    data_dir: PathBuf,
    dir: PathBuf,
    threads: Mutex<BTreeMap<String, Thread>>,
}

/// The last mail of a chat: what a reply answers.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Thread {
    to: String,
    subject: String,
    message_id: String,
    references: Vec<String>,
}

/// Where reading stopped: UIDs are only meaningful within one UIDVALIDITY.
#[derive(Default, Serialize, Deserialize)]
struct Cursor {
    validity: u32,
    last_uid: u32,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}
type Session = async_imap::Session<Box<dyn Io>>;

enum Failure {
    BadLogin(String),
    Other(String),
}

/// Any IMAP, TLS or network error: retried with backoff.
impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::Other(format!("imap: {e}"))
    }
}

type Res<T> = std::result::Result<T, Failure>;

impl Inner {
    async fn login(&self) -> Res<Session> {
        let tcp = tokio::net::TcpStream::connect((self.imap.host.as_str(), self.imap.port)).await?;
        let stream: Box<dyn Io> = if self.imap.tls {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
            let name = rustls::pki_types::ServerName::try_from(self.imap.host.clone())?;
            Box::new(tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(name, tcp).await?)
        } else {
            Box::new(tcp)
        };
        let mut client = async_imap::Client::new(stream);
        client.read_response().await?.ok_or_else(|| Failure::Other("imap: closed before its greeting".into()))?;
        client.login(&self.user, &self.password).await.map_err(|(e, _)| match e {
            async_imap::error::Error::No(why) => Failure::BadLogin(why),
            e => Failure::from(e),
        })
    }

    /// Reads mail forever: a failure is logged when it changes and retried with backoff; a
    /// refused login is one clear error, then quiet retries at the longest interval.
    async fn run(self: Arc<Self>, inbound: mpsc::Sender<Inbound>) {
        let (mut failures, mut last_error) = (0u32, String::new());
        loop {
            let mut up = None;
            let Err(e) = self.session(&inbound, &mut up).await else { return };
            // A session that read mail and stayed up a while starts the backoff over; one that
            // never got that far, or dropped at once, does not.
            if up.is_some_and(|since: std::time::Instant| since.elapsed() >= STEADY) {
                failures = 0;
            }
            failures += 1;
            let (text, wait) = match e {
                Failure::BadLogin(why) => {
                    (format!("the login was refused ({why}); check EMAIL_USERNAME and EMAIL_PASSWORD"), MAX_BACKOFF)
                }
                Failure::Other(why) => (why, Duration::from_secs(1 << failures.min(9)).min(MAX_BACKOFF)),
            };
            if text != last_error {
                tracing::error!("email: {text}; retrying in {} s", wait.as_secs());
                super::report(&self.data_dir, "email", false, &text);
                last_error = text;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// One connection: log in, read what is new, wait (IDLE or poll), again. `Ok` only when the
    /// host is gone.
    /// `up` is set when the first read of new mail succeeds.
    async fn session(&self, inbound: &mpsc::Sender<Inbound>, up: &mut Option<std::time::Instant>) -> Res<()> {
        let mut session = self.login().await?;
        let idle = session.capabilities().await?.has_str("IDLE");
        let selected = session.select(&self.mailbox).await?;
        let validity = selected.uid_validity.unwrap_or(0);
        let saved: Cursor = std::fs::read(self.dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        // A new mailbox (or a rebuilt one): start with the mail that arrives from now on.
        let mut cursor = match saved.validity == validity {
            true => saved,
            false => Cursor { validity, last_uid: selected.uid_next.unwrap_or(1).saturating_sub(1) },
        };
        self.save("state.json", &cursor);
        tracing::info!(mailbox = %self.mailbox, idle, "email: connected");
        loop {
            if !self.fetch_new(&mut session, &mut cursor, inbound).await? {
                return Ok(());
            }
            up.get_or_insert_with(std::time::Instant::now);
            super::report(&self.data_dir, "email", true, if idle { "idle" } else { "polling" });
            if idle {
                let mut handle = session.idle();
                handle.init().await?;
                let (wait, _stop) = handle.wait_with_timeout(RE_IDLE);
                wait.await?;
                session = handle.done().await?;
            } else {
                tokio::time::sleep(POLL).await;
                session.noop().await?;
            }
        }
    }

    /// Hands every mail after the cursor to the host, one at a time, moving the cursor once each
    /// is stored. `false` when the host is gone.
    async fn fetch_new(&self, session: &mut Session, cursor: &mut Cursor, tx: &mpsc::Sender<Inbound>) -> Res<bool> {
        let mut uids: Vec<u32> =
            session.uid_search(format!("UID {}:*", cursor.last_uid + 1)).await?.into_iter().collect();
        uids.retain(|&uid| uid > cursor.last_uid);
        uids.sort_unstable();
        for uid in uids {
            let query = format!("(UID BODY.PEEK[]<0.{MAX_FETCH}>)");
            let fetched: Vec<_> = session.uid_fetch(uid.to_string(), query).await?.try_collect().await?;
            let raw = fetched.iter().find_map(|f| f.body()).unwrap_or_default();
            if let Some(msg) = self.inbound(raw, raw.len() >= MAX_FETCH) {
                let (ack, stored) = oneshot::channel();
                if tx.send(Inbound { stored: Some(ack), ..msg }).await.is_err() || stored.await.is_err() {
                    return Ok(false);
                }
            }
            cursor.last_uid = uid;
            self.save("state.json", cursor);
        }
        Ok(true)
    }

    /// Maps a mail to its chat and remembers it as the thread a reply answers. `None` for the
    /// bot's own mail, automatic replies and mail without a sender.
    fn inbound(&self, raw: &[u8], truncated: bool) -> Option<Inbound> {
        let m = MessageParser::default().parse(raw)?;
        let from = m.from().and_then(|a| a.first())?;
        let sender = from.address()?.to_ascii_lowercase();
        let auto = m.header("Auto-Submitted").and_then(|v| v.as_text()).is_some_and(|v| !v.eq_ignore_ascii_case("no"));
        if sender == self.address || auto || sender.parse::<Mailbox>().is_err() {
            return None;
        }
        let tag = [m.to(), m.cc()]
            .into_iter()
            .flatten()
            .flat_map(|a| a.iter())
            .find_map(|a| plus_tag(&a.address()?.to_ascii_lowercase(), &self.address));
        let chat_jid = match &tag {
            Some(tag) => format!("email:+{tag}"),
            None => format!("email:{sender}"),
        };
        let subject = clean(m.subject().unwrap_or(""), 200);
        let message_id = m.message_id().map(clean_id).filter(|id| !id.is_empty());
        let mut references: Vec<String> = match m.references().as_text_list() {
            Some(list) => list.iter().map(|id| clean_id(id)).collect(),
            None => m.references().as_text().map(|id| vec![clean_id(id)]).unwrap_or_default(),
        };
        if references.is_empty() {
            // RFC 5322 3.6.4: without References, the parent's single In-Reply-To id stands in.
            references.extend(m.in_reply_to().as_text().map(clean_id));
        }
        references.retain(|id| !id.is_empty());
        let body = m.body_text(0).unwrap_or_default();
        let mut text: String = body.trim().chars().take(MAX_TEXT).collect();
        let truncated = truncated || text.len() < body.trim().len();
        for part in m.attachments() {
            let kind = part
                .content_type()
                .map_or("application/octet-stream".into(), |c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("*")));
            let name = clean(part.attachment_name().unwrap_or("unnamed"), 100);
            text.push_str(&format!("\n[attachment: {name} ({kind}, {} KB)]", part.len().div_ceil(1024)));
        }
        if truncated {
            text.push_str(&format!("\n[the rest of this mail was not read: it is over {} KB]", MAX_TEXT / 1024));
        }
        let thread = Thread {
            to: sender.clone(),
            subject: subject.clone(),
            message_id: message_id.clone().unwrap_or_default(),
            references: references.into_iter().rev().take(20).rev().collect(),
        };
        self.remember(&chat_jid, thread);
        let name = from.name().map(|n| clean(n, 100)).unwrap_or_else(|| sender.clone());
        Some(Inbound {
            chat_name: Some(tag.clone().unwrap_or_else(|| name.clone())),
            is_group: tag.is_some(),
            sender: sender.clone(),
            sender_name: name,
            text: if subject.is_empty() { text } else { format!("[subject: {subject}] {text}") },
            ts: m.date().map(|d| d.to_rfc3339()).unwrap_or_else(|| chrono::Utc::now().to_rfc3339()),
            is_from_me: false,
            external_id: Some(message_id.unwrap_or_else(|| format!("{sender}:{}", raw.len()))),
            stored: None,
            chat_jid,
        })
    }

    fn remember(&self, chat_jid: &str, thread: Thread) {
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        if threads.len() >= MAX_THREADS && !threads.contains_key(chat_jid) {
            threads.pop_first();
        }
        threads.insert(chat_jid.to_string(), thread);
        self.save("threads.json", &*threads);
    }

    /// Writes one of the channel's files; the host's umask 077 keeps it owner-only.
    fn save(&self, name: &str, value: &impl Serialize) {
        let tmp = self.dir.join(format!("{name}.tmp"));
        let written = std::fs::create_dir_all(&self.dir)
            .and_then(|()| std::fs::write(&tmp, serde_json::to_vec(value).unwrap_or_default()))
            .and_then(|()| std::fs::rename(&tmp, self.dir.join(name)));
        if let Err(e) = written {
            tracing::warn!("email: writing {name}: {e}");
        }
    }

    /// The reply to a chat's last mail, in its thread; a chat with no mail yet gets a new one.
    fn reply(&self, chat_jid: &str, text: &str) -> Result<Mail> {
        let known = self.threads.lock().unwrap_or_else(|e| e.into_inner()).get(chat_jid).cloned();
        let thread = match (known, chat_jid.strip_prefix("email:")) {
            (Some(thread), _) => thread,
            (None, Some(to)) if !to.starts_with('+') => Thread { to: to.into(), ..Thread::default() },
            _ => return Err(format!("email: no mail from {chat_jid} yet, so no address to answer")),
        };
        let to: Mailbox = thread.to.parse().map_err(|e| format!("email: {chat_jid}: {e}"))?;
        let subject = match clean(&thread.subject, 200) {
            s if s.is_empty() => self.assistant.clone(),
            s if s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:")) => s,
            s => format!("Re: {s}"),
        };
        let domain = self.address.rsplit('@').next().unwrap_or("localhost");
        let id = format!("<{:x}.{}@{domain}>", rand_u64(), std::process::id());
        let mut mail = Mail::builder().from(self.me.clone()).to(to).subject(subject).message_id(Some(id));
        if !thread.message_id.is_empty() {
            let refs: Vec<String> =
                thread.references.iter().chain([&thread.message_id]).map(|r| format!("<{r}>")).collect();
            mail = mail.in_reply_to(format!("<{}>", thread.message_id)).references(refs.join(" "));
        }
        mail.header(ContentType::TEXT_PLAIN).body(text.to_string()).map_err(|e| format!("email: {e}"))
    }
}

impl Channel for Email {
    fn name(&self) -> &'static str {
        "email"
    }

    fn max_message_len(&self) -> usize {
        100_000
    }

    fn connect(&self, inbound: mpsc::Sender<Inbound>) -> BoxFuture<'_, Result<()>> {
        // Never fails: a refused login or an outage is reported and retried, not a crash loop.
        tokio::spawn(self.0.clone().run(inbound));
        Box::pin(async { Ok(()) })
    }

    fn send<'a>(&'a self, chat_jid: &'a str, text: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mail = self.0.reply(chat_jid, text)?;
            for attempt in 1.. {
                match self.0.smtp.send(mail.clone()).await {
                    Ok(_) => return Ok(()),
                    Err(e) if !e.is_permanent() && attempt < SEND_ATTEMPTS => {
                        tokio::time::sleep(Duration::from_secs(1 << attempt)).await
                    }
                    Err(e) => return Err(format!("email: sending: {e}")),
                }
            }
            Ok(())
        })
    }
}

/// `tag` when `address` is `local+tag@domain` and `me` is `local@domain`.
fn plus_tag(address: &str, me: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    let (base, tag) = local.split_once('+')?;
    let valid = !tag.is_empty() && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (valid && format!("{base}@{domain}") == me).then(|| tag.to_string())
}

/// Text from a header, on one line, without control characters, cut to `max` characters.
fn clean(text: &str, max: usize) -> String {
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect();
    one_line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A message id as the mail gave it, without what could break out of `<...>` in a header.
fn clean_id(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\')).take(250).collect()
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner() -> Inner {
        let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1").build();
        let imap = Server { host: "127.0.0.1".into(), port: 1, tls: false };
        let dir = std::env::temp_dir().join(format!("claw-email-test-{}", std::process::id()));
        Inner {
            smtp,
            imap,
            mailbox: "INBOX".into(),
            user: "me".into(),
            password: "pw".into(),
            me: "bot@example.com".parse().expect("mailbox"),
            address: "bot@example.com".into(),
            assistant: "Andy".into(),
            data_dir: dir.clone(),
            dir,
            threads: Mutex::new(BTreeMap::new()),
        }
    }

    fn formatted(mail: &Mail) -> String {
        String::from_utf8_lossy(&mail.formatted()).into_owned()
    }

    #[test]
    fn server_addresses_need_tls_unless_on_loopback() {
        let tls = |host: &str, port| Ok(Server { host: host.into(), port, tls: true });
        assert_eq!(Server::parse("imaps://imap.fastmail.com", "imap"), tls("imap.fastmail.com", 993));
        assert_eq!(Server::parse("smtps://smtp.gmail.com", "smtp"), tls("smtp.gmail.com", 465));
        assert_eq!(Server::parse("smtp://mail.example.com:587", "smtp"), tls("mail.example.com", 587));
        let plain = Server::parse("imap://127.0.0.1:1143", "imap");
        assert_eq!(plain, Ok(Server { host: "127.0.0.1".into(), port: 1143, tls: false }));
        for bad in ["imap://imap.example.com", "http://x", "imaps://user:pw@host", "imaps://host:99999", "host"] {
            assert!(Server::parse(bad, "imap").is_err(), "{bad}");
        }
    }

    #[test]
    fn plus_addresses_name_a_shared_chat() {
        assert_eq!(plus_tag("bot+family@example.com", "bot@example.com").as_deref(), Some("family"));
        assert_eq!(plus_tag("bot+fam ily@example.com", "bot@example.com"), None);
        assert_eq!(plus_tag("other+family@example.com", "bot@example.com"), None);
        assert_eq!(plus_tag("bot@example.com", "bot@example.com"), None);
    }

    #[test]
    fn a_reply_answers_the_last_mail_and_no_text_adds_a_header() {
        let inner = inner();
        let raw = "From: Eve <eve@example.org>\r\nSubject: =?utf-8?b?SGkNCkJjYzogdmljdGltQGV2aWwuZXhhbXBsZQ==?=\r\n\
                   Message-ID: <a>\r\nBcc: x@y.z>\r\n\tInjected: yes\r\nReferences: <r1> <bad\r\n id>\r\n\r\nbody";
        let msg = inner.inbound(raw.as_bytes(), false).expect("a mail");
        assert_eq!((msg.chat_jid.as_str(), msg.sender.as_str()), ("email:eve@example.org", "eve@example.org"));
        let mail = formatted(&inner.reply("email:eve@example.org", "the answer\r\nBcc: more@evil").expect("reply"));
        let head = mail.split("\r\n\r\n").next().unwrap_or("");
        assert!(head.lines().all(|l| !l.starts_with("Bcc") && !l.starts_with("Injected")), "{mail}");
        assert!(head.contains("In-Reply-To: <a>") && head.contains("References: <r1> <badid> <a>"), "{mail}");
        assert!(
            head.contains("To: eve@example.org") && head.contains("Subject: Re: Hi Bcc: victim@evil.example"),
            "{mail}"
        );
        // No mail yet: a new thread to a sender chat, and no address at all for a plus chat.
        let fresh = formatted(&inner.reply("email:ann@example.org", "hello").expect("new mail"));
        assert!(fresh.contains("Subject: Andy") && !fresh.contains("In-Reply-To"), "{fresh}");
        assert!(inner.reply("email:+family", "hello").is_err());
        assert!(inner.reply("email:not an address", "hello").is_err());
        let _ = std::fs::remove_dir_all(&inner.dir);
    }

    #[test]
    fn own_mail_and_automatic_replies_are_skipped() {
        let inner = inner();
        assert!(inner.inbound(b"From: Bot <BOT@example.com>\r\n\r\nmine", false).is_none());
        assert!(inner.inbound(b"From: a@b.c\r\nAuto-Submitted: auto-replied\r\n\r\naway", false).is_none());
        assert!(inner.inbound(b"no headers at all", false).is_none());
        let plus = inner.inbound(b"From: a@b.c\r\nCc: Bot <bot+team@example.com>\r\n\r\nhi", false).expect("mail");
        assert_eq!((plus.chat_jid.as_str(), plus.is_group), ("email:+team", true));
        let _ = std::fs::remove_dir_all(&inner.dir);
    }
}
