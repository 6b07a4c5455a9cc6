//! A local stand-in for the Gmail REST API and Google's OAuth 2.0 endpoints: `users.getProfile`,
//! `users.messages.list/get/send` (raw RFC 822, base64url), `users.history.list` (messagesAdded,
//! 404 for a history id it no longer has), the token endpoint (authorization code with PKCE S256,
//! refresh token; `invalid_client` and `invalid_grant`), a consent page that agrees at once and
//! redirects to the loopback `redirect_uri`, Bearer checks (401 in Google's error shape) and
//! injected errors such as 429. Proven faithful by google-api-python-client
//! (tests/sdk/test_fake_gmail.py). Tests steer it directly, or over HTTP under `/control/`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{Value, json};

pub const ADDRESS: &str = "assistant@gmail.test";
pub const CLIENT_ID: &str = "1234-test.apps.googleusercontent.test";
pub const CLIENT_SECRET: &str = "GOCSPX-test-secret";

#[derive(Clone, Debug)]
pub struct Stored {
    pub id: String,
    pub thread_id: String,
    pub labels: Vec<String>,
    pub raw: Vec<u8>,
    pub history_id: u64,
}

#[derive(Default)]
struct State {
    messages: Vec<Stored>,
    history: u64,
    /// Authorization code -> (PKCE challenge, redirect_uri).
    codes: HashMap<String, (String, String)>,
    refresh_tokens: Vec<String>,
    access_tokens: Vec<String>,
    /// `(path fragment, status)`, answered instead of the next matching call.
    failures: Vec<(String, u16)>,
    /// Ids of the messages `messages.send` accepted.
    sent: Vec<String>,
    /// `METHOD path` of every call.
    calls: Vec<String>,
}

#[derive(Clone)]
pub struct FakeGmail {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeGmail {
    pub async fn start() -> std::io::Result<FakeGmail> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let fake = FakeGmail {
            addr: listener.local_addr()?,
            state: Arc::new(Mutex::new(State { history: 1000, ..State::default() })),
        };
        let server = fake.clone();
        crate::serve(listener, move |req| {
            let fake = server.clone();
            async move { fake.handle(req).await }
        });
        Ok(fake)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Puts a raw mail in the mailbox with `labels` (INBOX, UNREAD...); returns its id.
    pub fn deliver(&self, raw: &str, thread_id: Option<&str>, labels: &[&str]) -> String {
        let mut s = self.lock();
        s.history += 1;
        let id = format!("{:016x}", 0x18c0_0000_0000u64 + s.history);
        let thread_id = thread_id.map_or(id.clone(), str::to_string);
        let labels = labels.iter().map(|l| l.to_string()).collect();
        let raw = raw.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes();
        let history_id = s.history;
        s.messages.push(Stored { id: id.clone(), thread_id, labels, raw, history_id });
        id
    }

    /// A refresh token, as if the person had consented (for tests that skip the consent step).
    pub fn grant(&self) -> String {
        let token = format!("1//refresh-{}", self.lock().refresh_tokens.len());
        self.lock().refresh_tokens.push(token.clone());
        token
    }

    /// Every access token stops working: the next call gets 401.
    pub fn expire_access_tokens(&self) {
        self.lock().access_tokens.clear();
    }

    pub fn fail_next(&self, path_fragment: &str, status: u16) {
        self.lock().failures.push((path_fragment.into(), status));
    }

    /// Mail the account sent through `messages.send`, in order.
    pub fn sent(&self) -> Vec<Stored> {
        let s = self.lock();
        s.sent.iter().filter_map(|id| s.messages.iter().find(|m| &m.id == id).cloned()).collect()
    }

    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let (method, path) = (req.method().to_string(), req.uri().path().to_string());
        let query: HashMap<String, String> =
            form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        self.lock().calls.push(format!("{method} {path}"));
        if let Some(op) = path.strip_prefix("/control/") {
            return self.control(op, &body);
        }
        let failure = {
            let mut s = self.lock();
            let at = s.failures.iter().position(|(f, _)| path.contains(f.as_str()));
            at.map(|i| s.failures.remove(i).1)
        };
        if let Some(status) = failure {
            let mut r = google_error(
                status,
                "Injected error",
                if status == 429 { "RESOURCE_EXHAUSTED" } else { "UNAVAILABLE" },
            );
            r.headers_mut().insert("retry-after", hyper::header::HeaderValue::from_static("1"));
            return r;
        }
        match (method.as_str(), path.as_str()) {
            ("GET", "/o/oauth2/v2/auth") => return self.consent(&query),
            ("POST", "/token") => return self.token(&form_urlencoded::parse(&body).into_owned().collect()),
            _ => {}
        }
        let Some(rest) = path.strip_prefix("/gmail/v1/users/") else {
            return google_error(404, "Not Found", "NOT_FOUND");
        };
        let token = auth.strip_prefix("Bearer ").unwrap_or("");
        if token.is_empty() || !self.lock().access_tokens.iter().any(|t| t == token) {
            return google_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
                "UNAUTHENTICATED",
            );
        }
        let (user, rest) = rest.split_once('/').unwrap_or((rest, ""));
        if user != "me" && user != ADDRESS {
            return google_error(403, "Delegation denied", "PERMISSION_DENIED");
        }
        match (method.as_str(), rest) {
            ("GET", "profile") => {
                let s = self.lock();
                let total = s.messages.len();
                ok(
                    json!({ "emailAddress": ADDRESS, "messagesTotal": total, "threadsTotal": total, "historyId": s.history.to_string() }),
                )
            }
            ("GET", "messages") => {
                let label = query.get("labelIds");
                let s = self.lock();
                let list: Vec<Value> = s
                    .messages
                    .iter()
                    .rev()
                    .filter(|m| label.is_none_or(|l| m.labels.contains(l)))
                    .map(|m| json!({ "id": m.id, "threadId": m.thread_id }))
                    .collect();
                ok(json!({ "messages": list, "resultSizeEstimate": list.len() }))
            }
            ("POST", "messages/send") => self.send(&body),
            ("GET", "history") => self.history(&query),
            ("GET", get) if get.starts_with("messages/") => {
                let id = &get["messages/".len()..];
                let s = self.lock();
                let Some(m) = s.messages.iter().find(|m| m.id == id) else {
                    return google_error(404, "Requested entity was not found.", "NOT_FOUND");
                };
                let mut out = json!({ "id": m.id, "threadId": m.thread_id, "labelIds": m.labels,
                    "historyId": m.history_id.to_string(), "sizeEstimate": m.raw.len(),
                    "snippet": "", "internalDate": "1700000000000" });
                if query.get("format").map(String::as_str) == Some("raw") {
                    out["raw"] = json!(URL_SAFE.encode(&m.raw));
                }
                ok(out)
            }
            _ => google_error(404, "Not Found", "NOT_FOUND"),
        }
    }

    /// The person consents at once: back to the app's loopback address with a code.
    fn consent(&self, q: &HashMap<String, String>) -> Response<Full<Bytes>> {
        let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
        let loopback = redirect.starts_with("http://127.0.0.1:") || redirect.starts_with("http://[::1]:");
        let pkce = q.get("code_challenge_method").map(String::as_str) == Some("S256");
        if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
            || !loopback
            || !pkce
            || q.get("response_type").map(String::as_str) != Some("code")
        {
            return respond(400, "text/plain", "Error 400: invalid_request".into());
        }
        let code = format!("4/code-{}", self.lock().codes.len());
        let challenge = q.get("code_challenge").cloned().unwrap_or_default();
        self.lock().codes.insert(code.clone(), (challenge, redirect.clone()));
        let state = q.get("state").cloned().unwrap_or_default();
        let location = format!(
            "{redirect}?state={}&code={}&scope=https://www.googleapis.com/auth/gmail.modify",
            urlencode(&state),
            urlencode(&code)
        );
        let mut r = respond(302, "text/html", String::new());
        if let Ok(v) = location.parse() {
            r.headers_mut().insert("location", v);
        }
        r
    }

    fn token(&self, f: &HashMap<String, String>) -> Response<Full<Bytes>> {
        let err = |status, error: &str| {
            respond(
                status,
                "application/json",
                json!({ "error": error, "error_description": "Bad Request" }).to_string(),
            )
        };
        if f.get("client_id").map(String::as_str) != Some(CLIENT_ID)
            || f.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
        {
            return err(401, "invalid_client");
        }
        let mut s = self.lock();
        let refresh = match f.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                let code = f.get("code").cloned().unwrap_or_default();
                let Some((challenge, redirect)) = s.codes.remove(&code) else { return err(400, "invalid_grant") };
                let verifier = f.get("code_verifier").cloned().unwrap_or_default();
                let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
                if URL_SAFE_NO_PAD.encode(digest) != challenge || f.get("redirect_uri") != Some(&redirect) {
                    return err(400, "invalid_grant");
                }
                let token = format!("1//refresh-{}", s.refresh_tokens.len());
                s.refresh_tokens.push(token.clone());
                Some(token)
            }
            Some("refresh_token") if s.refresh_tokens.iter().any(|t| Some(t) == f.get("refresh_token")) => None,
            Some("refresh_token") => return err(400, "invalid_grant"),
            _ => return err(400, "unsupported_grant_type"),
        };
        let access = format!("ya29.access-{}", s.access_tokens.len() + s.calls.len());
        s.access_tokens.push(access.clone());
        let mut out = json!({ "access_token": access, "expires_in": 3599, "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/gmail.modify" });
        if let Some(r) = refresh {
            out["refresh_token"] = json!(r);
        }
        ok(out)
    }

    fn send(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let raw = v["raw"].as_str().unwrap_or("").trim_end_matches('=');
        let Ok(raw) = URL_SAFE_NO_PAD.decode(raw) else {
            return google_error(400, "Invalid value for ByteString", "INVALID_ARGUMENT");
        };
        if raw.is_empty() {
            return google_error(400, "Recipient address required", "INVALID_ARGUMENT");
        }
        let thread = v["threadId"].as_str();
        if thread.is_some_and(|t| !self.lock().messages.iter().any(|m| m.thread_id == t)) {
            return google_error(404, "Requested entity was not found.", "NOT_FOUND");
        }
        let id = self.deliver(&String::from_utf8_lossy(&raw), thread, &["SENT"]);
        self.lock().sent.push(id.clone());
        let m = self.lock().messages.iter().find(|m| m.id == id).cloned();
        ok(m.map_or(Value::Null, |m| json!({ "id": m.id, "threadId": m.thread_id, "labelIds": m.labels })))
    }

    fn history(&self, q: &HashMap<String, String>) -> Response<Full<Bytes>> {
        let Some(start) = q.get("startHistoryId").and_then(|h| h.parse::<u64>().ok()) else {
            return google_error(400, "Invalid startHistoryId", "INVALID_ARGUMENT");
        };
        let s = self.lock();
        if start < 1000 {
            return google_error(404, "Requested entity was not found.", "NOT_FOUND");
        }
        let label = q.get("labelId");
        let records: Vec<Value> = s.messages.iter().filter(|m| m.history_id > start && label.is_none_or(|l| m.labels.contains(l)))
            .map(|m| {
                let message = json!({ "id": m.id, "threadId": m.thread_id, "labelIds": m.labels });
                json!({ "id": m.history_id.to_string(), "messages": [message.clone()], "messagesAdded": [{ "message": message }] })
            })
            .collect();
        let mut out = json!({ "historyId": s.history.to_string() });
        if !records.is_empty() {
            out["history"] = json!(records);
        }
        ok(out)
    }

    /// `/control/deliver` (`{raw, threadId?, labelIds?}`), `/control/grant`, `/control/expire`,
    /// `/control/fail` (`{path, status}`), `/control/sent`.
    fn control(&self, op: &str, body: &[u8]) -> Response<Full<Bytes>> {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match op {
            "deliver" => {
                let labels: Vec<&str> = v["labelIds"]
                    .as_array()
                    .map_or(vec!["INBOX", "UNREAD"], |a| a.iter().filter_map(Value::as_str).collect());
                ok(json!(self.deliver(v["raw"].as_str().unwrap_or(""), v["threadId"].as_str(), &labels)))
            }
            "grant" => ok(json!(self.grant())),
            "expire" => {
                self.expire_access_tokens();
                ok(json!(true))
            }
            "fail" => {
                self.fail_next(v["path"].as_str().unwrap_or(""), v["status"].as_u64().unwrap_or(500) as u16);
                ok(json!(true))
            }
            "sent" => ok(self
                .sent()
                .iter()
                .map(|m| json!({ "id": m.id, "threadId": m.thread_id, "raw": String::from_utf8_lossy(&m.raw) }))
                .collect()),
            _ => google_error(404, "Not Found", "NOT_FOUND"),
        }
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn ok(v: Value) -> Response<Full<Bytes>> {
    respond(200, "application/json; charset=UTF-8", v.to_string())
}

/// Google's error shape: `{"error": {"code", "message", "errors": [...], "status"}}`.
fn google_error(code: u16, message: &str, status: &str) -> Response<Full<Bytes>> {
    let reason = match code {
        401 => "authError",
        429 => "rateLimitExceeded",
        404 => "notFound",
        _ => "backendError",
    };
    let body = json!({ "error": { "code": code, "message": message, "status": status,
        "errors": [{ "message": message, "domain": "global", "reason": reason }] } });
    let mut r = respond(code, "application/json; charset=UTF-8", body.to_string());
    if code == 401
        && let Ok(v) = "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"".parse()
    {
        r.headers_mut().insert("www-authenticate", v);
    }
    r
}

fn respond(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}
