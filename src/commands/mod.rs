//! One file per command. Each opens what it needs, does one job and prints for a person.

mod apply;
mod diff;
mod doctor;
mod init;
mod resolve;
mod skill_capture;
mod skill_check;
mod skill_info;
mod skill_new;
mod status;
mod update;

use std::collections::BTreeMap;
use std::io::IsTerminal;

use crate::catalog::{Catalog, Skill, Source};
use crate::cli::{Cli, Command, SkillCommand};
use crate::compose::{self, Selected};
use crate::error::{Result, bail};
use crate::tree::Tree;

pub use skill_new::NewKind;

pub fn run(cli: Cli) -> Result<()> {
    let catalog = Catalog::new(cli.skills.clone())?;
    let dir = cli.cwd.clone();
    match cli.command {
        Command::Init { dir: target, with_skills, bare, vars, yes, allow_build_code } => {
            init::init(&catalog, &dir.join(target), &with_skills, bare, &vars, (yes, allow_build_code))
        }
        Command::Skill(SkillCommand::List { json }) => skill_info::list(&catalog, &dir, json),
        Command::Skill(SkillCommand::Show { name, json }) => skill_info::show(&catalog, &name, json),
        Command::Skill(SkillCommand::Apply { names, replace, change, vars, from, yes, allow_build_code }) => {
            let how = apply::How { from: from.as_deref(), yes, allow_build_code };
            apply::apply(&catalog, &dir, &names, &replace, change, &vars, how)
        }
        Command::Skill(SkillCommand::Remove { names, change }) => apply::remove(&dir, &names, change),
        Command::Skill(SkillCommand::New { name, kind, dir: to }) => {
            skill_new::new(&authoring_dir(&cli.cwd, to, &catalog), &name, kind)
        }
        Command::Skill(SkillCommand::Check { names, all, no_build, no_tests, json }) => {
            skill_check::check(&catalog, &names, &skill_check::Options { all, json, no_build, no_tests })
        }
        Command::Skill(SkillCommand::Capture { name, dir: to, json }) => {
            skill_capture::capture(&dir, &authoring_dir(&cli.cwd, to, &catalog), &name, json)
        }
        Command::Status { json } => status::status(&catalog, &dir, json),
        Command::Update { names, change, yes, allow_build_code } => {
            update::update(&catalog, &dir, &names, change, (yes, allow_build_code))
        }
        Command::Diff { json } => diff::diff(&dir, json),
        Command::Doctor { json } => doctor::doctor(&dir, json),
        Command::Continue => resolve::continue_change(&dir),
        Command::Abort => resolve::abort(&dir),
    }
}

/// Where `new` and `capture` write a skill: `--dir`, else the `--skills` folder, else ./skills.
fn authoring_dir(cwd: &std::path::Path, dir: Option<std::path::PathBuf>, catalog: &Catalog) -> std::path::PathBuf {
    let relative = |path: std::path::PathBuf| if cwd == std::path::Path::new(".") { path } else { cwd.join(path) };
    match (dir, &catalog.dir) {
        (Some(dir), _) => relative(dir),
        (None, Some(skills)) => skills.clone(),
        (None, None) => relative("skills".into()),
    }
}

/// Splits `--var` values into per-skill maps. `KEY=VALUE` is for the only skill named;
/// `SKILL.KEY=VALUE` names its skill.
fn parse_vars(raw: &[String], names: &[String]) -> Result<BTreeMap<String, BTreeMap<String, String>>> {
    let mut vars: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for item in raw {
        let Some((key, value)) = item.split_once('=') else { bail!("--var {item:?}: expected KEY=VALUE") };
        let (skill, key) = match key.split_once('.') {
            Some((skill, key)) => (skill.to_string(), key.to_string()),
            None if names.len() == 1 => (names[0].clone(), key.to_string()),
            None => bail!("--var {item:?}: several skills are named; write SKILL.{key}=VALUE"),
        };
        if !names.contains(&skill) {
            bail!("--var {item:?}: skill {skill} is not among those being applied ({})", names.join(", "));
        }
        vars.entry(skill).or_default().insert(key, value.to_string());
    }
    Ok(vars)
}

/// A skill with its variables checked: defaults, overridden by `vars`.
fn select(skill: Skill, vars: Option<&BTreeMap<String, String>>) -> Result<Selected> {
    let vars = skill.manifest.resolve_vars(vars.unwrap_or(&BTreeMap::new()))?;
    Ok(Selected { skill, vars })
}

/// Skills from outside the built-in catalogue are shown and confirmed before anything is
/// written: they are code the person has not reviewed yet.
fn confirm_untrusted(new: &[&Selected], yes: bool, preview: impl FnOnce() -> Result<()>) -> Result<()> {
    let foreign: Vec<String> = new
        .iter()
        .filter(|s| s.skill.source != Source::Builtin)
        .map(|s| format!("{} ({})", s.name(), s.skill.source.describe()))
        .collect();
    if foreign.is_empty() || yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "{} not built into claw: review the change with --dry-run, then apply it with --yes",
            foreign.join(", ") + if foreign.len() == 1 { " is" } else { " are" }
        );
    }
    preview()?;
    eprint!("Apply {}, which is not built into claw? [y/N] ", foreign.join(", "));
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| crate::error::Error::new(format!("reading the answer: {e}")))?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("not applied; nothing was written");
    }
    Ok(())
}

/// The commit message of a change, from `templates/commit.txt.j2` (as pinned in the install).
/// `capabilities` is the change's capability report ([`crate::capability::Report::text`]).
fn commit_message(
    templates: &Tree,
    title: &str,
    applied: &[&Selected],
    removed: &[(String, String)],
    capabilities: &str,
) -> Result<String> {
    let applied: Vec<_> = applied.iter().map(|s| minijinja::context! { name => s.name(), version => s.skill.manifest.version.to_string(), summary => &s.skill.manifest.summary }).collect();
    let removed: Vec<_> = removed.iter().map(|(n, v)| minijinja::context! { name => n, version => v }).collect();
    compose::render_template(
        templates,
        "commit.txt.j2",
        &minijinja::context! { title => title, applied => applied, removed => removed, capabilities => capabilities },
    )
}
