//! `genq wait [ID...]`: follows jobs (every job active now, without ids) until they all end;
//! prints `ID STATE` for each and exits 1 when any of them failed or was canceled.

use super::args::WaitArgs;
use super::ctx::Ctx;
use super::error::CliError;
use super::follow::follow;
use super::jobs::fetch_all;
use genq_protocol::JobState;
use genq_protocol::methods::ListParams;

pub async fn run(ctx: &Ctx, args: WaitArgs) -> Result<(), CliError> {
    let (client, notes) = ctx.connect().await?;
    let ids = if args.ids.is_empty() {
        let active = ListParams {
            state: JobState::ALL
                .into_iter()
                .filter(|s| !s.is_final())
                .collect(),
            ..ListParams::default()
        };
        let ids: Vec<String> = fetch_all(&client, active)
            .await?
            .into_iter()
            .map(|j| j.id.0)
            .collect();
        if ids.is_empty() {
            eprintln!("no active jobs to wait for");
            return Ok(());
        }
        ids
    } else {
        args.ids
    };
    let outcome = follow(ctx, &client, notes, &ids).await?;
    let palette = ctx.palette();
    for job in &outcome.jobs {
        println!("{}", palette.id_state(&job.short_id(), job.state));
    }
    if outcome.failed > 0 {
        return Err(CliError::JobsFailed {
            failed: outcome.failed,
            total: outcome.jobs.len(),
        });
    }
    Ok(())
}
