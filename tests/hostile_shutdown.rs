//! The process exits when told to, whatever the gateway does. Reported: SIGINT while the gateway kept
//! invalidating the session logged "shutdown complete" and never exited; SIGTERM was then ignored. The
//! bot now waits a bounded time for the gateway after its shutdown and exits non-zero past it; this
//! scenario (every session invalidated, SIGINT in the identify loop) pins the prompt exit.

mod common;

use std::time::{Duration, Instant};

use common::process::{bot_pid, signal};
use fake_discord::FakeDiscord;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_exits_even_while_the_gateway_keeps_invalidating_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = FakeDiscord::start().await;
    let mut bot = d
        .spawn_bot(
            env!("CARGO_BIN_EXE_alastor"),
            &["run"],
            &[
                (
                    "ALASTOR_DATA__DIR",
                    &dir.path().join("data").display().to_string(),
                ),
                ("RUST_LOG", "warn,alastor=info"),
            ],
        )
        .expect("spawn");
    let pid = bot_pid(&mut bot).await;
    // Every session is invalidated as soon as it exists: serenity keeps re-identifying, never READY.
    let started = Instant::now();
    while d.gateway().stats().identifies < 3 {
        d.gateway().invalid_session(false);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no identify loop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(&pid, "-INT");
    let signalled = Instant::now();
    let deadline = signalled + Duration::from_secs(30);
    let exit = loop {
        d.gateway().invalid_session(false);
        if let Some(status) = bot.exited() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 30 s after SIGINT:\n{}",
            bot.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!(
        "measure: SIGINT → exit in {:?} ({exit:?})",
        signalled.elapsed()
    );
    let logs = bot.logs().join("\n");
    assert!(logs.contains("shutting down"), "{logs}");
}
