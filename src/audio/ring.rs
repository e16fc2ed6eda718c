//! The per-station frame ring: the hub writes each 20 ms Opus frame once, every listener reads it
//! lock-free. Slots are `ArcSwapOption`s tagged with their sequence number, so a reader can always tell a
//! fresh frame from one the writer has already lapped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use bytes::Bytes;

/// One encoded 20 ms Opus frame and its position in the station's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub seq: u64,
    pub data: Bytes,
}

/// What a reader gets for the sequence number it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// The frame at exactly that sequence number.
    Frame(Arc<Frame>),
    /// Nothing written there yet: the reader is at (or ahead of) the head.
    Underrun,
    /// The writer lapped the reader; resume from `resume_at`.
    Lagged { resume_at: u64 },
}

/// A single-writer, many-reader ring of Opus frames.
#[derive(Debug)]
pub struct FrameRing {
    slots: Box<[ArcSwapOption<Frame>]>,
    /// Sequence number the next written frame gets (so `head - 1` is the newest frame).
    head: AtomicU64,
}

impl FrameRing {
    /// A ring holding the last `capacity` frames (at least 4).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(4);
        Self {
            slots: (0..capacity).map(|_| ArcSwapOption::empty()).collect(),
            head: AtomicU64::new(0),
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Sequence number of the next frame to be written.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// Appends a frame and returns its sequence number. Only the hub task calls this.
    // INVARIANT: `slot_of` is `seq % capacity`, always a valid slot index.
    #[allow(clippy::indexing_slicing)]
    pub fn push(&self, data: Bytes) -> u64 {
        // INVARIANT: single writer (the hub task), so a relaxed load of our own counter is exact.
        let seq = self.head.load(Ordering::Relaxed);
        let slot = &self.slots[self.slot_of(seq)];
        slot.store(Some(Arc::new(Frame { seq, data })));
        // Publish after the slot is filled: a reader that sees `head > seq` finds the frame in place.
        self.head.store(seq + 1, Ordering::Release);
        seq
    }

    /// Reads the frame with sequence number `seq`.
    // INVARIANT: `slot_of` is `seq % capacity`, always a valid slot index.
    #[allow(clippy::indexing_slicing)]
    pub fn read(&self, seq: u64) -> Read {
        let head = self.head();
        if seq >= head {
            return Read::Underrun;
        }
        let oldest = head.saturating_sub(self.capacity() as u64);
        if seq < oldest {
            return Read::Lagged { resume_at: oldest };
        }
        match self.slots[self.slot_of(seq)].load_full() {
            Some(frame) if frame.seq == seq => Read::Frame(frame),
            // Overwritten between our head load and the slot load: we are at the very tail.
            _ => Read::Lagged {
                resume_at: self.head().saturating_sub(self.capacity() as u64 / 2),
            },
        }
    }

    fn slot_of(&self, seq: u64) -> usize {
        (seq % self.capacity() as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: u8) -> Bytes {
        Bytes::from(vec![i; 3])
    }

    #[test]
    fn reads_back_what_was_pushed_in_order() {
        let ring = FrameRing::new(8);
        for i in 0..5 {
            assert_eq!(ring.push(frame(i)), u64::from(i));
        }
        for i in 0..5u8 {
            match ring.read(u64::from(i)) {
                Read::Frame(f) => assert_eq!(f.data, frame(i)),
                other => panic!("seq {i}: {other:?}"),
            }
        }
        assert_eq!(ring.read(5), Read::Underrun);
    }

    #[test]
    fn lapped_reader_is_told_where_to_resume() {
        let ring = FrameRing::new(4);
        for i in 0..10 {
            ring.push(frame(i));
        }
        assert_eq!(ring.read(2), Read::Lagged { resume_at: 6 });
        assert!(matches!(ring.read(6), Read::Frame(f) if f.seq == 6));
    }

    #[test]
    fn concurrent_readers_never_see_a_wrong_sequence() {
        let ring = Arc::new(FrameRing::new(16));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let ring = Arc::clone(&ring);
                std::thread::spawn(move || {
                    let mut seen = 0u64;
                    let mut cursor = 0;
                    while seen < 2_000 {
                        match ring.read(cursor) {
                            Read::Frame(f) => {
                                assert_eq!(f.seq, cursor);
                                assert_eq!(f.data[0], (cursor % 251) as u8);
                                cursor += 1;
                                seen += 1;
                            }
                            Read::Underrun => std::thread::yield_now(),
                            Read::Lagged { resume_at } => {
                                assert!(resume_at > cursor);
                                seen += resume_at - cursor;
                                cursor = resume_at;
                            }
                        }
                    }
                })
            })
            .collect();
        for i in 0..5_000u64 {
            ring.push(Bytes::from(vec![(i % 251) as u8; 4]));
        }
        for r in readers {
            r.join().expect("reader thread panicked");
        }
    }
}
