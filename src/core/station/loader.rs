//! Loading a packs folder into a catalog: walks `stations/` recursively in sorted (deterministic) order,
//! following each real folder once, decodes every file with a known pack extension (UTF-8, else
//! Windows-1252 with one warning), parses it, and merges the packs. A bad file or entry is a diagnostic
//! and never stops the other packs. When the folder does not exist at all, the default pack shipped
//! inside the binary is loaded instead (an existing but empty folder means zero stations: the operator
//! chose that).
//!
//! Merging: the same station (same id, name and URL set) in two packs is one station; an explicit id
//! (`id =` in TOML/YAML) used twice is an error and the first wins; a derived id (from the name or an M3U
//! `tvg-id`) that is already taken gets a readable suffix -- the country, else the pack file's stem, then
//! a number -- so both stations stay playable. The first station in load order (sorted paths, then file
//! order) keeps the plain id, so the same packs always give the same ids.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::catalog::Catalog;
use super::model::{
    Diagnostic, DropReason, IdKind, MAX_ID_LEN, Origin, PackFormat, Severity, Station, StationId,
    slugify,
};
use super::pack::{PackError, ParsedPack, broken_file, try_parse_pack};

/// The default packs, embedded so a fresh install without a `stations/` folder still has stations.
/// Paths are relative to the `stations/` folder of the source tree.
pub const EMBEDDED_PACKS: &[(&str, &str)] = &[
    (
        "default/uk.toml",
        include_str!("../../../stations/default/uk.toml"),
    ),
    (
        "default/europe.toml",
        include_str!("../../../stations/default/europe.toml"),
    ),
    (
        "default/world.toml",
        include_str!("../../../stations/default/world.toml"),
    ),
    (
        "default/somafm.yaml",
        include_str!("../../../stations/default/somafm.yaml"),
    ),
    (
        "default/swiss.m3u",
        include_str!("../../../stations/default/swiss.m3u"),
    ),
];

/// Where a loaded catalog came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CatalogSource {
    /// The configured folder.
    #[default]
    Folder,
    /// The folder does not exist: the default pack embedded in the binary.
    Embedded,
}

/// A loaded folder: the catalog plus every problem found on the way.
#[derive(Debug, Default)]
pub struct CatalogLoad {
    pub catalog: Catalog,
    pub diagnostics: Vec<Diagnostic>,
    /// Pack files read.
    pub packs: usize,
    pub source: CatalogSource,
}

impl CatalogLoad {
    /// Diagnostics that skipped an entry or a file (warnings kept their station).
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    /// Dropped entries and files, counted by reason.
    pub fn drops(&self) -> DropCounts {
        DropCounts::of(&self.diagnostics)
    }
}

/// Dropped entries counted by [`DropReason`] (one per dropped entry), for `stations list` and `doctor`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounts {
    /// Entries dropped per reason label, in the order of [`DropReason`]'s variants.
    pub entries: BTreeMap<DropReasonKind, usize>,
    /// The schemes of the `not http(s)` drops, with counts.
    pub schemes: BTreeMap<String, usize>,
    /// Whole pack files that could not be used.
    pub broken_files: usize,
}

/// A [`DropReason`] without its data, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReasonKind {
    NotHttp,
    NoUrl,
    NotAUrl,
    NoName,
    GarbageLine,
    BadId,
}

impl DropReasonKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::NotHttp => "not http(s)",
            Self::NoUrl => "no URL",
            Self::NotAUrl => "not a URL",
            Self::NoName => "no name",
            Self::GarbageLine => "garbage line",
            Self::BadId => "bad or duplicate id",
        }
    }
}

impl DropCounts {
    pub fn of(diagnostics: &[Diagnostic]) -> Self {
        let mut counts = Self::default();
        for reason in diagnostics.iter().filter_map(|d| d.dropped.as_ref()) {
            let kind = match reason {
                DropReason::NotHttp(scheme) => {
                    *counts.schemes.entry(scheme.clone()).or_default() += 1;
                    DropReasonKind::NotHttp
                }
                DropReason::NoUrl => DropReasonKind::NoUrl,
                DropReason::NotAUrl => DropReasonKind::NotAUrl,
                DropReason::NoName => DropReasonKind::NoName,
                DropReason::GarbageLine => DropReasonKind::GarbageLine,
                DropReason::BadId => DropReasonKind::BadId,
                DropReason::BrokenFile => {
                    counts.broken_files += 1;
                    continue;
                }
            };
            *counts.entries.entry(kind).or_default() += 1;
        }
        counts
    }

    /// Dropped entries in all.
    pub fn total(&self) -> usize {
        self.entries.values().sum()
    }

    pub fn count(&self, kind: DropReasonKind) -> usize {
        self.entries.get(&kind).copied().unwrap_or_default()
    }
}

/// `dropped 1,203 entries: 900 not http(s) (rtmp, mms), 250 no URL, 53 not a URL; 1 broken pack file`
impl fmt::Display for DropCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        write!(
            f,
            "dropped {} {}",
            thousands(total),
            if total == 1 { "entry" } else { "entries" }
        )?;
        for (i, (kind, count)) in self.entries.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { ", " })?;
            write!(f, "{} {}", thousands(*count), kind.label())?;
            if *kind == DropReasonKind::NotHttp {
                let mut schemes: Vec<(&String, &usize)> = self.schemes.iter().collect();
                schemes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let names: Vec<&str> = schemes.iter().map(|(s, _)| s.as_str()).collect();
                write!(f, " ({})", names.join(", "))?;
            }
        }
        if self.broken_files > 0 {
            write!(
                f,
                "; {} broken pack {}",
                thousands(self.broken_files),
                if self.broken_files == 1 {
                    "file"
                } else {
                    "files"
                }
            )?;
        }
        Ok(())
    }
}

/// `62104` → `62,104`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The folder itself could not be read (single bad packs are diagnostics, not errors).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("station folder {path} cannot be read: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Loads every pack under `dir`; falls back to [`EMBEDDED_PACKS`] when `dir` does not exist.
pub fn load_dir(dir: &Path) -> Result<CatalogLoad, LoadError> {
    if !dir.exists() {
        tracing::warn!(
            dir = %dir.display(),
            "station folder does not exist; using the default stations built into alastor"
        );
        return Ok(load_embedded());
    }
    let (files, walk_diagnostics) = walk_pack_files(dir)?;
    let packs: Vec<(PathBuf, Result<ParsedPack, PackError>)> = files
        .into_iter()
        .map(|path| {
            let parsed = read_pack(&path);
            (path, parsed)
        })
        .collect();
    let (catalog, diagnostics) = merge(packs.iter().map(|(path, parsed)| match parsed {
        Ok(pack) => PackView {
            path,
            pack: Some(pack),
            failure: None,
        },
        Err(PackError(d)) => PackView {
            path,
            pack: None,
            failure: Some(d),
        },
    }));
    let mut all = walk_diagnostics;
    all.extend(diagnostics);
    Ok(CatalogLoad {
        catalog,
        diagnostics: all,
        packs: packs.len(),
        source: CatalogSource::Folder,
    })
}

/// The default stations compiled into the binary.
pub fn load_embedded() -> CatalogLoad {
    let packs: Vec<(PathBuf, Result<ParsedPack, PackError>)> = EMBEDDED_PACKS
        .iter()
        .map(|(name, text)| {
            let path = Path::new("<built-in>").join(name);
            let parsed = match PackFormat::from_path(&path) {
                Some(format) => try_parse_pack(text, format, &path),
                None => Err(PackError(Diagnostic::error(
                    Origin::file(&path),
                    "built-in pack has an unknown extension",
                ))),
            };
            (path, parsed)
        })
        .collect();
    let (catalog, diagnostics) = merge(packs.iter().map(|(path, parsed)| match parsed {
        Ok(pack) => PackView {
            path,
            pack: Some(pack),
            failure: None,
        },
        Err(PackError(d)) => PackView {
            path,
            pack: None,
            failure: Some(d),
        },
    }));
    CatalogLoad {
        catalog,
        diagnostics,
        packs: packs.len(),
        source: CatalogSource::Embedded,
    }
}

/// Every pack file under `dir`, recursively, sorted by path. Hidden files and folders (editor swap files,
/// `.git`) and files without a pack extension (READMEs) are skipped; see [`walk_pack_files`].
pub fn pack_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    walk_pack_files(dir).map(|(files, _)| files)
}

/// Like [`pack_files`], with a warning for every folder or file reached a second time through a link
/// (a symlink loop, or two links to one folder): each real folder and file is read once, under the
/// first path that reaches it in sorted order.
pub fn walk_pack_files(dir: &Path) -> Result<(Vec<PathBuf>, Vec<Diagnostic>), LoadError> {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    let mut seen_dirs: HashMap<PathBuf, PathBuf> = HashMap::new();
    let mut seen_files: HashMap<PathBuf, PathBuf> = HashMap::new();
    if let Ok(real) = std::fs::canonicalize(dir) {
        seen_dirs.insert(real, dir.to_owned());
    }
    // Depth-first in sorted order (the stack holds each folder's entries reversed).
    let mut stack = vec![dir.to_owned()];
    let mut first = true;
    while let Some(folder) = stack.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            // The top folder must be readable; a subfolder that is not is one diagnostic.
            Err(source) if first => {
                return Err(LoadError::Folder {
                    path: folder,
                    source,
                });
            }
            Err(e) => {
                diagnostics.push(Diagnostic::error(
                    Origin::file(&folder),
                    format!("cannot read folder: {e}"),
                ));
                continue;
            }
        };
        first = false;
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| !is_hidden(p))
            .collect();
        paths.sort();
        let mut subfolders = Vec::new();
        for path in paths {
            // `metadata` follows symlinks, so linked packs and folders load like real ones.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let is_pack = meta.is_file() && PackFormat::from_path(&path).is_some();
            if !meta.is_dir() && !is_pack {
                continue;
            }
            let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            let seen = if meta.is_dir() {
                &mut seen_dirs
            } else {
                &mut seen_files
            };
            if let Some(earlier) = seen.get(&real) {
                let what = if meta.is_dir() { "folder" } else { "pack" };
                diagnostics.push(Diagnostic::warning(
                    Origin::file(&path),
                    format!(
                        "same {what} as {} (a link); read once, there",
                        earlier.display()
                    ),
                ));
                continue;
            }
            seen.insert(real, path.clone());
            if meta.is_dir() {
                subfolders.push(path);
            } else {
                files.push(path);
            }
        }
        stack.extend(subfolders.into_iter().rev());
    }
    files.sort();
    Ok((files, diagnostics))
}

/// Whether a path names a pack file the loader would read (used by the watcher to filter events).
pub fn is_pack_path(path: &Path) -> bool {
    !is_hidden(path) && PackFormat::from_path(path).is_some()
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Reads and parses one pack file; an unreadable file is a whole-file failure.
pub fn read_pack(path: &Path) -> Result<ParsedPack, PackError> {
    let Some(format) = PackFormat::from_path(path) else {
        return Err(PackError(broken_file(Diagnostic::error(
            Origin::file(path),
            "not a pack file (expected .toml, .yaml, .yml, .m3u, .m3u8, .pls or .xspf)",
        ))));
    };
    let bytes = std::fs::read(path).map_err(|e| {
        PackError(broken_file(Diagnostic::error(
            Origin::file(path),
            format!("cannot read pack: {e}"),
        )))
    })?;
    let (text, warning) = decode(bytes, path);
    let mut pack = try_parse_pack(&text, format, path)?;
    if let Some(warning) = warning {
        pack.diagnostics.insert(0, warning);
        pack.diagnostics.sort_by_key(|d| d.origin.line.unwrap_or(0));
    }
    Ok(pack)
}

/// Pack bytes as text: UTF-8 when they are, else Windows-1252 (the superset of Latin-1 that old
/// playlists are written in; every byte decodes), with one warning naming the first line that is not
/// UTF-8.
pub fn decode(bytes: Vec<u8>, path: &Path) -> (String, Option<Diagnostic>) {
    match String::from_utf8(bytes) {
        Ok(text) => (text, None),
        Err(e) => {
            let bytes = e.into_bytes();
            let valid = std::str::from_utf8(&bytes)
                .err()
                .map_or(bytes.len(), |u| u.valid_up_to());
            let before = bytes.get(..valid).unwrap_or_default();
            let line = before.split(|&b| b == b'\n').count();
            let line = u32::try_from(line).unwrap_or(u32::MAX);
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
            let warning = Diagnostic::warning(
                Origin::new(path, Some(line)),
                "pack is not valid UTF-8 (first bad byte on this line); read as Windows-1252 (Latin-1)",
            );
            (text.into_owned(), Some(warning))
        }
    }
}

/// One pack as the merge sees it: its parsed contents (possibly a last good version) and, when the file
/// currently fails as a whole, why.
#[derive(Debug, Clone, Copy)]
pub struct PackView<'a> {
    pub path: &'a Path,
    pub pack: Option<&'a ParsedPack>,
    pub failure: Option<&'a Diagnostic>,
}

/// One station on its way into the catalog.
struct Candidate<'a> {
    station: &'a Arc<Station>,
    kind: IdKind,
    /// The pack file's stem as a slug, for disambiguating suffixes.
    stem: String,
    /// The id it gets (its own unless disambiguated).
    id: Option<StationId>,
}

/// Merges packs (in the given order) into one catalog: see the module docs for how ids stay unique.
pub fn merge<'a>(packs: impl IntoIterator<Item = PackView<'a>>) -> (Catalog, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut candidates: Vec<Candidate<'a>> = Vec::new();
    // (id, name, sorted URLs) of every station taken: the same station twice is one station.
    let mut same: HashSet<(&'a str, &'a str, Vec<&'a str>)> = HashSet::new();
    for view in packs {
        if let Some(failure) = view.failure {
            let mut failure = failure.clone();
            if view.pack.is_some() {
                failure
                    .message
                    .push_str("; keeping the last good version of this pack");
                // The last good version still gives its stations: nothing is dropped.
                failure.dropped = None;
            }
            diagnostics.push(failure);
        }
        let Some(pack) = view.pack else { continue };
        diagnostics.extend(pack.diagnostics.iter().cloned());
        let stem = view
            .path
            .file_stem()
            .map(|s| slugify(&s.to_string_lossy()))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "pack".to_owned());
        for entry in &pack.stations {
            let station = &entry.station;
            let mut urls: Vec<&str> = station.streams.iter().map(url::Url::as_str).collect();
            urls.sort_unstable();
            if !same.insert((station.id.as_str(), station.name.as_str(), urls)) {
                continue;
            }
            candidates.push(Candidate {
                station,
                kind: entry.id_kind,
                stem: stem.clone(),
                id: None,
            });
        }
    }

    let stations = assign_ids(&mut candidates, &mut diagnostics);
    (Catalog::from_shared(stations), diagnostics)
}

/// Gives every candidate its id (or none: an explicit duplicate), and returns the stations to
/// catalog, renamed where needed.
fn assign_ids(
    candidates: &mut [Candidate<'_>],
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Arc<Station>> {
    // Who holds each id: explicit ids first (they are never renamed), then the first derived station
    // of every id in load order.
    let mut holders: HashMap<StationId, usize> = HashMap::new();
    for (i, candidate) in candidates.iter_mut().enumerate() {
        if candidate.kind != IdKind::Explicit {
            continue;
        }
        let id = &candidate.station.id;
        if holders.contains_key(id) {
            continue;
        }
        holders.insert(id.clone(), i);
        candidate.id = Some(id.clone());
    }
    for (i, candidate) in candidates.iter_mut().enumerate() {
        if candidate.kind == IdKind::Derived && !holders.contains_key(&candidate.station.id) {
            holders.insert(candidate.station.id.clone(), i);
            candidate.id = Some(candidate.station.id.clone());
        }
    }
    // Everyone else: an explicit duplicate is skipped; a derived one gets a suffix.
    let mut next_number: HashMap<String, u32> = HashMap::new();
    for i in 0..candidates.len() {
        let Some(candidate) = candidates.get(i) else {
            continue;
        };
        if candidate.id.is_some() {
            continue;
        }
        let station = candidate.station;
        let holder = holders
            .get(&station.id)
            .and_then(|&h| candidates.get(h))
            .map(|h| h.station);
        let holder_text =
            holder.map_or_else(String::new, |h| format!("`{}` at {}", h.name, h.origin));
        if candidate.kind == IdKind::Explicit {
            diagnostics.push(Diagnostic::dropped(
                station.origin.clone(),
                DropReason::BadId,
                format!(
                    "duplicate id `{}`: already defined at {}; this one is skipped",
                    station.id,
                    holder.map_or_else(String::new, |h| h.origin.to_string())
                ),
            ));
            continue;
        }
        let id = disambiguate(candidate, &holders, &mut next_number);
        holders.insert(id.clone(), i);
        diagnostics.push(Diagnostic::warning(
            station.origin.clone(),
            format!(
                "id `{}` is already used by {holder_text}; this station is `{id}`",
                station.id
            ),
        ));
        if let Some(candidate) = candidates.get_mut(i) {
            candidate.id = Some(id);
        }
    }

    candidates
        .iter_mut()
        .filter_map(|c| match c.id.take() {
            Some(id) if id == c.station.id => Some(Arc::clone(c.station)),
            Some(id) => Some(Arc::new(Station {
                id,
                ..Station::clone(c.station)
            })),
            None => None,
        })
        .collect()
}

/// A free id for a derived station whose id is taken: `<id>-<country>`, else `<id>-<pack stem>`, else
/// `<id>-<pack stem>-<n>` (numbers counted per prefix, so 100,000 namesakes stay linear).
fn disambiguate(
    candidate: &Candidate<'_>,
    holders: &HashMap<StationId, usize>,
    next_number: &mut HashMap<String, u32>,
) -> StationId {
    let base = candidate.station.id.as_str();
    let free = |suffix: &str| with_suffix(base, suffix).filter(|id| !holders.contains_key(id));
    let country = candidate
        .station
        .country
        .as_deref()
        .map(slugify)
        .filter(|c| !c.is_empty());
    if let Some(id) = country.as_deref().and_then(free) {
        return id;
    }
    if let Some(id) = free(&candidate.stem) {
        return id;
    }
    let prefix = candidate.stem.clone();
    let counter = next_number
        .entry(format!("{base}\u{0}{prefix}"))
        .or_insert(2);
    loop {
        let n = *counter;
        *counter = counter.saturating_add(1);
        if let Some(id) = free(&format!("{prefix}-{n}")) {
            return id;
        }
        if n == u32::MAX {
            // Unreachable in practice (4 billion namesakes); the plain number is the last resort.
            return with_suffix("station", &n.to_string())
                .unwrap_or_else(|| candidate.station.id.clone());
        }
    }
}

/// `base-suffix`, shortening `base` (and a very long suffix) so the id fits [`MAX_ID_LEN`].
fn with_suffix(base: &str, suffix: &str) -> Option<StationId> {
    let suffix = slugify(suffix);
    let suffix: String = suffix.chars().take(MAX_ID_LEN / 2).collect();
    let suffix = suffix.trim_end_matches('-');
    if suffix.is_empty() {
        return None;
    }
    let room = MAX_ID_LEN.saturating_sub(suffix.len() + 1);
    let base: String = base.chars().take(room).collect();
    let base = base.trim_end_matches('-');
    StationId::parse(&format!("{base}-{suffix}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::station::model::Severity;

    #[test]
    fn embedded_default_pack_is_clean() {
        let load = load_embedded();
        let problems: Vec<String> = load
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        assert!(problems.is_empty(), "{problems:#?}");
        assert!(load.catalog.len() >= 40, "{}", load.catalog.len());
        assert_eq!(load.source, CatalogSource::Embedded);
    }

    #[test]
    fn missing_folder_falls_back_to_embedded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let load = load_dir(&dir.path().join("nope")).expect("fallback");
        assert_eq!(load.source, CatalogSource::Embedded);
        assert!(load.catalog.len() >= 40);
    }

    #[test]
    fn empty_folder_means_zero_stations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let load = load_dir(dir.path()).expect("loads");
        assert_eq!(load.source, CatalogSource::Folder);
        assert!(load.catalog.is_empty());
        assert_eq!(load.packs, 0);
    }
}
