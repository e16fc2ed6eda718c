//! Paces the bot's voice state updates (op 4: songbird's join and leave) per gateway shard within Discord's send
//! budget ([`crate::core::send_budget`]). Every join and leave of the player asks [`VoicePacer::acquire`] first;
//! each shard has its own budget and its own FIFO queue, so shards pace in parallel and a shard's ops leave in
//! the order they were asked for.
//!
//! A shard's ops also wait (bounded) for the shard's READY: songbird queues updates for a shard that is not
//! connected yet and flushes them in one burst when it connects, which would bypass the pacing.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::core::ids::GuildKey;
use crate::core::send_budget::{SendBudget, VoiceOp, shard_of};

/// How long an op waits for its shard's READY before it is sent anyway.
const SHARD_READY_WAIT: Duration = Duration::from_secs(30);

/// One shard's queue: its budget behind a fair (FIFO) lock, and how many ops ever asked for it.
struct Lane {
    budget: tokio::sync::Mutex<SendBudget>,
    asked: watch::Sender<u64>,
}

pub(crate) struct VoicePacer {
    spacing: Duration,
    shards: AtomicU32,
    lanes: Mutex<HashMap<u32, Arc<Lane>>>,
    ready: watch::Sender<BTreeSet<u32>>,
}

impl VoicePacer {
    /// Joins are spaced by `spacing` per shard (the operator's `playback.resume_spacing`).
    pub(crate) fn new(spacing: Duration) -> Self {
        Self {
            spacing,
            shards: AtomicU32::new(1),
            lanes: Mutex::default(),
            ready: watch::Sender::new(BTreeSet::new()),
        }
    }

    /// A shard received READY; `total` is the shard count it identified with.
    pub(crate) fn shard_ready(&self, shard: u32, total: u32) {
        self.shards.store(total.max(1), Ordering::Release);
        self.ready.send_modify(|ready| {
            ready.insert(shard);
        });
    }

    pub(crate) fn shard_count(&self) -> u32 {
        self.shards.load(Ordering::Acquire)
    }

    pub(crate) fn shard_of(&self, guild: GuildKey) -> u32 {
        shard_of(guild.0, self.shard_count())
    }

    fn lane(&self, shard: u32) -> Arc<Lane> {
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(lanes.entry(shard).or_insert_with(|| {
            Arc::new(Lane {
                budget: tokio::sync::Mutex::new(SendBudget::discord(self.spacing)),
                asked: watch::Sender::new(0),
            })
        }))
    }

    /// Waits (bounded) until `shard` has received READY.
    pub(crate) async fn wait_shard_ready(&self, shard: u32) {
        let mut ready = self.ready.subscribe();
        let wait = ready.wait_for(|r| r.contains(&shard));
        if tokio::time::timeout(SHARD_READY_WAIT, wait).await.is_err() {
            tracing::warn!(
                shard,
                "shard not ready after {SHARD_READY_WAIT:?}; sending voice updates anyway"
            );
        }
    }

    /// How many ops have queued on `guild`'s shard so far (to wait for one to be queued).
    pub(crate) fn asked(&self, shard: u32) -> watch::Receiver<u64> {
        self.lane(shard).asked.subscribe()
    }

    /// Waits for a slot for one op 4 about `guild` on its shard, in FIFO order among that shard's ops.
    pub(crate) async fn acquire(&self, guild: GuildKey, op: VoiceOp) {
        let shard = self.shard_of(guild);
        self.wait_shard_ready(shard).await;
        let lane = self.lane(shard);
        lane.asked.send_modify(|n| *n += 1);
        // Held while sleeping: the lock is the shard's queue, and tokio's mutex is fair.
        let mut budget = lane.budget.lock().await;
        let waited = Instant::now();
        loop {
            // tokio's clock (the same one `sleep_until` uses; paused in tests).
            match budget.try_send(tokio::time::Instant::now().into_std(), op) {
                Ok(()) => break,
                Err(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
            }
        }
        let waited = waited.elapsed();
        if waited > Duration::from_secs(1) {
            tracing::debug!(%guild, shard, ?op, ?waited, "voice update waited for the gateway budget");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn shards_pace_in_parallel_and_each_keeps_its_order() {
        let pacer = Arc::new(VoicePacer::new(Duration::from_millis(250)));
        pacer.shard_ready(0, 2);
        pacer.shard_ready(1, 2);
        let order = Arc::new(Mutex::new(Vec::new()));
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for n in 0..8u64 {
            // Guild n sits on shard n % 2.
            let (pacer, order) = (Arc::clone(&pacer), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                pacer.acquire(GuildKey(n << 22), VoiceOp::Join).await;
                order
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((n, start.elapsed()));
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.expect("task");
        }
        let order = order.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let of_shard = |s: u64| -> Vec<(u64, Duration)> {
            order.iter().copied().filter(|(n, _)| n % 2 == s).collect()
        };
        for shard in 0..2 {
            let lane = of_shard(shard);
            let guilds: Vec<u64> = lane.iter().map(|(n, _)| *n).collect();
            assert_eq!(guilds, vec![shard, shard + 2, shard + 4, shard + 6]);
            // Four joins a spacing apart on each shard, both shards at once: done after 3 spacings, not 7.
            let last = lane.last().map(|(_, t)| *t).unwrap_or_default();
            assert_eq!(last, Duration::from_millis(750), "shard {shard}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_op_waits_for_its_shard_ready() {
        let pacer = Arc::new(VoicePacer::new(Duration::ZERO));
        pacer.shard_ready(0, 2);
        let start = tokio::time::Instant::now();
        let waiting = {
            let pacer = Arc::clone(&pacer);
            tokio::spawn(async move { pacer.acquire(GuildKey(1 << 22), VoiceOp::Join).await })
        };
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!waiting.is_finished(), "shard 1 is not ready yet");
        pacer.shard_ready(1, 2);
        waiting.await.expect("task");
        assert!(start.elapsed() < SHARD_READY_WAIT);
    }
}
