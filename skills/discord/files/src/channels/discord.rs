//! Discord: the gateway websocket (heartbeats with jitter; Identify, or Resume by session id and
//! sequence so a dropped connection loses nothing; opcodes 7 and 9 and a missing ACK reconnect)
//! and REST (`POST /channels/{id}/messages`, 2,000 characters, rate-limit buckets and 429s).
//! Chats are `discord:<channel id>` (a guild channel or a DM); `/chatid` and `/ping` are answered
//! here; the bot's mention becomes the assistant's trigger.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Message, protocol::WebSocketConfig};

use super::{BoxFuture, Channel, Inbound, Result};
use crate::config::{self, Config};

/// GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES and MESSAGE_CONTENT (privileged: enable it for the bot).
const INTENTS: u64 = 1 | 1 << 9 | 1 << 12 | 1 << 15;
const MAX_BACKOFF: Duration = Duration::from_secs(300);
const SEND_ATTEMPTS: u32 = 4;
const STEADY: Duration = Duration::from_secs(60); // a connection this long starts the backoff over
const MAX_FRAME: usize = 8 << 20; // a big guild's GUILD_CREATE fits; past this is not Discord
const LIMIT: usize = 2000;

pub fn open(config: &Config) -> Result<Box<dyn Channel>> {
    let token = config::env("DISCORD_BOT_TOKEN")?
        .ok_or("DISCORD_BOT_TOKEN is not set: add the bot's token (Developer Portal, Bot page) to .env")?;
    let api = config::env("DISCORD_API_URL")?.unwrap_or_else(|| "https://discord.com/api/v10".into());
    let http =
        reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| format!("discord: {e}"))?;
    Ok(Box::new(Discord(Arc::new(Bot {
        http,
        api: api.trim_end_matches('/').to_string(),
        token,
        assistant: config.assistant_name.clone(),
        data_dir: config.data_dir.clone(),
        me: OnceLock::new(),
        names: Mutex::default(),
        buckets: Mutex::default(),
    }))))
}

struct Discord(Arc<Bot>);

struct Bot {
    http: reqwest::Client,
    api: String,
    /// Never logged.
    token: String,
    assistant: String,
    data_dir: std::path::PathBuf,
    me: OnceLock<String>,                     // the bot's user id, from READY
    names: Mutex<HashMap<String, String>>,    // guild channel names by id, from GUILD_CREATE
    buckets: Mutex<HashMap<String, Instant>>, // per channel: no send before (its bucket is empty)
}

struct Session {
    id: String,
    url: String,
    seq: Option<u64>,
}

#[derive(Deserialize)]
struct Msg {
    id: String,
    channel_id: String,
    guild_id: Option<String>,
    author: Author,
    content: String,
    timestamp: String,
    attachments: Vec<Value>,
}

#[derive(Deserialize)]
struct Author {
    id: String,
    username: String,
    global_name: Option<String>,
}

#[derive(Debug)]
enum Failure {
    RetryAfter(Duration),
    /// Retrying soon will not help: a refused token, intents the bot may not have.
    Fatal(String),
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::RetryAfter(d) => write!(f, "rate limited for {} ms", d.as_millis()),
            Failure::Fatal(why) | Failure::Other(why) => f.write_str(why),
        }
    }
}

type Res<T> = std::result::Result<T, Failure>;

const BAD_TOKEN: &str = "the bot token was refused; check DISCORD_BOT_TOKEN";

impl Bot {
    /// One REST call. `bucket` (a channel id) is waited out when Discord said it is empty.
    async fn rest(&self, method: Method, path: &str, body: Option<Value>, bucket: &str) -> Res<Value> {
        let ready = self.buckets.lock().unwrap_or_else(|e| e.into_inner()).get(bucket).copied();
        if let Some(at) = ready {
            tokio::time::sleep_until(at).await;
        }
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .header("authorization", format!("Bot {}", self.token));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.map_err(|e| Failure::Other(format!("{path}: {}", e.without_url())))?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()?.parse::<f64>().ok());
        if header("x-ratelimit-remaining") == Some(0.0) {
            let wait = Duration::from_secs_f64(header("x-ratelimit-reset-after").unwrap_or(1.0).clamp(0.0, 60.0));
            self.buckets.lock().unwrap_or_else(|e| e.into_inner()).insert(bucket.into(), Instant::now() + wait);
        }
        let status = response.status().as_u16();
        let retry_header = header("retry-after");
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match status {
            200..=299 => Ok(body),
            401 => Err(Failure::Fatal(BAD_TOKEN.into())),
            429 => {
                let secs = body["retry_after"].as_f64().or(retry_header).unwrap_or(1.0);
                Err(Failure::RetryAfter(Duration::from_secs_f64(secs.clamp(0.0, 300.0))))
            }
            _ => Err(Failure::Other(format!("{path}: HTTP {status} {}", body["message"].as_str().unwrap_or("")))),
        }
    }

    async fn post(&self, channel: &str, text: &str) -> Res<()> {
        // Whatever the agent writes, no @everyone, role or user is pinged.
        let body = json!({ "content": text, "allowed_mentions": { "parse": [] } });
        let path = format!("/channels/{channel}/messages");
        let mut attempt = 1;
        loop {
            match self.rest(Method::POST, &path, Some(body.clone()), channel).await {
                Err(Failure::RetryAfter(wait)) if attempt < SEND_ATTEMPTS => tokio::time::sleep(wait).await,
                other => return other.map(drop),
            }
            attempt += 1;
        }
    }

    /// Runs forever: one gateway connection after another, resuming when it can. Errors are logged
    /// when they change and retried with backoff; a refused token is one clear error, then quiet
    /// retries at the longest interval.
    async fn run(self: Arc<Self>, inbound: mpsc::Sender<Inbound>) {
        let (mut session, mut failures, mut last_error) = (None, 0u32, String::new());
        loop {
            let started = Instant::now();
            let result = self.connection(&mut session, &inbound).await;
            if inbound.is_closed() {
                return;
            }
            let wait = match result {
                Ok(()) if started.elapsed() >= STEADY => {
                    (failures, last_error) = (0, String::new());
                    Duration::from_secs(1) + jitter(Duration::from_secs(4))
                }
                // Ready, then dropped at once: backed off like a failure, or it would loop each second.
                Ok(()) => {
                    failures += 1;
                    let wait =
                        Duration::from_secs(1u64 << failures.min(9)).min(MAX_BACKOFF) + jitter(Duration::from_secs(4));
                    tracing::warn!("discord: the connection ended within a minute; again in {} s", wait.as_secs());
                    wait
                }
                Err(e) => {
                    failures += 1;
                    let wait = match &e {
                        Failure::RetryAfter(d) => *d,
                        Failure::Fatal(_) => MAX_BACKOFF,
                        Failure::Other(_) => Duration::from_secs(1u64 << failures.min(9)).min(MAX_BACKOFF),
                    };
                    let text = e.to_string();
                    if text != last_error {
                        tracing::error!("discord: {text}; retrying in {} s", wait.as_secs());
                        super::report(&self.data_dir, "discord", false, &text);
                        last_error = text;
                    }
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// One gateway connection: `Ok` when it was ready and then ended (reconnect soon).
    async fn connection(&self, session: &mut Option<Session>, inbound: &mpsc::Sender<Inbound>) -> Res<()> {
        let url = match session {
            Some(s) => s.url.clone(),
            None => {
                self.rest(Method::GET, "/gateway/bot", None, "gateway").await?["url"].as_str().unwrap_or("").to_string()
            }
        };
        let url = format!("{}/?v=10&encoding=json", url.trim_end_matches('/'));
        let config = WebSocketConfig::default().max_message_size(Some(MAX_FRAME)).max_frame_size(Some(MAX_FRAME));
        let connect = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false);
        let (mut socket, _) = tokio::time::timeout(Duration::from_secs(30), connect)
            .await
            .map_err(|_| Failure::Other("gateway: connecting timed out".into()))?
            .map_err(|e| Failure::Other(format!("gateway: {e}")))?;
        let (mut ready, mut acked) = (false, true);
        let (mut interval, mut beat) = (Duration::from_secs(45), Instant::now() + Duration::from_secs(60));
        let end = |ready: bool, why: String| if ready { Ok(()) } else { Err(Failure::Other(why)) };
        loop {
            let frame = tokio::select! {
                frame = socket.next() => frame,
                () = tokio::time::sleep_until(beat) => {
                    if !acked {
                        return end(ready, "gateway: no heartbeat ACK".into());
                    }
                    (acked, beat) = (false, beat + interval);
                    let seq = session.as_ref().and_then(|s| s.seq);
                    if socket.send(Message::text(json!({ "op": 1, "d": seq }).to_string())).await.is_err() {
                        return end(ready, "gateway: closed".into());
                    }
                    continue;
                }
            };
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(close))) => {
                    let code = close.map_or(1000, |c| u16::from(c.code));
                    return match closed(code, session) {
                        Err(Failure::Other(why)) => end(ready, why),
                        other => other,
                    };
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return end(ready, format!("gateway: {e}")),
                None => return end(ready, "gateway: closed".into()),
            };
            let Ok(event) = serde_json::from_str::<Value>(&text) else {
                tracing::warn!("discord: ignoring a frame that is not JSON ({} bytes)", text.len());
                continue;
            };
            if let (Some(s), Some(seq)) = (session.as_mut(), event["s"].as_u64()) {
                s.seq = Some(seq);
            }
            // 11 is the heartbeat's ACK; 9 with `false` means the session cannot be resumed.
            acked |= event["op"] == 11;
            if event["op"] == 9 && event["d"] != true {
                *session = None;
            }
            let outgoing = match event["op"].as_u64() {
                Some(10) => {
                    let ms = event["d"]["heartbeat_interval"].as_u64().unwrap_or(41_250).clamp(1_000, 600_000);
                    interval = Duration::from_millis(ms);
                    beat = Instant::now() + jitter(interval);
                    Some(match session {
                        Some(s) => json!({ "op": 6, "d": { "token": self.token, "session_id": s.id, "seq": s.seq } }),
                        None => json!({ "op": 2, "d": { "token": self.token, "intents": INTENTS,
                            "properties": { "os": std::env::consts::OS, "browser": "claw", "device": "claw" } } }),
                    })
                }
                Some(1) => Some(json!({ "op": 1, "d": session.as_ref().and_then(|s| s.seq) })),
                Some(7 | 9) => return Ok(()),
                Some(0) => {
                    ready |= self.dispatch(&event, session, inbound).await;
                    None
                }
                _ => None,
            };
            if let Some(payload) = outgoing
                && socket.send(Message::text(payload.to_string())).await.is_err()
            {
                return end(ready, "gateway: closed".into());
            }
        }
    }

    /// Handles one dispatch; true once the session is ready (`READY` or `RESUMED`).
    async fn dispatch(&self, event: &Value, session: &mut Option<Session>, inbound: &mpsc::Sender<Inbound>) -> bool {
        let d = &event["d"];
        match event["t"].as_str().unwrap_or("") {
            kind @ ("READY" | "RESUMED") => {
                if let (Some(id), Some(url)) = (d["session_id"].as_str(), d["resume_gateway_url"].as_str()) {
                    *session = Some(Session { id: id.into(), url: url.into(), seq: event["s"].as_u64() });
                    let _ = self.me.set(d["user"]["id"].as_str().unwrap_or("").to_string());
                }
                tracing::info!(resumed = kind == "RESUMED", "discord: connected");
                super::report(&self.data_dir, "discord", true, "gateway connected");
                session.is_some()
            }
            "GUILD_CREATE" => {
                let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
                for c in d["channels"].as_array().into_iter().flatten() {
                    if let (Some(id), Some(name)) = (c["id"].as_str(), c["name"].as_str()) {
                        names.insert(id.into(), format!("#{name}"));
                    }
                }
                false
            }
            "MESSAGE_CREATE" => {
                let Ok(msg) = Msg::deserialize(d) else { return false };
                let Some(msg) = self.inbound(msg).await else { return false };
                let (ack, stored) = oneshot::channel();
                if inbound.send(Inbound { stored: Some(ack), ..msg }).await.is_ok() {
                    let _ = stored.await;
                }
                false
            }
            _ => false,
        }
    }

    /// Maps a person's message; answers `/chatid` and `/ping`; drops the bot's own messages.
    async fn inbound(&self, m: Msg) -> Option<Inbound> {
        let me = self.me.get()?;
        if m.author.id == *me || !is_id(&m.channel_id) || !is_id(&m.author.id) {
            return None;
        }
        let reply = match m.content.trim() {
            "/chatid" | "!chatid" => format!("This chat is discord:{}", m.channel_id),
            "/ping" | "!ping" => format!("{} is online", self.assistant),
            _ => String::new(),
        };
        if !reply.is_empty() {
            let _ = self.post(&m.channel_id, &reply).await.map_err(|e| tracing::warn!("discord: answering: {e}"));
            return None;
        }
        let sender_name = m.author.global_name.clone().unwrap_or_else(|| m.author.username.clone());
        let files = m.attachments.iter().map(|a| format!("[file: {}]", a["filename"].as_str().unwrap_or("unnamed")));
        let text = [mention_to_trigger(&m.content, me, &self.assistant)].into_iter().chain(files);
        let ts = chrono::DateTime::parse_from_rfc3339(&m.timestamp)
            .map(|t| t.to_utc())
            .unwrap_or_else(|_| chrono::Utc::now());
        Some(Inbound {
            chat_jid: format!("discord:{}", m.channel_id),
            chat_name: match m.guild_id {
                Some(_) => self.names.lock().unwrap_or_else(|e| e.into_inner()).get(&m.channel_id).cloned(),
                None => Some(sender_name.clone()),
            },
            is_group: m.guild_id.is_some(),
            sender: m.author.id,
            sender_name,
            text: text.filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" "),
            ts: ts.to_rfc3339(),
            is_from_me: false,
            external_id: Some(m.id),
            stored: None,
        })
    }
}

impl Channel for Discord {
    fn name(&self) -> &'static str {
        "discord"
    }

    fn max_message_len(&self) -> usize {
        LIMIT
    }

    fn connect(&self, inbound: mpsc::Sender<Inbound>) -> BoxFuture<'_, Result<()>> {
        // Never fails: a bad token or an outage is reported and retried, not a crash loop.
        tokio::spawn(self.0.clone().run(inbound));
        Box::pin(async { Ok(()) })
    }

    fn send<'a>(&'a self, chat_jid: &'a str, text: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let channel = channel_id(chat_jid)?;
            for piece in crate::router::split(text, LIMIT) {
                self.0.post(channel, &piece).await.map_err(|e| format!("discord: {e}"))?;
            }
            Ok(())
        })
    }

    fn set_typing<'a>(&'a self, chat_jid: &'a str, typing: bool) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // Discord shows "typing" for 10 s; a reply ends it.
            if let (true, Ok(id)) = (typing, channel_id(chat_jid))
                && let Err(e) = self.0.rest(Method::POST, &format!("/channels/{id}/typing"), None, id).await
            {
                tracing::debug!("discord: typing: {e}");
            }
        })
    }
}

/// Close codes: 4004 is a refused token and 4013/4014 intents the bot may not use (retrying will
/// not help); 4007 and 4009 need a fresh session; the rest resume.
fn closed(code: u16, session: &mut Option<Session>) -> Res<()> {
    match code {
        4004 => Err(Failure::Fatal(BAD_TOKEN.into())),
        4013 | 4014 => Err(Failure::Fatal(
            "the gateway refused the intents: enable MESSAGE CONTENT INTENT on the Developer Portal's Bot page".into(),
        )),
        4010..=4012 => Err(Failure::Fatal(format!("the gateway closed the session (code {code})"))),
        _ => {
            if matches!(code, 4007 | 4009 | 1000 | 1001) {
                *session = None;
            }
            Err(Failure::Other(format!("gateway closed (code {code})")))
        }
    }
}

fn channel_id(chat_jid: &str) -> Result<&str> {
    chat_jid
        .strip_prefix("discord:")
        .filter(|id| is_id(id))
        .ok_or_else(|| format!("discord: {chat_jid} is not a Discord chat"))
}

/// Snowflakes are decimal u64s: anything else in a payload is forged or broken.
fn is_id(id: &str) -> bool {
    (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

fn jitter(max: Duration) -> Duration {
    max.mul_f64((RandomState::new().hash_one(0u8) % 1000) as f64 / 1000.0)
}

/// `<@id>` or `<@!id>` for the bot becomes the trigger at the start.
fn mention_to_trigger(text: &str, bot: &str, assistant: &str) -> String {
    let rest = text.replace(&format!("<@!{bot}>"), "").replace(&format!("<@{bot}>"), "");
    match rest.len() != text.len() && !bot.is_empty() {
        true => format!("@{assistant} {}", rest.split_whitespace().collect::<Vec<_>>().join(" ")),
        false => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mention_of_the_bot_becomes_the_trigger() {
        assert_eq!(mention_to_trigger("<@42> what time is it?", "42", "Andy"), "@Andy what time is it?");
        assert_eq!(mention_to_trigger("hey <@!42>, lunch?", "42", "Andy"), "@Andy hey , lunch?");
        assert_eq!(mention_to_trigger("<@420> is someone else", "42", "Andy"), "<@420> is someone else");
        assert_eq!(mention_to_trigger("`<@42>` <@&42> role", "4", "Andy"), "`<@42>` <@&42> role");
    }

    #[test]
    fn ids_are_snowflakes_and_foreign_chats_are_refused() {
        assert_eq!(channel_id("discord:1234567890"), Ok("1234567890"));
        assert!(channel_id("discord:12/../3").is_err() && channel_id("slack:C1").is_err());
        assert!(!is_id("") && !is_id(&"1".repeat(21)));
    }

    #[test]
    fn close_codes_decide_between_resume_fresh_and_stop() {
        let mut session = Some(Session { id: "s".into(), url: "ws://x".into(), seq: Some(3) });
        assert!(matches!(closed(4004, &mut session), Err(Failure::Fatal(_))));
        assert!(matches!(closed(4000, &mut session), Err(Failure::Other(_))) && session.is_some());
        assert!(matches!(closed(4009, &mut session), Err(Failure::Other(_))) && session.is_none());
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        assert!((0..100).all(|_| jitter(Duration::from_secs(1)) < Duration::from_secs(1)));
    }
}
