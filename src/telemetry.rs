//! Tracing setup: compact human output on a terminal, plain lines under systemd (journald adds timestamps),
//! or JSON. `RUST_LOG` wins over the configured filter. Never log the token: config `Debug` redacts it.
//!
//! Libraries that log routine work at INFO (tantivy's `save metas` on every index commit, symphonia's
//! warnings about stream discontinuities that the hub already handles) are held below the configured
//! level unless the filter names them itself: see [`QUIET_LIBRARIES`].
//!
//! Under journald (`JOURNAL_STREAM` set) every line starts with a syslog priority (`<3>` error … `<7>` debug),
//! which journald strips and stores, so `journalctl -p warning` filters Alastor's lines like any daemon's.

use std::fmt;
use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber; logs go to stderr so stdout stays clean for `--json` output.
/// Calling it twice is harmless (the second call is ignored), which keeps tests simple.
///
/// `secrets` (the bot token) are replaced by `[redacted]` in every line written, at every level; the
/// websocket crates, which dump whole frames (the IDENTIFY with the token, as hex and as byte lists) at
/// debug and trace, are held at info whatever the filter says.
pub fn init(config: &LogConfig, secrets: &[&str]) {
    let (filter, refused_env) =
        build_filter(std::env::var("RUST_LOG").ok().as_deref(), &config.filter);
    let writer = RedactingStderr::new(secrets);
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let format = match config.format {
        LogFormat::Auto if under_journald || !std::io::stderr().is_terminal() => LogFormat::Plain,
        LogFormat::Auto => LogFormat::Human,
        other => other,
    };
    if format == LogFormat::Plain && under_journald {
        let _ = tracing::subscriber::set_global_default(journald_subscriber(filter, writer));
    } else {
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer);
        let _ = match format {
            LogFormat::Json => builder.json().with_current_span(true).try_init(),
            LogFormat::Plain => builder.with_ansi(false).without_time().compact().try_init(),
            LogFormat::Human | LogFormat::Auto => builder.compact().try_init(),
        };
    }
    if let Some(error) = refused_env {
        tracing::warn!(%error, "RUST_LOG is not a valid filter; using log.filter instead");
    }
}

/// Crates that log whole websocket frames at debug and trace: the gateway's IDENTIFY carries the token.
pub const FRAME_DUMPERS: &[&str] = &["tungstenite", "tokio_tungstenite"];

/// The filter from `RUST_LOG` (when set and valid) or the configured one (validated at load), with the
/// quiet libraries and the frame dumpers capped. The second value is why `RUST_LOG` was refused.
fn build_filter(rust_log: Option<&str>, configured: &str) -> (EnvFilter, Option<String>) {
    let build = |filter: &str| EnvFilter::try_new(cap_frame_dumpers(&with_quiet_libraries(filter)));
    let mut refused = None;
    if let Some(env) = rust_log.filter(|v| !v.trim().is_empty()) {
        match build(env) {
            Ok(filter) => return (filter, None),
            Err(e) => refused = Some(e.to_string()),
        }
    }
    let filter = build(configured).unwrap_or_else(|_| EnvFilter::new(cap_frame_dumpers("info")));
    (filter, refused)
}

/// `filter` without its directives for [`FRAME_DUMPERS`], and with those held at info.
pub fn cap_frame_dumpers(filter: &str) -> String {
    let mut directives: Vec<&str> = filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| !FRAME_DUMPERS.iter().any(|target| d.starts_with(target)))
        .collect();
    let caps: Vec<String> = FRAME_DUMPERS.iter().map(|t| format!("{t}=info")).collect();
    directives.extend(caps.iter().map(String::as_str));
    directives.join(",")
}

/// stderr, with every secret replaced by `[redacted]` in what is written. The fmt layer writes each
/// event in one call, so a secret never straddles two writes.
#[derive(Clone)]
struct RedactingStderr {
    secrets: std::sync::Arc<[Vec<u8>]>,
}

impl RedactingStderr {
    fn new(secrets: &[&str]) -> Self {
        Self {
            // Short "secrets" would redact ordinary words; a token is 59+ characters.
            secrets: secrets
                .iter()
                .filter(|s| s.len() >= 8)
                .map(|s| s.as_bytes().to_vec())
                .collect(),
        }
    }
}

impl<'w> MakeWriter<'w> for RedactingStderr {
    type Writer = Redacting<std::io::Stderr>;
    fn make_writer(&'w self) -> Self::Writer {
        Redacting {
            inner: std::io::stderr(),
            secrets: std::sync::Arc::clone(&self.secrets),
        }
    }
}

/// A writer that redacts secrets on the way through.
pub struct Redacting<W> {
    inner: W,
    secrets: std::sync::Arc<[Vec<u8>]>,
}

impl<W: std::io::Write> std::io::Write for Redacting<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut out = std::borrow::Cow::Borrowed(bytes);
        for secret in self.secrets.iter() {
            if out.windows(secret.len()).any(|w| w == secret.as_slice()) {
                out = std::borrow::Cow::Owned(replace_all(&out, secret, b"[redacted]"));
            }
        }
        self.inner.write_all(&out)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while !rest.is_empty() {
        if rest.starts_with(needle) {
            out.extend_from_slice(with);
            rest = rest.get(needle.len()..).unwrap_or_default();
        } else if let Some((&first, tail)) = rest.split_first() {
            out.push(first);
            rest = tail;
        }
    }
    out
}

/// Library targets and the level they are held at (a directive's target matches every target that
/// starts with it, so `symphonia` covers `symphonia_core`, `symphonia_bundle_mp3`, …).
pub const QUIET_LIBRARIES: &[(&str, &str)] = &[("tantivy", "warn"), ("symphonia", "error")];

/// The configured filter plus a directive for every quiet library it does not mention itself
/// (`alastor.toml`'s `filter = "tantivy=debug"` still gets tantivy's debug lines).
pub fn with_quiet_libraries(filter: &str) -> String {
    let mut out = filter.trim().to_owned();
    for (target, level) in QUIET_LIBRARIES {
        let named = filter
            .split(',')
            .any(|directive| directive.trim().starts_with(target));
        if !named {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(target);
            out.push('=');
            out.push_str(level);
        }
    }
    out
}

/// Plain compact lines with a syslog priority prefix, for stderr connected to journald.
pub fn journald_subscriber<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .event_format(SyslogPriority(
            tracing_subscriber::fmt::format().compact().without_time(),
        ))
        .finish()
}

/// Prefixes each event with `<N>` (sd-daemon(3) priority levels) before the wrapped format.
struct SyslogPriority<F>(F);

impl<S, N, F> FormatEvent<S, N> for SyslogPriority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

/// syslog priorities: 3 err, 4 warning, 6 info, 7 debug (tracing has no notice/crit).
fn priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn journald_lines_carry_priorities_and_no_ansi_or_timestamps() {
        let buffer = Buffer::default();
        let subscriber = journald_subscriber(EnvFilter::new("debug"), buffer.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(station = "fip", "stream lost");
            tracing::warn!("reconnecting");
            tracing::info!("playing");
            tracing::debug!("buffer ok");
            tracing::trace!("filtered out");
        });
        let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        for (line, prefix) in lines.iter().zip(["<3>", "<4>", "<6>", "<7>"]) {
            assert!(
                line.starts_with(prefix),
                "{line:?} should start with {prefix}"
            );
        }
        assert!(
            lines[0].contains("stream lost") && lines[0].contains("station=\"fip\""),
            "{text}"
        );
        assert!(
            !text.contains('\u{1b}'),
            "ANSI escape in journald output: {text:?}"
        );
        // No timestamp: the level follows the priority directly.
        assert!(
            lines[0].starts_with("<3>ERROR") || lines[0].starts_with("<3> ERROR"),
            "{text}"
        );
    }

    #[test]
    fn frame_dumpers_stay_at_info_whatever_the_filter_says() {
        assert_eq!(
            cap_frame_dumpers("trace"),
            "trace,tungstenite=info,tokio_tungstenite=info"
        );
        assert_eq!(
            cap_frame_dumpers("debug,tungstenite=trace,alastor=trace"),
            "debug,alastor=trace,tungstenite=info,tokio_tungstenite=info"
        );
        let (filter, refused) = build_filter(Some("not a [valid filter"), "warn");
        assert!(refused.is_some());
        assert!(filter.to_string().contains("warn"), "{filter}");
    }

    #[test]
    fn secrets_are_redacted_in_every_line() {
        let token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnop";
        let buffer = Buffer::default();
        let mut writer = Redacting {
            inner: buffer.clone(),
            secrets: std::sync::Arc::from(vec![token.as_bytes().to_vec()]),
        };
        let line = format!("identify {{\"token\":\"{token}\"}} and again {token}\n");
        std::io::Write::write_all(&mut writer, line.as_bytes()).expect("write");
        let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(
            text,
            "identify {\"token\":\"[redacted]\"} and again [redacted]\n"
        );
    }

    #[test]
    fn library_info_noise_is_below_the_default_level() {
        assert_eq!(
            with_quiet_libraries("info"),
            "info,tantivy=warn,symphonia=error"
        );
        assert_eq!(
            with_quiet_libraries("info,tantivy=debug"),
            "info,tantivy=debug,symphonia=error"
        );
        let buffer = Buffer::default();
        let subscriber =
            journald_subscriber(EnvFilter::new(with_quiet_libraries("info")), buffer.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "tantivy::indexer::segment_updater", "save metas");
            tracing::warn!(target: "symphonia_bundle_mp3::demuxer", "discontinuity");
            tracing::info!(target: "alastor::app", "started");
        });
        let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
        assert!(!text.contains("save metas"), "{text}");
        assert!(!text.contains("discontinuity"), "{text}");
        assert!(text.contains("started"), "{text}");
    }
}
