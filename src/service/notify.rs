//! The systemd notify protocol (`sd_notify(3)`): one datagram of `KEY=VALUE` lines per notification, sent to
//! the socket named by `NOTIFY_SOCKET` (a filesystem path, or `@name` for the abstract namespace). Outside
//! systemd (`NOTIFY_SOCKET` unset) every call is a no-op, so the bot can notify unconditionally.
//!
//! [`Watchdog`] pings `WATCHDOG=1` at half of `WATCHDOG_USEC`, but only while the application's health probe
//! says healthy: a wedged process stops pinging and systemd restarts it (`WatchdogSec` + `Restart=`).
//!
//! Notification failures never stop the bot: they are returned to the caller, who logs them; systemd itself
//! notices a missing `READY=1` or watchdog ping and acts on it.

use std::ffi::OsStr;
use std::future::Future;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

/// Environment variable naming the notification socket.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
/// Environment variable carrying the watchdog timeout in microseconds.
pub const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
/// Environment variable naming the process the watchdog timeout is meant for.
pub const WATCHDOG_PID: &str = "WATCHDOG_PID";

/// Why a notification could not be set up or sent.
#[derive(Debug, Error)]
pub enum NotifyError {
    #[error(
        "NOTIFY_SOCKET=`{value}` is not supported: expected an absolute socket path or `@abstract-name`"
    )]
    UnsupportedAddress { value: String },
    #[error("NOTIFY_SOCKET=`{value}`: {source}")]
    Address { value: String, source: io::Error },
    #[error("creating the sd_notify socket: {0}")]
    Socket(#[source] io::Error),
    #[error("sending `{message}` to NOTIFY_SOCKET=`{target}`: {source}")]
    Send {
        message: String,
        target: String,
        source: io::Error,
    },
    #[error("a notification must not contain a newline in its value: `{0}`")]
    Newline(String),
}

/// One state change sent to the service manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Startup finished: connected and indexed.
    Ready,
    /// Free-form status line shown by `systemctl status` (one line).
    Status(String),
    /// Keep-alive for `WatchdogSec`.
    Watchdog,
    /// Shutdown started.
    Stopping,
    /// Reload started (`systemctl reload`); `Type=notify-reload` also needs `MONOTONIC_USEC`.
    Reloading { monotonic_usec: u64 },
}

impl State {
    /// `RELOADING=1` stamped with the current `CLOCK_MONOTONIC`, as systemd expects.
    pub fn reloading_now() -> Self {
        Self::Reloading {
            monotonic_usec: monotonic_usec_now(),
        }
    }

    fn write(&self, out: &mut String) -> Result<(), NotifyError> {
        match self {
            Self::Ready => out.push_str("READY=1\n"),
            Self::Status(text) => {
                // INVARIANT: one state per line; a newline would smuggle in another key.
                if text.contains('\n') {
                    return Err(NotifyError::Newline(text.clone()));
                }
                out.push_str("STATUS=");
                out.push_str(text);
                out.push('\n');
            }
            Self::Watchdog => out.push_str("WATCHDOG=1\n"),
            Self::Stopping => out.push_str("STOPPING=1\n"),
            Self::Reloading { monotonic_usec } => {
                out.push_str("RELOADING=1\nMONOTONIC_USEC=");
                out.push_str(&monotonic_usec.to_string());
                out.push('\n');
            }
        }
        Ok(())
    }
}

/// `CLOCK_MONOTONIC` in microseconds: the clock systemd compares `MONOTONIC_USEC` against.
pub fn monotonic_usec_now() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (now.tv_sec as u64) * 1_000_000 + (now.tv_nsec as u64) / 1_000
}

/// Encodes states into one datagram payload.
pub fn encode(states: &[State]) -> Result<String, NotifyError> {
    let mut out = String::new();
    for state in states {
        state.write(&mut out)?;
    }
    Ok(out)
}

/// Sends notifications to the service manager, or nothing when not running under one.
#[derive(Debug)]
pub struct Notifier {
    target: Option<Target>,
}

#[derive(Debug)]
struct Target {
    socket: UnixDatagram,
    address: SocketAddr,
    display: String,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`; a no-op notifier when it is unset or empty.
    pub fn from_env() -> Result<Self, NotifyError> {
        match std::env::var_os(NOTIFY_SOCKET) {
            Some(value) if !value.is_empty() => Self::connect(&value),
            _ => Ok(Self::disabled()),
        }
    }

    /// A notifier that sends nothing (not under systemd, or in tests of the app).
    pub fn disabled() -> Self {
        Self { target: None }
    }

    /// A notifier for an explicit `NOTIFY_SOCKET` value: `/abs/path` or `@abstract`.
    pub fn connect(value: &OsStr) -> Result<Self, NotifyError> {
        let display = value.to_string_lossy().into_owned();
        let bytes = value.as_bytes();
        let address = if let Some(name) = bytes.strip_prefix(b"@") {
            abstract_address(name).map_err(|source| NotifyError::Address {
                value: display.clone(),
                source,
            })?
        } else if bytes.starts_with(b"/") {
            SocketAddr::from_pathname(value).map_err(|source| NotifyError::Address {
                value: display.clone(),
                source,
            })?
        } else {
            return Err(NotifyError::UnsupportedAddress { value: display });
        };
        let socket = UnixDatagram::unbound().map_err(NotifyError::Socket)?;
        Ok(Self {
            target: Some(Target {
                socket,
                address,
                display,
            }),
        })
    }

    /// Whether notifications go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends all states in one datagram (so e.g. `READY=1` and its `STATUS=` arrive together).
    pub fn notify(&self, states: &[State]) -> Result<(), NotifyError> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let message = encode(states)?;
        target
            .socket
            .send_to_addr(message.as_bytes(), &target.address)
            .map(drop)
            .map_err(|source| NotifyError::Send {
                message: message.trim_end().replace('\n', " "),
                target: target.display.clone(),
                source,
            })
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&[State::Ready, State::Status(status.to_owned())])
    }

    /// `STATUS=...`, e.g. "3 guilds playing".
    pub fn status(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&[State::Status(status.to_owned())])
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) -> Result<(), NotifyError> {
        self.notify(&[State::Watchdog])
    }

    /// `STOPPING=1` with a status line.
    pub fn stopping(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&[State::Stopping, State::Status(status.to_owned())])
    }

    /// `RELOADING=1` + `MONOTONIC_USEC`; send [`Notifier::ready`] when the reload is done.
    pub fn reloading(&self, status: &str) -> Result<(), NotifyError> {
        self.notify(&[State::reloading_now(), State::Status(status.to_owned())])
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &[u8]) -> io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt as _;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt as _;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets exist only on Linux",
    ))
}

/// The watchdog ping period from `WATCHDOG_USEC`/`WATCHDOG_PID`: half the timeout, as `sd_watchdog_enabled(3)`
/// recommends, or `None` when no watchdog is configured for this process.
pub fn watchdog_period(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&usec| usec > 0)?;
    // WATCHDOG_PID set for another process (e.g. inherited by a child) means "not for us".
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok() != Some(own_pid)
    {
        return None;
    }
    Some(Duration::from_micros(usec) / 2)
}

/// [`watchdog_period`] for this process, from its environment.
pub fn watchdog_period_from_env() -> Option<Duration> {
    let usec = std::env::var(WATCHDOG_USEC).ok();
    let pid = std::env::var(WATCHDOG_PID).ok();
    watchdog_period(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// Periodic `WATCHDOG=1` gated on a health probe. Dropping it stops the pings.
#[derive(Debug)]
pub struct Watchdog {
    task: tokio::task::JoinHandle<()>,
}

impl Watchdog {
    /// Pings every `period` while `probe` returns `Ok` within `period` (a probe that hangs counts as
    /// unhealthy). On an unhealthy probe it skips the ping and reports the reason as `STATUS=`, so
    /// `systemctl status` says why systemd is about to restart the service.
    ///
    /// Must be called inside a tokio runtime.
    pub fn spawn<P, F>(notifier: Arc<Notifier>, period: Duration, probe: P) -> Self
    where
        P: Fn() -> F + Send + 'static,
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            // A late tick (a stalled runtime) must not be followed by a burst: that would hide the stall.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut was_healthy = true;
            loop {
                ticks.tick().await;
                let verdict = match tokio::time::timeout(period, probe()).await {
                    Ok(verdict) => verdict,
                    Err(_) => Err(format!("health probe did not answer within {period:?}")),
                };
                let sent = match verdict {
                    Ok(()) => {
                        if !was_healthy {
                            tracing::info!("health probe recovered; watchdog pings resume");
                        }
                        was_healthy = true;
                        notifier.watchdog()
                    }
                    Err(reason) => {
                        if was_healthy {
                            tracing::warn!(%reason, "unhealthy: withholding watchdog pings");
                        }
                        was_healthy = false;
                        notifier.status(&format!("unhealthy: {}", reason.replace('\n', " ")))
                    }
                };
                if let Err(error) = sent {
                    tracing::warn!(%error, "sd_notify failed");
                }
            }
        });
        Self { task }
    }

    /// [`Watchdog::spawn`] with the period from the environment; `None` when systemd set no watchdog.
    pub fn spawn_from_env<P, F>(notifier: Arc<Notifier>, probe: P) -> Option<Self>
    where
        P: Fn() -> F + Send + 'static,
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        if !notifier.is_enabled() {
            return None;
        }
        watchdog_period_from_env().map(|period| Self::spawn(notifier, period, probe))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A basic liveness probe: the runtime still schedules and completes a freshly spawned task. Blocked worker
/// threads or a deadlocked scheduler make it time out in the [`Watchdog`].
pub async fn runtime_responsive() -> Result<(), String> {
    tokio::spawn(async {})
        .await
        .map_err(|error| format!("runtime could not run a task: {error}"))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use rstest::rstest;

    use super::*;

    fn bound(dir: &tempfile::TempDir) -> (std::path::PathBuf, UnixDatagram) {
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind");
        (path, socket)
    }

    fn receive(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buffer = [0_u8; 4096];
        let n = socket.recv(&mut buffer).expect("datagram");
        String::from_utf8(buffer[..n].to_vec()).expect("utf-8")
    }

    fn drain(socket: &UnixDatagram) -> Vec<String> {
        socket.set_nonblocking(true).expect("nonblocking");
        let mut buffer = [0_u8; 4096];
        let mut out = Vec::new();
        while let Ok(n) = socket.recv(&mut buffer) {
            out.push(String::from_utf8(buffer[..n].to_vec()).expect("utf-8"));
        }
        out
    }

    #[test]
    fn ready_and_status_arrive_in_one_datagram_on_a_path_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, socket) = bound(&dir);
        let notifier = Notifier::connect(path.as_os_str()).expect("notifier");
        assert!(notifier.is_enabled());
        notifier.ready("3 guilds playing").expect("send");
        assert_eq!(receive(&socket), "READY=1\nSTATUS=3 guilds playing\n");
        notifier.watchdog().expect("send");
        assert_eq!(receive(&socket), "WATCHDOG=1\n");
        notifier.stopping("saving resume state").expect("send");
        assert_eq!(receive(&socket), "STOPPING=1\nSTATUS=saving resume state\n");
    }

    #[test]
    fn abstract_socket_receives_notifications() {
        use std::os::linux::net::SocketAddrExt as _;
        let name = format!("alastor-test-{}-{}", std::process::id(), fastrand::u64(..));
        let address = SocketAddr::from_abstract_name(name.as_bytes()).expect("address");
        let socket = UnixDatagram::bind_addr(&address).expect("bind abstract");
        let notifier = Notifier::connect(OsStr::new(&format!("@{name}"))).expect("notifier");
        notifier.status("indexing").expect("send");
        assert_eq!(receive(&socket), "STATUS=indexing\n");
    }

    #[test]
    fn reloading_carries_a_current_monotonic_timestamp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, socket) = bound(&dir);
        let notifier = Notifier::connect(path.as_os_str()).expect("notifier");
        let before = monotonic_usec_now();
        notifier.reloading("reloading packs").expect("send");
        let after = monotonic_usec_now();
        let message = receive(&socket);
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines[0], "RELOADING=1");
        let stamp: u64 = lines[1]
            .strip_prefix("MONOTONIC_USEC=")
            .expect("MONOTONIC_USEC line")
            .parse()
            .expect("number");
        assert!(
            (before..=after).contains(&stamp),
            "{before} <= {stamp} <= {after}"
        );
        assert_eq!(lines[2], "STATUS=reloading packs");
    }

    #[test]
    fn disabled_notifier_is_a_silent_no_op() {
        let notifier = Notifier::disabled();
        assert!(!notifier.is_enabled());
        notifier.ready("up").expect("no-op");
        notifier.watchdog().expect("no-op");
    }

    #[rstest]
    #[case("relative/notify.sock")]
    #[case("vsock:2:1234")]
    fn unsupported_addresses_are_named_in_the_error(#[case] value: &str) {
        let error = Notifier::connect(OsStr::new(value)).expect_err("unsupported");
        assert!(error.to_string().contains(value), "{error}");
    }

    #[test]
    fn a_missing_listener_is_an_error_naming_the_socket_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nobody-listens.sock");
        let notifier = Notifier::connect(path.as_os_str()).expect("notifier");
        let error = notifier.watchdog().expect_err("nobody listens");
        let text = error.to_string();
        assert!(
            text.contains("WATCHDOG=1") && text.contains("nobody-listens.sock"),
            "{text}"
        );
    }

    #[test]
    fn status_with_a_newline_is_refused_instead_of_injecting_a_key() {
        let error = encode(&[State::Status("ok\nREADY=1".into())]).expect_err("newline");
        assert!(matches!(error, NotifyError::Newline(_)));
    }

    #[rstest]
    #[case(Some("30000000"), None, Some(Duration::from_secs(15)))]
    #[case(Some("30000000"), Some("4242"), Some(Duration::from_secs(15)))]
    #[case(Some("30000000"), Some("1"), None)]
    #[case(Some("0"), None, None)]
    #[case(Some("soon"), None, None)]
    #[case(None, Some("4242"), None)]
    fn watchdog_period_is_half_the_timeout_for_this_process(
        #[case] usec: Option<&str>,
        #[case] pid: Option<&str>,
        #[case] expected: Option<Duration>,
    ) {
        assert_eq!(watchdog_period(usec, pid, 4242), expected);
    }

    #[tokio::test(start_paused = true)]
    async fn watchdog_pings_each_period_while_healthy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, socket) = bound(&dir);
        let notifier = Arc::new(Notifier::connect(path.as_os_str()).expect("notifier"));
        let watchdog = Watchdog::spawn(notifier, Duration::from_secs(10), || async { Ok(()) });
        // Ticks at 0, 10, 20, 30 s of paused time.
        tokio::time::sleep(Duration::from_secs(35)).await;
        drop(watchdog);
        assert_eq!(drain(&socket), vec!["WATCHDOG=1\n"; 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn watchdog_withholds_pings_while_unhealthy_and_resumes_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, socket) = bound(&dir);
        let notifier = Arc::new(Notifier::connect(path.as_os_str()).expect("notifier"));
        let healthy = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&healthy);
        let watchdog = Watchdog::spawn(notifier, Duration::from_secs(10), move || {
            let healthy = flag.load(Ordering::SeqCst);
            async move {
                if healthy {
                    Ok(())
                } else {
                    Err("voice gateway\nwedged".to_owned())
                }
            }
        });
        tokio::time::sleep(Duration::from_secs(25)).await;
        let unhealthy = drain(&socket);
        assert_eq!(
            unhealthy,
            vec!["STATUS=unhealthy: voice gateway wedged\n"; 3]
        );
        healthy.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(watchdog);
        assert_eq!(drain(&socket), vec!["WATCHDOG=1\n"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_probe_counts_as_unhealthy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, socket) = bound(&dir);
        let notifier = Arc::new(Notifier::connect(path.as_os_str()).expect("notifier"));
        let watchdog = Watchdog::spawn(notifier, Duration::from_secs(10), || {
            std::future::pending::<Result<(), String>>()
        });
        tokio::time::sleep(Duration::from_secs(15)).await;
        drop(watchdog);
        let messages = drain(&socket);
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].starts_with("STATUS=unhealthy: health probe did not answer"),
            "{messages:?}"
        );
    }

    #[tokio::test]
    async fn runtime_responsive_probe_is_healthy_on_a_live_runtime() {
        assert_eq!(runtime_responsive().await, Ok(()));
    }
}
