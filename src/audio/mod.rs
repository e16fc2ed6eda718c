//! The audio engine: station preflight and (later) station hubs.
