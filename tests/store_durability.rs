//! Durability: a child process writes settings and resume entries in a loop, printing each write only after
//! the store acknowledged it; the parent SIGKILLs it at random moments, many times, then reopens the store
//! and proves that every acknowledged write is there and every record still decodes.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use alastor::core::guild::{ResumeEntry, Volume};
use alastor::core::ids::{ChannelKey, GuildKey};
use alastor::core::station::StationId;
use alastor::core::store::Store;

const GUILDS: u64 = 4;
const ROUNDS: usize = 24;
const DIR_VAR: &str = "ALASTOR_DURABILITY_DIR";

/// The writer, run as a child by the test below. The counter of guild `g` lives in its idle timeout
/// (seconds) and in its resume entry's title, so both tables are exercised.
#[test]
#[ignore = "the child half of acknowledged_writes_survive_sigkill"]
fn durability_writer_child() {
    let dir = std::env::var(DIR_VAR).expect("run by the durability test");
    let store = Store::open(std::path::Path::new(&dir)).expect("open");
    let mut counters: HashMap<u64, u64> = (1..=GUILDS)
        .map(|g| {
            let current = store
                .settings(GuildKey(g))
                .expect("read")
                .idle_timeout
                .as_secs();
            (g, current)
        })
        .collect();
    let station = StationId::parse("fip").expect("slug");
    for step in 0_u64.. {
        let g = step % GUILDS + 1;
        let next = counters[&g] + 1;
        store
            .update_settings(GuildKey(g), |s| s.idle_timeout = Duration::from_secs(next))
            .expect("write settings");
        store
            .put_resume(
                GuildKey(g),
                &ResumeEntry {
                    voice_channel: ChannelKey(g),
                    station: station.clone(),
                    volume: Volume::UNITY,
                    text_channel: None,
                    started_by: None,
                    since: SystemTime::now(),
                    title: Some(next.to_string()),
                },
            )
            .expect("write resume");
        counters.insert(g, next);
        // Only now is the write acknowledged.
        println!("ack {g} {next}");
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut acked: HashMap<u64, u64> = HashMap::new();
    let mut total_acks = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "durability_writer_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the writer");
        let stdout = child.stdout.take().expect("stdout");
        let seen: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
        let sink = Arc::clone(&seen);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut parts = line.split_whitespace();
                if parts.next() != Some("ack") {
                    continue;
                }
                let g = parts.next().and_then(|p| p.parse().ok());
                let n = parts.next().and_then(|p| p.parse().ok());
                if let (Some(g), Some(n)) = (g, n) {
                    sink.lock().expect("lock").push((g, n));
                }
            }
        });
        // Random moments: right after start (maybe mid-open), or well into the write loop.
        let delay = 20 + fastrand::u64(..300);
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        reader.join().expect("reader");
        let acks = seen.lock().expect("lock").clone();
        total_acks += acks.len();
        for (g, n) in acks {
            let best = acked.entry(g).or_default();
            *best = (*best).max(n);
        }

        // Reopen after every kill: the file is consistent and nothing acknowledged is missing.
        let store = Store::open(dir.path())
            .unwrap_or_else(|e| panic!("round {round}: reopening after SIGKILL: {e}"));
        let counts = store
            .check()
            .unwrap_or_else(|e| panic!("round {round}: a record does not decode: {e}"));
        assert!(counts.guild_settings <= GUILDS as usize);
        for (g, n) in &acked {
            let stored = store
                .settings(GuildKey(*g))
                .expect("read")
                .idle_timeout
                .as_secs();
            assert!(
                stored >= *n,
                "round {round}: guild {g} acknowledged {n} but the store has {stored}"
            );
        }
        let resume: HashMap<u64, u64> = store
            .resume_entries()
            .expect("resume entries")
            .into_iter()
            .map(|(g, e)| (g.0, e.title.and_then(|t| t.parse().ok()).unwrap_or(0)))
            .collect();
        for (g, n) in &acked {
            assert!(
                resume.get(g).copied().unwrap_or(0) >= *n,
                "round {round}: guild {g} resume entry behind the acknowledged {n}"
            );
        }
    }
    eprintln!("durability: {ROUNDS} SIGKILLs, {total_acks} acknowledged writes, all present");
    assert!(total_acks > 0, "the writer never got to write");
}
