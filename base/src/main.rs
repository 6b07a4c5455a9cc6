//! The orchestrator of a claw install: channels in, one sandboxed agent per group out.
//!
//!     claw-host run                          run the orchestrator
//!     claw-host register JID NAME FOLDER [--main] [--no-trigger]
//!     claw-host doctor                       check the container runtime, the image, credentials, groups, disk
//!     claw-host service systemd|launchd      print a service definition for this install

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use claw_host::config::{self, Config};
use claw_host::store::{Group, Store};
use claw_host::{channels, doctor, host, memory, ownership, providers, proxy, runner, scheduler, service};

const USAGE: &str =
    "usage: claw-host run | register JID NAME FOLDER [--main] [--no-trigger] | doctor | service systemd|launchd";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    claw_host::ownership::restrict_process();
    config::load_dotenv(std::path::Path::new(".env"));
    let level = std::env::var("CLAW_LOG").ok().and_then(|l| l.parse().ok()).unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(level).with_target(false).init();
    let config_path = std::env::var("CLAW_CONFIG").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("claw.toml"));
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&config_path),
        Some("register") => register(&config_path, &args[1..]),
        Some("doctor") => runtime().and_then(|rt| rt.block_on(doctor::doctor(&config_path))),
        Some("service") => service::print(args.get(1).map(String::as_str).unwrap_or("")),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.into()),
    };
    if let Err(e) = result {
        eprintln!("claw-host: {e}");
        std::process::exit(1);
    }
}

/// One thread: the host waits on channels, Docker and SQLite, it does not compute; a single
/// thread (and one malloc arena) keeps its idle memory small.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    // SAFETY: mallopt only tunes glibc's allocator; called before any other thread exists.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("starting the runtime: {e}"))
}

fn run(config_path: &std::path::Path) -> Result<(), String> {
    let config = Config::load(config_path)?;
    ownership::narrow(std::path::Path::new(".env"), 0o600);
    let route = providers::find(&config.model.provider)?;
    let missing = config::missing(&route);
    if !missing.is_empty() {
        return Err(format!("missing configuration: {} (see .env.example)", missing.join(", ")));
    }
    let key = route.key_env.map(config::env).transpose()?.flatten().unwrap_or_default();
    // SAFETY: no other thread exists yet. Every model key leaves the environment so nothing this
    // process starts can inherit it; the chosen one lives on only inside the proxy.
    providers::registry().iter().filter_map(|r| r.key_env).for_each(|name| unsafe { std::env::remove_var(name) });
    let runtime = runtime()?;
    let result = runtime.block_on(serve(config, route, key));
    // The terminal channel's stdin reader may be blocked in a read; do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    result
}

async fn serve(mut config: Config, route: providers::Route, key: String) -> Result<(), String> {
    let data_dir = std::fs::create_dir_all(&config.data_dir)
        .and_then(|()| config.data_dir.canonicalize())
        .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
    config.data_dir = data_dir.clone();
    ownership::narrow(&data_dir, 0o700);
    ownership::narrow(&data_dir.join("claw.db"), 0o600);
    let store = Store::open(&data_dir.join("claw.db"))?;
    let mut agent_env = vec![
        format!("CLAW_ASSISTANT_NAME={}", config.assistant_name),
        format!("CLAW_MODEL={}", config.model.name),
        format!("CLAW_PROVIDER={}", route.provider),
    ];
    agent_env.extend(config::agent_env());
    let runner = runner::Runner::connect(config.container.clone(), &data_dir, agent_env).await?;
    let orphans = runner.remove_orphans().await?;
    if orphans > 0 {
        tracing::info!(orphans, "removed containers left by an earlier run");
    }
    let (usage_tx, mut usage_rx) = mpsc::unbounded_channel::<(String, u64, u64)>();
    let usage: proxy::UsageSink = Arc::new(move |folder: &str, input, output| {
        let _ = usage_tx.send((folder.to_string(), input, output));
    });
    let proxy = proxy::Proxy::new(route, &config.model, &key, usage)?;
    let channels = channels::open(&config)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let host = host::Host::new(config, store, channels, runner, proxy, Arc::new(scheduler::SystemClock), shutdown_rx);
    host.load_groups()?;
    let (tx, rx) = mpsc::channel(4096);
    for channel in &host.channels {
        channel.connect(tx.clone()).await.map_err(|e| format!("channel {}: {e}", channel.name()))?;
    }
    drop(tx);
    host.recover()?;
    tokio::spawn(host.clone().ingest(rx));
    tokio::spawn(host.clone().run_scheduler());
    let recorder = host.clone();
    tokio::spawn(async move {
        while let Some((folder, input, output)) = usage_rx.recv().await {
            if let Err(e) = recorder.store().add_usage(&folder, input, output) {
                tracing::warn!("recording usage: {e}");
            }
        }
    });
    tokio::spawn(memory::trim_periodically(std::time::Duration::from_secs(5)));
    tracing::info!("claw-host is running");
    wait_for_signal().await;
    tracing::info!("shutting down: finishing runs in progress");
    let _ = shutdown_tx.send(true);
    // Workers finish or cut off their runs and remove their containers; unfinished batches
    // stay after their cursor and run again at the next start.
    let grace = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while host.busy() > 0 && tokio::time::Instant::now() < grace {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn register(config_path: &std::path::Path, args: &[String]) -> Result<(), String> {
    let config = Config::load(config_path)?;
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let [jid, name, folder] = positional.as_slice() else {
        return Err("usage: claw-host register JID NAME FOLDER [--main] [--no-trigger]".into());
    };
    let flag = |f: &str| args.iter().any(|a| a == f);
    let group = Group {
        jid: jid.to_string(),
        name: name.to_string(),
        folder: folder.to_string(),
        trigger: config.trigger(),
        is_main: flag("--main"),
        requires_trigger: !flag("--no-trigger"),
        mounts: vec![],
    };
    let store = Store::open(&config.data_dir.join("claw.db"))?;
    store.register_group(&group, &scheduler::stamp(chrono::Utc::now()))?;
    println!("registered {jid} as group {folder}{}", if group.is_main { " (main)" } else { "" });
    Ok(())
}
