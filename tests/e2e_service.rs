//! The real binary under a service manager's eyes: `NOTIFY_SOCKET` pointing at a datagram socket this test
//! binds, as systemd does for `Type=notify`. READY once connected, watchdog pings, RELOADING on SIGHUP, and on
//! SIGTERM STOPPING, a clean exit and the resume state on disk.

mod common;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alastor::core::ids::GuildKey;
use alastor::core::store::Store;
use common::process::{bot_pid, signal};
use common::radio::{fixture, radio};
use fake_discord::{FakeDiscord, GUILD_ID, LISTENER_ID, STARTUP_TIMEOUT};

/// Every notification the bot sent, in order.
#[derive(Clone, Default)]
struct Notifications(Arc<Mutex<Vec<String>>>);

impl Notifications {
    fn listen(socket: tokio::net::UnixDatagram) -> Self {
        let seen = Self::default();
        let sink = seen.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = socket.recv(&mut buf).await {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.0.lock().expect("lock").push(text);
            }
        });
        seen
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().expect("lock").clone()
    }

    fn count(&self, line: &str) -> usize {
        self.all()
            .iter()
            .filter(|m| m.lines().any(|l| l == line))
            .count()
    }

    async fn wait(&self, line: &str, at_least: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count(line) < at_least {
            assert!(
                Instant::now() < deadline,
                "no {at_least}× {line:?} within {timeout:?}; got {:?}",
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_ready_watchdog_reload_and_a_clean_sigterm_with_resume_state() {
    let (alpha, _conns) = radio(fixture("tone-440hz.mp3"), "audio/mpeg").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let stations = dir.path().join("stations");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&stations).expect("mkdir");
    std::fs::write(
        stations.join("test.toml"),
        format!("[[station]]\nname = \"Alpha FM\"\nurls = [\"{alpha}\"]\n"),
    )
    .expect("pack");
    let socket_path = dir.path().join("notify.sock");
    let notifications = Notifications::listen(
        tokio::net::UnixDatagram::bind(&socket_path).expect("bind the notify socket"),
    );

    let d = FakeDiscord::start().await;
    let started = Instant::now();
    let mut bot = d
        .spawn_bot(
            env!("CARGO_BIN_EXE_alastor"),
            &["run"],
            &[
                ("ALASTOR_STATIONS__DIR", &stations.display().to_string()),
                ("ALASTOR_DATA__DIR", &data.display().to_string()),
                ("NOTIFY_SOCKET", &socket_path.display().to_string()),
                // 400 ms: pings every 200 ms.
                ("WATCHDOG_USEC", "400000"),
                ("RUST_LOG", "warn,alastor=info"),
            ],
        )
        .expect("spawn");
    let pid = bot_pid(&mut bot).await;

    notifications.wait("READY=1", 1, STARTUP_TIMEOUT).await;
    eprintln!("measure: spawn → READY=1 in {:?}", started.elapsed());
    assert!(
        d.commands(None).len() >= 3,
        "READY comes after the commands are registered"
    );
    notifications
        .wait("WATCHDOG=1", 3, Duration::from_secs(10))
        .await;

    let reply = d
        .guild(GUILD_ID)
        .member(LISTENER_ID)
        .run("/radio play", [("station", "alpha-fm")])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("reply");
    assert!(reply.content().contains("Alpha FM"), "{}", reply.content());
    d.guild(GUILD_ID)
        .voice()
        .wait_for_tone(440.0, Duration::from_secs(40))
        .await
        .expect("playing");

    // `systemctl reload`: RELOADING=1, then READY=1 again.
    signal(&pid, "-HUP");
    notifications
        .wait("RELOADING=1", 1, Duration::from_secs(20))
        .await;
    notifications
        .wait("READY=1", 2, Duration::from_secs(20))
        .await;
    bot.wait_for_log("station packs reloaded", Duration::from_secs(20))
        .await
        .expect("reload logged");

    signal(&pid, "-TERM");
    notifications
        .wait("STOPPING=1", 1, Duration::from_secs(20))
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = bot.exited() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "clean exit: {exit:?}");

    let store = Store::open(&data).expect("the store opens after a clean exit");
    let entries = store.resume_entries().expect("resume entries");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].0, GuildKey(GUILD_ID));
    assert_eq!(entries[0].1.station.as_str(), "alpha-fm");
    let status_lines: Vec<String> = notifications
        .all()
        .iter()
        .flat_map(|m| m.lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| l.starts_with("STATUS="))
        .collect();
    assert!(!status_lines.is_empty(), "STATUS= lines: {status_lines:?}");
}

/// Writes `count` generated stations as 50 TOML packs (names from a small vocabulary, one alias, a genre).
fn generated_packs(dir: &std::path::Path, count: usize) {
    const WORDS: [&str; 12] = [
        "Radio", "Nova", "Jazz", "Classic", "Rock", "City", "Wave", "Sound", "Deep", "Star",
        "Metro", "Blue",
    ];
    const GENRES: [&str; 6] = ["jazz", "rock", "pop", "news", "classical", "electronic"];
    let per_pack = count.div_ceil(50);
    for pack in 0..50 {
        let mut text = String::new();
        for i in pack * per_pack..((pack + 1) * per_pack).min(count) {
            let (a, b) = (WORDS[i % 12], WORDS[(i / 12) % 12]);
            let genre = GENRES[i % 6];
            let _ = write!(
                text,
                "[[station]]\nid = \"station-{i}\"\nname = \"{a} {b} {i}\"\n\
                 urls = [\"http://127.0.0.1:9/{i}.mp3\"]\naliases = [\"s{i}\"]\ntags = [\"{genre}\"]\n\
                 country = \"DE\"\nbitrate = 128\n\n"
            );
        }
        std::fs::write(dir.join(format!("pack-{pack:02}.toml")), text).expect("pack");
    }
}

fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Startup to READY=1 and idle RSS with the shipped packs and with 50,000 stations. Point
/// `MEASURE_ALASTOR_BIN` at a release build (`target/release/alastor`) for numbers worth reporting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run with --ignored --nocapture"]
async fn measure_ready_time_and_idle_rss() {
    let bin = std::env::var("MEASURE_ALASTOR_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_alastor").to_owned());
    let generated = tempfile::tempdir().expect("tempdir");
    generated_packs(generated.path(), 50_000);
    let shipped = format!("{}/stations", env!("CARGO_MANIFEST_DIR"));
    for (label, stations) in [
        ("shipped packs", shipped.clone()),
        ("50,000 stations", generated.path().display().to_string()),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket_path = dir.path().join("notify.sock");
        let notifications =
            Notifications::listen(tokio::net::UnixDatagram::bind(&socket_path).expect("bind"));
        let d = FakeDiscord::start().await;
        let started = Instant::now();
        let mut bot = d
            .spawn_bot(
                &bin,
                &["run"],
                &[
                    ("ALASTOR_STATIONS__DIR", stations.as_str()),
                    (
                        "ALASTOR_DATA__DIR",
                        &dir.path().join("data").display().to_string(),
                    ),
                    ("NOTIFY_SOCKET", &socket_path.display().to_string()),
                    ("RUST_LOG", "warn,alastor=info"),
                ],
            )
            .expect("spawn");
        notifications.wait("READY=1", 1, STARTUP_TIMEOUT).await;
        let ready = started.elapsed();
        let line = bot
            .wait_for_log("alastor starting", STARTUP_TIMEOUT)
            .await
            .expect("start line");
        let pid: String = line
            .split("pid=")
            .nth(1)
            .expect("pid")
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let rss = rss_kib(&pid).unwrap_or_default();
        eprintln!(
            "measure: {label}: spawn → READY=1 in {ready:?}, idle RSS {:.1} MiB",
            rss as f64 / 1024.0
        );
        bot.kill().await;
    }
}
