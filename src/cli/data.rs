//! `alastor data …`: export, import and check the guild store. PLACEHOLDER until the store lands.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Verify the store opens and every record decodes.
    Check,
}

pub fn run(command: &DataCommand, _config: &Config) -> anyhow::Result<ExitCode> {
    match *command {
        DataCommand::Check => anyhow::bail!("`alastor data check` is not implemented yet"),
    }
}
