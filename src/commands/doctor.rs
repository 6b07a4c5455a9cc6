//! `claw doctor`: runs the install's own checks (`claw-host doctor`), which know its
//! configuration, through cargo so that the install is built as it stands (`--locked`, as the
//! install's documented commands are). The first build takes minutes: cargo's progress shows on
//! stderr, after a line saying what runs.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Context, Result, bail};

pub fn doctor(dir: &Path, json: bool) -> Result<()> {
    let repo =
        git2::Repository::discover(dir).with_context(|| format!("{} is not inside an install", dir.display()))?;
    let root = repo.workdir().context("the repository has no work tree")?;
    if !root.join(".claw/install.toml").exists() {
        bail!("{} is not an install made by `claw init`", root.display());
    }
    // Not --quiet: cargo's own progress (Compiling ..., Finished ...) shows on stderr while it builds.
    eprintln!("claw doctor: building the install's host with cargo (the first build takes minutes), then checking");
    let mut command = Command::new("cargo");
    command.args(["run", "--release", "--locked", "--bin", "claw-host", "--", "doctor"]).current_dir(root);
    let host = "cargo (is the Rust toolchain installed?)";
    if !json {
        let status = command.status().with_context(|| format!("running {host}"))?;
        if !status.success() {
            bail!("doctor found problems (see above)");
        }
        return Ok(());
    }
    let out = command.stderr(Stdio::inherit()).output().with_context(|| format!("running {host}"))?;
    let checks: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().filter_map(check).collect();
    let doc = serde_json::json!({ "ok": out.status.success(), "checks": checks });
    println!("{}", serde_json::to_string_pretty(&doc).context("writing JSON")?);
    if !out.status.success() {
        bail!("doctor found problems");
    }
    Ok(())
}

/// One line of `claw-host doctor`: `ok    name: detail`, `WARN  ...` or `FAIL  ...`.
fn check(line: &str) -> Option<serde_json::Value> {
    let (status, rest) = line.split_once(' ')?;
    let status = match status {
        "ok" => "ok",
        "WARN" => "warn",
        "FAIL" => "fail",
        _ => return None,
    };
    let (name, detail) = rest.trim_start().split_once(": ").unwrap_or((rest.trim_start(), ""));
    Some(serde_json::json!({ "status": status, "check": name, "detail": detail }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctor_lines_become_checks() {
        let c = check("FAIL  credentials: ANTHROPIC_API_KEY not set; add them to .env").unwrap();
        assert_eq!(c["status"], "fail");
        assert_eq!(c["check"], "credentials");
        assert_eq!(c["detail"], "ANTHROPIC_API_KEY not set; add them to .env");
        assert_eq!(check("ok    model API: https://x answers (HTTP 404)").unwrap()["check"], "model API");
        assert!(check("claw-host: 1 check(s) failed").is_none());
    }
}
