//! Command rate limits (GCRA via `governor`), so one member or one guild cannot flood the bot.
//!
//! Commands are limited per user and per guild; autocomplete, which Discord fires on every keystroke,
//! has its own larger per-user budget so typing never eats into the command budget. The clock is a type
//! parameter so tests drive time by hand.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::config::{LimitsConfig, RateConfig};
use crate::core::ids::{GuildKey, UserKey};
use crate::core::locale::{Message, UserMessage};

/// Which budget a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Command,
    Autocomplete,
}

/// Refused: the earliest moment the same request would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited: try again in {} s", whole_seconds(.0))]
pub struct RetryAfter(pub Duration);

/// Seconds as people count them: rounded up, never 0 ("try again in 0 s" reads as a bug).
fn whole_seconds(d: &Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

impl UserMessage for RetryAfter {
    fn user_message(&self) -> Message {
        Message::new("error-rate-limited").arg("seconds", whole_seconds(&self.0))
    }
}

type Keyed<K, C> = RateLimiter<K, HashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

fn quota(rate: &RateConfig) -> Quota {
    // `per = "0s"` would mean no limit at all; a 1 ms floor keeps it a (very loose) limit.
    let burst = rate.burst;
    let interval = (rate.per / burst.get()).max(Duration::from_millis(1));
    Quota::with_period(interval)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

/// The bot's limiters. Share one behind an `Arc`.
pub struct RateLimits<C: Clock = DefaultClock> {
    clock: C,
    user_commands: Keyed<UserKey, C>,
    guild_commands: Keyed<GuildKey, C>,
    user_autocomplete: Keyed<UserKey, C>,
}

impl<C: Clock> std::fmt::Debug for RateLimits<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("tracked_users", &self.user_commands.len())
            .field("tracked_guilds", &self.guild_commands.len())
            .finish_non_exhaustive()
    }
}

impl RateLimits<DefaultClock> {
    pub fn new(cfg: &LimitsConfig) -> Self {
        Self::with_clock(cfg, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimits<C> {
    pub fn with_clock(cfg: &LimitsConfig, clock: C) -> Self {
        Self {
            user_commands: RateLimiter::hashmap_with_clock(
                quota(&cfg.user_commands),
                clock.clone(),
            ),
            guild_commands: RateLimiter::hashmap_with_clock(
                quota(&cfg.guild_commands),
                clock.clone(),
            ),
            user_autocomplete: RateLimiter::hashmap_with_clock(
                quota(&cfg.user_autocomplete),
                clock.clone(),
            ),
            clock,
        }
    }

    /// Takes one unit from the budgets `bucket` draws from, or says how long to wait.
    pub fn check(
        &self,
        bucket: Bucket,
        guild: Option<GuildKey>,
        user: UserKey,
    ) -> Result<(), RetryAfter> {
        let now = self.clock.now();
        match bucket {
            Bucket::Autocomplete => self
                .user_autocomplete
                .check_key(&user)
                .map_err(|n| RetryAfter(n.wait_time_from(now))),
            Bucket::Command => {
                // The user's budget first: a flooding member is refused before touching the guild's budget,
                // so one member cannot lock everyone else in the guild out. (A member refused by a busy
                // guild has spent one own unit; that is the cheaper mistake.)
                self.user_commands
                    .check_key(&user)
                    .map_err(|n| RetryAfter(n.wait_time_from(now)))?;
                if let Some(guild) = guild {
                    self.guild_commands
                        .check_key(&guild)
                        .map_err(|n| RetryAfter(n.wait_time_from(now)))?;
                }
                Ok(())
            }
        }
    }

    /// Forgets users and guilds whose budget is full again (call now and then: memory stays bounded by
    /// recent activity).
    pub fn prune(&self) {
        self.user_commands.retain_recent();
        self.guild_commands.retain_recent();
        self.user_autocomplete.retain_recent();
    }

    /// Users and guilds currently tracked (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.user_commands.len() + self.guild_commands.len() + self.user_autocomplete.len()
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    const ALICE: UserKey = UserKey(1);
    const BOB: UserKey = UserKey(2);
    const G1: GuildKey = GuildKey(100);
    const G2: GuildKey = GuildKey(200);

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn cfg() -> LimitsConfig {
        LimitsConfig {
            user_commands: RateConfig {
                burst: nz(3),
                per: Duration::from_secs(6),
            },
            guild_commands: RateConfig {
                burst: nz(5),
                per: Duration::from_secs(10),
            },
            user_autocomplete: RateConfig {
                burst: nz(10),
                per: Duration::from_secs(5),
            },
        }
    }

    fn limits() -> (RateLimits<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (RateLimits::with_clock(&cfg(), clock.clone()), clock)
    }

    #[test]
    fn a_users_flood_is_limited_with_the_right_wait() {
        let (l, clock) = limits();
        for _ in 0..3 {
            assert_eq!(l.check(Bucket::Command, Some(G1), ALICE), Ok(()));
        }
        // 3 per 6 s: one unit every 2 s.
        assert_eq!(
            l.check(Bucket::Command, Some(G1), ALICE),
            Err(RetryAfter(Duration::from_secs(2)))
        );
        clock.advance(Duration::from_millis(1500));
        assert_eq!(
            l.check(Bucket::Command, Some(G1), ALICE),
            Err(RetryAfter(Duration::from_millis(500)))
        );
        clock.advance(Duration::from_millis(500));
        assert_eq!(l.check(Bucket::Command, Some(G1), ALICE), Ok(()));
    }

    #[test]
    fn other_users_are_unaffected_by_one_users_flood() {
        let (l, _clock) = limits();
        for _ in 0..10 {
            let _ = l.check(Bucket::Command, None, ALICE);
        }
        assert!(l.check(Bucket::Command, None, ALICE).is_err());
        assert_eq!(l.check(Bucket::Command, None, BOB), Ok(()));
    }

    #[test]
    fn a_guild_budget_caps_many_users_and_spares_other_guilds() {
        let (l, clock) = limits();
        for user in 1..=5 {
            assert_eq!(l.check(Bucket::Command, Some(G1), UserKey(user)), Ok(()));
        }
        // A fresh user in the busy guild waits for the guild (one unit per 2 s)...
        assert_eq!(
            l.check(Bucket::Command, Some(G1), UserKey(6)),
            Err(RetryAfter(Duration::from_secs(2)))
        );
        // ...and can still act in another guild.
        assert_eq!(l.check(Bucket::Command, Some(G2), UserKey(6)), Ok(()));
        clock.advance(Duration::from_secs(2));
        assert_eq!(l.check(Bucket::Command, Some(G1), UserKey(6)), Ok(()));
    }

    #[test]
    fn one_members_flood_does_not_lock_the_guild() {
        let (l, _clock) = limits();
        for _ in 0..100 {
            let _ = l.check(Bucket::Command, Some(G1), ALICE);
        }
        assert!(l.check(Bucket::Command, Some(G1), ALICE).is_err());
        assert_eq!(l.check(Bucket::Command, Some(G1), BOB), Ok(()));
    }

    #[test]
    fn autocomplete_has_its_own_budget() {
        let (l, _clock) = limits();
        for _ in 0..10 {
            assert_eq!(l.check(Bucket::Autocomplete, Some(G1), ALICE), Ok(()));
        }
        assert!(l.check(Bucket::Autocomplete, Some(G1), ALICE).is_err());
        // Typing did not spend the command budget.
        assert_eq!(l.check(Bucket::Command, Some(G1), ALICE), Ok(()));
    }

    #[test]
    fn prune_forgets_idle_keys() {
        let (l, clock) = limits();
        l.check(Bucket::Command, Some(G1), ALICE).unwrap();
        assert!(l.tracked() > 0);
        clock.advance(Duration::from_secs(60));
        l.prune();
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn retry_after_message_rounds_up_and_is_localized() {
        let m = RetryAfter(Duration::from_millis(1200)).user_message();
        assert_eq!(m.key, "error-rate-limited");
        assert_eq!(
            m.args,
            vec![("seconds", crate::core::locale::Arg::Num(2.0))]
        );
        assert_eq!(
            RetryAfter(Duration::ZERO).to_string(),
            "rate limited: try again in 1 s"
        );
        let locales = crate::core::locale::Locales::embedded().unwrap();
        let de = locales.render(&"de".parse().unwrap(), &m);
        assert!(de.contains("2 s"), "{de}");
    }
}
