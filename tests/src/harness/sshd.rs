//! A real OpenSSH server on loopback for the `--host` tests: host and user keys generated in
//! a temp dir, `sshd -D` on a free port with its config there, and an ssh client config that
//! trusts exactly that host key. Clients reach it through a wrapper script (given to genq as
//! `GENQ_SSH_COMMAND`) that notes the pid of every ssh it runs, so a test can cut one off.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::process::{PATIENCE, set_mode, wait_gone};

const SSHD: &str = "/usr/sbin/sshd";

/// A running `sshd` that accepts this user's generated key.
pub struct Sshd {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    user: String,
}

impl Sshd {
    /// Starts the server, or returns `None` (saying why) when OpenSSH's server or client is
    /// not installed; under `CI` a missing one fails the test instead.
    pub fn start() -> Option<Sshd> {
        let missing: Vec<&str> = [SSHD, "ssh", "ssh-keygen"]
            .into_iter()
            .filter(|p| !on_path(p))
            .collect();
        if !missing.is_empty() {
            let why = format!(
                "{} not installed (apt-get install openssh-server openssh-client)",
                missing.join(", ")
            );
            assert!(std::env::var_os("CI").is_none(), "CI needs OpenSSH: {why}");
            eprintln!("skipped: {why}");
            return None;
        }
        Some(Sshd::launch())
    }

    fn launch() -> Sshd {
        let dir = tempfile::Builder::new()
            .prefix("gqssh")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let d = dir.path();
        for key in ["host_key", "user_key", "stranger_key"] {
            keygen(&d.join(key));
        }
        let user = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .expect("this user has a name");
        std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).expect("authorized_keys");
        let port = free_port();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
                 PidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\nUsePAM no\n\
                 StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel INFO\n",
                d = d.display()
            ),
        )
        .expect("sshd_config");
        let host_key = std::fs::read_to_string(d.join("host_key.pub")).expect("host key");
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {host_key}"),
        )
        .expect("known_hosts");
        if nix::unistd::geteuid().is_root() {
            // sshd running as root insists on its privilege separation directory.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let child = serve(d);
        let sshd = Sshd {
            dir,
            child,
            port,
            user,
        };
        sshd.write_wrapper("ssh", "user_key");
        sshd.write_wrapper("ssh-stranger", "stranger_key");
        sshd
    }

    /// Stops the server (sessions already open carry on, as with a real sshd restart).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port, with the same keys.
    pub fn start_again(&mut self) {
        self.stop();
        self.child = serve(self.dir.path());
    }

    /// `ssh://user@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ssh://{}@127.0.0.1:{}", self.user, self.port)
    }

    /// The `GENQ_SSH_COMMAND` that reaches this server with the authorized key.
    pub fn ssh_command(&self) -> String {
        self.dir.path().join("ssh").display().to_string()
    }

    /// A `GENQ_SSH_COMMAND` offering a key the server does not know.
    pub fn stranger_ssh_command(&self) -> String {
        self.dir.path().join("ssh-stranger").display().to_string()
    }

    /// The pids of every ssh client the wrapper started, oldest first.
    pub fn client_pids(&self) -> Vec<i32> {
        std::fs::read_to_string(self.dir.path().join("ssh.pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Kills the newest ssh client the wrapper started (cutting that connection) and waits
    /// until it is gone; returns its pid.
    pub fn kill_newest_client(&self) -> i32 {
        let pid = *self.client_pids().last().expect("an ssh client ran");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        wait_gone(pid);
        pid
    }

    /// What sshd logged, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// A shell script running ssh with this server's client config and `key`, noting its pid.
    fn write_wrapper(&self, name: &str, key: &str) {
        let d = self.dir.path();
        let script = d.join(name);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho $$ >> {d}/ssh.pids\nexec ssh -F /dev/null -i {d}/{key} \
                 -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={d}/known_hosts \
                 -o StrictHostKeyChecking=yes -o LogLevel=ERROR \"$@\"\n",
                d = d.display()
            ),
        )
        .expect("ssh wrapper");
        set_mode(&script, 0o755);
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).exists()))
        .unwrap_or(false)
}

fn keygen(path: &PathBuf) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "genq-test", "-f"])
        .arg(path)
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success(), "ssh-keygen: {out:?}");
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Runs `sshd -D` with the config in `dir` and waits until it listens.
fn serve(dir: &Path) -> Child {
    let mut child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sshd");
    wait_listening(&mut child, &dir.join("sshd.log"));
    child
}

/// Reads sshd's stderr until it says it listens (then copies the rest to `log` on a thread
/// of its own); fails when sshd exits first.
fn wait_listening(child: &mut Child, log: &Path) {
    let stderr = child.stderr.take().expect("sshd stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let log = log.to_path_buf();
    std::thread::spawn(move || {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("sshd log");
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(file, "{line}");
            if line.contains("Server listening on")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(Ok(()));
            }
        }
        if let Some(tx) = tx {
            let _ = tx.send(Err(std::fs::read_to_string(&log).unwrap_or_default()));
        }
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(Ok(())) => {}
        Ok(Err(said)) => panic!("sshd did not start: {said}"),
        Err(_) => panic!("sshd did not say it listens"),
    }
}
