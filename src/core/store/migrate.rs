//! Record migrations: how a record written by an older release becomes today's.
//!
//! Each [`Record`](super::Record) type lists its steps in `MIGRATIONS`: step `from = v` turns the postcard
//! body of version `v` into the body of version `v + 1`, usually by decoding a frozen copy of the old struct
//! and converting it ([`step`]). Reading applies the chain from the stored version up to the current one;
//! [`Store::migrate_all`](super::Store::migrate_all) rewrites old records in one transaction at open, so the
//! chain runs once per record, not on every read. A missing step is an error naming the version, never a
//! misread.
//!
//! The chain so far: version 1 → 2 wrapped every record in a checksum (see [`super::records`]); the body
//! did not change, so that step is the identity and the framing does the work.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::RecordError;

/// One step of a record's chain: the body of version `from` to the body of version `from + 1`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub from: u8,
    pub run: fn(&[u8]) -> Result<Vec<u8>, String>,
}

/// The usual body of a step: decode the frozen old shape, convert, encode the new one.
pub fn step<Old: DeserializeOwned, New: Serialize>(
    body: &[u8],
    convert: impl FnOnce(Old) -> New,
) -> Result<Vec<u8>, String> {
    let old: Old = postcard::from_bytes(body).map_err(|e| e.to_string())?;
    postcard::to_allocvec(&convert(old)).map_err(|e| e.to_string())
}

/// Runs `chain` from `version` up to `current` and decodes the result.
pub fn upgrade<T: DeserializeOwned>(
    version: u8,
    body: &[u8],
    current: u8,
    chain: &[Migration],
) -> Result<T, RecordError> {
    let mut body = body.to_vec();
    let mut at = version;
    while at < current {
        let migration = chain
            .iter()
            .find(|m| m.from == at)
            .ok_or(RecordError::Unsupported(at))?;
        body = (migration.run)(&body).map_err(|reason| RecordError::Corrupt {
            version: at,
            reason: format!("migrating to version {}: {reason}", at + 1),
        })?;
        at += 1;
    }
    postcard::from_bytes(&body).map_err(|e| RecordError::Corrupt {
        version: current,
        reason: format!("after migrating from version {version}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::core::guild::{GuildSettings, Volume};
    use crate::core::ids::{ChannelKey, RoleKey};
    use crate::core::store::Record;
    use crate::core::store::records::{Place, seal};

    const AT: Place<'static> = Place {
        table: "guild_settings",
        key: &[0, 0, 0, 0, 0, 0, 0, 42],
    };

    /// A future shape of the settings: v2 adds a crossfade, v3 renames the idle timeout to minutes.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct SettingsV2 {
        base: GuildSettings,
        crossfade_ms: u32,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct SettingsV3 {
        base: GuildSettings,
        crossfade_ms: u32,
        idle_minutes: u32,
    }

    fn v1_to_v2(body: &[u8]) -> Result<Vec<u8>, String> {
        // The v1 body is exactly what today's `GuildSettings` body is (v2 only added the checksum around it).
        step(body, |old: GuildSettings| SettingsV2 {
            base: old,
            crossfade_ms: 0,
        })
    }

    fn v2_to_v3(body: &[u8]) -> Result<Vec<u8>, String> {
        step(body, |old: SettingsV2| SettingsV3 {
            idle_minutes: u32::try_from(old.base.idle_timeout.as_secs() / 60).unwrap_or(u32::MAX),
            base: old.base,
            crossfade_ms: old.crossfade_ms,
        })
    }

    impl Record for SettingsV3 {
        const VERSION: u8 = 3;
        const MIGRATIONS: &'static [Migration] = &[
            Migration {
                from: 2,
                run: v2_to_v3,
            },
            Migration {
                from: 1,
                run: v1_to_v2,
            },
        ];
    }

    impl Record for SettingsV2 {
        const VERSION: u8 = 2;
        // Deliberately without the v1 step: a gap in the chain.
    }

    fn v1_settings() -> GuildSettings {
        let mut s = GuildSettings {
            voice_channel: Some(ChannelKey(42)),
            always_on: true,
            idle_timeout: Duration::from_secs(600),
            ..GuildSettings::default()
        };
        s.set_dj_roles([RoleKey(7)]);
        s.set_volumes(Volume::new(60).unwrap(), Volume::new(120).unwrap());
        s
    }

    /// A v1 record as the release before checksums wrote it: `[1][postcard]`.
    fn stored_v1() -> Vec<u8> {
        seal(AT, 1, &v1_settings().body())
    }

    #[test]
    fn a_real_v1_settings_record_becomes_a_checksummed_v2() {
        let stored = stored_v1();
        assert_eq!(stored[0], 1);
        assert_eq!(
            stored.len(),
            v1_settings().body().len() + 1,
            "no checksum in v1"
        );
        let read = GuildSettings::decode(AT, &stored, true).expect("migrates");
        assert_eq!(read, v1_settings());
        let rewritten = read.encode(AT);
        assert_eq!(rewritten[0], 2, "today's settings are version 2");
        assert_eq!(rewritten.len(), stored.len() + 4, "a CRC32 was added");
        assert_eq!(GuildSettings::decode(AT, &rewritten, false).unwrap(), read);
    }

    #[test]
    fn a_real_v1_settings_record_migrates_through_the_chain() {
        let v1 = v1_settings();
        let stored = stored_v1();
        let migrated = SettingsV3::decode(AT, &stored, true).expect("migrates");
        assert_eq!(migrated.base, v1);
        assert_eq!(migrated.crossfade_ms, 0);
        assert_eq!(migrated.idle_minutes, 10);
        assert_eq!(migrated.base.voice_channel, Some(ChannelKey(42)));
        assert_eq!(migrated.base.dj_roles, vec![RoleKey(7)]);
        assert_eq!(migrated.base.default_volume.percent(), 60);
        // And what it writes back is the newest version, read without migrating.
        let rewritten = migrated.encode(AT);
        assert_eq!(rewritten[0], 3);
        assert_eq!(SettingsV3::decode(AT, &rewritten, false).unwrap(), migrated);
    }

    #[test]
    fn a_gap_in_the_chain_names_the_version_instead_of_misreading() {
        let stored = stored_v1();
        assert_eq!(
            SettingsV2::decode(AT, &stored, true),
            Err(RecordError::Unsupported(1))
        );
    }

    #[test]
    fn a_broken_old_record_says_which_step_failed() {
        let mut stored = stored_v1();
        stored.truncate(3);
        match SettingsV3::decode(AT, &stored, true) {
            Err(RecordError::Corrupt { version: 1, reason }) => {
                assert!(reason.contains("migrating to version 2"), "{reason}");
            }
            other => panic!("expected a corrupt v1 record, got {other:?}"),
        }
    }
}
