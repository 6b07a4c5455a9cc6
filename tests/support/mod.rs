//! Helpers shared by the integration tests: run the real `claw` binary and real git on
//! throw-away installs, and take snapshots that prove "nothing was written".

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(kind)
}

/// `claw` with the test skills as its catalogue, run in `dir`.
pub fn claw_with(dir: &Path, skills: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_claw"))
        .args(args)
        .current_dir(dir)
        .env("CLAW_SKILLS", skills)
        .env_remove("CLAW_FAULT_AFTER_WRITES")
        .env_remove("CLAW_BUILTIN_DIR")
        .output()
        .expect("run claw")
}

pub fn claw(dir: &Path, args: &[&str]) -> Output {
    claw_with(dir, &fixtures("skills"), args)
}

/// `claw ARGS` in `dir` with its built-in catalogue and none of the test hooks, ready to run.
pub fn builtin_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_claw"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("CLAW_SKILLS")
        .env_remove("CLAW_FAULT_AFTER_WRITES")
        .env_remove("CLAW_BUILTIN_DIR");
    cmd
}

/// Runs `claw` with its built-in catalogue and expects success; returns stdout.
pub fn builtin(dir: &Path, args: &[&str]) -> String {
    let out = builtin_command(dir, args).output().expect("run claw");
    assert!(out.status.success(), "claw {args:?}:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `claw` as a newer binary would: its built-in base, skills and templates replaced by
/// those in `builtin` (the debug-build test hook `CLAW_BUILTIN_DIR`), no skills folder.
pub fn newer_claw(dir: &Path, builtin: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_claw"))
        .args(args)
        .current_dir(dir)
        .env_remove("CLAW_SKILLS")
        .env_remove("CLAW_FAULT_AFTER_WRITES")
        .env("CLAW_BUILTIN_DIR", builtin)
        .output()
        .expect("run claw")
}

/// Copies a folder recursively (a skills folder or claw's built-in material), without `target/`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name");
        if name == "target" {
            continue;
        }
        if path.is_dir() {
            copy_dir(&path, &to.join(name));
        } else {
            std::fs::copy(&path, to.join(name)).expect("copy");
        }
    }
}

/// Runs claw and expects success; returns stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = claw(dir, args);
    assert!(out.status.success(), "claw {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs claw and expects exit code `code`; returns stderr.
pub fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let out = claw(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "claw {args:?}: stdout {}\nstderr {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh bare install named `x` inside `parent`.
pub fn install(parent: &Path) -> PathBuf {
    ok(parent, &["init", "x", "--bare"]);
    parent.join("x")
}

pub fn tree_id(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD^{tree}"]).trim().to_string()
}

pub fn commit_count(dir: &Path) -> usize {
    git(dir, &["rev-list", "--count", "HEAD"]).trim().parse().expect("count")
}

pub fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn write(dir: &Path, path: &str, text: &str) {
    std::fs::write(dir.join(path), text).unwrap_or_else(|e| panic!("{path}: {e}"));
}

/// Everything that "nothing was written" must leave unchanged: every work-tree file, HEAD, the
/// pristine ref, and the index's entries.
#[derive(PartialEq, Eq)]
pub struct Snapshot {
    files: BTreeMap<String, Vec<u8>>,
    head: String,
    pristine: String,
    index: String,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let files: Vec<String> = self
            .files
            .iter()
            .map(|(p, d)| {
                format!(
                    "{p} ({} bytes, {:x})",
                    d.len(),
                    d.iter().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(*b as u64))
                )
            })
            .collect();
        write!(
            f,
            "head {} pristine {}\nindex:\n{}files:\n  {}",
            self.head.trim(),
            self.pristine.trim(),
            self.index,
            files.join("\n  ")
        )
    }
}

pub fn snapshot(dir: &Path) -> Snapshot {
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    Snapshot {
        files,
        head: git(dir, &["rev-parse", "HEAD"]),
        pristine: git(dir, &["rev-parse", "refs/claw/pristine"]),
        index: git(dir, &["ls-files", "--stage"]),
    }
}

fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        let rel = path.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        if meta.is_dir() {
            walk(root, &path, files);
        } else if meta.file_type().is_symlink() {
            files.insert(rel, std::fs::read_link(&path).expect("link").to_string_lossy().into_owned().into_bytes());
        } else {
            files.insert(rel, std::fs::read(&path).expect("read"));
        }
    }
}

/// Runs cargo in an install, sharing one target directory across all tests.
pub fn cargo(dir: &Path, args: &[&str]) -> Output {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/installs"));
    Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo")
}

/// The names of the built-in catalogue's skills (the folders of `skills/` with a skill.toml).
pub fn builtin_skills() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("skills");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("skills/")
        .map(|e| e.expect("skills/").path())
        .filter(|p| p.join("skill.toml").is_file())
        .map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
