//! `genqd`: the daemon on its own, for service managers. `genq daemon run` does the same.

use std::process::ExitCode;

const USAGE: &str = "\
genqd: the genq daemon, run in the foreground (as `genq daemon run`).

Usage: genqd [--help | --version]

It serves the local socket until SIGTERM, SIGINT or `genq daemon stop`. Where it keeps its
files follows GENQ_HOME, or the XDG base directories; the log goes to daemon.log there.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {}
        Some("-h" | "--help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("-V" | "--version") => {
            println!("genqd {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("genqd: unexpected argument {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let uid = nix::unistd::getuid().as_raw();
    let opts = genq_daemon::RunOptions {
        paths: genq_protocol::Paths::from_env(uid),
        log_to_stderr: false,
        detached: false,
    };
    match genq_daemon::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("genqd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
