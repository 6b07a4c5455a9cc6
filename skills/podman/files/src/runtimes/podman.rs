//! Podman: the same Docker API client (bollard) on Podman's API socket, with the same hardening
//! settings. Rootful Podman as root; a user's rootless Podman otherwise, where the container
//! keeps the user's uid (`keep-id`) so it can write its bind-mounted group folder.

use super::{Docker, Runtime};
use crate::channels::BoxFuture;
use crate::config::ContainerConfig;

/// What doctor (and a start that fails for want of it) says to do.
const SETUP: &str = "start Podman's API service (podman system service --time=0 unix:///run/podman/podman.sock &, \
     or as a user: systemctl --user start podman.socket) and load the agent image into it \
     (docker save claw-agent:latest | podman load); see .claude/skills/podman/SKILL.md";

/// Podman at `[container] socket`, else rootful Podman's socket as root, else the user's own.
pub fn open(config: &ContainerConfig) -> BoxFuture<'static, Result<Box<dyn Runtime>, String>> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let socket = match (config.socket.as_str(), std::env::var("XDG_RUNTIME_DIR")) {
        ("", _) if root => "/run/podman/podman.sock".to_string(),
        ("", Ok(dir)) => format!("{dir}/podman/podman.sock"),
        // SAFETY: as above.
        ("", Err(_)) => format!("/run/user/{}/podman/podman.sock", unsafe { libc::geteuid() }),
        (socket, _) => socket.to_string(),
    };
    Box::pin(async move {
        let mut podman = Docker::connect(&socket, SETUP).await?;
        if !root {
            podman.adjust = |host| host.userns_mode = Some("keep-id".into());
        }
        Ok(Box::new(podman) as _)
    })
}
