//! A local stand-in for Discord: REST under `/api/v10` (`Authorization: Bot <token>`, 401 JSON
//! errors, `X-RateLimit-*` bucket headers on every answer, 429 with `retry_after` when a channel's
//! bucket of 5 messages per 5 s is empty or when told to), and the gateway websocket with its real
//! opcodes: Hello (10), Identify (2, token and intents checked: a wrong token closes with 4004;
//! without MESSAGE_CONTENT, message content is blanked), Heartbeat (1) answered by ACK (11),
//! dispatches (0: READY, GUILD_CREATE, MESSAGE_CREATE, RESUMED) with sequence numbers, Resume (6)
//! replaying what was missed, Reconnect (7) and Invalid Session (9) on demand. A posted message
//! comes back as the bot's own MESSAGE_CREATE, as on Discord. Proven faithful by driving it with
//! discord.py (tests/sdk/test_fake_discord.py). Frames are JSON text (zlib-stream is not used).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// The bot every fake serves as, and the one guild it is in.
pub const BOT_ID: &str = "1100000000000000001";
pub const BOT_NAME: &str = "claw";
pub const GUILD: &str = "1200000000000000001";
/// The guild's text channels.
pub const GENERAL: &str = "1300000000000000001";
pub const TEAM: &str = "1300000000000000002";
const MESSAGE_CONTENT: u64 = 1 << 15;

/// One REST call as received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    /// `(channel_id, content)` of every message accepted.
    sent: Vec<(String, String)>,
    /// Dispatches of the current session: `(seq, t, d)`.
    events: Vec<(u64, String, Value)>,
    session: Option<String>,
    intents: u64,
    identifies: u32,
    resumes: u32,
    heartbeats: u32,
    heartbeat_ms: u64,
    swallow_acks: bool,
    /// Every session is told to reconnect (opcode 7) as soon as it is ready or resumed.
    flapping: bool,
    /// Per-connection orders, taken by the live socket: raw frames, or a close code.
    orders: Vec<Order>,
    /// Per channel: messages in the current 5 s window, and when it started.
    buckets: HashMap<String, (u32, Instant)>,
    /// `path suffix, retry_after`: the next matching call gets a 429.
    failures: Vec<(String, f64)>,
    serial: u64,
}

#[derive(Clone)]
enum Order {
    Frame(String),
    Close(u16),
}

#[derive(Clone)]
pub struct FakeDiscord {
    pub addr: SocketAddr,
    pub gateway_addr: SocketAddr,
    token: Arc<str>,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
}

impl FakeDiscord {
    pub async fn start(token: &str) -> std::io::Result<FakeDiscord> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let gateway = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let fake = FakeDiscord {
            addr: listener.local_addr()?,
            gateway_addr: gateway.local_addr()?,
            token: token.into(),
            state: Arc::new(Mutex::new(State { heartbeat_ms: 41_250, ..State::default() })),
            changed: Arc::new(Notify::new()),
        };
        let server = fake.clone();
        crate::serve(listener, move |req| {
            let fake = server.clone();
            async move { fake.handle(req).await }
        });
        let server = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = gateway.accept().await {
                tokio::spawn(server.clone().gateway(stream));
            }
        });
        Ok(fake)
    }

    /// The REST root, as `DISCORD_API_URL` or discord.py's `Route.BASE`.
    pub fn url(&self) -> String {
        format!("http://{}/api/v10", self.addr)
    }

    pub fn gateway_url(&self) -> String {
        format!("ws://{}", self.gateway_addr)
    }

    /// A person's message in `channel` (in the guild unless `guild` is false, a DM); returns its id.
    pub fn message(&self, channel: &str, guild: bool, author: (&str, &str), content: &str) -> String {
        let id = self.snowflake();
        let mentions: Vec<Value> = content
            .split("<@")
            .skip(1)
            .filter_map(|rest| rest.trim_start_matches('!').split('>').next())
            .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
            .map(|id| user(id, if id == BOT_ID { BOT_NAME } else { "someone" }, id == BOT_ID))
            .collect();
        let mut d = json!({ "id": id, "channel_id": channel, "author": user(author.0, author.1, false),
            "content": content, "timestamp": timestamp(), "edited_timestamp": null, "tts": false,
            "mention_everyone": false, "mentions": mentions, "mention_roles": [], "attachments": [], "embeds": [],
            "pinned": false, "type": 0, "flags": 0 });
        if guild {
            d["guild_id"] = json!(GUILD);
            d["member"] = json!({ "roles": [], "joined_at": timestamp(), "deaf": false, "mute": false });
        }
        self.dispatch("MESSAGE_CREATE", d);
        id
    }

    /// Queues a dispatch for the live session (kept for a Resume to replay).
    pub fn dispatch(&self, t: &str, mut d: Value) {
        {
            let mut s = self.lock();
            let mentioned = d["mentions"].as_array().is_some_and(|m| m.iter().any(|u| u["id"] == BOT_ID));
            // Without the privileged intent, Discord blanks what the bot was not addressed in.
            if t == "MESSAGE_CREATE" && s.intents & MESSAGE_CONTENT == 0 && !mentioned && d["guild_id"].is_string() {
                d["content"] = json!("");
            }
            let seq = s.events.last().map_or(1, |(seq, _, _)| seq + 1);
            s.events.push((seq, t.into(), d));
        }
        self.changed.notify_waiters();
    }

    /// The live socket sends `frame` as it is (opcode 7 or 9, or hostile input).
    pub fn raw(&self, frame: &str) {
        self.lock().orders.push(Order::Frame(frame.into()));
        self.changed.notify_waiters();
    }

    /// Opcode 7: the client should reconnect and resume.
    pub fn reconnect(&self) {
        self.raw(r#"{"op":7,"d":null,"s":null,"t":null}"#);
    }

    /// Closes the live socket with `code` (4000: resumable; 4004: authentication failed).
    pub fn close(&self, code: u16) {
        self.lock().orders.push(Order::Close(code));
        self.changed.notify_waiters();
    }

    /// The heartbeat interval the next Hello announces.
    pub fn set_heartbeat(&self, ms: u64) {
        self.lock().heartbeat_ms = ms;
    }

    /// From now on every session is told to reconnect as soon as it is up (a flapping gateway).
    pub fn flap(&self) {
        self.lock().flapping = true;
        self.reconnect();
    }

    /// Stops answering heartbeats (a zombie connection).
    pub fn swallow_acks(&self, on: bool) {
        self.lock().swallow_acks = on;
    }

    /// The next REST call whose path ends with `suffix` gets a 429 asking to wait `retry_after` s.
    pub fn fail_next(&self, suffix: &str, retry_after: f64) {
        self.lock().failures.push((suffix.into(), retry_after));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn sent(&self) -> Vec<(String, String)> {
        self.lock().sent.clone()
    }

    /// `(identifies, resumes, heartbeats)` so far.
    pub fn counts(&self) -> (u32, u32, u32) {
        let s = self.lock();
        (s.identifies, s.resumes, s.heartbeats)
    }

    fn snowflake(&self) -> String {
        let mut s = self.lock();
        s.serial += 1;
        let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        ((ms.saturating_sub(1_420_070_400_000) << 22) + (s.serial & 0xfff)).to_string()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let (method, path) = (req.method().to_string(), req.uri().path().to_string());
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Some(op) = path.strip_prefix("/control/") {
            return self.control(op, &body);
        }
        let Some(route) = path.strip_prefix("/api/v10") else { return error(404, "404: Not Found", 0) };
        self.lock().calls.push(Call { method: method.clone(), path: route.into(), body: body.clone() });
        if route == "/gateway" {
            return respond(200, json!({ "url": self.gateway_url() }), &[]);
        }
        if auth.strip_prefix("Bot ") != Some(&*self.token) {
            return error(401, "401: Unauthorized", 0);
        }
        let injected = {
            let mut s = self.lock();
            let at = s.failures.iter().position(|(suffix, _)| route.ends_with(suffix.as_str()));
            at.map(|i| s.failures.remove(i).1)
        };
        if let Some(wait) = injected {
            return rate_limited(wait, "user", "injected");
        }
        let parts: Vec<&str> = route.trim_matches('/').split('/').collect();
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["users", "@me"]) => respond(200, user(BOT_ID, BOT_NAME, true), &[]),
            ("GET", ["oauth2", "applications", "@me"]) => respond(
                200,
                json!({ "id": BOT_ID, "name": BOT_NAME,
                "description": "", "icon": null, "rpc_origins": [], "bot_public": true, "bot_require_code_grant": false,
                "owner": user("1100000000000000099", "owner", false), "team": null, "verify_key": "00", "flags": 0 }),
                &[],
            ),
            ("GET", ["gateway", "bot"]) => respond(
                200,
                json!({ "url": self.gateway_url(), "shards": 1,
                "session_start_limit": { "total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1 } }),
                &[],
            ),
            ("POST", ["channels", _, "typing"]) => respond(204, Value::Null, &[]),
            ("POST", ["channels", channel, "messages"]) => self.create_message(channel, &body),
            _ => error(404, "404: Not Found", 0),
        }
    }

    /// A channel's bucket holds 5 messages per 5 s; every answer says how much is left.
    fn create_message(&self, channel: &str, body: &Value) -> Response<Full<Bytes>> {
        let content = body["content"].as_str().unwrap_or("");
        if content.is_empty() {
            return error(400, "Cannot send an empty message", 50006);
        }
        if content.chars().count() > 2000 {
            return respond(
                400,
                json!({ "message": "Invalid Form Body", "code": 50035, "errors": { "content":
                { "_errors": [{ "code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length." }] } } }),
                &[],
            );
        }
        let (used, started) = {
            let mut s = self.lock();
            let bucket = s.buckets.entry(channel.into()).or_insert((0, Instant::now()));
            if bucket.1.elapsed() >= Duration::from_secs(5) {
                *bucket = (0, Instant::now());
            }
            bucket.0 += 1;
            *bucket
        };
        let reset_after = 5.0 - started.elapsed().as_secs_f64();
        if used > 5 {
            return rate_limited(reset_after, "user", channel);
        }
        let id = self.snowflake();
        let message = json!({ "id": id, "channel_id": channel, "author": user(BOT_ID, BOT_NAME, true), "content": content,
            "timestamp": timestamp(), "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0, "flags": 0 });
        self.lock().sent.push((channel.into(), content.into()));
        // The bot's own message comes back over the gateway.
        let mut echo = message.clone();
        if channel == GENERAL || channel == TEAM {
            echo["guild_id"] = json!(GUILD);
        }
        self.dispatch("MESSAGE_CREATE", echo);
        let remaining = (5 - used).to_string();
        respond(200, message, &bucket_headers(&remaining, reset_after, channel))
    }

    /// One gateway connection.
    async fn gateway(self, stream: tokio::net::TcpStream) {
        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
        let interval = self.lock().heartbeat_ms;
        let hello = json!({ "op": 10, "d": { "heartbeat_interval": interval }, "s": null, "t": null });
        if ws.send(Message::text(hello.to_string())).await.is_err() {
            return;
        }
        // Up to the client's Identify or Resume, then whatever happened since `sent`.
        let mut sent: Option<u64> = None;
        loop {
            let changed = self.changed.notified();
            let (frames, close) = {
                let mut s = self.lock();
                let mut frames: Vec<String> = Vec::new();
                let mut close = None;
                for order in s.orders.drain(..) {
                    match order {
                        Order::Frame(f) => frames.push(f),
                        Order::Close(code) => close = Some(code),
                    }
                }
                if let Some(after) = sent {
                    for (seq, t, d) in s.events.iter().filter(|(seq, _, _)| *seq > after) {
                        frames.push(json!({ "op": 0, "s": seq, "t": t, "d": d }).to_string());
                        sent = Some(*seq);
                    }
                }
                (frames, close)
            };
            for frame in frames {
                if ws.send(Message::text(frame)).await.is_err() {
                    return;
                }
            }
            if let Some(code) = close {
                let _ = ws.close(Some(CloseFrame { code: code.into(), reason: "closed by the test".into() })).await;
                return;
            }
            tokio::select! {
                _ = changed => {}
                frame = ws.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(_)) => continue,
                        _ => return,
                    };
                    match self.client_frame(&text, &mut sent) {
                        Ok(Some(reply)) => if ws.send(Message::text(reply)).await.is_err() { return },
                        Ok(None) => {}
                        Err((code, reason)) => {
                            let _ = ws.close(Some(CloseFrame { code: code.into(), reason: reason.into() })).await;
                            return;
                        }
                    }
                }
            }
        }
    }

    /// What the gateway does with a client's frame: a reply, nothing, or a close code.
    fn client_frame(&self, text: &str, sent: &mut Option<u64>) -> Result<Option<String>, (u16, &'static str)> {
        let frame: Value = serde_json::from_str(text).map_err(|_| (4002, "Error while decoding payload."))?;
        let d = &frame["d"];
        let mut s = self.lock();
        match frame["op"].as_u64() {
            Some(1) => {
                s.heartbeats += 1;
                Ok((!s.swallow_acks).then(|| json!({ "op": 11, "d": null, "s": null, "t": null }).to_string()))
            }
            Some(2) => {
                if d["token"].as_str() != Some(&*self.token) {
                    return Err((4004, "Authentication failed."));
                }
                let session = format!("session{:016x}", s.serial.wrapping_add(0x5eed).wrapping_mul(31));
                s.identifies += 1;
                s.intents = d["intents"].as_u64().unwrap_or(0);
                s.session = Some(session.clone());
                s.events.clear();
                drop(s);
                *sent = Some(0);
                let ready = json!({ "v": 10, "user": user(BOT_ID, BOT_NAME, true), "guilds": [{ "id": GUILD, "unavailable": true }],
                    "session_id": session, "resume_gateway_url": self.gateway_url(), "shard": [0, 1],
                    "application": { "id": BOT_ID, "flags": 0 }, "private_channels": [], "relationships": [] });
                self.dispatch("READY", ready);
                self.dispatch("GUILD_CREATE", guild());
                Ok(None)
            }
            Some(6) => {
                let valid =
                    d["token"].as_str() == Some(&*self.token) && d["session_id"].as_str() == s.session.as_deref();
                if !valid {
                    return Ok(Some(json!({ "op": 9, "d": false, "s": null, "t": null }).to_string()));
                }
                s.resumes += 1;
                if s.flapping {
                    s.orders.push(Order::Frame(r#"{"op":7,"d":null,"s":null,"t":null}"#.into()));
                }
                drop(s);
                // Replays what the client missed, then says so.
                *sent = Some(d["seq"].as_u64().unwrap_or(0));
                self.dispatch("RESUMED", json!({}));
                Ok(None)
            }
            _ => Err((4001, "Unknown opcode.")),
        }
    }

    /// `/control/message` (`{channel_id, guild, author_id, username, content}`), `/control/raw`
    /// (`{frame}`), `/control/reconnect`, `/control/close` (`{code}`), `/control/heartbeat`
    /// (`{ms}`), `/control/fail` (`{suffix, retry_after}`), `/control/calls`, `/control/sent`,
    /// `/control/counts`.
    fn control(&self, op: &str, v: &Value) -> Response<Full<Bytes>> {
        let s = |key: &str| v[key].as_str().unwrap_or("").to_string();
        let done = || respond(200, json!({}), &[]);
        match op {
            "message" => {
                let id = self.message(
                    &s("channel_id"),
                    v["guild"] != false,
                    (&s("author_id"), &s("username")),
                    &s("content"),
                );
                respond(200, json!({ "id": id }), &[])
            }
            "raw" => {
                self.raw(&s("frame"));
                done()
            }
            "reconnect" => {
                self.reconnect();
                done()
            }
            "close" => {
                self.close(v["code"].as_u64().unwrap_or(4000) as u16);
                done()
            }
            "heartbeat" => {
                self.set_heartbeat(v["ms"].as_u64().unwrap_or(41_250));
                done()
            }
            "fail" => {
                self.fail_next(&s("suffix"), v["retry_after"].as_f64().unwrap_or(1.0));
                done()
            }
            "calls" => respond(
                200,
                json!(
                    self.calls()
                        .iter()
                        .map(|c| json!({ "method": c.method, "path": c.path,
                "body": c.body }))
                        .collect::<Vec<_>>()
                ),
                &[],
            ),
            "sent" => respond(200, json!(self.sent()), &[]),
            "counts" => {
                let (identifies, resumes, heartbeats) = self.counts();
                respond(200, json!({ "identifies": identifies, "resumes": resumes, "heartbeats": heartbeats }), &[])
            }
            _ => error(404, "404: Not Found", 0),
        }
    }
}

fn user(id: &str, name: &str, bot: bool) -> Value {
    json!({ "id": id, "username": name, "discriminator": "0", "global_name": if bot { Value::Null } else { json!(format!("{name} (global)")) },
        "avatar": null, "bot": bot, "public_flags": 0 })
}

fn guild() -> Value {
    let channel = |id: &str, name: &str, position: u32| {
        json!({ "id": id, "type": 0, "name": name, "guild_id": GUILD, "position": position, "permission_overwrites": [],
            "nsfw": false, "parent_id": null, "topic": null, "last_message_id": null, "rate_limit_per_user": 0 })
    };
    json!({ "id": GUILD, "name": "Claw Test", "icon": null, "owner_id": "1100000000000000099", "unavailable": false,
        "roles": [{ "id": GUILD, "name": "@everyone", "permissions": "68608", "position": 0, "color": 0, "hoist": false,
            "managed": false, "mentionable": false, "flags": 0 }],
        "emojis": [], "stickers": [], "features": [], "member_count": 2, "members": [], "threads": [], "voice_states": [],
        "presences": [], "stage_instances": [], "guild_scheduled_events": [], "large": false, "joined_at": timestamp(),
        "mfa_level": 0, "verification_level": 0, "premium_tier": 0, "preferred_locale": "en-US", "nsfw_level": 0,
        "system_channel_flags": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
        "channels": [channel(GENERAL, "general", 0), channel(TEAM, "team", 1)] })
}

fn timestamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let (day, month) = (doy - (153 * mp + 2) / 5 + 1, if mp < 10 { mp + 3 } else { mp - 9 });
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_micros()
    )
}

fn bucket_headers(remaining: &str, reset_after: f64, bucket: &str) -> Vec<(&'static str, String)> {
    let reset = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64()
        + reset_after;
    vec![
        ("x-ratelimit-limit", "5".into()),
        ("x-ratelimit-remaining", remaining.into()),
        ("x-ratelimit-reset", format!("{reset:.3}")),
        ("x-ratelimit-reset-after", format!("{reset_after:.3}")),
        (
            "x-ratelimit-bucket",
            format!("{:x}", bucket.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b.into()))),
        ),
    ]
}

fn rate_limited(retry_after: f64, scope: &str, bucket: &str) -> Response<Full<Bytes>> {
    let mut headers = bucket_headers("0", retry_after, bucket);
    headers.push(("retry-after", format!("{}", retry_after.ceil() as u64)));
    headers.push(("x-ratelimit-scope", scope.into()));
    let body = json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": false });
    respond(429, body, &headers)
}

fn error(status: u16, message: &str, code: u32) -> Response<Full<Bytes>> {
    respond(status, json!({ "message": message, "code": code }), &[])
}

fn respond(status: u16, body: Value, headers: &[(&str, String)]) -> Response<Full<Bytes>> {
    // Discord's API answers through Google's front end; clients tell its 429s from a ban by `Via`.
    let mut response = Response::builder().status(status).header("via", "1.1 google");
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    // A 204 carries no body and so no content type, as on Discord.
    if status == 204 {
        return response.body(Full::new(Bytes::new())).unwrap_or_default();
    }
    response
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}
