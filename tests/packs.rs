//! Loading pack folders end to end: the fixtures under `tests/fixtures/packs/` and the real `stations/`.

use std::path::{Path, PathBuf};

use alastor::core::station::loader::{CatalogSource, load_dir, load_embedded};
use alastor::core::station::model::Severity;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/packs")
        .join(name)
}

fn names(load: &alastor::core::station::loader::CatalogLoad) -> Vec<String> {
    let mut names: Vec<String> = load.catalog.iter().map(|s| s.name.clone()).collect();
    names.sort();
    names
}

#[test]
fn mixed_folder_loads_every_format_recursively() {
    let load = load_dir(&fixture("valid")).expect("loads");
    assert!(load.diagnostics.is_empty(), "{:#?}", load.diagnostics);
    assert_eq!(load.packs, 4, "README.md is not a pack");
    assert_eq!(
        names(&load),
        [
            "Alpha FM",
            "Beta Jazz",
            "Delta Rock",
            "Epsilon",
            "Gamma Radio"
        ]
    );
    let gamma = load.catalog.get_str("gamma-radio").expect("gamma");
    assert_eq!(gamma.aliases, ["gamma"]);
    assert_eq!(gamma.bitrate, Some(128));
    assert!(gamma.origin.file.ends_with("nested/b.yaml"));
    assert_eq!(gamma.origin.line, Some(2));
    let delta = load.catalog.get_str("delta-rock").expect("delta");
    assert_eq!(delta.tags, ["rock", "indie"]);
}

#[test]
fn bad_file_and_entries_do_not_stop_the_rest() {
    let load = load_dir(&fixture("invalid")).expect("loads");
    let text: Vec<String> = load.diagnostics.iter().map(ToString::to_string).collect();
    // The broken file is one error at its line, and every other pack still loads.
    assert!(
        text.iter()
            .any(|d| d.contains("broken.toml:2: error: invalid TOML")),
        "{text:#?}"
    );
    assert_eq!(
        names(&load),
        ["Bravo", "Charlie", "First Shared", "Kept"],
        "{text:#?}"
    );
    // The typo is a warning that names the field and its line; the station stays.
    assert!(
        text.iter()
            .any(|d| d.contains("a.toml:13: warning: unknown field `nmae`")),
        "{text:#?}"
    );
}

#[test]
fn non_http_urls_are_refused_with_their_place() {
    let load = load_dir(&fixture("invalid")).expect("loads");
    let text: Vec<String> = load.errors().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|d| d.contains("a.toml:6: error: stream URL `rtsp://bad.example/stream`")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|d| d.contains("c.m3u:4: error: stream URL `file:///music/song.mp3`")),
        "{text:#?}"
    );
    assert!(load.catalog.get_str("no-scheme").is_none());
}

#[test]
fn duplicate_ids_are_reported_with_both_places_and_the_first_kept() {
    let load = load_dir(&fixture("invalid")).expect("loads");
    let dup: Vec<String> = load
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("duplicate id"))
        .map(ToString::to_string)
        .collect();
    assert_eq!(dup.len(), 1, "{dup:#?}");
    assert!(
        dup[0].contains("b.yaml:4: error: duplicate id `shared`"),
        "{}",
        dup[0]
    );
    assert!(
        dup[0].contains("already defined at ") && dup[0].contains("a.toml:1;"),
        "{}",
        dup[0]
    );
    let shared = load.catalog.get_str("shared").expect("kept");
    assert_eq!(shared.name, "First Shared");
}

#[test]
fn loading_is_deterministic() {
    let a = load_dir(&fixture("invalid")).expect("loads");
    let b = load_dir(&fixture("invalid")).expect("loads");
    assert_eq!(a.diagnostics, b.diagnostics);
    let ids = |l: &alastor::core::station::loader::CatalogLoad| {
        l.catalog.iter().map(|s| s.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&a), ids(&b));
}

const REQUIRED: &[&str] = &[
    "BBC Radio 1",
    "BBC Radio 2",
    "BBC Radio 3",
    "BBC Radio 4",
    "BBC Radio 6 Music",
    "Radio Paradise",
    "Absolut Radio",
    "Absolut relax",
    "Antenne Thüringen",
    "Antenne Bayern",
    "Radio Swiss Jazz",
    "Jazz24",
    "SomaFM Groove Salad",
    "FIP",
    "KEXP",
];

#[test]
fn real_stations_folder_is_clean_and_complete() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("stations");
    let load = load_dir(&dir).expect("loads");
    assert_eq!(load.source, CatalogSource::Folder);
    let problems: Vec<String> = load.diagnostics.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        load.catalog.len() >= 40,
        "only {} stations",
        load.catalog.len()
    );
    for name in REQUIRED {
        assert!(
            load.catalog.iter().any(|s| s.name == *name),
            "missing required station {name}"
        );
    }
    for station in load.catalog.iter() {
        assert!(!station.tags.is_empty(), "{} has no tag", station.name);
    }
    let bbc1 = load.catalog.get_str("bbc-radio-1").expect("bbc1");
    assert!(bbc1.aliases.iter().any(|a| a == "bbc1"));
    assert!(bbc1.aliases.iter().any(|a| a == "radio 1"));
    let six = load.catalog.get_str("bbc-radio-6-music").expect("6music");
    assert!(six.aliases.iter().any(|a| a == "6music"));
    let rp = load.catalog.get_str("radio-paradise").expect("rp");
    assert!(rp.tags.iter().any(|t| t == "eclectic") && rp.tags.iter().any(|t| t == "rock"));
    let soma = load.catalog.get_str("somafm-groove-salad").expect("soma");
    assert!(soma.aliases.iter().any(|a| a == "groove salad"));
    let countries: std::collections::BTreeSet<_> = load
        .catalog
        .iter()
        .filter_map(|s| s.country.clone())
        .collect();
    assert!(countries.len() >= 8, "{countries:?}");
}

#[test]
fn embedded_default_pack_matches_the_stations_folder() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("stations");
    let folder = load_dir(&dir).expect("loads");
    let embedded = load_embedded();
    assert!(
        embedded
            .diagnostics
            .iter()
            .all(|d| d.severity != Severity::Error)
    );
    let ids = |l: &alastor::core::station::loader::CatalogLoad| {
        l.catalog.iter().map(|s| s.id.clone()).collect::<Vec<_>>()
    };
    // Every shipped pack file is embedded (a new file in stations/default must be added to EMBEDDED_PACKS).
    assert_eq!(ids(&folder), ids(&embedded));
}
