//! The command line (clap). Thin: each command is a function in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Examples:
  claw init my-agent                          a new install: base + default skills, one commit
  claw skill list                             the catalogue, and what is applied
  claw skill apply telegram --replace whatsapp --dry-run
  claw skill apply telegram --replace whatsapp
  claw status                                 base, skills, your edits, updates, anything pending
  claw update --dry-run                       what a newer claw (or skills folder) would change
  claw diff                                   your edits against the generated tree

Exit codes:
  0  success (including a change that had nothing to do)
  1  failure: bad input, refused skill, dirty work tree; nothing was written
  2  usage error
  3  conflicts with your edits (nothing written, or markers left with --conflicts markers)
  4  the install is locked by another claw process";

#[derive(Debug, Parser)]
#[command(name = "claw", version, about = "Generates your own agent install from a small base and skills, and keeps your edits through every change", after_help = AFTER_HELP)]
pub struct Cli {
    /// Run as if claw was started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR", default_value = ".")]
    pub cwd: PathBuf,

    /// Add the skills in DIR to the built-in catalogue (a name in DIR shadows the built-in one).
    #[arg(long, global = true, env = "CLAW_SKILLS", value_name = "DIR")]
    pub skills: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new install in DIR: a git repository with one commit.
    #[command(
        after_help = "Examples:\n  claw init my-agent\n  claw init my-agent --bare\n  claw init my-agent --skill telegram"
    )]
    Init {
        dir: PathBuf,
        /// Also apply this skill (repeatable).
        #[arg(long = "skill", value_name = "NAME")]
        with_skills: Vec<String>,
        /// Apply no default skills.
        #[arg(long)]
        bare: bool,
        /// Set a skill variable: SKILL.KEY=VALUE.
        #[arg(long = "var", value_name = "SKILL.KEY=VALUE")]
        vars: Vec<String>,
        /// Do not ask before applying skills that are not built in.
        #[arg(long)]
        yes: bool,
        /// Allow skills that are not built in to add what runs code at build or edit time
        /// (build scripts, proc-macros, .cargo/, toolchain files, editor and agent settings).
        #[arg(long)]
        allow_build_code: bool,
    },
    /// List, inspect, apply and remove skills.
    #[command(subcommand)]
    Skill(SkillCommand),
    /// Show the base version, the applied skills, your own edits and anything pending.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Bring newer versions of the base and applied skills: built-in ones from this claw, local
    /// ones from --skills DIR. Shows each version's notes and the diff, then commits.
    #[command(after_help = "Examples:\n  claw update --dry-run\n  claw update\n  claw update whatsapp --dry-run")]
    Update {
        /// Only these skills (default: the base and every applied skill).
        names: Vec<String>,
        #[command(flatten)]
        change: ChangeArgs,
        /// Do not ask before updating skills that are not built in.
        #[arg(long)]
        yes: bool,
        /// Allow skills that are not built in to add what runs code at build or edit time
        /// (build scripts, proc-macros, .cargo/, toolchain files, editor and agent settings).
        #[arg(long)]
        allow_build_code: bool,
    },
    /// Show your customisations: the work tree against the generated (pristine) tree.
    Diff {
        /// Print a summary as JSON: each changed file with its status and line counts.
        #[arg(long)]
        json: bool,
    },
    /// Check that the install can run: Docker, the agent image, credentials, the model API,
    /// groups, disk space (builds the install's host and runs its `doctor`).
    Doctor {
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Commit a change stopped on conflicts, once every conflict marker is resolved.
    Continue,
    /// Drop a change stopped on conflicts and restore the last commit.
    Abort,
}

#[derive(Debug, Subcommand)]
pub enum SkillCommand {
    /// The catalogue: each skill, whether it is applied, what it needs.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Everything about one skill: variables, environment, edits, dependencies, instructions.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Apply skills to this install, as one commit.
    #[command(
        after_help = "Examples:\n  claw skill apply telegram\n  claw skill apply telegram --replace whatsapp --dry-run\n  claw skill apply telegram --replace whatsapp\n\nFrom a git repository, pinned to a commit (recorded in .claw/install.toml):\n  claw skill apply NAME --from /srv/skills.git@FULL_COMMIT_ID --dry-run"
    )]
    Apply {
        #[arg(required = true)]
        names: Vec<String>,
        /// Remove this skill in the same commit (repeatable).
        #[arg(long, value_name = "OLD")]
        replace: Vec<String>,
        #[command(flatten)]
        change: ChangeArgs,
        /// Set a skill variable: KEY=VALUE (one skill) or SKILL.KEY=VALUE.
        #[arg(long = "var", value_name = "KEY=VALUE")]
        vars: Vec<String>,
        /// Take the skill from a git repository, pinned to a full commit id (one skill). The
        /// commit is recorded; a branch that moves later changes nothing.
        #[arg(long, value_name = "URL@COMMIT")]
        from: Option<String>,
        /// Do not ask before applying skills that are not built in.
        #[arg(long)]
        yes: bool,
        /// Allow skills that are not built in to add what runs code at build or edit time
        /// (build scripts, proc-macros, .cargo/, toolchain files, editor and agent settings).
        #[arg(long)]
        allow_build_code: bool,
    },
    /// Remove skills from this install, as one commit; your own edits stay.
    Remove {
        #[arg(required = true)]
        names: Vec<String>,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Start a new skill: a folder that passes `claw skill check` as written.
    #[command(
        after_help = "Examples:\n  claw skill new my-tool --kind tool --dir my-skills\n  claw skill new my-chat --kind channel --dir my-skills\n\nThen: claw --skills my-skills skill check my-tool"
    )]
    New {
        name: String,
        #[arg(long, value_enum)]
        kind: crate::commands::NewKind,
        /// The skills folder to create it in (default: the --skills folder, else ./skills).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Check skills: manifest, templates with every choice, apply on the base, every compatible
    /// pair in both orders, one `cargo check` of an install holding them all, their own tests.
    /// Builds and runs the skills' code: check only skills you would apply.
    #[command(
        after_help = "Examples:\n  claw skill check telegram --no-build        manifest, templates, apply and pairs: seconds\n  claw skill check --all --no-build           the whole catalogue and the --skills folder\n\nWithout --no-build it also runs one cargo check of an install holding every compatible skill
(in CARGO_TARGET_DIR, else ~/.cache/claw/check-target), then each skill's verify command or
tests; --no-tests stops after the cargo check. Exit code 1 when any check fails.
Skills under development: claw --skills DIR skill check NAME."
    )]
    Check {
        names: Vec<String>,
        /// Every skill: the built-in catalogue and the --skills folder.
        #[arg(long)]
        all: bool,
        /// Skip the cargo check and the tests (the slow steps).
        #[arg(long)]
        no_build: bool,
        /// Skip the skills' own tests.
        #[arg(long)]
        no_tests: bool,
        /// Print the report as JSON (one row per step, with its time).
        #[arg(long)]
        json: bool,
    },
    /// Turn your edits in this install (the work tree against the generated tree) into a skill
    /// folder: new files, lines added at slots, Cargo dependencies. Anything else is reported.
    #[command(
        after_help = "Examples:\n  claw skill capture mine --dir my-skills\n\nThen: claw --skills my-skills skill check mine"
    )]
    Capture {
        name: String,
        /// The skills folder to write it in (default: the --skills folder, else ./skills).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Print what each edited path became as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args, Clone, Copy)]
pub struct ChangeArgs {
    /// Print the exact diff and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// On conflicts with your edits: write nothing (abort), or leave diff3 markers to resolve.
    #[arg(long, value_enum, default_value_t = ConflictMode::Abort)]
    pub conflicts: ConflictMode,
    /// Allow uncommitted changes in paths the change does not touch.
    #[arg(long)]
    pub allow_dirty: bool,
    /// Print the outcome as JSON (with --dry-run: the capability report, the diff and its files).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConflictMode {
    Abort,
    Markers,
}
