//! Where skills come from: the catalogue built into the binary, with a local folder (`--skills
//! DIR` or `CLAW_SKILLS`) layered over it. A skill folder is untrusted input: symlinks, oversized
//! files and stray top-level entries are refused before anything else looks at it.

use std::path::{Path, PathBuf};

use crate::claude_skill::check_name;
use crate::embedded;
use crate::error::{Context, Result, bail};
use crate::manifest::Manifest;
use crate::suggest::did_you_mean;
use crate::tree::{Entry, Mode, Tree};

pub const MAX_FILE: u64 = 1 << 20;
pub const MAX_TOTAL: u64 = 16 << 20;
pub const MAX_FILES: usize = 2000;

/// Where one skill comes from. No path is recorded: the content of an applied skill is pinned
/// in the install, and a local folder is named again (`--skills`) only to update it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Builtin,
    Local,
    /// A commit of a git repository (`--from URL@COMMIT`); the commit is recorded with it.
    Git,
}

impl Source {
    pub fn describe(&self) -> &'static str {
        match self {
            Source::Builtin => "builtin",
            Source::Local => "local",
            Source::Git => "git",
        }
    }

    pub fn parse(text: &str) -> Result<Source> {
        match text {
            "builtin" => Ok(Source::Builtin),
            "local" => Ok(Source::Local),
            "git" => Ok(Source::Git),
            _ => bail!(
                "unknown skill source {text:?} in .claw/install.toml (expected \"builtin\", \"local\" or \"git\")"
            ),
        }
    }
}

/// A skill as read from its folder: the manifest, its SKILL.md, and its files mapped to their
/// place in the install (`files/x` to `x`, `tests/x` to `tests/x`), not yet rendered. `raw` is
/// the folder as read and `tree` its git tree id, which is what the install pins.
#[derive(Debug, Clone)]
pub struct Skill {
    pub manifest: Manifest,
    pub instructions: String,
    pub files: Tree,
    pub source: Source,
    pub raw: Tree,
    pub tree: git2::Oid,
    /// For a skill from a git repository: where from, and the commit it is pinned to.
    pub git: Option<GitPin>,
}

/// The repository (as the person named it) and the commit a git skill was taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitPin {
    pub url: String,
    pub commit: String,
}

impl Skill {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }
}

/// The skills claw can apply: the catalogue built into this claw, with a folder on disk
/// (`--skills DIR`) layered over it. A name in the folder shadows the built-in skill of that name.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub dir: Option<PathBuf>,
}

impl Catalog {
    /// The catalogue to use: the built-in one, with `dir` (from `--skills` or `CLAW_SKILLS`) over it.
    pub fn new(dir: Option<PathBuf>) -> Result<Catalog> {
        match dir {
            None => Ok(Catalog { dir: None }),
            Some(dir) => {
                let shown = dir.display();
                match std::fs::metadata(&dir) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => bail!("the skills folder {shown} (--skills or CLAW_SKILLS) is not a folder"),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        bail!("the skills folder {shown} (--skills or CLAW_SKILLS) does not exist")
                    }
                    Err(e) => bail!("the skills folder {shown} (--skills or CLAW_SKILLS) cannot be read: {e}"),
                }
                let dir = dir.canonicalize().with_context(|| format!("the skills folder {shown}"))?;
                Ok(Catalog { dir: Some(dir) })
            }
        }
    }

    /// The names of the skills in the folder (`--skills DIR`), sorted; none without one.
    pub fn local_names(&self) -> Result<Vec<String>> {
        let Some(dir) = &self.dir else { return Ok(Vec::new()) };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("skills folder {}", dir.display()))? {
            let entry = entry.with_context(|| format!("skills folder {}", dir.display()))?;
            if entry.path().join("skill.toml").is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// The names of the built-in skills, sorted.
    pub fn builtin_names(&self) -> Result<Vec<String>> {
        let mut names = names_in(&embedded::tree_under("skills/")?);
        names.sort();
        Ok(names)
    }

    /// Every skill name, built-in and local, sorted and without duplicates.
    pub fn names(&self) -> Result<Vec<String>> {
        let mut names = self.builtin_names()?;
        names.extend(self.local_names()?);
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Whether `name` comes from the folder (it may shadow a built-in skill of that name).
    pub fn is_local(&self, name: &str) -> bool {
        self.dir.as_ref().is_some_and(|d| check_name(name).is_ok() && d.join(name).join("skill.toml").is_file())
    }

    /// Reads skill `name` as this claw or the folder has it now: the folder's, else the built-in.
    pub fn load(&self, name: &str) -> Result<Skill> {
        self.load_over(&embedded::tree_under("skills/")?, name)
    }

    /// Skill `name` from the folder, else from `builtin` (this claw's catalogue or the one pinned
    /// in an install). A name in neither gets a "did you mean" over both.
    pub fn load_over(&self, builtin: &Tree, name: &str) -> Result<Skill> {
        check_name(name)?;
        if let Some(dir) = &self.dir
            && self.is_local(name)
        {
            return from_folder(dir, name);
        }
        if names_in(builtin).iter().any(|n| n == name) {
            return from_catalog(builtin, name);
        }
        let mut names = names_in(builtin);
        names.extend(self.local_names().unwrap_or_default());
        let hint = did_you_mean(name, names.iter().map(String::as_str));
        let place = match &self.dir {
            Some(dir) => format!("the built-in catalogue or {}", dir.display()),
            None => "the built-in catalogue".to_string(),
        };
        bail!("no skill named {name:?} in {place}{hint} (see `claw skill list`)");
    }
}

/// The skill names in a catalogue tree (`NAME/skill.toml`).
pub fn names_in(catalog: &Tree) -> Vec<String> {
    catalog
        .paths()
        .filter_map(|p| p.strip_suffix("/skill.toml"))
        .filter(|n| !n.contains('/'))
        .map(str::to_string)
        .collect()
}

/// Skill `name` from a built-in catalogue tree (this binary's, or the one pinned in an install).
pub fn from_catalog(catalog: &Tree, name: &str) -> Result<Skill> {
    check_name(name)?;
    let raw = catalog.under(&format!("{name}/"));
    if raw.len() == 0 {
        let names = names_in(catalog);
        let hint = did_you_mean(name, names.iter().map(String::as_str));
        bail!("no skill named {name:?} in the built-in catalogue{hint} (see `claw skill list`)");
    }
    let tree = crate::repo::hash_tree(&raw)?;
    from_raw(raw, tree, Source::Builtin, name)
}

/// Skill `name` from the local skills folder `dir`.
pub fn from_folder(dir: &Path, name: &str) -> Result<Skill> {
    check_name(name)?;
    if !dir.join(name).join("skill.toml").is_file() {
        let names = Catalog { dir: Some(dir.to_path_buf()) }.local_names().unwrap_or_default();
        let hint = did_you_mean(name, names.iter().map(String::as_str));
        bail!("no skill named {name:?} in {}{hint} (see `claw skill list`)", dir.display());
    }
    let raw = read_dir_tree(&dir.join(name)).with_context(|| format!("skill {name} in {}", dir.display()))?;
    let tree = crate::repo::hash_tree(&raw)?;
    from_raw(raw, tree, Source::Local, name)
}

/// A skill from its folder's files, already read (from disk, the binary or the install's pins).
pub fn from_raw(raw: Tree, tree: git2::Oid, source: Source, name: &str) -> Result<Skill> {
    let origin = format!("skill {name}");
    let manifest_text = raw.text("skill.toml").with_context(|| format!("{origin}: reading skill.toml"))?;
    let manifest_text = manifest_text.to_string();
    let manifest = Manifest::parse(&manifest_text, &origin)?;
    if manifest.name != name {
        bail!("{origin}: skill.toml says name = {:?}; the folder and the name must match", manifest.name);
    }
    let instructions = raw
        .text("SKILL.md")
        .with_context(|| format!("{origin}: SKILL.md is missing or not UTF-8"))
        .map(str::to_string)?;
    let mut files = Tree::new();
    for (path, entry) in raw.iter() {
        let target = if let Some(rest) = path.strip_prefix("files/") {
            rest.to_string()
        } else if path.starts_with("tests/") {
            path.clone()
        } else if path == "skill.toml" || path == "SKILL.md" || path == "README.md" {
            continue;
        } else {
            bail!("{origin}: unexpected file {path}: a skill holds skill.toml, SKILL.md, files/ and tests/");
        };
        files.insert(target, entry.clone());
    }
    Ok(Skill { manifest, instructions, files, source, raw, tree, git: None })
}

/// Reads a skill folder from disk, refusing anything that is not a plain file or folder.
fn read_dir_tree(root: &Path) -> Result<Tree> {
    let meta = std::fs::symlink_metadata(root).with_context(|| format!("{}", root.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a folder", root.display());
    }
    let mut tree = Tree::new();
    let mut total = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let entry = entry.with_context(|| format!("{}", dir.display()))?;
            let path = entry.path();
            let rel = path.strip_prefix(root).map_err(|_| crate::error::Error::new("path outside skill"))?;
            let Some(rel) = rel.to_str() else { bail!("{} is not UTF-8", path.display()) };
            let meta = std::fs::symlink_metadata(&path).with_context(|| format!("{}", path.display()))?;
            if meta.file_type().is_symlink() {
                bail!("{rel} is a symlink; a skill may hold only plain files");
            } else if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                if meta.len() > MAX_FILE {
                    bail!("{rel} is {} bytes, over the {MAX_FILE}-byte limit for a skill file", meta.len());
                }
                total += meta.len();
                if total > MAX_TOTAL || tree.len() >= MAX_FILES {
                    bail!("the skill is larger than {MAX_TOTAL} bytes or {MAX_FILES} files");
                }
                use std::os::unix::fs::PermissionsExt;
                let mode = if meta.permissions().mode() & 0o111 != 0 { Mode::Executable } else { Mode::File };
                let data = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
                tree.insert(rel.replace('\\', "/"), Entry { data, mode });
            } else {
                bail!("{rel} is not a plain file");
            }
        }
    }
    Ok(tree)
}
