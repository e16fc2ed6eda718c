//! The `alastor` command line: global flags, subcommands, and how each subcommand is dispatched.
//! Every subcommand loads the same layered [`Config`]; `--stations`/`--data` override it last.

pub mod check;
pub mod data;
pub mod doctor;
pub mod run;
pub mod stations;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config::Config;

/// Alastor: a self-hosted Discord radio bot.
#[derive(Debug, Parser)]
#[command(name = "alastor", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file [default: ./alastor.toml when present].
    #[arg(long, global = true, env = "ALASTOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Station packs folder (overrides `stations.dir`).
    #[arg(long, global = true, env = "ALASTOR_STATIONS_DIR", value_name = "DIR")]
    pub stations: Option<PathBuf>,
    /// Data folder holding the store (overrides `data.dir`).
    #[arg(long, global = true, env = "ALASTOR_DATA_DIR", value_name = "DIR")]
    pub data: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bot (needs a token: `DISCORD_TOKEN`).
    Run,
    /// Inspect, search and preflight the station catalog.
    #[command(subcommand)]
    Stations(stations::StationsCommand),
    /// Export, import and check the guild store.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Check the installation: config, token format, store, packs and (without --quick) the network.
    Doctor(doctor::DoctorArgs),
}

impl Cli {
    /// Loads the configuration and applies the command-line overrides.
    pub fn load_config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref()).context("loading configuration")?;
        if let Some(dir) = &self.stations {
            config.stations.dir.clone_from(dir);
        }
        if let Some(dir) = &self.data {
            config.data.dir.clone_from(dir);
        }
        Ok(config)
    }
}

/// Re-reads the configuration exactly as at start (same file, same flags), for `systemctl reload`.
fn config_loader(cli: &Cli) -> impl Fn() -> Result<Config, String> + Send + Sync + 'static {
    let (file, stations, data) = (cli.config.clone(), cli.stations.clone(), cli.data.clone());
    move || {
        let mut config = Config::load(file.as_deref()).map_err(|e| e.to_string())?;
        if let Some(dir) = &stations {
            config.stations.dir.clone_from(dir);
        }
        if let Some(dir) = &data {
            config.data.dir.clone_from(dir);
        }
        Ok(config)
    }
}

/// Runs the parsed command line; the exit code tells scripts whether it went well.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Doctor(args) = &cli.command {
        // The doctor reports a broken configuration as a finding instead of failing on it.
        // The token is not loaded yet; the environment's copies are what a log line could carry.
        let env_tokens: Vec<String> = ["DISCORD_TOKEN", "ALASTOR_DISCORD__TOKEN"]
            .iter()
            .filter_map(|var| std::env::var(var).ok())
            .collect();
        let secrets: Vec<&str> = env_tokens.iter().map(String::as_str).collect();
        crate::telemetry::init(&crate::config::LogConfig::default(), &secrets);
        return doctor::run(&cli, args, &mut std::io::stdout().lock());
    }
    let config = cli.load_config()?;
    let token = config
        .discord
        .token
        .as_ref()
        .map(crate::config::Secret::expose);
    crate::telemetry::init(&config.log, token.as_slice());
    match cli.command {
        Command::Run => {
            let reread = config_loader(&cli);
            run::run(&config, reread)
        }
        Command::Stations(command) => stations::run(command, &config),
        Command::Data(command) => data::run(&command, &config),
        Command::Doctor(_) => unreachable!("dispatched before loading the configuration"),
    }
}
