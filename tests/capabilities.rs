//! The capability report: every change says what it lets run, and a skill not built into claw
//! that brings code run at build or edit time needs `--allow-build-code` besides `--yes`.

mod support;

use support::*;

#[test]
fn a_dry_run_lists_each_capability_under_its_heading_and_a_third_party_skill_needs_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install(tmp.path());
    let capable = fixtures("capable");
    let before = snapshot(&dir);
    let out = claw_with(&dir, &capable, &["skill", "apply", "gadget", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let heading = |name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} heading in:\n{stdout}"))
            .to_string()
    };
    assert!(heading("Secrets and environment keys").contains("GADGET_TOKEN (gadget, required)"), "{stdout}");
    let crates = heading("Crates added or moved");
    assert!(crates.contains("anyhow 1.") && crates.contains("(build script)"), "{stdout}");
    assert_eq!(
        heading("Files that run code at build or edit time").trim(),
        "Files that run code at build or edit time: .cargo/config.toml, build.rs"
    );
    assert_eq!(heading("Proxy routes").trim(), "Proxy routes: none");
    assert!(stdout.find("Capabilities:").unwrap() < stdout.find("diff --git").unwrap(), "report before the diff");
    assert_eq!(snapshot(&dir), before, "a dry run writes nothing");

    let out = claw_with(&dir, &capable, &["skill", "apply", "gadget", "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("gadget is not built into claw") && err.contains("--allow-build-code"), "{err}");
    for item in [".cargo/config.toml", "build.rs", "crate anyhow 1."] {
        assert!(err.contains(item), "the refusal names {item}:\n{err}");
    }
    assert_eq!(snapshot(&dir), before, "a refused change writes nothing");

    let out = claw_with(&dir, &capable, &["skill", "apply", "gadget", "--yes", "--allow-build-code"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let message = git(&dir, &["log", "-1", "--format=%B"]);
    assert!(
        message.contains("Capabilities:\n")
            && message.contains("Files that run code at build or edit time: .cargo/config.toml, build.rs"),
        "{message}"
    );
    let trailers = git(&dir, &["log", "-1", "--format=%(trailers)"]);
    assert_eq!(trailers.trim(), "Claw-Skill-Applied: gadget 0.1.0");
    assert!(git(&dir, &["show", "--stat", "HEAD"]).contains("Cargo.lock"), "the lock moves in the same commit");
}
