//! The real `genq` and `genqd` binaries the tests drive, rebuilt when a source is newer.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace's `target/<profile>` directory, from the test binary's own location.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// Path of the `genq` binary, never older than the sources it is built from. A binary newer
/// than every source file is used as it is (`cargo test --workspace` has just built it);
/// otherwise it is built once per test process, with the packages selected so that features
/// resolve as in `cargo test -p genq-e2e` and the two builds do not undo each other.
pub fn genq_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| fresh_bin("genq", &["genq", "genq-e2e"]))
        .clone()
}

/// Path of the `genqd` binary, built like [`genq_bin`] when its sources are newer.
pub fn genqd_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| fresh_bin("genqd", &["genq", "genq-daemon", "genq-e2e"]))
        .clone()
}

/// The workspace binary `name`, rebuilt (selecting `packages`) when a source is newer.
fn fresh_bin(name: &str, packages: &[&str]) -> PathBuf {
    let dir = target_dir();
    let bin = dir.join(name);
    let built_at = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace");
    if built_at.is_some_and(|at| newest_source(root).is_some_and(|src| src < at)) {
        return bin;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    cmd.args(["--bin", name]);
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "building the {name} binary failed");
    bin
}

/// The latest modification time among the files the `genq` binary is built from.
fn newest_source(root: &Path) -> Option<std::time::SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<std::time::SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, newest);
            } else if let Ok(at) = entry.metadata().and_then(|m| m.modified()) {
                *newest = (*newest).max(Some(at));
            }
        }
    }
    let mut newest = None;
    for file in ["Cargo.toml", "Cargo.lock"] {
        if let Ok(at) = std::fs::metadata(root.join(file)).and_then(|m| m.modified()) {
            newest = newest.max(Some(at));
        }
    }
    for krate in ["protocol", "daemon", "tui"] {
        walk(&root.join(krate).join("src"), &mut newest);
        if let Ok(at) =
            std::fs::metadata(root.join(krate).join("Cargo.toml")).and_then(|m| m.modified())
        {
            newest = newest.max(Some(at));
        }
    }
    newest
}
