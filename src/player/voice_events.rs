//! songbird's driver events for one guild, turned into the core's voice events (`VoiceLost`,
//! `VoiceRestored`) and sent to the guild's task; plus the mapping of songbird's disconnect reasons and join
//! errors onto [`VoiceLoss`].
//!
//! What songbird 0.6.1 already does, so the bot does not repeat it: on 4015 ("voice server crashed") and
//! 4009 it resumes (op 7) on the same endpoint, falls back to a full reconnect with the same credentials,
//! and fires `DriverReconnect` on success or `DriverDisconnect { kind: Reconnect }` once its retries are
//! spent; a `VOICE_SERVER_UPDATE` with a new endpoint or token makes it connect to the new server by itself
//! (`DriverConnect`). On every other close code it gives up at once (`DriverDisconnect { kind: Runtime }`)
//! and keeps the dead connection's details, so a plain `join` of the same channel would only retry the
//! expired credentials: the rejoin drops them first (see `GuildTask::rejoin`).

use songbird::error::{ConnectionError, JoinError};
use songbird::events::context_data::{DisconnectKind, DisconnectReason};
use songbird::events::{EventContext, EventHandler};
use songbird::model::CloseCode;
use tokio::sync::mpsc;

use super::guild::Command;
use crate::core::ids::GuildKey;
use crate::core::player::{Event, VoiceLoss};

/// songbird's own connection retries, per (re)join: 3 tries about 1 s and 2 s apart. songbird's default (6
/// tries from 250 ms) is a burst of identifies exactly when Discord rate-limits (4021); the session's
/// backoff (`core::player::voice::rejoin_delay`) spaces the rejoins beyond that.
pub(crate) fn driver_retry() -> songbird::driver::retry::Retry {
    songbird::driver::retry::Retry {
        strategy: songbird::driver::retry::Strategy::Backoff(
            songbird::driver::retry::ExponentialBackoff {
                min: std::time::Duration::from_secs(1).into(),
                max: std::time::Duration::from_secs(10).into(),
                jitter: 0.1,
            },
        ),
        retry_limit: std::num::NonZeroU8::new(2),
    }
}

/// The handler registered on each guild's songbird call. `generation` tells the guild task which call's
/// handler sent an event, so events of a call it already replaced are dropped.
pub(crate) struct DriverEvents {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) guild: GuildKey,
    pub(crate) generation: u64,
}

#[serenity::async_trait]
impl EventHandler for DriverEvents {
    async fn act(&self, ctx: &EventContext<'_>) -> Option<songbird::events::Event> {
        let event = match ctx {
            EventContext::DriverDisconnect(data) => {
                let loss = loss_of_disconnect(data.kind, data.reason)?;
                log_loss(self.guild, &loss, "voice connection lost");
                Event::VoiceLost(loss)
            }
            EventContext::DriverConnect(_) | EventContext::DriverReconnect(_) => {
                Event::VoiceRestored
            }
            _ => return None,
        };
        let _ = self
            .tx
            .send(Command::Driver {
                generation: self.generation,
                event,
            })
            .await;
        None
    }
}

/// The loss a `DriverDisconnect` reports; `None` for disconnects the bot asked for (leave, a rejoin dropping
/// the dead connection, a superseded attempt).
pub(crate) fn loss_of_disconnect(
    kind: DisconnectKind,
    reason: Option<DisconnectReason>,
) -> Option<VoiceLoss> {
    let reason = reason?;
    let loss = match reason {
        DisconnectReason::Requested | DisconnectReason::AttemptDiscarded => return None,
        DisconnectReason::WsClosed(Some(code)) => VoiceLoss::from_close_code(close_code(code)),
        DisconnectReason::WsClosed(None) => {
            VoiceLoss::Other("the voice websocket closed without a code".into())
        }
        DisconnectReason::Io => VoiceLoss::Other("network error on the voice connection".into()),
        DisconnectReason::TimedOut => VoiceLoss::Other("the voice connection timed out".into()),
        DisconnectReason::ProtocolViolation => {
            VoiceLoss::Other("voice protocol error (see the log)".into())
        }
        _ => VoiceLoss::Other(format!("voice driver failure ({reason:?})")),
    };
    // A failed resume of an expired session (4009 → op 7 refused) arrives as a failed reconnect.
    Some(match (kind, loss) {
        (DisconnectKind::Reconnect, VoiceLoss::Other(_)) => VoiceLoss::SessionExpired,
        (_, loss) => loss,
    })
}

/// The loss a failed `join` means (a rejoin's answer, or why a first join failed).
pub(crate) fn loss_of_join_error(error: &JoinError) -> VoiceLoss {
    match error {
        JoinError::Driver(e) => loss_of_connection_error(e),
        other => VoiceLoss::Other(other.to_string()),
    }
}

fn loss_of_connection_error(error: &ConnectionError) -> VoiceLoss {
    match DisconnectReason::from(error) {
        DisconnectReason::WsClosed(Some(code)) => VoiceLoss::from_close_code(close_code(code)),
        _ => VoiceLoss::Other(error.to_string()),
    }
}

/// Discord's number for a voice close code.
pub(crate) fn close_code(code: CloseCode) -> u16 {
    match code {
        CloseCode::UnknownOpcode => 4001,
        CloseCode::InvalidPayload => 4002,
        CloseCode::NotAuthenticated => 4003,
        CloseCode::AuthenticationFailed => 4004,
        CloseCode::AlreadyAuthenticated => 4005,
        CloseCode::SessionInvalid => 4006,
        CloseCode::SessionTimeout => 4009,
        CloseCode::ServerNotFound => 4011,
        CloseCode::UnknownProtocol => 4012,
        CloseCode::Disconnected => 4014,
        CloseCode::VoiceServerCrash => 4015,
        CloseCode::UnknownEncryptionMode => 4016,
        CloseCode::DaveProtocolRequired => 4017,
        CloseCode::BadRequest => 4020,
        CloseCode::RateLimited => 4021,
        CloseCode::CallTerminated => 4022,
    }
}

/// One log line per loss: an error for DAVE (an operator must act: the voice library or its DAVE version),
/// a warning otherwise (the session recovers or says why it stopped).
pub(crate) fn log_loss(guild: GuildKey, loss: &VoiceLoss, what: &str) {
    if *loss == VoiceLoss::DaveRequired {
        tracing::error!(
            %guild,
            "{what}: {loss}; this build speaks DAVE through songbird/davey, so Discord wants a newer DAVE \
             protocol version than it offered: update the bot. Not reconnecting."
        );
    } else {
        tracing::warn!(%guild, reason = %loss, "{what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::kicked(CloseCode::Disconnected, VoiceLoss::Disconnected)]
    #[case::invalid(CloseCode::SessionInvalid, VoiceLoss::SessionExpired)]
    #[case::dave(CloseCode::DaveProtocolRequired, VoiceLoss::DaveRequired)]
    #[case::rate(CloseCode::RateLimited, VoiceLoss::RateLimited)]
    #[case::terminated(CloseCode::CallTerminated, VoiceLoss::CallTerminated)]
    fn runtime_closes_map_by_code(#[case] code: CloseCode, #[case] loss: VoiceLoss) {
        assert_eq!(
            loss_of_disconnect(
                DisconnectKind::Runtime,
                Some(DisconnectReason::WsClosed(Some(code)))
            ),
            Some(loss)
        );
    }

    #[rstest]
    #[case::left(None)]
    #[case::requested(Some(DisconnectReason::Requested))]
    #[case::discarded(Some(DisconnectReason::AttemptDiscarded))]
    fn disconnects_the_bot_asked_for_are_not_losses(#[case] reason: Option<DisconnectReason>) {
        assert_eq!(loss_of_disconnect(DisconnectKind::Runtime, reason), None);
    }

    #[test]
    fn a_failed_resume_is_an_expired_session() {
        assert_eq!(
            loss_of_disconnect(DisconnectKind::Reconnect, Some(DisconnectReason::TimedOut)),
            Some(VoiceLoss::SessionExpired)
        );
        // With a close code, the code says what happened.
        assert_eq!(
            loss_of_disconnect(
                DisconnectKind::Reconnect,
                Some(DisconnectReason::WsClosed(Some(CloseCode::RateLimited)))
            ),
            Some(VoiceLoss::RateLimited)
        );
    }

    #[test]
    fn every_close_code_keeps_discords_number() {
        use songbird::model::FromPrimitive as _;
        for n in 4000..4100u16 {
            if let Some(code) = CloseCode::from_u16(n) {
                assert_eq!(close_code(code), n);
            }
        }
    }
}
