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

// --- Real playlists (tests/fixtures/corpus, copied from public repositories) and their quirks ---------

use alastor::core::station::DropReason;
use alastor::core::station::loader::{CatalogLoad, DropReasonKind};

fn corpus_sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus")
}

fn by_name<'a>(load: &'a CatalogLoad, name: &str) -> Vec<&'a alastor::core::station::Station> {
    let mut found: Vec<_> = load
        .catalog
        .iter()
        .filter(|s| s.name == name)
        .map(AsRef::as_ref)
        .collect();
    found.sort_by_key(|s| (s.origin.file.clone(), s.origin.line));
    found
}

#[test]
fn somafm_pls_mirrors_are_one_station_with_fallbacks_in_file_order() {
    let load = load_dir(&corpus_sample()).expect("loads");
    let soul: Vec<_> = load
        .catalog
        .iter()
        .filter(|s| s.origin.file.ends_with("jjdevbiz-somafm/7soul.pls"))
        .collect();
    assert_eq!(soul.len(), 1, "{soul:#?}");
    let streams: Vec<&str> = soul[0].streams.iter().map(url::Url::as_str).collect();
    assert_eq!(
        streams,
        [
            "http://uwstream2.somafm.com:7770/",
            "http://uwstream3.somafm.com:7770/",
            "http://ice.somafm.com/7soul"
        ]
    );
    assert!(
        soul[0].name.starts_with("SomaFM: Seven Inch Soul"),
        "{}",
        soul[0].name
    );
    let groove: Vec<_> = load
        .catalog
        .iter()
        .filter(|s| s.origin.file.ends_with("jjdevbiz-somafm/groovesalad.pls"))
        .collect();
    assert_eq!(groove.len(), 1);
    assert!(groove[0].streams.len() >= 2, "{:?}", groove[0].streams);
}

#[test]
fn the_same_station_in_two_packs_is_one_station_not_a_duplicate() {
    let load = load_dir(&corpus_sample()).expect("loads");
    // `KVF` with the same URL in dk.m3u and fo.m3u is one station; dk.m3u's second KVF (another URL)
    // is another station.
    let kvf: Vec<&str> = by_name(&load, "KVF")
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(kvf, ["kvf", "kvf-dk"]);
    assert!(
        by_name(&load, "KVF")
            .iter()
            .all(|s| s.origin.file.ends_with("channels/dk.m3u")),
        "the first in sorted order is kept"
    );
    let duplicates: Vec<String> = load
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("duplicate id"))
        .map(ToString::to_string)
        .collect();
    assert!(duplicates.is_empty(), "{duplicates:#?}");
}

#[test]
fn namesakes_with_other_urls_stay_playable_under_readable_ids() {
    let load = load_dir(&corpus_sample()).expect("loads");
    // `BRT 2` in cy.m3u and in tr.m3u with another URL (cy.m3u's second, rtmp-only one is dropped).
    let brt: Vec<&str> = by_name(&load, "BRT 2")
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(brt, ["brt-2", "brt-2-tr"]);
    // `BBC - Asian Network` (tutacat) and `BBC Asian Network` (moode) slug alike.
    let moode = by_name(&load, "BBC Asian Network");
    let tutacat = by_name(&load, "BBC - Asian Network");
    assert_eq!((moode.len(), tutacat.len()), (1, 1));
    assert_eq!(moode[0].id.as_str(), "bbc-asian-network");
    assert_eq!(tutacat[0].id.as_str(), "bbc-asian-network-bbc-radio-uk");
    // The same SomaFM channel in two repositories with other mirror sets: both stay.
    let cliqhop: Vec<_> = load
        .catalog
        .iter()
        .filter(|s| s.origin.file.ends_with("cliqhop.pls"))
        .collect();
    assert_eq!(cliqhop.len(), 2, "{cliqhop:#?}");
    assert_ne!(cliqhop[0].id, cliqhop[1].id);
    // Every rename says which station holds the id.
    assert!(
        load.diagnostics.iter().any(|d| d
            .to_string()
            .contains("warning: id `brt-2` is already used by `BRT 2` at ")),
        "{:#?}",
        load.diagnostics
    );
}

#[test]
fn ids_do_not_depend_on_the_order_files_were_created_in() {
    let ids = |load: &CatalogLoad| {
        load.catalog
            .iter()
            .map(|s| (s.id.to_string(), s.streams.clone()))
            .collect::<Vec<_>>()
    };
    let reference = ids(&load_dir(&corpus_sample()).expect("loads"));
    // The same files written in reverse order into a fresh folder (another readdir order).
    let copy = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    let mut stack = vec![corpus_sample()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    for file in files.iter().rev() {
        let relative = file.strip_prefix(corpus_sample()).expect("inside");
        let target = copy.path().join(relative);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(file, &target).expect("copy");
    }
    assert_eq!(ids(&load_dir(copy.path()).expect("loads")), reference);
}

#[test]
fn drops_are_counted_by_typed_reason() {
    let load = load_dir(&corpus_sample()).expect("loads");
    let drops = load.drops();
    // index.m3u lists the other playlists by relative path: not stream URLs.
    let index =
        std::fs::read_to_string(corpus_sample().join("iptv-org-2020/index.m3u")).expect("read");
    let relative = index
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    assert_eq!(drops.count(DropReasonKind::NotAUrl), relative, "{drops}");
    // Koha TV (al.m3u) is rtmp only.
    assert!(
        drops.schemes.get("rtmp").copied().unwrap_or_default() >= 1,
        "{drops}"
    );
    let koha = load
        .diagnostics
        .iter()
        .find(|d| d.message.contains("rtmp://live.tvkoha.tv"))
        .expect("koha reported");
    assert_eq!(koha.dropped, Some(DropReason::NotHttp("rtmp".into())));
    for kind in [DropReasonKind::NoName, DropReasonKind::BadId] {
        assert_eq!(drops.count(kind), 0, "{drops}");
    }
    assert_eq!(drops.broken_files, 0);
    let text = drops.to_string();
    assert!(text.starts_with("dropped "), "{text}");
    assert!(text.contains(" not http(s) (rtmp"), "{text}");
}

fn quirks() -> CatalogLoad {
    load_dir(&fixture("quirks")).expect("loads")
}

#[test]
fn non_slug_tvg_ids_are_slugified_not_rejected() {
    let load = quirks();
    assert_eq!(load.catalog.get_str("atv-ad").expect("ATV").name, "ATV");
    assert_eq!(
        load.catalog
            .get_str("andorratv-ad-web")
            .expect("Andorra")
            .name,
        "Andorra TV",
        "a comma-less #EXTINF is named by tvg-name"
    );
}

#[test]
fn extinf_in_any_case_and_without_a_comma_loads() {
    let load = quirks();
    assert!(load.catalog.get_str("lower-case-fm").is_some());
    let nameless = by_name(&load, "nameless.example stream");
    assert_eq!(nameless.len(), 1, "named by its URL like a bare URL line");
    assert_eq!(
        nameless[0].primary_stream().as_str(),
        "http://nameless.example:8000/stream.mp3"
    );
}

#[test]
fn names_that_slug_alike_get_the_country_or_the_pack_name() {
    let load = quirks();
    let id = |name: &str| by_name(&load, name)[0].id.to_string();
    assert_eq!(id("Radio María"), "radio-maria");
    assert_eq!(id("Radio Maria"), "radio-maria-es");
    assert_eq!(id("Радио Шансон"), "radio-shanson");
    assert_eq!(id("Radio Shanson"), "radio-shanson-tv");
}

#[test]
fn a_latin1_pack_loads_with_one_warning_naming_the_first_bad_line() {
    let load = quirks();
    let names: Vec<String> = load
        .catalog
        .iter()
        .filter(|s| s.origin.file.ends_with("latin1.m3u"))
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Radio Française".to_owned()), "{names:?}");
    assert!(names.contains(&"Café del Mar".to_owned()), "{names:?}");
    let warnings: Vec<String> = load
        .diagnostics
        .iter()
        .filter(|d| d.origin.file.ends_with("latin1.m3u"))
        .map(ToString::to_string)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("latin1.m3u:2: warning: pack is not valid UTF-8"),
        "{}",
        warnings[0]
    );
}

#[test]
fn an_icecast_xspf_is_a_pack() {
    let load = quirks();
    let s = load
        .catalog
        .get_str("icecast-test-stream")
        .expect("xspf station");
    assert_eq!(
        s.primary_stream().as_str(),
        "http://127.0.0.1:8000/live.mp3"
    );
    assert_eq!(s.bitrate, Some(128));
    assert_eq!(s.tags, ["jazz"]);
    assert!(s.origin.file.ends_with("icecast.xspf"));
}

#[test]
fn quirks_drop_only_the_dead_scheme() {
    let load = quirks();
    let drops = load.drops();
    assert_eq!(drops.total(), 1, "{drops}");
    assert_eq!(drops.to_string(), "dropped 1 entry: 1 not http(s) (rtmp)");
}

// --- Hardening: big and hostile packs --------------------------------------------------------------

/// Release builds must stay under 1 s; debug builds are ~10x slower, so only a loose bound there.
fn time_budget() -> std::time::Duration {
    std::time::Duration::from_secs(if cfg!(debug_assertions) { 20 } else { 1 })
}

#[test]
fn a_pls_with_100k_mirrors_and_a_station_with_100k_aliases_load_in_linear_time() {
    use std::fmt::Write as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pls = String::from("[playlist]\n");
    for n in 1..=100_000 {
        let _ = writeln!(
            pls,
            "File{n}=http://mirror{n}.example/live\nTitle{n}=Big Radio"
        );
    }
    std::fs::write(dir.path().join("big.pls"), pls).expect("write");
    let aliases: Vec<String> = (0..100_000).map(|n| format!("\"alias {n}\"")).collect();
    std::fs::write(
        dir.path().join("aliases.toml"),
        format!(
            "[[station]]\nname = \"Alias FM\"\nurl = \"http://alias.example/\"\naliases = [{}]\n",
            aliases.join(", ")
        ),
    )
    .expect("write");
    let started = std::time::Instant::now();
    let load = load_dir(dir.path()).expect("loads");
    let elapsed = started.elapsed();
    assert!(elapsed < time_budget(), "took {elapsed:?}");
    let big = load.catalog.get_str("big-radio").expect("one station");
    assert_eq!(
        big.streams.len(),
        alastor::core::station::model::MAX_STREAMS
    );
    let alias = load.catalog.get_str("alias-fm").expect("kept");
    assert_eq!(
        alias.aliases.len(),
        alastor::core::station::model::MAX_ALIASES
    );
}

#[test]
fn a_huge_unknown_key_gets_no_quadratic_did_you_mean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = "k".repeat(2_000_000);
    std::fs::write(
        dir.path().join("a.toml"),
        format!("[[station]]\nname = \"A\"\nurl = \"http://a.example/\"\n{key} = 1\n"),
    )
    .expect("write");
    let started = std::time::Instant::now();
    let load = load_dir(dir.path()).expect("loads");
    assert!(started.elapsed() < time_budget(), "{:?}", started.elapsed());
    assert!(load.catalog.get_str("a").is_some());
}

#[test]
fn bidi_overrides_and_control_characters_never_reach_a_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("a.m3u"),
        "#EXTINF:-1,Radio \u{202E}oidar\u{202C} One\u{7}\nhttp://a.example/\n\
         #EXTINF:-1,\u{200B}\u{200B}\nhttp://b.example/\n",
    )
    .expect("write");
    let load = load_dir(dir.path()).expect("loads");
    let mut names: Vec<&str> = load.catalog.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    // The zero-width-only title is no name: that entry is named by its URL instead.
    assert_eq!(names, ["Radio oidar One", "b.example"]);
}

#[cfg(unix)]
#[test]
fn a_symlink_loop_is_walked_once_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    std::fs::write(
        sub.join("a.toml"),
        "[[station]]\nname = \"A\"\nurl = \"http://a.example/\"\n",
    )
    .expect("write");
    std::os::unix::fs::symlink(dir.path(), sub.join("loop")).expect("symlink");
    std::os::unix::fs::symlink(sub.join("a.toml"), dir.path().join("again.toml")).expect("symlink");
    let load = load_dir(dir.path()).expect("loads");
    assert_eq!(load.packs, 1);
    assert_eq!(load.catalog.len(), 1);
    let text: Vec<String> = load.diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|d| d.contains("loop: warning: same folder as")),
        "{text:#?}"
    );
    // Files of a folder come before its subfolders: the link at the top is read, the file seen again.
    assert!(
        text.iter()
            .any(|d| d.contains("sub/a.toml: warning: same pack as") && d.contains("again.toml")),
        "{text:#?}"
    );
}
