//! `claw skill apply` and `claw skill remove`: change the set of skills, compose the new
//! pristine tree, and merge it with the person's tree as one commit.

use std::io::Write;
use std::path::Path;

use crate::base::Base;
use crate::capability::Report;
use crate::catalog::Catalog;
use crate::change::{self, Outcome};
use crate::cli::{ChangeArgs, ConflictMode};
use crate::compose::{self, Selected};
use crate::error::{Code, Error, Result, bail};
use crate::install::Install;
use crate::lock::Access;
use crate::lockfile;
use crate::tree::Tree;

pub fn apply(
    catalog: &Catalog,
    dir: &Path,
    names: &[String],
    replace: &[String],
    args: ChangeArgs,
    raw_vars: &[String],
    (yes, allow_build_code): (bool, bool),
) -> Result<()> {
    let install = Install::open(dir, Access::Write)?;
    install.ensure_no_pending()?;
    let record = install.record()?;
    let mut selected = install.selected(&record)?;
    let before = selected.clone();
    let vars = super::parse_vars(raw_vars, names)?;
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
        let wanted = super::select(catalog, name, vars.get(name))?;
        match selected.iter().position(|s| s.name() == name) {
            Some(pos)
                if selected[pos].vars == wanted.vars
                    && selected[pos].skill.manifest.version == wanted.skill.manifest.version =>
            {
                unchanged.push(name);
                continue;
            }
            Some(pos) => {
                selected.remove(pos);
            }
            None => {}
        }
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
        println!("{name} is already applied with these settings; nothing to do for it.");
    }
    if new.is_empty() && removed.is_empty() {
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
    let base = Base::embedded()?;
    let (pristine, report) = compose_locked(&install, &base, &record.name, &before, &ordered)?;
    let message = super::commit_message(&title, &applied, &removed, &report.text())?;
    if !args.dry_run {
        report.check_allowed(&applied, allow_build_code)?;
        let preview = || {
            eprint!("{}", report.text());
            let opts = change::Options { dry_run: true, ..Default::default() };
            change::run(&install, &pristine, &message, opts, &mut std::io::stderr()).map(|_| ())
        };
        super::confirm_untrusted(&applied, yes, preview)?;
    }
    finish(&install, &pristine, &message, &report, args)
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
    let base = Base::embedded()?;
    let (pristine, report) = compose_locked(&install, &base, &record.name, &before, &ordered)?;
    let message = super::commit_message(&title, &[], &removed, &report.text())?;
    finish(&install, &pristine, &message, &report, args)
}

/// The new pristine tree with its Cargo.lock updated, and the change's capability report.
fn compose_locked(
    install: &Install,
    base: &Base,
    name: &str,
    before: &[Selected],
    after: &[Selected],
) -> Result<(Tree, Report)> {
    let mut pristine = compose::pristine_tree(base, name, after)?;
    let (_, old) = install.pristine()?;
    let lock = lockfile::update(old, &mut pristine, &install.claw_dir)?;
    let report = Report::new(base, before, after, old, &pristine, &lock);
    Ok((pristine, report))
}

fn finish(install: &Install, pristine: &Tree, message: &str, report: &Report, args: ChangeArgs) -> Result<()> {
    let opts = change::Options {
        dry_run: args.dry_run,
        markers: args.conflicts == ConflictMode::Markers,
        allow_dirty: args.allow_dirty,
    };
    let title = message.lines().next().unwrap_or_default();
    let mut stdout = std::io::stdout().lock();
    if args.dry_run {
        let _ = write!(stdout, "{}", report.text());
    } else if let Some(note) = &report.lock_note {
        eprintln!("{note}");
    }
    match change::run(install, pristine, message, opts, &mut stdout)? {
        Outcome::Previewed => Ok(()),
        Outcome::Committed { commit, changed } => {
            let _ = writeln!(
                stdout,
                "{title}: committed {} ({changed} files changed). Review it with `git show`.",
                &commit.to_string()[..12]
            );
            Ok(())
        }
        Outcome::Pending { conflicts } => Err(Error::with_code(
            Code::Conflict,
            format!(
                "{}conflict markers were written and nothing was committed. Resolve them, then run `claw continue` (or `claw abort`).",
                change::conflict_report(&conflicts)
            ),
        )),
    }
}

fn applied_list(selected: &[Selected]) -> String {
    let names: Vec<&str> = selected.iter().map(Selected::name).collect();
    crate::manifest::list_or_none(&names)
}
