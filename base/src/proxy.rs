//! The credential proxy. Each group's container reaches the model through a Unix socket of its
//! own (so the container needs no network, and the proxy knows which group is asking). The proxy
//! forwards only the chosen provider's paths (its `Route`, see providers/), strips hop-by-hop and
//! credential headers, adds the key as the route says, caps the request size, and counts tokens
//! per group. The key exists only in this process.
//! It is bounded like a public server, since a hostile agent is its client: a few connections
//! per group (the rest wait in the kernel's backlog, costing the host nothing), header and body
//! timeouts, bodies streamed through rather than held, and no redirect followed.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::UnixListener;
use tokio::sync::Semaphore;

use futures_util::{Stream, StreamExt};

use crate::config::ModelConfig;
use crate::providers::{Credential, Route};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Connections one group may hold open at once; an agent makes one request at a time.
const MAX_CONNECTIONS: usize = 8;
/// How long a client may take to send a request's headers, or to send the next piece of its body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Headers never forwarded in either direction (hop-by-hop, or set by the proxy's own client),
/// or never from the container (credentials it must not choose).
#[rustfmt::skip] // Grouped by why each is dropped.
const DROPPED: &[&str] = &[
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding",
    "upgrade", "host", "content-length",
    "x-api-key", "authorization",
];

/// Called with (group folder, input tokens, output tokens) after each response.
pub type UsageSink = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

pub struct Proxy {
    client: reqwest::Client,
    route: Route,
    upstream: String,
    /// The key's header (replacing any the container sent), then the route's default headers
    /// (added when absent); made once, so a bad one fails the start.
    headers: Vec<(HeaderName, HeaderValue, bool)>,
    max_request: usize,
    usage: UsageSink,
}

type Body = BoxBody<Bytes, std::io::Error>;

impl Proxy {
    /// Forwards `route`'s paths to `model.upstream` (or the route's own), adding `key` as the
    /// route says.
    pub fn new(route: Route, model: &ModelConfig, key: &str, usage: UsageSink) -> Result<Arc<Proxy>, String> {
        let credential = match route.credential {
            Credential::Header(name) => vec![(name, key.to_string(), true)],
            Credential::Bearer => vec![("authorization", format!("Bearer {key}"), true)],
            Credential::None => vec![],
        };
        let defaults = route.headers.iter().map(|(name, value)| (*name, value.to_string(), false));
        let headers = credential
            .into_iter()
            .chain(defaults)
            .map(|(name, value, replace)| match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                (Ok(name), Ok(value)) => Ok((name, value, replace)),
                _ => Err(format!("proxy: the {} route's header {name} is not a valid header", route.provider)),
            })
            .collect::<Result<_, String>>()?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("proxy: {e}"))?;
        let upstream = model.upstream.as_deref().unwrap_or(route.upstream).trim_end_matches('/').to_string();
        Ok(Arc::new(Proxy { client, route, upstream, headers, max_request: model.max_request_bytes, usage }))
    }

    /// Listens on `dir/model.sock` for `folder`'s container; returns the socket path.
    pub fn serve_group(self: &Arc<Self>, dir: &Path, folder: &str) -> Result<PathBuf, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("proxy: {}: {e}", dir.display()))?;
        let path = dir.join("model.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| format!("proxy: binding {}: {e}", path.display()))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|e| format!("proxy: {e}"))?;
        let proxy = self.clone();
        let folder = folder.to_string();
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        tokio::spawn(async move {
            let mut told = false;
            // A slot first, then accept: over the cap, connections wait unaccepted.
            while let Ok(slot) = slots.clone().acquire_owned().await {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors (EMFILE/ENFILE) or an aborted connection: go on.
                        if !std::mem::replace(&mut told, true) {
                            tracing::warn!(group = folder, "proxy: accepting: {e}");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let proxy = proxy.clone();
                let folder = folder.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let proxy = proxy.clone();
                        let folder = folder.clone();
                        async move { Ok::<_, Infallible>(proxy.handle(&folder, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(READ_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    drop(slot);
                });
            }
        });
        Ok(path)
    }

    async fn handle(&self, folder: &str, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        if !self.route.paths.contains(&path.as_str()) || req.method() != hyper::Method::POST {
            tracing::warn!(group = folder, "proxy refused {} {path}", req.method());
            return error(StatusCode::FORBIDDEN, "this path is not forwarded");
        }
        let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
        let mut headers = kept(req.headers());
        let declared = req.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.max_request) {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        let too_large = Arc::new(AtomicBool::new(false));
        let body = reqwest::Body::wrap_stream(capped(req.into_body(), self.max_request, too_large.clone()));
        for (name, value, replace) in &self.headers {
            if *replace || !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        let sent = self.client.post(format!("{}{path}{query}", self.upstream)).headers(headers).body(body).send().await;
        let upstream = match sent {
            Ok(r) => r,
            Err(_) if too_large.load(Ordering::Relaxed) => {
                return error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
            }
            Err(e) => {
                tracing::warn!(group = folder, "proxy: upstream: {e}");
                return error(StatusCode::BAD_GATEWAY, "the model API is not reachable");
            }
        };
        let json =
            upstream.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        let mut counter = UsageCounter::new(self.route.usage, json);
        counter.sink = Some((folder.to_string(), self.usage.clone()));
        let (status, headers) = (upstream.status(), kept(upstream.headers()));
        let stream = upstream.bytes_stream().map(move |chunk| {
            chunk.inspect(|bytes| counter.feed(bytes)).map(Frame::data).map_err(std::io::Error::other)
        });
        let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

/// The headers that may cross the proxy, in either direction: all but `DROPPED`.
fn kept(headers: &HeaderMap) -> HeaderMap {
    headers.iter().filter(|(name, _)| !DROPPED.contains(&name.as_str())).map(|(n, v)| (n.clone(), v.clone())).collect()
}

/// A request body as a stream for the upstream request: ends in an error if the client stalls
/// for longer than READ_TIMEOUT or sends more than `max` bytes (setting `too_large`).
fn capped(body: Incoming, max: usize, too_large: Arc<AtomicBool>) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    futures_util::stream::unfold(Some((body.into_data_stream(), 0usize)), move |state| {
        let too_large = too_large.clone();
        async move {
            let (mut body, seen) = state?;
            let data = match tokio::time::timeout(READ_TIMEOUT, body.next()).await {
                Ok(Some(Ok(data))) => data,
                Ok(None) => return None,
                Ok(Some(Err(e))) => return Some((Err(std::io::Error::other(e)), None)),
                Err(_) => return Some((Err(std::io::Error::other("the request body stalled")), None)),
            };
            let seen = seen + data.len();
            if seen > max {
                too_large.store(true, Ordering::Relaxed);
                return Some((Err(std::io::Error::other("request body too large")), None));
            }
            Some((Ok(data), Some((body, seen))))
        }
    })
}

/// Reads token usage out of a response as it streams by, with the route's `usage`: a JSON body
/// whole at the end (bounded), a stream line by line (SSE `data:` events or NDJSON lines). With
/// a sink, it reports when dropped with the response body: at its end, or when the client leaves
/// mid-stream (the tokens were spent either way).
pub struct UsageCounter {
    usage: fn(&serde_json::Value) -> Option<(u64, u64)>,
    json: bool,
    buffer: Vec<u8>,
    pub input: u64,
    pub output: u64,
    sink: Option<(String, UsageSink)>,
}

impl Drop for UsageCounter {
    fn drop(&mut self) {
        if let Some((folder, sink)) = self.sink.take() {
            self.finish();
            sink(&folder, self.input, self.output);
        }
    }
}

/// The longest line (or JSON body) read for usage; longer ones are passed on, not counted.
const MAX_LINE: usize = 1 << 20;

impl UsageCounter {
    pub fn new(usage: fn(&serde_json::Value) -> Option<(u64, u64)>, json: bool) -> UsageCounter {
        UsageCounter { usage, json, buffer: Vec::new(), input: 0, output: 0, sink: None }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' && !self.json {
                let line = std::mem::take(&mut self.buffer);
                self.read(&line);
            } else if self.buffer.len() < MAX_LINE {
                self.buffer.push(b);
            }
        }
    }

    /// The response ended: reads what is left (a JSON body, or a last line without a newline).
    pub fn finish(&mut self) {
        let rest = std::mem::take(&mut self.buffer);
        self.read(&rest);
    }

    fn read(&mut self, line: &[u8]) {
        let line = line.trim_ascii();
        let json = line.strip_prefix(b"data:").unwrap_or(line).trim_ascii();
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(json)
            && let Some((input, output)) = (self.usage)(&value)
        {
            self.input = self.input.max(input);
            self.output = self.output.max(output);
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "type": "error", "error": { "type": "proxy_error", "message": message } });
    let body = Full::new(Bytes::from(body.to_string())).map_err(|never: Infallible| match never {}).boxed();
    // A builder given a `StatusCode` and no headers cannot fail.
    Response::builder().status(status).body(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::UsageCounter;
    use crate::providers::anthropic::ROUTE;

    #[test]
    fn counts_tokens_in_streams_and_bodies() {
        let mut c = UsageCounter::new(ROUTE.usage, false);
        c.feed(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n");
        c.feed(b"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":30}}\n");
        c.finish();
        assert_eq!((c.input, c.output), (12, 30), "message_delta's count is cumulative");
        let mut c = UsageCounter::new(ROUTE.usage, true);
        c.feed(b"{\"id\":\"m\",\n  \"usage\":{\"input_tokens\":5,");
        c.feed(b"\"output_tokens\":7}}");
        c.finish();
        assert_eq!((c.input, c.output), (5, 7));
    }
}
