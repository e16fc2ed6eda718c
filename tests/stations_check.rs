//! `stations check` end to end against a local HTTP server serving generated test tones
//! (`tests/fixtures/audio/`): codecs, ICY titles, redirects, playlists, HLS, Shoutcast v1, and the ways
//! stations fail (404, HTML, stall, dead primary URL). Never a public address: 127.0.0.1 only.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alastor::audio::decode::{DecodeEvent, FormatHint, StreamDecoder, StreamInfo};
use alastor::audio::preflight::{Failure, PreflightBudget, PreflightReport, Target, preflight};
use alastor::audio::tone;
use alastor::audio::upstream::{ConnectOptions, http_client, open};
use alastor::cli::check::{CheckArgs, run_with_catalog};
use alastor::config::Config;
use alastor::core::station::{Catalog, Origin, StationDraft};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use url::Url;

#[path = "common/adts.rs"]
mod adts;
use adts::adts_segments;

const MP3: &[u8] = include_bytes!("fixtures/audio/tone-440hz.mp3");
const VORBIS: &[u8] = include_bytes!("fixtures/audio/tone-660hz.ogg");
const AAC: &[u8] = include_bytes!("fixtures/audio/tone-880hz.aac");
const VORBIS_STEREO: &[u8] = include_bytes!("fixtures/audio/tone-330hz-stereo.ogg");
const OPUS: &[u8] = include_bytes!("fixtures/audio/tone-550hz.opus");

/// What the test server answers on one path.
#[derive(Clone)]
enum Route {
    /// A stream: `body` repeated `repeat` times, optionally with ICY metadata every `metaint` bytes.
    Audio {
        content_type: &'static str,
        body: Arc<Vec<u8>>,
        repeat: usize,
        metaint: Option<usize>,
        titles: Vec<&'static str>,
        shoutcast_v1: bool,
        extra_headers: Vec<(&'static str, &'static str)>,
        /// Send only this many body bytes, then hold the connection open in silence.
        stall_after: Option<usize>,
    },
    Text {
        content_type: &'static str,
        body: String,
    },
    Redirect(String),
    Status(u16),
    /// Headers, then silence with the connection held open.
    StallAfterHeaders,
}

fn audio(content_type: &'static str, body: &[u8]) -> Route {
    Route::Audio {
        content_type,
        body: Arc::new(body.to_vec()),
        repeat: 1,
        metaint: None,
        titles: Vec::new(),
        shoutcast_v1: false,
        extra_headers: Vec::new(),
        stall_after: None,
    }
}

struct TestServer {
    addr: SocketAddr,
}

impl TestServer {
    /// Serves `routes` on 127.0.0.1 from a background thread (so sync tests can use it too).
    fn start(routes: Vec<(&str, Route)>) -> Self {
        let routes: Arc<HashMap<String, Route>> =
            Arc::new(routes.into_iter().map(|(p, r)| (p.to_owned(), r)).collect());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((socket, _)) = listener.accept().await else {
                        continue;
                    };
                    let routes = Arc::clone(&routes);
                    tokio::spawn(async move {
                        let _ = serve(socket, &routes).await;
                    });
                }
            });
        });
        Self { addr }
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).expect("url")
    }
}

async fn serve(
    mut socket: tokio::net::TcpStream,
    routes: &HashMap<String, Route>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let wants_icy = head.to_ascii_lowercase().contains("icy-metadata: 1");
    match routes.get(&path) {
        None | Some(Route::Status(404)) => {
            socket
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found")
                .await
        }
        Some(Route::Status(code)) => {
            let text = format!("HTTP/1.1 {code} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            socket.write_all(text.as_bytes()).await
        }
        Some(Route::Redirect(location)) => {
            let text = format!(
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            socket.write_all(text.as_bytes()).await
        }
        Some(Route::Text { content_type, body }) => {
            let text = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(text.as_bytes()).await
        }
        Some(Route::StallAfterHeaders) => {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nicy-br: 128\r\nConnection: close\r\n\r\n")
                .await?;
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        }
        Some(Route::Audio {
            content_type,
            body,
            repeat,
            metaint,
            titles,
            shoutcast_v1,
            extra_headers,
            stall_after,
        }) => {
            let status = if *shoutcast_v1 {
                "ICY 200 OK"
            } else {
                "HTTP/1.1 200 OK"
            };
            let mut text = format!(
                "{status}\r\nContent-Type: {content_type}\r\nicy-name: Test Tone\r\nicy-genre: Test\r\nicy-br: 64\r\n"
            );
            let metaint = metaint.filter(|_| wants_icy);
            if let Some(n) = metaint {
                let _ = write!(text, "icy-metaint: {n}\r\n");
            }
            for (k, v) in extra_headers {
                let _ = write!(text, "{k}: {v}\r\n");
            }
            text.push_str("Connection: close\r\n\r\n");
            socket.write_all(text.as_bytes()).await?;
            let mut stream: Vec<u8> = body.iter().copied().cycle().take(body.len() * repeat).collect();
            if let Some(n) = stall_after {
                stream.truncate(*n);
            }
            match metaint {
                None => socket.write_all(&stream).await?,
                Some(n) => {
                    for (i, chunk) in stream.chunks(n).enumerate() {
                        socket.write_all(chunk).await?;
                        if chunk.len() == n {
                            socket.write_all(&icy_block(titles, i)).await?;
                        }
                    }
                }
            }
            if stall_after.is_some() {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            socket.shutdown().await
        }
    }
}

/// The i-th ICY metadata block: a title every other block, empty blocks in between (as real servers do).
fn icy_block(titles: &[&str], i: usize) -> Vec<u8> {
    if titles.is_empty() || i % 2 == 1 {
        return vec![0];
    }
    let title = titles[(i / 2) % titles.len()];
    let mut meta = format!("StreamTitle='{title}';StreamUrl='';").into_bytes();
    let len = meta.len().div_ceil(16);
    meta.resize(len * 16, 0);
    let mut out = vec![len as u8];
    out.extend(meta);
    out
}

fn budget() -> PreflightBudget {
    PreflightBudget {
        timeout: Duration::from_secs(8),
        decode: Duration::from_secs(2),
        allow_private_targets: false,
    }
}

async fn check(urls: Vec<Url>, budget: PreflightBudget) -> PreflightReport {
    let client = http_client(&budget.connect_options()).expect("client");
    let target = Target {
        station: Some("test".into()),
        name: Some("Test".into()),
        urls,
    };
    preflight(&client, &target, budget).await
}

/// Opens `url` like the audio engine will and decodes up to `seconds` of audio to mono.
async fn decode_mono(url: &Url, seconds: f64) -> (Vec<StreamInfo>, Vec<f32>, u32) {
    let options = ConnectOptions::default();
    let client = http_client(&options).expect("client");
    let upstream = open(&client, url, &options).await.expect("open");
    let hint = FormatHint {
        mime: upstream.content_type.clone(),
        extension: upstream.extension.clone(),
    };
    let mut decoder = StreamDecoder::spawn(upstream.audio, &hint);
    let (mut infos, mut mono, mut rate) = (Vec::new(), Vec::new(), 0);
    while let Some(event) = decoder.next().await {
        match event.expect("decode") {
            DecodeEvent::Started(info) => infos.push(info),
            DecodeEvent::Title(_) => {}
            DecodeEvent::Pcm(chunk) => {
                rate = chunk.sample_rate;
                mono.extend(tone::downmix(&chunk.samples, usize::from(chunk.channels)));
                if mono.len() as f64 >= seconds * f64::from(rate) {
                    break;
                }
            }
        }
    }
    (infos, mono, rate)
}

fn assert_tone(mono: &[f32], rate: u32, freq: f32) {
    // Skip the encoder's start-up transient; a clean tone keeps most of its energy at `freq`.
    let body = &mono[mono.len().min(rate as usize / 10)..];
    let ratio = tone::tone_energy_ratio(body, rate, freq);
    assert!(ratio > 0.8, "{freq} Hz holds only {ratio:.3} of the energy");
    let (strongest, _) = tone::strongest(body, rate, &[330.0, 440.0, 550.0, 660.0, 770.0, 880.0])
        .expect("candidates");
    assert!(
        (strongest - freq).abs() < 1.0,
        "strongest tone {strongest} Hz"
    );
}

fn assert_ok(report: &PreflightReport) {
    assert!(report.ok, "expected ok: {report:#?}");
    assert!(report.failure.is_none());
    assert!(report.seconds_decoded >= 2.0, "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp3_with_icy_titles_decodes_clean_tone() {
    let mut route = audio("audio/mpeg", MP3);
    if let Route::Audio {
        metaint,
        titles,
        repeat,
        extra_headers,
        ..
    } = &mut route
    {
        // A small metaint puts dozens of metadata blocks inside the audio: any leak would break decoding.
        *metaint = Some(1000);
        *titles = vec!["Artist's One – Sông", "Two - B"];
        *repeat = 3;
        extra_headers.push(("ice-audio-info", "ice-samplerate=44100;ice-channels=1"));
    }
    let server = TestServer::start(vec![("/live.mp3", route)]);
    let report = check(vec![server.url("/live.mp3")], budget()).await;
    assert_ok(&report);
    assert_eq!(report.codec.as_deref(), Some("mp3"));
    assert_eq!(report.sample_rate, Some(44_100));
    assert_eq!(report.channels, Some(1));
    assert_eq!(report.bitrate, Some(64));
    assert_eq!(report.icy.metaint, Some(1000));
    assert_eq!(report.icy.name.as_deref(), Some("Test Tone"));
    assert_eq!(report.icy.audio_info_field("ice-samplerate"), Some("44100"));
    assert!(report.title.is_some(), "{report:#?}");
    assert_eq!(report.packets_skipped, 0, "ICY bytes leaked into the audio");

    let (infos, mono, rate) = decode_mono(&server.url("/live.mp3"), 2.5).await;
    assert_eq!(infos[0].codec, "mp3");
    assert_tone(&mono, rate, 440.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ogg_vorbis_decodes() {
    let server = TestServer::start(vec![("/v.ogg", audio("application/ogg", VORBIS))]);
    let report = check(vec![server.url("/v.ogg")], budget()).await;
    assert_ok(&report);
    assert_eq!(report.codec.as_deref(), Some("vorbis"));
    assert_eq!(report.sample_rate, Some(48_000));
    let (_, mono, rate) = decode_mono(&server.url("/v.ogg"), 2.5).await;
    assert_tone(&mono, rate, 660.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ogg_opus_decodes_through_libopus() {
    let server = TestServer::start(vec![("/o.opus", audio("audio/ogg; codecs=opus", OPUS))]);
    let report = check(vec![server.url("/o.opus")], budget()).await;
    assert_ok(&report);
    assert_eq!(report.codec.as_deref(), Some("opus"));
    assert_eq!(report.sample_rate, Some(48_000));
    assert_eq!(report.packets_skipped, 0, "{report:#?}");
    let (infos, mono, rate) = decode_mono(&server.url("/o.opus"), 2.5).await;
    assert_eq!((infos[0].sample_rate, infos[0].channels), (48_000, 2));
    assert_tone(&mono, rate, 550.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_ogg_from_opus_to_vorbis_switches_decoder() {
    let chained = [OPUS, VORBIS].concat();
    let server = TestServer::start(vec![("/chain.ogg", audio("audio/ogg", &chained))]);
    let (infos, mono, rate) = decode_mono(&server.url("/chain.ogg"), 60.0).await;
    let codecs: Vec<&str> = infos.iter().map(|i| i.codec.as_str()).collect();
    assert_eq!(codecs, ["opus", "vorbis"], "{infos:?}");
    assert_tone(&mono[..mono.len() / 3], rate, 550.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aac_adts_decodes() {
    let server = TestServer::start(vec![("/a", audio("audio/aac", AAC))]);
    let report = check(vec![server.url("/a")], budget()).await;
    assert_ok(&report);
    assert_eq!(report.codec.as_deref(), Some("aac"));
    assert_eq!(report.sample_rate, Some(44_100));
    let (_, mono, rate) = decode_mono(&server.url("/a"), 2.5).await;
    assert_tone(&mono, rate, 880.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_ogg_resets_decoder_and_keeps_going() {
    let chained = [VORBIS, VORBIS_STEREO].concat();
    let server = TestServer::start(vec![("/chain.ogg", audio("audio/ogg", &chained))]);
    let (infos, mono, rate) = decode_mono(&server.url("/chain.ogg"), 60.0).await;
    assert_eq!(infos.len(), 2, "{infos:?}");
    assert_eq!((infos[0].sample_rate, infos[0].channels), (48_000, 1));
    assert_eq!((infos[1].sample_rate, infos[1].channels), (44_100, 2));
    // The tail (second song) is the 330 Hz tone.
    assert_tone(&mono[mono.len() / 2..], rate, 330.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_is_followed_and_recorded() {
    let server = TestServer::start(vec![
        ("/old", Route::Redirect("/new.mp3".into())),
        ("/new.mp3", audio("audio/mpeg", MP3)),
    ]);
    let report = check(vec![server.url("/old")], budget()).await;
    assert_ok(&report);
    assert_eq!(report.redirects, [server.url("/new.mp3").to_string()]);
    assert_eq!(report.url.as_deref(), Some(server.url("/new.mp3").as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pls_and_m3u_indirection() {
    let server = TestServer::start(vec![
        (
            "/station.pls",
            Route::Text {
                content_type: "audio/x-scpls",
                body: "[playlist]\nNumberOfEntries=2\nFile1=/dead\nFile2=/a.aac\n".into(),
            },
        ),
        (
            "/station.m3u",
            Route::Text {
                content_type: "text/plain",
                body: "#EXTM3U\n#EXTINF:-1,Test\nv.ogg\n".into(),
            },
        ),
        ("/a.aac", audio("audio/aacp", AAC)),
        ("/v.ogg", audio("audio/ogg", VORBIS)),
    ]);
    let pls = check(vec![server.url("/station.pls")], budget()).await;
    assert_ok(&pls);
    assert_eq!(pls.playlist_hops, [server.url("/station.pls").to_string()]);
    assert_eq!(pls.codec.as_deref(), Some("aac"));
    let m3u = check(vec![server.url("/station.m3u")], budget()).await;
    assert_ok(&m3u);
    assert_eq!(m3u.codec.as_deref(), Some("vorbis"));
    assert_eq!(m3u.url.as_deref(), Some(server.url("/v.ogg").as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playlist_loop_is_detected() {
    let server = TestServer::start(vec![(
        "/loop.m3u",
        Route::Text {
            content_type: "audio/x-mpegurl",
            body: "/loop.m3u\n".into(),
        },
    )]);
    let report = check(vec![server.url("/loop.m3u")], budget()).await;
    assert!(!report.ok);
    assert!(
        matches!(&report.failure, Some(Failure::Playlist { detail }) if detail.contains("loop")),
        "{report:#?}"
    );
}

/// Serves `segments` as an HLS media playlist behind a master playlist, checks the station and decodes it.
async fn hls_plays_the_tone(
    segments: &[Vec<u8>],
    extension: &str,
    content_type: &'static str,
) -> PreflightReport {
    assert!(segments.len() >= 3);
    let mut routes: Vec<(String, Route)> = Vec::new();
    let mut playlist =
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:7\n".to_owned();
    for (i, segment) in segments.iter().enumerate() {
        let _ = write!(playlist, "#EXTINF:1.0,\nseg{i}.{extension}\n");
        routes.push((
            format!("/hls/seg{i}.{extension}"),
            audio(content_type, segment),
        ));
    }
    playlist.push_str("#EXT-X-ENDLIST\n");
    routes.push((
        "/hls/index.m3u8".into(),
        Route::Text {
            content_type: "application/vnd.apple.mpegurl",
            body: playlist,
        },
    ));
    routes.push((
        "/hls/master.m3u8".into(),
        Route::Text {
            content_type: "application/vnd.apple.mpegurl",
            body: "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS=\"mp4a.40.2\"\nindex.m3u8\n"
                .into(),
        },
    ));
    let server = TestServer::start(
        routes
            .iter()
            .map(|(p, r)| (p.as_str(), r.clone()))
            .collect(),
    );
    let report = check(vec![server.url("/hls/master.m3u8")], budget()).await;
    assert_ok(&report);
    assert!(report.hls);
    assert_eq!(report.codec.as_deref(), Some("aac"));
    assert_eq!(report.playlist_hops.len(), 2, "{report:#?}");
    let (_, mono, rate) = decode_mono(&server.url("/hls/index.m3u8"), 2.5).await;
    assert_tone(&mono, rate, 880.0);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_media_playlist_with_adts_segments() {
    // ~1 s segments (43 frames of 1024 samples at 44.1 kHz).
    let report = hls_plays_the_tone(&adts_segments(AAC, 43), "aac", "audio/aac").await;
    assert_eq!(report.title, None);
}

/// HLS timed metadata: packed-audio segments start with an ID3 tag; its title is the station's title.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_packed_audio_titles_come_from_each_segments_id3_tag() {
    use alastor::audio::upstream::id3::tag_for_tests;
    let segments: Vec<Vec<u8>> = adts_segments(AAC, 43)
        .into_iter()
        .map(|adts| {
            let mut segment = tag_for_tests(&[(b"TPE1", "HLS Artist"), (b"TIT2", "ID3 Song")]);
            segment.extend(adts);
            segment
        })
        .collect();
    let report = hls_plays_the_tone(&segments, "aac", "audio/aac").await;
    assert_eq!(report.title.as_deref(), Some("HLS Artist - ID3 Song"));
}

/// HLS timed metadata in MPEG-TS: a metadata PES stream (type 0x15) beside the audio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_mpeg_ts_titles_come_from_the_timed_id3_stream() {
    use alastor::audio::upstream::id3::tag_for_tests;
    let tag = tag_for_tests(&[(b"TIT2", "TS Song")]);
    let segments: Vec<Vec<u8>> = adts_segments(AAC, 43)
        .iter()
        .map(|adts| {
            alastor::audio::upstream::ts::mux_with_id3_for_tests(adts, 0x0F, 400, Some(&tag))
        })
        .collect();
    let report = hls_plays_the_tone(&segments, "ts", "video/mp2t").await;
    assert_eq!(report.title.as_deref(), Some("TS Song"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_media_playlist_with_mpeg_ts_segments() {
    // The same audio as an HLS packager ships it: ADTS in PES packets in a transport stream.
    let segments: Vec<Vec<u8>> = adts_segments(AAC, 43)
        .iter()
        .map(|adts| alastor::audio::upstream::ts::mux_for_tests(adts, 0x0F, 400))
        .collect();
    hls_plays_the_tone(&segments, "ts", "video/mp2t").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_fmp4_segments_play_after_their_init_segment() {
    // CMAF as ffmpeg packages it (`-hls_segment_type fmp4`): `#EXT-X-MAP` names init.mp4 (ftyp + moov
    // with mvex), and every .m4s segment is a moof + mdat pair.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/audio/hls-fmp4");
    let file = |name: &str| std::fs::read(format!("{dir}/{name}")).expect("fixture");
    let mut routes: Vec<(String, Route)> = vec![(
        "/cmaf/index.m3u8".into(),
        Route::Text {
            content_type: "application/vnd.apple.mpegurl",
            body: String::from_utf8(file("index.m3u8")).expect("utf-8"),
        },
    )];
    routes.push((
        "/cmaf/init.mp4".into(),
        audio("audio/mp4", &file("init.mp4")),
    ));
    for i in 0..4 {
        let name = format!("seg{i}.m4s");
        routes.push((
            format!("/cmaf/{name}"),
            audio("audio/iso.segment", &file(&name)),
        ));
    }
    let server = TestServer::start(
        routes
            .iter()
            .map(|(p, r)| (p.as_str(), r.clone()))
            .collect(),
    );
    let report = check(vec![server.url("/cmaf/index.m3u8")], budget()).await;
    assert_ok(&report);
    assert!(report.hls);
    assert_eq!(report.codec.as_deref(), Some("aac"));
    assert_eq!(report.sample_rate, Some(48_000));
    let (_, mono, rate) = decode_mono(&server.url("/cmaf/index.m3u8"), 2.5).await;
    assert_tone(&mono, rate, 770.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoutcast_v1_icy_status_line() {
    let mut route = audio("audio/mpeg", MP3);
    if let Route::Audio {
        shoutcast_v1,
        metaint,
        titles,
        ..
    } = &mut route
    {
        *shoutcast_v1 = true;
        *metaint = Some(4096);
        *titles = vec!["Old School - Song"];
    }
    let server = TestServer::start(vec![("/;stream.mp3", route)]);
    let report = check(vec![server.url("/;stream.mp3")], budget()).await;
    assert_ok(&report);
    assert!(report.shoutcast_v1);
    assert_eq!(report.codec.as_deref(), Some("mp3"));
    assert_eq!(report.title.as_deref(), Some("Old School - Song"));
    let (_, mono, rate) = decode_mono(&server.url("/;stream.mp3"), 2.0).await;
    assert_tone(&mono, rate, 440.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_is_reported_as_404() {
    let server = TestServer::start(vec![("/gone", Route::Status(404))]);
    let report = check(vec![server.url("/gone")], budget()).await;
    assert!(!report.ok);
    assert_eq!(report.failure, Some(Failure::HttpStatus { status: 404 }));
    assert!(report.reason.as_deref().unwrap_or_default().contains("404"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_page_is_not_audio() {
    let server = TestServer::start(vec![(
        "/",
        Route::Text {
            content_type: "text/html; charset=utf-8",
            body: "<!DOCTYPE html><html><body>Listen live!</body></html>".into(),
        },
    )]);
    let report = check(vec![server.url("/")], budget()).await;
    assert!(!report.ok);
    assert!(
        matches!(&report.failure, Some(Failure::NotAudio { content_type }) if content_type.starts_with("text/html")),
        "{report:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_after_headers_fails_within_budget() {
    let server = TestServer::start(vec![("/stall", Route::StallAfterHeaders)]);
    let budget = PreflightBudget {
        timeout: Duration::from_secs(3),
        decode: Duration::from_secs(2),
        allow_private_targets: false,
    };
    let report = check(vec![server.url("/stall")], budget).await;
    assert!(!report.ok);
    assert!(
        matches!(report.failure, Some(Failure::Stalled | Failure::Timeout)),
        "{report:#?}"
    );
    assert_eq!(report.status, Some(200));
    assert!(report.elapsed_ms < 3_500, "took {} ms", report.elapsed_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_url_used_when_the_first_is_dead() {
    let server = TestServer::start(vec![("/backup.mp3", audio("audio/mpeg", MP3))]);
    // A port nobody listens on: connection refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url =
        Url::parse(&format!("http://{}/live", dead.local_addr().expect("addr"))).expect("url");
    drop(dead);
    let report = check(vec![dead_url.clone(), server.url("/backup.mp3")], budget()).await;
    assert_ok(&report);
    assert_eq!(report.attempts.len(), 2);
    assert!(!report.attempts[0].ok);
    assert!(
        matches!(report.attempts[0].failure, Some(Failure::Connect { .. })),
        "{report:#?}"
    );
    assert!(report.attempts[1].ok);
    assert_eq!(
        report.url.as_deref(),
        Some(server.url("/backup.mp3").as_str())
    );
}

fn station(name: &str, urls: &[Url]) -> StationDraft {
    StationDraft {
        name: Some(name.into()),
        streams: urls.iter().map(ToString::to_string).collect(),
        ..StationDraft::default()
    }
}

fn catalog(drafts: Vec<StationDraft>) -> Catalog {
    Catalog::new(drafts.into_iter().map(|d| {
        d.validate(&Origin::file("test.toml"))
            .expect("valid station")
            .0
    }))
}

fn args(queries: &[&str]) -> CheckArgs {
    CheckArgs {
        queries: queries.iter().map(|q| (*q).to_owned()).collect(),
        json: true,
        concurrency: Some(2),
        timeout: Some(Duration::from_secs(8)),
    }
}

#[test]
fn cli_check_json_and_exit_codes() {
    let server = TestServer::start(vec![
        ("/good.mp3", audio("audio/mpeg", MP3)),
        ("/gone", Route::Status(404)),
    ]);
    let catalog = catalog(vec![
        station("Good Tone", &[server.url("/good.mp3")]),
        station("Gone Radio", &[server.url("/gone")]),
    ]);
    let config = Config::default();

    let mut out = Vec::new();
    let code = run_with_catalog(&args(&[]), &config, &catalog, &mut out).expect("run");
    assert_eq!(code, ExitCode::FAILURE);
    let json: serde_json::Value = serde_json::from_slice(&out).expect("json");
    let reports = json.as_array().expect("array");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["station"], "gone-radio");
    assert_eq!(reports[0]["ok"], false);
    assert_eq!(reports[0]["failure"]["kind"], "http_status");
    assert_eq!(reports[1]["station"], "good-tone");
    assert_eq!(reports[1]["ok"], true);
    assert_eq!(reports[1]["codec"], "mp3");
    assert!(reports[1]["seconds_decoded"].as_f64().expect("seconds") >= 2.0);

    let mut out = Vec::new();
    let code = run_with_catalog(&args(&["good-tone"]), &config, &catalog, &mut out).expect("run");
    assert_eq!(code, ExitCode::SUCCESS);
    let json: serde_json::Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(1));

    let error = run_with_catalog(
        &args(&["nothing-like-this"]),
        &config,
        &catalog,
        &mut Vec::new(),
    )
    .expect_err("unknown query");
    assert!(error.to_string().contains("nothing-like-this"), "{error}");

    let mut table = Vec::new();
    let mut table_args = args(&["good-tone", "gone-radio"]);
    table_args.json = false;
    let code = run_with_catalog(&table_args, &config, &catalog, &mut table).expect("run");
    assert_eq!(code, ExitCode::FAILURE);
    let table = String::from_utf8(table).expect("utf8");
    assert!(table.starts_with("STATION"), "{table}");
    assert!(
        table.contains("good-tone") && table.contains("FAIL 404"),
        "{table}"
    );
    assert!(
        table.contains("1 checked") || table.contains("2 checked, 1 ok, 1 failed"),
        "{table}"
    );
}

/// Through the real command line (`--stations DIR`): a query naming no station is an error naming it.
/// The JSON shape and exit codes over a catalog are covered by `cli_check_json_and_exit_codes`.
#[test]
fn cli_run_unknown_query_names_it() {
    use clap::Parser as _;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("test.toml"),
        "[[station]]\nname = \"Local Tone\"\nurl = \"http://127.0.0.1:9/live\"\n",
    )
    .expect("pack");
    let stations = dir.path().to_str().expect("utf8 path");
    let cli = alastor::cli::Cli::try_parse_from([
        "alastor",
        "--stations",
        stations,
        "stations",
        "check",
        "--json",
        "--timeout",
        "2s",
        "zzz-no-such-station",
    ])
    .expect("arguments parse");
    let error = alastor::cli::run(cli).expect_err("unknown station");
    assert!(
        format!("{error:#}").contains("zzz-no-such-station"),
        "{error:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_mid_stream_fails_as_stalled_after_some_audio() {
    let mut route = audio("audio/mpeg", MP3);
    if let Route::Audio { stall_after, .. } = &mut route {
        // About 1 s of 64 kbit/s audio, then silence: less than the 2 s the check must decode.
        *stall_after = Some(8_000);
    }
    let server = TestServer::start(vec![("/flaky.mp3", route)]);
    let budget = PreflightBudget {
        timeout: Duration::from_secs(4),
        decode: Duration::from_secs(2),
        allow_private_targets: false,
    };
    let report = check(vec![server.url("/flaky.mp3")], budget).await;
    assert!(!report.ok);
    assert_eq!(report.failure, Some(Failure::Stalled), "{report:#?}");
    assert_eq!(report.codec.as_deref(), Some("mp3"));
    assert!(
        report.seconds_decoded > 0.5 && report.seconds_decoded < 2.0,
        "{report:#?}"
    );
    assert!(report.elapsed_ms < 4_500, "took {} ms", report.elapsed_ms);
}
