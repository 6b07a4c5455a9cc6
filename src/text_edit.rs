//! Plain-text slots: lines of a list file (the container image's packages) and the documented
//! environment variables in `.env.example`.

use crate::manifest::EnvVar;

/// Appends `line` to `text` unless the file already lists it.
pub fn add_line(text: &str, line: &str) -> String {
    if text.lines().any(|l| l.trim() == line.trim()) {
        return text.to_string();
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line.trim());
    out.push('\n');
    out
}

/// Appends a skill's block of environment variables to `.env.example`. A variable the file
/// already documents is left to its first owner.
pub fn add_env_block(text: &str, skill: &str, vars: &[EnvVar]) -> String {
    let fresh: Vec<&EnvVar> =
        vars.iter().filter(|v| !text.lines().any(|l| l.starts_with(&format!("{}=", v.name)))).collect();
    if fresh.is_empty() {
        return text.to_string();
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("\n# {skill}\n"));
    // Values stay empty: a placeholder that looks real would be copied into .env and refused
    // at run time; the example is a comment.
    for var in fresh {
        let need = if var.required { "required" } else { "optional" };
        let to = if var.to_agent() { ", passed to agent containers" } else { "" };
        out.push_str(&format!("# {} ({need}{to})\n", var.doc));
        if !var.example.is_empty() {
            out.push_str(&format!("# e.g. {}={}\n", var.name, var.example));
        }
        out.push_str(&format!("{}=\n", var.name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_added_once() {
        assert_eq!(add_line("a\n", "b"), "a\nb\n");
        assert_eq!(add_line("a\nb\n", "b"), "a\nb\n");
        assert_eq!(add_line("a", "b"), "a\nb\n");
    }

    #[test]
    fn env_blocks_document_each_variable() {
        let var = |example: &str| EnvVar {
            name: "TOKEN".into(),
            doc: "Bot token".into(),
            required: true,
            example: example.into(),
            to: Default::default(),
            secret: true,
        };
        assert_eq!(
            add_env_block("X=1\n", "telegram", &[var("")]),
            "X=1\n\n# telegram\n# Bot token (required)\nTOKEN=\n"
        );
        assert_eq!(add_env_block("TOKEN=\n", "telegram", &[var("")]), "TOKEN=\n");
        // An example is a comment, never a value that a copied .env would start with.
        let out = add_env_block("", "t", &[var("123:abc")]);
        assert!(out.ends_with("# e.g. TOKEN=123:abc\nTOKEN=\n"), "{out}");
    }
}
