//! `genq token create|list|rm`: bearer tokens for the daemon's HTTP API. The daemon keeps
//! only their hashes, so `create` is the one time a token is shown.

use super::ctx::{Ctx, print_json};
use super::error::CliError;
use clap::Subcommand;
use genq_protocol::methods::{Empty, TokenName, TokensCreate, TokensList, TokensRemove};
use std::fmt::Write as _;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it (shown this once; keep it somewhere safe).
    Create {
        /// A name to know it by: letters, digits, '-', '_' or '.'.
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// The tokens: names, when made and last used (never the tokens).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token at once.
    Rm { name: String },
}

pub async fn run(ctx: &Ctx, cmd: TokenCommand) -> Result<(), CliError> {
    match cmd {
        TokenCommand::Create { name, json } => {
            let made = ctx.call::<TokensCreate>(TokenName { name }).await?;
            if json {
                return print_json(&made);
            }
            println!("{}", made.token);
            eprintln!(
                "genq: token {:?} created; it is not shown again. Send it as \
                 `Authorization: Bearer <token>`.",
                made.name
            );
            Ok(())
        }
        TokenCommand::List { json } => {
            let tokens = ctx.call::<TokensList>(Empty {}).await?;
            if json {
                return print_json(&tokens);
            }
            let clock = ctx.clock();
            let mut out = String::new();
            let _ = writeln!(out, "{:<24} {:<20} LAST USED", "NAME", "CREATED");
            for t in &tokens {
                let used = t
                    .last_used_at
                    .map_or_else(|| "never".to_string(), |at| clock.datetime(at));
                let _ = writeln!(
                    out,
                    "{:<24} {:<20} {used}",
                    t.name,
                    clock.datetime(t.created_at)
                );
            }
            if tokens.is_empty() {
                out = "no tokens; make one with `genq token create NAME`\n".into();
            }
            print!("{out}");
            Ok(())
        }
        TokenCommand::Rm { name } => {
            let gone = ctx.call::<TokensRemove>(TokenName { name }).await?;
            println!("removed token {:?}", gone.name);
            Ok(())
        }
    }
}
