//! `alastor run`: the bot. Today it validates everything the bot needs at start (configuration, token,
//! station packs) and stops with a clear message, because the Discord adapter is not built yet.

use std::process::ExitCode;

use anyhow::bail;

use crate::config::Config;

pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    let Some(token) = &config.discord.token else {
        bail!("no Discord bot token: set DISCORD_TOKEN (or `discord.token` in alastor.toml)");
    };
    if token.expose().split('.').count() != 3 {
        bail!(
            "the Discord bot token does not look like one (expected three dot-separated parts); check DISCORD_TOKEN"
        );
    }
    let load = super::stations::load_reporting(config)?;
    tracing::info!(
        stations = load.catalog.len(),
        packs = load.packs,
        "station catalog loaded"
    );
    bail!(
        "configuration, token format and {} stations are fine, but the Discord connection is not built yet \
         (see the README's Status section)",
        load.catalog.len()
    )
}
