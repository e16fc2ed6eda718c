//! The hub over the real upstream + decoder (`HttpSource`), against local servers (127.0.0.1 only)
//! streaming the committed fixtures live: MP3 with interleaved ICY titles, and a chained Ogg stream
//! whose song change must not cost a reconnect.

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
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => head.extend_from_slice(&buf[..k]),
                    }
                }
                let request = String::from_utf8_lossy(&head).into_owned();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
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
