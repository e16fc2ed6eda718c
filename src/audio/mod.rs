//! The audio engine: station preflight and station hubs (one upstream, one encode per station, Opus
//! frames fanned out to every listening guild through a lock-free ring).
//!
//! Every byte here comes from a station: no parser may index or slice by a position it has not proven
//! in range (a panic in a hub once silenced every guild on the station), hence the denied lints.
#![deny(clippy::string_slice, clippy::indexing_slicing)]

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
