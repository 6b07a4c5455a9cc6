//! The agent inside a group's container: reads prompts from the host on stdin, runs the model's
//! tool-use loop, and writes output and requests to the host on stdout (see `claw-protocol`).

mod host_link;
mod providers;
mod session;
mod tools;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use claw_protocol::{FromAgent, ToAgent};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::host_link::Link;
use crate::providers::{ModelRequest, Provider};
use crate::session::Session;
use crate::tools::{Context, Tool};

/// Most model turns in one run, so a confused model cannot loop forever.
const MAX_TURNS: usize = 100;

/// Messages from the host, with follow-ups taken out while a run is in progress and everything
/// else kept for after it.
struct Inbox {
    rx: mpsc::UnboundedReceiver<ToAgent>,
    later: VecDeque<ToAgent>,
    /// The last follow-up taken in, reported in every `done` so the host knows whether one
    /// crossed it.
    seq: u64,
}

impl Inbox {
    async fn next(&mut self) -> Option<ToAgent> {
        match self.later.pop_front() {
            Some(msg) => Some(msg),
            None => {
                let msg = self.rx.recv().await;
                if let Some(ToAgent::Followup { seq, .. }) = &msg {
                    self.seq = *seq;
                }
                msg
            }
        }
    }

    /// Follow-ups that arrived during the run.
    fn followups(&mut self) -> Vec<String> {
        let mut texts = Vec::new();
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                ToAgent::Followup { seq, text } => {
                    self.seq = seq;
                    texts.push(text);
                }
                other => self.later.push_back(other),
            }
        }
        texts
    }
}

struct Agent {
    provider: Box<dyn Provider>,
    tools: Vec<Box<dyn Tool>>,
    ctx: Context,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (link, rx) = Link::start();
    let mut inbox = Inbox { rx, later: VecDeque::new(), seq: 0 };
    let workspace = PathBuf::from(std::env::var("CLAW_WORKSPACE").unwrap_or_else(|_| "/workspace/group".into()));
    let wanted = std::env::var("CLAW_PROVIDER").ok();
    let mut providers = providers::registry();
    let index = providers.iter().position(|p| wanted.as_deref().is_none_or(|w| w == p.name()));
    let Some(index) = index else {
        link.send(&FromAgent::Error { message: format!("no model provider named {wanted:?} in this agent") });
        return;
    };
    let agent = Agent {
        provider: providers.swap_remove(index),
        tools: tools::registry(),
        ctx: Context { workspace, link: link.clone() },
    };
    while let Some(msg) = inbox.next().await {
        match msg {
            ToAgent::Prompt { v, text, isolated } => {
                if v != claw_protocol::VERSION {
                    link.send(&FromAgent::Error {
                        message: format!("protocol version {v} is not {}", claw_protocol::VERSION),
                    });
                    continue;
                }
                agent.run(&link, &mut inbox, text, isolated).await;
            }
            // It crossed the previous run's `done`: answer it in a run of its own.
            ToAgent::Followup { text, .. } => agent.run(&link, &mut inbox, text, false).await,
            ToAgent::Answer { .. } => {}
            ToAgent::Close => break,
        }
    }
    // The stdin reader is a blocking thread that would keep the runtime (and the container)
    // alive; the conversation is saved, so leave now.
    std::process::exit(0);
}

impl Agent {
    async fn run(&self, link: &Arc<Link>, inbox: &mut Inbox, text: String, isolated: bool) {
        let mut session = if isolated { Session::new() } else { session::load(&self.ctx.workspace) };
        session.messages.push(json!({ "role": "user", "content": text }));
        let system = system_prompt();
        let definitions = tools::definitions(&self.tools);
        for _ in 0..MAX_TURNS {
            let request = ModelRequest { system: &system, messages: &session.messages, tools: &definitions };
            let response = match self.provider.complete(&request).await {
                Ok(r) => r,
                Err(message) => {
                    link.send(&FromAgent::Error { message });
                    return;
                }
            };
            if response.stop_reason == "max_tokens" {
                eprintln!("claw-agent: the reply was cut at the token limit");
            }
            let uses: Vec<Value> = response
                .content
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
                .cloned()
                .collect();
            session.messages.push(json!({ "role": "assistant", "content": response.content }));
            let mut reply: Vec<Value> = Vec::new();
            for call in &uses {
                reply.push(self.call_tool(call).await);
            }
            let followups = inbox.followups();
            if uses.is_empty() {
                let text: Vec<&str> =
                    response.content.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect();
                let text = text.join("\n");
                if !text.trim().is_empty() {
                    link.send(&FromAgent::Output { text });
                }
                if followups.is_empty() {
                    break;
                }
            }
            reply.extend(followups.into_iter().map(|t| json!({ "type": "text", "text": t })));
            session.messages.push(json!({ "role": "user", "content": reply }));
        }
        if !isolated {
            if session::needs_compaction(&session)
                && let Err(e) = session::compact(self.provider.as_ref(), &system, &mut session).await
            {
                eprintln!("claw-agent: compaction failed: {e}");
            }
            if let Err(e) = session::save(&self.ctx.workspace, &session) {
                eprintln!("claw-agent: saving the session: {e}");
            }
        }
        link.send(&FromAgent::Done { session: session.id, seq: inbox.seq });
    }

    async fn call_tool(&self, call: &Value) -> Value {
        let id = call.get("id").cloned().unwrap_or(Value::Null);
        let name = call.get("name").and_then(Value::as_str).unwrap_or("");
        let input = call.get("input").cloned().unwrap_or(json!({}));
        let result = match self.tools.iter().find(|t| t.name() == name) {
            Some(tool) => tool.run(&input, &self.ctx).await,
            None => Err(format!("no tool named {name:?}")),
        };
        let (content, is_error) = match result {
            Ok(out) => (out, false),
            Err(e) => (e, true),
        };
        json!({ "type": "tool_result", "tool_use_id": id, "content": content, "is_error": is_error })
    }
}

/// Who the agent is, plus the global and the group's memory files.
fn system_prompt() -> String {
    let name = std::env::var("CLAW_ASSISTANT_NAME").unwrap_or_else(|_| "Andy".into());
    let mut prompt = format!(
        "You are {name}, a personal assistant in a group chat. Messages arrive as <message> elements. Your final reply is sent to the chat; \
         wrap notes to yourself in <internal></internal>. Your files live in /workspace/group, which persists between conversations."
    );
    for (label, file) in
        [("Global memory", "/workspace/global/CLAUDE.md"), ("This group's memory", "/workspace/group/CLAUDE.md")]
    {
        if let Ok(text) = std::fs::read_to_string(file) {
            prompt.push_str(&format!("\n\n# {label}\n{text}"));
        }
    }
    prompt
}
