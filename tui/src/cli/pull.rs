//! `genq pull`: copies jobs' files from the daemon into one folder per job, named by the
//! job's full id (numbers are only unique within one daemon's home, ids everywhere).

use super::args::PullArgs;
use super::ctx::{Ctx, print_json};
use super::error::CliError;
use crate::format;
use crate::transfer::{self, Action, Pulled, TransferError};
use genq_protocol::methods::{JobRef, JobsGet};

pub async fn run(ctx: &Ctx, args: PullArgs) -> Result<(), CliError> {
    if args.to.exists() && !args.to.is_dir() {
        return Err(CliError::Usage(format!(
            "--to: {} is not a directory (give a folder; it is made when missing)",
            args.to.display()
        )));
    }
    let (client, _notes) = ctx.connect().await?;
    let mut jobs = Vec::with_capacity(args.ids.len());
    for id in args.ids {
        jobs.push(client.call::<JobsGet>(JobRef { id }).await?);
    }
    let mut all = Vec::new();
    for job in &jobs {
        let dir = args.to.join(job.id.as_str());
        let pulled = transfer::pull_job(&client, job, &dir)
            .await
            .map_err(|e| match e {
                TransferError::Client(c) => CliError::Client(c),
                other => CliError::Failed(other.to_string()),
            })?;
        if !args.json {
            for p in &pulled {
                println!("{}", line(p));
            }
        }
        all.extend(pulled);
    }
    if args.json {
        print_json(&all)?;
    }
    let missing = all.iter().filter(|p| p.action == Action::Missing).count();
    match missing {
        0 => Ok(()),
        n => Err(CliError::Failed(format!(
            "{n} file(s) are not on the daemon's disk (yet); the rest was copied"
        ))),
    }
}

/// `42  0.png  copied 4.0 MB  → DIR/<id>/0.png`.
fn line(p: &Pulled) -> String {
    let what = match p.action {
        Action::Copied => format!("copied {}", format::bytes(p.size)),
        Action::Resumed => format!(
            "resumed, {} of {} fetched",
            format::bytes(p.transferred),
            format::bytes(p.size)
        ),
        Action::Present => "already there".to_string(),
        Action::Replaced => format!(
            "local copy differed; copied {} again",
            format::bytes(p.size)
        ),
        Action::Missing => return format!("{}  {}  not on the daemon's disk", p.job, p.name),
    };
    format!("{}  {}  {what}  → {}", p.job, p.name, p.path.display())
}
