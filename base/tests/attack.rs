//! The host under attack, end to end: a local user who is not the host, a group that floods its
//! model socket, an upstream that redirects. Each attack is enacted against the real binary and
//! real containers, and each test asserts what must still hold.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

const T: Duration = Duration::from_secs(60);

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

/// Runs `script` in a shell as uid/gid 65534 (nobody), with no supplementary groups.
fn as_nobody(script: &str) -> String {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", "sh", "-c", script])
        .output()
        .expect("setpriv");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn another_local_user_reaches_no_socket_secret_or_planted_setuid_binary() {
    if !is_root() {
        eprintln!("skipped: switching to another uid needs root (run the tests as root to enact this attack)");
        return;
    }
    let plant = "cp /bin/busybox /workspace/group/sh && chmod 4755 /workspace/group/sh && ls -ln /workspace/group/sh";
    let install = Install::new(vec![Step::tool("bash", json!({ "command": plant })), Step::text("planted")], "");
    // An install made in a home folder as most are: the folder and the copied .env are readable.
    chmod(install.path(), 0o755);
    chmod(&install.path().join(".env"), 0o644);
    install.register("cli:local", "main", &["--main"]);
    // A group folder as an earlier version left it: owned by uid 1000, the old container user.
    let dot_claw = install.data().join("groups/main/.claw");
    std::fs::create_dir_all(&dot_claw).expect("group folder");
    for path in [install.data().join("groups/main"), dot_claw.clone()] {
        std::os::unix::fs::lchown(&path, Some(1000), Some(1000)).expect("chown");
    }
    let mut host = install.host();
    host.say("plant it");
    assert_eq!(host.reply(T), "planted");
    let uid = agent_uid(&install);
    let planted = tool_results(&install.requests()[1]).join("");
    assert!(planted.contains("-rwsr-xr-x") && planted.contains(&format!(" {uid} ")), "the plant worked: {planted}");

    let data = install.data();
    let socket = data.join("sockets/main/model.sock");
    let session = data.join("groups/main/.claw/session.json");
    let binary = data.join("groups/main/sh");
    let start = Instant::now();
    while !(session.exists() && binary.exists()) {
        assert!(start.elapsed() < Duration::from_secs(10), "the run left no session or no planted binary");
        std::thread::sleep(Duration::from_millis(100));
    }
    let probe = format!(
        "curl -s --max-time 3 --unix-socket {} -X POST -d '{{}}' http://model/v1/messages >/dev/null 2>&1; echo socket rc=$?\n\
         for f in {} {} {}; do cat $f >/dev/null 2>&1; echo read rc=$?; done\n\
         {} -c 'id -u' 2>&1; echo setuid rc=$?",
        socket.display(),
        data.join("claw.db").display(),
        install.path().join(".env").display(),
        session.display(),
        binary.display(),
    );
    let seen = as_nobody(&probe);
    assert!(!seen.contains("socket rc=0\n"), "nobody reached the model socket:\n{seen}");
    assert!(!seen.contains("read rc=0\n"), "nobody read a private file:\n{seen}");
    assert!(seen.contains("setuid rc=") && !seen.contains("setuid rc=0") && !seen.contains(&uid.to_string()), "{seen}");

    // The modes themselves, and the bit stripped after the run.
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("claw.db")), 0o600);
    assert_eq!(mode(&install.path().join(".env")), 0o600);
    assert!(host.log().contains(".env was 644"), "the widened .env is named:\n{}", host.log());
    assert_eq!((mode(&socket), std::fs::metadata(&socket).unwrap().uid()), (0o600, uid));
    assert_eq!(mode(&data.join("groups/main")), 0o700);
    assert_eq!(std::fs::metadata(&session).unwrap().uid(), uid, "the old folder was handed over");
    let start = Instant::now();
    while mode(&binary) & 0o6000 != 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "the setuid bit is still set: {:o}", mode(&binary));
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn doctor_names_each_path_open_to_other_users_and_run_closes_them() {
    let install = Install::new(vec![], "");
    install.register("cli:local", "main", &["--main"]);
    let data = install.data();
    std::fs::create_dir_all(data.join("groups/main")).unwrap();
    for (path, wide) in [(&data, 0o755), (&data.join("claw.db"), 0o644), (&install.path().join(".env"), 0o644)] {
        chmod(path, wide);
    }
    chmod(&data.join("groups/main"), 0o777);
    let doctor = || {
        let out = Command::new(env!("CARGO_BIN_EXE_claw-host")).arg("doctor").current_dir(install.path()).output();
        String::from_utf8_lossy(&out.expect("doctor").stdout).to_string()
    };
    let report = doctor();
    // Paths as the configuration names them, relative to the install.
    for (path, fix) in [
        ("data", "755, open to other users; run: chmod 700"),
        ("data/claw.db", "644, open to other users; run: chmod 600"),
        (".env", "644, open to other users; run: chmod 600"),
        ("data/groups/main", "777, open to other users; run: chmod 700"),
    ] {
        assert!(report.contains(&format!("FAIL  modes: {path} is {fix} {path}")), "{path}:\n{report}");
    }

    let mut host = install.host();
    host.terminate();
    assert_eq!((mode(&data), mode(&data.join("claw.db")), mode(&install.path().join(".env"))), (0o700, 0o600, 0o600));
    let report = doctor();
    assert!(report.contains("ok    modes:") && !report.contains("FAIL  modes"), "{report}");
}

/// A field of a process's /proc status in KiB: VmRSS (all it holds in memory) or RssAnon (what
/// it allocated, without the pages of its own binary).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Starts a 15 MB upload on `socket`, sends what the host takes within a moment, and stalls.
fn stalled_upload(socket: &Path) -> Option<UnixStream> {
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    // count_tokens: forwarded like a message, but the fake model answers it without a reply step.
    let head = "POST /v1/messages/count_tokens HTTP/1.1\r\nhost: model\r\ncontent-type: application/json\r\ncontent-length: 15000000\r\n\r\n";
    stream.write_all(head.as_bytes()).ok()?;
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..(14_000_000 / chunk.len()) {
        if stream.write_all(&chunk).is_err() {
            break;
        }
    }
    Some(stream)
}

#[test]
fn a_group_flooding_its_socket_neither_delays_another_group_nor_swells_the_host() {
    // The flood hits the host's proxy, the same code whatever the runtime; its timings and the
    // host's memory are measured under Docker, not mixed with another engine's attach buffers.
    if runtime() != "docker" {
        return;
    }
    let script = vec![Step::text("y idle"), Step::text("y under attack"), Step::text("x after")];
    let install = Install::new(script, "");
    install.register("cli:x", "x", &["--no-trigger"]);
    install.register("cli:y", "y", &["--no-trigger"]);
    let mut host = install.host();
    let pid = host.pid();
    let wait_idle = |install: &Install| {
        let start = Instant::now();
        while !install.containers().is_empty() {
            assert!(start.elapsed() < T, "containers did not exit");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let start = Instant::now();
    host.say(">cli:y hello");
    assert_eq!(host.reply(T), "[cli:y] y idle");
    let idle = start.elapsed();
    wait_idle(&install);
    let baseline = status_kib(pid, "VmRSS:");

    // The attack: 20 stalled 15 MB uploads, then 1,000 connections that never send a byte.
    let socket = install.data().join("sockets/x/model.sock");
    let uploads: Vec<_> = (0..20)
        .map(|_| {
            let socket = socket.clone();
            std::thread::spawn(move || stalled_upload(&socket))
        })
        .collect();
    let mut held: Vec<UnixStream> = uploads.into_iter().filter_map(|t| t.join().expect("upload thread")).collect();
    held.extend((0..1000).filter_map(|_| UnixStream::connect(&socket).ok()));
    assert!(held.len() >= 1000, "the attack got {} connections in", held.len());
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    assert!(fds < 200, "the host holds {fds} descriptors for one group's connections");

    let peak = Arc::new(Mutex::new(0u64));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                let now = status_kib(pid, "VmRSS:");
                let mut p = peak.lock().unwrap();
                *p = (*p).max(now);
                drop(p);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let start = Instant::now();
    host.say(">cli:y are you there?");
    assert_eq!(host.reply(T), "[cli:y] y under attack");
    let attacked = start.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.join().expect("sampler");
    let peak = *peak.lock().unwrap();

    // The tests drive the debug build, whose own pages alone are about 15 MB (the release
    // binary's about 6 MB): after the attack, what the host allocated must be back under 8 MB,
    // which keeps the release build under 16 MB.
    drop(held);
    let start = Instant::now();
    let mut after = status_kib(pid, "RssAnon:");
    while after >= 8 * 1024 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
        after = status_kib(pid, "RssAnon:");
    }
    eprintln!(
        "idle reply {idle:?}, under attack {attacked:?}; VmRSS before {baseline} KiB, peak {peak} KiB; \
         RssAnon 10 s after {after} KiB (VmRSS {} KiB)",
        status_kib(pid, "VmRSS:")
    );
    assert!(attacked < idle + Duration::from_secs(2), "another group waited {attacked:?} (idle: {idle:?})");
    assert!(peak < 64 * 1024, "the host swelled to {peak} KiB during the attack");
    assert!(after < 8 * 1024, "the host still holds {after} KiB it allocated 10 s after the attack");

    host.say(">cli:x and now?");
    assert_eq!(host.reply(T), "[cli:x] x after");
}

#[test]
fn a_redirecting_upstream_never_receives_the_key_at_its_target() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // The target: records whatever reaches it.
    let target = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let target_port = target.local_addr().expect("addr").port();
    let reached = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = reached.clone();
    std::thread::spawn(move || {
        for mut stream in target.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            sink.lock()
                .unwrap()
                .extend_from_slice(format!("[connection]{}", String::from_utf8_lossy(&buf[..n])).as_bytes());
        }
    });
    // The upstream: answers 307, then 302, and so on, pointing at the target.
    let keys = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = keys.clone();
    let upstream = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        claw_testkit::serve(listener, move |req: hyper::Request<hyper::body::Incoming>| {
            let seen = seen.clone();
            async move {
                let key = req.headers().get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let status = if seen.lock().unwrap().len().is_multiple_of(2) { 307 } else { 302 };
                seen.lock().unwrap().push(key);
                hyper::Response::builder()
                    .status(status)
                    .header("location", format!("http://127.0.0.1:{target_port}/v1/messages"))
                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                    .expect("response")
            }
        });
        addr
    });
    let _serving = std::thread::spawn(move || rt.block_on(std::future::pending::<()>()));

    let install = Install::new(vec![], "");
    let config = std::fs::read_to_string(install.path().join("claw.toml")).expect("config");
    let config = config.replace(&install.model.url(), &format!("http://{upstream}"));
    std::fs::write(install.path().join("claw.toml"), config).expect("config");
    install.register("cli:local", "main", &["--main"]);
    let mut host = install.host();
    host.say("hello");
    let start = Instant::now();
    while keys.lock().unwrap().len() < 2 {
        assert!(
            start.elapsed() < T,
            "the upstream got {} requests; host log:\n{}",
            keys.lock().unwrap().len(),
            host.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(keys.lock().unwrap()[0], KEY, "the configured upstream gets the key");
    let reached = String::from_utf8_lossy(&reached.lock().unwrap()).to_string();
    assert!(reached.is_empty(), "the redirect was followed:\n{reached}");
    assert!(host.is_running());
}

/// The cap and the header timeout together: a group's silent connections fill its slots, so its
/// next request waits unaccepted; 10 s later the host has dropped them and serves it.
#[test]
fn silent_connections_hold_a_groups_slots_only_until_the_header_timeout() {
    let install = Install::new(vec![], "");
    install.register("cli:x", "x", &["--no-trigger"]);
    let _host = install.host();
    let socket = install.data().join("sockets/x/model.sock");
    let held: Vec<_> = (0..8).map(|_| UnixStream::connect(&socket).expect("connect")).collect();
    let request = || {
        let socket = socket.to_str().expect("path");
        let out = Command::new("curl")
            .args(["-s", "--max-time", "3", "--unix-socket", socket, "http://model/v1/models"])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(request(), "", "a ninth connection waits while eight are open");
    std::thread::sleep(Duration::from_secs(9));
    assert!(request().contains("this path is not forwarded"), "the silent connections were dropped");
    drop(held);
}
