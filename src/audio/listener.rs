//! The per-guild listener: a never-blocking reader of one station hub's frame ring. It always has a
//! 20 ms Opus frame to hand out (the Opus silence frame on underrun) and never ends while it lives, so
//! the songbird track wrapping it never sees an end or an error caused by the upstream.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::ring::{FrameRing, Read};

/// A 20 ms Opus frame of silence (CELT, fullband). Decoders and songbird's passthrough accept it as-is.
pub const SILENCE_FRAME: [u8; 3] = [0xF8, 0xFF, 0xFE];

/// How many frames behind the head a new (or skipped-forward) listener starts: a 60 ms cushion against
/// the phase difference between the hub's tick and the voice worker's tick.
pub const START_BEHIND: u64 = 3;

/// Per-listener counters, shared with the hub for observability.
#[derive(Debug, Default)]
pub struct ListenerCounters {
    pub frames: AtomicU64,
    pub silence: AtomicU64,
    pub skipped: AtomicU64,
}

/// Called when a listener goes away (the manager uses it to count listeners and start the grace timer).
pub trait DetachHook: Send + Sync {
    fn detached(&self);
}

/// One guild's view of a station. Plain data, no Discord types: `src/discord/` wraps it in a songbird input.
pub struct Listener {
    ring: Arc<FrameRing>,
    cursor: u64,
    /// How far behind the head the reader may fall before it jumps forward (slow or paused consumers).
    max_lag: u64,
    counters: Arc<ListenerCounters>,
    silence: Bytes,
    on_drop: Option<Arc<dyn DetachHook>>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("cursor", &self.cursor)
            .field("max_lag", &self.max_lag)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// A listener starting [`START_BEHIND`] frames behind the ring's head.
    pub fn new(ring: Arc<FrameRing>, on_drop: Option<Arc<dyn DetachHook>>) -> Self {
        let max_lag = (ring.capacity() as u64 / 2).max(START_BEHIND + 1);
        let cursor = ring.head().saturating_sub(START_BEHIND);
        Self {
            ring,
            cursor,
            max_lag,
            counters: Arc::default(),
            silence: Bytes::from_static(&SILENCE_FRAME),
            on_drop,
        }
    }

    pub fn counters(&self) -> &Arc<ListenerCounters> {
        &self.counters
    }

    /// The next 20 ms Opus frame. Never blocks: silence when the hub has nothing new yet (the cursor does
    /// not advance, so the listener resumes exactly where the audio continues).
    pub fn next_frame(&mut self) -> Bytes {
        let head = self.ring.head();
        if head.saturating_sub(self.cursor) > self.max_lag {
            self.skip_to(head.saturating_sub(START_BEHIND));
        }
        loop {
            match self.ring.read(self.cursor) {
                Read::Frame(frame) => {
                    self.cursor += 1;
                    self.counters.frames.fetch_add(1, Ordering::Relaxed);
                    return frame.data.clone();
                }
                Read::Underrun => {
                    self.counters.silence.fetch_add(1, Ordering::Relaxed);
                    return self.silence.clone();
                }
                Read::Lagged { resume_at } => self.skip_to(resume_at.max(self.cursor + 1)),
            }
        }
    }

    fn skip_to(&mut self, seq: u64) {
        if seq > self.cursor {
            self.counters
                .skipped
                .fetch_add(seq - self.cursor, Ordering::Relaxed);
            self.cursor = seq;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(hook) = self.on_drop.take() {
            hook.detached();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_with(n: u64, capacity: usize) -> Arc<FrameRing> {
        let ring = Arc::new(FrameRing::new(capacity));
        for i in 0..n {
            ring.push(Bytes::from(i.to_le_bytes().to_vec()));
        }
        ring
    }

    fn seq_of(frame: &Bytes) -> u64 {
        u64::from_le_bytes(frame[..8].try_into().expect("8-byte test frame"))
    }

    #[test]
    fn new_listener_starts_a_few_frames_behind_the_head() {
        let ring = ring_with(10, 64);
        let mut l = Listener::new(ring, None);
        assert_eq!(seq_of(&l.next_frame()), 10 - START_BEHIND);
    }

    #[test]
    fn underrun_yields_silence_and_resumes_without_loss() {
        let ring = ring_with(1, 64);
        let mut l = Listener::new(Arc::clone(&ring), None);
        assert_eq!(seq_of(&l.next_frame()), 0);
        assert_eq!(&l.next_frame()[..], &SILENCE_FRAME);
        assert_eq!(&l.next_frame()[..], &SILENCE_FRAME);
        ring.push(Bytes::from(1u64.to_le_bytes().to_vec()));
        assert_eq!(seq_of(&l.next_frame()), 1);
        assert_eq!(l.counters().silence.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn slow_listener_skips_forward_to_near_the_head() {
        let ring = ring_with(1, 64);
        let mut l = Listener::new(Arc::clone(&ring), None);
        for i in 1..200u64 {
            ring.push(Bytes::from(i.to_le_bytes().to_vec()));
        }
        assert_eq!(seq_of(&l.next_frame()), 200 - START_BEHIND);
        assert!(l.counters().skipped.load(Ordering::Relaxed) > 100);
    }

    #[test]
    fn drop_calls_the_detach_hook_once() {
        struct Count(AtomicU64);
        impl DetachHook for Count {
            fn detached(&self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let hook = Arc::new(Count(AtomicU64::new(0)));
        drop(Listener::new(ring_with(0, 8), Some(hook.clone())));
        assert_eq!(hook.0.load(Ordering::Relaxed), 1);
    }
}
