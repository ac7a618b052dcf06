//! `genq`: the TUI and the CLI.

fn main() -> std::process::ExitCode {
    genq::cli::main()
}
