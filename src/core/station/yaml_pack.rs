//! YAML packs: a `stations:` list of entries with the TOML fields, and the older `radios:` map form
//! (`"BBC Radio 1": {url: …, aliases: […], bitrate: 128, format: mp3}`, the key is the name). Pure.
//!
//! Parsing goes through `serde_norway` (a maintained `serde_yaml` fork), whose values carry no positions, so
//! entry lines come from a small scan of the block structure under the top-level key; entries written
//! in flow style (`radios: {a: {…}, b: {…}}`) are reported at the top-level key's line instead.

use std::path::Path;

use serde_norway::Value;

use super::model::{Diagnostic, DropReason, Origin, StationDraft};
use super::pack::{
    DraftAt, FieldOutcome, FieldValue, PackError, RawPack, apply_field, unknown_field_message,
};

pub fn parse(text: &str, file: &Path) -> Result<RawPack, PackError> {
    let origin = Origin::file(file);
    let mut pack = RawPack::default();
    if text.trim().is_empty() {
        return Ok(pack);
    }
    if let Some(line) = too_deep(text) {
        return Err(PackError(Diagnostic::error(
            origin.at(line),
            format!("invalid YAML: nested deeper than {MAX_FLOW_DEPTH} levels"),
        )));
    }
    let value: Value = serde_norway::from_str(text).map_err(|e| {
        let line = e
            .location()
            .map_or(1, |l| u32::try_from(l.line()).unwrap_or(u32::MAX));
        PackError(Diagnostic::error(
            origin.at(line),
            format!("invalid YAML: {e}"),
        ))
    })?;
    let Value::Mapping(top) = value else {
        if value.is_null() {
            return Ok(pack);
        }
        return Err(PackError(Diagnostic::error(
            origin.at(1),
            "a YAML pack must be a mapping with a `stations:` list or a `radios:` map",
        )));
    };

    for (key, value) in top {
        let key_name = key.as_str().unwrap_or_default().to_owned();
        let key_line = top_key_line(text, &key_name);
        match (key_name.as_str(), value) {
            ("stations", Value::Sequence(items)) => {
                let lines = entry_lines(text, key_line, true, items.len());
                for (item, line) in items.into_iter().zip(lines) {
                    let mut draft = StationDraft::default();
                    if let Value::Mapping(fields) = item {
                        fill(&mut draft, fields, &origin.at(line), &mut pack.diagnostics);
                    } else {
                        pack.diagnostics.push(Diagnostic::dropped(
                            origin.at(line),
                            DropReason::GarbageLine,
                            "a `stations:` entry must be a mapping of fields",
                        ));
                        continue;
                    }
                    pack.drafts.push(DraftAt { draft, line });
                }
            }
            ("radios", Value::Mapping(radios)) => {
                let lines = entry_lines(text, key_line, false, radios.len());
                for ((name, item), line) in radios.into_iter().zip(lines) {
                    let mut draft = StationDraft {
                        name: scalar_text(&name),
                        ..StationDraft::default()
                    };
                    match item {
                        Value::Mapping(fields) => {
                            fill(&mut draft, fields, &origin.at(line), &mut pack.diagnostics);
                        }
                        // `"Name": http://…` shorthand.
                        Value::String(url) => draft.streams.push(url),
                        _ => {
                            pack.diagnostics.push(Diagnostic::dropped(
                                origin.at(line),
                                DropReason::GarbageLine,
                                "a `radios:` entry must map a name to fields or to a URL",
                            ));
                            continue;
                        }
                    }
                    pack.drafts.push(DraftAt { draft, line });
                }
            }
            ("stations" | "radios", Value::Null) => {}
            ("stations", _) => pack.diagnostics.push(Diagnostic::error(
                origin.at(key_line),
                "`stations:` must be a list of entries",
            )),
            ("radios", _) => pack.diagnostics.push(Diagnostic::error(
                origin.at(key_line),
                "`radios:` must map station names to their fields",
            )),
            (other, _) => pack.diagnostics.push(Diagnostic::warning(
                origin.at(key_line),
                format!(
                    "unknown top-level key `{other}`; ignored (expected `stations:` or `radios:`)"
                ),
            )),
        }
    }
    Ok(pack)
}

/// Deepest `[`/`{` nesting read; a pack needs 3 (`stations: [{tags: [...]}]`). The YAML parser gives up on
/// deeper documents too, but only after seconds of work on a 200 KB line of brackets.
const MAX_FLOW_DEPTH: usize = 64;

/// The line where flow collections nest deeper than [`MAX_FLOW_DEPTH`], if they do. A cheap scan that
/// skips quoted strings and comments; block scalars are not special-cased (a literal block with 64
/// unclosed brackets is not a station pack).
fn too_deep(text: &str) -> Option<u32> {
    let mut depth = 0usize;
    let mut line = 1u32;
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut previous = '\n';
    for c in text.chars() {
        if c == '\n' {
            line = line.saturating_add(1);
            comment = false;
            // Flow scalars may span lines; quotes stay open.
        }
        match (quote, comment) {
            (_, true) => {}
            (Some(q), false) => {
                // `\"` inside a double-quoted scalar does not close it.
                if c == q && !(q == '"' && previous == '\\') {
                    quote = None;
                }
            }
            (None, false) => match c {
                '"' | '\'' if !previous.is_alphanumeric() => quote = Some(c),
                '#' if previous.is_whitespace() => comment = true,
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some(line);
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        previous = c;
    }
    None
}

fn fill(
    draft: &mut StationDraft,
    fields: serde_norway::Mapping,
    at: &Origin,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (key, value) in fields {
        let Some(key) = scalar_text(&key) else {
            diagnostics.push(Diagnostic::error(
                at.clone(),
                "field names must be plain strings",
            ));
            continue;
        };
        match apply_field(draft, &key, to_field(value)) {
            FieldOutcome::Applied => {}
            FieldOutcome::Unknown => {
                diagnostics.push(Diagnostic::warning(at.clone(), unknown_field_message(&key)));
            }
            FieldOutcome::Invalid(message) => {
                diagnostics.push(Diagnostic::error(at.clone(), message));
            }
        }
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn to_field(value: Value) -> FieldValue {
    match value {
        Value::String(s) => FieldValue::Str(s),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::Int(i),
            None => FieldValue::Other("a fractional number"),
        },
        Value::Sequence(items) => FieldValue::List(items.into_iter().map(to_field).collect()),
        Value::Bool(_) => FieldValue::Other("a boolean"),
        Value::Null => FieldValue::Other("empty"),
        Value::Mapping(_) => FieldValue::Other("a mapping"),
        Value::Tagged(_) => FieldValue::Other("a tagged value"),
    }
}

/// Line of a top-level `key:` (1 when not found, e.g. a quoted or flow-style key).
fn top_key_line(text: &str, key: &str) -> u32 {
    text.lines()
        .position(|l| {
            l.strip_prefix(key)
                .or_else(|| l.strip_prefix(&format!("\"{key}\"")))
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(1, |i| u32::try_from(i + 1).unwrap_or(u32::MAX))
}

/// The start line of each block entry under the top-level key at `key_line`: list items (`- `) for a
/// sequence, keys for a map, at the indentation of the first entry. Falls back to `key_line` for every
/// entry when the scan does not find exactly `count` entries (flow style, unusual layouts).
fn entry_lines(text: &str, key_line: u32, sequence: bool, count: usize) -> Vec<u32> {
    let mut found = Vec::new();
    let mut indent = None;
    for (i, line) in text.lines().enumerate().skip(key_line as usize) {
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let this_indent = line.len() - content.len();
        let is_item = content.starts_with("- ") || content == "-";
        let entry_indent = *indent.get_or_insert(this_indent);
        // A top-level line that is not part of a column-0 list ends the block.
        if this_indent == 0 && !(sequence && is_item) {
            break;
        }
        if this_indent < entry_indent {
            break;
        }
        if this_indent == entry_indent && (!sequence || is_item) {
            found.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
        }
    }
    if found.len() == count {
        found
    } else {
        vec![key_line; count]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::station::model::{Codec, PackFormat};
    use crate::core::station::pack::parse_pack;
    use rstest::rstest;

    const STATIONS: &str = "# a pack
stations:
  - name: KEXP
    url: https://kexp.example/kexp128.mp3
    tags: [eclectic, indie]
    country: us

  - name: Jazz24
    streams:
      - https://jazz24.example/a.aac
      - https://jazz24.example/b.mp3
    genres: jazz
    bitrate: 64
";

    const RADIOS: &str = "radios:
  \"BBC Radio 1\":
    url: http://bbc.example/r1
    aliases: [bbc1, radio 1]
    bitrate: 128
    format: mp3
    description: New music
  Radio Two: http://bbc.example/r2
";

    #[test]
    fn stations_list_with_lines() {
        let (stations, diags) = parse_pack(STATIONS, PackFormat::Yaml, Path::new("p.yaml"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stations.len(), 2);
        assert_eq!(stations[0].origin.to_string(), "p.yaml:3");
        assert_eq!(stations[0].country.as_deref(), Some("US"));
        assert_eq!(stations[1].origin.to_string(), "p.yaml:8");
        assert_eq!(stations[1].streams.len(), 2);
        assert_eq!(stations[1].tags, vec!["jazz"]);
    }

    #[test]
    fn radios_map_form_uses_keys_as_names() {
        let (stations, diags) = parse_pack(RADIOS, PackFormat::Yaml, Path::new("r.yml"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stations[0].name, "BBC Radio 1");
        assert_eq!(stations[0].aliases, vec!["bbc1", "radio 1"]);
        assert_eq!(stations[0].codec, Some(Codec::Mp3));
        assert_eq!(stations[0].bitrate, Some(128));
        assert_eq!(stations[0].origin.to_string(), "r.yml:2");
        assert_eq!(stations[1].name, "Radio Two");
        assert_eq!(stations[1].origin.to_string(), "r.yml:8");
    }

    #[test]
    fn flow_style_falls_back_to_the_key_line() {
        let text = "radios: {\"A\": {url: http://a.example/}, \"B\": {url: http://b.example/}}\n";
        let (stations, diags) = parse_pack(text, PackFormat::Yaml, Path::new("f.yaml"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stations.len(), 2);
        assert!(stations.iter().all(|s| s.origin.line == Some(1)));
    }

    #[rstest]
    #[case::typo(
        "stations:\n  - nmae: A\n    name: A\n    url: http://a.example/\n",
        "p.yaml:2: warning: unknown field `nmae` (did you mean `name`?)"
    )]
    #[case::bad_url(
        "stations:\n  - name: A\n    url: http://a.example/\n  - name: B\n    url: file:///etc/passwd\n",
        "p.yaml:4: error: stream URL `file:///etc/passwd` uses `file:`"
    )]
    #[case::not_a_mapping(
        "stations:\n  - name: A\n    url: http://a.example/\n  - just a string\n",
        "p.yaml:4: error: a `stations:` entry must be a mapping"
    )]
    #[case::unknown_top(
        "stations:\n  - name: A\n    url: http://a.example/\nplaylists: []\n",
        "p.yaml:4: warning: unknown top-level key `playlists`"
    )]
    fn entry_problems_keep_the_rest(#[case] text: &str, #[case] expected: &str) {
        let (stations, diags) = parse_pack(text, PackFormat::Yaml, Path::new("p.yaml"));
        assert_eq!(stations.len(), 1, "{diags:?}");
        assert_eq!(stations[0].name, "A");
        assert!(
            diags.iter().any(|d| d.to_string().starts_with(expected)),
            "{diags:?}"
        );
    }

    #[rstest]
    #[case::bad_indent("stations:\n  - name: A\n   url: x\n", 3)]
    #[case::unclosed("stations: [\n  {name: A}\n", 3)]
    #[case::scalar_document("just text\n", 1)]
    fn whole_file_errors(#[case] text: &str, #[case] line: u32) {
        let err = parse(text, Path::new("p.yaml")).expect_err("invalid");
        assert_eq!(err.0.origin.line, Some(line), "{err}");
    }

    #[rstest]
    #[case::deep_flow(format!("stations: {}{}", "[".repeat(100_000), "]".repeat(100_000)))]
    #[case::deep_block(
        (0..2_000).flat_map(|i| ["  ".repeat(i), "- \n".to_owned()]).collect::<String>()
    )]
    #[case::alias_bomb(
        "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
         c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
         e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
         g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nstations: [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
            .to_owned()
    )]
    fn hostile_nesting_is_a_whole_file_error_not_a_crash(#[case] text: String) {
        let started = std::time::Instant::now();
        let result = parse(&text, Path::new("p.yaml"));
        assert!(result.is_err(), "accepted a hostile document");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
