//! OpenAI Chat Completions (and the servers that speak it): the key as `Authorization: Bearer`,
//! usage as `prompt_tokens` / `completion_tokens` in a body or in the last streamed chunk (the
//! agent asks for it with `stream_options.include_usage`).

use serde_json::Value;

use super::{Credential, Route};

pub const ROUTE: Route = Route {
    provider: "openai",
    upstream: "https://api.openai.com",
    paths: &["/v1/chat/completions"],
    key_env: Some("OPENAI_API_KEY"),
    credential: Credential::Bearer,
    headers: &[],
    usage,
};

fn usage(value: &Value) -> Option<(u64, u64)> {
    let usage = value.get("usage").filter(|u| u.is_object())?;
    let count = |name: &str| usage[name].as_u64().unwrap_or(0);
    Some((count("prompt_tokens"), count("completion_tokens")))
}

#[cfg(test)]
mod tests {
    use crate::proxy::UsageCounter;

    #[test]
    fn counts_the_last_streamed_chunk_and_a_json_body() {
        let mut c = UsageCounter::new(super::ROUTE.usage, false);
        c.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n");
        c.feed(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":5}}\n\ndata: [DONE]\n\n");
        c.finish();
        assert_eq!((c.input, c.output), (21, 5));
        let mut c = UsageCounter::new(super::ROUTE.usage, true);
        c.feed(b"{\n  \"choices\": [],\n  \"usage\": {\"prompt_tokens\": 3, \"completion_tokens\": 4}\n}\n");
        c.finish();
        assert_eq!((c.input, c.output), (3, 4));
    }
}
