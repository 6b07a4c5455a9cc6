//! The base orchestrator as the generator sees it: its files and `.claw/base.toml`, which declares
//! the base's version and its slots, the named places where skills may register.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Context, Result, bail};
use crate::tree::Tree;

/// Where the base manifest sits, in `base/` and in every install.
pub const BASE_MANIFEST: &str = ".claw/base.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BaseManifest {
    pub version: semver::Version,
    /// The file that documents environment variables; skills' `[[env]]` entries go there.
    pub env_file: String,
    pub slots: BTreeMap<String, Slot>,
    /// What each version changed, one paragraph per version: shown by `claw update`.
    #[serde(default)]
    pub changes: BTreeMap<String, String>,
}

/// A named extension point. The kind says what a skill's `add` means there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", tag = "kind")]
pub enum Slot {
    /// An element of the array or `vec![]` that the named `fn` returns or the named `const` /
    /// `static` holds: `add` is a Rust expression.
    RustList { file: String, item: String, doc: String },
    /// A `mod` or `use` item of a Rust file: `add` is that item.
    RustItems { file: String, doc: String },
    /// A dependency table of a Cargo manifest; filled from a skill's `[cargo.<slot>]`.
    CargoDeps { file: String, table: String, doc: String },
    /// A line of a plain text file (e.g. the container image's package list).
    Lines { file: String, doc: String },
}

impl Slot {
    pub fn file(&self) -> &str {
        match self {
            Slot::RustList { file, .. }
            | Slot::RustItems { file, .. }
            | Slot::CargoDeps { file, .. }
            | Slot::Lines { file, .. } => file,
        }
    }

    pub fn doc(&self) -> &str {
        match self {
            Slot::RustList { doc, .. }
            | Slot::RustItems { doc, .. }
            | Slot::CargoDeps { doc, .. }
            | Slot::Lines { doc, .. } => doc,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Slot::RustList { .. } => "rust-list",
            Slot::RustItems { .. } => "rust-items",
            Slot::CargoDeps { .. } => "cargo-deps",
            Slot::Lines { .. } => "lines",
        }
    }
}

/// The base's files and its manifest, as built into claw or as pinned in an install.
#[derive(Debug, Clone)]
pub struct Base {
    pub manifest: BaseManifest,
    pub files: Tree,
}

impl Base {
    pub fn from_files(files: Tree) -> Result<Base> {
        let text = files.text(BASE_MANIFEST).context("the base has no .claw/base.toml")?;
        let manifest: BaseManifest = toml::from_str(text).context("base/.claw/base.toml")?;
        for (name, slot) in &manifest.slots {
            if !files.contains(slot.file()) {
                bail!("base/.claw/base.toml: slot {name} names {}, which the base does not have", slot.file());
            }
        }
        Ok(Base { manifest, files })
    }

    pub fn slot(&self, name: &str) -> Result<&Slot> {
        match self.manifest.slots.get(name) {
            Some(slot) => Ok(slot),
            None => {
                let known: Vec<_> = self.manifest.slots.keys().map(String::as_str).collect();
                bail!("there is no slot {name:?} in the base (slots: {})", known.join(", "))
            }
        }
    }
}
