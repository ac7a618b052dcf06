//! Whether a process still runs, as the kernel lists it under `/proc` (Linux).
//!
//! A killed process ends thread by thread. Its first thread may already be a zombie while
//! another still finishes (a write to disk that cannot be interrupted, say), and until the
//! last one has, every file the process opened stays open: its locks are still held and its
//! listening socket still takes connections. So "its pid is a zombie" does not mean "it let
//! go"; only "no thread of it runs any more" does.

use std::path::Path;

/// What became of a process, thread by thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessState {
    /// Its first thread runs.
    Running,
    /// Its first thread has ended but another has not: it is going, and still holds its
    /// files and locks.
    Exiting,
    /// No thread of it runs (a zombie its parent has not collected yet, or no such
    /// process): it holds nothing.
    Gone,
}

/// What became of process `pid`; `None` where there is no `/proc` to tell (not Linux).
pub fn process_state(pid: u32) -> Option<ProcessState> {
    process_state_in(Path::new("/proc"), pid)
}

fn process_state_in(proc: &Path, pid: u32) -> Option<ProcessState> {
    if !proc.join("self").exists() {
        return None;
    }
    let Ok(tasks) = std::fs::read_dir(proc.join(pid.to_string()).join("task")) else {
        return Some(ProcessState::Gone);
    };
    let leader = pid.to_string();
    let mut first = false;
    let mut others = false;
    for task in tasks.flatten() {
        // A thread that ended between the listing and this read is gone too.
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if !runs(&stat) {
            continue;
        }
        if task.file_name().to_str() == Some(leader.as_str()) {
            first = true;
        } else {
            others = true;
        }
    }
    Some(match (first, others) {
        (true, _) => ProcessState::Running,
        (false, true) => ProcessState::Exiting,
        (false, false) => ProcessState::Gone,
    })
}

/// Whether a `stat` line shows a thread that has not ended: its state, the field after the
/// command name in parentheses (which may itself hold a parenthesis), is not zombie (`Z`)
/// or dead (`X`).
fn runs(stat: &str) -> bool {
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .is_some_and(|state| !matches!(state, 'Z' | 'X' | 'x'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `/proc` laid out by hand: `tasks` are (tid, state) of process `pid`.
    fn fake_proc(pid: u32, tasks: &[(u32, char)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("self")).unwrap();
        for (tid, state) in tasks {
            let task = dir.path().join(format!("{pid}/task/{tid}"));
            std::fs::create_dir_all(&task).unwrap();
            let stat = format!("{tid} (genq (x)) {state} 1 {pid} {pid} 0 -1\n");
            std::fs::write(task.join("stat"), stat).unwrap();
        }
        dir
    }

    #[test]
    fn a_zombie_first_thread_with_another_still_running_is_exiting() {
        let proc = fake_proc(40, &[(40, 'Z'), (41, 'D'), (42, 'Z')]);
        assert_eq!(
            process_state_in(proc.path(), 40),
            Some(ProcessState::Exiting)
        );
    }

    #[test]
    fn a_process_is_gone_once_no_thread_runs() {
        let proc = fake_proc(40, &[(40, 'Z')]);
        assert_eq!(process_state_in(proc.path(), 40), Some(ProcessState::Gone));
        assert_eq!(process_state_in(proc.path(), 7), Some(ProcessState::Gone));
    }

    #[test]
    fn a_process_whose_first_thread_runs_is_running() {
        let proc = fake_proc(40, &[(40, 'S'), (41, 'Z')]);
        assert_eq!(
            process_state_in(proc.path(), 40),
            Some(ProcessState::Running)
        );
    }

    #[test]
    fn without_proc_nothing_is_known() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(process_state_in(dir.path(), 1), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_runs_and_a_collected_child_is_gone() {
        assert_eq!(
            process_state(std::process::id()),
            Some(ProcessState::Running)
        );
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(process_state(pid), Some(ProcessState::Gone));
    }
}
