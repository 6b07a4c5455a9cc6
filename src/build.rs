//! Build script: embeds `base/`, `skills/` and `templates/` into the binary, so an installed `claw` works from
//! any directory. Build outputs (`target/`) are not part of the product; `base/Cargo.lock` is (an
//! install starts from the crate versions the base was tested with).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const ROOTS: &[&str] = &["base", "skills", "templates"];
const SKIPPED: &[&str] = &["target", ".DS_Store"];

fn main() {
    // The platform cargo resolves crates for when claw updates an install's Cargo.lock.
    println!("cargo:rustc-env=CLAW_HOST_TARGET={}", std::env::var("TARGET").expect("cargo sets TARGET"));
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for root in ROOTS {
        println!("cargo:rerun-if-changed={root}");
        collect(&manifest_dir, &manifest_dir.join(root), &mut files);
    }
    files.sort();
    let mut out = String::from(
        "/// Every embedded file: (path relative to the repository, contents, executable).\npub static FILES: &[(&str, &[u8], bool)] = &[\n",
    );
    for (rel, abs, exec) in &files {
        writeln!(out, "    ({rel:?}, include_bytes!({abs:?}), {exec}),").expect("write to String");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("embedded.rs");
    std::fs::write(dest, out).expect("write embedded.rs");
}

fn collect(top: &Path, dir: &Path, files: &mut Vec<(String, String, bool)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let entry = entry.expect("read_dir entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if SKIPPED.contains(&name.as_str()) {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        if meta.is_dir() {
            collect(top, &path, files);
        } else if meta.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let rel = path.strip_prefix(top).expect("under top").to_string_lossy().into_owned();
            let exec = meta.permissions().mode() & 0o111 != 0;
            files.push((rel, path.to_string_lossy().into_owned(), exec));
        }
    }
}
