//! `claw init DIR`: a new install, the base plus the default skills, as one commit.

use std::collections::BTreeSet;
use std::path::Path;

use git2::{Repository, RepositoryInitOptions};

use crate::capability::Report;
use crate::catalog::{Catalog, Source};
use crate::compose::{self, Selected};
use crate::error::{Context, Result, bail};
use crate::manifest::validate_name;
use crate::sources::{self, Material};
use crate::{lockfile, repo, workdir};

pub fn init(
    catalog: &Catalog,
    dir: &Path,
    extra: &[String],
    bare: bool,
    raw_vars: &[String],
    (yes, allow_build_code): (bool, bool),
) -> Result<()> {
    if dir.exists() && std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?.next().is_some() {
        bail!("{} already exists and is not empty", dir.display());
    }
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: cannot name an install after this path", dir.display()))?;
    validate_name("install", name)?;
    let material = Material::embedded()?;
    let mut names: Vec<String> = Vec::new();
    if !bare {
        for skill in catalog.names()? {
            if catalog.load(&skill)?.manifest.default {
                names.push(skill);
            }
        }
    }
    for skill in extra {
        if !names.contains(skill) {
            names.push(skill.clone());
        }
    }
    let vars = super::parse_vars(raw_vars, &names)?;
    let load = |n: &String| catalog.load_over(&material.catalog, n);
    let selected: Vec<Selected> = names.iter().map(|n| super::select(load(n)?, vars.get(n))).collect::<Result<_>>()?;
    let selected = compose::canonical_order(selected)?;
    let bare_tree = compose::pristine_tree(&material, name, &[])?;
    let mut tree = compose::pristine_tree(&material, name, &selected)?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let lock = lockfile::update(&bare_tree, &mut tree, parent, super::apply::catalogue_lock(&material, &selected))?;
    let report = Report::new(&material.base, &[], &selected, &bare_tree, &tree, &lock);
    let applied: Vec<&Selected> = selected.iter().collect();
    let foreign = selected.iter().any(|s| s.skill.source != Source::Builtin);
    let builtin_items = if foreign && !allow_build_code && !report.code_items().is_empty() {
        builtin_code_items(&material, name, &selected, &bare_tree, parent)
    } else {
        BTreeSet::new()
    };
    report.check_allowed_beyond(&applied, allow_build_code, &builtin_items)?;
    super::confirm_untrusted(&applied, yes, || {
        eprint!("{}", report.text());
        Ok(())
    })?;
    if let Some(note) = &report.lock_note {
        eprintln!("{note}");
    }
    let title = format!("init {name} (base {})", material.base.manifest.version);
    let message = super::commit_message(&material.templates, &title, &applied, &[], &report.text())?;

    // Built beside the target and renamed into place, so a failed init leaves nothing behind.
    let staging = parent.join(format!(".{name}.claw-init-{}", std::process::id()));
    let result = build(&staging, &tree, &message, &material, &selected).and_then(|()| {
        if dir.exists() {
            std::fs::remove_dir(dir).with_context(|| format!("replacing the empty folder {}", dir.display()))?;
        }
        std::fs::rename(&staging, dir).with_context(|| format!("moving the new install to {}", dir.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result?;
    let skills: Vec<&str> = selected.iter().map(Selected::name).collect();
    println!(
        "Created {} (base {}, skills: {}).",
        dir.display(),
        material.base.manifest.version,
        crate::manifest::list_or_none(&skills)
    );
    print!("{}", next_steps(dir, &selected));
    Ok(())
}

/// What runs code that the built-in skills of `selected` bring on their own: not held against
/// the skills from elsewhere applied with them. Empty when they cannot be composed alone.
fn builtin_code_items(
    material: &Material,
    name: &str,
    selected: &[Selected],
    bare: &crate::tree::Tree,
    scratch: &Path,
) -> BTreeSet<String> {
    let builtin: Vec<Selected> = selected.iter().filter(|s| s.skill.source == Source::Builtin).cloned().collect();
    let items = || -> Result<Vec<String>> {
        let set = compose::canonical_order(builtin)?;
        let mut tree = compose::pristine_tree(material, name, &set)?;
        let lock = lockfile::update(bare, &mut tree, scratch, super::apply::catalogue_lock(material, &set))?;
        Ok(Report::new(&material.base, &[], &set, bare, &tree, &lock).code_items())
    };
    items().map(|i| i.into_iter().collect()).unwrap_or_default()
}

/// What to do after `init`, in order, with each applied skill's own setup.
fn next_steps(dir: &Path, selected: &[Selected]) -> String {
    let mut out = format!(
        "\nNext steps:\n  cd {}\n  cp .env.example .env && chmod 600 .env   # then write ANTHROPIC_API_KEY (and the skills' keys) into .env\n  \
         bash container/build.sh                  # the agent image\n  \
         cargo run --release --locked -- register cli:local terminal main --main\n  \
         cargo run --release --locked -- doctor   # Docker, image, keys, the model API, groups, channels\n  \
         cargo run --release --locked -- run\n",
        dir.display()
    );
    for s in selected {
        let keys: Vec<&str> = s.skill.manifest.env.iter().map(|e| e.name.as_str()).collect();
        let keys = if keys.is_empty() { String::new() } else { format!(" (keys: {})", keys.join(", ")) };
        out.push_str(&format!("  {}: set it up as .claude/skills/{}/SKILL.md says{keys}\n", s.name(), s.name()));
    }
    out.push_str("No API key yet? README.md, \"Try it without an API key\". Review what was generated: git log -p\n");
    out
}

fn build(root: &Path, tree: &crate::tree::Tree, message: &str, material: &Material, skills: &[Selected]) -> Result<()> {
    let mut opts = RepositoryInitOptions::new();
    opts.initial_head("main");
    let repo = Repository::init_opts(root, &opts)
        .with_context(|| format!("creating a git repository in {}", root.display()))?;
    for (path, entry) in tree.iter() {
        workdir::put(root, path, Some(entry))?;
    }
    let paths: Vec<String> = tree.paths().cloned().collect();
    repo::stage_paths(&repo, root, &paths)?;
    let tree_id = repo::write_tree(&repo, tree)?;
    let first = message.lines().next().unwrap_or("claw: init");
    let pristine = repo::commit(&repo, tree_id, &[], &format!("pristine: {first}\n"))?;
    let head = repo::commit(&repo, tree_id, &[], message)?;
    sources::keep(&repo, material, skills, first.strip_prefix("claw: ").unwrap_or(first))?;
    repo::set_ref(&repo, repo::PRISTINE_REF, pristine, first)?;
    repo::set_ref(&repo, "refs/heads/main", head, first)?;
    Ok(())
}
