//! Slack through Socket Mode (no public address): `apps.connections.open` with the app-level
//! token gives a websocket URL; Slack sends `hello`, then envelopes, each acknowledged by its
//! `envelope_id` once the host has stored the message (so Slack redelivers what a crash lost), and
//! `disconnect` when it wants a fresh connection. Replies go through the Web API
//! (`chat.postMessage`) with the bot token, honouring 429 `Retry-After`.
//!
//! Chats are `slack:<channel id>` (public and private channels, DMs, group DMs). A thread is part
//! of its channel's chat: the agent sees the channel's messages together, and a reply goes to the
//! thread of the latest message that came in on that channel (top level if that one was).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::{Message, protocol::WebSocketConfig};

use super::{BoxFuture, Channel, Inbound, Result};
use crate::config::{self, Config};

const MAX_BACKOFF: Duration = Duration::from_secs(300); // the longest wait after errors
const SEND_ATTEMPTS: u32 = 4; // sends tried when Slack answers 429
const STEADY: Duration = Duration::from_secs(60); // a session this long starts the backoff over
/// Slack pings the socket about every 30 s: this long without a frame means the link is dead.
const SILENCE: Duration = Duration::from_secs(120);
/// Envelopes are a few KiB; anything near this is not Slack.
const MAX_FRAME: usize = 1 << 20;

pub fn open(config: &Config) -> Result<Box<dyn Channel>> {
    let bot_token = config::env("SLACK_BOT_TOKEN")?
        .ok_or("SLACK_BOT_TOKEN is not set: add the app's bot token (xoxb-…) to .env")?;
    let app_token = config::env("SLACK_APP_TOKEN")?
        .ok_or("SLACK_APP_TOKEN is not set: add the app-level token (xapp-…, scope connections:write) to .env")?;
    if !bot_token.starts_with("xoxb-") || !app_token.starts_with("xapp-") {
        return Err(
            "SLACK_BOT_TOKEN must be the bot token (xoxb-…) and SLACK_APP_TOKEN the app-level token (xapp-…)".into()
        );
    }
    let api = config::env("SLACK_API_URL")?.unwrap_or_else(|| "https://slack.com/api".into());
    let http =
        reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| format!("slack: {e}"))?;
    Ok(Box::new(Slack(Arc::new(App {
        http,
        api: api.trim_end_matches('/').to_string(),
        bot_token,
        app_token,
        assistant: config.assistant_name.clone(),
        data_dir: config.data_dir.clone(),
        me: OnceLock::new(),
        names: Mutex::default(),
        threads: Mutex::default(),
    }))))
}

struct Slack(Arc<App>);

struct App {
    http: reqwest::Client,
    api: String,
    /// Never logged.
    bot_token: String,
    app_token: String,
    assistant: String,
    data_dir: std::path::PathBuf,
    /// The bot's own ids, from `auth.test`.
    me: OnceLock<Me>,
    /// Channel and user names by id, from `conversations.info` and `users.info`.
    names: Mutex<HashMap<String, String>>,
    /// Per channel, the thread of the latest inbound message (`None`: top level).
    threads: Mutex<HashMap<String, Option<String>>>,
}

#[derive(Deserialize)]
struct Me {
    user_id: String,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    user: String,
}

/// A message event (`message.channels`, `message.groups`, `message.im`, `message.mpim`).
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    subtype: Option<String>,
    channel: Option<String>,
    user: Option<String>,
    bot_id: Option<String>,
    #[serde(default)]
    text: String,
    ts: Option<String>,
    thread_ts: Option<String>,
    channel_type: Option<String>,
    #[serde(default)]
    files: Vec<Value>,
}

#[derive(Debug)]
enum Failure {
    /// 429: wait as long as Slack says.
    RetryAfter(Duration),
    /// The token (named by its variable) was refused; retrying soon will not help.
    BadToken(&'static str, String),
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::RetryAfter(d) => write!(f, "rate limited for {} s", d.as_secs()),
            Failure::BadToken(var, why) => write!(f, "the token was refused ({why}); check {var}"),
            Failure::Other(why) => f.write_str(why),
        }
    }
}

impl App {
    /// One Web API call (form-encoded, token in the `Authorization` header).
    async fn call(
        &self,
        method: &str,
        app_level: bool,
        params: &[(&str, &str)],
    ) -> std::result::Result<Value, Failure> {
        let (token, var) =
            if app_level { (&self.app_token, "SLACK_APP_TOKEN") } else { (&self.bot_token, "SLACK_BOT_TOKEN") };
        let response = self
            .http
            .post(format!("{}/{method}", self.api))
            .bearer_auth(token)
            .form(params)
            .send()
            .await
            .map_err(|e| Failure::Other(format!("{method}: {}", e.without_url())))?;
        if response.status().as_u16() == 429 {
            let secs = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
            return Err(Failure::RetryAfter(Duration::from_secs(secs.unwrap_or(1)).min(MAX_BACKOFF)));
        }
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| Failure::Other(format!("{method}: {}", e.without_url())))?;
        let body: Value = serde_json::from_slice(&bytes)
            .map_err(|_| Failure::Other(format!("{method}: HTTP {status}, not a Web API answer")))?;
        if body["ok"] == true {
            return Ok(body);
        }
        let error = body["error"].as_str().unwrap_or("unknown_error").to_string();
        Err(match error.as_str() {
            "invalid_auth"
            | "not_authed"
            | "account_inactive"
            | "token_revoked"
            | "token_expired"
            | "not_allowed_token_type" => Failure::BadToken(var, error),
            "ratelimited" => Failure::RetryAfter(Duration::from_secs(1)),
            _ => Failure::Other(format!("{method}: {error}")),
        })
    }

    async fn post(&self, channel: &str, thread: Option<&str>, text: &str) -> std::result::Result<(), Failure> {
        let mut params = vec![("channel", channel), ("text", text)];
        params.extend(thread.map(|t| ("thread_ts", t)));
        let mut attempt = 1;
        loop {
            match self.call("chat.postMessage", false, &params).await {
                Err(Failure::RetryAfter(wait)) if attempt < SEND_ATTEMPTS => tokio::time::sleep(wait).await,
                other => return other.map(drop),
            }
            attempt += 1;
        }
    }

    /// A channel's or user's name, asked once and remembered.
    async fn name(&self, method: &str, key: &str, id: &str) -> Option<String> {
        if let Some(name) = self.names.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Some(name.clone());
        }
        let found = self.call(method, false, &[(key, id)]).await.ok()?;
        let item = &found[if key == "user" { "user" } else { "channel" }];
        let name = [&item["real_name"], &item["profile"]["display_name"], &item["name"]]
            .into_iter()
            .find_map(|v| v.as_str().filter(|s| !s.is_empty()))?
            .to_string();
        self.names.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), name.clone());
        Some(name)
    }

    /// Runs forever: connects, serves the socket until Slack asks for a new one, reconnects.
    /// Errors are logged when they change and retried with backoff; a refused token is one clear
    /// error, then quiet retries at the longest interval.
    async fn run(self: Arc<Self>, inbound: mpsc::Sender<Inbound>) {
        let (mut failures, mut last_error) = (0u32, String::new());
        loop {
            let started = std::time::Instant::now();
            let result = self.session(&inbound).await;
            if inbound.is_closed() {
                return;
            }
            let wait = match result {
                Ok(()) if started.elapsed() >= STEADY => {
                    (failures, last_error) = (0, String::new());
                    Duration::from_secs(1)
                }
                // Up, then dropped at once: backed off like a failure, or it would loop each second.
                Ok(()) => {
                    failures += 1;
                    tracing::warn!(
                        "slack: the connection ended within a minute; again in {} s",
                        backoff(failures).as_secs()
                    );
                    backoff(failures)
                }
                Err(e) => {
                    failures += 1;
                    let wait = match &e {
                        Failure::RetryAfter(d) => *d,
                        Failure::BadToken(..) => MAX_BACKOFF,
                        Failure::Other(_) => backoff(failures),
                    };
                    let text = e.to_string();
                    if text != last_error {
                        tracing::error!("slack: {text}; retrying in {} s", wait.as_secs());
                        super::report(&self.data_dir, "slack", false, &text);
                        last_error = text;
                    }
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// One Socket Mode connection: `Ok` when it served and Slack (or the host) ended it.
    async fn session(&self, inbound: &mpsc::Sender<Inbound>) -> std::result::Result<(), Failure> {
        if self.me.get().is_none() {
            let me = self.call("auth.test", false, &[]).await?;
            let me: Me = serde_json::from_value(me).map_err(|e| Failure::Other(format!("auth.test: {e}")))?;
            let _ = self.me.set(me);
        }
        let url = self.call("apps.connections.open", true, &[]).await?["url"].as_str().unwrap_or("").to_string();
        let config = WebSocketConfig::default().max_message_size(Some(MAX_FRAME)).max_frame_size(Some(MAX_FRAME));
        let connect = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false);
        let (mut socket, _) = tokio::time::timeout(Duration::from_secs(30), connect)
            .await
            .map_err(|_| Failure::Other("socket mode: connecting timed out".into()))?
            // The URL carries a ticket: never printed.
            .map_err(|e| Failure::Other(format!("socket mode: {}", without_url(&e))))?;
        let mut greeted = false;
        loop {
            let frame = match tokio::time::timeout(SILENCE, socket.next()).await {
                Ok(Some(Ok(frame))) => frame,
                Ok(Some(Err(e))) => return ended(greeted, &format!("socket mode: {}", without_url(&e))),
                Ok(None) => return ended(greeted, "socket mode: closed"),
                Err(_) => return ended(greeted, "socket mode: silent for two minutes"),
            };
            let text = match frame {
                Message::Text(text) => text,
                Message::Close(_) => return ended(greeted, "socket mode: closed by Slack"),
                _ => continue,
            };
            let Ok(envelope) = serde_json::from_str::<Value>(&text) else {
                tracing::warn!("slack: ignoring a frame that is not JSON ({} bytes)", text.len());
                continue;
            };
            match envelope["type"].as_str().unwrap_or("") {
                "hello" => {
                    greeted = true;
                    let me = self.me.get().map_or("", |m| m.user.as_str());
                    tracing::info!(bot = me, "slack: connected");
                    super::report(&self.data_dir, "slack", true, "socket mode connected");
                }
                "disconnect" => return Ok(()),
                kind => {
                    let Some(id) = envelope["envelope_id"].as_str() else { continue };
                    let payload = match kind {
                        "events_api" => self.event(&envelope["payload"]["event"], inbound).await,
                        "slash_commands" => self.command(&envelope["payload"]),
                        _ => None,
                    };
                    let mut ack = json!({ "envelope_id": id });
                    if let Some(payload) = payload {
                        ack["payload"] = payload;
                    }
                    if let Err(e) = socket.send(Message::text(ack.to_string())).await {
                        return ended(greeted, &format!("socket mode: {}", without_url(&e)));
                    }
                }
            }
            if inbound.is_closed() {
                return Ok(());
            }
        }
    }

    /// Stores a person's message (waiting until it is durable, so the ack means stored).
    async fn event(&self, event: &Value, inbound: &mpsc::Sender<Inbound>) -> Option<Value> {
        let event = Event::deserialize(event).ok()?;
        let msg = self.inbound(event).await?;
        let (ack, stored) = oneshot::channel();
        inbound.send(Inbound { stored: Some(ack), ..msg }).await.ok()?;
        let _ = stored.await;
        None
    }

    /// `/chatid` and `/ping`, answered privately through the acknowledgement.
    fn command(&self, payload: &Value) -> Option<Value> {
        let channel = payload["channel_id"].as_str().unwrap_or("");
        let text = match payload["command"].as_str()? {
            "/chatid" => format!("This chat is slack:{channel}"),
            "/ping" => format!("{} is online", self.assistant),
            _ => return None,
        };
        Some(json!({ "text": text }))
    }

    /// Maps a person's message; drops edits, deletions, joins and the bot's own messages.
    async fn inbound(&self, e: Event) -> Option<Inbound> {
        let me = self.me.get()?;
        let plain = matches!(e.subtype.as_deref(), None | Some("thread_broadcast" | "file_share" | "me_message"));
        let own = e.user.as_ref() == Some(&me.user_id) || (e.bot_id.is_some() && e.bot_id == me.bot_id);
        if own || e.kind != "message" || !plain {
            return None;
        }
        let (user, channel, ts) = (e.user?, e.channel.filter(|c| is_id(c))?, e.ts?);
        let is_dm = e.channel_type.as_deref() == Some("im");
        self.threads.lock().unwrap_or_else(|e| e.into_inner()).insert(channel.clone(), e.thread_ts);
        let sender_name = self.name("users.info", "user", &user).await.unwrap_or_else(|| user.clone());
        let chat_name = match is_dm {
            true => Some(sender_name.clone()),
            false => self.name("conversations.info", "channel", &channel).await,
        };
        let files = e.files.iter().map(|f| format!("[file: {}]", f["name"].as_str().unwrap_or("unnamed")));
        let text = [mention_to_trigger(&e.text, &me.user_id, &self.assistant)].into_iter().chain(files);
        let seconds = ts.split('.').next().and_then(|s| s.parse().ok()).unwrap_or(0);
        Some(Inbound {
            chat_jid: format!("slack:{channel}"),
            chat_name,
            is_group: !is_dm,
            sender: user,
            sender_name,
            text: text.filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" "),
            ts: chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default().to_rfc3339(),
            is_from_me: false,
            external_id: Some(format!("{channel}:{ts}")),
            stored: None,
        })
    }
}

impl Channel for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn max_message_len(&self) -> usize {
        // chat.postMessage takes 40,000; Slack advises at most 4,000 for a readable message.
        4000
    }

    fn connect(&self, inbound: mpsc::Sender<Inbound>) -> BoxFuture<'_, Result<()>> {
        // Never fails: a bad token or an outage is reported and retried, not a crash loop.
        tokio::spawn(self.0.clone().run(inbound));
        Box::pin(async { Ok(()) })
    }

    fn send<'a>(&'a self, chat_jid: &'a str, text: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let channel = chat_jid
                .strip_prefix("slack:")
                .filter(|c| is_id(c))
                .ok_or_else(|| format!("slack: {chat_jid} is not a Slack chat"))?;
            let thread = self.0.threads.lock().unwrap_or_else(|e| e.into_inner()).get(channel).cloned().flatten();
            self.0.post(channel, thread.as_deref(), &mrkdwn(text)).await.map_err(|e| format!("slack: {e}"))
        })
    }
}

/// A session that ended before `hello` failed; one that served ends normally (reconnect soon).
fn ended(greeted: bool, why: &str) -> std::result::Result<(), Failure> {
    if greeted { Ok(()) } else { Err(Failure::Other(why.to_string())) }
}

/// A websocket error without the URL it may carry (its ticket lets anyone attach).
fn without_url(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Url(_) => "the socket URL from apps.connections.open is not usable".into(),
        Error::Http(response) => format!("HTTP {}", response.status()),
        other => other.to_string(),
    }
}

/// Slack ids are short and alphanumeric: anything else in an envelope is forged or broken.
fn is_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(9)).min(MAX_BACKOFF)
}

/// Slack's markup arrives escaped: `<@U123>` (or `<@U123|name>`) for the bot becomes the trigger
/// at the start; `&lt;`, `&gt;` and `&amp;` become the characters a person typed.
fn mention_to_trigger(text: &str, bot: &str, assistant: &str) -> String {
    let mention = format!("<@{bot}");
    let (mut rest, mut out, mut found) = (text, String::new(), false);
    while let Some(at) = rest.find(&mention) {
        let after = &rest[at + mention.len()..];
        match (after.starts_with(['>', '|']), after.find('>')) {
            (true, Some(end)) => {
                out.push_str(&rest[..at]);
                rest = &after[end + 1..];
                found = true;
            }
            _ => {
                out.push_str(&rest[..at + mention.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    let out = out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    match found {
        true => format!("@{assistant} {}", out.split_whitespace().collect::<Vec<_>>().join(" ")),
        false => out,
    }
}

/// The agent writes Markdown; Slack reads mrkdwn, where `&`, `<` and `>` are markup (`<!channel>`
/// would ping everyone): escape them, and make `**bold**` Slack's `*bold*`.
fn mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace("**", "*").replace("~~", "~")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mention_of_the_bot_becomes_the_trigger() {
        assert_eq!(mention_to_trigger("<@UBOT> what time is it?", "UBOT", "Andy"), "@Andy what time is it?");
        assert_eq!(mention_to_trigger("hey <@UBOT|claw>, lunch?", "UBOT", "Andy"), "@Andy hey , lunch?");
        assert_eq!(mention_to_trigger("ask <@UOTHER> &amp; me", "UBOT", "Andy"), "ask <@UOTHER> & me");
        assert_eq!(mention_to_trigger("<@UBOTX> is someone else", "UBOT", "Andy"), "<@UBOTX> is someone else");
    }

    #[test]
    fn a_typed_mention_is_text_not_a_trigger() {
        // A person who types `<@UBOT>` sends it escaped: it must not count as a mention.
        assert_eq!(mention_to_trigger("&lt;@UBOT&gt; hi", "UBOT", "Andy"), "<@UBOT> hi");
        assert_eq!(mention_to_trigger("<@UBOT", "UBOT", "Andy"), "<@UBOT");
    }

    #[test]
    fn replies_cannot_carry_slack_markup() {
        assert_eq!(mrkdwn("<!channel> & <@U1> **hi**"), "&lt;!channel&gt; &amp; &lt;@U1&gt; *hi*");
    }

    #[test]
    fn message_events_map_and_the_rest_is_dropped() {
        let event = |v: Value| Event::deserialize(&v).expect("an event");
        let e = event(json!({ "type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1.2",
            "channel_type": "channel", "files": [{ "name": "plan.pdf" }] }));
        assert_eq!(e.files.len(), 1);
        assert!(event(json!({ "type": "message", "subtype": "message_changed" })).subtype.is_some());
    }
}
