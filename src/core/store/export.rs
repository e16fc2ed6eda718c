//! The store as versioned, human-readable JSON (`alastor data export|import|check`), and the one-pass
//! verification and migration of every record.
//!
//! Export reads every table in one read transaction and writes keys in a fixed order, so exporting the same
//! store twice (or exporting what was imported) gives byte-identical JSON. Import validates every record
//! before it writes anything and writes all of them in one transaction: a bad file changes nothing.

use std::collections::BTreeMap;

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{FAVOURITES, PLAYS, RESUME, Record, SETTINGS, Store, StoreError};
use crate::core::guild::{Favourites, GuildSettings, ResumeEntry};
use crate::core::ids::GuildKey;
use crate::core::station::StationId;

/// The `format` field of an export.
pub const DUMP_FORMAT: &str = "alastor-store";
/// The layout of the export this build writes (not the record versions: those are migrated on import).
pub const DUMP_VERSION: u64 = 1;

/// Every table, keyed by guild id (as a string: JSON object keys), in ascending id order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreDump {
    pub format: String,
    pub version: u64,
    pub guild_settings: BTreeMap<GuildId, GuildSettings>,
    pub favourites: BTreeMap<GuildId, Favourites>,
    pub resume: BTreeMap<GuildId, ResumeEntry>,
    /// guild → station id → times played.
    pub plays: BTreeMap<GuildId, BTreeMap<String, u64>>,
}

/// A guild id as a JSON object key. Ordered numerically (so the export reads naturally), written as a
/// decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GuildId(pub u64);

impl TryFrom<String> for GuildId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
            .map(GuildId)
            .map_err(|_| format!("`{s}` is not a guild id (a decimal number)"))
    }
}

impl From<GuildId> for String {
    fn from(id: GuildId) -> Self {
        id.0.to_string()
    }
}

/// Records per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub guild_settings: usize,
    pub favourites: usize,
    pub resume: usize,
    pub plays: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.guild_settings + self.favourites + self.resume + self.plays
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "guild_settings {}, favourites {}, resume {}, plays {}",
            self.guild_settings, self.favourites, self.resume, self.plays
        )
    }
}

/// Why an export file cannot be imported; names the place in the file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not an Alastor store export (`format` is {found:?}, expected \"{DUMP_FORMAT}\")")]
    Format { found: String },
    #[error("export version {found} is newer than this build understands (≤ {DUMP_VERSION})")]
    FromTheFuture { found: u64 },
    #[error("{place}: {reason}")]
    Record { place: String, reason: String },
    #[error(
        "the store already holds {0}; import only into an empty store, or pass --replace to overwrite it"
    )]
    NotEmpty(Counts),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StoreDump {
    /// Parses an export, checking every record and naming the first bad one (`guild_settings.123: …`).
    pub fn from_json(text: &str) -> Result<Self, ImportError> {
        let root: Value = serde_json::from_str(text)?;
        let format = root["format"].as_str().unwrap_or_default().to_owned();
        if format != DUMP_FORMAT {
            return Err(ImportError::Format { found: format });
        }
        let version = root["version"].as_u64().unwrap_or(0);
        if version > DUMP_VERSION {
            return Err(ImportError::FromTheFuture { found: version });
        }
        Ok(Self {
            format,
            version,
            guild_settings: table(&root, "guild_settings", |s: GuildSettings| {
                // Keep the invariants a hand-edited file may break (sorted, capped roles; default ≤ max).
                let mut s = s;
                let roles = s.dj_roles.clone();
                s.set_dj_roles(roles);
                s.set_volumes(s.default_volume, s.max_volume);
                Ok(s)
            })?,
            favourites: table(&root, "favourites", |f: Favourites| {
                let mut checked = Favourites::default();
                for id in f.as_slice() {
                    checked.add(id.clone()).map_err(|e| e.to_string())?;
                }
                Ok(checked)
            })?,
            resume: table(&root, "resume", Ok)?,
            plays: table(&root, "plays", |counts: BTreeMap<String, u64>| {
                for station in counts.keys() {
                    StationId::parse(station).map_err(|e| format!("{station}: {e}"))?;
                }
                Ok(counts)
            })?,
        })
    }

    /// Pretty JSON with a trailing newline; the same dump always gives the same bytes.
    pub fn to_json(&self) -> String {
        // INVARIANT: every field serializes (string keys, no floats that could be NaN).
        let mut out = serde_json::to_string_pretty(self).expect("a dump serializes");
        out.push('\n');
        out
    }

    pub fn counts(&self) -> Counts {
        Counts {
            guild_settings: self.guild_settings.len(),
            favourites: self.favourites.len(),
            resume: self.resume.len(),
            plays: self.plays.values().map(BTreeMap::len).sum(),
        }
    }
}

/// One table of the export: every entry decoded and checked by `check`, errors naming `table.key`.
fn table<T: serde::de::DeserializeOwned, U>(
    root: &Value,
    name: &str,
    check: impl Fn(T) -> Result<U, String>,
) -> Result<BTreeMap<GuildId, U>, ImportError> {
    let mut out = BTreeMap::new();
    let Some(entries) = root.get(name) else {
        return Ok(out);
    };
    let entries = entries.as_object().ok_or_else(|| ImportError::Record {
        place: name.to_owned(),
        reason: "expected an object keyed by guild id".to_owned(),
    })?;
    for (key, value) in entries {
        let place = || format!("{name}.{key}");
        let id = GuildId::try_from(key.clone()).map_err(|reason| ImportError::Record {
            place: place(),
            reason,
        })?;
        let record: T = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
            let field = e.path().to_string();
            ImportError::Record {
                place: if field == "." {
                    place()
                } else {
                    format!("{}.{field}", place())
                },
                reason: e.into_inner().to_string(),
            }
        })?;
        let record = check(record).map_err(|reason| ImportError::Record {
            place: place(),
            reason,
        })?;
        out.insert(id, record);
    }
    Ok(out)
}

impl Store {
    /// Every table as one consistent snapshot.
    pub fn export(&self) -> Result<StoreDump, StoreError> {
        let txn = self.inner.db.begin_read().map_err(|e| self.db_err(e))?;
        let mut dump = StoreDump {
            format: DUMP_FORMAT.to_owned(),
            version: DUMP_VERSION,
            guild_settings: BTreeMap::new(),
            favourites: BTreeMap::new(),
            resume: BTreeMap::new(),
            plays: BTreeMap::new(),
        };
        self.read_records(&txn, SETTINGS, |g, s| {
            dump.guild_settings.insert(GuildId(g.0), s);
        })?;
        self.read_records(&txn, FAVOURITES, |g, f| {
            dump.favourites.insert(GuildId(g.0), f);
        })?;
        self.read_records(&txn, RESUME, |g, r| {
            dump.resume.insert(GuildId(g.0), r);
        })?;
        let plays = txn.open_table(PLAYS).map_err(|e| self.db_err(e))?;
        for row in plays.iter().map_err(|e| self.db_err(e))? {
            let (key, value) = row.map_err(|e| self.db_err(e))?;
            let (guild, station) = key.value();
            dump.plays
                .entry(GuildId(guild))
                .or_default()
                .insert(station.to_owned(), value.value());
        }
        Ok(dump)
    }

    /// Decodes every record (migrating old ones in memory) and counts them; the first bad record is an
    /// error naming its table and key.
    pub fn check(&self) -> Result<Counts, StoreError> {
        let dump = self.export()?;
        Ok(dump.counts())
    }

    /// Restores `dump` in one transaction. Refuses a store that holds anything unless `replace`, which
    /// clears every table first.
    pub fn import(&self, dump: &StoreDump, replace: bool) -> Result<Counts, ImportError> {
        if !replace {
            let existing = self.count_rows()?;
            if existing.total() > 0 {
                return Err(ImportError::NotEmpty(existing));
            }
        }
        let txn = self.inner.db.begin_write().map_err(|e| self.db_err(e))?;
        let write = |txn: &redb::WriteTransaction| -> Result<(), redb::Error> {
            for def in [SETTINGS, FAVOURITES, RESUME] {
                txn.delete_table(def)?;
            }
            txn.delete_table(PLAYS)?;
            put_all(txn, SETTINGS, &dump.guild_settings)?;
            put_all(txn, FAVOURITES, &dump.favourites)?;
            put_all(txn, RESUME, &dump.resume)?;
            let mut plays = txn.open_table(PLAYS)?;
            for (guild, counts) in &dump.plays {
                for (station, count) in counts {
                    plays.insert((guild.0, station.as_str()), *count)?;
                }
            }
            Ok(())
        };
        write(&txn).map_err(|e| self.db_err(e))?;
        txn.commit().map_err(|e| self.db_err(e))?;
        Ok(dump.counts())
    }

    /// Rows per table, without decoding.
    pub fn count_rows(&self) -> Result<Counts, StoreError> {
        let txn = self.inner.db.begin_read().map_err(|e| self.db_err(e))?;
        let len = |def: TableDefinition<u64, &[u8]>| -> Result<usize, StoreError> {
            let t = txn.open_table(def).map_err(|e| self.db_err(e))?;
            Ok(usize::try_from(t.len().map_err(|e| self.db_err(e))?).unwrap_or(usize::MAX))
        };
        let plays = txn.open_table(PLAYS).map_err(|e| self.db_err(e))?;
        Ok(Counts {
            guild_settings: len(SETTINGS)?,
            favourites: len(FAVOURITES)?,
            resume: len(RESUME)?,
            plays: usize::try_from(plays.len().map_err(|e| self.db_err(e))?).unwrap_or(usize::MAX),
        })
    }

    /// Rewrites every record older than this build's version, in one transaction; returns how many.
    /// Called at open, so migrations run once per record.
    pub fn migrate_all(&self) -> Result<usize, StoreError> {
        let mut migrated = 0;
        migrated += self.migrate_table::<GuildSettings>(SETTINGS)?;
        migrated += self.migrate_table::<Favourites>(FAVOURITES)?;
        migrated += self.migrate_table::<ResumeEntry>(RESUME)?;
        if migrated > 0 {
            tracing::info!(migrated, path = %self.inner.path.display(), "store records migrated");
        }
        Ok(migrated)
    }

    fn migrate_table<T: Record>(
        &self,
        def: TableDefinition<u64, &[u8]>,
    ) -> Result<usize, StoreError> {
        let old: Vec<(u64, Vec<u8>)> = {
            let txn = self.inner.db.begin_read().map_err(|e| self.db_err(e))?;
            let table = txn.open_table(def).map_err(|e| self.db_err(e))?;
            let mut old = Vec::new();
            for row in table.iter().map_err(|e| self.db_err(e))? {
                let (key, value) = row.map_err(|e| self.db_err(e))?;
                let bytes = value.value();
                if bytes.first().is_some_and(|&v| v < T::VERSION) {
                    let record = T::decode(bytes).map_err(|source| {
                        self.record_err(def.name(), GuildKey(key.value()), source)
                    })?;
                    old.push((key.value(), record.encode()));
                }
            }
            old
        };
        if old.is_empty() {
            return Ok(0);
        }
        let count = old.len();
        self.write(|txn| {
            let mut table = txn.open_table(def)?;
            for (key, bytes) in &old {
                table.insert(*key, bytes.as_slice())?;
            }
            Ok(())
        })?;
        Ok(count)
    }

    fn read_records<T: Record>(
        &self,
        txn: &redb::ReadTransaction,
        def: TableDefinition<u64, &[u8]>,
        mut each: impl FnMut(GuildKey, T),
    ) -> Result<(), StoreError> {
        let table = txn.open_table(def).map_err(|e| self.db_err(e))?;
        for row in table.iter().map_err(|e| self.db_err(e))? {
            let (key, value) = row.map_err(|e| self.db_err(e))?;
            let guild = GuildKey(key.value());
            let record = T::decode(value.value())
                .map_err(|source| self.record_err(def.name(), guild, source))?;
            each(guild, record);
        }
        Ok(())
    }
}

fn put_all<T: Record>(
    txn: &redb::WriteTransaction,
    def: TableDefinition<u64, &[u8]>,
    records: &BTreeMap<GuildId, T>,
) -> Result<(), redb::Error> {
    let mut table = txn.open_table(def)?;
    for (guild, record) in records {
        table.insert(guild.0, record.encode().as_slice())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::core::guild::Volume;
    use crate::core::ids::{ChannelKey, RoleKey, UserKey};

    fn filled() -> Store {
        let store = Store::open_in_memory().unwrap();
        for g in [3_u64, 10, 200] {
            store
                .update_settings(GuildKey(g), |s| {
                    s.voice_channel = Some(ChannelKey(g + 1));
                    s.set_dj_roles([RoleKey(5), RoleKey(4)]);
                    s.locale = Some("de".parse().unwrap());
                })
                .unwrap();
            store
                .update_favourites(GuildKey(g), |f| f.add(StationId::parse("fip").unwrap()))
                .unwrap();
            store
                .record_play(GuildKey(g), &StationId::parse("fip").unwrap())
                .unwrap();
        }
        store
            .put_resume(
                GuildKey(10),
                &ResumeEntry {
                    voice_channel: ChannelKey(11),
                    station: StationId::parse("fip").unwrap(),
                    volume: Volume::new(80).unwrap(),
                    text_channel: Some(ChannelKey(12)),
                    started_by: Some(UserKey(13)),
                    since: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                    title: Some("Nina Simone – Sinnerman".to_owned()),
                },
            )
            .unwrap();
        store
    }

    #[test]
    fn export_import_export_is_byte_identical() {
        let json = filled().export().unwrap().to_json();
        let copy = Store::open_in_memory().unwrap();
        let counts = copy
            .import(&StoreDump::from_json(&json).unwrap(), false)
            .unwrap();
        assert_eq!(
            counts,
            Counts {
                guild_settings: 3,
                favourites: 3,
                resume: 1,
                plays: 3
            }
        );
        assert_eq!(copy.export().unwrap().to_json(), json);
        assert_eq!(copy.check().unwrap(), counts);
        // Guild ids in numeric order, not string order.
        let at = |needle: &str| json.find(needle).unwrap();
        assert!(at("\"3\"") < at("\"10\"") && at("\"10\"") < at("\"200\""));
    }

    #[test]
    fn import_refuses_a_non_empty_store_unless_replacing() {
        let json = filled().export().unwrap().to_json();
        let dump = StoreDump::from_json(&json).unwrap();
        let target = Store::open_in_memory().unwrap();
        target
            .update_settings(GuildKey(999), |s| s.always_on = true)
            .unwrap();
        assert!(
            matches!(target.import(&dump, false), Err(ImportError::NotEmpty(c)) if c.guild_settings == 1)
        );
        target.import(&dump, true).unwrap();
        assert_eq!(
            target.export().unwrap().to_json(),
            json,
            "replace drops guild 999"
        );
    }

    #[test]
    fn a_bad_record_names_its_place_and_nothing_is_written() {
        let json = filled().export().unwrap().to_json();
        let broken = json.replacen("\"default_volume\": 100", "\"default_volume\": 900", 1);
        assert_ne!(broken, json);
        let err = StoreDump::from_json(&broken).unwrap_err().to_string();
        assert!(
            err.starts_with("guild_settings.3.default_volume: "),
            "{err}"
        );
        let not_ours = StoreDump::from_json("{\"format\": \"something\"}").unwrap_err();
        assert!(not_ours.to_string().contains("not an Alastor store export"));
        let bad_key = json.replacen("\"3\"", "\"three\"", 1);
        assert!(
            StoreDump::from_json(&bad_key)
                .unwrap_err()
                .to_string()
                .contains("three")
        );
    }

    #[test]
    fn migrate_all_leaves_current_records_alone() {
        let store = filled();
        let before = store.export().unwrap();
        assert_eq!(store.migrate_all().unwrap(), 0);
        assert_eq!(store.export().unwrap(), before);
    }
}
