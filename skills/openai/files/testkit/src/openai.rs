//! A local stand-in for the OpenAI Chat Completions API: JSON and streamed (SSE) answers, text
//! and tool calls (arguments streamed in pieces), `stream_options.include_usage`, the API's
//! error bodies for 400, 401, 404, 429 (with `retry-after`) and 5xx, and `GET /v1/models`.
//! Driven by a script of `Step`s; records every request. Proven faithful by the official
//! `openai` Python package (skills/openai/tests/sdk).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{Value, json};

use crate::{Recorded, Script, Step};

/// A running stand-in; it stops with the runtime it was started on.
#[derive(Clone)]
pub struct FakeOpenAi {
    pub addr: std::net::SocketAddr,
    key: Option<String>,
    script: Script,
}

impl FakeOpenAi {
    /// Answers with `script`; with `key`, only requests bearing `Authorization: Bearer KEY`.
    pub async fn start(script: Vec<Step>, key: Option<&str>) -> std::io::Result<FakeOpenAi> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let fake =
            FakeOpenAi { addr: listener.local_addr()?, key: key.map(str::to_string), script: Script::new(script) };
        let shared = fake.clone();
        crate::serve(listener, move |req| shared.clone().handle(req));
        Ok(fake)
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

    async fn handle(self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let headers: Vec<(String, String)> =
            req.headers().iter().map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string())).collect();
        let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let recorded = Recorded { path: path.clone(), headers, body: body.clone() };
        if let Some(key) = &self.key
            && recorded.header("authorization") != Some(&format!("Bearer {key}"))
        {
            return error(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.");
        }
        match (method.as_str(), path.as_str()) {
            ("GET", "/v1/models") => {
                let model = json!({ "id": "gpt-fake", "object": "model", "created": 0, "owned_by": "claw-testkit" });
                return respond(200, "application/json", json!({ "object": "list", "data": [model] }).to_string());
            }
            ("POST", "/v1/chat/completions") => {}
            _ => {
                return error(
                    404,
                    "invalid_request_error",
                    "unknown_url",
                    &format!("Unknown request URL: {method} {path}."),
                );
            }
        }
        if !body["model"].is_string() || !body["messages"].is_array() {
            return error(
                400,
                "invalid_request_error",
                "missing_required_parameter",
                "'model' and 'messages' are required.",
            );
        }
        let (step, count) = self.script.next(recorded);
        if let Some(ms) = step.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        if let Some(status) = step.status {
            let (kind, code, message) = match status {
                401 => ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
                403 => ("invalid_request_error", "unsupported_country_region_territory", "Not allowed."),
                429 => ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
                400 => ("invalid_request_error", "invalid_value", "Invalid request."),
                _ => ("server_error", "server_error", "The server had an error while processing your request."),
            };
            let mut response = error(status, kind, code, message);
            if let Some(after) = step.retry_after.and_then(|a| a.parse().ok()) {
                response.headers_mut().insert("retry-after", after);
            }
            return response;
        }
        answer(&body, &step, count)
    }
}

/// The reply of `step` to request number `n`, whole or as chunks.
fn answer(body: &Value, step: &Step, n: usize) -> Response<Full<Bytes>> {
    let calls: Vec<Value> = match &step.tool {
        Some(Value::Array(calls)) => calls.clone(),
        Some(call) => vec![call.clone()],
        None => vec![],
    };
    let calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({ "id": format!("call_{n:03}_{i}"), "type": "function",
            "function": { "name": c["name"], "arguments": c["input"].to_string() } })
        })
        .collect();
    let text = step.text.clone();
    let finish = if calls.is_empty() { "stop" } else { "tool_calls" };
    let model = body["model"].as_str().unwrap_or("gpt-fake");
    let prompt_tokens = body["messages"].to_string().len() as u64 / 4;
    let completion_tokens =
        (text.as_deref().unwrap_or("").len() as u64 + Value::from(calls.clone()).to_string().len() as u64) / 4 + 1;
    let usage = json!({ "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens });
    let id = format!("chatcmpl-fake{n:04}");
    if body["stream"] != true {
        let mut message = json!({ "role": "assistant", "content": text, "refusal": null });
        if !calls.is_empty() {
            message["tool_calls"] = calls.into();
        }
        let completion = json!({ "id": id, "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish }],
            "usage": usage, "system_fingerprint": "fp_fake" });
        return respond(200, "application/json", serde_json::to_string_pretty(&completion).unwrap_or_default());
    }
    let include_usage = body.pointer("/stream_options/include_usage") == Some(&Value::Bool(true));
    let mut out = String::new();
    let mut chunk = |delta: Value, finish: Value| {
        let mut c = json!({ "id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
            "system_fingerprint": "fp_fake", "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }] });
        if include_usage {
            c["usage"] = Value::Null;
        }
        out.push_str(&format!("data: {c}\n\n"));
    };
    chunk(json!({ "role": "assistant", "content": "", "refusal": null }), Value::Null);
    for piece in halves(text.as_deref().unwrap_or("")) {
        chunk(json!({ "content": piece }), Value::Null);
    }
    for (index, call) in calls.iter().enumerate() {
        let head = json!({ "index": index, "id": call["id"], "type": "function",
            "function": { "name": call["function"]["name"], "arguments": "" } });
        chunk(json!({ "tool_calls": [head] }), Value::Null);
        for piece in halves(call["function"]["arguments"].as_str().unwrap_or("")) {
            chunk(json!({ "tool_calls": [{ "index": index, "function": { "arguments": piece } }] }), Value::Null);
        }
    }
    chunk(json!({}), finish.into());
    if include_usage {
        let last = json!({ "id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
            "system_fingerprint": "fp_fake", "choices": [], "usage": usage });
        out.push_str(&format!("data: {last}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    respond(200, "text/event-stream; charset=utf-8", out)
}

/// `text` in two pieces cut at a character boundary (none when empty), as a stream splits it.
pub fn halves(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return vec![];
    }
    let cut = text.char_indices().nth(text.chars().count() / 2).map_or(text.len(), |(i, _)| i);
    [&text[..cut], &text[cut..]].into_iter().filter(|p| !p.is_empty()).collect()
}

fn error(status: u16, kind: &str, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({ "error": { "message": message, "type": kind, "param": null, "code": code } });
    respond(status, "application/json", body.to_string())
}

fn respond(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        response.headers_mut().insert("content-type", v);
    }
    if let Ok(v) = "req_fake".parse() {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}
