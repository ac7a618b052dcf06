//! The daemon of another machine, reached through the user's own `ssh` (so `~/.ssh/config`,
//! agents, ProxyJump and ControlMaster apply): one `ssh` process per connection runs
//! `genq dial-stdio` there, and the protocol flows over its stdin and stdout. When the
//! connection cannot be made, ssh's exit status and stderr say why.

use super::{Client, ClientError};
use genq_protocol::rpc::Notification;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

/// Replaces `ssh` with a command and its options, as `GIT_SSH_COMMAND` does for git.
pub const SSH_COMMAND_ENV: &str = "GENQ_SSH_COMMAND";

/// How long a failed `ssh` is given to exit and tell why once its stdout closed.
const EXIT_GRACE: Duration = Duration::from_secs(10);

/// A remote host: where ssh goes and which genq runs there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshHost {
    /// `[user@]host`, as ssh takes it.
    pub destination: String,
    pub port: Option<u16>,
    /// The remote command that runs genq (`genq` from the remote PATH unless configured).
    pub genq: String,
}

/// A genq command that ran on the remote host: its exit code and what it printed.
pub struct RemoteRun {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why the remote daemon could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error(
        "cannot run `{program}`: {source}; install the OpenSSH client or set {SSH_COMMAND_ENV}"
    )]
    NotFound {
        program: String,
        source: std::io::Error,
    },
    #[error("ssh to {host} was refused (authentication failed): {message}")]
    AuthRefused { host: String, message: String },
    #[error("cannot reach {host} over ssh: {message}")]
    Unreachable { host: String, message: String },
    #[error(
        "genq is not installed on {host}, or not on its PATH (`{command}`: {message}); set \
         `genq = \"/path/to/genq\"` for this host under [hosts.NAME] in config.toml"
    )]
    GenqMissing {
        host: String,
        command: String,
        message: String,
    },
    #[error("genq on {host} cannot relay the protocol: {message}")]
    Remote { host: String, message: String },
    #[error("ssh to {host} failed ({status}): {message}")]
    Failed {
        host: String,
        status: String,
        message: String,
    },
}

impl SshHost {
    /// Parses `ssh://[user@]host[:port]`; `genq` is the remote command.
    pub fn parse(url: &str, genq: Option<String>) -> Result<SshHost, String> {
        let bad = |why: &str| format!("{url:?} is not a host: {why}; use ssh://[user@]host[:port]");
        let rest = url
            .strip_prefix("ssh://")
            .ok_or_else(|| bad("only ssh:// is supported"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((user, hp)) if !user.is_empty() => (Some(user), hp),
            Some(_) => return Err(bad("the user is empty")),
            None => (None, rest),
        };
        let (host, port) = split_port(hostport).map_err(|why| bad(&why))?;
        if host.is_empty() || host.starts_with('-') || host.contains(['/', ' ']) {
            return Err(bad("the host name is missing or not valid"));
        }
        Ok(SshHost {
            destination: match user {
                Some(user) => format!("{user}@{host}"),
                None => host.to_string(),
            },
            port,
            genq: genq.unwrap_or_else(|| "genq".to_string()),
        })
    }

    /// The host as messages name it.
    pub fn name(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.destination),
            None => self.destination.clone(),
        }
    }

    /// The remote command line: the relay, starting the daemon there only when allowed.
    fn remote_command(&self, autostart: bool) -> String {
        let flag = if autostart { "" } else { " --no-autostart" };
        format!("{}{flag} dial-stdio", self.genq)
    }

    /// `ssh` (or the configured command) with the arguments that run `remote` there.
    fn command(&self, remote: String) -> (Command, String) {
        let mut args = vec!["-T".to_string()];
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        args.extend(["--".to_string(), self.destination.clone(), remote]);
        match std::env::var(SSH_COMMAND_ENV)
            .ok()
            .filter(|c| !c.trim().is_empty())
        {
            Some(custom) => {
                // Through the shell, so the variable may carry options and quotes.
                let mut cmd = Command::new("sh");
                cmd.arg("-c").arg(format!("{custom} \"$@\"")).arg("ssh");
                cmd.args(args);
                (cmd, custom)
            }
            None => {
                let mut cmd = Command::new("ssh");
                cmd.args(args);
                (cmd, "ssh".to_string())
            }
        }
    }

    /// Starts ssh running `remote` with all three pipes, the child killed when dropped.
    fn spawn(&self, remote: String) -> Result<Child, SshError> {
        let (mut cmd, program) = self.command(remote);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd.spawn()
            .map_err(|source| SshError::NotFound { program, source })
    }

    /// Runs the relay over ssh and says hello through it.
    pub async fn connect(
        &self,
        client_name: &str,
        autostart: bool,
    ) -> Result<(Client, mpsc::Receiver<Notification>), ClientError> {
        let mut child = self.spawn(self.remote_command(autostart))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(ClientError::Disconnected);
        };
        let stderr_text = collect(stderr);
        let (exit_tx, exit_rx) = oneshot::channel();
        // The child lives as long as the connection: its stdout closing ends both.
        tokio::spawn(reap(child, exit_tx));
        match Client::hello_over(stdout, stdin, client_name).await {
            Ok(connected) => Ok(connected),
            Err(ClientError::Disconnected) => {
                let status = tokio::time::timeout(EXIT_GRACE, exit_rx).await;
                let message = tokio::time::timeout(EXIT_GRACE, stderr_text)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                let code = match status {
                    Ok(Ok(Some(code))) => Some(code),
                    _ => None,
                };
                Err(self.failure(code, &message))
            }
            Err(other) => Err(other),
        }
    }

    /// Runs `genq ARGS` on the host (each argument quoted for its shell) with `input` on its
    /// stdin, which keeps what it carries out of both machines' process lists. A failure of
    /// ssh itself, or a missing genq, is the error; any other exit is the command's own.
    pub async fn run_genq(&self, args: &[&str], input: &[u8]) -> Result<RemoteRun, ClientError> {
        let line = args.iter().fold(self.genq.clone(), |line, arg| {
            format!("{line} '{}'", arg.replace('\'', r"'\''"))
        });
        let mut child = self.spawn(line)?;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its input lets the write fail; its exit tells.
            let _ = stdin.write_all(input).await;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| SshError::Failed {
                host: self.name(),
                status: "no exit status".to_string(),
                message: e.to_string(),
            })?;
        match out.status.code() {
            Some(code) if code != 255 && code != 127 => Ok(RemoteRun {
                code,
                stdout: out.stdout,
                stderr: out.stderr,
            }),
            code => Err(self.failure(code, &String::from_utf8_lossy(&out.stderr))),
        }
    }

    /// What an exit status and stderr of a relay that never answered mean.
    fn failure(&self, code: Option<i32>, stderr: &str) -> ClientError {
        let host = self.name();
        let message = last_line(stderr);
        let lower = stderr.to_ascii_lowercase();
        let unreachable_signs = [
            "could not resolve hostname",
            "connection refused",
            "connection timed out",
            "no route to host",
            "network is unreachable",
            "connection closed by",
            "host key verification failed",
        ];
        let error = match code {
            Some(255) if lower.contains("permission denied") => {
                SshError::AuthRefused { host, message }
            }
            Some(255) if unreachable_signs.iter().any(|s| lower.contains(s)) => {
                SshError::Unreachable { host, message }
            }
            Some(127) => SshError::GenqMissing {
                host,
                command: self.genq.clone(),
                message,
            },
            Some(_) if lower.contains("dial-stdio") && lower.contains("unrecognized") => {
                SshError::Remote {
                    host,
                    message: format!("it is too old to know `dial-stdio` ({message})"),
                }
            }
            Some(code) if code != 255 && !message.is_empty() => {
                let message = message.strip_prefix("genq: ").unwrap_or(&message);
                if message.starts_with("the genq daemon is not running") {
                    return ClientError::NotRunning {
                        socket: format!("on {host}"),
                    };
                }
                SshError::Remote {
                    host,
                    message: message.to_string(),
                }
            }
            _ => SshError::Failed {
                host,
                status: code.map_or("no exit status".to_string(), |c| format!("exit {c}")),
                message: if message.is_empty() {
                    "the connection closed before the daemon answered".to_string()
                } else {
                    message
                },
            },
        };
        error.into()
    }
}

/// `host[:port]`, with `[v6]:port` for IPv6 addresses.
fn split_port(hostport: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| "an IPv6 address lacks its closing ]".to_string())?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("port {p:?} is not a number from 1 to 65535"))
        })
        .transpose()?;
    Ok((host, port))
}

/// The last non-empty line, trimmed.
fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_string()
}

/// Everything ssh writes on stderr, kept whole until it closes, the end when it is long.
fn collect(mut stderr: tokio::process::ChildStderr) -> oneshot::Receiver<String> {
    const KEEP: usize = 16 * 1024;
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stderr.read(&mut buf).await {
            text.extend_from_slice(&buf[..n]);
            if text.len() > KEEP {
                text.drain(..text.len() - KEEP);
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&text).into_owned());
    });
    rx
}

/// Waits for the child and reports its exit code (`None` when a signal ended it).
async fn reap(mut child: Child, exit: oneshot::Sender<Option<i32>>) {
    let code = child.wait().await.ok().and_then(|s| s.code());
    let _ = exit.send(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_into_destination_and_port() {
        let h = SshHost::parse("ssh://me@gpu.lan", None).unwrap();
        assert_eq!(h.destination, "me@gpu.lan");
        assert_eq!(h.port, None);
        assert_eq!(h.genq, "genq");
        let h = SshHost::parse("ssh://gpu:2222", Some("/opt/genq".into())).unwrap();
        assert_eq!((h.destination.as_str(), h.port), ("gpu", Some(2222)));
        assert_eq!(
            h.remote_command(false),
            "/opt/genq --no-autostart dial-stdio"
        );
        let h = SshHost::parse("ssh://u@[::1]:22", None).unwrap();
        assert_eq!((h.destination.as_str(), h.port), ("u@::1", Some(22)));
        for bad in [
            "gpu",
            "http://gpu",
            "ssh://",
            "ssh://@gpu",
            "ssh://gpu:0",
            "ssh://gpu:x",
            "ssh://-oProxyCommand=x",
        ] {
            let err = SshHost::parse(bad, None).unwrap_err();
            assert!(err.contains("ssh://[user@]host[:port]"), "{bad}: {err}");
        }
    }

    #[test]
    fn failures_are_told_apart_by_status_and_stderr() {
        let h = SshHost::parse("ssh://me@gpu", None).unwrap();
        let said = |code, err: &str| h.failure(code, err).to_string();
        assert!(said(Some(255), "me@gpu: Permission denied (publickey).").contains("refused"));
        assert!(
            said(
                Some(255),
                "ssh: connect to host gpu port 22: Connection refused"
            )
            .contains("cannot reach")
        );
        assert!(said(Some(127), "sh: 1: genq: not found").contains("not installed on me@gpu"));
        assert!(matches!(
            h.failure(Some(3), "genq: the genq daemon is not running (socket /x)"),
            ClientError::NotRunning { .. }
        ));
        assert!(
            said(Some(3), "genq: could not start the genq daemon: x").contains("genq on me@gpu")
        );
    }
}
