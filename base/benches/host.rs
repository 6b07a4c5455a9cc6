//! `cargo bench --bench host`: the orchestrator's budgets, each printed beside a reference
//! measured in the same run on the same machine.
//!
//! - ingest: messages persisted and routed per second (group commit), beside one transaction per
//!   message; and the latency of one inbound message until it is stored and routed.
//! - cold start: a group container started, attached, told to close and removed, beside a bare
//!   `docker run --rm IMAGE` of the same image.
//! - warm follow-up: a protocol line written to a running container's stdin until it comes back
//!   (an echo entrypoint), beside the same round trip through a local `cat` pipe.
//! - each container runtime built into the install (Docker's default runtime, and gVisor or
//!   Podman when their skills are applied), side by side: cold start (create, start, first
//!   output) and the memory of one idle container, with the ratio to Docker's.
//! - idle RSS of `claw-host run` with every channel built in running (each retrying, as without
//!   network), beside an idle `sleep` process, and the binary's size.
//! - the credential proxy: a streamed answer's first byte through it, per provider route,
//!   beside the same request sent straight to the upstream.
//! - the agent image's size.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use claw_host::channels::Inbound;
use claw_host::config::Config;
use claw_host::providers::anthropic::ROUTE;
use claw_host::store::{Group, NewMessage, Store};

/// The agent image: `claw-agent:latest`, or the one `CLAW_TEST_IMAGE` names (as for the tests).
static IMAGE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| std::env::var("CLAW_TEST_IMAGE").unwrap_or_else(|_| "claw-agent:latest".into()));

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    // `--quick` (CI): fewer container runs, for figures that show a trend in seconds.
    let quick = std::env::args().any(|a| a == "--quick");
    println!("claw-host budgets (medians{})", if quick { ", quick: few runs" } else { "" });
    rt.block_on(ingest());
    rt.block_on(proxy_first_byte());
    rt.block_on(containers(if quick { 3 } else { 10 }));
    rt.block_on(runtimes(if quick { 3 } else { 7 }));
    idle_rss();
    let size: u64 = String::from_utf8_lossy(
        &Command::new("docker")
            .args(["image", "inspect", "-f", "{{.Size}}", IMAGE.as_str()])
            .output()
            .expect("docker")
            .stdout,
    )
    .trim()
    .parse()
    .unwrap_or(0);
    println!("  agent image {}: {:.1} MB (budget 20 MB)", *IMAGE, size as f64 / 1e6);
}

async fn ingest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = host_for(dir.path()).await;
    host.store().register_group(&group("cli:bench", "bench"), "now").expect("group");
    host.load_groups().expect("groups");
    let n = 20_000;
    let start = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(512) {
        let mut batch: Vec<Inbound> = chunk.iter().map(|i| inbound("cli:bench", &format!("message {i}"))).collect();
        host.ingest_batch(&mut batch).expect("ingest");
    }
    let grouped = n as f64 / start.elapsed().as_secs_f64();

    let mut single = Store::open(&dir.path().join("reference.db")).expect("store");
    let m = 2_000;
    let start = Instant::now();
    for i in 0..m {
        single.insert_messages(&[new_message(i)]).expect("insert");
    }
    let one_by_one = m as f64 / start.elapsed().as_secs_f64();
    println!(
        "  ingest (persist + route, group commit): {grouped:>9.0} msg/s   one transaction per message: {one_by_one:>7.0} msg/s   budget 5,000 msg/s"
    );

    let mut samples = Vec::new();
    for i in 0..300 {
        let mut batch = vec![inbound("cli:bench", &format!("latency {i}"))];
        let start = Instant::now();
        host.ingest_batch(&mut batch).expect("ingest");
        samples.push(start.elapsed());
    }
    println!(
        "  one inbound message stored and routed: median {:.3} ms, p90 {:.3} ms   budget 1 ms",
        ms(median(&mut samples)),
        ms(pct(&mut samples, 0.9))
    );
}

async fn containers(runs: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("groups/bench")).expect("dirs");
    let mut config = Config::default();
    config.container.image = IMAGE.clone();
    let runner = claw_host::runner::Runner::connect(config.container.clone(), &data, vec![]).await.expect("docker");
    let mut ours = Vec::new();
    let mut bare = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let mut session = runner.start("bench", &[]).await.expect("start");
        session.send(&claw_protocol::ToAgent::Close).await.expect("close");
        while session.next().await.is_some() {}
        session.stop().await;
        ours.push(start.elapsed());
        let start = Instant::now();
        let status = Command::new("docker")
            .args(["run", "--rm", "--network", "none", IMAGE.as_str()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("docker run");
        assert!(status.success());
        bare.push(start.elapsed());
    }
    let (o, b) = (median(&mut ours), median(&mut bare));
    println!(
        "  cold start (create, attach, start, close, remove): {:>7.1} ms   bare `docker run --rm`: {:>7.1} ms   ratio {:.2}x (budget 1.2x)",
        ms(o),
        ms(b),
        ms(o) / ms(b)
    );

    // Warm: an echo entrypoint returns each protocol line; half the round trip is one way.
    let echo = "claw-bench-echo:latest";
    let mut build = Command::new("docker")
        .args(["build", "-q", "-t", echo, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker build");
    build
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("FROM {}\nENTRYPOINT [\"/bin/cat\"]\n", *IMAGE).as_bytes())
        .expect("dockerfile");
    assert!(build.wait().expect("build").success());
    let mut config = Config::default();
    config.container.image = echo.into();
    let runner = claw_host::runner::Runner::connect(config.container.clone(), &data, vec![]).await.expect("docker");
    let mut session = runner.start("bench", &[]).await.expect("start");
    let mut warm = Vec::new();
    for i in 0..200 {
        let start = Instant::now();
        session
            .send(&claw_protocol::ToAgent::Followup { seq: i + 1, text: format!("follow-up {i}") })
            .await
            .expect("send");
        session.next().await.expect("echo");
        warm.push(start.elapsed());
    }
    session.stop().await;
    let mut cat = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("cat");
    let mut input = cat.stdin.take().expect("stdin");
    let mut output = BufReader::new(cat.stdout.take().expect("stdout"));
    let mut pipe = Vec::new();
    for i in 0..200 {
        let start = Instant::now();
        writeln!(input, "{{\"type\":\"followup\",\"text\":\"follow-up {i}\"}}").expect("write");
        let mut line = String::new();
        output.read_line(&mut line).expect("read");
        pipe.push(start.elapsed());
    }
    let _ = cat.kill();
    let _ = cat.wait();
    let (w, p) = (median(&mut warm), median(&mut pipe));
    println!(
        "  warm follow-up to the agent's stdin (half a round trip): {:.3} ms   local pipe: {:.3} ms   budget 5 ms",
        ms(w) / 2.0,
        ms(p) / 2.0
    );
}

/// Every runtime in one run, in turns (so a busy moment of the machine falls on all of them):
/// the same hardened container settings, an entry point that echoes (`cat`), timed from create
/// to its first line of output; then its memory as the engine counts it (`docker stats`: the
/// container's cgroup less its page cache). A runtime whose engine or image is missing is named
/// and skipped.
async fn runtimes(rounds: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("dirs");
    let mut runners = Vec::new();
    for (name, _) in claw_host::runtimes::registry() {
        let mut config = Config::default();
        (config.container.runtime, config.container.image) = (name.into(), IMAGE.clone());
        let runner = match claw_host::runner::Runner::connect(config.container.clone(), &data, vec![]).await {
            Ok(runner) => runner,
            Err(e) => {
                println!("  runtime {name}: skipped: {e}");
                continue;
            }
        };
        match runner.runtime.check(&IMAGE).await.into_iter().find(|(_, r)| r.is_err()) {
            Some((check, Err(e))) => println!("  runtime {name}: skipped: {check}: {e}"),
            _ => runners.push((name, runner, Vec::new(), Vec::new())),
        }
    }
    for _ in 0..rounds {
        for (_, runner, cold, memory) in &mut runners {
            let mut body = runner.container_body("bench", &[]);
            body.entrypoint = Some(vec!["/bin/cat".into()]);
            let start = Instant::now();
            let mut session = runner.start_with("bench", body).await.expect("start");
            session.send(&claw_protocol::ToAgent::Close).await.expect("send");
            session.next().await.expect("the echo");
            cold.push(start.elapsed());
            memory.push(memory_mib(&runner.runtime.endpoint(), &session.id));
            session.stop().await;
        }
    }
    let mut docker_ms = None;
    for (name, _, cold, memory) in &mut runners {
        let cold = ms(median(cold));
        memory.sort_by(f64::total_cmp);
        let ratio = docker_ms.map(|d| format!("   {:.2}x Docker's", cold / d)).unwrap_or_default();
        docker_ms = docker_ms.or((*name == "docker").then_some(cold));
        println!(
            "  runtime {name:<7} cold start (create, start, first output): {cold:>7.1} ms   memory of an idle container: {:>5.1} MiB{ratio}",
            memory[memory.len() / 2]
        );
    }
    println!("  (budget: gVisor's cold start within 2x Docker's)");
}

/// The memory `docker stats` reports for container `id` on the engine at `endpoint`, in MiB.
fn memory_mib(endpoint: &str, id: &str) -> f64 {
    let out = Command::new("docker")
        .env("DOCKER_HOST", endpoint)
        .args(["stats", "--no-stream", "--format", "{{.MemUsage}}", id])
        .output()
        .expect("docker stats");
    let usage = String::from_utf8_lossy(&out.stdout);
    let used = usage.split('/').next().unwrap_or_default().trim();
    let number: f64 = used.trim_end_matches(char::is_alphabetic).parse().unwrap_or(f64::NAN);
    match used.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.') {
        "B" => number / 1048576.0,
        "KiB" | "kB" => number / 1024.0,
        "GiB" | "GB" => number * 1024.0,
        _ => number,
    }
}

/// Every channel built into this install, running: each required key of `.env.example` set to
/// its example value (or a placeholder), so each channel starts, fails to reach its platform (no
/// such account, or no network) and retries, as a host does whose network is down. Measured 10 s
/// after start, beside an idle `sleep`.
fn idle_rss() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("claw.toml"), format!("data_dir = \"data\"\n[container]\nimage = \"{}\"\n", *IMAGE))
        .expect("config");
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".env.example")).unwrap_or_default();
    // As root, in a network namespace of its own: no channel reaches a real platform with the
    // placeholder credentials, whatever this machine's network.
    // SAFETY: geteuid has no preconditions and cannot fail.
    let isolated = unsafe { libc::geteuid() } == 0
        && Command::new("unshare").args(["-n", "true"]).status().is_ok_and(|s| s.success());
    let mut host = Command::new(if isolated { "unshare" } else { env!("CARGO_BIN_EXE_claw-host") });
    if isolated {
        host.args(["-n", env!("CARGO_BIN_EXE_claw-host")]);
    }
    host.arg("run").current_dir(dir.path()).env("ANTHROPIC_API_KEY", "bench");
    for (key, value) in required_keys(&example) {
        host.env(key, value);
    }
    let mut host = host.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("claw-host");
    let mut err = BufReader::new(host.stderr.take().expect("stderr"));
    let mut line = String::new();
    while err.read_line(&mut line).map(|n| n > 0).unwrap_or(false) && !line.contains("claw-host is running") {
        line.clear();
    }
    assert!(line.contains("claw-host is running"), "the host did not start: {line}");
    // The channels' retries log on: keep reading so the host never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    std::thread::sleep(Duration::from_secs(10));
    assert!(host.try_wait().is_ok_and(|status| status.is_none()), "the host exited before it was measured");
    let (rss, anon) = (status_kib(host.id(), "VmRSS:"), status_kib(host.id(), "RssAnon:"));
    let _ = host.kill();
    let _ = host.wait();
    let mut floor = Command::new("sleep").arg("30").spawn().expect("sleep");
    std::thread::sleep(Duration::from_millis(300));
    let reference = status_kib(floor.id(), "VmRSS:");
    let _ = floor.kill();
    let _ = floor.wait();
    let channels: Vec<&str> = claw_host::channels::registry().into_iter().map(|(name, _)| name).collect();
    let size = std::fs::metadata(env!("CARGO_BIN_EXE_claw-host")).map(|m| m.len()).unwrap_or(0);
    println!(
        "  idle RSS of `claw-host run`, 10 s after start, channels {}: {:.1} MB ({:.1} MB anonymous)   an idle `sleep`: {:.1} MB   binary {:.1} MB",
        channels.join(" "),
        rss as f64 / 1024.0,
        anon as f64 / 1024.0,
        reference as f64 / 1024.0,
        size as f64 / 1e6
    );
    println!("  (budget: 10 MB with the terminal, WhatsApp and Telegram; 16 MB with every channel; release builds)");
}

/// The keys `.env.example` marks required, each with its `# e.g.` value or a placeholder.
fn required_keys(example: &str) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    let (mut required, mut value) = (false, None);
    for line in example.lines() {
        if let Some(doc) = line.strip_prefix("# ") {
            if let Some((_, v)) = doc.strip_prefix("e.g. ").and_then(|kv| kv.split_once('=')) {
                value = Some(v.to_string());
            } else {
                (required, value) = (doc.contains("(required"), None);
            }
        } else if let Some(key) = line.strip_suffix('=').filter(|k| !k.is_empty() && !k.contains(' ')) {
            if required && key != "ANTHROPIC_API_KEY" {
                keys.push((key.to_string(), value.take().unwrap_or_else(|| "bench".into())));
            }
            required = false;
        }
    }
    keys
}

/// Connect, send one request, and wait for the first byte of the answer's body: what an agent
/// waits for before its stream starts. A fresh connection each time, as the agent makes.
async fn first_byte<S>(connect: impl std::future::Future<Output = std::io::Result<S>>, request: &str) -> Duration
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let start = Instant::now();
    let mut stream = connect.await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let (mut seen, mut buf) = (Vec::new(), [0u8; 4096]);
    while let Ok(n @ 1..) = stream.read(&mut buf).await {
        seen.extend_from_slice(&buf[..n]);
        if seen.windows(4).position(|w| w == b"\r\n\r\n").is_some_and(|end| seen.len() > end + 4) {
            break;
        }
    }
    start.elapsed()
}

async fn proxy_first_byte() {
    // The upstream answers at once with the first event of a stream (an SSE line, or an NDJSON
    // line for a native API such as Ollama's).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    claw_testkit::serve(listener, |req: hyper::Request<hyper::body::Incoming>| async move {
        let body = if req.uri().path().starts_with("/api/") {
            "{\"message\":{\"content\":\"hi\"},\"done\":false}\n"
        } else {
            "data: {\"type\":\"ping\"}\n\n"
        };
        let mut response = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
        response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("text/event-stream"));
        response
    });
    let dir = tempfile::tempdir().expect("tempdir");
    for route in claw_host::providers::registry() {
        let upstream = format!("http://{addr}");
        let sink: claw_host::proxy::UsageSink = Arc::new(|_: &str, _, _| {});
        let proxy = claw_host::proxy::Proxy::new(route, &model(&upstream), "bench-key", sink).expect("proxy");
        let socket = proxy.serve_group(&dir.path().join(route.provider), "bench").expect("socket");
        let request = format!(
            "POST {} HTTP/1.1\r\nhost: model\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}",
            route.paths[0]
        );
        let (mut direct, mut proxied) = (Vec::new(), Vec::new());
        for _ in 0..300 {
            direct.push(first_byte(tokio::net::TcpStream::connect(addr), &request).await);
            proxied.push(first_byte(tokio::net::UnixStream::connect(&socket), &request).await);
        }
        let (d, p) = (median(&mut direct), median(&mut proxied));
        println!(
            "  first byte of a streamed answer, {:<9} direct {:.3} ms   through the proxy {:.3} ms (p90 {:.3} ms)   added {:+.3} ms   budget +1 ms",
            route.provider,
            ms(d),
            ms(p),
            ms(pct(&mut proxied, 0.9)),
            ms(p) - ms(d)
        );
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn host_for(dir: &Path) -> Arc<claw_host::host::Host> {
    let config = Config { data_dir: dir.to_path_buf(), ..Default::default() };
    let store = Store::open(&dir.join("claw.db")).expect("store");
    let runner = claw_host::runner::Runner::connect(config.container.clone(), dir, vec![]).await.expect("docker");
    let proxy =
        claw_host::proxy::Proxy::new(ROUTE, &model("http://127.0.0.1:9"), "bench", Arc::new(|_: &str, _, _| {}))
            .expect("proxy");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(_tx);
    claw_host::host::Host::new(config, store, vec![], runner, proxy, Arc::new(claw_host::scheduler::SystemClock), rx)
}

fn model(upstream: &str) -> claw_host::config::ModelConfig {
    claw_host::config::ModelConfig { upstream: Some(upstream.into()), ..Default::default() }
}

fn group(jid: &str, folder: &str) -> Group {
    Group {
        jid: jid.into(),
        name: folder.into(),
        folder: folder.into(),
        trigger: "@Andy".into(),
        is_main: false,
        requires_trigger: true,
        mounts: vec![],
    }
}

fn inbound(jid: &str, text: &str) -> Inbound {
    Inbound {
        chat_jid: jid.into(),
        sender: "u".into(),
        sender_name: "U".into(),
        text: text.into(),
        ts: "2026-01-01T00:00:00Z".into(),
        ..Default::default()
    }
}

fn new_message(i: usize) -> NewMessage {
    NewMessage {
        chat_jid: "cli:bench".into(),
        sender: "u".into(),
        sender_name: "U".into(),
        content: format!("reference {i}"),
        ts: "t".into(),
        ..Default::default()
    }
}

fn median(s: &mut [Duration]) -> Duration {
    pct(s, 0.5)
}

fn pct(s: &mut [Duration], p: f64) -> Duration {
    s.sort();
    s[((s.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
