//! Channels connect chat platforms to the orchestrator. The base ships `cli`, a local terminal
//! chat; other platforms are skills that add a file here and one line at each slot below.

pub mod cli;
pub mod status;

use std::future::Future;
use std::pin::Pin;

use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
pub use status::report;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub type Result<T> = std::result::Result<T, String>;

/// A message as it arrives from a chat.
#[derive(Debug, Default)]
pub struct Inbound {
    /// Globally unique: prefixed with the channel's name, e.g. `cli:local`.
    pub chat_jid: String,
    /// The chat's display name and kind, when the platform says (kept as metadata).
    pub chat_name: Option<String>,
    pub is_group: bool,
    pub sender: String,
    pub sender_name: String,
    pub text: String,
    /// RFC 3339.
    pub ts: String,
    /// Sent by the account the channel runs as (its own replies): stored, never a trigger.
    pub is_from_me: bool,
    /// The platform's message id: a message delivered twice is stored once.
    pub external_id: Option<String>,
    /// Answered once the message is durably stored (a channel may then acknowledge it).
    pub stored: Option<oneshot::Sender<()>>,
}

/// A chat platform.
pub trait Channel: Send + Sync {
    fn name(&self) -> &'static str;
    /// Whether `chat_jid` belongs to this channel (by its prefix).
    fn owns_chat(&self, chat_jid: &str) -> bool {
        chat_jid.starts_with(&format!("{}:", self.name()))
    }
    /// The longest message the platform accepts, in characters.
    fn max_message_len(&self) -> usize {
        4000
    }
    /// Starts receiving: every inbound message is pushed into `inbound`.
    fn connect(&self, inbound: mpsc::Sender<Inbound>) -> BoxFuture<'_, Result<()>>;
    fn send<'a>(&'a self, chat_jid: &'a str, text: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Shows (or stops showing) that the assistant is working, where the platform can.
    fn set_typing<'a>(&'a self, _chat_jid: &'a str, _typing: bool) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// Opens a channel from the configuration, failing with a message that names what is missing.
pub type Open = fn(&Config) -> Result<Box<dyn Channel>>;

/// Every channel this install was built with, by name.
#[rustfmt::skip] // One entry per line: each channel's registration is one line of diff.
pub fn registry() -> Vec<(&'static str, Open)> {
    vec![
        ("cli", cli::open),
    ]
}

/// Opens the channels the configuration enables (all of them unless `channels` lists some).
pub fn open(config: &Config) -> Result<Vec<Box<dyn Channel>>> {
    let built = registry();
    if let Some(unknown) = config.channels.iter().find(|n| !built.iter().any(|(name, _)| name == n)) {
        let names: Vec<_> = built.iter().map(|(name, _)| *name).collect();
        return Err(format!("channels: {unknown:?} is not built into this install (it has {})", names.join(", ")));
    }
    built
        .into_iter()
        .filter(|(name, _)| config.channels.is_empty() || config.channels.iter().any(|n| n == name))
        .map(|(name, open)| open(config).map_err(|e| format!("channel {name}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_picks_the_channels_and_names_an_unknown_one() {
        // Only `cli` is sure to open without settings: other channels come with skills.
        let mut config = Config { channels: vec!["cli".into()], ..Config::default() };
        assert_eq!(open(&config).map(|c| c.iter().map(|c| c.name()).collect::<Vec<_>>()), Ok(vec!["cli"]));
        config.channels = vec!["telegarm".into()];
        let err = open(&config).err().unwrap_or_default();
        assert!(err.contains("\"telegarm\" is not built into this install (it has cli"), "{err}");
    }
}
