//! The first minutes and the errors a user meets: keys stored with `genq auth` and read by a
//! daemon whatever shell started it, a submit refused when the daemon has no key, the offline
//! try in one command (`fake-providers --home`), and failures that say what went wrong.

use genq_e2e::fakes::{ModelScopeFake, MsScript};
use genq_e2e::harness::{Home, PATIENCE, genqd_bin, init_tls, stderr, stdout, wait_gone};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A home whose config points at a fake ModelScope and names a key variable the daemon
/// does not have.
fn home_without_key(ms: &ModelScopeFake) -> Home {
    let home = Home::new();
    home.write_config(&format!(
        "[providers.modelscope]\nbase_url = \"{}\"\napi_key_env = \"GENQ_FAKE_MODELSCOPE_KEY\"\n\
         typical_s = 0.1\n",
        ms.base_url()
    ));
    home
}

/// `genq auth set PROVIDER` with the key on stdin.
async fn auth_set(home: &Home, provider: &str, key: &str) -> Output {
    let mut cmd = home.cmd(&["auth", "set", provider]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = tokio::process::Command::from(cmd).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, format!("{key}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    child.wait_with_output().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_the_daemon_cannot_authenticate_is_refused_saying_where_it_looked() {
    init_tls();
    let ms = ModelScopeFake::start().await;
    let home = home_without_key(&ms);
    home.start_daemon();
    // Exported in this shell after the daemon started: the daemon cannot see it.
    let mut cmd = home.cmd(&["submit", "--provider", "modelscope", "--prompt", "x"]);
    cmd.env("GENQ_FAKE_MODELSCOPE_KEY", ms.key());
    let out = tokio::process::Command::from(cmd).output().await.unwrap();
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\n{err}",
        stdout(&out)
    );
    for want in [
        "modelscope",
        "GENQ_FAKE_MODELSCOPE_KEY",
        "credentials.toml",
        "not in the daemon's environment",
        "genq auth set modelscope",
        "genq daemon restart",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(!err.contains("MODELSCOPE_API_TOKEN\n"), "{err}");
    assert!(!err.contains(&ms.key()), "the key leaked: {err}");
    // Nothing was created, nothing was sent.
    let jobs = home.json_async(&["jobs", "--json"]).await;
    assert_eq!(jobs.as_array().map(Vec::len), Some(0), "{jobs}");
    assert!(ms.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_set_stores_a_private_key_that_the_running_daemon_uses() {
    init_tls();
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(50)));
    let home = home_without_key(&ms);
    home.start_daemon();

    let out = auth_set(&home, "modelscop", "whatever").await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("modelscope, dashscope, tripo") || stderr(&out).contains("dashscope"),
        "{}",
        stderr(&out)
    );

    let out = auth_set(&home, "modelscope", &ms.key()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let file = home.dir.path().join("credentials.toml");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "credentials file mode {mode:o}");
    assert!(!stdout(&out).contains(&ms.key()) && !stderr(&out).contains(&ms.key()));

    // Right away, without a restart or an export.
    let out = home
        .run_async(&[
            "submit",
            "--provider",
            "modelscope",
            "--prompt",
            "x",
            "--wait",
        ])
        .await;
    home.assert_success(&out);

    let listed = home.ok_async(&["auth", "list"]).await;
    let line = listed
        .lines()
        .find(|l| l.starts_with("modelscope"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains("credentials file"), "{listed}");
    assert!(!listed.contains(&ms.key()), "{listed}");
    assert!(!home.log().contains(&ms.key()), "the key is in the log");

    home.ok_async(&["auth", "rm", "modelscope"]).await;
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(!text.contains(&ms.key()));
    home.refused_async(&["submit", "--provider", "modelscope", "--prompt", "x"])
        .await;
}

#[test]
fn daemon_restart_stops_the_daemon_and_starts_a_new_one() {
    let home = Home::new();
    home.start_daemon();
    let old = home.daemon_pid().expect("running");
    let out = home.ok(&["daemon", "restart"]);
    let new = home.daemon_pid().expect("running again");
    assert_ne!(old, new);
    assert!(out.contains(&format!("pid {new}")), "{out}");
}

/// Starts `fake-providers --home DIR` and reads its output up to the commands it suggests.
fn start_fakes(dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-providers"))
        .args(["--home"])
        .arg(dir)
        .args(["--duration-ms", "50"])
        .env_remove("GENQ_HOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run fake-providers");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "fake-providers ended early:\n{printed}");
        printed.push_str(&line);
        if line.contains("genq submit") {
            break;
        }
    }
    // Keep draining so the fakes never block on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    (child, printed)
}

fn stop_fakes(child: &mut Child) {
    let pid = child.id() as i32;
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGINT,
    );
    let _ = child.wait();
    wait_gone(pid);
}

#[test]
fn fake_providers_home_is_ready_to_use_without_exports_and_survives_a_restart() {
    let home = Home::new();
    let (mut fakes, printed) = start_fakes(home.dir.path());
    assert!(
        printed.contains(&format!("export GENQ_HOME={}", home.dir.path().display())),
        "{printed}"
    );
    let submit = [
        "submit",
        "--provider",
        "modelscope",
        "--prompt",
        "x",
        "--wait",
    ];
    home.ok(&submit);
    stop_fakes(&mut fakes);

    let keys = std::fs::read_to_string(home.dir.path().join("credentials.toml")).unwrap();
    let config = std::fs::read_to_string(&home.paths.config).unwrap();

    // Same ports and keys after a restart: nothing to change in the home or the daemon.
    let (mut fakes, again) = start_fakes(home.dir.path());
    let providers = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("fake "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(providers(&printed).len(), 5, "{printed}");
    assert_eq!(providers(&again), providers(&printed));
    let keys_again = std::fs::read_to_string(home.dir.path().join("credentials.toml")).unwrap();
    assert_eq!(keys_again, keys);
    let config_again = std::fs::read_to_string(&home.paths.config).unwrap();
    assert_eq!(config_again, config);
    home.ok(&submit);
    stop_fakes(&mut fakes);
}

#[test]
fn an_autostarted_daemon_that_cannot_start_says_why() {
    let home = Home::new();
    home.write_config("[providers.modelscope]\nmax_concurrent = 0\n");
    let out = home.run(&["jobs"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("providers.modelscope.max_concurrent: 0 is not in 1..=1000"),
        "{err}"
    );
}

#[test]
fn config_errors_give_line_and_column() {
    let home = Home::new();
    home.write_config("[providers.modelscope]\nbase_url = 3\n");
    let out = home.run(&["daemon", "run"]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("line 2, column 12"), "{err}");
    assert!(!err.contains("byte"), "{err}");
}

#[test]
fn genqd_help_and_version_print_and_exit() {
    let home = Home::new();
    for (flag, want) in [
        ("--help", "Usage"),
        ("--version", env!("CARGO_PKG_VERSION")),
    ] {
        let mut child = Command::new(genqd_bin())
            .arg(flag)
            .env("GENQ_HOME", home.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let waited = std::time::Instant::now();
        // A daemon would never exit by itself: give up on it after a while.
        while child.try_wait().unwrap().is_none() {
            if waited.elapsed() > PATIENCE / 4 {
                let _ = child.kill();
                panic!("genqd {flag} did not exit; it started a daemon");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{flag}: {}", stderr(&out));
        assert!(stdout(&out).contains(want), "{flag}: {}", stdout(&out));
        assert!(!home.paths.lock.exists(), "genqd {flag} started a daemon");
        wait_gone(pid);
    }
}

#[test]
fn genq_without_a_terminal_says_the_tui_needs_one() {
    let home = Home::new();
    let out = home
        .cmd(&[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("ssh -t"), "{err}");
    assert!(
        err.contains("genq submit") && err.contains("genq jobs"),
        "{err}"
    );
}

/// Runs `genq ARGS` with stdout a pipe whose reader is already gone, as `| head` leaves it.
fn run_into_closed_pipe(home: &Home, args: &[&str]) -> Output {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    home.cmd(args)
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piping_into_a_closed_reader_never_panics() {
    let ms = ModelScopeFake::start().await;
    let home = Home::with_modelscope(&ms, "");
    let id = home.submit("modelscope", "x").await;
    for args in [
        vec!["jobs", "--json"],
        vec!["export", &id],
        vec!["completions", "bash"],
    ] {
        let out = run_into_closed_pipe(&home, &args);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "genq {args:?}: {err}");
        assert_ne!(out.status.code(), Some(101), "genq {args:?}: {err}");
        assert!(err.is_empty(), "genq {args:?} was not quiet: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_json_exits_1_when_an_upload_failed() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(50)));
    let base = tempfile::tempdir().unwrap();
    let blocker = base.path().join("blocker");
    std::fs::write(&blocker, b"in the way").unwrap();
    let home = Home::with_modelscope(
        &ms,
        &format!(
            "[storage.archive]\ntype = \"dir\"\npath = \"{}\"\n",
            blocker.join("archive").display()
        ),
    );
    let job = home
        .submit_job(
            "modelscope",
            &["--prompt", "x", "--store", "archive", "--wait"],
        )
        .await;
    let id = job["id"].as_str().unwrap().to_string();
    let out = home.run_async(&["upload", &id, "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("the job as JSON");
    assert!(printed["outputs"][0]["uploads"][0]["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_run_without_keys_says_how_to_add_one() {
    let home = Home::new();
    let out = home.ok_async(&["providers"]).await;
    assert!(out.contains("genq auth set"), "{out}");
    let err = home
        .refused_async(&["submit", "--provider", "tripo", "--prompt", "x"])
        .await;
    assert!(err.contains("genq auth set tripo"), "{err}");
}
