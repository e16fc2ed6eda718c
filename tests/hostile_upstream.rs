//! Upstreams that attack or lie: redirects into the operator's network, segments and playlists that never
//! end, durations that overflow, ids that do not exist. Every server here is a local one on 127.0.0.1; a
//! "public" station is a made-up host name the test's HTTP client resolves to it, so nothing leaves the
//! machine.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alastor::audio::preflight::{Failure, PreflightBudget, Target, preflight};
use alastor::audio::upstream::connect::{
    ConnectError, ConnectOptions, MAX_PLAYLIST_BYTES, PublicResolver, http_client_resolving,
    is_private_target, open,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use url::Url;

const MP3: &[u8] = include_bytes!("fixtures/audio/tone-440hz.mp3");

/// How one path answers.
#[derive(Clone)]
enum Answer {
    /// A redirect to this location.
    Redirect(String),
    /// A body with this content type.
    Body(&'static str, Arc<Vec<u8>>),
    /// A body that never ends (`content type`, chunk repeated forever, as fast as the socket takes it).
    Endless(&'static str, Arc<Vec<u8>>),
}

/// A local server answering `routes` by path (anything else: 404). Returns its address.
async fn serve(routes: Vec<(&'static str, Answer)>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let routes = Arc::new(routes);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let routes = Arc::clone(&routes);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 2048];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let answer = routes
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, a)| a.clone());
                let _ = match answer {
                    None => {
                        sock.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                            .await
                    }
                    Some(Answer::Redirect(location)) => {
                        let head = format!(
                            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
                        );
                        sock.write_all(head.as_bytes()).await
                    }
                    Some(Answer::Body(content_type, body)) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = sock.write_all(head.as_bytes()).await;
                        sock.write_all(&body).await
                    }
                    Some(Answer::Endless(content_type, chunk)) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n"
                        );
                        let _ = sock.write_all(head.as_bytes()).await;
                        loop {
                            if sock.write_all(&chunk).await.is_err() {
                                break Ok(());
                            }
                        }
                    }
                };
            });
        }
    });
    addr
}

/// A client that resolves `radio.example` to `addr`: the station looks public to the policy.
fn client_resolving_public_name(addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("radio.example", addr)
        .build()
        .expect("client")
}

fn public(addr: SocketAddr, path: &str) -> Url {
    Url::parse(&format!("http://radio.example:{}{path}", addr.port())).expect("url")
}

#[test]
fn private_targets_are_named_as_such() {
    for private in [
        "http://127.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://192.168.0.1:8000/",
        "http://172.16.5.4/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://localhost:8000/",
        "http://printer.local/",
        "http://db.internal/",
    ] {
        assert!(
            is_private_target(&Url::parse(private).expect("url")),
            "{private}"
        );
    }
    for public in [
        "http://8.8.8.8/",
        "http://radio.example/",
        "https://stream.example.org/live",
        "http://[2001:db8::1]/",
    ] {
        assert!(
            !is_private_target(&Url::parse(public).expect("url")),
            "{public}"
        );
    }
}

/// A public station that redirects to 127.0.0.1, to the cloud metadata address, or lists them in its
/// playlist, is not followed there (SSRF); the message says why and how to allow it.
#[tokio::test]
async fn a_public_station_cannot_send_the_bot_into_the_private_network() {
    let inner = serve(vec![(
        "/secret",
        Answer::Body("audio/mpeg", Arc::new(MP3.to_vec())),
    )])
    .await;
    let outer = serve(vec![
        (
            "/to-loopback",
            Answer::Redirect(format!("http://{inner}/secret")),
        ),
        (
            "/to-metadata",
            Answer::Redirect("http://169.254.169.254/latest/meta-data/".into()),
        ),
        (
            "/list.m3u",
            Answer::Body(
                "audio/x-mpegurl",
                Arc::new(format!("#EXTM3U\nhttp://{inner}/secret\n").into_bytes()),
            ),
        ),
    ])
    .await;
    let client = client_resolving_public_name(outer);
    let options = ConnectOptions::default();
    for path in ["/to-loopback", "/to-metadata", "/list.m3u"] {
        let error = open(&client, &public(outer, path), &options)
            .await
            .map(|_| ())
            .expect_err("refused");
        assert!(
            matches!(error, ConnectError::PrivateTarget { .. }),
            "{path}: {error}"
        );
        let message = error.to_string();
        assert!(
            message.contains("private address") && message.contains("allow_private_targets"),
            "{message}"
        );
    }

    // The operator's switch allows it; and a LAN station (its own URL private) may always use its LAN.
    let allowed = ConnectOptions {
        allow_private_targets: true,
        ..ConnectOptions::default()
    };
    assert!(
        open(&client, &public(outer, "/to-loopback"), &allowed)
            .await
            .is_ok()
    );
    let lan = Url::parse(&format!("http://{outer}/to-loopback")).expect("url");
    assert!(
        open(&client, &lan, &options).await.is_ok(),
        "a LAN station stays playable"
    );
}

/// DNS rebinding: a public-looking name that resolves to loopback (as `rebind.example` does here, by a fixed
/// answer standing in for an attacker's DNS) is refused at connect time, whether it is the station's own URL,
/// a redirect target or a playlist entry; the literal-address check could not see it.
#[tokio::test]
async fn a_public_name_resolving_to_a_private_address_is_refused_at_connect() {
    let inner = serve(vec![(
        "/secret",
        Answer::Body("audio/mpeg", Arc::new(MP3.to_vec())),
    )])
    .await;
    let rebound = format!("http://rebind.example:{}/secret", inner.port());
    let outer = serve(vec![
        ("/to-rebind", Answer::Redirect(rebound.clone())),
        (
            "/list.m3u",
            Answer::Body(
                "audio/x-mpegurl",
                Arc::new(format!("#EXTM3U\n{rebound}\n").into_bytes()),
            ),
        ),
    ])
    .await;
    let options = ConnectOptions::default();
    let resolver =
        PublicResolver::default().with_fixed_answer("rebind.example", [127, 0, 0, 1].into());
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(resolver.clone()))
        // radio.example stands for a public station that happens to be served by this test.
        .resolve("radio.example", outer)
        .build()
        .expect("client");
    let own = Url::parse(&rebound).expect("url");
    for url in [public(outer, "/to-rebind"), public(outer, "/list.m3u"), own] {
        let error = open(&client, &url, &options)
            .await
            .map(|_| ())
            .expect_err("refused");
        assert!(
            matches!(&error, ConnectError::ResolvesPrivate { source, .. } if source.host == "rebind.example"),
            "{url}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("resolves to 127.0.0.1") && message.contains("allow_private_targets"),
            "{message}"
        );
    }

    // The bot's own client (`http_client`) screens the same way.
    let bots = http_client_resolving(&options, resolver).expect("client");
    let error = open(&bots, &Url::parse(&rebound).expect("url"), &options)
        .await
        .map(|_| ())
        .expect_err("refused");
    assert!(
        matches!(error, ConnectError::ResolvesPrivate { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_redirect_to_a_file_url_says_where_it_pointed() {
    let addr = serve(vec![("/", Answer::Redirect("file:///etc/passwd".into()))]).await;
    let client = client_resolving_public_name(addr);
    let url = Url::parse(&format!("http://{addr}/")).expect("url");
    let error = open(&client, &url, &ConnectOptions::default())
        .await
        .map(|_| ())
        .expect_err("not followed");
    assert!(
        error
            .to_string()
            .contains("`file:///etc/passwd`, which is not an http(s) URL"),
        "{error}"
    );
}

/// A playlist larger than the cap is refused, never cut mid-line (a cut line was fetched as a URL).
#[tokio::test]
async fn an_oversized_playlist_is_refused_not_cut() {
    let line = "http://127.0.0.1:9/stream-entry-that-is-long-enough.mp3\n";
    let body = line.repeat(MAX_PLAYLIST_BYTES / line.len() + 10);
    let addr = serve(vec![(
        "/big.m3u",
        Answer::Body("audio/x-mpegurl", Arc::new(body.into_bytes())),
    )])
    .await;
    let client = client_resolving_public_name(addr);
    let url = Url::parse(&format!("http://{addr}/big.m3u")).expect("url");
    let error = open(&client, &url, &ConnectOptions::default())
        .await
        .map(|_| ())
        .expect_err("too large");
    assert!(matches!(error, ConnectError::TooLarge { .. }), "{error}");
}

/// An HLS segment that never ends is refused at the segment cap instead of being buffered whole, and
/// the check ends within its budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_hls_segment_is_cut_off_within_the_budget() {
    let playlist =
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\nseg1.aac\n";
    let addr = serve(vec![
        (
            "/live.m3u8",
            Answer::Body("application/vnd.apple.mpegurl", Arc::new(playlist.into())),
        ),
        (
            "/seg1.aac",
            Answer::Endless("audio/aac", Arc::new(vec![0x5a; 64 * 1024])),
        ),
    ])
    .await;
    let client = client_resolving_public_name(addr);
    let budget = PreflightBudget {
        timeout: Duration::from_secs(4),
        decode: Duration::from_secs(2),
        allow_private_targets: false,
    };
    let target = Target {
        station: Some("endless".into()),
        name: None,
        urls: vec![Url::parse(&format!("http://{addr}/live.m3u8")).expect("url")],
    };
    let started = Instant::now();
    let report = preflight(&client, &target, budget).await;
    let took = started.elapsed();
    assert!(!report.ok, "{report:?}");
    assert!(
        took < budget.timeout + Duration::from_secs(1),
        "took {took:?}"
    );
    let reason = report.reason.unwrap_or_default();
    assert!(
        reason.contains("larger than") || matches!(report.failure, Some(Failure::Timeout)),
        "{reason}"
    );
}

fn alastor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_alastor"))
}

fn pack_dir(stations: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.toml"), stations).expect("pack");
    dir
}

/// Regression: a `--timeout` (or `check.timeout`) of `u64::MAX` seconds panicked ("overflow when adding
/// duration to instant").
#[test]
fn an_enormous_timeout_saturates_instead_of_panicking() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let addr = runtime.block_on(serve(vec![(
        "/live.mp3",
        Answer::Body("audio/mpeg", Arc::new(MP3.repeat(4))),
    )]));
    let dir = pack_dir(&format!(
        "[[station]]\nname = \"Local\"\nurl = \"http://{addr}/live.mp3\"\n"
    ));
    for (flag, env) in [
        (Some("18446744073709551615s"), None),
        (None, Some("18446744073709551615s")),
    ] {
        let mut cmd = alastor();
        cmd.arg("--stations")
            .arg(dir.path())
            .args(["stations", "check", "--json"]);
        if let Some(timeout) = flag {
            cmd.args(["--timeout", timeout]);
        }
        if let Some(timeout) = env {
            cmd.env("ALASTOR_CHECK__TIMEOUT", timeout);
        }
        let out = cmd.output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_ne!(out.status.code(), Some(101), "{stderr}");
    }
}

/// Regression: `stations check <id>` with an unknown id silently checked a different station.
#[test]
fn an_unknown_id_is_an_error_with_did_you_mean() {
    let dir = pack_dir(
        "[[station]]\nname = \"Jazz FM\"\nurl = \"http://127.0.0.1:9/jazz\"\n\
         [[station]]\nname = \"Jazz Classics\"\nurl = \"http://127.0.0.1:9/classic\"\n",
    );
    let out = alastor()
        .arg("--stations")
        .arg(dir.path())
        .args(["stations", "check", "jaz-fm"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("no station has the id or name `jaz-fm`"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `jazz-fm`"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("127.0.0.1:9"),
        "nothing was checked"
    );
}

/// Serves `body` as `content_type` and checks it as station `id` would be (5 s, 1 s of decoding): the
/// check must fail, and this is its reason.
async fn failed_check_of(id: &str, content_type: &'static str, body: Vec<u8>) -> String {
    let addr = serve(vec![("/live", Answer::Body(content_type, Arc::new(body)))]).await;
    let client = client_resolving_public_name(addr);
    let budget = PreflightBudget {
        timeout: Duration::from_secs(5),
        decode: Duration::from_secs(1),
        allow_private_targets: false,
    };
    let target = Target {
        station: Some(id.into()),
        name: None,
        urls: vec![Url::parse(&format!("http://{addr}/live")).expect("url")],
    };
    let report = preflight(&client, &target, budget).await;
    assert!(!report.ok, "{id}: the check passed");
    report.reason.unwrap_or_default()
}

/// Regression: random bytes served as `audio/mpeg` were reported as "end of stream".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_labelled_as_mp3_say_no_mp3_frame_was_found() {
    let mut rng = fastrand::Rng::with_seed(17);
    let noise: Vec<u8> = (0..200_000).map(|_| rng.u8(..)).collect();
    let reason = failed_check_of("noise", "audio/mpeg", noise).await;
    assert!(
        reason.contains("ended before any MP3 audio frame was found"),
        "{reason}"
    );
}

/// Regression (found by the `decode_stream` fuzz target): these ADTS frames make symphonia's AAC decoder
/// index out of bounds (`aac/ics/mod.rs`). The decoder thread died and the stream looked as if it had
/// simply ended; now the station is reported as undecodable, with why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adts_frames_that_panic_symphonias_aac_decoder_are_reported_as_malformed() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/audio/malformed/adts-symphonia-ics-index-panic.aac"
    ))
    .expect("fixture");
    let reason = failed_check_of("malformed", "audio/aac", bytes).await;
    assert!(
        reason.contains("the audio decoder failed on malformed data")
            && reason.contains("index out of bounds"),
        "{reason}"
    );
}
