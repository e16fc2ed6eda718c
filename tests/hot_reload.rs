//! Hot reload: pack files added, edited, broken, fixed and removed in a temp folder show up as new
//! snapshot generations within 2 s, without restarting.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alastor::core::station::reload::{Snapshot, StationLibrary};
use tokio::sync::watch;

/// The bound: a change takes effect within 2 s.
const WITHIN: Duration = Duration::from_secs(2);
const DEBOUNCE: Duration = Duration::from_millis(100);

fn pack(name: &str, url: &str) -> String {
    format!("[[station]]\nname = \"{name}\"\nurl = \"{url}\"\ntags = [\"test\"]\n")
}

/// Waits until a snapshot satisfies `done`, failing after [`WITHIN`].
async fn until(
    library: &StationLibrary,
    rx: &mut watch::Receiver<u64>,
    what: &str,
    done: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let wait = async {
        loop {
            let snapshot = library.snapshot();
            if done(&snapshot) {
                return snapshot;
            }
            rx.changed().await.expect("library alive");
        }
    };
    tokio::time::timeout(WITHIN, wait)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "not within {WITHIN:?}: {what}; now {:?}",
                library.snapshot()
            )
        })
}

fn names(s: &Snapshot) -> Vec<String> {
    let mut names: Vec<String> = s.catalog.iter().map(|s| s.name.clone()).collect();
    names.sort();
    names
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write pack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_edit_break_fix_remove() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join("a.toml"),
        &pack("Alpha", "http://alpha.example/"),
    );
    let library = StationLibrary::open(dir.path()).expect("opens");
    let mut rx = library.subscribe();
    let _watch = library.watch(DEBOUNCE).expect("watch").expect("a folder");
    let first = library.snapshot();
    assert_eq!(names(&first), ["Alpha"]);
    assert_eq!(first.generation, 1);
    assert!(
        !first.index.search("alpha", 5).is_empty(),
        "index built with the catalog"
    );

    // Add a pack in a subfolder.
    std::fs::create_dir(dir.path().join("more")).expect("mkdir");
    // Give the watcher a moment to register the new folder before writing into it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    write(
        &dir.path().join("more/b.yaml"),
        "stations:\n  - name: Bravo\n    url: http://bravo.example/\n    tags: [x]\n",
    );
    let added = until(&library, &mut rx, "Bravo added", |s| {
        names(s) == ["Alpha", "Bravo"]
    })
    .await;
    assert!(added.generation > first.generation);
    assert!(!added.index.search("bravo", 5).is_empty(), "index rebuilt");

    // Edit it.
    write(
        &dir.path().join("a.toml"),
        &pack("Alpha Two", "http://alpha.example/2"),
    );
    until(&library, &mut rx, "Alpha edited", |s| {
        names(s) == ["Alpha Two", "Bravo"]
    })
    .await;

    // Break it as a whole: the last good version stays, with a diagnostic saying why.
    write(
        &dir.path().join("a.toml"),
        "[[station]]\nname = \"Alpha Three\n",
    );
    let broken = until(&library, &mut rx, "break reported", |s| {
        s.diagnostics
            .iter()
            .any(|d| d.origin.file.ends_with("a.toml"))
    })
    .await;
    assert_eq!(names(&broken), ["Alpha Two", "Bravo"]);
    let why = broken
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .find(|d| d.contains("a.toml"))
        .expect("diagnostic");
    assert!(why.contains("a.toml:2: error: invalid TOML"), "{why}");
    assert!(why.contains("keeping the last good version"), "{why}");

    // Fix it: the new contents replace the old, the diagnostic is gone.
    write(
        &dir.path().join("a.toml"),
        &pack("Alpha Four", "http://alpha.example/4"),
    );
    let fixed = until(&library, &mut rx, "Alpha fixed", |s| {
        names(s) == ["Alpha Four", "Bravo"]
    })
    .await;
    assert!(fixed.diagnostics.is_empty(), "{:?}", fixed.diagnostics);

    // Remove a pack.
    std::fs::remove_file(dir.path().join("more/b.yaml")).expect("rm");
    until(&library, &mut rx, "Bravo removed", |s| {
        names(s) == ["Alpha Four"]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_broken_from_the_start_loads_once_fixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("bad.yaml"), "stations: [\n");
    write(
        &dir.path().join("ok.toml"),
        &pack("Ok", "http://ok.example/"),
    );
    let library = StationLibrary::open(dir.path()).expect("opens");
    let first = library.snapshot();
    assert_eq!(names(&first), ["Ok"]);
    let d = first.diagnostics.first().expect("diagnostic").to_string();
    assert!(d.contains("bad.yaml") && d.contains("invalid YAML"), "{d}");
    assert!(
        !d.contains("last good"),
        "there is no good version yet: {d}"
    );

    let mut rx = library.subscribe();
    let _watch = library.watch(DEBOUNCE).expect("watch").expect("a folder");
    write(
        &dir.path().join("bad.yaml"),
        "stations:\n  - name: Fixed\n    url: http://fixed.example/\n    tags: [x]\n",
    );
    until(&library, &mut rx, "bad.yaml fixed", |s| {
        names(s) == ["Fixed", "Ok"]
    })
    .await;
}

#[test]
fn reload_reparses_only_changed_files_and_bumps_the_generation() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join("a.toml"),
        &pack("Alpha", "http://alpha.example/"),
    );
    write(
        &dir.path().join("b.toml"),
        &pack("Bravo", "http://bravo.example/"),
    );
    let library = StationLibrary::open(dir.path()).expect("opens");
    let rx = library.subscribe();
    let before = library.snapshot();

    let generation = library
        .reload(&std::collections::BTreeSet::new())
        .expect("reload");
    assert_eq!(generation, before.generation + 1);
    assert_eq!(*rx.borrow(), generation);
    let after = library.snapshot();
    // Unchanged packs are reused, not re-parsed: the stations are the very same values.
    assert_eq!(names(&after), names(&before));
    // The old snapshot is still whole for readers that hold it.
    assert_eq!(before.catalog.len(), 2);
}

#[test]
fn missing_folder_serves_the_built_in_stations_without_watching() {
    let dir = tempfile::tempdir().expect("tempdir");
    let library = StationLibrary::open(&dir.path().join("absent")).expect("opens");
    assert!(library.snapshot().catalog.len() >= 40);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        assert!(library.watch(DEBOUNCE).expect("no error").is_none());
    });
}
