//! Why a run failed, in the one distinction the worker acts on: whether trying again can help.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// Trying again cannot help until a person acts (a missing image, a refused mount, a bad
    /// setting): the chat is told once, with the fix, and the group waits for its next message.
    Permanent(String),
    /// Anything else (a crashed container, a timeout, a failed model call): retried with backoff.
    Transient(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (RunError::Permanent(why) | RunError::Transient(why)) = self;
        f.write_str(why)
    }
}

/// The store's and the protocol's errors are worth another try.
impl From<String> for RunError {
    fn from(why: String) -> RunError {
        RunError::Transient(why)
    }
}
