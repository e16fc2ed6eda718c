//! The `alastor` binary: parse arguments, load configuration, run one subcommand, map errors to an exit code.

use std::process::ExitCode;

use clap::Parser;

use alastor::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` prints the whole context chain on one line: "loading config: key `x`: ...".
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
