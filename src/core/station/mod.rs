//! Stations: the model, the pack parsers (TOML, YAML, M3U, PLS, XSPF), the catalog built from a packs folder,
//! hot reload, and the tantivy search index behind autocomplete.
//!
//! Pack files come from anyone: no parser here may slice text or index by a position it has not proven
//! in range (one bad byte offset once panicked `stations check`), hence the denied lints.
#![deny(clippy::string_slice, clippy::indexing_slicing)]

pub mod catalog;
pub mod fold;
pub mod loader;
pub mod m3u;
pub mod model;
pub mod pack;
pub mod pls;
pub mod reload;
pub mod search;
pub mod toml_pack;
pub mod xspf;
pub mod yaml_pack;

pub use catalog::Catalog;
pub use model::{
    Codec, Diagnostic, DropReason, Origin, PackFormat, Severity, Station, StationDraft, StationId,
};
pub use search::{SearchHit, StationIndex};
