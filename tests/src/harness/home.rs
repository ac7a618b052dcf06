//! An isolated genq home per test (`GENQ_HOME` in a temp dir): its config pointing at the
//! fakes, `genq` commands run in it, submits, the daemon's log and pid.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use genq_protocol::Paths;
use serde_json::{Value, json};

use super::bins::genq_bin;
use super::client::RawClient;
use super::process::{PATIENCE, alive, set_mode, stderr, stdout, terminate, wait_gone};
use crate::fakes::{DashScopeFake, ModelScopeFake, TripoFake};

/// A fake's tasks take a fraction of a second, not the half minute a real model takes: the
/// first poll of a provider section the harness writes comes after this, unless the test sets
/// `typical_s` itself.
const FAKE_TYPICAL: &str = "typical_s = 0.5\n";

/// Whether config lines set `typical_s` themselves.
fn sets_typical(extra: &str) -> bool {
    extra
        .lines()
        .any(|l| l.trim_start().starts_with("typical_s"))
}

/// Installs the TLS provider reqwest needs; harmless when already done.
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A `[catalog.SOURCE]` config section pointing the LoRA catalog at a fake site.
pub fn catalog_section(source: &str, base_url: &str) -> String {
    format!("[catalog.{source}]\nbase_url = \"{base_url}\"\n")
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

    /// A home (TLS ready) whose config is `toml`.
    pub fn with_config(toml: &str) -> Home {
        init_tls();
        let home = Home::new();
        home.write_config(toml);
        home
    }

    /// A home (TLS ready) whose config points genq at a fake ModelScope, its key in the
    /// environment, plus the `extra` config lines.
    pub fn with_modelscope(ms: &ModelScopeFake, extra: &str) -> Home {
        Home::with_fakes(Some(ms), None, extra)
    }

    /// A home (TLS ready) pointing genq at a fake DashScope, like
    /// [`with_modelscope`](Self::with_modelscope).
    pub fn with_dashscope(ds: &DashScopeFake, extra: &str) -> Home {
        Home::with_fakes(None, Some(ds), extra)
    }

    /// A home (TLS ready) pointing genq at the given fakes; see [`use_fakes`](Self::use_fakes).
    pub fn with_fakes(
        ms: Option<&ModelScopeFake>,
        ds: Option<&DashScopeFake>,
        extra: &str,
    ) -> Home {
        init_tls();
        let mut home = Home::new();
        home.use_fakes(ms, ds, extra);
        home
    }

    /// A home (TLS ready) pointing genq at a fake Tripo, like
    /// [`with_modelscope`](Self::with_modelscope).
    pub fn with_tripo(tp: &TripoFake, extra: &str) -> Home {
        init_tls();
        let mut home = Home::new();
        let mut toml = home.provider_section(
            "tripo",
            &tp.base_url(),
            "GENQ_TEST_TRIPO_KEY",
            &tp.key(),
            sets_typical(extra),
        );
        toml.push_str(extra);
        home.write_config(&toml);
        home
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
            .env_remove("GENQ_HOST")
            .env_remove("GENQ_SSH_COMMAND")
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

    /// This home's `genq` as one shell command line (`env GENQ_HOME=… KEY=… /path/genq`), for
    /// running it on the "remote" end of an ssh connection.
    pub fn command_line(&self) -> String {
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let mut line = format!(
            "env GENQ_HOME={}",
            quote(&self.dir.path().display().to_string())
        );
        for (k, v) in &self.envs {
            line += &format!(" {k}={}", quote(v));
        }
        format!("{line} {}", quote(&genq_bin().display().to_string()))
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
        self.succeeded(args, &out)
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
        ms: Option<&ModelScopeFake>,
        ds: Option<&DashScopeFake>,
        extra: &str,
    ) {
        let mut toml = String::new();
        if let Some(ms) = ms {
            let own = ds.is_none() && sets_typical(extra);
            toml += &self.provider_section(
                "modelscope",
                &ms.base_url(),
                "GENQ_TEST_MS_KEY",
                &ms.key(),
                own,
            );
        }
        if let Some(ds) = ds {
            let own = sets_typical(extra);
            toml += &self.provider_section(
                "dashscope",
                &ds.base_url(),
                "GENQ_TEST_DS_KEY",
                &ds.key(),
                own,
            );
        }
        toml.push_str(extra);
        self.write_config(&toml);
    }

    /// A `[providers.NAME]` config section for a fake at `base_url`, its key given to genq
    /// through the environment variable `key_env`. Its first poll comes after
    /// [`FAKE_TYPICAL`] unless `own_typical` (the lines that follow set `typical_s`).
    fn provider_section(
        &mut self,
        name: &str,
        base_url: &str,
        key_env: &str,
        key: &str,
        own_typical: bool,
    ) -> String {
        self.env(key_env, key);
        let mut section =
            format!("[providers.{name}]\nbase_url = \"{base_url}\"\napi_key_env = \"{key_env}\"\n");
        if !own_typical {
            section.push_str(FAKE_TYPICAL);
        }
        section
    }

    /// Runs `genq ARGS`, asserting success, and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        self.succeeded(args, &out)
    }

    /// Asserts that `genq ARGS` succeeded (showing its output and the daemon's log when it
    /// did not); returns its stdout.
    fn succeeded(&self, args: &[&str], out: &Output) -> String {
        assert!(
            out.status.success(),
            "genq {args:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log:\n{}",
            out.status,
            stdout(out),
            stderr(out),
            self.log_tail()
        );
        stdout(out)
    }

    /// Asserts that a command this home ran succeeded, showing its stderr and the daemon's
    /// log when it did not.
    pub fn assert_success(&self, out: &Output) {
        assert!(out.status.success(), "{}\n{}", stderr(out), self.log_tail());
    }

    /// Runs `genq ARGS`, asserting that it refuses them as invalid (exit code 2); returns
    /// what it said on stderr.
    pub async fn refused_async(&self, args: &[&str]) -> String {
        let out = self.run_async(args).await;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "genq {args:?}: {err}");
        err
    }

    /// `genq submit --provider PROVIDER ARGS --json`, asserting success: the new job.
    pub async fn submit_job(&self, provider: &str, args: &[&str]) -> Value {
        let mut argv = vec!["submit", "--provider", provider];
        argv.extend_from_slice(args);
        argv.push("--json");
        self.json_async(&argv).await
    }

    /// `genq submit --provider PROVIDER --prompt PROMPT --json` without waiting: the new
    /// job's id.
    pub async fn submit(&self, provider: &str, prompt: &str) -> String {
        let job = self.submit_job(provider, &["--prompt", prompt]).await;
        job["id"].as_str().expect("a job id").to_string()
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

    /// Starts the daemon with `envs` in its environment only (a bench's provider key, a log
    /// level), asserting it started.
    pub fn start_daemon_with(&self, envs: &[(&str, &str)]) {
        let args = ["daemon", "start"];
        let mut cmd = self.cmd(&args);
        cmd.envs(envs.iter().copied());
        let out = cmd.output().expect("run genq daemon start");
        self.succeeded(&args, &out);
    }

    /// The running daemon's pid, from the first line of its lock file.
    pub fn daemon_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(&self.paths.lock).ok()?;
        let pid: i32 = text.lines().next()?.trim().parse().ok()?;
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
        self.finished_within(id, PATIENCE).await
    }

    /// [`finished`](Self::finished), failing the test when the job takes longer than `limit`.
    pub async fn finished_within(&self, id: &str, limit: Duration) -> Value {
        let mut c = self.subscribed().await;
        let ended = tokio::time::timeout(limit, c.wait_final(id)).await;
        assert!(ended.is_ok(), "job {id} did not end:\n{}", self.log_tail());
        c.ok("jobs.get", json!({"id": id})).await
    }

    /// A protocol client subscribed to every event from the first one on.
    pub async fn subscribed(&self) -> RawClient {
        let mut c = self.client().await;
        c.ok("subscribe", json!({"since_seq": 0})).await;
        c
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
        terminate(self.daemon_pid());
    }
}
