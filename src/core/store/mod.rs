//! The guild store: one redb file (`<data dir>/alastor.redb`) holding every guild's settings, favourites,
//! resume entry and play counts.
//!
//! One write transaction per logical change, committed durably before the call returns, so an acknowledged
//! change survives a crash. Records are `[version][crc32][postcard]` (see [`records`]): every read verifies
//! the checksum, which covers the key, so damage is reported with its table and key instead of read.
//!
//! Two ways in: [`Store::open`] (the bot, `data import`) creates the file when absent — atomically, see
//! [`file`] — and migrates old records; [`Store::open_read_only`] (`data check`, `data export`, `doctor`)
//! never creates or changes a byte and works on a read-only data dir. A damaged file (empty, truncated, not
//! redb) is a [`StoreError::Damaged`] naming it and what to do, never a panic and never a new empty store.
//!
//! The API is synchronous: reads take microseconds and are fine on an async task; writes wait for an fsync,
//! so async callers should run them in `spawn_blocking`.

// Write closures speak redb's own (large) error so `?` works on every redb call inside them; `write` boxes it
// into `StoreError` right after, so no large error escapes this module.
#![allow(clippy::result_large_err)]

pub mod dump;
pub mod export;
pub mod file;
pub mod migrate;
pub mod records;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition, TableHandle};

use crate::core::guild::{FavouriteError, Favourites, GuildSettings, ResumeEntry};
use crate::core::ids::GuildKey;
use crate::core::station::StationId;
pub use file::Damage;
use records::{Place, decode_count, encode_count, guild_key, play_key};
pub use records::{Record, RecordError};

/// The store file inside the data dir.
pub const FILE_NAME: &str = "alastor.redb";
/// The layout of tables this build writes. A file with a higher number was written by a newer release.
/// 1: bare records, `plays` counters as `u64`. 2: checksummed records, counters in `play_counts`.
pub const SCHEMA_VERSION: u64 = 2;

/// What `do this` says for a damaged store.
pub const RESTORE_HINT: &str = "move the file aside and restore your last export with `alastor data import <backup.json>` (or start empty by moving it aside)";

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const SETTINGS: TableDefinition<u64, &[u8]> = TableDefinition::new("guild_settings");
const FAVOURITES: TableDefinition<u64, &[u8]> = TableDefinition::new("favourites");
const RESUME: TableDefinition<u64, &[u8]> = TableDefinition::new("resume");
/// Schema 1: (guild, station id) → times played, unchecked. Migrated into [`PLAY_COUNTS`].
const PLAYS_V1: TableDefinition<(u64, &str), u64> = TableDefinition::new("plays");
/// (guild, station id) → times played, sealed (see [`records::encode_count`]).
const PLAY_COUNTS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("play_counts");

const SCHEMA_KEY: &str = "schema_version";

/// What went wrong, said so an operator can act on it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // Fields named `reason`, not `source`: the message already says it, and an error chain printed with
    // `{:#}` would say it twice.
    #[error("cannot create the data folder {}: {reason}", path.display())]
    CreateDir { path: PathBuf, reason: io::Error },
    #[error(
        "cannot create the store {}: {reason} (nothing was left behind: free space or fix permissions, then retry)",
        path.display()
    )]
    Create { path: PathBuf, reason: String },
    #[error(
        "there is no store at {} (nothing to read; the bot creates it on first start, and `alastor data import` restores a backup into it)",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error("cannot read the store {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: io::Error },
    #[error("the store {} is damaged: {damage}. Nothing was changed; {RESTORE_HINT}", path.display())]
    Damaged { path: PathBuf, damage: Damage },
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
    #[error("store {}: {table} record for key {key}: {reason} — {RESTORE_HINT}", path.display())]
    Record {
        path: PathBuf,
        table: String,
        key: String,
        reason: RecordError,
    },
    // Not a `source`: the message already says it, and error chains would print it twice.
    #[error("store {}: {reason}", path.display())]
    Database {
        path: PathBuf,
        // Boxed: redb's error is large and would bloat every `Result` in the store.
        reason: Box<redb::Error>,
    },
    #[error("the store {} cannot be written: it was opened read-only", path.display())]
    ReadOnly { path: PathBuf },
    #[error(transparent)]
    Favourite(#[from] FavouriteError),
}

/// The one writer of the store file (or a read-only view of it). Cheap to clone.
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
    /// The file's layout: [`SCHEMA_VERSION`] once opened read-write (migrated at open); a read-only view of an
    /// older file reads the old layout as it is.
    schema: u64,
    read_only: bool,
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
            .field("read_only", &self.inner.read_only)
            .finish_non_exhaustive()
    }
}

/// Creates every table and stamps the schema: a brand-new store.
fn init_tables(db: &Database) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    txn.open_table(META)?.insert(SCHEMA_KEY, SCHEMA_VERSION)?;
    // Create every table so readers never meet a missing one.
    txn.open_table(SETTINGS)?;
    txn.open_table(FAVOURITES)?;
    txn.open_table(RESUME)?;
    txn.open_table(PLAY_COUNTS)?;
    txn.commit()?;
    Ok(())
}

impl Store {
    /// Opens `<data_dir>/alastor.redb` for reading and writing (the bot, `data import`). Creates it, and the
    /// folder, when absent — atomically, so a failed first create leaves no file. Migrates a store written by
    /// an older release. An empty, truncated or foreign file is [`StoreError::Damaged`], never replaced.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(data_dir).map_err(|reason| StoreError::CreateDir {
            path: data_dir.to_owned(),
            reason,
        })?;
        let path = data_dir.join(FILE_NAME);
        let pid_file = file::pid_file(&path);
        if !path.exists() {
            file::create_atomically(&path, init_tables).map_err(|e| StoreError::Create {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        }
        // Probe without changing anything first: redb opened read-write "repairs" what it can, and a damaged
        // file must be reported as it is, not half-fixed.
        match file::open_read_only(&path).map_err(|reason| StoreError::Unreadable {
            path: path.clone(),
            reason,
        })? {
            file::ReadOnlyOpen::Opened { db, .. } => drop(db),
            file::ReadOnlyOpen::Locked => {
                let pid = file::holder_pid(&pid_file);
                return Err(StoreError::InUse { path, pid });
            }
            file::ReadOnlyOpen::Damaged(damage) => {
                return Err(StoreError::Damaged { path, damage });
            }
        }
        let db = match file::quietly(|| Database::builder().open(&path)) {
            Ok(Ok(db)) => db,
            Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => {
                let pid = file::holder_pid(&pid_file);
                return Err(StoreError::InUse { path, pid });
            }
            Ok(Err(e)) => {
                return Err(StoreError::Damaged {
                    path,
                    damage: Damage::Unopenable(e.to_string()),
                });
            }
            Err(panic) => {
                return Err(StoreError::Damaged {
                    path,
                    damage: Damage::Unopenable(format!(
                        "redb's own consistency check failed ({panic}); the file is probably truncated or overwritten"
                    )),
                });
            }
        };
        // The lock is redb's (an flock on the file); the pid file only names the holder in the error above.
        let _ = fs::write(&pid_file, std::process::id().to_string());
        Self::init(db, path, Some(pid_file))
    }

    /// Opens `<data_dir>/alastor.redb` for reading only (`data check`, `data export`, `doctor`): never creates
    /// the file or the folder and never changes a byte of it (redb's own writes at open stay in memory, see
    /// [`file::ReadOnlyFile`]). A missing file is [`StoreError::Missing`]; a running bot makes it
    /// [`StoreError::InUse`].
    pub fn open_read_only(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(FILE_NAME);
        let opened = match file::open_read_only(&path) {
            Ok(opened) => opened,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::Missing { path });
            }
            Err(reason) => return Err(StoreError::Unreadable { path, reason }),
        };
        let db = match opened {
            file::ReadOnlyOpen::Opened { db, .. } => db,
            file::ReadOnlyOpen::Locked => {
                let pid = file::holder_pid(&file::pid_file(&path));
                return Err(StoreError::InUse { path, pid });
            }
            file::ReadOnlyOpen::Damaged(damage) => {
                return Err(StoreError::Damaged { path, damage });
            }
        };
        let mut store = Self {
            inner: Arc::new(Inner {
                db,
                path,
                pid_file: None,
                schema: SCHEMA_VERSION,
                read_only: true,
            }),
        };
        let found = store.known_schema()?;
        if let Some(inner) = Arc::get_mut(&mut store.inner) {
            inner.schema = found;
        }
        Ok(store)
    }

    /// The schema this file was written with, refused when there is none (not an Alastor store) or when
    /// a newer release wrote it (read before anything is written, so nothing of it is overwritten).
    fn known_schema(&self) -> Result<u64, StoreError> {
        let Some(found) = self.schema_version()? else {
            return Err(StoreError::Damaged {
                path: self.inner.path.clone(),
                damage: Damage::Unopenable(
                    "it has no `meta` table: not an Alastor store".to_owned(),
                ),
            });
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::FromTheFuture {
                path: self.inner.path.clone(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        Ok(found)
    }

    /// A store that lives in memory only: for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let path = PathBuf::from(":memory:");
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| StoreError::Database {
                path: path.clone(),
                reason: Box::new(e.into()),
            })?;
        init_tables(&db).map_err(|e| StoreError::Database {
            path: path.clone(),
            reason: Box::new(e),
        })?;
        Self::init(db, path, None)
    }

    fn init(db: Database, path: PathBuf, pid_file: Option<PathBuf>) -> Result<Self, StoreError> {
        let mut store = Self {
            inner: Arc::new(Inner {
                db,
                path,
                pid_file,
                schema: SCHEMA_VERSION,
                read_only: false,
            }),
        };
        // Read the schema first: a store from a newer release is refused before anything is written.
        let found = store.known_schema()?;
        if found < SCHEMA_VERSION {
            if let Some(inner) = Arc::get_mut(&mut store.inner) {
                inner.schema = found;
            }
            store.upgrade_schema()?;
            if let Some(inner) = Arc::get_mut(&mut store.inner) {
                inner.schema = SCHEMA_VERSION;
            }
        }
        store.migrate_all()?;
        Ok(store)
    }

    /// Where the store lives (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether this is a read-only view ([`Store::open_read_only`]).
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// The schema version recorded in the file, `None` for a file without Alastor's `meta` table.
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

    /// Records without a checksum are legitimate only in a file that predates them (read-only view).
    fn unsealed_ok(&self) -> bool {
        self.inner.schema < SCHEMA_VERSION
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
        let key = guild_key(guild.0);
        let bytes = entry.encode(Place {
            table: RESUME.name(),
            key: &key,
        });
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
        let mut entries = Vec::new();
        self.read_records(&txn, RESUME, |guild, entry| entries.push((guild, entry)))?;
        Ok(entries)
    }

    /// Counts one play of `station` in `guild`.
    pub fn record_play(&self, guild: GuildKey, station: &StationId) -> Result<(), StoreError> {
        self.check_writable()?;
        let txn = self.inner.db.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut table = txn.open_table(PLAY_COUNTS).map_err(|e| self.db_err(e))?;
            let key_bytes = play_key(guild.0, station.as_str());
            let place = Place {
                table: PLAY_COUNTS.name(),
                key: &key_bytes,
            };
            let key = (guild.0, station.as_str());
            let count = match table.get(key).map_err(|e| self.db_err(e))? {
                Some(v) => decode_count(place, v.value())
                    .map_err(|reason| self.play_err(guild, station.as_str(), reason))?,
                None => 0,
            };
            table
                .insert(key, encode_count(place, count.saturating_add(1)).as_slice())
                .map_err(|e| self.db_err(e))?;
        }
        txn.commit().map_err(|e| self.db_err(e))
    }

    /// The guild's `n` most played stations, most played first (ties by id, for a stable order).
    pub fn most_played(
        &self,
        guild: GuildKey,
        n: usize,
    ) -> Result<Vec<(StationId, u64)>, StoreError> {
        let txn = self.inner.db.begin_read().map_err(|e| self.db_err(e))?;
        let mut counts = Vec::new();
        self.read_plays(&txn, Some(guild.0), |_, station, count| {
            // A station id that no longer parses (renamed pack) is skipped, not an error: stats are advisory.
            if let Ok(id) = StationId::parse(station) {
                counts.push((id, count));
            }
        })?;
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts.truncate(n);
        Ok(counts)
    }

    /// Every play counter (of one guild, or all), verified, in key order.
    fn read_plays(
        &self,
        txn: &redb::ReadTransaction,
        only: Option<u64>,
        mut each: impl FnMut(u64, &str, u64),
    ) -> Result<(), StoreError> {
        let start = (only.unwrap_or(0), "");
        if self.inner.schema < 2 {
            let table = match txn.open_table(PLAYS_V1) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
                Err(e) => return Err(self.db_err(e)),
            };
            for row in table.range(start..).map_err(|e| self.db_err(e))? {
                let (key, value) = row.map_err(|e| self.db_err(e))?;
                let (guild, station) = key.value();
                if only.is_some_and(|g| g != guild) {
                    break;
                }
                each(guild, station, value.value());
            }
            return Ok(());
        }
        let table = txn.open_table(PLAY_COUNTS).map_err(|e| self.db_err(e))?;
        for row in table.range(start..).map_err(|e| self.db_err(e))? {
            let (key, value) = row.map_err(|e| self.db_err(e))?;
            let (guild, station) = key.value();
            if only.is_some_and(|g| g != guild) {
                break;
            }
            let key_bytes = play_key(guild, station);
            let count = decode_count(
                Place {
                    table: PLAY_COUNTS.name(),
                    key: &key_bytes,
                },
                value.value(),
            )
            .map_err(|reason| self.play_err(GuildKey(guild), station, reason))?;
            each(guild, station, count);
        }
        Ok(())
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
        let key = guild_key(guild.0);
        T::decode(
            Place {
                table: table.name(),
                key: &key,
            },
            value.value(),
            self.unsealed_ok(),
        )
        .map(Some)
        .map_err(|reason| self.record_err(table.name(), guild, reason))
    }

    /// Read-modify-write of one record in one write transaction (redb serializes writers, so no update is
    /// lost between the read and the write).
    fn update<T: Record + Default, R>(
        &self,
        table: TableDefinition<u64, &[u8]>,
        guild: GuildKey,
        change: impl FnOnce(&mut T) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.check_writable()?;
        let key = guild_key(guild.0);
        let place = Place {
            table: table.name(),
            key: &key,
        };
        let txn = self.inner.db.begin_write().map_err(|e| self.db_err(e))?;
        let result = {
            let mut t = txn.open_table(table).map_err(|e| self.db_err(e))?;
            let mut record = match t.get(guild.0).map_err(|e| self.db_err(e))? {
                Some(v) => T::decode(place, v.value(), false)
                    .map_err(|reason| self.record_err(table.name(), guild, reason))?,
                None => T::default(),
            };
            // On error the transaction is dropped uncommitted: nothing is written.
            let result = change(&mut record)?;
            t.insert(guild.0, record.encode(place).as_slice())
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
        self.check_writable()?;
        let txn = self.inner.db.begin_write().map_err(|e| self.db_err(e))?;
        body(&txn).map_err(|e| self.db_err(e))?;
        txn.commit().map_err(|e| self.db_err(e))
    }

    /// A read-only view refuses writes itself: they would only reach its in-memory overlay and be lost.
    fn check_writable(&self) -> Result<(), StoreError> {
        if self.inner.read_only {
            return Err(StoreError::ReadOnly {
                path: self.inner.path.clone(),
            });
        }
        Ok(())
    }

    fn db_err(&self, e: impl Into<redb::Error>) -> StoreError {
        StoreError::Database {
            path: self.inner.path.clone(),
            reason: Box::new(e.into()),
        }
    }

    fn record_err(&self, table: &str, guild: GuildKey, reason: RecordError) -> StoreError {
        StoreError::Record {
            path: self.inner.path.clone(),
            table: table.to_owned(),
            key: guild.to_string(),
            reason,
        }
    }

    fn play_err(&self, guild: GuildKey, station: &str, reason: RecordError) -> StoreError {
        StoreError::Record {
            path: self.inner.path.clone(),
            table: PLAY_COUNTS.name().to_owned(),
            key: format!("({guild}, {station:?})"),
            reason,
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
