//! The harness's error type: every failure says what was awaited, for how long, and what the fake saw instead.

use std::time::Duration;

/// What went wrong while driving or observing the bot.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bounded wait ran out. `what` names the awaited event; `seen` summarises the relevant state at the deadline.
    #[error("timed out after {after:?} waiting for {what}; {seen}")]
    Timeout {
        what: String,
        after: Duration,
        seen: String,
    },
    /// The test asked for something the world or the bot's registered commands cannot satisfy
    /// (unknown command, option, guild, member, component, ...).
    #[error("scenario error: {0}")]
    Scenario(String),
    /// The bot answered an interaction in a way Discord rejects or the test did not expect.
    #[error("unexpected interaction response: {0}")]
    Response(String),
    /// A listener could not be bound or a certificate could not be made.
    #[error("fake Discord setup failed: {0}")]
    Setup(String),
    /// Spawning or talking to the bot process failed.
    #[error("bot process {path}: {source}")]
    Process {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn scenario(msg: impl Into<String>) -> Self {
        Self::Scenario(msg.into())
    }
}

/// Shorthand used across the harness.
pub type Result<T, E = Error> = std::result::Result<T, E>;
