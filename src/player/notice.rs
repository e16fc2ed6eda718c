//! Session notices and play errors as text for the channel: a Fluent key with its arguments (for
//! `locales/*/player.ftl`, rendered through setup's `core::locale::Locales` once it lands), and the English
//! rendering the player posts until then.

use super::PlayError;
use crate::core::player::Notice;

/// A Fluent message id with its (string) arguments.
pub type Keyed = (&'static str, Vec<(&'static str, String)>);

/// The Fluent key and arguments of `notice`; `station` is the station's display name when known.
pub fn notice_key(notice: &Notice, station: Option<&str>) -> Keyed {
    let name = |id: &str| station.map_or_else(|| id.to_owned(), str::to_owned);
    match notice {
        Notice::UpstreamTrouble { station } => (
            "player-notice-upstream-trouble",
            vec![("station", name(station.as_str()))],
        ),
        Notice::UpstreamRecovered { station } => (
            "player-notice-upstream-recovered",
            vec![("station", name(station.as_str()))],
        ),
        Notice::UpstreamGaveUp { station } => (
            "player-notice-upstream-gave-up",
            vec![("station", name(station.as_str()))],
        ),
        Notice::LeftIdle => ("player-notice-left-idle", Vec::new()),
        Notice::Disconnected => ("player-notice-disconnected", Vec::new()),
        Notice::JoinFailed { channel, reason } => (
            "player-notice-join-failed",
            vec![("channel", channel.to_string()), ("reason", reason.clone())],
        ),
        Notice::DaveRequired => ("player-notice-dave-required", Vec::new()),
        Notice::VoiceGaveUp { reason } => (
            "player-notice-voice-gave-up",
            vec![("reason", reason.clone())],
        ),
    }
}

/// The Fluent key and arguments of a play error.
pub fn error_key(error: &PlayError) -> Keyed {
    match error {
        PlayError::UnknownStation(id) => (
            "player-error-unknown-station",
            vec![("station", id.to_string())],
        ),
        PlayError::Unreachable { name, reason, .. } => (
            "player-error-unreachable",
            vec![("station", name.clone()), ("reason", reason.clone())],
        ),
        PlayError::JoinFailed { reason, .. } => {
            ("player-error-join-failed", vec![("reason", reason.clone())])
        }
        PlayError::NotPlaying => ("player-error-not-playing", Vec::new()),
        PlayError::BadId { .. } | PlayError::ShuttingDown => {
            ("player-error-unavailable", Vec::new())
        }
    }
}

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
        Notice::DaveRequired => {
            "Discord requires end-to-end encrypted voice (DAVE) in this channel and \
                                 closed my connection; playback stopped."
                .to_owned()
        }
        Notice::VoiceGaveUp { reason } => format!(
            "I lost the voice connection and could not get it back ({reason}); playback stopped. Try \
             `/radio play` again later."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::station::model::StationId;

    /// Every key the player produces exists in every shipped locale's `player.ftl` with the same arguments.
    #[test]
    fn every_key_exists_in_every_locale() {
        let id = StationId::parse("x").unwrap();
        let keyed: Vec<Keyed> = [
            Notice::UpstreamTrouble {
                station: id.clone(),
            },
            Notice::UpstreamRecovered {
                station: id.clone(),
            },
            Notice::UpstreamGaveUp {
                station: id.clone(),
            },
            Notice::LeftIdle,
            Notice::Disconnected,
            Notice::JoinFailed {
                channel: crate::core::ids::ChannelKey(1),
                reason: "r".into(),
            },
            Notice::DaveRequired,
            Notice::VoiceGaveUp { reason: "r".into() },
        ]
        .iter()
        .map(|n| notice_key(n, None))
        .chain(
            [
                PlayError::UnknownStation(id.clone()),
                PlayError::Unreachable {
                    station: id.clone(),
                    name: "X".into(),
                    reason: "r".into(),
                    similar: Vec::new(),
                },
                PlayError::JoinFailed {
                    channel: crate::core::ids::ChannelKey(1),
                    reason: "r".into(),
                },
                PlayError::NotPlaying,
                PlayError::ShuttingDown,
            ]
            .iter()
            .map(error_key),
        )
        .collect();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("locales");
        let mut locales = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path().join("player.ftl");
            let text = std::fs::read_to_string(&path).unwrap();
            locales += 1;
            for (key, args) in &keyed {
                let line = text
                    .lines()
                    .find(|l| l.split(" =").next() == Some(key))
                    .unwrap_or_else(|| panic!("{}: missing `{key}`", path.display()));
                for (arg, _) in args {
                    assert!(
                        line.contains(&format!("{{ ${arg} }}")),
                        "{}: `{key}` does not use ${arg}",
                        path.display()
                    );
                }
            }
        }
        assert!(locales >= 2, "en-US and de at least");
    }

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
