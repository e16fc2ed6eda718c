//! Pack format dispatch: turns the text of one pack file into validated stations plus diagnostics.
//!
//! Each format parser (`toml_pack`, `yaml_pack`, `m3u`, `pls`, `xspf`) is pure and produces [`DraftAt`]s (a draft
//! with the line it starts on); this module validates them with [`StationDraft::validate`] and tells
//! whole-file failures (a syntax error: nothing in the file can be trusted) apart from entry-level ones
//! (that entry is skipped, the rest of the pack loads).

use std::path::Path;
use std::sync::Arc;

use super::model::{
    Diagnostic, DropReason, IdKind, Origin, PackFormat, Station, StationDraft, Validated,
};
use super::{m3u, pls, toml_pack, xspf, yaml_pack};

/// A draft with the 1-based line its entry starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftAt {
    pub draft: StationDraft,
    pub line: u32,
}

/// What a format parser returns when the file as a whole is usable.
#[derive(Debug, Default)]
pub struct RawPack {
    pub drafts: Vec<DraftAt>,
    pub diagnostics: Vec<Diagnostic>,
}

/// The whole file is unusable (unreadable, or a TOML/YAML syntax error). Hot reload keeps the pack's last
/// good version when it sees this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PackError(pub Diagnostic);

/// A successfully parsed pack: its stations (in file order) and every warning or skipped entry.
#[derive(Debug, Default, Clone)]
pub struct ParsedPack {
    pub stations: Vec<PackStation>,
    pub diagnostics: Vec<Diagnostic>,
}

/// One station of a pack, with where its id came from (the merge renames only derived ids).
#[derive(Debug, Clone)]
pub struct PackStation {
    /// Shared with the catalog built from them: a pack kept for reloads costs no second copy.
    pub station: Arc<Station>,
    pub id_kind: IdKind,
}

/// Parses a pack; a whole-file failure becomes the only diagnostic and yields no stations.
pub fn parse_pack(text: &str, format: PackFormat, file: &Path) -> (Vec<Station>, Vec<Diagnostic>) {
    match try_parse_pack(text, format, file) {
        Ok(pack) => (
            pack.stations
                .into_iter()
                .map(|s| Arc::try_unwrap(s.station).unwrap_or_else(|shared| (*shared).clone()))
                .collect(),
            pack.diagnostics,
        ),
        Err(PackError(diagnostic)) => (Vec::new(), vec![diagnostic]),
    }
}

/// Parses a pack, keeping a whole-file failure apart so callers can fall back to a last good version.
pub fn try_parse_pack(
    text: &str,
    format: PackFormat,
    file: &Path,
) -> Result<ParsedPack, PackError> {
    let raw = match format {
        PackFormat::Toml => toml_pack::parse(text, file),
        PackFormat::Yaml => yaml_pack::parse(text, file),
        PackFormat::M3u => Ok(m3u::parse(text, file)),
        PackFormat::Pls => Ok(pls::parse(text, file)),
        PackFormat::Xspf => xspf::parse(text, file),
    }
    .map_err(|PackError(d)| PackError(broken_file(d)))?;
    Ok(validate_all(raw, file))
}

/// Marks a whole-file failure as the reason the file's entries are missing.
pub fn broken_file(mut diagnostic: Diagnostic) -> Diagnostic {
    diagnostic.dropped = Some(DropReason::BrokenFile);
    diagnostic
}

/// Validates every draft; invalid ones become error diagnostics and are skipped.
pub fn validate_all(raw: RawPack, file: &Path) -> ParsedPack {
    let mut out = ParsedPack {
        stations: Vec::with_capacity(raw.drafts.len()),
        diagnostics: raw.diagnostics,
    };
    let base = Origin::file(file);
    for DraftAt { draft, line } in raw.drafts {
        match draft.check(&base.at(line)) {
            Ok(Validated {
                station,
                id_kind,
                warnings,
            }) => {
                out.stations.push(PackStation {
                    station: Arc::new(station),
                    id_kind,
                });
                out.diagnostics.extend(warnings);
            }
            Err(errors) => out.diagnostics.extend(errors),
        }
    }
    // Diagnostics in file order, so the report reads top to bottom.
    out.diagnostics.sort_by_key(|d| d.origin.line.unwrap_or(0));
    out
}

/// A field value as the structured formats (TOML, YAML) give it, reduced to what a station needs.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Str(String),
    Int(i64),
    List(Vec<FieldValue>),
    /// Anything else (a table, a float, a date): named for the message.
    Other(&'static str),
}

impl FieldValue {
    fn kind(&self) -> &'static str {
        match self {
            Self::Str(_) => "a string",
            Self::Int(_) => "an integer",
            Self::List(_) => "a list",
            Self::Other(kind) => kind,
        }
    }
}

/// What [`apply_field`] made of one key.
#[derive(Debug, PartialEq)]
pub enum FieldOutcome {
    Applied,
    /// Not a station field (a typo such as `nmae`): the caller warns with the key's line.
    Unknown,
    /// A known field with a value of the wrong shape: the caller reports it and skips the field.
    Invalid(String),
}

/// Every key the structured formats accept, for the "unknown field" hint.
pub const KNOWN_FIELDS: &[&str] = &[
    "id",
    "name",
    "url",
    "urls",
    "streams",
    "aliases",
    "tags",
    "genres",
    "country",
    "language",
    "codec",
    "format",
    "bitrate",
    "description",
    "homepage",
    "logo",
    "favicon",
];

/// Sets one field of a draft from a TOML/YAML key and value (the same field names and aliases in both).
pub fn apply_field(draft: &mut StationDraft, key: &str, value: FieldValue) -> FieldOutcome {
    fn string(key: &str, value: FieldValue) -> Result<String, String> {
        match value {
            FieldValue::Str(s) => Ok(s),
            // YAML reads `country: 44`-style scalars as numbers; a number is still a usable text.
            FieldValue::Int(i) => Ok(i.to_string()),
            other => Err(format!("`{key}` must be a string, not {}", other.kind())),
        }
    }
    fn strings(key: &str, value: FieldValue) -> Result<Vec<String>, String> {
        match value {
            FieldValue::List(items) => items.into_iter().map(|v| string(key, v)).collect(),
            // A single string where a list is expected is accepted: `tags = "jazz"`.
            single => string(key, single).map(|s| vec![s]),
        }
    }
    let result = match key {
        "id" => string(key, value).map(|v| draft.id = Some(v)),
        "name" => string(key, value).map(|v| draft.name = Some(v)),
        "url" | "urls" | "streams" => strings(key, value).map(|v| draft.streams.extend(v)),
        "aliases" => strings(key, value).map(|v| draft.aliases.extend(v)),
        "tags" | "genres" => strings(key, value).map(|v| draft.tags.extend(v)),
        "country" => string(key, value).map(|v| draft.country = Some(v)),
        "language" => string(key, value).map(|v| draft.language = Some(v)),
        "codec" | "format" => string(key, value).map(|v| draft.codec = Some(v)),
        "bitrate" => match value {
            FieldValue::Int(i) => u32::try_from(i)
                .map(|b| draft.bitrate = Some(b))
                .map_err(|_| format!("`bitrate` {i} is out of range")),
            FieldValue::Str(s) => parse_bitrate(&s)
                .map(|b| draft.bitrate = Some(b))
                .ok_or_else(|| format!("`bitrate` `{s}` is not a number of kbit/s")),
            other => Err(format!("`bitrate` must be a number, not {}", other.kind())),
        },
        "description" => string(key, value).map(|v| draft.description = Some(v)),
        "homepage" => string(key, value).map(|v| draft.homepage = Some(v)),
        "logo" | "favicon" => string(key, value).map(|v| draft.logo = Some(v)),
        _ => return FieldOutcome::Unknown,
    };
    match result {
        Ok(()) => FieldOutcome::Applied,
        Err(message) => FieldOutcome::Invalid(message),
    }
}

/// Accepts `128`, `128k`, `128 kbps`, `128kbit/s`.
pub fn parse_bitrate(raw: &str) -> Option<u32> {
    let trimmed = raw.trim();
    let rest = trimmed.trim_start_matches(|c: char| c.is_ascii_digit());
    let digits = trimmed.strip_suffix(rest).unwrap_or_default();
    let rest = rest.trim().to_ascii_lowercase();
    if !matches!(
        rest.as_str(),
        "" | "k" | "kbps" | "kbit/s" | "kb/s" | "kbit"
    ) {
        return None;
    }
    digits.parse().ok()
}

/// Longest key we look for a typo in: every known field is at most 11 characters, so a key more than 2
/// edits longer cannot be within distance 2 (and an 8 MB key must not cost a quadratic table).
const MAX_SUGGEST_KEY_CHARS: usize = 16;

/// The closest known field name to a typo, for "did you mean" hints.
pub fn suggest_field(key: &str) -> Option<&'static str> {
    if key.chars().nth(MAX_SUGGEST_KEY_CHARS).is_some() {
        return None;
    }
    KNOWN_FIELDS
        .iter()
        .map(|known| (strsim_distance(key, known), *known))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions: `nmae` → `name` is 1),
/// with three rolling rows instead of a full table.
fn strsim_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = Vec::new(); // row i-2
    let mut previous: Vec<usize> = (0..=b.len()).collect(); // row i-1
    for (i, &ca) in a.iter().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, &cb) in b.iter().enumerate() {
            let at = |row: &[usize], k: usize| row.get(k).copied().unwrap_or(usize::MAX - 1);
            let cost = usize::from(ca != cb);
            let mut d = (at(&previous, j + 1) + 1)
                .min(at(&current, j) + 1)
                .min(at(&previous, j) + cost);
            let transposed =
                i > 0 && j > 0 && a.get(i - 1) == Some(&cb) && b.get(j - 1) == Some(&ca);
            if transposed {
                d = d.min(at(&before, j - 1) + 1);
            }
            current.push(d);
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous.last().copied().unwrap_or_default()
}

/// The warning for an unknown key, with a hint when it looks like a typo.
pub fn unknown_field_message(key: &str) -> String {
    match suggest_field(key) {
        Some(known) => format!("unknown field `{key}` (did you mean `{known}`?); ignored"),
        None => format!("unknown field `{key}`; ignored"),
    }
}

/// Byte offset → line lookups in O(log n) (a linear scan per entry made big packs quadratic).
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(
                text.bytes()
                    .enumerate()
                    .filter(|&(_, b)| b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        Self { starts }
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> u32 {
        let line = self.starts.partition_point(|&start| start <= offset);
        u32::try_from(line.max(1)).unwrap_or(u32::MAX)
    }
}

/// 1-based line of a byte offset in `text` (one-off; use [`LineIndex`] for many lookups).
pub fn line_of(text: &str, offset: usize) -> u32 {
    let prefix = text.as_bytes().get(..offset).unwrap_or(text.as_bytes());
    let lines = prefix.split(|&b| b == b'\n').count();
    u32::try_from(lines).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0, 1)]
    #[case(3, 1)]
    #[case(4, 2)]
    #[case(100, 3)]
    fn line_of_offsets(#[case] offset: usize, #[case] line: u32) {
        assert_eq!(line_of("abc\ndef\nx", offset), line);
        assert_eq!(LineIndex::new("abc\ndef\nx").line(offset), line);
    }

    #[rstest]
    #[case::toml(
        PackFormat::Toml,
        "[[station]]\nname = \"A\"\nurl = \"http://a.example/\"\n"
    )]
    #[case::yaml(
        PackFormat::Yaml,
        "stations:\n  - name: A\n    url: http://a.example/\n"
    )]
    #[case::m3u(PackFormat::M3u, "#EXTM3U\n#EXTINF:-1,A\nhttp://a.example/\n")]
    #[case::pls(
        PackFormat::Pls,
        "[playlist]\nFile1=http://a.example/\nTitle1=A\nNumberOfEntries=1\n"
    )]
    fn every_format_dispatches(#[case] format: PackFormat, #[case] text: &str) {
        let (stations, diags) = parse_pack(text, format, Path::new("p"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stations.len(), 1);
        assert_eq!(stations[0].name, "A");
        assert_eq!(stations[0].id.as_str(), "a");
    }

    #[test]
    fn whole_file_failure_is_one_error_and_no_stations() {
        let (stations, diags) = parse_pack("[[station]\n", PackFormat::Toml, Path::new("bad.toml"));
        assert!(stations.is_empty());
        assert_eq!(diags.len(), 1);
        assert!(
            diags[0].to_string().starts_with("bad.toml:1: error:"),
            "{}",
            diags[0]
        );
    }
}
