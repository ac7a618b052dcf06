//! Processes a test starts or watches: a finished command's output as text, whether a pid is
//! alive, waiting for one to exit, file modes, and the bound on every wait.

use genq_protocol::process::{ProcessState, process_state};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// Generous bound for anything a test waits on; reaching it means the feature is broken.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A finished command's stderr, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A finished command's stdout, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sets a file's permission bits.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Whether process `pid` still holds anything (its files, its locks): a killed one whose
/// first thread is already a zombie does until its last thread has ended.
pub fn alive(pid: i32) -> bool {
    match u32::try_from(pid).ok().and_then(process_state) {
        Some(state) => state != ProcessState::Gone,
        None => nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok(),
    }
}

/// Waits until a process has exited (bounded by [`PATIENCE`]).
pub fn wait_gone(pid: i32) {
    let start = std::time::Instant::now();
    while alive(pid) {
        assert!(start.elapsed() < PATIENCE, "process {pid} did not exit");
        // Polling a pid: there is no portable event for another process's exit.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asks a process to stop (SIGTERM) and waits until it has; nothing when there is none.
pub fn terminate(pid: Option<i32>) {
    if let Some(pid) = pid {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
        wait_gone(pid);
    }
}
