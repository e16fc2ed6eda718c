//! `Data`: the services every command and event handler shares. One struct, each service cheap to clone or
//! behind an `Arc`; built once by `app.rs` before the gateway connects.

use std::sync::Arc;
use std::time::Instant;

use crate::core::limits::RateLimits;
use crate::core::locale::Locales;
use crate::core::station::reload::StationLibrary;
use crate::core::store::Store;
use crate::discord::commands::setup::WizardSessions;
use crate::player::Playback;

/// Shared state of the running bot (every field is a cheap handle, so background tasks take a clone).
#[derive(Clone)]
pub struct Data {
    pub store: Store,
    pub library: Arc<StationLibrary>,
    pub locales: Arc<Locales>,
    pub limits: Arc<RateLimits>,
    pub playback: Playback,
    /// Open `/setup wizard` flows, by wizard id.
    pub wizards: Arc<WizardSessions>,
    /// When the process started, for `/info`'s uptime.
    pub started: Instant,
}

impl Data {
    /// Guilds with a radio session right now.
    pub fn active_sessions(&self) -> usize {
        self.playback.active_sessions()
    }
}
