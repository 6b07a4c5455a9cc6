//! A local stand-in for Ollama's native API: `POST /api/chat` streamed as NDJSON (text in
//! pieces, tool calls whole, a last `done: true` line with the stop reason and token counts) or
//! whole, tools, the API's `{"error": ...}` answers (404 for an unknown model, 429 / 503 with
//! `retry-after`, 500), and `GET /api/version` and `/api/tags`. Driven by a script of `Step`s;
//! records every request. Proven faithful by the official `ollama` Python package
//! (skills/ollama/tests/sdk).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{Value, json};

use crate::{Recorded, Script, Step};

/// The only model this stand-in has "pulled"; others get Ollama's 404.
pub const MODEL: &str = "qwen3";

/// A running stand-in; it stops with the runtime it was started on.
#[derive(Clone)]
pub struct FakeOllama {
    pub addr: std::net::SocketAddr,
    script: Script,
}

impl FakeOllama {
    pub async fn start(script: Vec<Step>) -> std::io::Result<FakeOllama> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let fake = FakeOllama { addr: listener.local_addr()?, script: Script::new(script) };
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
        match (method.as_str(), path.as_str()) {
            ("GET", "/api/version") => {
                return respond(200, "application/json", json!({ "version": "0.12.0" }).to_string());
            }
            ("GET", "/api/tags") => {
                let model = json!({ "name": format!("{MODEL}:latest"), "model": format!("{MODEL}:latest"),
                    "modified_at": "2025-01-01T00:00:00Z", "size": 1, "digest": "0".repeat(64),
                    "details": { "format": "gguf", "family": MODEL, "parameter_size": "8B", "quantization_level": "Q4_K_M" } });
                return respond(200, "application/json", json!({ "models": [model] }).to_string());
            }
            ("POST", "/api/chat") => {}
            _ => return respond(404, "text/plain", "404 page not found".into()),
        }
        let Some(model) = body["model"].as_str() else {
            return error(400, "model is required");
        };
        if model.trim_end_matches(":latest") != MODEL {
            return error(404, &format!("model \"{model}\" not found, try pulling it first"));
        }
        let (step, _) = self.script.next(Recorded { path, headers, body: body.clone() });
        if let Some(ms) = step.delay_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        if let Some(status) = step.status {
            let message = match status {
                429 | 503 => "server busy, please try again.  maximum pending requests exceeded",
                _ => "model runner has unexpectedly stopped",
            };
            let mut response = error(status, message);
            if let Some(after) = step.retry_after.and_then(|a| a.parse().ok()) {
                response.headers_mut().insert("retry-after", after);
            }
            return response;
        }
        answer(&body, model, &step)
    }
}

fn answer(body: &Value, model: &str, step: &Step) -> Response<Full<Bytes>> {
    let calls: Vec<Value> = match &step.tool {
        Some(Value::Array(calls)) => calls.clone(),
        Some(call) => vec![call.clone()],
        None => vec![],
    };
    let calls: Vec<Value> =
        calls.iter().map(|c| json!({ "function": { "name": c["name"], "arguments": c["input"] } })).collect();
    let text = step.text.clone().unwrap_or_default();
    let prompt_eval_count = body["messages"].to_string().len() as u64 / 4;
    let eval_count = (text.len() + Value::from(calls.clone()).to_string().len()) as u64 / 4 + 1;
    let line = |message: Value, done: bool| {
        let mut l =
            json!({ "model": model, "created_at": "2025-01-01T00:00:00.000000000Z", "message": message, "done": done });
        if done {
            let totals = json!({ "done_reason": "stop", "total_duration": 1_000_000, "load_duration": 10_000,
                "prompt_eval_count": prompt_eval_count, "prompt_eval_duration": 100_000,
                "eval_count": eval_count, "eval_duration": 800_000 });
            for (k, v) in totals.as_object().into_iter().flatten() {
                l[k] = v.clone();
            }
        }
        l
    };
    let with_calls = |content: &str| {
        let mut m = json!({ "role": "assistant", "content": content });
        if !calls.is_empty() {
            m["tool_calls"] = calls.clone().into();
        }
        m
    };
    // Ollama streams unless told `"stream": false`.
    if body["stream"] == false {
        return respond(200, "application/json; charset=utf-8", line(with_calls(&text), true).to_string());
    }
    let mut out = String::new();
    let cut = text.char_indices().nth(text.chars().count() / 2).map_or(text.len(), |(i, _)| i);
    for piece in [&text[..cut], &text[cut..]].into_iter().filter(|p| !p.is_empty()) {
        out.push_str(&format!("{}\n", line(json!({ "role": "assistant", "content": piece }), false)));
    }
    if !calls.is_empty() {
        out.push_str(&format!("{}\n", line(with_calls(""), false)));
    }
    out.push_str(&format!("{}\n", line(json!({ "role": "assistant", "content": "" }), true)));
    respond(200, "application/x-ndjson", out)
}

fn error(status: u16, message: &str) -> Response<Full<Bytes>> {
    respond(status, "application/json; charset=utf-8", json!({ "error": message }).to_string())
}

fn respond(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        response.headers_mut().insert("content-type", v);
    }
    response
}
