//! OpenAI Chat Completions with streaming and tool calls, for OpenAI and the servers that speak
//! its API (OpenRouter, vLLM, llama.cpp's server, LM Studio). The agent thinks in Anthropic
//! Messages shapes; this file translates them to chat messages and assembles the streamed
//! chunks back into content blocks. Spoken over the model socket: the host's proxy adds the key.

use serde_json::{Value, json};

use super::socket::{self, Failure, Lines};
use super::{BoxFuture, ModelRequest, ModelResponse, Provider};

pub struct OpenAi {
    socket: String,
    model: String,
}

impl OpenAi {
    pub fn from_env() -> OpenAi {
        OpenAi {
            socket: std::env::var("CLAW_MODEL_SOCKET").unwrap_or_else(|_| "/run/claw/model.sock".into()),
            model: std::env::var("CLAW_MODEL").unwrap_or_else(|_| "gpt-4.1".into()),
        }
    }
}

impl Provider for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn complete<'a>(&'a self, request: &'a ModelRequest<'a>) -> BoxFuture<'a, Result<ModelResponse, String>> {
        Box::pin(async move {
            let mut body = json!({
                "model": self.model,
                "messages": messages(request.system, request.messages),
                "stream": true,
                "stream_options": { "include_usage": true },
            });
            if !request.tools.is_empty() {
                body["tools"] = request.tools.iter().map(tool).collect();
            }
            let body = body.to_string();
            socket::with_retries(|| self.post(&body)).await
        })
    }
}

impl OpenAi {
    async fn post(&self, body: &str) -> Result<ModelResponse, Failure> {
        let reply = socket::post(&self.socket, "/v1/chat/completions", &[], body).await?;
        if reply.status != 200 {
            let (status, after) = (reply.status, reply.retry_after);
            let detail = reply.error_body().await;
            let message = detail.pointer("/error/message").and_then(Value::as_str).unwrap_or("");
            return Err(socket::failure(status, after, message, "OPENAI_API_KEY"));
        }
        let mut chunks = Assembler::default();
        let mut lines = Lines::default();
        reply.stream(|bytes| lines.feed(bytes, |line| chunks.line(line))).await?;
        chunks.finish().map_err(Failure::Fatal)
    }
}

/// An Anthropic tool definition as a Chat Completions function.
fn tool(t: &Value) -> Value {
    json!({ "type": "function", "function": {
        "name": t["name"], "description": t["description"], "parameters": t["input_schema"] } })
}

/// The conversation as chat messages: a system message, then each turn. Tool results become
/// `tool` messages right after the assistant's calls; other user blocks one user message.
pub fn messages(system: &str, turns: &[Value]) -> Vec<Value> {
    let mut out = vec![json!({ "role": "system", "content": system })];
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
            let calls: Vec<Value> = blocks
                .iter()
                .filter(|b| b["type"] == "tool_use")
                .map(|b| {
                    json!({ "id": b["id"], "type": "function",
                    "function": { "name": b["name"], "arguments": b["input"].to_string() } })
                })
                .collect();
            let mut message =
                json!({ "role": "assistant", "content": if text.is_empty() { Value::Null } else { text.into() } });
            if !calls.is_empty() {
                message["tool_calls"] = calls.into();
            }
            out.push(message);
            continue;
        }
        for result in blocks.iter().filter(|b| b["type"] == "tool_result") {
            let mut content = result_text(&result["content"]);
            if result["is_error"] == true {
                content = format!("Error: {content}");
            }
            out.push(json!({ "role": "tool", "tool_call_id": result["tool_use_id"], "content": content }));
        }
        if !text.is_empty() {
            out.push(json!({ "role": "user", "content": text }));
        }
    }
    out
}

/// A tool result's content: a string, or text blocks.
fn result_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

/// One tool call being streamed: its id and name come first, its arguments in pieces.
#[derive(Default)]
struct Call {
    id: String,
    name: String,
    arguments: String,
}

/// Builds the assistant message from the stream's `data:` chunks.
#[derive(Default)]
pub struct Assembler {
    text: String,
    calls: Vec<Call>,
    finish_reason: Option<String>,
}

impl Assembler {
    pub fn line(&mut self, line: &str) -> Result<(), String> {
        let Some(data) = line.strip_prefix("data:").map(str::trim) else {
            return Ok(());
        };
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            return Ok(());
        };
        if let Some(error) = chunk.get("error") {
            return Err(format!("model stream error: {}", error["message"].as_str().unwrap_or("unknown")));
        }
        // The last chunk (with include_usage) has no choices, only usage.
        let Some(choice) = chunk.pointer("/choices/0") else {
            return Ok(());
        };
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str() {
            self.text.push_str(text);
        }
        for piece in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = piece["index"].as_u64().unwrap_or(self.calls.len() as u64) as usize;
            if index > 128 {
                return Err(format!("tool call index {index} is out of range"));
            }
            while self.calls.len() <= index {
                self.calls.push(Call::default());
            }
            let call = &mut self.calls[index];
            if let Some(id) = piece["id"].as_str() {
                call.id = id.to_string();
            }
            if let Some(name) = piece.pointer("/function/name").and_then(Value::as_str) {
                call.name.push_str(name);
            }
            if let Some(arguments) = piece.pointer("/function/arguments").and_then(Value::as_str) {
                call.arguments.push_str(arguments);
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_string());
        }
        Ok(())
    }

    pub fn finish(self) -> Result<ModelResponse, String> {
        // A finish reason, not `[DONE]`, says the answer is whole: some servers omit `[DONE]`.
        let Some(reason) = self.finish_reason else {
            return Err("the model stream ended early".into());
        };
        let mut content = Vec::new();
        if !self.text.is_empty() {
            content.push(json!({ "type": "text", "text": self.text }));
        }
        for (i, call) in self.calls.into_iter().enumerate() {
            let input: Value = match call.arguments.trim() {
                "" => json!({}),
                args => serde_json::from_str(args).map_err(|e| format!("tool arguments are not JSON: {e}"))?,
            };
            let id = if call.id.is_empty() { format!("call_{i}") } else { call.id };
            content.push(json!({ "type": "tool_use", "id": id, "name": call.name, "input": input }));
        }
        let has_calls = content.iter().any(|b| b["type"] == "tool_use");
        let stop_reason = match reason.as_str() {
            "tool_calls" | "function_call" => "tool_use",
            _ if has_calls => "tool_use",
            "length" => "max_tokens",
            "content_filter" => "refusal",
            _ => "end_turn",
        };
        Ok(ModelResponse { content, stop_reason: stop_reason.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(stream: &str) -> Result<ModelResponse, String> {
        let mut a = Assembler::default();
        let mut lines = Lines::default();
        // In awkward pieces, as a network delivers them.
        for piece in stream.as_bytes().chunks(5) {
            lines.feed(piece, |l| a.line(l))?;
        }
        a.finish()
    }

    #[test]
    fn text_and_tool_calls_in_pieces_become_blocks() {
        let r = assemble(concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Let me \"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"look.\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"bash\",\"arguments\":\"\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"command\\\": \\\"ec\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":\"read\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ho hi\\\"}\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}\n\n",
            "data: [DONE]\n\n",
        ))
        .unwrap();
        assert_eq!(r.stop_reason, "tool_use");
        assert_eq!(r.content[0]["text"], "Let me look.");
        assert_eq!(r.content[1]["id"], "call_a");
        assert_eq!(r.content[1]["input"]["command"], "echo hi");
        assert_eq!(r.content[2]["name"], "read");
    }

    #[test]
    fn finish_reasons_map_and_truncation_is_an_error() {
        let end = |reason: &str| {
            format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"x\"}},\"finish_reason\":\"{reason}\"}}]}}\n\ndata: [DONE]\n\n"
            )
        };
        assert_eq!(assemble(&end("stop")).unwrap().stop_reason, "end_turn");
        assert_eq!(assemble(&end("length")).unwrap().stop_reason, "max_tokens");
        assert!(assemble("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n").is_err());
        let error = assemble("data: {\"error\":{\"message\":\"overloaded\"}}\n\n");
        assert!(matches!(error, Err(e) if e.contains("overloaded")));
    }

    #[test]
    fn tool_results_follow_the_calls_as_tool_messages() {
        let turns = [
            json!({ "role": "user", "content": "hi" }),
            json!({ "role": "assistant", "content": [{ "type": "tool_use", "id": "c1", "name": "bash", "input": { "command": "ls" } }] }),
            json!({ "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "c1", "content": "a.txt", "is_error": false },
                                               { "type": "text", "text": "and also" }] }),
        ];
        let m = messages("sys", &turns);
        assert_eq!(m[0], json!({ "role": "system", "content": "sys" }));
        assert_eq!(m[2]["tool_calls"][0]["function"]["arguments"], "{\"command\":\"ls\"}");
        assert_eq!(m[2]["content"], Value::Null);
        assert_eq!(m[3], json!({ "role": "tool", "tool_call_id": "c1", "content": "a.txt" }));
        assert_eq!(m[4], json!({ "role": "user", "content": "and also" }));
    }
}
