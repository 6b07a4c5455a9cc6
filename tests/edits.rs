//! The person's edits: kept through apply and remove, conflicts reported or marked, dry runs
//! and dirty trees.

mod support;

use support::*;

fn commit_all(dir: &std::path::Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", message]);
}

#[test]
fn the_persons_edits_survive_apply_and_remove() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let registry = read(&dir, "src/channels/mod.rs")
        .replace("/// A chat platform.\n", "// My note about channels.\n/// A chat platform.\n");
    write(&dir, "src/channels/mod.rs", &registry);
    let config = format!("{}\n/// Mine.\npub fn my_helper() -> u32 {{\n    42\n}}\n", read(&dir, "src/config.rs"));
    write(&dir, "src/config.rs", &config);
    commit_all(&dir, "my edits");
    let edited = tree_id(&dir);

    ok(&dir, &["skill", "apply", "alpha", "--yes"]);
    let after = read(&dir, "src/channels/mod.rs");
    assert!(
        after.contains("pub mod alpha;\npub mod cli;\n")
            && after.contains("// My note about channels.\n/// A chat platform.\n"),
        "{after}"
    );
    assert!(after.contains("(\"alpha\", alpha::open),"));
    assert!(read(&dir, "src/config.rs").contains("pub fn my_helper() -> u32"));
    let diff = ok(&dir, &["diff"]);
    assert!(diff.contains("+// My note about channels.") && diff.contains("+pub fn my_helper()"), "{diff}");
    let changed: Vec<&str> = diff.lines().filter(|l| l.starts_with('+') || l.starts_with('-')).collect();
    assert!(!changed.iter().any(|l| l.contains("alpha")), "claw diff must show only the person's edits:\n{diff}");

    ok(&dir, &["skill", "remove", "alpha"]);
    assert_eq!(tree_id(&dir), edited);
}

/// Edits the very line after which alpha registers itself.
fn edit_the_slot_line(dir: &std::path::Path) -> usize {
    let text = read(dir, "src/channels/mod.rs")
        .replace("        (\"cli\", cli::open),\n", "        (\"cli\", cli::open), // the terminal, always on\n");
    write(dir, "src/channels/mod.rs", &text);
    commit_all(dir, "comment on the slot line");
    text.lines().position(|l| l.contains("the terminal, always on")).unwrap() + 1
}

#[test]
fn a_conflict_writes_nothing_and_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let line = edit_the_slot_line(&dir);
    let before = snapshot(&dir);
    let err = fails(&dir, &["skill", "apply", "alpha", "--yes"], 3);
    let at =
        err.split("src/channels/mod.rs:").nth(1).and_then(|rest| rest.split(':').next()).expect("a file:line report");
    let (start, end) = at.split_once('-').unwrap_or((at, at));
    let (start, end): (usize, usize) = (start.parse().unwrap(), end.parse().unwrap());
    assert!(start <= line && line <= end, "line {line} is not in the reported {at}: {err}");
    assert!(err.contains("your edit and claw's change touch the same lines"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn conflict_markers_then_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    edit_the_slot_line(&dir);
    let commits = commit_count(&dir);
    let head = git(&dir, &["rev-parse", "HEAD"]);
    let err = fails(&dir, &["skill", "apply", "alpha", "--conflicts", "markers", "--yes"], 3);
    assert!(err.contains("conflict markers were written and nothing was committed"), "{err}");
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), head);
    let marked = read(&dir, "src/channels/mod.rs");
    assert!(marked.contains("<<<<<<< yours") && marked.contains(">>>>>>> generated now"), "{marked}");
    assert!(dir.join("src/channels/alpha.rs").exists(), "the rest of the change is in place");
    let status = ok(&dir, &["status"]);
    assert!(status.contains("pending: claw: apply alpha stopped on conflicts in src/channels/mod.rs"), "{status}");
    let err = fails(&dir, &["skill", "apply", "beta", "--yes"], 1);
    assert!(err.contains("a change is waiting for its conflicts to be resolved"), "{err}");

    let err = fails(&dir, &["continue"], 3);
    assert!(err.contains("conflict markers remain") && err.contains("src/channels/mod.rs:"), "{err}");

    let start = marked.find("<<<<<<<").unwrap();
    let end = marked.find(">>>>>>> generated now\n").unwrap() + ">>>>>>> generated now\n".len();
    let resolved = format!(
        "{}        (\"cli\", cli::open), // the terminal, always on\n        (\"alpha\", alpha::open),\n{}",
        &marked[..start],
        &marked[end..]
    );
    write(&dir, "src/channels/mod.rs", &resolved);
    ok(&dir, &["continue"]);
    assert_eq!(commit_count(&dir), commits + 1);
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    assert!(git(&dir, &["log", "-1", "--format=%(trailers)"]).contains("Claw-Skill-Applied: alpha 1.0.0"));
    assert!(git(&dir, &["show", "refs/claw/pristine:.claw/install.toml"]).contains("name = \"alpha\""));
    let diff = ok(&dir, &["diff"]);
    assert!(diff.contains("+        (\"cli\", cli::open), // the terminal, always on"), "{diff}");
    // The install goes on working: a later change merges cleanly.
    ok(&dir, &["skill", "apply", "beta", "--yes"]);
    assert!(
        read(&dir, "src/channels/mod.rs").contains(
            "// the terminal, always on\n        (\"alpha\", alpha::open),\n        (\"beta\", beta::open),\n"
        )
    );
}

#[test]
fn conflict_markers_then_abort() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    edit_the_slot_line(&dir);
    let before = snapshot(&dir);
    fails(&dir, &["skill", "apply", "alpha", "--conflicts", "markers", "--yes"], 3);
    assert_ne!(snapshot(&dir), before);
    ok(&dir, &["abort"]);
    assert_eq!(snapshot(&dir), before);
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    let err = fails(&dir, &["continue"], 1);
    assert!(err.contains("there is no change waiting to be continued"), "{err}");
}

#[test]
fn dry_run_prints_the_diff_and_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let before = snapshot(&dir);
    let out = ok(&dir, &["skill", "apply", "alpha", "--dry-run"]);
    assert!(out.contains("+pub mod alpha;") && out.contains("+        (\"alpha\", alpha::open),"), "{out}");
    assert!(out.contains("--- /dev/null\n+++ b/src/channels/alpha.rs"), "{out}");
    assert!(out.contains("+itoa = \"1.0.10\""), "{out}");
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn a_dirty_work_tree_is_refused_naming_the_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    write(&dir, "src/main.rs", &format!("{}// wip\n", read(&dir, "src/main.rs")));
    write(&dir, "notes.txt", "untracked");
    let before = snapshot(&dir);
    let err = fails(&dir, &["skill", "apply", "alpha", "--yes"], 1);
    assert!(err.contains("uncommitted changes") && err.contains("src/main.rs") && err.contains("notes.txt"), "{err}");
    assert_eq!(snapshot(&dir), before);

    // --allow-dirty lets untouched dirty paths be, but never overwrites one the change needs.
    ok(&dir, &["skill", "apply", "alpha", "--allow-dirty", "--yes"]);
    assert!(read(&dir, "src/main.rs").ends_with("// wip\n"));
    assert_eq!(read(&dir, "notes.txt"), "untracked");
    write(&dir, "src/channels/mod.rs", &format!("{}// wip\n", read(&dir, "src/channels/mod.rs")));
    let err = fails(&dir, &["skill", "apply", "beta", "--allow-dirty", "--yes"], 1);
    assert!(err.contains("would overwrite uncommitted changes in:\n  src/channels/mod.rs"), "{err}");
}

#[test]
fn continue_commits_exactly_the_changes_paths_and_no_scratch_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    edit_the_slot_line(&dir);
    fails(&dir, &["skill", "apply", "alpha", "--conflicts", "markers", "--yes"], 3);
    let changed: std::collections::BTreeSet<String> =
        git(&dir, &["status", "--porcelain", "--untracked-files=all"]).lines().map(|l| l[3..].to_string()).collect();
    let marked = read(&dir, "src/channels/mod.rs");
    let start = marked.find("<<<<<<<").unwrap();
    let end = marked.find(">>>>>>> generated now\n").unwrap() + ">>>>>>> generated now\n".len();
    write(
        &dir,
        "src/channels/mod.rs",
        &format!("{}        (\"alpha\", alpha::open),\n{}", &marked[..start], &marked[end..]),
    );
    write(&dir, "scratch.txt", "my notes\n");
    write(&dir, "src/channels/mod.rs.orig", &marked);
    let pending = std::fs::read(dir.join(".git/claw/pending.toml")).unwrap();
    ok(&dir, &["continue"]);
    let committed: std::collections::BTreeSet<String> =
        git(&dir, &["show", "--name-only", "--format=", "HEAD"]).lines().map(str::to_string).collect();
    assert_eq!(committed, changed, "the commit holds the change's paths and nothing else");
    assert_eq!(git(&dir, &["status", "--porcelain"]), "?? scratch.txt\n?? src/channels/mod.rs.orig\n");

    // As if killed after the commit but before the pending change was dropped: the next claw
    // sees that HEAD is the change's commit and finishes.
    std::fs::write(dir.join(".git/claw/pending.toml"), pending).unwrap();
    std::fs::write(dir.join(".git/claw/writing"), "").unwrap();
    let status = ok(&dir, &["status"]);
    assert!(!status.contains("pending:"), "{status}");
    assert!(!dir.join(".git/claw/pending.toml").exists());
}
