//! Ollama's native API on the host's own loopback: no key, usage as `prompt_eval_count` /
//! `eval_count` in a body or in the stream's last NDJSON line (`done: true`).

use serde_json::Value;

use super::{Credential, Route};

pub const ROUTE: Route = Route {
    provider: "ollama",
    upstream: "http://127.0.0.1:11434",
    paths: &["/api/chat"],
    key_env: None,
    credential: Credential::None,
    headers: &[],
    usage,
};

fn usage(value: &Value) -> Option<(u64, u64)> {
    let count = |name: &str| value[name].as_u64().unwrap_or(0);
    (value["done"] == true).then(|| (count("prompt_eval_count"), count("eval_count")))
}

#[cfg(test)]
mod tests {
    use crate::proxy::UsageCounter;

    #[test]
    fn counts_the_last_ndjson_line() {
        let mut c = UsageCounter::new(super::ROUTE.usage, false);
        c.feed(b"{\"message\":{\"content\":\"hi\"},\"done\":false}\n{\"message\":{\"content\":\"\"},");
        c.feed(b"\"done\":true,\"prompt_eval_count\":26,\"eval_count\":3}");
        c.finish();
        assert_eq!((c.input, c.output), (26, 3));
    }
}
