//! `genq completions SHELL`: the shell completion script, generated from the clap definition.

use super::args::Cli;
use clap::CommandFactory;
use clap_complete::Shell;

pub fn print(shell: Shell) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "genq", &mut std::io::stdout());
}
