//! `bash`: runs a shell command in the group's folder, with a timeout and an output cap.

use std::time::Duration;

use serde_json::{Value, json};

use super::{BoxFuture, Context, Tool, cap, field};

const DEFAULT_TIMEOUT_SECS: u64 = 120;
const MAX_TIMEOUT_SECS: u64 = 600;
const MAX_OUTPUT: usize = 30_000;

pub struct Bash;

impl Tool for Bash {
    fn name(&self) -> &'static str {
        "bash"
    }

    fn description(&self) -> &'static str {
        "Run a shell command (POSIX sh) in the group's folder. Output over 30,000 bytes is cut."
    }

    fn schema(&self) -> Value {
        json!({ "type": "object", "properties": { "command": { "type": "string" }, "timeout_secs": { "type": "integer" } }, "required": ["command"] })
    }

    fn run<'a>(&'a self, input: &'a Value, ctx: &'a Context) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let command = field(input, "command")?;
            let secs =
                input.get("timeout_secs").and_then(Value::as_u64).unwrap_or(DEFAULT_TIMEOUT_SECS).min(MAX_TIMEOUT_SECS);
            let child = tokio::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(command)
                .current_dir(&ctx.workspace)
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output();
            match tokio::time::timeout(Duration::from_secs(secs), child).await {
                Err(_) => Err(format!("timed out after {secs} s")),
                Ok(Err(e)) => Err(format!("could not run the command: {e}")),
                Ok(Ok(out)) => {
                    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                    let err = String::from_utf8_lossy(&out.stderr);
                    if !err.is_empty() {
                        text.push_str(&format!("\n[stderr]\n{err}"));
                    }
                    let code = out.status.code().map_or("killed by a signal".to_string(), |c| format!("exit code {c}"));
                    Ok(cap(format!("{text}\n[{code}]"), MAX_OUTPUT))
                }
            }
        })
    }
}
