//! Tools that ask the host to act: send a message, schedule a task, manage tasks. The host
//! decides what this group may do; these tools only ask.

use claw_protocol::FromAgent;
use serde_json::{Value, json};

use super::{BoxFuture, Context, Tool, field};

pub struct SendMessage;
pub struct ScheduleTask;
pub struct TaskAdmin;

fn opt(input: &Value, name: &str) -> Option<String> {
    input.get(name).and_then(Value::as_str).map(str::to_string)
}

impl Tool for SendMessage {
    fn name(&self) -> &'static str {
        "send_message"
    }

    fn description(&self) -> &'static str {
        "Send a message to the group's chat now (for progress updates). `chat` may name another chat only from the main group."
    }

    fn schema(&self) -> Value {
        json!({ "type": "object", "properties": { "text": { "type": "string" }, "chat": { "type": "string" } }, "required": ["text"] })
    }

    fn run<'a>(&'a self, input: &'a Value, ctx: &'a Context) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let (chat, text) = (opt(input, "chat"), field(input, "text")?.to_string());
            // The host's answer, not the request, says whether it went out: a refusal is an error.
            ctx.link.request(|req| FromAgent::SendMessage { req, chat, text }).await?;
            Ok("sent".into())
        })
    }
}

impl Tool for ScheduleTask {
    fn name(&self) -> &'static str {
        "schedule_task"
    }

    fn description(&self) -> &'static str {
        "Schedule a prompt to run later: kind cron (spec like '0 9 * * 1-5'), interval (spec in milliseconds) or once (spec an RFC 3339 time). tz is an IANA zone; context is group (this conversation) or isolated."
    }

    fn schema(&self) -> Value {
        json!({ "type": "object", "properties": {
            "prompt": { "type": "string" }, "kind": { "type": "string", "enum": ["cron", "interval", "once"] }, "spec": { "type": "string" },
            "tz": { "type": "string" }, "context": { "type": "string", "enum": ["group", "isolated"] }, "chat": { "type": "string" }
        }, "required": ["prompt", "kind", "spec"] })
    }

    fn run<'a>(&'a self, input: &'a Value, ctx: &'a Context) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let (prompt, kind, spec) = (
                field(input, "prompt")?.to_string(),
                field(input, "kind")?.to_string(),
                field(input, "spec")?.to_string(),
            );
            let answer = ctx
                .link
                .request(|req| FromAgent::ScheduleTask {
                    req,
                    prompt,
                    kind,
                    spec,
                    tz: opt(input, "tz"),
                    context: opt(input, "context"),
                    chat: opt(input, "chat"),
                })
                .await?;
            Ok(format!("scheduled: {answer}"))
        })
    }
}

impl Tool for TaskAdmin {
    fn name(&self) -> &'static str {
        "tasks"
    }

    fn description(&self) -> &'static str {
        "Manage scheduled tasks: op list, pause, resume or cancel (the last three need id)."
    }

    fn schema(&self) -> Value {
        json!({ "type": "object", "properties": { "op": { "type": "string", "enum": ["list", "pause", "resume", "cancel"] }, "id": { "type": "integer" } }, "required": ["op"] })
    }

    fn run<'a>(&'a self, input: &'a Value, ctx: &'a Context) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let op = field(input, "op")?.to_string();
            let id = input.get("id").and_then(Value::as_i64);
            let answer = ctx.link.request(|req| FromAgent::Task { req, op, id }).await?;
            Ok(answer.to_string())
        })
    }
}
