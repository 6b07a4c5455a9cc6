//! A local stand-in for the Telegram Bot API: `/bot<token>/<method>` with JSON, form or query
//! parameters, the `{ok, result}` / `{ok: false, error_code, description, parameters}` envelopes,
//! `getUpdates` long polling with offsets, `sendMessage` (with Telegram's 4096-character limit),
//! `sendChatAction`, `getMe`, 401 for a wrong token and injected errors such as 429 with
//! `retry_after`. Proven faithful by driving it with python-telegram-bot
//! (tests/sdk/test_fake_telegram.py). Tests steer it directly, or over HTTP under `/control/`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// The bot every fake serves as.
pub const BOT_ID: u64 = 7_000_001;
pub const BOT_USERNAME: &str = "claw_test_bot";

/// One API call as received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Value,
}

#[derive(Default)]
struct State {
    updates: Vec<Value>,
    next_update: i64,
    next_message: i64,
    calls: Vec<Call>,
    /// `(chat_id, text)` of every message accepted.
    delivered: Vec<(i64, String)>,
    /// `(method, error_code, retry_after)`, answered instead of the next call of that method.
    failures: VecDeque<(String, u16, Option<u64>)>,
}

#[derive(Clone)]
pub struct FakeTelegram {
    pub addr: SocketAddr,
    token: Arc<str>,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
}

impl FakeTelegram {
    pub async fn start(token: &str) -> std::io::Result<FakeTelegram> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let fake = FakeTelegram {
            addr: listener.local_addr()?,
            token: token.into(),
            state: Arc::new(Mutex::new(State { next_update: 1, next_message: 1, ..State::default() })),
            arrived: Arc::new(Notify::new()),
        };
        let server = fake.clone();
        crate::serve(listener, move |req| {
            let fake = server.clone();
            async move { fake.handle(req).await }
        });
        Ok(fake)
    }

    /// The API root, as `TELEGRAM_API_URL` or python-telegram-bot's `base_url` (plus `/bot`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a text message from a user in a chat; returns its update id.
    pub fn message(&self, chat: Value, from: Value, text: &str) -> i64 {
        self.push(json!({ "message": { "chat": chat, "from": from, "text": text } }))
    }

    /// Queues an update; a `message` without `message_id` or `date` gets them.
    pub fn push(&self, mut update: Value) -> i64 {
        let id = {
            let mut s = self.lock();
            if let Some(m) = update.get_mut("message").and_then(Value::as_object_mut) {
                m.entry("message_id").or_insert(json!(s.next_message));
                m.entry("date").or_insert(json!(now()));
                s.next_message += 1;
            }
            let id = s.next_update;
            s.next_update += 1;
            update["update_id"] = json!(id);
            s.updates.push(update);
            id
        };
        self.arrived.notify_waiters();
        id
    }

    /// Answers the next call of `method` with an error instead.
    pub fn fail_next(&self, method: &str, code: u16, retry_after: Option<u64>) {
        self.lock().failures.push_back((method.into(), code, retry_after));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// `(chat_id, text)` of every message the bot sent and the API accepted.
    pub fn sent(&self) -> Vec<(i64, String)> {
        self.lock().delivered.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let form = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        if let Some(op) = path.strip_prefix("/control/") {
            return self.control(op, &body);
        }
        let Some((token, method)) = path.strip_prefix("/bot").and_then(|p| p.split_once('/')) else {
            return error(404, "Not Found", None);
        };
        let mut params = parse_form(query.as_bytes());
        if form.starts_with("application/json") {
            params = serde_json::from_slice(&body).unwrap_or(Value::Null);
        } else if form.starts_with("application/x-www-form-urlencoded") {
            params = parse_form(&body);
        }
        self.lock().calls.push(Call { method: method.to_string(), params: params.clone() });
        if token != &*self.token {
            return error(401, "Unauthorized", None);
        }
        let failure = {
            let mut s = self.lock();
            let at = s.failures.iter().position(|(m, _, _)| m == method);
            at.and_then(|i| s.failures.remove(i))
        };
        if let Some((_, code, retry_after)) = failure {
            let text = match code {
                429 => format!("Too Many Requests: retry after {}", retry_after.unwrap_or(1)),
                _ => "Injected error".into(),
            };
            return error(code, &text, retry_after);
        }
        match method {
            "getMe" => ok(bot()),
            "getUpdates" => self.updates(&params).await,
            "sendMessage" => self.send_message(&params),
            "sendChatAction" | "deleteWebhook" => ok(json!(true)),
            _ => error(404, "Not Found: method not found", None),
        }
    }

    async fn updates(&self, params: &Value) -> Response<Full<Bytes>> {
        let offset = number(&params["offset"]).unwrap_or(0);
        let timeout = number(&params["timeout"]).unwrap_or(0).clamp(0, 50) as u64;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        loop {
            let arrived = self.arrived.notified();
            let pending: Vec<Value> = {
                let mut s = self.lock();
                // An offset confirms every update before it, as on Telegram.
                s.updates.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                s.updates.clone()
            };
            if !pending.is_empty() || tokio::time::Instant::now() >= deadline {
                return ok(Value::Array(pending));
            }
            let _ = tokio::time::timeout_at(deadline, arrived).await;
        }
    }

    fn send_message(&self, params: &Value) -> Response<Full<Bytes>> {
        let Some(chat_id) = number(&params["chat_id"]) else {
            return error(400, "Bad Request: chat_id is empty", None);
        };
        let text = params["text"].as_str().unwrap_or("");
        if text.is_empty() {
            return error(400, "Bad Request: message text is empty", None);
        }
        if text.encode_utf16().count() > 4096 {
            return error(400, "Bad Request: message is too long", None);
        }
        let id = {
            let mut s = self.lock();
            s.next_message += 1;
            s.delivered.push((chat_id, text.to_string()));
            s.next_message
        };
        let chat =
            json!({ "id": chat_id, "type": if chat_id < 0 { "supergroup" } else { "private" }, "title": "chat" });
        ok(json!({ "message_id": id, "date": now(), "chat": chat, "from": bot(), "text": text }))
    }

    /// `/control/update` (an update as JSON), `/control/fail` (`{method, code, retry_after}`),
    /// `/control/calls`.
    fn control(&self, op: &str, body: &[u8]) -> Response<Full<Bytes>> {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match op {
            "update" => ok(json!(self.push(value))),
            "fail" => {
                let method = value["method"].as_str().unwrap_or("");
                self.fail_next(method, value["code"].as_u64().unwrap_or(500) as u16, value["retry_after"].as_u64());
                ok(json!(true))
            }
            "calls" => ok(self.calls().iter().map(|c| json!({ "method": c.method, "params": c.params })).collect()),
            _ => error(404, "Not Found", None),
        }
    }
}

fn bot() -> Value {
    json!({ "id": BOT_ID, "is_bot": true, "first_name": "Claw", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false })
}

/// Form values arrive as strings; JSON-encoded lists and objects come back to their type (numbers
/// stay strings: a message's text may be digits).
fn parse_form(bytes: &[u8]) -> Value {
    let value = |v: &str| match v.starts_with(['[', '{']) {
        true => serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.into())),
        false => Value::String(v.into()),
    };
    Value::Object(form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), value(&v))).collect())
}

fn number(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn ok(result: Value) -> Response<Full<Bytes>> {
    respond(200, json!({ "ok": true, "result": result }))
}

fn error(code: u16, description: &str, retry_after: Option<u64>) -> Response<Full<Bytes>> {
    let mut body = json!({ "ok": false, "error_code": code, "description": description });
    if let Some(secs) = retry_after {
        body["parameters"] = json!({ "retry_after": secs });
    }
    respond(code, body)
}

fn respond(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}
