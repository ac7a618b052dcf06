//! `genq watch [ID]`: prints events as they happen, one line each, for one job (until it
//! ends) or for all jobs (until Ctrl-C).

use super::Ctx;
use super::args::WatchArgs;
use super::error::CliError;
use super::output;
use crate::client::ClientError;
use genq_protocol::methods::{
    JobRef, JobsGet, NOTIFY_EVENT, NOTIFY_RESYNC, ResyncParams, Subscribe, SubscribeParams,
};
use genq_protocol::{Event, JobId};
use tokio::signal::unix::{SignalKind, signal};

pub async fn run(ctx: &Ctx, args: WatchArgs) -> Result<(), CliError> {
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| CliError::Failed(format!("cannot watch for Ctrl-C: {e}")))?;
    let (client, mut notes) = ctx.connect().await?;
    let clock = ctx.clock();
    // Subscribe before reading the job, so nothing between the two is missed.
    let mut last = client
        .call::<Subscribe>(SubscribeParams { since_seq: None })
        .await?
        .head_seq;
    let target: Option<JobId> = match args.id {
        Some(id) => {
            let job = client.call::<JobsGet>(JobRef { id }).await?;
            println!(
                "{} {} {}",
                clock.time_of_day(job.updated_at),
                job.short_id(),
                output::state_with_progress(&job)
            );
            if job.state.is_final() {
                return Ok(());
            }
            Some(job.id)
        }
        None => None,
    };

    loop {
        let note = tokio::select! {
            note = notes.recv() => note.ok_or(ClientError::Disconnected)?,
            _ = interrupt.recv() => return Ok(()),
        };
        match note.method.as_str() {
            NOTIFY_EVENT => {
                let Some(event) = note
                    .params
                    .and_then(|p| serde_json::from_value::<Event>(p).ok())
                else {
                    continue;
                };
                // Replays after a resync may repeat events already printed.
                if event.seq <= last {
                    continue;
                }
                last = event.seq;
                if target.as_ref().is_some_and(|t| *t != event.job_id) {
                    continue;
                }
                println!("{}", output::event_line(&event, &clock));
                if target.is_some() && event.new_state().is_some_and(|s| s.is_final()) {
                    return Ok(());
                }
            }
            NOTIFY_RESYNC => {
                let from = note
                    .params
                    .and_then(|p| serde_json::from_value::<ResyncParams>(p).ok())
                    .map_or(last, |r| r.last_seq);
                // Replays what was missed from the daemon's event log.
                client
                    .call::<Subscribe>(SubscribeParams {
                        since_seq: Some(from),
                    })
                    .await?;
                last = from;
                if let Some(id) = &target {
                    let job = client.call::<JobsGet>(JobRef::from(id)).await?;
                    if job.state.is_final() {
                        println!(
                            "{} {} {}",
                            clock.time_of_day(job.updated_at),
                            job.short_id(),
                            job.state
                        );
                        return Ok(());
                    }
                }
            }
            _ => {}
        }
    }
}
