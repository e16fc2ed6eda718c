//! A guild's favourite stations: an ordered, duplicate-free list capped at Discord's 25 choices.

use serde::{Deserialize, Serialize};

use crate::core::station::model::StationId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FavouriteError {
    #[error("the favourites list is full ({max} stations); remove one first", max = Favourites::MAX)]
    Full,
    #[error("`{0}` is already a favourite")]
    AlreadyPresent(StationId),
    #[error("`{0}` is not a favourite")]
    NotPresent(StationId),
    #[error("position {position} is out of range (1–{len})")]
    BadPosition { position: usize, len: usize },
}

/// INVARIANT: no duplicates, at most [`Favourites::MAX`] entries, order is the guild's choice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<StationId>", into = "Vec<StationId>")]
pub struct Favourites(Vec<StationId>);

impl Favourites {
    /// Discord shows at most 25 choices in autocomplete and select menus.
    pub const MAX: usize = 25;

    pub fn as_slice(&self) -> &[StationId] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, id: &StationId) -> bool {
        self.0.contains(id)
    }

    /// Appends a station at the end.
    pub fn add(&mut self, id: StationId) -> Result<(), FavouriteError> {
        if self.contains(&id) {
            return Err(FavouriteError::AlreadyPresent(id));
        }
        if self.0.len() >= Self::MAX {
            return Err(FavouriteError::Full);
        }
        self.0.push(id);
        Ok(())
    }

    pub fn remove(&mut self, id: &StationId) -> Result<(), FavouriteError> {
        let index = self
            .0
            .iter()
            .position(|f| f == id)
            .ok_or_else(|| FavouriteError::NotPresent(id.clone()))?;
        self.0.remove(index);
        Ok(())
    }

    /// Moves a favourite to a 1-based position (as users count).
    pub fn move_to(&mut self, id: &StationId, position: usize) -> Result<(), FavouriteError> {
        let len = self.0.len();
        if position == 0 || position > len {
            return Err(FavouriteError::BadPosition { position, len });
        }
        let from = self
            .0
            .iter()
            .position(|f| f == id)
            .ok_or_else(|| FavouriteError::NotPresent(id.clone()))?;
        let item = self.0.remove(from);
        self.0.insert(position - 1, item);
        Ok(())
    }
}

impl TryFrom<Vec<StationId>> for Favourites {
    type Error = String;
    fn try_from(ids: Vec<StationId>) -> Result<Self, Self::Error> {
        let mut favourites = Self::default();
        for id in ids {
            favourites.add(id).map_err(|e| e.to_string())?;
        }
        Ok(favourites)
    }
}

impl From<Favourites> for Vec<StationId> {
    fn from(f: Favourites) -> Self {
        f.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> StationId {
        StationId::parse(s).unwrap()
    }

    #[test]
    fn add_remove_reorder() {
        let mut f = Favourites::default();
        for s in ["a", "b", "c"] {
            f.add(id(s)).unwrap();
        }
        assert_eq!(f.add(id("b")), Err(FavouriteError::AlreadyPresent(id("b"))));
        f.move_to(&id("c"), 1).unwrap();
        assert_eq!(f.as_slice(), &[id("c"), id("a"), id("b")]);
        assert_eq!(
            f.move_to(&id("a"), 4),
            Err(FavouriteError::BadPosition {
                position: 4,
                len: 3
            })
        );
        f.remove(&id("a")).unwrap();
        assert_eq!(f.remove(&id("a")), Err(FavouriteError::NotPresent(id("a"))));
        assert_eq!(f.as_slice(), &[id("c"), id("b")]);
    }

    #[test]
    fn capped_at_25() {
        let mut f = Favourites::default();
        for n in 0..Favourites::MAX {
            f.add(id(&format!("s{n}"))).unwrap();
        }
        assert_eq!(f.add(id("one-more")), Err(FavouriteError::Full));
    }

    #[test]
    fn decoding_rejects_duplicates() {
        let err = serde_json::from_str::<Favourites>(r#"["a","a"]"#).unwrap_err();
        assert!(err.to_string().contains("already a favourite"), "{err}");
    }
}
