//! The capability report of a change: what it lets into the install beyond plain code the person
//! reads in the diff. Shown before the diff in a dry run, in the approval prompt, and in the
//! commit message, so the history says what each change was allowed. A skill not built into
//! claw that brings anything that runs code at build or edit time needs `--allow-build-code`.

use std::collections::{BTreeMap, BTreeSet};

use crate::base::Base;
use crate::catalog::Source;
use crate::compose::Selected;
use crate::error::{Result, bail};
use crate::lockfile::{self, CrateId, Resolution};
use crate::sanitize::escape_controls;
use crate::tree::Tree;

/// The slot whose lines are packages installed into the agent's container image.
const IMAGE_PACKAGES: &str = "image-packages";
/// The slot whose entries are routes the credential proxy forwards to (a model provider's API).
const PROXY_ROUTES: &str = "provider-routes";

#[derive(Debug, Default)]
pub struct Report {
    /// New environment keys: (name, skill, required).
    pub env: Vec<(String, String, bool)>,
    /// Crates added or moved in Cargo.lock: name, old version (if moved), new version, and
    /// "build script" or "proc-macro" when building it runs its code.
    pub crates: Vec<Crate>,
    /// Files added or changed that tools run as code when the install is built or edited.
    pub code_files: Vec<String>,
    pub image_packages: Vec<String>,
    /// Declared by no slot of this base yet: always empty, reported as "none".
    pub mounts: Vec<String>,
    pub egress: Vec<String>,
    /// Routes newly registered at `provider-routes`: entry (skill).
    pub proxy_routes: Vec<String>,
    /// Why Cargo.lock could not be updated, and what to run later.
    pub lock_note: Option<String>,
}

#[derive(Debug)]
pub struct Crate {
    pub name: String,
    pub from: Option<String>,
    pub to: String,
    pub runs_code: Option<&'static str>,
}

/// Whether a path is a file that git, cargo, rustup, direnv, an editor or Claude Code runs (or
/// uses to run something) when the person builds or opens the install.
pub fn runs_code(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    let in_dir = |dir: &str| parts[..parts.len() - 1].contains(&dir);
    matches!(
        name,
        "build.rs"
            | "rust-toolchain"
            | "rust-toolchain.toml"
            | ".gitattributes"
            | ".gitmodules"
            | ".envrc"
            | ".mcp.json"
            | ".pre-commit-config.yaml"
            | "Makefile.toml"
    ) || in_dir(".cargo")
        || in_dir(".vscode")
        || in_dir(".devcontainer")
        || in_dir(".husky")
        || in_dir(".githooks")
        || (in_dir(".claude") && name.starts_with("settings") && name.ends_with(".json"))
        || (in_dir(".claude") && parts.contains(&"hooks"))
}

impl Report {
    /// The report of moving from `old` (skills and pristine tree) to `new`.
    pub fn new(
        base: &Base,
        old: &[Selected],
        new: &[Selected],
        old_tree: &Tree,
        new_tree: &Tree,
        lock: &Resolution,
    ) -> Report {
        let mut report = Report::default();
        let old_keys: BTreeSet<&str> =
            old.iter().flat_map(|s| s.skill.manifest.env.iter().map(|e| e.name.as_str())).collect();
        for s in new {
            for e in &s.skill.manifest.env {
                if !old_keys.contains(e.name.as_str()) {
                    report.env.push((e.name.clone(), s.name().to_string(), e.required));
                }
            }
        }
        let old_names: BTreeSet<&str> = old.iter().map(|s| s.name()).collect();
        for s in new.iter().filter(|s| !old_names.contains(s.name())) {
            let routes = s.skill.manifest.edits.iter().filter(|e| e.slot == PROXY_ROUTES);
            report.proxy_routes.extend(routes.map(|e| format!("{} ({})", escape_controls(e.add.trim()), s.name())));
        }
        let flags = match lock {
            Resolution::Resolved { runs_code, .. } => runs_code.clone(),
            Resolution::Unchanged => BTreeMap::new(),
            Resolution::Failed { message } => {
                report.lock_note = Some(message.clone());
                BTreeMap::new()
            }
        };
        let before = lockfile::crates(old_tree.get(lockfile::LOCK).map(|e| e.data.as_slice()));
        let after = lockfile::crates(new_tree.get(lockfile::LOCK).map(|e| e.data.as_slice()));
        let before_set: BTreeSet<&CrateId> = before.iter().collect();
        let after_set: BTreeSet<&CrateId> = after.iter().collect();
        for id in &after {
            if before_set.contains(id) {
                continue;
            }
            // Moved: a version of the same crate that the new lock no longer holds.
            let from = before.iter().find(|old| old.0 == id.0 && !after_set.contains(old)).map(|(_, v)| v.clone());
            report.crates.push(Crate { name: id.0.clone(), from, to: id.1.clone(), runs_code: flags.get(id).copied() });
        }
        for path in crate::change::changed_paths(old_tree, new_tree) {
            if new_tree.contains(&path) && runs_code(&path) {
                report.code_files.push(path);
            }
        }
        if let Ok(slot) = base.slot(IMAGE_PACKAGES) {
            let lines = |t: &Tree| -> BTreeSet<String> {
                t.text(slot.file()).unwrap_or_default().lines().map(|l| l.trim().to_string()).collect()
            };
            let was = lines(old_tree);
            report.image_packages = lines(new_tree)
                .into_iter()
                .filter(|l| !l.is_empty() && !l.starts_with('#') && !was.contains(l))
                .collect();
        }
        report
    }

    /// Everything that runs code when the install is built or opened.
    pub fn code_items(&self) -> Vec<String> {
        let crates =
            self.crates.iter().filter_map(|c| c.runs_code.map(|what| format!("crate {} {} ({what})", c.name, c.to)));
        self.code_files.iter().cloned().chain(crates).collect()
    }

    /// Refuses a change that brings a skill not built into claw together with anything that runs
    /// code, unless the person allowed it.
    pub fn check_allowed(&self, applied: &[&Selected], allow_build_code: bool) -> Result<()> {
        self.check_allowed_beyond(applied, allow_build_code, &BTreeSet::new())
    }

    /// As [`Report::check_allowed`], not counting `builtin`: what the same change brings without
    /// the skills that are not built in (so `init --skill telegram --skill mine` is judged on
    /// what `mine` adds, not on telegram's crates).
    pub fn check_allowed_beyond(
        &self,
        applied: &[&Selected],
        allow_build_code: bool,
        builtin: &BTreeSet<String>,
    ) -> Result<()> {
        let foreign: Vec<&str> =
            applied.iter().filter(|s| s.skill.source != Source::Builtin).map(|s| s.name()).collect();
        let items: Vec<String> = self.code_items().into_iter().filter(|i| !builtin.contains(i)).collect();
        if foreign.is_empty() || items.is_empty() || allow_build_code {
            return Ok(());
        }
        bail!(
            "{} not built into claw, and this change adds what runs code when the install is built or opened:\n  {}\n\
             Review it with --dry-run, then pass --allow-build-code (besides --yes) to apply it.",
            foreign.join(", ") + if foreign.len() == 1 { " is" } else { " are" },
            items.iter().map(|i| escape_controls(i)).collect::<Vec<_>>().join("\n  ")
        )
    }

    /// The report as a block of text: one heading per line, its items after it.
    pub fn text(&self) -> String {
        let env: Vec<String> = self
            .env
            .iter()
            .map(|(name, skill, required)| format!("{name} ({skill}{})", if *required { ", required" } else { "" }))
            .collect();
        let crates: Vec<String> = self
            .crates
            .iter()
            .map(|c| {
                let mut s = match &c.from {
                    Some(from) => format!("{} {from} -> {}", c.name, c.to),
                    None => format!("{} {}", c.name, c.to),
                };
                if let Some(what) = c.runs_code {
                    s.push_str(&format!(" ({what})"));
                }
                s
            })
            .collect();
        let files: Vec<String> = self.code_files.iter().map(|p| escape_controls(p)).collect();
        let packages: Vec<String> = self.image_packages.iter().map(|p| escape_controls(p)).collect();
        let mut out = String::from("Capabilities:\n");
        for (heading, items) in [
            ("Secrets and environment keys", &env),
            ("Crates added or moved", &crates),
            ("Files that run code at build or edit time", &files),
            ("Image packages", &packages),
            ("Mounts", &self.mounts),
            ("Network egress", &self.egress),
            ("Proxy routes", &self.proxy_routes),
        ] {
            out.push_str(&format!("  {heading}: {}\n", wrap(items)));
        }
        if let Some(note) = &self.lock_note {
            out.push_str(&format!("  {}\n", escape_controls(note)));
        }
        out
    }
}

/// Items joined by ", ", continuing on indented lines so no line gets much past 100 columns.
fn wrap(items: &[String]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    let mut out = String::new();
    let mut width = 0;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
            if width + item.len() > 90 {
                out.push_str("\n    ");
                width = 0;
            } else {
                out.push(' ');
            }
        }
        out.push_str(item);
        width += item.len() + 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_run_code_are_recognised_anywhere() {
        for path in [
            "build.rs",
            "agent/build.rs",
            ".cargo/config.toml",
            "agent/.cargo/config",
            "rust-toolchain.toml",
            ".gitattributes",
            ".envrc",
            ".claude/settings.json",
            ".claude/settings.local.json",
            ".vscode/tasks.json",
            ".mcp.json",
        ] {
            assert!(runs_code(path), "{path}");
        }
        for path in ["src/build_rs.rs", ".claude/skills/x/SKILL.md", "README.md", "cargo/config.toml"] {
            assert!(!runs_code(path), "{path}");
        }
    }

    #[test]
    fn an_empty_report_says_none_under_every_heading() {
        let text = Report::default().text();
        assert_eq!(text.matches(": none\n").count(), 7, "{text}");
    }
}
