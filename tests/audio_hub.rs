//! End-to-end tests of the station hub against local HTTP servers (127.0.0.1 only): a tone goes in as
//! raw PCM, the hub's Opus frames come out of a listener, get decoded with libopus and the tone is
//! detected per 20 ms frame. Covers drops, stalls, refusals, fallback URLs, silence in between, titles
//! and hub teardown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alastor::audio::hub::{HubConfig, UpstreamState};
use alastor::audio::listener::Listener;
use alastor::audio::manager::HubManager;
use alastor::audio::source::{
    PcmChunk, SourceError, SourceEvent, SourceStream, StreamFormat, UpstreamSource,
};
use alastor::core::station::model::{Station, StationDraft};
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use url::Url;

const SRC_RATE: u32 = 44_100;

/// What the fake radio server does on one connection.
#[derive(Debug, Clone, Copy)]
enum Conn {
    /// Stream a tone; after `secs` (if any) either close (FIN) or stall (keep the socket, send nothing).
    Tone {
        freq: f32,
        secs: Option<f32>,
        then_stall: bool,
    },
    /// Answer 503.
    Refuse,
}

/// A fake radio server streaming raw s16le stereo 44.1 kHz PCM, paced in real time after a 0.3 s burst.
/// Connection n follows `script[n]` (the last entry repeats).
async fn serve(script: Vec<Conn>) -> (Url, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let conn = script[n.min(script.len() - 1)];
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => head.extend_from_slice(&buf[..k]),
                    }
                }
                match conn {
                    Conn::Refuse => {
                        let _ = sock
                            .write_all(
                                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
                            )
                            .await;
                    }
                    Conn::Tone {
                        freq,
                        secs,
                        then_stall,
                    } => {
                        let ok = sock
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: audio/L16\r\nConnection: close\r\n\r\n")
                            .await;
                        if ok.is_err() {
                            return;
                        }
                        let chunk = SRC_RATE as usize / 50; // 20 ms
                        let total = secs.map(|s| (s * SRC_RATE as f32) as usize);
                        let mut t = 0usize;
                        let start = tokio::time::Instant::now();
                        loop {
                            if total.is_some_and(|total| t >= total) {
                                break;
                            }
                            let mut bytes = Vec::with_capacity(chunk * 4);
                            for i in t..t + chunk {
                                let v = (i as f32 * freq * std::f32::consts::TAU / SRC_RATE as f32)
                                    .sin();
                                let s = ((v * 0.5) * f32::from(i16::MAX)) as i16;
                                bytes.extend_from_slice(&s.to_le_bytes());
                                bytes.extend_from_slice(&s.to_le_bytes());
                            }
                            t += chunk;
                            if sock.write_all(&bytes).await.is_err() {
                                return;
                            }
                            let ahead = Duration::from_secs_f64(t as f64 / f64::from(SRC_RATE))
                                .saturating_sub(Duration::from_millis(300));
                            tokio::time::sleep_until(start + ahead).await;
                        }
                        if then_stall {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                    }
                }
            });
        }
    });
    (
        Url::parse(&format!("http://{addr}/stream")).expect("url"),
        count,
    )
}

/// The test's upstream: HTTP GET of raw s16le stereo PCM, as the real connect+decode pair will be.
struct RawPcmHttp {
    client: reqwest::Client,
}

impl UpstreamSource for RawPcmHttp {
    fn open(&self, url: &Url) -> BoxFuture<'static, Result<SourceStream, SourceError>> {
        let request = self.client.get(url.clone());
        let url = url.clone();
        Box::pin(async move {
            let response = request
                .send()
                .await
                .map_err(|e| SourceError::new(format!("{url}: {e}")))?;
            if !response.status().is_success() {
                return Err(SourceError::new(format!(
                    "{url}: HTTP {}",
                    response.status()
                )));
            }
            let mut carry: Vec<u8> = Vec::new();
            let format = futures_util::stream::iter([Ok(SourceEvent::Format(StreamFormat {
                codec: "pcm_s16le".into(),
                bitrate: Some(1_411),
                sample_rate: Some(SRC_RATE),
                channels: Some(2),
                segment: None,
            }))]);
            let audio = response.bytes_stream().map(move |chunk| {
                let chunk = chunk.map_err(|e| SourceError::new(format!("{url}: {e}")))?;
                carry.extend_from_slice(&chunk);
                let whole = carry.len() - carry.len() % 4;
                let samples = carry[..whole]
                    .chunks_exact(2)
                    .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
                    .collect();
                carry.drain(..whole);
                Ok(SourceEvent::Pcm(PcmChunk {
                    rate: SRC_RATE,
                    channels: 2,
                    samples,
                }))
            });
            Ok(format.chain(audio).boxed())
        })
    }
}

fn station(urls: &[Url]) -> Station {
    let draft = StationDraft {
        name: Some("Test FM".into()),
        streams: urls.iter().map(ToString::to_string).collect(),
        ..StationDraft::default()
    };
    draft
        .validate(&alastor::core::station::model::Origin::new(
            "audio_hub.rs",
            None,
        ))
        .expect("valid station")
        .0
}

fn fast_config() -> HubConfig {
    HubConfig {
        stall_timeout: Duration::from_millis(800),
        grace: Duration::from_millis(300),
        backoff: alastor::audio::backoff::BackoffPolicy {
            base: Duration::from_millis(200),
            max: Duration::from_secs(2),
            ..Default::default()
        },
        ..HubConfig::default()
    }
}

/// Per 20 ms frame: `Some(freq)` of the dominant candidate tone, `None` for silence.
type Timeline = Vec<Option<u32>>;

/// Reads `listener` in real time for `secs`, decoding every frame and classifying it.
async fn listen(listener: &mut Listener, secs: f32, candidates: &[u32]) -> Timeline {
    let mut decoder = opus2::Decoder::new(48_000, opus2::Channels::Stereo).expect("decoder");
    let mut pcm = vec![0.0f32; 1920];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    // A late reader must not burst through the cushion (songbird's worker doesn't either).
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Vec::new();
    for _ in 0..(secs * 50.0) as usize {
        tick.tick().await;
        let frame = listener.next_frame();
        let n = decoder
            .decode_float(&frame, &mut pcm, false)
            .expect("hub frames decode");
        assert_eq!(n, 960, "every hub frame is 20 ms");
        let left: Vec<f32> = pcm.iter().step_by(2).copied().collect();
        out.push(classify(&left, candidates));
    }
    out
}

fn goertzel(samples: &[f32], freq: f32) -> f32 {
    let w = std::f32::consts::TAU * freq / 48_000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (samples.len() as f32).powi(2)
}

fn classify(left: &[f32], candidates: &[u32]) -> Option<u32> {
    let rms = (left.iter().map(|s| s * s).sum::<f32>() / left.len() as f32).sqrt();
    if rms < 0.05 {
        return None;
    }
    let powers: Vec<(u32, f32)> = candidates
        .iter()
        .map(|&f| (f, goertzel(left, f as f32)))
        .collect();
    let total: f32 = powers.iter().map(|p| p.1).sum();
    let (best, power) = powers.into_iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    // A clean tone concentrates its energy in one bin; codec garbage would not.
    (power > 0.8 * total).then_some(best)
}

/// Collapses a timeline into runs: [(Some(600), 40), (None, 12), …].
fn runs(timeline: &Timeline) -> Vec<(Option<u32>, usize)> {
    let mut out: Vec<(Option<u32>, usize)> = Vec::new();
    for &f in timeline {
        match out.last_mut() {
            Some((g, n)) if *g == f => *n += 1,
            _ => out.push((f, 1)),
        }
    }
    out
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tone_goes_through_the_hub_and_comes_out_as_the_same_tone() {
    let (url, _) = serve(vec![Conn::Tone {
        freq: 1_000.0,
        secs: None,
        then_stall: false,
    }])
    .await;
    let manager = HubManager::new(Arc::new(RawPcmHttp { client: client() }), fast_config());
    let mut listener = manager.attach(&station(&[url]), 100);
    let timeline = listen(&mut listener, 2.0, &[500, 1_000, 1_500, 2_000]).await;
    let tail = &timeline[50..];
    let tone = tail.iter().filter(|f| **f == Some(1_000)).count();
    assert!(tone >= tail.len() * 9 / 10, "{:?}", runs(&timeline));
    assert!(
        timeline.iter().all(|f| f.is_none() || *f == Some(1_000)),
        "{:?}",
        runs(&timeline)
    );

    let stats = manager.stats();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].listeners, 1);
    assert!(
        matches!(stats[0].state, UpstreamState::Playing { .. }),
        "{:?}",
        stats[0].state
    );
    assert_eq!(
        stats[0].format.as_ref().map(|f| f.codec.as_str()),
        Some("pcm_s16le")
    );
    assert!(stats[0].frames_audio > 50);
    assert_eq!(stats[0].reconnects, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_and_stall_reconnect_with_silence_in_between_and_audio_again() {
    let (url, connections) = serve(vec![
        Conn::Tone {
            freq: 600.0,
            secs: Some(1.5),
            then_stall: false,
        },
        Conn::Tone {
            freq: 900.0,
            secs: Some(1.5),
            then_stall: true,
        },
        Conn::Tone {
            freq: 1_200.0,
            secs: None,
            then_stall: false,
        },
    ])
    .await;
    let manager = HubManager::new(Arc::new(RawPcmHttp { client: client() }), fast_config());
    let mut listener = manager.attach(&station(&[url]), 100);
    let timeline = listen(&mut listener, 7.5, &[600, 900, 1_200]).await;
    let runs = runs(&timeline);

    // The listener heard each connection's tone in order, with silence (not an end) between them.
    let tones: Vec<u32> = runs
        .iter()
        .filter(|(f, n)| f.is_some() && *n >= 10)
        .filter_map(|r| r.0)
        .collect();
    assert_eq!(tones, vec![600, 900, 1_200], "{runs:?}");
    let first_900 = runs
        .iter()
        .position(|r| r.0 == Some(900))
        .expect("900 Hz run");
    let first_1200 = runs
        .iter()
        .position(|r| r.0 == Some(1_200))
        .expect("1200 Hz run");
    assert!(
        runs[..first_900].iter().rev().any(|r| r.0.is_none()),
        "silence after the drop: {runs:?}"
    );
    assert!(
        runs[first_900..first_1200].iter().any(|r| r.0.is_none()),
        "silence during the stall: {runs:?}"
    );
    assert_eq!(runs.last().map(|r| r.0), Some(Some(1_200)), "{runs:?}");

    let stats = &manager.stats()[0];
    assert!(stats.reconnects >= 2, "{stats:?}");
    assert!(connections.load(Ordering::SeqCst) >= 3);
    assert!(stats.frames_silence > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_url_plays_when_the_primary_refuses() {
    let (primary, primary_hits) = serve(vec![Conn::Refuse]).await;
    // A port nobody listens on: connection refused.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = l.local_addr().expect("addr");
        drop(l);
        Url::parse(&format!("http://{a}/live")).expect("url")
    };
    let (fallback, _) = serve(vec![Conn::Tone {
        freq: 800.0,
        secs: None,
        then_stall: false,
    }])
    .await;
    let manager = HubManager::new(Arc::new(RawPcmHttp { client: client() }), fast_config());
    let mut listener = manager.attach(&station(&[primary, dead, fallback.clone()]), 100);
    let timeline = listen(&mut listener, 2.5, &[400, 800, 1_600]).await;
    assert!(
        timeline[75..].iter().all(|f| *f == Some(800)),
        "{:?}",
        runs(&timeline)
    );
    assert_eq!(primary_hits.load(Ordering::SeqCst), 1);
    let stats = &manager.stats()[0];
    assert_eq!(stats.state, UpstreamState::Playing { url: fallback });
    assert_eq!(stats.reconnects, 2);
}

/// An in-process source: a format, two titles a little apart, and a 48 kHz mono tone.
struct Scripted;

impl UpstreamSource for Scripted {
    fn open(&self, _url: &Url) -> BoxFuture<'static, Result<SourceStream, SourceError>> {
        Box::pin(async {
            let tone: Vec<f32> = (0..48_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
            let events = vec![
                SourceEvent::Format(StreamFormat {
                    codec: "vorbis".into(),
                    bitrate: Some(128),
                    sample_rate: Some(48_000),
                    channels: Some(1),
                    segment: None,
                }),
                SourceEvent::Title("Artist - First".into()),
                SourceEvent::Pcm(PcmChunk {
                    rate: 48_000,
                    channels: 1,
                    samples: tone.clone(),
                }),
                SourceEvent::Title("Artist - Second".into()),
                SourceEvent::Pcm(PcmChunk {
                    rate: 48_000,
                    channels: 1,
                    samples: tone,
                }),
            ];
            let s = futures_util::stream::iter(events.into_iter().map(Ok))
                .chain(futures_util::stream::pending());
            Ok(s.boxed())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_are_published_and_idle_hubs_retire_after_the_grace_period() {
    let manager = HubManager::new(
        Arc::new(Scripted),
        HubConfig {
            stall_timeout: Duration::from_secs(60),
            ..fast_config()
        },
    );
    let station = station(&[Url::parse("http://127.0.0.1:9/x").expect("url")]);
    let a = manager.attach(&station, 100);
    let b = manager.attach(&station, 100);
    let quiet = manager.attach(&station, 40);
    let mut titles = manager.titles(&station.id).expect("hub running");
    let title = tokio::time::timeout(
        Duration::from_secs(5),
        titles.wait_for(|t| t.as_deref() == Some("Artist - Second")),
    )
    .await
    .expect("second title within 5 s")
    .expect("hub alive")
    .clone();
    assert_eq!(title.as_deref(), Some("Artist - Second"));

    let stats = manager.stats();
    assert_eq!(
        stats
            .iter()
            .map(|s| (s.gain_percent, s.listeners))
            .collect::<Vec<_>>(),
        vec![(50, 1), (100, 2)]
    );
    assert_eq!(stats[1].format.as_ref().map(|f| f.bitrate), Some(Some(128)));

    drop((a, quiet));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let stats = manager.stats();
    assert_eq!(
        stats.len(),
        1,
        "the 50 % hub retired, the 100 % one still has a listener: {stats:?}"
    );
    drop(b);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(manager.stats().is_empty());

    // A new listener after teardown gets a fresh hub.
    let _c = manager.attach(&station, 100);
    assert_eq!(manager.stats().len(), 1);
}

/// Five seconds of audio in one go, then nothing: a server's connect-time burst.
struct Burst;

impl UpstreamSource for Burst {
    fn open(&self, _url: &Url) -> BoxFuture<'static, Result<SourceStream, SourceError>> {
        Box::pin(async {
            let samples = vec![0.25f32; 48_000 * 2 * 5];
            let chunk = SourceEvent::Pcm(PcmChunk {
                rate: 48_000,
                channels: 2,
                samples,
            });
            Ok(futures_util::stream::iter([Ok(chunk)])
                .chain(futures_util::stream::pending())
                .boxed())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_burst_is_cut_to_the_preroll_so_listeners_stay_live() {
    let manager = HubManager::new(
        Arc::new(Burst),
        HubConfig {
            stall_timeout: Duration::from_secs(60),
            ..fast_config()
        },
    );
    let _listener = manager.attach(
        &station(&[Url::parse("http://127.0.0.1:9/x").expect("url")]),
        100,
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let stats = &manager.stats()[0];
    // 250 frames arrived, the 200 ms preroll (10 frames) is kept and played, the stale rest dropped.
    assert_eq!(stats.frames_dropped, 240, "{stats:?}");
    assert_eq!(stats.frames_audio, 10, "{stats:?}");
    assert_eq!(stats.buffered, Duration::ZERO);
}

/// A tone generator whose first connection panics after a second of audio (as a decoder bug met on some
/// upstream's bytes would): in the hub task itself, not in a spawned decoder.
struct PanicsOnce {
    opens: Arc<AtomicUsize>,
}

impl UpstreamSource for PanicsOnce {
    fn open(&self, _url: &Url) -> BoxFuture<'static, Result<SourceStream, SourceError>> {
        let n = self.opens.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let freq = if n == 0 { 700.0 } else { 1_100.0 };
            let mut t = 0usize;
            let started = tokio::time::Instant::now();
            let stream = futures_util::stream::unfold((), move |()| {
                let chunk: Vec<f32> = (0..960)
                    .flat_map(|i| {
                        let x = ((t + i) as f32 * std::f32::consts::TAU * freq / 48_000.0).sin();
                        [x * 0.4, x * 0.4]
                    })
                    .collect();
                t += 960;
                // Paced at real time on absolute deadlines, like a live upstream (a sleep per chunk
                // would drift slow and underrun).
                let due = started + Duration::from_micros(t as u64 * 1_000_000 / 48_000);
                async move {
                    tokio::time::sleep_until(due - Duration::from_millis(100)).await;
                    assert!(
                        !(n == 0 && t > 48_000),
                        "injected: a bug in the upstream's decoder"
                    );
                    Some((
                        Ok(SourceEvent::Pcm(PcmChunk {
                            rate: 48_000,
                            channels: 2,
                            samples: chunk,
                        })),
                        (),
                    ))
                }
            });
            Ok(stream.boxed())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_panics_is_restarted_and_its_listeners_hear_audio_again() {
    let opens = Arc::new(AtomicUsize::new(0));
    let manager = HubManager::new(
        Arc::new(PanicsOnce {
            opens: Arc::clone(&opens),
        }),
        fast_config(),
    );
    let station = station(&[Url::parse("http://127.0.0.1:9/x").expect("url")]);
    let mut listener = manager.attach(&station, 100);
    let timeline = listen(&mut listener, 4.0, &[700, 1_100]).await;
    let before_and_after = runs(&timeline);
    let tones: Vec<u32> = before_and_after
        .iter()
        .filter(|(f, n)| f.is_some() && *n >= 10)
        .filter_map(|r| r.0)
        .collect();
    assert_eq!(tones, vec![700, 1_100], "{before_and_after:?}");
    assert_eq!(
        before_and_after.last().map(|r| r.0),
        Some(Some(1_100)),
        "{before_and_after:?}"
    );

    let stats = manager.stats();
    assert_eq!(stats.len(), 1, "still one hub for the station: {stats:?}");
    assert_eq!(stats[0].restarts, 1, "{stats:?}");
    assert_eq!(stats[0].listeners, 1, "the listener stayed attached");
    assert!(matches!(stats[0].state, UpstreamState::Playing { .. }));
    assert_eq!(opens.load(Ordering::SeqCst), 2);

    // A guild arriving after the crash joins the same, living hub.
    let mut late = manager.attach(&station, 100);
    let heard = listen(&mut late, 1.0, &[700, 1_100]).await;
    assert!(
        heard[25..].iter().all(|f| *f == Some(1_100)),
        "{:?}",
        runs(&heard)
    );
    assert_eq!(manager.stats()[0].listeners, 2);
}
