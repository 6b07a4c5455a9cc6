//! The host <-> agent protocol, version 2: one JSON object per line on the container's attached
//! stdin (host to agent) and stdout (agent to host). The host knows which container a line came
//! from and authorises every request by that identity, never by what the line says.

use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 2;
/// Longest line either side accepts; longer lines are dropped.
pub const MAX_LINE: usize = 1 << 20;

/// Host to agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToAgent {
    /// Starts a run. `isolated` runs without the group's saved session.
    Prompt { v: u32, text: String, isolated: bool },
    /// More messages for the run in progress. `seq` counts follow-ups in this container from 1;
    /// one that arrives after the run ended starts the next run.
    Followup { seq: u64, text: String },
    /// The answer to a request (`SendMessage`, `ScheduleTask`, `Task`) with the same `req`:
    /// `ok: false` carries the refusal in `data.error`.
    Answer { req: u64, ok: bool, data: serde_json::Value },
    /// Finish the current run and exit.
    Close,
}

/// Agent to host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FromAgent {
    /// Text for the group's chat.
    Output {
        text: String,
    },
    /// A message to a chat: the group's own unless `chat` names another (main group only).
    SendMessage {
        req: u64,
        chat: Option<String>,
        text: String,
    },
    ScheduleTask {
        req: u64,
        prompt: String,
        kind: String,
        spec: String,
        tz: Option<String>,
        context: Option<String>,
        chat: Option<String>,
    },
    /// `list`, `pause`, `resume` or `cancel`.
    Task {
        req: u64,
        op: String,
        id: Option<i64>,
    },
    /// The run is over; `session` is the id to resume next time. `seq` is the last follow-up
    /// this container has taken in (0 for none): a later one gets a run of its own.
    Done {
        session: String,
        seq: u64,
    },
    Error {
        message: String,
    },
}

pub fn encode<T: Serialize>(msg: &T) -> String {
    let mut line = serde_json::to_string(msg).unwrap_or_default();
    line.push('\n');
    line
}

pub fn decode<'a, T: Deserialize<'a>>(line: &'a str) -> Result<T, String> {
    if line.len() > MAX_LINE {
        return Err(format!("line of {} bytes exceeds the {MAX_LINE}-byte limit", line.len()));
    }
    serde_json::from_str(line).map_err(|e| format!("malformed protocol line: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_junk() {
        let msg = FromAgent::SendMessage { req: 1, chat: None, text: "hi".into() };
        assert_eq!(decode::<FromAgent>(encode(&msg).trim_end()).unwrap(), msg);
        assert!(decode::<FromAgent>("{\"type\":\"output\"}").is_err());
        assert!(decode::<FromAgent>("{\"type\":\"output\",\"text\":\"x\",\"extra\":1}").is_err());
        assert!(decode::<FromAgent>("not json").is_err());
        assert!(decode::<ToAgent>(&"x".repeat(MAX_LINE + 1)).unwrap_err().contains("limit"));
    }
}
