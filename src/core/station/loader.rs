//! Loading a packs folder into a catalog: walks `stations/` recursively in sorted (deterministic) order,
//! parses every file with a known pack extension, and merges the packs, reporting duplicate ids with both
//! places. A bad file or entry is a diagnostic and never stops the other packs. When the folder does not
//! exist at all, the default pack shipped inside the binary is loaded instead (an existing but empty
//! folder means zero stations: the operator chose that).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::catalog::Catalog;
use super::model::{Diagnostic, Origin, PackFormat, Station, StationId};
use super::pack::{PackError, ParsedPack, try_parse_pack};

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
            .filter(|d| d.severity == super::model::Severity::Error)
    }
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
    let files = pack_files(dir)?;
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
    Ok(CatalogLoad {
        catalog,
        diagnostics,
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
/// `.git`) and files without a pack extension (READMEs) are skipped.
pub fn pack_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|source| LoadError::Folder {
            path: folder.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if is_hidden(&path) {
                continue;
            }
            // `metadata` follows symlinks, so linked packs and folders load like real ones.
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => stack.push(path),
                Ok(meta) if meta.is_file() && PackFormat::from_path(&path).is_some() => {
                    out.push(path);
                }
                _ => {}
            }
        }
    }
    out.sort();
    Ok(out)
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
        return Err(PackError(Diagnostic::error(
            Origin::file(path),
            "not a pack file (expected .toml, .yaml, .yml, .m3u, .m3u8 or .pls)",
        )));
    };
    let bytes = std::fs::read(path).map_err(|e| {
        PackError(Diagnostic::error(
            Origin::file(path),
            format!("cannot read pack: {e}"),
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = super::pack::line_of(
            &String::from_utf8_lossy(&e.as_bytes()[..e.utf8_error().valid_up_to()]),
            usize::MAX,
        );
        PackError(Diagnostic::error(
            Origin::new(path, Some(line)),
            "pack is not valid UTF-8",
        ))
    })?;
    try_parse_pack(&text, format, path)
}

/// One pack as the merge sees it: its parsed contents (possibly a last good version) and, when the file
/// currently fails as a whole, why.
#[derive(Debug, Clone, Copy)]
pub struct PackView<'a> {
    pub path: &'a Path,
    pub pack: Option<&'a ParsedPack>,
    pub failure: Option<&'a Diagnostic>,
}

/// Merges packs (in the given order) into one catalog. A duplicate id keeps the first station and reports
/// the later one with both places.
pub fn merge<'a>(packs: impl IntoIterator<Item = PackView<'a>>) -> (Catalog, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let mut stations: Vec<Arc<Station>> = Vec::new();
    let mut seen: HashMap<StationId, Origin> = HashMap::new();
    for view in packs {
        if let Some(failure) = view.failure {
            let mut failure = failure.clone();
            if view.pack.is_some() {
                failure
                    .message
                    .push_str("; keeping the last good version of this pack");
            }
            diagnostics.push(failure);
        }
        let Some(pack) = view.pack else { continue };
        diagnostics.extend(pack.diagnostics.iter().cloned());
        for station in &pack.stations {
            if let Some(first) = seen.get(&station.id) {
                diagnostics.push(Diagnostic::error(
                    station.origin.clone(),
                    format!(
                        "duplicate id `{}`: already defined at {first}; this one is skipped",
                        station.id
                    ),
                ));
                continue;
            }
            seen.insert(station.id.clone(), station.origin.clone());
            stations.push(Arc::clone(station));
        }
    }
    (Catalog::from_shared(stations), diagnostics)
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
