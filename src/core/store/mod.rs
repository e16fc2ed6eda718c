//! The guild store: one redb file (`<data dir>/alastor.redb`) holding every guild's settings, favourites,
//! resume entry and play counts.
//!
//! One write transaction per logical change, committed durably before the call returns, so an acknowledged
//! change survives a crash. Records are `[version][postcard]` (see [`records`]). The API is synchronous:
//! reads take microseconds and are fine on an async task; writes wait for an fsync, so async callers should
//! run them in `spawn_blocking`.

// Write closures speak redb's own (large) error so `?` works on every redb call inside them; `write` boxes it
// into `StoreError` right after, so no large error escapes this module.
#![allow(clippy::result_large_err)]

pub mod export;
pub mod migrate;
pub mod records;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};

use crate::core::guild::{FavouriteError, Favourites, GuildSettings, ResumeEntry};
use crate::core::ids::GuildKey;
use crate::core::station::StationId;
pub use records::{Record, RecordError};

/// The store file inside the data dir.
pub const FILE_NAME: &str = "alastor.redb";
/// The layout of tables this build writes. A file with a higher number was written by a newer release.
pub const SCHEMA_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const SETTINGS: TableDefinition<u64, &[u8]> = TableDefinition::new("guild_settings");
const FAVOURITES: TableDefinition<u64, &[u8]> = TableDefinition::new("favourites");
const RESUME: TableDefinition<u64, &[u8]> = TableDefinition::new("resume");
/// (guild, station id) → times played.
const PLAYS: TableDefinition<(u64, &str), u64> = TableDefinition::new("plays");

const SCHEMA_KEY: &str = "schema_version";

/// What went wrong, said so an operator can act on it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data folder {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error(
        "the store {} is already in use{} — stop the other Alastor, or point this one at another folder with --data",
        path.display(),
        pid.map(|p| format!(" by pid {p}")).unwrap_or_default()
    )]
    InUse { path: PathBuf, pid: Option<u32> },
    #[error(
        "the store {} was written by a newer Alastor (schema {found}, this build knows ≤ {known}); refusing to open it so nothing is overwritten — upgrade Alastor or restore a backup",
        path.display()
    )]
    FromTheFuture {
        path: PathBuf,
        found: u64,
        known: u64,
    },
    #[error("store {}: {table} record for key {key}: {source}", path.display())]
    Record {
        path: PathBuf,
        table: String,
        key: String,
        source: RecordError,
    },
    #[error("store {}: {source}", path.display())]
    Database {
        path: PathBuf,
        // Boxed: redb's error is large and would bloat every `Result` in the store.
        source: Box<redb::Error>,
    },
    #[error(transparent)]
    Favourite(#[from] FavouriteError),
}

/// The one writer of the store file. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    /// Shown in errors; `:memory:` for the in-memory backend.
    path: PathBuf,
    /// Removed on drop so a stale pid never blames an unrelated process.
    pid_file: Option<PathBuf>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(pid_file) = &self.pid_file {
            let _ = fs::remove_file(pid_file);
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating when absent) `<data_dir>/alastor.redb`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(FILE_NAME);
        let pid_file = data_dir.join(format!("{FILE_NAME}.pid"));
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                let pid = fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                return Err(StoreError::InUse { path, pid });
            }
            Err(e) => {
                return Err(StoreError::Database {
                    path,
                    source: Box::new(e.into()),
                });
            }
        };
        // The lock is redb's (an flock on the file); the pid file only names the holder in the error above.
        let _ = fs::write(&pid_file, std::process::id().to_string());
        Self::init(db, path, Some(pid_file))
    }

    /// A store that lives in memory only: for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let path = PathBuf::from(":memory:");
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| StoreError::Database {
                path: path.clone(),
                source: Box::new(e.into()),
            })?;
        Self::init(db, path, None)
    }

    fn init(db: Database, path: PathBuf, pid_file: Option<PathBuf>) -> Result<Self, StoreError> {
        let store = Self {
            inner: Arc::new(Inner { db, path, pid_file }),
        };
        // Read the schema first: a store from a newer release is refused before anything is written.
        if let Some(found) = store.schema_version()?
            && found > SCHEMA_VERSION
        {
            return Err(StoreError::FromTheFuture {
                path: store.inner.path.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        store.write(|txn| {
            txn.open_table(META)?.insert(SCHEMA_KEY, SCHEMA_VERSION)?;
            // Create every table so readers never meet a missing one.
            txn.open_table(SETTINGS)?;
            txn.open_table(FAVOURITES)?;
            txn.open_table(RESUME)?;
            txn.open_table(PLAYS)?;
            Ok(())
        })?;
        store.migrate_all()?;
        Ok(store)
    }

    /// Where the store lives (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version recorded in the file, `None` for a brand-new file.
    pub fn schema_version(&self) -> Result<Option<u64>, StoreError> {
        let txn = self.inner.db.begin_read().map_err(|e| self.db_err(e))?;
        match txn.open_table(META) {
            Ok(table) => Ok(table
                .get(SCHEMA_KEY)
                .map_err(|e| self.db_err(e))?
                .map(|v| v.value())),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.db_err(e)),
        }
    }

    /// The guild's settings, or the defaults when it never ran `/setup`.
    pub fn settings(&self, guild: GuildKey) -> Result<GuildSettings, StoreError> {
        Ok(self.get(SETTINGS, guild)?.unwrap_or_default())
    }

    /// Changes the guild's settings in one durable transaction; returns what `change` returned.
    pub fn update_settings<R>(
        &self,
        guild: GuildKey,
        change: impl FnOnce(&mut GuildSettings) -> R,
    ) -> Result<R, StoreError> {
        self.update(SETTINGS, guild, |settings: &mut GuildSettings| {
            Ok(change(settings))
        })
    }

    /// Forgets the guild's settings (back to defaults). Favourites, stats and resume state stay.
    pub fn reset_settings(&self, guild: GuildKey) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(SETTINGS)?.remove(guild.0)?;
            Ok(())
        })
    }

    pub fn favourites(&self, guild: GuildKey) -> Result<Favourites, StoreError> {
        Ok(self.get(FAVOURITES, guild)?.unwrap_or_default())
    }

    /// Changes the favourites in one durable transaction. When `change` fails nothing is written and its
    /// error comes back as [`StoreError::Favourite`].
    pub fn update_favourites<R>(
        &self,
        guild: GuildKey,
        change: impl FnOnce(&mut Favourites) -> Result<R, FavouriteError>,
    ) -> Result<R, StoreError> {
        self.update(FAVOURITES, guild, |favourites: &mut Favourites| {
            change(favourites).map_err(StoreError::from)
        })
    }

    pub fn put_resume(&self, guild: GuildKey, entry: &ResumeEntry) -> Result<(), StoreError> {
        let bytes = entry.encode();
        self.write(|txn| {
            txn.open_table(RESUME)?.insert(guild.0, bytes.as_slice())?;
            Ok(())
        })
    }

    pub fn remove_resume(&self, guild: GuildKey) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(RESUME)?.remove(guild.0)?;
            Ok(())
        })
    }

    /// Every guild that was playing. Only guilds that are playing have an entry, so this is cheap.
    pub fn resume_entries(&self) -> Result<Vec<(GuildKey, ResumeEntry)>, StoreError> {
        let txn = self.inner.db.begin_read().map_err(|e| self.db_err(e))?;
        let table = txn.open_table(RESUME).map_err(|e| self.db_err(e))?;
        let mut entries = Vec::with_capacity(table.len().unwrap_or(0) as usize);
        for row in table.iter().map_err(|e| self.db_err(e))? {
            let (key, value) = row.map_err(|e| self.db_err(e))?;
            let guild = GuildKey(key.value());
            let entry = ResumeEntry::decode(value.value())
                .map_err(|source| self.record_err(RESUME.name(), guild, source))?;
            entries.push((guild, entry));
        }
        Ok(entries)
    }

    /// Counts one play of `station` in `guild`.
    pub fn record_play(&self, guild: GuildKey, station: &StationId) -> Result<(), StoreError> {
        self.write(|txn| {
            let mut table = txn.open_table(PLAYS)?;
            let key = (guild.0, station.as_str());
            let count = table.get(key)?.map_or(0, |v| v.value());
            table.insert(key, count.saturating_add(1))?;
            Ok(())
        })
    }

    /// The guild's `n` most played stations, most played first (ties by id, for a stable order).
    pub fn most_played(
        &self,
        guild: GuildKey,
        n: usize,
    ) -> Result<Vec<(StationId, u64)>, StoreError> {
        let txn = self.inner.db.begin_read().map_err(|e| self.db_err(e))?;
        let table = txn.open_table(PLAYS).map_err(|e| self.db_err(e))?;
        let mut counts = Vec::new();
        let range = table.range((guild.0, "")..).map_err(|e| self.db_err(e))?;
        for row in range {
            let (key, value) = row.map_err(|e| self.db_err(e))?;
            let (g, station) = key.value();
            if g != guild.0 {
                break;
            }
            // A station id that no longer parses (renamed pack) is skipped, not an error: stats are advisory.
            if let Ok(id) = StationId::parse(station) {
                counts.push((id, value.value()));
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts.truncate(n);
        Ok(counts)
    }

    fn get<T: Record>(
        &self,
        table: TableDefinition<u64, &[u8]>,
        guild: GuildKey,
    ) -> Result<Option<T>, StoreError> {
        let txn = self.inner.db.begin_read().map_err(|e| self.db_err(e))?;
        let t = txn.open_table(table).map_err(|e| self.db_err(e))?;
        let Some(value) = t.get(guild.0).map_err(|e| self.db_err(e))? else {
            return Ok(None);
        };
        T::decode(value.value())
            .map(Some)
            .map_err(|source| self.record_err(table.name(), guild, source))
    }

    /// Read-modify-write of one record in one write transaction (redb serializes writers, so no update is
    /// lost between the read and the write).
    fn update<T: Record + Default, R>(
        &self,
        table: TableDefinition<u64, &[u8]>,
        guild: GuildKey,
        change: impl FnOnce(&mut T) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let txn = self.inner.db.begin_write().map_err(|e| self.db_err(e))?;
        let result = {
            let mut t = txn.open_table(table).map_err(|e| self.db_err(e))?;
            let mut record = match t.get(guild.0).map_err(|e| self.db_err(e))? {
                Some(v) => T::decode(v.value())
                    .map_err(|source| self.record_err(table.name(), guild, source))?,
                None => T::default(),
            };
            // On error the transaction is dropped uncommitted: nothing is written.
            let result = change(&mut record)?;
            t.insert(guild.0, record.encode().as_slice())
                .map_err(|e| self.db_err(e))?;
            result
        };
        txn.commit().map_err(|e| self.db_err(e))?;
        Ok(result)
    }

    fn write(
        &self,
        body: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), StoreError> {
        let txn = self.inner.db.begin_write().map_err(|e| self.db_err(e))?;
        body(&txn).map_err(|e| self.db_err(e))?;
        txn.commit().map_err(|e| self.db_err(e))
    }

    fn db_err(&self, e: impl Into<redb::Error>) -> StoreError {
        StoreError::Database {
            path: self.inner.path.clone(),
            source: Box::new(e.into()),
        }
    }

    fn record_err(&self, table: &str, guild: GuildKey, source: RecordError) -> StoreError {
        StoreError::Record {
            path: self.inner.path.clone(),
            table: table.to_owned(),
            key: guild.to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::core::guild::Volume;
    use crate::core::ids::{ChannelKey, RoleKey};

    fn id(s: &str) -> StationId {
        StationId::parse(s).unwrap()
    }

    fn entry(station: &str) -> ResumeEntry {
        ResumeEntry {
            voice_channel: ChannelKey(5),
            station: id(station),
            volume: Volume::UNITY,
            text_channel: None,
            started_by: None,
            since: SystemTime::UNIX_EPOCH,
            title: None,
        }
    }

    #[test]
    fn settings_default_then_persist() {
        let store = Store::open_in_memory().unwrap();
        let g = GuildKey(1);
        assert_eq!(store.settings(g).unwrap(), GuildSettings::default());
        let roles = store
            .update_settings(g, |s| {
                s.set_dj_roles([RoleKey(9)]);
                s.always_on = true;
                s.dj_roles.len()
            })
            .unwrap();
        assert_eq!(roles, 1);
        let s = store.settings(g).unwrap();
        assert!(s.always_on);
        assert_eq!(s.dj_roles, vec![RoleKey(9)]);
        assert_eq!(
            store.settings(GuildKey(2)).unwrap(),
            GuildSettings::default()
        );
        store.reset_settings(g).unwrap();
        assert_eq!(store.settings(g).unwrap(), GuildSettings::default());
    }

    #[test]
    fn a_failed_favourite_change_writes_nothing() {
        let store = Store::open_in_memory().unwrap();
        let g = GuildKey(1);
        store.update_favourites(g, |f| f.add(id("fip"))).unwrap();
        let err = store
            .update_favourites(g, |f| {
                f.add(id("jazz"))?;
                f.add(id("fip"))
            })
            .unwrap_err();
        assert!(matches!(
            err,
            StoreError::Favourite(FavouriteError::AlreadyPresent(_))
        ));
        assert_eq!(store.favourites(g).unwrap().as_slice(), &[id("fip")]);
    }

    #[test]
    fn resume_entries_list_only_playing_guilds() {
        let store = Store::open_in_memory().unwrap();
        store.put_resume(GuildKey(1), &entry("fip")).unwrap();
        store.put_resume(GuildKey(2), &entry("jazz")).unwrap();
        store.put_resume(GuildKey(2), &entry("rock")).unwrap();
        store.remove_resume(GuildKey(1)).unwrap();
        let entries = store.resume_entries().unwrap();
        assert_eq!(entries, vec![(GuildKey(2), entry("rock"))]);
    }

    #[test]
    fn most_played_is_per_guild_and_ordered() {
        let store = Store::open_in_memory().unwrap();
        for (g, s, n) in [
            (1, "fip", 3),
            (1, "jazz", 5),
            (1, "alpha", 3),
            (2, "fip", 9),
        ] {
            for _ in 0..n {
                store.record_play(GuildKey(g), &id(s)).unwrap();
            }
        }
        assert_eq!(
            store.most_played(GuildKey(1), 2).unwrap(),
            vec![(id("jazz"), 5), (id("alpha"), 3)]
        );
        assert_eq!(
            store.most_played(GuildKey(2), 10).unwrap(),
            vec![(id("fip"), 9)]
        );
        assert!(store.most_played(GuildKey(3), 10).unwrap().is_empty());
    }

    #[test]
    fn survives_reopen_and_refuses_a_second_opener() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .update_settings(GuildKey(1), |s| s.always_on = true)
                .unwrap();
            let err = Store::open(dir.path()).unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains(&format!("already in use by pid {}", std::process::id())),
                "{message}"
            );
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(store.settings(GuildKey(1)).unwrap().always_on);
    }

    #[test]
    fn a_store_from_a_newer_release_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .write(|txn| {
                    txn.open_table(META)?
                        .insert(SCHEMA_KEY, SCHEMA_VERSION + 1)?;
                    Ok(())
                })
                .unwrap();
        }
        let before = fs::read(dir.path().join(FILE_NAME)).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::FromTheFuture { found, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
        assert!(err.to_string().contains("newer Alastor"));
        assert_eq!(fs::read(dir.path().join(FILE_NAME)).unwrap(), before);
    }

    #[test]
    fn a_corrupt_record_names_table_and_key() {
        let store = Store::open_in_memory().unwrap();
        store
            .write(|txn| {
                txn.open_table(SETTINGS)?
                    .insert(42, [1u8, 0xff, 0xff].as_slice())?;
                Ok(())
            })
            .unwrap();
        let message = store.settings(GuildKey(42)).unwrap_err().to_string();
        assert!(
            message.contains("guild_settings record for key 42"),
            "{message}"
        );
    }
}
