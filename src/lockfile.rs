//! `Cargo.lock` follows `Cargo.toml`: an install commits its lock, so the crates it builds are the
//! crates its history shows. A change made of built-in skills composes the lock from the
//! catalogue lock without running cargo (`catalogue_lock.rs`), when that covers it and the previous
//! lock's versions are the catalogue's. Otherwise the change resolves the new tree with cargo,
//! starting from the previous lock, so cargo keeps every version it can and only adds or moves
//! what the change needs. The same cargo call says which crates run code when they are built
//! (build scripts, proc-macros), for the capability report.
//!
//! Only the manifests, the lock and Rust sources are written to the scratch folder cargo reads:
//! never `.cargo/` or toolchain files, which would make cargo run a skill's code. The folder sits
//! in the install's `.git/claw/` (or beside a new install), not in the shared temporary folder,
//! where another user's `.cargo/config.toml` in a parent folder would be read too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::catalogue_lock::{self, Catalogue};
use crate::error::{Context, Result};
use crate::tree::Tree;

pub const LOCK: &str = "Cargo.lock";

/// The platform claw was built for; cargo downloads only the crates this platform builds.
const HOST: &str = env!("CLAW_HOST_TARGET");

/// A crate by name and version.
pub type CrateId = (String, String);

/// How a resolution went.
pub enum Resolution {
    /// Nothing a lock depends on changed.
    Unchanged,
    /// The new lock, and the crates that run code when built (build script or proc-macro).
    Resolved { lock: Vec<u8>, runs_code: BTreeMap<CrateId, &'static str> },
    /// Cargo could not resolve (for example the registry is unreachable): the previous lock
    /// stays, and the message says why and what to run later.
    Failed { message: String },
}

/// Whether any `Cargo.toml` differs between the trees.
pub fn manifests_changed(old: &Tree, new: &Tree) -> bool {
    let manifest = |p: &String| p == "Cargo.toml" || p.ends_with("/Cargo.toml");
    old.paths().chain(new.paths()).filter(|p| manifest(p)).any(|p| old.get(p) != new.get(p))
}

/// Updates `new`'s `Cargo.lock` from `old`'s when a manifest changed, in place; otherwise `new`
/// keeps `old`'s lock (the composed tree holds only the base's own). `catalogue` is the catalogue
/// lock (`skills/catalogue-lock.json`) when every skill of `new` is built in: the lock is then
/// composed without cargo when it covers the change, and cargo resolves it otherwise.
pub fn update(old: &Tree, new: &mut Tree, scratch_in: &Path, catalogue: Option<&[u8]>) -> Result<Resolution> {
    // An install from before locks were committed has none: the first change resolves one.
    if let Some(entry) = old.get(LOCK).filter(|_| !manifests_changed(old, new)) {
        new.insert(LOCK, entry.clone());
        return Ok(Resolution::Unchanged);
    }
    if let Some(resolution) = catalogue.and_then(|c| from_catalogue(c, old, new)) {
        if let Resolution::Resolved { lock, .. } = &resolution {
            new.insert(LOCK, crate::tree::Entry::file(lock.clone()));
        }
        return Ok(resolution);
    }
    let resolution = resolve(new, old.get(LOCK).map(|e| e.data.as_slice()), scratch_in)?;
    match &resolution {
        Resolution::Resolved { lock, .. } => new.insert(LOCK, crate::tree::Entry::file(lock.clone())),
        _ => {
            if let Some(entry) = old.get(LOCK) {
                new.insert(LOCK, entry.clone());
            }
        }
    }
    Ok(resolution)
}

/// Resolves `tree` with cargo, starting from `previous` (offline first, then online), in a
/// scratch folder made in `scratch_in`.
pub fn resolve(tree: &Tree, previous: Option<&[u8]>, scratch_in: &Path) -> Result<Resolution> {
    let scratch = Scratch::new(scratch_in)?;
    for (path, entry) in tree.iter() {
        let name = path.rsplit('/').next().unwrap_or(path);
        let inert = name == "Cargo.toml" || path.ends_with(".rs");
        let hidden = path.split('/').any(|part| part.starts_with('.'));
        if inert && !hidden && path != LOCK {
            let target = scratch.0.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&target, &entry.data).with_context(|| format!("writing {}", target.display()))?;
        }
    }
    if let Some(lock) = previous {
        std::fs::write(scratch.0.join(LOCK), lock).context("writing the previous Cargo.lock")?;
    }
    let mut last_error = String::new();
    for offline in [true, false] {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.args(["metadata", "--format-version", "1", "--filter-platform", HOST])
            .current_dir(&scratch.0)
            .env("CARGO_NET_RETRY", "1")
            .env("CARGO_HTTP_TIMEOUT", "15")
            .env_remove("CARGO_TARGET_DIR");
        if offline {
            cmd.arg("--offline");
        }
        // A claw killed mid-change takes its cargo with it, rather than leaving it writing into
        // a scratch folder nobody will read.
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe and only changes the child's own death signal.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let out = cmd.output().context("running cargo (is it installed and on PATH?)")?;
        if out.status.success() {
            let lock = std::fs::read(scratch.0.join(LOCK)).context("cargo wrote no Cargo.lock")?;
            return Ok(Resolution::Resolved { lock, runs_code: runs_code(&out.stdout)? });
        }
        last_error = String::from_utf8_lossy(&out.stderr).trim().to_string();
    }
    let reason = last_error.lines().filter(|l| !l.trim().is_empty()).take(4).collect::<Vec<_>>().join("\n    ");
    Ok(Resolution::Failed {
        message: format!(
            "Cargo.lock was not updated: cargo could not resolve the new dependencies (is the registry reachable?):\n    \
             {reason}\n  The previous lock is kept. Once online, run `cargo update --workspace` in the install and \
             commit Cargo.lock."
        ),
    })
}

/// The lock composed from the catalogue lock, or None where cargo must resolve: the catalogue
/// does not cover the new tree, or the previous lock holds a crate version the catalogue does not
/// (the person moved it; cargo keeps it, and so must the new lock).
fn from_catalogue(catalogue: &[u8], old: &Tree, new: &Tree) -> Option<Resolution> {
    let catalogue: Catalogue = serde_json::from_slice(catalogue).ok()?;
    if let Some(previous) = old.get(LOCK) {
        let known: BTreeSet<(&str, &str, Option<&str>)> =
            catalogue.packages.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.checksum.as_deref())).collect();
        let locked = locked_packages(&previous.data)?;
        if !locked.iter().all(|p| known.contains(&(p.name.as_str(), p.version.as_str(), p.checksum.as_deref()))) {
            return None;
        }
    }
    let manifests: BTreeMap<&str, &[u8]> = new
        .iter()
        .filter(|(p, _)| *p == "Cargo.toml" || p.ends_with("/Cargo.toml"))
        .map(|(p, e)| (p.as_str(), e.data.as_slice()))
        .collect();
    let composed = catalogue_lock::compose(&catalogue, &manifests, HOST).ok()?;
    let runs_code = composed
        .runs_code
        .into_iter()
        .map(|(id, what)| (id, if what == "proc-macro" { "proc-macro" } else { "build script" }))
        .collect();
    Some(Resolution::Resolved { lock: composed.lock.into_bytes(), runs_code })
}

#[derive(Deserialize)]
struct LockFile {
    #[serde(default)]
    package: Vec<Locked>,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Locked {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
}

/// The registry packages of a lock, or None when it does not parse.
fn locked_packages(lock: &[u8]) -> Option<Vec<Locked>> {
    let text = std::str::from_utf8(lock).ok()?;
    let all = match scan_lock(text) {
        Some(all) => all,
        None => toml::from_str::<LockFile>(text).ok()?.package,
    };
    Some(all.into_iter().filter(|p| p.source.is_some()).collect())
}

/// Reads a lock in the exact layout cargo writes, line by line (a full TOML parse of every lock,
/// twice a change, is a good part of a change's time); None for any other layout, which is then
/// parsed as TOML.
fn scan_lock(text: &str) -> Option<Vec<Locked>> {
    let mut out: Vec<Locked> = Vec::new();
    let mut in_package = false;
    for line in text.lines() {
        if line == "[[package]]" {
            out.push(Locked { name: String::new(), version: String::new(), source: None, checksum: None });
            in_package = true;
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(" \"") || line == "]" {
            continue;
        }
        let (key, value) = line.split_once(" = ")?;
        let quoted = || value.strip_prefix('"')?.strip_suffix('"').filter(|v| !v.contains(['"', '\\']));
        match (in_package, key) {
            (false, "version") if !value.starts_with('"') => {}
            (true, "dependencies") if value == "[" => {}
            (true, "name") => out.last_mut()?.name = quoted()?.to_string(),
            (true, "version") => out.last_mut()?.version = quoted()?.to_string(),
            (true, "source") => out.last_mut()?.source = Some(quoted()?.to_string()),
            (true, "checksum") => out.last_mut()?.checksum = Some(quoted()?.to_string()),
            _ => return None,
        }
    }
    out.iter().all(|p| !p.name.is_empty() && !p.version.is_empty()).then_some(out)
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    source: Option<String>,
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    kind: Vec<String>,
}

/// The registry crates whose build runs their own code.
fn runs_code(metadata: &[u8]) -> Result<BTreeMap<CrateId, &'static str>> {
    let metadata: Metadata = serde_json::from_slice(metadata).context("reading cargo metadata's output")?;
    let mut out = BTreeMap::new();
    for p in metadata.packages.into_iter().filter(|p| p.source.is_some()) {
        let kinds: Vec<&str> = p.targets.iter().flat_map(|t| t.kind.iter().map(String::as_str)).collect();
        let what = if kinds.contains(&"proc-macro") {
            "proc-macro"
        } else if kinds.contains(&"custom-build") {
            "build script"
        } else {
            continue;
        };
        out.insert((p.name, p.version), what);
    }
    Ok(out)
}

/// The registry crates a lock holds: name and version.
pub fn crates(lock: Option<&[u8]>) -> Vec<CrateId> {
    lock.and_then(locked_packages).unwrap_or_default().into_iter().map(|p| (p.name, p.version)).collect()
}

/// A folder removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(parent: &Path) -> Result<Scratch> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = parent.join(format!(".claw-lock-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Entry;

    /// The base as built in, and a copy of it whose host manifest asks for one more crate.
    fn trees(extra_dep: &str) -> (Tree, Tree, Vec<u8>) {
        let base = crate::embedded::tree_under("base/").unwrap();
        let catalogue = crate::embedded::tree_under("skills/").unwrap().get(catalogue_lock::PATH).unwrap().data.clone();
        let mut new = base.clone();
        let manifest =
            base.text("Cargo.toml").unwrap().replace("[dependencies]\n", &format!("[dependencies]\n{extra_dep}\n"));
        new.insert("Cargo.toml", Entry::file(manifest));
        (base, new, catalogue)
    }

    #[test]
    fn a_crate_the_catalogue_lock_has_is_composed_without_cargo() {
        let (old, new, catalogue) = trees("form_urlencoded = \"1\"");
        let Some(Resolution::Resolved { lock, .. }) = from_catalogue(&catalogue, &old, &new) else {
            panic!("not composed")
        };
        assert!(String::from_utf8(lock).unwrap().contains("name = \"form_urlencoded\""));
    }

    #[test]
    fn what_the_catalogue_lock_does_not_cover_goes_to_cargo() {
        // A crate it does not hold, a version requirement its version does not meet, a feature
        // the full install never turns on, a git dependency.
        for dep in [
            "not-a-catalogue-crate = \"1\"",
            "form_urlencoded = \"0.9\"",
            "tokio = { version = \"1\", features = [\"test-util\"] }",
            "serde = { git = \"https://example.invalid/serde\" }",
        ] {
            let (old, new, catalogue) = trees(dep);
            assert!(from_catalogue(&catalogue, &old, &new).is_none(), "{dep}");
        }
        // A previous lock holding a version the catalogue does not (moved by `cargo update`).
        let (mut old, new, catalogue) = trees("form_urlencoded = \"1\"");
        let moved = old.text(LOCK).unwrap().replacen("version = \"", "version = \"9", 2);
        old.insert(LOCK, Entry::file(moved));
        assert!(from_catalogue(&catalogue, &old, &new).is_none());
        // A catalogue lock that does not parse.
        let (old, new, _) = trees("form_urlencoded = \"1\"");
        assert!(from_catalogue(b"{not json", &old, &new).is_none());
    }

    #[test]
    fn the_line_scan_reads_a_lock_as_toml_does() {
        let text = include_str!("../base/Cargo.lock");
        let scanned = scan_lock(text).expect("cargo's own layout");
        assert_eq!(scanned, toml::from_str::<LockFile>(text).unwrap().package);
        assert!(scanned.len() > 100);
        // Any other layout goes to the TOML parser.
        assert!(scan_lock("version = 4\n[[package]]\nname = 'x'\nversion = \"1.0.0\"\n").is_none());
        assert!(scan_lock("[[package]]\nname = \"x\"\nversion = \"1\"\n[metadata]\n").is_none());
    }
}
