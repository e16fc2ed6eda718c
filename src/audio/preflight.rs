//! Station preflight: does a station answer, and does what it sends decode as audio?
//!
//! Used by `alastor stations check` and before joining voice. Each stream URL of a station is tried in
//! order (fallbacks) within one overall budget; the first that decodes `decode` seconds of real audio
//! makes the station healthy. The report keeps everything learned on the way (status, redirects,
//! playlists, content type, ICY headers, codec, rate, channels, bitrate, first title) and, on failure, a
//! [`Failure`] with a sentence a user can act on.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde::Serialize;
use url::Url;

use super::decode::{DecodeError, DecodeEvent, FormatHint, StreamDecoder};
use super::upstream::connect::{ConnectError, ConnectOptions, open};
use super::upstream::icy::IcyHeaders;
use crate::config::CheckConfig;
use crate::core::station::Station;

/// How long a preflight may take and how much audio it must decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreflightBudget {
    /// Everything for one station, fallbacks included.
    pub timeout: Duration,
    /// Audio to decode before calling a URL healthy.
    pub decode: Duration,
    /// See [`ConnectOptions::allow_private_targets`].
    pub allow_private_targets: bool,
}

impl PreflightBudget {
    pub fn from_config(check: &CheckConfig) -> Self {
        Self {
            timeout: check.timeout,
            decode: check.decode,
            allow_private_targets: false,
        }
    }

    /// Connect and stall limits derived from the budget: a stall must be noticed well within it.
    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            connect_timeout: self.timeout.min(Duration::from_secs(5)),
            stall_timeout: (self.timeout / 2).min(Duration::from_secs(5)),
            allow_private_targets: self.allow_private_targets,
            ..ConnectOptions::default()
        }
    }
}

/// What to check: a station, or bare URLs.
#[derive(Debug, Clone)]
pub struct Target {
    pub station: Option<String>,
    pub name: Option<String>,
    /// In order of preference.
    pub urls: Vec<Url>,
}

impl From<&Station> for Target {
    fn from(s: &Station) -> Self {
        Self {
            station: Some(s.id.to_string()),
            name: Some(s.name.clone()),
            urls: s.streams.clone(),
        }
    }
}

/// Why a station (or one of its URLs) failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// The server answered with an error status (404, 403, 503, …).
    HttpStatus {
        status: u16,
    },
    /// No answer (or no audio) within the budget.
    Timeout,
    /// The connection opened, then the server went silent.
    Stalled,
    /// A web page or other non-audio answer.
    NotAudio {
        content_type: String,
    },
    /// Bytes arrived but no audio decoder could make sense of them.
    Undecodable {
        detail: String,
    },
    /// The stream ended after this much audio (a radio stream should not end).
    EndedEarly {
        seconds: f64,
    },
    /// A playlist that points nowhere, loops or nests too deep.
    Playlist {
        detail: String,
    },
    Dns {
        detail: String,
    },
    Tls {
        detail: String,
    },
    Connect {
        detail: String,
    },
    /// We would not follow where the station sent us (into a private network).
    Refused {
        detail: String,
    },
    Other {
        detail: String,
    },
}

impl Failure {
    /// One sentence for people (CLI table, Discord reply).
    pub fn user_message(&self) -> String {
        match self {
            Self::HttpStatus { status: 404 } => {
                "the stream URL was not found (HTTP 404): the station may have moved".to_owned()
            }
            Self::HttpStatus { status } if *status >= 500 => {
                format!("the station's server has a problem (HTTP {status})")
            }
            Self::HttpStatus { status } => {
                format!("the station refused the request (HTTP {status})")
            }
            Self::Timeout => "the station did not answer in time".to_owned(),
            Self::Stalled => "the station connected but stopped sending audio".to_owned(),
            Self::NotAudio { content_type } => {
                format!(
                    "the URL serves a web page or other non-audio content ({content_type}), not a stream"
                )
            }
            Self::Undecodable { detail } => format!("the audio could not be decoded ({detail})"),
            Self::EndedEarly { seconds } => {
                format!("the stream ended after {seconds:.1} s of audio")
            }
            Self::Playlist { detail } => format!("the station's playlist is unusable ({detail})"),
            Self::Dns { .. } => "the station's host name does not resolve".to_owned(),
            Self::Tls { detail } => format!("a secure connection could not be made ({detail})"),
            Self::Connect { detail } => format!("could not connect to the station ({detail})"),
            Self::Refused { detail } => format!("not followed for safety: {detail}"),
            Self::Other { detail } => detail.clone(),
        }
    }

    fn from_connect(e: &ConnectError) -> Self {
        match e {
            ConnectError::Status { status, .. } => Self::HttpStatus { status: *status },
            ConnectError::Timeout { .. } => Self::Timeout,
            ConnectError::Stalled { .. } => Self::Stalled,
            ConnectError::Dns { detail, .. } => Self::Dns {
                detail: detail.clone(),
            },
            ConnectError::Tls { detail, .. } => Self::Tls {
                detail: detail.clone(),
            },
            ConnectError::Connect { detail, .. } => Self::Connect {
                detail: detail.clone(),
            },
            ConnectError::NotAudio { content_type, .. } => Self::NotAudio {
                content_type: content_type.clone(),
            },
            ConnectError::Empty { .. } => Self::EndedEarly { seconds: 0.0 },
            ConnectError::Playlist { .. }
            | ConnectError::PlaylistLoop { .. }
            | ConnectError::PlaylistTooDeep { .. }
            | ConnectError::TooLarge { .. } => Self::Playlist {
                detail: e.to_string(),
            },
            ConnectError::Unsupported { why, .. } => Self::Undecodable {
                detail: why.clone(),
            },
            ConnectError::PrivateTarget { .. } | ConnectError::ResolvesPrivate { .. } => {
                Self::Refused {
                    detail: e.to_string(),
                }
            }
            ConnectError::TooManyRedirects { .. }
            | ConnectError::BadRedirect { .. }
            | ConnectError::Io { .. } => Self::Other {
                detail: e.to_string(),
            },
        }
    }

    fn from_decode(e: &DecodeError) -> Self {
        match e {
            DecodeError::Read { kind, .. } if *kind == std::io::ErrorKind::TimedOut => {
                Self::Stalled
            }
            DecodeError::Read { message, .. } => Self::Other {
                detail: format!("reading the stream failed: {message}"),
            },
            other => Self::Undecodable {
                detail: other.to_string(),
            },
        }
    }
}

/// One URL tried.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub url: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Everything a preflight learned about one station.
#[derive(Debug, Clone, Serialize)]
pub struct PreflightReport {
    pub station: Option<String>,
    pub name: Option<String>,
    pub ok: bool,
    /// The URL that worked (or the last one tried).
    pub url: Option<String>,
    /// Every URL tried, in order; more than one means fallbacks were needed.
    pub attempts: Vec<Attempt>,
    pub status: Option<u16>,
    pub shoutcast_v1: bool,
    pub redirects: Vec<String>,
    pub playlist_hops: Vec<String>,
    pub content_type: Option<String>,
    pub icy: IcyHeaders,
    pub hls: bool,
    pub codec: Option<String>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    /// kbit/s: `icy-br`/`ice-audio-info` when the station announces it, else the bitrate the stream's
    /// own headers declare (a constant MP3 frame bitrate, Vorbis nominal), else `bitrate_measured`.
    pub bitrate: Option<u32>,
    /// kbit/s measured from the packets that decoded (their bytes over the audio they gave).
    pub bitrate_measured: Option<u32>,
    pub seconds_decoded: f64,
    pub packets_skipped: u64,
    pub title: Option<String>,
    pub elapsed_ms: u64,
    pub failure: Option<Failure>,
    /// `failure` as a sentence.
    pub reason: Option<String>,
}

impl PreflightReport {
    fn new(target: &Target) -> Self {
        Self {
            station: target.station.clone(),
            name: target.name.clone(),
            ok: false,
            url: None,
            attempts: Vec::new(),
            status: None,
            shoutcast_v1: false,
            redirects: Vec::new(),
            playlist_hops: Vec::new(),
            content_type: None,
            icy: IcyHeaders::default(),
            hls: false,
            codec: None,
            sample_rate: None,
            channels: None,
            bitrate: None,
            bitrate_measured: None,
            seconds_decoded: 0.0,
            packets_skipped: 0,
            title: None,
            elapsed_ms: 0,
            failure: None,
            reason: None,
        }
    }

    /// Forgets what the previous (failed) URL taught before trying the next one.
    fn reset_stream_fields(&mut self) {
        let keep = Self {
            attempts: std::mem::take(&mut self.attempts),
            ..Self::new(&Target {
                station: self.station.take(),
                name: self.name.take(),
                urls: Vec::new(),
            })
        };
        *self = keep;
    }
}

/// Checks one station: tries its URLs in order within `budget`, decoding real audio.
pub async fn preflight(
    client: &reqwest::Client,
    target: &Target,
    budget: PreflightBudget,
) -> PreflightReport {
    let started = Instant::now();
    let deadline = crate::core::saturating_deadline(started, budget.timeout);
    let options = budget.connect_options();
    let mut report = PreflightReport::new(target);
    let mut last_failure = None;
    for url in &target.urls {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        if !report.attempts.is_empty() {
            report.reset_stream_fields();
        }
        report.url = Some(url.to_string());
        let outcome = tokio::time::timeout(
            remaining,
            attempt(client, url, budget.decode, &options, &mut report),
        )
        .await
        .unwrap_or(Err(Failure::Timeout));
        match outcome {
            Ok(()) => {
                report.ok = true;
                report.attempts.push(Attempt {
                    url: url.to_string(),
                    ok: true,
                    failure: None,
                    reason: None,
                });
                last_failure = None;
                break;
            }
            Err(failure) => {
                report.attempts.push(Attempt {
                    url: url.to_string(),
                    ok: false,
                    reason: Some(failure.user_message()),
                    failure: Some(failure.clone()),
                });
                last_failure = Some(failure);
            }
        }
    }
    if !report.ok {
        // No URL tried at all means the budget was zero: that is a timeout too.
        let failure = last_failure.unwrap_or(Failure::Timeout);
        report.reason = Some(failure.user_message());
        report.failure = Some(failure);
    }
    report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}

async fn attempt(
    client: &reqwest::Client,
    url: &Url,
    decode_target: Duration,
    options: &ConnectOptions,
    report: &mut PreflightReport,
) -> Result<(), Failure> {
    let upstream = open(client, url, options).await.map_err(|e| {
        report.status = e.status();
        Failure::from_connect(&e)
    })?;
    report.url = Some(upstream.url.to_string());
    report.status = Some(upstream.status);
    report.shoutcast_v1 = upstream.shoutcast_v1;
    report.redirects = upstream.redirects.iter().map(ToString::to_string).collect();
    report.playlist_hops = upstream
        .playlist_hops
        .iter()
        .map(ToString::to_string)
        .collect();
    report.content_type.clone_from(&upstream.content_type);
    report.icy = upstream.icy.clone();
    report.hls = upstream.hls();

    let hint = FormatHint {
        mime: upstream.content_type.clone(),
        extension: upstream.extension.clone(),
    };
    let titles = upstream.titles;
    let mut decoder = StreamDecoder::spawn(upstream.audio, &hint);
    let mut in_stream_title = None;
    let target_seconds = decode_target.as_secs_f64();
    let mut frames = 0u64;
    let mut rate = 0u32;
    let result = loop {
        match decoder.next().await {
            Some(Ok(DecodeEvent::Started(info))) => {
                report.codec = Some(info.codec);
                report.sample_rate = Some(info.sample_rate);
                report.channels = Some(info.channels);
            }
            Some(Ok(DecodeEvent::Pcm(chunk))) => {
                // Rate may change across chained-Ogg resets: accumulate seconds, not frames.
                if chunk.sample_rate != rate {
                    report.seconds_decoded += frames as f64 / f64::from(rate.max(1));
                    frames = 0;
                    rate = chunk.sample_rate;
                }
                frames += chunk.frames() as u64;
                let seconds = report.seconds_decoded + frames as f64 / f64::from(rate.max(1));
                if seconds >= target_seconds {
                    break Ok(());
                }
            }
            Some(Ok(DecodeEvent::Title(title))) => in_stream_title = Some(title),
            Some(Err(e)) => break Err(Failure::from_decode(&e)),
            None => {
                let seconds = report.seconds_decoded + frames as f64 / f64::from(rate.max(1));
                break Err(if seconds > 0.0 {
                    Failure::EndedEarly { seconds }
                } else {
                    Failure::Undecodable {
                        detail: "the stream ended before any audio decoded".into(),
                    }
                });
            }
        }
    };
    report.seconds_decoded += frames as f64 / f64::from(rate.max(1));
    let stats = decoder.stats();
    report.packets_skipped = stats.skipped.load(Ordering::Relaxed);
    report.title = titles.borrow().clone().or(in_stream_title);
    // What the station announces, else what the stream's own headers say, else what its packets
    // measure: never bytes over wall time, which counts the server's connect burst.
    report.bitrate = upstream.icy.bitrate.or_else(|| stats.kbps());
    report.bitrate_measured = stats.measured_kbps();
    result
}

/// Checks many targets, at most `concurrency` at once; reports come back in the targets' order.
pub async fn preflight_all(
    client: &reqwest::Client,
    targets: &[Target],
    budget: PreflightBudget,
    concurrency: usize,
    mut on_done: impl FnMut(&PreflightReport),
) -> Vec<PreflightReport> {
    let mut slots: Vec<Option<PreflightReport>> = vec![None; targets.len()];
    let mut running = futures_util::stream::iter(targets.iter().enumerate())
        .map(|(i, target)| async move { (i, preflight(client, target, budget).await) })
        .buffer_unordered(concurrency.max(1));
    while let Some((i, report)) = running.next().await {
        on_done(&report);
        if let Some(slot) = slots.get_mut(i) {
            *slot = Some(report);
        }
    }
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_messages_are_sentences_for_people() {
        assert!(
            Failure::HttpStatus { status: 404 }
                .user_message()
                .contains("not found")
        );
        assert!(Failure::Stalled.user_message().contains("stopped sending"));
        let html = Failure::NotAudio {
            content_type: "text/html".into(),
        };
        assert!(html.user_message().contains("web page"));
        let json = serde_json::to_value(Failure::HttpStatus { status: 503 }).expect("json");
        assert_eq!(json["kind"], "http_status");
        assert_eq!(json["status"], 503);
    }

    #[test]
    fn stall_is_noticed_well_within_the_budget() {
        let budget = PreflightBudget {
            timeout: Duration::from_secs(3),
            decode: Duration::from_secs(2),
            allow_private_targets: false,
        };
        let options = budget.connect_options();
        assert!(options.stall_timeout < budget.timeout);
        assert!(options.connect_timeout <= budget.timeout);
    }
}
