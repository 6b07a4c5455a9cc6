//! Telegram through the Bot API: long polling with `getUpdates`, replies with `sendMessage`.
//! Chats are `telegram:<chat id>`. An update is confirmed to Telegram (the next poll's offset)
//! only once the host has stored it, so a crash loses nothing. `/chatid` and `/ping` are answered
//! here; the bot's @mention becomes the assistant's trigger; media become placeholders.
//! The wire types come from `frankenstein` (types only); HTTP is the host's reqwest.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use frankenstein::response::{ErrorResponse, MethodResponse};
use frankenstein::types::{ChatType, Message, User};
use frankenstein::updates::{Update, UpdateContent};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::{BoxFuture, Channel, Inbound, Result};
use crate::config::{self, Config};

/// How long one `getUpdates` call waits on Telegram's side.
const POLL_SECS: u64 = 30;
/// The longest wait between attempts after errors.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Sends retried after a 429 before giving up.
const SEND_ATTEMPTS: u32 = 4;

pub fn open(config: &Config) -> Result<Box<dyn Channel>> {
    let token = config::env("TELEGRAM_BOT_TOKEN")?
        .ok_or("TELEGRAM_BOT_TOKEN is not set: add the bot token from @BotFather to .env")?;
    let api = config::env("TELEGRAM_API_URL")?.unwrap_or_else(|| "https://api.telegram.org".into());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(POLL_SECS + 15))
        .build()
        .map_err(|e| format!("telegram: {e}"))?;
    Ok(Box::new(Telegram(Arc::new(Bot {
        http,
        base: format!("{}/bot{token}", api.trim_end_matches('/')),
        assistant: config.assistant_name.clone(),
        data_dir: config.data_dir.clone(),
        me: OnceLock::new(),
    }))))
}

struct Telegram(Arc<Bot>);

struct Bot {
    http: reqwest::Client,
    /// `https://api.telegram.org/bot<token>`: never logged.
    base: String,
    assistant: String,
    data_dir: std::path::PathBuf,
    /// The bot's own account, from `getMe`.
    me: OnceLock<User>,
}

#[derive(Debug)]
enum Failure {
    /// 429: wait as long as Telegram says.
    RetryAfter(Duration),
    /// 401 or 404: the token is wrong; retrying soon will not help.
    BadToken(String),
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::RetryAfter(d) => write!(f, "rate limited for {} s", d.as_secs()),
            Failure::BadToken(why) => write!(f, "the bot token was refused ({why}); check TELEGRAM_BOT_TOKEN"),
            Failure::Other(why) => f.write_str(why),
        }
    }
}

impl Bot {
    async fn call<T: DeserializeOwned>(&self, method: &str, params: &Value) -> std::result::Result<T, Failure> {
        let response = self
            .http
            .post(format!("{}/{method}", self.base))
            .header("content-type", "application/json")
            .body(params.to_string())
            .send()
            .await
            // Without the URL: it holds the token.
            .map_err(|e| Failure::Other(format!("{method}: {}", e.without_url())))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| Failure::Other(format!("{method}: {}", e.without_url())))?;
        if let Ok(ok) = serde_json::from_slice::<MethodResponse<T>>(&body) {
            return Ok(ok.result);
        }
        let error = serde_json::from_slice::<ErrorResponse>(&body)
            .map_err(|_| Failure::Other(format!("{method}: HTTP {status}, not a Bot API answer")))?;
        Err(match (error.error_code, error.parameters.and_then(|p| p.retry_after)) {
            (_, Some(secs)) => Failure::RetryAfter(Duration::from_secs(secs.into())),
            (401 | 404, _) => Failure::BadToken(error.description),
            (code, _) => Failure::Other(format!("{method}: {code} {}", error.description)),
        })
    }

    async fn send_text(&self, chat_id: i64, text: &str) -> std::result::Result<(), Failure> {
        let params = json!({ "chat_id": chat_id, "text": text });
        let mut attempt = 1;
        loop {
            match self.call::<Value>("sendMessage", &params).await {
                Err(Failure::RetryAfter(wait)) if attempt < SEND_ATTEMPTS => tokio::time::sleep(wait).await,
                other => return other.map(drop),
            }
            attempt += 1;
        }
    }

    /// Polls forever. Errors are logged when they change and retried with backoff; a bad token
    /// is one clear error, then quiet retries at the longest interval.
    async fn poll(self: Arc<Self>, inbound: mpsc::Sender<Inbound>) {
        let mut offset: i64 = 0;
        let mut failures = 0u32;
        let mut last_error = String::new();
        loop {
            let result = match self.me.get() {
                None => self.call::<User>("getMe", &json!({})).await.map(|me| {
                    tracing::info!(bot = me.username.as_deref().unwrap_or(""), "telegram: connected");
                    let _ = self.me.set(me);
                    Vec::new()
                }),
                Some(_) => {
                    let params = json!({ "offset": offset, "timeout": POLL_SECS, "allowed_updates": ["message"] });
                    self.call::<Vec<Update>>("getUpdates", &params).await
                }
            };
            let updates = match result {
                Ok(updates) => {
                    if failures > 0 || !last_error.is_empty() {
                        tracing::info!("telegram: reconnected");
                        last_error.clear();
                    }
                    failures = 0;
                    super::report(&self.data_dir, "telegram", true, "polling");
                    updates
                }
                Err(e) => {
                    failures += 1;
                    let wait = match &e {
                        Failure::RetryAfter(d) => *d,
                        Failure::BadToken(_) => MAX_BACKOFF,
                        Failure::Other(_) => backoff(failures),
                    };
                    let text = e.to_string();
                    if text != last_error {
                        tracing::error!("telegram: {text}; retrying in {} s", wait.as_secs());
                        super::report(&self.data_dir, "telegram", false, &text);
                        last_error = text;
                    }
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            for update in updates {
                offset = offset.max(i64::from(update.update_id) + 1);
                let UpdateContent::Message(message) = update.content else { continue };
                if let Some(msg) = self.inbound(&message).await {
                    let (ack, stored) = oneshot::channel();
                    if inbound.send(Inbound { stored: Some(ack), ..msg }).await.is_err() {
                        return;
                    }
                    // Confirm the update (by the next offset) only once it is durable.
                    if stored.await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Maps a message; answers `/chatid` and `/ping` itself; drops the bot's own messages.
    async fn inbound(&self, m: &Message) -> Option<Inbound> {
        let me = self.me.get()?;
        let from = m.from.as_deref();
        if from.is_some_and(|u| u.id == me.id) {
            return None;
        }
        let text = content(m);
        let bot_name = me.username.as_deref().unwrap_or("");
        match command(&text, bot_name) {
            Some("chatid") => {
                let reply = format!("This chat is telegram:{}", m.chat.id);
                if let Err(e) = self.send_text(m.chat.id, &reply).await {
                    tracing::warn!("telegram: answering /chatid: {e}");
                }
                return None;
            }
            Some("ping") => {
                if let Err(e) = self.send_text(m.chat.id, &format!("{} is online", self.assistant)).await {
                    tracing::warn!("telegram: answering /ping: {e}");
                }
                return None;
            }
            _ => {}
        }
        Some(Inbound {
            chat_jid: format!("telegram:{}", m.chat.id),
            chat_name: m.chat.title.clone().or_else(|| m.chat.first_name.clone()).or_else(|| m.chat.username.clone()),
            is_group: matches!(m.chat.type_field, ChatType::Group | ChatType::Supergroup),
            sender: from.map_or(String::new(), |u| u.id.to_string()),
            sender_name: from.map_or(String::new(), |u| {
                [Some(u.first_name.as_str()), u.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
            text: mention_to_trigger(&text, bot_name, &self.assistant),
            ts: chrono::DateTime::from_timestamp(m.date as i64, 0).unwrap_or_default().to_rfc3339(),
            is_from_me: false,
            external_id: Some(format!("{}:{}", m.chat.id, m.message_id)),
            stored: None,
        })
    }
}

impl Channel for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn max_message_len(&self) -> usize {
        4096
    }

    fn connect(&self, inbound: mpsc::Sender<Inbound>) -> BoxFuture<'_, Result<()>> {
        // Never fails: a bad token or an outage is reported and retried, not a crash loop.
        tokio::spawn(self.0.clone().poll(inbound));
        Box::pin(async { Ok(()) })
    }

    fn send<'a>(&'a self, chat_jid: &'a str, text: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let chat = chat_id(chat_jid)?;
            for piece in utf16_pieces(text, 4096) {
                self.0.send_text(chat, piece).await.map_err(|e| format!("telegram: {e}"))?;
            }
            Ok(())
        })
    }

    fn set_typing<'a>(&'a self, chat_jid: &'a str, typing: bool) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // Telegram shows "typing" for a few seconds; a reply ends it on its own.
            if let (true, Ok(id)) = (typing, chat_id(chat_jid)) {
                let params = json!({ "chat_id": id, "action": "typing" });
                if let Err(e) = self.0.call::<Value>("sendChatAction", &params).await {
                    tracing::debug!("telegram: typing: {e}");
                }
            }
        })
    }
}

fn chat_id(chat_jid: &str) -> Result<i64> {
    chat_jid
        .strip_prefix("telegram:")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| format!("telegram: {chat_jid} is not a Telegram chat"))
}

/// Telegram counts its limit in UTF-16 units: the host splits by characters, so text full of
/// emoji (two units each) may need one more cut.
fn utf16_pieces(text: &str, limit: usize) -> Vec<&str> {
    let (mut pieces, mut start, mut units) = (Vec::new(), 0, 0);
    for (at, c) in text.char_indices() {
        if units + c.len_utf16() > limit {
            pieces.push(&text[start..at]);
            (start, units) = (at, 0);
        }
        units += c.len_utf16();
    }
    pieces.push(&text[start..]);
    pieces
}

fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.min(9)).min(MAX_BACKOFF)
}

/// The message's text, with a placeholder the agent can read for what is not text.
fn content(m: &Message) -> String {
    let media = if m.photo.is_some() {
        Some("[photo]".to_string())
    } else if let Some(d) = &m.document {
        Some(format!("[document: {}]", d.file_name.as_deref().unwrap_or("unnamed")))
    } else if let Some(v) = &m.voice {
        Some(format!("[voice message, {} s]", v.duration))
    } else if let Some(a) = &m.audio {
        Some(format!("[audio: {}]", a.title.as_deref().unwrap_or("untitled")))
    } else if m.video.is_some() {
        Some("[video]".to_string())
    } else if let Some(s) = &m.sticker {
        Some(format!("[sticker {}]", s.emoji.as_deref().unwrap_or("")))
    } else if let Some(l) = &m.location {
        Some(format!("[location {:.5}, {:.5}]", l.latitude, l.longitude))
    } else if m.contact.is_some() {
        Some("[contact card]".to_string())
    } else {
        None
    };
    let text = m.text.as_deref().or(m.caption.as_deref());
    match (media, text) {
        (Some(p), Some(t)) => format!("{p} {t}"),
        (Some(p), None) => p,
        (None, t) => t.unwrap_or("").to_string(),
    }
}

/// `/name` or `/name@this_bot` at the start of the text.
fn command<'a>(text: &'a str, bot: &str) -> Option<&'a str> {
    let word = text.strip_prefix('/')?.split_whitespace().next()?;
    match word.split_once('@') {
        Some((name, target)) if target.eq_ignore_ascii_case(bot) => Some(name),
        Some(_) => None,
        None => Some(word),
    }
}

/// `@this_bot` anywhere becomes `@Assistant` at the start, which is what the router's trigger
/// looks for.
fn mention_to_trigger(text: &str, bot: &str, assistant: &str) -> String {
    // Usernames are ASCII, so a match never splits a character.
    let mention = format!("@{bot}");
    let found = text.as_bytes().windows(mention.len()).position(|w| w.eq_ignore_ascii_case(mention.as_bytes()));
    match found {
        Some(at) if !bot.is_empty() => {
            let rest = format!("{}{}", &text[..at], &text[at + mention.len()..]);
            format!("@{assistant} {}", rest.split_whitespace().collect::<Vec<_>>().join(" "))
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(json: Value) -> Message {
        serde_json::from_value(json).expect("a Bot API message")
    }

    #[test]
    fn a_mention_of_the_bot_becomes_the_trigger() {
        assert_eq!(mention_to_trigger("@claw_bot what time is it?", "claw_bot", "Andy"), "@Andy what time is it?");
        assert_eq!(mention_to_trigger("hey @Claw_Bot, lunch?", "claw_bot", "Andy"), "@Andy hey , lunch?");
        assert_eq!(mention_to_trigger("no mention here", "claw_bot", "Andy"), "no mention here");
        assert_eq!(mention_to_trigger("İİ @claw_bot ok", "claw_bot", "Andy"), "@Andy İİ ok");
    }

    #[test]
    fn commands_for_this_bot_only() {
        assert_eq!(command("/chatid", "claw_bot"), Some("chatid"));
        assert_eq!(command("/ping@claw_bot", "claw_bot"), Some("ping"));
        assert_eq!(command("/ping@other_bot", "claw_bot"), None);
        assert_eq!(command("ping", "claw_bot"), None);
    }

    #[test]
    fn media_become_placeholders() {
        let chat = json!({ "id": -100, "type": "supergroup", "title": "Team" });
        let photo = message(json!({ "message_id": 1, "date": 0, "chat": chat, "caption": "look",
            "photo": [{ "file_id": "a", "file_unique_id": "b", "width": 1, "height": 1 }] }));
        assert_eq!(content(&photo), "[photo] look");
        let voice = message(json!({ "message_id": 2, "date": 0, "chat": chat,
            "voice": { "file_id": "a", "file_unique_id": "b", "duration": 7 } }));
        assert_eq!(content(&voice), "[voice message, 7 s]");
        let doc = message(json!({ "message_id": 3, "date": 0, "chat": chat,
            "document": { "file_id": "a", "file_unique_id": "b", "file_name": "plan.pdf" } }));
        assert_eq!(content(&doc), "[document: plan.pdf]");
    }

    #[test]
    fn text_is_cut_to_telegrams_limit_in_utf16_units() {
        assert_eq!(utf16_pieces("hello", 4096), ["hello"]);
        let emoji = "😀".repeat(3000);
        let pieces = utf16_pieces(&emoji, 4096);
        assert_eq!(pieces.iter().map(|p| p.encode_utf16().count()).collect::<Vec<_>>(), [4096, 1904]);
        assert_eq!(pieces.concat(), emoji);
    }

    #[test]
    fn chat_ids_round_trip_and_foreign_chats_are_refused() {
        assert_eq!(chat_id("telegram:-100123"), Ok(-100123));
        assert!(chat_id("cli:local").is_err());
        assert!(chat_id("telegram:abc").is_err());
    }
}
