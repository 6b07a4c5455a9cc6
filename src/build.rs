//! Build script: embeds `base/`, `skills/` and `templates/` (with `SKILLS.md`) into the binary, so an installed `claw` works from
//! any directory. Build outputs (`target/`) are not part of the product; `base/Cargo.lock` is (an
//! install starts from the crate versions the base was tested with). It also writes the git tree id
//! of every embedded folder, so comparing the binary's material with an install's pinned tree ids
//! costs nothing at run time.

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
    // SKILLS.md, the skill format, goes into every install: it is embedded with the templates.
    println!("cargo:rerun-if-changed=SKILLS.md");
    files.push(("templates/SKILLS.md".into(), manifest_dir.join("SKILLS.md").to_string_lossy().into_owned(), false));
    files.sort();
    let mut out = String::from(
        "/// Every embedded file: (path relative to the repository, contents, executable).\npub static FILES: &[(&str, &[u8], bool)] = &[\n",
    );
    for (rel, abs, exec) in &files {
        writeln!(out, "    ({rel:?}, include_bytes!({abs:?}), {exec}),").expect("write to String");
    }
    out.push_str("];\n");
    writeln!(out, "/// Names never embedded (the CLAW_BUILTIN_DIR test hook skips the same).\npub static SKIPPED: &[&str] = &{SKIPPED:?};")
        .expect("write to String");
    out.push_str(
        "/// The git tree id of every embedded folder, as `(\"base/\", id)`.\npub static TREES: &[(&str, &str)] = &[\n",
    );
    let mut blobs = Vec::new();
    for (rel, abs, exec) in &files {
        let data = std::fs::read(abs).expect("read an embedded file");
        blobs.push((rel.as_str(), git_object("blob", &data), *exec));
    }
    let mut trees = Vec::new();
    tree_ids("", &blobs, &mut trees);
    for (dir, id) in &trees {
        writeln!(out, "    ({dir:?}, {:?}),", hex(id)).expect("write to String");
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

/// Git's id for an object: SHA-1 of `"{kind} {len}\0"` and the content.
fn git_object(kind: &str, data: &[u8]) -> [u8; 20] {
    let mut bytes = format!("{kind} {}\0", data.len()).into_bytes();
    bytes.extend_from_slice(data);
    sha1(&bytes)
}

/// Ids of the folder `prefix` (files given relative to the top, sorted) and every folder under it,
/// pushed to `out`; returns the folder's id. Only folders holding files exist, as in git.
fn tree_ids(prefix: &str, files: &[(&str, [u8; 20], bool)], out: &mut Vec<(String, [u8; 20])>) -> [u8; 20] {
    // (name as git sorts it: folders with a trailing '/', mode, id)
    let mut entries: Vec<(Vec<u8>, &str, [u8; 20])> = Vec::new();
    let mut seen_dirs: Vec<&str> = Vec::new();
    for (path, id, exec) in files {
        let Some(rest) = path.strip_prefix(prefix) else { continue };
        match rest.split_once('/') {
            None => entries.push((rest.as_bytes().to_vec(), if *exec { "100755" } else { "100644" }, *id)),
            Some((dir, _)) if !seen_dirs.contains(&dir) => {
                seen_dirs.push(dir);
                let id = tree_ids(&format!("{prefix}{dir}/"), files, out);
                entries.push((format!("{dir}/").into_bytes(), "40000", id));
            }
            Some(_) => {}
        }
    }
    entries.sort();
    let mut content = Vec::new();
    for (name, mode, id) in &entries {
        let name = name.strip_suffix(b"/").unwrap_or(name);
        content.extend_from_slice(format!("{mode} ").as_bytes());
        content.extend_from_slice(name);
        content.push(0);
        content.extend_from_slice(id);
    }
    let id = git_object("tree", &content);
    out.push((prefix.to_string(), id));
    id
}

fn hex(id: &[u8; 20]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-1 (FIPS 180-4), as git names objects; a build script cannot use git2 without building it twice.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}
