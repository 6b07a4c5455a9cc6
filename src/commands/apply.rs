//! `claw skill apply` and `claw skill remove`: change the set of skills, compose the new
//! pristine tree, and merge it with the person's tree as one commit.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::capability::Report;
use crate::catalog::{self, Catalog, Skill};
use crate::change::{self, Outcome};
use crate::cli::{ChangeArgs, ConflictMode};
use crate::compose::{self, Selected};
use crate::error::{Code, Context, Error, Result, bail};
use crate::install::Install;
use crate::lock::Access;
use crate::sources::{self, Material};
use crate::tree::Tree;
use crate::{git_source, lockfile};

/// How skills are taken and allowed: `--from URL@COMMIT`, `--yes`, `--allow-build-code`.
pub struct How<'a> {
    pub from: Option<&'a str>,
    pub yes: bool,
    pub allow_build_code: bool,
}

pub fn apply(
    catalog: &Catalog,
    dir: &Path,
    names: &[String],
    replace: &[String],
    args: ChangeArgs,
    raw_vars: &[String],
    how: How,
) -> Result<()> {
    let How { from, yes, allow_build_code } = how;
    let install = Install::open(dir, Access::Write)?;
    install.ensure_no_pending()?;
    let record = install.record()?;
    let material = install.material(&record)?;
    let mut selected = install.selected(&record)?;
    let before = selected.clone();
    let vars = super::parse_vars(raw_vars, names)?;
    let mut fetched = match from {
        Some(spec) => {
            let [name] = names else { bail!("--from takes one skill; apply the others separately") };
            let (url, commit) = git_source::parse(spec)?;
            let url = git_source::resolve_local(dir, &url);
            Some(git_source::fetch(&url, &commit, name, &install.claw_dir)?)
        }
        None => None,
    };
    let mut removed: Vec<(String, String)> = Vec::new();
    for old in replace {
        let Some(pos) = selected.iter().position(|s| s.name() == old) else {
            bail!("--replace {old}: {old} is not applied (applied: {})", applied_list(&selected));
        };
        let gone = selected.remove(pos);
        removed.push((old.clone(), gone.skill.manifest.version.to_string()));
    }
    let mut new: Vec<String> = Vec::new();
    let mut unchanged: Vec<&str> = Vec::new();
    for name in names {
        let wanted = match selected.iter().position(|s| s.name() == name) {
            // Re-applying keeps the pinned version and the recorded variables: `--var` changes
            // only what it names, and a newer version comes only through `claw update`.
            Some(pos) if fetched.as_ref().is_some_and(|f| f.git != selected[pos].skill.git) => {
                // Another commit of a git skill: it replaces the applied one; variables stay.
                let old = selected.remove(pos);
                let newer = fetched.take().context("the fetched skill")?;
                let mut given: BTreeMap<String, String> =
                    old.vars.into_iter().filter(|(k, _)| newer.manifest.vars.contains_key(k)).collect();
                given.extend(vars.get(name).cloned().unwrap_or_default());
                super::select(newer, Some(&given))?
            }
            Some(pos) => {
                let mut given = selected[pos].vars.clone();
                given.extend(vars.get(name).cloned().unwrap_or_default());
                let resolved = selected[pos].skill.manifest.resolve_vars(&given)?;
                if resolved == selected[pos].vars {
                    unchanged.push(name);
                    continue;
                }
                let skill = selected.remove(pos).skill;
                super::select(skill, Some(&resolved))?
            }
            None => {
                let skill = match fetched.take() {
                    Some(skill) => skill,
                    None => load_new(catalog, &material, name)?,
                };
                super::select(skill, vars.get(name))?
            }
        };
        for old in &wanted.skill.manifest.replaces {
            if let Some(pos) = selected.iter().position(|s| s.name() == old) {
                let gone = selected.remove(pos);
                removed.push((old.clone(), gone.skill.manifest.version.to_string()));
            }
        }
        new.push(name.clone());
        selected.push(wanted);
    }
    for name in &unchanged {
        // With --json, stdout holds only the JSON document.
        let say = |text: String| if args.json { eprintln!("{text}") } else { println!("{text}") };
        let pinned = selected.iter().find(|s| s.name() == *name).and_then(|s| s.skill.git.as_ref());
        let newer = match pinned {
            Some(git) => {
                format!("it is pinned to commit {}; `--from URL@COMMIT` with another commit moves it", git.commit)
            }
            None => format!("`claw update {name}` brings a newer version"),
        };
        say(format!("{name} is already applied with these settings; nothing to do for it ({newer})."));
    }
    if new.is_empty() && removed.is_empty() {
        if args.json {
            println!("{}", serde_json::json!({ "title": "apply", "nothing_to_do": true }));
        }
        return Ok(());
    }
    let ordered = compose::canonical_order(selected)?;
    let applied: Vec<&Selected> = ordered.iter().filter(|s| new.iter().any(|n| n == s.name())).collect();
    let mut title = format!("apply {}", new.join(", "));
    if !removed.is_empty() {
        title.push_str(&format!(
            " (replaces {})",
            removed.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    let (pristine, report) = compose_locked(&install, &material, &record.name, &before, &ordered)?;
    let message = super::commit_message(&material.templates, &title, &applied, &removed, &report.text())?;
    if !args.dry_run {
        report.check_allowed(&applied, allow_build_code)?;
        let preview = || {
            eprint!("{}", report.text());
            let opts = change::Options { dry_run: true, ..Default::default() };
            change::run(&install, &pristine, &message, opts, &mut std::io::stderr()).map(|_| ())
        };
        super::confirm_untrusted(&applied, yes, preview)?;
        sources::keep(&install.repo, &material, &ordered, &title)?;
    }
    finish(&install, &pristine, &message, Some(&report), args)
}

/// A skill not yet applied: from the skills folder (which shadows the built-in catalogue), or from
/// the built-in catalogue pinned in the install (so it fits the pinned base), never from a newer claw's catalogue.
fn load_new(catalog: &Catalog, material: &Material, name: &str) -> Result<Skill> {
    if catalog.is_local(name) {
        return catalog.load_over(&material.catalog, name);
    }
    let pinned = catalog::names_in(&material.catalog);
    if !pinned.iter().any(|n| n == name) && catalog.builtin_names()?.iter().any(|n| n == name) {
        bail!(
            "{name} is in this claw's catalogue but not in the one pinned in this install; run `claw update` first to bring this claw's base and catalogue"
        );
    }
    catalog.load_over(&material.catalog, name)
}

pub fn remove(dir: &Path, names: &[String], args: ChangeArgs) -> Result<()> {
    let install = Install::open(dir, Access::Write)?;
    install.ensure_no_pending()?;
    let record = install.record()?;
    let mut selected = install.selected(&record)?;
    let before = selected.clone();
    let mut removed = Vec::new();
    for name in names {
        let Some(pos) = selected.iter().position(|s| s.name() == name) else {
            bail!("{name} is not applied (applied: {})", applied_list(&selected));
        };
        let gone = selected.remove(pos);
        removed.push((name.clone(), gone.skill.manifest.version.to_string()));
    }
    for s in &selected {
        if let Some(need) = s.skill.manifest.requires.iter().find(|r| names.contains(r)) {
            bail!(
                "cannot remove {need}: skill {} requires it (remove both: claw skill remove {need} {})",
                s.name(),
                s.name()
            );
        }
    }
    let ordered = compose::canonical_order(selected)?;
    let title = format!("remove {}", names.join(", "));
    let material = install.material(&record)?;
    let (pristine, report) = compose_locked(&install, &material, &record.name, &before, &ordered)?;
    let message = super::commit_message(&material.templates, &title, &[], &removed, &report.text())?;
    if !args.dry_run {
        sources::keep(&install.repo, &material, &ordered, &title)?;
    }
    finish(&install, &pristine, &message, Some(&report), args)
}

/// The new pristine tree with its Cargo.lock updated, and the change's capability report.
pub(super) fn compose_locked(
    install: &Install,
    material: &Material,
    name: &str,
    before: &[Selected],
    after: &[Selected],
) -> Result<(Tree, Report)> {
    let mut pristine = compose::pristine_tree(material, name, after)?;
    let (_, old) = install.pristine()?;
    let lock = lockfile::update(old, &mut pristine, &install.claw_dir, catalogue_lock(material, after))?;
    let report = Report::new(&material.base, before, after, old, &pristine, &lock);
    Ok((pristine, report))
}

/// The catalogue lock, when every skill is built in (a local skill's crates go through cargo).
pub(super) fn catalogue_lock<'a>(material: &'a Material, skills: &[Selected]) -> Option<&'a [u8]> {
    if skills.iter().any(|s| s.skill.source != crate::catalog::Source::Builtin) {
        return None;
    }
    material.catalog.get(crate::catalogue_lock::PATH).map(|e| e.data.as_slice())
}

pub(super) fn finish(
    install: &Install,
    pristine: &Tree,
    message: &str,
    report: Option<&Report>,
    args: ChangeArgs,
) -> Result<()> {
    let opts = change::Options {
        dry_run: args.dry_run,
        markers: args.conflicts == ConflictMode::Markers,
        allow_dirty: args.allow_dirty,
    };
    let title = message.lines().next().unwrap_or_default();
    if args.json {
        return finish_json(install, pristine, message, report, opts);
    }
    // A preview is for reading: coloured and paged on a terminal, plain bytes when piped.
    let mut out: Box<dyn Write> =
        if args.dry_run { Box::new(crate::pager::open()) } else { Box::new(std::io::stdout().lock()) };
    if let Some(report) = report {
        if args.dry_run {
            write!(out, "{}", report.text()).map_err(|e| Error::output(&e))?;
        } else if let Some(note) = &report.lock_note {
            eprintln!("{note}");
        }
    }
    let outcome = change::run(install, pristine, message, opts, &mut out)?;
    out.flush().map_err(|e| Error::output(&e))?;
    match outcome {
        Outcome::Previewed => Ok(()),
        Outcome::Committed { commit, changed } => {
            let _ = writeln!(
                out,
                "{title}: committed {} ({changed} files changed). Review it with `git show`.",
                &commit.to_string()[..12]
            );
            Ok(())
        }
        Outcome::Pending { conflicts } => Err(pending(&conflicts)),
    }
}

fn pending(conflicts: &[crate::merge::Conflict]) -> Error {
    Error::with_code(
        Code::Conflict,
        format!(
            "{}conflict markers were written and nothing was committed. Resolve them, then run `claw continue` (or `claw abort`).",
            change::conflict_report(conflicts)
        ),
    )
}

/// The outcome as one JSON document: with --dry-run the capability report, the commit message,
/// the diff and the files it touches; otherwise the commit.
fn finish_json(
    install: &Install,
    pristine: &Tree,
    message: &str,
    report: Option<&Report>,
    opts: change::Options,
) -> Result<()> {
    let title = message.lines().next().unwrap_or_default();
    let mut diff = Vec::new();
    let outcome = change::run(install, pristine, message, opts, &mut diff)?;
    let doc = match outcome {
        Outcome::Previewed => {
            let diff = String::from_utf8_lossy(&diff).into_owned();
            let files: Vec<&str> = diff
                .lines()
                .filter_map(|l| l.strip_prefix("diff --git a/"))
                .filter_map(|l| l.split_once(" b/").map(|(a, _)| a))
                .collect();
            serde_json::json!({
                "title": title,
                "dry_run": true,
                "capabilities": report.map(|r| r.text()),
                "message": message,
                "files": files,
                "diff": diff,
            })
        }
        Outcome::Committed { commit, changed } => {
            serde_json::json!({ "title": title, "dry_run": false, "commit": commit.to_string(), "changed": changed })
        }
        Outcome::Pending { conflicts } => return Err(pending(&conflicts)),
    };
    println!("{}", serde_json::to_string_pretty(&doc).context("writing JSON")?);
    Ok(())
}

pub(super) fn applied_list(selected: &[Selected]) -> String {
    let names: Vec<&str> = selected.iter().map(Selected::name).collect();
    crate::manifest::list_or_none(&names)
}
