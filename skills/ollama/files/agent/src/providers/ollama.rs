//! Ollama's native chat API (`POST /api/chat`) with tools, streamed as NDJSON: one JSON object
//! per line, tool calls arriving whole, the last line `done: true` with the stop reason. No
//! key: the host's proxy forwards to an Ollama on the host's loopback, so the container still
//! has no network. The agent thinks in Anthropic Messages shapes; this file translates.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::socket::{self, Failure, Lines};
use super::{BoxFuture, ModelRequest, ModelResponse, Provider};

pub struct Ollama {
    socket: String,
    model: String,
}

impl Ollama {
    pub fn from_env() -> Ollama {
        Ollama {
            socket: std::env::var("CLAW_MODEL_SOCKET").unwrap_or_else(|_| "/run/claw/model.sock".into()),
            model: std::env::var("CLAW_MODEL").unwrap_or_else(|_| "qwen3".into()),
        }
    }
}

impl Provider for Ollama {
    fn name(&self) -> &'static str {
        "ollama"
    }

    fn complete<'a>(&'a self, request: &'a ModelRequest<'a>) -> BoxFuture<'a, Result<ModelResponse, String>> {
        Box::pin(async move {
            let mut body =
                json!({ "model": self.model, "messages": messages(request.system, request.messages), "stream": true });
            if !request.tools.is_empty() {
                body["tools"] = request
                    .tools
                    .iter()
                    .map(|t| {
                        json!({ "type": "function", "function": {
                        "name": t["name"], "description": t["description"], "parameters": t["input_schema"] } })
                    })
                    .collect();
            }
            let body = body.to_string();
            socket::with_retries(|| self.post(&body)).await
        })
    }
}

impl Ollama {
    async fn post(&self, body: &str) -> Result<ModelResponse, Failure> {
        let reply = socket::post(&self.socket, "/api/chat", &[], body).await?;
        if reply.status != 200 {
            let (status, after) = (reply.status, reply.retry_after);
            let detail = reply.error_body().await;
            let message = detail["error"].as_str().unwrap_or("");
            return Err(match status {
                404 => {
                    let hint = "pull the model on the host (ollama pull MODEL) or set [model] name in claw.toml";
                    Failure::Fatal(format!("Ollama: {message}: {hint}"))
                }
                // No key is sent: a refusal comes from something in front of Ollama.
                401 | 403 => Failure::Fatal(format!("Ollama refused the request ({status}): {message}")),
                _ => socket::failure(status, after, message, ""),
            });
        }
        let mut assembler = Assembler::default();
        let mut lines = Lines::default();
        reply.stream(|bytes| lines.feed(bytes, |line| assembler.line(line))).await?;
        // The last line may come without its newline.
        lines.feed(b"\n", |line| assembler.line(line)).map_err(Failure::transient)?;
        assembler.finish().map_err(Failure::Fatal)
    }
}

/// The conversation as Ollama chat messages. Tool results become `tool` messages naming their
/// tool (Ollama's calls carry no ids, so the name is looked up from the call's id).
pub fn messages(system: &str, turns: &[Value]) -> Vec<Value> {
    let mut out = vec![json!({ "role": "system", "content": system })];
    let mut names: HashMap<String, Value> = HashMap::new();
    for turn in turns {
        let blocks = match &turn["content"] {
            Value::String(text) => vec![json!({ "type": "text", "text": text })],
            Value::Array(blocks) => blocks.clone(),
            _ => continue,
        };
        let text: Vec<&str> =
            blocks.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect();
        let text = text.join("\n");
        if turn["role"] == "assistant" {
            let mut calls = Vec::new();
            for call in blocks.iter().filter(|b| b["type"] == "tool_use") {
                names.insert(call["id"].as_str().unwrap_or("").to_string(), call["name"].clone());
                calls.push(json!({ "function": { "name": call["name"], "arguments": call["input"] } }));
            }
            let mut message = json!({ "role": "assistant", "content": text });
            if !calls.is_empty() {
                message["tool_calls"] = calls.into();
            }
            out.push(message);
            continue;
        }
        for result in blocks.iter().filter(|b| b["type"] == "tool_result") {
            let mut content = match &result["content"] {
                Value::String(s) => s.clone(),
                Value::Array(b) => b.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n"),
                _ => String::new(),
            };
            if result["is_error"] == true {
                content = format!("Error: {content}");
            }
            let name = names.get(result["tool_use_id"].as_str().unwrap_or("")).cloned().unwrap_or(Value::Null);
            out.push(json!({ "role": "tool", "tool_name": name, "content": content }));
        }
        if !text.is_empty() {
            out.push(json!({ "role": "user", "content": text }));
        }
    }
    out
}

/// Builds the assistant message from the stream's lines.
#[derive(Default)]
pub struct Assembler {
    text: String,
    calls: Vec<Value>,
    done_reason: Option<String>,
}

impl Assembler {
    pub fn line(&mut self, line: &str) -> Result<(), String> {
        if line.trim().is_empty() {
            return Ok(());
        }
        let chunk: Value =
            serde_json::from_str(line).map_err(|e| format!("Ollama sent a line that is not JSON: {e}"))?;
        if let Some(error) = chunk["error"].as_str() {
            return Err(format!("Ollama: {error}"));
        }
        if let Some(text) = chunk.pointer("/message/content").and_then(Value::as_str) {
            self.text.push_str(text);
        }
        for call in chunk.pointer("/message/tool_calls").and_then(Value::as_array).into_iter().flatten() {
            if self.calls.len() >= 128 {
                return Err("too many tool calls in one answer".into());
            }
            self.calls.push(call["function"].clone());
        }
        if chunk["done"] == true {
            self.done_reason = Some(chunk["done_reason"].as_str().unwrap_or("stop").to_string());
        }
        Ok(())
    }

    pub fn finish(self) -> Result<ModelResponse, String> {
        let Some(reason) = self.done_reason else {
            return Err("the model stream ended early".into());
        };
        let mut content = Vec::new();
        if !self.text.is_empty() {
            content.push(json!({ "type": "text", "text": self.text }));
        }
        for (i, call) in self.calls.into_iter().enumerate() {
            // Arguments are an object; some models' servers send them as a JSON string.
            let input = match &call["arguments"] {
                Value::String(s) => serde_json::from_str(s).map_err(|e| format!("tool arguments are not JSON: {e}"))?,
                Value::Null => json!({}),
                other => other.clone(),
            };
            content.push(
                json!({ "type": "tool_use", "id": format!("ollama_call_{i}"), "name": call["name"], "input": input }),
            );
        }
        let stop_reason = match reason.as_str() {
            _ if content.iter().any(|b| b["type"] == "tool_use") => "tool_use",
            "length" => "max_tokens",
            _ => "end_turn",
        };
        Ok(ModelResponse { content, stop_reason: stop_reason.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_text_and_a_tool_call_become_blocks() {
        let mut a = Assembler::default();
        let mut lines = Lines::default();
        let stream = concat!(
            "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"Let me \"},\"done\":false}\n",
            "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"look.\"},\"done\":false}\n",
            "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"bash\",\"arguments\":{\"command\":\"ls\"}}}]},\"done\":false}\n",
            "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":9,\"eval_count\":4}",
        );
        for piece in stream.as_bytes().chunks(6) {
            lines.feed(piece, |l| a.line(l)).unwrap();
        }
        lines.feed(b"\n", |l| a.line(l)).unwrap();
        let r = a.finish().unwrap();
        assert_eq!(r.stop_reason, "tool_use");
        assert_eq!(r.content[0]["text"], "Let me look.");
        assert_eq!(r.content[1]["input"]["command"], "ls");
    }

    #[test]
    fn errors_and_truncation_fail() {
        let mut a = Assembler::default();
        assert!(a.line("{\"error\":\"model runner has unexpectedly stopped\"}").unwrap_err().contains("stopped"));
        let mut a = Assembler::default();
        a.line("{\"message\":{\"content\":\"half\"},\"done\":false}").unwrap();
        assert!(a.finish().is_err());
    }

    #[test]
    fn tool_results_name_their_tool() {
        let turns = [
            json!({ "role": "user", "content": "hi" }),
            json!({ "role": "assistant", "content": [{ "type": "tool_use", "id": "ollama_call_0", "name": "bash", "input": { "command": "ls" } }] }),
            json!({ "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "ollama_call_0", "content": "a.txt" }] }),
        ];
        let m = messages("sys", &turns);
        assert_eq!(m[2]["tool_calls"][0]["function"]["arguments"]["command"], "ls");
        assert_eq!(m[3], json!({ "role": "tool", "tool_name": "bash", "content": "a.txt" }));
    }
}
