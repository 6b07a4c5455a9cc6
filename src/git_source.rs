//! Skills from a git repository, pinned to a commit: `--from URL@COMMIT`. The repository is
//! fetched with git2 into a scratch repository inside the install's `.git/claw/`, the skill's
//! folder is read from that exact commit (never from a branch, so a moved branch changes
//! nothing), checked like any skill folder, and the scratch repository is removed. The install
//! then keeps the folder's tree under `refs/claw/sources` like every other applied skill.

use std::path::Path;

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use crate::catalog::{self, GitPin, MAX_FILE, MAX_FILES, MAX_TOTAL, Skill, Source};
use crate::claude_skill::check_name;
use crate::error::{Context, Result, bail};
use crate::tree::{Entry, Mode, Tree};

/// Splits `URL@COMMIT`; the commit must be a full commit id, so that nothing but that commit
/// can ever be applied.
pub fn parse(spec: &str) -> Result<(String, String)> {
    let Some((url, commit)) = spec.rsplit_once('@') else {
        bail!("--from {spec:?}: expected URL@COMMIT (a repository and a full commit id)");
    };
    let full = matches!(commit.len(), 40 | 64) && commit.chars().all(|c| c.is_ascii_hexdigit());
    if !full {
        bail!(
            "--from {spec:?}: {commit:?} is not a full commit id; pin the exact commit (`git rev-parse {commit}` gives it), never a branch or tag"
        );
    }
    if url.is_empty() || url.chars().any(char::is_control) {
        bail!("--from {spec:?}: the repository is empty or holds control characters");
    }
    if let Some((_, rest)) = url.split_once("://")
        && rest.split('/').next().is_some_and(|host| host.contains('@'))
    {
        bail!(
            "--from: the URL holds a user name or password, which would be recorded in .claw/install.toml; use a credential helper"
        );
    }
    Ok((url.to_string(), commit.to_ascii_lowercase()))
}

/// A repository named by a local path is taken from `dir` (the folder claw runs in, `-C`) and
/// recorded as an absolute path; URLs are kept as given.
pub fn resolve_local(dir: &Path, url: &str) -> String {
    if url.contains("://") {
        return url.to_string();
    }
    match dir.join(url).canonicalize() {
        Ok(path) => path.to_string_lossy().into_owned(),
        Err(_) => url.to_string(),
    }
}

/// Skill `name` as it is at `commit` of the repository `url`: its folder is `NAME/`,
/// `skills/NAME/`, or the repository itself when its skill.toml is at the top.
pub fn fetch(url: &str, commit: &str, name: &str, scratch_in: &Path) -> Result<Skill> {
    check_name(name)?;
    let scratch = scratch_in.join(format!("fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let result = fetch_into(&scratch, url, commit, name);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn fetch_into(scratch: &Path, url: &str, commit: &str, name: &str) -> Result<Skill> {
    let repo = Repository::init_bare(scratch).context("creating a scratch repository")?;
    let mut remote = repo.remote_anonymous(url).with_context(|| format!("the repository {url}"))?;
    let refspecs = ["+refs/heads/*:refs/fetched/heads/*", "+refs/tags/*:refs/fetched/tags/*"];
    remote.fetch(&refspecs, None, None).with_context(|| format!("fetching {url}"))?;
    let id = Oid::from_str(commit).with_context(|| format!("commit {commit}"))?;
    let found = repo
        .find_commit(id)
        .map_err(|_| crate::error::Error::new(format!("{url} has no commit {commit} on any branch or tag")))?;
    let root = found.tree().context("reading the commit's tree")?;
    let folder = [format!("{name}/"), format!("skills/{name}/"), String::new()]
        .into_iter()
        .find(|prefix| root.get_path(Path::new(&format!("{prefix}skill.toml"))).is_ok());
    let Some(folder) = folder else {
        bail!("{url} at {commit}: no {name}/skill.toml, skills/{name}/skill.toml or skill.toml");
    };
    let tree_id = if folder.is_empty() {
        root.id()
    } else {
        root.get_path(Path::new(folder.trim_end_matches('/'))).context("reading the skill's folder")?.id()
    };
    let raw = read_checked(&repo, tree_id).with_context(|| format!("skill {name} in {url} at {commit}"))?;
    let tree = crate::repo::hash_tree(&raw)?;
    let mut skill = catalog::from_raw(raw, tree, Source::Git, name)?;
    skill.git = Some(GitPin { url: url.to_string(), commit: commit.to_string() });
    Ok(skill)
}

/// A tree read under the same rules as a skill folder on disk: plain files only, size limits.
fn read_checked(repo: &Repository, id: Oid) -> Result<Tree> {
    let root = repo.find_tree(id).context("reading a tree")?;
    let mut tree = Tree::new();
    let mut total = 0u64;
    let mut failure: Option<String> = None;
    root.walk(TreeWalkMode::PreOrder, |dir, entry| {
        let path = format!("{dir}{}", entry.name().unwrap_or_default());
        let fail = |why: String, failure: &mut Option<String>| {
            *failure = Some(why);
            TreeWalkResult::Abort
        };
        match (entry.kind(), entry.filemode()) {
            (Some(ObjectType::Tree), _) => TreeWalkResult::Ok,
            (Some(ObjectType::Blob), mode @ (0o100644 | 0o100755)) => {
                let Ok(blob) = repo.find_blob(entry.id()) else {
                    return fail(format!("{path}: cannot be read"), &mut failure);
                };
                let len = blob.content().len() as u64;
                total += len;
                if len > MAX_FILE {
                    return fail(format!("{path} is {len} bytes, over the {MAX_FILE}-byte limit"), &mut failure);
                }
                if total > MAX_TOTAL || tree.len() >= MAX_FILES {
                    return fail(
                        format!("the skill is larger than {MAX_TOTAL} bytes or {MAX_FILES} files"),
                        &mut failure,
                    );
                }
                let mode = if mode == 0o100755 { Mode::Executable } else { Mode::File };
                tree.insert(path, Entry { data: blob.content().to_vec(), mode });
                TreeWalkResult::Ok
            }
            _ => fail(format!("{path} is a symlink or submodule; a skill may hold only plain files"), &mut failure),
        }
    })
    .ok();
    if let Some(why) = failure {
        bail!("{why}");
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_full_commit_id_pins() {
        let id = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(parse(&format!("/srv/skills.git@{id}")).unwrap(), ("/srv/skills.git".into(), id.into()));
        assert!(parse("/srv/skills.git@main").unwrap_err().message.contains("not a full commit id"));
        assert!(parse("/srv/skills.git").is_err());
        let secret = format!("https://me:hunter2@example.com/s.git@{id}");
        assert!(parse(&secret).unwrap_err().message.contains("user name or password"));
    }
}
