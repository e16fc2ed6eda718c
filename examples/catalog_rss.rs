//! Memory of a 50,000-station catalog loaded the way `alastor run` loads it (TOML packs from a folder), then
//! indexed: VmRSS/VmHWM deltas from /proc/self/status after each stage, so the numbers include allocator
//! overhead and the transient peak of parsing. Issue 2's target: RSS < 100 MB for catalog + index.
//!
//! Run: `cargo run --release --example catalog_rss [-- STATIONS [PACKS]]`.

use std::fmt::Write as _;
use std::time::Instant;

use alastor::core::station::loader::load_dir;
use alastor::core::station::{Station, StationIndex};
use cap::Cap;

// Live heap bytes: VmRSS alone overstates the catalog, because glibc keeps freed parse buffers mapped.
#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

const GENRES: &[&str] = &[
    "pop", "rock", "jazz", "news", "talk", "ambient", "indie", "dance", "schlager",
];
const WORDS: &[&str] = &[
    "Radio",
    "BBC",
    "Antenne",
    "Absolut",
    "Classic",
    "Paradise",
    "Thüringen",
    "Groove",
    "Mellow",
    "Kultur",
    "Hits",
    "Oldies",
    "Lounge",
    "Zürich",
    "München",
    "Nova",
    "Sky",
    "Energy",
    "FM",
    "Live",
];

fn status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn report(stage: &str, base: u64) {
    let rss = status_kib("VmRSS:");
    let hwm = status_kib("VmHWM:");
    println!(
        "{stage:<28} heap {:>6.1} MB   VmRSS {:>6.1} MB (+{:>6.1} MB)   VmHWM {:>6.1} MB",
        ALLOCATOR.allocated() as f64 / 1_048_576.0,
        rss as f64 / 1024.0,
        rss.saturating_sub(base) as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let stations: usize = args.next().map_or(Ok(50_000), |a| a.parse())?;
    let packs: usize = args.next().map_or(Ok(50), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let mut seed: u64 = 0x5EED;
    let mut pick = |words: &[&'static str]| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        words[(seed % words.len() as u64) as usize]
    };
    let per_pack = stations.div_ceil(packs);
    for pack in 0..packs {
        let mut text = String::new();
        for i in pack * per_pack..((pack + 1) * per_pack).min(stations) {
            let (a, b, c) = (pick(WORDS), pick(WORDS), pick(WORDS));
            let genre = pick(GENRES);
            writeln!(
                text,
                "[[station]]\nid = \"station-{i}\"\nname = \"{a} {b} {c} {i}\"\n\
                 urls = [\"http://127.0.0.1:9/{i}.mp3\"]\naliases = [\"s{i}\"]\ntags = [\"{genre}\"]\n\
                 country = \"DE\"\nbitrate = 128\n"
            )?;
        }
        std::fs::write(dir.path().join(format!("pack-{pack:03}.toml")), text)?;
    }

    println!(
        "size_of::<Station>() = {} bytes",
        std::mem::size_of::<Station>()
    );
    let base = status_kib("VmRSS:");
    report("start", base);
    let started = Instant::now();
    let load = load_dir(dir.path())?;
    let load_time = started.elapsed();
    report("packs loaded (catalog)", base);
    println!(
        "  {} stations from {} packs in {load_time:?}, {} diagnostics",
        load.catalog.len(),
        load.packs,
        load.diagnostics.len()
    );
    let started = Instant::now();
    let index = StationIndex::build(&load.catalog)?;
    println!("  index built in {:?}", started.elapsed());
    report("catalog + index", base);
    let catalog_bytes = ALLOCATOR.allocated();
    drop(load);
    report("index only (catalog dropped)", base);
    println!(
        "  catalog heap: {:.1} MB ({} bytes/station)",
        (catalog_bytes - ALLOCATOR.allocated()) as f64 / 1_048_576.0,
        (catalog_bytes - ALLOCATOR.allocated()) / stations.max(1)
    );
    drop(index);
    report("nothing (both dropped)", base);
    Ok(())
}
