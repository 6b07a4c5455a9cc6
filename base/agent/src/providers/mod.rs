//! Model providers the agent can talk to through the host's credential proxy. Skills add other
//! providers here and register them at the `providers` slot; the first one is used unless
//! `CLAW_PROVIDER` names another.

pub mod anthropic;
pub mod socket;

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One model call: Anthropic Messages shapes, which other providers translate from.
pub struct ModelRequest<'a> {
    pub system: &'a str,
    pub messages: &'a [Value],
    pub tools: &'a [Value],
}

pub struct ModelResponse {
    /// The assistant message's content blocks.
    pub content: Vec<Value>,
    pub stop_reason: String,
}

/// A model API.
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    fn complete<'a>(&'a self, request: &'a ModelRequest<'a>) -> BoxFuture<'a, Result<ModelResponse, String>>;
}

/// Every provider built into this agent.
#[rustfmt::skip] // One entry per line: each registration is one line of diff.
pub fn registry() -> Vec<Box<dyn Provider>> {
    vec![
        Box::new(anthropic::Anthropic::from_env()),
    ]
}
