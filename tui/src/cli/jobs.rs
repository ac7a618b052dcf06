//! `genq jobs`, `show`, `cancel`, `retry`, `export` and `upload`: one request each, printed.

use super::args::{IdArg, JobsArgs, ShowArgs, UploadArgs};
use super::error::CliError;
use super::{Ctx, output, print_json};
use genq_protocol::methods::{
    JobRef, JobsCancel, JobsExport, JobsGet, JobsList, JobsRetry, JobsUpload, LIST_MAX_LIMIT,
    ListParams, Sort, UploadParams,
};
use std::io::IsTerminal;

pub async fn list(ctx: &Ctx, args: JobsArgs) -> Result<(), CliError> {
    let (client, _notes) = ctx.connect().await?;
    let mut params = ListParams {
        state: args.state,
        provider: args.provider,
        text: args.search,
        sort: Sort::Newest,
        ..ListParams::default()
    };
    // Pages are capped by the daemon; a larger --limit walks the cursor.
    let mut jobs = Vec::new();
    let total = loop {
        let want = args.limit.saturating_sub(jobs.len() as u32);
        params.limit = Some(want.min(LIST_MAX_LIMIT));
        let page = client.call::<JobsList>(params.clone()).await?;
        let empty = page.jobs.is_empty();
        jobs.extend(page.jobs);
        match page.next_cursor {
            Some(cursor) if !empty && (jobs.len() as u32) < args.limit => {
                params.cursor = Some(cursor)
            }
            _ => break page.total,
        }
    };
    if args.json {
        return print_json(&jobs);
    }
    let width = std::io::stdout()
        .is_terminal()
        .then(|| crossterm::terminal::size().ok())
        .flatten()
        .map(|(w, _)| w as usize);
    print!("{}", output::jobs_table(&jobs, &ctx.clock(), width));
    if total > jobs.len() as u64 {
        eprintln!(
            "({} of {total} jobs shown; use --limit for more)",
            jobs.len()
        );
    }
    Ok(())
}

pub async fn show(ctx: &Ctx, args: ShowArgs) -> Result<(), CliError> {
    let (client, _notes) = ctx.connect().await?;
    let job = client.call::<JobsGet>(JobRef { id: args.id }).await?;
    if args.json {
        return print_json(&job);
    }
    print!("{}", output::show_job(&job, &ctx.clock()));
    Ok(())
}

/// Prints `ID STATE` of the job after the request.
pub async fn cancel(ctx: &Ctx, args: IdArg) -> Result<(), CliError> {
    let (client, _notes) = ctx.connect().await?;
    let job = client.call::<JobsCancel>(JobRef { id: args.id }).await?;
    println!("{} {}", job.short_id(), job.state);
    Ok(())
}

/// Prints the new job's id (its number).
pub async fn retry(ctx: &Ctx, args: IdArg) -> Result<(), CliError> {
    let (client, _notes) = ctx.connect().await?;
    let job = client.call::<JobsRetry>(JobRef { id: args.id }).await?;
    println!("{}", job.short_id());
    Ok(())
}

pub async fn export(ctx: &Ctx, args: IdArg) -> Result<(), CliError> {
    let (client, _notes) = ctx.connect().await?;
    let spec = client.call::<JobsExport>(JobRef { id: args.id }).await?;
    print_json(&spec)
}

/// Prints one line per output and target: the URL, or why the upload failed. Exits 1 when
/// any upload failed, so scripts can retry.
pub async fn upload(ctx: &Ctx, args: UploadArgs) -> Result<(), CliError> {
    let (client, _notes) = ctx.connect().await?;
    let job = client
        .call::<JobsUpload>(UploadParams {
            id: args.id,
            target: args.target.clone(),
        })
        .await?;
    if args.json {
        return print_json(&job);
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
