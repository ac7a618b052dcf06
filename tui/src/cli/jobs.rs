//! `genq jobs`, `show`, `cancel`, `retry`, `export` and `upload`: one request each (one per
//! job for `cancel` and `retry`), printed.

use super::args::{CancelArgs, IdArg, JobsArgs, RetryArgs, ShowArgs, UploadArgs, flatten_states};
use super::ctx::{Ctx, print_json};
use super::error::CliError;
use super::output;
use crate::client::{Client, ClientError};
use genq_protocol::methods::{
    JobRef, JobsCancel, JobsExport, JobsGet, JobsList, JobsRetry, JobsUpload, LIST_MAX_LIMIT,
    ListParams, Sort, UploadParams,
};
use genq_protocol::{ErrorKind, Job, JobState};
use std::io::IsTerminal;

pub async fn list(ctx: &Ctx, args: JobsArgs) -> Result<(), CliError> {
    let (client, _notes) = ctx.connect().await?;
    let params = ListParams {
        state: flatten_states(&args.state),
        provider: args.provider,
        text: args.search,
        sort: Sort::Newest,
        ..ListParams::default()
    };
    if args.json {
        return super::jobs_json::print(&client, params, args.limit).await;
    }
    let (jobs, total) = fetch(&client, params, args.limit).await?;
    let width = std::io::stdout()
        .is_terminal()
        .then(|| crossterm::terminal::size().ok())
        .flatten()
        .map(|(w, _)| w as usize);
    let table = output::jobs_table(&jobs, &ctx.clock(), width);
    print!("{}", ctx.palette().jobs_table(&table, &jobs));
    if total > jobs.len() as u64 {
        eprintln!(
            "({} of {total} jobs shown; use --limit for more)",
            jobs.len()
        );
    }
    Ok(())
}

/// Up to `limit` jobs matching `params`, walking the daemon's pages, and how many match.
pub async fn fetch(
    client: &Client,
    mut params: ListParams,
    limit: u32,
) -> Result<(Vec<Job>, u64), CliError> {
    // Pages are capped by the daemon; a larger limit walks the cursor.
    let mut jobs = Vec::new();
    let total = loop {
        let want = limit.saturating_sub(jobs.len() as u32);
        params.limit = Some(want.min(LIST_MAX_LIMIT));
        let page = client.call::<JobsList>(params.clone()).await?;
        let empty = page.jobs.is_empty();
        jobs.extend(page.jobs);
        match page.next_cursor {
            Some(cursor) if !empty && (jobs.len() as u32) < limit => params.cursor = Some(cursor),
            _ => break page.total,
        }
    };
    Ok((jobs, total))
}

/// Every job matching `params`, oldest first.
pub async fn fetch_all(client: &Client, params: ListParams) -> Result<Vec<Job>, CliError> {
    let params = ListParams {
        sort: Sort::Oldest,
        ..params
    };
    Ok(fetch(client, params, u32::MAX).await?.0)
}

pub async fn show(ctx: &Ctx, args: ShowArgs) -> Result<(), CliError> {
    let job = ctx.call::<JobsGet>(JobRef { id: args.id }).await?;
    if args.json {
        return print_json(&job);
    }
    let text = output::show_job(&job, &ctx.clock());
    print!("{}", ctx.palette().show(&text, job.state));
    Ok(())
}

/// The states a filter may pick for an action, or a usage error naming the flag.
pub fn states_for(
    asked: Vec<JobState>,
    allowed: &[JobState],
    action: &str,
) -> Result<Vec<JobState>, CliError> {
    if let Some(bad) = asked.iter().find(|s| !allowed.contains(s)) {
        let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        return Err(CliError::Usage(format!(
            "--state {bad}: {action} takes jobs that are {}",
            names.join(", ")
        )));
    }
    Ok(if asked.is_empty() {
        allowed.to_vec()
    } else {
        asked
    })
}

/// The jobs named on the command line, or those the filters select.
async fn targets(
    client: &Client,
    ids: Vec<String>,
    params: ListParams,
) -> Result<Vec<String>, CliError> {
    if !ids.is_empty() {
        return Ok(ids);
    }
    Ok(fetch_all(client, params)
        .await?
        .into_iter()
        .map(|j| j.id.0)
        .collect())
}

/// Prints `ID STATE` for each job canceled. With filters, a job that finished meanwhile is
/// only mentioned; a named job that cannot be canceled is an error, after the others.
pub async fn cancel(ctx: &Ctx, args: CancelArgs) -> Result<(), CliError> {
    let active: Vec<JobState> = JobState::ALL
        .into_iter()
        .filter(|s| !s.is_final())
        .collect();
    let states = states_for(flatten_states(&args.state), &active, "cancel")?;
    let (client, _notes) = ctx.connect().await?;
    let named = !args.ids.is_empty();
    let filters = ListParams {
        state: states,
        provider: args.provider,
        ..ListParams::default()
    };
    let ids = targets(&client, args.ids, filters).await?;
    if ids.is_empty() {
        eprintln!("no active jobs match");
        return Ok(());
    }
    let palette = ctx.palette();
    let mut failed = Vec::new();
    for id in &ids {
        match client.call::<JobsCancel>(JobRef { id: id.clone() }).await {
            Ok(job) => println!("{}", palette.id_state(&job.short_id(), job.state)),
            Err(ClientError::Rpc(e)) if !named && e.kind() == ErrorKind::Conflict => {
                eprintln!("{id}: {}", e.message)
            }
            Err(ClientError::Rpc(e)) if ids.len() > 1 => {
                eprintln!("genq: {id}: {}", e.message);
                failed.push(id.clone());
            }
            Err(e) => return Err(e.into()),
        }
    }
    bulk_result("canceled", &failed, ids.len())
}

/// Prints the new job's id for each job retried, in the order given (oldest first with
/// filters).
pub async fn retry(ctx: &Ctx, args: RetryArgs) -> Result<(), CliError> {
    let states = states_for(
        flatten_states(&args.state),
        &[JobState::Failed, JobState::Canceled],
        "retry",
    )?;
    let (client, _notes) = ctx.connect().await?;
    // A job retried before is not retried again by a filter: running it twice is safe.
    let filters = ListParams {
        state: states,
        provider: args.provider,
        retried: Some(false),
        ..ListParams::default()
    };
    let ids = targets(&client, args.ids, filters).await?;
    if ids.is_empty() {
        eprintln!("no failed or canceled jobs match that were not retried already");
        return Ok(());
    }
    let mut failed = Vec::new();
    for id in &ids {
        match client.call::<JobsRetry>(JobRef { id: id.clone() }).await {
            Ok(job) => println!("{}", job.short_id()),
            Err(ClientError::Rpc(e)) if ids.len() > 1 => {
                eprintln!("genq: {id}: {}", e.message);
                failed.push(id.clone());
            }
            Err(e) => return Err(e.into()),
        }
    }
    bulk_result("retried", &failed, ids.len())
}

fn bulk_result(done: &str, failed: &[String], total: usize) -> Result<(), CliError> {
    if failed.is_empty() {
        return Ok(());
    }
    Err(CliError::Failed(format!(
        "{} of {total} jobs could not be {done}: {}",
        failed.len(),
        failed.join(", ")
    )))
}

pub async fn export(ctx: &Ctx, args: IdArg) -> Result<(), CliError> {
    let spec = ctx.call::<JobsExport>(JobRef { id: args.id }).await?;
    print_json(&spec)
}

/// Prints one line per output and target: the URL, or why the upload failed. Exits 1 when
/// any upload failed, so scripts can retry.
pub async fn upload(ctx: &Ctx, args: UploadArgs) -> Result<(), CliError> {
    let job = ctx
        .call::<JobsUpload>(UploadParams {
            id: args.id,
            target: args.target.clone(),
        })
        .await?;
    if args.json {
        print_json(&job)?;
        let failed = job
            .outputs
            .iter()
            .flat_map(|o| &o.uploads)
            .filter(|u| args.target.as_ref().is_none_or(|t| t == &u.target) && u.url.is_none())
            .count();
        return match failed {
            0 => Ok(()),
            n => Err(CliError::Failed(format!("{n} upload(s) failed"))),
        };
    }
    let mut failed = 0;
    for out in &job.outputs {
        for up in out
            .uploads
            .iter()
            .filter(|u| args.target.as_ref().is_none_or(|t| t == &u.target))
        {
            match (&up.url, &up.error) {
                (Some(url), _) => println!(
                    "{}  output {}  {}  {url}",
                    job.short_id(),
                    out.index,
                    up.target
                ),
                (None, err) => {
                    failed += 1;
                    eprintln!(
                        "{}  output {}  {}  failed: {}",
                        job.short_id(),
                        out.index,
                        up.target,
                        err.as_deref().unwrap_or("unknown error")
                    );
                }
            }
        }
    }
    if failed > 0 {
        return Err(CliError::Failed(format!("{failed} upload(s) failed")));
    }
    Ok(())
}
