//! genq against pueue on the same machine, in the same run, with the same number of
//! jobs/tasks (10,000 finished ones each): the full JSON listing, the default listing, one
//! lookup, one submit/add, and each daemon's memory. The commands run alternately (genq,
//! pueue, genq, …) so both see the same machine; medians and ratios are printed.
//!
//! pueue 4.0.x is found through `PUEUE_BIN` (the `pueue` binary; `pueued` beside it) or
//! `PATH`; without it the bench says so and skips. `cargo install pueue --locked` gets it.
//!
//! `cargo bench -p genq-e2e --bench versus_pueue` (`GENQ_BENCH_JOBS` changes the 10,000,
//! `GENQ_BENCH_ROUNDS` the 15 runs of each command)

mod shared;

use genq_e2e::harness::{Home, genq_bin};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn env_number(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `pueue` and `pueued`, from `PUEUE_BIN` or `PATH`.
fn pueue_bins() -> Option<(PathBuf, PathBuf)> {
    let pueue = match std::env::var_os("PUEUE_BIN") {
        Some(p) => PathBuf::from(p),
        None => std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join("pueue"))
            .find(|p| p.is_file())?,
    };
    let pueued = pueue.with_file_name("pueued");
    (pueue.is_file() && pueued.is_file()).then_some((pueue, pueued))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Runs a command to completion, output discarded but its success checked; its wall time.
fn timed(mut cmd: Command) -> Duration {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let t = Instant::now();
    let out = cmd.output().expect("run the command");
    let el = t.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    el
}

/// A pueue daemon of its own, in a directory of its own.
struct Pueue {
    bin: PathBuf,
    daemon_bin: PathBuf,
    dir: tempfile::TempDir,
    daemon: Option<Child>,
}

impl Pueue {
    fn new(bin: PathBuf, daemon_bin: PathBuf) -> Pueue {
        let dir = tempfile::tempdir().expect("pueue dir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("run")).expect("pueue runtime dir");
        std::fs::write(
            d.join("pueue.yml"),
            format!(
                "shared:\n  pueue_directory: {0}/data\n  runtime_directory: {0}/run\n  use_unix_socket: true\n  \
                 unix_socket_path: {0}/run/pueue.socket\ndaemon:\n  pause_group_on_failure: false\n",
                d.display()
            ),
        )
        .expect("pueue config");
        Pueue {
            bin,
            daemon_bin,
            dir,
            daemon: None,
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("pueue.yml")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--config").arg(self.config()).args(args);
        c.stdin(Stdio::null());
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("run pueue");
        assert!(
            out.status.success(),
            "pueue {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn start(&mut self) {
        let child = Command::new(&self.daemon_bin)
            .arg("--config")
            .arg(self.config())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pueued");
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self
            .cmd(&["status"])
            .output()
            .is_ok_and(|o| !o.status.success())
        {
            assert!(Instant::now() < deadline, "pueued did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        let _ = self.cmd(&["shutdown"]).output();
        if let Some(mut c) = self.daemon.take() {
            let _ = c.wait();
        }
    }

    fn pid(&self) -> u32 {
        self.daemon.as_ref().map(|c| c.id()).expect("pueued runs")
    }

    fn state_file(&self) -> PathBuf {
        self.dir.path().join("data/state.json")
    }

    /// `count` finished tasks: one is run for real, then copied under new ids in pueue's own
    /// state file while its daemon is stopped (adding them one by one takes minutes); the
    /// task `shown` gets a copy of its output too, for `pueue log`.
    fn fill(&mut self, count: u32, shown: u32) {
        self.start();
        // pueue keeps the environment of `pueue add` with each task; a bare one keeps its
        // state small, pueue at its best.
        let out = self
            .cmd(&[
                "add",
                "--",
                "echo",
                "a lighthouse at dusk, oil painting, sea",
            ])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .output()
            .expect("pueue add");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.ok(&["wait"]);
        self.stop();
        let path = self.state_file();
        let text = std::fs::read_to_string(&path).expect("pueue state");
        let mut state: Value = serde_json::from_str(&text).expect("pueue state is JSON");
        let tasks = state["tasks"].as_object_mut().expect("tasks");
        let (_, first) = tasks.iter().next().expect("the task added");
        let first = first.clone();
        tasks.clear();
        for i in 0..count {
            let mut task = first.clone();
            task["id"] = i.into();
            task["original_command"] = format!("echo job number {i}").into();
            task["command"] = format!("echo job number {i}").into();
            tasks.insert(i.to_string(), task);
        }
        std::fs::write(&path, serde_json::to_vec(&state).expect("state")).expect("write state");
        let logs = self.dir.path().join("data/task_logs");
        let _ = std::fs::copy(logs.join("0.log"), logs.join(format!("{shown}.log")));
        self.start();
    }
}

impl Drop for Pueue {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start_genq(home: &Home) {
    home.start_daemon_with(&[("BENCH_KEY", "sk-bench"), ("GENQ_LOG", "info")]);
}

fn genq(home: &Home, args: &[&str]) -> Command {
    let mut c = home.cmd(args);
    c.env("GENQ_LOG", "info").env("GENQ_NO_AUTOSTART", "1");
    c
}

struct Row {
    what: &'static str,
    genq_cmd: String,
    pueue_cmd: String,
    genq: Duration,
    pueue: Duration,
}

/// Each pair run `rounds` times, alternating.
fn compare(
    rounds: u32,
    what: &'static str,
    mut g: impl FnMut() -> (String, Command),
    mut p: impl FnMut() -> (String, Command),
) -> Row {
    let (mut gt, mut pt) = (Vec::new(), Vec::new());
    let (mut genq_cmd, mut pueue_cmd) = (String::new(), String::new());
    for _ in 0..rounds {
        let (shown, cmd) = g();
        gt.push(timed(cmd));
        genq_cmd = shown;
        let (shown, cmd) = p();
        pt.push(timed(cmd));
        pueue_cmd = shown;
    }
    let row = Row {
        what,
        genq_cmd,
        pueue_cmd,
        genq: median(gt),
        pueue: median(pt),
    };
    println!(
        "{what}: genq {} ({})  pueue {} ({})  pueue/genq {:.1}×",
        ms(row.genq),
        row.genq_cmd,
        ms(row.pueue),
        row.pueue_cmd,
        row.pueue.as_secs_f64() / row.genq.as_secs_f64()
    );
    row
}

fn print_table(rows: &[Row], memory: &[(String, u64, u64)]) {
    println!();
    println!("| what | genq | pueue | pueue / genq |");
    println!("|---|---|---|---|");
    for r in rows {
        println!(
            "| {} (`{}` / `{}`) | {} | {} | {:.1}× |",
            r.what,
            r.genq_cmd,
            r.pueue_cmd,
            ms(r.genq),
            ms(r.pueue),
            r.pueue.as_secs_f64() / r.genq.as_secs_f64()
        );
    }
    for (what, g, p) in memory {
        println!(
            "| {what} | {:.1} MB | {:.1} MB | {:.1}× |",
            *g as f64 / 1024.0,
            *p as f64 / 1024.0,
            *p as f64 / *g as f64
        );
    }
}

#[tokio::main]
async fn main() {
    let Some((pueue_bin, pueued_bin)) = pueue_bins() else {
        println!(
            "versus_pueue: skipped, pueue is not installed (`cargo install pueue --locked`, \
             then put it on PATH or set PUEUE_BIN)"
        );
        return;
    };
    let version = Command::new(&pueue_bin)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let count = env_number("GENQ_BENCH_JOBS", 10_000);
    let rounds = env_number("GENQ_BENCH_ROUNDS", 15).max(1);
    let _ = genq_bin();
    println!("genq against {version}, {count} jobs/tasks each, {rounds} rounds");

    let home = shared::home_with_finished_jobs(
        count,
        "UPDATE jobs SET state = 'succeeded', finished_at = created_at + 20000, \
         updated_at = created_at + 20000",
        start_genq,
    )
    .await;
    let mut pueue = Pueue::new(pueue_bin, pueued_bin);
    let t = Instant::now();
    pueue.fill(count, count / 2);
    println!("pueue filled in {:.1} s", t.elapsed().as_secs_f64());
    let genq_pid = home.daemon_pid().expect("genqd runs") as u32;
    let idle = (
        "daemon RSS after start".to_string(),
        rss_kib(genq_pid).unwrap_or(0),
        rss_kib(pueue.pid()).unwrap_or(0),
    );

    let all = count.to_string();
    let mut rows = Vec::new();
    rows.push(compare(
        rounds,
        "full JSON listing",
        || {
            (
                format!("genq jobs --json --limit {all}"),
                genq(&home, &["jobs", "--json", "--limit", &all]),
            )
        },
        || {
            (
                "pueue status --json".into(),
                pueue.cmd(&["status", "--json"]),
            )
        },
    ));
    rows.push(compare(
        rounds,
        "default listing",
        || ("genq jobs".into(), genq(&home, &["jobs"])),
        || ("pueue status".into(), pueue.cmd(&["status"])),
    ));
    let middle = (count / 2).to_string();
    rows.push(compare(
        rounds,
        "one lookup",
        || {
            (
                format!("genq show {middle}"),
                genq(&home, &["show", &middle]),
            )
        },
        || (format!("pueue log {middle}"), pueue.cmd(&["log", &middle])),
    ));
    rows.push(compare(
        rounds,
        "one submit/add",
        || {
            (
                "genq submit --provider dashscope --prompt …".into(),
                genq(
                    &home,
                    &[
                        "submit",
                        "--provider",
                        "dashscope",
                        "--prompt",
                        "a lighthouse at dusk",
                    ],
                ),
            )
        },
        || {
            (
                "pueue add --stashed -- echo …".into(),
                pueue.cmd(&["add", "--stashed", "--", "echo", "a lighthouse at dusk"]),
            )
        },
    ));
    let loaded = (
        "daemon RSS after the runs".to_string(),
        rss_kib(genq_pid).unwrap_or(0),
        rss_kib(pueue.pid()).unwrap_or(0),
    );
    print_table(&rows, &[idle, loaded]);
    let _ = genq(&home, &["daemon", "stop"]).output();
    drop(pueue);
}
