//! Guild store at scale: a file store holding 10,000 guilds' settings. Settings read and durable
//! `update_settings` latency (p50/p99 over individually timed calls: criterion reports means, a command
//! feels the tail), and `resume_entries()` with 1,000 playing guilds (what a restart reads).
//!
//! Targets (issue 3): read p99 < 50 µs, durable write p99 < 10 ms. Numbers go into notes, never into tests.
//! Run: `cargo bench --bench store`.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use alastor::core::guild::{ResumeEntry, Volume};
use alastor::core::ids::{ChannelKey, GuildKey, RoleKey};
use alastor::core::station::StationId;
use alastor::core::store::Store;
use criterion::{Criterion, criterion_group, criterion_main};

const GUILDS: u64 = 10_000;
const PLAYING: u64 = 1_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    println!(
        "{what} over {} calls: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.90),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0),
    );
}

fn filled(dir: &std::path::Path) -> Store {
    let store = Store::open(dir).expect("store");
    let started = Instant::now();
    // One transaction per guild, as the bot writes them.
    for g in 1..=GUILDS {
        store
            .update_settings(GuildKey(g), |s| {
                s.voice_channel = Some(ChannelKey(g));
                s.set_dj_roles([RoleKey(g), RoleKey(g + 1)]);
                s.locale = Some("de".parse().expect("tag"));
            })
            .expect("write");
    }
    for g in 1..=PLAYING {
        store
            .put_resume(
                GuildKey(g),
                &ResumeEntry {
                    voice_channel: ChannelKey(g),
                    station: StationId::parse("radio-paradise").expect("slug"),
                    volume: Volume::UNITY,
                    text_channel: Some(ChannelKey(g + 1)),
                    started_by: None,
                    since: SystemTime::now(),
                    title: Some("Artist – Title".to_owned()),
                },
            )
            .expect("resume");
    }
    println!(
        "filled {GUILDS} guilds ({PLAYING} playing) in {:?}",
        started.elapsed()
    );
    store
}

fn bench_store(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = filled(dir.path());
    let mut rng = fastrand::Rng::with_seed(7);

    let reads: Vec<Duration> = (0..50_000)
        .map(|_| {
            let g = GuildKey(rng.u64(1..=GUILDS));
            let started = Instant::now();
            black_box(store.settings(g).expect("read"));
            started.elapsed()
        })
        .collect();
    report("settings read", reads);

    let writes: Vec<Duration> = (0..1_000)
        .map(|i| {
            let g = GuildKey(rng.u64(1..=GUILDS));
            let started = Instant::now();
            store
                .update_settings(g, |s| s.always_on = i % 2 == 0)
                .expect("write");
            started.elapsed()
        })
        .collect();
    report("durable update_settings", writes);

    let listings: Vec<Duration> = (0..200)
        .map(|_| {
            let started = Instant::now();
            let entries = store.resume_entries().expect("resume");
            assert_eq!(entries.len(), PLAYING as usize);
            started.elapsed()
        })
        .collect();
    report("resume_entries (1,000 playing)", listings);

    let mut group = c.benchmark_group("store_10k_guilds");
    group.bench_function("settings_read", |b| {
        b.iter(|| store.settings(black_box(GuildKey(rng.u64(1..=GUILDS)))));
    });
    group.sample_size(20);
    group.bench_function("durable_update_settings", |b| {
        b.iter(|| {
            store.update_settings(GuildKey(rng.u64(1..=GUILDS)), |s| {
                s.announce_now_playing = !s.announce_now_playing;
            })
        });
    });
    group.bench_function("resume_entries_1000", |b| b.iter(|| store.resume_entries()));
    group.finish();
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
