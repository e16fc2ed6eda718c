//! The hub over the real upstream + decoder (`HttpSource`), against local servers (127.0.0.1 only)
//! streaming the committed fixtures live: MP3 with interleaved ICY titles, and a chained Ogg stream
//! whose song change must not cost a reconnect, Ogg/Opus, and live (sliding-window) HLS playlists with
//! ADTS, MPEG-TS and fMP4 segments.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use alastor::audio::hub::HubConfig;
use alastor::audio::manager::HubManager;
use alastor::audio::station_source::HttpSource;
use alastor::audio::tone::{downmix, rms, strongest};
use alastor::audio::upstream::ConnectOptions;
use alastor::core::station::model::{Origin, Station, StationDraft};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use url::Url;

#[path = "common/adts.rs"]
mod adts;
use adts::adts_segments;

/// Reads an HTTP request head and returns its path; `None` when the client went away first.
async fn request_path(sock: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(k) => head.extend_from_slice(&buf[..k]),
        }
    }
    let request = String::from_utf8_lossy(&head);
    Some(request.split_whitespace().nth(1).unwrap_or("/").to_owned())
}

/// Serves `body` in a loop at `bytes_per_sec` (after a 0.5 s burst), with ICY metadata every `metaint`
/// bytes when given (title `Song <n>`, n counting blocks).
async fn serve_loop(
    body: Vec<u8>,
    content_type: &'static str,
    bytes_per_sec: usize,
    metaint: Option<usize>,
) -> Url {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let body = Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = Arc::clone(&body);
            tokio::spawn(async move {
                let Some(path) = request_path(&mut sock).await else {
                    return;
                };
                if path == "/listen.pls" {
                    let pls = format!(
                        "[playlist]\nNumberOfEntries=1\nFile1=http://{addr}/go\nTitle1=x\nLength1=-1\nVersion=2\n"
                    );
                    let _ = sock
                        .write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: audio/x-scpls\r\nContent-Length: {}\r\n\r\n{pls}", pls.len()).as_bytes())
                        .await;
                    return;
                }
                if path == "/go" {
                    let _ = sock
                        .write_all(format!("HTTP/1.1 302 Found\r\nLocation: http://{addr}/v1\r\nContent-Length: 0\r\n\r\n").as_bytes())
                        .await;
                    return;
                }
                // `/v1` answers like a Shoutcast v1 server: `ICY 200 OK`, which hyper refuses.
                let status = if path == "/v1" {
                    "ICY 200 OK"
                } else {
                    "HTTP/1.1 200 OK"
                };
                let metaint_header = metaint
                    .map(|m| format!("icy-metaint: {m}\r\n"))
                    .unwrap_or_default();
                let resp = format!(
                    "{status}\r\nContent-Type: {content_type}\r\nicy-br: 64\r\n{metaint_header}\r\n"
                );
                if sock.write_all(resp.as_bytes()).await.is_err() {
                    return;
                }
                let start = tokio::time::Instant::now();
                let (mut sent, mut pos, mut since_meta, mut block) =
                    (0usize, 0usize, 0usize, 0usize);
                loop {
                    let mut out = Vec::with_capacity(2_048);
                    for _ in 0..1_024 {
                        out.push(body[pos]);
                        pos = (pos + 1) % body.len();
                        since_meta += 1;
                        if metaint == Some(since_meta) {
                            since_meta = 0;
                            block += 1;
                            let text = format!("StreamTitle='Song {}';", block / 4);
                            let n = text.len().div_ceil(16);
                            out.push(n as u8);
                            out.extend_from_slice(text.as_bytes());
                            out.resize(out.len() + n * 16 - text.len(), 0);
                        }
                    }
                    if sock.write_all(&out).await.is_err() {
                        return;
                    }
                    sent += 1_024;
                    let due = Duration::from_secs_f64(sent as f64 / bytes_per_sec as f64)
                        .saturating_sub(Duration::from_millis(500));
                    tokio::time::sleep_until(start + due).await;
                }
            });
        }
    });
    Url::parse(&format!("http://{addr}/live")).expect("url")
}

fn station(url: &Url) -> Station {
    StationDraft {
        name: Some("Fixture FM".into()),
        streams: vec![url.to_string()],
        ..StationDraft::default()
    }
    .validate(&Origin::new("audio_station.rs", None))
    .expect("valid station")
    .0
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/audio/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

/// Listens in real time; returns the dominant candidate per 100 ms window (None = silence).
async fn listen(
    manager: &HubManager,
    station: &Station,
    secs: f32,
    candidates: &[f32],
) -> Vec<Option<u32>> {
    let mut listener = manager.attach(station, 100);
    let mut decoder = opus2::Decoder::new(48_000, opus2::Channels::Stereo).expect("decoder");
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pcm = vec![0.0f32; 1_920];
    let mut window = Vec::new();
    let mut out = Vec::new();
    for i in 0..(secs * 50.0) as usize {
        tick.tick().await;
        let n = decoder
            .decode_float(&listener.next_frame(), &mut pcm, false)
            .expect("decode");
        window.extend_from_slice(&pcm[..n * 2]);
        if i % 5 == 4 {
            let mono = downmix(&window, 2);
            out.push(if rms(&mono) < 0.02 {
                None
            } else {
                strongest(&mono, 48_000, candidates).map(|(f, _)| f as u32)
            });
            window.clear();
        }
    }
    out
}

fn manager() -> HubManager {
    let source = HttpSource::new(ConnectOptions::default()).expect("http source");
    HubManager::new(Arc::new(source), HubConfig::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icy_mp3_station_plays_its_tone_and_publishes_titles() {
    // 64 kbit/s MP3 = 8,000 bytes per second.
    let url = serve_loop(fixture("tone-440hz.mp3"), "audio/mpeg", 8_000, Some(2_000)).await;
    let manager = manager();
    let station = station(&url);
    let windows = listen(&manager, &station, 3.0, &[220.0, 440.0, 880.0]).await;
    let tail = &windows[10..];
    assert!(
        tail.iter().filter(|w| **w == Some(440)).count() >= tail.len() * 8 / 10,
        "{windows:?}"
    );
    let stats = &manager.stats()[0];
    assert!(
        stats
            .title
            .as_deref()
            .is_some_and(|t| t.starts_with("Song ")),
        "{stats:?}"
    );
    assert_eq!(
        stats.format.as_ref().map(|f| (f.codec.as_str(), f.bitrate)),
        Some(("mp3", Some(64)))
    );
    assert_eq!(stats.reconnects, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_ogg_song_change_is_seamless() {
    let mut body = fixture("tone-660hz.ogg");
    body.extend(fixture("tone-330hz-stereo.ogg"));
    // Two 3 s songs: pace the loop at its own byte rate.
    let rate = body.len() / 6;
    let url = serve_loop(body, "audio/ogg", rate, None).await;
    let manager = manager();
    let station = station(&url);
    let windows = listen(&manager, &station, 7.0, &[330.0, 660.0]).await;
    assert!(
        windows.iter().filter(|w| **w == Some(660)).count() >= 15,
        "{windows:?}"
    );
    assert!(
        windows.iter().filter(|w| **w == Some(330)).count() >= 15,
        "{windows:?}"
    );
    assert_eq!(
        manager.stats()[0].reconnects,
        0,
        "a new logical Ogg stream is not a reconnect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playlist_then_redirect_then_shoutcast_v1_reaches_the_audio() {
    let live = serve_loop(fixture("tone-440hz.mp3"), "audio/mpeg", 8_000, None).await;
    let pls = live.join("/listen.pls").expect("url");
    let manager = manager();
    let station = station(&pls);
    let windows = listen(&manager, &station, 2.5, &[220.0, 440.0, 880.0]).await;
    let tail = &windows[10..];
    assert!(
        tail.iter().filter(|w| **w == Some(440)).count() >= tail.len() * 8 / 10,
        "{windows:?}"
    );
    assert_eq!(manager.stats()[0].reconnects, 0);
}

/// A live HLS origin: a sliding 4-segment window whose media sequence advances once per
/// `segment_secs`, never ENDLIST, like a radio packager. Segment `n` serves `segments[n % len]`;
/// `init` (fMP4) is announced with `#EXT-X-MAP`. Returns the media playlist's URL and a counter of
/// playlist fetches.
async fn serve_hls_live(
    segments: Vec<Vec<u8>>,
    init: Option<Vec<u8>>,
    extension: &'static str,
    segment_secs: f64,
) -> (Url, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const WINDOW: u64 = 4;
    const FIRST_SEQUENCE: u64 = 500;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let segments = Arc::new(segments);
    let init = Arc::new(init);
    let reloads = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reloads);
    let start = tokio::time::Instant::now();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (segments, init, counter) = (
                Arc::clone(&segments),
                Arc::clone(&init),
                Arc::clone(&counter),
            );
            tokio::spawn(async move {
                let Some(path) = request_path(&mut sock).await else {
                    return;
                };
                let newest =
                    FIRST_SEQUENCE + (start.elapsed().as_secs_f64() / segment_secs) as u64 + WINDOW;
                let (content_type, body) = if path == "/live.m3u8" {
                    counter.fetch_add(1, Ordering::Relaxed);
                    let first = newest + 1 - WINDOW;
                    let mut text = format!(
                        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{first}\n",
                        segment_secs.ceil() as u64
                    );
                    if init.is_some() {
                        text.push_str("#EXT-X-MAP:URI=\"init.mp4\"\n");
                    }
                    for n in first..=newest {
                        let _ = write!(text, "#EXTINF:{segment_secs:.3},\nseg{n}.{extension}\n");
                    }
                    ("application/vnd.apple.mpegurl", text.into_bytes())
                } else if path == "/init.mp4" {
                    ("video/mp4", init.as_ref().clone().unwrap_or_default())
                } else if let Some(n) = path
                    .strip_prefix("/seg")
                    .and_then(|rest| rest.split('.').next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|n| *n <= newest)
                {
                    (
                        "application/octet-stream",
                        segments[(n % segments.len() as u64) as usize].clone(),
                    )
                } else {
                    let _ = sock
                        .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    return;
                };
                let _ = sock
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    let url = Url::parse(&format!("http://{addr}/live.m3u8")).expect("url");
    (url, reloads)
}

/// Listens through several playlist windows: the tone must hold, with no reconnect, while the
/// hub keeps reloading the sliding playlist.
async fn assert_live_hls_plays(url: &Url, reloads: &std::sync::atomic::AtomicUsize, tone: f32) {
    // A stall timeout shorter than the segments: the wait between two segments must not count as one.
    let source = HttpSource::new(ConnectOptions::default()).expect("http source");
    let config = HubConfig {
        stall_timeout: Duration::from_millis(900),
        ..HubConfig::default()
    };
    let manager = HubManager::new(Arc::new(source), config);
    let station = station(url);
    let windows = listen(&manager, &station, 8.0, &[440.0, 660.0, tone, 880.0]).await;
    // After the first segment's preroll, not one 100 ms window of silence: every gap between two
    // segment arrivals is covered by the cushion.
    let tail = &windows[25..];
    // One character per 100 ms: `#` the tone, `.` silence, `x` anything else.
    let picture: String = windows
        .iter()
        .map(|w| match w {
            Some(f) if *f == tone as u32 => '#',
            None => '.',
            Some(_) => 'x',
        })
        .collect();
    let hits = tail.iter().filter(|w| **w == Some(tone as u32)).count();
    assert!(
        hits >= tail.len() * 95 / 100,
        "{hits}/{}: {picture}",
        tail.len()
    );
    assert!(!tail.contains(&None), "silence while live: {picture}");
    let stats = &manager.stats()[0];
    assert_eq!(stats.reconnects, 0, "{stats:?}");
    // 8 s of listening: the sliding playlist must have been re-read several times.
    let reloads = reloads.load(std::sync::atomic::Ordering::Relaxed);
    assert!(reloads >= 5, "only {reloads} playlist loads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_hls_with_adts_segments_rolls_through_the_hub() {
    // 43 AAC frames of 1,024 samples at 44.1 kHz: 0.9985 s per segment.
    let segments = adts_segments(&fixture("tone-880hz.aac"), 43);
    let (url, reloads) = serve_hls_live(segments, None, "aac", 1.0).await;
    assert_live_hls_plays(&url, &reloads, 880.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_hls_with_long_segments_is_not_trimmed_as_a_burst() {
    // 2 s segments: each arrival exceeds a continuous stream's 1.5 s buffer limit, which used to shed
    // most of every segment.
    let segments = adts_segments(&fixture("tone-880hz.aac"), 86);
    let (url, reloads) = serve_hls_live(segments, None, "aac", 2.0).await;
    assert_live_hls_plays(&url, &reloads, 880.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_hls_with_mpeg_ts_segments_rolls_through_the_hub() {
    let segments = adts_segments(&fixture("tone-880hz.aac"), 43)
        .iter()
        .map(|adts| alastor::audio::upstream::ts::mux_for_tests(adts, 0x0F, 400))
        .collect();
    let (url, reloads) = serve_hls_live(segments, None, "ts", 1.0).await;
    assert_live_hls_plays(&url, &reloads, 880.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_hls_with_fmp4_segments_rolls_through_the_hub() {
    let segments = (0..3)
        .map(|i| fixture(&format!("hls-fmp4/seg{i}.m4s")))
        .collect();
    let init = fixture("hls-fmp4/init.mp4");
    let (url, reloads) = serve_hls_live(segments, Some(init), "m4s", 1.0).await;
    assert_live_hls_plays(&url, &reloads, 770.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ogg_opus_station_plays_through_the_hub() {
    let body = fixture("tone-550hz.opus");
    let rate = body.len() / 3;
    let url = serve_loop(body, "audio/ogg", rate, None).await;
    let manager = manager();
    let station = station(&url);
    let windows = listen(&manager, &station, 3.0, &[440.0, 550.0, 660.0]).await;
    let tail = &windows[10..];
    assert!(
        tail.iter().filter(|w| **w == Some(550)).count() >= tail.len() * 8 / 10,
        "{windows:?}"
    );
    assert_eq!(
        manager.stats()[0].format.as_ref().map(|f| f.codec.as_str()),
        Some("opus")
    );
}
