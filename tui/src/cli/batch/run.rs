//! Sending a batch (or planning it with `--dry-run`) and following it with one progress bar.

use super::RunArgs;
use super::view::{print_failed_rows, print_plan, print_problems};
use crate::cli::ctx::{Ctx, print_json};
use crate::cli::error::CliError;
use genq_protocol::batch::{BatchCounts, BatchInfo, BatchRef, BatchSubmitParams};
use genq_protocol::methods::{
    BatchGet, BatchList, BatchRetry, BatchSubmit, Empty, NOTIFY_EVENT, NOTIFY_RESYNC, Subscribe,
    SubscribeParams,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value};
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// Shortest time between two refreshes of the progress bar.
const REFRESH: Duration = Duration::from_millis(250);
/// How many refreshes the manifest is waited for once every row ended.
const MANIFEST_WAITS: u32 = 40;

fn params(ctx: &Ctx, args: &RunArgs) -> Result<BatchSubmitParams, CliError> {
    let cwd = std::env::current_dir()
        .map_err(|e| CliError::Usage(format!("cannot read the current directory: {e}")))?;
    let file = args.file.clone().unwrap_or_default();
    let mut defaults = Map::new();
    for (k, v) in &args.set {
        defaults.insert(k.clone(), v.clone());
    }
    if let Some(p) = &args.provider {
        defaults.insert("provider".into(), p.clone().into());
    }
    if let Some(m) = &args.model {
        defaults.insert("model".into(), m.clone().into());
    }
    if !args.params.is_empty() {
        let params: Map<String, Value> = args.params.iter().cloned().collect();
        defaults.insert("params".into(), Value::Object(params));
    }
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut p = BatchSubmitParams {
        name,
        defaults,
        style: args.style.clone(),
        vary: args.vary.clone(),
        base_dir: None,
        dry_run: args.dry_run,
        skip_invalid: args.skip_invalid,
        force: args.force,
        ..Default::default()
    };
    if ctx.endpoint.remote().is_some() {
        // The daemon cannot read this machine's files: send the text.
        let text = std::fs::read_to_string(&file)
            .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
        p.text = Some(text);
    } else {
        // Relative outputs land where the command runs.
        p.base_dir = Some(cwd.display().to_string());
        let abs = cwd.join(&file);
        if !abs.is_file() {
            return Err(CliError::Usage(format!("{}: no such file", file.display())));
        }
        p.path = Some(abs.display().to_string());
    }
    Ok(p)
}

pub async fn submit(ctx: &Ctx, args: RunArgs) -> Result<(), CliError> {
    let p = params(ctx, &args)?;
    let (client, notes) = ctx.connect().await?;
    let plan = client.call::<BatchSubmit>(p).await?;
    if args.json && (args.dry_run || !args.wait) {
        print_json(&plan)?;
    }
    if !plan.invalid.is_empty() {
        print_problems(&plan.invalid);
        if !args.skip_invalid {
            return Err(CliError::Usage(format!(
                "{} invalid row(s); nothing was sent (--skip-invalid sends the valid rows)",
                plan.invalid.len()
            )));
        }
    }
    if args.dry_run {
        if !args.json {
            print_plan(&plan);
        }
        return Ok(());
    }
    let Some(batch) = plan.batch else {
        if !args.json {
            println!("nothing to send: the file has no valid rows");
        }
        return Ok(());
    };
    if !args.json {
        let reused = plan.reused;
        println!("batch {}: {} job(s)", batch.id, batch.counts.total);
        if reused > 0 {
            println!(
                "  {reused} already succeeded with the same parameters (--force runs them again)"
            );
        }
    }
    if !args.wait {
        return Ok(());
    }
    wait(&client, notes, batch.id, args.json).await
}

pub async fn retry(ctx: &Ctx, id: u64, follow: bool) -> Result<(), CliError> {
    let (client, notes) = ctx.connect().await?;
    let info = client.call::<BatchRetry>(BatchRef { id }).await?;
    println!(
        "batch {}: sending {} row(s) again",
        info.id,
        info.counts.pending + info.counts.in_flight
    );
    if follow {
        return wait(&client, notes, id, false).await;
    }
    Ok(())
}

/// `genq batch wait ID`.
pub async fn follow(ctx: &Ctx, id: u64, json: bool) -> Result<(), CliError> {
    let (client, notes) = ctx.connect().await?;
    wait(&client, notes, id, json).await
}

async fn info(client: &crate::client::Client, id: u64) -> Result<BatchInfo, CliError> {
    let all = client.call::<BatchList>(Empty {}).await?;
    all.into_iter()
        .find(|b| b.id == id)
        .ok_or_else(|| CliError::Failed(format!("batch {id} is gone")))
}

fn bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn show(bar: &ProgressBar, c: &BatchCounts) {
    bar.set_position(c.succeeded + c.failed + c.canceled);
    bar.set_message(format!(
        "done {} · failed {} · in flight {} · waiting {}",
        c.succeeded,
        c.failed + c.canceled,
        c.in_flight,
        c.pending
    ));
}

/// Follows the batch on its job events until every row ended; exit 1 unless all succeeded.
async fn wait(
    client: &crate::client::Client,
    mut notes: tokio::sync::mpsc::Receiver<genq_protocol::rpc::Notification>,
    id: u64,
    json: bool,
) -> Result<(), CliError> {
    client
        .call::<Subscribe>(SubscribeParams { since_seq: None })
        .await?;
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| CliError::Failed(format!("cannot watch for Ctrl-C: {e}")))?;
    let mut now = info(client, id).await?;
    let bar = bar(now.counts.total);
    show(&bar, &now.counts);
    while !now.counts.finished() {
        let note = tokio::select! {
            n = notes.recv() => n.ok_or(crate::client::ClientError::Disconnected)?,
            _ = interrupt.recv() => {
                bar.abandon();
                return Err(CliError::Interrupted);
            }
        };
        if note.method != NOTIFY_EVENT && note.method != NOTIFY_RESYNC {
            continue;
        }
        tokio::time::sleep(REFRESH).await;
        while notes.try_recv().is_ok() {}
        now = info(client, id).await?;
        show(&bar, &now.counts);
    }
    // The daemon writes the manifest just after the last row ends.
    for _ in 0..MANIFEST_WAITS {
        if now.finished_at.is_some() {
            break;
        }
        tokio::time::sleep(REFRESH).await;
        now = info(client, id).await?;
    }
    bar.finish_and_clear();
    let detail = client.call::<BatchGet>(BatchRef { id }).await?;
    let c = &detail.batch.counts;
    if json {
        print_json(&detail)?;
    } else {
        println!(
            "batch {id}: {} succeeded, {} failed, {} canceled of {}",
            c.succeeded, c.failed, c.canceled, c.total
        );
        if let Some(m) = &detail.batch.manifest {
            println!("manifest: {m}");
        }
    }
    let failed = (c.failed + c.canceled) as usize;
    if failed > 0 {
        print_failed_rows(&detail.rows);
        return Err(CliError::JobsFailed {
            failed,
            total: c.total as usize,
        });
    }
    Ok(())
}
