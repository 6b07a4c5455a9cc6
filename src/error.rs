//! One error type for the whole CLI: a message meant for a person, and the exit code it maps to.

use std::fmt;

/// Exit codes, documented in README.md. Conflicts and locks get their own codes so that scripts
/// (and Claude Code) can tell "fix your edits" and "try again later" from plain failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Whoever read the output stopped (`claw ... | head`): not a failure, and nothing to say.
    OutputClosed = 0,
    Failure = 1,
    Conflict = 3,
    Locked = 4,
}

#[derive(Debug)]
pub struct Error {
    pub code: Code,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error { code: Code::Failure, message: message.into() }
    }

    pub fn with_code(code: Code, message: impl Into<String>) -> Error {
        Error { code, message: message.into() }
    }

    /// A failed write to the output: a closed pipe ends quietly, anything else is a failure.
    pub fn output(e: &std::io::Error) -> Error {
        match e.kind() {
            std::io::ErrorKind::BrokenPipe => Error::with_code(Code::OutputClosed, ""),
            _ => Error::new(format!("writing output: {e}")),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `return Err(...)` with a formatted message.
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::error::Error::new(format!($($arg)*))) };
}
pub(crate) use bail;

/// Adds what was being done to a lower-level error, so every message names its file or object.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: fmt::Display + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::new(format!("{what}: {}", describe(&e))))
    }

    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| Error::new(format!("{}: {}", what(), describe(&e))))
    }
}

/// An error as a person should read it: a libgit2 error by its message alone, without the
/// "; class=Repository (6); code=NotFound (-3)" that only libgit2's own developers can use.
pub fn describe<E: fmt::Display + 'static>(e: &E) -> String {
    match (e as &dyn std::any::Any).downcast_ref::<git2::Error>() {
        Some(git) => git.message().to_string(),
        None => e.to_string(),
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::new(what.to_string()))
    }

    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.ok_or_else(|| Error::new(what().to_string()))
    }
}
