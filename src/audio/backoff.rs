//! Reconnect delays: exponential backoff with full-range jitter, so a station outage doesn't make every
//! hub (or every bot instance) hammer the server in lockstep.

use std::time::Duration;

/// The shape of the backoff curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// Delay before the first retry.
    pub base: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
    /// Growth per consecutive failure (2.0 doubles).
    pub factor: f64,
    /// Fraction of the delay that is randomised: 0.2 gives a delay uniformly in [0.8 d, 1.2 d].
    pub jitter: f64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            max: Duration::from_secs(60),
            factor: 2.0,
            jitter: 0.2,
        }
    }
}

/// Backoff state for one upstream: how many failures in a row so far.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    failures: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Self {
        Self {
            policy,
            failures: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// Deterministic jitter for tests.
    pub fn with_seed(policy: BackoffPolicy, seed: u64) -> Self {
        Self {
            policy,
            failures: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// Failures recorded since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure and returns how long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let exp = self
            .policy
            .factor
            .powi(i32::try_from(self.failures.min(64)).unwrap_or(64));
        self.failures = self.failures.saturating_add(1);
        let nominal = (self.policy.base.as_secs_f64() * exp).min(self.policy.max.as_secs_f64());
        let jitter = self.policy.jitter.clamp(0.0, 1.0);
        let spread = 1.0 - jitter + 2.0 * jitter * self.rng.f64();
        Duration::from_secs_f64((nominal * spread).min(self.policy.max.as_secs_f64()))
    }

    /// Back to the base delay (after the upstream played healthily for a while).
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grows_exponentially_then_caps() {
        let policy = BackoffPolicy {
            jitter: 0.0,
            ..BackoffPolicy::default()
        };
        let mut b = Backoff::new(policy);
        let secs: Vec<f64> = (0..10).map(|_| b.next_delay().as_secs_f64()).collect();
        assert_eq!(&secs[..5], &[0.5, 1.0, 2.0, 4.0, 8.0]);
        assert!(secs[9] <= 60.0 && (secs[9] - 60.0).abs() < 1e-9);
        b.reset();
        assert!((b.next_delay().as_secs_f64() - 0.5).abs() < 1e-9);
    }

    proptest! {
        #[test]
        fn jittered_delay_stays_within_its_band(seed: u64, failures in 0u32..20) {
            let policy = BackoffPolicy::default();
            let mut b = Backoff::with_seed(policy, seed);
            for _ in 0..failures { b.next_delay(); }
            let nominal = (0.5 * 2f64.powi(i32::try_from(failures).unwrap_or(64))).min(60.0);
            let d = b.next_delay().as_secs_f64();
            prop_assert!(d >= nominal * 0.8 - 1e-9 && d <= (nominal * 1.2).min(60.0) + 1e-9);
        }
    }
}
