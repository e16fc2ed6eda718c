//! How records are laid out in the store: one version byte, then the record in postcard.
//!
//! The version byte lets a later release read what an earlier one wrote (see [`Record::upgrade`]) and lets
//! this release refuse what a *newer* one wrote instead of misreading it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::migrate::Migration;
use crate::core::guild::{Favourites, GuildSettings, ResumeEntry};

/// Why a stored record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("empty record")]
    Empty,
    #[error("record version {found} is newer than this build understands (≤ {known})")]
    FromTheFuture { found: u8, known: u8 },
    #[error("record version {0} is not supported any more")]
    Unsupported(u8),
    #[error("undecodable record (version {version}): {reason}")]
    Corrupt { version: u8, reason: String },
}

/// A value stored as `[version][postcard]`.
pub trait Record: Serialize + DeserializeOwned {
    /// The version this build writes. Bump it when the serialized shape changes, and add the step from the
    /// previous version to [`Record::MIGRATIONS`].
    const VERSION: u8;

    /// How older versions become this one, one step per version (see [`super::migrate`]).
    const MIGRATIONS: &'static [Migration] = &[];

    /// Reads a record written with an older `version` by running the migration chain.
    fn upgrade(version: u8, body: &[u8]) -> Result<Self, RecordError> {
        super::migrate::upgrade(version, body, Self::VERSION, Self::MIGRATIONS)
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![Self::VERSION];
        // INVARIANT: our records contain no maps with non-string keys or other shapes postcard refuses, so
        // serialization into a Vec cannot fail.
        postcard::to_io(self, &mut out).expect("postcard serializes every record type");
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let (&version, body) = bytes.split_first().ok_or(RecordError::Empty)?;
        if version > Self::VERSION {
            return Err(RecordError::FromTheFuture {
                found: version,
                known: Self::VERSION,
            });
        }
        if version < Self::VERSION {
            return Self::upgrade(version, body);
        }
        postcard::from_bytes(body).map_err(|e| RecordError::Corrupt {
            version,
            reason: e.to_string(),
        })
    }
}

impl Record for GuildSettings {
    const VERSION: u8 = 1;
}

impl Record for Favourites {
    const VERSION: u8 = 1;
}

impl Record for ResumeEntry {
    const VERSION: u8 = 1;
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::core::guild::{LocaleTag, SetupStamp, Volume};
    use crate::core::ids::{ChannelKey, RoleKey, UserKey};
    use crate::core::station::StationId;

    fn settings() -> GuildSettings {
        let mut s = GuildSettings {
            voice_channel: Some(ChannelKey(10)),
            announce_channel: Some(ChannelKey(11)),
            locale: Some("de".parse::<LocaleTag>().unwrap()),
            region: Some("DE".parse().unwrap()),
            always_on: true,
            idle_timeout: Duration::from_secs(90),
            announce_now_playing: false,
            setup: Some(SetupStamp {
                at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                by: UserKey(7),
            }),
            ..GuildSettings::default()
        };
        s.set_dj_roles([RoleKey(3), RoleKey(2)]);
        s.set_volumes(Volume::new(80).unwrap(), Volume::new(150).unwrap());
        s
    }

    #[test]
    fn every_record_type_round_trips() {
        let s = settings();
        assert_eq!(GuildSettings::decode(&s.encode()).unwrap(), s);

        let mut f = Favourites::default();
        f.add(StationId::parse("radio-paradise").unwrap()).unwrap();
        f.add(StationId::parse("fip").unwrap()).unwrap();
        assert_eq!(Favourites::decode(&f.encode()).unwrap(), f);

        let r = ResumeEntry {
            voice_channel: ChannelKey(1),
            station: StationId::parse("fip").unwrap(),
            volume: Volume::new(90).unwrap(),
            text_channel: Some(ChannelKey(2)),
            started_by: Some(UserKey(3)),
            since: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            title: Some("Miles Davis – So What".to_owned()),
        };
        assert_eq!(ResumeEntry::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn a_record_from_a_newer_release_is_refused() {
        let mut bytes = settings().encode();
        bytes[0] = GuildSettings::VERSION + 1;
        assert_eq!(
            GuildSettings::decode(&bytes),
            Err(RecordError::FromTheFuture {
                found: GuildSettings::VERSION + 1,
                known: GuildSettings::VERSION
            })
        );
    }

    #[test]
    fn truncated_and_empty_records_are_corrupt_not_panics() {
        let bytes = settings().encode();
        assert_eq!(GuildSettings::decode(&[]), Err(RecordError::Empty));
        assert!(matches!(
            GuildSettings::decode(&bytes[..bytes.len() / 2]),
            Err(RecordError::Corrupt { version: 1, .. })
        ));
    }
}
