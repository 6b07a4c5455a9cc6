//! `claw doctor`: runs the install's own checks (`claw-host doctor`), which know its
//! configuration, through cargo so that the install is built as it stands.

use std::path::Path;
use std::process::Command;

use crate::error::{Context, Result, bail};

pub fn doctor(dir: &Path) -> Result<()> {
    let repo =
        git2::Repository::discover(dir).with_context(|| format!("{} is not inside an install", dir.display()))?;
    let root = repo.workdir().context("the repository has no work tree")?;
    if !root.join(".claw/install.toml").exists() {
        bail!("{} is not an install made by `claw init`", root.display());
    }
    let status = Command::new("cargo")
        .args(["run", "--quiet", "--release", "--bin", "claw-host", "--", "doctor"])
        .current_dir(root)
        .status()
        .context("running cargo (is the Rust toolchain installed?)")?;
    if !status.success() {
        bail!("doctor found problems (see above)");
    }
    Ok(())
}
