//! `claw`: writes a person's own agent install from `base/` and skills, and rewrites it as skills
//! are applied and removed, every change one reviewable git commit.

mod base;
mod capability;
mod cargo_edit;
mod catalog;
mod catalogue_lock;
mod change;
mod claude_code;
mod claude_skill;
mod cli;
mod commands;
mod compose;
mod embedded;
mod env_keys;
mod error;
mod follow_head;
mod git_locks;
mod git_source;
mod install;
mod install_record;
mod journal;
mod lock;
mod lockfile;
mod manifest;
mod merge;
mod pager;
mod pending;
mod relpath;
mod render;
mod repo;
mod rust_edit;
mod sanitize;
mod sources;
mod suggest;
mod text_edit;
mod tree;
mod workdir;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `println!` panics when its reader has gone (`claw status | head -1`): that is the person
    // cutting the output short, not a failure, so it ends quietly with success.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info.payload().downcast_ref::<String>().map(String::as_str).unwrap_or_default();
        if text.starts_with("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.code == error::Code::OutputClosed => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("claw: {}", e.message.trim_end());
            ExitCode::from(e.code as u8)
        }
    }
}
