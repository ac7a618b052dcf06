//! The command line as clap sees it: every command, flag and value parser. Values that have a
//! protocol type (sizes, LoRAs, states) are parsed here, so a bad value is a clap error that
//! names the flag.

use super::color::ColorMode;
use super::ctx::JsonArg;
use crate::inputs::{parse_param, parse_view};
use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;
use genq_protocol::{JobState, Lora, Size};
use std::path::PathBuf;

/// Manage AI generation jobs (images, 3D models) through a per-user daemon.
///
/// Without a command, opens the terminal UI. Wherever a command takes a job ID, give the
/// job's number as lists show it (42), its full id, or at least 4 characters of the start
/// of the id.
#[derive(Debug, Parser)]
#[command(name = "genq", version, propagate_version = true)]
pub struct Cli {
    /// Do not start the daemon when it is not running.
    #[arg(
        long,
        global = true,
        env = "GENQ_NO_AUTOSTART",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub no_autostart: bool,

    /// Colour in tables and states: `auto` when stdout is a terminal and `NO_COLOR` is unset.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorMode::Auto)]
    pub color: ColorMode,

    /// Use the daemon of another machine, through ssh: `ssh://[user@]host[:port]`, or the
    /// name of a `[hosts.NAME]` table in config.toml.
    #[arg(long, global = true, env = "GENQ_HOST", value_name = "HOST")]
    pub host: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a generation job and print its id (the job's number).
    Submit(Box<SubmitArgs>),
    /// List jobs, newest first.
    Jobs(JobsArgs),
    /// Show one job in detail.
    Show(ShowArgs),
    /// Print events as they happen, for one job or all of them.
    Watch(WatchArgs),
    /// Wait until jobs finish (all active jobs without an id); exits 1 if any of them failed
    /// or was canceled.
    Wait(WaitArgs),
    /// Cancel jobs: by id, or every active job matching the filters.
    Cancel(CancelArgs),
    /// Submit failed or canceled jobs again as new jobs: by id, or every one matching the
    /// filters that was not retried already.
    Retry(RetryArgs),
    /// Remove finished jobs from the list (and with --outputs their files).
    Rm(RmArgs),
    /// Remove finished jobs in bulk: by state and age; --dry-run shows what would go.
    Clean(CleanArgs),
    /// How much disk the outputs take.
    Du(JsonArg),
    /// Print a job's parameters as JSON, as `genq submit --from` reads them.
    Export(IdArg),
    /// Upload a succeeded job's outputs to its storage targets again (or to one target).
    Upload(UploadArgs),
    /// Copy jobs' outputs and params.json from the daemon into DIR/<job-id>/, verified by
    /// sha256 and size; resumes an interrupted copy and skips files already there.
    Pull(PullArgs),
    /// List providers: base URL, key source, load, quota and last error.
    Providers(ProvidersArgs),
    /// Run, start, stop or query the daemon.
    #[command(subcommand)]
    Daemon(DaemonCommand),
    /// Store, list or remove provider API keys (kept in credentials.toml, private to you).
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Make, list or revoke bearer tokens for the daemon's HTTP API.
    #[command(subcommand)]
    Token(super::token::TokenCommand),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Write the man pages (genq.1 and one per command), or print genq.1.
    Man(ManArgs),
    /// List and manage the models of the catalog.
    Models(super::models::ModelsArgs),
    /// The category tree of the catalog.
    Categories(JsonArg),
    /// Capabilities and their default models.
    Capabilities(JsonArg),
    /// LoRAs from the catalog (ModelScope), written as top_loras_<task>.json.
    Loras(super::loras::LorasArgs),
    /// Run many jobs from a file (JSON Lines, CSV, TOML), with styles and a matrix; list,
    /// show, cancel and retry batches.
    Batch(super::batch::BatchArgs),
    /// Relay the protocol between stdin/stdout and this machine's daemon (what `--host`
    /// runs on the remote host through ssh).
    #[command(name = "dial-stdio", hide = true)]
    DialStdio,
}

#[derive(Debug, Default, Args)]
pub struct SubmitArgs {
    /// Provider name, as configured in config.toml.
    #[arg(long, value_name = "NAME", required_unless_present_any = ["from"])]
    pub provider: Option<String>,
    /// Model id at the provider.
    #[arg(long, value_name = "ID")]
    pub model: Option<String>,
    /// The prompt.
    #[arg(long, value_name = "TEXT", required_unless_present_any = ["from", "image", "views"])]
    pub prompt: Option<String>,
    #[arg(long, value_name = "TEXT")]
    pub negative_prompt: Option<String>,
    /// Output size, e.g. 1024x1024.
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<Size>,
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub seed: Option<i64>,
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: Option<u32>,
    #[arg(long, value_name = "F", value_parser = parse_finite)]
    pub guidance: Option<f64>,
    /// A LoRA by repository id, weight 1.0 unless given; repeatable.
    #[arg(long = "lora", value_name = "REPO[:WEIGHT]", value_parser = parse_lora)]
    pub loras: Vec<Lora>,
    /// An input image: a URL or a local file.
    #[arg(long, value_name = "PATH|URL")]
    pub image: Option<String>,
    /// A multi-view input image (front, left, back, right); repeatable.
    #[arg(long = "view", value_name = "NAME=PATH", value_parser = parse_view)]
    pub views: Vec<(String, String)>,
    /// How many outputs to ask for.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub n: Option<u32>,
    /// A provider-specific parameter; VALUE is JSON when it parses as JSON, else a string.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, serde_json::Value)>,
    /// A storage target for the outputs instead of the configured defaults; repeatable.
    #[arg(long = "store", value_name = "NAME")]
    pub store: Vec<String>,
    /// Keep the outputs local only.
    #[arg(long, conflicts_with = "store")]
    pub no_store: bool,
    /// Submitting again with the same key returns the same job.
    #[arg(long, value_name = "K")]
    pub idempotency_key: Option<String>,
    /// Read the job from a JSON file (as printed by `genq export`; `-` for stdin); flags
    /// override its fields.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// Follow the job until it ends; exit 1 if it failed or was canceled.
    #[arg(long)]
    pub wait: bool,
    /// Print the job as JSON instead of its id.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Default, Args)]
pub struct JobsArgs {
    /// Only jobs in these states (or `active`: queued to storing, `final`); repeatable or
    /// comma-separated.
    #[arg(long, value_name = "S", value_delimiter = ',', value_parser = parse_states)]
    pub state: Vec<States>,
    #[arg(long, value_name = "P")]
    pub provider: Option<String>,
    /// Case-insensitive text in the prompt, model or id.
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// How many jobs to list.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Print the jobs as a JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Job number (as lists show it), full id, or a unique start of the id.
    pub id: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only this job (its number, id, or a unique start of the id); stops when it ends.
    pub id: Option<String>,
    /// One JSON event per line (NDJSON), as the daemon sends them; with an id, the job's
    /// earlier events first.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Job numbers, full ids or unique starts of ids; without any, every job active now.
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(true).args(["ids", "all", "state", "provider"])))]
pub struct CancelArgs {
    /// Job numbers, full ids or unique starts of ids.
    #[arg(value_name = "ID", conflicts_with_all = ["all", "state", "provider"])]
    pub ids: Vec<String>,
    /// Every active job (narrowed by --state and --provider).
    #[arg(long)]
    pub all: bool,
    /// Only active jobs in these states (`active` for all of them).
    #[arg(long, value_name = "S", value_delimiter = ',', value_parser = parse_states)]
    pub state: Vec<States>,
    /// Only jobs of this provider.
    #[arg(long, value_name = "P")]
    pub provider: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(true).args(["ids", "state", "provider"])))]
pub struct RetryArgs {
    /// Job numbers, full ids or unique starts of ids.
    #[arg(value_name = "ID", conflicts_with_all = ["state", "provider"])]
    pub ids: Vec<String>,
    /// Only jobs in these states: failed, canceled (both when only --provider is given).
    #[arg(long, value_name = "S", value_delimiter = ',', value_parser = parse_states)]
    pub state: Vec<States>,
    /// Only failed or canceled jobs of this provider.
    #[arg(long, value_name = "P")]
    pub provider: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Job numbers, full ids or unique starts of ids; all must be finished.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// Also delete their output directories (outputs/YYYY/MM/<job-id>/, params.json included).
    #[arg(long)]
    pub outputs: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Only jobs in these final states (default: succeeded, failed and canceled).
    #[arg(long, value_name = "S", value_delimiter = ',', value_parser = parse_states)]
    pub state: Vec<States>,
    /// Only jobs created longer ago than this, e.g. 30m, 12h, 7d, 2w.
    #[arg(long, value_name = "DUR", value_parser = parse_age)]
    pub older_than: Option<u64>,
    /// Only jobs of this provider.
    #[arg(long, value_name = "P")]
    pub provider: Option<String>,
    /// Also delete their output directories.
    #[arg(long)]
    pub outputs: bool,
    /// Only list what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write genq.1 and genq-COMMAND.1 pages into this directory instead of printing genq.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// One `--state` value: a state, or a group of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct States(pub Vec<JobState>);

/// The states of every `--state` value, in lifecycle order, each once.
pub fn flatten_states(values: &[States]) -> Vec<JobState> {
    JobState::ALL
        .into_iter()
        .filter(|s| values.iter().any(|v| v.0.contains(s)))
        .collect()
}

#[derive(Debug, Args)]
pub struct ProvidersArgs {
    /// Print the providers as a JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// Job number (as lists show it), full id, or a unique start of the id.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Job number (as lists show it), full id, or a unique start of the id.
    pub id: String,
    /// Only this storage target (a `[storage.NAME]` table of the config).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Print the job as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Job numbers, full ids or unique starts of ids.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// Where the per-job folders go.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub to: PathBuf,
    /// Print one JSON object per file.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Run the daemon in the foreground.
    Run {
        /// Log only to the log file (used when the daemon is started in the background).
        #[arg(long)]
        detached: bool,
    },
    /// Start the daemon in the background unless it is running.
    Start,
    /// Stop the daemon gracefully.
    Stop,
    /// Stop the daemon, then start a new one (which reads this shell's environment).
    Restart,
    /// Show the daemon's status; never starts it.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Run the daemon as a systemd user service (restarted on failure; with lingering, kept
    /// after logout).
    Install,
    /// Stop and remove the systemd user service.
    Uninstall,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Store a provider's API key: asked for without echo, or read from stdin.
    Set {
        /// modelscope, dashscope or tripo.
        provider: String,
    },
    /// Where the daemon gets each provider's key from (never the key).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a provider's stored key.
    Rm {
        /// modelscope, dashscope or tripo.
        provider: String,
    },
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

fn parse_size(s: &str) -> Result<Size, String> {
    s.parse()
}

fn parse_lora(s: &str) -> Result<Lora, String> {
    s.parse()
}

/// A state name, `active` (queued to storing, as the TUI's filter) or `final`.
fn parse_states(s: &str) -> Result<States, String> {
    let s = s.trim();
    let pick = |fin: bool| {
        JobState::ALL
            .into_iter()
            .filter(|st| st.is_final() == fin)
            .collect()
    };
    match s {
        "active" => Ok(States(pick(false))),
        "final" => Ok(States(pick(true))),
        _ => s
            .parse()
            .map(|st| States(vec![st]))
            .map_err(|e: String| format!("{e}, or active, final")),
    }
}

/// An age such as `90s`, `30m`, `12h`, `7d`, `2w` or `1d12h`, in seconds.
fn parse_age(s: &str) -> Result<u64, String> {
    let bad =
        || format!("{s:?} is not an age; use a number with s, m, h, d or w, e.g. 30m, 12h, 7d");
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(total)
}

fn parse_finite(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{s:?} is not a finite number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_groups_and_ages_parse() {
        let cli = Cli::try_parse_from(["genq", "jobs", "--state", "active,failed"]).unwrap();
        let Some(Command::Jobs(args)) = cli.command else {
            panic!("not jobs")
        };
        assert_eq!(
            flatten_states(&args.state),
            [
                JobState::Queued,
                JobState::Submitting,
                JobState::Running,
                JobState::Fetching,
                JobState::Storing,
                JobState::Failed
            ]
        );
        let err = Cli::try_parse_from(["genq", "jobs", "--state", "busy"]).unwrap_err();
        assert!(err.to_string().contains("active, final"), "{err}");
        assert_eq!(parse_age("7d"), Ok(7 * 86_400));
        assert_eq!(parse_age("1d12h"), Ok(36 * 3600));
        assert_eq!(parse_age("30m"), Ok(1800));
        for bad in ["", "7", "d", "7x", "0s", "-1d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
        assert!(Cli::try_parse_from(["genq", "cancel"]).is_err());
        assert!(Cli::try_parse_from(["genq", "cancel", "--all"]).is_ok());
        assert!(Cli::try_parse_from(["genq", "cancel", "abc", "--all"]).is_err());
        assert!(Cli::try_parse_from(["genq", "retry", "a", "b"]).is_ok());
        assert!(Cli::try_parse_from(["genq", "rm"]).is_err());
        assert!(Cli::try_parse_from(["genq", "--color", "sometimes", "jobs"]).is_err());
    }

    #[test]
    fn no_autostart_comes_from_the_flag() {
        let cli = Cli::try_parse_from(["genq", "jobs", "--no-autostart"]).unwrap();
        assert!(cli.no_autostart);
        let cli = Cli::try_parse_from(["genq", "jobs"]).unwrap();
        // The environment may set it; without the flag it follows GENQ_NO_AUTOSTART only.
        let env_set = std::env::var("GENQ_NO_AUTOSTART")
            .is_ok_and(|v| ["1", "true", "yes", "on"].contains(&v.as_str()));
        assert_eq!(cli.no_autostart, env_set);
    }

    #[test]
    fn daemon_and_completion_commands_parse() {
        let cli = Cli::try_parse_from(["genq", "daemon", "status", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Daemon(DaemonCommand::Status { json: true }))
        ));
        let cli = Cli::try_parse_from(["genq", "daemon", "run", "--detached"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Daemon(DaemonCommand::Run { detached: true }))
        ));
        for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
            assert!(
                Cli::try_parse_from(["genq", "completions", shell]).is_ok(),
                "{shell}"
            );
        }
        assert!(Cli::try_parse_from(["genq", "completions", "tcsh"]).is_err());
        assert!(Cli::try_parse_from(["genq", "wait"]).is_ok());
        assert!(Cli::try_parse_from(["genq"]).unwrap().command.is_none());
    }
}
