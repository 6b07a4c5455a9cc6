//! Gmail through its REST API (the host's reqwest, rustls). New mail is found by polling
//! `users.history.list` from the last history id handed over (kept in `data/gmail/state.json`
//! once the host has stored each mail); a reply goes in the same thread (`threadId`,
//! `In-Reply-To`, `References`, `Re:`). Chats are `gmail:<sender address>`; only mail with
//! `GMAIL_LABEL` (default INBOX) is read. OAuth 2.0 for installed apps: without a refresh token the channel
//! logs a consent address and waits on a loopback redirect (PKCE S256, a random state); the
//! refresh token is kept owner-only in `data/gmail/token.json`, which no container mounts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use lettre::message::{Mailbox, header::ContentType};
use mail_parser::{MessageParser, MimeHeaders};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::{BoxFuture, Channel, Inbound, Result};
use crate::config::{self, Config};

const POLL: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
const MAX_TEXT: usize = 64 * 1024;
/// The largest answer read (a raw mail, base64): a bigger mail is skipped, never held in memory.
const MAX_BODY: usize = 16 << 20;
const MAX_THREADS: usize = 5000;
const SCOPE: &str = "https://www.googleapis.com/auth/gmail.modify";

pub fn open(config: &Config) -> Result<Box<dyn Channel>> {
    let need = |key: &str| config::env(key)?.ok_or(format!("{key} is not set: add the OAuth client to .env"));
    let url =
        |key: &str, or: &str| Ok::<_, String>(config::env(key)?.unwrap_or(or.into()).trim_end_matches('/').into());
    let threads =
        std::fs::read(config.data_dir.join("gmail/threads.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    Ok(Box::new(Gmail(Arc::new(Inner {
        http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().map_err(|e| format!("gmail: {e}"))?,
        client_id: need("GMAIL_CLIENT_ID")?,
        client_secret: need("GMAIL_CLIENT_SECRET")?,
        urls: [
            url("GMAIL_API_URL", "https://gmail.googleapis.com")?,
            url("GMAIL_TOKEN_URL", "https://oauth2.googleapis.com/token")?,
            url("GMAIL_AUTH_URL", "https://accounts.google.com/o/oauth2/v2/auth")?,
        ],
        port: config::env("GMAIL_OAUTH_PORT")?
            .map_or(Ok(0), |p| p.parse().map_err(|_| format!("GMAIL_OAUTH_PORT {p:?} is not a port")))?,
        label: config::env("GMAIL_LABEL")?.unwrap_or_else(|| "INBOX".into()),
        data_dir: config.data_dir.clone(),
        assistant: config.assistant_name.clone(),
        access: Mutex::new(None),
        me: OnceLock::new(),
        threads: Mutex::new(threads.unwrap_or_default()),
    }))))
}

struct Gmail(Arc<Inner>);

struct Inner {
    http: reqwest::Client,
    client_id: String,
    /// Never logged, like the tokens.
    client_secret: String,
    /// The API root, the token endpoint and the consent page.
    urls: [String; 3],
    port: u16,
    label: String,
    data_dir: PathBuf,
    assistant: String,
    access: Mutex<Option<(String, Instant)>>,
    /// The account's address, from `users.getProfile`.
    me: OnceLock<String>,
    threads: Mutex<BTreeMap<String, Thread>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Thread {
    to: String,
    subject: String,
    message_id: String,
    references: Vec<String>,
    thread_id: String,
}

enum Failure {
    /// The OAuth client or grant was refused: a person must act.
    Credential(String),
    /// 429 or 5xx with Google's `Retry-After`.
    RetryAfter(Duration),
    TooLarge,
    Other(String),
}

type Res<T> = std::result::Result<T, Failure>;

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::Other(format!("{e}"))
    }
}

impl Inner {
    fn save(&self, name: &str, value: &impl Serialize) {
        // The host's umask 077 keeps every file here owner-only.
        let dir = self.data_dir.join("gmail");
        let tmp = dir.join(format!("{name}.tmp"));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&tmp, serde_json::to_vec(value).unwrap_or_default()))
            .and_then(|()| std::fs::rename(&tmp, dir.join(name)));
        if let Err(e) = written {
            tracing::warn!("gmail: writing {name}: {e}");
        }
    }

    fn load(&self, name: &str) -> Option<Value> {
        std::fs::read(self.data_dir.join("gmail").join(name)).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// A call to the token endpoint for `grant` (`grant_type`) with the client's credentials.
    async fn token_call(&self, grant: &str, form: &[(&str, &str)]) -> Res<Value> {
        let mut pairs = vec![("client_id", self.client_id.as_str()), ("client_secret", self.client_secret.as_str())];
        pairs.extend_from_slice(&[&[("grant_type", grant)], form].concat());
        let r = self.http.post(&self.urls[1]).form(&pairs).send().await?;
        let (status, v) = (r.status(), serde_json::from_slice::<Value>(&r.bytes().await?).unwrap_or(Value::Null));
        match (status.is_success(), v["error"].as_str()) {
            (true, _) => Ok(v),
            (_, Some(e @ ("invalid_client" | "invalid_grant" | "unauthorized_client"))) => Err(Failure::Credential(
                format!("the OAuth client or grant was refused ({e}): check GMAIL_CLIENT_ID and GMAIL_CLIENT_SECRET"),
            )),
            (_, e) => Err(Failure::Other(format!("token endpoint: {status} {}", e.unwrap_or("")))),
        }
    }

    /// A current access token, refreshed from the token endpoint a minute before it expires.
    async fn access_token(&self) -> Res<String> {
        if let Some((token, until)) = self.access.lock().unwrap_or_else(|e| e.into_inner()).clone()
            && Instant::now() < until
        {
            return Ok(token);
        }
        let refresh = match self.load("token.json").and_then(|v| v["refresh_token"].as_str().map(str::to_string)) {
            Some(r) => r,
            None => self.authorize().await?,
        };
        let v = self.token_call("refresh_token", &[("refresh_token", &refresh)]).await?;
        let token = v["access_token"].as_str().ok_or("the token endpoint gave no access_token")?.to_string();
        let life = Duration::from_secs(v["expires_in"].as_u64().unwrap_or(3600).saturating_sub(60));
        *self.access.lock().unwrap_or_else(|e| e.into_inner()) = Some((token.clone(), Instant::now() + life));
        Ok(token)
    }

    /// OAuth for installed apps: logs the consent address, waits for Google's redirect to a
    /// loopback port, checks the state, exchanges the code with its PKCE verifier and keeps the
    /// refresh token. Returns it.
    async fn authorize(&self) -> Res<String> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await?;
        let redirect = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let (verifier, state) = (random()?, random()?);
        let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
        // The state and the challenge are base64url: nothing to escape.
        let (id, uri, scope) = (enc(&self.client_id), enc(&redirect), enc(SCOPE));
        let query = format!(
            "client_id={id}&redirect_uri={uri}&response_type=code&scope={scope}&state={state}&code_challenge={challenge}&code_challenge_method=S256&access_type=offline&prompt=consent"
        );
        tracing::warn!("gmail: not authorized yet: open {}?{query} in a browser on this machine", self.urls[2]);
        super::report(&self.data_dir, "gmail", false, "not authorized yet: open the consent address in the host's log");
        loop {
            let (mut conn, _) = listener.accept().await?;
            // One request line, read within 10 s: `GET /?state=...&code=... HTTP/1.1`.
            let mut buf = vec![0; 8192];
            let read = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await;
            let line = String::from_utf8_lossy(&buf[..read.map_or(0, |r| r.unwrap_or(0))]);
            let query = line.split(' ').nth(1).and_then(|target| target.split_once('?')).unwrap_or_default().1;
            let q: BTreeMap<_, _> = form_urlencoded::parse(query.as_bytes()).collect();
            let code = q.get("code").filter(|_| q.get("state").is_some_and(|s| *s == state));
            let answer = if code.is_some() { "Gmail is connected; you may close this tab." } else { "Not connected." };
            let _ = conn.write_all(format!("HTTP/1.0 200 OK\r\n\r\n{answer}\n").as_bytes()).await;
            let Some(code) = code else { continue };
            let form = [("code", code.as_ref()), ("code_verifier", &verifier), ("redirect_uri", &redirect)];
            let v = self.token_call("authorization_code", &form).await?;
            let refresh = v["refresh_token"].as_str().ok_or("the token endpoint gave no refresh_token")?.to_string();
            self.save("token.json", &json!({ "refresh_token": refresh }));
            tracing::info!("gmail: authorized; the refresh token is kept in data/gmail/token.json");
            return Ok(refresh);
        }
    }

    /// One API call; a 401 drops the access token so the next call refreshes it.
    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Res<Value> {
        let url = format!("{}/gmail/v1/users/me/{path}", self.urls[0]);
        let mut req = self.http.request(method, url).bearer_auth(self.access_token().await?);
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body.to_string());
        }
        let mut r = req.send().await?;
        let status = r.status().as_u16();
        let wait = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(5);
        let mut body = Vec::new();
        while let Some(chunk) = r.chunk().await? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                return Err(Failure::TooLarge);
            }
        }
        let v = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
        let why = || format!("{path}: HTTP {status} {}", v["error"]["message"].as_str().unwrap_or(""));
        match status {
            200..=299 => Ok(v),
            401 => {
                *self.access.lock().unwrap_or_else(|e| e.into_inner()) = None;
                Err(Failure::Other(why()))
            }
            429 | 500..=599 => Err(Failure::RetryAfter(Duration::from_secs(wait).min(MAX_BACKOFF))),
            _ => Err(Failure::Other(why())),
        }
    }

    /// Polls forever; a change of state (up, or an error) is logged and reported once; errors are
    /// retried with backoff, a refused credential at the longest interval.
    async fn run(self: Arc<Self>, inbound: mpsc::Sender<Inbound>) {
        let (mut failures, mut last) = (0u32, String::from("starting"));
        loop {
            let (error, wait) = match self.poll(&inbound).await {
                Ok(false) => return,
                Ok(true) => (String::new(), POLL),
                Err(Failure::Credential(why)) => (why, MAX_BACKOFF),
                Err(Failure::RetryAfter(d)) => (format!("rate limited or unavailable; waiting {} s", d.as_secs()), d),
                Err(Failure::TooLarge) => ("an answer was too large".into(), MAX_BACKOFF),
                Err(Failure::Other(why)) => (why, Duration::from_secs(2 << failures.min(8)).min(MAX_BACKOFF)),
            };
            failures = if error.is_empty() { 0 } else { failures + 1 };
            if error != last {
                match error.as_str() {
                    "" => tracing::info!("gmail: polling"),
                    _ => tracing::error!("gmail: {error}; retrying in {} s", wait.as_secs()),
                }
                let detail = if error.is_empty() { "polling" } else { &error };
                super::report(&self.data_dir, "gmail", error.is_empty(), detail);
                last = error;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Hands every mail added since the saved history id to the host. `false` when it is gone.
    async fn poll(&self, inbound: &mpsc::Sender<Inbound>) -> Res<bool> {
        if self.me.get().is_none() {
            let profile = self.api(reqwest::Method::GET, "profile", None).await?;
            let _ = self.me.set(profile["emailAddress"].as_str().unwrap_or("").to_ascii_lowercase());
            tracing::info!("gmail: connected");
        }
        let Some(mut start) = self.load("state.json").and_then(|s| s["history_id"].as_str().map(str::to_string)) else {
            // The first start, or history lost: read what arrives from now on.
            let profile = self.api(reqwest::Method::GET, "profile", None).await?;
            self.save("state.json", &json!({ "history_id": profile["historyId"] }));
            return Ok(true);
        };
        let mut page = String::new();
        loop {
            let (label, token) = (enc(&self.label), enc(&page));
            let path =
                format!("history?startHistoryId={start}&historyTypes=messageAdded&labelId={label}&pageToken={token}");
            let v = match self.api(reqwest::Method::GET, &path, None).await {
                Err(Failure::Other(why)) if why.contains("HTTP 404") => {
                    tracing::warn!("gmail: the saved history id is too old; reading from now on");
                    self.save("state.json", &json!({}));
                    return Ok(true);
                }
                v => v?,
            };
            let records = v["history"].as_array().into_iter().flatten();
            let added = records.flat_map(|h| h["messagesAdded"].as_array().into_iter().flatten());
            let mut ids: Vec<String> = added.filter_map(|a| a["message"]["id"].as_str().map(str::to_string)).collect();
            ids.dedup();
            for id in ids {
                let m = match self.api(reqwest::Method::GET, &format!("messages/{id}?format=raw"), None).await {
                    Err(Failure::TooLarge) => {
                        tracing::warn!("gmail: mail {id} is over {} MB: not read", MAX_BODY >> 20);
                        continue;
                    }
                    m => m?,
                };
                let raw =
                    URL_SAFE_NO_PAD.decode(m["raw"].as_str().unwrap_or("").trim_end_matches('=')).unwrap_or_default();
                // The account's own mail (its replies) is never an inbound message.
                if m["labelIds"].as_array().is_some_and(|l| l.iter().any(|l| l == "SENT" || l == "DRAFT")) {
                    continue;
                }
                let Some(msg) = self.inbound(&raw, m["threadId"].as_str().unwrap_or("")) else { continue };
                let (ack, stored) = oneshot::channel();
                if inbound.send(Inbound { stored: Some(ack), ..msg }).await.is_err() || stored.await.is_err() {
                    return Ok(false);
                }
            }
            start = v["historyId"].as_str().unwrap_or(&start).to_string();
            page = v["nextPageToken"].as_str().unwrap_or("").to_string();
            if page.is_empty() {
                self.save("state.json", &json!({ "history_id": start }));
                return Ok(true);
            }
        }
    }

    /// Maps a mail to its chat and remembers it as the thread a reply answers. `None` for the
    /// account's own mail, automatic replies and mail without a sender.
    fn inbound(&self, raw: &[u8], thread_id: &str) -> Option<Inbound> {
        let m = MessageParser::default().parse(raw)?;
        let from = m.from().and_then(|a| a.first())?;
        let sender = from.address()?.to_ascii_lowercase();
        let auto = m.header("Auto-Submitted").and_then(|v| v.as_text()).is_some_and(|v| !v.eq_ignore_ascii_case("no"));
        if Some(&sender) == self.me.get() || auto || sender.parse::<Mailbox>().is_err() {
            return None;
        }
        let chat_jid = format!("gmail:{sender}");
        let subject = clean(m.subject().unwrap_or(""), 200);
        let message_id = m.message_id().map(clean_id).unwrap_or_default();
        // Without References, the parent's In-Reply-To stands in (RFC 5322 3.6.4).
        let refs = m.header_raw("References").or(m.header_raw("In-Reply-To")).unwrap_or("");
        let mut references: Vec<String> = refs.split_whitespace().map(clean_id).filter(|r| !r.is_empty()).collect();
        let body = m.body_text(0).unwrap_or_default();
        let mut text: String = body.trim().chars().take(MAX_TEXT).collect();
        if text.len() < body.trim().len() {
            text.push_str(&format!("\n[the rest of this mail was not read: it is over {} KB]", MAX_TEXT / 1024));
        }
        for part in m.attachments() {
            let kind = part
                .content_type()
                .map_or("application/octet-stream".into(), |c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("*")));
            let name = clean(part.attachment_name().unwrap_or("unnamed"), 100);
            text.push_str(&format!("\n[attachment: {name} ({kind}, {} KB)]", part.len().div_ceil(1024)));
        }
        references.drain(..references.len().saturating_sub(20));
        let external_id =
            Some(if message_id.is_empty() { format!("{thread_id}:{}", raw.len()) } else { message_id.clone() });
        let t = Thread { to: sender, subject, message_id, references, thread_id: thread_id.into() };
        let mut threads = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        if threads.len() >= MAX_THREADS && !threads.contains_key(&chat_jid) {
            threads.pop_first();
        }
        threads.insert(chat_jid.clone(), t.clone());
        self.save("threads.json", &*threads);
        let name = from.name().map(|n| clean(n, 100)).unwrap_or_else(|| t.to.clone());
        Some(Inbound {
            chat_name: Some(name.clone()),
            sender: t.to,
            sender_name: name,
            text: if t.subject.is_empty() { text } else { format!("[subject: {}] {text}", t.subject) },
            ts: m.date().map(|d| d.to_rfc3339()).unwrap_or_else(|| chrono::Utc::now().to_rfc3339()),
            external_id,
            chat_jid,
            ..Inbound::default()
        })
    }

    /// `messages.send` body: the reply to the chat's last mail, in its thread; a chat with no
    /// mail yet gets a new one.
    fn reply(&self, chat_jid: &str, text: &str) -> Result<Value> {
        // A chat with no mail yet: a new mail to the address the chat is named for.
        let known = self.threads.lock().unwrap_or_else(|e| e.into_inner()).get(chat_jid).cloned();
        let to = chat_jid.strip_prefix("gmail:").unwrap_or(chat_jid);
        let thread = known.unwrap_or_else(|| Thread { to: to.into(), ..Thread::default() });
        let to: Mailbox = thread.to.parse().map_err(|e| format!("gmail: {chat_jid}: {e}"))?;
        let subject = match clean(&thread.subject, 200) {
            s if s.is_empty() => self.assistant.clone(),
            s if s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:")) => s,
            s => format!("Re: {s}"),
        };
        let me = self.me.get().ok_or("gmail: not connected yet")?;
        let from: Mailbox = me.parse().map_err(|e| format!("gmail: the account address: {e}"))?;
        let mut mail = lettre::Message::builder().from(from).to(to).subject(subject);
        if !thread.message_id.is_empty() {
            let refs: Vec<String> =
                thread.references.iter().chain([&thread.message_id]).map(|r| format!("<{r}>")).collect();
            mail = mail.in_reply_to(format!("<{}>", thread.message_id)).references(refs.join(" "));
        }
        let mail = mail.header(ContentType::TEXT_PLAIN).body(text.to_string()).map_err(|e| format!("gmail: {e}"))?;
        let mut body = json!({ "raw": URL_SAFE.encode(mail.formatted()) });
        if !thread.thread_id.is_empty() {
            body["threadId"] = json!(thread.thread_id);
        }
        Ok(body)
    }
}

impl Channel for Gmail {
    fn name(&self) -> &'static str {
        "gmail"
    }

    fn max_message_len(&self) -> usize {
        100_000
    }

    fn connect(&self, inbound: mpsc::Sender<Inbound>) -> BoxFuture<'_, Result<()>> {
        // Never fails: a missing consent, a refused client or an outage is reported and retried.
        tokio::spawn(self.0.clone().run(inbound));
        Box::pin(async { Ok(()) })
    }

    fn send<'a>(&'a self, chat_jid: &'a str, text: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let body = self.0.reply(chat_jid, text)?;
            for attempt in 1..=3 {
                match self.0.api(reqwest::Method::POST, "messages/send", Some(body.clone())).await {
                    Ok(_) => return Ok(()),
                    Err(Failure::RetryAfter(d)) if attempt < 3 => tokio::time::sleep(d).await,
                    Err(Failure::Other(_)) if attempt < 3 => tokio::time::sleep(Duration::from_secs(1)).await,
                    Err(Failure::Credential(e) | Failure::Other(e)) => return Err(format!("gmail: sending: {e}")),
                    Err(Failure::RetryAfter(_) | Failure::TooLarge) => return Err("gmail: sending: refused".into()),
                }
            }
            Ok(())
        })
    }
}

/// Text from a header, on one line, without control characters, cut to `max` characters.
fn clean(text: &str, max: usize) -> String {
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(max).collect();
    one_line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A message id without what could break out of `<...>` in a header.
fn clean_id(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\')).take(250).collect()
}

/// 32 random bytes, base64url: a PKCE verifier or an OAuth state.
fn random() -> Res<String> {
    let bytes: [u8; 32] = ring::rand::generate(&ring::rand::SystemRandom::new()).map_err(|_| "no randomness")?.expose();
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner() -> Inner {
        let dir = std::env::temp_dir().join(format!("claw-gmail-test-{}", std::process::id()));
        let me = OnceLock::new();
        let _ = me.set("bot@gmail.com".to_string());
        Inner {
            http: reqwest::Client::new(),
            client_id: "id".into(),
            client_secret: "secret".into(),
            urls: ["http://127.0.0.1:1".into(), "http://127.0.0.1:1/token".into(), "http://127.0.0.1:1/auth".into()],
            port: 0,
            label: "INBOX".into(),
            data_dir: dir,
            assistant: "Andy".into(),
            access: Mutex::new(None),
            me,
            threads: Mutex::new(BTreeMap::new()),
        }
    }

    fn raw(body: &Value) -> String {
        let b64 = body["raw"].as_str().unwrap_or("");
        String::from_utf8_lossy(&URL_SAFE.decode(b64).unwrap_or_default()).into_owned()
    }

    #[test]
    fn a_reply_goes_in_the_thread_and_no_text_adds_a_header() {
        let inner = inner();
        let mail = "From: Eve <eve@example.org>\r\nSubject: =?utf-8?b?SGkNCkJjYzogdmljdGltQGV2aWwuZXhhbXBsZQ==?=\r\n\
                    Message-ID: <a>\r\nReferences: <r1>\r\n <r2\"x>\r\n\r\nbody";
        let msg = inner.inbound(mail.as_bytes(), "t1").expect("a mail");
        assert_eq!((msg.chat_jid.as_str(), msg.sender.as_str()), ("gmail:eve@example.org", "eve@example.org"));
        let body = inner.reply("gmail:eve@example.org", "the answer\r\nBcc: more@evil").expect("reply");
        assert_eq!(body["threadId"], "t1");
        let mail = raw(&body);
        let head = mail.split("\r\n\r\n").next().unwrap_or("");
        assert!(head.lines().all(|l| !l.starts_with("Bcc")), "{mail}");
        assert!(head.contains("In-Reply-To: <a>") && head.contains("References: <r1> <r2x> <a>"), "{mail}");
        assert!(head.contains("From: bot@gmail.com") && head.contains("Subject: Re: Hi Bcc: victim@evil.example"));
        let fresh = inner.reply("gmail:ann@example.org", "hello").expect("a new mail");
        assert!(fresh.get("threadId").is_none() && raw(&fresh).contains("Subject: Andy"));
        assert!(inner.reply("gmail:not an address", "hello").is_err());
        let _ = std::fs::remove_dir_all(inner.data_dir.join("gmail"));
    }

    #[test]
    fn own_mail_and_automatic_replies_are_skipped() {
        let inner = inner();
        assert!(inner.inbound(b"From: Bot <BOT@gmail.com>\r\n\r\nmine", "t").is_none());
        assert!(inner.inbound(b"From: a@b.c\r\nAuto-Submitted: auto-replied\r\n\r\naway", "t").is_none());
        assert!(inner.inbound(b"not a mail", "t").is_none());
        let _ = std::fs::remove_dir_all(inner.data_dir.join("gmail"));
    }
}
