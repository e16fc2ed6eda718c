//! The per-guild player session as a pure state machine: `handle(state, event, now) -> (state, effects)`.
//!
//! The Discord side (`src/player/`) owns one session per guild in one task, feeds it [`Event`]s (commands,
//! voice-state changes, timers, upstream health) and executes the [`Effect`]s it returns (join, leave,
//! attach a station, persist the resume entry, announce). Nothing here does I/O or reads a clock: `now`
//! is passed in, so every transition is unit-testable and a property test can drive random sequences.

pub mod session;
pub mod voice;

pub use session::{Effect, Event, Notice, Phase, Session, SessionError, Timings};
pub use voice::VoiceLoss;
