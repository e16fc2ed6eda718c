//! TOML packs: `[[station]]` tables. Pure: text in, drafts with line numbers out.
//!
//! Keys are read with their spans (`toml::Spanned`), so every entry and every unknown or malformed field is
//! reported at its own line; a syntax error fails the whole file (nothing in it can be trusted).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::model::{Diagnostic, Origin, StationDraft};
use super::pack::{
    DraftAt, FieldOutcome, FieldValue, PackError, RawPack, apply_field, unknown_field_message,
};

type Entry = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize)]
struct TomlFile {
    #[serde(default)]
    station: Vec<Spanned<Entry>>,
}

pub fn parse(text: &str, file: &Path) -> Result<RawPack, PackError> {
    let origin = Origin::file(file);
    let lines = super::pack::LineIndex::new(text);
    let syntax = |e: toml::de::Error| {
        let line = e.span().map_or(1, |span| lines.line(span.start));
        PackError(Diagnostic::error(
            origin.at(line),
            format!("invalid TOML: {}", e.message().trim()),
        ))
    };
    let top: BTreeMap<Spanned<String>, toml::Value> = toml::from_str(text).map_err(syntax)?;
    let parsed: TomlFile = toml::from_str(text).map_err(syntax)?;

    let mut pack = RawPack::default();
    for key in top.keys().filter(|k| k.get_ref() != "station") {
        let hint = if key.get_ref() == "stations" {
            "; stations are `[[station]]` tables"
        } else {
            ""
        };
        pack.diagnostics.push(Diagnostic::warning(
            origin.at(lines.line(key.span().start)),
            format!("unknown top-level key `{}`{hint}; ignored", key.get_ref()),
        ));
    }

    for entry in parsed.station {
        let line = lines.line(entry.span().start);
        let mut fields: Vec<_> = entry.into_inner().into_iter().collect();
        // Keys in file order, so diagnostics read top to bottom.
        fields.sort_by_key(|(k, _)| k.span().start);
        let mut draft = StationDraft::default();
        for (key, value) in fields {
            let key_line = lines.line(key.span().start);
            match apply_field(&mut draft, key.get_ref(), to_field(value.into_inner())) {
                FieldOutcome::Applied => {}
                FieldOutcome::Unknown => pack.diagnostics.push(Diagnostic::warning(
                    origin.at(key_line),
                    unknown_field_message(key.get_ref()),
                )),
                FieldOutcome::Invalid(message) => pack
                    .diagnostics
                    .push(Diagnostic::error(origin.at(key_line), message)),
            }
        }
        pack.drafts.push(DraftAt { draft, line });
    }
    Ok(pack)
}

fn to_field(value: toml::Value) -> FieldValue {
    match value {
        toml::Value::String(s) => FieldValue::Str(s),
        toml::Value::Integer(i) => FieldValue::Int(i),
        toml::Value::Array(items) => FieldValue::List(items.into_iter().map(to_field).collect()),
        toml::Value::Float(_) => FieldValue::Other("a float"),
        toml::Value::Boolean(_) => FieldValue::Other("a boolean"),
        toml::Value::Datetime(_) => FieldValue::Other("a date"),
        toml::Value::Table(_) => FieldValue::Other("a table"),
    }
}

/// Writes stations as a TOML pack that [`parse`] reads back (used by `stations` tooling and round-trip
/// tests).
pub fn to_toml(stations: &[super::model::Station]) -> String {
    use std::fmt::Write as _;
    let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let list = |items: &[String]| {
        let quoted: Vec<String> = items.iter().map(|s| q(s)).collect();
        format!("[{}]", quoted.join(", "))
    };
    let mut out = String::new();
    for s in stations {
        let _ = writeln!(out, "[[station]]");
        let _ = writeln!(out, "id = {}", q(s.id.as_str()));
        let _ = writeln!(out, "name = {}", q(&s.name));
        let urls: Vec<String> = s.streams.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "urls = {}", list(&urls));
        if !s.aliases.is_empty() {
            let _ = writeln!(out, "aliases = {}", list(&s.aliases));
        }
        if !s.tags.is_empty() {
            let _ = writeln!(out, "tags = {}", list(&s.tags));
        }
        let optional = [
            ("country", s.country.clone()),
            ("language", s.language.clone()),
            ("codec", s.codec.map(|c| c.label().to_owned())),
            ("description", s.description.clone()),
            ("homepage", s.homepage.as_ref().map(ToString::to_string)),
            ("logo", s.logo.as_ref().map(ToString::to_string)),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                let _ = writeln!(out, "{key} = {}", q(&value));
            }
        }
        if let Some(bitrate) = s.bitrate {
            let _ = writeln!(out, "bitrate = {bitrate}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::station::model::{Codec, PackFormat};
    use crate::core::station::pack::parse_pack;
    use rstest::rstest;

    const GOOD: &str = r#"# comment
[[station]]
name = "BBC Radio 1"
url = "http://a.example/r1"
urls = ["http://b.example/r1"]
aliases = ["bbc1"]
genres = ["Pop"]
format = "mp3"
bitrate = 128
favicon = "https://a.example/logo.png"

[[station]]
id = "fip"
name = "FIP"
streams = ["https://fip.example/fip.aac"]
tags = "eclectic"
bitrate = "192 kbps"
"#;

    #[test]
    fn parses_fields_aliases_and_lines() {
        let raw = parse(GOOD, Path::new("p.toml")).expect("valid");
        assert!(raw.diagnostics.is_empty(), "{:?}", raw.diagnostics);
        assert_eq!(raw.drafts.len(), 2);
        assert_eq!(raw.drafts[0].line, 2);
        assert_eq!(raw.drafts[1].line, 12);
        let (stations, diags) = parse_pack(GOOD, PackFormat::Toml, Path::new("p.toml"));
        assert!(diags.is_empty(), "{diags:?}");
        let r1 = &stations[0];
        assert_eq!(r1.streams.len(), 2);
        assert_eq!(r1.tags, vec!["pop"]);
        assert_eq!(r1.codec, Some(Codec::Mp3));
        assert_eq!(r1.bitrate, Some(128));
        assert!(r1.logo.is_some());
        assert_eq!(r1.origin.to_string(), "p.toml:2");
        assert_eq!(stations[1].bitrate, Some(192));
        assert_eq!(stations[1].tags, vec!["eclectic"]);
    }

    #[rstest]
    #[case::typo(
        "[[station]]\nnmae = \"A\"\nname = \"A\"\nurl = \"http://a.example/\"\n",
        "p.toml:2: warning: unknown field `nmae` (did you mean `name`?)"
    )]
    #[case::unknown(
        "[[station]]\nname = \"A\"\nurl = \"http://a.example/\"\nvolume = 3\n",
        "p.toml:4: warning: unknown field `volume`; ignored"
    )]
    #[case::top_level(
        "stations = 1\n[[station]]\nname = \"A\"\nurl = \"http://a.example/\"\n",
        "p.toml:1: warning: unknown top-level key `stations`"
    )]
    fn warnings_keep_the_station(#[case] text: &str, #[case] expected: &str) {
        let (stations, diags) = parse_pack(text, PackFormat::Toml, Path::new("p.toml"));
        assert_eq!(stations.len(), 1);
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(diags[0].to_string().starts_with(expected), "{}", diags[0]);
    }

    #[rstest]
    #[case::no_url(
        "[[station]]\nname = \"A\"\n\n[[station]]\nname = \"B\"\nurl = \"http://b.example/\"\n",
        "p.toml:1: error: station has no stream URL"
    )]
    #[case::bad_scheme(
        "[[station]]\nname = \"B\"\nurl = \"http://b.example/\"\n[[station]]\nname = \"A\"\nurl = \"rtmp://a.example/\"\n",
        "p.toml:4: error: stream URL `rtmp://a.example/` uses `rtmp:`"
    )]
    #[case::bad_type(
        "[[station]]\nname = \"B\"\nurl = \"http://b.example/\"\nbitrate = 1.5\n",
        "p.toml:4: error: `bitrate` must be a number, not a float"
    )]
    fn entry_errors_skip_only_that_entry(#[case] text: &str, #[case] expected: &str) {
        let (stations, diags) = parse_pack(text, PackFormat::Toml, Path::new("p.toml"));
        assert_eq!(stations.len(), 1, "{diags:?}");
        assert_eq!(stations[0].name, "B");
        assert!(
            diags.iter().any(|d| d.to_string().starts_with(expected)),
            "{diags:?}"
        );
    }

    #[rstest]
    #[case::unclosed("[[station]]\nname = \"A\nurl = \"x\"\n", 2)]
    #[case::not_a_table("# stations\nstation = 3\n", 2)]
    #[case::duplicate_key("[[station]]\nname = \"A\"\nname = \"B\"\n", 3)]
    fn syntax_errors_fail_the_file_at_a_line(#[case] text: &str, #[case] line: u32) {
        let err = parse(text, Path::new("p.toml")).expect_err("invalid");
        assert_eq!(err.0.origin.line, Some(line), "{err}");
        assert!(err.0.message.starts_with("invalid TOML"), "{err}");
    }

    #[test]
    fn empty_file_is_an_empty_pack() {
        let raw = parse("# nothing yet\n", Path::new("p.toml")).expect("valid");
        assert!(raw.drafts.is_empty() && raw.diagnostics.is_empty());
    }

    mod round_trip {
        use super::*;
        use crate::core::station::model::{Origin, StationDraft};
        use proptest::prelude::*;

        fn station() -> impl Strategy<Value = crate::core::station::model::Station> {
            (
                "[A-Za-zÄÖÜäöü0-9][A-Za-zÄÖÜäöü0-9 '&\"\\\\.-]{0,30}",
                prop::collection::vec("[a-z0-9]{1,10}\\.example", 1..3),
                prop::collection::vec("[a-zA-Z0-9 ]{1,12}", 0..3),
                prop::collection::vec("[a-z]{1,10}", 0..4),
                prop::option::of("[A-Z]{2}"),
                prop::option::of(1u32..2000),
                prop::option::of("[ -~]{1,40}"),
                prop::option::of(prop::sample::select(vec!["mp3", "aac", "opus", "hls"])),
            )
                .prop_filter_map(
                    "needs a sluggable name",
                    |(name, hosts, aliases, tags, country, bitrate, description, codec)| {
                        let draft = StationDraft {
                            name: Some(name),
                            streams: hosts.iter().map(|h| format!("https://{h}/live")).collect(),
                            aliases,
                            tags,
                            country,
                            bitrate,
                            description,
                            codec: codec.map(str::to_owned),
                            homepage: Some(format!("https://{}/", hosts[0])),
                            ..StationDraft::default()
                        };
                        draft.validate(&Origin::file("gen")).ok().map(|(s, _)| s)
                    },
                )
        }

        proptest! {
            #[test]
            fn toml_pack_round_trips(stations in prop::collection::vec(station(), 0..6)) {
                let text = to_toml(&stations);
                let (parsed, diags) = parse_pack(&text, PackFormat::Toml, Path::new("gen"));
                prop_assert!(diags.iter().all(|d| d.message.starts_with("duplicate")), "{:?}\n{}", diags, text);
                prop_assert_eq!(parsed.len(), stations.len());
                for (a, b) in stations.iter().zip(&parsed) {
                    let mut b = b.clone();
                    b.origin = a.origin.clone();
                    prop_assert_eq!(a, &b);
                }
            }
        }
    }
}
