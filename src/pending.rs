//! A change that stopped on conflicts with `--conflicts markers`: the files hold diff3 markers
//! and nothing is committed. `claw continue` commits once the markers are gone; `claw abort`
//! puts the touched paths back as they were in HEAD.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    pub message: String,
    /// HEAD when the change began; `continue` refuses if it moved.
    pub old_head: String,
    pub new_pristine: String,
    /// Every path the change wrote (restored by `abort`).
    pub paths: Vec<String>,
    pub conflicted: Vec<String>,
}

pub fn path(claw_dir: &Path) -> PathBuf {
    claw_dir.join("pending.toml")
}

impl Pending {
    pub fn load(claw_dir: &Path) -> Result<Option<Pending>> {
        match std::fs::read_to_string(path(claw_dir)) {
            Ok(text) => toml::from_str(&text).map(Some).context("reading the pending change"),
            Err(_) => Ok(None),
        }
    }

    pub fn save(&self, claw_dir: &Path) -> Result<()> {
        let text = toml::to_string(self).context("writing the pending change")?;
        std::fs::write(path(claw_dir), text).context("writing the pending change")
    }

    pub fn clear(claw_dir: &Path) -> Result<()> {
        std::fs::remove_file(path(claw_dir)).context("removing the pending change")
    }
}
