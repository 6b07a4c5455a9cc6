//! The pinned sources: the exact base, templates, built-in catalogue and applied skills an install
//! is generated from. They live in the install's own git objects, as a chain of commits on
//! `refs/claw/sources` whose tree holds `base/`, `templates/`, `catalog/` and `skills/NAME/`, and
//! `.claw/install.toml` names each by its git tree id. Every change composes from these trees, so
//! what was reviewed is what is kept: only a newly applied skill and `claw update` bring anything
//! in from the binary or a folder.

use git2::{Oid, Repository};

use crate::base::Base;
use crate::catalog::{self, Skill, Source};
use crate::compose::Selected;
use crate::embedded;
use crate::error::{Context, Result, bail};
use crate::install_record::{InstallRecord, Pins, SkillRecord};
use crate::repo;
use crate::tree::Tree;

/// The chain of commits that keeps every pinned tree reachable (and safe from `git gc`).
pub const SOURCES_REF: &str = "refs/claw/sources";

/// The built-in material an install is generated from: the base, claw's templates and the
/// built-in catalogue (newly applied built-in skills come from it, so they fit the pinned base).
#[derive(Debug, Clone)]
pub struct Material {
    pub base: Base,
    pub templates: Tree,
    pub catalog: Tree,
    pub pins: Pins,
    /// The claw version that brought this material.
    pub generator: String,
}

impl Material {
    /// This claw's own material (or, in debug-build tests, CLAW_BUILTIN_DIR's).
    pub fn embedded() -> Result<Material> {
        let base = Base::from_files(embedded::tree_under("base/")?)?;
        let templates = embedded::tree_under("templates/")?;
        let catalog = embedded::tree_under("skills/")?;
        let pins = Material::embedded_pins()?;
        Ok(Material { base, templates, catalog, pins, generator: env!("CARGO_PKG_VERSION").to_string() })
    }

    /// The tree ids of this claw's own material, without reading it: enough to tell whether an
    /// install is pinned to it.
    pub fn embedded_pins() -> Result<Pins> {
        Ok(Pins {
            base: embedded::tree_id("base/")?.to_string(),
            templates: embedded::tree_id("templates/")?.to_string(),
            catalog: embedded::tree_id("skills/")?.to_string(),
        })
    }

    /// The material pinned in an install, read back from its git objects by tree id.
    pub fn pinned(repo: &Repository, record: &InstallRecord) -> Result<Material> {
        let pins = record.sources.clone();
        let base = Base::from_files(read(repo, &pins.base, "the base")?).context("the pinned base")?;
        let templates = read(repo, &pins.templates, "the templates")?;
        let catalog = read(repo, &pins.catalog, "the built-in catalogue")?;
        Ok(Material { base, templates, catalog, pins, generator: record.generator.clone() })
    }
}

/// An applied skill exactly as it was applied, read back by the tree id its record names.
pub fn pinned_skill(repo: &Repository, record: &SkillRecord) -> Result<Skill> {
    let source = Source::parse(&record.source)?;
    let raw = read(repo, &record.tree, &format!("skill {}", record.name))?;
    let mut skill = catalog::from_raw(raw, oid(&record.tree)?, source, &record.name)?;
    if let (Some(url), Some(commit)) = (&record.url, &record.commit) {
        skill.git = Some(catalog::GitPin { url: url.clone(), commit: commit.clone() });
    }
    Ok(skill)
}

/// Makes the material and `skills` the newest commit of `refs/claw/sources`, first writing any
/// tree that is not yet in the object store. Older commits stay in the chain, so a record in
/// the history (after a reset or revert) still finds its trees.
pub fn keep(repo: &Repository, material: &Material, skills: &[Selected], why: &str) -> Result<()> {
    let mut root = repo.treebuilder(None).context("writing the pinned sources")?;
    let parts = [
        ("base", &material.pins.base, &material.base.files),
        ("templates", &material.pins.templates, &material.templates),
        ("catalog", &material.pins.catalog, &material.catalog),
    ];
    for (name, id, tree) in parts {
        let id = ensure(repo, oid(id)?, tree)?;
        root.insert(name, id, 0o040000).context("writing the pinned sources")?;
    }
    if !skills.is_empty() {
        let mut folder = repo.treebuilder(None).context("writing the pinned sources")?;
        for s in skills {
            let id = ensure(repo, s.skill.tree, &s.skill.raw)?;
            folder.insert(s.name(), id, 0o040000).context("writing the pinned sources")?;
        }
        let id = folder.write().context("writing the pinned sources")?;
        root.insert("skills", id, 0o040000).context("writing the pinned sources")?;
    }
    let tree = root.write().context("writing the pinned sources")?;
    let parent = repo.find_reference(SOURCES_REF).and_then(|r| r.peel_to_commit()).ok();
    if parent.as_ref().is_some_and(|p| p.tree_id() == tree) {
        return Ok(());
    }
    let parents: Vec<Oid> = parent.iter().map(git2::Commit::id).collect();
    let commit = repo::commit(repo, tree, &parents, &format!("sources: {why}\n"))?;
    repo::set_ref(repo, SOURCES_REF, commit, why)
}

/// Writes `tree` unless the object store has it already; it must hash to `id`.
fn ensure(repo: &Repository, id: Oid, tree: &Tree) -> Result<Oid> {
    if repo.find_tree(id).is_ok() {
        return Ok(id);
    }
    let written = repo::write_tree(repo, tree)?;
    if written != id {
        bail!("a pinned tree was written as {written}, not the recorded {id}");
    }
    Ok(id)
}

fn read(repo: &Repository, id: &str, what: &str) -> Result<Tree> {
    let id = oid(id)?;
    if repo.find_tree(id).is_err() {
        bail!(
            "{what}: the pinned tree {id} named in .claw/install.toml is not in this repository (it is kept under {SOURCES_REF}; fetch that ref too when cloning an install)"
        );
    }
    repo::read_tree(repo, id).with_context(|| what.to_string())
}

fn oid(text: &str) -> Result<Oid> {
    Oid::from_str(text).with_context(|| format!(".claw/install.toml: invalid tree id {text:?}"))
}
