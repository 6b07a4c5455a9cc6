//! Container runtimes: the engine that runs group containers. The base ships Docker
//! (`docker.rs`); a runtime skill adds a file here and one line at each slot below. Engines that
//! speak Docker's API reuse `Docker` with their own socket (Podman) or OCI runtime (gVisor).
//! `[container] runtime` in claw.toml picks one; the runner builds every container's settings
//! (the hardening) whatever the runtime.

pub mod docker;

use std::pin::Pin;

use bollard::container::LogOutput;
use bollard::models::ContainerCreateBody;
use tokio::io::AsyncWrite;

use crate::channels::BoxFuture;
use crate::config::ContainerConfig;
use crate::error::RunError;
pub use docker::Docker;

pub type Output = Pin<Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// A started container: its id, its stdin, and its stdout and stderr.
pub struct Attached {
    pub id: String,
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
    pub output: Output,
}

/// A container engine.
pub trait Runtime: Send + Sync {
    /// Where the engine's API is, e.g. `unix:///var/run/docker.sock`.
    fn endpoint(&self) -> String;
    /// Creates, attaches and starts container `name`; on failure none is left behind.
    fn start<'a>(&'a self, name: &'a str, body: ContainerCreateBody) -> BoxFuture<'a, Result<Attached, RunError>>;
    /// Kills and removes a container (by id or name); one already gone is no error.
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()>;
    /// The ids of every container labelled `label` (`key=value`), running or not.
    fn labelled<'a>(&'a self, label: &'a str) -> BoxFuture<'a, Result<Vec<String>, String>>;
    /// A stopped container's exit code, from inspecting it.
    fn exit_code<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<i64>>;
    /// Doctor's checks once the engine answers (the image is there, the runtime is set up): each
    /// a name, and what is fine or how to fix it.
    fn check<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Vec<(String, Result<String, String>)>>;
}

/// Connects to a runtime's engine, failing with what to do when it is not there.
pub type Open = fn(&ContainerConfig) -> BoxFuture<'static, Result<Box<dyn Runtime>, String>>;

/// Every runtime this install was built with, by name.
#[rustfmt::skip] // One entry per line: each runtime's registration is one line of diff.
pub fn registry() -> Vec<(&'static str, Open)> {
    vec![
        ("docker", docker::open),
    ]
}

/// Connects to the runtime `[container] runtime` names.
pub async fn open(config: &ContainerConfig) -> Result<Box<dyn Runtime>, String> {
    let built = registry();
    let Some((_, open)) = built.iter().find(|(name, _)| *name == config.runtime) else {
        let names = built.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
        return Err(format!("container.runtime: {:?} is not built into this install (it has {names})", config.runtime));
    };
    open(config).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unknown_runtime_is_an_error_naming_those_built_in() {
        let config = ContainerConfig { runtime: "gvsior".into(), ..ContainerConfig::default() };
        let err = open(&config).await.err().unwrap_or_default();
        assert!(err.contains("container.runtime: \"gvsior\" is not built into this install (it has docker"), "{err}");
    }
}
