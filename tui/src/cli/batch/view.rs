//! How batches read on the terminal: the plan of a dry run, bad rows, the list, one batch
//! with its rows.

use crate::cli::ctx::{Ctx, print_json};
use crate::cli::error::CliError;
use crate::format::{one_line, progress_bar};
use genq_protocol::batch::{BatchInfo, BatchPlan, BatchRef, BatchRow, RowProblem};
use genq_protocol::methods::{BatchCancel, BatchGet, BatchList, Empty};

/// Bad rows on stderr, one a line: `row 3, seed: "x" is not a whole number`.
pub fn print_problems(problems: &[RowProblem]) {
    for p in problems {
        let at = if p.row == 0 {
            "file".to_string()
        } else {
            format!("row {}", p.row)
        };
        eprintln!("genq: {at}, {}: {}", p.field, p.message);
    }
}

pub fn print_plan(plan: &BatchPlan) {
    for job in &plan.jobs {
        let s = &job.spec;
        let mut line = format!("#{:<4} row {:<4} {}", job.index, job.row, s.provider);
        if let Some(m) = &s.model {
            line += &format!(" {m}");
        }
        if let Some(seed) = s.seed {
            line += &format!(" seed={seed}");
        }
        line += &format!("  {}", one_line(&s.prompt, 60));
        if let Some(o) = &job.output {
            line += &format!("  → {o}");
        }
        if let Some(j) = &job.reuses {
            line += &format!("  (done before: job {j})");
        }
        println!("{line}");
    }
    let reused = plan.jobs.iter().filter(|j| j.reuses.is_some()).count();
    println!(
        "{} job(s); {} to send, {reused} already succeeded",
        plan.jobs.len(),
        plan.jobs.len() - reused
    );
    for e in &plan.estimate {
        let mut line = format!(
            "  {}: {} call(s), {} output(s)",
            e.provider, e.calls, e.outputs
        );
        if let Some(q) = e.quota_remaining {
            line += &format!("; quota remaining {q}");
        }
        if let Some(d) = &e.quota_detail {
            line += &format!(" ({d})");
        }
        println!("{line}");
    }
}

fn state_word(b: &BatchInfo) -> &'static str {
    match (b.finished_at.is_some(), b.canceled) {
        (_, true) => "canceled",
        (true, _) => "finished",
        (false, _) => "running",
    }
}

pub async fn list(ctx: &Ctx, json: bool) -> Result<(), CliError> {
    let batches = ctx.call::<BatchList>(Empty {}).await?;
    if json {
        return print_json(&batches);
    }
    if batches.is_empty() {
        println!("no batches");
        return Ok(());
    }
    println!(
        "{:<5} {:<9} {:<22} {:>11} {:>7} {:>9}  NAME",
        "ID", "STATE", "PROGRESS", "DONE", "FAILED", "IN FLIGHT"
    );
    let clock = ctx.clock();
    for b in &batches {
        let c = &b.counts;
        let ended = c.succeeded + c.failed + c.canceled;
        let percent = (ended * 100).checked_div(c.total).unwrap_or(100) as u8;
        println!(
            "{:<5} {:<9} {:<22} {:>11} {:>7} {:>9}  {} ({}, {})",
            b.id,
            state_word(b),
            progress_bar(percent, 20),
            format!("{}/{}", c.succeeded, c.total),
            c.failed + c.canceled,
            c.in_flight,
            b.name,
            b.source,
            clock.age(b.created_at)
        );
    }
    Ok(())
}

fn row_line(r: &BatchRow) -> String {
    let state = r.state.map(|s| s.to_string()).unwrap_or_else(|| {
        if r.error.is_some() {
            "refused"
        } else {
            "waiting"
        }
        .to_string()
    });
    let job = r
        .job_num
        .map(|n| n.to_string())
        .unwrap_or_else(|| "-".into());
    let mut line = format!("{:<5} {:<5} {:<6} {:<10}", r.index, r.row, job, state);
    let paths: Vec<String> = if r.copied.is_empty() {
        r.outputs.iter().filter_map(|o| o.path.clone()).collect()
    } else {
        r.copied.clone()
    };
    if let Some(e) = &r.error {
        line += &format!(" {}: {}", e.kind, one_line(&e.message, 80));
    } else if !paths.is_empty() {
        line += &format!(" {}", paths.join(" "));
    } else {
        line += &format!(" {}", one_line(&r.prompt, 60));
    }
    for url in r
        .outputs
        .iter()
        .flat_map(|o| o.uploads.iter().filter_map(|u| u.url.as_ref()))
    {
        line += &format!(" {url}");
    }
    line
}

pub fn print_failed_rows(rows: &[BatchRow]) {
    for r in rows.iter().filter(|r| {
        r.error.is_some()
            || r.state
                .is_some_and(|s| s.is_final() && s != genq_protocol::JobState::Succeeded)
    }) {
        eprintln!("genq: {}", row_line(r));
    }
}

pub async fn show(ctx: &Ctx, id: u64, json: bool) -> Result<(), CliError> {
    let detail = ctx.call::<BatchGet>(BatchRef { id }).await?;
    if json {
        return print_json(&detail);
    }
    let b = &detail.batch;
    let c = &b.counts;
    println!(
        "batch {}: {} ({}, {})",
        b.id,
        b.name,
        b.source,
        state_word(b)
    );
    println!(
        "  {} rows: {} succeeded, {} failed, {} canceled, {} in flight, {} waiting",
        c.total, c.succeeded, c.failed, c.canceled, c.in_flight, c.pending
    );
    if let Some(m) = &b.manifest {
        println!("  manifest: {m}");
    }
    println!(
        "{:<5} {:<5} {:<6} {:<10} OUTPUT",
        "INDEX", "ROW", "JOB", "STATE"
    );
    for r in &detail.rows {
        println!("{}", row_line(r));
    }
    Ok(())
}

pub async fn cancel(ctx: &Ctx, id: u64, json: bool) -> Result<(), CliError> {
    let info = ctx.call::<BatchCancel>(BatchRef { id }).await?;
    if json {
        return print_json(&info);
    }
    println!(
        "batch {}: canceled ({} succeeded before)",
        info.id, info.counts.succeeded
    );
    Ok(())
}
