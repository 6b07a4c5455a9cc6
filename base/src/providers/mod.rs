//! Model providers as the credential proxy sees them: one `Route` each, saying which paths the
//! proxy forwards, where to, which key it adds and how, and how tokens are read from responses.
//! `claw.toml [model] provider` picks one; skills add theirs at the `provider-routes` slot.

pub mod anthropic;

use serde_json::Value;

/// How the key is sent upstream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Credential {
    /// In the named header, as is (`x-api-key`).
    Header(&'static str),
    /// As `Authorization: Bearer KEY`.
    Bearer,
    /// No key (a model server on the host's own loopback).
    None,
}

#[derive(Clone, Copy)]
pub struct Route {
    pub provider: &'static str,
    /// Used unless `[model] upstream` names another.
    pub upstream: &'static str,
    /// The only paths forwarded (POST only).
    pub paths: &'static [&'static str],
    /// The environment key holding the credential.
    pub key_env: Option<&'static str>,
    pub credential: Credential,
    /// Added when the agent did not send them.
    pub headers: &'static [(&'static str, &'static str)],
    /// The (input, output) tokens one JSON value of a response reports, if any: a whole JSON
    /// body, one SSE `data:` event or one NDJSON line. Counts seen in one response are
    /// cumulative, so the proxy keeps the largest of each.
    pub usage: fn(&Value) -> Option<(u64, u64)>,
}

/// Every provider route built into this host.
#[rustfmt::skip] // One entry per line: each registration is one line of diff.
pub fn registry() -> Vec<Route> {
    vec![
        anthropic::ROUTE,
    ]
}

/// The route named `provider`, or an error listing the ones built in.
pub fn find(provider: &str) -> Result<Route, String> {
    let all = registry();
    all.iter().find(|r| r.provider == provider).copied().ok_or_else(|| {
        let names: Vec<_> = all.iter().map(|r| r.provider).collect();
        format!("[model] provider: {provider:?} is not built in (built in: {})", names.join(", "))
    })
}
