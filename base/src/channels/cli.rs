//! The terminal chat: each line on stdin is a message in chat `cli:local`, and replies go to
//! stdout. A line `>cli:NAME text` speaks in chat `cli:NAME` instead (replies there are printed
//! as `[cli:NAME] text`), so one terminal can play several chats: that is how the tests drive
//! groups without any external account.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::{BoxFuture, Channel, Inbound, Result};

/// The one chat of the terminal channel.
pub const CHAT: &str = "cli:local";
/// Longest line accepted; a longer one is skipped rather than buffered without end.
const MAX_LINE: usize = 4 << 20;

/// Reads one line into `buf`. `None` at end of input, `Some(false)` if the line was too long
/// (and was skipped), `Some(true)` otherwise.
async fn read_line_capped(
    input: &mut (impl AsyncBufReadExt + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    let mut too_long = false;
    loop {
        let chunk = input.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(if buf.is_empty() && !too_long { None } else { Some(!too_long) });
        }
        let newline = chunk.iter().position(|&b| b == b'\n');
        let take = newline.map_or(chunk.len(), |i| i + 1);
        if !too_long && buf.len() + take <= MAX_LINE {
            buf.extend_from_slice(&chunk[..take]);
        } else {
            too_long = true;
            buf.clear();
        }
        input.consume(take);
        if newline.is_some() {
            return Ok(Some(!too_long));
        }
    }
}

pub struct Cli;

/// Opens the terminal chat; it needs no configuration.
pub fn open(_config: &crate::config::Config) -> Result<Box<dyn Channel>> {
    Ok(Box::new(Cli))
}

impl Channel for Cli {
    fn name(&self) -> &'static str {
        "cli"
    }

    fn connect(&self, inbound: mpsc::Sender<Inbound>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            tokio::spawn(async move {
                let mut input = BufReader::new(tokio::io::stdin());
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match read_line_capped(&mut input, &mut buf).await {
                        Ok(None) => break,
                        Ok(Some(false)) => {
                            tracing::warn!("cli: dropped a line over {MAX_LINE} bytes");
                            continue;
                        }
                        Ok(Some(true)) => {}
                        Err(e) => {
                            tracing::warn!("cli: reading stdin: {e}");
                            break;
                        }
                    }
                    let text = String::from_utf8_lossy(&buf).trim_end_matches(['\r', '\n']).to_string();
                    if text.trim().is_empty() {
                        continue;
                    }
                    let (chat, text) = match text.strip_prefix('>').and_then(|rest| rest.split_once(' ')) {
                        Some((chat, body)) if chat.starts_with("cli:") => (chat.to_string(), body.to_string()),
                        _ => (CHAT.to_string(), text),
                    };
                    let msg = Inbound {
                        chat_name: Some(chat.clone()),
                        chat_jid: chat,
                        sender: "local".into(),
                        sender_name: "You".into(),
                        text,
                        ts: chrono::Utc::now().to_rfc3339(),
                        ..Default::default()
                    };
                    if inbound.send(msg).await.is_err() {
                        break;
                    }
                }
            });
            Ok(())
        })
    }

    fn send<'a>(&'a self, chat_jid: &'a str, text: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let line = if chat_jid == CHAT { format!("{text}\n") } else { format!("[{chat_jid}] {text}\n") };
            let mut out = tokio::io::stdout();
            out.write_all(line.as_bytes()).await.map_err(|e| e.to_string())?;
            out.flush().await.map_err(|e| e.to_string())
        })
    }
}
