//! Running as a service: the systemd notify protocol (readiness, status, watchdog, stop and reload
//! notifications). Discord-free, so the bot (`alastor run`) plugs in with [`notify::Notifier::from_env`]
//! and [`notify::Watchdog::spawn`], and everything here is testable against a socket a test binds.

pub mod notify;
