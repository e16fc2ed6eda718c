//! The hub manager: maps (station, gain preset) to its running hub, attaches and detaches listeners,
//! and reports stats. Hubs start on the first listener and end themselves a grace period after the last
//! one leaves; attach and retire both happen under the map lock, so there is never a listener on a
//! dying hub.
//!
//! Volume: 100 % is pure passthrough (songbird forwards our Opus frames untouched). Other volumes are
//! quantised to [`GAIN_PRESETS`]; each preset in use is its own hub (one extra upstream connection and
//! one extra encode, ~1 % of a core), shared by every guild on that preset. That keeps per-guild cost
//! at passthrough level whatever the volume, at the price of coarse steps.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::watch;

use super::encode::EncoderConfig;
use super::hub::{HubConfig, HubShared, HubSnapshot, StationHub};
use super::listener::{DetachHook, Listener};
use super::source::UpstreamSource;
use crate::core::station::model::{Station, StationId};

/// The volumes a guild can pick, in percent. 100 is passthrough of the shared station encode.
pub const GAIN_PRESETS: [u16; 6] = [25, 50, 75, 100, 125, 150];

/// The preset closest to `percent` (ties go to the quieter one).
pub fn gain_preset(percent: u16) -> u16 {
    GAIN_PRESETS
        .iter()
        .copied()
        .min_by_key(|p| (i32::from(*p) - i32::from(percent)).unsigned_abs())
        .unwrap_or(100)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HubKey {
    station: StationId,
    gain: u16,
}

type HubMap = Mutex<HashMap<HubKey, Arc<HubShared>>>;

/// Owner of all station hubs of one bot process.
#[derive(Clone)]
pub struct HubManager {
    hubs: Arc<HubMap>,
    source: Arc<dyn UpstreamSource>,
    config: HubConfig,
}

impl std::fmt::Debug for HubManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubManager")
            .field("hubs", &self.hubs.lock().map_or(0, |h| h.len()))
            .finish_non_exhaustive()
    }
}

impl HubManager {
    pub fn new(source: Arc<dyn UpstreamSource>, config: HubConfig) -> Self {
        Self {
            hubs: Arc::default(),
            source,
            config,
        }
    }

    /// A listener on `station` at `volume_percent` (quantised to a preset). Starts the hub if needed.
    /// Must be called inside a tokio runtime.
    pub fn attach(&self, station: &Station, volume_percent: u16) -> Listener {
        let key = HubKey {
            station: station.id.clone(),
            gain: gain_preset(volume_percent),
        };
        let mut hubs = self.hubs.lock().unwrap_or_else(PoisonError::into_inner);
        let shared = hubs
            .entry(key.clone())
            .or_insert_with(|| self.start_hub(&key, station))
            .clone();
        // INVARIANT: incremented under the map lock; the hub only retires under it with a zero count.
        shared.listeners.fetch_add(1, Ordering::AcqRel);
        drop(hubs);
        let hook: Arc<dyn DetachHook> = shared.clone();
        Listener::new(Arc::clone(&shared.ring), Some(hook))
    }

    fn start_hub(&self, key: &HubKey, station: &Station) -> Arc<HubShared> {
        let shared = Arc::new(HubShared::new(
            key.station.clone(),
            key.gain,
            self.config.ring_frames,
        ));
        let weak_map: Weak<HubMap> = Arc::downgrade(&self.hubs);
        let weak_hub = Arc::downgrade(&shared);
        let retire_key = key.clone();
        let retire = Box::new(move || {
            let (Some(map), Some(hub)) = (weak_map.upgrade(), weak_hub.upgrade()) else {
                return true;
            };
            let mut hubs = map.lock().unwrap_or_else(PoisonError::into_inner);
            if hub.listeners.load(Ordering::Acquire) != 0 {
                return false;
            }
            if hubs.get(&retire_key).is_some_and(|h| Arc::ptr_eq(h, &hub)) {
                hubs.remove(&retire_key);
            }
            true
        });
        let config = HubConfig {
            encoder: EncoderConfig {
                gain_percent: key.gain,
                ..self.config.encoder
            },
            ..self.config.clone()
        };
        StationHub::new(
            Arc::clone(&shared),
            station.streams.clone(),
            Arc::clone(&self.source),
            config,
            retire,
        )
        .spawn();
        shared
    }

    /// Snapshots of every running hub, sorted by station and gain.
    pub fn stats(&self) -> Vec<HubSnapshot> {
        let hubs: Vec<Arc<HubShared>> = self
            .hubs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut snaps: Vec<HubSnapshot> = hubs.iter().map(|h| h.snapshot()).collect();
        snaps.sort_by(|a, b| (&a.station, a.gain_percent).cmp(&(&b.station, b.gain_percent)));
        snaps
    }

    /// Title updates of a running station hub (the passthrough one when several presets run).
    pub fn titles(&self, station: &StationId) -> Option<watch::Receiver<Option<String>>> {
        let hubs = self.hubs.lock().unwrap_or_else(PoisonError::into_inner);
        hubs.iter()
            .filter(|(k, _)| &k.station == station)
            .min_by_key(|(k, _)| k.gain.abs_diff(100))
            .map(|(_, h)| h.titles())
    }

    /// Stops every hub (listeners keep receiving silence until dropped).
    pub fn shutdown(&self) {
        let mut hubs = self.hubs.lock().unwrap_or_else(PoisonError::into_inner);
        for hub in hubs.values() {
            hub.stop.store(true, Ordering::Release);
        }
        hubs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(100, 100)]
    #[case(0, 25)]
    #[case(60, 50)]
    #[case(63, 75)]
    #[case(110, 100)]
    #[case(500, 150)]
    fn volumes_snap_to_presets(#[case] percent: u16, #[case] preset: u16) {
        assert_eq!(gain_preset(percent), preset);
    }
}
