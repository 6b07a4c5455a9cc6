//! `.claw/install.toml`: what an install is generated from (base version, skills with their
//! versions, sources and variables). It is part of the pristine tree, so it changes in the same
//! commit as the code it describes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Context, Result};

pub const RECORD_PATH: &str = ".claw/install.toml";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InstallRecord {
    pub name: String,
    /// The claw version that generated the pristine tree.
    pub generator: String,
    pub base: String,
    #[serde(default, rename = "skill")]
    pub skills: Vec<SkillRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SkillRecord {
    pub name: String,
    pub version: String,
    /// `builtin`, or `dir:/path/to/skills` for a local catalogue.
    pub source: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
}

impl InstallRecord {
    pub fn parse(text: &str) -> Result<InstallRecord> {
        toml::from_str(text).context(RECORD_PATH)
    }

    pub fn render(&self) -> Result<String> {
        let body = toml::to_string(self).context("writing the install record")?;
        Ok(format!(
            "# Written by claw: what this install is generated from. Change it with `claw skill apply/remove`.\n\n{body}"
        ))
    }

    pub fn skill(&self, name: &str) -> Option<&SkillRecord> {
        self.skills.iter().find(|s| s.name == name)
    }
}
