//! Test harness: an isolated genq home per test (`GENQ_HOME` in a temp dir), the real
//! `genq` binary, and a raw protocol client for poking the socket directly.

use genq_protocol::Paths;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// Generous bound for anything a test waits on; reaching it means the feature is broken.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The workspace's `target/<profile>` directory, from the test binary's own location.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// A finished command's stderr, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A finished command's stdout, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Path of the `genq` binary, never older than the sources it is built from. A binary newer
/// than every source file is used as it is (`cargo test --workspace` has just built it);
/// otherwise it is built once per test process, with the packages selected so that features
/// resolve as in `cargo test -p genq-e2e` and the two builds do not undo each other.
pub fn genq_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| fresh_bin("genq", &["genq", "genq-e2e"]))
        .clone()
}

/// Path of the `genqd` binary, built like [`genq_bin`] when its sources are newer.
pub fn genqd_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| fresh_bin("genqd", &["genq", "genq-daemon", "genq-e2e"]))
        .clone()
}

/// The workspace binary `name`, rebuilt (selecting `packages`) when a source is newer.
fn fresh_bin(name: &str, packages: &[&str]) -> PathBuf {
    let dir = target_dir();
    let bin = dir.join(name);
    let built_at = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace");
    if built_at.is_some_and(|at| newest_source(root).is_some_and(|src| src < at)) {
        return bin;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    cmd.args(["--bin", name]);
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "building the {name} binary failed");
    bin
}

/// The latest modification time among the files the `genq` binary is built from.
fn newest_source(root: &Path) -> Option<std::time::SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<std::time::SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, newest);
            } else if let Ok(at) = entry.metadata().and_then(|m| m.modified()) {
                *newest = (*newest).max(Some(at));
            }
        }
    }
    let mut newest = None;
    for file in ["Cargo.toml", "Cargo.lock"] {
        if let Ok(at) = std::fs::metadata(root.join(file)).and_then(|m| m.modified()) {
            newest = newest.max(Some(at));
        }
    }
    for krate in ["protocol", "daemon", "tui"] {
        walk(&root.join(krate).join("src"), &mut newest);
        if let Ok(at) =
            std::fs::metadata(root.join(krate).join("Cargo.toml")).and_then(|m| m.modified())
        {
            newest = newest.max(Some(at));
        }
    }
    newest
}

/// Installs the TLS provider reqwest needs; harmless when already done.
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An isolated genq installation: its own home, config, database and socket.
pub struct Home {
    pub dir: tempfile::TempDir,
    pub paths: Paths,
    envs: Vec<(String, String)>,
}

impl Default for Home {
    fn default() -> Self {
        Home::new()
    }
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::Builder::new()
            .prefix("gq")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let paths = Paths::resolve(
            |k| (k == "GENQ_HOME").then(|| dir.path().to_path_buf()),
            nix::unistd::getuid().as_raw(),
        );
        Home {
            dir,
            paths,
            envs: Vec::new(),
        }
    }

    /// Sets an environment variable for every genq process this home starts (the daemon
    /// inherits it when autostarted).
    pub fn env(&mut self, key: &str, value: &str) {
        self.envs.push((key.into(), value.into()));
    }

    pub fn write_config(&self, toml: &str) {
        std::fs::write(&self.paths.config, toml).expect("write config");
        set_mode(&self.paths.config, 0o600);
    }

    /// A `genq` command in this home. Provider keys from the outer environment are removed
    /// so a test only sees the keys it sets.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(genq_bin());
        c.args(args)
            .env("GENQ_HOME", self.dir.path())
            .env("GENQ_LOG", "debug")
            .env_remove("GENQ_NO_AUTOSTART")
            .stdin(Stdio::null());
        for k in [
            "MODELSCOPE_API_TOKEN",
            "MODELSCOPE_API_KEY",
            "DASHSCOPE_API_KEY",
            "TRIPO_API_KEY",
        ] {
            c.env_remove(k);
        }
        for (k, v) in &self.envs {
            c.env(k, v);
        }
        c
    }

    /// Runs `genq ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run genq")
    }

    /// Runs `genq ARGS` without blocking the async runtime (fakes in this process keep
    /// answering the daemon meanwhile).
    pub async fn run_async(&self, args: &[&str]) -> Output {
        let cmd = self.cmd(args);
        tokio::process::Command::from(cmd)
            .output()
            .await
            .expect("run genq")
    }

    /// [`run_async`](Self::run_async), asserting success; returns stdout.
    pub async fn ok_async(&self, args: &[&str]) -> String {
        let out = self.run_async(args).await;
        assert!(
            out.status.success(),
            "genq {args:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// [`ok_async`](Self::ok_async) for a `--json` command, parsed.
    pub async fn json_async(&self, args: &[&str]) -> Value {
        let out = self.ok_async(args).await;
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("genq {args:?}: not JSON ({e}): {out}"))
    }

    /// Points genq at a fake ModelScope (and, when given, DashScope) with their keys, plus
    /// any extra config.
    pub fn use_fakes(
        &mut self,
        ms: Option<&crate::fakes::ModelScopeFake>,
        ds: Option<&crate::fakes::DashScopeFake>,
        extra: &str,
    ) {
        let mut toml = String::new();
        if let Some(ms) = ms {
            toml.push_str(&format!(
                "[providers.modelscope]\nbase_url = \"{}\"\napi_key_env = \"GENQ_TEST_MS_KEY\"\n",
                ms.base_url()
            ));
            self.env("GENQ_TEST_MS_KEY", &ms.key());
        }
        if let Some(ds) = ds {
            toml.push_str(&format!(
                "[providers.dashscope]\nbase_url = \"{}\"\napi_key_env = \"GENQ_TEST_DS_KEY\"\n",
                ds.base_url()
            ));
            self.env("GENQ_TEST_DS_KEY", &ds.key());
        }
        toml.push_str(extra);
        self.write_config(&toml);
    }

    /// Runs `genq ARGS`, asserting success, and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "genq {args:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `genq ARGS --json` (args must include it) and parses stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("genq {args:?}: not JSON ({e}): {out}"))
    }

    pub fn start_daemon(&self) {
        self.ok(&["daemon", "start"]);
    }

    /// The running daemon's pid, from its lock file.
    pub fn daemon_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(&self.paths.lock).ok()?;
        let pid: i32 = text.trim().parse().ok()?;
        alive(pid).then_some(pid)
    }

    /// `kill -9` the daemon and wait until it is gone.
    pub fn kill9(&self) {
        if let Some(pid) = self.daemon_pid() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            wait_gone(pid);
        }
    }

    /// The last lines of the daemon's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log: String = self
            .log()
            .lines()
            .filter(|l| l.contains(" genq"))
            .map(|l| format!("{l}\n"))
            .collect();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The daemon's log so far (for failure messages and secret checks).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.paths.log_file()).unwrap_or_default()
    }

    /// Waits (through events) until job `id` is final, and returns it as `jobs.get` shows it.
    pub async fn finished(&self, id: &str) -> Value {
        let mut c = self.client().await;
        c.ok("subscribe", json!({"since_seq": 0})).await;
        let ended = tokio::time::timeout(PATIENCE, c.wait_final(id)).await;
        assert!(ended.is_ok(), "job {id} did not end:\n{}", self.log_tail());
        c.ok("jobs.get", json!({"id": id})).await
    }

    /// Connects a raw protocol client (after `hello`).
    pub async fn client(&self) -> RawClient {
        let mut c = RawClient::connect(&self.paths.socket).await;
        let hello = c
            .call(
                "hello",
                json!({"protocol": genq_protocol::PROTOCOL_VERSION, "client": "test"}),
            )
            .await;
        assert!(hello.get("result").is_some(), "hello failed: {hello}");
        c
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        if let Some(pid) = self.daemon_pid() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            wait_gone(pid);
        }
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

pub fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie still counts, so look at /proc too.
    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits until a process has exited (bounded by [`PATIENCE`]).
pub fn wait_gone(pid: i32) {
    let start = std::time::Instant::now();
    while alive(pid) {
        assert!(start.elapsed() < PATIENCE, "process {pid} did not exit");
        // Polling a pid: there is no portable event for another process's exit.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A protocol client that speaks raw lines, for tests of the wire itself.
pub struct RawClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    /// Notifications read while waiting for a response.
    pub notifications: std::collections::VecDeque<Value>,
}

impl RawClient {
    pub async fn connect(socket: &Path) -> RawClient {
        let stream = UnixStream::connect(socket)
            .await
            .expect("connect to the daemon socket");
        let (r, w) = stream.into_split();
        RawClient {
            reader: BufReader::new(r),
            writer: w,
            next_id: 1,
            notifications: Default::default(),
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write to socket");
        self.writer.flush().await.expect("flush socket");
    }

    /// Writes what it can: the daemon may close the connection part way through (an
    /// oversized frame), which is what some tests provoke.
    pub async fn send_raw_lossy(&mut self, bytes: &[u8]) {
        if self.writer.write_all(bytes).await.is_ok() {
            let _ = self.writer.flush().await;
        }
    }

    /// Reads one line; `None` when the daemon closed the connection.
    pub async fn read_line(&mut self) -> Option<Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(PATIENCE, self.reader.read_line(&mut line))
            .await
            .expect("daemon answered in time")
            .ok()?;
        if n == 0 {
            return None;
        }
        Some(
            serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("bad line from daemon ({e}): {line}")),
        )
    }

    /// Sends a request and returns its response (the whole JSON-RPC object), keeping any
    /// notifications that arrive first.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let line =
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        self.send_raw(format!("{line}\n").as_bytes()).await;
        loop {
            let msg = self
                .read_line()
                .await
                .expect("connection closed before the response");
            if msg.get("id") == Some(&json!(id)) {
                return msg;
            }
            self.notifications.push_back(msg);
        }
    }

    /// Like [`call`](Self::call) but returns `result`, panicking on an error.
    pub async fn ok(&mut self, method: &str, params: Value) -> Value {
        let resp = self.call(method, params).await;
        resp.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{method} failed: {resp}"))
    }

    /// The next notification (already buffered or read from the socket).
    pub async fn notification(&mut self) -> Value {
        if let Some(n) = self.notifications.pop_front() {
            return n;
        }
        self.read_line()
            .await
            .expect("connection closed while waiting for a notification")
    }

    /// Reads `event` notifications until `pred` holds for one, returning all seen.
    pub async fn events_until(&mut self, mut pred: impl FnMut(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let n = self.notification().await;
            if n["method"] == "event" {
                let ev = n["params"].clone();
                let done = pred(&ev);
                seen.push(ev);
                if done {
                    return seen;
                }
            }
        }
    }

    /// Waits until job `id` reaches a final state, via events; returns that state.
    /// `id` is anything `jobs.get` takes: the job's number, its id or the start of it.
    pub async fn wait_final(&mut self, id: &str) -> String {
        let job = self.ok("jobs.get", json!({"id": id})).await;
        let state = job["state"].as_str().unwrap_or_default().to_string();
        if ["succeeded", "failed", "canceled"].contains(&state.as_str()) {
            return state;
        }
        let id = job["id"].clone();
        let evs = self
            .events_until(|e| {
                e["job_id"] == id
                    && e["type"] == "state"
                    && ["succeeded", "failed", "canceled"].contains(&e["to"].as_str().unwrap_or(""))
            })
            .await;
        evs.last()
            .and_then(|e| e["to"].as_str())
            .unwrap_or_default()
            .to_string()
    }
}

/// Wakes a waiter on every event a subscribed connection receives, while the waiter never
/// reads that socket itself (a read cut short by a timeout would lose part of a line). For
/// tests that check state with their own calls and must not hang if an event is lost.
pub struct EventPulse {
    pulse: std::sync::Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl EventPulse {
    /// Subscribes a new connection to new events.
    pub async fn start(home: &Home) -> EventPulse {
        let mut c = home.client().await;
        c.ok("subscribe", json!({})).await;
        let pulse = std::sync::Arc::new(tokio::sync::Notify::new());
        let notify = pulse.clone();
        let task = tokio::spawn(async move {
            while c.read_line().await.is_some() {
                notify.notify_one();
            }
        });
        EventPulse { pulse, task }
    }

    /// Returns after the next event (or one that came since the last call), or after `max`;
    /// true when an event came.
    pub async fn wait(&self, max: Duration) -> bool {
        tokio::time::timeout(max, self.pulse.notified())
            .await
            .is_ok()
    }
}

impl Drop for EventPulse {
    fn drop(&mut self) {
        self.task.abort();
    }
}
