//! The built-in channel skills as the generator sees them: WhatsApp by default, Telegram in its
//! place in one commit, and the channels composing in either order. (Building and testing the
//! generated code happens once, in CI's install holding every skill.)

mod support;

use std::path::Path;

use support::*;

fn dirs(tmp: &Path, names: &[&str]) {
    for name in names {
        std::fs::create_dir(tmp.join(name)).expect("mkdir");
    }
}

#[test]
fn telegram_replaces_the_default_whatsapp_in_one_commit_that_leaves_no_trace() {
    let tmp = tempfile::tempdir().expect("tempdir");
    dirs(tmp.path(), &["swapped", "fresh"]);
    let dir = tmp.path().join("swapped/x");
    builtin(&tmp.path().join("swapped"), &["init", "x"]);
    assert!(dir.join("src/channels/whatsapp.rs").exists(), "WhatsApp is the default channel");
    assert!(read(&dir, "Cargo.toml").contains("whatsapp-rust"));

    builtin(&dir, &["skill", "apply", "telegram", "--replace", "whatsapp", "--yes"]);
    assert_eq!(commit_count(&dir), 2, "exactly one commit for the swap");
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    let changed = git(&dir, &["diff", "--no-renames", "--name-status", "HEAD~1", "HEAD"]);
    for line in [
        "D\tsrc/channels/whatsapp.rs",
        "D\t.claude/skills/whatsapp/SKILL.md",
        "A\tsrc/channels/telegram.rs",
        "D\t.claude/skills/add-telegram/SKILL.md",
        "A\t.claude/skills/add-whatsapp/SKILL.md",
    ] {
        assert!(changed.contains(line), "{line} missing from:\n{changed}");
    }
    for file in
        ["Cargo.toml", ".env.example", "src/config.rs", "src/channels/mod.rs", ".claw/install.toml", "CLAUDE.md"]
    {
        // CLAUDE.md names the catalogue skills not applied by their add- skills.
        let text = read(&dir, file).to_lowercase().replace("`add-whatsapp`", "");
        for trace in ["whatsapp", "qrcode", "png ="] {
            assert!(!text.contains(trace), "{file} still mentions {trace}:\n{text}");
        }
    }
    assert!(read(&dir, "src/channels/mod.rs").contains("(\"telegram\", telegram::open)"));
    assert!(read(&dir, ".env.example").contains("TELEGRAM_BOT_TOKEN"));
    // The lock moves in the same commit: WhatsApp's crates leave, and every crate kept keeps
    // its version.
    let (before, after) =
        (locked(&git(&dir, &["show", "HEAD~1:Cargo.lock"])), locked(&git(&dir, &["show", "HEAD:Cargo.lock"])));
    assert!(before.keys().any(|name| name.starts_with("whatsapp")), "WhatsApp's crates were locked");
    for name in after.keys() {
        assert!(!name.starts_with("whatsapp") && !name.starts_with("wacore"), "{name} is still locked");
    }
    for (name, versions) in &after {
        if let Some(old) = before.get(name) {
            assert!(versions.iter().all(|v| old.contains(v)), "{name} moved from {old:?} to {versions:?}");
        }
    }

    // The same tree as a bare install given Telegram directly.
    builtin(&tmp.path().join("fresh"), &["init", "x", "--bare"]);
    let fresh = tmp.path().join("fresh/x");
    builtin(&fresh, &["skill", "apply", "telegram", "--yes"]);
    assert_eq!(tree_id(&dir), tree_id(&fresh));
}

/// A Cargo.lock's packages: name and versions.
fn locked(lock: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let lock: toml::Table = toml::from_str(lock).expect("Cargo.lock parses");
    for p in lock["package"].as_array().expect("packages") {
        out.entry(p["name"].as_str().unwrap().to_string())
            .or_default()
            .push(p["version"].as_str().unwrap().to_string());
    }
    out
}

#[test]
fn the_two_channels_compose_in_either_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    dirs(tmp.path(), &["a", "b"]);
    builtin(&tmp.path().join("a"), &["init", "x", "--bare"]);
    builtin(&tmp.path().join("b"), &["init", "x", "--bare"]);
    let (a, b) = (tmp.path().join("a/x"), tmp.path().join("b/x"));
    builtin(&a, &["skill", "apply", "whatsapp", "--yes"]);
    builtin(&a, &["skill", "apply", "telegram", "--yes"]);
    builtin(&b, &["skill", "apply", "telegram", "--yes"]);
    builtin(&b, &["skill", "apply", "whatsapp", "--yes"]);
    assert_eq!(tree_id(&a), tree_id(&b));
    let registry = read(&a, "src/channels/mod.rs");
    assert!(registry.contains("(\"telegram\", telegram::open)") && registry.contains("(\"whatsapp\", whatsapp::open)"));
}

/// Every channel skill of the catalogue, by its manifest's kind.
fn channels() -> Vec<String> {
    let skills = Path::new(env!("CARGO_MANIFEST_DIR")).join("skills");
    let mut names: Vec<String> = std::fs::read_dir(&skills)
        .expect("skills/")
        .filter_map(|e| e.ok())
        .filter(|e| {
            let manifest = std::fs::read_to_string(e.path().join("skill.toml")).unwrap_or_default();
            manifest.lines().any(|l| l.trim() == "kind = \"channel\"")
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every pair of channel skills composes in both orders to the same tree, and crates two of them
/// share (Slack's and Discord's websocket) are declared once.
#[test]
fn every_pair_of_channels_composes_in_either_order() {
    let channels = channels();
    assert!(channels.len() >= 6, "{channels:?}");
    let tmp = tempfile::tempdir().expect("tempdir");
    builtin(tmp.path(), &["init", "bare", "--bare"]);
    let bare = tmp.path().join("bare");
    for (i, first) in channels.iter().enumerate() {
        for second in &channels[i + 1..] {
            let mut trees = Vec::new();
            for order in [[first, second], [second, first]] {
                let dir = tmp.path().join(format!("{}-{}", order[0], order[1]));
                copy_dir(&bare, &dir);
                for skill in order {
                    builtin(&dir, &["skill", "apply", skill, "--yes"]);
                }
                trees.push(tree_id(&dir));
                if order == [first, second] {
                    let manifest = read(&dir, "Cargo.toml");
                    assert!(manifest.matches("tokio-tungstenite").count() <= 1, "{first} and {second}: {manifest}");
                }
                std::fs::remove_dir_all(&dir).expect("cleanup");
            }
            assert_eq!(trees[0], trees[1], "{first} and {second} compose to different trees");
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp").arg("-a").arg(from).arg(to).status().expect("cp");
    assert!(status.success());
}

#[test]
fn gmail_on_a_default_install_is_one_commit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    builtin(tmp.path(), &["init", "x"]);
    let dir = tmp.path().join("x");
    builtin(&dir, &["skill", "apply", "gmail", "--yes"]);
    let log = std::process::Command::new("git").args(["log", "--format=%s"]).current_dir(&dir).output().expect("git");
    let log = String::from_utf8_lossy(&log.stdout).into_owned();
    assert_eq!(log.lines().count(), 2, "{log}");
    assert!(log.starts_with("claw: apply gmail"), "{log}");
    assert!(read(&dir, "src/channels/mod.rs").contains("(\"gmail\", gmail::open)"));
    assert!(read(&dir, ".env.example").contains("GMAIL_CLIENT_ID="));
}

#[test]
fn each_channel_skill_stays_under_400_lines_of_non_test_rust() {
    let skills = Path::new(env!("CARGO_MANIFEST_DIR")).join("skills");
    let channels = ["whatsapp", "telegram", "slack", "discord", "email", "gmail"];
    for (skill, file) in channels.map(|c| (c, format!("{c}.rs"))) {
        let path = skills.join(skill).join("files/src/channels").join(file);
        let text = std::fs::read_to_string(&path).expect("channel source");
        let product = text.split("#[cfg(test)]").next().unwrap_or_default();
        // As the project counts them: no blank lines, no `//` comment lines.
        let lines = product.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")).count();
        assert!(lines < 400, "{skill}: {lines} lines");
    }
}
