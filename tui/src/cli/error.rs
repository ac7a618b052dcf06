//! Why a command failed, and the exit code each failure gets: 1 a job failed or was
//! canceled (or the daemon could not do what was asked), 2 usage or invalid input, 3 the
//! daemon is not reachable.

use crate::client::ClientError;
use genq_protocol::ErrorKind;
use std::fmt;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNREACHABLE: u8 = 3;
/// Interrupted by Ctrl-C, as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Input the command line could not use (a bad `--from` file, a missing image, …).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Jobs ended without succeeding; their errors were already printed.
    #[error("{failed} of {total} job(s) did not succeed")]
    JobsFailed { failed: usize, total: usize },
    /// Ctrl-C while waiting; the jobs carry on in the daemon.
    #[error("stopped waiting; the job(s) carry on in the daemon")]
    Interrupted,
    /// A command run on the remote host exited with `code`; it printed why itself.
    #[error("the command on the remote host exited {code}")]
    Remote { code: u8 },
    /// Something else went wrong (the daemon did not stop, it failed to run, …).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::JobsFailed { .. } | CliError::Failed(_) => EXIT_FAILED,
            CliError::Interrupted => EXIT_INTERRUPTED,
            CliError::Remote { code } => *code,
            CliError::Client(e) => match e {
                ClientError::NotRunning { .. }
                | ClientError::Unreachable { .. }
                | ClientError::Connect { .. }
                | ClientError::Autostart(_)
                | ClientError::UnsafeSocketDir(_)
                | ClientError::ForeignDaemon { .. }
                | ClientError::Ssh(_)
                | ClientError::Disconnected => EXIT_UNREACHABLE,
                ClientError::BadReply(_) => EXIT_FAILED,
                ClientError::Rpc(rpc) => match rpc.kind() {
                    ErrorKind::InvalidParams
                    | ErrorKind::NotFound
                    | ErrorKind::Ambiguous
                    | ErrorKind::Conflict
                    | ErrorKind::Auth => EXIT_USAGE,
                    ErrorKind::ShuttingDown | ErrorKind::VersionMismatch | ErrorKind::Busy => {
                        EXIT_UNREACHABLE
                    }
                    _ => EXIT_FAILED,
                },
            },
        }
    }

    /// Whether the failure was already reported on stderr while it happened.
    pub fn already_reported(&self) -> bool {
        matches!(self, CliError::JobsFailed { .. } | CliError::Remote { .. })
    }

    /// The message for stderr; for a refused parameter it names the field, the flag that
    /// sets it and what is allowed.
    pub fn report(&self) -> String {
        let CliError::Client(ClientError::Rpc(rpc)) = self else {
            return self.to_string();
        };
        let mut out = rpc.message.clone();
        if let Some(data) = &rpc.data {
            if let Some(field) = &data.field {
                out.push_str(&format!("\n  field: {field}"));
                if let Some(flag) = flag_for_field(field) {
                    out.push_str(&format!(" (set with {flag})"));
                }
            }
            if let Some(allowed) = &data.allowed {
                out.push_str(&format!("\n  allowed: {allowed}"));
            }
            out.push_str(&only_in_this_shell(rpc.env_vars(), |v| std::env::var_os(v)));
        }
        out
    }
}

/// A note for each variable the daemon looked in that is set here but not there: the daemon
/// keeps the environment of the shell that started it.
fn only_in_this_shell(
    env_vars: &[String],
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> String {
    env_vars
        .iter()
        .filter(|v| env(v).is_some_and(|x| !x.is_empty()))
        .map(|v| {
            format!(
                "\n  note: {v} is set in this shell but not in the daemon's environment (the \
                 daemon keeps the environment of the shell that started it): store the key \
                 with `genq auth set`, or run `genq daemon restart` from this shell"
            )
        })
        .collect()
}

impl From<fmt::Error> for CliError {
    fn from(e: fmt::Error) -> Self {
        CliError::Failed(e.to_string())
    }
}

/// The `genq submit` flag that sets a `JobSpec` field, from the daemon's field path
/// (`spec.loras[2].weight`, `params.sampler`, `size`).
pub fn flag_for_field(field: &str) -> Option<&'static str> {
    let field = field.strip_prefix("spec.").unwrap_or(field);
    let head = field.split(['.', '[']).next().unwrap_or(field);
    Some(match head {
        "provider" => "--provider",
        "model" => "--model",
        "kind" => return None,
        "prompt" => "--prompt",
        "negative_prompt" => "--negative-prompt",
        "size" => "--size",
        "seed" => "--seed",
        "steps" => "--steps",
        "guidance" => "--guidance",
        "loras" => "--lora",
        "image" => "--image",
        "views" => "--view",
        "n" => "--n",
        "params" => "--param",
        "store" => "--store",
        "idempotency_key" => "--idempotency-key",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use genq_protocol::RpcError;

    #[test]
    fn invalid_params_name_field_flag_and_allowed_values() {
        let e = CliError::Client(ClientError::Rpc(RpcError::invalid_params(
            "spec.loras[1].weight",
            "weights must sum to 1.0",
            Some("0.0 to 1.0, summing to 1.0".into()),
        )));
        let report = e.report();
        assert!(
            report.contains("spec.loras[1].weight: weights must sum to 1.0"),
            "{report}"
        );
        assert!(
            report.contains("field: spec.loras[1].weight (set with --lora)"),
            "{report}"
        );
        assert!(
            report.contains("allowed: 0.0 to 1.0, summing to 1.0"),
            "{report}"
        );
        assert_eq!(e.exit_code(), EXIT_USAGE);
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        let unreachable = CliError::Client(ClientError::NotRunning {
            socket: "/x".into(),
        });
        assert_eq!(unreachable.exit_code(), EXIT_UNREACHABLE);
        let not_found = CliError::Client(ClientError::Rpc(RpcError::new(
            ErrorKind::NotFound,
            "no job abc",
        )));
        assert_eq!(not_found.exit_code(), EXIT_USAGE);
        assert_eq!(
            CliError::JobsFailed {
                failed: 1,
                total: 2
            }
            .exit_code(),
            EXIT_FAILED
        );
        assert_eq!(CliError::Usage("x".into()).exit_code(), EXIT_USAGE);
    }

    #[test]
    fn a_missing_key_set_only_in_this_shell_is_pointed_out() {
        let vars = vec!["A".to_string(), "B".to_string()];
        let note = only_in_this_shell(&vars, |v| (v == "B").then(|| "x".into()));
        assert!(note.contains("B is set in this shell"), "{note}");
        assert!(!note.contains("A is set"), "{note}");
        let e = CliError::Client(ClientError::Rpc(RpcError::auth("no key", vars)));
        assert_eq!(e.exit_code(), EXIT_USAGE);
    }

    #[test]
    fn field_paths_map_to_flags() {
        assert_eq!(flag_for_field("spec.size"), Some("--size"));
        assert_eq!(flag_for_field("params.sampler"), Some("--param"));
        assert_eq!(flag_for_field("spec.views.front"), Some("--view"));
        assert_eq!(flag_for_field("spec.unknown"), None);
    }
}
