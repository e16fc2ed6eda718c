//! Stations: the model, the pack parsers (TOML, YAML, M3U, PLS), the catalog built from a packs folder,
//! hot reload, and the tantivy search index behind autocomplete.

pub mod catalog;
pub mod loader;
pub mod model;
pub mod search;

pub use catalog::Catalog;
pub use model::{
    Codec, Diagnostic, Origin, PackFormat, Severity, Station, StationDraft, StationId,
};
pub use search::{SearchHit, StationIndex};
