//! `genq daemon run|start|stop|restart|status|install|uninstall`: the daemon's lifecycle from
//! the command line. A daemon that holds its home's lock but cannot be reached is named as
//! such, never called "not running", and `stop` still stops it by signal.

use super::args::DaemonCommand;
use super::ctx::{Ctx, print_json};
use super::error::CliError;
use super::output;
use super::service;
use crate::client::{ClientError, start_daemon, wait_for_daemon};
use genq_protocol::daemon_record::locate;
use genq_protocol::methods::{DaemonShutdown, DaemonStatus, Empty};
use genq_protocol::process::{ProcessState, process_state};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use std::time::Duration;
use tokio::time::{Instant, timeout};

/// How long `daemon stop` waits for the daemon to go away.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// `genq daemon run`: the daemon in this process, until it is stopped. Must not be called
/// from inside a tokio runtime: the daemon builds its own.
pub fn run_foreground(ctx: &Ctx, detached: bool) -> Result<(), CliError> {
    genq_daemon::run(genq_daemon::RunOptions {
        paths: ctx.paths.clone(),
        log_to_stderr: !detached,
        detached,
    })
    .map_err(|e| CliError::Failed(format!("{e:#}")))
}

pub async fn run(ctx: &Ctx, cmd: DaemonCommand) -> Result<(), CliError> {
    match cmd {
        // `main` runs it before any runtime exists; here it would nest runtimes.
        DaemonCommand::Run { .. } => Err(CliError::Failed(
            "`genq daemon run` must start outside the async runtime".into(),
        )),
        DaemonCommand::Start => start(ctx).await,
        DaemonCommand::Stop => stop(ctx).await,
        DaemonCommand::Restart => {
            stop(ctx).await?;
            start(ctx).await
        }
        DaemonCommand::Status { json } => status(ctx, json).await,
        DaemonCommand::Install => service::install(ctx),
        DaemonCommand::Uninstall => service::uninstall(),
    }
}

async fn start(ctx: &Ctx) -> Result<(), CliError> {
    match ctx.endpoint.connect("genq-cli", false).await {
        Ok((client, _)) => {
            println!("genq daemon is already running (pid {})", client.daemon.pid);
            return Ok(());
        }
        // Not running, or one that is on its way out: start ours (the lock decides).
        Err(ClientError::NotRunning { .. }) | Err(ClientError::Disconnected) => {
            match ctx.endpoint.remote() {
                None => start_daemon(&ctx.paths).await?,
                // The relay on the remote host starts it there.
                Some(_) => drop(ctx.endpoint.connect("genq-cli", true).await?),
            }
        }
        // Running, and about to answer (starting, or binding its socket again).
        Err(ClientError::Unreachable {
            transient: true, ..
        }) => wait_for_daemon(&ctx.paths).await?,
        Err(e) => return Err(e.into()),
    }
    let (client, _) = ctx.endpoint.connect("genq-cli", false).await?;
    println!("genq daemon started (pid {})", client.daemon.pid);
    Ok(())
}

async fn stop(ctx: &Ctx) -> Result<(), CliError> {
    let (client, mut notes) = match ctx.endpoint.connect("genq-cli", false).await {
        Ok(c) => c,
        Err(ClientError::NotRunning { .. }) => {
            println!("genq daemon is not running");
            return Ok(());
        }
        Err(ClientError::Unreachable {
            pid,
            socket,
            problem,
            ..
        }) => return stop_unreachable(ctx, &pid, &format!("at {socket}: {problem}")).await,
        Err(e) => return Err(e.into()),
    };
    let pid = client.call::<DaemonShutdown>(Empty {}).await?.pid;
    drop(client);
    let deadline = Instant::now() + STOP_TIMEOUT;
    // The daemon closes our connection as it goes: the notification channel ends then.
    let closed = timeout(STOP_TIMEOUT, async {
        while notes.recv().await.is_some() {}
    })
    .await;
    // Then it finishes its writes and exits, releasing the socket and the lock.
    let mut delay = Duration::from_millis(10);
    while closed.is_ok() && Instant::now() < deadline {
        if !still_running(ctx, pid).await {
            println!("genq daemon stopped (pid {pid})");
            return Ok(());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(200));
    }
    Err(did_not_stop(ctx, pid))
}

fn did_not_stop(ctx: &Ctx, pid: u32) -> CliError {
    CliError::Failed(format!(
        "the daemon (pid {pid}) did not stop within {} s; see {}",
        STOP_TIMEOUT.as_secs(),
        ctx.paths.log_file().display()
    ))
}

/// Stops a daemon that cannot be reached with SIGTERM, once sure the pid is this home's
/// daemon: the lock is still held under that pid, and that process has the lock file open.
async fn stop_unreachable(ctx: &Ctx, pid: &str, why: &str) -> Result<(), CliError> {
    let refuse = |what: &str| {
        CliError::Failed(format!(
            "the genq daemon (pid {pid}) cannot be reached {why}, and {what}; not stopping it"
        ))
    };
    let pid: u32 = pid
        .parse()
        .map_err(|_| refuse("its pid is not known yet"))?;
    if locate(&ctx.paths).pid.as_deref() != Some(pid.to_string().as_str()) {
        return Err(refuse("the lock no longer names it"));
    }
    if !holds_open(pid, &ctx.paths.lock) {
        return Err(refuse(
            "that process does not hold this home's lock file open",
        ));
    }
    kill(Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM)
        .map_err(|e| refuse(&format!("SIGTERM failed: {e}")))?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    let mut delay = Duration::from_millis(10);
    while Instant::now() < deadline {
        if !process_alive(pid) {
            println!("genq daemon stopped (pid {pid}); it could not be reached {why}");
            return Ok(());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(200));
    }
    Err(did_not_stop(ctx, pid))
}

/// Whether process `pid` has the file at `path` open (Linux: through `/proc/PID/fd`).
fn holds_open(pid: u32, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(target) = std::fs::metadata(path) else {
        return false;
    };
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::metadata(fd.path())
            .is_ok_and(|m| m.dev() == target.dev() && m.ino() == target.ino())
    })
}

/// Whether the daemon with this pid still runs: on this machine its process tells; on a
/// remote host, whether it still answers there.
async fn still_running(ctx: &Ctx, pid: u32) -> bool {
    match ctx.endpoint.remote() {
        None => process_alive(pid),
        Some(_) => matches!(
            ctx.endpoint.connect("genq-cli", false).await,
            Ok((client, _)) if client.daemon.pid == pid
        ),
    }
}

/// Whether process `pid` still holds anything: a killed one whose first thread is already a
/// zombie keeps its lock and socket until its last thread has ended.
fn process_alive(pid: u32) -> bool {
    match process_state(pid) {
        Some(state) => state != ProcessState::Gone,
        // No /proc (not Linux): trust the signal probe.
        None => !matches!(kill(Pid::from_raw(pid as i32), None), Err(Errno::ESRCH)),
    }
}

/// Never starts the daemon: a status that started one would be misleading.
async fn status(ctx: &Ctx, json: bool) -> Result<(), CliError> {
    let (client, _) = ctx.endpoint.connect("genq-cli", false).await?;
    let status = client.call::<DaemonStatus>(Empty {}).await?;
    if json {
        return print_json(&status);
    }
    print!("{}", output::status(&status));
    if let Some(line) = super::housekeeping::status_line(&client).await {
        println!("{line}");
    }
    if let Some(warning) = service::logout_warning(status.pid) {
        println!("{warning}");
    }
    Ok(())
}
