//! The station hub: one tokio task per (station, gain preset) with listeners. It owns the single
//! upstream connection, resamples to 48 kHz stereo, runs the one Opus encoder of the station and
//! writes a 20 ms frame into the ring on every absolute 20 ms deadline, audio or silence. Upstream drops,
//! stalls and refusals are handled here (backoff with jitter, rotating through the fallback URLs), so
//! listeners only ever see a steady stream of frames.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{Instrument as _, debug, error, info, info_span, warn};
use url::Url;

use super::backoff::{Backoff, BackoffPolicy};
use super::encode::{EncoderConfig, FRAME_LEN, OpusEncoder, SAMPLE_RATE};
use super::listener::{DetachHook, SILENCE_FRAME};
use super::resample::StereoResampler;
use super::ring::FrameRing;
use super::source::{SourceError, SourceEvent, SourceStream, StreamFormat, UpstreamSource};
use crate::core::station::model::StationId;

/// One 20 ms tick.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);
/// Audio arriving this soon after a connection's first chunk counts as the server's connect burst.
const BURST_WINDOW: Duration = Duration::from_secs(1);

/// How much decoded audio the hub holds, in interleaved 48 kHz stereo samples.
///
/// A continuous stream trickles in at its own pace: a small cushion absorbs network jitter, and a
/// connect burst beyond it is stale backlog. A segmented (HLS) upstream delivers a whole segment of
/// `T` seconds at once, found up to half a playlist reload late: the cushion must span segments, or
/// every gap between two arrivals is heard as silence and every arrival is trimmed as a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cushion {
    /// Buffered before playback (re)starts.
    preroll: usize,
    /// Kept when a connect burst is trimmed.
    burst_keep: usize,
    /// Above this, audio is shed (at once in a connect burst, a frame per tick otherwise).
    max_buffer: usize,
    /// Silence from the upstream for this long is a stall. Between two HLS segments nothing arrives
    /// for up to a segment and a half, which must not count.
    stall_timeout: Duration,
}

impl Cushion {
    fn new(cfg: &HubConfig, segment: Option<Duration>) -> Self {
        let samples = |d: Duration| d.as_millis() as usize * (SAMPLE_RATE as usize * 2 / 1_000);
        let preroll = samples(cfg.preroll).max(FRAME_LEN);
        let max_buffer = samples(cfg.max_buffer).max(preroll + FRAME_LEN);
        match segment.filter(|s| !s.is_zero()) {
            None => Self {
                preroll,
                burst_keep: preroll,
                max_buffer,
                stall_timeout: cfg.stall_timeout,
            },
            Some(segment) => {
                // Two segments in hand cover the wait for the next one (up to one segment plus
                // half a reload); four absorb a late arrival without shedding audio.
                let preroll = preroll.max(samples(segment));
                let burst_keep = preroll.max(samples(segment * 2));
                Self {
                    preroll,
                    burst_keep,
                    max_buffer: max_buffer
                        .max(samples(segment * 4))
                        .max(burst_keep + FRAME_LEN),
                    stall_timeout: cfg.stall_timeout.max(segment * 3),
                }
            }
        }
    }
}

/// Tunables of every hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// No bytes (no events) from an open upstream for this long counts as a stall: reconnect.
    pub stall_timeout: Duration,
    /// Longest wait for an upstream to open (connect + headers + first decode setup).
    pub connect_timeout: Duration,
    /// How long a hub without listeners keeps its upstream before tearing down.
    pub grace: Duration,
    /// Frames kept in the ring (readers further behind skip forward).
    pub ring_frames: usize,
    /// Audio buffered before playback (re)starts: the jitter cushion against bursty upstreams.
    pub preroll: Duration,
    /// Buffer above which audio is dropped: down to the preroll at once during a connect burst, one frame
    /// per tick otherwise (upstream clock faster than ours).
    pub max_buffer: Duration,
    /// A connection that played this long counts as healthy: its drop resets the backoff.
    pub healthy_after: Duration,
    /// Pause before trying the next fallback URL within one round.
    pub fallback_delay: Duration,
    pub backoff: BackoffPolicy,
    /// Delays before a crashed hub runs again.
    pub restart_backoff: BackoffPolicy,
    pub encoder: EncoderConfig,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            stall_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            grace: Duration::from_secs(30),
            ring_frames: 150,
            preroll: Duration::from_millis(200),
            max_buffer: Duration::from_millis(1_500),
            healthy_after: Duration::from_secs(10),
            fallback_delay: Duration::from_millis(200),
            backoff: BackoffPolicy::default(),
            restart_backoff: BackoffPolicy {
                base: Duration::from_millis(200),
                max: Duration::from_secs(30),
                ..BackoffPolicy::default()
            },
            encoder: EncoderConfig::default(),
        }
    }
}

/// Where the upstream side of a hub is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamState {
    /// Opening `url` (attempt counts failures in a row).
    Connecting { url: Url, attempt: u32 },
    /// Connected, filling the preroll buffer (listeners hear silence).
    Buffering { url: Url },
    /// Audio flowing to listeners.
    Playing { url: Url },
    /// Waiting out a backoff delay after `reason`.
    Retrying { reason: String, delay: Duration },
    /// The hub task has ended (no listeners, or shutdown).
    Stopped,
}

/// A point-in-time view of a hub, for `/info` and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSnapshot {
    pub station: StationId,
    pub gain_percent: u16,
    pub state: UpstreamState,
    pub format: Option<StreamFormat>,
    pub title: Option<String>,
    pub listeners: usize,
    pub reconnects: u64,
    /// Times the hub task crashed and was restarted.
    pub restarts: u64,
    /// Frames of real audio written to the ring.
    pub frames_audio: u64,
    /// Silence frames written while buffering or reconnecting.
    pub frames_silence: u64,
    /// 20 ms frames of decoded audio thrown away to bound latency (bursts, clock drift).
    pub frames_dropped: u64,
    pub buffered: Duration,
}

/// State shared between the hub task, the manager and listeners.
#[derive(Debug)]
pub struct HubShared {
    pub(crate) station: StationId,
    pub(crate) gain_percent: u16,
    pub(crate) ring: Arc<FrameRing>,
    pub(crate) listeners: AtomicUsize,
    pub(crate) stop: AtomicBool,
    reconnects: AtomicU64,
    /// Runs of the hub task that panicked and were restarted by its supervisor.
    restarts: AtomicU64,
    frames_audio: AtomicU64,
    frames_silence: AtomicU64,
    frames_dropped: AtomicU64,
    buffered_samples: AtomicUsize,
    status: Mutex<Status>,
    title_tx: watch::Sender<Option<String>>,
}

#[derive(Debug)]
struct Status {
    state: UpstreamState,
    format: Option<StreamFormat>,
}

impl HubShared {
    pub(crate) fn new(station: StationId, gain_percent: u16, ring_frames: usize) -> Self {
        Self {
            station,
            gain_percent,
            ring: Arc::new(FrameRing::new(ring_frames)),
            listeners: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            reconnects: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            frames_audio: AtomicU64::new(0),
            frames_silence: AtomicU64::new(0),
            frames_dropped: AtomicU64::new(0),
            buffered_samples: AtomicUsize::new(0),
            status: Mutex::new(Status {
                state: UpstreamState::Stopped,
                format: None,
            }),
            title_tx: watch::channel(None).0,
        }
    }

    pub fn snapshot(&self) -> HubSnapshot {
        let status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        HubSnapshot {
            station: self.station.clone(),
            gain_percent: self.gain_percent,
            state: status.state.clone(),
            format: status.format.clone(),
            title: self.title_tx.borrow().clone(),
            listeners: self.listeners.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            frames_audio: self.frames_audio.load(Ordering::Relaxed),
            frames_silence: self.frames_silence.load(Ordering::Relaxed),
            frames_dropped: self.frames_dropped.load(Ordering::Relaxed),
            buffered: Duration::from_secs_f64(
                self.buffered_samples.load(Ordering::Relaxed) as f64 / 2.0 / f64::from(SAMPLE_RATE),
            ),
        }
    }

    /// Title changes (`StreamTitle`), for "now playing" displays.
    pub fn titles(&self) -> watch::Receiver<Option<String>> {
        self.title_tx.subscribe()
    }

    fn set_state(&self, state: UpstreamState) {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .state = state;
    }

    fn set_format(&self, format: StreamFormat) {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .format = Some(format);
    }
}

impl DetachHook for HubShared {
    fn detached(&self) {
        self.listeners.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Asks the owner whether this idle hub may end (true = it was removed and must stop). The manager
/// answers under its map lock, so an attach racing the teardown either keeps the hub alive or gets a
/// new one.
pub type RetireFn = Box<dyn Fn() -> bool + Send + Sync>;

/// Everything one hub task needs.
pub struct StationHub {
    shared: Arc<HubShared>,
    urls: Vec<Url>,
    source: Arc<dyn UpstreamSource>,
    config: HubConfig,
    retire: RetireFn,
}

type Opening = BoxFuture<'static, Result<SourceStream, SourceError>>;

impl StationHub {
    pub fn new(
        shared: Arc<HubShared>,
        urls: Vec<Url>,
        source: Arc<dyn UpstreamSource>,
        config: HubConfig,
        retire: RetireFn,
    ) -> Self {
        Self {
            shared,
            urls,
            source,
            config,
            retire,
        }
    }

    /// Spawns the hub, under its supervisor, on the current tokio runtime.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        let span = info_span!("station_hub", station = %self.shared.station, gain = self.shared.gain_percent);
        tokio::spawn(Arc::new(self).supervise().instrument(span))
    }

    /// Runs the hub until it stops or retires. A run that panics (a decoder or demuxer bug met on some
    /// upstream's bytes) is logged with its station and started again after a backoff. The ring lives in
    /// `shared`, which outlives every run, so listeners keep their input: silence while it restarts,
    /// then audio again, and new guilds never attach to a dead hub.
    async fn supervise(self: Arc<Self>) {
        let mut backoff = Backoff::new(self.config.restart_backoff);
        loop {
            let hub = Arc::clone(&self);
            let started = Instant::now();
            let run = tokio::spawn(async move { hub.run().await }.in_current_span());
            let panic = match run.await {
                Err(e) if e.is_panic() => panic_message(e.into_panic().as_ref()),
                // Stopped or retired; or cancelled because the runtime is shutting down.
                Ok(()) | Err(_) => break,
            };
            if started.elapsed() >= self.config.healthy_after {
                backoff.reset();
            }
            let delay = backoff.next_delay();
            self.shared.restarts.fetch_add(1, Ordering::Relaxed);
            error!(
                station = %self.shared.station,
                panic = %panic,
                restart_in = ?delay,
                "station hub crashed; restarting it (its listeners stay attached)"
            );
            self.shared.set_state(UpstreamState::Retrying {
                reason: format!("the station hub crashed ({panic})"),
                delay,
            });
            tokio::time::sleep(delay).await;
            if self.shared.stop.load(Ordering::Acquire) {
                break;
            }
        }
        self.shared.set_state(UpstreamState::Stopped);
    }

    #[allow(clippy::too_many_lines)] // one select loop; splitting it would scatter the state machine
    async fn run(&self) {
        let cfg = &self.config;
        let shared = &self.shared;
        let mut encoder = match OpusEncoder::new(cfg.encoder) {
            Ok(e) => e,
            Err(e) => {
                // Without an encoder every frame is silence; listeners still never see an end.
                warn!(error = %e, "Opus encoder unavailable, the station stays silent");
                return self.run_silent().await;
            }
        };
        let mut cushion = Cushion::new(cfg, None);
        let silence = Bytes::from_static(&SILENCE_FRAME);

        let mut resampler = StereoResampler::default();
        let mut buffer: VecDeque<f32> = VecDeque::with_capacity(cushion.max_buffer + FRAME_LEN * 4);
        let mut scratch = Vec::with_capacity(FRAME_LEN * 8);
        let mut frame = vec![0.0f32; FRAME_LEN];
        let mut playing = false;

        let mut backoff = Backoff::new(cfg.backoff);
        let mut url_idx = 0usize;
        let mut round_failures = 0usize;
        let mut opening: Option<Opening> = None;
        let mut stream: Option<SourceStream> = None;
        let mut retry_at: Option<Instant> = Some(Instant::now());
        let mut last_event = Instant::now();
        let mut audio_since: Option<Instant> = None;
        let mut idle_since: Option<Instant> = None;

        let mut deadline = Instant::now() + FRAME_DURATION;
        info!(urls = self.urls.len(), "hub started");

        loop {
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(deadline) => {
                    // Absolute deadlines: one frame per 20 ms of wall time; after a long hiccup
                    // (suspend, overload) re-anchor instead of bursting a backlog at listeners.
                    deadline += FRAME_DURATION;
                    let now = Instant::now();
                    if now > deadline + FRAME_DURATION * 5 {
                        deadline = now + FRAME_DURATION;
                    }

                    if buffer.len() > cushion.max_buffer {
                        // Upstream clock faster than ours: shed one 20 ms frame per tick while above the
                        // watermark, a barely audible step instead of a long jump.
                        buffer.drain(..FRAME_LEN);
                        shared.frames_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    if !playing && buffer.len() >= cushion.preroll {
                        playing = true;
                        if let Some(url) = self.urls.get(url_idx) {
                            shared.set_state(UpstreamState::Playing { url: url.clone() });
                        }
                    }
                    if playing && buffer.len() >= FRAME_LEN {
                        for (dst, src) in frame.iter_mut().zip(buffer.drain(..FRAME_LEN)) {
                            *dst = src;
                        }
                        match encoder.encode(&frame) {
                            Ok(packet) => {
                                shared.ring.push(packet);
                                shared.frames_audio.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                warn!(error = %e, "encode failed, sending silence");
                                shared.ring.push(silence.clone());
                                shared.frames_silence.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    } else {
                        if playing {
                            // Underrun: refill the cushion before playing again.
                            playing = false;
                            debug!("buffer underrun");
                        }
                        shared.ring.push(silence.clone());
                        shared.frames_silence.fetch_add(1, Ordering::Relaxed);
                    }
                    shared.buffered_samples.store(buffer.len(), Ordering::Relaxed);

                    if stream.is_some() && now.duration_since(last_event) > cushion.stall_timeout {
                        warn!(after = ?cushion.stall_timeout, "upstream stalled");
                        stream = None;
                        let reason = format!("stalled: no data for {:?}", cushion.stall_timeout);
                        retry_at = Some(self.schedule_retry(
                            &mut backoff, &mut url_idx, &mut round_failures, audio_since.take(), &reason,
                        ));
                    }

                    if shared.stop.load(Ordering::Acquire) {
                        break;
                    }
                    if shared.listeners.load(Ordering::Acquire) == 0 {
                        let since = *idle_since.get_or_insert(now);
                        if now.duration_since(since) >= cfg.grace && (self.retire)() {
                            info!("no listeners for the grace period, stopping");
                            break;
                        }
                    } else {
                        idle_since = None;
                    }
                }
                () = wait_until(retry_at) => {
                    retry_at = None;
                    // INVARIANT: a station has at least one URL (validation refuses one without).
                    let Some(url) = self.urls.get(url_idx % self.urls.len().max(1)).cloned() else {
                        break;
                    };
                    shared.set_state(UpstreamState::Connecting { url: url.clone(), attempt: backoff.failures() });
                    debug!(%url, "opening upstream");
                    let open = self.source.open(&url);
                    let timeout = cfg.connect_timeout;
                    opening = Some(Box::pin(async move {
                        tokio::time::timeout(timeout, open).await.unwrap_or_else(|_| {
                            Err(SourceError::new(format!("{url}: no answer within {timeout:?}")))
                        })
                    }));
                }
                result = poll_opening(&mut opening) => {
                    opening = None;
                    match result {
                        Ok(s) => {
                            if let Some(url) = self.urls.get(url_idx) {
                                info!(%url, "upstream connected");
                                shared.set_state(UpstreamState::Buffering { url: url.clone() });
                            }
                            stream = Some(s);
                            last_event = Instant::now();
                            audio_since = None;
                        }
                        Err(e) => {
                            warn!(error = %e, "upstream did not open");
                            retry_at = Some(self.schedule_retry(
                                &mut backoff, &mut url_idx, &mut round_failures, None, &e.to_string(),
                            ));
                        }
                    }
                }
                event = next_event(&mut stream) => {
                    last_event = Instant::now();
                    match event {
                        Some(Ok(SourceEvent::Pcm(chunk))) => {
                            audio_since.get_or_insert(last_event);
                            scratch.clear();
                            if let Err(e) = resampler.push(&chunk.samples, chunk.rate, chunk.channels, &mut scratch) {
                                warn!(error = %e, "dropping undecodable chunk");
                                continue;
                            }
                            buffer.extend(scratch.iter().copied());
                            let in_burst = audio_since.is_some_and(|t| last_event.duration_since(t) < BURST_WINDOW);
                            if in_burst && buffer.len() > cushion.max_buffer {
                                // Connect-time burst (servers send seconds of backlog at once): that audio is
                                // stale, keep only the cushion so listeners stay near live.
                                let excess = buffer.len() - cushion.burst_keep;
                                let drop = excess - excess % FRAME_LEN;
                                buffer.drain(..drop);
                                shared.frames_dropped.fetch_add((drop / FRAME_LEN) as u64, Ordering::Relaxed);
                            }
                        }
                        Some(Ok(SourceEvent::Title(title))) => {
                            info!(%title, "title");
                            shared.title_tx.send_replace(Some(title));
                        }
                        Some(Ok(SourceEvent::Format(format))) => {
                            info!(codec = %format.codec, bitrate = ?format.bitrate, segment = ?format.segment, "format");
                            cushion = Cushion::new(cfg, format.segment);
                            shared.set_format(format);
                        }
                        Some(Err(e)) => {
                            warn!(error = %e, "upstream broke off");
                            stream = None;
                            retry_at = Some(self.schedule_retry(
                                &mut backoff, &mut url_idx, &mut round_failures, audio_since.take(), &e.to_string(),
                            ));
                        }
                        None => {
                            warn!("upstream ended");
                            stream = None;
                            retry_at = Some(self.schedule_retry(
                                &mut backoff, &mut url_idx, &mut round_failures, audio_since.take(), "upstream closed the stream",
                            ));
                        }
                    }
                }
            }
        }
        shared.set_state(UpstreamState::Stopped);
    }

    /// Decides which URL to try next and when; returns the instant of the next attempt.
    fn schedule_retry(
        &self,
        backoff: &mut Backoff,
        url_idx: &mut usize,
        round_failures: &mut usize,
        audio_since: Option<Instant>,
        reason: &str,
    ) -> Instant {
        self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
        let healthy = audio_since.is_some_and(|t| t.elapsed() >= self.config.healthy_after);
        let delay = if healthy {
            // A long healthy run broke: retry the same URL promptly, from the bottom of the curve.
            backoff.reset();
            *round_failures = 0;
            backoff.next_delay()
        } else {
            *round_failures += 1;
            *url_idx = (*url_idx + 1) % self.urls.len();
            if *round_failures >= self.urls.len() {
                // Every URL failed once this round: back off before starting over at the primary.
                *round_failures = 0;
                backoff.next_delay()
            } else {
                self.config.fallback_delay
            }
        };
        self.shared.set_state(UpstreamState::Retrying {
            reason: reason.to_owned(),
            delay,
        });
        Instant::now() + delay
    }

    /// Fallback when no encoder can be built: keep the ring ticking with silence.
    async fn run_silent(&self) {
        let mut tick = tokio::time::interval(FRAME_DURATION);
        let mut idle_since: Option<Instant> = None;
        loop {
            tick.tick().await;
            self.shared.ring.push(Bytes::from_static(&SILENCE_FRAME));
            if self.shared.stop.load(Ordering::Acquire) {
                break;
            }
            if self.shared.listeners.load(Ordering::Acquire) == 0 {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= self.config.grace && (self.retire)() {
                    break;
                }
            } else {
                idle_since = None;
            }
        }
        self.shared.set_state(UpstreamState::Stopped);
    }
}

/// The text of a panic payload (`panic!("…")` carries a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

async fn wait_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn poll_opening(opening: &mut Option<Opening>) -> Result<SourceStream, SourceError> {
    match opening {
        Some(fut) => fut.await,
        None => std::future::pending().await,
    }
}

async fn next_event(stream: &mut Option<SourceStream>) -> Option<Result<SourceEvent, SourceError>> {
    match stream {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES_PER_SEC: usize = SAMPLE_RATE as usize * 2;

    #[test]
    fn continuous_streams_keep_the_configured_small_cushion() {
        let cfg = HubConfig::default();
        let cushion = Cushion::new(&cfg, None);
        assert_eq!(cushion.preroll, SAMPLES_PER_SEC / 5);
        assert_eq!(cushion.burst_keep, cushion.preroll);
        assert_eq!(cushion.max_buffer, SAMPLES_PER_SEC * 3 / 2);
        assert_eq!(cushion.stall_timeout, cfg.stall_timeout);
        assert_eq!(Cushion::new(&cfg, Some(Duration::ZERO)), cushion);
    }

    #[test]
    fn hls_segments_widen_the_cushion_to_whole_segments() {
        let cfg = HubConfig::default();
        let six = Cushion::new(&cfg, Some(Duration::from_secs(6)));
        assert_eq!(six.preroll, 6 * SAMPLES_PER_SEC);
        assert_eq!(six.burst_keep, 12 * SAMPLES_PER_SEC);
        assert_eq!(six.max_buffer, 24 * SAMPLES_PER_SEC);
        // Nothing arrives between two 6 s segments for up to 9 s: not a stall.
        assert_eq!(six.stall_timeout, Duration::from_secs(18));
        // A 6 s segment arriving on top of the kept two never counts as overflow.
        assert!(six.burst_keep + 6 * SAMPLES_PER_SEC < six.max_buffer);
        let one = Cushion::new(&cfg, Some(Duration::from_secs(1)));
        assert_eq!(one.preroll, SAMPLES_PER_SEC);
        assert_eq!(one.max_buffer, 4 * SAMPLES_PER_SEC);
    }
}
