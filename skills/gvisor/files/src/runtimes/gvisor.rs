//! gVisor: Docker's engine with the `runsc` OCI runtime, so a group's agent runs on gVisor's
//! user-space kernel instead of the host's. The API, the image and the hardening settings are
//! Docker's; `HostConfig.runtime` differs, and the pids limit moves inside the sandbox.

use bollard::models::{HostConfig, ResourcesUlimits};

use super::{Docker, Runtime};
use crate::channels::BoxFuture;
use crate::config::ContainerConfig;

/// What doctor (and a start that fails for want of it) says to do.
const SETUP: &str = "register runsc with the engine: add \"runtimes\": {\"runsc\": {\"path\": \"/usr/bin/runsc\", \
     \"runtimeArgs\": [\"--network=none\", \"--host-uds=open\"]}} to /etc/docker/daemon.json, then \
     kill -HUP $(pidof dockerd) (see .claude/skills/gvisor/SKILL.md)";

/// Docker at `[container] socket` (else `DOCKER_HOST` or Docker's own), every container on runsc.
pub fn open(config: &ContainerConfig) -> BoxFuture<'static, Result<Box<dyn Runtime>, String>> {
    let socket = config.socket.clone();
    Box::pin(async move {
        let mut docker = Docker::connect(&socket, SETUP).await?;
        docker.oci_runtime = Some("runsc");
        docker.adjust = limit_processes_inside;
        Ok(Box::new(docker) as _)
    })
}

/// gVisor's kernel is one process tree on the host: the pids cgroup counts its threads (about
/// eight per agent process on the ptrace platform and fifty at rest, more when the machine is
/// busy), not the agent's processes. So the agent's limit is enforced inside gVisor
/// (`RLIMIT_NPROC`: gVisor counts per uid in the sandbox, and only the agent's uid runs there),
/// and the cgroup keeps a bound on the sandbox's threads, with room to spare: a sandbox that
/// reaches it dies whole.
fn limit_processes_inside(host: &mut HostConfig) {
    let pids = host.pids_limit.unwrap_or(256);
    host.ulimits = Some(vec![ResourcesUlimits { name: Some("nproc".into()), soft: Some(pids), hard: Some(pids) }]);
    host.pids_limit = Some(pids * 20 + 500);
}
