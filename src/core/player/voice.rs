//! Voice-connection trouble as the session sees it: why the media connection dropped ([`VoiceLoss`], mapped
//! from Discord's voice close codes) and how long to wait before the next fresh join ([`rejoin_delay`]).
//!
//! The voice library resumes 4015 ("voice server crashed") and tries to resume 4009 by itself; the session
//! only hears about a loss once that failed or was never attempted, so every [`VoiceLoss`] means "no audio
//! reaches the channel until something is done".

use std::fmt;
use std::time::Duration;

/// Why a guild's voice connection dropped while playing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoiceLoss {
    /// 4014: the bot was disconnected from the channel (kicked, channel deleted, the gateway session
    /// dropped). Discord says not to reconnect; the session ends unless the gateway reports the bot still in
    /// (moved to) a channel within [`DISCONNECT_GRACE`].
    Disconnected,
    /// 4006, or a 4009 the resume could not recover: the voice session is gone. A fresh join (a new voice
    /// session from the gateway) is the fix.
    SessionExpired,
    /// 4017: the channel requires end-to-end encrypted voice (DAVE) and the connection did not speak it.
    /// Retrying the same way cannot help.
    DaveRequired,
    /// 4021: Discord rate-limited the voice connection. Rejoin only after a long backoff.
    RateLimited,
    /// 4022: Discord terminated the call (channel deleted, voice server changed). A `VOICE_SERVER_UPDATE` or a
    /// voice state "left" usually follows; rejoin only if neither did, after a backoff.
    CallTerminated,
    /// Anything else: a transport error, a timeout, another close code. Retried with backoff.
    Other(String),
}

impl VoiceLoss {
    /// The loss a voice websocket close code means (Discord's voice close codes).
    pub fn from_close_code(code: u16) -> Self {
        match code {
            4014 => Self::Disconnected,
            4006 | 4009 => Self::SessionExpired,
            4017 => Self::DaveRequired,
            4021 => Self::RateLimited,
            4022 => Self::CallTerminated,
            other => Self::Other(format!("voice websocket closed with {other}")),
        }
    }

    /// True when no rejoin can help: the session ends at once.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::DaveRequired)
    }
}

impl fmt::Display for VoiceLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disconnected => f.write_str("disconnected from the voice channel (4014)"),
            Self::SessionExpired => f.write_str("the voice session expired (4006/4009)"),
            Self::DaveRequired => f.write_str(
                "Discord requires end-to-end encrypted voice (DAVE) in this channel and closed the \
                 connection (4017)",
            ),
            Self::RateLimited => f.write_str("Discord rate-limited the voice connection (4021)"),
            Self::CallTerminated => f.write_str("Discord terminated the call (4022)"),
            Self::Other(reason) => f.write_str(reason),
        }
    }
}

/// How long a 4014 waits for the gateway to say "moved" before the session ends.
pub const DISCONNECT_GRACE: Duration = Duration::from_secs(5);
/// Fresh joins tried in one run of trouble before the session gives up.
pub const MAX_REJOINS: u32 = 5;
/// Connected this long without trouble, the next loss starts a new run (the backoff starts over).
pub const STABLE_AFTER: Duration = Duration::from_secs(120);
/// No wait between rejoins grows beyond this.
pub const MAX_REJOIN_DELAY: Duration = Duration::from_secs(60);

/// The wait before fresh join number `attempt + 1` of a run of trouble (`attempt` joins already tried).
///
/// An expired session is rejoined at once the first time (the new session is the cure); rate limits and
/// terminated calls start long so Discord is never hammered; everything doubles per attempt up to
/// [`MAX_REJOIN_DELAY`]. `None` for losses that are never rejoined ([`VoiceLoss::Disconnected`],
/// [`VoiceLoss::DaveRequired`]).
pub fn rejoin_delay(loss: &VoiceLoss, attempt: u32) -> Option<Duration> {
    let base = match loss {
        VoiceLoss::Disconnected | VoiceLoss::DaveRequired => return None,
        VoiceLoss::SessionExpired if attempt == 0 => return Some(Duration::ZERO),
        VoiceLoss::SessionExpired | VoiceLoss::Other(_) => Duration::from_secs(1),
        VoiceLoss::CallTerminated => Duration::from_secs(2),
        VoiceLoss::RateLimited => Duration::from_secs(5),
    };
    let doublings = match loss {
        // The immediate first attempt does not count as a doubling.
        VoiceLoss::SessionExpired => attempt.saturating_sub(1),
        _ => attempt,
    };
    let factor = 1u32.checked_shl(doublings.min(16)).unwrap_or(u32::MAX);
    Some(base.saturating_mul(factor).min(MAX_REJOIN_DELAY))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::kicked(4014, VoiceLoss::Disconnected)]
    #[case::session_invalid(4006, VoiceLoss::SessionExpired)]
    #[case::session_timeout(4009, VoiceLoss::SessionExpired)]
    #[case::dave(4017, VoiceLoss::DaveRequired)]
    #[case::rate_limited(4021, VoiceLoss::RateLimited)]
    #[case::call_terminated(4022, VoiceLoss::CallTerminated)]
    #[case::unknown_encryption(4016, VoiceLoss::Other("voice websocket closed with 4016".into()))]
    fn close_codes_map_to_losses(#[case] code: u16, #[case] loss: VoiceLoss) {
        assert_eq!(VoiceLoss::from_close_code(code), loss);
    }

    #[test]
    fn the_dave_loss_names_dave() {
        let text = VoiceLoss::DaveRequired.to_string();
        assert!(text.contains("DAVE") && text.contains("4017"), "{text}");
    }

    #[rstest]
    #[case::expired_first_is_immediate(VoiceLoss::SessionExpired, 0, Some(0))]
    #[case::expired_then_doubles(VoiceLoss::SessionExpired, 1, Some(1))]
    #[case::expired_third(VoiceLoss::SessionExpired, 3, Some(4))]
    #[case::rate_limited_starts_long(VoiceLoss::RateLimited, 0, Some(5))]
    #[case::rate_limited_doubles(VoiceLoss::RateLimited, 2, Some(20))]
    #[case::rate_limited_capped(VoiceLoss::RateLimited, 4, Some(60))]
    #[case::terminated(VoiceLoss::CallTerminated, 1, Some(4))]
    #[case::other(VoiceLoss::Other("io".into()), 0, Some(1))]
    #[case::huge_attempt_saturates(VoiceLoss::Other("io".into()), u32::MAX, Some(60))]
    #[case::kicked_never(VoiceLoss::Disconnected, 0, None)]
    #[case::dave_never(VoiceLoss::DaveRequired, 0, None)]
    fn rejoin_delays(#[case] loss: VoiceLoss, #[case] attempt: u32, #[case] secs: Option<u64>) {
        assert_eq!(rejoin_delay(&loss, attempt), secs.map(Duration::from_secs));
    }

    #[test]
    fn a_rate_limited_run_waits_minutes_before_giving_up() {
        let total: Duration = (0..MAX_REJOINS)
            .filter_map(|a| rejoin_delay(&VoiceLoss::RateLimited, a))
            .sum();
        // 5 + 10 + 20 + 40 + 60 s: at most five fresh joins in more than two minutes.
        assert_eq!(total, Duration::from_secs(135));
    }
}
