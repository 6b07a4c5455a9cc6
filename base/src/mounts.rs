//! Which host paths a container may see. Every container gets its group's folder (read-write),
//! the global memory (read-only) and its model socket; anything more must pass the allowlist,
//! a file kept outside the install (so an agent that edits the install cannot widen its own
//! access). All checks run on real paths, after symlinks are resolved.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Path components never mounted, wherever they appear.
const BLOCKED: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".gcloud",
    ".config/gcloud",
    ".kube",
    ".docker",
    ".env",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    "credentials",
    "id_rsa",
    "id_ecdsa",
    "id_ed25519",
    "secrets",
];
const BLOCKED_SUFFIXES: &[&str] = &[".pem", ".key", ".p12", ".pfx", ".env"];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Allowlist {
    pub allow: Vec<AllowedRoot>,
    /// Extra blocked names, added to the built-in ones.
    pub blocked: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedRoot {
    pub path: PathBuf,
    #[serde(default)]
    pub read_write: bool,
}

/// An extra mount a group asks for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct MountRequest {
    pub host: PathBuf,
    /// Name under /workspace/extra/ in the container.
    pub name: String,
    #[serde(default)]
    pub read_write: bool,
}

/// A mount that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    pub container: String,
    pub read_write: bool,
}

impl Mount {
    /// The Docker bind string.
    pub fn bind(&self) -> String {
        format!("{}:{}:{}", self.host.display(), self.container, if self.read_write { "rw" } else { "ro" })
    }
}

pub fn load_allowlist(path: &Path) -> Result<Option<Allowlist>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map(Some).map_err(|e| format!("mount allowlist {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("mount allowlist {}: {e}", path.display())),
    }
}

/// Checks one requested mount; the error names the rule that refused it.
pub fn validate(request: &MountRequest, allowlist: Option<&Allowlist>, allowlist_path: &Path) -> Result<Mount, String> {
    let shown = request.host.display();
    let Some(allowlist) = allowlist else {
        return Err(format!(
            "mount {shown} refused: no allowlist file at {} (extra mounts are off until one exists)",
            allowlist_path.display()
        ));
    };
    let name_ok =
        !request.name.is_empty() && request.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(format!("mount {shown} refused: name {:?} must be letters, digits, '-' or '_'", request.name));
    }
    let expanded = expand_home(&request.host);
    blocked(&expanded, &allowlist.blocked)
        .map_err(|rule| format!("mount {shown} refused: matches blocked pattern {rule:?}"))?;
    let real = expanded.canonicalize().map_err(|e| format!("mount {shown} refused: cannot resolve it: {e}"))?;
    blocked(&real, &allowlist.blocked).map_err(|rule| {
        format!("mount {shown} refused: resolves to {} which matches blocked pattern {rule:?}", real.display())
    })?;
    let (root, root_rw) = allowlist
        .allow
        .iter()
        .filter_map(|r| expand_home(&r.path).canonicalize().ok().map(|p| (p, r.read_write)))
        .find(|(root, _)| real.starts_with(root))
        .ok_or_else(|| format!("mount {shown} refused: {} is not under any allowed root", real.display()))?;
    if request.read_write && !root_rw {
        return Err(format!("mount {shown} refused: root {} is read-only", root.display()));
    }
    Ok(Mount { host: real, container: format!("/workspace/extra/{}", request.name), read_write: request.read_write })
}

fn blocked(path: &Path, extra: &[String]) -> Result<(), String> {
    let text = path.to_string_lossy();
    let rules = BLOCKED.iter().copied().chain(extra.iter().map(String::as_str));
    for component in path.components() {
        let c = component.as_os_str().to_string_lossy();
        if let Some(rule) = rules.clone().find(|&b| b == c || (b.contains('/') && text.contains(b))) {
            return Err(rule.to_string());
        }
        if let Some(suffix) = BLOCKED_SUFFIXES.iter().find(|s| c.ends_with(*s)) {
            return Err(format!("*{suffix}"));
        }
    }
    Ok(())
}

/// `path` with a leading `~` replaced by `$HOME`.
pub fn expand_home(path: &Path) -> PathBuf {
    match path.strip_prefix("~") {
        Ok(rest) => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(rest),
        Err(_) => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &Path, rw: bool) -> MountRequest {
        MountRequest { host: host.to_path_buf(), name: "x".into(), read_write: rw }
    }

    #[test]
    fn mounts_are_checked_against_the_allowlist_on_real_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("projects");
        std::fs::create_dir_all(root.join("app")).unwrap();
        std::fs::create_dir_all(dir.path().join("home/.ssh")).unwrap();
        std::fs::create_dir_all(root.join("conf")).unwrap();
        std::fs::write(root.join("conf/.env"), "SECRET=1").unwrap();
        std::os::unix::fs::symlink(dir.path().join("home"), root.join("escape")).unwrap();
        let list = Allowlist { allow: vec![AllowedRoot { path: root.clone(), read_write: false }], blocked: vec![] };
        let path = Path::new("/nowhere/allow.toml");

        let ok = validate(&request(&root.join("app"), false), Some(&list), path).unwrap();
        assert_eq!(ok.bind(), format!("{}:/workspace/extra/x:ro", root.join("app").canonicalize().unwrap().display()));
        let err = |req: MountRequest, l: Option<&Allowlist>| validate(&req, l, path).unwrap_err();
        assert!(err(request(&root.join("app"), false), None).contains("no allowlist file at /nowhere/allow.toml"));
        assert!(err(request(&dir.path().join("home/.ssh"), false), Some(&list)).contains("blocked pattern \".ssh\""));
        assert!(err(request(&root.join("conf/.env"), false), Some(&list)).contains("blocked pattern \".env\""));
        assert!(err(request(&root.join("escape"), false), Some(&list)).contains("is not under any allowed root"));
        assert!(err(request(&root.join("escape/.ssh"), false), Some(&list)).contains(".ssh"));
        assert!(err(request(&root.join("app"), true), Some(&list)).contains("is read-only"));
    }
}
