//! `alastor run`: the bot. Builds the tokio runtime and hands over to [`crate::app::run`]; a start-up failure
//! comes back as one line naming what to fix.

use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::config::Config;

pub fn run(
    config: &Config,
    reread: impl Fn() -> Result<Config, String> + Send + Sync + 'static,
) -> anyhow::Result<ExitCode> {
    let Some(token) = &config.discord.token else {
        bail!("no Discord bot token: set DISCORD_TOKEN (or `discord.token` in alastor.toml)");
    };
    if token.expose().split('.').count() != 3 {
        bail!(
            "the Discord bot token does not look like one (expected three dot-separated parts); check DISCORD_TOKEN"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("alastor")
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(crate::app::run(config, Box::new(reread)));
    // Blocking decode threads and stray tasks get a moment, not a veto over the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result?;
    Ok(ExitCode::SUCCESS)
}
