//! Validation of paths inside an install. Every path a skill names, after rendering, passes here
//! before it can reach the tree: a skill is untrusted input to the generator.

use crate::error::{Result, bail};

/// Longest path and path component accepted (bytes), well under every filesystem's limit.
const MAX_PATH: usize = 1024;
const MAX_COMPONENT: usize = 255;

/// Directories the generator owns (`.claw`) or that git owns (`.git`); no skill writes there.
const RESERVED: &[&str] = &[".git", ".claw"];

/// Checks that `path` is a plain relative path that stays inside the install and names no
/// reserved directory. Returns a reason a person can act on.
pub fn validate(path: &str) -> Result<()> {
    if path.is_empty() {
        bail!("empty path");
    }
    if path.len() > MAX_PATH {
        bail!("path {path:?} is longer than {MAX_PATH} bytes");
    }
    if path.starts_with('/') || path.starts_with('~') {
        bail!("absolute path {path:?}: skill files must be relative to the install");
    }
    if path.contains('\\') || path.contains(':') {
        bail!("path {path:?} contains '\\' or ':'; use plain '/'-separated relative paths");
    }
    if path.chars().any(char::is_control) {
        bail!("path {path:?} contains a control character");
    }
    for component in path.split('/') {
        match component {
            "" | "." => bail!("path {path:?} has an empty or '.' component"),
            ".." => bail!("path {path:?} leaves the install ('..')"),
            c if c.len() > MAX_COMPONENT => {
                bail!("path {path:?} has a component over {MAX_COMPONENT} bytes")
            }
            c if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(c)) => {
                bail!("path {path:?} writes into {c}, which belongs to git or claw")
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_plain_relative_paths() {
        for ok in ["src/main.rs", "tests/telegram.rs", ".env.example", ".claude/skills/x/SKILL.md"] {
            validate(ok).unwrap();
        }
    }

    #[test]
    fn refuses_escapes_and_reserved_dirs() {
        for (bad, why) in [
            ("../x", "leaves the install"),
            ("src/../../x", "leaves the install"),
            ("/etc/passwd", "absolute"),
            ("~/x", "absolute"),
            (".git/hooks/pre-commit", ".git"),
            ("sub/.GIT/config", ".GIT"),
            (".claw/install.toml", ".claw"),
            ("a//b", "empty"),
            ("a/./b", "empty or '.'"),
            ("C:\\x", "'\\'"),
            ("a\nb", "control"),
            ("", "empty path"),
        ] {
            let err = validate(bad).unwrap_err().message;
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}
