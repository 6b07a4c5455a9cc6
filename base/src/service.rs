//! Running the host as a service: a systemd user unit or a launchd agent for this install.

pub fn print(kind: &str) -> Result<(), String> {
    let dir = std::env::current_dir().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (dir, exe) = (dir.display(), exe.display());
    match kind {
        "systemd" => println!(
            "# ~/.config/systemd/user/claw.service, then: systemctl --user enable --now claw\n\
             [Unit]\nDescription=claw agent host\nAfter=docker.service\n\n\
             [Service]\nWorkingDirectory={dir}\nExecStart={exe} run\nRestart=on-failure\nRestartSec=5\nKillSignal=SIGTERM\nTimeoutStopSec=30\n\n\
             [Install]\nWantedBy=default.target"
        ),
        "launchd" => println!(
            "<!-- ~/Library/LaunchAgents/com.claw.host.plist, then: launchctl load -w that file -->\n\
             <?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\"><dict>\n  <key>Label</key><string>com.claw.host</string>\n  \
             <key>WorkingDirectory</key><string>{dir}</string>\n  \
             <key>ProgramArguments</key><array><string>{exe}</string><string>run</string></array>\n  \
             <key>RunAtLoad</key><true/>\n  <key>KeepAlive</key><true/>\n</dict></plist>"
        ),
        other => return Err(format!("service {other:?}: choose systemd or launchd")),
    }
    Ok(())
}
