//! What a restarted process needs to resume one guild's playback.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::core::guild::settings::Volume;
use crate::core::ids::{ChannelKey, UserKey};
use crate::core::station::model::StationId;

/// Written when playback starts or changes (station, volume, channel, title), removed on stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeEntry {
    pub voice_channel: ChannelKey,
    pub station: StationId,
    pub volume: Volume,
    /// Where the command came from: notices about this session go here unless the guild set an
    /// announcement channel.
    pub text_channel: Option<ChannelKey>,
    /// Who started it (may always stop it when alone with the bot).
    pub started_by: Option<UserKey>,
    pub since: SystemTime,
    /// The last-known "now playing" title, shown until the stream sends a new one.
    pub title: Option<String>,
}
