//! `genq wait ID...`: follows jobs until they all end; prints `ID STATE` for each and exits 1
//! when any of them failed or was canceled.

use super::Ctx;
use super::args::WaitArgs;
use super::error::CliError;
use super::follow::follow;

pub async fn run(ctx: &Ctx, args: WaitArgs) -> Result<(), CliError> {
    let (client, notes) = ctx.connect().await?;
    let outcome = follow(ctx, &client, notes, &args.ids).await?;
    for job in &outcome.jobs {
        println!("{} {}", job.short_id(), job.state);
    }
    if outcome.failed > 0 {
        return Err(CliError::JobsFailed {
            failed: outcome.failed,
            total: outcome.jobs.len(),
        });
    }
    Ok(())
}
