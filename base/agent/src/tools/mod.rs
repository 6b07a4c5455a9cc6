//! The agent's tools. Skills add a file here and register it at the `tools` slot.

mod bash;
mod files;
mod search;
mod tasks;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::host_link::Link;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a tool may use: the group's folder (its working directory) and the link to the host.
pub struct Context {
    pub workspace: PathBuf,
    pub link: Arc<Link>,
}

impl Context {
    /// A path from the model, relative to the workspace unless absolute.
    pub fn path(&self, raw: &str) -> PathBuf {
        let p = Path::new(raw);
        if p.is_absolute() { p.to_path_buf() } else { self.workspace.join(p) }
    }
}

/// A tool the model may call.
pub trait Tool: Send + Sync {
    fn name(&self) -> &'static str;
    /// What the model is told the tool does.
    fn description(&self) -> &'static str;
    /// JSON Schema of the input.
    fn schema(&self) -> Value;
    fn run<'a>(&'a self, input: &'a Value, ctx: &'a Context) -> BoxFuture<'a, Result<String, String>>;
}

/// Every tool this agent offers the model.
#[rustfmt::skip] // One entry per line: each registration is one line of diff.
pub fn registry() -> Vec<Box<dyn Tool>> {
    vec![
        Box::new(bash::Bash),
        Box::new(files::Read),
        Box::new(files::Write),
        Box::new(files::Edit),
        Box::new(search::Glob),
        Box::new(search::Grep),
        Box::new(tasks::SendMessage),
        Box::new(tasks::ScheduleTask),
        Box::new(tasks::TaskAdmin),
    ]
}

/// The tool definitions for a model request.
pub fn definitions(tools: &[Box<dyn Tool>]) -> Vec<Value> {
    tools
        .iter()
        .map(|t| serde_json::json!({ "name": t.name(), "description": t.description(), "input_schema": t.schema() }))
        .collect()
}

/// A string field of a tool's input.
pub fn field<'a>(input: &'a Value, name: &str) -> Result<&'a str, String> {
    input.get(name).and_then(Value::as_str).ok_or_else(|| format!("missing string field {name:?}"))
}

/// Cuts text to `max` bytes at a character boundary, saying how much was dropped.
pub fn cap(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let dropped = text.len() - end;
        text.truncate(end);
        text.push_str(&format!("\n[... {dropped} more bytes cut]"));
    }
    text
}
