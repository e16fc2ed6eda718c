//! The catalog: an immutable snapshot of every loaded station, keyed by id. A reload builds a new catalog
//! and swaps it in whole; nobody mutates one in place.

use std::collections::HashMap;
use std::sync::Arc;

use super::model::{Station, StationId};

/// Every station, in id order (a stable order for listings and for the search index).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    stations: Vec<Arc<Station>>,
    by_id: HashMap<StationId, usize>,
}

impl Catalog {
    /// Builds a catalog. INVARIANT: ids are unique; the loader reports duplicates before calling this.
    /// Should a duplicate slip through, the first one (in the given order) wins.
    pub fn new(stations: impl IntoIterator<Item = Station>) -> Self {
        Self::from_shared(stations.into_iter().map(Arc::new).collect())
    }

    /// Like [`Catalog::new`] over stations already shared (with the packs they came from).
    pub fn from_shared(mut stations: Vec<Arc<Station>>) -> Self {
        stations.sort_by(|a, b| a.id.cmp(&b.id));
        stations.dedup_by(|later, first| later.id == first.id);
        let by_id = stations
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        Self { stations, by_id }
    }

    pub fn get(&self, id: &StationId) -> Option<&Arc<Station>> {
        self.by_id.get(id).and_then(|&i| self.stations.get(i))
    }

    /// Looks a station up by its id string (as sent back by autocomplete).
    pub fn get_str(&self, id: &str) -> Option<&Arc<Station>> {
        StationId::parse(id).ok().and_then(|id| self.get(&id))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Arc<Station>> {
        self.stations.iter()
    }

    pub fn len(&self) -> usize {
        self.stations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stations.is_empty()
    }
}
