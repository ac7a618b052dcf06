//! The `genq` command line: parses arguments, then runs one command against the daemon (or
//! opens the TUI when no command is given). Each command group has its own module.

pub mod args;
pub mod auth;
mod batch;
mod color;
mod completions;
mod ctx;
mod daemon;
pub mod error;
mod follow;
mod host;
mod housekeeping;
mod jobs;
mod jobs_json;
mod loras;
mod man;
mod models;
pub mod output;
mod providers;
mod pull;
mod service;
pub mod submit;
mod token;
mod wait;
mod watch;

use crate::client::Endpoint;
use args::{Cli, Command};
use clap::{CommandFactory, Parser};
use ctx::Ctx;
use error::CliError;
use genq_protocol::Paths;
use std::io::IsTerminal;
use std::process::ExitCode;
use time::UtcOffset;

/// The whole program: parse, run, map the outcome to an exit code.
pub fn main() -> ExitCode {
    let offset = UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { error::EXIT_USAGE } else { 0 });
        }
    };
    match &cli.command {
        None if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) => {
            eprintln!("genq: {}", no_terminal_message());
            return ExitCode::from(error::EXIT_USAGE);
        }
        // The TUI writes to a terminal, and the daemon must outlive any reader.
        None | Some(Command::Daemon(args::DaemonCommand::Run { .. })) => {}
        Some(_) => end_quietly_on_closed_stdout(),
    }
    let paths = Paths::from_env(nix::unistd::getuid().as_raw());
    let endpoint = match host::endpoint(cli.host.as_deref(), &paths)
        .and_then(|e| refuse_remote(&e, cli.command.as_ref()).map(|()| e))
    {
        Ok(endpoint) => endpoint,
        Err(e) => {
            eprintln!("genq: {}", e.report());
            return ExitCode::from(e.exit_code());
        }
    };
    let ctx = Ctx {
        paths,
        endpoint,
        autostart: !cli.no_autostart,
        offset,
        color: cli.color,
    };
    let runs_daemon = matches!(
        cli.command,
        Some(Command::Daemon(args::DaemonCommand::Run { .. })) | Some(Command::DialStdio)
    );
    // The daemon logs this itself; everyone else hears it here, every time, until fixed.
    if let Some(moved) = ctx.paths.socket_moved.as_ref().filter(|_| !runs_daemon) {
        eprintln!(
            "genq: warning: {moved}; using {} instead",
            ctx.paths.socket.display()
        );
    }
    let result = match cli.command {
        // The daemon builds its own runtime, so it runs outside ours.
        Some(Command::Daemon(args::DaemonCommand::Run { detached })) => {
            daemon::run_foreground(&ctx, detached)
        }
        Some(Command::Completions(args)) => {
            completions::print(args.shell);
            Ok(())
        }
        Some(Command::Man(args)) => man::run(args),
        Some(Command::DialStdio) => dial_stdio(&ctx),
        command => match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .on_thread_start(keep_sigpipe_off_this_thread)
            .build()
        {
            Ok(rt) => rt.block_on(dispatch(&ctx, command)),
            Err(e) => Err(CliError::Failed(format!(
                "cannot start the async runtime: {e}"
            ))),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.already_reported() {
                eprintln!("genq: {}", e.report());
            }
            ExitCode::from(e.exit_code())
        }
    }
}

async fn dispatch(ctx: &Ctx, command: Option<Command>) -> Result<(), CliError> {
    match command {
        None => crate::tui::run(ctx.endpoint.clone(), ctx.paths.clone(), ctx.autostart)
            .await
            .map_err(|e| CliError::Failed(format!("{e:#}"))),
        Some(Command::Submit(args)) => submit::run(ctx, *args).await,
        Some(Command::Jobs(args)) => jobs::list(ctx, args).await,
        Some(Command::Show(args)) => jobs::show(ctx, args).await,
        Some(Command::Watch(args)) => watch::run(ctx, args).await,
        Some(Command::Wait(args)) => wait::run(ctx, args).await,
        Some(Command::Cancel(args)) => jobs::cancel(ctx, args).await,
        Some(Command::Retry(args)) => jobs::retry(ctx, args).await,
        Some(Command::Rm(args)) => housekeeping::rm(ctx, args).await,
        Some(Command::Clean(args)) => housekeeping::clean(ctx, args).await,
        Some(Command::Du(args)) => housekeeping::du(ctx, args).await,
        Some(Command::Export(args)) => jobs::export(ctx, args).await,
        Some(Command::Upload(args)) => jobs::upload(ctx, args).await,
        Some(Command::Pull(args)) => pull::run(ctx, args).await,
        Some(Command::Providers(args)) => providers::run(ctx, args).await,
        Some(Command::Daemon(cmd)) => daemon::run(ctx, cmd).await,
        Some(Command::Auth(cmd)) => auth::run(ctx, cmd).await,
        Some(Command::Token(cmd)) => token::run(ctx, cmd).await,
        Some(Command::Models(args)) => models::run(ctx, args).await,
        Some(Command::Categories(args)) => models::categories(ctx, args).await,
        Some(Command::Capabilities(args)) => models::capabilities(ctx, args).await,
        Some(Command::Loras(args)) => loras::run(ctx, args).await,
        Some(Command::Batch(args)) => batch::run(ctx, args).await,
        Some(Command::Completions(args)) => {
            completions::print(args.shell);
            Ok(())
        }
        Some(Command::Man(args)) => man::run(args),
        // `main` runs it in a runtime of its own.
        Some(Command::DialStdio) => Err(CliError::Failed(
            "`genq dial-stdio` must start outside the async runtime".into(),
        )),
    }
}

/// Commands that act on this machine only refuse `--host` instead of doing the wrong thing.
fn refuse_remote(endpoint: &Endpoint, command: Option<&Command>) -> Result<(), CliError> {
    let Some(host) = endpoint.remote() else {
        return Ok(());
    };
    let local_only = match command {
        Some(Command::Daemon(args::DaemonCommand::Run { .. })) => "daemon run",
        Some(Command::DialStdio) => "dial-stdio",
        _ => return Ok(()),
    };
    Err(CliError::Usage(format!(
        "`genq {local_only}` acts on this machine and cannot use --host; run it on {} \
         (e.g. `ssh -t {} genq {local_only} …`)",
        host.name(),
        host.destination
    )))
}

/// `genq dial-stdio`, in a runtime of its own that is dropped without waiting for the
/// blocking read of stdin that may still be under way when the daemon side closed.
fn dial_stdio(ctx: &Ctx) -> Result<(), CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(keep_sigpipe_off_this_thread)
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    let outcome = rt.block_on(crate::client::dial_stdio(&ctx.paths, ctx.autostart));
    rt.shutdown_background();
    Ok(outcome?)
}

/// Why `genq` alone did not open the TUI, and what works without a terminal.
fn no_terminal_message() -> String {
    let commands: Vec<String> = Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| format!("genq {}", c.get_name()))
        .collect();
    format!(
        "the terminal UI needs a terminal, and stdin or stdout is not one \
         (over ssh, use `ssh -t HOST genq`).\nThese commands work without one: {}.\n\
         See `genq --help`.",
        commands.join(", ")
    )
}

/// `genq jobs | head` must end quietly when the reader goes away, as any Unix tool does:
/// writing to a closed stdout ends the process (SIGPIPE) instead of a panic.
fn end_quietly_on_closed_stdout() {
    #[cfg(unix)]
    {
        use nix::sys::signal::{SigHandler, Signal, signal};
        // SAFETY: no other thread exists yet, and the default disposition has no handler.
        let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    }
}

/// Runtime threads write to the daemon's socket: a daemon that went away must be an error
/// there (`EPIPE`, "connection lost"), not the end of the process.
fn keep_sigpipe_off_this_thread() {
    #[cfg(unix)]
    {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
        let mut set = SigSet::empty();
        set.add(Signal::SIGPIPE);
        let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
    }
}
