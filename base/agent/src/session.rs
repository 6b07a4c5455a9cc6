//! The conversation, kept in the group's folder so the next container resumes it. When it grows
//! past a threshold, the model summarises it and the summary replaces it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::providers::{ModelRequest, Provider};

/// Size of the serialized history (bytes) above which it is compacted.
const DEFAULT_COMPACT_AT: usize = 400_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub messages: Vec<Value>,
}

impl Session {
    pub fn new() -> Session {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        Session { id: format!("s{nanos:x}"), messages: Vec::new() }
    }
}

fn path(workspace: &Path) -> PathBuf {
    workspace.join(".claw").join("session.json")
}

/// The saved session, or a new one (a damaged file is set aside, not fatal).
pub fn load(workspace: &Path) -> Session {
    let file = path(workspace);
    match std::fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            eprintln!("claw-agent: {} is damaged ({e}); starting a new session", file.display());
            let _ = std::fs::rename(&file, file.with_extension("damaged"));
            Session::new()
        }),
        Err(_) => Session::new(),
    }
}

pub fn save(workspace: &Path, session: &Session) -> Result<(), String> {
    let file = path(workspace);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let tmp = file.with_extension("tmp");
    let bytes = serde_json::to_vec(session).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &file).map_err(|e| format!("{}: {e}", file.display()))
}

pub fn needs_compaction(session: &Session) -> bool {
    let limit = std::env::var("CLAW_COMPACT_AT").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_COMPACT_AT);
    serde_json::to_string(&session.messages).map_or(0, |s| s.len()) > limit
}

/// Replaces the history with the model's summary of it. Only at a clean turn boundary (the
/// last message is the assistant's), so no tool call is left without its result.
pub async fn compact(provider: &dyn Provider, system: &str, session: &mut Session) -> Result<(), String> {
    if session.messages.last().and_then(|m| m.get("role")).and_then(Value::as_str) != Some("assistant") {
        return Ok(());
    }
    let mut messages = session.messages.clone();
    messages.push(json!({ "role": "user", "content": "Summarise our conversation so far for your own future reference: decisions, facts about the people, open tasks. Reply with the summary only." }));
    let response = provider.complete(&ModelRequest { system, messages: &messages, tools: &[] }).await?;
    let summary: String =
        response.content.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n");
    session.messages = vec![
        json!({ "role": "user", "content": format!("<summary of earlier conversation>\n{summary}\n</summary of earlier conversation>") }),
        json!({ "role": "assistant", "content": "Understood; I have the summary." }),
    ];
    Ok(())
}
