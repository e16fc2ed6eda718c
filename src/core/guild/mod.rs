//! What a guild has chosen and what it is doing: settings, favourites, resume entries and play counts.
//!
//! These are the record types. They are plain data with their own invariants (volume bounds, the favourites
//! cap, locale tags); persisting them is the store's job (`core::store`).

pub mod favourites;
pub mod resume;
pub mod settings;

pub use favourites::{FavouriteError, Favourites};
pub use resume::ResumeEntry;
pub use settings::{GuildSettings, LocaleTag, Region, SetupStamp, Volume, VolumeError};
