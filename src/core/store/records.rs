//! How records are laid out in the store: a version byte, a checksum, then the record in postcard.
//!
//! `[version][crc32 LE][postcard body]` since version 2 ([`SEALED_SINCE`]); version 1 records (written before
//! checksums) were `[version][postcard body]` and are migrated when the bot opens the store. The CRC32 covers
//! the table name, the record's key, the version and the body, so a flipped byte anywhere in the value *or*
//! a value that ends up under another key (a flipped bit in a key: guild 111 read as guild 16777327) fails
//! verification instead of being read. Every read verifies it.
//!
//! The version byte lets a later release read what an earlier one wrote (see [`Record::upgrade`]) and lets
//! this release refuse what a *newer* one wrote instead of misreading it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::dump::MAX_IDLE_TIMEOUT;
use super::migrate::Migration;
use crate::core::guild::{Favourites, GuildSettings, ResumeEntry};

/// The first record version that carries a checksum.
pub const SEALED_SINCE: u8 = 2;
/// The version of a play counter value (`[2][crc32][u64 LE]`; the counters were bare `u64`s before).
pub const COUNT_VERSION: u8 = SEALED_SINCE;

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
    #[error(
        "checksum mismatch (stored {stored:08x}, computed {computed:08x}): the record or its key was altered on disk"
    )]
    Checksum { stored: u32, computed: u32 },
    #[error(
        "record version {0} has no checksum, but this store was upgraded to checksummed records: it was altered on disk"
    )]
    Unsealed(u8),
}

/// Where a record lives: its table and its key's bytes (a guild id big-endian, then any string part).
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub table: &'a str,
    pub key: &'a [u8],
}

/// CRC32 over everything that identifies and makes up the record.
pub fn checksum(place: Place<'_>, version: u8, body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(place.table.as_bytes());
    // The table name is a fixed string, the key's length follows from the table: a separator suffices.
    hasher.update(&[0]);
    hasher.update(place.key);
    hasher.update(&[version]);
    hasher.update(body);
    hasher.finalize()
}

/// `[version][crc32][body]` (or `[version][body]` for a version before checksums: only tests write those).
pub fn seal(place: Place<'_>, version: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(version);
    if version >= SEALED_SINCE {
        out.extend_from_slice(&checksum(place, version, body).to_le_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// Splits a stored value into version and verified body. `unsealed_ok` admits version-1 records (a store not
/// migrated yet, opened read-only); once a store is migrated, an unsealed record is tampering.
pub fn unseal<'b>(
    place: Place<'_>,
    bytes: &'b [u8],
    current: u8,
    unsealed_ok: bool,
) -> Result<(u8, &'b [u8]), RecordError> {
    let (&version, rest) = bytes.split_first().ok_or(RecordError::Empty)?;
    if version > current {
        return Err(RecordError::FromTheFuture {
            found: version,
            known: current,
        });
    }
    if version < SEALED_SINCE {
        return if unsealed_ok {
            Ok((version, rest))
        } else {
            Err(RecordError::Unsealed(version))
        };
    }
    let (stored, body) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| RecordError::Corrupt {
            version,
            reason: "shorter than its checksum".to_owned(),
        })?;
    let stored = u32::from_le_bytes(*stored);
    let computed = checksum(place, version, body);
    if stored != computed {
        return Err(RecordError::Checksum { stored, computed });
    }
    Ok((version, body))
}

/// A play counter as stored: sealed like a record.
pub fn encode_count(place: Place<'_>, count: u64) -> Vec<u8> {
    seal(place, COUNT_VERSION, &count.to_le_bytes())
}

/// Reads a counter written by [`encode_count`], verifying its checksum.
pub fn decode_count(place: Place<'_>, bytes: &[u8]) -> Result<u64, RecordError> {
    let (version, body) = unseal(place, bytes, COUNT_VERSION, false)?;
    let raw: [u8; 8] = body.try_into().map_err(|_| RecordError::Corrupt {
        version,
        reason: format!("a play count is 8 bytes, found {}", body.len()),
    })?;
    Ok(u64::from_le_bytes(raw))
}

/// The key bytes of a guild record.
pub fn guild_key(guild: u64) -> [u8; 8] {
    guild.to_be_bytes()
}

/// The key bytes of a play counter: guild, then station id.
pub fn play_key(guild: u64, station: &str) -> Vec<u8> {
    let mut key = guild.to_be_bytes().to_vec();
    key.extend_from_slice(station.as_bytes());
    key
}

/// A value stored as `[version][crc32][postcard]`.
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

    /// The postcard body alone.
    fn body(&self) -> Vec<u8> {
        // INVARIANT: our records contain no maps with non-string keys or other shapes postcard refuses, so
        // serialization into a Vec cannot fail.
        postcard::to_allocvec(self).expect("postcard serializes every record type")
    }

    fn encode(&self, place: Place<'_>) -> Vec<u8> {
        seal(place, Self::VERSION, &self.body())
    }

    /// Verifies the checksum (see [`unseal`] for `unsealed_ok`), then decodes, migrating an old version.
    fn decode(place: Place<'_>, bytes: &[u8], unsealed_ok: bool) -> Result<Self, RecordError> {
        let (version, body) = unseal(place, bytes, Self::VERSION, unsealed_ok)?;
        if version < Self::VERSION {
            return Self::upgrade(version, body);
        }
        postcard::from_bytes(body).map_err(|e| RecordError::Corrupt {
            version,
            reason: e.to_string(),
        })
    }
}

/// Version 1 → 2 added the checksum around an unchanged body: the step is the identity (its signature is
/// the chain's, which other steps need to fail).
#[allow(clippy::unnecessary_wraps)]
fn sealed_body(body: &[u8]) -> Result<Vec<u8>, String> {
    Ok(body.to_vec())
}

const ADD_CHECKSUM: &[Migration] = &[Migration {
    from: 1,
    run: sealed_body,
}];

/// Settings 1 → 2: the checksum, and an idle timeout within [`MAX_IDLE_TIMEOUT`]. Releases before this one
/// imported any `u64` (the bot then panicked adding it to `Instant::now()`); such a record is brought to the
/// longest allowed timeout, with a warning, instead of making the guild's settings unreadable.
fn settings_v1_to_v2(body: &[u8]) -> Result<Vec<u8>, String> {
    super::migrate::step(body, |mut settings: GuildSettings| {
        if settings.idle_timeout > MAX_IDLE_TIMEOUT {
            tracing::warn!(
                stored_secs = settings.idle_timeout.as_secs(),
                "idle timeout longer than 7 days in an old settings record: lowered to 7 days"
            );
            settings.idle_timeout = MAX_IDLE_TIMEOUT;
        }
        settings
    })
}

impl Record for GuildSettings {
    const VERSION: u8 = 2;
    const MIGRATIONS: &'static [Migration] = &[Migration {
        from: 1,
        run: settings_v1_to_v2,
    }];
}

impl Record for Favourites {
    const VERSION: u8 = 2;
    const MIGRATIONS: &'static [Migration] = ADD_CHECKSUM;
}

impl Record for ResumeEntry {
    const VERSION: u8 = 2;
    const MIGRATIONS: &'static [Migration] = ADD_CHECKSUM;
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::core::guild::{LocaleTag, SetupStamp, Volume};
    use crate::core::ids::{ChannelKey, RoleKey, UserKey};
    use crate::core::station::StationId;

    const AT: Place<'static> = Place {
        table: "guild_settings",
        key: &[0, 0, 0, 0, 0, 0, 0, 111],
    };

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
        assert_eq!(GuildSettings::decode(AT, &s.encode(AT), false).unwrap(), s);

        let mut f = Favourites::default();
        f.add(StationId::parse("radio-paradise").unwrap()).unwrap();
        f.add(StationId::parse("fip").unwrap()).unwrap();
        assert_eq!(Favourites::decode(AT, &f.encode(AT), false).unwrap(), f);

        let r = ResumeEntry {
            voice_channel: ChannelKey(1),
            station: StationId::parse("fip").unwrap(),
            volume: Volume::new(90).unwrap(),
            text_channel: Some(ChannelKey(2)),
            started_by: Some(UserKey(3)),
            since: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            title: Some("Miles Davis – So What".to_owned()),
        };
        assert_eq!(ResumeEntry::decode(AT, &r.encode(AT), false).unwrap(), r);
    }

    #[test]
    fn a_record_from_a_newer_release_is_refused() {
        let mut bytes = settings().encode(AT);
        bytes[0] = GuildSettings::VERSION + 1;
        assert_eq!(
            GuildSettings::decode(AT, &bytes, false),
            Err(RecordError::FromTheFuture {
                found: GuildSettings::VERSION + 1,
                known: GuildSettings::VERSION
            })
        );
    }

    #[test]
    fn truncated_and_empty_records_are_errors_not_panics() {
        let bytes = settings().encode(AT);
        assert_eq!(
            GuildSettings::decode(AT, &[], false),
            Err(RecordError::Empty)
        );
        assert!(matches!(
            GuildSettings::decode(AT, &bytes[..bytes.len() / 2], false),
            Err(RecordError::Checksum { .. })
        ));
        assert!(matches!(
            GuildSettings::decode(AT, &bytes[..3], false),
            Err(RecordError::Corrupt { version: 2, .. })
        ));
    }

    /// Every single-bit flip of a sealed record is caught (CRC32 detects all 1-bit errors).
    #[test]
    fn every_flipped_bit_of_a_record_is_detected() {
        let bytes = settings().encode(AT);
        for bit in 8..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                GuildSettings::decode(AT, &flipped, false).is_err(),
                "bit {bit} flipped went unnoticed"
            );
        }
    }

    /// Regression: a play count moved from guild 111 to guild 16777327 (one flipped key bit) was read as
    /// valid. The key is inside the checksum, so the same bytes under another key fail.
    #[test]
    fn a_value_under_another_key_is_detected() {
        let at_111 = play_key(111, "fip");
        let at_moved = play_key(16_777_327, "fip");
        assert_ne!(at_111, at_moved);
        let stored = encode_count(
            Place {
                table: "play_counts",
                key: &at_111,
            },
            42,
        );
        let read = |key: &[u8]| {
            decode_count(
                Place {
                    table: "play_counts",
                    key,
                },
                &stored,
            )
        };
        assert_eq!(read(&at_111), Ok(42));
        assert!(matches!(read(&at_moved), Err(RecordError::Checksum { .. })));
        // And a settings record copied under another guild, or into another table.
        let bytes = settings().encode(AT);
        let other_guild = guild_key(16_777_327);
        assert!(
            GuildSettings::decode(
                Place {
                    table: "guild_settings",
                    key: &other_guild,
                },
                &bytes,
                false
            )
            .is_err()
        );
        assert!(
            GuildSettings::decode(
                Place {
                    table: "favourites",
                    key: AT.key,
                },
                &bytes,
                false
            )
            .is_err()
        );
    }

    /// Regression: an old release imported `idle_timeout: u64::MAX`, which later panicked in
    /// `now + idle_timeout`. Migrating such a record caps it.
    #[test]
    fn migrating_an_old_record_caps_an_overflowing_idle_timeout() {
        let mut old = settings();
        old.idle_timeout = Duration::from_secs(u64::MAX);
        let legacy = seal(AT, 1, &old.body());
        let read = GuildSettings::decode(AT, &legacy, true).unwrap();
        assert_eq!(read.idle_timeout, MAX_IDLE_TIMEOUT);
        assert_eq!(
            GuildSettings {
                idle_timeout: old.idle_timeout,
                ..read
            },
            old
        );
    }

    #[test]
    fn an_unsealed_record_is_read_only_where_the_store_predates_checksums() {
        let legacy = seal(AT, 1, &settings().body());
        assert_eq!(
            legacy.len(),
            settings().body().len() + 1,
            "v1 has no checksum"
        );
        assert_eq!(
            GuildSettings::decode(AT, &legacy, true).unwrap(),
            settings()
        );
        assert_eq!(
            GuildSettings::decode(AT, &legacy, false),
            Err(RecordError::Unsealed(1))
        );
    }
}
