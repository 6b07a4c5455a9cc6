//! The Anthropic Messages API with streaming (server-sent events) and tool use, spoken over the
//! Unix socket the host mounts at /run/claw/model.sock. The socket is the container's only way
//! out, and the host's proxy adds the key: the agent never has one.

use serde_json::{Value, json};

use super::socket::{self, Failure, Lines};
use super::{BoxFuture, ModelRequest, ModelResponse, Provider};

pub struct Anthropic {
    socket: String,
    model: String,
    max_tokens: u32,
}

impl Anthropic {
    pub fn from_env() -> Anthropic {
        Anthropic {
            socket: std::env::var("CLAW_MODEL_SOCKET").unwrap_or_else(|_| "/run/claw/model.sock".into()),
            model: std::env::var("CLAW_MODEL").unwrap_or_else(|_| "claude-sonnet-4-5".into()),
            max_tokens: std::env::var("CLAW_MAX_TOKENS").ok().and_then(|v| v.parse().ok()).unwrap_or(8192),
        }
    }
}

impl Provider for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn complete<'a>(&'a self, request: &'a ModelRequest<'a>) -> BoxFuture<'a, Result<ModelResponse, String>> {
        Box::pin(async move {
            let body = json!({
                "model": self.model,
                "max_tokens": self.max_tokens,
                "system": request.system,
                "messages": request.messages,
                "tools": request.tools,
                "stream": true,
            })
            .to_string();
            socket::with_retries(|| self.post(&body)).await
        })
    }
}

impl Anthropic {
    async fn post(&self, body: &str) -> Result<ModelResponse, Failure> {
        let reply = socket::post(&self.socket, "/v1/messages", &[("anthropic-version", "2023-06-01")], body).await?;
        if reply.status != 200 {
            let (status, after) = (reply.status, reply.retry_after);
            let detail = reply.error_body().await;
            let message = detail.pointer("/error/message").and_then(Value::as_str).unwrap_or("");
            return Err(socket::failure(status, after, message, "ANTHROPIC_API_KEY"));
        }
        let mut events = SseAssembler::default();
        let mut lines = Lines::default();
        reply.stream(|bytes| lines.feed(bytes, |line| events.line(line))).await?;
        events.finish().map_err(Failure::Fatal)
    }
}

/// Builds the assistant message from the stream's events.
#[derive(Default)]
pub struct SseAssembler {
    blocks: Vec<Value>,
    partial_json: Vec<String>,
    stop_reason: Option<String>,
    done: bool,
}

impl SseAssembler {
    /// One line of the stream: `data:` lines carry the events.
    pub fn line(&mut self, line: &str) -> Result<(), String> {
        match line.strip_prefix("data:") {
            Some(data) => self.event(data.trim()),
            None => Ok(()),
        }
    }

    fn event(&mut self, data: &str) -> Result<(), String> {
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            return Ok(());
        };
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        match event.get("type").and_then(Value::as_str).unwrap_or("") {
            "content_block_start" => {
                let mut block = event.get("content_block").cloned().unwrap_or(Value::Null);
                if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                    block["input"] = json!({});
                }
                while self.blocks.len() <= index {
                    self.blocks.push(Value::Null);
                    self.partial_json.push(String::new());
                }
                self.blocks[index] = block;
            }
            "content_block_delta" => {
                let delta = event.get("delta").cloned().unwrap_or(Value::Null);
                let Some(block) = self.blocks.get_mut(index) else {
                    return Ok(());
                };
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        let text = format!(
                            "{}{}",
                            block.get("text").and_then(Value::as_str).unwrap_or(""),
                            delta.get("text").and_then(Value::as_str).unwrap_or("")
                        );
                        block["text"] = Value::String(text);
                    }
                    Some("input_json_delta") => self.partial_json[index]
                        .push_str(delta.get("partial_json").and_then(Value::as_str).unwrap_or("")),
                    _ => {}
                }
            }
            "content_block_stop" => {
                let json = self.partial_json.get_mut(index).map(std::mem::take).unwrap_or_default();
                if let Some(block) = self.blocks.get_mut(index)
                    && block.get("type").and_then(Value::as_str) == Some("tool_use")
                    && !json.is_empty()
                {
                    block["input"] = serde_json::from_str(&json).map_err(|e| format!("tool input is not JSON: {e}"))?;
                }
            }
            "message_delta" => {
                self.stop_reason = event.pointer("/delta/stop_reason").and_then(Value::as_str).map(str::to_string)
            }
            "message_stop" => self.done = true,
            "error" => {
                return Err(format!(
                    "model stream error: {}",
                    event.pointer("/error/message").and_then(Value::as_str).unwrap_or("unknown")
                ));
            }
            _ => {}
        }
        Ok(())
    }

    pub fn finish(self) -> Result<ModelResponse, String> {
        if !self.done {
            return Err("the model stream ended early".into());
        }
        Ok(ModelResponse {
            content: self.blocks.into_iter().filter(|b| !b.is_null()).collect(),
            stop_reason: self.stop_reason.unwrap_or_else(|| "end_turn".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_text_and_tool_use_from_events() {
        let mut a = SseAssembler::default();
        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n",
            "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Let me \"}}\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"check.\"}}\n",
            "data: {\"type\":\"content_block_stop\",\"index\":0}\n",
            "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"bash\",\"input\":{}}}\n",
            "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"command\\\": \\\"ec\"}}\n",
            "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"ho hi\\\"}\"}}\n",
            "data: {\"type\":\"content_block_stop\",\"index\":1}\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}\n",
            "data: {\"type\":\"message_stop\"}\n",
        );
        // Fed in awkward pieces, as a network delivers them.
        let mut lines = Lines::default();
        for chunk in stream.as_bytes().chunks(7) {
            lines.feed(chunk, |line| a.line(line)).unwrap();
        }
        let r = a.finish().unwrap();
        assert_eq!(r.stop_reason, "tool_use");
        assert_eq!(r.content[0]["text"], "Let me check.");
        assert_eq!(r.content[1]["input"]["command"], "echo hi");
    }

    #[test]
    fn a_truncated_stream_is_an_error() {
        let mut a = SseAssembler::default();
        a.line("data: {\"type\":\"message_start\",\"message\":{}}").unwrap();
        assert!(a.finish().is_err());
    }
}
