//! Station catalog at scale: `StationIndex` build time, autocomplete latency (p50/p99 over a realistic mix of
//! typing prefixes, typos, aliases and genres) and process RSS, over 50,000 generated stations.
//!
//! Targets (issue 2): autocomplete p99 < 2 ms, build < 1.5 s, RSS < 100 MB. Numbers go into notes, never
//! into assertions. Run: `cargo bench --bench catalog`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use alastor::core::station::model::{Origin, StationDraft};
use alastor::core::station::search::MAX_AUTOCOMPLETE;
use alastor::core::station::{Catalog, StationIndex};
use criterion::{Criterion, criterion_group, criterion_main};

const STATIONS: usize = 50_000;
const SEED: u64 = 0x5EED_CA7A_1060;

const PREFIXES: &[&str] = &[
    "Radio",
    "BBC",
    "Antenne",
    "Absolut",
    "SomaFM",
    "Classic",
    "Deutschlandfunk",
    "NDR",
    "WDR",
    "Rádio",
    "Radio Swiss",
    "KEXP",
    "France",
    "Sky",
    "Capital",
    "Heart",
    "Kiss",
    "Energy",
    "Rock Antenne",
    "Jazz",
    "Bayern",
    "Ö",
    "Sveriges Radio",
    "NRK",
    "Triple",
    "City",
    "Hit",
    "Smooth",
    "Planet",
    "Radio Nova",
];
const CORES: &[&str] = &[
    "Paradise",
    "Thüringen",
    "Groove",
    "Salad",
    "Mellow",
    "Drone",
    "Zone",
    "Eclectic",
    "Lounge",
    "Chillout",
    "Relax",
    "Hits",
    "Oldies",
    "Schlager",
    "Country",
    "Metal",
    "Punk",
    "Indie",
    "Soul",
    "Funk",
    "Disco",
    "Techno",
    "House",
    "Trance",
    "Ambient",
    "Klassik",
    "Kultur",
    "Nachrichten",
    "Sport",
    "Talk",
    "Blues",
    "Reggae",
    "Latino",
    "Español",
    "Français",
    "Bremen",
    "München",
    "Zürich",
    "Wien",
    "Kraków",
    "Göteborg",
    "Lisboa",
    "Porto",
    "Milano",
    "Roma",
    "Paris",
    "Lyon",
    "London",
    "Manchester",
    "Dublin",
    "Seattle",
    "Boston",
    "Chicago",
    "Austin",
    "Berlin",
    "Hamburg",
    "Köln",
    "Dresden",
    "Leipzig",
    "Nürnberg",
];
const SUFFIXES: &[&str] = &[
    "FM", "1", "2", "3", "24", "Music", "Live", "Plus", "One", "Extra", "Gold", "Classics",
    "Radio", "XL", "Digital", "HD", "Eins", "Nord", "Süd", "West", "Ost", "Mix", "Max", "Top 40",
];
const TAGS: &[&str] = &[
    "pop",
    "rock",
    "jazz",
    "classical",
    "news",
    "talk",
    "ambient",
    "chillout",
    "eclectic",
    "indie",
    "electronic",
    "dance",
    "hip hop",
    "metal",
    "country",
    "folk",
    "blues",
    "soul",
    "schlager",
    "oldies",
    "culture",
    "sports",
    "world",
    "latin",
    "reggae",
    "lounge",
];

/// splitmix64: tiny, seeded, reproducible; no dependency for a benchmark's word picking.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[self.below(words.len())]
    }
}

struct Generated {
    catalog: Catalog,
    names: Vec<String>,
    aliases: Vec<String>,
}

fn generate(count: usize, seed: u64) -> Generated {
    let mut rng = Rng(seed);
    let origin = Origin::file("benches/catalog.rs");
    let mut names = Vec::with_capacity(count);
    let mut aliases = Vec::new();
    let stations: Vec<_> = (0..count)
        .map(|i| {
            let mut name = format!("{} {}", rng.pick(PREFIXES), rng.pick(CORES));
            if rng.below(3) > 0 {
                name.push(' ');
                name.push_str(rng.pick(SUFFIXES));
            }
            // Real catalogs repeat names across countries; the number keeps ids unique, as a pack would.
            if rng.below(4) == 0 {
                write!(name, " {}", i % 997).expect("writing to a String cannot fail");
            }
            let mut station_aliases = Vec::new();
            if rng.below(3) == 0 {
                let short: String = name
                    .split_whitespace()
                    .filter_map(|w| w.chars().next())
                    .collect::<String>()
                    .to_lowercase();
                station_aliases.push(format!("{short}{}", i % 100));
            }
            let tags = (0..=rng.below(3))
                .map(|_| rng.pick(TAGS).to_owned())
                .collect();
            let draft = StationDraft {
                id: Some(format!("station-{i}")),
                name: Some(name.clone()),
                streams: vec![format!("http://127.0.0.1:9/{i}")],
                aliases: station_aliases.clone(),
                tags,
                ..StationDraft::default()
            };
            names.push(name);
            aliases.extend(station_aliases);
            draft
                .validate(&origin)
                .expect("generated station is valid")
                .0
        })
        .collect();
    Generated {
        catalog: Catalog::new(stations),
        names,
        aliases,
    }
}

/// What people type into autocomplete: growing prefixes of a name, typos (a dropped, doubled or
/// swapped letter), aliases, genre words and the empty query.
fn query_mix(generated: &Generated, count: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| {
            let name = &generated.names[rng.below(generated.names.len())];
            let chars: Vec<char> = name.to_lowercase().chars().collect();
            match rng.below(10) {
                0..=3 => {
                    let cut = 1 + rng.below(chars.len());
                    chars[..cut].iter().collect()
                }
                4..=6 => {
                    let mut typo = chars.clone();
                    let at = rng.below(typo.len().saturating_sub(1)).max(1);
                    match rng.below(3) {
                        0 => {
                            typo.remove(at);
                        }
                        1 => typo.insert(at, typo[at]),
                        _ => typo.swap(at - 1, at),
                    }
                    typo.into_iter().collect()
                }
                7 if !generated.aliases.is_empty() => {
                    generated.aliases[rng.below(generated.aliases.len())].clone()
                }
                8 => rng.pick(TAGS).to_owned(),
                9 => String::new(),
                _ => name.clone(),
            }
        })
        .collect()
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

fn bench_catalog(c: &mut Criterion) {
    let rss_before = rss_kib();
    let generated = generate(STATIONS, SEED);
    let rss_catalog = rss_kib();

    let started = Instant::now();
    let index = StationIndex::build(&generated.catalog).expect("index builds");
    let first_build = started.elapsed();
    let rss_index = rss_kib();
    println!(
        "catalog: {STATIONS} stations; first build {first_build:?}; VmRSS: start {rss_before:?} KiB, \
         catalog {rss_catalog:?} KiB, catalog+index {rss_index:?} KiB"
    );

    // Per-query latency over the mix, measured one by one: criterion reports means, Discord feels the tail.
    let queries = query_mix(&generated, 20_000, SEED ^ 1);
    for query in queries.iter().take(500) {
        black_box(index.autocomplete(query, MAX_AUTOCOMPLETE));
    }
    let mut timed: Vec<(Duration, &str)> = queries
        .iter()
        .map(|query| {
            let started = Instant::now();
            black_box(index.autocomplete(black_box(query), MAX_AUTOCOMPLETE));
            (started.elapsed(), query.as_str())
        })
        .collect();
    timed.sort_unstable();
    let durations: Vec<Duration> = timed.iter().map(|(d, _)| *d).collect();
    println!(
        "autocomplete over {} mixed queries: p50 {:?}, p90 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
        durations.len(),
        percentile(&durations, 0.50),
        percentile(&durations, 0.90),
        percentile(&durations, 0.99),
        percentile(&durations, 0.999),
        percentile(&durations, 1.0),
    );
    let slowest: Vec<_> = timed.iter().rev().take(5).collect();
    println!("slowest queries: {slowest:?}");

    let mut group = c.benchmark_group("catalog");
    group.sample_size(10);
    group.bench_function("build_50k", |b| {
        b.iter(|| StationIndex::build(black_box(&generated.catalog)).expect("index builds"));
    });
    group.finish();

    let mut group = c.benchmark_group("autocomplete_50k");
    for (label, query) in [
        ("empty", ""),
        ("prefix_short", "ra"),
        ("prefix_two_words", "radio par"),
        ("typo", "radoi paradise"),
        ("long_typo", "deutschlandfnuk kultur"),
        ("genre", "jazz"),
        ("diacritics", "antenne thuringen"),
    ] {
        group.bench_function(label, |b| {
            b.iter(|| index.autocomplete(black_box(query), MAX_AUTOCOMPLETE));
        });
    }
    group.bench_function("mix", |b| {
        let mut at = 0;
        b.iter(|| {
            at = (at + 1) % queries.len();
            index.autocomplete(black_box(&queries[at]), MAX_AUTOCOMPLETE)
        });
    });
    group.finish();
}

criterion_group!(benches, bench_catalog);
criterion_main!(benches);
