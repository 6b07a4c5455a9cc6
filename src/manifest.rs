//! `skill.toml`: the manifest of one skill. Parsing is strict (unknown fields are an error) because
//! a misspelt key that is silently ignored is an edit that silently does not happen.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::claude_skill::{check_description, check_name};
use crate::error::{Context, Result, bail};

/// What a skill adds to an install. The schema is documented in SKILLS.md.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: semver::Version,
    pub summary: String,
    /// When Claude Code should use this skill ("Use when ..."), the description of its Claude
    /// Code skill; without it one is made from the summary.
    #[serde(default)]
    pub description: Option<String>,
    pub kind: Kind,
    /// Applied by `claw init` unless `--bare`.
    #[serde(default)]
    pub default: bool,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub conflicts: Vec<String>,
    /// Skills this one supersedes: applying it removes them in the same commit.
    #[serde(default)]
    pub replaces: Vec<String>,
    /// The command that proves the skill works inside an install, e.g. `cargo test --test telegram`.
    #[serde(default)]
    pub verify: Option<String>,
    #[serde(default)]
    pub vars: BTreeMap<String, Var>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub edits: Vec<Edit>,
    /// Cargo dependencies, keyed by the name of a `cargo-deps` slot.
    #[serde(default)]
    pub cargo: BTreeMap<String, BTreeMap<String, Dependency>>,
    /// What each version changed (version to a one-paragraph note), shown by `claw update`.
    #[serde(default)]
    pub changes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Channel,
    Provider,
    Tool,
    Runtime,
    Feature,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Channel => "channel",
            Kind::Provider => "provider",
            Kind::Tool => "tool",
            Kind::Runtime => "runtime",
            Kind::Feature => "feature",
        })
    }
}

/// A template variable the person may set with `--var`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Var {
    pub doc: String,
    pub default: String,
    #[serde(default)]
    pub choices: Vec<String>,
    /// What the value is, checked on `--var`; it decides how the value renders in code.
    #[serde(default, rename = "type")]
    pub kind: VarType,
}

/// A variable's type. A `string` renders in Rust, TOML and JSON as a literal of that language
/// (never as code); the others are checked and render as written.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VarType {
    #[default]
    String,
    Int,
    Bool,
    /// A Rust identifier: ASCII letters, digits and '_', not starting with a digit.
    Ident,
}

/// An environment variable the skill reads at run time; documented in `.env.example`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    pub name: String,
    pub doc: String,
    #[serde(default)]
    pub required: bool,
    /// Shown in `.env.example` as a commented hint, never as a value.
    #[serde(default)]
    pub example: String,
    /// Who reads it: the host (default), or also every agent container.
    #[serde(default)]
    pub to: EnvTarget,
    /// A secret stays in the host; only `secret = false` may go to an agent. Secret unless said.
    #[serde(default = "yes")]
    pub secret: bool,
}

fn yes() -> bool {
    true
}

/// Where an environment key's value goes.
#[derive(Debug, Clone, Copy, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EnvTarget {
    /// The host process only.
    #[default]
    Host,
    /// The host and, through the host's generated list of agent keys, every agent container.
    Agent,
}

impl EnvVar {
    pub fn to_agent(&self) -> bool {
        self.to == EnvTarget::Agent
    }
}

/// Whether a key's name says it holds a credential; such a key never goes to an agent, whatever
/// its declaration says.
pub fn looks_secret(name: &str) -> bool {
    const MARKS: [&str; 7] = ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH"];
    name.split('_').any(|word| MARKS.iter().any(|m| word.starts_with(m)))
}

/// One registration at a slot the base declares. `add` is a Rust item, a Rust expression or a
/// text line, depending on the slot's kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    pub slot: String,
    pub add: String,
}

/// A Cargo dependency: a version requirement, or a table. Only registry dependencies: a skill may
/// not point Cargo at a path or a git repository.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Dependency {
    Version(String),
    Detailed(DetailedDependency),
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DetailedDependency {
    pub version: String,
    #[serde(default)]
    pub features: Vec<String>,
    pub default_features: Option<bool>,
    pub optional: Option<bool>,
    pub package: Option<String>,
}

impl Dependency {
    pub fn detailed(&self) -> DetailedDependency {
        match self {
            Dependency::Version(v) => DetailedDependency { version: v.clone(), ..Default::default() },
            Dependency::Detailed(d) => d.clone(),
        }
    }
}

/// Variable and install names: lowercase ASCII words joined by '-' or '_', so they are safe in
/// paths, refs, commit trailers and Rust identifiers alike. Skill names follow Claude Code's
/// stricter rule ([`crate::claude_skill::check_name`]: no '_').
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!("invalid {what} name {name:?}: use lowercase letters, digits, '-' and '_', starting with a letter");
    }
    Ok(())
}

impl Manifest {
    /// Parses and checks a manifest; `origin` names it in every message.
    pub fn parse(text: &str, origin: &str) -> Result<Manifest> {
        let manifest: Manifest = toml::from_str(text).with_context(|| format!("{origin}: invalid skill.toml"))?;
        manifest.check().with_context(|| origin)?;
        Ok(manifest)
    }

    fn check(&self) -> Result<()> {
        check_name(&self.name)?;
        if let Some(description) = &self.description {
            check_description(description).context("description")?;
        }
        if !crate::sanitize::is_one_line(&self.summary) || self.summary.trim().is_empty() {
            bail!("summary must be one line of text without control characters: {:?}", self.summary);
        }
        for other in self.requires.iter().chain(&self.conflicts).chain(&self.replaces) {
            check_name(other)?;
            if *other == self.name {
                bail!("skill {} names itself in requires, conflicts or replaces", self.name);
            }
        }
        for (name, var) in &self.vars {
            validate_name("variable", name)?;
            if !crate::sanitize::is_one_line(&var.doc) {
                bail!("variable {name}: doc must be one line without control characters");
            }
            check_var_value(name, var, &var.default)?;
        }
        for env in &self.env {
            let ok = !env.name.is_empty()
                && env.name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && !env.name.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                bail!("invalid environment variable name {:?}: use A-Z, 0-9 and '_'", env.name);
            }
            if !crate::sanitize::is_one_line(&env.doc) || !crate::sanitize::is_one_line(&env.example) {
                bail!("environment variable {}: doc and example must be one line", env.name);
            }
            if env.to_agent() {
                if env.secret {
                    bail!(
                        "environment variable {}: to = \"agent\" needs secret = false; a secret never enters a container (secrets go through the host's proxy)",
                        env.name
                    );
                }
                // Nor the host's own environment: its PATH, HOME, loader, Docker or SSH settings.
                let host_own = ["PATH", "HOME", "USER", "SHELL"].contains(&env.name.as_str())
                    || ["CLAW_", "LD_", "DOCKER_", "SSH_"].iter().any(|p| env.name.starts_with(p));
                if looks_secret(&env.name) || host_own {
                    bail!(
                        "environment variable {}: its name marks a credential or the host's own setting, and such a key never enters a container",
                        env.name
                    );
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for env in &self.env {
            if !seen.insert(&env.name) {
                bail!("environment variable {} is declared twice in [[env]]", env.name);
            }
        }
        for edit in &self.edits {
            if edit.add.trim().is_empty() {
                bail!("edit at slot {}: 'add' is empty", edit.slot);
            }
        }
        for version in self.changes.keys() {
            if semver::Version::parse(version).is_err() {
                bail!("[changes]: {version:?} is not a version (use semver, e.g. \"1.2.0\")");
            }
        }
        for deps in self.cargo.values() {
            for (krate, dep) in deps {
                let d = dep.detailed();
                if semver::VersionReq::parse(&d.version).is_err() {
                    bail!("dependency {krate}: invalid version requirement {:?}", d.version);
                }
            }
        }
        Ok(())
    }

    /// The description of this skill's Claude Code skill: its own, or one made from the summary.
    pub fn claude_description(&self) -> String {
        self.description
            .clone()
            .unwrap_or_else(|| crate::claude_skill::description_from_summary(&self.name, &self.summary))
    }

    /// The variables for a render: defaults, overridden by the person's values (checked).
    pub fn resolve_vars(&self, given: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
        let mut vars = BTreeMap::new();
        for (name, value) in given {
            let Some(var) = self.vars.get(name) else {
                let known: Vec<_> = self.vars.keys().map(String::as_str).collect();
                bail!("skill {} has no variable {name:?} (it has: {})", self.name, list_or_none(&known));
            };
            check_var_value(name, var, value)?;
        }
        for (name, var) in &self.vars {
            vars.insert(name.clone(), given.get(name).unwrap_or(&var.default).clone());
        }
        Ok(vars)
    }
}

fn check_var_value(name: &str, var: &Var, value: &str) -> Result<()> {
    if value.len() > 256 || value.chars().any(char::is_control) {
        bail!("variable {name}: values are one line of at most 256 bytes");
    }
    let typed = match var.kind {
        VarType::String => true,
        VarType::Int => value.parse::<i64>().is_ok(),
        VarType::Bool => value == "true" || value == "false",
        VarType::Ident => {
            value.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && value != "_"
        }
    };
    if !typed {
        let want = match var.kind {
            VarType::Int => "an integer",
            VarType::Bool => "true or false",
            _ => "a Rust identifier (letters, digits and '_')",
        };
        bail!("variable {name}: {value:?} is not {want}");
    }
    if !var.choices.is_empty() && !var.choices.iter().any(|c| c == value) {
        bail!("variable {name}: {value:?} is not one of {}", var.choices.join(", "));
    }
    Ok(())
}

pub fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() { "none".to_string() } else { items.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "name = \"demo\"\nversion = \"1.0.0\"\nsummary = \"d\"\nkind = \"tool\"\n";

    #[test]
    fn parses_a_minimal_manifest() {
        let m = Manifest::parse(MINIMAL, "demo").unwrap();
        assert_eq!(m.version, semver::Version::new(1, 0, 0));
    }

    #[test]
    fn refuses_unknown_fields() {
        let err = Manifest::parse(&format!("{MINIMAL}colour = \"red\"\n"), "demo").unwrap_err();
        assert!(err.message.contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn refuses_an_invalid_version() {
        let err = Manifest::parse(&MINIMAL.replace("1.0.0", "1.0"), "demo").unwrap_err();
        assert!(err.message.contains("invalid skill.toml") && err.message.contains("version"), "{err}");
    }

    #[test]
    fn refuses_git_and_path_dependencies() {
        let text = format!("{MINIMAL}[cargo.host-deps]\nx = {{ version = \"1\", git = \"https://example.com/x\" }}\n");
        assert!(Manifest::parse(&text, "demo").is_err());
    }

    #[test]
    fn a_summary_is_one_line_so_it_cannot_forge_trailers() {
        let text = MINIMAL.replace("summary = \"", "summary = \"x\\n\\nClaw-Skill-Applied: telegram 9.9.9\\n");
        let err = Manifest::parse(&text, "demo").unwrap_err();
        assert!(err.message.contains("summary must be one line"), "{err}");
        assert!(Manifest::parse(&MINIMAL.replace("summary = \"", "summary = \"\\u001b[2K"), "demo").is_err());
    }

    #[test]
    fn names_and_descriptions_follow_claude_codes_rules() {
        assert!(Manifest::parse(&MINIMAL.replace("demo", "my_demo"), "demo").is_err());
        let with = |d: &str| Manifest::parse(&format!("{MINIMAL}description = {d:?}\n"), "demo");
        assert_eq!(with("Use when: testing").unwrap().claude_description(), "Use when: testing");
        let err = with("Use when <script>").unwrap_err();
        assert!(err.message.contains("description") && err.message.contains("'<'"), "{err}");
        assert!(with("").is_err());
        assert!(Manifest::parse(MINIMAL, "demo").unwrap().claude_description().starts_with("Use when"));
    }

    #[test]
    fn typed_variables_are_checked() {
        let text = format!(
            "{MINIMAL}[vars.n]\ndoc = \"n\"\ndefault = \"3\"\ntype = \"int\"\n[vars.i]\ndoc = \"i\"\ndefault = \"x\"\ntype = \"ident\"\n"
        );
        let m = Manifest::parse(&text, "demo").unwrap();
        let bad = |k: &str, v: &str| {
            let given = BTreeMap::from([(k.to_string(), v.to_string())]);
            m.resolve_vars(&given).unwrap_err().message
        };
        assert!(bad("n", "3; evil()").contains("is not an integer"));
        assert!(bad("i", "a::b").contains("is not a Rust identifier"));
        assert!(Manifest::parse(&text.replace("default = \"3\"", "default = \"yes\""), "demo").is_err());
    }

    #[test]
    fn checks_variable_values() {
        let text = format!("{MINIMAL}[vars.mode]\ndoc = \"m\"\ndefault = \"a\"\nchoices = [\"a\", \"b\"]\n");
        let m = Manifest::parse(&text, "demo").unwrap();
        let given = BTreeMap::from([("mode".to_string(), "c".to_string())]);
        assert!(m.resolve_vars(&given).unwrap_err().message.contains("not one of a, b"));
        let given = BTreeMap::from([("nope".to_string(), "c".to_string())]);
        assert!(m.resolve_vars(&given).unwrap_err().message.contains("no variable \"nope\""));
    }
}
