//! A local server that speaks the Anthropic Messages API (JSON and server-sent events, text and
//! tool use, error and rate-limit responses), driven by a script of replies per test, and
//! recording every request it receives. Proven faithful by driving it with the official
//! `anthropic` Python SDK (tests/sdk/test_fake_model.py).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};

/// Serves HTTP/1 on `listener` for as long as the runtime runs, answering every request with
/// `handle`: the loop every stand-in server here shares.
pub fn serve<F, Fut>(listener: tokio::net::TcpListener, handle: F)
where
    F: Fn(Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let answer = handle(req);
                    async move { Ok::<_, Infallible>(answer.await) }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
}

/// For a scripted stand-in's command line: the replies in the JSON file at `path`; a missing
/// argument or a bad file ends the process with status 2 and a message naming `program`.
pub fn read_script(program: &str, path: Option<&str>) -> Vec<Step> {
    let Some(path) = path else {
        eprintln!("usage: {program} SCRIPT.json");
        std::process::exit(2);
    };
    match std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(script) => script,
        Err(e) => {
            eprintln!("{program}: {path}: {e}");
            std::process::exit(2);
        }
    }
}

/// For a stand-in's command line: prints `listening on URL`, then every request as one JSON
/// line on stderr, for as long as the process runs.
pub async fn print_requests(url: String, requests: impl Fn() -> Vec<Recorded>) {
    println!("listening on {url}");
    let mut seen = 0;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let requests = requests();
        for r in &requests[seen..] {
            eprintln!("{}", json!({ "path": r.path, "headers": r.headers, "body": r.body }));
        }
        seen = requests.len();
    }
}

/// One scripted reply.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Text of the reply.
    #[serde(default)]
    pub text: Option<String>,
    /// A tool call: `{"name": "bash", "input": {...}}`.
    #[serde(default)]
    pub tool: Option<Value>,
    /// An HTTP error status instead of a reply (429, 401, 500, 529...).
    #[serde(default)]
    pub status: Option<u16>,
    /// Seconds, sent as `retry-after` with an error status.
    #[serde(default)]
    pub retry_after: Option<String>,
    /// Waits this long before answering.
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

impl Step {
    pub fn text(t: &str) -> Step {
        Step { text: Some(t.into()), tool: None, status: None, retry_after: None, delay_ms: None }
    }

    pub fn tool(name: &str, input: Value) -> Step {
        Step {
            text: None,
            tool: Some(json!({ "name": name, "input": input })),
            status: None,
            retry_after: None,
            delay_ms: None,
        }
    }

    pub fn status(code: u16) -> Step {
        Step { text: None, tool: None, status: Some(code), retry_after: Some("0".into()), delay_ms: None }
    }
}

/// A request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The replies a scripted stand-in gives, in order, and the requests it was sent: what the fake
/// model and every other model API's stand-in keep.
#[derive(Clone, Default)]
pub struct Script(Arc<Mutex<(VecDeque<Step>, Vec<Recorded>)>>);

impl Script {
    pub fn new(steps: Vec<Step>) -> Script {
        Script(Arc::new(Mutex::new((steps.into(), Vec::new()))))
    }

    pub fn push(&self, steps: impl IntoIterator<Item = Step>) {
        self.lock().0.extend(steps);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().1.clone()
    }

    /// Records `request` and gives the next reply (a note once the script has run out), with
    /// the number of requests recorded so far.
    pub fn next(&self, request: Recorded) -> (Step, usize) {
        let mut s = self.lock();
        s.1.push(request);
        (s.0.pop_front().unwrap_or_else(|| Step::text("(the script has no more replies)")), s.1.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<Step>, Vec<Recorded>)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake model; it stops with the runtime it was started on.
#[derive(Clone)]
pub struct FakeModel {
    pub addr: SocketAddr,
    script: Script,
}

impl FakeModel {
    pub async fn start(script: Vec<Step>) -> std::io::Result<FakeModel> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let (addr, script) = (listener.local_addr()?, Script::new(script));
        let shared = script.clone();
        serve(listener, move |req| handle(shared.clone(), req));
        Ok(FakeModel { addr, script })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn push(&self, steps: impl IntoIterator<Item = Step>) {
        self.script.push(steps);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.script.requests()
    }
}

async fn handle(script: Script, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let headers = req.headers().iter().map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if path != "/v1/messages" {
        return error(404, "not_found_error", "unknown path");
    }
    let (step, count) = script.next(Recorded { path, headers, body: body.clone() });
    if let Some(ms) = step.delay_ms {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(status) = step.status {
        let (kind, message) = match status {
            401 => ("authentication_error", "invalid x-api-key"),
            403 => ("permission_error", "not allowed"),
            429 => ("rate_limit_error", "rate limited"),
            529 => ("overloaded_error", "overloaded"),
            _ => ("api_error", "internal error"),
        };
        let mut response = error(status, kind, message);
        if let Some(after) = step.retry_after
            && let Ok(v) = after.parse()
        {
            response.headers_mut().insert("retry-after", v);
        }
        return response;
    }
    let mut blocks = Vec::new();
    if let Some(text) = &step.text {
        blocks.push(json!({ "type": "text", "text": text }));
    }
    if let Some(tool) = &step.tool {
        let id = format!("toolu_{count:04}");
        blocks.push(json!({ "type": "tool_use", "id": id, "name": tool["name"], "input": tool["input"] }));
    }
    let stop_reason = if step.tool.is_some() { "tool_use" } else { "end_turn" };
    let model = body.get("model").and_then(Value::as_str).unwrap_or("claude-test").to_string();
    let input_tokens = bytes.len() as u64 / 4;
    let output_tokens = blocks.iter().map(|b| b.to_string().len() as u64 / 4).sum::<u64>().max(1);
    let message = json!({
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": blocks,
        "stop_reason": stop_reason, "stop_sequence": null, "usage": { "input_tokens": input_tokens, "output_tokens": output_tokens }
    });
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        sse(&message, input_tokens, output_tokens)
    } else {
        respond(200, "application/json", message.to_string())
    }
}

/// The message as the event stream the real API sends: message_start, a start / delta(s) /
/// stop per content block, message_delta with the stop reason, message_stop.
fn sse(message: &Value, input_tokens: u64, output_tokens: u64) -> Response<Full<Bytes>> {
    let mut out = String::new();
    let mut event = |name: &str, data: Value| out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    let mut start = message.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"] = json!({ "input_tokens": input_tokens, "output_tokens": 1 });
    event("message_start", json!({ "type": "message_start", "message": start }));
    event("ping", json!({ "type": "ping" }));
    for (index, block) in message["content"].as_array().into_iter().flatten().enumerate() {
        if block["type"] == "text" {
            event(
                "content_block_start",
                json!({ "type": "content_block_start", "index": index, "content_block": { "type": "text", "text": "" } }),
            );
            let text = block["text"].as_str().unwrap_or("");
            let cut = text.char_indices().nth(text.chars().count() / 2).map_or(text.len(), |(i, _)| i);
            for piece in [&text[..cut], &text[cut..]] {
                event(
                    "content_block_delta",
                    json!({ "type": "content_block_delta", "index": index, "delta": { "type": "text_delta", "text": piece } }),
                );
            }
        } else {
            event(
                "content_block_start",
                json!({ "type": "content_block_start", "index": index, "content_block": { "type": "tool_use", "id": block["id"], "name": block["name"], "input": {} } }),
            );
            let json = block["input"].to_string();
            let cut = json.len() / 2;
            let cut = (cut..json.len()).find(|&i| json.is_char_boundary(i)).unwrap_or(json.len());
            for piece in [&json[..cut], &json[cut..]] {
                event(
                    "content_block_delta",
                    json!({ "type": "content_block_delta", "index": index, "delta": { "type": "input_json_delta", "partial_json": piece } }),
                );
            }
        }
        event("content_block_stop", json!({ "type": "content_block_stop", "index": index }));
    }
    event(
        "message_delta",
        json!({ "type": "message_delta", "delta": { "stop_reason": message["stop_reason"], "stop_sequence": null }, "usage": { "output_tokens": output_tokens } }),
    );
    event("message_stop", json!({ "type": "message_stop" }));
    respond(200, "text/event-stream", out)
}

fn error(status: u16, kind: &str, message: &str) -> Response<Full<Bytes>> {
    respond(
        status,
        "application/json",
        json!({ "type": "error", "error": { "type": kind, "message": message } }).to_string(),
    )
}

fn respond(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        response.headers_mut().insert("content-type", v);
    }
    if let Ok(v) = "req_fake".parse() {
        response.headers_mut().insert("request-id", v);
    }
    response
}
