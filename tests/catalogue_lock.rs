//! The catalogue lock (`skills/catalogue-lock.json`): generated from cargo for an install holding
//! every built-in skill, kept up to date by the first test (a stale one fails CI, naming the one
//! command that regenerates it), and proved by the second: for the base alone, each catalogue
//! skill alone, all of them and a channel swap, the lock claw composes without cargo is
//! byte-identical to the one cargo writes, and cargo accepts it with `--locked`.

mod support;

#[allow(dead_code)]
#[path = "../src/catalogue_lock.rs"]
mod catalogue_lock;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use catalogue_lock::{Catalogue, Dep, Package};
use serde::Deserialize;
use support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn host() -> String {
    let out = Command::new("rustc").arg("-vV").output().expect("rustc -vV");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().find_map(|l| l.strip_prefix("host: ")).expect("rustc names its host").to_string()
}

/// `claw init x --bare --skill …` in `parent`, with cargo replaced by `false`: the lock must come
/// from the catalogue lock, or the change would say it was not updated.
fn init_without_cargo(parent: &Path, skills: &[String]) -> PathBuf {
    let mut args = vec!["init", "x", "--yes", "--bare"];
    for s in skills {
        args.extend(["--skill", s.as_str()]);
    }
    let out = builtin_command(parent, &args).env("CARGO", "false").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("Cargo.lock was not updated"), "init {skills:?}:\n{err}");
    parent.join("x")
}

/// The files cargo reads to resolve an install (manifests and Rust sources), copied to `to`.
fn copy_manifests(install: &Path, to: &Path) {
    let files = git(install, &["ls-files"]);
    for f in files.lines().filter(|f| f.ends_with("Cargo.toml") || f.ends_with(".rs")) {
        if f.split('/').any(|p| p.starts_with('.')) {
            continue;
        }
        let target = to.join(f);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(install.join(f), target).unwrap();
    }
}

/// `cargo metadata`: offline when every crate's manifest is downloaded already, else from the
/// registry (a fresh machine, or another test of this file fetching them at the same moment).
fn cargo_metadata(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let run = |offline: &[&str]| {
        let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["metadata", "--format-version", "1"])
            .args(offline)
            .args(args)
            .current_dir(dir)
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .unwrap();
        if out.status.success() { Ok(out.stdout) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
    };
    run(&["--offline"]).or_else(|_| run(&[]))
}

fn manifests(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && p.file_name().unwrap() != "target" {
                walk(root, &p, out);
            } else if p.file_name().unwrap() == "Cargo.toml" {
                out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap());
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

fn compose(catalogue: &Catalogue, dir: &Path) -> Result<catalogue_lock::Composed, String> {
    let files = manifests(dir);
    let view: BTreeMap<&str, &[u8]> = files.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
    catalogue_lock::compose(catalogue, &view, &host())
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetaPackage>,
}

#[derive(Deserialize)]
struct MetaPackage {
    name: String,
    version: String,
    source: Option<String>,
    features: BTreeMap<String, Vec<String>>,
    dependencies: Vec<MetaDep>,
    targets: Vec<MetaTarget>,
}

#[derive(Deserialize)]
struct MetaDep {
    name: String,
    rename: Option<String>,
    req: String,
    kind: Option<String>,
    optional: bool,
    uses_default_features: bool,
    features: Vec<String>,
}

#[derive(Deserialize)]
struct MetaTarget {
    kind: Vec<String>,
}

#[derive(Deserialize)]
struct LockFile {
    package: Vec<Locked>,
}

#[derive(Deserialize)]
struct Locked {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

/// The catalogue lock as this checkout's skills and base call for: cargo resolves an install
/// holding every built-in skill, starting from the base's own lock and the current catalogue
/// lock's versions (so regenerating moves nothing that need not move).
fn generate() -> String {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["init", "x", "--yes", "--bare"];
    let names = builtin_skills();
    for s in &names {
        args.extend(["--skill", s.as_str()]);
    }
    builtin(tmp.path(), &args);
    let scratch = tmp.path().join("scratch");
    copy_manifests(&tmp.path().join("x"), &scratch);
    let base_lock = std::fs::read_to_string(repo().join("base/Cargo.lock")).unwrap();
    let mut seed = base_lock.clone();
    let base_names: BTreeSet<String> =
        toml::from_str::<LockFile>(&base_lock).unwrap().package.into_iter().map(|p| p.name).collect();
    if let Ok(text) = std::fs::read(repo().join("skills").join(catalogue_lock::PATH))
        && let Ok(current) = serde_json::from_slice::<Catalogue>(&text)
    {
        for p in current.packages.iter().filter(|p| !base_names.contains(&p.name)) {
            seed.push_str(&format!(
                "\n[[package]]\nname = \"{}\"\nversion = \"{}\"\nsource = \"{}\"\n",
                p.name, p.version, p.source
            ));
            if let Some(sum) = &p.checksum {
                seed.push_str(&format!("checksum = \"{sum}\"\n"));
            }
        }
    }
    std::fs::write(scratch.join("Cargo.lock"), seed).unwrap();
    // Every platform's crates are in a lock, so cargo reads every one's manifest: offline when
    // they are all downloaded already, else from the registry.
    let full =
        cargo_metadata(&scratch, &[]).unwrap_or_else(|e| panic!("cargo metadata on an install with every skill:\n{e}"));
    let host = host();
    let on_host = cargo_metadata(&scratch, &["--filter-platform", &host]).unwrap();
    let cargo_lock = std::fs::read_to_string(scratch.join("Cargo.lock")).unwrap();
    let full: Metadata = serde_json::from_slice(&full).unwrap();
    let on_host: Metadata = serde_json::from_slice(&on_host).unwrap();
    let on_host: BTreeSet<(String, String)> = on_host.packages.into_iter().map(|p| (p.name, p.version)).collect();
    let locked: Vec<Locked> =
        toml::from_str::<LockFile>(&cargo_lock).unwrap().package.into_iter().filter(|p| p.source.is_some()).collect();
    let mut packages = Vec::new();
    for l in &locked {
        let m = full
            .packages
            .iter()
            .find(|m| m.name == l.name && m.version == l.version && m.source == l.source)
            .unwrap_or_else(|| panic!("{} {} is in the lock but not in cargo metadata", l.name, l.version));
        let kinds: Vec<&str> = m.targets.iter().flat_map(|t| t.kind.iter().map(String::as_str)).collect();
        let runs_code = if kinds.contains(&"proc-macro") {
            Some("proc-macro".to_string())
        } else if kinds.contains(&"custom-build") {
            Some("build script".to_string())
        } else {
            None
        };
        let deps = m
            .dependencies
            .iter()
            .filter(|d| d.kind.as_deref() != Some("dev"))
            .map(|d| {
                let req = semver::VersionReq::parse(&d.req).unwrap();
                let found: Vec<&Locked> = locked
                    .iter()
                    .filter(|c| c.name == d.name && req.matches(&semver::Version::parse(&c.version).unwrap()))
                    .collect();
                let resolved = match found.as_slice() {
                    [one] => Some(one.version.clone()),
                    [] => None,
                    many => many
                        .iter()
                        .find(|c| l.dependencies.contains(&format!("{} {}", c.name, c.version)))
                        .map(|c| c.version.clone()),
                };
                Dep {
                    name: d.name.clone(),
                    rename: d.rename.clone(),
                    req: d.req.clone(),
                    kind: d.kind.clone(),
                    optional: d.optional,
                    default_features: d.uses_default_features,
                    features: d.features.clone(),
                    resolved,
                    member: None,
                }
            })
            .collect();
        packages.push(Package {
            name: l.name.clone(),
            version: l.version.clone(),
            source: l.source.clone().unwrap(),
            checksum: l.checksum.clone(),
            runs_code,
            on_host: on_host.contains(&(l.name.clone(), l.version.clone())),
            has_default: m.features.contains_key("default"),
            features: m.features.clone(),
            deps,
        });
    }
    let mut catalogue = Catalogue { regenerate: catalogue_lock::REGENERATE.to_string(), host: host.clone(), packages };
    let composed = compose(&catalogue, &scratch).unwrap_or_else(|e| panic!("composing the full lock: {e}"));
    assert!(composed.lock == cargo_lock, "the resolver disagrees with cargo on the full install");
    // Keep of each crate only what the full install activates: a smaller set activates no more
    // (features only unify), and anything beyond it sends claw to cargo.
    for p in &mut catalogue.packages {
        let (features, deps) = &composed.activated[&(p.name.clone(), p.version.clone())];
        p.features.retain(|k, _| features.contains(k));
        p.deps.retain(|d| deps.contains(d.rename.as_deref().unwrap_or(&d.name)));
    }
    let composed = compose(&catalogue, &scratch).unwrap_or_else(|e| panic!("composing from the kept part: {e}"));
    assert!(composed.lock == cargo_lock, "the kept part of the catalogue does not give cargo's lock");
    let mut out = format!(
        "{{\"regenerate\":{},\"host\":{},\"packages\":[\n",
        serde_json::to_string(&catalogue.regenerate).unwrap(),
        serde_json::to_string(&catalogue.host).unwrap()
    );
    let lines: Vec<String> = catalogue.packages.iter().map(|p| serde_json::to_string(p).unwrap()).collect();
    out.push_str(&lines.join(",\n"));
    out.push_str("\n]}\n");
    out
}

#[test]
fn catalogue_lock_is_up_to_date() {
    let path = repo().join("skills").join(catalogue_lock::PATH);
    let fresh = generate();
    if std::env::var_os("CLAW_WRITE_CATALOGUE_LOCK").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "skills/{} is out of date with the skills and the base: regenerate it with\n    {}\nthen rebuild claw and commit the file",
        catalogue_lock::PATH,
        catalogue_lock::REGENERATE
    );
}

/// Cargo, started from `seed`, writes for the install's manifests exactly `lock`; and accepts
/// `lock` as it is with `--locked`.
fn assert_cargo_agrees(install: &Path, seed: &str, what: &str) {
    let lock = std::fs::read_to_string(install.join("Cargo.lock")).unwrap();
    let host = host();
    let tmp = tempfile::tempdir().unwrap();
    let fresh = tmp.path().join("fresh");
    copy_manifests(install, &fresh);
    std::fs::write(fresh.join("Cargo.lock"), seed).unwrap();
    cargo_metadata(&fresh, &["--filter-platform", &host]).unwrap_or_else(|e| panic!("{what}: {e}"));
    let cargos = std::fs::read_to_string(fresh.join("Cargo.lock")).unwrap();
    assert!(cargos == lock, "{what}: the composed lock differs from cargo's");
    let locked = tmp.path().join("locked");
    copy_manifests(install, &locked);
    std::fs::write(locked.join("Cargo.lock"), &lock).unwrap();
    cargo_metadata(&locked, &["--locked", "--filter-platform", &host])
        .unwrap_or_else(|e| panic!("{what}: cargo --locked refuses the composed lock: {e}"));
}

#[test]
fn composed_locks_equal_what_cargo_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let names = builtin_skills();
    // Every skill: cargo started from the composed lock itself must leave it byte for byte.
    let all = tmp.path().join("all");
    std::fs::create_dir(&all).unwrap();
    let all = init_without_cargo(&all, &names);
    let full = std::fs::read_to_string(all.join("Cargo.lock")).unwrap();
    assert_cargo_agrees(&all, &full, "every skill");
    // Smaller sets: cargo started from the full lock keeps its versions and drops what is unused.
    let mut sets: Vec<Vec<String>> = vec![vec![]];
    sets.extend(names.iter().map(|n| vec![n.clone()]));
    for set in sets {
        let parent = tmp.path().join(format!("set-{}", set.join("-")));
        std::fs::create_dir(&parent).unwrap();
        let dir = init_without_cargo(&parent, &set);
        assert_cargo_agrees(&dir, &full, &format!("skills {set:?}"));
    }
    // The base alone composes to the base's own lock.
    let bare = tmp.path().join("set-");
    assert_eq!(
        std::fs::read_to_string(bare.join("x/Cargo.lock")).unwrap(),
        std::fs::read_to_string(repo().join("base/Cargo.lock")).unwrap(),
        "the base alone"
    );
    // A swap: the default install, then telegram in place of whatsapp, without cargo.
    let swap = tmp.path().join("swap");
    std::fs::create_dir(&swap).unwrap();
    builtin(&swap, &["init", "x", "--yes"]);
    let dir = swap.join("x");
    let out = builtin_command(&dir, &["skill", "apply", "telegram", "--replace", "whatsapp", "--yes"])
        .env("CARGO", "false")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("Cargo.lock was not updated"), "swap:\n{err}");
    assert_cargo_agrees(&dir, &full, "telegram after whatsapp");
    // And back to the base alone: its own lock again.
    let out = builtin_command(&dir, &["skill", "remove", "telegram"]).env("CARGO", "false").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        git(&dir, &["show", "HEAD:Cargo.lock"]),
        std::fs::read_to_string(repo().join("base/Cargo.lock")).unwrap(),
        "the base alone, after a remove"
    );
}
