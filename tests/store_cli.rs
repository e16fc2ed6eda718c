//! `alastor data export|import|check` as an operator runs them: the real binary, `--data` folders in a
//! temporary directory.

use std::path::Path;
use std::process::{Command, Output};

use alastor::core::guild::Volume;
use alastor::core::ids::{ChannelKey, GuildKey, RoleKey};
use alastor::core::station::StationId;
use alastor::core::store::Store;

fn alastor(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alastor"))
        .arg("--data")
        .arg(data)
        .args(args)
        // A clean environment: no operator config leaks into the test.
        .env_remove("ALASTOR_CONFIG")
        .env_remove("DISCORD_TOKEN")
        .output()
        .expect("run alastor")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

fn fill(data: &Path) {
    let store = Store::open(data).expect("store");
    for g in 1..=20_u64 {
        store
            .update_settings(GuildKey(g * 1000), |s| {
                s.voice_channel = Some(ChannelKey(g));
                s.set_dj_roles([RoleKey(g + 1)]);
                s.set_volumes(
                    Volume::new(80).expect("volume"),
                    Volume::new(150).expect("volume"),
                );
                s.locale = Some("de".parse().expect("tag"));
            })
            .expect("settings");
        store
            .update_favourites(GuildKey(g * 1000), |f| {
                f.add(StationId::parse("fip").expect("slug"))
            })
            .expect("favourites");
        store
            .record_play(GuildKey(g * 1000), &StationId::parse("fip").expect("slug"))
            .expect("plays");
    }
}

#[test]
fn export_import_export_is_identical_and_check_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    fill(&first);

    let exported = ok(&alastor(&first, &["data", "export"]));
    assert!(
        exported.contains("\"format\": \"alastor-store\""),
        "{exported}"
    );
    let file = dir.path().join("backup.json");
    ok(&alastor(
        &first,
        &["data", "export", "--out", file.to_str().expect("path")],
    ));
    assert_eq!(std::fs::read_to_string(&file).expect("backup"), exported);

    let imported = ok(&alastor(
        &second,
        &["data", "import", file.to_str().expect("path")],
    ));
    assert!(imported.contains("guild_settings 20"), "{imported}");
    assert_eq!(ok(&alastor(&second, &["data", "export"])), exported);

    let checked = ok(&alastor(&second, &["data", "check"]));
    assert!(
        checked.contains("guild_settings 20, favourites 20, resume 0, plays 20"),
        "{checked}"
    );
}

#[test]
fn import_refuses_a_store_with_data_unless_replace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, target) = (dir.path().join("source"), dir.path().join("target"));
    fill(&source);
    let file = dir.path().join("backup.json");
    ok(&alastor(
        &source,
        &["data", "export", "--out", file.to_str().expect("path")],
    ));
    Store::open(&target)
        .expect("store")
        .update_settings(GuildKey(1), |s| s.always_on = true)
        .expect("write");

    let refused = alastor(&target, &["data", "import", file.to_str().expect("path")]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("--replace"), "{err}");
    // Nothing changed.
    assert!(
        Store::open(&target)
            .expect("store")
            .settings(GuildKey(1))
            .expect("read")
            .always_on
    );

    ok(&alastor(
        &target,
        &["data", "import", "--replace", file.to_str().expect("path")],
    ));
    assert_eq!(
        ok(&alastor(&target, &["data", "export"])),
        ok(&alastor(&source, &["data", "export"]))
    );
}

#[test]
fn a_bad_record_in_the_file_is_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, target) = (dir.path().join("source"), dir.path().join("target"));
    fill(&source);
    let json = ok(&alastor(&source, &["data", "export"]));
    let broken = json.replacen("\"max_volume\": 150", "\"max_volume\": \"loud\"", 1);
    let file = dir.path().join("broken.json");
    std::fs::write(&file, broken).expect("write");

    let out = alastor(&target, &["data", "import", file.to_str().expect("path")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.json"), "{err}");
    assert!(err.contains("guild_settings.1000"), "{err}");
    assert!(err.contains("max_volume"), "{err}");
    // The file is read before the store is opened: a bad file does not even create one.
    assert!(!target.join("alastor.redb").exists());
    let check = alastor(&target, &["data", "check"]);
    assert!(!check.status.success());
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(err.contains("there is no store at"), "{err}");
}

#[test]
fn a_second_process_is_told_who_holds_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let held = Store::open(dir.path()).expect("store");
    let out = alastor(dir.path(), &["data", "check"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("already in use by pid {}", std::process::id())),
        "{err}"
    );
    drop(held);
    ok(&alastor(dir.path(), &["data", "check"]));
}
