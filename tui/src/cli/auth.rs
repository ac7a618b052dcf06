//! `genq auth set|list|rm`: provider keys kept in `credentials.toml`, private to the user,
//! as `gh auth` and `aws configure` keep theirs. The command writes the file itself (no
//! daemon needed); the daemon reads it and reloads it when it changes, so a key works
//! whatever shell started the daemon. Over `--host` the remote genq's own `auth` runs
//! through ssh, the key on its stdin, so it acts on that host's file and says so itself.

use super::args::AuthCommand;
use super::ctx::{Ctx, print_json};
use super::error::CliError;
use crate::client::{Client, SshHost};
use genq_protocol::Credentials;
use genq_protocol::credentials::PROVIDERS;
use genq_protocol::methods::{ConfigReload, Empty, ProvidersList};
use std::io::{IsTerminal, Read, Write};

pub async fn run(ctx: &Ctx, cmd: AuthCommand) -> Result<(), CliError> {
    if let Some(host) = ctx.endpoint.remote() {
        return on_host(ctx, host, cmd).await;
    }
    match cmd {
        AuthCommand::Set { provider } => {
            set(ctx, &provider)?;
            tell_daemon(ctx).await
        }
        AuthCommand::List { json } => list(ctx, json).await,
        AuthCommand::Rm { provider } => {
            rm(ctx, &provider)?;
            tell_daemon(ctx).await
        }
    }
}

/// `genq auth …` on `host`: the key is read here (hidden, as locally) and sent on the remote
/// command's stdin, never on a command line; its output and exit code are passed on.
async fn on_host(ctx: &Ctx, host: &SshHost, cmd: AuthCommand) -> Result<(), CliError> {
    let mut args = vec![];
    if !ctx.autostart {
        args.push("--no-autostart");
    }
    args.push("auth");
    let mut input = String::new();
    match &cmd {
        AuthCommand::Set { provider } => {
            // The host's config decides which instances exist: its genq checks the name.
            input = read_key(provider)? + "\n";
            args.extend(["set", provider]);
        }
        AuthCommand::Rm { provider } => args.extend(["rm", provider]),
        AuthCommand::List { json } => {
            args.push("list");
            if *json {
                args.push("--json");
            }
        }
    }
    let run = host.run_genq(&args, input.as_bytes()).await?;
    // The remote's words as they are; a closed stdout here ends the process quietly.
    let _ = std::io::stdout().write_all(&run.stdout);
    let _ = std::io::stderr().write_all(&run.stderr);
    match u8::try_from(run.code) {
        Ok(0) => Ok(()),
        Ok(code) => Err(CliError::Remote { code }),
        Err(_) => Err(CliError::Remote { code: 1 }),
    }
}

/// A running daemon reads the changed file now rather than when its watcher fires, so the
/// next command already sees it. A daemon that is not running reads it when it starts.
async fn tell_daemon(ctx: &Ctx) -> Result<(), CliError> {
    let Ok((client, _notes)) = Client::connect(&ctx.paths, "genq-cli").await else {
        return Ok(());
    };
    match client.call::<ConfigReload>(Empty {}).await {
        Ok(r) => match r.config_error {
            Some(e) => Err(CliError::Failed(format!(
                "the daemon keeps its previous keys: {e}"
            ))),
            None => Ok(()),
        },
        // A daemon from before `config.reload` picks the change up through its watcher.
        Err(_) => Ok(()),
    }
}

/// What the CLI and the TUI say when no provider has a key yet.
pub fn no_key_hint() -> String {
    format!(
        "No provider has an API key yet. Add one with `genq auth set NAME` \
         (NAME: {}); it asks for the key without echo, or reads it from stdin.",
        PROVIDERS.join(", ")
    )
}

/// A provider genq ships, or an instance a `[providers.NAME]` table of this home's config
/// defines (a second account, a gateway).
fn known(ctx: &Ctx, provider: &str) -> Result<(), CliError> {
    let instances = configured_instances(ctx);
    if PROVIDERS.contains(&provider) || instances.iter().any(|i| i == provider) {
        return Ok(());
    }
    let mut names: Vec<String> = PROVIDERS.iter().map(|p| p.to_string()).collect();
    for i in instances {
        if !names.contains(&i) {
            names.push(i);
        }
    }
    Err(CliError::Usage(format!(
        "unknown provider {provider:?}; known: {} (add an instance with a \
         [providers.NAME] table in {})",
        names.join(", "),
        ctx.paths.config.display()
    )))
}

/// The names of the `[providers.NAME]` tables in this home's config; none when it cannot be
/// read (the daemon reports a broken config itself).
fn configured_instances(ctx: &Ctx) -> Vec<String> {
    std::fs::read_to_string(&ctx.paths.config)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| {
            t.get("providers")?
                .as_table()
                .map(|p| p.keys().cloned().collect())
        })
        .unwrap_or_default()
}

fn load(ctx: &Ctx) -> Result<Credentials, CliError> {
    Credentials::load(&ctx.paths.credentials).map_err(|e| CliError::Failed(e.to_string()))
}

fn set(ctx: &Ctx, provider: &str) -> Result<(), CliError> {
    known(ctx, provider)?;
    let key = read_key(provider)?;
    let mut stored = load(ctx)?;
    stored
        .set(provider, &key)
        .map_err(|e| CliError::Usage(format!("key for {provider}: {e}")))?;
    stored
        .save(&ctx.paths.credentials)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    println!(
        "stored the key for {provider} in {} (readable by you only)",
        ctx.paths.credentials.display()
    );
    Ok(())
}

fn rm(ctx: &Ctx, provider: &str) -> Result<(), CliError> {
    known(ctx, provider)?;
    let mut stored = load(ctx)?;
    if !stored.remove(provider) {
        println!(
            "no key for {provider} is stored in {}",
            ctx.paths.credentials.display()
        );
        return Ok(());
    }
    stored
        .save(&ctx.paths.credentials)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    println!("removed the stored key for {provider}");
    Ok(())
}

/// Each provider and where the daemon gets its key from; never the key.
async fn list(ctx: &Ctx, json: bool) -> Result<(), CliError> {
    let providers = ctx.call::<ProvidersList>(Empty {}).await?;
    if json {
        let rows: Vec<_> = providers
            .iter()
            .map(|p| serde_json::json!({"name": p.name, "key_source": p.key_source, "has_key": p.has_key}))
            .collect();
        return print_json(&rows);
    }
    let width = providers.iter().map(|p| p.name.len()).max().unwrap_or(0);
    println!("{:<width$}  KEY FROM", "PROVIDER");
    for p in &providers {
        let from = match (p.has_key, p.key_source.as_str()) {
            (true, "credentials file") => {
                format!("credentials file ({})", ctx.paths.credentials.display())
            }
            (true, source) if source.starts_with("env ") => {
                format!("{source} (in the daemon's environment)")
            }
            (true, source) => format!("{source} (config.toml)"),
            (false, "none") => format!("none: add one with `genq auth set {}`", p.name),
            (false, source) => format!(
                "{source}, not set in the daemon's environment: `genq auth set {}` stores one",
                p.name
            ),
        };
        println!("{:<width$}  {from}", p.name);
    }
    Ok(())
}

/// The key from the terminal without echo, or the first line of stdin when it is not one.
fn read_key(provider: &str) -> Result<String, CliError> {
    let stdin = std::io::stdin();
    let key = if stdin.is_terminal() {
        eprint!("API key for {provider} (input hidden): ");
        let key = read_hidden()?;
        eprintln!();
        key
    } else {
        let mut text = String::new();
        stdin
            .lock()
            .read_to_string(&mut text)
            .map_err(|e| CliError::Failed(format!("cannot read the key from stdin: {e}")))?;
        text.lines().next().unwrap_or("").to_string()
    };
    if key.trim().is_empty() {
        return Err(CliError::Usage(format!(
            "no key given for {provider}; type it at the prompt or pipe it in: \
             `printf '%s\\n' \"$KEY\" | genq auth set {provider}`"
        )));
    }
    Ok(key)
}

/// Reads one line from the terminal with echo and signals off (Ctrl-C is read as a byte, so
/// the terminal is always restored), handling backspace and Ctrl-U.
fn read_hidden() -> Result<String, CliError> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let failed = |e: nix::Error| CliError::Failed(format!("cannot turn off terminal echo: {e}"));
    let saved = tcgetattr(&stdin).map_err(failed)?;
    let mut quiet = saved.clone();
    quiet
        .local_flags
        .remove(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).map_err(failed)?;
    let mut key = Vec::new();
    let mut outcome = Ok(());
    for byte in stdin.lock().bytes() {
        match byte {
            Ok(b'\r' | b'\n') | Ok(0x04) => break,
            Ok(0x03) => {
                outcome = Err(CliError::Failed("canceled; no key stored".into()));
                break;
            }
            Ok(0x7f | 0x08) => {
                key.pop();
            }
            Ok(0x15) => key.clear(),
            Ok(b) => key.push(b),
            Err(e) => {
                outcome = Err(CliError::Failed(format!("cannot read the key: {e}")));
                break;
            }
        }
    }
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    outcome?;
    String::from_utf8(key).map_err(|_| CliError::Usage("the key is not UTF-8".into()))
}
