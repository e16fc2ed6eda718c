//! Property tests of the guild store: random settings, favourites edits and resume entries go through a real
//! `Store` (in memory, and a file reopened) and come back unchanged; favourites behave like a capped,
//! duplicate-free list model.

use std::time::{Duration, SystemTime};

use alastor::core::guild::{
    FavouriteError, Favourites, GuildSettings, LocaleTag, Region, ResumeEntry, SetupStamp, Volume,
};
use alastor::core::ids::{ChannelKey, GuildKey, RoleKey, UserKey};
use alastor::core::station::StationId;
use alastor::core::store::Store;
use alastor::core::store::export::StoreDump;
use proptest::prelude::*;

fn locale() -> impl Strategy<Value = Option<LocaleTag>> {
    prop_oneof![
        Just(None),
        prop::sample::select(vec![
            "de", "en-US", "fr", "pt-BR", "es-419", "DE-at", "en_gb"
        ])
        .prop_map(|t| Some(t.parse().expect("valid tag"))),
    ]
}

fn region() -> impl Strategy<Value = Option<Region>> {
    prop_oneof![
        Just(None),
        "[a-zA-Z]{2}".prop_map(|r| Some(r.parse().expect("two letters"))),
    ]
}

fn volume() -> impl Strategy<Value = Volume> {
    (0_u32..=200).prop_map(|v| Volume::new(v).expect("in range"))
}

fn time() -> impl Strategy<Value = SystemTime> {
    (0_u64..4_000_000_000, 0_u32..1_000_000_000)
        .prop_map(|(s, n)| SystemTime::UNIX_EPOCH + Duration::new(s, n))
}

prop_compose! {
    fn settings()(
        voice in proptest::option::of(1_u64..u64::MAX),
        announce in proptest::option::of(1_u64..u64::MAX),
        roles in prop::collection::vec(1_u64..1000, 0..40),
        locale in locale(),
        region in region(),
        always_on: bool,
        (default, max) in (volume(), volume()),
        idle in 0_u64..100_000,
        announce_now_playing: bool,
        setup in proptest::option::of((time(), 1_u64..u64::MAX)),
    ) -> GuildSettings {
        let mut s = GuildSettings {
            voice_channel: voice.map(ChannelKey),
            announce_channel: announce.map(ChannelKey),
            locale,
            region,
            always_on,
            idle_timeout: Duration::from_secs(idle),
            announce_now_playing,
            setup: setup.map(|(at, by)| SetupStamp { at, by: UserKey(by) }),
            ..GuildSettings::default()
        };
        s.set_dj_roles(roles.into_iter().map(RoleKey));
        s.set_volumes(default, max);
        s
    }
}

fn station_id() -> impl Strategy<Value = StationId> {
    prop::collection::vec("[a-z0-9]{1,6}", 1..4)
        .prop_map(|parts| StationId::parse(&parts.join("-")).expect("slug"))
}

prop_compose! {
    fn resume_entry()(
        voice in 1_u64..u64::MAX,
        station in station_id(),
        volume in volume(),
        text in proptest::option::of(1_u64..u64::MAX),
        by in proptest::option::of(1_u64..u64::MAX),
        since in time(),
        title in proptest::option::of(".{0,80}"),
    ) -> ResumeEntry {
        ResumeEntry {
            voice_channel: ChannelKey(voice),
            station,
            volume,
            text_channel: text.map(ChannelKey),
            started_by: by.map(UserKey),
            since,
            title,
        }
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Add(StationId),
    Remove(StationId),
    Move(StationId, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // A small id space so removes and duplicates actually hit.
    let id = (0_u8..40).prop_map(|n| StationId::parse(&format!("s{n}")).expect("slug"));
    prop_oneof![
        4 => id.clone().prop_map(Edit::Add),
        2 => id.clone().prop_map(Edit::Remove),
        1 => (id, 0_usize..30).prop_map(|(i, p)| Edit::Move(i, p)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn settings_round_trip_through_the_store(all in prop::collection::vec(settings(), 1..8)) {
        let store = Store::open_in_memory().expect("store");
        for (i, s) in all.iter().enumerate() {
            let guild = GuildKey(i as u64 + 1);
            let written = s.clone();
            store.update_settings(guild, move |stored| *stored = written).expect("write");
        }
        for (i, s) in all.iter().enumerate() {
            prop_assert_eq!(&store.settings(GuildKey(i as u64 + 1)).expect("read"), s);
            prop_assert!(s.default_volume <= s.max_volume);
            prop_assert!(s.dj_roles.len() <= GuildSettings::MAX_DJ_ROLES);
            prop_assert!(s.dj_roles.windows(2).all(|w| w[0] < w[1]));
        }
        // And through the JSON export.
        let json = store.export().expect("export").to_json();
        let copy = Store::open_in_memory().expect("store");
        copy.import(&StoreDump::from_json(&json).expect("parse"), false).expect("import");
        prop_assert_eq!(copy.export().expect("export").to_json(), json);
    }

    #[test]
    fn favourites_behave_like_a_capped_unique_list(edits in prop::collection::vec(edit(), 0..80)) {
        let store = Store::open_in_memory().expect("store");
        let guild = GuildKey(7);
        let mut model: Vec<StationId> = Vec::new();
        for e in edits {
            let result = store.update_favourites(guild, |f| match &e {
                Edit::Add(id) => f.add(id.clone()),
                Edit::Remove(id) => f.remove(id),
                Edit::Move(id, to) => f.move_to(id, *to),
            });
            match &e {
                Edit::Add(id) => {
                    if model.contains(id) || model.len() >= Favourites::MAX {
                        prop_assert!(result.is_err());
                    } else {
                        prop_assert!(result.is_ok());
                        model.push(id.clone());
                    }
                }
                Edit::Remove(id) => {
                    if let Some(at) = model.iter().position(|m| m == id) {
                        prop_assert!(result.is_ok());
                        model.remove(at);
                    } else {
                        prop_assert!(result.is_err());
                    }
                }
                Edit::Move(id, to) => {
                    let from = model.iter().position(|m| m == id);
                    let valid = *to >= 1 && *to <= model.len() && from.is_some();
                    prop_assert_eq!(result.is_ok(), valid);
                    if let (true, Some(from)) = (valid, from) {
                        let moved = model.remove(from);
                        model.insert(to - 1, moved);
                    }
                }
            }
            let stored = store.favourites(guild).expect("read");
            prop_assert_eq!(stored.as_slice(), model.as_slice());
        }
    }

    #[test]
    fn resume_entries_round_trip_through_a_reopened_file(entries in prop::collection::vec(resume_entry(), 0..10)) {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("store");
            for (i, e) in entries.iter().enumerate() {
                store.put_resume(GuildKey(i as u64 + 1), e).expect("write");
            }
        }
        let store = Store::open(dir.path()).expect("reopen");
        let read = store.resume_entries().expect("read");
        prop_assert_eq!(read.len(), entries.len());
        for (guild, entry) in read {
            prop_assert_eq!(&entry, &entries[(guild.0 - 1) as usize]);
        }
    }
}

#[test]
fn a_full_favourites_list_reports_full() {
    let store = Store::open_in_memory().expect("store");
    let guild = GuildKey(1);
    for n in 0..Favourites::MAX {
        let id = StationId::parse(&format!("s{n}")).expect("slug");
        store.update_favourites(guild, |f| f.add(id)).expect("room");
    }
    let err = store
        .update_favourites(guild, |f| {
            f.add(StationId::parse("one-more").expect("slug"))
        })
        .unwrap_err();
    assert!(matches!(
        err,
        alastor::core::store::StoreError::Favourite(FavouriteError::Full)
    ));
}
