//! Channel status: each channel writes one line, `up|down PID detail`, to
//! `data/channels/NAME.status` when its connection changes; `claw-host doctor` reads them back.
//! The host's pid makes a report from a host that is gone show as a dead listener.

use std::collections::BTreeMap;
use std::path::Path;

/// Records a channel's state: `up` or `down` with what a person should know (`down` stays until
/// the channel is back).
pub fn report(data_dir: &Path, channel: &str, up: bool, detail: &str) {
    let dir = data_dir.join("channels");
    let state = if up { "up" } else { "down" };
    let line = format!("{state} {} {}\n", std::process::id(), detail.replace('\n', " "));
    let written =
        std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join(format!("{channel}.status")), line));
    if let Err(e) = written {
        tracing::warn!(channel, "writing the channel status: {e}");
    }
}

/// What each channel last reported, for `claw-host doctor`.
pub fn read_all(data_dir: &Path) -> BTreeMap<String, Result<String, String>> {
    let entries = std::fs::read_dir(data_dir.join("channels")).into_iter().flatten().flatten();
    entries
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().strip_suffix(".status")?.to_string();
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            Some((name, parse(&text)))
        })
        .collect()
}

/// `up|down PID detail`: the report holds only while the host that wrote it is alive.
fn parse(line: &str) -> Result<String, String> {
    let mut parts = line.trim().splitn(3, ' ');
    let (state, pid, detail) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let pid: i32 = pid.parse().map_err(|_| format!("unreadable status {line:?}"))?;
    // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
    if unsafe { libc::kill(pid, 0) } != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
        return Err(format!("no listener: the host (pid {pid}) is not running; it last reported {state}: {detail}"));
    }
    if state == "up" { Ok(detail.to_string()) } else { Err(format!("down: {detail}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_report_holds_only_while_its_host_lives() {
        let me = std::process::id();
        assert_eq!(parse(&format!("up {me} connected\n")), Ok("connected".into()));
        assert_eq!(parse(&format!("down {me} token refused")), Err("down: token refused".into()));
        let mut gone = std::process::Command::new("true").spawn().expect("spawn");
        let pid = gone.id();
        gone.wait().expect("wait");
        let stale = parse(&format!("up {pid} connected")).unwrap_err();
        assert!(
            stale.contains(&format!("the host (pid {pid}) is not running")) && stale.contains("up: connected"),
            "{stale}"
        );
        assert!(parse("garbage").is_err());
    }
}
