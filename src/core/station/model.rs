//! The station model: what a station is once validated, and the loosely-typed draft that pack parsers
//! fill in before validation. Validation is the only way to get a [`Station`], so every station in the
//! catalog has a slug id, a name and at least one http(s) stream URL.

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

/// A problem in a pack, rendered as `file:line: message` so editors can jump to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Diagnostic {
    pub origin: Origin,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn error(origin: Origin, message: impl Into<String>) -> Self {
        Self {
            origin,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub fn warning(origin: Origin, message: impl Into<String>) -> Self {
        Self {
            origin,
            severity: Severity::Warning,
            message: message.into(),
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
        &self.streams[0]
    }
}

/// A station as written in a pack, before validation. Parsers fill what their format has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StationDraft {
    pub id: Option<String>,
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

impl StationDraft {
    /// Checks and normalises the draft. An error skips the station (`Err` carries every reason); problems
    /// that do not prevent playing (a bad homepage, an unknown codec) become warnings on a kept station.
    pub fn validate(self, origin: &Origin) -> Result<(Station, Vec<Diagnostic>), Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();

        let name = validate_name(self.name.as_deref(), origin, &mut warnings, &mut errors);

        let id = match (self.id.as_deref().map(str::trim), &name) {
            (Some(raw), _) if !raw.is_empty() => StationId::parse(raw),
            (_, Some(name)) => StationId::from_name(name),
            (_, None) => Err("station has neither id nor name".to_owned()),
        };
        let id = id
            .map_err(|e| errors.push(Diagnostic::error(origin.clone(), e)))
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
                        format!("unknown codec/format `{raw}`; ignored"),
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
                            format!("{field} {e}; ignored"),
                        ));
                        None
                    }
                })
        };
        let homepage = optional_url("homepage", self.homepage);
        let logo = optional_url("logo", self.logo);

        let country = self
            .country
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .map(|c| {
                if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()) {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            });

        let (Some(id), Some(name), true) = (id, name, errors.is_empty()) else {
            return Err(errors);
        };
        let station = Station {
            aliases: dedup_nonempty(self.aliases.iter().map(|a| collapse_whitespace(a.trim()))),
            tags: dedup_nonempty(
                self.tags
                    .iter()
                    .map(|t| collapse_whitespace(t.trim()).to_lowercase()),
            ),
            country,
            language: self
                .language
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty()),
            codec,
            bitrate: self.bitrate.filter(|&b| b > 0),
            description: self
                .description
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty()),
            homepage,
            logo,
            id,
            name,
            streams,
            origin: origin.clone(),
        };
        Ok((station, warnings))
    }
}

/// Trims and collapses the name, shortening it to Discord's limit (a warning) or refusing an empty one.
fn validate_name(
    raw: Option<&str>,
    origin: &Origin,
    warnings: &mut Vec<Diagnostic>,
    errors: &mut Vec<Diagnostic>,
) -> Option<String> {
    let name = raw
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(collapse_whitespace);
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
            errors.push(Diagnostic::error(origin.clone(), "station has no name"));
            None
        }
    }
}

/// Parses the stream URLs in order, dropping duplicates (a warning); any non-http(s) URL is an error.
fn validate_streams(
    raws: &[String],
    origin: &Origin,
    warnings: &mut Vec<Diagnostic>,
    errors: &mut Vec<Diagnostic>,
) -> Vec<Url> {
    let mut streams = Vec::new();
    for raw in raws {
        match parse_http_url(raw) {
            Ok(url) if !streams.contains(&url) => streams.push(url),
            Ok(_) => warnings.push(Diagnostic::warning(
                origin.clone(),
                format!("duplicate stream URL `{raw}`"),
            )),
            Err(e) => errors.push(Diagnostic::error(origin.clone(), format!("stream {e}"))),
        }
    }
    if raws.is_empty() {
        errors.push(Diagnostic::error(
            origin.clone(),
            "station has no stream URL",
        ));
    }
    streams
}

/// Parses an absolute http(s) URL; other schemes are refused with a reason.
pub fn parse_http_url(raw: &str) -> Result<Url, String> {
    let url =
        Url::parse(raw.trim()).map_err(|e| format!("URL `{raw}` is not a valid URL ({e})"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(format!("URL `{raw}` has no host")),
        other => Err(format!(
            "URL `{raw}` uses `{other}:`; only http and https are accepted"
        )),
    }
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn dedup_nonempty(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !item.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(&item)) {
            out.push(item);
        }
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
}

impl PackFormat {
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "toml" => Self::Toml,
            "yaml" | "yml" => Self::Yaml,
            "m3u" | "m3u8" => Self::M3u,
            "pls" => Self::Pls,
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
