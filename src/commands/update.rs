//! `claw update [NAME…]`: brings newer versions of what an install is pinned to (the base,
//! templates and built-in catalogue and built-in skills from this claw, local skills from the
//! `--skills` folder), shows each version's notes and the diff, and commits it as one change.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::catalog::{self, Catalog, Skill, Source};
use crate::change;
use crate::cli::ChangeArgs;
use crate::compose::{self, Selected};
use crate::embedded;
use crate::error::{Context, Result, bail};
use crate::install::Install;
use crate::install_record::InstallRecord;
use crate::lock::Access;
use crate::sources::{self, Material};

/// What an update would bring.
pub struct Available {
    /// This claw's base, templates and catalogue, when they differ from the pinned ones.
    pub material: Option<Material>,
    /// Applied skills whose source holds something else now: the newer skill, or why it cannot
    /// be read.
    pub skills: Vec<(String, Result<Skill>)>,
    /// Local skills that were not checked: no skills folder holding them was given.
    pub unchecked: Vec<String>,
}

/// One line of `claw status`: an update that is available.
#[derive(Serialize)]
pub struct Offer {
    pub kind: &'static str,
    pub name: String,
    pub from: String,
    pub to: Option<String>,
    /// Why the newer version cannot be used, if it cannot.
    pub error: Option<String>,
}

/// Compares what the install pins with this claw and the skills folder; `only` limits the skills
/// looked at (and leaves the base out).
pub fn available(catalog: &Catalog, record: &InstallRecord, only: &[String]) -> Result<Available> {
    let catalog_tree = embedded::tree_under("skills/")?;
    let builtin = catalog::names_in(&catalog_tree);
    let mut skills = Vec::new();
    let mut unchecked = Vec::new();
    for r in record.skills.iter().filter(|r| only.is_empty() || only.contains(&r.name)) {
        let newer = match Source::parse(&r.source)? {
            // The build-time id settles an unchanged skill without hashing it.
            Source::Builtin if builtin.contains(&r.name) => {
                if embedded::tree_id(&format!("skills/{}/", r.name))?.to_string() == r.tree {
                    continue;
                }
                catalog::from_catalog(&catalog_tree, &r.name)
            }
            // Pinned to a commit: only `claw skill apply NAME --from URL@COMMIT` moves it.
            Source::Builtin | Source::Git => continue,
            Source::Local => match &catalog.dir {
                Some(dir) if dir.join(&r.name).exists() => catalog::from_folder(dir, &r.name),
                _ => {
                    unchecked.push(r.name.clone());
                    continue;
                }
            },
        };
        if !matches!(&newer, Ok(s) if s.tree.to_string() == r.tree) {
            skills.push((r.name.clone(), newer));
        }
    }
    let material = if only.is_empty() && Material::embedded_pins()? != record.sources {
        Some(Material::embedded()?)
    } else {
        None
    };
    Ok(Available { material, skills, unchecked })
}

/// The available updates as `claw status` lists them.
pub fn offers(found: &Available, record: &InstallRecord) -> Vec<Offer> {
    let mut offers = Vec::new();
    if let Some(m) = &found.material {
        let to = Some(m.base.manifest.version.to_string());
        offers.push(Offer { kind: "base", name: "base".into(), from: record.base.clone(), to, error: None });
    }
    for (name, newer) in &found.skills {
        let from = record.skill(name).map(|r| r.version.clone()).unwrap_or_default();
        let (to, error) = match newer {
            Ok(s) => (Some(s.manifest.version.to_string()), None),
            Err(e) => (None, Some(e.message.clone())),
        };
        offers.push(Offer { kind: "skill", name: name.clone(), from, to, error });
    }
    offers
}

pub fn update(
    catalog: &Catalog,
    dir: &Path,
    names: &[String],
    args: ChangeArgs,
    (yes, allow_build_code): (bool, bool),
) -> Result<()> {
    let install = Install::open(dir, Access::Write)?;
    install.ensure_no_pending()?;
    let record = install.record()?;
    let mut selected = install.selected(&record)?;
    let before = selected.clone();
    for name in names {
        if record.skill(name).is_none() {
            bail!("{name} is not applied (applied: {})", super::apply::applied_list(&selected));
        }
    }
    let found = available(catalog, &record, names)?;
    if !found.unchecked.is_empty() {
        let list = found.unchecked.join(", ");
        if !names.is_empty() {
            bail!(
                "{list}: local skills; name the folder that holds the newer version with --skills DIR (or CLAW_SKILLS)"
            );
        }
        eprintln!("claw: local skills {list} not checked; name their folder with --skills DIR to update them");
    }
    let mut notes = String::new();
    let mut trailers = String::new();
    let mut what: Vec<String> = Vec::new();
    let material = match found.material {
        Some(newer) => {
            let (old, new) = (record.base.clone(), newer.base.manifest.version.to_string());
            notes.push_str(&describe("base", &old, &new, &newer.base.manifest.changes));
            trailers.push_str(&format!("Claw-Base-Updated: {old} -> {new}\n"));
            what.push("base".into());
            newer
        }
        None => install.material(&record)?,
    };
    let mut updated: Vec<String> = Vec::new();
    for (name, newer) in found.skills {
        let newer = newer.with_context(|| format!("the newer version of {name}"))?;
        let pos = selected.iter().position(|s| s.name() == name).context("an applied skill went missing")?;
        let old = selected.remove(pos);
        let (from, to) = (old.skill.manifest.version.to_string(), newer.manifest.version.to_string());
        notes.push_str(&describe(&name, &from, &to, &newer.manifest.changes));
        trailers.push_str(&format!("Claw-Skill-Updated: {name} {from} -> {to}\n"));
        // Recorded variables stay; one the new version no longer declares is dropped.
        let kept: BTreeMap<String, String> =
            old.vars.into_iter().filter(|(k, _)| newer.manifest.vars.contains_key(k)).collect();
        selected.push(super::select(newer, Some(&kept))?);
        what.push(name.clone());
        updated.push(name);
    }
    if what.is_empty() {
        match args.json {
            true => println!("{}", serde_json::json!({ "title": "update", "nothing_to_do": true })),
            false => println!(
                "Nothing to update: the install has this claw's base and the newest version of every skill checked."
            ),
        }
        return Ok(());
    }
    let ordered = compose::canonical_order(selected)?;
    let (pristine, report) = super::apply::compose_locked(&install, &material, &record.name, &before, &ordered)?;
    let title = format!("update {}", what.join(", "));
    let message = format!("claw: {title}\n\n{notes}\n{}\n\n{trailers}", report.text().trim_end());
    if args.dry_run {
        return super::apply::finish(&install, &pristine, &message, Some(&report), args);
    }
    // With --json, stdout holds only the JSON document: the notes and diff go to stderr.
    let mut shown: Box<dyn std::io::Write> =
        if args.json { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) };
    let _ = writeln!(shown, "{notes}");
    let preview = change::Options { dry_run: true, ..Default::default() };
    change::run(&install, &pristine, &message, preview, &mut shown)?;
    let local: Vec<&Selected> = ordered.iter().filter(|s| updated.iter().any(|n| n == s.name())).collect();
    report.check_allowed(&local, allow_build_code)?;
    super::confirm_untrusted(&local, yes, || Ok(()))?;
    sources::keep(&install.repo, &material, &ordered, &title)?;
    super::apply::finish(&install, &pristine, &message, Some(&report), args)
}

/// `NAME OLD -> NEW` and the notes of every version after OLD up to NEW, one line each.
fn describe(name: &str, old: &str, new: &str, changes: &BTreeMap<String, String>) -> String {
    let (old_v, new_v) = (semver::Version::parse(old).ok(), semver::Version::parse(new).ok());
    let mut notes: Vec<(semver::Version, &String)> = changes
        .iter()
        .filter_map(|(v, note)| Some((semver::Version::parse(v).ok()?, note)))
        .filter(|(v, _)| old_v.as_ref().is_none_or(|o| v > o) && new_v.as_ref().is_none_or(|n| v <= n))
        .collect();
    notes.sort();
    let mut text = format!("{name} {old} -> {new}\n");
    if notes.is_empty() {
        text.push_str("  (no notes for this version)\n");
    }
    for (version, note) in notes {
        text.push_str(&format!("  {version}: {}\n", one_paragraph(note)));
    }
    text
}

/// A note as one line of plain text: a skill's notes go into the terminal and the commit message,
/// where a newline could forge a trailer and a control character could hide text.
fn one_paragraph(note: &str) -> String {
    let words: Vec<String> = note.split_whitespace().map(|w| w.chars().filter(|c| !c.is_control()).collect()).collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_cover_the_versions_after_the_old_one_up_to_the_new_one_in_order() {
        let changes = BTreeMap::from([
            ("0.1.0".to_string(), "first".to_string()),
            ("0.10.0".to_string(), "too new".to_string()),
            ("0.3.0".to_string(), "third".to_string()),
            ("0.2.0".to_string(), "second".to_string()),
        ]);
        assert_eq!(describe("x", "0.1.0", "0.3.0", &changes), "x 0.1.0 -> 0.3.0\n  0.2.0: second\n  0.3.0: third\n");
        assert!(describe("x", "0.3.0", "0.3.0", &changes).ends_with("(no notes for this version)\n"));
    }

    #[test]
    fn a_note_cannot_forge_a_trailer_or_hide_text() {
        let note = "Fixes things.\n\nClaw-Skill-Applied: evil 9.9.9\r\x1b[2K hidden";
        assert_eq!(one_paragraph(note), "Fixes things. Claw-Skill-Applied: evil 9.9.9 [2K hidden");
    }
}
