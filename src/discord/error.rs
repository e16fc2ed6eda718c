//! The one error type of every command and event handler, and `on_error`, the one place errors become replies.
//!
//! A [`BotError::User`] carries a localizable message (what went wrong and what would help): it is shown to the
//! member ephemerally in their locale and logged at debug level only. Anything else is an internal failure: it
//! is logged with a short correlation id, and the member sees "something went wrong (ref …)" with that id, so
//! an operator can find the log line from a user's screenshot.

use poise::serenity_prelude as serenity;

use crate::core::guild::LocaleTag;
use crate::core::locale::{Arg, Message};
use crate::core::store::StoreError;
use crate::discord::{Context, Data};

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// The member's request cannot be done as asked; the text says why and what would help.
    #[error("refused: {}", .0.key)]
    User(Message),
    /// Boxed: serenity's error is large and would bloat every command's `Result`.
    #[error("Discord request failed: {0}")]
    Discord(Box<serenity::Error>),
    #[error("guild store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl BotError {
    pub fn user(key: &'static str) -> Self {
        Self::User(Message::new(key))
    }

    /// A refusal with arguments.
    pub fn user_with(message: Message) -> Self {
        Self::User(message)
    }
}

impl From<serenity::Error> for BotError {
    fn from(e: serenity::Error) -> Self {
        Self::Discord(Box::new(e))
    }
}

impl From<Message> for BotError {
    fn from(text: Message) -> Self {
        Self::User(text)
    }
}

/// Eight hex digits: enough to find one log line, short enough to read out loud.
pub fn correlation_id() -> String {
    format!("{:08x}", fastrand::u32(..))
}

/// The text a member sees for `error`, in `locale`; internal errors are logged here with the id they show.
pub fn user_facing(data: &Data, locale: &LocaleTag, error: &BotError, command: &str) -> String {
    match error {
        BotError::User(text) => {
            tracing::debug!(command, key = text.key, "command refused");
            data.locales.text(locale, text.key, &text.args)
        }
        other => {
            let reference = correlation_id();
            tracing::error!(command, reference = %reference, error = %other, "command failed");
            data.locales.text(
                locale,
                "error-internal",
                &[("reference", Arg::Str(reference))],
            )
        }
    }
}

async fn reply_ephemeral(ctx: Context<'_>, text: String) {
    let reply = poise::CreateReply::default().content(text).ephemeral(true);
    if let Err(e) = ctx.send(reply).await {
        tracing::warn!(error = %e, "could not deliver an error reply");
    }
}

/// poise's error hook: see the module docs.
pub async fn on_error(error: poise::FrameworkError<'_, Data, BotError>) {
    match error {
        poise::FrameworkError::Command { error, ctx, .. }
        | poise::FrameworkError::CommandCheckFailed {
            error: Some(error),
            ctx,
            ..
        } => {
            let locale = crate::discord::locale_of(ctx);
            let text = user_facing(ctx.data(), &locale, &error, &ctx.command().qualified_name);
            reply_ephemeral(ctx, text).await;
        }
        poise::FrameworkError::GuildOnly { ctx, .. } => {
            let locale = crate::discord::locale_of(ctx);
            let text = ctx.data().locales.text(&locale, "error-guild-only", &[]);
            reply_ephemeral(ctx, text).await;
        }
        poise::FrameworkError::EventHandler { error, event, .. } => {
            let reference = correlation_id();
            tracing::error!(event = event.snake_case_name(), reference = %reference, error = %error,
                "event handler failed");
        }
        poise::FrameworkError::Setup { error, .. } => {
            // Command registration failed: every later event would wait on setup forever, so stop loudly.
            tracing::error!(error = %error, "start-up failed (command registration)");
        }
        other => {
            if let Err(e) = poise::builtins::on_error(other).await {
                tracing::warn!(error = %e, "could not report a framework error");
            }
        }
    }
}
