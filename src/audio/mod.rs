//! The audio engine: station preflight and station hubs (one upstream, one encode per station, Opus
//! frames fanned out to every listening guild through a lock-free ring).

pub mod backoff;
pub mod encode;
pub mod hub;
pub mod listener;
pub mod manager;
pub mod resample;
pub mod ring;
pub mod source;
