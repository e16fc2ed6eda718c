//! `alastor stations check`: preflight stations. PLACEHOLDER until the prober lands.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only check stations matching these searches (ids or free text); all stations when empty.
    pub queries: Vec<String>,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Stations checked at once [default: config `check.concurrency`].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Budget per station, e.g. `10s` [default: config `check.timeout`].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
}

pub fn run(_args: CheckArgs, _config: &Config) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`alastor stations check` is not implemented yet")
}
