//! Measurement over real playlists (`/work/shared/corpus/playlists`, 654 files from 6 public repositories):
//! how many of the stream URLs the files list end up playable stations, why the rest are dropped, and
//! what loading costs. Ignored by default (the corpus is not part of the repository); run it with
//!
//! ```text
//! cargo test --release --test corpus -- --ignored --nocapture
//! ```
//!
//! `ALASTOR_CORPUS` points at another copy of the corpus folder (the one holding `playlists/`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use alastor::core::station::loader::{DropReasonKind, load_dir};

/// The corpus folder, or `None` (and a loud note) when it is not on this machine.
fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ALASTOR_CORPUS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
        PathBuf::from,
    );
    let playlists = dir.join("playlists");
    if playlists.is_dir() {
        Some(playlists)
    } else {
        eprintln!(
            "SKIPPED: no corpus at {} (set ALASTOR_CORPUS to the folder holding playlists/)",
            playlists.display()
        );
        None
    }
}

/// What the raw files list, counted without the loader: entries and distinct http(s) stream URLs.
#[derive(Default)]
struct RawScan {
    entries: usize,
    urls: HashSet<String>,
}

/// A line-by-line scan as simple as the formats: M3U URL lines (with or without `#EXTINF`), PLS
/// `FileN=` values, XSPF `<location>`s. URLs are normalised by `url::Url` so `http://h:80` and
/// `http://h/` count once, as they would play once.
fn scan(dir: &Path) -> RawScan {
    let mut out = RawScan::default();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder)
            .expect("readable corpus")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            if !matches!(ext.as_str(), "m3u" | "m3u8" | "pls" | "xspf") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("readable file");
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines() {
                let line = line.trim().trim_start_matches('\u{feff}');
                let candidates: Vec<&str> = match ext.as_str() {
                    "pls" => {
                        let value = line.split_once('=').and_then(|(key, value)| {
                            let key = key.trim().to_ascii_lowercase();
                            let n = key.strip_prefix("file")?;
                            n.chars().all(|c| c.is_ascii_digit()).then_some(value)
                        });
                        out.entries += usize::from(value.is_some());
                        value.into_iter().collect()
                    }
                    "xspf" => {
                        out.entries += line.matches("<track>").count();
                        line.split("<location>")
                            .skip(1)
                            .filter_map(|rest| rest.split_once("</location>").map(|(u, _)| u))
                            .collect()
                    }
                    _ => {
                        if line
                            .get(..7)
                            .is_some_and(|h| h.eq_ignore_ascii_case("#extinf"))
                        {
                            out.entries += 1;
                        }
                        if line.starts_with('#') || line.is_empty() {
                            Vec::new()
                        } else {
                            vec![line]
                        }
                    }
                };
                for candidate in candidates {
                    // Kodi's `URL|User-Agent=…`: the URL is before the `|`.
                    let candidate = candidate.split('|').next().unwrap_or_default().trim();
                    let lower = candidate.to_ascii_lowercase();
                    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                        continue;
                    }
                    if let Ok(url) = url::Url::parse(candidate)
                        && url.host().is_some()
                    {
                        out.urls.insert(url.to_string());
                    }
                }
            }
        }
    }
    out
}

/// Peak resident memory of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
#[ignore = "measurement over the real-playlist corpus; run with --ignored --nocapture (release)"]
fn real_playlists_become_playable_stations() {
    let Some(dir) = corpus_dir() else { return };
    let raw = scan(&dir);

    let started = Instant::now();
    let load = load_dir(&dir).expect("corpus loads");
    let elapsed = started.elapsed();
    let rss = peak_rss_kib();

    let catalog_urls: HashSet<String> = load
        .catalog
        .iter()
        .flat_map(|s| s.streams.iter().map(ToString::to_string))
        .collect();
    let playable = raw
        .urls
        .iter()
        .filter(|u| catalog_urls.contains(*u))
        .count();
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let percent = 100.0 * playable as f64 / raw.urls.len().max(1) as f64;
    let drops = load.drops();

    println!("corpus: {}", dir.display());
    println!("pack files read: {}", load.packs);
    println!("entries in the files: {}", raw.entries);
    println!("distinct http(s) URLs in the files: {}", raw.urls.len());
    println!(
        "URLs that are playable stations: {playable} ({percent:.1} %) in {} stations",
        load.catalog.len()
    );
    println!("{drops}");
    println!("load time: {:.0} ms", elapsed.as_secs_f64() * 1000.0);
    if let Some(rss) = rss {
        println!("peak RSS (VmHWM): {:.1} MB", rss as f64 / 1024.0);
    }
    let missing: Vec<&String> = raw
        .urls
        .iter()
        .filter(|u| !catalog_urls.contains(*u))
        .take(10)
        .collect();
    println!("first URLs not playable: {missing:#?}");

    assert!(
        percent >= 97.0,
        "only {percent:.1} % of the URLs are playable"
    );
    // Drops only for reasons a person accepts: a dead scheme, no URL, not a URL, a garbage line.
    for kind in [DropReasonKind::NoName, DropReasonKind::BadId] {
        assert_eq!(drops.count(kind), 0, "{drops}");
    }
    assert_eq!(drops.broken_files, 0, "{drops}");
    // Ids are unique by construction of the catalog; every station is reachable by its id.
    for station in load.catalog.iter() {
        assert!(load.catalog.get(&station.id).is_some());
    }
    if !cfg!(debug_assertions) {
        assert!(elapsed.as_secs_f64() < 2.0, "load took {elapsed:?}");
        if let Some(rss) = rss {
            assert!(rss < 150 * 1024, "peak RSS {rss} KiB");
        }
    }
}
