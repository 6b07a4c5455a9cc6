//! What every provider shares: one POST over the model socket (the container's only way out;
//! the host's proxy adds the key), reading a streamed body, and bounded retries.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::ModelResponse;

/// Attempts per model call, so an outage costs minutes, never a loop.
pub const MAX_ATTEMPTS: u32 = 6;
/// The longest wait between attempts, whatever `retry-after` asks.
const MAX_WAIT: Duration = Duration::from_secs(60);

pub enum Failure {
    Retry { after: Duration, why: String },
    Fatal(String),
}

impl Failure {
    /// A broken connection or stream: worth another attempt soon.
    pub fn transient(why: impl std::fmt::Display) -> Failure {
        Failure::Retry { after: Duration::from_secs(1), why: why.to_string() }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or fails MAX_ATTEMPTS times; between
/// attempts it waits what the API asked (`retry-after`) or an exponential backoff, whichever is
/// longer, never more than MAX_WAIT.
pub async fn with_retries<F, Fut>(mut attempt: F) -> Result<ModelResponse, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<ModelResponse, Failure>>,
{
    let mut n = 0;
    loop {
        n += 1;
        match attempt().await {
            Ok(response) => return Ok(response),
            Err(Failure::Retry { after, why }) if n < MAX_ATTEMPTS => {
                let wait = after.max(Duration::from_millis(100 * 2u64.pow(n))).min(MAX_WAIT);
                eprintln!("claw-agent: {why}; retrying in {} ms", wait.as_millis());
                tokio::time::sleep(wait).await;
            }
            Err(Failure::Retry { why, .. }) => return Err(format!("{why}; gave up after {n} attempts")),
            Err(Failure::Fatal(why)) => return Err(why),
        }
    }
}

/// An answer's status, the wait it asked for, and its body (not yet read).
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Incoming,
}

/// POSTs `body` as JSON to `path` over the Unix socket at `socket`.
pub async fn post(socket: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Result<Reply, Failure> {
    let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| Failure::Retry {
        after: Duration::from_millis(500),
        why: format!("model socket {socket}: {e}"),
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failure::Fatal(format!("model socket: {e}")))?;
    tokio::spawn(conn);
    let mut request = Request::post(path).header("host", "model").header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from(body.to_string()))).map_err(|e| Failure::Fatal(e.to_string()))?;
    let response = sender.send_request(request).await.map_err(|e| Failure::transient(format!("model request: {e}")))?;
    let seconds = |name: &str, scale: f64| {
        let value = response.headers().get(name)?.to_str().ok()?.trim().parse::<f64>().ok()?;
        (value.is_finite() && value >= 0.0).then(|| Duration::from_secs_f64((value * scale).min(3600.0)))
    };
    let retry_after = seconds("retry-after-ms", 1e-3).or_else(|| seconds("retry-after", 1.0));
    Ok(Reply { status: response.status().as_u16(), retry_after, body: response.into_body() })
}

impl Reply {
    /// The error body as JSON (Null if it is not), read up to 1 MiB.
    pub async fn error_body(self) -> Value {
        let bytes = Limited::new(self.body, 1 << 20).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    /// Feeds the body to `feed` piece by piece as it arrives.
    pub async fn stream(mut self, mut feed: impl FnMut(&[u8]) -> Result<(), String>) -> Result<(), Failure> {
        while let Some(frame) = self.body.frame().await {
            let frame = frame.map_err(|e| Failure::transient(format!("model stream: {e}")))?;
            if let Some(data) = frame.data_ref() {
                feed(data).map_err(Failure::transient)?;
            }
        }
        Ok(())
    }
}

/// The failure a non-200 answer means: the credential refused (fatal, naming `key_env`), rate
/// limits and overloads (retried, honouring retry-after), anything else fatal.
pub fn failure(status: u16, retry_after: Option<Duration>, message: &str, key_env: &str) -> Failure {
    match status {
        401 | 403 => Failure::Fatal(format!(
            "the model API refused the credential ({status}): check {key_env} in the host's .env"
        )),
        408 | 409 | 429 | 500 | 502 | 503 | 504 | 529 => Failure::Retry {
            after: retry_after.unwrap_or(Duration::from_secs(2)),
            why: format!("model API {status} {message}"),
        },
        _ => Failure::Fatal(format!("model API {status}: {message}")),
    }
}

/// Splits a byte stream into lines (SSE or NDJSON), each handed to `line` without its ending.
#[derive(Default)]
pub struct Lines {
    buffer: Vec<u8>,
}

impl Lines {
    pub fn feed(&mut self, bytes: &[u8], mut line: impl FnMut(&str) -> Result<(), String>) -> Result<(), String> {
        for &b in bytes {
            if b == b'\n' {
                let text = std::mem::take(&mut self.buffer);
                line(String::from_utf8_lossy(&text).trim_end_matches('\r'))?;
            } else if self.buffer.len() < (16 << 20) {
                self.buffer.push(b);
            } else {
                return Err("a line of the model's stream is longer than 16 MiB".into());
            }
        }
        Ok(())
    }
}
