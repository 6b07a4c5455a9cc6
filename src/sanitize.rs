//! Text from a skill, made safe to print: a skill's files, summary and instructions reach the
//! person's terminal and commit messages, where a raw control character could hide a line
//! (`\r`, `ESC[2K`) or forge a trailer (a newline).

/// `text` with every control character except newline and tab shown as an escape (`\r`, `\u{1b}`).
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Whether `text` is one printable line: no newline, no control character.
pub fn is_one_line(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_escaped_and_lines_kept() {
        assert_eq!(escape_controls("a\r\u{1b}[2Kb\n\tc"), "a\\r\\u{1b}[2Kb\n\tc");
        assert_eq!(escape_controls("plain\n"), "plain\n");
        assert!(!is_one_line("a\nClaw-Skill-Applied: x 1"));
        assert!(is_one_line("A test channel"));
    }
}
