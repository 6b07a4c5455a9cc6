//! What claw writes into every install for Claude Code and for the person: CLAUDE.md (the
//! architecture and the rules never to break), SKILLS.md (the skill format), claw's workflow
//! skills (`setup`, `debug`, `update`, `customize`, `new-skill`, `claw`), one `add-NAME` skill per
//! skill of the pinned catalogue that is not applied, and one `NAME` skill per applied skill. All
//! of it is part of the pristine tree, so it is kept true on every apply, remove and update: an
//! applied skill's `add-` skill goes and its set-up skill comes, in the same commit.

use minijinja::Value;

use crate::catalog::{self, Skill};
use crate::claude_skill::{self, MAX_DESCRIPTION};
use crate::compose::{Selected, render_template};
use crate::error::{Context, Result, bail};
use crate::sources::Material;
use crate::tree::{Entry, Tree};

/// claw's own workflow skills: (name, description). Their bodies are `templates/claude/NAME.md.j2`.
const WORKFLOWS: [(&str, &str); 5] = [
    (
        "setup",
        "Use when the person runs this install for the first time or asks how to start it: the .env file, the agent \
         image, registering a chat, doctor and run, then each applied skill's own setup.",
    ),
    (
        "debug",
        "Use when the assistant does not answer, a channel is down, a container fails or doctor reports a problem: \
         logs, doctor, a channel's status and running an agent container by hand.",
    ),
    (
        "update",
        "Use when the person asks to update claw, the base or a skill, or claw status lists updates: preview the \
         notes and diff, update, resolve conflicts, rebuild and verify.",
    ),
    (
        "customize",
        "Use when the person wants a bespoke change to this install that survives later claw changes, or wants to \
         turn a change of their own into a reusable skill.",
    ),
    (
        "new-skill",
        "Use when the person wants to write a new claw skill (a channel, tool or provider) or package their own \
         edits as one: scaffold, check, capture, test and apply it.",
    ),
];

/// The generic skill that drives claw; its description names the pinned catalogue.
const CLAW: &str = "claw";

/// Every folder name claw's own Claude Code skills take; a skill by one of these names (or one
/// starting `add-`) would collide with them.
fn reserved(name: &str) -> bool {
    name == CLAW || name.starts_with("add-") || WORKFLOWS.iter().any(|(n, _)| *n == name)
}

/// Adds CLAUDE.md, SKILLS.md and every Claude Code skill to `tree`.
pub fn add(material: &Material, install_name: &str, skills: &[Selected], tree: &mut Tree) -> Result<()> {
    let base = &material.base;
    let applied: Vec<Value> = skills.iter().map(|s| skill_value(&s.skill, &s.skill.instructions)).collect();
    let catalogue = catalog_skills(&material.catalog)?;
    let names: Vec<String> = catalogue.iter().map(|s| s.name().to_string()).collect();
    let slots: Vec<Value> = base
        .manifest
        .slots
        .iter()
        .map(|(name, slot)| minijinja::context! { name => name, kind => slot.kind(), file => slot.file(), doc => slot.doc() })
        .collect();
    let not_applied: Vec<String> =
        names.iter().filter(|n| !skills.iter().any(|s| s.name() == n.as_str())).cloned().collect();
    let install = minijinja::context! { name => install_name };
    let ctx = minijinja::context! {
        install => install.clone(),
        base => minijinja::context! { version => base.manifest.version.to_string() },
        skills => &applied,
        not_applied => &not_applied,
        slots => &slots,
    };
    tree.insert("CLAUDE.md", Entry::file(render_template(&material.templates, "CLAUDE.md.j2", &ctx)?));
    // Templates pinned by an older claw hold no SKILLS.md; such an install keeps none.
    if let Some(text) = material.templates.get("SKILLS.md") {
        tree.insert("SKILLS.md", text.clone());
    }
    let claw_description = clip(&format!(
        "Use when the person asks to add, remove, swap or update a capability of this install, or asks what claw can \
         add. The catalogue pinned here: {}.",
        if names.is_empty() { "empty".to_string() } else { names.join(", ") }
    ));
    let workflows = std::iter::once((CLAW, claw_description.as_str())).chain(WORKFLOWS.iter().copied());
    for (name, description) in workflows {
        let body = render_template(&material.templates, &format!("claude/{name}.md.j2"), &ctx)?;
        tree.insert(
            format!(".claude/skills/{name}/SKILL.md"),
            Entry::file(claude_skill::skill_md(name, description, &body)?),
        );
    }
    for (s, value) in skills.iter().zip(&applied) {
        let m = &s.skill.manifest;
        if reserved(&m.name) {
            bail!("skill {}: the name is taken by claw's own Claude Code skills; rename the skill", m.name);
        }
        let ctx = minijinja::context! { install => install.clone(), skill => value };
        let body = render_template(&material.templates, "claude/skill.md.j2", &ctx)?;
        let md = claude_skill::skill_md(&m.name, &m.claude_description(), &body)
            .with_context(|| format!("skill {}: its Claude Code skill", m.name))?;
        tree.insert(format!(".claude/skills/{}/SKILL.md", m.name), Entry::file(md));
    }
    for skill in catalogue.iter().filter(|c| !skills.iter().any(|s| s.name() == c.name())) {
        let name = skill.name();
        let ctx = minijinja::context! {
            install => install.clone(),
            skill => skill_value(skill, &skill.instructions),
            command => apply_command(skill, skills),
        };
        let body = render_template(&material.templates, "claude/add.md.j2", &ctx)?;
        let folder = format!("add-{name}");
        let md = claude_skill::skill_md(&folder, &add_description(skill), &body)
            .with_context(|| format!("catalogue skill {name}: its Claude Code skill {folder}"))?;
        tree.insert(format!(".claude/skills/{folder}/SKILL.md"), Entry::file(md));
    }
    Ok(())
}

/// Every skill of the pinned catalogue, by name.
fn catalog_skills(catalog: &Tree) -> Result<Vec<Skill>> {
    let mut names = catalog::names_in(catalog);
    names.sort();
    names.iter().map(|name| catalog::from_catalog(catalog, name).context("the pinned catalogue")).collect()
}

/// The exact command that applies `skill` here: with the skills it requires that are not
/// applied, and `--replace` for an applied skill it conflicts with.
fn apply_command(skill: &Skill, applied: &[Selected]) -> String {
    let m = &skill.manifest;
    let is_applied = |n: &str| applied.iter().any(|s| s.name() == n);
    let mut words = vec!["claw skill apply".to_string()];
    words.extend(m.requires.iter().filter(|r| !is_applied(r)).cloned());
    words.push(m.name.clone());
    for s in applied {
        let theirs = &s.skill.manifest.conflicts;
        if (m.conflicts.contains(&s.name().to_string()) || theirs.contains(&m.name))
            && !m.replaces.contains(&s.name().to_string())
        {
            words.push(format!("--replace {}", s.name()));
        }
    }
    words.join(" ")
}

/// When Claude Code should use an `add-` skill: made from the skill's name and summary.
fn add_description(skill: &Skill) -> String {
    let m = &skill.manifest;
    let summary: String = m.summary.chars().filter(|c| !matches!(c, '<' | '>') && !c.is_control()).collect();
    clip(&format!(
        "Use when the person wants to add {} to this install ({}), not applied yet: apply it with claw, set its \
         values, register a chat and verify it.",
        m.name,
        summary.trim()
    ))
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_DESCRIPTION).collect()
}

/// A skill as the templates see it.
fn skill_value(skill: &Skill, instructions: &str) -> Value {
    let m = &skill.manifest;
    let env: Vec<Value> = m
        .env
        .iter()
        .map(|e| minijinja::context! { name => &e.name, doc => &e.doc, required => e.required, agent => e.to_agent() })
        .collect();
    let vars: Vec<Value> = m
        .vars
        .iter()
        .map(|(name, v)| minijinja::context! { name => name, doc => &v.doc, default => &v.default, choices => &v.choices })
        .collect();
    minijinja::context! {
        name => &m.name,
        version => m.version.to_string(),
        summary => &m.summary,
        kind => m.kind.to_string(),
        env => env,
        vars => vars,
        verify => &m.verify,
        requires => &m.requires,
        instructions => instructions,
    }
}
