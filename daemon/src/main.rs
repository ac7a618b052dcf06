//! `genqd`: the daemon on its own, for service managers. `genq daemon run` does the same.

fn main() -> std::process::ExitCode {
    let uid = nix::unistd::getuid().as_raw();
    let opts = genq_daemon::RunOptions {
        paths: genq_protocol::Paths::from_env(uid),
        log_to_stderr: false,
        detached: false,
    };
    match genq_daemon::run(opts) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("genqd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
