//! Configuration: `claw.toml` in the install (every key optional, documented in
//! `claw.example.toml`) plus environment variables for secrets and per-skill settings. Skills
//! add the environment keys they read at the `config-keys` slot. A bad file is an error at start
//! that names the key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::router::AllowMode;

/// One environment key.
pub struct Key {
    pub name: &'static str,
    pub doc: &'static str,
    pub required: bool,
}

/// Every environment key this install reads.
#[rustfmt::skip] // One entry per line: each skill's key is one line of diff.
pub const KEYS: &[Key] = &[
    Key { name: "ANTHROPIC_API_KEY", doc: "Anthropic API key (provider \"anthropic\"); stays in the host process", required: false },
    Key { name: "CLAW_CONFIG", doc: "Path of the configuration file (default claw.toml)", required: false },
];

/// The keys whose values every agent container gets: claw writes this list from skills' `[[env]]`
/// with `to = "agent"`, which it refuses for any secret (secrets stay in the proxy).
#[rustfmt::skip] // One entry per line.
pub const AGENT_KEYS: &[&str] = &[
];

/// `KEY=value` for each agent key that is set.
pub fn agent_env() -> Vec<String> {
    AGENT_KEYS.iter().filter_map(|k| env(k).ok().flatten().map(|v| format!("{k}={v}"))).collect()
}

/// The value of environment key `name`, which must be one of `KEYS`.
pub fn env(name: &str) -> Result<Option<String>, String> {
    let key = KEYS.iter().find(|k| k.name == name).ok_or_else(|| format!("unknown configuration key {name}"))?;
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(Some(value)),
        _ if key.required => Err(format!("{name} is not set ({})", key.doc)),
        _ => Ok(None),
    }
}

/// Loads `KEY=VALUE` lines from a `.env` file into the environment, without overriding what is
/// already set. Called before any thread starts.
pub fn load_dotenv(path: &Path) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let pairs = text.lines().map(str::trim).filter(|line| !line.starts_with('#')).filter_map(|l| l.split_once('='));
    for (key, value) in pairs {
        let (key, value) = (key.trim(), value.trim().trim_matches('"'));
        if !key.is_empty() && !value.is_empty() && std::env::var_os(key).is_none() {
            // SAFETY: called from main before the runtime starts any thread.
            unsafe { std::env::set_var(key, value) };
        }
    }
}

/// Every required environment key that is not set, with the key of `provider` if it needs one.
pub fn missing(provider: &crate::providers::Route) -> Vec<&'static str> {
    let required = KEYS.iter().filter(|k| k.required).map(|k| k.name);
    required.chain(provider.key_env).filter(|k| env(k).ok().flatten().is_none()).collect()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The name the assistant answers to; the trigger is `@name`.
    pub assistant_name: String,
    /// Default time zone (IANA name) for prompts and scheduled tasks.
    pub timezone: String,
    /// Where the store, group folders and sockets live (relative to the install).
    pub data_dir: PathBuf,
    /// How many group containers may run at once.
    pub max_concurrent: usize,
    pub container: ContainerConfig,
    pub model: ModelConfig,
    pub retry: RetryConfig,
    /// Per-chat sender allowlists.
    pub senders: Vec<SenderAllowlist>,
    /// The channels to run, by name; empty runs every channel built into the install.
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContainerConfig {
    /// The runtime, by name: `docker`, or one a runtime skill built in (`runtimes/`).
    pub runtime: String,
    /// The engine's API socket; empty: the runtime's default.
    pub socket: String,
    pub image: String,
    pub memory_mb: i64,
    pub cpus: f64,
    pub pids: i64,
    /// How long a warm container waits for follow-up work.
    pub idle_timeout_secs: u64,
    /// The longest a single run may take.
    pub hard_timeout_secs: u64,
    /// The most output (stdout) one container may produce.
    pub output_cap_bytes: usize,
    /// The most stderr one container may produce.
    pub stderr_cap_bytes: usize,
    /// The file listing which host paths may be mounted into containers; kept outside the
    /// install so an agent that can edit the install cannot widen its own access.
    pub mount_allowlist: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Which provider route the proxy uses and the agent speaks (see src/providers/).
    pub provider: String,
    /// Where the credential proxy forwards model requests (default: the provider's own API).
    pub upstream: Option<String>,
    /// The model the agent asks for.
    pub name: String,
    /// Largest request body the proxy forwards.
    pub max_request_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub base_ms: u64,
    pub max_ms: u64,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderAllowlist {
    pub chat: String,
    pub allow: Vec<String>,
    pub mode: AllowMode,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            assistant_name: "Andy".into(),
            timezone: "UTC".into(),
            data_dir: "data".into(),
            max_concurrent: 5,
            container: ContainerConfig::default(),
            model: ModelConfig::default(),
            retry: RetryConfig::default(),
            senders: Vec::new(),
            channels: Vec::new(),
        }
    }
}

impl Default for ContainerConfig {
    fn default() -> ContainerConfig {
        ContainerConfig {
            runtime: "docker".into(),
            socket: String::new(),
            image: "claw-agent:latest".into(),
            memory_mb: 512,
            cpus: 1.0,
            pids: 256,
            idle_timeout_secs: 300,
            hard_timeout_secs: 1800,
            output_cap_bytes: 1 << 20,
            stderr_cap_bytes: 256 << 10,
            mount_allowlist: crate::mounts::expand_home(Path::new("~/.config/claw/mount-allowlist.toml")),
        }
    }
}

impl Default for ModelConfig {
    fn default() -> ModelConfig {
        ModelConfig {
            provider: "anthropic".into(),
            upstream: None,
            name: "claude-sonnet-4-5".into(),
            max_request_bytes: 16 << 20,
        }
    }
}

impl Default for RetryConfig {
    fn default() -> RetryConfig {
        RetryConfig { base_ms: 5_000, max_ms: 300_000, max_attempts: 5 }
    }
}

impl Config {
    /// Reads the configuration file at `path`; a missing file means all defaults.
    pub fn load(path: &Path) -> Result<Config, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        if config.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(format!("timezone: unknown time zone {:?}", config.timezone));
        }
        crate::providers::find(&config.model.provider)?;
        if config.max_concurrent == 0 {
            return Err("max_concurrent: must be at least 1".into());
        }
        if config.assistant_name.trim().is_empty() || config.assistant_name.contains(char::is_whitespace) {
            return Err(format!("assistant_name: {:?} must be one word", config.assistant_name));
        }
        Ok(config)
    }

    pub fn trigger(&self) -> String {
        format!("@{}", self.assistant_name)
    }

    /// Whether `sender` may wake the agent in `chat`, and what happens otherwise.
    pub fn sender_rule(&self, chat: &str, sender: &str) -> Option<(bool, AllowMode)> {
        self.senders.iter().find(|s| s.chat == chat).map(|s| (s.allow.iter().any(|a| a == sender), s.mode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::parse("assistant_name = \"Bob\"\n[container]\nmemory_mb = 256\n").unwrap();
        assert_eq!(c.trigger(), "@Bob");
        assert_eq!(c.container.memory_mb, 256);
        assert_eq!(c.container.pids, 256);
    }

    #[test]
    fn errors_name_the_key() {
        assert!(Config::parse("max_concurent = 3\n").unwrap_err().contains("max_concurent"));
        assert!(Config::parse("[container]\nmemory_mb = \"lots\"\n").unwrap_err().contains("memory_mb"));
        assert!(Config::parse("timezone = \"Mars/Base\"\n").unwrap_err().contains("timezone"));
        assert!(Config::parse("max_concurrent = 0\n").unwrap_err().contains("max_concurrent"));
        let unknown = Config::parse("[model]\nprovider = \"nope\"\n").unwrap_err();
        assert!(unknown.contains("[model] provider: \"nope\" is not built in (built in: anthropic"), "{unknown}");
        assert!(
            Config::parse("[[senders]]\nchat = \"x\"\nallow = []\nmode = \"maybe\"\n").unwrap_err().contains("mode")
        );
    }
}
