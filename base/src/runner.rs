//! The runner: one hardened container per group session, through the configured runtime
//! (Docker's engine unless `[container] runtime` names another; see `runtimes/`).
//! The container has no network, a read-only root, no capabilities, no way to gain privileges,
//! a non-root user and pids/memory/CPU limits; it sees only its group's folder (read-write), the
//! global memory (read-only) and a socket to the credential proxy. It speaks the protocol of
//! `claw-protocol` over its attached stdin and stdout; its stdout and stderr are capped by
//! reading and dropping, so a flood never stalls the host or the group's slot.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use claw_protocol::{FromAgent, MAX_LINE, ToAgent};
use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::config::ContainerConfig;
use crate::error::RunError;
use crate::mounts::Mount;
use crate::runtimes::{Output, Runtime};

/// The label that marks this host's containers, valued with its data directory, so orphans
/// from an earlier run of the same install can be found and removed.
const LABEL: &str = "claw.data";
/// How much of a container's stderr reaches the host's log (at debug); the rest is counted.
const STDERR_LOGGED: usize = 16 << 10;

/// What comes out of a running container.
#[derive(Debug)]
pub enum Event {
    Message(FromAgent),
    /// A line that is not valid protocol: logged and dropped, never fatal.
    Invalid(String),
    /// A stream passed its cap (`stream`, `cap` bytes): the rest is read and dropped until
    /// the owner stops the container.
    OverCap(&'static str, usize),
}

pub struct Runner {
    pub runtime: Arc<dyn Runtime>,
    config: ContainerConfig,
    data_dir: PathBuf,
    /// Settings for the agent (never a secret: the key stays in the proxy).
    env: Vec<String>,
}

/// A running group container.
pub struct Session {
    pub id: String,
    stdin: Pin<Box<dyn AsyncWrite + Send>>,
    events: mpsc::Receiver<Event>,
    runtime: Arc<dyn Runtime>,
    /// Follow-ups sent to this container so far (the `seq` of the last one).
    pub followups: u64,
}

impl Runner {
    pub async fn connect(config: ContainerConfig, data_dir: &Path, env: Vec<String>) -> Result<Runner, String> {
        let runtime = crate::runtimes::open(&config).await.map_err(|e| format!("{}: {e}", config.runtime))?.into();
        let data_dir = data_dir.canonicalize().map_err(|e| format!("{}: {e}", data_dir.display()))?;
        Ok(Runner { runtime, config, data_dir, env })
    }

    /// Removes every container an earlier run of this install left behind.
    pub async fn remove_orphans(&self) -> Result<usize, String> {
        let label = format!("{LABEL}={}", self.data_dir.display());
        let found = self.runtime.labelled(&label).await.map_err(|e| format!("{}: {e}", self.config.runtime))?;
        futures_util::future::join_all(found.iter().map(|id| self.runtime.remove(id))).await;
        Ok(found.len())
    }

    /// The container settings for a group: the hardening flags and the mounts, nothing else.
    pub fn container_body(&self, folder: &str, mounts: &[Mount]) -> ContainerCreateBody {
        let (uid, gid) = crate::ownership::agent_ids(&self.data_dir);
        let host_config = HostConfig {
            binds: Some(mounts.iter().map(Mount::bind).collect()),
            network_mode: Some("none".into()),
            readonly_rootfs: Some(true),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            pids_limit: Some(self.config.pids),
            memory: Some(self.config.memory_mb * 1024 * 1024),
            memory_swap: Some(self.config.memory_mb * 1024 * 1024),
            nano_cpus: Some((self.config.cpus * 1e9) as i64),
            tmpfs: Some(HashMap::from([("/tmp".to_string(), "rw,noexec,nosuid,nodev,size=64m".to_string())])),
            // Docker keeps its own copy of the output: bounded, whatever the daemon's default.
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(HashMap::from([("max-size".into(), "1m".into()), ("max-file".into(), "1".into())])),
            }),
            ..Default::default()
        };
        let fixed_env = ["HOME=/workspace/group", "CLAW_MODEL_SOCKET=/run/claw/model.sock"];
        ContainerCreateBody {
            image: Some(self.config.image.clone()),
            user: Some(format!("{uid}:{gid}")),
            working_dir: Some("/workspace/group".into()),
            env: Some(fixed_env.into_iter().map(String::from).chain(self.env.iter().cloned()).collect()),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            labels: Some(HashMap::from([
                (LABEL.to_string(), self.data_dir.display().to_string()),
                ("claw.group".to_string(), folder.to_string()),
            ])),
            host_config: Some(host_config),
            ..Default::default()
        }
    }

    /// Creates, attaches and starts a group's container; on failure none is left behind.
    pub async fn start(&self, folder: &str, mounts: &[Mount]) -> Result<Session, RunError> {
        self.start_with(folder, self.container_body(folder, mounts)).await
    }

    /// Starts a group's container with these settings (the benchmarks change its entry point).
    pub async fn start_with(&self, folder: &str, body: ContainerCreateBody) -> Result<Session, RunError> {
        let name = format!("claw-{folder}-{}", chrono::Utc::now().timestamp_millis());
        let attached = self.runtime.start(&name, body).await?;
        tracing::info!(group = folder, container = name, runtime = self.config.runtime, "started a container");
        let (tx, events) = mpsc::channel(64);
        let caps = (self.config.output_cap_bytes, self.config.stderr_cap_bytes);
        tokio::spawn(read_output(attached.output, tx, caps, name));
        Ok(Session { id: attached.id, stdin: attached.input, events, runtime: self.runtime.clone(), followups: 0 })
    }
}

impl Session {
    pub async fn send(&mut self, msg: &ToAgent) -> Result<(), String> {
        let line = claw_protocol::encode(msg);
        self.stdin.write_all(line.as_bytes()).await.map_err(|e| format!("writing to the agent: {e}"))?;
        self.stdin.flush().await.map_err(|e| format!("writing to the agent: {e}"))
    }

    /// The next event; `None` once the container's output has ended (it exited).
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The container's exit code, once it has stopped.
    pub async fn exit_code(&mut self) -> Option<i64> {
        self.runtime.exit_code(&self.id).await
    }

    /// Stops and removes the container. Its stdin is closed first, and its output is still
    /// being drained, so Docker never waits on a stream nobody reads.
    pub async fn stop(mut self) {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.stdin.shutdown()).await;
        drop(self.stdin);
        self.runtime.remove(&self.id).await;
    }
}

/// Splits stdout into protocol lines; stderr goes to the log at debug, up to `STDERR_LOGGED`
/// bytes, then one summary line. A stream past its cap (`caps`: stdout, stderr) is reported
/// once, then read and dropped: the stream drains to its end, so stopping the container never
/// waits on unread output.
async fn read_output(mut output: Output, tx: mpsc::Sender<Event>, caps: (usize, usize), name: String) {
    let mut buffer: Vec<u8> = Vec::new();
    let (mut out_total, mut err_total) = (0usize, 0usize);
    let mut skipping = false;
    // Once the owner stops listening (or a cap is passed), the rest is read and dropped.
    let mut listening = true;
    while let Some(Ok(chunk)) = output.next().await {
        let event = match chunk {
            LogOutput::StdOut { message } if listening => {
                out_total += message.len();
                if out_total > caps.0 {
                    listening = false;
                    let _ = tx.send(Event::OverCap("output", caps.0)).await;
                    continue;
                }
                // Every piece but the first starts a new line; a line is kept up to MAX_LINE bytes.
                for (i, piece) in message.split(|&b| b == b'\n').enumerate() {
                    if i > 0 {
                        let line = std::mem::take(&mut buffer);
                        let event = if std::mem::take(&mut skipping) {
                            Event::Invalid(format!("line over {MAX_LINE} bytes dropped"))
                        } else {
                            let text = String::from_utf8_lossy(&line);
                            claw_protocol::decode::<FromAgent>(text.trim()).map(Event::Message).unwrap_or_else(|e| {
                                Event::Invalid(format!("{e}: {}", text.chars().take(200).collect::<String>()))
                            })
                        };
                        if listening && tx.send(event).await.is_err() {
                            listening = false;
                        }
                    }
                    let room = MAX_LINE - buffer.len();
                    skipping |= piece.len() > room;
                    buffer.extend_from_slice(&piece[..piece.len().min(room)]);
                }
                continue;
            }
            LogOutput::StdErr { message } => {
                let logged = STDERR_LOGGED.saturating_sub(err_total).min(message.len());
                err_total += message.len();
                if logged > 0 {
                    let text = String::from_utf8_lossy(&message[..logged]);
                    tracing::debug!(container = %name, "agent: {}", text.trim_end());
                }
                if err_total <= caps.1 || !listening {
                    continue;
                }
                listening = false;
                Event::OverCap("stderr", caps.1)
            }
            _ => continue,
        };
        let _ = tx.send(event).await;
    }
    if err_total > STDERR_LOGGED {
        tracing::debug!(container = %name, "agent: {} more bytes of stderr not logged", err_total - STDERR_LOGGED);
    }
}
