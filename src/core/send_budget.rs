//! The gateway send budget of one shard, for the voice state updates (op 4) the bot sends: plain Rust, the clock
//! passed in, so it is tested without Discord.
//!
//! Discord closes a gateway connection with 4008 when the client sends more than 120 events in 60 s, heartbeats
//! included. The bot's heartbeats (one per 41.25 s: at most 2 in any 60 s), its identify or resume, a heartbeat
//! Discord asks for and any presence update must fit too, so voice joins and leaves get [`VOICE_EVENTS`] of the
//! 120 and [`RESERVED_EVENTS`] stay free. The budget is a sliding log of the last sends: no 60 s window, wherever
//! Discord starts counting, holds more than [`VOICE_EVENTS`] of them. Joins are additionally spaced (the
//! operator's `playback.resume_spacing`) so a restart does not open a hundred voice connections in the same
//! instant; leaves are not spaced (they only free resources).
//!
//! Arithmetic of a restart with `N` guilds to rejoin on one shard, spacing `s`: the first [`VOICE_EVENTS`]
//! joins go out `s` apart, then one more per freed slot, so the last join leaves after about
//! `floor((N - 1) / 110) * 61 s + ((N - 1) % 110) * s`; shards have separate budgets and pace in parallel.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Discord's limit: events per connection per [`DISCORD_WINDOW`].
pub const DISCORD_EVENTS: u32 = 120;
/// Discord's window for [`DISCORD_EVENTS`].
pub const DISCORD_WINDOW: Duration = Duration::from_secs(60);
/// Kept free for heartbeats (2 per 60 s at Discord's 41.25 s interval, plus one Discord may request), the
/// identify or resume, presence updates and member requests.
pub const RESERVED_EVENTS: u32 = 10;
/// Voice state updates per window a shard may send.
pub const VOICE_EVENTS: u32 = DISCORD_EVENTS - RESERVED_EVENTS;
/// Our window is a second longer than Discord's: the op leaves the process a little after it is counted here.
pub const WINDOW_MARGIN: Duration = Duration::from_secs(1);

/// What a voice state update does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoiceOp {
    /// Join or move: spaced by [`SendBudget::spacing`].
    Join,
    /// Leave: only counted.
    Leave,
}

/// The send budget of one shard's voice state updates.
#[derive(Debug, Clone)]
pub struct SendBudget {
    limit: usize,
    window: Duration,
    spacing: Duration,
    /// When the sends inside the window went out, oldest first.
    sent: VecDeque<Instant>,
    last_join: Option<Instant>,
}

impl SendBudget {
    /// Discord's budget minus the reserve, joins `spacing` apart.
    pub fn discord(spacing: Duration) -> Self {
        Self::new(VOICE_EVENTS, DISCORD_WINDOW + WINDOW_MARGIN, spacing)
    }

    /// At most `limit` sends in any `window` (a `limit` of 0 is treated as 1: nothing could ever be sent).
    pub fn new(limit: u32, window: Duration, spacing: Duration) -> Self {
        Self {
            limit: usize::try_from(limit.max(1)).unwrap_or(usize::MAX),
            window,
            spacing,
            sent: VecDeque::new(),
            last_join: None,
        }
    }

    pub fn spacing(&self) -> Duration {
        self.spacing
    }

    /// Takes a slot for one send at `now`, or says when to ask again.
    ///
    /// # Errors
    /// `Err(at)`: the budget is spent (or the join spacing not over) until `at`.
    pub fn try_send(&mut self, now: Instant, op: VoiceOp) -> Result<(), Instant> {
        while self
            .sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            self.sent.pop_front();
        }
        let mut ready_at = now;
        if self.sent.len() >= self.limit
            && let Some(oldest) = self.sent.front()
        {
            ready_at = ready_at.max(*oldest + self.window);
        }
        if op == VoiceOp::Join
            && let Some(last) = self.last_join
        {
            ready_at = ready_at.max(last + self.spacing);
        }
        if ready_at > now {
            return Err(ready_at);
        }
        self.sent.push_back(now);
        if op == VoiceOp::Join {
            self.last_join = Some(now);
        }
        Ok(())
    }

    /// Sends counted in the window ending at `now`.
    pub fn in_window(&self, now: Instant) -> usize {
        self.sent
            .iter()
            .filter(|t| now.saturating_duration_since(**t) < self.window)
            .count()
    }
}

/// The shard Discord delivers a guild on, and expects its voice state updates on: `(guild_id >> 22) % shards`.
pub fn shard_of(guild_id: u64, shards: u32) -> u32 {
    u32::try_from((guild_id >> 22) % u64::from(shards.max(1))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Drives `budget` with `n` sends of `op`, each at the earliest moment it allows; returns the send times
    /// relative to the start.
    fn schedule(budget: &mut SendBudget, n: usize, op: VoiceOp) -> Vec<Duration> {
        let start = Instant::now();
        let mut now = start;
        let mut times = Vec::with_capacity(n);
        while times.len() < n {
            match budget.try_send(now, op) {
                Ok(()) => times.push(now.duration_since(start)),
                Err(at) => {
                    assert!(at > now, "a refusal names a later instant");
                    now = at;
                }
            }
        }
        times
    }

    /// The most sends inside any `window`.
    fn densest(times: &[Duration], window: Duration) -> usize {
        let mut start = 0;
        let mut best = 0;
        for (end, t) in times.iter().enumerate() {
            while times
                .get(start)
                .is_some_and(|s| t.saturating_sub(*s) >= window)
            {
                start += 1;
            }
            best = best.max(end + 1 - start);
        }
        best
    }

    #[rstest]
    #[case::joins_spaced(VoiceOp::Join, Duration::from_millis(250))]
    #[case::leaves_unspaced(VoiceOp::Leave, Duration::from_millis(250))]
    #[case::no_spacing(VoiceOp::Join, Duration::ZERO)]
    fn no_discord_window_holds_more_than_the_voice_share(
        #[case] op: VoiceOp,
        #[case] spacing: Duration,
    ) {
        let mut budget = SendBudget::discord(spacing);
        let times = schedule(&mut budget, 500, op);
        assert!(
            densest(&times, DISCORD_WINDOW) <= VOICE_EVENTS as usize,
            "{} sends in one 60 s window",
            densest(&times, DISCORD_WINDOW)
        );
        // Heartbeats and the identify still fit under Discord's 120.
        assert!(densest(&times, DISCORD_WINDOW) + 3 <= DISCORD_EVENTS as usize);
    }

    #[test]
    fn a_restart_of_500_joins_takes_four_windows_and_the_spacing() {
        let spacing = Duration::from_millis(250);
        let mut budget = SendBudget::discord(spacing);
        let times = schedule(&mut budget, 500, VoiceOp::Join);
        let window = DISCORD_WINDOW + WINDOW_MARGIN;
        // 500 = 4 * 110 + 60: the 441st join opens the fifth window, the last one is 59 spacings later.
        let expected = window * 4 + spacing * 59;
        let last = times.last().copied().unwrap_or_default();
        assert!(
            last.abs_diff(expected) < Duration::from_millis(1),
            "last join after {last:?}, expected {expected:?}"
        );
        // The first window's 110 joins go out a spacing apart.
        assert_eq!(times.get(109).copied(), Some(spacing * 109));
    }

    #[test]
    fn leaves_are_not_held_back_by_the_join_spacing() {
        let mut budget = SendBudget::discord(Duration::from_secs(10));
        let now = Instant::now();
        assert_eq!(budget.try_send(now, VoiceOp::Join), Ok(()));
        assert_eq!(budget.try_send(now, VoiceOp::Leave), Ok(()));
        assert_eq!(
            budget.try_send(now, VoiceOp::Join),
            Err(now + Duration::from_secs(10))
        );
        assert_eq!(budget.in_window(now), 2);
    }

    #[test]
    fn a_spent_budget_frees_its_oldest_slot_first() {
        let mut budget = SendBudget::new(2, Duration::from_secs(60), Duration::ZERO);
        let t0 = Instant::now();
        assert_eq!(budget.try_send(t0, VoiceOp::Leave), Ok(()));
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(budget.try_send(t1, VoiceOp::Leave), Ok(()));
        assert_eq!(
            budget.try_send(t1, VoiceOp::Leave),
            Err(t0 + Duration::from_secs(60))
        );
        assert_eq!(
            budget.try_send(t0 + Duration::from_secs(60), VoiceOp::Leave),
            Ok(())
        );
    }

    #[test]
    fn a_zero_limit_still_lets_one_send_through_per_window() {
        let mut budget = SendBudget::new(0, Duration::from_secs(1), Duration::ZERO);
        let t0 = Instant::now();
        assert_eq!(budget.try_send(t0, VoiceOp::Join), Ok(()));
        assert!(budget.try_send(t0, VoiceOp::Join).is_err());
    }

    #[rstest]
    #[case::one_shard(5 << 22, 1, 0)]
    #[case::zero_shards_is_one(5 << 22, 0, 0)]
    #[case::four_shards(5 << 22, 4, 1)]
    #[case::low_bits_do_not_count(7 << 22 | 0x3F_FFFF, 4, 3)]
    #[case::real_snowflake_sixteen_shards(197_038_439_483_310_086, 16, 2)]
    fn guilds_are_on_the_shard_discord_computes(
        #[case] guild: u64,
        #[case] shards: u32,
        #[case] shard: u32,
    ) {
        assert_eq!(shard_of(guild, shards), shard);
    }
}
