//! Claude Code skills (`.claude/skills/NAME/SKILL.md`): the front matter is generated here with a
//! serializer and checked against Claude Code's rules, never pasted into a template, because one
//! unquoted ": " in a description makes the YAML invalid and Claude Code then cannot load the
//! skill at all.

use crate::error::{Result, bail};

/// Claude Code's limit on a skill's description.
pub const MAX_DESCRIPTION: usize = 1024;

/// Claude Code's rule for a skill's name: 1 to 64 lowercase letters, digits and hyphens. claw's
/// own skill names follow it, so each can name its Claude Code skill's folder as is.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!("invalid skill name {name:?}: use 1 to 64 lowercase letters, digits and '-', starting with a letter");
    }
    Ok(())
}

/// Claude Code's rule for a description: 1 to 1,024 characters of one line, no `<` or `>`.
pub fn check_description(description: &str) -> Result<()> {
    let chars = description.chars().count();
    if description.trim().is_empty() || chars > MAX_DESCRIPTION {
        bail!("description must be 1 to {MAX_DESCRIPTION} characters (it has {chars})");
    }
    if !crate::sanitize::is_one_line(description) || description.contains(['<', '>']) {
        bail!("description must be one line without control characters, '<' or '>': {description:?}");
    }
    Ok(())
}

/// A description made from a one-line summary, for skills that give none: the angle brackets
/// Claude Code refuses are dropped and the text is cut to its limit.
pub fn description_from_summary(skill: &str, summary: &str) -> String {
    let summary: String = summary.chars().filter(|c| !matches!(c, '<' | '>') && !c.is_control()).collect();
    let text = format!("Use when the person wants to set up, check or remove the {skill} skill ({})", summary.trim());
    text.chars().take(MAX_DESCRIPTION).collect()
}

/// `body` as a SKILL.md with generated front matter. A front matter block already at the top of
/// `body` (templates pinned by an older claw wrote their own) is replaced, not repeated.
pub fn skill_md(name: &str, description: &str, body: &str) -> Result<String> {
    check_name(name)?;
    check_description(description)?;
    // A JSON string is a valid YAML double-quoted scalar: every ':' '#' or quote stays text.
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let body = strip_front_matter(body);
    Ok(format!("---\nname: {}\ndescription: {}\n---\n\n{}", quote(name), quote(description), body.trim_start()))
}

fn strip_front_matter(text: &str) -> &str {
    text.strip_prefix("---\n").and_then(|rest| rest.split_once("\n---\n")).map_or(text, |(_, body)| body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_claude_codes_rule() {
        assert!(check_name("add-telegram2").is_ok());
        for bad in ["", "Telegram", "my_skill", "-x", "9x", "a b", "a.b", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn descriptions_follow_claude_codes_rule() {
        assert!(check_description("Use when: a colon, a # and \"quotes\" are fine").is_ok());
        assert!(check_description(&"x".repeat(MAX_DESCRIPTION)).is_ok());
        for bad in ["", "  ", "a <b> tag", "a\nnewline", &"x".repeat(MAX_DESCRIPTION + 1)] {
            assert!(check_description(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_summary_becomes_a_valid_description() {
        let d = description_from_summary("x", &format!("<b>{}</b>", "y".repeat(2000)));
        assert!(check_description(&d).is_ok() && d.starts_with("Use when"), "{d}");
    }

    #[test]
    fn front_matter_quotes_values_and_replaces_an_old_block() {
        let md = skill_md("telegram", "Telegram: a bot", "---\nname: old\ndescription: a: b\n---\n\n# Body\n").unwrap();
        assert_eq!(md, "---\nname: \"telegram\"\ndescription: \"Telegram: a bot\"\n---\n\n# Body\n");
        assert!(skill_md("x_y", "d", "").is_err() && skill_md("x", "a <b>", "").is_err());
    }
}
