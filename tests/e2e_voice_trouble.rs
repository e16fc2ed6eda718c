//! Voice trouble end to end: Discord's voice close codes and a voice server move, scripted in the fake Discord
//! (`fake_discord::voice_trouble`) while the real `alastor run` binary plays a local 440 Hz station, one guild
//! per kind of trouble so one bot process covers several.
//!
//! What each test shows, as the fake sees it:
//! - 4015 → songbird resumes (op 7, `resumes` +1, no new IDENTIFY) and the tone continues;
//! - 4006 → a fresh join: a new op 4, a new IDENTIFY with a new token, the tone returns;
//! - 4009 → songbird's RESUME is refused (4006, the session expired), then a fresh join as for 4006;
//! - a `VOICE_SERVER_UPDATE` to another voice server mid-play → IDENTIFY on the new server, the tone returns;
//! - 4014 with the bot's voice state gone (a kick) → the session ends at once and says so; a bare 4014 →
//!   it ends after the grace and the bot leaves; 4017 → an error in the log naming DAVE, the bot leaves; in
//!   all three no reconnect follows and the store keeps no resume entry for the guild;
//! - 4021 / 4022 with the next IDENTIFYs refused → rejoins spaced by the backoff (counted over a window),
//!   then the tone returns.

mod common;

use std::time::{Duration, Instant};

use common::radio::{fixture, radio};
use fake_discord::world::{Guild, World};
use fake_discord::{FakeDiscord, STARTUP_TIMEOUT, VoiceAttempt};

const VOICE_TIMEOUT: Duration = Duration::from_secs(40);

struct Setup {
    _dirs: tempfile::TempDir,
    stations: String,
    data: String,
}

/// One station, Alpha FM: a 440 Hz MP3 from a local radio.
async fn stations() -> Setup {
    let (alpha, _) = radio(fixture("tone-440hz.mp3"), "audio/mpeg").await;
    let dirs = tempfile::tempdir().expect("tempdir");
    let stations = dirs.path().join("stations");
    let data = dirs.path().join("data");
    std::fs::create_dir_all(&stations).expect("mkdir");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(
        stations.join("test.toml"),
        format!("[[station]]\nname = \"Alpha FM\"\nurls = [\"{alpha}\"]\ntags = [\"test\"]\n"),
    )
    .expect("write pack");
    Setup {
        stations: stations.display().to_string(),
        data: data.display().to_string(),
        _dirs: dirs,
    }
}

/// Guild `n` of a test: ids `n*10 + {0 guild, 1 voice, 2 text, 3 listener}`, the listener in voice.
#[derive(Debug, Clone, Copy)]
struct G(u64);

impl G {
    fn id(self) -> u64 {
        self.0 * 10
    }
    fn voice(self) -> u64 {
        self.0 * 10 + 1
    }
    fn text(self) -> u64 {
        self.0 * 10 + 2
    }
    fn listener(self) -> u64 {
        self.0 * 10 + 3
    }
}

fn world(guilds: &[G]) -> World {
    guilds.iter().fold(World::empty(), |w, g| {
        w.guild(
            Guild::new(g.id(), format!("guild {}", g.0))
                .text_channel(g.text(), "general")
                .voice_channel(g.voice(), "Radio")
                .member(g.listener(), "ann", &[])
                .in_voice(g.listener(), g.voice()),
        )
    })
}

async fn start(s: &Setup, guilds: &[G]) -> (FakeDiscord, fake_discord::BotProcess) {
    let d = FakeDiscord::builder()
        .world(world(guilds))
        .start()
        .await
        .expect("fake");
    let bot = d
        .spawn_bot(
            env!("CARGO_BIN_EXE_alastor"),
            &["run"],
            &[
                ("ALASTOR_STATIONS__DIR", s.stations.as_str()),
                ("ALASTOR_DATA__DIR", s.data.as_str()),
                ("RUST_LOG", "warn,alastor=info"),
            ],
        )
        .expect("spawn the bot");
    d.wait_ready(STARTUP_TIMEOUT).await.expect("ready");
    for g in guilds {
        let reply = d
            .guild(g.id())
            .member(g.listener())
            .in_channel(g.text())
            .run("/radio play", [("station", "alpha-fm")])
            .await
            .expect("dispatched")
            .reply()
            .await
            .expect("reply");
        assert!(reply.content().contains("Alpha FM"), "{}", reply.content());
    }
    for g in guilds {
        d.guild(g.id())
            .voice()
            .wait_for_tone(440.0, VOICE_TIMEOUT)
            .await
            .expect("playing before the trouble");
    }
    (d, bot)
}

/// The bot's op 4 voice state updates for `guild` so far.
fn op4_count(d: &FakeDiscord, guild: u64) -> usize {
    d.gateway()
        .stats()
        .voice_state_updates
        .iter()
        .filter(|v| {
            v.get("guild_id").and_then(|g| {
                g.as_str()
                    .map(str::to_owned)
                    .or_else(|| g.as_u64().map(|n| n.to_string()))
            }) == Some(guild.to_string())
        })
        .count()
}

fn identifies(attempts: &[VoiceAttempt]) -> Vec<&VoiceAttempt> {
    attempts.iter().filter(|a| a.op == "IDENTIFY").collect()
}

/// Waits until the fake took a voice `op` ("IDENTIFY"/"RESUME") of `guild` after `since` without a scripted
/// refusal; returns when it arrived.
async fn wait_attempt(
    d: &FakeDiscord,
    guild: u64,
    op: &str,
    since: Instant,
    timeout: Duration,
) -> Instant {
    let deadline = Instant::now() + timeout;
    loop {
        let fresh = d
            .guild(guild)
            .voice()
            .attempts()
            .iter()
            .find(|a| a.op == op && a.refused.is_none() && a.at >= since)
            .map(|a| a.at);
        if let Some(at) = fresh {
            return at;
        }
        assert!(
            Instant::now() < deadline,
            "guild {guild}: no accepted voice {op} within {timeout:?}; attempts: {:?}",
            d.guild(guild).voice().attempts()
        );
        // Attempts are recorded under the fake's lock; a 50 ms poll is plenty for second-scale backoffs.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// After `code` (4006 or 4009) at `trouble`: a fresh join (a new op 4 and voice session) and the tone returns.
async fn assert_fresh_join(
    d: &FakeDiscord,
    g: G,
    before: &(fake_discord::VoiceStats, usize),
    code: u16,
    trouble: Instant,
) {
    let voice = d.guild(g.id()).voice();
    let joined = wait_attempt(d, g.id(), "IDENTIFY", trouble, VOICE_TIMEOUT).await;
    voice
        .wait_for_tone_since(440.0, joined, VOICE_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{code}: the tone after the fresh join: {e}"));
    let after = voice.stats();
    assert!(
        after.connections > before.0.connections && after.ssrc != before.0.ssrc,
        "{code}: a new voice session: {after:?}"
    );
    assert!(
        op4_count(d, g.id()) > before.1,
        "{code}: the fresh join asked the gateway again (op 4)"
    );
    assert_eq!(
        d.guild(g.id()).bot_voice_channel(),
        Some(g.voice()),
        "{code}"
    );
    let attempts = voice.attempts();
    let resume_attempts: Vec<_> = attempts
        .iter()
        .filter(|a| a.op == "RESUME" && a.at >= trouble)
        .collect();
    if code == 4009 {
        // songbird tried to resume the timed-out session first; the fake refused it as Discord does.
        assert!(
            !resume_attempts.is_empty() && resume_attempts.iter().all(|a| a.refused == Some(4006)),
            "4009: {attempts:?}"
        );
    } else {
        assert!(
            resume_attempts.is_empty(),
            "4006 is not resumable: {attempts:?}"
        );
    }
    eprintln!(
        "measure: {code} → tone again after a fresh join; attempts since: {:?}",
        attempts
            .iter()
            .filter(|a| a.at >= trouble)
            .map(|a| (a.op, a.refused, a.at.duration_since(trouble)))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_expiry_and_server_move_keep_the_station_playing() {
    let (crash, invalid, timeout, moved) = (G(100), G(110), G(120), G(130));
    let s = stations().await;
    let (d, bot) = start(&s, &[crash, invalid, timeout, moved]).await;
    let before: Vec<_> = [crash, invalid, timeout, moved]
        .iter()
        .map(|g| (d.guild(g.id()).voice().stats(), op4_count(&d, g.id())))
        .collect();

    let trouble = Instant::now();
    assert!(
        d.guild(crash.id()).voice().disconnect(4015),
        "crash: voice open"
    );
    assert!(
        d.guild(invalid.id()).voice().expire_session(4006),
        "4006: voice open"
    );
    assert!(
        d.guild(timeout.id()).voice().expire_session(4009),
        "4009: voice open"
    );
    let endpoint = d.guild(moved.id()).voice().move_endpoint().expect("moved");

    // 4015: songbird resumes on the same session, no new IDENTIFY.
    let voice = d.guild(crash.id()).voice();
    let resumed = wait_attempt(&d, crash.id(), "RESUME", trouble, VOICE_TIMEOUT).await;
    voice
        .wait_for_tone_since(440.0, resumed, VOICE_TIMEOUT)
        .await
        .expect("4015: the tone continues after the resume");
    let after = voice.stats();
    assert_eq!(after.resumes, before[0].0.resumes + 1, "{after:?}");
    assert_eq!(
        after.connections, before[0].0.connections,
        "a resume, not a new session"
    );
    assert_eq!(
        identifies(&voice.attempts())
            .iter()
            .filter(|a| a.at >= trouble)
            .count(),
        0
    );

    // 4006 and 4009: a fresh join (a new op 4, a new voice session) and the tone returns.
    assert_fresh_join(&d, invalid, &before[1], 4006, trouble).await;
    assert_fresh_join(&d, timeout, &before[2], 4009, trouble).await;

    // The server move: songbird connects to the new endpoint with the new token by itself.
    let voice = d.guild(moved.id()).voice();
    let joined = wait_attempt(&d, moved.id(), "IDENTIFY", trouble, VOICE_TIMEOUT).await;
    voice
        .wait_for_tone_since(440.0, joined, VOICE_TIMEOUT)
        .await
        .expect("the tone after the move");
    assert!(
        voice
            .attempts()
            .iter()
            .any(|a| a.moved && a.refused.is_none()),
        "IDENTIFY with the moved allocation's token: {:?}",
        voice.attempts()
    );
    assert!(
        voice.moved_server_connections() >= 1,
        "connected to {endpoint}"
    );
    assert_eq!(d.guild(moved.id()).bot_voice_channel(), Some(moved.voice()));
    drop(bot);
}

/// `alastor data export` of the (stopped) bot's store: the guild ids with a resume entry.
fn resume_entries(s: &Setup) -> Vec<u64> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alastor"))
        .args(["data", "export"])
        .env("ALASTOR_DATA__DIR", &s.data)
        .env("ALASTOR_STATIONS__DIR", &s.stations)
        .output()
        .expect("run alastor data export");
    assert!(
        out.status.success(),
        "export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump: serde_json::Value = serde_json::from_slice(&out.stdout).expect("export is JSON");
    dump["resume"]
        .as_object()
        .expect("resume table")
        .keys()
        .map(|k| k.parse().expect("guild id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kicks_4014_and_4017_end_the_session_without_reconnecting() {
    let (kicked, bare, dave, control) = (G(200), G(210), G(220), G(230));
    let s = stations().await;
    let (d, mut bot) = start(&s, &[kicked, bare, dave, control]).await;
    let attempts_before: Vec<usize> = [kicked, bare, dave]
        .iter()
        .map(|g| d.guild(g.id()).voice().attempts().len())
        .collect();

    let trouble = Instant::now();
    d.guild(kicked.id()).voice().kick().expect("kick");
    assert!(
        d.guild(bare.id()).voice().disconnect(4014),
        "4014: voice open"
    );
    assert!(
        d.guild(dave.id()).voice().disconnect(4017),
        "4017: voice open"
    );

    // A kick: the session ends at once and says so in the channel it was started from.
    let notice = d
        .guild(kicked.id())
        .wait_message(VOICE_TIMEOUT, |m| {
            m.channel_id == kicked.text() && m.content.contains("disconnected from voice")
        })
        .await
        .expect("the kick is announced");
    eprintln!(
        "kick: {:?} after the kick: {}",
        trouble.elapsed(),
        notice.content()
    );

    // A bare 4014 (no voice state change): after the grace the bot leaves and says so.
    d.guild(bare.id())
        .wait_bot_voice_channel(None, VOICE_TIMEOUT)
        .await
        .expect("4014: the bot leaves the channel (op 4 null) after the grace");
    let left_after = trouble.elapsed();
    assert!(
        left_after >= Duration::from_secs(4),
        "4014 waits for a possible move before it gives up: left after {left_after:?}"
    );
    d.guild(bare.id())
        .wait_message(VOICE_TIMEOUT, |m| {
            m.content.contains("disconnected from voice")
        })
        .await
        .expect("4014 is announced");

    // 4017: an error naming DAVE, the bot leaves, the channel is told.
    // Waited for by its code: "DAVE" alone also matches the voice libraries' own lines about the handshake.
    let line = bot
        .wait_for_log("4017", VOICE_TIMEOUT)
        .await
        .expect("a log line naming 4017");
    assert!(line.contains("DAVE") && line.contains("ERROR"), "{line}");
    d.guild(dave.id())
        .wait_bot_voice_channel(None, VOICE_TIMEOUT)
        .await
        .expect("4017: the bot leaves");
    d.guild(dave.id())
        .wait_message(VOICE_TIMEOUT, |m| m.content.contains("(DAVE)"))
        .await
        .expect("4017 is announced");

    // No reconnect loop: over a further window, not one voice IDENTIFY or RESUME in the three guilds, and
    // the three are silent while the control guild still plays. (An absence has no event to wait for.)
    tokio::time::sleep(Duration::from_secs(4)).await;
    for (g, before) in [kicked, bare, dave].iter().zip(&attempts_before) {
        let attempts = d.guild(g.id()).voice().attempts();
        assert_eq!(
            attempts.len(),
            *before,
            "guild {}: reconnect attempts after a final close: {:?}",
            g.id(),
            &attempts[*before..]
        );
        assert!(
            d.guild(g.id()).voice().is_silent(),
            "guild {} is silent",
            g.id()
        );
        assert_eq!(
            d.guild(g.id()).bot_voice_channel(),
            None,
            "guild {}",
            g.id()
        );
    }
    d.guild(control.id())
        .voice()
        .wait_for_tone(440.0, VOICE_TIMEOUT)
        .await
        .expect("the control guild plays on");
    assert_eq!(
        bot.log_lines_containing("(4017)").len(),
        1,
        "one DAVE error, not one per retry"
    );

    // SIGKILL (no shutdown path), then read the store: only the control guild would be resumed.
    bot.kill().await;
    assert_eq!(resume_entries(&s), vec![control.id()]);
}

/// IDENTIFY attempts (accepted or not) after `since`, as offsets from it.
fn identify_times(attempts: &[VoiceAttempt], since: Instant) -> Vec<(Duration, Option<u16>)> {
    identifies(attempts)
        .into_iter()
        .filter(|a| a.at >= since)
        .map(|a| (a.at.duration_since(since), a.refused))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_terminated_calls_back_off_then_recover() {
    let (limited, terminated) = (G(300), G(310));
    let s = stations().await;
    let (d, bot) = start(&s, &[limited, terminated]).await;
    // Each rejoin is up to 3 IDENTIFYs (songbird's own retries, ~1 s and ~2 s apart): refusing 4 makes the
    // first rejoin fail entirely, so the session's own backoff is exercised before the 5th is accepted.
    d.guild(limited.id()).voice().refuse_identify(4021, 4);
    d.guild(terminated.id()).voice().refuse_identify(4022, 4);
    let trouble = Instant::now();
    assert!(
        d.guild(limited.id()).voice().disconnect(4021),
        "4021: voice open"
    );
    assert!(
        d.guild(terminated.id()).voice().disconnect(4022),
        "4022: voice open"
    );

    for (g, code, first_wait) in [(limited, 4021, 5), (terminated, 4022, 2)] {
        let voice = d.guild(g.id()).voice();
        voice
            .wait_for_tone_since(440.0, trouble, Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{code}: the tone after the backoff: {e}"));
        let times = identify_times(&voice.attempts(), trouble);
        eprintln!("measure: {code} → IDENTIFYs at {times:?}");
        // Backoff before the first rejoin: nothing within the first wait (less 10 % jitter).
        let first = times.first().expect("a rejoin").0;
        assert!(
            first >= Duration::from_secs(first_wait) * 9 / 10,
            "{code}: first IDENTIFY {first:?} after the close"
        );
        // The first rejoin is songbird's 3 tries (its own retries, ~1 s and ~2 s apart); the next rejoin waits
        // at least twice the first wait after the last of them. Only lower bounds: a busy machine is slower,
        // never faster.
        let refused: Vec<Duration> = times
            .iter()
            .filter(|(_, r)| *r == Some(code))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(refused.len(), 4, "{code}: {times:?}");
        let (burst, rest) = refused.split_at(3);
        let burst_end = burst[2];
        assert!(
            rest[0].saturating_sub(burst_end) >= Duration::from_secs(first_wait * 2) * 9 / 10,
            "{code}: the second rejoin backs off: {times:?}"
        );
        // No hammering: over the whole episode, every IDENTIFY is accounted for (4 refused + 1 accepted).
        assert_eq!(times.len(), 5, "{code}: {times:?}");
        assert_eq!(d.guild(g.id()).bot_voice_channel(), Some(g.voice()));
    }
    drop(bot);
}
