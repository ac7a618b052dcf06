//! The daemon under hostile conditions: more connections than it has file descriptors,
//! clients that never say hello, a socket directory someone else prepared, a home others
//! can look into, and parameters outside their range.

use genq_e2e::fakes::{ModelScopeFake, MsScript};
use genq_e2e::harness::{Home, PATIENCE, RawClient, init_tls, set_mode, stderr};
use serde_json::json;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::Child;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Runs `genq daemon run` in the foreground, with the given open-file limits (soft, hard)
/// when asked, and returns once it has logged that it started. Its stderr keeps being
/// drained.
async fn run_daemon(home: &Home, fd_limits: Option<(u64, u64)>) -> Child {
    use nix::sys::resource::{Resource, setrlimit};
    let mut cmd = home.cmd(&["daemon", "run"]);
    cmd.stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    if let Some((soft, hard)) = fd_limits {
        // SAFETY: setrlimit is async-signal-safe and touches nothing but the child.
        unsafe {
            cmd.pre_exec(move || {
                setrlimit(Resource::RLIMIT_NOFILE, soft, hard).map_err(std::io::Error::from)
            });
        }
    }
    let mut child = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn genq daemon run");
    let err = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(err).lines();
    let started = tokio::time::timeout(PATIENCE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("daemon started") {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(started, Ok(true)),
        "the daemon did not start:\n{}",
        home.log_tail()
    );
    tokio::spawn(async move {
        let mut rest = lines.into_inner();
        let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
    });
    child
}

/// CPU time (user + system) a process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    let rest = stat.rsplit_once(')').expect("stat format").1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted after the command name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn clock_ticks_per_second() -> u64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(100)
}

/// `genq daemon status --json`, given at most `within` to answer.
async fn status_within(home: &Home, within: Duration) -> Result<serde_json::Value, String> {
    let cmd = home.cmd(&["--no-autostart", "daemon", "status", "--json"]);
    let run = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(within, run).await {
        Err(_) => Err(format!("no answer within {} s", within.as_secs())),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(out)) if !out.status.success() => Err(stderr(&out)),
        Ok(Ok(out)) => serde_json::from_slice(&out.stdout).map_err(|e| e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_fd_limit_neither_spin_nor_lock_out_status() {
    const LIMIT: u64 = 256;
    const IDLE: usize = 400;
    let home = Home::new();
    let mut daemon = run_daemon(&home, Some((LIMIT, LIMIT))).await;
    let pid = daemon.id().expect("daemon pid");

    let mut idle = Vec::new();
    for _ in 0..IDLE {
        let connect = UnixStream::connect(&home.paths.socket);
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(2), connect).await {
            idle.push(s);
        }
    }

    // A window in which the daemon has nothing to do but hold idle connections.
    let window = Duration::from_secs(2);
    let before = cpu_ticks(pid);
    tokio::time::sleep(window).await;
    let used = (cpu_ticks(pid) - before) as f64 / clock_ticks_per_second() as f64;
    let cpu_share = used / window.as_secs_f64();

    let while_open = status_within(&home, Duration::from_secs(20)).await;
    let log = home.log();
    eprintln!(
        "fd limit {LIMIT}: {} of {IDLE} idle connections made; daemon CPU {:.0}% over {} s; \
         log {} lines, {} bytes; status while open: {}",
        idle.len(),
        cpu_share * 100.0,
        window.as_secs(),
        log.lines().count(),
        log.len(),
        match &while_open {
            Ok(_) => "answered".to_string(),
            Err(e) => e.clone(),
        }
    );
    assert!(
        cpu_share < 0.5,
        "the daemon spins with idle connections: {:.0}% CPU",
        cpu_share * 100.0
    );
    assert!(
        log.len() < 256 * 1024 && log.lines().count() < 2_000,
        "the log grew to {} lines, {} bytes",
        log.lines().count(),
        log.len()
    );
    assert!(
        log.contains("accept") || log.contains("connections"),
        "the daemon said nothing about the flood:\n{}",
        home.log_tail()
    );
    let status = while_open.expect("status answers while idle connections are open");
    assert_eq!(status["pid"], pid);

    drop(idle);
    status_within(&home, Duration::from_secs(20))
        .await
        .expect("status answers after the idle connections closed");
    drop(home);
    let _ = daemon.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_raises_its_soft_fd_limit_to_the_hard_limit() {
    let home = Home::new();
    let mut daemon = run_daemon(&home, Some((256, 4096))).await;
    let pid = daemon.id().expect("daemon pid");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("open files line");
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["4096", "4096"], "{line}");
    drop(home);
    let _ = daemon.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_says_hello_is_disconnected() {
    let home = Home::new();
    home.start_daemon();
    let mut silent = RawClient::connect(&home.paths.socket).await;
    // The daemon closes the connection, after an error naming the reason.
    let mut last = None;
    while let Some(msg) = silent.read_line().await {
        last = Some(msg);
    }
    let last = last.expect("an error before the connection closed");
    assert_eq!(last["error"]["data"]["kind"], "hello_required", "{last}");
    assert!(
        last["error"]["message"].as_str().unwrap().contains("hello"),
        "{last}"
    );
    // Others are served as before.
    let mut c = home.client().await;
    c.ok("daemon.status", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chatter_before_hello_is_capped() {
    let home = Home::new();
    home.start_daemon();
    let mut s = UnixStream::connect(&home.paths.socket).await.unwrap();
    let (r, mut w) = s.split();
    // 4 MiB of requests that are not hello, in 1 KiB frames; the daemon stops listening
    // long before the end.
    let frame = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"jobs.list\",\"params\":{{\"text\":\"{}\"}}}}\n",
        "a".repeat(1000)
    );
    let write = async {
        use tokio::io::AsyncWriteExt;
        for _ in 0..4096 {
            if w.write_all(frame.as_bytes()).await.is_err() {
                return;
            }
        }
    };
    let read = async {
        let mut r = r;
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf).await;
        buf
    };
    let (_, replies) = tokio::time::timeout(PATIENCE, async { tokio::join!(write, read) })
        .await
        .expect("the daemon never closed the connection");
    let text = String::from_utf8_lossy(&replies);
    assert!(
        text.lines().count() < 4096,
        "every frame before hello was answered"
    );
    assert!(text.contains("hello_required"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_the_daemon_creates_are_private_even_in_an_open_home() {
    init_tls();
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    let mut home = Home::new();
    set_mode(home.dir.path(), 0o755);
    home.use_fakes(Some(&ms), None, "");
    let job = home
        .submit_job("modelscope", &["--prompt", "a private teapot", "--wait"])
        .await;
    assert_eq!(job["state"], "succeeded", "{job}");

    let mut open = Vec::new();
    let mut seen = 0;
    let mut stack = vec![home.dir.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if path == home.paths.config {
                continue; // written by the test
            }
            seen += 1;
            if meta.mode() & 0o077 != 0 {
                open.push(format!("{} {:o}", path.display(), meta.mode() & 0o777));
            }
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    assert!(seen > 5, "only {seen} files under the home");
    assert!(open.is_empty(), "readable by others: {open:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_list_and_subscribe_parameters_are_invalid_params() {
    let home = Home::new();
    home.start_daemon();
    let mut c = home.client().await;

    let r = c
        .call("jobs.list", json!({"text": "x".repeat(900_000)}))
        .await;
    assert_eq!(r["error"]["data"]["kind"], "invalid_params", "{r:.300}");
    assert_eq!(r["error"]["data"]["field"], "text");
    assert!(r["error"]["data"]["allowed"].is_string(), "{r:.300}");

    let huge = 1u64 << 63;
    let r = c.call("jobs.list", json!({"offset": huge})).await;
    assert_eq!(r["error"]["data"]["kind"], "invalid_params", "{r}");
    assert_eq!(r["error"]["data"]["field"], "offset");
    assert!(r["error"]["data"]["allowed"].is_string(), "{r}");

    let r = c.call("subscribe", json!({"since_seq": huge})).await;
    assert_eq!(r["error"]["data"]["kind"], "invalid_params", "{r}");
    assert_eq!(r["error"]["data"]["field"], "since_seq");
    assert!(r["error"]["data"]["allowed"].is_string(), "{r}");

    // Values inside the range still work.
    c.ok("jobs.list", json!({"text": "x".repeat(200), "offset": 5}))
        .await;
    c.ok("subscribe", json!({"since_seq": 0})).await;
}

/// A socket somebody else put where genq's socket goes; records whether anyone connected.
struct Impostor {
    listener: std::os::unix::net::UnixListener,
}

impl Impostor {
    fn listen(path: &Path) -> Impostor {
        let listener = std::os::unix::net::UnixListener::bind(path).expect("impostor bind");
        listener.set_nonblocking(true).unwrap();
        Impostor { listener }
    }

    /// Whether a connection is waiting (a client that connected, even one gone since).
    fn was_contacted(&self) -> bool {
        self.listener.accept().is_ok()
    }
}

/// `genq --no-autostart jobs`, which must refuse to talk through `home`'s socket directory.
async fn client_refuses(home: &Home, expect: &str) {
    let cmd = home.cmd(&["--no-autostart", "jobs"]);
    let run = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the client hung on the socket instead of refusing it")
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "the client used the socket");
    assert!(err.contains(expect), "{err}");
    assert!(
        err.contains(&home.paths.socket_dir().display().to_string()),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlinked_socket_dir_is_refused_by_client_and_daemon() {
    let home = Home::new();
    let elsewhere = tempfile::Builder::new()
        .prefix("gqx")
        .tempdir_in("/tmp")
        .unwrap();
    set_mode(elsewhere.path(), 0o755);
    std::os::unix::fs::symlink(elsewhere.path(), home.paths.socket_dir()).unwrap();
    let impostor = Impostor::listen(&elsewhere.path().join("genq.sock"));

    client_refuses(&home, "symbolic link").await;
    assert!(
        !impostor.was_contacted(),
        "the client connected to the impostor"
    );

    let out = home.run_async(&["daemon", "run"]).await;
    assert!(
        !out.status.success(),
        "the daemon used a symlinked directory"
    );
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    assert_eq!(
        mode(elsewhere.path()),
        0o755,
        "the daemon changed the symlink's target"
    );
    assert!(
        !impostor.was_contacted(),
        "the daemon talked to the impostor"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_dir_open_to_others_is_refused_by_the_client_and_made_private_by_the_daemon() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: simulating another user needs root to chown");
        return;
    }
    let home = Home::new();
    let dir = home.paths.socket_dir().to_path_buf();
    std::fs::create_dir(&dir).unwrap();
    set_mode(&dir, 0o777);
    // Another user's socket, put there while the directory was open.
    let impostor = Impostor::listen(&home.paths.socket);
    std::os::unix::fs::lchown(&home.paths.socket, Some(65534), Some(65534)).unwrap();

    client_refuses(&home, "0777").await;
    assert!(
        !impostor.was_contacted(),
        "the client connected to the impostor"
    );
    // The daemon makes the directory private and clears what others may have put there.
    let mut daemon = run_daemon(&home, None).await;
    assert_eq!(mode(&dir), 0o700);
    assert!(
        !impostor.was_contacted(),
        "the daemon talked to the impostor"
    );
    let mut c = home.client().await;
    c.ok("daemon.status", json!({})).await;
    home.ok(&["--no-autostart", "jobs"]);
    drop(home);
    let _ = daemon.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_dir_owned_by_someone_else_is_refused_by_client_and_daemon() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: simulating another user needs root to chown");
        return;
    }
    let home = Home::new();
    let dir = home.paths.socket_dir().to_path_buf();
    std::fs::create_dir(&dir).unwrap();
    set_mode(&dir, 0o700);
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let impostor = Impostor::listen(&home.paths.socket);

    client_refuses(&home, "owned by uid 65534").await;
    assert!(
        !impostor.was_contacted(),
        "the client connected to the impostor"
    );

    let out = home.run_async(&["daemon", "run"]).await;
    assert!(!out.status.success(), "the daemon used a foreign directory");
    assert!(
        stderr(&out).contains("owned by uid 65534"),
        "{}",
        stderr(&out)
    );
    assert!(
        !impostor.was_contacted(),
        "the daemon talked to the impostor"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_full_of_greeted_clients_refuses_newcomers_with_a_reason() {
    // An open-file limit of 64 allows 32 connections.
    let home = Home::new();
    let mut daemon = run_daemon(&home, Some((64, 64))).await;
    let mut clients = Vec::new();
    for _ in 0..32 {
        clients.push(home.client().await);
    }
    let refused = status_within(&home, Duration::from_secs(20))
        .await
        .expect_err("a 33rd connection was served");
    assert!(refused.contains("32 connections open"), "{refused}");

    clients.pop();
    status_within(&home, Duration::from_secs(20))
        .await
        .expect("status answers once a slot is free");
    drop(clients);
    drop(home);
    let _ = daemon.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_turned_away_before_its_hello_still_says_why() {
    // A daemon at its limit answers a newcomer at once and closes; the reason can arrive
    // before the client's first call is even registered, and must not be lost then.
    let home = Home::new();
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(home.paths.socket_dir())
        .unwrap();
    let listener = std::os::unix::net::UnixListener::bind(&home.paths.socket).unwrap();
    let busy = format!(
        "{}\n",
        serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32014,
            "message": "the daemon already has 32 connections open, the most it allows",
            "data": {"kind": "busy"}}})
    );
    let server = std::thread::spawn(move || {
        use std::io::Write;
        for _ in 0..5 {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(busy.as_bytes()).unwrap();
            // Closed with nothing read: the client's hello, if it came, is never answered.
        }
    });
    for _ in 0..5 {
        let out = tokio::process::Command::from(home.cmd(&["--no-autostart", "jobs"]))
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("32 connections open"),
            "{}",
            stderr(&out)
        );
    }
    server.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_served_by_another_user_gets_nothing_from_the_client() {
    let has_python = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !nix::unistd::geteuid().is_root() || !has_python {
        eprintln!("skipped: needs root and python3 to serve a socket as another user");
        return;
    }
    let home = Home::new();
    std::fs::create_dir(home.paths.socket_dir()).unwrap();
    set_mode(home.paths.socket_dir(), 0o700);
    // Binds in our private directory, then listens as uid 65534 and reports what it got.
    let script = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
os.setuid(65534)
s.listen(8)
print("ready", flush=True)
c, _ = s.accept()
c.settimeout(3)
try:
    data = c.recv(65536)
except OSError:
    data = b""
print("received", len(data), flush=True)
"#;
    let mut impostor = tokio::process::Command::new("python3")
        .args(["-c", script])
        .arg(&home.paths.socket)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(impostor.stdout.take().unwrap()).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("ready"));

    client_refuses(&home, "runs as uid 65534").await;
    let report = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("the impostor reports")
        .unwrap();
    assert_eq!(
        report.as_deref(),
        Some("received 0"),
        "the client sent data"
    );
    let _ = impostor.wait().await;
}
