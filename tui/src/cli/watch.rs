//! `genq watch [ID]`: prints events as they happen, one line each (or one JSON object per
//! line with `--json`), for one job (until it ends) or for all jobs (until Ctrl-C).

use super::args::WatchArgs;
use super::color::Palette;
use super::ctx::Ctx;
use super::error::CliError;
use crate::format::{self, Clock};
use genq_protocol::methods::{
    JobRef, JobsEvents, JobsGet, NOTIFY_EVENT, NOTIFY_RESYNC, ResyncParams, Subscribe,
    SubscribeParams,
};
use genq_protocol::{Event, Job, JobId};
use std::io::Write;
use tokio::signal::unix::{SignalKind, signal};

/// Where lines go. A closed stdout (`genq watch --json | head -1`) ends the watch quietly.
enum Printer {
    Text { clock: Clock, palette: Palette },
    Json,
}

/// The reader went away.
struct Closed;

impl Printer {
    fn line(&self, text: &str) -> Result<(), Closed> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")
            .and_then(|_| out.flush())
            .map_err(|_| Closed)
    }

    fn event(&self, event: &Event) -> Result<(), Closed> {
        match self {
            Printer::Text { clock, palette } => {
                self.line(&palette.event_line(&format::event_line(event, clock), event))
            }
            Printer::Json => match serde_json::to_string(event) {
                Ok(json) => self.line(&json),
                Err(_) => Ok(()),
            },
        }
    }

    /// The job as it is now; JSON streams carry events only.
    fn job(&self, job: &Job) -> Result<(), Closed> {
        match self {
            Printer::Text { clock, palette } => self.line(&format!(
                "{} {} {}",
                clock.time_of_day(job.updated_at),
                palette.id(&job.short_id()),
                palette.state(job.state, &format::state_with_progress(job))
            )),
            Printer::Json => Ok(()),
        }
    }
}

pub async fn run(ctx: &Ctx, args: WatchArgs) -> Result<(), CliError> {
    let printer = if args.json {
        Printer::Json
    } else {
        Printer::Text {
            clock: ctx.clock(),
            palette: ctx.palette(),
        }
    };
    match watch(ctx, args, &printer).await {
        Ok(Ok(())) | Ok(Err(Closed)) => Ok(()),
        Err(e) => Err(e),
    }
}

async fn watch(
    ctx: &Ctx,
    args: WatchArgs,
    printer: &Printer,
) -> Result<Result<(), Closed>, CliError> {
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| CliError::Failed(format!("cannot watch for Ctrl-C: {e}")))?;
    let (mut client, mut notes) = ctx.connect().await?;
    // Subscribe before reading the job, so nothing between the two is missed.
    let mut last = client
        .call::<Subscribe>(SubscribeParams { since_seq: None })
        .await?
        .head_seq;
    let target: Option<JobId> = match args.id {
        Some(id) => {
            let job = client.call::<JobsGet>(JobRef { id }).await?;
            if args.json {
                // The job's story so far, then live events past it.
                for event in client.call::<JobsEvents>(JobRef::from(&job.id)).await? {
                    last = last.max(event.seq);
                    if let Err(closed) = printer.event(&event) {
                        return Ok(Err(closed));
                    }
                }
            } else if let Err(closed) = printer.job(&job) {
                return Ok(Err(closed));
            }
            if job.state.is_final() {
                return Ok(Ok(()));
            }
            Some(job.id)
        }
        None => None,
    };

    loop {
        let note = tokio::select! {
            note = notes.recv() => note,
            _ = interrupt.recv() => return Ok(Ok(())),
        };
        let Some(note) = note else {
            // Over ssh: dial again and pick up after the last event printed.
            (client, notes) = ctx.reconnect().await?;
            client
                .call::<Subscribe>(SubscribeParams {
                    since_seq: Some(last),
                })
                .await?;
            continue;
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
                if let Err(closed) = printer.event(&event) {
                    return Ok(Err(closed));
                }
                if target.is_some() && event.new_state().is_some_and(|s| s.is_final()) {
                    return Ok(Ok(()));
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
                // A JSON stream gets the missed events themselves from the replay.
                if let Some(id) = &target
                    && !matches!(printer, Printer::Json)
                {
                    let job = client.call::<JobsGet>(JobRef::from(id)).await?;
                    if job.state.is_final() {
                        return Ok(printer.job(&job));
                    }
                }
            }
            _ => {}
        }
    }
}
