//! End-to-end harness: a throw-away install (config, `.env`, data folder), the fake model on
//! loopback, and the real `claw-host` binary driven through its terminal channel, running real
//! containers on the real Docker engine.

#![allow(dead_code, unused_imports)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use claw_testkit::{FakeModel, Recorded, Step};
// Not every test file uses each re-export.
#[allow(unused_imports)]
pub use serde_json::{Value, json};

/// The agent image the tests run, `claw-agent:latest` unless `CLAW_TEST_IMAGE` names another
/// (an image built with `CLAW_IMAGE=... container/build.sh`).
pub fn image() -> String {
    std::env::var("CLAW_TEST_IMAGE").unwrap_or_else(|_| "claw-agent:latest".into())
}

/// The runtime the tests run containers under: `CLAW_TEST_RUNTIME`, else the name of the test
/// file when it names a runtime built into the install (a runtime skill's `tests/NAME.rs` runs
/// the base's battery under it by including it), else `docker`.
pub fn runtime() -> String {
    let test_file = module_path!().split("::").next().unwrap_or_default();
    let built = claw_host::runtimes::registry();
    let named = built.iter().map(|(name, _)| *name).find(|name| *name == test_file);
    std::env::var("CLAW_TEST_RUNTIME").ok().filter(|r| !r.is_empty()).unwrap_or(named.unwrap_or("docker").into())
}

/// The `docker` command line, pointed at the engine of the runtime under test (Podman's
/// socket speaks Docker's API too).
pub fn docker() -> Command {
    static ENDPOINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let endpoint = ENDPOINT.get_or_init(|| {
        let config = claw_host::config::ContainerConfig { runtime: runtime(), ..Default::default() };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let opened = rt.block_on(claw_host::runtimes::open(&config));
        opened.map(|r| r.endpoint()).unwrap_or_else(|e| panic!("the runtime {}: {e}", config.runtime))
    });
    let mut command = Command::new("docker");
    command.env("DOCKER_HOST", endpoint);
    command
}

/// `claw-host` in `dir` with an explicit environment: nothing of the caller's (an exported
/// `ANTHROPIC_API_KEY`, a channel's token) reaches a test's host, only what the test sets.
pub fn claw_host(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_claw-host"));
    command.current_dir(dir).env_clear().env("HOME", dir);
    for key in ["PATH", "DOCKER_HOST"] {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    command
}
/// A runtime for the servers a test runs in-process (the fake model, a platform's stand-in).
pub fn stand_in_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime")
}

/// An install beside a stand-in of the platform or API it talks to; the stand-in runs on `rt`.
pub struct WithStandIn<F> {
    pub install: Install,
    pub fake: F,
    pub rt: tokio::runtime::Runtime,
}

/// Sends one raw HTTP request over a group's model socket, as its agent could, and reads the
/// whole answer.
pub fn over_socket(socket: &Path, request: &str) -> String {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("model socket");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut out = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut out);
    out
}

/// Polls `probe` every 50 ms until it gives a value; after two minutes the test fails, naming
/// `what` it waited for.
pub fn wait_for<V>(what: &str, mut probe: impl FnMut() -> Option<V>) -> V {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The key the host holds; no container may ever see it.
pub const KEY: &str = "sk-test-SECRET-4242";

pub struct Install {
    pub dir: tempfile::TempDir,
    pub model: FakeModel,
    rt: tokio::runtime::Runtime,
}

impl Install {
    /// An install whose model answers with `script`; `extra` is appended to claw.toml.
    pub fn new(script: Vec<Step>, extra: &str) -> Install {
        let image = image();
        let status = docker()
            .args(["image", "inspect", &image])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("docker");
        assert!(status.success(), "the agent image {image} is missing: run base/container/build.sh");
        let rt = stand_in_runtime();
        let model = rt.block_on(FakeModel::start(script)).expect("fake model");
        let dir = tempfile::tempdir().expect("tempdir");
        // Only the terminal channel unless a test asks for more: an install's other channels
        // (its skills) stay off in the base's tests.
        let channels = if extra.contains("channels =") { "" } else { "channels = [\"cli\"]\n" };
        let config = format!(
            "data_dir = \"data\"\nmax_concurrent = 5\n{channels}{extra}\n[container]\nruntime = \"{}\"\nimage = \"{image}\"\nmemory_mb = 256\npids = 64\nidle_timeout_secs = 3\nhard_timeout_secs = 40\n\
             mount_allowlist = \"{}\"\n[model]\nupstream = \"{}\"\n[retry]\nbase_ms = 200\nmax_ms = 1000\nmax_attempts = 3\n",
            runtime(),
            dir.path().join("allowlist.toml").display(),
            model.url()
        );
        std::fs::write(dir.path().join("claw.toml"), config).expect("config");
        std::fs::write(dir.path().join(".env"), format!("ANTHROPIC_API_KEY={KEY}\n")).expect(".env");
        // As the README says to make it: readable by its owner only.
        std::fs::set_permissions(dir.path().join(".env"), std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect(".env");
        Install { dir, model, rt }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    /// Appends `lines` to the install's `.env`: a channel's or a provider's settings.
    pub fn add_env(&self, lines: &str) {
        let mut env = std::fs::OpenOptions::new().append(true).open(self.path().join(".env")).expect(".env");
        writeln!(env, "{lines}").expect(".env");
    }

    /// The number the install's store answers `sql` with (`SELECT count(*) ...`).
    pub fn count(&self, sql: &str) -> i64 {
        let db = rusqlite::Connection::open(self.data().join("claw.db")).expect("db");
        db.query_row(sql, [], |r| r.get(0)).expect("query")
    }

    /// The tokens counted for group `folder`, `(input, output)`, once both are above zero.
    pub fn tokens(&self, folder: &str) -> (i64, i64) {
        let db = rusqlite::Connection::open(self.data().join("claw.db")).expect("db");
        let sql = "SELECT input_tokens, output_tokens FROM usage WHERE folder = ?1";
        wait_for(&format!("tokens counted for group {folder}"), || {
            db.query_row(sql, [folder], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
                .ok()
                .filter(|(input, output)| *input > 0 && *output > 0)
        })
    }

    pub fn register(&self, jid: &str, folder: &str, flags: &[&str]) {
        let out =
            claw_host(self.path()).arg("register").args([jid, folder, folder]).args(flags).output().expect("register");
        assert!(out.status.success(), "register: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Runs groups in `image` instead of the agent image.
    pub fn use_image(&self, image: &str) {
        let path = self.path().join("claw.toml");
        let config = std::fs::read_to_string(&path).expect("config");
        let config = config.replace(&format!("image = \"{}\"", self::image()), &format!("image = \"{image}\""));
        std::fs::write(path, config).expect("config");
    }

    /// Talks to `provider`'s API at `upstream` with model `name` instead of the fake model.
    pub fn use_model(&self, provider: &str, upstream: &str, name: &str) {
        let path = self.path().join("claw.toml");
        let config = std::fs::read_to_string(&path).expect("config");
        let model = format!("[model]\nprovider = \"{provider}\"\nname = \"{name}\"\n");
        let config = config.replace("[model]\n", &model).replace(&self.model.url(), upstream);
        std::fs::write(path, config).expect("config");
    }

    pub fn host(&self) -> Host {
        Host::spawn(self.path())
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.model.requests()
    }

    /// Waits until the model has received `n` requests.
    pub fn wait_requests(&self, n: usize, within: Duration) -> Vec<Recorded> {
        let start = Instant::now();
        loop {
            let r = self.requests();
            if r.len() >= n {
                return r;
            }
            assert!(start.elapsed() < within, "the model got {} requests, expected {n}", r.len());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Containers of this install that still exist.
    pub fn containers(&self) -> Vec<String> {
        let data = self.data().canonicalize().unwrap_or(self.data());
        let out = docker()
            .args(["ps", "-aq", "--filter", &format!("label=claw.data={}", data.display())])
            .output()
            .expect("docker ps");
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
    }
}

impl Drop for Install {
    fn drop(&mut self) {
        for id in self.containers() {
            let _ = docker().args(["rm", "-f", &id]).output();
        }
    }
}

/// A running `claw-host run`.
pub struct Host {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Host {
    fn spawn(dir: &Path) -> Host {
        let mut child = claw_host(dir)
            .arg("run")
            .env("CLAW_LOG", "debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn claw-host");
        let stdin = child.stdin.take().expect("stdin");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        let host = Host { child, stdin, lines, stderr };
        host.wait_log("claw-host is running", Duration::from_secs(30));
        host
    }

    pub fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to the host");
        self.stdin.flush().expect("flush");
    }

    /// The next line the host prints to the terminal chat.
    pub fn reply(&self, within: Duration) -> String {
        self.lines
            .recv_timeout(within)
            .unwrap_or_else(|_| panic!("no reply within {within:?}; host log:\n{}", self.log()))
    }

    /// The next line the host prints within `within`, if any.
    pub fn next_line(&self, within: Duration) -> Option<String> {
        self.lines.recv_timeout(within).ok()
    }

    /// Every line printed within `window`.
    pub fn replies_for(&self, window: Duration) -> Vec<String> {
        let end = Instant::now() + window;
        let mut out = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => out.push(l),
                Err(_) => break,
            }
        }
        out
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn wait_log(&self, needle: &str, within: Duration) {
        let start = Instant::now();
        while !self.log().contains(needle) {
            if let Ok(Some(status)) = self.child_status() {
                panic!("claw-host exited ({status}) before logging {needle:?}:\n{}", self.log());
            }
            assert!(start.elapsed() < within, "claw-host did not log {needle:?} within {within:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn child_status(&self) -> std::io::Result<Option<std::process::ExitStatus>> {
        // try_wait needs &mut; peek through /proc instead.
        let alive = Path::new(&format!("/proc/{}", self.child.id())).exists();
        Ok(if alive { None } else { Some(std::process::ExitStatus::default()) })
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait().expect("wait")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The uid an install's containers run as (never root; as root, no real account).
pub fn agent_uid(install: &Install) -> u32 {
    let data = install.data().canonicalize().expect("data folder");
    claw_host::ownership::agent_ids(&data).0
}

/// The text of every tool result the model was sent in request `r`.
pub fn tool_results(r: &Recorded) -> Vec<String> {
    let mut out = Vec::new();
    for m in r.body["messages"].as_array().into_iter().flatten() {
        for block in m["content"].as_array().into_iter().flatten() {
            if block["type"] == "tool_result" {
                out.push(block["content"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    out
}

/// Every text the model was sent in request `r`, user turns only.
pub fn user_text(r: &Recorded) -> String {
    let mut out = String::new();
    for m in r.body["messages"].as_array().into_iter().flatten().filter(|m| m["role"] == "user") {
        match &m["content"] {
            Value::String(s) => out.push_str(s),
            Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).for_each(|t| out.push_str(t)),
            _ => {}
        }
        out.push('\n');
    }
    out
}

/// An image like the agent's whose entry point is `script` (busybox sh), for tests that need an
/// agent to behave in an exact order. Returns its tag.
pub fn scripted_image(name: &str, script: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("agent.sh"), script).expect("script");
    let dockerfile = format!("FROM {}\nCOPY agent.sh /agent.sh\nENTRYPOINT [\"/bin/sh\", \"/agent.sh\"]\n", image());
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).expect("Dockerfile");
    let tag = format!("{name}:latest");
    let out = docker().args(["build", "-q", "-t", &tag]).arg(dir.path()).output().expect("docker build");
    assert!(out.status.success(), "building {tag}: {}", String::from_utf8_lossy(&out.stderr));
    tag
}
