//! `genq man [--dir DIR]`: man pages generated from the clap definitions, so they never
//! drift from `--help`: genq.1 on stdout, or genq.1 and genq-COMMAND.1 (nested commands as
//! genq-COMMAND-SUB.1) written into DIR.

use super::args::{Cli, ManArgs};
use super::error::CliError;
use clap::CommandFactory;
use std::io::Write;
use std::path::Path;

pub fn run(args: ManArgs) -> Result<(), CliError> {
    // Building propagates the global flags and the version into every subcommand.
    let mut cmd = Cli::command();
    cmd.build();
    match args.dir {
        None => {
            let mut page = Vec::new();
            render(&cmd, &mut page)?;
            // A closed pipe (`genq man | head`) is not an error.
            let _ = std::io::stdout().write_all(&page);
            Ok(())
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", dir.display())))?;
            let mut written = 0;
            write_pages(&cmd, "genq", &dir, &mut written)?;
            eprintln!("wrote {written} man pages to {}", dir.display());
            Ok(())
        }
    }
}

fn render(cmd: &clap::Command, out: &mut Vec<u8>) -> Result<(), CliError> {
    clap_mangen::Man::new(cmd.clone())
        .render(out)
        .map_err(|e| CliError::Failed(format!("cannot render the man page: {e}")))
}

/// Writes `name.1` for `cmd` and recurses into its subcommands (not `help`).
fn write_pages(
    cmd: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut usize,
) -> Result<(), CliError> {
    let cmd = cmd.clone().display_name(name.to_string());
    let mut page = Vec::new();
    render(&cmd, &mut page)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page)
        .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))?;
    *written += 1;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
