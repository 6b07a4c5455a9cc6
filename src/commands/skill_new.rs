//! `claw skill new NAME --kind channel|tool|provider`: a skill folder that passes `claw skill
//! check` as written (manifest, a template with a variable, its registrations, a test), to be
//! edited from there. The starting code is in `src/scaffold/`.

use std::path::Path;

use crate::claude_skill::check_name;
use crate::error::{Context, Result, bail};

/// The kinds of skill `new` can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NewKind {
    Channel,
    Tool,
    Provider,
}

/// Rust's reserved words: a module cannot take one of these names.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn",
    "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self",
    "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "abstract", "become",
    "box", "do", "final", "macro", "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

pub fn new(dir: &Path, name: &str, kind: NewKind) -> Result<()> {
    check_name(name)?;
    let folder = dir.join(name);
    if folder.exists() {
        bail!("{} already exists; pick another name or remove it", folder.display());
    }
    let module = module_name(name);
    let type_name = type_name(name);
    let env = format!("{}_TOKEN", name.to_ascii_uppercase().replace('-', "_"));
    let fill = |text: &str| {
        text.replace("__NAME__", name)
            .replace("__MODULE__", &module)
            .replace("__TYPE__", &type_name)
            .replace("__ENV__", &env)
    };
    let (manifest, files): (String, Vec<(String, String)>) = match kind {
        NewKind::Tool => (
            format!(
                "{}kind = \"tool\"\nverify = \"cargo test -p claw-agent -- tools::{module}::\"\n\n\
                 [vars.greeting]\ndoc = \"What the tool answers with\"\ndefault = \"hello from {name}\"\n\n\
                 [[edits]]\nslot = \"tool-modules\"\nadd = \"mod {module};\"\n\n\
                 [[edits]]\nslot = \"tools\"\nadd = \"Box::new({module}::{type_name})\"\n",
                header(name, "an agent tool", "the agent to use the")
            ),
            vec![(format!("files/agent/src/tools/{module}.rs.j2"), fill(include_str!("../scaffold/tool.rs.j2")))],
        ),
        NewKind::Provider => (
            format!(
                "{}kind = \"provider\"\nverify = \"cargo test -p claw-agent -- providers::{module}::\"\n\n\
                 [vars.model]\ndoc = \"The model asked for unless CLAW_MODEL names another\"\ndefault = \"{name}-large\"\n\n\
                 [[edits]]\nslot = \"provider-modules\"\nadd = \"pub mod {module};\"\n\n\
                 [[edits]]\nslot = \"providers\"\nadd = \"Box::new({module}::{type_name}::from_env())\"\n",
                header(name, "a model provider", "the agent to answer with the")
            ),
            vec![(
                format!("files/agent/src/providers/{module}.rs.j2"),
                fill(include_str!("../scaffold/provider.rs.j2")),
            )],
        ),
        NewKind::Channel => (
            format!(
                "{}kind = \"channel\"\nverify = \"cargo test --test {name}\"\n\n\
                 [vars.max_len]\ndoc = \"The longest message the platform accepts, in characters\"\ndefault = \"4000\"\ntype = \"int\"\n\n\
                 [[env]]\nname = \"{env}\"\ndoc = \"The {name} platform's token (stays in the host)\"\nrequired = true\n\n\
                 [[edits]]\nslot = \"channel-modules\"\nadd = \"pub mod {module};\"\n\n\
                 [[edits]]\nslot = \"channels\"\nadd = '(\"{name}\", {module}::open)'\n",
                header(name, "a chat channel", "to chat with their assistant on the")
            ),
            vec![
                (format!("files/src/channels/{module}.rs.j2"), fill(include_str!("../scaffold/channel.rs.j2"))),
                (format!("tests/{name}.rs"), fill(include_str!("../scaffold/channel_test.rs"))),
            ],
        ),
    };
    let instructions = instructions(name, kind);
    let mut all = vec![("skill.toml".to_string(), manifest), ("SKILL.md".to_string(), instructions)];
    all.extend(files);
    for (path, text) in &all {
        let path = folder.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let shown = folder.display();
    let skills = dir.display();
    println!("Created {shown}:");
    for (path, _) in &all {
        println!("  {path}");
    }
    println!(
        "Next: edit it, then `claw --skills {skills} skill check {name}`, and try it in an install with \
         `claw --skills {skills} skill apply {name} --dry-run`."
    );
    Ok(())
}

fn header(name: &str, what: &str, use_when: &str) -> String {
    format!(
        "name = \"{name}\"\nversion = \"0.1.0\"\nsummary = \"{name}: {what} (say in one line what it adds)\"\n\
         description = \"Use when the person wants {use_when} {name} {what_short}, or to set up, check or remove it.\"\n",
        what_short = what.trim_start_matches("an ").trim_start_matches("a ")
    )
}

fn instructions(name: &str, kind: NewKind) -> String {
    let (what, setup) = match kind {
        NewKind::Tool => (
            "an agent tool",
            "Nothing to set: the tool is built into the agent image. Rebuild the image (`bash container/build.sh`).",
        ),
        NewKind::Provider => (
            "a model provider",
            "Set `CLAW_PROVIDER` for the agent to pick this provider, and give its key to the host (never to a container). Rebuild the image (`bash container/build.sh`).",
        ),
        NewKind::Channel => (
            "a chat channel",
            "Create the bot or app on the platform and write its token in `.env` (see `.env.example`); never paste it in a chat. Then register a chat and restart the host.",
        ),
    };
    format!(
        "# {name}\n\n{name} is {what}. Say here what it adds and why its crates were chosen.\n\n\
         ## Set up\n\n{setup}\n\n## Verify\n\nRun the `verify` command of skill.toml in the install, then `claw doctor`.\n\n\
         ## Remove\n\n`claw skill remove {name}`: the exact inverse, one commit.\n"
    )
}

/// The skill's Rust module: its name with '_' for '-', and `_skill` after a reserved word.
pub fn module_name(name: &str) -> String {
    let module = name.replace('-', "_");
    if KEYWORDS.contains(&module.as_str()) { format!("{module}_skill") } else { module }
}

/// The skill's Rust type: its name in upper camel case (`my-tool` gives `MyTool`).
fn type_name(name: &str) -> String {
    name.split('-')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_rust_names() {
        assert_eq!(module_name("my-tool"), "my_tool");
        assert_eq!(module_name("type"), "type_skill");
        assert_eq!(type_name("my-tool-2"), "MyTool2");
        assert_eq!(type_name("a--b"), "AB");
    }
}
