//! `read`, `write` and `edit`: files in the container (in practice, the group's folder).

use serde_json::{Value, json};

use super::{BoxFuture, Context, Tool, cap, field};

const MAX_READ: usize = 100_000;

pub struct Read;
pub struct Write;
pub struct Edit;

impl Tool for Read {
    fn name(&self) -> &'static str {
        "read"
    }

    fn description(&self) -> &'static str {
        "Read a text file. Paths are relative to the group's folder."
    }

    fn schema(&self) -> Value {
        json!({ "type": "object", "properties": { "path": { "type": "string" } }, "required": ["path"] })
    }

    fn run<'a>(&'a self, input: &'a Value, ctx: &'a Context) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let path = ctx.path(field(input, "path")?);
            let text = tokio::fs::read_to_string(&path).await.map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(cap(text, MAX_READ))
        })
    }
}

impl Tool for Write {
    fn name(&self) -> &'static str {
        "write"
    }

    fn description(&self) -> &'static str {
        "Write a text file, replacing it if it exists; folders are created."
    }

    fn schema(&self) -> Value {
        json!({ "type": "object", "properties": { "path": { "type": "string" }, "content": { "type": "string" } }, "required": ["path", "content"] })
    }

    fn run<'a>(&'a self, input: &'a Value, ctx: &'a Context) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let path = ctx.path(field(input, "path")?);
            let content = field(input, "content")?;
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await.map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            tokio::fs::write(&path, content).await.map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(format!("wrote {} bytes to {}", content.len(), path.display()))
        })
    }
}

impl Tool for Edit {
    fn name(&self) -> &'static str {
        "edit"
    }

    fn description(&self) -> &'static str {
        "Replace old_string with new_string in a file. old_string must occur exactly once unless replace_all is true."
    }

    fn schema(&self) -> Value {
        json!({ "type": "object", "properties": { "path": { "type": "string" }, "old_string": { "type": "string" }, "new_string": { "type": "string" }, "replace_all": { "type": "boolean" } }, "required": ["path", "old_string", "new_string"] })
    }

    fn run<'a>(&'a self, input: &'a Value, ctx: &'a Context) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let path = ctx.path(field(input, "path")?);
            let (old, new) = (field(input, "old_string")?, field(input, "new_string")?);
            let all = input.get("replace_all").and_then(Value::as_bool).unwrap_or(false);
            let text = tokio::fs::read_to_string(&path).await.map_err(|e| format!("{}: {e}", path.display()))?;
            let count = text.matches(old).count();
            if count == 0 || old.is_empty() {
                return Err(format!("old_string not found in {}", path.display()));
            }
            if count > 1 && !all {
                return Err(format!(
                    "old_string occurs {count} times in {}; give more context or set replace_all",
                    path.display()
                ));
            }
            tokio::fs::write(&path, text.replace(old, new)).await.map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(format!("replaced {count} occurrence(s) in {}", path.display()))
        })
    }
}
