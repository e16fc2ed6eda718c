//! Alastor: a self-hosted Discord radio bot.
//!
//! The crate is split by concern (see README, "Architecture"):
//! - [`core`]: Discord-free domain logic (stations, search, store, player state, wizard, policy, limits).
//! - [`audio`]: station hubs — upstream, decode, one Opus encode per station, fan-out to listeners.
//! - [`config`]: layered configuration (defaults < `alastor.toml` < `ALASTOR_*` environment).
//! - [`service`]: systemd integration (`sd_notify` readiness, status and watchdog).
//! - [`telemetry`]: tracing setup for terminals, journald and JSON.
//! - [`discord`]: the Discord adapter (poise commands, events, checks, rendering); [`app`] wires it all.
//! - [`player`]: playback in voice (one task per guild over songbird, fed by the station hubs).
//! - [`cli`]: the `alastor` subcommands; `main.rs` only parses arguments and maps errors to exit codes.

pub mod app;
pub mod audio;
pub mod cli;
pub mod config;
pub mod core;
pub mod discord;
pub mod player;
pub mod service;
pub mod telemetry;
