//! Where skills come from: the catalogue built into the binary, or a local folder (`--skills DIR`
//! or `CLAW_SKILLS`). A skill folder is untrusted input: symlinks, oversized files and stray
//! top-level entries are refused before anything else looks at it.

use std::path::{Path, PathBuf};

use crate::embedded;
use crate::error::{Context, Result, bail};
use crate::manifest::{Manifest, validate_name};
use crate::tree::{Entry, Mode, Tree};

const MAX_FILE: u64 = 1 << 20;
const MAX_TOTAL: u64 = 16 << 20;
const MAX_FILES: usize = 2000;

/// Where one skill was read from; recorded in the install so later changes find it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Builtin,
    Dir(PathBuf),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Builtin => "builtin".to_string(),
            Source::Dir(dir) => format!("dir:{}", dir.display()),
        }
    }

    pub fn parse(text: &str) -> Result<Source> {
        match text {
            "builtin" => Ok(Source::Builtin),
            _ => match text.strip_prefix("dir:") {
                Some(dir) => Ok(Source::Dir(PathBuf::from(dir))),
                None => {
                    bail!("unknown skill source {text:?} (expected \"builtin\" or \"dir:PATH\")")
                }
            },
        }
    }
}

/// A skill as read from its folder: the manifest, its SKILL.md, and its files mapped to their
/// place in the install (`files/x` to `x`, `tests/x` to `tests/x`), not yet rendered.
#[derive(Debug, Clone)]
pub struct Skill {
    pub manifest: Manifest,
    pub instructions: String,
    pub files: Tree,
    pub source: Source,
}

impl Skill {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }
}

/// A folder of skills, built in or on disk.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub source: Source,
}

impl Catalog {
    /// The catalogue to use: `dir` (from `--skills` or `CLAW_SKILLS`) or the built-in one.
    pub fn new(dir: Option<PathBuf>) -> Result<Catalog> {
        match dir {
            None => Ok(Catalog { source: Source::Builtin }),
            Some(dir) => {
                let dir = dir.canonicalize().with_context(|| format!("skills folder {}", dir.display()))?;
                Ok(Catalog { source: Source::Dir(dir) })
            }
        }
    }

    /// The names of the skills in this catalogue, sorted.
    pub fn names(&self) -> Result<Vec<String>> {
        let mut names = match &self.source {
            Source::Builtin => {
                let tree = embedded::tree_under("skills/");
                let mut names: Vec<String> = tree
                    .paths()
                    .filter_map(|p| p.strip_suffix("/skill.toml"))
                    .filter(|n| !n.contains('/'))
                    .map(str::to_string)
                    .collect();
                names.dedup();
                names
            }
            Source::Dir(dir) => {
                let mut names = Vec::new();
                for entry in std::fs::read_dir(dir).with_context(|| format!("skills folder {}", dir.display()))? {
                    let entry = entry.with_context(|| format!("skills folder {}", dir.display()))?;
                    if entry.path().join("skill.toml").is_file() {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
                names
            }
        };
        names.sort();
        Ok(names)
    }

    pub fn load(&self, name: &str) -> Result<Skill> {
        load(&self.source, name)
    }
}

/// Reads skill `name` from `source`.
pub fn load(source: &Source, name: &str) -> Result<Skill> {
    validate_name("skill", name)?;
    let raw = match source {
        Source::Builtin => {
            let raw = embedded::tree_under(&format!("skills/{name}/"));
            if raw.len() == 0 {
                bail!("no skill named {name:?} in the built-in catalogue (see `claw skill list`)");
            }
            raw
        }
        Source::Dir(dir) => read_dir_tree(&dir.join(name)).with_context(|| format!("skill {name}"))?,
    };
    from_raw(raw, source.clone(), name)
}

fn from_raw(raw: Tree, source: Source, name: &str) -> Result<Skill> {
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
    Ok(Skill { manifest, instructions, files, source })
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
