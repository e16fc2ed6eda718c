//! The store as versioned, human-readable JSON (`alastor data export|import|check`), the one-pass
//! verification of every record, and the migrations run when the bot opens an older store.
//!
//! Export reads every table in one read transaction and writes keys in a fixed order, so exporting the same
//! store twice (or exporting what was imported) gives byte-identical JSON. Import validates every record
//! before it writes anything (see [`super::dump`]) and writes all of them in one transaction: a bad file
//! changes nothing.

use std::collections::BTreeMap;

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};

pub use super::dump::{
    Counts, DUMP_FORMAT, DUMP_VERSION, GuildId, ImportError, MAX_IDLE_TIMEOUT, MAX_IMPORT_BYTES,
    StoreDump,
};
use super::file::{Damage, quietly};
use super::records::{Place, encode_count, guild_key, play_key};
use super::{
    FAVOURITES, META, PLAY_COUNTS, PLAYS_V1, RESUME, Record, SCHEMA_KEY, SCHEMA_VERSION, SETTINGS,
    Store, StoreError,
};
use crate::core::guild::{Favourites, GuildSettings, ResumeEntry};
use crate::core::ids::GuildKey;

impl Store {
    /// Every table as one consistent snapshot; every record's checksum verified on the way.
    pub fn export(&self) -> Result<StoreDump, StoreError> {
        self.guarded(|| self.export_unguarded())
    }

    fn export_unguarded(&self) -> Result<StoreDump, StoreError> {
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
        self.read_plays(&txn, None, |guild, station, count| {
            dump.plays
                .entry(GuildId(guild))
                .or_default()
                .insert(station.to_owned(), count);
        })?;
        Ok(dump)
    }

    /// Runs redb code with its panics (a damaged file can trip redb's assertions) reported as damage.
    fn guarded<T>(&self, body: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        quietly(body).unwrap_or_else(|panic| {
            Err(StoreError::Damaged {
                path: self.inner.path.clone(),
                damage: Damage::Unopenable(format!(
                    "redb's own consistency check failed reading it ({panic})"
                )),
            })
        })
    }

    /// Decodes every record (migrating old ones in memory), verifying each checksum, and counts them; the
    /// first bad record is an error naming its table and key.
    pub fn check(&self) -> Result<Counts, StoreError> {
        let dump = self.export()?;
        Ok(dump.counts())
    }

    /// redb's own page checksums over the whole file ([`redb::Database::check_integrity`]). On a read-only
    /// view any repair redb attempts stays in memory; a file that needed one is reported as damaged.
    /// Needs the only handle to the store (the CLI's).
    pub fn verify_pages(&mut self) -> Result<(), StoreError> {
        let path = self.inner.path.clone();
        let Some(inner) = std::sync::Arc::get_mut(&mut self.inner) else {
            return Ok(());
        };
        let damage = match quietly(|| inner.db.check_integrity()) {
            Ok(Ok(true)) => return Ok(()),
            Ok(Ok(false)) => Damage::Pages(
                "redb could only recover an older state of it (the latest commit's pages are damaged)"
                    .to_owned(),
            ),
            Ok(Err(e)) => Damage::Pages(e.to_string()),
            Err(panic) => Damage::Pages(format!("redb's own consistency check failed ({panic})")),
        };
        Err(StoreError::Damaged { path, damage })
    }

    /// Restores `dump` in one transaction. Refuses a store that holds anything unless `replace`, which
    /// clears every table first.
    pub fn import(&self, dump: &StoreDump, replace: bool) -> Result<Counts, ImportError> {
        self.check_writable()?;
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
            txn.delete_table(PLAY_COUNTS)?;
            put_all(txn, SETTINGS, &dump.guild_settings)?;
            put_all(txn, FAVOURITES, &dump.favourites)?;
            put_all(txn, RESUME, &dump.resume)?;
            let mut plays = txn.open_table(PLAY_COUNTS)?;
            for (guild, counts) in &dump.plays {
                for (station, count) in counts {
                    let key = play_key(guild.0, station);
                    let place = Place {
                        table: PLAY_COUNTS.name(),
                        key: &key,
                    };
                    plays.insert(
                        (guild.0, station.as_str()),
                        encode_count(place, *count).as_slice(),
                    )?;
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
        let plays = if self.inner.schema < 2 {
            match txn.open_table(PLAYS_V1) {
                Ok(t) => t.len().map_err(|e| self.db_err(e))?,
                Err(redb::TableError::TableDoesNotExist(_)) => 0,
                Err(e) => return Err(self.db_err(e)),
            }
        } else {
            let t = txn.open_table(PLAY_COUNTS).map_err(|e| self.db_err(e))?;
            t.len().map_err(|e| self.db_err(e))?
        };
        Ok(Counts {
            guild_settings: len(SETTINGS)?,
            favourites: len(FAVOURITES)?,
            resume: len(RESUME)?,
            plays: usize::try_from(plays).unwrap_or(usize::MAX),
        })
    }

    /// Schema 1 → 2, in one transaction: every record sealed with its checksum, the bare `plays` counters
    /// moved into sealed `play_counts`, the schema stamped. A record that does not decode stops it (nothing
    /// is written) with its table and key.
    pub(super) fn upgrade_schema(&self) -> Result<(), StoreError> {
        let txn = self.inner.db.begin_write().map_err(|e| self.db_err(e))?;
        let mut migrated = 0;
        migrated += self.reseal_in::<GuildSettings>(&txn, SETTINGS, true)?;
        migrated += self.reseal_in::<Favourites>(&txn, FAVOURITES, true)?;
        migrated += self.reseal_in::<ResumeEntry>(&txn, RESUME, true)?;
        {
            let old: Vec<(u64, String, u64)> = match txn.open_table(PLAYS_V1) {
                Ok(table) => {
                    let mut old = Vec::new();
                    for row in table.iter().map_err(|e| self.db_err(e))? {
                        let (key, value) = row.map_err(|e| self.db_err(e))?;
                        let (guild, station) = key.value();
                        old.push((guild, station.to_owned(), value.value()));
                    }
                    old
                }
                Err(redb::TableError::TableDoesNotExist(_)) => Vec::new(),
                Err(e) => return Err(self.db_err(e)),
            };
            let mut counts = txn.open_table(PLAY_COUNTS).map_err(|e| self.db_err(e))?;
            for (guild, station, count) in &old {
                let key = play_key(*guild, station);
                let place = Place {
                    table: PLAY_COUNTS.name(),
                    key: &key,
                };
                counts
                    .insert(
                        (*guild, station.as_str()),
                        encode_count(place, *count).as_slice(),
                    )
                    .map_err(|e| self.db_err(e))?;
            }
            migrated += old.len();
        }
        let _ = txn.delete_table(PLAYS_V1).map_err(|e| self.db_err(e))?;
        txn.open_table(META)
            .map_err(|e| self.db_err(e))?
            .insert(SCHEMA_KEY, SCHEMA_VERSION)
            .map_err(|e| self.db_err(e))?;
        txn.commit().map_err(|e| self.db_err(e))?;
        tracing::info!(migrated, path = %self.inner.path.display(), "store upgraded to checksummed records (schema 2)");
        Ok(())
    }

    /// Rewrites every record older than this build's version, in one transaction; returns how many.
    /// Called at open, so migrations run once per record.
    pub fn migrate_all(&self) -> Result<usize, StoreError> {
        if self.inner.read_only {
            return Ok(0);
        }
        let txn = self.inner.db.begin_write().map_err(|e| self.db_err(e))?;
        let mut migrated = 0;
        migrated += self.reseal_in::<GuildSettings>(&txn, SETTINGS, false)?;
        migrated += self.reseal_in::<Favourites>(&txn, FAVOURITES, false)?;
        migrated += self.reseal_in::<ResumeEntry>(&txn, RESUME, false)?;
        if migrated == 0 {
            // Nothing to write: abort instead of committing, so an open of a current store costs no fsync.
            txn.abort().map_err(|e| self.db_err(e))?;
            return Ok(0);
        }
        txn.commit().map_err(|e| self.db_err(e))?;
        tracing::info!(migrated, path = %self.inner.path.display(), "store records migrated");
        Ok(migrated)
    }

    /// Re-encodes, inside `txn`, every record of `def` older than `T::VERSION`.
    fn reseal_in<T: Record>(
        &self,
        txn: &redb::WriteTransaction,
        def: TableDefinition<u64, &[u8]>,
        unsealed_ok: bool,
    ) -> Result<usize, StoreError> {
        let mut table = txn.open_table(def).map_err(|e| self.db_err(e))?;
        let mut old = Vec::new();
        for row in table.iter().map_err(|e| self.db_err(e))? {
            let (key, value) = row.map_err(|e| self.db_err(e))?;
            let bytes = value.value();
            if bytes.first().is_some_and(|&v| v < T::VERSION) {
                let guild = key.value();
                let key_bytes = guild_key(guild);
                let place = Place {
                    table: def.name(),
                    key: &key_bytes,
                };
                let record = T::decode(place, bytes, unsealed_ok)
                    .map_err(|reason| self.record_err(def.name(), GuildKey(guild), reason))?;
                old.push((guild, record.encode(place)));
            }
        }
        for (key, bytes) in &old {
            table
                .insert(*key, bytes.as_slice())
                .map_err(|e| self.db_err(e))?;
        }
        Ok(old.len())
    }

    pub(super) fn read_records<T: Record>(
        &self,
        txn: &redb::ReadTransaction,
        def: TableDefinition<u64, &[u8]>,
        mut each: impl FnMut(GuildKey, T),
    ) -> Result<(), StoreError> {
        let table = txn.open_table(def).map_err(|e| self.db_err(e))?;
        for row in table.iter().map_err(|e| self.db_err(e))? {
            let (key, value) = row.map_err(|e| self.db_err(e))?;
            let guild = GuildKey(key.value());
            let key_bytes = guild_key(guild.0);
            let record = T::decode(
                Place {
                    table: def.name(),
                    key: &key_bytes,
                },
                value.value(),
                self.unsealed_ok(),
            )
            .map_err(|reason| self.record_err(def.name(), guild, reason))?;
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
        let key = guild_key(guild.0);
        let bytes = record.encode(Place {
            table: def.name(),
            key: &key,
        });
        table.insert(guild.0, bytes.as_slice())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::core::guild::Volume;
    use crate::core::ids::{ChannelKey, RoleKey, UserKey};
    use crate::core::station::StationId;

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
