//! Loading a packs folder into a catalog. PLACEHOLDER: the real loader walks `stations/` recursively.

use std::path::{Path, PathBuf};

use super::catalog::Catalog;
use super::model::Diagnostic;

/// A loaded folder: the catalog plus every problem found on the way.
#[derive(Debug, Default)]
pub struct CatalogLoad {
    pub catalog: Catalog,
    pub diagnostics: Vec<Diagnostic>,
    /// Pack files read.
    pub packs: usize,
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

pub fn load_dir(dir: &Path) -> Result<CatalogLoad, LoadError> {
    std::fs::read_dir(dir).map_err(|source| LoadError::Folder {
        path: dir.to_owned(),
        source,
    })?;
    Ok(CatalogLoad::default())
}
