//! `genq batch`: send a batch file (JSON Lines, CSV, TOML) with the command line's defaults,
//! style and matrix, or plan it with `--dry-run`; `ls`, `show`, `cancel`, `retry` act on
//! batches the daemon keeps.

mod run;
mod view;

use super::ctx::{Ctx, JsonArg};
use super::error::CliError;
use crate::inputs::parse_param;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BatchArgs {
    #[command(subcommand)]
    pub command: Option<BatchCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// List batches with their progress, newest first.
    Ls(JsonArg),
    /// One batch with its rows: state, job, output paths, errors, upload URLs.
    Show(IdArgs),
    /// Stop sending a batch's rows and cancel its unfinished jobs.
    Cancel(IdArgs),
    /// Send a batch's failed and canceled rows again.
    Retry(RetryArgs),
    /// Follow a batch until every row ended, with one progress bar; exit 1 unless all
    /// succeeded.
    Wait(IdArgs),
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// The batch's number.
    pub id: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The batch's number.
    pub id: u64,
    /// Follow the batch until every row ended; exit 1 unless all succeeded.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Default, Args)]
pub struct RunArgs {
    /// The batch file: .jsonl (one job spec per line), .csv (a header row naming the
    /// fields) or .toml ([[rows]], [defaults], [matrix]); each row may add `output` (a path
    /// or template such as `ill/{row:03}_{slug}.png`) and `style`.
    #[arg(value_name = "FILE", required = true)]
    pub file: Option<PathBuf>,
    /// Provider of rows that name none.
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// Model of rows that name none.
    #[arg(long, value_name = "ID")]
    pub model: Option<String>,
    /// A spec field for rows that leave it out (VALUE is JSON when it parses as JSON);
    /// repeatable, e.g. --set size=1024x1024 --set steps=30.
    #[arg(long = "set", value_name = "FIELD=VALUE", value_parser = parse_param)]
    pub set: Vec<(String, serde_json::Value)>,
    /// A provider-specific parameter for every row; repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, serde_json::Value)>,
    /// A style from [styles.NAME] in config.toml, for rows that name none.
    #[arg(long, value_name = "NAME")]
    pub style: Option<String>,
    /// Run every row once per value: FIELD=V1,V2 or FIELD=A..B; repeatable (the product).
    #[arg(long, value_name = "FIELD=VALUES")]
    pub vary: Vec<String>,
    /// Print the expanded jobs, their count and estimated cost; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send the valid rows even when some are invalid.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Send rows again that already succeeded with the same parameters.
    #[arg(long)]
    pub force: bool,
    /// Follow the batch until every row ended, with one progress bar; exit 1 unless all
    /// succeeded.
    #[arg(long)]
    pub wait: bool,
    /// Print the plan (and with --wait the batch) as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(ctx: &Ctx, args: BatchArgs) -> Result<(), CliError> {
    match args.command {
        None => run::submit(ctx, args.run).await,
        Some(BatchCommand::Ls(a)) => view::list(ctx, a.json).await,
        Some(BatchCommand::Show(a)) => view::show(ctx, a.id, a.json).await,
        Some(BatchCommand::Cancel(a)) => view::cancel(ctx, a.id, a.json).await,
        Some(BatchCommand::Retry(a)) => run::retry(ctx, a.id, a.wait).await,
        Some(BatchCommand::Wait(a)) => run::follow(ctx, a.id, a.json).await,
    }
}
