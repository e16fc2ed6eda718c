//! The export file (`alastor data export|import`): its JSON shape, and the strict reading of a file that may
//! have been hand-edited, truncated or written by an attacker.
//!
//! Reading is all-or-nothing and never "fixes" anything: the file is capped at [`MAX_IMPORT_BYTES`]; every
//! object refuses unknown fields and repeated keys (`serde_json` keeps the last of a repeated key silently, so
//! maps go through [`UniqueMap`]); `version` must be an integer; ids are non-zero canonical decimal numbers;
//! station ids are slugs; volumes, list lengths and durations are checked against the same limits the bot
//! uses. Each error names the JSON path of the offending value (`guild_settings.123.default_volume`) and,
//! where `serde_json` knows it, the line and column.
//!
//! The JSON types here mirror the records field for field (conversions destructure them, so a new field in a
//! record is a compile error here rather than a silently dropped value).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::StoreError;
use crate::core::guild::{
    Favourites, GuildSettings, LocaleTag, Region, ResumeEntry, SetupStamp, Volume,
};
use crate::core::ids::{ChannelKey, RoleKey, UserKey};
use crate::core::station::StationId;

/// The `format` field of an export.
pub const DUMP_FORMAT: &str = "alastor-store";
/// The layout of the export this build writes (not the record versions: those are migrated on import).
pub const DUMP_VERSION: u64 = 1;
/// The largest export `data import` reads: above any plausible store (20 000 guilds with every list full —
/// 25 DJ roles, 25 favourites, 25 play counters each — export to 52 MiB), far below what would exhaust memory.
/// Larger inputs are refused before parsing.
pub const MAX_IMPORT_BYTES: u64 = 64 * 1024 * 1024;
/// The longest idle timeout a record may hold. The bot adds it to `Instant::now()`; a week is far beyond any
/// sensible setting and nowhere near overflow.
pub const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// The longest "now playing" title kept in a resume entry (Icecast metadata is at most 4080 bytes).
pub const MAX_TITLE_BYTES: usize = 4096;

/// Every table, keyed by guild id, in ascending id order.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreDump {
    pub format: String,
    pub version: u64,
    pub guild_settings: BTreeMap<GuildId, GuildSettings>,
    pub favourites: BTreeMap<GuildId, Favourites>,
    pub resume: BTreeMap<GuildId, ResumeEntry>,
    /// guild → station id → times played.
    pub plays: BTreeMap<GuildId, BTreeMap<String, u64>>,
}

/// A guild id as a JSON object key: a non-zero decimal number without sign or leading zeros (so two
/// spellings of one id cannot both appear). Ordered numerically (so the export reads naturally).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GuildId(pub u64);

impl TryFrom<String> for GuildId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.parse::<u64>() {
            Ok(0) => Err(format!("`{s}` is not a guild id: Discord ids are never 0")),
            Ok(id) if id.to_string() == s => Ok(Self(id)),
            _ => Err(format!(
                "`{s}` is not a guild id (a decimal number without sign or leading zeros)"
            )),
        }
    }
}

impl From<GuildId> for String {
    fn from(id: GuildId) -> Self {
        id.0.to_string()
    }
}

impl fmt::Display for GuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Records per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub guild_settings: usize,
    pub favourites: usize,
    pub resume: usize,
    pub plays: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.guild_settings + self.favourites + self.resume + self.plays
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "guild_settings {}, favourites {}, resume {}, plays {}",
            self.guild_settings, self.favourites, self.resume, self.plays
        )
    }
}

/// Why an export file cannot be imported; names the place in the file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read it: {0}")]
    Read(std::io::Error),
    #[error(
        "it is larger than {} MiB{}: not an export of this store (refused before reading it)",
        MAX_IMPORT_BYTES / (1024 * 1024),
        size.map(|s| format!(" ({s} bytes)")).unwrap_or_default()
    )]
    TooLarge { size: Option<u64> },
    #[error("not JSON: {0}")]
    Json(serde_json::Error),
    #[error("{place}: {reason}")]
    Record { place: String, reason: String },
    #[error(
        "the store already holds {0}; import only into an empty store, or pass --replace to overwrite it"
    )]
    NotEmpty(Counts),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StoreDump {
    /// Parses an export, checking every value and naming the first bad one (`guild_settings.123.max_volume:
    /// …`). Nothing is adjusted: a value the bot would not have written is an error.
    pub fn from_json(text: &str) -> Result<Self, ImportError> {
        Self::from_slice(text.as_bytes())
    }

    /// Reads at most [`MAX_IMPORT_BYTES`] from `reader` (more is [`ImportError::TooLarge`], found after
    /// reading one byte past the cap, so `/dev/zero` costs 64 MiB, not all memory), then parses.
    pub fn from_reader(reader: impl Read) -> Result<Self, ImportError> {
        let mut bytes = Vec::new();
        reader
            .take(MAX_IMPORT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(ImportError::Read)?;
        if bytes.len() as u64 > MAX_IMPORT_BYTES {
            return Err(ImportError::TooLarge { size: None });
        }
        Self::from_slice(&bytes)
    }

    fn from_slice(bytes: &[u8]) -> Result<Self, ImportError> {
        if bytes.len() as u64 > MAX_IMPORT_BYTES {
            return Err(ImportError::TooLarge {
                size: Some(bytes.len() as u64),
            });
        }
        let mut json = serde_json::Deserializer::from_slice(bytes);
        let wire: DumpJson = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let place = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() {
                ImportError::Json(inner)
            } else if inner.is_eof() {
                ImportError::Record {
                    place: if place == "." {
                        "the file".to_owned()
                    } else {
                        place
                    },
                    reason: format!("the file ends here (truncated?): {inner}"),
                }
            } else {
                ImportError::Record {
                    place: if place == "." {
                        "the file".to_owned()
                    } else {
                        place
                    },
                    reason: inner.to_string(),
                }
            }
        })?;
        json.end().map_err(ImportError::Json)?;
        wire.into_dump()
    }

    /// Pretty JSON with a trailing newline; the same dump always gives the same bytes.
    pub fn to_json(&self) -> String {
        let wire = DumpJson::from_dump(self);
        // INVARIANT: every field serializes (string keys, no floats that could be NaN).
        let mut out = serde_json::to_string_pretty(&wire).expect("a dump serializes");
        out.push('\n');
        out
    }

    pub fn counts(&self) -> Counts {
        Counts {
            guild_settings: self.guild_settings.len(),
            favourites: self.favourites.len(),
            resume: self.resume.len(),
            plays: self.plays.values().map(BTreeMap::len).sum(),
        }
    }
}

/// A JSON object whose keys must be unique (`serde_json`'s own maps keep the last of a repeated key).
#[derive(Debug, Clone, PartialEq)]
pub struct UniqueMap<K, V>(pub BTreeMap<K, V>);

impl<K, V> Default for UniqueMap<K, V> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

impl<K: Serialize, V: Serialize> Serialize for UniqueMap<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, K, V> Deserialize<'de> for UniqueMap<K, V>
where
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Unique<K, V>(PhantomData<(K, V)>);
        impl<'de, K, V> Visitor<'de> for Unique<K, V>
        where
            K: Deserialize<'de> + Ord + fmt::Display,
            V: Deserialize<'de>,
        {
            type Value = UniqueMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object without repeated keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<K>()? {
                    if out.contains_key(&key) {
                        return Err(de::Error::custom(format!(
                            "key `{key}` appears twice (which one is meant?)"
                        )));
                    }
                    let value = map.next_value()?;
                    out.insert(key, value);
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(Unique(PhantomData))
    }
}

/// The `format` field: refuses anything but [`DUMP_FORMAT`] as soon as it is read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
struct Format;

impl TryFrom<String> for Format {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s == DUMP_FORMAT {
            Ok(Self)
        } else {
            Err(format!(
                "not an Alastor store export (`format` is {s:?}, expected \"{DUMP_FORMAT}\")"
            ))
        }
    }
}

impl From<Format> for String {
    fn from(_: Format) -> Self {
        DUMP_FORMAT.to_owned()
    }
}

/// The `version` field: an integer this build understands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
struct DumpVersion(u64);

impl TryFrom<u64> for DumpVersion {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        if (1..=DUMP_VERSION).contains(&v) {
            Ok(Self(v))
        } else if v > DUMP_VERSION {
            Err(format!(
                "export version {v} is newer than this build understands (≤ {DUMP_VERSION}): upgrade Alastor"
            ))
        } else {
            Err("export version 0 does not exist (the first is 1)".to_owned())
        }
    }
}

impl From<DumpVersion> for u64 {
    fn from(v: DumpVersion) -> Self {
        v.0
    }
}

/// A Discord id (guild, channel, role, user): never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
struct Snowflake(u64);

impl TryFrom<u64> for Snowflake {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        if v == 0 {
            Err("0 is not a Discord id (ids are never 0)".to_owned())
        } else {
            Ok(Self(v))
        }
    }
}

impl From<Snowflake> for u64 {
    fn from(v: Snowflake) -> Self {
        v.0
    }
}

/// A station id that is a slug ([`StationId::parse`]): `../../etc/passwd` is refused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
struct Slug(StationId);

impl TryFrom<String> for Slug {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        StationId::parse(&s).map(Self)
    }
}

impl From<Slug> for String {
    fn from(s: Slug) -> Self {
        s.0.as_str().to_owned()
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// A language tag exactly as the bot writes it (normalised): `en_us` is refused, not rewritten.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
struct Locale(LocaleTag);

impl TryFrom<String> for Locale {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let tag: LocaleTag = s.parse()?;
        if tag.as_str() == s {
            Ok(Self(tag))
        } else {
            Err(format!(
                "`{s}` is not written as the bot writes it (`{tag}`)"
            ))
        }
    }
}

impl From<Locale> for String {
    fn from(l: Locale) -> Self {
        l.0.as_str().to_owned()
    }
}

/// A country code exactly as the bot writes it (uppercase).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
struct Country(Region);

impl TryFrom<String> for Country {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let region: Region = s.parse()?;
        if region.as_str() == s {
            Ok(Self(region))
        } else {
            Err(format!(
                "`{s}` is not written as the bot writes it (`{region}`)"
            ))
        }
    }
}

impl From<Country> for String {
    fn from(c: Country) -> Self {
        c.0.as_str().to_owned()
    }
}

/// An idle timeout in whole seconds, at most [`MAX_IDLE_TIMEOUT`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
struct IdleSecs(u64);

impl TryFrom<u64> for IdleSecs {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        if v <= MAX_IDLE_TIMEOUT.as_secs() {
            Ok(Self(v))
        } else {
            Err(format!(
                "{v} seconds is longer than the longest idle timeout ({} s, 7 days)",
                MAX_IDLE_TIMEOUT.as_secs()
            ))
        }
    }
}

impl From<IdleSecs> for u64 {
    fn from(v: IdleSecs) -> Self {
        v.0
    }
}

/// A "now playing" title of at most [`MAX_TITLE_BYTES`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
struct Title(String);

impl TryFrom<String> for Title {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.len() <= MAX_TITLE_BYTES {
            Ok(Self(s))
        } else {
            Err(format!(
                "a title of {} bytes is longer than {MAX_TITLE_BYTES}",
                s.len()
            ))
        }
    }
}

impl From<Title> for String {
    fn from(t: Title) -> Self {
        t.0
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DumpJson {
    format: Format,
    version: DumpVersion,
    guild_settings: UniqueMap<GuildId, SettingsJson>,
    favourites: UniqueMap<GuildId, Vec<Slug>>,
    resume: UniqueMap<GuildId, ResumeJson>,
    plays: UniqueMap<GuildId, UniqueMap<StationKey, u64>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsJson {
    voice_channel: Option<Snowflake>,
    announce_channel: Option<Snowflake>,
    dj_roles: Vec<Snowflake>,
    locale: Option<Locale>,
    region: Option<Country>,
    always_on: bool,
    default_volume: Volume,
    max_volume: Volume,
    idle_timeout: IdleSecs,
    announce_now_playing: bool,
    setup: Option<SetupJson>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupJson {
    at: SystemTime,
    by: Snowflake,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResumeJson {
    voice_channel: Snowflake,
    station: Slug,
    volume: Volume,
    text_channel: Option<Snowflake>,
    started_by: Option<Snowflake>,
    since: SystemTime,
    title: Option<Title>,
}

fn bad(place: String, reason: impl Into<String>) -> ImportError {
    ImportError::Record {
        place,
        reason: reason.into(),
    }
}

impl DumpJson {
    /// The checks that span fields (limits, duplicates within lists, default ≤ max), each naming its path.
    fn into_dump(self) -> Result<StoreDump, ImportError> {
        let mut guild_settings = BTreeMap::new();
        for (guild, s) in self.guild_settings.0 {
            let at = |field: &str| format!("guild_settings.{guild}.{field}");
            if s.dj_roles.len() > GuildSettings::MAX_DJ_ROLES {
                return Err(bad(
                    at("dj_roles"),
                    format!(
                        "{} roles, at most {} (Discord's limit for a select menu)",
                        s.dj_roles.len(),
                        GuildSettings::MAX_DJ_ROLES
                    ),
                ));
            }
            let mut roles: Vec<RoleKey> = s.dj_roles.iter().map(|r| RoleKey(r.0)).collect();
            roles.sort_unstable();
            if let Some(twice) = roles.windows(2).find_map(|w| match w {
                [a, b] if a == b => Some(*a),
                _ => None,
            }) {
                return Err(bad(at("dj_roles"), format!("role {twice} is listed twice")));
            }
            if s.default_volume > s.max_volume {
                return Err(bad(
                    at("default_volume"),
                    format!(
                        "{} is above max_volume ({})",
                        s.default_volume, s.max_volume
                    ),
                ));
            }
            let settings = GuildSettings {
                voice_channel: s.voice_channel.map(|c| ChannelKey(c.0)),
                announce_channel: s.announce_channel.map(|c| ChannelKey(c.0)),
                dj_roles: roles,
                locale: s.locale.map(|l| l.0),
                region: s.region.map(|r| r.0),
                always_on: s.always_on,
                default_volume: s.default_volume,
                max_volume: s.max_volume,
                idle_timeout: Duration::from_secs(s.idle_timeout.0),
                announce_now_playing: s.announce_now_playing,
                setup: s.setup.map(|stamp| SetupStamp {
                    at: stamp.at,
                    by: UserKey(stamp.by.0),
                }),
            };
            guild_settings.insert(guild, settings);
        }
        let mut favourites = BTreeMap::new();
        for (guild, ids) in self.favourites.0 {
            if ids.len() > Favourites::MAX {
                return Err(bad(
                    format!("favourites.{guild}"),
                    format!("{} stations, at most {}", ids.len(), Favourites::MAX),
                ));
            }
            let mut list = Favourites::default();
            for (i, id) in ids.into_iter().enumerate() {
                list.add(id.0)
                    .map_err(|e| bad(format!("favourites.{guild}[{i}]"), e.to_string()))?;
            }
            favourites.insert(guild, list);
        }
        let resume = self
            .resume
            .0
            .into_iter()
            .map(|(guild, r)| {
                let entry = ResumeEntry {
                    voice_channel: ChannelKey(r.voice_channel.0),
                    station: r.station.0,
                    volume: r.volume,
                    text_channel: r.text_channel.map(|c| ChannelKey(c.0)),
                    started_by: r.started_by.map(|u| UserKey(u.0)),
                    since: r.since,
                    title: r.title.map(|t| t.0),
                };
                (guild, entry)
            })
            .collect();
        let plays = self
            .plays
            .0
            .into_iter()
            .map(|(guild, counts)| {
                let counts = counts.0.into_iter().map(|(id, n)| (id.0, n)).collect();
                (guild, counts)
            })
            .collect();
        Ok(StoreDump {
            format: DUMP_FORMAT.to_owned(),
            version: DUMP_VERSION,
            guild_settings,
            favourites,
            resume,
            plays,
        })
    }

    /// What the store holds, as JSON. Values that no import would accept (a store written by a buggy or
    /// tampered build) still export, so an operator can see and fix them by hand.
    fn from_dump(dump: &StoreDump) -> Self {
        let guild_settings = dump
            .guild_settings
            .iter()
            .map(|(guild, s)| {
                let GuildSettings {
                    voice_channel,
                    announce_channel,
                    dj_roles,
                    locale,
                    region,
                    always_on,
                    default_volume,
                    max_volume,
                    idle_timeout,
                    announce_now_playing,
                    setup,
                } = s.clone();
                let json = SettingsJson {
                    voice_channel: voice_channel.map(|c| Snowflake(c.0)),
                    announce_channel: announce_channel.map(|c| Snowflake(c.0)),
                    dj_roles: dj_roles.iter().map(|r| Snowflake(r.0)).collect(),
                    locale: locale.map(Locale),
                    region: region.map(Country),
                    always_on,
                    default_volume,
                    max_volume,
                    idle_timeout: IdleSecs(idle_timeout.as_secs()),
                    announce_now_playing,
                    setup: setup.map(|SetupStamp { at, by }| SetupJson {
                        at,
                        by: Snowflake(by.0),
                    }),
                };
                (*guild, json)
            })
            .collect();
        let favourites = dump
            .favourites
            .iter()
            .map(|(guild, f)| (*guild, f.as_slice().iter().cloned().map(Slug).collect()))
            .collect();
        let resume = dump
            .resume
            .iter()
            .map(|(guild, r)| {
                let ResumeEntry {
                    voice_channel,
                    station,
                    volume,
                    text_channel,
                    started_by,
                    since,
                    title,
                } = r.clone();
                let json = ResumeJson {
                    voice_channel: Snowflake(voice_channel.0),
                    station: Slug(station),
                    volume,
                    text_channel: text_channel.map(|c| Snowflake(c.0)),
                    started_by: started_by.map(|u| Snowflake(u.0)),
                    since,
                    title: title.map(Title),
                };
                (*guild, json)
            })
            .collect();
        // Station ids in the play table were not checked by older releases; one that is not a slug is
        // exported as it is, so the export stays complete (and import then names it).
        let plays = dump
            .plays
            .iter()
            .map(|(guild, counts)| {
                let counts = counts
                    .iter()
                    .map(|(id, n)| (StationKey(id.clone()), *n))
                    .collect();
                (*guild, UniqueMap(counts))
            })
            .collect();
        Self {
            format: Format,
            version: DumpVersion(DUMP_VERSION),
            guild_settings: UniqueMap(guild_settings),
            favourites: UniqueMap(favourites),
            resume: UniqueMap(resume),
            plays: UniqueMap(plays),
        }
    }
}

/// A station id as a key of `plays`: a slug when read; written as stored.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
struct StationKey(String);

impl TryFrom<String> for StationKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        StationId::parse(&s)?;
        Ok(Self(s))
    }
}

impl From<StationKey> for String {
    fn from(k: StationKey) -> Self {
        k.0
    }
}

impl fmt::Display for StationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
