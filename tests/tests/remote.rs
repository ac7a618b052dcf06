//! `--host`: the CLI driving a daemon through the user's own ssh, against a real OpenSSH
//! server on loopback. The "remote" is this machine with a home of its own, reached by running
//! its `genq dial-stdio` through ssh; the "laptop" is another home whose config names it.
//! Without OpenSSH's server the tests say so and pass, unless `CI` is set.

use genq_e2e::fakes::{ModelScopeFake, MsOutcome, MsScript};
use genq_e2e::harness::{Home, PATIENCE, Sshd, alive, stderr, stdout, wait_gone};
use serde_json::{Value, json};
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A laptop home whose `[hosts.box]` is the remote home through `sshd`, and whose ssh is the
/// fixture's wrapper; `extra` is more config.
fn laptop(sshd: &Sshd, remote: &Home, extra: &str) -> Home {
    let mut home = Home::with_config(&format!(
        "[hosts.box]\nurl = {:?}\ngenq = {:?}\n{extra}",
        sshd.url(),
        remote.command_line()
    ));
    home.env("GENQ_SSH_COMMAND", &sshd.ssh_command());
    home
}

/// `genq --host box ARGS` from the laptop.
async fn over(laptop: &Home, args: &[&str]) -> Output {
    let mut argv = vec!["--host", "box"];
    argv.extend_from_slice(args);
    laptop.run_async(&argv).await
}

fn said(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_wait_and_show_over_ssh_match_the_local_commands() {
    let Some(sshd) = Sshd::start() else { return };
    let ms = ModelScopeFake::start().await;
    let remote = Home::with_modelscope(&ms, "typical_s = 0.2\n");
    let laptop = laptop(&sshd, &remote, "");

    let out = over(
        &laptop,
        &[
            "submit",
            "--provider",
            "modelscope",
            "--prompt",
            "far away",
            "--wait",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}\n{}", said(&out), sshd.log());
    let num = stdout(&out)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(stderr(&out).contains("succeeded"), "{}", said(&out));

    // The same command gives the same output and exit code, over ssh and on the remote itself.
    for args in [
        vec!["show", num.as_str()],
        vec!["show", num.as_str(), "--json"],
        vec!["jobs", "--json"],
        vec!["wait", num.as_str()],
        vec!["show", "nosuchjob"],
    ] {
        let there = remote.run_async(&args).await;
        let here = over(&laptop, &args).await;
        assert_eq!(
            here.status.code(),
            there.status.code(),
            "{args:?}: {}",
            said(&here)
        );
        assert_eq!(stdout(&here), stdout(&there), "{args:?}");
        assert_eq!(stderr(&here), stderr(&there), "{args:?}");
    }
    // Outputs stay on the remote host: the job's files are in its home.
    let job: Value = serde_json::from_str(&stdout(&over(&laptop, &["show", &num, "--json"]).await))
        .expect("show --json");
    let path = job["outputs"][0]["path"].as_str().expect("an output path");
    assert!(
        path.starts_with(&remote.dir.path().display().to_string()),
        "{path}"
    );
    assert!(
        !path.starts_with(&laptop.dir.path().display().to_string()),
        "{path}"
    );

    // A job that fails makes `submit --wait` exit 1 over ssh too.
    ms.set_script(MsScript::outcome_after(
        Duration::ZERO,
        MsOutcome::ContentPolicy,
    ));
    let out = over(
        &laptop,
        &[
            "submit",
            "--provider",
            "modelscope",
            "--prompt",
            "doomed",
            "--wait",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));

    // The laptop's own daemon reads the same config: its [hosts] tables are no error there.
    laptop.ok_async(&["jobs"]).await;
    let status = laptop.json_async(&["daemon", "status", "--json"]).await;
    assert_eq!(status["config_error"], Value::Null, "{status}");
    assert_ne!(
        status["pid"],
        remote.json_async(&["daemon", "status", "--json"]).await["pid"]
    );
}

/// A remote home with one job that stays running, and a laptop reaching it through sshd.
struct Stuck {
    sshd: Sshd,
    /// Kept until the test ends: the job's provider.
    _ms: ModelScopeFake,
    remote: Home,
    laptop: Home,
    id: String,
}

/// [`Stuck`], or `None` when OpenSSH's server is missing.
async fn stuck_job(prompt: &str) -> Option<Stuck> {
    let sshd = Sshd::start()?;
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::outcome_after(Duration::ZERO, MsOutcome::Never));
    let remote = Home::with_modelscope(&ms, "");
    let laptop = laptop(&sshd, &remote, "");
    let id = remote.submit("modelscope", prompt).await;
    Some(Stuck {
        sshd,
        _ms: ms,
        remote,
        laptop,
        id,
    })
}

/// Reads lines of a child's stream until `done` says so; every line read is kept.
async fn read_until(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    seen: &mut Vec<String>,
    mut done: impl FnMut(&str) -> bool,
) {
    loop {
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("a line in time")
            .expect("readable")
            .expect("the stream did not end");
        let stop = done(&line);
        seen.push(line);
        if stop {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_picks_up_after_its_ssh_is_killed_without_missing_or_repeating_events() {
    let Some(Stuck {
        sshd,
        remote,
        laptop,
        id,
        _ms,
    }) = stuck_job("watched from afar").await
    else {
        return;
    };
    let mut c = remote.subscribed().await;
    c.events_until(|e| e["job_id"] == id.as_str() && e["to"] == "running")
        .await;

    let mut watch =
        tokio::process::Command::from(laptop.cmd(&["--host", "box", "watch", &id, "--json"]))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start watch");
    let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    let mut printed = Vec::new();
    // The job's story so far comes first, up to its running state.
    read_until(&mut lines, &mut printed, |l| l.contains("\"running\"")).await;
    let before = sshd.client_pids().len();

    // The connection drops; meanwhile the job moves on.
    sshd.kill_newest_client();
    remote.ok_async(&["cancel", &id]).await;

    read_until(&mut lines, &mut printed, |l| l.contains("\"canceled\"")).await;
    let out = tokio::time::timeout(PATIENCE, watch.wait_with_output())
        .await
        .expect("watch ended with the job")
        .expect("watch output");
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(
        stdout(&out).is_empty(),
        "nothing after the final event: {}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("connected to") && stderr(&out).contains("again"),
        "{}",
        stderr(&out)
    );
    assert!(sshd.client_pids().len() > before, "a new ssh was started");

    // Exactly the job's events, in order, each once.
    let printed: Vec<u64> = printed
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("JSON")["seq"]
                .as_u64()
                .expect("seq")
        })
        .collect();
    let log = c.ok("jobs.events", json!({"id": id})).await;
    let logged: Vec<u64> = log
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["seq"].as_u64())
        .collect();
    assert_eq!(printed, logged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_follows_a_job_across_a_killed_ssh() {
    let Some(Stuck {
        sshd,
        remote,
        laptop,
        id,
        _ms,
    }) = stuck_job("waited for").await
    else {
        return;
    };

    let mut wait = tokio::process::Command::from(laptop.cmd(&["--host", "box", "wait", &id]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start wait");
    // Without a terminal, `wait` says which job it follows once it has read it.
    let mut errs = BufReader::new(wait.stderr.take().expect("stderr")).lines();
    let first = tokio::time::timeout(PATIENCE, errs.next_line())
        .await
        .expect("wait reported the job")
        .expect("readable")
        .expect("a line");
    assert!(!first.contains("genq:"), "{first}");

    sshd.kill_newest_client();
    remote.ok_async(&["cancel", &id]).await;
    let mut rest = String::new();
    while let Ok(Some(line)) = tokio::time::timeout(PATIENCE, errs.next_line())
        .await
        .expect("wait went on")
    {
        rest += &line;
        rest.push('\n');
    }
    let out = tokio::time::timeout(PATIENCE, wait.wait_with_output())
        .await
        .expect("wait ended")
        .expect("wait output");
    assert_eq!(out.status.code(), Some(1), "{}\n{rest}", said(&out));
    let num = remote.json_async(&["show", &id, "--json"]).await["num"].to_string();
    assert!(
        stdout(&out).contains(&format!("{num} canceled")),
        "{}",
        said(&out)
    );
    assert!(rest.contains("again"), "{rest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_remote_daemon_outlives_the_ssh_session_and_stops_on_request() {
    let Some(sshd) = Sshd::start() else { return };
    let ms = ModelScopeFake::start().await;
    let remote = Home::with_modelscope(&ms, "");
    let laptop = laptop(&sshd, &remote, "");
    assert_eq!(remote.daemon_pid(), None);

    // The first command starts the remote daemon through dial-stdio.
    let out = over(&laptop, &["jobs"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let pid = remote.daemon_pid().expect("the remote daemon runs");
    let status = over(&laptop, &["daemon", "status", "--json"]).await;
    let status: Value = serde_json::from_str(&stdout(&status)).expect("status JSON");
    assert_eq!(status["pid"].as_i64(), Some(i64::from(pid)), "{status}");

    // Every ssh session has ended, then the ssh server itself: the daemon answers on.
    for client in sshd.client_pids() {
        wait_gone(client);
    }
    drop(sshd);
    assert!(alive(pid));
    let mut c = remote.client().await;
    let got = c.ok("daemon.status", json!({})).await;
    assert_eq!(got["pid"].as_i64(), Some(i64::from(pid)));
    drop(c);

    // With a new server, `daemon stop` over ssh stops it and says so.
    let sshd = Sshd::start().expect("sshd again");
    let laptop = self::laptop(&sshd, &remote, "");
    let out = over(&laptop, &["daemon", "stop"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert_eq!(stdout(&out), format!("genq daemon stopped (pid {pid})\n"));
    wait_gone(pid);
    let out = over(&laptop, &["daemon", "stop"]).await;
    assert_eq!(
        stdout(&out),
        "genq daemon is not running\n",
        "{}",
        said(&out)
    );
}

/// Asserts that a finished `genq` exited `code` saying each of `says` on stderr.
fn exits_saying(out: &Output, code: i32, says: &[&str]) {
    assert_eq!(out.status.code(), Some(code), "{}", said(out));
    for s in says {
        assert!(stderr(out).contains(s), "expected {s:?}: {}", said(out));
    }
}

/// Asserts that a finished `genq` exited 3 (could not reach) saying each of `says`.
fn exits_3_saying(out: &Output, says: &[&str]) {
    exits_saying(out, 3, says);
}

/// Scripts standing in for a remote genq: `newer` answers hello refusing the protocol, as a
/// daemon of another version does; `older` fails as a genq without `dial-stdio` does.
fn fake_remote_genqs(dir: &std::path::Path) -> [(&'static str, std::path::PathBuf); 2] {
    let refusal = genq_protocol::RpcError::new(
        genq_protocol::ErrorKind::VersionMismatch,
        "this daemon (genq 9.9.9) speaks protocol 99",
    );
    let reply = json!({"jsonrpc": "2.0", "id": 1, "error": refusal});
    std::fs::write(dir.join("reply.json"), format!("{reply}\n")).expect("reply");
    let newer = format!("read line; cat {}/reply.json", dir.display());
    let older = "echo \"error: unrecognized subcommand 'dial-stdio'\" >&2; exit 2".to_string();
    [("newer", newer), ("older", older)].map(|(name, body)| {
        let script = dir.join(name);
        std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).expect("script");
        genq_e2e::harness::set_mode(&script, 0o755);
        (name, script)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_failed_is_said_with_exit_3() {
    let Some(sshd) = Sshd::start() else { return };
    let remote = Home::new();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let scripts = tempfile::tempdir().expect("temp dir");
    let mut hosts = format!(
        "[hosts.bare]\nurl = {:?}\ngenq = \"/nonexistent/genq\"\n\
         [hosts.down]\nurl = \"ssh://127.0.0.1:{closed_port}\"\n",
        sshd.url()
    );
    for (name, script) in fake_remote_genqs(scripts.path()) {
        hosts += &format!(
            "[hosts.{name}]\nurl = {:?}\ngenq = {:?}\n",
            sshd.url(),
            script.display().to_string()
        );
    }
    let mut laptop = laptop(&sshd, &remote, &hosts);

    for (host, says) in [
        (
            "bare",
            &["genq is not installed on", "/nonexistent/genq"][..],
        ),
        ("newer", &["speaks protocol 99"]),
        ("older", &["too old to know `dial-stdio`"]),
        ("down", &["cannot reach 127.0.0.1"]),
    ] {
        exits_3_saying(&laptop.run_async(&["--host", host, "jobs"]).await, says);
    }

    // A key the server does not accept, the host given through GENQ_HOST this time.
    laptop.env("GENQ_SSH_COMMAND", &sshd.stranger_ssh_command());
    let mut cmd = laptop.cmd(&["jobs"]);
    cmd.env("GENQ_HOST", sshd.url());
    let out = tokio::process::Command::from(cmd)
        .output()
        .await
        .expect("run");
    exits_3_saying(&out, &["was refused (authentication failed)"]);

    // No ssh at all.
    let mut cmd = remote.cmd(&["--host", &sshd.url(), "jobs"]);
    cmd.env("PATH", "/nonexistent");
    let out = tokio::process::Command::from(cmd)
        .output()
        .await
        .expect("run");
    exits_3_saying(&out, &["cannot run `ssh`"]);

    // Commands about this machine refuse a host, naming the command; so does a local file.
    let out = over(&laptop, &["daemon", "run"]).await;
    exits_saying(&out, 2, &["`genq daemon run` acts on this machine"]);
    let image = laptop.dir.path().join("here.png");
    std::fs::write(&image, b"png").expect("write an image");
    let image = image.display().to_string();
    let out = over(
        &laptop,
        &["submit", "--provider", "modelscope", "--image", &image],
    )
    .await;
    exits_saying(&out, 2, &["--image: the daemon on"]);
    let out = laptop.run_async(&["--host", "nowhere", "jobs"]).await;
    exits_saying(&out, 2, &["known: bare, box, down, newer, older"]);
}

/// Percentiles of durations, in milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| {
        let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    format!(
        "p50 {:.2} ms, p99 {:.2} ms ({} samples)",
        at(0.5),
        at(0.99),
        samples.len()
    )
}

/// Figures, not a check: `cargo test -p genq-e2e --test remote -- --ignored --nocapture
/// round_trips`. A `daemon.status` call on an open connection, locally and over ssh on
/// loopback, and a whole `genq daemon status` command both ways (ssh's handshake included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints figures"]
async fn round_trips() {
    use genq::client::{Endpoint, SshHost};
    use genq_protocol::methods::{DaemonStatus, Empty};
    let Some(sshd) = Sshd::start() else { return };
    let remote = Home::new();
    remote.start_daemon();
    // SAFETY: set before any connection is made; nothing else reads the environment here.
    unsafe { std::env::set_var("GENQ_SSH_COMMAND", sshd.ssh_command()) };
    let host = SshHost::parse(&sshd.url(), Some(remote.command_line())).expect("url");
    for (name, endpoint) in [
        ("local", Endpoint::Local(remote.paths.clone().into())),
        ("ssh", Endpoint::Ssh(host)),
    ] {
        let (client, _notes) = endpoint.connect("bench", false).await.expect("connect");
        let mut samples = Vec::new();
        for _ in 0..1000 {
            let t = std::time::Instant::now();
            client.call::<DaemonStatus>(Empty {}).await.expect("status");
            samples.push(t.elapsed());
        }
        println!("daemon.status call, {name}: {}", percentiles(samples));
    }
    let laptop = laptop(&sshd, &remote, "");
    for (name, args) in [
        ("local", vec!["daemon", "status"]),
        ("ssh", vec!["--host", "box", "daemon", "status"]),
    ] {
        let mut samples = Vec::new();
        for _ in 0..50 {
            let t = std::time::Instant::now();
            let out = if name == "local" {
                remote.run_async(&args).await
            } else {
                laptop.run_async(&args).await
            };
            samples.push(t.elapsed());
            assert!(out.status.success(), "{}", said(&out));
        }
        println!(
            "`genq daemon status` command, {name}: {}",
            percentiles(samples)
        );
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_over_ssh_copies_the_remote_jobs_files_and_then_skips_them() {
    let Some(sshd) = Sshd::start() else { return };
    let ms = ModelScopeFake::start().await;
    let remote = Home::with_modelscope(&ms, "");
    let laptop = laptop(&sshd, &remote, "");
    let id = remote.submit("modelscope", "fetched from afar").await;
    let job = remote.finished(&id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let output = &job["outputs"][0];
    let remote_file = std::path::Path::new(output["path"].as_str().expect("a path"));
    let name = remote_file
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .to_string();
    let to = tempfile::tempdir().expect("temp dir");
    let to_arg = to.path().display().to_string();

    let out = over(&laptop, &["pull", &id, "--to", &to_arg, "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let files: Value = serde_json::from_str(&stdout(&out)).expect("pull --json");
    let action = |files: &Value, file: &str| {
        files
            .as_array()
            .expect("a list")
            .iter()
            .find(|f| f["name"] == file)
            .and_then(|f| f["action"].as_str())
            .unwrap_or_else(|| panic!("{file} not in {files}"))
            .to_string()
    };
    assert_eq!(action(&files, &name), "copied");
    assert_eq!(action(&files, "params.json"), "copied");
    let here = to.path().join(&id);
    let copied = std::fs::read(here.join(&name)).expect("the copied output");
    assert_eq!(
        sha256_hex(&copied),
        output["sha256"].as_str().expect("sha256")
    );
    assert_eq!(
        copied,
        std::fs::read(remote_file).expect("the remote output")
    );
    assert_eq!(
        std::fs::read(here.join("params.json")).expect("the copied params.json"),
        std::fs::read(remote_file.with_file_name("params.json")).expect("the remote params")
    );

    // Pulled again, by number this time: everything is already there.
    let num = job["num"].to_string();
    let out = over(&laptop, &["pull", &num, "--to", &to_arg, "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let files: Value = serde_json::from_str(&stdout(&out)).expect("pull --json");
    assert_eq!(action(&files, &name), "present");
    assert_eq!(action(&files, "params.json"), "present");
    // The output's recorded sha256 shows the copy here is whole without fetching a byte;
    // params.json has none recorded, so it is read again and found the same.
    let output_row = files
        .as_array()
        .expect("a list")
        .iter()
        .find(|f| f["name"] == name.as_str())
        .expect("the output's row");
    assert_eq!(output_row["transferred"], 0, "{output_row}");
}

/// `genq --host box auth ARGS` from the laptop, `input` on its stdin.
async fn auth_over(laptop: &Home, args: &[&str], input: &str) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut argv = vec!["--host", "box", "auth"];
    argv.extend_from_slice(args);
    let mut child = tokio::process::Command::from(laptop.cmd(&argv))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start genq auth");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.as_bytes())
        .await
        .expect("write stdin");
    drop(stdin);
    child.wait_with_output().await.expect("genq auth")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_over_ssh_sets_lists_and_removes_the_remote_hosts_key() {
    use std::os::unix::fs::PermissionsExt;
    let Some(sshd) = Sshd::start() else { return };
    let ms = ModelScopeFake::start().await;
    // The remote's ModelScope has no key anywhere yet.
    let remote = Home::with_config(&format!(
        "[providers.modelscope]\nbase_url = \"{}\"\n",
        ms.base_url()
    ));
    let laptop = laptop(&sshd, &remote, "");
    let submit = ["submit", "--provider", "modelscope", "--prompt", "keyed"];
    let out = over(&laptop, &submit).await;
    assert_ne!(out.status.code(), Some(0), "{}", said(&out));
    assert!(stderr(&out).contains("no API key"), "{}", said(&out));

    // Set over ssh: the same words and exit code as on the remote itself.
    let out = auth_over(&laptop, &["set", "modelscope"], &format!("{}\n", ms.key())).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let credentials = &remote.paths.credentials;
    assert_eq!(
        stdout(&out),
        format!(
            "stored the key for modelscope in {} (readable by you only)\n",
            credentials.display()
        )
    );
    assert!(stdout(&out).contains(&remote.dir.path().display().to_string()));
    assert!(
        !laptop.paths.credentials.exists(),
        "the laptop's file is untouched"
    );
    let stored = std::fs::read_to_string(credentials).expect("the remote credentials");
    assert!(stored.contains(&ms.key()), "the key is in the remote file");
    let mode = std::fs::metadata(credentials)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    for pid in sshd.client_pids() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&cmdline).contains(&ms.key()));
    }

    let out = over(&laptop, &submit).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));

    // The list names the remote's file, as the remote's own list does.
    for args in [vec!["auth", "list"], vec!["auth", "list", "--json"]] {
        let here = over(&laptop, &args).await;
        let there = remote.run_async(&args).await;
        assert_eq!(here.status.code(), Some(0), "{}", said(&here));
        assert_eq!(stdout(&here), stdout(&there), "{args:?}");
    }
    let list = stdout(&over(&laptop, &["auth", "list"]).await);
    assert!(
        list.contains(&format!("credentials file ({})", credentials.display())),
        "{list}"
    );

    // A bad provider: refused with exit 2, as locally.
    let out = auth_over(&laptop, &["rm", "nosuch"], "").await;
    exits_saying(&out, 2, &["unknown provider"]);

    let out = auth_over(&laptop, &["rm", "modelscope"], "").await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert_eq!(stdout(&out), "removed the stored key for modelscope\n");
    let stored = std::fs::read_to_string(credentials).unwrap_or_default();
    assert!(!stored.contains(&ms.key()), "{stored}");
    let out = over(&laptop, &submit).await;
    assert!(stderr(&out).contains("no API key"), "{}", said(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loras_over_ssh_write_covers_to_a_folder_of_the_remote_given_as_a_file_url() {
    use genq_e2e::fakes::CatalogFake;
    use genq_e2e::harness::catalog_section;
    let Some(sshd) = Sshd::start() else { return };
    let cat = CatalogFake::start().await;
    let remote = Home::with_config(&catalog_section("modelscope", &cat.base_url()));
    let laptop = laptop(&sshd, &remote, "");

    // A folder of this machine: the remote daemon cannot write there, so it is refused.
    let here = laptop.dir.path().join("covers");
    let here_arg = here.display().to_string();
    let out = over(
        &laptop,
        &["loras", "--limit", "3", "--images-dir", &here_arg],
    )
    .await;
    exits_saying(&out, 2, &["--images-dir: the daemon on", "file:///PATH"]);
    assert_eq!(cat.listing_count(), 0, "nothing was asked of the site");

    // A folder of the remote, as file:///PATH: the covers land there.
    let there = remote.dir.path().join("covers");
    let url = format!("file://{}", there.display());
    let out = over(
        &laptop,
        &["loras", "--limit", "3", "--images-dir", &url, "--json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("loras --json");
    let covers: Vec<&str> = doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|c| c["cover_local"].as_str())
        .collect();
    assert!(!covers.is_empty(), "{doc}");
    for cover in covers {
        assert!(cover.starts_with(&there.display().to_string()), "{cover}");
        assert!(std::path::Path::new(cover).is_file(), "{cover}");
    }
    assert!(!here.exists());
}
