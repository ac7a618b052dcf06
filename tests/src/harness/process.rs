//! Processes a test starts or watches: a finished command's output as text, whether a pid is
//! alive, waiting for one to exit, file modes, and the bound on every wait.

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

pub fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie still counts, so look at /proc too.
    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
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
