//! Plain-text rendering of session notices for the channel.
//!
//! English only until the Fluent locales land (setup's `core::locale`); then this renders through
//! `Locales::text` with the `player-notice-*` keys in `locales/*/player.ftl`.

use crate::core::player::Notice;

/// The message posted for `notice`; `station` is the station's display name when known.
pub fn render_notice(notice: &Notice, station: Option<&str>) -> String {
    let name = |id: &str| station.map_or_else(|| format!("`{id}`"), |n| format!("**{n}**"));
    match notice {
        Notice::UpstreamTrouble { station } => format!(
            "{} is not reachable right now; I keep trying.",
            name(station.as_str())
        ),
        Notice::UpstreamRecovered { station } => format!("{} is back.", name(station.as_str())),
        Notice::UpstreamGaveUp { station } => format!(
            "{} stayed unreachable, so I stopped. Try `/radio play` again later or pick another station.",
            name(station.as_str())
        ),
        Notice::LeftIdle => "Nobody was listening, so I left the voice channel.".to_owned(),
        Notice::Disconnected => "I was disconnected from voice; playback stopped.".to_owned(),
        Notice::JoinFailed { channel, reason } => {
            format!("I couldn't join <#{channel}>: {reason}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::station::model::StationId;

    #[test]
    fn notices_name_the_station_or_its_id() {
        let station = StationId::parse("jazz-fm").unwrap();
        let trouble = Notice::UpstreamTrouble { station };
        assert_eq!(
            render_notice(&trouble, Some("Jazz FM")),
            "**Jazz FM** is not reachable right now; I keep trying."
        );
        assert!(render_notice(&trouble, None).starts_with("`jazz-fm`"));
    }
}
