//! `StationIndex` ranking over a realistic ~40-station catalog: prefixes while typing, typos, aliases,
//! diacritics, genres, the empty query, case, determinism, limits and hostile input.

use alastor::core::station::model::{MAX_NAME_CHARS, Origin, StationDraft, StationId};
use alastor::core::station::search::{MAX_AUTOCOMPLETE, SearchHit};
use alastor::core::station::{Catalog, StationIndex};
use rstest::{fixture, rstest};

/// (name, aliases, tags)
const STATIONS: &[(&str, &[&str], &[&str])] = &[
    ("BBC Radio 1", &["bbc1", "radio 1"], &["pop", "dance"]),
    ("BBC Radio 2", &["bbc2"], &["pop", "adult contemporary"]),
    ("BBC Radio 3", &["bbc3"], &["classical"]),
    ("BBC Radio 4", &["bbc4"], &["talk", "news"]),
    (
        "BBC Radio 6 Music",
        &["6music", "6 music"],
        &["alternative", "indie"],
    ),
    ("BBC World Service", &["world service"], &["news"]),
    ("Radio Paradise", &["rp"], &["eclectic", "rock"]),
    ("Radio Paradise Mellow Mix", &[], &["eclectic", "mellow"]),
    ("Paradise FM", &[], &["pop"]),
    ("Absolut Radio", &[], &["pop", "rock"]),
    ("Absolut relax", &[], &["chillout", "easy listening"]),
    ("Absolute Radio", &["absolute"], &["rock"]),
    ("Antenne Thüringen", &[], &["pop"]),
    ("Antenne Bayern", &["antenne"], &["pop"]),
    ("Antenne Brandenburg", &[], &["pop", "schlager"]),
    ("Radio Swiss Jazz", &["swiss jazz"], &["jazz"]),
    ("Radio Swiss Pop", &[], &["pop"]),
    ("Radio Swiss Classic", &[], &["classical"]),
    ("Jazz24", &[], &["jazz"]),
    ("WBGO Jazz 88.3", &["wbgo"], &["jazz"]),
    (
        "SomaFM Groove Salad",
        &["groove salad"],
        &["ambient", "chillout"],
    ),
    ("SomaFM Drone Zone", &["drone zone"], &["ambient"]),
    ("SomaFM Secret Agent", &[], &["lounge"]),
    ("FIP", &["fip radio"], &["eclectic", "jazz"]),
    ("France Inter", &[], &["talk"]),
    ("France Culture", &[], &["talk", "culture"]),
    ("KEXP", &["kexp 90.3"], &["indie", "alternative"]),
    ("KCRW Eclectic24", &["kcrw"], &["eclectic"]),
    ("Radio Bob", &["bob"], &["rock"]),
    ("Radio Bremen Eins", &[], &["pop"]),
    ("Rádio Comercial", &[], &["pop"]),
    ("Radio Nova", &[], &["eclectic"]),
    ("Deutschlandfunk", &["dlf"], &["news", "talk"]),
    ("Deutschlandfunk Kultur", &["dlf kultur"], &["culture"]),
    ("1LIVE", &["einslive", "eins live"], &["pop"]),
    ("Bayern 3", &[], &["pop"]),
    ("NTS Radio 1", &["nts1"], &["eclectic"]),
    ("Sky Radio", &[], &["pop"]),
    ("Classic FM", &[], &["classical"]),
    ("Ö1", &["oe1", "oesterreich 1"], &["culture", "classical"]),
    ("Sveriges Radio P2", &["p2"], &["classical"]),
];

fn catalog_of(stations: &[(&str, &[&str], &[&str])]) -> Catalog {
    let origin = Origin::file("tests/search.rs");
    Catalog::new(stations.iter().map(|(name, aliases, tags)| {
        let draft = StationDraft {
            name: Some((*name).to_owned()),
            streams: vec![format!("http://127.0.0.1:9/{}", name.len())],
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            ..StationDraft::default()
        };
        match draft.validate(&origin) {
            Ok((station, _warnings)) => station,
            Err(errors) => panic!("fixture station {name} is invalid: {errors:?}"),
        }
    }))
}

#[fixture]
#[once]
fn index() -> StationIndex {
    StationIndex::build(&catalog_of(STATIONS)).expect("index builds")
}

fn names(hits: &[SearchHit]) -> Vec<&str> {
    hits.iter().map(|h| h.name.as_str()).collect()
}

#[rstest]
// Prefix while typing.
#[case::prefix_bbc_ra("bbc ra", "BBC Radio 1", 1)]
#[case::prefix_radio_para("radio para", "Radio Paradise", 1)]
#[case::prefix_single_word("groo", "SomaFM Groove Salad", 1)]
#[case::prefix_absol("absol", "Absolut Radio", 3)]
#[case::prefix_deutschl("deutschl", "Deutschlandfunk", 1)]
// Typos.
#[case::typo_absolutt_rdio("absolutt rdio", "Absolut Radio", 1)]
#[case::typo_radoi_paradise("radoi paradise", "Radio Paradise", 1)]
#[case::typo_transposed_kexp("kepx", "KEXP", 1)]
#[case::typo_groove_slad("grove salad", "SomaFM Groove Salad", 1)]
#[case::typo_while_typing("radoi para", "Radio Paradise", 1)]
// Aliases.
#[case::alias_bbc1("bbc1", "BBC Radio 1", 1)]
#[case::alias_6music("6music", "BBC Radio 6 Music", 1)]
#[case::alias_radio_1("radio 1", "BBC Radio 1", 1)]
#[case::alias_groove_salad("groove salad", "SomaFM Groove Salad", 1)]
#[case::alias_spaced_bbc_1("bbc 1", "BBC Radio 1", 1)]
#[case::compact_name_jazz_24("jazz 24", "Jazz24", 1)]
// Case and diacritics.
#[case::diacritics_folded_query("antenne thuringen", "Antenne Thüringen", 1)]
#[case::diacritics_upper_query("ANTENNE THÜRINGEN", "Antenne Thüringen", 1)]
#[case::diacritics_accented_query("rádio comercial", "Rádio Comercial", 1)]
#[case::diacritics_plain_query("radio comercial", "Rádio Comercial", 1)]
#[case::diacritics_o_umlaut("o1", "Ö1", 1)]
#[case::case_shouting("RADIO PARADISE", "Radio Paradise", 1)]
#[case::case_mixed("fIp", "FIP", 1)]
// Genres and tags.
#[case::genre_jazz_swiss("jazz", "Radio Swiss Jazz", 3)]
#[case::genre_jazz_24("jazz", "Jazz24", 3)]
#[case::genre_ambient("ambient", "SomaFM Groove Salad", 3)]
#[case::genre_chillout("chillout", "Absolut relax", 3)]
fn finds(index: &StationIndex, #[case] query: &str, #[case] expected: &str, #[case] within: usize) {
    let hits = index.autocomplete(query, MAX_AUTOCOMPLETE);
    let position = hits.iter().position(|h| h.name == expected);
    assert!(
        position.is_some_and(|p| p < within),
        "{query:?}: expected {expected:?} in the top {within}, got {:?}",
        names(&hits)
    );
}

#[rstest]
fn bbc_ra_puts_every_bbc_radio_station_on_top_in_name_order(index: &StationIndex) {
    let hits = index.autocomplete("bbc ra", 10);
    assert_eq!(
        names(&hits)[..5],
        [
            "BBC Radio 1",
            "BBC Radio 2",
            "BBC Radio 3",
            "BBC Radio 4",
            "BBC Radio 6 Music"
        ]
    );
}

#[rstest]
#[case::name("radio paradise", "Radio Paradise")]
#[case::alias("bob", "Radio Bob")]
#[case::alias_beats_fuzzy("absolute", "Absolute Radio")]
#[case::name_beats_fuzzy_neighbour("absolut radio", "Absolut Radio")]
fn exact_matches_beat_fuzzy_ones(
    index: &StationIndex,
    #[case] query: &str,
    #[case] expected: &str,
) {
    let hits = index.autocomplete(query, 5);
    assert_eq!(hits[0].name, expected, "{query:?} → {:?}", names(&hits));
    assert!(hits.get(1).is_none_or(|next| next.score < hits[0].score));
}

#[rstest]
fn whole_word_beats_prefix(index: &StationIndex) {
    // The same station found by a whole word scores more than by the prefix of that word.
    let whole = index.autocomplete("bremen", 5);
    let prefix = index.autocomplete("brem", 5);
    assert_eq!(whole[0].name, "Radio Bremen Eins");
    assert_eq!(prefix[0].name, "Radio Bremen Eins");
    assert!(whole[0].score > prefix[0].score);
}

#[rstest]
fn name_beats_tag(index: &StationIndex) {
    // "culture": a whole word in the name "France Culture", only a tag on three other stations.
    let hits = index.autocomplete("culture", 10);
    assert_eq!(hits[0].name, "France Culture", "{:?}", names(&hits));
    let tagged = hits.iter().find(|h| h.name == "Deutschlandfunk Kultur");
    assert!(tagged.is_some_and(|t| t.score < hits[0].score));
}

#[rstest]
fn genre_query_ranks_tagged_stations_before_fuzzy_neighbours(index: &StationIndex) {
    let hits = index.autocomplete("jazz", 25);
    let jazz: Vec<&str> = names(&hits).into_iter().take(5).collect();
    for expected in ["Radio Swiss Jazz", "Jazz24", "WBGO Jazz 88.3", "FIP"] {
        assert!(jazz.contains(&expected), "{expected} missing from {jazz:?}");
    }
}

#[rstest]
fn empty_query_is_the_alphabetical_first_page(index: &StationIndex) {
    for query in ["", "   ", "?!"] {
        let hits = index.autocomplete(query, 25);
        assert_eq!(hits.len(), 25);
        let mut sorted = names(&hits);
        sorted.sort_by_key(|n| alastor::core::station::model::fold(n));
        assert_eq!(names(&hits), sorted, "query {query:?}");
        assert_eq!(hits[0].name, "1LIVE");
    }
}

#[rstest]
fn empty_query_puts_preferred_stations_first_in_the_given_order(index: &StationIndex) {
    let id = |s: &str| StationId::parse(s).expect("valid id");
    let preferred = [id("kexp"), id("no-such-station"), id("fip"), id("kexp")];
    let hits = index.autocomplete_preferring("", 5, &preferred);
    assert_eq!(
        names(&hits),
        ["KEXP", "FIP", "1LIVE", "Absolut Radio", "Absolut relax"]
    );
}

#[rstest]
fn preferred_station_wins_a_tie_but_not_a_better_match(index: &StationIndex) {
    let id = |s: &str| StationId::parse(s).expect("valid id");
    let hits = index.autocomplete_preferring("bbc ra", 5, &[id("bbc-radio-4")]);
    assert_eq!(hits[0].name, "BBC Radio 4");
    let hits = index.autocomplete_preferring("kexp", 5, &[id("fip")]);
    assert_eq!(hits[0].name, "KEXP");
}

#[rstest]
#[case("radio")]
#[case("bbc ra")]
#[case("")]
#[case("pop")]
fn same_query_twice_same_order_and_ties_by_name(index: &StationIndex, #[case] query: &str) {
    let first = index.search(query, 100);
    let second = index.search(query, 100);
    assert_eq!(first, second);
    // Rebuilding from the same catalog gives the same ranking too.
    let rebuilt = StationIndex::build(&catalog_of(STATIONS)).expect("index builds");
    assert_eq!(rebuilt.search(query, 100), first);
    for pair in first.windows(2) {
        assert!(pair[0].score >= pair[1].score, "{pair:?} not by score");
        if pair[0].score.total_cmp(&pair[1].score).is_eq() {
            assert!(
                alastor::core::station::model::fold(&pair[0].name)
                    <= alastor::core::station::model::fold(&pair[1].name),
                "tie not by name: {pair:?}"
            );
        }
    }
}

#[rstest]
fn limits_are_clamped_to_discord(index: &StationIndex) {
    assert_eq!(index.autocomplete("", 1000).len(), MAX_AUTOCOMPLETE);
    assert_eq!(
        index
            .autocomplete("radio", 1000)
            .len()
            .min(MAX_AUTOCOMPLETE),
        index.autocomplete("radio", 1000).len()
    );
    assert_eq!(index.autocomplete("radio", 3).len(), 3);
    assert!(index.autocomplete("radio", 0).is_empty());
    assert_eq!(index.search("", 1000).len(), STATIONS.len());
    for hit in index.search("", 1000) {
        assert!(hit.name.chars().count() <= MAX_NAME_CHARS);
    }
}

#[test]
fn empty_catalog_answers_nothing() {
    let index = StationIndex::build(&Catalog::new([])).expect("empty index builds");
    assert!(index.is_empty());
    assert!(index.autocomplete("", 25).is_empty());
    assert!(index.autocomplete("radio", 25).is_empty());
    assert!(index.search("bbc", 10).is_empty());
}

#[rstest]
#[case::punctuation("?!.,;:()[]{}")]
#[case::long(&"radio paradise ".repeat(20))]
#[case::emoji("🎷🎶 jazz 📻")]
#[case::control_chars("\0\t\n\u{200b}")]
#[case::one_letter("r")]
#[case::huge_word(&"x".repeat(300))]
#[case::cjk("电台")]
fn weird_input_returns_without_error(index: &StationIndex, #[case] query: &str) {
    let hits = index.autocomplete(query, 25);
    assert!(hits.len() <= MAX_AUTOCOMPLETE);
}

#[rstest]
fn emoji_around_a_genre_still_finds_it(index: &StationIndex) {
    let hits = index.autocomplete("🎷 jazz", 5);
    assert!(
        names(&hits).contains(&"Radio Swiss Jazz"),
        "{:?}",
        names(&hits)
    );
}

#[rstest]
fn hits_serialize_with_id_name_and_score(index: &StationIndex) {
    let hits = index.search("kexp", 1);
    let json = serde_json::to_value(&hits).expect("serializes");
    assert_eq!(json[0]["id"], "kexp");
    assert_eq!(json[0]["name"], "KEXP");
    assert!(json[0]["score"].as_f64().is_some_and(|s| s > 0.0));
}
