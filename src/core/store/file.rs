//! How the store file is opened, created and read without being changed.
//!
//! * **Read-only** ([`open_read_only`]): `data check`, `data export` and `doctor` must never change the file
//!   (redb 2 writes its header on every open, and repairs in place after an unclean shutdown). The file is
//!   opened `O_RDONLY` under a shared `flock` (so the bot, which takes redb's exclusive lock, cannot start
//!   writing underneath, and a running bot makes the open fail as "in use"), and redb sees it through
//!   [`ReadOnlyFile`]: reads come from the file, writes land in a private in-memory overlay. Works on a
//!   read-only data dir; the file's bytes are identical before and after.
//! * **Create** ([`create_atomically`]): a new store is built in a temporary file beside the target, synced,
//!   linked into place (never replacing a file another process just created) and the folder synced, so a
//!   failed first create (full disk) leaves nothing behind.
//! * **Damage**: an empty file, a file without redb's magic number, or one redb cannot open (a truncated
//!   file makes redb 2.6 panic in `page_manager.rs`) is a [`Damage`] naming the file, never a panic and
//!   never silently a new store. [`quietly`] runs redb code with panics caught and their message captured
//!   (not printed).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once, PoisonError};

use redb::StorageBackend;

/// redb's file signature (the first bytes of every redb 2 file).
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// Why a store file cannot be used; the caller adds the path and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    #[error("the file is empty (0 bytes), not a store")]
    Empty,
    #[error("the file is not a redb store (its first bytes are not redb's signature)")]
    NotRedb,
    #[error("redb cannot open it: {0}")]
    Unopenable(String),
    #[error("its pages fail redb's checksums: {0}")]
    Pages(String),
}

/// Checks the cheap things before redb sees the file: not empty, redb's signature.
pub fn check_signature(file: &File) -> io::Result<Result<(), Damage>> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Err(Damage::Empty));
    }
    let mut magic = [0_u8; REDB_MAGIC.len()];
    if len < magic.len() as u64 {
        return Ok(Err(Damage::NotRedb));
    }
    file.read_exact_at(&mut magic, 0)?;
    Ok(if magic == REDB_MAGIC {
        Ok(())
    } else {
        Err(Damage::NotRedb)
    })
}

thread_local! {
    /// Set while [`quietly`] runs on this thread: a panic's message is kept here instead of printed.
    static CAPTURE: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Runs `body`, turning a panic inside it into `Err(message)`. The panic is not printed: the caller reports
/// it as a damaged store. Panics on other threads (and outside `quietly`) still reach the previous hook.
pub fn quietly<T>(body: impl FnOnce() -> T) -> Result<T, String> {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let captured = CAPTURE.with(|capture| {
                let mut capture = capture.borrow_mut();
                match capture.as_mut() {
                    Some(slot) => {
                        // The file name only: the registry path of redb's source is noise to an operator.
                        let location = info
                            .location()
                            .map(|l| {
                                let file = l.file().rsplit('/').next().unwrap_or_default();
                                format!(" ({file}:{})", l.line())
                            })
                            .unwrap_or_default();
                        *slot = format!("{}{location}", panic_text(info.payload()));
                        true
                    }
                    None => false,
                }
            });
            if !captured {
                previous(info);
            }
        }));
    });
    let outer = CAPTURE.with(|capture| capture.borrow_mut().replace(String::new()));
    let result = panic::catch_unwind(AssertUnwindSafe(body));
    let message = CAPTURE.with(|capture| std::mem::replace(&mut *capture.borrow_mut(), outer));
    result.map_err(|payload| {
        message
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| panic_text(payload.as_ref()))
    })
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "an internal assertion failed".to_owned())
}

/// The overlay's unit: writes copy whole chunks of the file into memory.
const CHUNK: u64 = 4096;

/// A store file as redb sees it when nothing may change it: reads from the file, writes (redb's header
/// update at open, an in-memory repair after an unclean shutdown) into private memory.
#[derive(Debug)]
pub struct ReadOnlyFile {
    file: File,
    overlay: Mutex<Overlay>,
}

#[derive(Debug)]
struct Overlay {
    /// The length redb believes the storage has.
    len: u64,
    /// File bytes below this offset are visible; above it (after a shrink) they read as zeros.
    file_visible: u64,
    /// Chunk index → its current bytes (`CHUNK` long).
    chunks: BTreeMap<u64, Vec<u8>>,
}

impl ReadOnlyFile {
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self {
            file,
            overlay: Mutex::new(Overlay {
                len,
                file_visible: len,
                chunks: BTreeMap::new(),
            }),
        })
    }

    /// Fills `out` with the file's bytes at `offset`, zeros past `visible`.
    fn read_file(&self, offset: u64, out: &mut [u8], visible: u64) -> io::Result<()> {
        let available = usize::try_from(visible.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(out.len());
        let (from_file, zeros) = out.split_at_mut(available);
        self.file.read_exact_at(from_file, offset)?;
        zeros.fill(0);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Overlay> {
        self.overlay.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ReadOnlyFile {
    fn drop(&mut self) {
        // Unlock explicitly, like redb's own backend: a child forked meanwhile by another thread holds a copy
        // of this descriptor until it execs, and with it the lock — the bot's open right after (`Store::open`
        // probes read-only first) would then see the store as in use.
        let _ = rustix::fs::flock(&self.file, rustix::fs::FlockOperation::Unlock);
    }
}

fn past_end() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "read past the end of the store file (truncated?)",
    )
}

impl StorageBackend for ReadOnlyFile {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.lock().len)
    }

    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, io::Error> {
        let overlay = self.lock();
        let end = offset.checked_add(len as u64).ok_or_else(past_end)?;
        if end > overlay.len {
            return Err(past_end());
        }
        let mut out = vec![0; len];
        let first = offset / CHUNK;
        let last = end.div_ceil(CHUNK);
        if overlay.chunks.range(first..last).next().is_none() {
            self.read_file(offset, &mut out, overlay.file_visible)?;
            return Ok(out);
        }
        let mut pos = offset;
        let mut written = 0_usize;
        while pos < end {
            let chunk = pos / CHUNK;
            let within = (pos - chunk * CHUNK) as usize;
            let take = (CHUNK - within as u64).min(end - pos) as usize;
            let target = out.get_mut(written..written + take).ok_or_else(past_end)?;
            match overlay.chunks.get(&chunk) {
                Some(bytes) => {
                    target.copy_from_slice(bytes.get(within..within + take).ok_or_else(past_end)?);
                }
                None => self.read_file(pos, target, overlay.file_visible)?,
            }
            pos += take as u64;
            written += take;
        }
        Ok(out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut overlay = self.lock();
        if len < overlay.len {
            let keep = len.div_ceil(CHUNK);
            overlay.chunks.split_off(&keep);
            let tail = (len % CHUNK) as usize;
            if tail != 0
                && let Some(bytes) = overlay.chunks.get_mut(&(len / CHUNK))
                && let Some(rest) = bytes.get_mut(tail..)
            {
                rest.fill(0);
            }
            overlay.file_visible = overlay.file_visible.min(len);
        }
        overlay.len = len;
        Ok(())
    }

    fn sync_data(&self, _eventual: bool) -> Result<(), io::Error> {
        // Nothing reaches the file, so there is nothing to sync.
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut overlay = self.lock();
        let end = offset.checked_add(data.len() as u64).ok_or_else(past_end)?;
        let mut pos = offset;
        let mut source = data;
        while pos < end {
            let chunk = pos / CHUNK;
            let within = (pos - chunk * CHUNK) as usize;
            let take = (CHUNK - within as u64).min(end - pos) as usize;
            if !overlay.chunks.contains_key(&chunk) {
                let mut bytes = vec![0; CHUNK as usize];
                self.read_file(chunk * CHUNK, &mut bytes, overlay.file_visible)?;
                overlay.chunks.insert(chunk, bytes);
            }
            let (now, later) = source.split_at(take);
            if let Some(target) = overlay
                .chunks
                .get_mut(&chunk)
                .and_then(|bytes| bytes.get_mut(within..within + take))
            {
                target.copy_from_slice(now);
            }
            source = later;
            pos += take as u64;
        }
        overlay.len = overlay.len.max(end);
        Ok(())
    }
}

/// What opening a file for reading found.
pub enum ReadOnlyOpen {
    Opened {
        db: redb::Database,
        /// redb had to recover the file in memory (the last writer did not close it cleanly).
        recovered: bool,
    },
    /// Another process holds the lock (the bot).
    Locked,
    Damaged(Damage),
}

/// Opens `path` (which must exist) without changing it: `O_RDONLY`, shared lock, writes to memory.
pub fn open_read_only(path: &Path) -> io::Result<ReadOnlyOpen> {
    let file = File::open(path)?;
    if let Err(damage) = check_signature(&file)? {
        return Ok(ReadOnlyOpen::Damaged(damage));
    }
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => return Ok(ReadOnlyOpen::Locked),
        Err(e) => return Err(e.into()),
    }
    let backend = ReadOnlyFile::new(file)?;
    let recovered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = recovered.clone();
    let opened = quietly(move || {
        redb::Database::builder()
            .set_repair_callback(move |_| flag.store(true, std::sync::atomic::Ordering::Relaxed))
            .create_with_backend(backend)
    });
    Ok(match opened {
        Ok(Ok(db)) => ReadOnlyOpen::Opened {
            db,
            recovered: recovered.load(std::sync::atomic::Ordering::Relaxed),
        },
        Ok(Err(e)) => ReadOnlyOpen::Damaged(Damage::Unopenable(e.to_string())),
        Err(panic) => ReadOnlyOpen::Damaged(Damage::Unopenable(format!(
            "redb's own consistency check failed ({panic}); the file is probably truncated or overwritten"
        ))),
    })
}

/// Builds a new store at `path` with `init` run on it, atomically: the file appears complete or not at all.
/// Returns `Ok(false)` when another process created `path` first (its store is kept, ours discarded).
pub fn create_atomically(
    path: &Path,
    init: impl FnOnce(&redb::Database) -> Result<(), redb::Error>,
) -> Result<bool, CreateError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    tmp_name.push(format!(".new-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let built = build(&tmp, init);
    let linked = built.and_then(|()| match fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(CreateError::Io(e)),
    });
    // The temporary name goes in every case: after the link the store lives under `path`.
    let _ = fs::remove_file(&tmp);
    let created = linked?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(CreateError::Io)?;
    Ok(created)
}

fn build(
    tmp: &Path,
    init: impl FnOnce(&redb::Database) -> Result<(), redb::Error>,
) -> Result<(), CreateError> {
    let _ = fs::remove_file(tmp);
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(CreateError::Io)?;
    let db = redb::Database::builder()
        .create_file(file.try_clone().map_err(CreateError::Io)?)
        .map_err(|e| CreateError::Redb(e.into()))?;
    init(&db).map_err(CreateError::Redb)?;
    drop(db);
    file.sync_all().map_err(CreateError::Io)
}

/// Why creating a store failed (nothing was left behind).
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{0}")]
    Io(io::Error),
    #[error("{0}")]
    Redb(redb::Error),
}

/// The pid that wrote `<store>.pid`, if it is readable.
pub fn holder_pid(pid_file: &Path) -> Option<u32> {
    fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// `<dir>/<name>.pid`.
pub fn pid_file(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".pid");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quietly_turns_a_panic_into_its_message() {
        let err = quietly(|| -> u8 { panic!("boom {}", 7) }).unwrap_err();
        assert!(err.starts_with("boom 7"), "{err}");
        assert_eq!(quietly(|| 5).unwrap(), 5);
        // Nested: the inner capture does not swallow the outer one's slot.
        let outer = quietly(|| {
            let inner = quietly(|| -> u8 { panic!("inner") });
            assert!(inner.unwrap_err().starts_with("inner"));
            panic!("outer")
        });
        assert!(outer.unwrap_err().starts_with("outer"));
    }

    #[test]
    fn the_overlay_reads_the_file_and_keeps_writes_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let original: Vec<u8> = (0..10_000_u32).map(|i| (i % 251) as u8).collect();
        fs::write(&path, &original).unwrap();
        let backend = ReadOnlyFile::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(backend.read(4090, 20).unwrap(), original[4090..4110]);
        backend.write(4095, &[1, 2, 3]).unwrap();
        let mut expected = original.clone();
        expected[4095..4098].copy_from_slice(&[1, 2, 3]);
        assert_eq!(backend.read(4000, 200).unwrap(), expected[4000..4200]);
        assert!(backend.read(9_990, 20).is_err(), "past the end");
        backend.set_len(5000).unwrap();
        backend.set_len(12_000).unwrap();
        let grown = backend.read(4990, 100).unwrap();
        assert_eq!(grown[..10], expected[4990..5000]);
        assert!(
            grown[10..].iter().all(|&b| b == 0),
            "regrown bytes are zeros"
        );
        backend.write(11_000, &[9; 1000]).unwrap();
        assert_eq!(backend.read(11_500, 10).unwrap(), vec![9; 10]);
        assert_eq!(fs::read(&path).unwrap(), original, "the file never changes");
    }
}
