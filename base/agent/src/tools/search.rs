//! `glob` and `grep`: finding files and lines in the group's folder.

use serde_json::{Value, json};

use super::{BoxFuture, Context, Tool, cap, field};

const MAX_RESULTS: usize = 500;

pub struct Glob;
pub struct Grep;

impl Tool for Glob {
    fn name(&self) -> &'static str {
        "glob"
    }

    fn description(&self) -> &'static str {
        "List files matching a glob pattern such as **/*.md, relative to the group's folder."
    }

    fn schema(&self) -> Value {
        json!({ "type": "object", "properties": { "pattern": { "type": "string" } }, "required": ["pattern"] })
    }

    fn run<'a>(&'a self, input: &'a Value, ctx: &'a Context) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let pattern = ctx.path(field(input, "pattern")?);
            let paths = glob::glob(&pattern.to_string_lossy()).map_err(|e| format!("bad pattern: {e}"))?;
            let found: Vec<String> = paths
                .filter_map(Result::ok)
                .take(MAX_RESULTS)
                .map(|p| p.strip_prefix(&ctx.workspace).unwrap_or(&p).display().to_string())
                .collect();
            Ok(if found.is_empty() { "no matches".into() } else { found.join("\n") })
        })
    }
}

impl Tool for Grep {
    fn name(&self) -> &'static str {
        "grep"
    }

    fn description(&self) -> &'static str {
        "Search file contents with a regular expression; prints path:line:text. `path` is a file or folder (default: the group's folder)."
    }

    fn schema(&self) -> Value {
        json!({ "type": "object", "properties": { "pattern": { "type": "string" }, "path": { "type": "string" } }, "required": ["pattern"] })
    }

    fn run<'a>(&'a self, input: &'a Value, ctx: &'a Context) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let re = regex_lite::Regex::new(field(input, "pattern")?).map_err(|e| format!("bad pattern: {e}"))?;
            let root = ctx.path(input.get("path").and_then(Value::as_str).unwrap_or("."));
            let mut hits = Vec::new();
            let mut stack = vec![root];
            while let Some(path) = stack.pop() {
                if hits.len() >= MAX_RESULTS {
                    break;
                }
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if meta.is_dir() {
                    if let Ok(entries) = std::fs::read_dir(&path) {
                        stack.extend(entries.filter_map(Result::ok).map(|e| e.path()));
                    }
                } else if meta.is_file()
                    && let Ok(text) = std::fs::read_to_string(&path)
                {
                    let shown = path.strip_prefix(&ctx.workspace).unwrap_or(&path).display().to_string();
                    hits.extend(
                        text.lines()
                            .enumerate()
                            .filter(|(_, l)| re.is_match(l))
                            .take(MAX_RESULTS)
                            .map(|(i, l)| format!("{shown}:{}:{l}", i + 1)),
                    );
                }
            }
            Ok(if hits.is_empty() { "no matches".into() } else { cap(hits.join("\n"), 50_000) })
        })
    }
}
