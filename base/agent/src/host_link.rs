//! The agent's side of the protocol: lines to the host on stdout, lines from it on stdin.
//! Answers to requests are matched to their request by number.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use claw_protocol::{FromAgent, ToAgent};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot};

pub struct Link {
    next_req: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<(bool, serde_json::Value)>>>,
}

impl Link {
    /// Starts reading stdin. Prompts, follow-ups and close come out of the returned receiver;
    /// answers go to whoever asked.
    pub fn start() -> (Arc<Link>, mpsc::UnboundedReceiver<ToAgent>) {
        let link = Arc::new(Link { next_req: AtomicU64::new(1), waiting: Mutex::new(HashMap::new()) });
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = link.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match claw_protocol::decode::<ToAgent>(line.trim()) {
                    Ok(ToAgent::Answer { req, ok, data }) => {
                        if let Some(waiter) = reader.waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(&req) {
                            let _ = waiter.send((ok, data));
                        }
                    }
                    Ok(msg) => {
                        if tx.send(msg).is_err() {
                            break;
                        }
                    }
                    Err(e) => eprintln!("claw-agent: {e}"),
                }
            }
            let _ = tx.send(ToAgent::Close);
        });
        (link, rx)
    }

    pub fn send(&self, msg: &FromAgent) {
        use std::io::Write;
        let line = claw_protocol::encode(msg);
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }

    /// Sends a request built with a fresh request number and waits for its answer.
    pub async fn request(&self, build: impl FnOnce(u64) -> FromAgent) -> Result<serde_json::Value, String> {
        let req = self.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).insert(req, tx);
        self.send(&build(req));
        match rx.await {
            Ok((true, data)) => Ok(data),
            Ok((false, data)) => {
                Err(data.get("error").and_then(|e| e.as_str()).unwrap_or("refused by the host").to_string())
            }
            Err(_) => Err("the host closed the connection".into()),
        }
    }
}
