//! Diffs for a person: on a terminal, coloured (unless `NO_COLOR` is set, or `TERM=dumb`) and
//! through a pager (`CLAW_PAGER`, else `PAGER`, else `less -FRX`, which exits at once when the
//! text fits the screen); piped or redirected, the plain bytes, so `| head`, files and tools
//! never see an escape code.

use std::io::{IsTerminal, Write};
use std::process::{Child, Command, Stdio};

pub struct DiffOut {
    pager: Option<Child>,
    colour: bool,
    line: Vec<u8>,
}

/// Where a diff goes: the pager or stdout, coloured or not, decided by what stdout is.
pub fn open() -> DiffOut {
    let tty = std::io::stdout().is_terminal();
    let colour = tty && wants_colour(std::env::var_os("NO_COLOR"), std::env::var_os("TERM"));
    DiffOut { pager: if tty { spawn_pager() } else { None }, colour, line: Vec::new() }
}

/// `NO_COLOR` set to anything but the empty string turns colour off (no-color.org).
fn wants_colour(no_color: Option<std::ffi::OsString>, term: Option<std::ffi::OsString>) -> bool {
    no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

fn spawn_pager() -> Option<Child> {
    let cmd = std::env::var("CLAW_PAGER").or_else(|_| std::env::var("PAGER")).unwrap_or_else(|_| "less".into());
    if cmd.trim().is_empty() || cmd.trim() == "cat" {
        return None;
    }
    // R: pass colours through; F: quit when it fits one screen; X: leave the text on screen.
    let less = std::env::var("LESS").unwrap_or_else(|_| "FRX".into());
    Command::new("sh").args(["-c", &cmd]).env("LESS", less).stdin(Stdio::piped()).spawn().ok()
}

/// The colour of one diff line: headers bold, additions green, removals red, hunks cyan.
fn paint(line: &[u8]) -> Option<&'static str> {
    let starts = |p: &[u8]| line.starts_with(p);
    if starts(b"diff --git") || starts(b"+++ ") || starts(b"--- ") {
        Some("\x1b[1m")
    } else if starts(b"+") {
        Some("\x1b[32m")
    } else if starts(b"-") {
        Some("\x1b[31m")
    } else if starts(b"@@") {
        Some("\x1b[36m")
    } else {
        None
    }
}

impl DiffOut {
    fn sink(&mut self) -> Box<dyn Write + '_> {
        match self.pager.as_mut().and_then(|p| p.stdin.as_mut()) {
            Some(stdin) => Box::new(stdin),
            None => Box::new(std::io::stdout().lock()),
        }
    }

    fn emit(&mut self, line: Vec<u8>) -> std::io::Result<()> {
        let colour = if self.colour { paint(&line) } else { None };
        let mut sink = self.sink();
        match colour {
            Some(code) => {
                let body = line.strip_suffix(b"\n").unwrap_or(&line);
                sink.write_all(code.as_bytes())?;
                sink.write_all(body)?;
                sink.write_all(b"\x1b[0m")?;
                if body.len() < line.len() { sink.write_all(b"\n") } else { Ok(()) }
            }
            None => sink.write_all(&line),
        }
    }
}

impl Write for DiffOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        while let Some(end) = self.line.iter().position(|&b| b == b'\n') {
            let rest = self.line.split_off(end + 1);
            let line = std::mem::replace(&mut self.line, rest);
            self.emit(line)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.emit(line)?;
        }
        self.sink().flush()
    }
}

impl Drop for DiffOut {
    /// Hands the pager its end of input and waits for the person to quit it.
    fn drop(&mut self) {
        let _ = self.flush();
        if let Some(mut pager) = self.pager.take() {
            drop(pager.stdin.take());
            let _ = pager.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_set_to_anything_turns_colour_off_and_so_does_a_dumb_terminal() {
        assert!(wants_colour(None, Some("xterm".into())));
        assert!(wants_colour(Some("".into()), None));
        assert!(!wants_colour(Some("1".into()), Some("xterm".into())));
        assert!(!wants_colour(None, Some("dumb".into())));
    }

    #[test]
    fn diff_lines_are_painted_by_their_first_bytes() {
        assert_eq!(paint(b"+++ b/x\n"), Some("\x1b[1m"));
        assert_eq!(paint(b"+added\n"), Some("\x1b[32m"));
        assert_eq!(paint(b"-gone\n"), Some("\x1b[31m"));
        assert_eq!(paint(b"@@ -1 +1 @@\n"), Some("\x1b[36m"));
        assert_eq!(paint(b" context\n"), None);
    }
}
