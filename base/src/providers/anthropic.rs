//! The Anthropic Messages API: key in `x-api-key`, usage in a body's `usage`, in the stream's
//! `message_start` (input) and `message_delta` (cumulative output).

use serde_json::Value;

use super::{Credential, Route};

pub const ROUTE: Route = Route {
    provider: "anthropic",
    upstream: "https://api.anthropic.com",
    paths: &["/v1/messages", "/v1/messages/count_tokens"],
    key_env: Some("ANTHROPIC_API_KEY"),
    credential: Credential::Header("x-api-key"),
    headers: &[("anthropic-version", "2023-06-01")],
    usage,
};

fn usage(value: &Value) -> Option<(u64, u64)> {
    let usage = value.get("usage").or_else(|| value.pointer("/message/usage"))?;
    let count = |name: &str| usage[name].as_u64().unwrap_or(0);
    Some((count("input_tokens"), count("output_tokens")))
}
