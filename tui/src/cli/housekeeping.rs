//! `genq rm`, `genq clean` and `genq du`: removing finished jobs (and their files) and
//! measuring the outputs. The daemon does the work; this prints what it did.

use super::args::{CleanArgs, RmArgs, flatten_states};
use super::color::Palette;
use super::ctx::{Ctx, JsonArg, print_json};
use super::error::CliError;
use crate::client::Client;
use crate::format::{self, Clock};
use genq_protocol::JobState;
use genq_protocol::methods::{
    CleanParams, DiskUsage, Empty, JobsClean, JobsRemove, OutputsUsage, RemoveParams, RemoveResult,
};

pub async fn rm(ctx: &Ctx, args: RmArgs) -> Result<(), CliError> {
    let result = ctx
        .call::<JobsRemove>(RemoveParams {
            ids: args.ids,
            outputs: args.outputs,
        })
        .await?;
    report(ctx, &result, args.json)
}

pub async fn clean(ctx: &Ctx, args: CleanArgs) -> Result<(), CliError> {
    let finals: Vec<JobState> = JobState::ALL.into_iter().filter(|s| s.is_final()).collect();
    let state = super::jobs::states_for(flatten_states(&args.state), &finals, "clean")?;
    let result = ctx
        .call::<JobsClean>(CleanParams {
            state,
            older_than_s: args.older_than,
            provider: args.provider,
            outputs: args.outputs,
            dry_run: args.dry_run,
        })
        .await?;
    report(ctx, &result, args.json)
}

pub async fn du(ctx: &Ctx, args: JsonArg) -> Result<(), CliError> {
    let usage = ctx.call::<OutputsUsage>(Empty {}).await?;
    if args.json {
        return print_json(&usage);
    }
    println!("{}", usage_line(&usage));
    Ok(())
}

/// The outputs line of `genq daemon status`, or nothing from a daemon that cannot tell.
pub async fn status_line(client: &Client) -> Option<String> {
    let usage = client.call::<OutputsUsage>(Empty {}).await.ok()?;
    Some(format!("{:<14}{}", "outputs:", usage_line(&usage)))
}

/// `1.5 GiB in 12 files (4 jobs)  /path/to/outputs`.
pub fn usage_line(u: &DiskUsage) -> String {
    format!(
        "{} in {} file{} ({} job{})  {}",
        format::bytes(u.bytes),
        u.files,
        if u.files == 1 { "" } else { "s" },
        u.job_dirs,
        if u.job_dirs == 1 { "" } else { "s" },
        u.path
    )
}

/// One line per job removed, then a summary on stderr; output directories that could not
/// be deleted make the command fail after everything else was done.
fn report(ctx: &Ctx, result: &RemoveResult, json: bool) -> Result<(), CliError> {
    if json {
        print_json(result)?;
    } else {
        print!("{}", removed_lines(result, &ctx.clock(), &ctx.palette()));
        eprintln!("{}", summary(result));
    }
    for e in &result.errors {
        eprintln!("genq: {e}");
    }
    if !result.errors.is_empty() {
        return Err(CliError::Failed(format!(
            "{} output director{} could not be deleted",
            result.errors.len(),
            if result.errors.len() == 1 { "y" } else { "ies" }
        )));
    }
    Ok(())
}

fn removed_lines(result: &RemoveResult, clock: &Clock, palette: &Palette) -> String {
    let mut out = String::new();
    for job in &result.jobs {
        let state = format!("{:<9}", job.state.as_str());
        out.push_str(&format!(
            "{}{} {} {:>4}  {}\n",
            if result.dry_run {
                "would remove "
            } else {
                "removed "
            },
            palette.id(&job.short_id()),
            palette.state(job.state, &state),
            clock.age(job.created_at),
            format::one_line(&job.prompt, 60)
        ));
    }
    let unlisted = result.count.saturating_sub(result.jobs.len() as u64);
    if unlisted > 0 {
        out.push_str(&format!("… and {unlisted} more\n"));
    }
    out
}

fn summary(result: &RemoveResult) -> String {
    let jobs = format!(
        "{} job{}",
        result.count,
        if result.count == 1 { "" } else { "s" }
    );
    let files = result.jobs.iter().any(|j| j.output_dir.is_some());
    match (result.dry_run, files) {
        (_, _) if result.count == 0 => "no jobs match; nothing removed".into(),
        (true, true) => format!(
            "would remove {jobs} and {} of output files",
            format::bytes(result.freed_bytes)
        ),
        (true, false) => format!("would remove {jobs}; their output files stay (add --outputs)"),
        (false, true) => format!(
            "removed {jobs} and {} of output files",
            format::bytes(result.freed_bytes)
        ),
        (false, false) => format!("removed {jobs}; their output files stay"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use genq_protocol::methods::RemovedJob;
    use genq_protocol::{JobId, JobState, Timestamp};

    #[test]
    fn removal_is_listed_and_summed_up() {
        let at = Timestamp::from_unix_millis(1_000_000);
        let clock = Clock {
            now: Timestamp::from_unix_millis(1_000_000 + 2 * 86_400_000),
            offset: time::UtcOffset::UTC,
        };
        let result = RemoveResult {
            count: 3,
            jobs: vec![RemovedJob {
                id: JobId("0190f3a1-7c2e-7000-8000-000000000001".into()),
                num: Some(7),
                state: JobState::Failed,
                provider: "modelscope".into(),
                model: None,
                created_at: at,
                prompt: "a fox\nin snow".into(),
                output_dir: Some("/o/2026/12/x".into()),
            }],
            freed_bytes: 2048,
            dry_run: true,
            errors: Vec::new(),
        };
        assert_eq!(
            removed_lines(&result, &clock, &Palette::PLAIN),
            "would remove 7 failed      2d  a fox in snow\n\
             … and 2 more\n"
        );
        assert_eq!(
            summary(&result),
            "would remove 3 jobs and 2.0 KiB of output files"
        );
        let none = RemoveResult::default();
        assert_eq!(summary(&none), "no jobs match; nothing removed");
        assert_eq!(
            usage_line(&DiskUsage {
                path: "/o".into(),
                bytes: 1536,
                files: 1,
                job_dirs: 1
            }),
            "1.5 KiB in 1 file (1 job)  /o"
        );
    }
}
