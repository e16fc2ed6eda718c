//! Running as a service: the systemd notify protocol (readiness, status, watchdog, stop and reload
//! notifications) and the Unix signals a service manager sends. Discord-free, so the bot (`alastor run`)
//! plugs in with one call, [`Service::start`], and everything here is testable against a socket a test binds.
//!
//! ```no_run
//! # async fn bot() -> std::io::Result<()> {
//! use alastor::service::{Service, Signal};
//! let service = Service::start();                // NOTIFY_SOCKET + WATCHDOG_USEC from the environment
//! let mut signals = alastor::service::Signals::new()?;
//! // ... connect, index ...
//! service.ready("3 guilds playing");
//! loop {
//!     match signals.next().await {
//!         Signal::Reload => { service.reloading("reloading packs"); /* reload */ service.ready("reloaded"); }
//!         Signal::Shutdown => { service.stopping("saving resume state"); break; }
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod notify;

use std::sync::Arc;

use notify::{Notifier, Watchdog};

/// The bot's side of the service manager: notifications plus the watchdog task. Notification failures are
/// logged, never returned: systemd acts on missing notifications itself.
#[derive(Debug)]
pub struct Service {
    notifier: Arc<Notifier>,
    _watchdog: Option<Watchdog>,
}

impl Service {
    /// From the environment, with [`notify::runtime_responsive`] as the watchdog's health probe.
    /// Must be called inside a tokio runtime (the watchdog is a task).
    pub fn start() -> Self {
        Self::start_with_probe(notify::runtime_responsive)
    }

    /// Like [`Service::start`] with the app's own health probe (e.g. "gateway heartbeats acknowledged").
    pub fn start_with_probe<P, F>(probe: P) -> Self
    where
        P: Fn() -> F + Send + 'static,
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        let notifier = Arc::new(Notifier::from_env().unwrap_or_else(|error| {
            tracing::warn!(%error, "systemd notifications disabled");
            Notifier::disabled()
        }));
        let watchdog = Watchdog::spawn_from_env(Arc::clone(&notifier), probe);
        Self {
            notifier,
            _watchdog: watchdog,
        }
    }

    /// Wraps an explicit notifier (tests, or a manager other than systemd); no watchdog.
    pub fn with_notifier(notifier: Notifier) -> Self {
        Self {
            notifier: Arc::new(notifier),
            _watchdog: None,
        }
    }

    pub fn notifier(&self) -> &Arc<Notifier> {
        &self.notifier
    }

    /// `READY=1` + `STATUS=`: connected and indexed (also ends a reload).
    pub fn ready(&self, status: &str) {
        log_failure(self.notifier.ready(status));
    }

    /// `STATUS=`, e.g. "3 guilds playing".
    pub fn status(&self, status: &str) {
        log_failure(self.notifier.status(status));
    }

    /// `RELOADING=1` + `MONOTONIC_USEC`; call [`Service::ready`] when done.
    pub fn reloading(&self, status: &str) {
        log_failure(self.notifier.reloading(status));
    }

    /// `STOPPING=1`: shutdown started (resume state is being written).
    pub fn stopping(&self, status: &str) {
        log_failure(self.notifier.stopping(status));
    }
}

fn log_failure(result: Result<(), notify::NotifyError>) {
    if let Err(error) = result {
        tracing::warn!(%error, "sd_notify failed");
    }
}

/// What a service manager asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGHUP (`systemctl reload`): re-read configuration and packs.
    Reload,
    /// SIGTERM (`systemctl stop`, `docker stop`) or SIGINT (Ctrl-C): write resume state and exit.
    Shutdown,
}

/// SIGHUP/SIGTERM/SIGINT as a stream of [`Signal`]s. Creating it replaces the default actions (terminate),
/// so create it early, before the slow startup work.
#[derive(Debug)]
pub struct Signals {
    hangup: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; must be called inside a tokio runtime.
    pub fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next signal; shutdown wins when both are pending.
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            biased;
            _ = self.terminate.recv() => Signal::Shutdown,
            _ = self.interrupt.recv() => Signal::Shutdown,
            _ = self.hangup.recv() => Signal::Reload,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;
    use std::time::Duration;

    use super::*;

    fn send_signal(name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(std::process::id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    #[tokio::test]
    async fn sighup_is_a_reload_and_sigterm_a_shutdown() {
        let mut signals = Signals::new().expect("handlers");
        send_signal("HUP");
        let first = tokio::time::timeout(Duration::from_secs(5), signals.next()).await;
        assert_eq!(first, Ok(Signal::Reload));
        send_signal("TERM");
        let second = tokio::time::timeout(Duration::from_secs(5), signals.next()).await;
        assert_eq!(second, Ok(Signal::Shutdown));
    }

    #[test]
    fn service_lifecycle_notifications_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let service =
            Service::with_notifier(Notifier::connect(path.as_os_str()).expect("notifier"));
        service.ready("2 guilds playing");
        service.reloading("reloading packs");
        service.ready("reloaded");
        service.stopping("saving resume state");
        let mut buffer = [0_u8; 1024];
        let mut received = Vec::new();
        for _ in 0..4 {
            let n = socket.recv(&mut buffer).expect("datagram");
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            received.push(text.lines().next().unwrap_or_default().to_owned());
        }
        assert_eq!(
            received,
            ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]
        );
    }

    #[test]
    fn a_service_without_systemd_stays_silent() {
        let service = Service::with_notifier(Notifier::disabled());
        service.ready("up");
        service.stopping("down");
        assert!(!service.notifier().is_enabled());
    }
}
