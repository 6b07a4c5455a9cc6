//! `claw skill check [NAME…|--all]`: everything a skill author needs to know before anyone
//! applies the skill, as one table. The fast steps run in-process on the generator's own
//! compose code (manifest, templates with every choice, apply on the base, every compatible
//! pair); the slow ones (one `cargo check` of an install holding every compatible skill, then
//! the skills' own tests in it) can be skipped while iterating.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use crate::catalog::{Catalog, Skill};
use crate::compose::{self, Selected};
use crate::error::{Context, Error, Result, bail};
use crate::render;
use crate::sources::Material;
use crate::tree::Tree;
use crate::{lockfile, workdir};

/// The name the checked installs are composed under.
const INSTALL: &str = "check";

pub struct Options {
    pub all: bool,
    pub json: bool,
    pub no_build: bool,
    pub no_tests: bool,
}

#[derive(Serialize)]
struct Row {
    skill: String,
    step: &'static str,
    /// `ok`, `FAIL` or `skip`.
    result: &'static str,
    detail: String,
    ms: u128,
}

#[derive(Serialize)]
struct Report {
    ok: bool,
    seconds: f64,
    rows: Vec<Row>,
}

struct Checker {
    rows: Vec<Row>,
}

impl Checker {
    /// Runs one step, timing it, and records its row; returns what the step returned.
    fn step<T>(&mut self, skill: &str, step: &'static str, run: impl FnOnce() -> Result<(T, String)>) -> Option<T> {
        let start = Instant::now();
        let outcome = run();
        let ms = start.elapsed().as_millis();
        let (result, detail, value) = match outcome {
            Ok((value, detail)) => ("ok", detail, Some(value)),
            Err(e) => ("FAIL", e.message, None),
        };
        self.rows.push(Row { skill: skill.to_string(), step, result, detail, ms });
        value
    }

    fn skip(&mut self, skill: &str, step: &'static str, why: impl Into<String>) {
        self.rows.push(Row { skill: skill.to_string(), step, result: "skip", detail: why.into(), ms: 0 });
    }
}

pub fn check(catalog: &Catalog, names: &[String], opts: &Options) -> Result<()> {
    let started = Instant::now();
    let names: Vec<String> = match (opts.all, names.is_empty()) {
        (true, true) => catalog.names()?,
        (false, false) => names.to_vec(),
        (true, false) => bail!("name skills or give --all, not both"),
        (false, true) => bail!("name the skills to check, or give --all (e.g. `claw skill check --all --no-build`)"),
    };
    let material = Material::embedded()?;
    let mut c = Checker { rows: Vec::new() };

    // Every skill of the catalogue can be needed by a `requires`; loaded once.
    let mut loaded: BTreeMap<String, Skill> = BTreeMap::new();
    let mut good: Vec<String> = Vec::new();
    for name in &names {
        let Some(skill) = c.step(name, "manifest", || {
            let skill = catalog.load(name)?;
            let detail = format!("{} {} ({})", skill.manifest.version, skill.manifest.kind, skill.source.describe());
            Ok((skill, detail))
        }) else {
            continue;
        };
        loaded.insert(name.clone(), skill);
        good.push(name.clone());
    }
    let known = Known { catalog, loaded };
    let loaded = &known.loaded;

    let mut applied: Vec<String> = Vec::new();
    for name in &good {
        let skill = loaded[name].clone();
        let variants = variants(&skill);
        let rendered = c.step(name, "templates", || {
            for vars in &variants {
                render_templates(&Selected { skill: skill.clone(), vars: vars.clone() })?;
            }
            Ok(((), format!("{} template(s) x {} variant(s)", template_count(&skill), variants.len())))
        });
        if rendered.is_none() {
            c.skip(name, "apply", "its templates do not render");
            continue;
        }
        let composed = c.step(name, "apply", || {
            for vars in &variants {
                let set = with_requirements(&[name.as_str()], vars, &known)?;
                compose::pristine_tree(&material, INSTALL, &compose::canonical_order(set)?)?;
            }
            let needs = &skill.manifest.requires;
            let detail =
                if needs.is_empty() { "on the base".to_string() } else { format!("with {}", needs.join(", ")) };
            Ok(((), detail))
        });
        if composed.is_some() {
            applied.push(name.clone());
        }
    }

    // Every pair, both orders: the generator's canonical order must make them one tree.
    let mut clashes: BTreeSet<(String, String)> = BTreeSet::new();
    for (i, a) in applied.iter().enumerate() {
        for b in &applied[i + 1..] {
            let label = format!("{a} + {b}");
            if let Some(why) = declared_conflict(&loaded[a], &loaded[b]) {
                c.skip(&label, "pair", why);
                clashes.insert((a.clone(), b.clone()));
                continue;
            }
            let ok = c.step(&label, "pair", || {
                let one = compose_set(&material, &[a, b], &known)?;
                let other = compose_set(&material, &[b, a], &known)?;
                if one != other {
                    bail!("{a} then {b} and {b} then {a} give different trees");
                }
                Ok(((), "both orders, one tree".to_string()))
            });
            if ok.is_none() {
                clashes.insert((a.clone(), b.clone()));
            }
        }
    }

    // The largest set that composes: each skill in name order unless it clashes with one taken.
    let mut chosen: Vec<String> = Vec::new();
    for name in &applied {
        if chosen
            .iter()
            .all(|o| !clashes.contains(&(o.clone(), name.clone())) && !clashes.contains(&(name.clone(), o.clone())))
        {
            chosen.push(name.clone());
        }
    }
    let label = format!("{} skill(s)", chosen.len());
    if opts.no_build {
        c.skip(&label, "build", "--no-build");
        c.skip(&label, "tests", "--no-build");
    } else if chosen.is_empty() {
        c.skip(&label, "build", "no skill composed");
    } else {
        let scratch = Scratch::new()?;
        let built = c.step(&label, "build", || {
            let refs: Vec<&String> = chosen.iter().collect();
            let mut tree = compose_set(&material, &refs, &known)?;
            let bare = compose::pristine_tree(&material, INSTALL, &[])?;
            lockfile::update(&bare, &mut tree, &scratch.0, None)?;
            let root = scratch.0.join(INSTALL);
            std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
            for (path, entry) in tree.iter() {
                workdir::put(&root, path, Some(entry))?;
            }
            cargo(&root, &["check", "--workspace", "--all-targets"])?;
            Ok((root, format!("cargo check: {}", chosen.join(", "))))
        });
        match (built, opts.no_tests) {
            (None, _) => c.skip(&label, "tests", "the build failed"),
            (Some(_), true) => c.skip(&label, "tests", "--no-tests"),
            (Some(root), false) => {
                for name in &chosen {
                    run_tests(&mut c, &root, &loaded[name]);
                }
            }
        }
    }

    let failed = c.rows.iter().filter(|r| r.result == "FAIL").count();
    let report = Report { ok: failed == 0, seconds: started.elapsed().as_secs_f64(), rows: c.rows };
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&report).context("writing JSON")?);
    } else {
        print_table(&report);
    }
    if failed > 0 {
        bail!("{failed} of {} check(s) failed", report.rows.len());
    }
    Ok(())
}

/// The skills being checked, each loaded once; one they require comes from the catalogue.
struct Known<'a> {
    catalog: &'a Catalog,
    loaded: BTreeMap<String, Skill>,
}

impl Known<'_> {
    fn get(&self, name: &str) -> Result<Skill> {
        match self.loaded.get(name) {
            Some(skill) => Ok(skill.clone()),
            None => self.catalog.load(name),
        }
    }
}

/// The variables to try: the defaults, then each choice of each variable that has choices.
fn variants(skill: &Skill) -> Vec<BTreeMap<String, String>> {
    let defaults: BTreeMap<String, String> =
        skill.manifest.vars.iter().map(|(k, v)| (k.clone(), v.default.clone())).collect();
    let mut out = vec![defaults.clone()];
    for (name, var) in &skill.manifest.vars {
        for choice in var.choices.iter().filter(|c| **c != var.default) {
            let mut vars = defaults.clone();
            vars.insert(name.clone(), choice.clone());
            out.push(vars);
        }
    }
    out
}

fn template_count(skill: &Skill) -> usize {
    skill.files.paths().filter(|p| p.ends_with(".j2") || p.contains("{{")).count()
        + skill.manifest.edits.iter().filter(|e| e.add.contains("{{")).count()
}

/// Renders every template of the skill (files, paths, edits) with `selected`'s variables,
/// naming each file as it is in the skill's folder.
fn render_templates(selected: &Selected) -> Result<()> {
    let ctx = compose::skill_context(INSTALL, selected);
    let skill = &selected.skill;
    for (path, entry) in skill.files.iter() {
        let shown = if path.starts_with("tests/") { path.clone() } else { format!("files/{path}") };
        render::render_if_templated(&format!("path {shown}"), path, &ctx, render::Escape::Text)?;
        if shown.ends_with(".j2") {
            let text = std::str::from_utf8(&entry.data).map_err(|_| Error::new(format!("{shown}: not UTF-8")))?;
            render::render(&shown, text, &ctx)?;
        }
    }
    for edit in &skill.manifest.edits {
        let name = format!("skill.toml edit at slot {}", edit.slot);
        render::render_if_templated(&name, &edit.add, &ctx, render::Escape::Rust)?;
    }
    Ok(())
}

/// `names` (with `vars` for the first) and every skill they require, transitively.
fn with_requirements(names: &[&str], vars: &BTreeMap<String, String>, known: &Known) -> Result<Vec<Selected>> {
    let mut out: Vec<Selected> = Vec::new();
    let mut queue: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    while let Some(name) = queue.pop() {
        if out.iter().any(|s| s.name() == name) {
            continue;
        }
        let skill = known.get(&name).with_context(|| format!("required skill {name}"))?;
        queue.extend(skill.manifest.requires.iter().cloned());
        let given = if name == names[0] { vars.clone() } else { BTreeMap::new() };
        let vars = skill.manifest.resolve_vars(&given)?;
        out.push(Selected { skill, vars });
    }
    Ok(out)
}

fn compose_set(material: &Material, names: &[&String], known: &Known) -> Result<Tree> {
    let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    let set = with_requirements(&names, &BTreeMap::new(), known)?;
    compose::pristine_tree(material, INSTALL, &compose::canonical_order(set)?)
}

/// Why two skills cannot be applied together by their own declaration, if they cannot.
fn declared_conflict(a: &Skill, b: &Skill) -> Option<String> {
    let (am, bm) = (&a.manifest, &b.manifest);
    if am.conflicts.contains(&bm.name) || bm.conflicts.contains(&am.name) {
        return Some("declared conflict (`conflicts`)".into());
    }
    if am.replaces.contains(&bm.name) || bm.replaces.contains(&am.name) {
        return Some("one replaces the other (`replaces`)".into());
    }
    None
}

/// The skill's own tests in the built install: its `verify` command, else `cargo test --test`
/// for each file of its tests/ folder.
fn run_tests(c: &mut Checker, root: &Path, skill: &Skill) {
    let name = skill.name().to_string();
    let commands: Vec<String> = match &skill.manifest.verify {
        Some(verify) => vec![verify.clone()],
        None => skill
            .files
            .paths()
            .filter_map(|p| p.strip_prefix("tests/")?.strip_suffix(".rs"))
            .filter(|stem| !stem.contains('/'))
            .map(|stem| format!("cargo test --test {stem}"))
            .collect(),
    };
    if commands.is_empty() {
        c.skip(&name, "tests", "no verify command and no tests/");
        return;
    }
    for command in commands {
        c.step(&name, "tests", || {
            let out = Command::new("sh")
                .args(["-c", &command])
                .current_dir(root)
                .env("CARGO_TARGET_DIR", target_dir())
                .output()
                .with_context(|| format!("running {command}"))?;
            if !out.status.success() {
                bail!("`{command}` failed:\n{}", tail(&out.stdout, &out.stderr));
            }
            Ok(((), command.clone()))
        });
    }
}

fn cargo(root: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("cargo")
        .args(args)
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .context("running cargo (is it installed?)")?;
    if !out.status.success() {
        bail!("`cargo {}` failed:\n{}", args.join(" "), tail(&[], &out.stderr));
    }
    Ok(())
}

/// Where the checked installs build: the person's CARGO_TARGET_DIR, else claw's cache folder, kept
/// between runs so that only what changed recompiles.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("claw").join("check-target")
}

/// The last lines of a failed command's output: where its errors are.
fn tail(stdout: &[u8], stderr: &[u8]) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(stdout), String::from_utf8_lossy(stderr));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("Compiling ")).collect();
    let start = lines.len().saturating_sub(30);
    crate::sanitize::escape_controls(&lines[start..].join("\n"))
}

/// A scratch folder for the built install, removed when dropped. It sits in the target folder at
/// a fixed path: cargo names a workspace member's artifacts after its path, so a new path on
/// every run would leave a new set of them behind each time.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let dir = target_dir().join("claw-check");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn print_table(report: &Report) {
    let width = report.rows.iter().map(|r| r.skill.len()).max().unwrap_or(5).clamp(5, 40);
    println!("{:<width$}  {:<9}  {:<6}  {:>8}  detail", "skill", "step", "result", "time");
    for r in &report.rows {
        let first = r.detail.lines().next().unwrap_or_default();
        let time = format!("{:.2} s", r.ms as f64 / 1000.0);
        println!(
            "{:<width$}  {:<9}  {:<6}  {:>8}  {}",
            r.skill,
            r.step,
            r.result,
            time,
            crate::sanitize::escape_controls(first)
        );
    }
    for r in report.rows.iter().filter(|r| r.result == "FAIL" && r.detail.lines().count() > 1) {
        println!("\n{} {}:\n{}", r.skill, r.step, crate::sanitize::escape_controls(&r.detail));
    }
    let failed = report.rows.iter().filter(|r| r.result == "FAIL").count();
    println!(
        "\n{} check(s), {failed} failed, {} skipped, in {:.1} s",
        report.rows.len(),
        report.rows.iter().filter(|r| r.result == "skip").count(),
        report.seconds
    );
}
