//! The audio engine: station preflight and station hubs (one upstream, one encode per station, Opus
//! frames fanned out to every listening guild through a lock-free ring).

pub mod backoff;
pub mod decode;
pub mod encode;
pub mod hub;
pub mod listener;
pub mod manager;
pub mod preflight;
pub mod resample;
pub mod ring;
pub mod source;
pub mod station_source;
pub mod tone;
pub mod upstream;
