//! Tracing setup: compact human output on a terminal, plain lines under systemd (journald adds timestamps),
//! or JSON. `RUST_LOG` wins over the configured filter. Never log the token: config `Debug` redacts it.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber; logs go to stderr so stdout stays clean for `--json` output.
/// Calling it twice is harmless (the second call is ignored), which keeps tests simple.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let format = match config.format {
        LogFormat::Auto if under_journald || !std::io::stderr().is_terminal() => LogFormat::Plain,
        LogFormat::Auto => LogFormat::Human,
        other => other,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        LogFormat::Plain => builder.with_ansi(false).without_time().compact().try_init(),
        LogFormat::Human | LogFormat::Auto => builder.compact().try_init(),
    };
}
