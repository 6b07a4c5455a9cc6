//! `claw skill capture NAME`: the person's edits in an install (the work tree against the
//! generated tree) become a skill folder. New files become the skill's files, lines added at a
//! slot become slot edits, dependencies added to a Cargo dependency slot become `[cargo.SLOT]`,
//! and `KEY=value` lines added to `.env.example` become `[[env]]`. The result is then composed
//! in-process on the install's own sources and compared with the work tree: whatever it would not
//! reproduce byte for byte is left out and reported, one line each, with why.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{Delta, DiffOptions};
use serde::Serialize;

use crate::base::{Base, Slot};
use crate::catalog::{self, Source};
use crate::claude_skill::check_name;
use crate::compose::{self, Selected};
use crate::error::{Context, Result, bail};
use crate::install::Install;
use crate::lock::Access;
use crate::repo;
use crate::tree::{Entry, Mode, Tree};

/// What one edited path became.
#[derive(Serialize)]
struct Outcome {
    path: String,
    /// `file`, `edits`, `dependencies`, `env`, or `not capturable`.
    became: String,
    why: String,
}

/// The pieces of the skill being built, by the install path they come from.
#[derive(Default)]
struct Parts {
    files: BTreeMap<String, Entry>,
    edits: BTreeMap<String, Vec<(String, String)>>,
    deps: BTreeMap<String, Vec<(String, String, String)>>,
    env: BTreeMap<String, Vec<(String, String, bool, String)>>,
}

pub fn capture(dir: &Path, skills_dir: &Path, name: &str, json: bool) -> Result<()> {
    check_name(name)?;
    let folder = skills_dir.join(name);
    if folder.exists() {
        bail!("{} already exists; pick another name or remove it", folder.display());
    }
    let install = Install::open(dir, Access::Read)?;
    install.ensure_no_pending()?;
    let record = install.record()?;
    if record.skill(name).is_some() {
        bail!("{name} is applied to this install; capture under another name");
    }
    let material = install.material(&record)?;
    let selected = install.selected(&record)?;
    let (_, pristine) = install.pristine()?;
    let (work, changed) = work_tree(&install, pristine)?;

    let mut parts = Parts::default();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut refuse = |path: &str, why: &str| {
        outcomes.push(Outcome { path: path.to_string(), became: "not capturable".into(), why: why.into() })
    };
    // The folder the skill is written to may be inside the install: never part of the capture.
    let inside = skills_dir
        .canonicalize()
        .ok()
        .and_then(|d| d.strip_prefix(install.root.canonicalize().ok()?).ok().map(Path::to_path_buf))
        .map(|rel| format!("{}/", rel.display()));
    for (path, status) in &changed {
        if inside.as_ref().is_some_and(|prefix| prefix != "/" && path.starts_with(prefix.as_str())) {
            continue;
        }
        let (old, new) = (pristine.get(path), work.get(path));
        if let Some(why) = claws_own(path) {
            refuse(path, why);
        } else if new.is_none() {
            refuse(path, "removed: a skill adds files and registrations, it cannot remove a file");
        } else if old.is_none() || *status == Delta::Untracked {
            match new_file(path, new) {
                Ok(entry) => {
                    parts.files.insert(path.clone(), entry);
                }
                Err(why) => refuse(path, &why),
            }
        } else if let (Some(old), Some(new)) = (old, new) {
            if old.data == new.data {
                refuse(path, "only its file mode changed: a skill cannot change a file's mode");
            } else if let Err(why) = changed_file(&material.base, path, old, new, &mut parts) {
                refuse(path, &why);
            }
        }
    }

    // Compose with the captured skill; what does not come out as the person has it is dropped.
    let mut dropped: Vec<(String, String)> = Vec::new();
    let skill_tree = loop {
        let raw = skill_folder(name, &record.name, &parts)?;
        let tree_id = repo::hash_tree(&raw)?;
        let skill = catalog::from_raw(raw.clone(), tree_id, Source::Local, name)?;
        let mine = Selected { vars: skill.manifest.resolve_vars(&BTreeMap::new())?, skill };
        let mut set = selected.clone();
        set.push(mine);
        let composed =
            compose::canonical_order(set).and_then(|set| compose::pristine_tree(&material, &record.name, &set));
        let composed = match composed {
            Ok(tree) => tree,
            Err(e) => {
                // An edit that does not compose: drop the file whose pieces are newest in the way.
                let culprit = parts.edits.keys().chain(parts.deps.keys()).chain(parts.env.keys()).next().cloned();
                let Some(path) = culprit else { return Err(e) };
                dropped.push((path.clone(), format!("its changes do not compose as a skill: {}", e.message)));
                forget(&mut parts, &path);
                continue;
            }
        };
        let touched: Vec<String> =
            parts.edits.keys().chain(parts.deps.keys()).chain(parts.env.keys()).cloned().collect();
        let wrong: Vec<String> =
            touched.into_iter().filter(|p| composed.get(p).map(|e| &e.data) != work.get(p).map(|e| &e.data)).collect();
        if wrong.is_empty() {
            break raw;
        }
        for path in wrong {
            let why = if path == material.base.manifest.env_file {
                "its variables are not written as claw writes a skill's block (`# NAME`, `# doc (required)`, `KEY=example`, after the blocks of the skills whose names sort before it)"
            } else {
                "its added lines are not where claw writes slot edits (at the end of a list or table, where rustfmt sorts a mod/use), or it changes more than a slot"
            };
            dropped.push((path.clone(), why.into()));
            forget(&mut parts, &path);
        }
    };
    for (path, why) in dropped {
        outcomes.push(Outcome { path, became: "not capturable".into(), why });
    }
    for path in parts.files.keys() {
        outcomes.push(Outcome { path: path.clone(), became: "file".into(), why: String::new() });
    }
    for (path, edits) in &parts.edits {
        let slots: Vec<&str> = edits.iter().map(|(s, _)| s.as_str()).collect();
        outcomes.push(Outcome { path: path.clone(), became: "edits".into(), why: format!("at {}", slots.join(", ")) });
    }
    for (path, deps) in &parts.deps {
        let names: Vec<&str> = deps.iter().map(|(_, k, _)| k.as_str()).collect();
        outcomes.push(Outcome { path: path.clone(), became: "dependencies".into(), why: names.join(", ") });
    }
    for (path, vars) in &parts.env {
        let names: Vec<&str> = vars.iter().map(|(n, ..)| n.as_str()).collect();
        outcomes.push(Outcome { path: path.clone(), became: "env".into(), why: names.join(", ") });
    }
    outcomes.sort_by(|a, b| a.path.cmp(&b.path));

    for (path, entry) in skill_tree.iter() {
        let target = folder.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, &entry.data).with_context(|| format!("writing {}", target.display()))?;
        if entry.mode == Mode::Executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} executable", target.display()))?;
        }
    }
    if json {
        let out = serde_json::json!({ "skill": folder, "paths": outcomes });
        println!("{}", serde_json::to_string_pretty(&out).context("writing JSON")?);
        return Ok(());
    }
    println!("Captured {} into {}:", name, folder.display());
    if outcomes.is_empty() {
        println!("  (no edits: the work tree is the generated tree; the skill is empty)");
    }
    for o in &outcomes {
        let why = if o.why.is_empty() { String::new() } else { format!(": {}", o.why) };
        println!(
            "  {:<15} {}{}",
            o.became,
            crate::sanitize::escape_controls(&o.path),
            crate::sanitize::escape_controls(&why)
        );
    }
    let skills = skills_display(skills_dir);
    println!(
        "Next: review {}/skill.toml and SKILL.md, then `claw --skills {skills} skill check {name}`.",
        folder.display()
    );
    Ok(())
}

fn skills_display(dir: &Path) -> String {
    dir.display().to_string()
}

/// Paths claw writes itself: never the person's edit to capture.
fn claws_own(path: &str) -> Option<&'static str> {
    if path == "Cargo.lock" || path.ends_with("/Cargo.lock") {
        Some("cargo writes it when the skill is applied (not copied)")
    } else if path.starts_with(".claw/") || path == "CLAUDE.md" || path.starts_with(".claude/skills/") {
        Some("written by claw for the applied skills")
    } else {
        None
    }
}

/// The person's tree (the pristine tree with the work tree's changes) and the changed paths.
fn work_tree(install: &Install, pristine: &Tree) -> Result<(Tree, Vec<(String, Delta)>)> {
    let base = repo::pristine_commit(&install.repo)?.tree().context("reading the pristine tree")?;
    let mut opts = DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    let diff = install
        .repo
        .diff_tree_to_workdir_with_index(Some(&base), Some(&mut opts))
        .context("diffing against the pristine tree")?;
    let mut work = pristine.clone();
    let mut changed = Vec::new();
    for delta in diff.deltas() {
        let Some(path) = delta.new_file().path().or(delta.old_file().path()).and_then(Path::to_str) else {
            continue;
        };
        let path = path.to_string();
        let full = install.root.join(&path);
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&full).with_context(|| format!("reading {path}"))?;
                work.insert(
                    path.clone(),
                    Entry { data: target.into_os_string().into_encoded_bytes(), mode: Mode::Symlink },
                );
            }
            Ok(meta) => {
                use std::os::unix::fs::PermissionsExt;
                let mode = if meta.permissions().mode() & 0o111 != 0 { Mode::Executable } else { Mode::File };
                let data = std::fs::read(&full).with_context(|| format!("reading {path}"))?;
                work.insert(path.clone(), Entry { data, mode });
            }
            Err(_) => {
                work.remove(&path);
            }
        }
        changed.push((path, delta.status()));
    }
    Ok((work, changed))
}

/// A new file as the skill holds it, or why it cannot be one.
fn new_file(path: &str, entry: Option<&Entry>) -> std::result::Result<Entry, String> {
    let entry = entry.ok_or("missing")?.clone();
    let name = path.rsplit('/').next().unwrap_or(path);
    if entry.mode == Mode::Symlink {
        return Err("a symlink: a skill holds only plain files".into());
    }
    if name == ".env" || (name.starts_with(".env.") && name != ".env.example") {
        return Err("may hold secrets: a skill never carries an .env file".into());
    }
    if path.contains("{{") || path.contains("{%") || path.contains("{#") {
        return Err("its path holds template syntax, which claw would render".into());
    }
    if entry.data.len() as u64 > 1 << 20 {
        return Err("over the 1 MiB limit for a skill file".into());
    }
    if path.ends_with(".j2") && std::str::from_utf8(&entry.data).map_or(true, |t| t.contains("endraw")) {
        return Err("a .j2 file that is not UTF-8 or holds `endraw` cannot be kept as a template of itself".into());
    }
    Ok(entry)
}

/// Where a new install file goes in the skill folder: `tests/` stays, the rest under `files/`.
/// A name ending in `.j2` is kept as a template that renders to itself.
fn folder_path(path: &str, entry: &Entry) -> (String, Vec<u8>) {
    let place = if path.starts_with("tests/") { path.to_string() } else { format!("files/{path}") };
    match std::str::from_utf8(&entry.data) {
        Ok(text) if path.ends_with(".j2") => {
            (format!("{place}.j2"), format!("{{% raw %}}{text}{{% endraw %}}").into_bytes())
        }
        _ => (place, entry.data.clone()),
    }
}

/// A changed file of the base: the lines it adds at its slots, its dependency additions, or
/// its `.env.example` additions; `Err` says why it is not capturable.
fn changed_file(
    base: &Base,
    path: &str,
    old: &Entry,
    new: &Entry,
    parts: &mut Parts,
) -> std::result::Result<(), String> {
    let (Ok(old_text), Ok(new_text)) = (std::str::from_utf8(&old.data), std::str::from_utf8(&new.data)) else {
        return Err("not UTF-8 text: a skill can only add at slots".into());
    };
    if path == base.manifest.env_file {
        return env_lines(old_text, new_text, path, parts);
    }
    let slots: Vec<(&String, &Slot)> = base.manifest.slots.iter().filter(|(_, s)| s.file() == path).collect();
    if slots.is_empty() {
        return Err("a file of the base outside every slot: make it a new file, or ask for a slot".into());
    }
    if let Some((slot, Slot::CargoDeps { table, .. })) = slots.iter().find(|(_, s)| matches!(s, Slot::CargoDeps { .. }))
    {
        return dependencies(old_text, new_text, slot, table, path, parts);
    }
    let (added, removed) = line_changes(old_text, new_text)?;
    if removed > 0 {
        return Err(format!("{removed} line(s) removed or changed: a skill only adds lines at slots"));
    }
    // claw writes the config-keys and agent-keys lists from [[env]]: a key added there comes back
    // from its `.env.example` block (checked when the captured skill is composed), never as an edit.
    let generated = |name: &str| [crate::env_keys::CONFIG_KEYS, crate::env_keys::AGENT_KEYS].contains(&name);
    let slots: Vec<(&String, &Slot)> = slots.into_iter().filter(|(name, _)| !generated(name)).collect();
    let mut edits = Vec::new();
    for line in added {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") || (slots.is_empty() && line.starts_with("Key {")) {
            continue;
        }
        let items = slots.iter().find(|(_, s)| matches!(s, Slot::RustItems { .. }));
        let list = slots.iter().find(|(_, s)| matches!(s, Slot::RustList { .. }));
        let lines = slots.iter().find(|(_, s)| matches!(s, Slot::Lines { .. }));
        let is_item = (line.starts_with("mod ")
            || line.starts_with("pub mod ")
            || line.starts_with("use ")
            || line.starts_with("pub use "))
            && line.ends_with(';');
        let (slot, add) = match (is_item, items, list, lines) {
            (true, Some((slot, _)), _, _) => (slot.to_string(), line.to_string()),
            (_, _, Some((slot, _)), _) => (slot.to_string(), line.trim_end_matches(',').trim().to_string()),
            (_, _, _, Some((slot, _))) => (slot.to_string(), line.to_string()),
            _ => return Err(format!("line {line:?} fits none of its slots")),
        };
        edits.push((slot, add));
    }
    if !edits.is_empty() {
        parts.edits.insert(path.to_string(), edits);
    }
    Ok(())
}

/// The lines `new` adds to `old`, and how many it removes.
fn line_changes(old: &str, new: &str) -> std::result::Result<(Vec<String>, usize), String> {
    let mut opts = git2::DiffOptions::new();
    opts.context_lines(0);
    let patch = git2::Patch::from_buffers(old.as_bytes(), None, new.as_bytes(), None, Some(&mut opts))
        .map_err(|e| e.message().to_string())?;
    let (mut added, mut removed) = (Vec::new(), 0);
    for h in 0..patch.num_hunks() {
        let lines = patch.num_lines_in_hunk(h).map_err(|e| e.message().to_string())?;
        for l in 0..lines {
            let line = patch.line_in_hunk(h, l).map_err(|e| e.message().to_string())?;
            match line.origin() {
                '+' => added.push(String::from_utf8_lossy(line.content()).trim_end_matches(['\n', '\r']).to_string()),
                '-' => removed += 1,
                _ => {}
            }
        }
    }
    Ok((added, removed))
}

/// Dependencies added to the slot's table; anything else changed in the manifest is refused.
fn dependencies(
    old: &str,
    new: &str,
    slot: &str,
    table: &str,
    path: &str,
    parts: &mut Parts,
) -> std::result::Result<(), String> {
    let old_doc: toml_edit::DocumentMut = old.parse().map_err(|_| "the base's manifest is not TOML".to_string())?;
    let new_doc: toml_edit::DocumentMut = new.parse().map_err(|e| format!("not valid TOML: {e}"))?;
    let (Some(old_deps), Some(new_deps)) =
        (old_doc.get(table).and_then(|t| t.as_table_like()), new_doc.get(table).and_then(|t| t.as_table_like()))
    else {
        return Err(format!("[{table}] is missing"));
    };
    let mut deps = Vec::new();
    for (krate, item) in new_deps.iter() {
        match old_deps.get(krate) {
            Some(before) if before.to_string() == item.to_string() => {}
            Some(_) => return Err(format!("dependency {krate} changed: a skill only adds dependencies")),
            None => deps.push((slot.to_string(), krate.to_string(), dependency_spec(krate, item)?)),
        }
    }
    if let Some((krate, _)) = old_deps.iter().find(|(k, _)| !new_deps.contains_key(k)) {
        return Err(format!("dependency {krate} removed: a skill only adds dependencies"));
    }
    if !deps.is_empty() {
        parts.deps.insert(path.to_string(), deps);
    }
    Ok(())
}

/// A dependency as a `[cargo.SLOT]` value: registry dependencies only, as skills may have.
fn dependency_spec(krate: &str, item: &toml_edit::Item) -> std::result::Result<String, String> {
    if let Some(version) = item.as_str() {
        return Ok(toml_string(version));
    }
    let table = item.as_table_like().ok_or_else(|| format!("dependency {krate} is neither a version nor a table"))?;
    let mut fields = Vec::new();
    for (key, value) in table.iter() {
        match key {
            "version" | "features" | "default-features" | "optional" | "package" => {
                fields.push(format!("{key} = {}", value.to_string().trim()));
            }
            other => return Err(format!("dependency {krate} has `{other}`: skills take registry dependencies only")),
        }
    }
    Ok(format!("{{ {} }}", fields.join(", ")))
}

/// `KEY=value` lines added to `.env.example`, with the comment above each as its doc.
fn env_lines(old: &str, new: &str, path: &str, parts: &mut Parts) -> std::result::Result<(), String> {
    let (added, removed) = line_changes(old, new)?;
    if removed > 0 {
        return Err("lines removed or changed: only added variables are captured".into());
    }
    let mut vars = Vec::new();
    let mut doc = String::new();
    let mut example = String::new();
    for line in added {
        // claw writes a variable as `# doc (required)`, `# e.g. KEY=example`, `KEY=`.
        if let Some(hint) = line.strip_prefix("# e.g. ") {
            example = hint.split_once('=').map(|(_, v)| v.to_string()).unwrap_or_default();
        } else if let Some(comment) = line.strip_prefix("# ") {
            doc = comment.to_string();
        } else if let Some((key, value)) = line.split_once('=') {
            let value = if value.is_empty() { std::mem::take(&mut example) } else { value.to_string() };
            let (doc_text, required) = match doc.rsplit_once(" (") {
                Some((d, "required)")) => (d.to_string(), true),
                Some((d, "optional)")) => (d.to_string(), false),
                _ => (if doc.is_empty() { key.to_string() } else { doc.clone() }, false),
            };
            vars.push((key.trim().to_string(), doc_text, required, value));
            doc.clear();
            example.clear();
        }
    }
    if !vars.is_empty() {
        parts.env.insert(path.to_string(), vars);
    }
    Ok(())
}

fn forget(parts: &mut Parts, path: &str) {
    parts.edits.remove(path);
    parts.deps.remove(path);
    parts.env.remove(path);
}

fn toml_string(text: &str) -> String {
    toml_edit::Value::from(text).to_string().trim().to_string()
}

/// The skill folder: skill.toml, SKILL.md and the captured files.
fn skill_folder(name: &str, install: &str, parts: &Parts) -> Result<Tree> {
    let mut manifest = format!(
        "name = \"{name}\"\nversion = \"0.1.0\"\nsummary = {}\ndescription = {}\nkind = \"feature\"\n",
        toml_string(&format!("Captured from the edits of the install {install}")),
        toml_string(&format!(
            "Use when the person wants the {name} changes (captured from an install by claw skill capture), or to check or remove them."
        )),
    );
    for vars in parts.env.values() {
        for (key, doc, required, example) in vars {
            manifest.push_str(&format!(
                "\n[[env]]\nname = {}\ndoc = {}\nrequired = {required}\nexample = {}\n",
                toml_string(key),
                toml_string(doc),
                toml_string(example)
            ));
        }
    }
    for edits in parts.edits.values() {
        for (slot, add) in edits {
            let add = if add.contains("{{") || add.contains("{%") || add.contains("{#") {
                format!("{{% raw %}}{add}{{% endraw %}}")
            } else {
                add.clone()
            };
            manifest.push_str(&format!("\n[[edits]]\nslot = {}\nadd = {}\n", toml_string(slot), toml_string(&add)));
        }
    }
    let mut by_slot: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for deps in parts.deps.values() {
        for (slot, krate, spec) in deps {
            by_slot.entry(slot).or_default().push((krate, spec));
        }
    }
    for (slot, deps) in by_slot {
        manifest.push_str(&format!("\n[cargo.{slot}]\n"));
        for (krate, spec) in deps {
            manifest.push_str(&format!("{krate} = {spec}\n"));
        }
    }
    let mut tree = Tree::new();
    tree.insert("skill.toml", Entry::file(manifest));
    tree.insert(
        "SKILL.md",
        Entry::file(format!(
            "# {name}\n\nCaptured by `claw skill capture` from the install {install}. Say here what it adds, what to set up, how to verify it and how to remove it (`claw skill remove {name}`).\n"
        )),
    );
    for (path, entry) in &parts.files {
        let (place, data) = folder_path(path, entry);
        tree.insert(place, Entry { data, mode: entry.mode });
    }
    Ok(tree)
}
