//! Running the host as a service: a systemd user unit or a launchd agent for this install.

pub fn print(kind: &str) -> Result<(), String> {
    let dir = std::env::current_dir().map_err(|e| e.to_string())?.display().to_string();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?.display().to_string();
    // Paths go into XML text: `&` or `<` in a folder name must not break the plist.
    let xml = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    match kind {
        // A user manager cannot see docker.service, so no After= on it: systemd restarts the host
        // (Restart=on-failure) until Docker answers.
        "systemd" => println!(
            "# ~/.config/systemd/user/claw.service, then: systemctl --user enable --now claw\n\
             # To keep it running after you log out: loginctl enable-linger $USER\n\
             # Under systemd the cli channel has no terminal: chat through another channel.\n\
             [Unit]\nDescription=claw agent host\n\n\
             [Service]\nWorkingDirectory={dir}\nExecStart={exe} run\nRestart=on-failure\nRestartSec=5\nKillSignal=SIGTERM\nTimeoutStopSec=30\n\n\
             [Install]\nWantedBy=default.target"
        ),
        // The XML declaration must come first: a comment before it makes the plist invalid.
        "launchd" => println!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!-- ~/Library/LaunchAgents/com.claw.host.plist, then: launchctl load -w that file -->\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\"><dict>\n  <key>Label</key><string>com.claw.host</string>\n  \
             <key>WorkingDirectory</key><string>{}</string>\n  \
             <key>ProgramArguments</key><array><string>{}</string><string>run</string></array>\n  \
             <key>RunAtLoad</key><true/>\n  <key>KeepAlive</key><true/>\n</dict></plist>",
            xml(&dir),
            xml(&exe)
        ),
        other => return Err(format!("service {other:?}: choose systemd or launchd")),
    }
    Ok(())
}
