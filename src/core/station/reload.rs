//! Hot reload: the [`StationLibrary`] owns the live station snapshot (catalog + search index +
//! diagnostics) behind an `ArcSwap`, watches the packs folder with `notify`, debounces bursts of changes,
//! re-parses only the pack files that changed, rebuilds the index on a blocking thread and swaps the new
//! snapshot in atomically. Readers never wait: [`StationLibrary::snapshot`] is a lock-free load.
//!
//! A pack whose file breaks as a whole (unreadable, TOML/YAML syntax error) keeps its last good version
//! and the failure is logged and listed in the snapshot's diagnostics; entry-level errors only skip those
//! entries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use super::catalog::Catalog;
use super::loader::{self, CatalogSource, LoadError, PackView};
use super::model::Diagnostic;
use super::pack::{PackError, ParsedPack};
use super::search::{SearchError, StationIndex};

/// One consistent view of the stations: what autocomplete, `/play` and the CLI read.
pub struct Snapshot {
    pub catalog: Arc<Catalog>,
    pub index: Arc<StationIndex>,
    pub diagnostics: Vec<Diagnostic>,
    /// Starts at 1 and grows by one per swap.
    pub generation: u64,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("stations", &self.catalog.len())
            .field("diagnostics", &self.diagnostics.len())
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Why the library could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Index(#[from] SearchError),
    #[error("cannot watch station folder {path} for changes: {source}")]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
}

/// Identity of a file's contents as far as cheap metadata tells: a change in either re-parses the file.
type Fingerprint = (Option<SystemTime>, u64);

struct PackState {
    fingerprint: Fingerprint,
    /// The last version that parsed as a whole (may be older than the file on disk).
    good: Option<ParsedPack>,
    /// Why the current file fails as a whole, if it does.
    failure: Option<Diagnostic>,
}

/// Per-pack state between reloads, keyed (and so ordered) by path.
#[derive(Default)]
struct Packs {
    by_path: BTreeMap<PathBuf, PackState>,
    /// What the last folder walk found (folders or packs reached twice through links).
    walk: Vec<Diagnostic>,
}

/// The live station library. Cheap to share (`Arc`); see the module docs.
pub struct StationLibrary {
    dir: PathBuf,
    source: CatalogSource,
    current: ArcSwap<Snapshot>,
    generation_tx: watch::Sender<u64>,
    /// Held only while re-parsing and merging, never by readers.
    packs: Mutex<Packs>,
}

impl StationLibrary {
    /// Loads `dir` (or the embedded default pack when `dir` does not exist) and builds the first snapshot.
    pub fn open(dir: &Path) -> Result<Arc<Self>, ReloadError> {
        let source = if dir.exists() {
            CatalogSource::Folder
        } else {
            CatalogSource::Embedded
        };
        let mut packs = Packs::default();
        let (catalog, diagnostics) = if source == CatalogSource::Embedded {
            let load = loader::load_dir(dir)?;
            (load.catalog, load.diagnostics)
        } else {
            refresh(dir, &mut packs, &BTreeSet::new())?;
            merge(&packs)
        };
        let index = StationIndex::build(&catalog)?;
        log_diagnostics(&diagnostics);
        let snapshot = Snapshot {
            catalog: Arc::new(catalog),
            index: Arc::new(index),
            diagnostics,
            generation: 1,
        };
        let (generation_tx, _) = watch::channel(1);
        Ok(Arc::new(Self {
            dir: dir.to_owned(),
            source,
            current: ArcSwap::from_pointee(snapshot),
            generation_tx,
            packs: Mutex::new(packs),
        }))
    }

    /// The current snapshot (lock-free).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Notified with the generation number after every swap.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation_tx.subscribe()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn source(&self) -> &CatalogSource {
        &self.source
    }

    /// Re-reads the folder now: packs whose file changed (by metadata) or that are in `hint` are re-parsed,
    /// vanished ones dropped, and a new snapshot swapped in. Blocking (file I/O and index build): call it
    /// from a blocking thread in async code. Returns the new generation.
    pub fn reload(&self, hint: &BTreeSet<PathBuf>) -> Result<u64, ReloadError> {
        self.reload_inner(hint, true)
            .map(|g| g.unwrap_or_else(|| self.snapshot().generation))
    }

    /// Like [`reload`](Self::reload), but only swaps in a new snapshot when some pack file was added,
    /// removed or re-parsed (the watcher also sees events for READMEs, folders and no-op saves).
    /// Returns the new generation, or `None` when nothing changed.
    pub fn reload_if_changed(&self, hint: &BTreeSet<PathBuf>) -> Result<Option<u64>, ReloadError> {
        self.reload_inner(hint, false)
    }

    fn reload_inner(
        &self,
        hint: &BTreeSet<PathBuf>,
        always: bool,
    ) -> Result<Option<u64>, ReloadError> {
        if self.source == CatalogSource::Embedded {
            return Ok(None);
        }
        let (catalog, diagnostics) = {
            let mut packs = self.packs.lock().unwrap_or_else(PoisonError::into_inner);
            let changed = refresh(&self.dir, &mut packs, hint)?;
            if !changed && !always {
                return Ok(None);
            }
            merge(&packs)
        };
        let index = StationIndex::build(&catalog)?;
        let generation = self.current.load().generation + 1;
        tracing::info!(
            stations = catalog.len(),
            problems = diagnostics.len(),
            generation,
            "station packs reloaded"
        );
        self.current.store(Arc::new(Snapshot {
            catalog: Arc::new(catalog),
            index: Arc::new(index),
            diagnostics,
            generation,
        }));
        self.generation_tx.send_replace(generation);
        Ok(Some(generation))
    }

    /// Watches the folder and reloads after `debounce` of quiet following a change. The returned handle
    /// stops watching when dropped. Must be called inside a tokio runtime. Without a folder (embedded
    /// default pack) there is nothing to watch and `None` is returned.
    pub fn watch(self: &Arc<Self>, debounce: Duration) -> Result<Option<WatchHandle>, ReloadError> {
        if self.source == CatalogSource::Embedded {
            tracing::info!("using the built-in stations; not watching for pack changes");
            return Ok(None);
        }
        let (tx, rx) = mpsc::unbounded_channel::<Vec<PathBuf>>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                match event {
                    // Access events (a file opened or read) change nothing.
                    Ok(event) if !matches!(event.kind, notify::EventKind::Access(_)) => {
                        let _ = tx.send(event.paths);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "station folder watch error; rescanning");
                        // No paths: the reload compares every pack's metadata, so nothing is missed.
                        let _ = tx.send(Vec::new());
                    }
                }
            })
            .map_err(|source| ReloadError::Watch {
                path: self.dir.clone(),
                source,
            })?;
        watcher
            .watch(&self.dir, RecursiveMode::Recursive)
            .map_err(|source| ReloadError::Watch {
                path: self.dir.clone(),
                source,
            })?;
        let task = tokio::spawn(debounce_loop(Arc::downgrade(self), rx, debounce));
        tracing::info!(dir = %self.dir.display(), ?debounce, "watching station packs for changes");
        Ok(Some(WatchHandle {
            _watcher: watcher,
            task,
        }))
    }
}

/// Keeps the folder watch alive; dropping it stops watching.
pub struct WatchHandle {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn debounce_loop(
    library: std::sync::Weak<StationLibrary>,
    mut rx: mpsc::UnboundedReceiver<Vec<PathBuf>>,
    debounce: Duration,
) {
    while let Some(first) = rx.recv().await {
        let mut changed: BTreeSet<PathBuf> = first.into_iter().collect();
        // Wait for `debounce` of quiet: an editor's save is often several events (truncate, write, rename).
        loop {
            match tokio::time::timeout(debounce, rx.recv()).await {
                Ok(Some(paths)) => changed.extend(paths),
                Ok(None) => return,
                Err(_) => break,
            }
        }
        let Some(library) = library.upgrade() else {
            return;
        };
        let result = tokio::task::spawn_blocking(move || library.reload_if_changed(&changed)).await;
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "station reload failed; keeping the current stations");
            }
            Err(e) => {
                tracing::error!(error = %e, "station reload panicked; keeping the current stations");
            }
        }
    }
}

/// Brings `packs` in line with the folder: new and changed files are parsed, vanished ones removed.
/// Returns whether anything changed.
fn refresh(dir: &Path, packs: &mut Packs, hint: &BTreeSet<PathBuf>) -> Result<bool, LoadError> {
    let (files, walk) = loader::walk_pack_files(dir)?;
    packs.walk = walk;
    let present: BTreeSet<&PathBuf> = files.iter().collect();
    let before = packs.by_path.len();
    packs.by_path.retain(|path, _| present.contains(path));
    let mut changed = packs.by_path.len() != before;
    for path in &files {
        let fingerprint = fingerprint(path);
        let hinted = hint.contains(path);
        if let Some(state) = packs.by_path.get(path)
            && state.fingerprint == fingerprint
            && !hinted
        {
            continue;
        }
        changed = true;
        let parsed = loader::read_pack(path);
        let state = packs.by_path.entry(path.clone()).or_insert(PackState {
            fingerprint,
            good: None,
            failure: None,
        });
        state.fingerprint = fingerprint;
        match parsed {
            Ok(pack) => {
                state.good = Some(pack);
                state.failure = None;
            }
            Err(PackError(diagnostic)) => {
                if state.good.is_some() {
                    tracing::warn!(%diagnostic, "pack is broken; keeping its last good version");
                } else {
                    tracing::warn!(%diagnostic, "pack is broken and has no good version yet");
                }
                state.failure = Some(diagnostic);
            }
        }
    }
    Ok(changed)
}

fn merge(packs: &Packs) -> (Catalog, Vec<Diagnostic>) {
    let (catalog, diagnostics) =
        loader::merge(packs.by_path.iter().map(|(path, state)| PackView {
            path,
            pack: state.good.as_ref(),
            failure: state.failure.as_ref(),
        }));
    // The same order as `loader::load_dir`: the walk's findings first.
    (
        catalog,
        packs.walk.iter().cloned().chain(diagnostics).collect(),
    )
}

fn fingerprint(path: &Path) -> Fingerprint {
    std::fs::metadata(path).map_or((None, 0), |m| (m.modified().ok(), m.len()))
}

fn log_diagnostics(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        tracing::warn!(diagnostic = %d, "station pack problem");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, name: &str) {
        let text = format!("[[station]]\nname = \"{name}\"\nurl = \"http://x.example/{name}\"\n");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn refresh_reparses_only_what_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(&dir.path().join("a.toml"), "a");
        write(&dir.path().join("b.toml"), "b");
        let mut packs = Packs::default();
        assert!(refresh(dir.path(), &mut packs, &BTreeSet::new()).expect("scan"));
        assert!(
            !refresh(dir.path(), &mut packs, &BTreeSet::new()).expect("scan"),
            "nothing changed"
        );

        std::fs::write(dir.path().join("README.md"), "not a pack").expect("write");
        assert!(
            !refresh(dir.path(), &mut packs, &BTreeSet::new()).expect("scan"),
            "README ignored"
        );

        // A hinted path is re-read even when its metadata looks the same (coarse mtimes).
        let hint: BTreeSet<PathBuf> = [dir.path().join("a.toml")].into();
        assert!(refresh(dir.path(), &mut packs, &hint).expect("scan"));

        std::fs::remove_file(dir.path().join("b.toml")).expect("rm");
        assert!(refresh(dir.path(), &mut packs, &BTreeSet::new()).expect("scan"));
        assert_eq!(packs.by_path.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_events_is_one_reload_after_the_quiet_period() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(&dir.path().join("a.toml"), "a");
        let library = StationLibrary::open(dir.path()).expect("open");
        let mut rx = library.subscribe();
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(debounce_loop(
            Arc::downgrade(&library),
            events,
            Duration::from_millis(300),
        ));

        // An editor save: several events 100 ms apart, all inside the debounce window.
        for name in ["b", "c", "d"] {
            let path = dir.path().join(format!("{name}.toml"));
            write(&path, name);
            tx.send(vec![path]).expect("send");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            library.snapshot().generation,
            1,
            "no reload while changes keep coming"
        );

        tokio::time::timeout(Duration::from_secs(2), rx.changed())
            .await
            .expect("reloaded")
            .expect("alive");
        let snapshot = library.snapshot();
        assert_eq!(snapshot.generation, 2, "one reload for the whole burst");
        assert_eq!(snapshot.catalog.len(), 4);

        // An event that changes nothing (a README) does not make a new generation.
        let readme = dir.path().join("README.md");
        std::fs::write(&readme, "docs").expect("write");
        tx.send(vec![readme]).expect("send");
        tokio::time::sleep(Duration::from_secs(1)).await;
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        assert_eq!(library.snapshot().generation, 2);
        task.abort();
    }
}
