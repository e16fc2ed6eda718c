//! The token never shows: not at `RUST_LOG=trace` through a whole session on the fake Discord (gateway,
//! REST, voice), not in any configuration error, not in `doctor`. Any 8-character piece of it found in
//! the output fails the test.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::radio::{fixture, radio};
use fake_discord::{FakeDiscord, GUILD_ID, LISTENER_ID, STARTUP_TIMEOUT};

/// The first 8-character window of `token` found in `text`, if any.
fn leaked_piece<'a>(token: &'a str, text: &str) -> Option<&'a str> {
    (0..=token.len().saturating_sub(8))
        .filter_map(|i| token.get(i..i + 8))
        .find(|piece| text.contains(piece))
}

fn assert_no_token(token: &str, what: &str, text: &str) {
    if let Some(piece) = leaked_piece(token, text) {
        let line = text.lines().find(|l| l.contains(piece)).unwrap_or_default();
        panic!("{what}: the token piece `{piece}` is in the output:\n{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_session_at_trace_level_never_prints_the_token() {
    let (station, _conns) = radio(fixture("tone-440hz.mp3"), "audio/mpeg").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let stations = dir.path().join("stations");
    std::fs::create_dir_all(&stations).expect("mkdir");
    std::fs::write(
        stations.join("test.toml"),
        format!("[[station]]\nname = \"Alpha FM\"\nurls = [\"{station}\"]\n"),
    )
    .expect("pack");
    let log_path = dir.path().join("bot.log");
    let log = std::fs::File::create(&log_path).expect("log file");

    let d = FakeDiscord::start().await;
    let token = d.token();
    // Run the binary directly: every line to a file (the harness keeps only the newest 20,000).
    let mut child = Command::new(env!("CARGO_BIN_EXE_alastor"))
        .arg("run")
        .envs(d.bot_env())
        .env("ALASTOR_STATIONS__DIR", &stations)
        .env("ALASTOR_DATA__DIR", dir.path().join("data"))
        .env("ALASTOR_DISCORD__DEV_GUILD", GUILD_ID.to_string())
        .env("RUST_LOG", "trace")
        .stdout(log.try_clone().expect("clone"))
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    d.wait_ready(STARTUP_TIMEOUT).await.expect("ready");
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
        .expect("playing: the voice gateway and UDP ran at trace too");
    // A reconnect sends IDENTIFY or RESUME again.
    d.gateway().disconnect(4000);
    let started = Instant::now();
    while d.gateway().stats().resumes == 0 && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = String::from_utf8_lossy(&std::fs::read(&log_path).expect("read log")).into_owned();
    assert!(
        text.lines().count() > 100,
        "trace logging ran ({} lines)",
        text.lines().count()
    );
    assert!(text.contains("TRACE"), "trace lines present");
    assert!(
        text.contains("Identifying"),
        "the IDENTIFY was logged around"
    );
    assert_no_token(&token, "alastor run at RUST_LOG=trace", &text);
}

fn run_with_config(config: &Path, args: &[&str], token_env: Option<&str>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alastor"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("DISCORD_TOKEN");
    cmd.env("RUST_LOG", "trace");
    if let Some(token) = token_env {
        cmd.env("DISCORD_TOKEN", token);
    }
    let out = cmd.output().expect("run");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn no_configuration_error_quotes_the_token() {
    let token = "MTQ5ODc2NTQzMjEwOTg3NjU0.GaBcDe.Zyxwvutsrqponmlkjihgfedcba9876543210";
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = [
        format!("[discord]\ntoken = {token}\n"),
        format!("[discord]\ntoken = \"{token}\n"),
        format!("[discord]\ntoken = '{token}\nnext = 1\n"),
        format!("[discord]\ntoken = \"{token}\"\ntoken = \"{token}\"\n"),
        format!("[discord]\ntoken = [\"{token}\"]\n"),
        format!("[discord]\ntoken = \"{token}\"\nunknown_key = 1\n"),
        format!("[discord]\ntoken = \"{token}\"\n[log]\nfilter = \"[{token}\"\n"),
        format!("discord.token = \"{token}\"\n[check]\ntimeout = \"{token}\"\n"),
    ];
    for (i, text) in broken.iter().enumerate() {
        let path = dir.path().join(format!("bad-{i}.toml"));
        std::fs::write(&path, text).expect("write");
        for args in [
            &["run"][..],
            &["doctor", "--quick"][..],
            &["stations", "list"][..],
        ] {
            let out = run_with_config(&path, args, None);
            assert!(!out.is_empty(), "case {i} {args:?} said something");
            assert_no_token(token, &format!("case {i}: alastor {args:?}"), &out);
        }
    }
    // A token that is syntactically fine but malformed, from the environment.
    let path = dir.path().join("empty.toml");
    std::fs::write(&path, "").expect("write");
    for bad in [token.replace('.', ""), format!("{token}.extra")] {
        for args in [&["run"][..], &["doctor", "--quick"][..]] {
            let out = run_with_config(&path, args, Some(&bad));
            assert_no_token(
                &bad,
                &format!("malformed env token, alastor {args:?}"),
                &out,
            );
        }
    }
}
