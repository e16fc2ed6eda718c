//! The station model: what a station is once validated, and the loosely-typed draft that pack parsers
//! fill in before validation. Validation is the only way to get a [`Station`], so every station in the
//! catalog has a slug id, a name and at least one http(s) stream URL.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use url::Url;

/// Longest id we accept: ids travel in Discord `custom_id`s and autocomplete values (≤ 100 chars).
pub const MAX_ID_LEN: usize = 64;

/// A stable station id: a lowercase ASCII slug (`bbc-radio-1`), derived from the name when not given.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StationId(Arc<str>);

impl StationId {
    /// Accepts an id that is already a valid slug (what [`slugify`] produces), else says why not.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("id is empty".to_owned());
        }
        if raw.len() > MAX_ID_LEN {
            return Err(format!("id `{raw}` is longer than {MAX_ID_LEN} characters"));
        }
        let valid = raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-')
            && !raw.contains("--");
        if !valid {
            return Err(format!(
                "id `{raw}` is not a slug (lowercase letters, digits and single dashes, e.g. `{}`)",
                slugify(raw)
            ));
        }
        Ok(Self(Arc::from(raw)))
    }

    /// Derives an id from a display name ("Antenne Thüringen" → `antenne-thuringen`).
    pub fn from_name(name: &str) -> Result<Self, String> {
        let slug = slugify(name);
        if slug.is_empty() {
            return Err(format!(
                "cannot derive an id from name `{name}`; give an explicit `id`"
            ));
        }
        Self::parse(&slug)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lowercase ASCII slug: transliterates (ü → u, ß → ss), keeps `[a-z0-9]`, turns every other run into one
/// dash, and trims to [`MAX_ID_LEN`] without a trailing dash.
pub fn slugify(text: &str) -> String {
    let ascii = deunicode::deunicode(text).to_ascii_lowercase();
    let mut slug = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(MAX_ID_LEN);
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

/// Folds text for matching: transliterated to ASCII and lowercased ("Thüringen" → "thuringen").
pub fn fold(text: &str) -> String {
    deunicode::deunicode(text).to_lowercase()
}

/// Audio codec/format hint of a station, from its pack (or learned by `stations check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Mp3,
    Aac,
    /// HE-AAC (AAC+), v1 or v2.
    HeAac,
    Vorbis,
    Opus,
    Flac,
    /// An HLS playlist (segments in AAC/MP3/TS/fMP4).
    Hls,
}

impl Codec {
    /// Parses the loose spellings found in packs (`MP3`, `audio/mpeg`, `aac+`, `ogg`, `m3u8`, …).
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim().to_ascii_lowercase();
        Some(match s.as_str() {
            "mp3" | "mpeg" | "audio/mpeg" | "audio/mp3" | "mpga" => Self::Mp3,
            "aac" | "aac-lc" | "audio/aac" | "audio/aacp" | "adts" | "m4a" | "mp4a" => Self::Aac,
            "he-aac" | "heaac" | "aac+" | "aacp" | "he-aacv2" | "aac+v2" => Self::HeAac,
            "vorbis" | "ogg" | "ogg/vorbis" | "audio/ogg" | "application/ogg" => Self::Vorbis,
            "opus" | "ogg/opus" | "audio/opus" => Self::Opus,
            "flac" | "audio/flac" => Self::Flac,
            "hls" | "m3u8" | "application/vnd.apple.mpegurl" | "application/x-mpegurl" => Self::Hls,
            _ => return None,
        })
    }

    /// Short badge text for embeds and tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::Mp3 => "MP3",
            Self::Aac => "AAC",
            Self::HeAac => "HE-AAC",
            Self::Vorbis => "Vorbis",
            Self::Opus => "Opus",
            Self::Flac => "FLAC",
            Self::Hls => "HLS",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Where a station (or a problem) was found: a pack file and a 1-based line, when known.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// Shared by every station of a pack ([`Origin::at`] clones the `Arc`): one path per file, not per
    /// station, which matters at 50,000 stations.
    pub file: Arc<Path>,
    pub line: Option<u32>,
}

impl Origin {
    pub fn new(file: impl Into<PathBuf>, line: Option<u32>) -> Self {
        Self {
            file: Arc::from(file.into()),
            line,
        }
    }

    pub fn file(file: impl Into<PathBuf>) -> Self {
        Self::new(file, None)
    }

    #[must_use]
    pub fn at(&self, line: u32) -> Self {
        Self {
            file: Arc::clone(&self.file),
            line: Some(line),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// How bad a [`Diagnostic`] is: errors skip the entry (or file), warnings keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// Why an entry of a pack (or a whole pack file) did not become a station. Exactly one diagnostic per
/// dropped entry carries its reason, so counting reasons counts dropped entries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "scheme")]
pub enum DropReason {
    /// The only stream URLs use a scheme no HTTP client plays (`rtmp`, `mms`, `rtsp`, `file`); the scheme
    /// of the first one is kept for the summary.
    NotHttp(String),
    /// An `#EXTINF`, PLS entry, XSPF track or structured entry without any stream URL.
    NoUrl,
    /// The URL is not an absolute URL (a relative path, words, a URL without a host).
    NotAUrl,
    /// The name is empty (after removing control and invisible characters) and nothing names it.
    NoName,
    /// A line that is no part of the format (a PLS line without `=`).
    GarbageLine,
    /// An explicit `id` that is not a slug, or another station already has it.
    BadId,
    /// The whole file: unreadable, or a syntax error that leaves nothing in it trustworthy.
    BrokenFile,
}

impl DropReason {
    /// The summary wording: "900 not http(s)".
    pub fn label(&self) -> &'static str {
        match self {
            Self::NotHttp(_) => "not http(s)",
            Self::NoUrl => "no URL",
            Self::NotAUrl => "not a URL",
            Self::NoName => "no name",
            Self::GarbageLine => "garbage line",
            Self::BadId => "bad or duplicate id",
            Self::BrokenFile => "broken file",
        }
    }
}

/// A problem in a pack, rendered as `file:line: message` so editors can jump to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Diagnostic {
    pub origin: Origin,
    pub severity: Severity,
    pub message: String,
    /// Set on the one diagnostic that says why an entry (or file) was dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<DropReason>,
}

impl Diagnostic {
    pub fn error(origin: Origin, message: impl Into<String>) -> Self {
        Self {
            origin,
            severity: Severity::Error,
            message: message.into(),
            dropped: None,
        }
    }

    pub fn warning(origin: Origin, message: impl Into<String>) -> Self {
        Self {
            origin,
            severity: Severity::Warning,
            message: message.into(),
            dropped: None,
        }
    }

    /// An error that dropped an entry (or a file) for `reason`.
    pub fn dropped(origin: Origin, reason: DropReason, message: impl Into<String>) -> Self {
        Self {
            dropped: Some(reason),
            ..Self::error(origin, message)
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{}: {level}: {}", self.origin, self.message)
    }
}

/// A validated station. Build one with [`StationDraft::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Station {
    pub id: StationId,
    pub name: String,
    /// Stream URLs in order of preference: the first is tried first, the rest are fallbacks.
    /// INVARIANT: non-empty, every URL is http or https.
    pub streams: Vec<Url>,
    pub aliases: Vec<String>,
    /// Genres and other tags, lowercase.
    pub tags: Vec<String>,
    /// ISO 3166-1 alpha-2 country code, uppercase, when known.
    pub country: Option<String>,
    /// Language (BCP-47 or a plain name), when known.
    pub language: Option<String>,
    pub codec: Option<Codec>,
    /// Nominal bitrate in kbit/s.
    pub bitrate: Option<u32>,
    pub description: Option<String>,
    /// Boxed: an inline `Url` is 88 bytes, and most stations have neither (8 MB per 50,000 stations).
    pub homepage: Option<Box<Url>>,
    pub logo: Option<Box<Url>>,
    /// Where the station was defined.
    pub origin: Origin,
}

impl Station {
    /// The preferred stream URL.
    pub fn primary_stream(&self) -> &Url {
        // INVARIANT: validate() refuses a station without streams.
        #[allow(clippy::indexing_slicing)] // in range: `streams` is never empty (see above)
        &self.streams[0]
    }
}

/// A station as written in a pack, before validation. Parsers fill what their format has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StationDraft {
    /// An id the pack author chose (TOML/YAML `id`): must already be a slug, and is never renamed.
    pub id: Option<String>,
    /// An id suggestion from a format that does not promise slugs (M3U `tvg-id` such as `ATV.ad`):
    /// slugified, and disambiguated like a name-derived id when it collides.
    pub id_hint: Option<String>,
    pub name: Option<String>,
    pub streams: Vec<String>,
    pub aliases: Vec<String>,
    pub tags: Vec<String>,
    pub country: Option<String>,
    pub language: Option<String>,
    pub codec: Option<String>,
    pub bitrate: Option<u32>,
    pub description: Option<String>,
    pub homepage: Option<String>,
    pub logo: Option<String>,
}

/// Longest station name we keep: Discord autocomplete choice names are ≤ 100 characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Most aliases (and tags) one station keeps; the rest are dropped with a warning. Search indexes every
/// alias, so an unbounded list is unbounded work per keystroke.
pub const MAX_ALIASES: usize = 32;
pub const MAX_TAGS: usize = 32;
/// Longest alias or tag kept, in characters (longer ones are dropped with a warning).
pub const MAX_ALIAS_CHARS: usize = 100;
pub const MAX_TAG_CHARS: usize = 50;
/// Most stream URLs (mirrors) one station keeps.
pub const MAX_STREAMS: usize = 32;

/// Whether a station's id was written by the pack author or derived by us; only derived ids are ever
/// disambiguated when two stations would share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Explicit,
    Derived,
}

/// A validated station with the warnings it produced and where its id came from.
#[derive(Debug)]
pub struct Validated {
    pub station: Station,
    pub id_kind: IdKind,
    pub warnings: Vec<Diagnostic>,
}

impl StationDraft {
    /// Checks and normalises the draft. An error skips the station (`Err` carries every reason); problems
    /// that do not prevent playing (a bad homepage, an unknown codec) become warnings on a kept station.
    pub fn validate(self, origin: &Origin) -> Result<(Station, Vec<Diagnostic>), Vec<Diagnostic>> {
        self.check(origin).map(|v| (v.station, v.warnings))
    }

    /// Like [`validate`](Self::validate), also saying whether the id was explicit. Exactly one of the
    /// errors of a refused draft carries a [`DropReason`].
    // One pass over the fields, in the order a person reads a pack entry.
    #[allow(clippy::too_many_lines)]
    pub fn check(self, origin: &Origin) -> Result<Validated, Vec<Diagnostic>> {
        // (diagnostic, reason if it were the one that drops the entry)
        let mut errors: Vec<(Diagnostic, DropReason)> = Vec::new();
        let mut warnings = Vec::new();

        let name = validate_name(self.name.as_deref(), origin, &mut warnings, &mut errors);

        let explicit = self
            .id
            .as_deref()
            .map(str::trim)
            .filter(|raw| !raw.is_empty());
        // A hint without a letter (`tvg-id="29"`, a row number in some lists) names nothing: the name
        // makes the better id then.
        let hint = self
            .id_hint
            .as_deref()
            .map(slugify)
            .filter(|slug| slug.bytes().any(|b| b.is_ascii_lowercase()));
        let (id, id_kind) = match (explicit, hint, &name) {
            (Some(raw), _, _) => (StationId::parse(raw), IdKind::Explicit),
            (None, Some(slug), _) => (StationId::parse(&slug), IdKind::Derived),
            (None, None, Some(name)) => (StationId::from_name(name), IdKind::Derived),
            (None, None, None) => (
                Err("station has neither id nor name".to_owned()),
                IdKind::Derived,
            ),
        };
        let id = id
            .map_err(|e| {
                // A missing name already says why; a bad explicit id is its own reason.
                errors.push((Diagnostic::error(origin.clone(), e), DropReason::BadId));
            })
            .ok();

        let streams = validate_streams(&self.streams, origin, &mut warnings, &mut errors);

        let codec = self
            .codec
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .and_then(|raw| {
                let parsed = Codec::parse(raw);
                if parsed.is_none() {
                    warnings.push(Diagnostic::warning(
                        origin.clone(),
                        format!("unknown codec/format `{}`; ignored", clean_text(raw)),
                    ));
                }
                parsed
            });

        let mut optional_url = |field: &str, raw: Option<String>| {
            raw.filter(|r| !r.trim().is_empty())
                .and_then(|raw| match parse_http_url(&raw) {
                    Ok(url) => Some(Box::new(url)),
                    Err(e) => {
                        warnings.push(Diagnostic::warning(
                            origin.clone(),
                            format!("{field} {}; ignored", e.message),
                        ));
                        None
                    }
                })
        };
        let homepage = optional_url("homepage", self.homepage);
        let logo = optional_url("logo", self.logo);

        let country = self
            .country
            .map(|c| clean_text(&c))
            .filter(|c| !c.is_empty())
            .map(|c| {
                if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()) {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            });

        let (Some(id), Some(name), true) = (id, name, errors.is_empty()) else {
            return Err(mark_drop(errors));
        };
        let aliases = capped_list(
            self.aliases.iter().map(|a| clean_text(a)),
            ("alias", MAX_ALIASES, MAX_ALIAS_CHARS),
            origin,
            &mut warnings,
        );
        let tags = capped_list(
            self.tags.iter().map(|t| clean_text(t).to_lowercase()),
            ("tag", MAX_TAGS, MAX_TAG_CHARS),
            origin,
            &mut warnings,
        );
        let station = Station {
            aliases,
            tags,
            country,
            language: self
                .language
                .map(|l| clean_text(&l))
                .filter(|l| !l.is_empty()),
            codec,
            bitrate: self.bitrate.filter(|&b| b > 0),
            description: self
                .description
                .map(|d| clean_text(&d))
                .filter(|d| !d.is_empty()),
            homepage,
            logo,
            id,
            name,
            streams,
            origin: origin.clone(),
        };
        Ok(Validated {
            station,
            id_kind,
            warnings,
        })
    }
}

/// Keeps every error, and marks the one that explains the drop best: a stream problem (the thing a person
/// fixes first), else the name, else the id.
fn mark_drop(errors: Vec<(Diagnostic, DropReason)>) -> Vec<Diagnostic> {
    let rank = |reason: &DropReason| match reason {
        DropReason::NotHttp(_) | DropReason::NotAUrl | DropReason::NoUrl => 0,
        DropReason::NoName => 1,
        _ => 2,
    };
    let best = errors
        .iter()
        .enumerate()
        .min_by_key(|(_, (_, reason))| rank(reason))
        .map(|(i, _)| i);
    errors
        .into_iter()
        .enumerate()
        .map(|(i, (mut diagnostic, reason))| {
            if Some(i) == best {
                diagnostic.dropped = Some(reason);
            }
            diagnostic
        })
        .collect()
}

/// Cleans, shortens and deduplicates (case-insensitively) a list, keeping at most `max` items of at
/// most `max_chars` characters; what is cut is one warning per list.
fn capped_list(
    items: impl Iterator<Item = String>,
    (what, max, max_chars): (&str, usize, usize),
    origin: &Origin,
    warnings: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let (mut too_long, mut too_many) = (0usize, 0usize);
    for item in items {
        if item.is_empty() {
            continue;
        }
        if item.chars().count() > max_chars {
            too_long += 1;
            continue;
        }
        if !seen.insert(item.to_lowercase()) {
            continue;
        }
        if out.len() >= max {
            too_many += 1;
            continue;
        }
        out.push(item);
    }
    if too_long > 0 {
        warnings.push(Diagnostic::warning(
            origin.clone(),
            format!("{too_long} {what}(es) longer than {max_chars} characters; ignored"),
        ));
    }
    if too_many > 0 {
        warnings.push(Diagnostic::warning(
            origin.clone(),
            format!("more than {max} {what}(es); {too_many} ignored"),
        ));
    }
    out
}

/// Cleans and collapses the name, shortening it to Discord's limit (a warning) or refusing an empty one.
fn validate_name(
    raw: Option<&str>,
    origin: &Origin,
    warnings: &mut Vec<Diagnostic>,
    errors: &mut Vec<(Diagnostic, DropReason)>,
) -> Option<String> {
    let name = raw.map(clean_text).filter(|n| !n.is_empty());
    match name {
        Some(name) if name.chars().count() > MAX_NAME_CHARS => {
            warnings.push(Diagnostic::warning(
                origin.clone(),
                format!("name is longer than {MAX_NAME_CHARS} characters; shortened"),
            ));
            Some(name.chars().take(MAX_NAME_CHARS).collect())
        }
        Some(name) => Some(name),
        None => {
            errors.push((
                Diagnostic::error(origin.clone(), "station has no name"),
                DropReason::NoName,
            ));
            None
        }
    }
}

/// Parses the stream URLs in order (mirrors: the first is tried first), dropping duplicates (a warning).
/// A URL that cannot be played is an error when no URL of the station can be, else a warning and the
/// station keeps its playable mirrors.
fn validate_streams(
    raws: &[String],
    origin: &Origin,
    warnings: &mut Vec<Diagnostic>,
    errors: &mut Vec<(Diagnostic, DropReason)>,
) -> Vec<Url> {
    let mut streams = Vec::new();
    let mut seen: HashSet<Url> = HashSet::new();
    let mut bad: Vec<(String, DropReason)> = Vec::new();
    let mut duplicates = 0usize;
    for raw in raws {
        match parse_http_url(raw) {
            Ok(url) if seen.contains(&url) => {
                duplicates += 1;
                if duplicates == 1 {
                    warnings.push(Diagnostic::warning(
                        origin.clone(),
                        format!("duplicate stream URL `{}`", clean_text(raw)),
                    ));
                }
            }
            Ok(url) if streams.len() >= MAX_STREAMS => {
                seen.insert(url);
            }
            Ok(url) => {
                seen.insert(url.clone());
                streams.push(url);
            }
            Err(e) => bad.push((format!("stream {}", e.message), e.reason)),
        }
    }
    if duplicates > 1 {
        warnings.push(Diagnostic::warning(
            origin.clone(),
            format!("{} more duplicate stream URLs ignored", duplicates - 1),
        ));
    }
    if seen.len() > MAX_STREAMS {
        warnings.push(Diagnostic::warning(
            origin.clone(),
            format!(
                "more than {MAX_STREAMS} stream URLs; {} ignored",
                seen.len() - MAX_STREAMS
            ),
        ));
    }
    if raws.is_empty() {
        errors.push((
            Diagnostic::error(origin.clone(), "station has no stream URL"),
            DropReason::NoUrl,
        ));
    } else if streams.is_empty() {
        errors.extend(
            bad.into_iter()
                .map(|(message, reason)| (Diagnostic::error(origin.clone(), message), reason)),
        );
    } else {
        warnings.extend(bad.into_iter().map(|(message, _)| {
            Diagnostic::warning(
                origin.clone(),
                format!("{message}; skipped, other URLs kept"),
            )
        }));
    }
    streams
}

/// Why a text is not a playable URL, and the [`DropReason`] that makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    pub message: String,
    pub reason: DropReason,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Longest URL quoted back in a message (a 1 MB garbage line must not make a 1 MB diagnostic).
const MAX_QUOTED_CHARS: usize = 200;

fn quoted(raw: &str) -> String {
    let clean = clean_text(raw);
    if clean.chars().count() > MAX_QUOTED_CHARS {
        let mut short: String = clean.chars().take(MAX_QUOTED_CHARS).collect();
        short.push('…');
        short
    } else {
        clean
    }
}

/// Parses an absolute http(s) URL; other schemes are refused with a reason.
pub fn parse_http_url(raw: &str) -> Result<Url, UrlError> {
    let url = Url::parse(raw.trim()).map_err(|e| UrlError {
        message: format!("URL `{}` is not a valid URL ({e})", quoted(raw)),
        reason: DropReason::NotAUrl,
    })?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(UrlError {
            message: format!("URL `{}` has no host", quoted(raw)),
            reason: DropReason::NotAUrl,
        }),
        other => Err(UrlError {
            message: format!(
                "URL `{}` uses `{other}:`; only http and https are accepted",
                quoted(raw)
            ),
            reason: DropReason::NotHttp(other.to_owned()),
        }),
    }
}

/// Whether a character must never reach a name or message: controls (including newlines and tabs,
/// which become spaces first) and the bidi embedding/override/isolate characters that can make a name
/// display as something else (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F marks).
pub fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Zero-width characters: kept inside a name (joiners matter in some scripts) but a name made only of
/// them (and spaces) is empty.
pub fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Pack text as a person should see it: tabs and newlines become spaces, other controls and bidi
/// overrides are removed, whitespace is collapsed, and a text of only zero-width characters is empty.
pub fn clean_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        // A word of only zero-width characters is invisible: it must not keep a name alive.
        if !word
            .chars()
            .any(|c| !is_hidden_control(c) && !is_zero_width(c))
        {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().filter(|&c| !is_hidden_control(c)));
    }
    out
}

/// Pack files are recognised by extension; everything else under `stations/` is ignored (READMEs, etc.).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackFormat {
    Toml,
    Yaml,
    M3u,
    Pls,
    Xspf,
}

impl PackFormat {
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "toml" => Self::Toml,
            "yaml" | "yml" => Self::Yaml,
            "m3u" | "m3u8" => Self::M3u,
            "pls" => Self::Pls,
            "xspf" => Self::Xspf,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::plain("BBC Radio 1", "bbc-radio-1")]
    #[case::umlaut("Antenne Thüringen", "antenne-thuringen")]
    #[case::eszett("Radio Straße", "radio-strasse")]
    #[case::punctuation("  Jazz -- & Blues!! ", "jazz-blues")]
    #[case::accents("Radio Nova (Île-de-France)", "radio-nova-ile-de-france")]
    #[case::only_symbols("!!!", "")]
    fn slugify_cases(#[case] name: &str, #[case] slug: &str) {
        assert_eq!(slugify(name), slug);
    }

    #[test]
    fn slugify_truncates_without_trailing_dash() {
        let long = "word ".repeat(40);
        let slug = slugify(&long);
        assert!(slug.len() <= MAX_ID_LEN);
        assert!(!slug.ends_with('-'));
        assert!(StationId::parse(&slug).is_ok());
    }

    #[rstest]
    #[case::upper("BBC")]
    #[case::space("bbc radio")]
    #[case::double_dash("bbc--1")]
    #[case::leading_dash("-bbc")]
    #[case::empty("")]
    fn rejects_non_slug_ids(#[case] raw: &str) {
        assert!(StationId::parse(raw).is_err());
    }

    fn draft(name: &str, url: &str) -> StationDraft {
        StationDraft {
            name: Some(name.into()),
            streams: vec![url.into()],
            ..StationDraft::default()
        }
    }

    #[test]
    fn validate_derives_id_and_normalises() {
        let mut d = draft("  Antenne   Thüringen ", "https://example.org/live.mp3");
        d.tags = vec!["Pop".into(), "pop".into(), " Hits ".into()];
        d.country = Some("de".into());
        d.codec = Some("audio/mpeg".into());
        let (s, warnings) = d.validate(&Origin::new("p.toml", Some(3))).expect("valid");
        assert!(warnings.is_empty());
        assert_eq!(s.id.as_str(), "antenne-thuringen");
        assert_eq!(s.name, "Antenne Thüringen");
        assert_eq!(s.tags, vec!["pop", "hits"]);
        assert_eq!(s.country.as_deref(), Some("DE"));
        assert_eq!(s.codec, Some(Codec::Mp3));
    }

    #[test]
    fn validate_refuses_non_http_urls_with_location() {
        let errors = draft("X", "rtsp://example.org/x")
            .validate(&Origin::new("p.toml", Some(7)))
            .expect_err("bad");
        let text = errors[0].to_string();
        assert!(text.starts_with("p.toml:7: error:"), "{text}");
        assert!(text.contains("only http and https"), "{text}");
    }

    #[test]
    fn validate_reports_every_problem() {
        let d = StationDraft {
            streams: vec!["ftp://x".into()],
            ..StationDraft::default()
        };
        let errors = d.validate(&Origin::file("p.toml")).expect_err("bad");
        assert!(errors.len() >= 2, "{errors:?}");
    }

    #[test]
    fn bad_optional_fields_are_warnings() {
        let mut d = draft("X", "http://example.org/");
        d.homepage = Some("not a url".into());
        d.codec = Some("wma9".into());
        let (s, warnings) = d.validate(&Origin::file("p.toml")).expect("valid");
        assert_eq!(s.homepage, None);
        assert_eq!(warnings.len(), 2);
    }

    #[test]
    fn long_names_are_shortened_for_discord() {
        let (s, warnings) = draft(&"n".repeat(150), "http://example.org/")
            .validate(&Origin::file("p"))
            .expect("ok");
        assert_eq!(s.name.chars().count(), MAX_NAME_CHARS);
        assert_eq!(warnings.len(), 1);
    }
}
