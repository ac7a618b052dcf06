//! A daemon that stays findable and alive on a server: clients find it through its lock
//! whatever their `XDG_RUNTIME_DIR` (unset, different, removed at logout), it binds its
//! socket again when the directory vanishes, `daemon status/stop` name a live daemon they
//! cannot reach instead of calling it "not running", a record left by a killed daemon is not
//! trusted, and `daemon install/uninstall` drive systemd (fake `systemctl`/`loginctl` here).

use genq_e2e::harness::{
    Home, PATIENCE, alive, genq_bin, set_mode, stderr, stdout, terminate, wait_gone,
};
use genq_protocol::daemon_record::{LockState, probe};
use genq_protocol::process::{ProcessState, process_state};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A home laid out by the XDG variables (no `GENQ_HOME`), so that the socket follows
/// `XDG_RUNTIME_DIR` as on a real login.
struct XdgHome {
    base: tempfile::TempDir,
}

impl XdgHome {
    fn new() -> XdgHome {
        let base = tempfile::Builder::new()
            .prefix("gql")
            .tempdir_in("/tmp")
            .expect("temp dir");
        XdgHome { base }
    }

    /// A private directory to serve as a runtime directory.
    fn runtime_dir(&self, name: &str) -> PathBuf {
        let dir = self.base.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        set_mode(&dir, 0o700);
        dir
    }

    fn lock(&self) -> PathBuf {
        self.base.path().join("data/genq/genq.lock")
    }

    /// The pid the lock file names, when that process lives.
    fn daemon_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.lock()).ok()?;
        let pid: i32 = text.lines().next()?.trim().parse().ok()?;
        alive(pid).then_some(pid)
    }

    /// `genq ARGS` with `runtime` as `XDG_RUNTIME_DIR` (unset when `None`), run.
    fn run(&self, runtime: Option<&Path>, args: &[&str]) -> Output {
        self.command(runtime, args).output().expect("run genq")
    }

    /// `genq ARGS` with `runtime` as `XDG_RUNTIME_DIR` (unset when `None`).
    fn command(&self, runtime: Option<&Path>, args: &[&str]) -> Command {
        let b = self.base.path();
        let mut c = Command::new(genq_bin());
        c.args(args)
            .env_remove("GENQ_HOME")
            .env_remove("GENQ_NO_AUTOSTART")
            .env("HOME", b.join("home"))
            .env("XDG_CONFIG_HOME", b.join("config"))
            .env("XDG_DATA_HOME", b.join("data"))
            .env("XDG_STATE_HOME", b.join("state"))
            .env("XDG_CACHE_HOME", b.join("cache"))
            .env("GENQ_LOG", "debug")
            .stdin(Stdio::null());
        match runtime {
            Some(dir) => c.env("XDG_RUNTIME_DIR", dir),
            None => c.env_remove("XDG_RUNTIME_DIR"),
        };
        c
    }

    fn ok(&self, runtime: Option<&Path>, args: &[&str]) -> String {
        let out = self.run(runtime, args);
        assert!(
            out.status.success(),
            "genq {args:?} failed ({}):\n{}\n{}\nlog:\n{}",
            out.status,
            stdout(&out),
            stderr(&out),
            std::fs::read_to_string(self.base.path().join("state/genq/daemon.log"))
                .unwrap_or_default()
        );
        stdout(&out)
    }

    fn status_pid(&self, runtime: Option<&Path>) -> i64 {
        let status: serde_json::Value = serde_json::from_str(
            &self.ok(runtime, &["--no-autostart", "daemon", "status", "--json"]),
        )
        .expect("status is JSON");
        status["pid"].as_i64().expect("a pid")
    }
}

impl Drop for XdgHome {
    fn drop(&mut self) {
        terminate(self.daemon_pid());
    }
}

fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

#[test]
fn a_daemon_whose_runtime_dir_was_removed_is_found_from_any_runtime_dir_and_listens_again() {
    let home = XdgHome::new();
    let first = home.runtime_dir("run-a");
    let other = home.runtime_dir("run-b");
    home.ok(Some(&first), &["daemon", "start"]);
    let pid = home.daemon_pid().expect("a daemon");
    let socket = first.join("genq/genq.sock");
    assert!(is_socket(&socket));

    // Logout: the runtime directory goes, the daemon stays.
    std::fs::remove_dir_all(&first).unwrap();

    // Before the daemon noticed, status names it instead of calling it "not running".
    let out = home.run(None, &["--no-autostart", "daemon", "status"]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!said.contains("not running"), "{said}");
    assert!(said.contains(&pid.to_string()), "{said}");

    // A client without a runtime directory waits for it to listen again and reaches it.
    let jobs = home.ok(None, &["--no-autostart", "jobs", "--json"]);
    assert_eq!(jobs.trim(), "[]");
    assert!(is_socket(&socket), "the socket was not made again");
    assert_eq!(
        std::fs::metadata(socket.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    // So does one with another runtime directory, and status says which daemon it is.
    home.ok(Some(&other), &["--no-autostart", "jobs", "--json"]);
    assert_eq!(home.status_pid(None), i64::from(pid));
    assert_eq!(home.status_pid(Some(&other)), i64::from(pid));
    assert_eq!(home.daemon_pid(), Some(pid), "a second daemon started");

    let stopped = home.ok(Some(&other), &["daemon", "stop"]);
    assert!(
        stopped.contains(&format!("stopped (pid {pid})")),
        "{stopped}"
    );
    assert!(!alive(pid));
}

#[test]
fn a_daemon_listening_beside_its_lock_after_its_runtime_dir_cannot_be_made_is_found() {
    let home = XdgHome::new();
    let first = home.runtime_dir("run-a");
    home.ok(Some(&first), &["daemon", "start"]);
    let pid = home.daemon_pid().expect("a daemon");
    // The runtime directory goes, and its parent closes: it cannot be made again there.
    std::fs::remove_dir_all(&first).unwrap();
    std::fs::write(&first, b"in the way").unwrap();

    let jobs = home.ok(None, &["--no-autostart", "jobs", "--json"]);
    assert_eq!(jobs.trim(), "[]");
    assert!(is_socket(&home.base.path().join("data/genq/run/genq.sock")));
    let lock = std::fs::read_to_string(home.lock()).unwrap();
    assert!(lock.contains("data/genq/run/genq.sock"), "{lock}");
    assert_eq!(home.status_pid(Some(&first)), i64::from(pid));
    let status = home.ok(None, &["--no-autostart", "daemon", "status", "--json"]);
    assert!(status.contains("data/genq/run/genq.sock"), "{status}");
    let log = std::fs::read_to_string(home.base.path().join("state/genq/daemon.log")).unwrap();
    assert_eq!(log.matches("is gone").count(), 1, "{log}");
}

#[test]
fn a_record_left_by_a_killed_daemon_is_not_trusted() {
    let home = XdgHome::new();
    let first = home.runtime_dir("run-a");
    let other = home.runtime_dir("run-b");
    home.ok(Some(&first), &["daemon", "start"]);
    let old = home.daemon_pid().expect("a daemon");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_gone(old);
    // Gone means every thread has ended, so the kernel has let go of the lock.
    assert_eq!(probe(&home.lock()).unwrap(), LockState::Free);
    // The record still names the dead daemon and its socket file is still there.
    assert!(is_socket(&first.join("genq/genq.sock")));

    home.ok(Some(&other), &["jobs", "--json"]);
    let new = home.daemon_pid().expect("a new daemon");
    assert_ne!(new, old);
    assert!(is_socket(&other.join("genq/genq.sock")));
    // Every client finds the new one, whatever its runtime directory.
    assert_eq!(home.status_pid(Some(&first)), i64::from(new));
    assert_eq!(home.status_pid(None), i64::from(new));
}

/// A process that holds a home's lock as a killed daemon does while its last thread finishes
/// a write: its first thread has ended, another still runs and holds the lock until the
/// holder's stdin closes.
const EXITING_HOLDER: &str = r#"
import ctypes, fcntl, os, sys, threading
lock = open(sys.argv[1], "a+")
fcntl.flock(lock, fcntl.LOCK_EX)
lock.truncate(0)
lock.write(f"{os.getpid()}\nversion=0\n")
lock.flush()
def finish():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=finish).start()
print("holding", flush=True)
ctypes.CDLL(None).pthread_exit(None)
"#;

/// Starts [`EXITING_HOLDER`] on `home`'s lock and waits until its first thread has ended.
fn exiting_holder(home: &XdgHome) -> std::process::Child {
    use std::io::{BufRead, BufReader};
    std::fs::create_dir_all(home.lock().parent().unwrap()).unwrap();
    set_mode(home.lock().parent().unwrap(), 0o700);
    let mut holder = Command::new("python3")
        .args(["-c", EXITING_HOLDER])
        .arg(home.lock())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3");
    let mut said = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert_eq!(said.trim(), "holding");
    let start = std::time::Instant::now();
    while process_state(holder.id()) != Some(ProcessState::Exiting) {
        assert!(
            start.elapsed() < PATIENCE,
            "the holder's first thread did not end"
        );
        // Polling a pid: there is no event for another process's thread ending.
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    holder
}

#[test]
fn a_daemon_started_while_a_killed_one_is_still_exiting_waits_for_its_lock() {
    use std::io::{BufRead, BufReader};
    let home = XdgHome::new();
    let run = home.runtime_dir("run");
    let mut holder = exiting_holder(&home);
    // Not gone while it holds the lock: what `genq daemon stop` and the tests wait for.
    assert!(alive(holder.id() as i32));
    assert!(matches!(probe(&home.lock()), Ok(LockState::Held(_))));
    // Clients see no daemon (one that is exiting never answers), so they start one.
    let out = home.run(Some(&run), &["--no-autostart", "daemon", "status"]);
    assert!(
        !out.status.success() && stderr(&out).contains("is not running"),
        "status of an exiting daemon:\n{}{}",
        stdout(&out),
        stderr(&out)
    );

    let mut daemon = home
        .command(Some(&run), &["daemon", "run"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run genq daemon run");
    let mut lines = BufReader::new(daemon.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let waiting = format!(
        "waiting for the genq daemon (pid {}), which is exiting",
        holder.id()
    );
    while !seen.contains(&waiting) {
        match lines.next() {
            Some(line) => seen.push_str(&format!("{}\n", line.unwrap())),
            None => panic!(
                "the daemon did not wait for the exiting one ({}):\n{seen}",
                daemon.wait().unwrap()
            ),
        }
    }
    // The holder ends; the waiting daemon takes the lock and serves.
    drop(holder.stdin.take());
    holder.wait().unwrap();
    while !seen.contains("daemon started") {
        match lines.next() {
            Some(line) => seen.push_str(&format!("{}\n", line.unwrap())),
            None => panic!(
                "the daemon did not start ({}):\n{seen}",
                daemon.wait().unwrap()
            ),
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    assert_eq!(home.status_pid(Some(&run)), i64::from(daemon.id()));
    home.ok(Some(&run), &["daemon", "stop"]);
    assert!(daemon.wait().unwrap().success());
}

#[test]
fn a_daemon_gives_up_on_one_that_takes_too_long_to_exit_and_says_so() {
    let home = XdgHome::new();
    let run = home.runtime_dir("run");
    let mut holder = exiting_holder(&home);
    let out = home.run(Some(&run), &["daemon", "run"]);
    drop(holder.stdin.take());
    holder.wait().unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "the genq daemon (pid {}) for {} is exiting but still holds its lock after 10 s",
            holder.id(),
            home.lock().parent().unwrap().display()
        )),
        "{err}"
    );
}

#[test]
fn status_and_stop_name_a_live_daemon_they_cannot_reach() {
    let home = Home::new();
    home.start_daemon();
    let pid = home.daemon_pid().expect("a daemon");
    // The socket's directory opened to others: clients refuse it, the daemon lives on.
    set_mode(home.paths.socket_dir(), 0o755);

    let out = home.run(&["--no-autostart", "daemon", "status"]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(!err.contains("not running"), "{err}");
    assert!(err.contains(&format!("running (pid {pid})")), "{err}");
    assert!(err.contains("0755"), "{err}");
    assert!(
        err.contains(&home.paths.socket.display().to_string()),
        "{err}"
    );

    let out = home.run(&["daemon", "stop"]);
    home.assert_success(&out);
    assert!(
        stdout(&out).contains(&format!("stopped (pid {pid})")),
        "{}",
        stdout(&out)
    );
    wait_gone(pid);
}

/// Fake `systemctl` and `loginctl`: the first records its arguments, one call a line, and
/// fails like a host without a user manager when `fail` says so; the second answers
/// `Linger=` with `linger`.
struct FakeSystemd {
    dir: tempfile::TempDir,
}

impl FakeSystemd {
    fn new(linger: &str, fail: bool) -> FakeSystemd {
        let dir = tempfile::tempdir().unwrap();
        let calls = dir.path().join("calls");
        let systemctl = format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\n{}",
            calls.display(),
            if fail {
                "echo 'Failed to connect to bus: No medium found' >&2\nexit 1\n"
            } else {
                "exit 0\n"
            }
        );
        let loginctl = format!("#!/bin/sh\necho \"$*\" >> '{}'\necho Linger={linger}\n", {
            calls.display()
        });
        for (name, text) in [("systemctl", systemctl), ("loginctl", loginctl)] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            set_mode(&path, 0o755);
        }
        FakeSystemd { dir }
    }

    fn use_in(&self, home: &mut Home, config: &Path) {
        let d = self.dir.path();
        home.env("GENQ_SYSTEMCTL", d.join("systemctl").to_str().unwrap());
        home.env("GENQ_LOGINCTL", d.join("loginctl").to_str().unwrap());
        home.env("XDG_CONFIG_HOME", config.to_str().unwrap());
        home.env("USER", "tester");
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

#[test]
fn install_writes_and_enables_a_user_unit_and_uninstall_removes_it() {
    let config = tempfile::tempdir().unwrap();
    let fake = FakeSystemd::new("no", false);
    let mut home = Home::new();
    fake.use_in(&mut home, config.path());

    let said = home.ok(&["daemon", "install"]);
    let unit = config.path().join("systemd/user/genq.service");
    let text = std::fs::read_to_string(&unit).expect("the unit is written");
    let exe = std::fs::canonicalize(genq_bin()).unwrap();
    assert!(
        text.contains(&format!(
            "ExecStart={} daemon run --detached\n",
            exe.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "Environment=GENQ_HOME={}\n",
            home.dir.path().display()
        )),
        "{text}"
    );
    assert!(text.contains("Restart=on-failure\n"), "{text}");
    assert!(text.contains("WantedBy=default.target\n"), "{text}");
    assert!(
        text.contains(&home.paths.log_file().display().to_string()),
        "{text}"
    );
    assert_eq!(
        fake.calls(),
        [
            "--user daemon-reload",
            "--user enable --now genq.service",
            "show-user tester -p Linger",
        ]
    );
    assert!(said.contains("loginctl enable-linger tester"), "{said}");
    assert!(
        home.daemon_pid().is_none(),
        "install started a daemon itself"
    );

    let said = home.ok(&["daemon", "uninstall"]);
    assert!(!unit.exists(), "the unit is still there");
    assert!(said.contains("removed"), "{said}");
    assert_eq!(
        fake.calls()[3..],
        ["--user disable --now genq.service", "--user daemon-reload"]
    );
}

#[test]
fn install_says_when_lingering_is_on() {
    let config = tempfile::tempdir().unwrap();
    let fake = FakeSystemd::new("yes", false);
    let mut home = Home::new();
    fake.use_in(&mut home, config.path());
    let said = home.ok(&["daemon", "install"]);
    assert!(said.contains("lingering is enabled"), "{said}");
    assert!(!said.contains("enable-linger"), "{said}");
}

#[test]
fn install_without_a_user_manager_writes_the_unit_and_fails_saying_why() {
    let config = tempfile::tempdir().unwrap();
    let fake = FakeSystemd::new("no", true);
    let mut home = Home::new();
    fake.use_in(&mut home, config.path());
    let out = home.run(&["daemon", "install"]);
    assert!(!out.status.success(), "install claimed success");
    let err = stderr(&out);
    assert!(err.contains("could not enable genq.service"), "{err}");
    assert!(err.contains("Failed to connect to bus"), "{err}");
    assert!(config.path().join("systemd/user/genq.service").exists());
}
