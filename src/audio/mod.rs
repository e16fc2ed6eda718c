//! The audio engine: station preflight and (later) station hubs.

pub mod decode;
pub mod preflight;
pub mod tone;
pub mod upstream;
