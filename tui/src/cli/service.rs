//! `genq daemon install|uninstall`: the daemon as a systemd user service, so that it starts
//! with the user's manager, restarts after a crash and, with lingering, outlives the login
//! session. Also the warning `daemon status` gives when the daemon would die at logout.
//!
//! `systemctl` and `loginctl` are the programs named by `GENQ_SYSTEMCTL` and `GENQ_LOGINCTL`
//! when set, so that what is run can be checked without a user manager.

use super::ctx::Ctx;
use super::error::CliError;
use genq_protocol::daemon_record::locate;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The unit's name in the user manager.
pub const UNIT: &str = "genq.service";

/// `genq daemon install`: writes the unit, enables (and starts) it, tells about lingering.
pub fn install(ctx: &Ctx) -> Result<(), CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Failed(format!("cannot tell where genq is installed: {e}")))?;
    let path = unit_path()?;
    let text = unit_text(&exe, &home_env(), &ctx.paths.log_file());
    write_unit(&path, &text)?;
    println!("wrote {}", path.display());
    let running = locate(&ctx.paths).pid;
    let enable: &[&str] = if running.is_some() {
        &["enable", UNIT]
    } else {
        &["enable", "--now", UNIT]
    };
    let enabled = systemctl(&["daemon-reload"]).and_then(|()| systemctl(enable));
    if let Err(why) = enabled {
        return Err(CliError::Failed(format!(
            "could not enable {UNIT}: {why}. The unit is written; without a systemd user \
             manager (a container, a host without systemd) start the daemon another way \
             (`genq daemon start`, or see the README)"
        )));
    }
    match running {
        Some(pid) => println!(
            "enabled {UNIT}; a daemon is already running outside it (pid {pid}): run \
             `genq daemon stop && systemctl --user start {UNIT}` to move it under systemd"
        ),
        None => println!("enabled and started {UNIT}"),
    }
    println!("{}", linger_advice(&user_name()));
    println!(
        "the service does not see your shell's environment: keep provider keys in \
         credentials.toml (`genq auth set`)"
    );
    Ok(())
}

/// `genq daemon uninstall`: disables and stops the unit, then removes it.
pub fn uninstall() -> Result<(), CliError> {
    let path = unit_path()?;
    if !path.exists() {
        println!(
            "{UNIT} is not installed ({} does not exist)",
            path.display()
        );
        return Ok(());
    }
    let disabled = systemctl(&["disable", "--now", UNIT]);
    std::fs::remove_file(&path)
        .map_err(|e| CliError::Failed(format!("cannot remove {}: {e}", path.display())))?;
    println!("removed {}", path.display());
    match disabled.and_then(|()| systemctl(&["daemon-reload"])) {
        Ok(()) => {
            println!("disabled {UNIT}");
            Ok(())
        }
        Err(why) => Err(CliError::Failed(format!(
            "the unit is removed, but disabling it failed: {why}"
        ))),
    }
}

/// The variables that decide where this home is (`GENQ_HOME`, the XDG base directories),
/// as set here: the service gets the same home, not the user manager's defaults.
fn home_env() -> Vec<(String, String)> {
    [
        "GENQ_HOME",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
    ]
    .into_iter()
    .filter_map(|k| {
        let v = std::env::var(k).ok().filter(|v| !v.is_empty())?;
        Some((k.to_string(), v))
    })
    .collect()
}

/// The unit: the daemon in the foreground under the user manager with this home's
/// variables, its log in `daemon.log` as always, restarted when it fails.
pub fn unit_text(exe: &Path, env: &[(String, String)], log: &Path) -> String {
    let mut text = format!(
        "[Unit]\n\
         Description=genq daemon (generation jobs)\n\
         Documentation=man:genq(1)\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={} daemon run --detached\n",
        quote(&exe.display().to_string())
    );
    for (key, value) in env {
        text.push_str(&format!(
            "Environment={}\n",
            quote(&format!("{key}={value}"))
        ));
    }
    text.push_str(&format!(
        "# The daemon writes its log to {}\n\
         Restart=on-failure\n\
         RestartSec=2\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        log.display()
    ));
    text
}

/// A word for a unit file: quoted when it holds a space, a quote or a backslash.
fn quote(word: &str) -> String {
    if word.contains([' ', '"', '\\', '\t']) {
        format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        word.to_string()
    }
}

/// `$XDG_CONFIG_HOME/systemd/user/genq.service`, else under `~/.config`.
fn unit_path() -> Result<PathBuf, CliError> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let config = var("XDG_CONFIG_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".config")))
        .ok_or_else(|| {
            CliError::Failed("neither XDG_CONFIG_HOME nor HOME is set: where do units go?".into())
        })?;
    Ok(config.join("systemd").join("user").join(UNIT))
}

fn write_unit(path: &Path, text: &str) -> Result<(), CliError> {
    let fail =
        |e: std::io::Error| CliError::Failed(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    std::fs::write(path, text).map_err(fail)
}

/// Runs `systemctl --user ARGS`; the error says what failed and what it said.
fn systemctl(args: &[&str]) -> Result<(), String> {
    let program = tool("GENQ_SYSTEMCTL", "systemctl");
    let out = Command::new(&program)
        .arg("--user")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(format!(
        "`systemctl --user {}` failed ({}){}",
        args.join(" "),
        out.status,
        if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        }
    ))
}

fn tool(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// Whether systemd keeps `user`'s services after logout; `None` when `loginctl` cannot say.
fn linger(user: &str) -> Option<bool> {
    let out = Command::new(tool("GENQ_LOGINCTL", "loginctl"))
        .args(["show-user", user, "-p", "Linger"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Linger="))?;
    Some(value == "yes")
}

/// What lingering means for the service, with the command that turns it on.
fn linger_advice(user: &str) -> String {
    match linger(user) {
        Some(true) => "lingering is enabled: the daemon keeps running after you log out".into(),
        Some(false) => format!(
            "lingering is off: systemd stops your user services when you log out. Keep the \
             daemon running with:\n  loginctl enable-linger {user}"
        ),
        None => format!(
            "cannot tell whether lingering is enabled (loginctl did not say); without it \
             systemd stops your user services when you log out:\n  loginctl enable-linger {user}"
        ),
    }
}

fn user_name() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| nix::unistd::getuid().to_string())
}

/// On a systemd host, why the daemon `pid` would stop at logout, and what to do; `None`
/// when it would not (under the user manager with lingering) or the host has no systemd.
pub fn logout_warning(pid: u32) -> Option<String> {
    if !Path::new("/run/systemd/system").is_dir() {
        return None;
    }
    let uid = nix::unistd::getuid().as_raw();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let user = user_name();
    let under_manager = cgroup.contains(&format!("/user@{uid}.service/"));
    logout_advice(under_manager, linger(&user), &user)
}

/// The rule behind [`logout_warning`]: only a daemon under the user manager with lingering
/// on outlives the login session.
fn logout_advice(under_manager: bool, linger: Option<bool>, user: &str) -> Option<String> {
    match (under_manager, linger) {
        (true, Some(true)) => None,
        (true, _) => Some(format!(
            "warning: the daemon runs under your systemd user manager, which stops when you \
             log out unless lingering is on: loginctl enable-linger {user}"
        )),
        (false, _) => Some(format!(
            "warning: the daemon runs in your login session: systemd may stop it when you log \
             out. Run it as a user service with `genq daemon install` (and \
             `loginctl enable-linger {user}`)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_the_daemon_in_the_foreground_and_restarts_it_on_failure() {
        let text = unit_text(
            Path::new("/opt/my tools/genq"),
            &[("GENQ_HOME".into(), "/srv/genq".into())],
            Path::new("/srv/genq/logs/daemon.log"),
        );
        assert!(
            text.contains("ExecStart=\"/opt/my tools/genq\" daemon run --detached\n"),
            "{text}"
        );
        assert!(text.contains("Environment=GENQ_HOME=/srv/genq\n"), "{text}");
        assert!(text.contains("Restart=on-failure\n"), "{text}");
        assert!(text.contains("WantedBy=default.target\n"), "{text}");
        assert!(text.contains("/srv/genq/logs/daemon.log"), "{text}");
        let plain = unit_text(Path::new("/usr/bin/genq"), &[], Path::new("/l"));
        assert!(!plain.contains("Environment="), "{plain}");
    }

    #[test]
    fn only_a_lingering_user_service_is_safe_from_logout() {
        assert_eq!(logout_advice(true, Some(true), "me"), None);
        let off = logout_advice(true, Some(false), "me").unwrap();
        assert!(off.contains("loginctl enable-linger me"), "{off}");
        let session = logout_advice(false, Some(true), "me").unwrap();
        assert!(session.contains("genq daemon install"), "{session}");
    }
}
