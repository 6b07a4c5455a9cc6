//! `claw skill list` and `claw skill show`: the catalogue, for a person or (with --json) a tool.

use std::path::Path;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::error::{Context, Result};
use crate::install_record::{InstallRecord, RECORD_PATH};
use crate::manifest::{EnvVar, Kind};
use crate::repo;

#[derive(Serialize)]
struct Listed {
    name: String,
    version: Option<String>,
    kind: Option<Kind>,
    summary: Option<String>,
    default: bool,
    /// The applied version, when the current directory is an install that has it.
    applied: Option<String>,
    env: Vec<EnvVar>,
    crates: Vec<String>,
    requires: Vec<String>,
    conflicts: Vec<String>,
    /// `builtin`, or `local` (from --skills DIR).
    source: &'static str,
    /// A local skill with the name of a built-in one, which it shadows.
    shadows_builtin: bool,
    /// Why the skill cannot be loaded, if it cannot.
    error: Option<String>,
}

pub fn list(catalog: &Catalog, dir: &Path, json: bool) -> Result<()> {
    let applied = applied_here(dir);
    let mut rows = Vec::new();
    let builtin = catalog.builtin_names()?;
    for name in catalog.names()? {
        let local = catalog.is_local(&name);
        let source = if local { "local" } else { "builtin" };
        let shadows_builtin = local && builtin.contains(&name);
        let applied_version = applied.as_ref().and_then(|r| r.skill(&name)).map(|s| s.version.clone());
        rows.push(match catalog.load(&name) {
            Ok(skill) => {
                let m = skill.manifest;
                Listed {
                    name,
                    version: Some(m.version.to_string()),
                    kind: Some(m.kind),
                    summary: Some(m.summary),
                    default: m.default,
                    applied: applied_version,
                    env: m.env,
                    crates: m.cargo.values().flat_map(|deps| deps.keys().cloned()).collect(),
                    requires: m.requires,
                    conflicts: m.conflicts,
                    source,
                    shadows_builtin,
                    error: None,
                }
            }
            Err(e) => Listed {
                name,
                version: None,
                kind: None,
                summary: None,
                default: false,
                applied: applied_version,
                env: vec![],
                crates: vec![],
                requires: vec![],
                conflicts: vec![],
                source,
                shadows_builtin,
                error: Some(e.message),
            },
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows).context("writing JSON")?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("The catalogue has no skills.");
    }
    for r in &rows {
        let mark = if r.applied.is_some() { "*" } else { " " };
        match &r.error {
            Some(e) => println!("{mark} {:<12} (cannot be loaded: {e})", r.name),
            None => {
                let kind = r.kind.map(|k| k.to_string()).unwrap_or_default();
                println!(
                    "{mark} {:<12} {:<8} {:<8} {}",
                    r.name,
                    r.version.as_deref().unwrap_or(""),
                    kind,
                    r.summary.as_deref().unwrap_or("")
                );
                if r.shadows_builtin {
                    println!("    local: from the skills folder, shadowing the built-in {}", r.name);
                } else if r.source == "local" {
                    println!("    local: from the skills folder");
                }
                let env: Vec<&str> = r.env.iter().map(|e| e.name.as_str()).collect();
                if !env.is_empty() || !r.crates.is_empty() {
                    println!(
                        "    needs: env {}; crates {}",
                        crate::manifest::list_or_none(&env),
                        crate::manifest::list_or_none(&r.crates.iter().map(String::as_str).collect::<Vec<_>>())
                    );
                }
            }
        }
    }
    if applied.is_some() {
        println!("\n* applied to this install");
    }
    Ok(())
}

pub fn show(catalog: &Catalog, name: &str, json: bool) -> Result<()> {
    let skill = catalog.load(name)?;
    let m = &skill.manifest;
    if json {
        let vars: serde_json::Map<String, serde_json::Value> = m
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::json!({ "doc": v.doc, "default": v.default, "choices": v.choices })))
            .collect();
        let doc = serde_json::json!({
            "name": m.name,
            "version": m.version.to_string(),
            "kind": m.kind,
            "summary": m.summary,
            "description": m.claude_description(),
            "source": skill.source.describe(),
            "default": m.default,
            "requires": m.requires,
            "conflicts": m.conflicts,
            "replaces": m.replaces,
            "vars": vars,
            "env": m.env,
            "files": skill.files.paths().collect::<Vec<_>>(),
            "edits": m.edits.iter().map(|e| serde_json::json!({ "slot": e.slot, "add": e.add })).collect::<Vec<_>>(),
            "crates": m.cargo.iter().map(|(slot, deps)| (slot.clone(), deps.keys().cloned().collect::<Vec<_>>())).collect::<std::collections::BTreeMap<_, _>>(),
            "verify": m.verify,
            "instructions": skill.instructions,
        });
        println!("{}", serde_json::to_string_pretty(&doc).context("writing JSON")?);
        return Ok(());
    }
    println!("{} {} ({}) from {}\n{}\n", m.name, m.version, m.kind, skill.source.describe(), m.summary);
    let lists = [("requires", &m.requires), ("conflicts", &m.conflicts), ("replaces", &m.replaces)];
    for (label, items) in lists {
        if !items.is_empty() {
            println!("{label}: {}", items.join(", "));
        }
    }
    for (var, v) in &m.vars {
        println!("variable {var} (default {:?}): {}", v.default, v.doc);
    }
    for e in &m.env {
        println!("env {}{}: {}", e.name, if e.required { " (required)" } else { "" }, e.doc);
    }
    for path in skill.files.paths() {
        println!("adds {}", crate::sanitize::escape_controls(path));
    }
    for edit in &m.edits {
        println!("registers at slot {}: {}", edit.slot, crate::sanitize::escape_controls(&edit.add));
    }
    for (slot, deps) in &m.cargo {
        for krate in deps.keys() {
            println!("depends on {krate} (slot {slot})");
        }
    }
    if let Some(verify) = &m.verify {
        println!("verify: {}", crate::sanitize::escape_controls(verify));
    }
    println!("\n{}", crate::sanitize::escape_controls(&skill.instructions));
    Ok(())
}

/// The record of the install at `dir` (HEAD's, which the pristine ref follows), if `dir` is
/// one. Read without the lock: listing the catalogue must work even while another claw runs.
fn applied_here(dir: &Path) -> Option<InstallRecord> {
    let repo = git2::Repository::discover(dir).ok()?;
    let commit = repo::head_commit(&repo).ok()?;
    let tree = repo::read_tree(&repo, commit.tree_id()).ok()?;
    InstallRecord::parse(tree.text(RECORD_PATH)?).ok()
}
