//! Docker's engine through its API (bollard). Engines that speak the same API reuse it: with
//! their own socket (Podman), or with another OCI runtime registered with the engine (gVisor).

use std::collections::HashMap;

use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, WaitContainerOptions,
};
use futures_util::StreamExt;

use super::{Attached, Runtime};
use crate::channels::BoxFuture;
use crate::config::ContainerConfig;
use crate::error::RunError;

pub struct Docker {
    client: bollard::Docker,
    endpoint: String,
    /// The OCI runtime every container runs under (`HostConfig.runtime`); `None`: the engine's
    /// default. Doctor checks that the engine has it.
    pub oci_runtime: Option<&'static str>,
    /// Any other setting this engine needs on every container (e.g. rootless Podman's userns).
    pub adjust: fn(&mut HostConfig),
    /// How to set this runtime up (empty for Docker itself), said wherever a check or a start
    /// fails for want of it.
    pub setup: &'static str,
}

/// Docker itself, at `[container] socket` or else `DOCKER_HOST` or Docker's own socket.
pub fn open(config: &ContainerConfig) -> BoxFuture<'static, Result<Box<dyn Runtime>, String>> {
    let socket = config.socket.clone();
    Box::pin(async move { Ok(Box::new(Docker::connect(&socket, "").await?) as _) })
}

/// Why the engine did not answer, and what to do: a socket this user may not open is not a
/// stopped engine.
fn unreachable(e: &str, endpoint: &str, setup: &str) -> String {
    if e.to_lowercase().contains("permission denied") {
        return format!(
            "{endpoint} is not open to this user ({e}); add the user to the engine's group \
             (for Docker: sudo usermod -aG docker $USER, then log in again) or run the engine rootless"
        );
    }
    let fix = if setup.is_empty() { "is the Docker engine running?" } else { setup };
    format!("not reachable at {endpoint}: {e}; {fix}")
}

impl Docker {
    /// Connects to the engine at `socket` (a path or `unix://` URL; empty: Docker's default) and
    /// agrees on an API version with it.
    pub async fn connect(socket: &str, setup: &'static str) -> Result<Docker, String> {
        let endpoint = match socket {
            "" => std::env::var("DOCKER_HOST").ok().filter(|h| h.starts_with("unix://")),
            path => Some(format!("unix://{}", path.trim_start_matches("unix://"))),
        };
        let endpoint = endpoint.unwrap_or_else(|| "unix:///var/run/docker.sock".into());
        let client = bollard::Docker::connect_with_socket(&endpoint, 120, bollard::API_DEFAULT_VERSION);
        let fail = |e: DockerError| unreachable(&e.to_string(), &endpoint, setup);
        let client = client.map_err(fail)?.negotiate_version().await.map_err(fail)?;
        Ok(Docker { client, endpoint, oci_runtime: None, adjust: |_| {}, setup })
    }

    /// `why`, with how to set this runtime up.
    fn with_setup(&self, why: String) -> String {
        if self.setup.is_empty() { why } else { format!("{why}; {}", self.setup) }
    }

    async fn run(&self, name: &str, mut body: ContainerCreateBody) -> Result<Attached, RunError> {
        if let Some(host_config) = body.host_config.as_mut() {
            host_config.runtime = self.oci_runtime.map(String::from);
            (self.adjust)(host_config);
        }
        let image = body.image.clone().unwrap_or_default();
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        let id = match self.client.create_container(Some(options), body).await {
            Ok(created) => created.id,
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {
                return Err(RunError::Permanent(format!("the agent image {image} is missing: run container/build.sh")));
            }
            Err(e) => {
                // A create that failed late may still have made the container.
                self.remove(name).await;
                return Err(RunError::Transient(self.with_setup(format!("creating {name}: {e}"))));
            }
        };
        let attach = AttachContainerOptionsBuilder::new().stdin(true).stdout(true).stderr(true).stream(true).build();
        let started = async {
            let attached =
                self.client.attach_container(&id, Some(attach)).await.map_err(|e| format!("attaching: {e}"))?;
            // On failure the attached streams are dropped before the container is removed.
            self.client.start_container(&id, None).await.map_err(|e| format!("starting {name}: {e}"))?;
            Ok::<_, String>(attached)
        };
        match started.await {
            Ok(attached) => Ok(Attached { id, input: attached.input, output: attached.output }),
            Err(why) => {
                self.remove(&id).await;
                Err(RunError::Transient(why))
            }
        }
    }
}

impl Runtime for Docker {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    fn start<'a>(&'a self, name: &'a str, body: ContainerCreateBody) -> BoxFuture<'a, Result<Attached, RunError>> {
        Box::pin(self.run(name, body))
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let options = RemoveContainerOptionsBuilder::new().force(true).build();
            // Podman may refuse while the container is still stopping or attached: try again.
            for attempt in 0..5 {
                match self.client.remove_container(id, Some(options.clone())).await {
                    Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => return,
                    Err(_) if attempt < 4 => tokio::time::sleep(std::time::Duration::from_millis(250 << attempt)).await,
                    Err(e) => tracing::warn!(container = id, "removing container: {e}"),
                }
            }
        })
    }

    fn labelled<'a>(&'a self, label: &'a str) -> BoxFuture<'a, Result<Vec<String>, String>> {
        Box::pin(async move {
            let filters = HashMap::from([("label", vec![label.to_string()])]);
            let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
            let found =
                self.client.list_containers(Some(options)).await.map_err(|e| format!("listing containers: {e}"))?;
            Ok(found.into_iter().filter_map(|container| container.id).collect())
        })
    }

    fn exit_code<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<i64>> {
        // Waited for, not inspected: an engine may report the exit a moment after the output ends
        // (Podman does). Bounded, as a container may close its output and live on.
        let mut wait = Box::pin(self.client.wait_container(id, None::<WaitContainerOptions>));
        Box::pin(async move {
            match tokio::time::timeout(std::time::Duration::from_secs(5), wait.next()).await.ok()?? {
                Ok(exit) => Some(exit.status_code),
                Err(DockerError::DockerContainerWaitError { code, .. }) => Some(code),
                Err(_) => None,
            }
        })
    }

    fn check<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Vec<(String, Result<String, String>)>> {
        Box::pin(async move {
            let present = self.client.inspect_image(image).await.map(|_| format!("{image} present"));
            let missing = |_| self.with_setup(format!("{image} missing; build it with container/build.sh"));
            let mut checks = vec![("image".into(), present.map_err(missing))];
            if let Some(oci) = self.oci_runtime {
                let runtimes = self.client.info().await.ok().and_then(|info| info.runtimes).unwrap_or_default();
                let at = &self.endpoint;
                let registered = runtimes.contains_key(oci).then(|| format!("registered with the engine at {at}"));
                let fix = || self.with_setup(format!("not registered with the engine at {at}"));
                checks.push((format!("runtime {oci}"), registered.ok_or_else(fix)));
            }
            checks
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_socket_permission_problem_is_named_as_such() {
        let e = "Error in the hyper legacy client: client error (Connect): Permission denied (os error 13)";
        let sock = "unix:///var/run/docker.sock";
        assert!(super::unreachable(e, sock, "").contains("is not open to this user"));
        assert!(super::unreachable("Connection refused", sock, "").contains("is the Docker engine running?"));
    }
}
