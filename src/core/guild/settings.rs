//! Per-guild settings chosen through `/setup` (wizard or shortcuts).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::core::ids::{ChannelKey, RoleKey, UserKey};

/// A playback volume in percent. 100 is the station's own level (Opus passthrough, no re-encode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct Volume(u16);

/// Volume outside [`Volume::MIN`]..=[`Volume::CEILING`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("volume {0}% is out of range (0–{ceiling}%)", ceiling = Volume::CEILING.0)]
pub struct VolumeError(pub u32);

impl Volume {
    pub const MIN: Self = Self(0);
    /// The station's own level.
    pub const UNITY: Self = Self(100);
    /// The loudest any guild may allow: above this, clipping makes most stations unpleasant.
    pub const CEILING: Self = Self(200);

    pub fn new(percent: u32) -> Result<Self, VolumeError> {
        u16::try_from(percent)
            .ok()
            .filter(|p| *p <= Self::CEILING.0)
            .map(Self)
            .ok_or(VolumeError(percent))
    }

    pub fn percent(self) -> u16 {
        self.0
    }

    /// Linear gain factor (1.0 at 100 %).
    pub fn gain(self) -> f32 {
        f32::from(self.0) / 100.0
    }

    /// This volume, lowered to `max` when above it.
    #[must_use]
    pub fn capped(self, max: Self) -> Self {
        self.min(max)
    }
}

impl Default for Volume {
    fn default() -> Self {
        Self::UNITY
    }
}

impl TryFrom<u16> for Volume {
    type Error = VolumeError;
    fn try_from(value: u16) -> Result<Self, Self::Error> {
        Self::new(u32::from(value))
    }
}

impl From<Volume> for u16 {
    fn from(v: Volume) -> Self {
        v.0
    }
}

impl fmt::Display for Volume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// A BCP-47 language tag, reduced to what Discord and our locales use: a language (`de`), optionally with a
/// region (`en-US`, `es-419`). Stored normalised: language lowercase, region uppercase.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocaleTag(String);

impl LocaleTag {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The language part (`en` for `en-US`).
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl FromStr for LocaleTag {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim().replace('_', "-");
        let mut parts = raw.split('-');
        let language = parts.next().unwrap_or_default();
        let region = parts.next();
        let valid_language =
            (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_alphabetic());
        let valid_region = region.is_none_or(|r| {
            (r.len() == 2 && r.bytes().all(|b| b.is_ascii_alphabetic()))
                || (r.len() == 3 && r.bytes().all(|b| b.is_ascii_digit()))
        });
        if !valid_language || !valid_region || parts.next().is_some() {
            return Err(format!(
                "`{raw}` is not a language tag like `de`, `en-US` or `es-419`"
            ));
        }
        let mut tag = language.to_ascii_lowercase();
        if let Some(region) = region {
            tag.push('-');
            tag.push_str(&region.to_ascii_uppercase());
        }
        Ok(Self(tag))
    }
}

impl TryFrom<String> for LocaleTag {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<LocaleTag> for String {
    fn from(tag: LocaleTag) -> Self {
        tag.0
    }
}

impl fmt::Display for LocaleTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The guild's home region: an ISO 3166-1 alpha-2 country code (uppercase). Stations from this country are
/// suggested first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Region {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        if raw.len() == 2 && raw.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(raw.to_ascii_uppercase()))
        } else {
            Err(format!(
                "`{raw}` is not a two-letter country code like `DE` or `GB`"
            ))
        }
    }
}

impl TryFrom<String> for Region {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Region> for String {
    fn from(region: Region) -> Self {
        region.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who completed the setup, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupStamp {
    pub at: SystemTime,
    pub by: UserKey,
}

/// Everything a guild chose. `Default` is what a guild gets before anyone ran `/setup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuildSettings {
    /// Where `/radio play` goes when the member is not in a voice channel, and where 24-7 mode joins.
    pub voice_channel: Option<ChannelKey>,
    /// Where "now playing" and trouble notices are posted (else the channel of the last command).
    pub announce_channel: Option<ChannelKey>,
    /// Roles allowed to control playback. Empty: everyone may.
    /// INVARIANT: sorted and without duplicates (see [`GuildSettings::set_dj_roles`]).
    pub dj_roles: Vec<RoleKey>,
    /// The guild's language; `None` follows each member's Discord locale.
    pub locale: Option<LocaleTag>,
    pub region: Option<Region>,
    /// 24-7 mode: join `voice_channel` at startup and never leave for idleness.
    pub always_on: bool,
    pub default_volume: Volume,
    /// INVARIANT: `default_volume <= max_volume`.
    pub max_volume: Volume,
    /// Leave after the channel has had no human listener for this long (ignored in 24-7 mode).
    #[serde(with = "duration_secs")]
    pub idle_timeout: Duration,
    /// Post (and edit) a "now playing" message when the title changes.
    pub announce_now_playing: bool,
    pub setup: Option<SetupStamp>,
}

impl GuildSettings {
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
    /// Discord allows at most 25 options in a select menu; more DJ roles than that are not manageable.
    pub const MAX_DJ_ROLES: usize = 25;

    /// Replaces the DJ roles, keeping the sorted-and-unique invariant and the cap.
    pub fn set_dj_roles(&mut self, roles: impl IntoIterator<Item = RoleKey>) {
        let mut roles: Vec<RoleKey> = roles.into_iter().collect();
        roles.sort_unstable();
        roles.dedup();
        roles.truncate(Self::MAX_DJ_ROLES);
        self.dj_roles = roles;
    }

    /// Sets both volumes, lowering the default to the maximum when needed.
    pub fn set_volumes(&mut self, default: Volume, max: Volume) {
        self.max_volume = max;
        self.default_volume = default.capped(max);
    }
}

impl Default for GuildSettings {
    fn default() -> Self {
        Self {
            voice_channel: None,
            announce_channel: None,
            dj_roles: Vec::new(),
            locale: None,
            region: None,
            always_on: false,
            default_volume: Volume::UNITY,
            max_volume: Volume::UNITY,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            announce_now_playing: true,
            setup: None,
        }
    }
}

/// Durations as whole seconds on the wire: compact in postcard, readable in JSON exports.
mod duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("de", "de")]
    #[case("en-us", "en-US")]
    #[case("EN_gb", "en-GB")]
    #[case("es-419", "es-419")]
    #[case(" pt-BR ", "pt-BR")]
    fn locale_tags_normalise(#[case] raw: &str, #[case] expected: &str) {
        assert_eq!(raw.parse::<LocaleTag>().unwrap().as_str(), expected);
    }

    #[rstest]
    #[case("")]
    #[case("e")]
    #[case("english")]
    #[case("en-USA")]
    #[case("en-US-x")]
    #[case("d3")]
    fn bad_locale_tags_are_refused(#[case] raw: &str) {
        let err = raw.parse::<LocaleTag>().unwrap_err();
        assert!(err.contains("not a language tag"), "{err}");
    }

    #[test]
    fn volume_bounds() {
        assert_eq!(Volume::new(0).unwrap(), Volume::MIN);
        assert_eq!(Volume::new(200).unwrap().percent(), 200);
        assert_eq!(Volume::new(201), Err(VolumeError(201)));
        assert_eq!(Volume::new(70_000), Err(VolumeError(70_000)));
        assert_eq!(
            Volume::new(150).unwrap().capped(Volume::UNITY),
            Volume::UNITY
        );
        assert!((Volume::new(50).unwrap().gain() - 0.5).abs() < f32::EPSILON);
    }

    #[test]
    fn volume_deserialization_enforces_bounds() {
        let err = serde_json::from_str::<Volume>("300").unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
    }

    #[test]
    fn dj_roles_stay_sorted_unique_and_capped() {
        let mut s = GuildSettings::default();
        s.set_dj_roles([RoleKey(3), RoleKey(1), RoleKey(3)]);
        assert_eq!(s.dj_roles, vec![RoleKey(1), RoleKey(3)]);
        s.set_dj_roles((0..40).map(RoleKey));
        assert_eq!(s.dj_roles.len(), GuildSettings::MAX_DJ_ROLES);
    }

    #[test]
    fn default_volume_never_exceeds_max() {
        let mut s = GuildSettings::default();
        s.set_volumes(Volume::new(150).unwrap(), Volume::new(120).unwrap());
        assert_eq!(s.default_volume.percent(), 120);
        assert_eq!(s.max_volume.percent(), 120);
    }

    #[test]
    fn region_is_a_country_code() {
        assert_eq!("de".parse::<Region>().unwrap().as_str(), "DE");
        assert!("DEU".parse::<Region>().is_err());
    }
}
