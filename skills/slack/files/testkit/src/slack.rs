//! A local stand-in for Slack: the Web API under `/api/<method>` (form, JSON or query parameters,
//! the token as `Authorization: Bearer` or a `token` parameter, `{ok, ...}` / `{ok: false, error}`
//! answers, 429 with `Retry-After`), and Socket Mode: `apps.connections.open` (app-level token only)
//! hands out a single-use `ws://` URL whose socket says `hello`, delivers `events_api` and
//! `slash_commands` envelopes, redelivers on the next connection whatever was not acknowledged by
//! its `envelope_id`, and sends `disconnect` when asked. A posted message comes back as a message
//! event from the bot, as on Slack. Proven faithful by driving it with the official `slack_sdk`
//! (WebClient and the Socket Mode client, tests/sdk/test_fake_slack.py). Tests steer it
//! directly, or over HTTP under `/control/`.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request as WsRequest, Response as WsResponse};

/// The bot every fake serves as.
pub const BOT_USER: &str = "UCLAWBOT";
pub const BOT_ID: &str = "BCLAWBOT";
pub const TEAM: &str = "T0CLAW";
pub const APP: &str = "A0CLAW";

/// One Web API call as received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Value,
    /// Whether it carried the right token for the method.
    pub authorized: bool,
}

/// A message the bot posted and the API accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    pub channel: String,
    pub text: String,
    pub thread_ts: Option<String>,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    posted: Vec<Posted>,
    /// Envelopes not yet acknowledged, with how often each was sent.
    pending: VecDeque<(Value, u32)>,
    /// Every acknowledgement, as the client sent it.
    acks: Vec<Value>,
    /// Frames sent as they are (for attack tests), once, on the live socket.
    raw: VecDeque<String>,
    tickets: HashSet<String>,
    connections: u32,
    /// Bumped to make every live socket say `disconnect`.
    refreshes: u32,
    /// Every connection says `disconnect` right after `hello`.
    flapping: bool,
    /// `(method, error)`: answered instead of the next call of that method; "ratelimited" is a 429.
    failures: VecDeque<(String, String, u64)>,
    serial: u64,
}

#[derive(Clone)]
pub struct FakeSlack {
    pub addr: SocketAddr,
    pub socket_addr: SocketAddr,
    bot_token: Arc<str>,
    app_token: Arc<str>,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
}

impl FakeSlack {
    pub async fn start(bot_token: &str, app_token: &str) -> std::io::Result<FakeSlack> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let sockets = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let fake = FakeSlack {
            addr: listener.local_addr()?,
            socket_addr: sockets.local_addr()?,
            bot_token: bot_token.into(),
            app_token: app_token.into(),
            state: Arc::default(),
            changed: Arc::new(Notify::new()),
        };
        let server = fake.clone();
        crate::serve(listener, move |req| {
            let fake = server.clone();
            async move { fake.handle(req).await }
        });
        let server = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = sockets.accept().await {
                tokio::spawn(server.clone().socket(stream));
            }
        });
        Ok(fake)
    }

    /// The Web API root, as `SLACK_API_URL` (slack_sdk's `base_url` is this plus `/`).
    pub fn url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// Queues a person's message event; returns its `ts`. Channel ids starting with `D` are DMs.
    pub fn message(&self, channel: &str, user: &str, text: &str, thread_ts: Option<&str>) -> String {
        let ts = self.next_ts();
        let kind = match channel.chars().next() {
            Some('D') => "im",
            Some('G') => "group",
            _ => "channel",
        };
        let mut event = json!({ "type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
            "event_ts": ts, "channel_type": kind, "team": TEAM, "client_msg_id": format!("cm-{ts}") });
        if let Some(thread) = thread_ts {
            event["thread_ts"] = json!(thread);
        }
        self.event(event);
        ts
    }

    /// Queues an Events API envelope around `event`; returns its envelope id.
    pub fn event(&self, event: Value) -> String {
        let serial = self.serial();
        let payload = json!({ "token": "verification-token", "team_id": TEAM, "api_app_id": APP, "event": event,
            "type": "event_callback", "event_id": format!("Ev{serial:08}"), "event_time": serial,
            "authorizations": [{ "team_id": TEAM, "user_id": BOT_USER, "is_bot": true }] });
        self.envelope("events_api", payload, false)
    }

    /// Queues a slash command invocation (`/chatid`) in a channel; returns its envelope id.
    pub fn slash(&self, command: &str, channel: &str, user: &str) -> String {
        let payload = json!({ "token": "verification-token", "team_id": TEAM, "channel_id": channel,
            "user_id": user, "command": command, "text": "", "api_app_id": APP,
            "response_url": format!("http://{}/commands/reply", self.addr), "trigger_id": "13345224609.738474920.8088930838d88f008e0" });
        self.envelope("slash_commands", payload, true)
    }

    /// Sends `frame` as it is on the live socket (malformed or forged input for attack tests).
    pub fn raw(&self, frame: &str) {
        self.lock().raw.push_back(frame.to_string());
        self.changed.notify_waiters();
    }

    /// Every live socket says `disconnect` (as Slack does before it rotates a connection).
    pub fn refresh(&self) {
        self.lock().refreshes += 1;
        self.changed.notify_waiters();
    }

    /// From now on every connection says `disconnect` right after `hello` (a flapping Slack).
    pub fn flap(&self) {
        self.lock().flapping = true;
        self.refresh();
    }

    /// Answers the next call of `method` with `error` ("ratelimited": HTTP 429 with `Retry-After`).
    pub fn fail_next(&self, method: &str, error: &str, retry_after: u64) {
        self.lock().failures.push_back((method.into(), error.into(), retry_after));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.lock().posted.clone()
    }

    pub fn acks(&self) -> Vec<Value> {
        self.lock().acks.clone()
    }

    /// Socket Mode connections accepted so far.
    pub fn connections(&self) -> u32 {
        self.lock().connections
    }

    fn envelope(&self, kind: &str, payload: Value, accepts_response: bool) -> String {
        let id = format!("{:08x}-fake-4e0d-9c8a-{:012x}", self.serial(), self.serial());
        let envelope = json!({ "envelope_id": id, "payload": payload, "type": kind,
            "accepts_response_payload": accepts_response });
        self.lock().pending.push_back((envelope, 0));
        self.changed.notify_waiters();
        id
    }

    fn serial(&self) -> u64 {
        let mut s = self.lock();
        s.serial += 1;
        s.serial
    }

    fn next_ts(&self) -> String {
        format!("{}.{:06}", now(), self.serial())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let (kind, auth) = (header("content-type"), header("authorization"));
        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        if let Some(op) = path.strip_prefix("/control/") {
            return self.control(op, &body);
        }
        let Some(method) = path.strip_prefix("/api/") else { return respond(404, json!({ "ok": false })) };
        let mut params = parse_form(query.as_bytes());
        if kind.starts_with("application/json") {
            params = serde_json::from_slice(&body).unwrap_or(Value::Null);
        } else if kind.starts_with("application/x-www-form-urlencoded") {
            params = parse_form(&body);
        }
        let token =
            auth.strip_prefix("Bearer ").map(str::to_string).or_else(|| params["token"].as_str().map(String::from));
        let wanted = if method == "apps.connections.open" { &self.app_token } else { &self.bot_token };
        let authorized = token.as_deref() == Some(&**wanted);
        self.lock().calls.push(Call { method: method.into(), params: params.clone(), authorized });
        match token {
            None => return fail("not_authed"),
            Some(t) if t == *self.bot_token && method == "apps.connections.open" => {
                return fail("not_allowed_token_type");
            }
            Some(_) if !authorized => return fail("invalid_auth"),
            Some(_) => {}
        }
        let failure = {
            let mut s = self.lock();
            let at = s.failures.iter().position(|(m, _, _)| m == method);
            at.and_then(|i| s.failures.remove(i))
        };
        if let Some((_, error, retry_after)) = failure {
            return match error.as_str() {
                "ratelimited" => Response::builder()
                    .status(429)
                    .header("retry-after", retry_after.to_string())
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(json!({ "ok": false, "error": "ratelimited" }).to_string())))
                    .unwrap_or_default(),
                _ => fail(&error),
            };
        }
        match method {
            "auth.test" => ok(json!({ "url": "https://claw-test.slack.com/", "team": "Claw Test", "user": "claw",
                "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID, "is_enterprise_install": false })),
            "apps.connections.open" => {
                let ticket = format!("{:016x}", self.serial().wrapping_mul(0x9e37_79b9_7f4a_7c15));
                self.lock().tickets.insert(ticket.clone());
                ok(json!({ "url": format!("ws://{}/link/?ticket={ticket}&app_id={APP}", self.socket_addr) }))
            }
            "chat.postMessage" => self.post_message(&params),
            "conversations.info" => match params["channel"].as_str() {
                Some(id) if !id.is_empty() => ok(json!({ "channel": conversation(id) })),
                _ => fail("channel_not_found"),
            },
            "users.info" => match params["user"].as_str() {
                Some(id) if !id.is_empty() => {
                    ok(json!({ "user": { "id": id, "team_id": TEAM, "name": id.to_lowercase(),
                    "real_name": format!("Person {id}"), "is_bot": id == BOT_USER,
                    "profile": { "display_name": "", "real_name": format!("Person {id}") } } }))
                }
                _ => fail("user_not_found"),
            },
            _ => fail("unknown_method"),
        }
    }

    fn post_message(&self, params: &Value) -> Response<Full<Bytes>> {
        let channel = params["channel"].as_str().unwrap_or("");
        let text = params["text"].as_str().unwrap_or("");
        let thread_ts = params["thread_ts"].as_str().filter(|t| !t.is_empty()).map(String::from);
        if channel.is_empty() || channel.contains(|c: char| !c.is_ascii_alphanumeric()) {
            return fail("channel_not_found");
        }
        if text.is_empty() {
            return fail("no_text");
        }
        if text.chars().count() > 40_000 {
            return fail("msg_too_long");
        }
        self.lock().posted.push(Posted { channel: channel.into(), text: text.into(), thread_ts: thread_ts.clone() });
        let ts = self.next_ts();
        let mut message = json!({ "type": "message", "user": BOT_USER, "bot_id": BOT_ID, "app_id": APP,
            "text": text, "ts": ts, "team": TEAM });
        if let Some(thread) = &thread_ts {
            message["thread_ts"] = json!(thread);
        }
        // Slack sends the bot's own message back as an event.
        let mut echo = message.clone();
        echo["channel"] = json!(channel);
        echo["event_ts"] = json!(ts);
        echo["channel_type"] = json!(if channel.starts_with('D') { "im" } else { "channel" });
        self.event(echo);
        ok(json!({ "channel": channel, "ts": ts, "message": message }))
    }

    /// One Socket Mode connection: a valid ticket, `hello`, then envelopes and acknowledgements.
    async fn socket(self, stream: tokio::net::TcpStream) {
        let mut ticket = None;
        // The callback's signature is tungstenite's: its error is a whole HTTP response.
        #[allow(clippy::result_large_err)]
        let check = |req: &WsRequest, response: WsResponse| -> Result<WsResponse, ErrorResponse> {
            let query = req.uri().query().unwrap_or("");
            ticket = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "ticket").map(|(_, v)| v.into_owned());
            Ok(response)
        };
        let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else { return };
        // A ticket is good for one connection.
        if !ticket.is_some_and(|t| self.lock().tickets.remove(&t)) {
            let _ = ws.send(Message::text(r#"{"type":"disconnect","reason":"link_disabled"}"#)).await;
            let _ = ws.close(None).await;
            return;
        }
        let (refreshes, flapping) = {
            let mut s = self.lock();
            s.connections += 1;
            s.pending.iter_mut().for_each(|(_, sent)| *sent = 0);
            (s.refreshes, s.flapping)
        };
        let hello = json!({ "type": "hello", "num_connections": 1,
            "debug_info": { "host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060 },
            "connection_info": { "app_id": APP } });
        if ws.send(Message::text(hello.to_string())).await.is_err() {
            return;
        }
        loop {
            let changed = self.changed.notified();
            let (frames, refresh) = {
                let mut s = self.lock();
                let mut frames: Vec<String> = s.raw.drain(..).collect();
                for (envelope, sent) in s.pending.iter_mut().filter(|(_, sent)| *sent == 0) {
                    envelope["retry_attempt"] = json!(envelope["retry_attempt"].as_u64().map_or(0, |n| n + 1));
                    envelope["retry_reason"] = json!(if envelope["retry_attempt"] == 0 { "" } else { "timeout" });
                    *sent += 1;
                    frames.push(envelope.to_string());
                }
                (frames, flapping || s.refreshes != refreshes)
            };
            for frame in frames {
                if ws.send(Message::text(frame)).await.is_err() {
                    return;
                }
            }
            if refresh {
                let bye = json!({ "type": "disconnect", "reason": "refresh_requested",
                    "debug_info": { "host": "applink-fake" } });
                let _ = ws.send(Message::text(bye.to_string())).await;
                let _ = ws.close(None).await;
                return;
            }
            tokio::select! {
                _ = changed => {}
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => self.acknowledged(&text),
                    Some(Ok(_)) => {}
                    _ => return,
                },
            }
        }
    }

    fn acknowledged(&self, text: &str) {
        let Ok(ack) = serde_json::from_str::<Value>(text) else { return };
        let Some(id) = ack["envelope_id"].as_str() else { return };
        let mut s = self.lock();
        s.pending.retain(|(e, _)| e["envelope_id"] != id);
        s.acks.push(ack);
    }

    /// `/control/message` (`{channel, user, text, thread_ts}`), `/control/event` (an event),
    /// `/control/slash` (`{command, channel, user}`), `/control/fail` (`{method, error,
    /// retry_after}`), `/control/refresh`, `/control/calls`, `/control/posted`, `/control/acks`.
    fn control(&self, op: &str, body: &[u8]) -> Response<Full<Bytes>> {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let s = |key: &str| v[key].as_str().unwrap_or("").to_string();
        match op {
            "message" => {
                ok(json!({ "ts": self.message(&s("channel"), &s("user"), &s("text"), v["thread_ts"].as_str()) }))
            }
            "event" => ok(json!({ "envelope_id": self.event(v.clone()) })),
            "slash" => ok(json!({ "envelope_id": self.slash(&s("command"), &s("channel"), &s("user")) })),
            "fail" => {
                self.fail_next(&s("method"), &s("error"), v["retry_after"].as_u64().unwrap_or(1));
                ok(json!({}))
            }
            "refresh" => {
                self.refresh();
                ok(json!({}))
            }
            "calls" => ok(json!({ "calls": self.calls().iter().map(|c| json!({ "method": c.method, "params": c.params,
                "authorized": c.authorized })).collect::<Vec<_>>() })),
            "posted" => ok(json!({ "posted": self.posted().iter().map(|p| json!({ "channel": p.channel,
                "text": p.text, "thread_ts": p.thread_ts })).collect::<Vec<_>>() })),
            "acks" => ok(json!({ "acks": self.acks(), "connections": self.connections() })),
            _ => respond(404, json!({ "ok": false })),
        }
    }
}

fn conversation(id: &str) -> Value {
    let im = id.starts_with('D');
    json!({ "id": id, "name": format!("chan-{}", id.to_lowercase()), "is_channel": id.starts_with('C'),
        "is_group": id.starts_with('G'), "is_im": im, "is_private": !id.starts_with('C'), "is_member": true,
        "created": 1_700_000_000, "creator": "U0OWNER" })
}

/// Form values arrive as strings.
fn parse_form(bytes: &[u8]) -> Value {
    Value::Object(form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn ok(mut body: Value) -> Response<Full<Bytes>> {
    body["ok"] = json!(true);
    respond(200, body)
}

/// Slack reports errors with HTTP 200 and `ok: false`.
fn fail(error: &str) -> Response<Full<Bytes>> {
    respond(200, json!({ "ok": false, "error": error }))
}

fn respond(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}
