//! `.claw/install.toml`: what an install is generated from (base version, skills with their
//! versions, sources and variables, and the git tree id of every pinned source). It is part of
//! the pristine tree, so it changes in the same commit as the code it describes. It names no
//! machine path: a local skill is `source = "local"`, its content is found by its tree id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Context, Result, bail};

pub const RECORD_PATH: &str = ".claw/install.toml";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InstallRecord {
    pub name: String,
    /// The claw version whose base, templates and catalogue are pinned (set by init and update).
    pub generator: String,
    pub base: String,
    pub sources: Pins,
    #[serde(default, rename = "skill")]
    pub skills: Vec<SkillRecord>,
}

/// The git tree ids of the built-in material the install is generated from: `base/`,
/// `templates/` and the built-in catalogue, each kept under `refs/claw/sources`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Pins {
    pub base: String,
    pub templates: String,
    pub catalog: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SkillRecord {
    pub name: String,
    pub version: String,
    /// `builtin` (from claw's catalogue), `local` (from a folder given with --skills) or `git`.
    pub source: String,
    /// The git tree id of the skill's folder as applied, kept under `refs/claw/sources`.
    pub tree: String,
    /// For `source = "git"`: the repository as the person named it, and the commit applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
}

impl InstallRecord {
    pub fn parse(text: &str) -> Result<InstallRecord> {
        let record = toml::from_str(text).context(RECORD_PATH);
        if record.is_err() && !text.contains("\n[sources]\n") {
            bail!(
                "{RECORD_PATH} was written by a claw that did not pin the install's sources; make a fresh install with `claw init` and bring your commits over (`git format-patch` / `git am`)"
            );
        }
        record
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_without_pinned_sources_says_what_to_do() {
        let legacy = "name = \"x\"\ngenerator = \"0.1.0\"\nbase = \"0.1.0\"\n\n[[skill]]\nname = \"alpha\"\nversion = \"1.0.0\"\nsource = \"dir:/home/me/skills\"\n";
        let err = InstallRecord::parse(legacy).unwrap_err();
        assert!(err.message.contains("did not pin the install's sources; make a fresh install"), "{err}");
    }
}
