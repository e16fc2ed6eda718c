//! `alastor data import` fed what an attacker or a careless hand-edit would feed it: oversized input, bad
//! types, repeated keys, unknown fields, out-of-range values. Each is refused with the JSON path of the bad
//! value and the file named, nothing is "fixed" or cut silently, and no store is created. Runs the real
//! binary with `--data <tempdir>`.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rstest::rstest;
use serde_json::{Value, json};

fn import(data: &Path, file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alastor"))
        .arg("--data")
        .arg(data)
        .args(["data", "import"])
        .arg(file)
        .env_remove("ALASTOR_CONFIG")
        .env_remove("DISCORD_TOKEN")
        .output()
        .expect("run alastor")
}

/// A valid export of one guild, as `alastor data export` writes it.
fn base() -> Value {
    json!({
        "format": "alastor-store",
        "version": 1,
        "guild_settings": {
            "111": {
                "voice_channel": 112,
                "announce_channel": null,
                "dj_roles": [113],
                "locale": "de",
                "region": "DE",
                "always_on": false,
                "default_volume": 80,
                "max_volume": 150,
                "idle_timeout": 300,
                "announce_now_playing": true,
                "setup": { "at": { "secs_since_epoch": 1_700_000_000, "nanos_since_epoch": 0 }, "by": 7 }
            }
        },
        "favourites": { "111": ["fip", "radio-paradise"] },
        "resume": {
            "111": {
                "voice_channel": 112,
                "station": "fip",
                "volume": 100,
                "text_channel": null,
                "started_by": null,
                "since": { "secs_since_epoch": 1_700_000_000, "nanos_since_epoch": 0 },
                "title": "Nina Simone – Sinnerman"
            }
        },
        "plays": { "111": { "fip": 3 } }
    })
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("json")
}

/// Imports `text` into a fresh data dir; must fail naming the file, must not create a store.
fn refused(text: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hostile.json");
    std::fs::write(&file, text).expect("write");
    let data = dir.path().join("data");
    let out = import(&data, &file);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "accepted:\n{text}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("hostile.json"), "names the file: {err}");
    assert!(
        !data.join("alastor.redb").exists(),
        "a refused file created a store"
    );
    err
}

#[test]
fn the_base_export_is_accepted_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("good.json");
    std::fs::write(&file, pretty(&base())).expect("write");
    let out = import(&dir.path().join("data"), &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export = Command::new(env!("CARGO_BIN_EXE_alastor"))
        .arg("--data")
        .arg(dir.path().join("data"))
        .args(["data", "export"])
        .output()
        .expect("export");
    let exported: Value = serde_json::from_slice(&export.stdout).expect("json");
    assert_eq!(exported, base(), "what was imported is what is exported");
}

fn set(path: &[&str], value: Value) -> impl Fn(&mut Value) {
    let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
    move |root: &mut Value| {
        let mut at = &mut *root;
        for key in &path {
            at = &mut at[key.as_str()];
        }
        *at = value.clone();
    }
}

fn rename_key(table: &str, from: &str, to: &str) -> impl Fn(&mut Value) {
    let (table, from, to) = (table.to_owned(), from.to_owned(), to.to_owned());
    move |root: &mut Value| {
        let object = root[table.as_str()].as_object_mut().expect("table");
        let value = object.remove(&from).expect("key");
        object.insert(to.clone(), value);
    }
}

/// Each case: an edit of the valid export, then what the error must say (the JSON path first).
#[rstest]
// Regression: 10,000 DJ roles were silently cut to 25.
#[case::too_many_dj_roles(
    set(&["guild_settings", "111", "dj_roles"], json!((1..=10_000).collect::<Vec<u64>>())),
    &["guild_settings.111.dj_roles", "10000 roles, at most 25"]
)]
#[case::a_dj_role_twice(
    set(&["guild_settings", "111", "dj_roles"], json!([5, 6, 5])),
    &["guild_settings.111.dj_roles", "role 5 is listed twice"]
)]
// Regression: a default volume above the maximum was silently lowered.
#[case::default_volume_above_max(
    set(&["guild_settings", "111", "default_volume"], json!(180)),
    &["guild_settings.111.default_volume", "180% is above max_volume (150%)"]
)]
#[case::volume_above_the_ceiling(
    set(&["guild_settings", "111", "max_volume"], json!(900)),
    &["guild_settings.111.max_volume", "out of range"]
)]
#[case::volume_not_a_number(
    set(&["resume", "111", "volume"], json!("loud")),
    &["resume.111.volume", "invalid type: string"]
)]
// Regression: `"version": "banana"` was read as 0.
#[case::version_banana(set(&["version"], json!("banana")), &["version", "invalid type: string \"banana\""])]
#[case::version_from_the_future(set(&["version"], json!(2)), &["version", "newer than this build"])]
#[case::version_zero(set(&["version"], json!(0)), &["version", "does not exist"])]
#[case::version_fractional(set(&["version"], json!(1.5)), &["version", "invalid type: floating point"])]
#[case::not_our_format(set(&["format"], json!("something-else")), &["format", "not an Alastor store export"])]
// Regression: any string was accepted as a station id.
#[case::favourite_not_a_slug(
    set(&["favourites", "111"], json!(["fip", "../../etc/passwd"])),
    &["favourites.111[1]", "is not a slug"]
)]
#[case::resume_station_not_a_slug(
    set(&["resume", "111", "station"], json!("../../etc/passwd")),
    &["resume.111.station", "is not a slug"]
)]
#[case::play_station_not_a_slug(
    set(&["plays", "111"], json!({"../../etc/passwd": 1})),
    &["plays.111", "is not a slug"]
)]
#[case::favourite_twice(
    set(&["favourites", "111"], json!(["fip", "fip"])),
    &["favourites.111[1]", "already a favourite"]
)]
#[case::too_many_favourites(
    set(&["favourites", "111"], json!((0..26).map(|i| format!("s{i}")).collect::<Vec<_>>())),
    &["favourites.111", "26 stations, at most 25"]
)]
// Regression: guild or channel id 0 was accepted.
#[case::guild_id_zero(rename_key("guild_settings", "111", "0"), &["guild_settings", "Discord ids are never 0"])]
#[case::guild_id_with_leading_zero(rename_key("favourites", "111", "0111"), &["favourites", "leading zeros"])]
#[case::guild_id_not_a_number(rename_key("plays", "111", "three"), &["plays", "`three` is not a guild id"])]
#[case::channel_id_zero(
    set(&["guild_settings", "111", "voice_channel"], json!(0)),
    &["guild_settings.111.voice_channel", "ids are never 0"]
)]
#[case::resume_channel_id_zero(
    set(&["resume", "111", "voice_channel"], json!(0)),
    &["resume.111.voice_channel", "ids are never 0"]
)]
#[case::negative_id(
    set(&["guild_settings", "111", "announce_channel"], json!(-5)),
    &["guild_settings.111.announce_channel", "invalid value: integer `-5`"]
)]
// Regression: unknown fields were ignored.
#[case::unknown_field_at_the_top(set(&["extra"], json!(1)), &["unknown field `extra`"])]
#[case::unknown_field_in_a_record(
    set(&["guild_settings", "111", "colour"], json!("red")),
    &["guild_settings.111", "unknown field `colour`"]
)]
#[case::unknown_field_in_a_timestamp(
    set(&["resume", "111", "since", "zone"], json!("UTC")),
    &["resume.111.since", "unknown field `zone`"]
)]
// Regression: an idle timeout of u64::MAX was accepted (and later panicked in `now + idle_timeout`).
#[case::idle_timeout_u64_max(
    set(&["guild_settings", "111", "idle_timeout"], json!(u64::MAX)),
    &["guild_settings.111.idle_timeout", "longer than the longest idle timeout"]
)]
#[case::idle_timeout_eight_days(
    set(&["guild_settings", "111", "idle_timeout"], json!(8 * 24 * 3600)),
    &["guild_settings.111.idle_timeout", "604800 s, 7 days"]
)]
#[case::timestamp_overflow(
    set(&["resume", "111", "since", "secs_since_epoch"], json!(u64::MAX)),
    &["resume.111.since", "overflow"]
)]
#[case::locale_not_as_the_bot_writes_it(
    set(&["guild_settings", "111", "locale"], json!("en_us")),
    &["guild_settings.111.locale", "`en-US`"]
)]
#[case::region_lowercase(
    set(&["guild_settings", "111", "region"], json!("de")),
    &["guild_settings.111.region", "`DE`"]
)]
#[case::title_too_long(
    set(&["resume", "111", "title"], json!("x".repeat(5000))),
    &["resume.111.title", "5000 bytes is longer than 4096"]
)]
#[case::a_missing_table(
    |root: &mut Value| { root.as_object_mut().expect("root").remove("plays"); },
    &["missing field `plays`"]
)]
#[case::a_table_that_is_not_an_object(set(&["resume"], json!([])), &["resume", "invalid type: sequence"])]
fn a_hostile_value_is_refused_with_its_path(
    #[case] edit: impl Fn(&mut Value),
    #[case] expected: &[&str],
) {
    let mut value = base();
    edit(&mut value);
    let err = refused(&pretty(&value));
    for needle in expected {
        assert!(err.contains(needle), "missing {needle:?} in: {err}");
    }
}

/// `serde_json` keeps the last of a repeated key silently; the import refuses it, naming the key.
#[rstest]
#[case::guild_twice(
    "\"favourites\": {",
    "\"favourites\": { \"111\": [],",
    &["favourites", "key `111` appears twice"]
)]
#[case::station_twice_in_plays("\"fip\": 3", "\"fip\": 3, \"fip\": 999", &["plays.111", "key `fip` appears twice"])]
#[case::field_twice_in_a_record(
    "\"max_volume\": 150",
    "\"max_volume\": 150, \"max_volume\": 200",
    &["guild_settings.111", "duplicate field `max_volume`"]
)]
#[case::top_level_field_twice("\"version\": 1", "\"version\": 1, \"version\": 1", &["duplicate field `version`"])]
fn a_repeated_key_is_refused(#[case] from: &str, #[case] to: &str, #[case] expected: &[&str]) {
    let text = pretty(&base()).replacen(from, to, 1);
    assert_ne!(text, pretty(&base()), "the edit applies");
    let err = refused(&text);
    for needle in expected {
        assert!(err.contains(needle), "missing {needle:?} in: {err}");
    }
}

#[rstest]
#[case::not_json(|| "this is not json".to_owned(), "not JSON")]
#[case::truncated(|| pretty(&base())[..200].to_owned(), "truncated?")]
#[case::trailing_garbage(|| format!("{} trailing", pretty(&base())), "trailing characters")]
#[case::two_exports_back_to_back(|| pretty(&base()).repeat(2), "trailing characters")]
#[case::empty_file(String::new, "truncated?")]
#[case::not_utf8(|| "{\"format\": \"alastor-\u{fffd}\"}".replace('\u{fffd}', "\u{0}"), "control character")]
fn a_file_that_is_not_an_export_is_refused(
    #[case] text: impl Fn() -> String,
    #[case] expected: &str,
) {
    let err = refused(&text());
    assert!(err.contains(expected), "missing {expected:?} in: {err}");
}

/// Regression: `data import` read any size (200 MB took 3.2 GB and 70 s). A regular file over 64 MiB is
/// refused from its size alone, before a byte is read.
#[test]
fn a_200_mb_file_is_refused_before_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hostile.json");
    // Sparse: costs no disk, but the size is what a real 200 MB file reports.
    std::fs::File::create(&file)
        .expect("create")
        .set_len(200 * 1024 * 1024)
        .expect("size");
    let started = Instant::now();
    let out = import(&dir.path().join("data"), &file);
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("larger than 64 MiB (209715200 bytes)"),
        "{err}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(!dir.path().join("data/alastor.redb").exists());
}

/// Regression: `data import /dev/zero` read until memory ran out. Input without a size (a device, a pipe)
/// is read through a 64 MiB cap.
#[test]
fn an_endless_input_is_cut_at_the_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let out = import(&dir.path().join("data"), Path::new("/dev/zero"));
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("larger than 64 MiB"), "{err}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(!dir.path().join("data/alastor.redb").exists());
}
