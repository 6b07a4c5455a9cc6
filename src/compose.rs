//! The pristine tree: `base/` with a set of skills applied in canonical order (topological on
//! `requires`, ties broken by name). A pure function of the skill set and its variables, so the
//! same set gives the same bytes whatever order the person applied the skills in, and removing a
//! skill is just composing without it.

use std::collections::{BTreeMap, BTreeSet};

use minijinja::Value;

use crate::base::{Base, Slot};
use crate::cargo_edit::{self, Request};
use crate::catalog::Skill;
use crate::error::{Context, Error, Result, bail};
use crate::install_record::{InstallRecord, RECORD_PATH, SkillRecord};
use crate::manifest::VarType;
use crate::render::{self, Escape};
use crate::sources::Material;
use crate::tree::{Entry, Tree};
use crate::{claude_code, env_keys, relpath, rust_edit, text_edit};

/// A skill chosen for the install, with its resolved variables.
#[derive(Debug, Clone)]
pub struct Selected {
    pub skill: Skill,
    pub vars: BTreeMap<String, String>,
}

impl Selected {
    pub fn name(&self) -> &str {
        self.skill.name()
    }
}

/// Checks `requires`, `conflicts` and `replaces` across the set and returns it in canonical order.
pub fn canonical_order(mut selected: Vec<Selected>) -> Result<Vec<Selected>> {
    selected.sort_by(|a, b| a.name().cmp(b.name()));
    let names: BTreeSet<&str> = selected.iter().map(Selected::name).collect();
    for s in &selected {
        let m = &s.skill.manifest;
        for need in &m.requires {
            if !names.contains(need.as_str()) {
                bail!(
                    "skill {} requires {need}, which is not applied (apply both: claw skill apply {need} {})",
                    m.name,
                    m.name
                );
            }
        }
        for other in &m.conflicts {
            if names.contains(other.as_str()) {
                bail!("skill {} conflicts with {other}; remove {other} first or use --replace {other}", m.name);
            }
        }
        for old in &m.replaces {
            if names.contains(old.as_str()) {
                bail!("skill {} replaces {old}; they cannot be applied together", m.name);
            }
        }
    }
    // Kahn's algorithm; the ready set is ordered by name, which breaks ties deterministically.
    let mut done: Vec<Selected> = Vec::with_capacity(selected.len());
    let mut pending = selected;
    while !pending.is_empty() {
        let placed: BTreeSet<String> = done.iter().map(|s| s.name().to_string()).collect();
        let Some(next) = pending.iter().position(|s| s.skill.manifest.requires.iter().all(|r| placed.contains(r)))
        else {
            let cycle: Vec<&str> = pending.iter().map(Selected::name).collect();
            bail!("skills {} require each other in a cycle", cycle.join(", "));
        };
        done.push(pending.remove(next));
    }
    Ok(done)
}

/// Composes the pristine tree for `skills`, which must be in canonical order.
pub fn pristine_tree(material: &Material, install_name: &str, skills: &[Selected]) -> Result<Tree> {
    let base = &material.base;
    let mut tree = Tree::new();
    let base_ctx =
        minijinja::context! { install => minijinja::context! { name => Value::from_safe_string(install_name.into()) } };
    for (path, entry) in base.files.iter() {
        match path.strip_suffix(".j2") {
            Some(target) => {
                let text = std::str::from_utf8(&entry.data).with_context(|| format!("base/{path}"))?;
                let out = render::render(&format!("base/{path}"), text, &base_ctx)?;
                tree.insert(target, Entry { data: out.into_bytes(), mode: entry.mode });
            }
            None => tree.insert(path.clone(), entry.clone()),
        }
    }
    let mut owners: BTreeMap<String, String> = tree.paths().map(|p| (p.clone(), "the base".to_string())).collect();
    let mut cargo: BTreeMap<String, BTreeMap<String, Vec<Request>>> = BTreeMap::new();
    for selected in skills {
        apply_skill(base, install_name, selected, &mut tree, &mut owners, &mut cargo)
            .with_context(|| format!("skill {}", selected.name()))?;
    }
    for (slot_name, requests) in &cargo {
        let Slot::CargoDeps { file, table, .. } = base.slot(slot_name)? else {
            bail!("[cargo.{slot_name}]: slot {slot_name} is not a cargo-deps slot");
        };
        let text = tree.text(file).with_context(|| format!("{file} is missing or not UTF-8"))?;
        let out = cargo_edit::add_dependencies(file, text, table, requests)?;
        tree.set_text(file, out);
    }
    let env_file = &base.manifest.env_file;
    for selected in skills {
        let text = tree.text(env_file).unwrap_or_default();
        let out = text_edit::add_env_block(text, selected.name(), &selected.skill.manifest.env);
        tree.set_text(env_file, out);
    }
    add_generated_files(material, install_name, skills, &mut tree)?;
    Ok(tree)
}

fn apply_skill(
    base: &Base,
    install_name: &str,
    selected: &Selected,
    tree: &mut Tree,
    owners: &mut BTreeMap<String, String>,
    cargo: &mut BTreeMap<String, BTreeMap<String, Vec<Request>>>,
) -> Result<()> {
    let skill = &selected.skill;
    let name = skill.name();
    let ctx = skill_context(install_name, selected);
    for (raw_path, entry) in skill.files.iter() {
        let path = render::render_if_templated(&format!("path {raw_path}"), raw_path, &ctx, Escape::Text)?;
        let (path, data) = match path.strip_suffix(".j2") {
            Some(target) => {
                let text = std::str::from_utf8(&entry.data)
                    .map_err(|_| Error::new(format!("{raw_path}: templates must be UTF-8")))?;
                (target.to_string(), render::render(raw_path, text, &ctx)?.into_bytes())
            }
            None => (path, entry.data.clone()),
        };
        relpath::validate(&path).with_context(|| format!("file {raw_path}"))?;
        if let Some(owner) = owners.get(&path) {
            bail!("adds {path}, which {owner} already has; a skill adds new files and registers them at slots");
        }
        if let Some(file) = tree.file_ancestor(&path) {
            bail!("adds {path}, but {file} is a file");
        }
        if let Some(inner) = tree.paths().find(|p| p.starts_with(&format!("{path}/"))) {
            bail!("adds the file {path}, but {inner} needs it to be a folder");
        }
        owners.insert(path.clone(), format!("skill {name}"));
        tree.insert(path, Entry { data, mode: entry.mode });
    }
    for edit in &skill.manifest.edits {
        if !env_keys::keep_edit(skill, edit)? {
            continue;
        }
        let slot = base.slot(&edit.slot)?;
        let escape = match slot {
            Slot::RustList { .. } | Slot::RustItems { .. } => Escape::Rust,
            Slot::CargoDeps { .. } | Slot::Lines { .. } => Escape::Text,
        };
        let add = render::render_if_templated(&format!("edit at slot {}", edit.slot), &edit.add, &ctx, escape)?;
        let file = slot.file();
        let text = tree.text(file).with_context(|| format!("slot {}: {file} is missing or not UTF-8", edit.slot))?;
        let out = match slot {
            Slot::RustList { item, .. } => rust_edit::add_list_element(file, text, item, &add),
            Slot::RustItems { .. } => rust_edit::add_item(file, text, &add),
            Slot::Lines { .. } => {
                if add.contains('\n') {
                    bail!("slot {}: a lines slot takes one line per edit", edit.slot);
                }
                Ok(text_edit::add_line(text, &add))
            }
            Slot::CargoDeps { .. } => {
                bail!("slot {} takes dependencies under [cargo.{}], not edits", edit.slot, edit.slot)
            }
        }
        .with_context(|| format!("edit at slot {}", edit.slot))?;
        tree.set_text(file, out);
    }
    env_keys::add(base, skill, tree)?;
    for (slot_name, deps) in &skill.manifest.cargo {
        base.slot(slot_name)?;
        for (krate, dep) in deps {
            let request = Request { who: format!("skill {name}"), dep: dep.detailed() };
            cargo.entry(slot_name.clone()).or_default().entry(krate.clone()).or_default().push(request);
        }
    }
    Ok(())
}

/// The template context of a skill. Names and versions are checked when parsed, so they print
/// as written; variables print by their type (a string as a literal in code).
pub fn skill_context(install_name: &str, selected: &Selected) -> Value {
    let m = &selected.skill.manifest;
    let safe = |s: &str| Value::from_safe_string(s.to_string());
    let vars: BTreeMap<&str, Value> = selected
        .vars
        .iter()
        .map(|(name, value)| {
            let kind = m.vars.get(name).map(|v| v.kind).unwrap_or_default();
            let typed = match kind {
                VarType::String => Value::from(value.as_str()),
                VarType::Int => value.parse::<i64>().map_or_else(|_| Value::from(value.as_str()), Value::from),
                VarType::Bool => Value::from(value == "true"),
                VarType::Ident => safe(value),
            };
            (name.as_str(), typed)
        })
        .collect();
    minijinja::context! {
        install => minijinja::context! { name => safe(install_name) },
        skill => minijinja::context! { name => safe(&m.name), version => safe(&m.version.to_string()) },
        vars => vars,
    }
}

/// The files claw itself writes into every install: the install record, then CLAUDE.md,
/// SKILLS.md and the Claude Code skills (`claude_code`).
fn add_generated_files(material: &Material, install_name: &str, skills: &[Selected], tree: &mut Tree) -> Result<()> {
    let record = InstallRecord {
        name: install_name.to_string(),
        generator: material.generator.clone(),
        base: material.base.manifest.version.to_string(),
        sources: material.pins.clone(),
        skills: skills
            .iter()
            .map(|s| SkillRecord {
                name: s.name().to_string(),
                version: s.skill.manifest.version.to_string(),
                source: s.skill.source.describe().to_string(),
                tree: s.skill.tree.to_string(),
                url: s.skill.git.as_ref().map(|g| g.url.clone()),
                commit: s.skill.git.as_ref().map(|g| g.commit.clone()),
                vars: s.vars.clone(),
            })
            .collect(),
    };
    tree.insert(RECORD_PATH, Entry::file(record.render()?));
    claude_code::add(material, install_name, skills, tree)
}

/// Renders one of claw's templates (`templates/`, as pinned in the install).
pub fn render_template(templates: &Tree, name: &str, ctx: &Value) -> Result<String> {
    let source =
        templates.text(name).with_context(|| format!("templates/{name} is missing from the pinned templates"))?;
    render::render(&format!("templates/{name}"), source, ctx)
}
