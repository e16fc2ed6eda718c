//! `StationIndex`: fuzzy, alias- and genre-aware station search behind autocomplete.
//!
//! PLACEHOLDER until the tantivy index lands: a naive folded-substring match with the final API.

use serde::Serialize;

use super::catalog::Catalog;
use super::model::{StationId, fold};

/// Discord allows at most 25 autocomplete choices.
pub const MAX_AUTOCOMPLETE: usize = 25;

/// One ranked result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub id: StationId,
    pub name: String,
    pub score: f32,
}

/// Why the index could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("building the station index failed: {0}")]
    Build(String),
}

/// A searchable snapshot of a catalog.
pub struct StationIndex {
    entries: Vec<(StationId, String, String)>,
}

impl StationIndex {
    pub fn build(catalog: &Catalog) -> Result<Self, SearchError> {
        let entries = catalog
            .iter()
            .map(|s| {
                let text = fold(&format!(
                    "{} {} {}",
                    s.name,
                    s.aliases.join(" "),
                    s.tags.join(" ")
                ));
                (s.id.clone(), s.name.clone(), text)
            })
            .collect();
        Ok(Self { entries })
    }

    pub fn autocomplete(&self, query: &str, limit: usize) -> Vec<SearchHit> {
        self.search(query, limit.min(MAX_AUTOCOMPLETE))
    }

    pub fn search(&self, query: &str, limit: usize) -> Vec<SearchHit> {
        let q = fold(query);
        self.entries
            .iter()
            .filter(|(_, _, text)| text.contains(q.trim()))
            .take(limit)
            .map(|(id, name, _)| SearchHit {
                id: id.clone(),
                name: name.clone(),
                score: 1.0,
            })
            .collect()
    }
}
