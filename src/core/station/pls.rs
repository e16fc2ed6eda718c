//! PLS packs: `[playlist]` with `FileN=`, `TitleN=`, `LengthN=`, `NumberOfEntries=`, `Version=`; entries
//! are grouped by N and ordered by N. Pure; never fails as a whole file.

use std::collections::BTreeMap;
use std::path::Path;

use super::model::{Diagnostic, Origin, StationDraft};
use super::pack::{DraftAt, RawPack};

// One linear pass over the lines; the per-key handling reads best in one place.
#[allow(clippy::too_many_lines)]
pub fn parse(text: &str, file: &Path) -> RawPack {
    let origin = Origin::file(file);
    let mut pack = RawPack::default();
    // N → (first line mentioning N, draft, line of FileN).
    let mut entries: BTreeMap<u32, (u32, StationDraft, Option<u32>)> = BTreeMap::new();
    let mut declared: Option<(u32, usize)> = None;
    let mut seen_header = false;
    for (i, raw_line) in text.lines().enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let line = raw_line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            if !line.eq_ignore_ascii_case("[playlist]") {
                pack.diagnostics.push(Diagnostic::warning(
                    origin.at(line_no),
                    format!("unexpected section `{line}`; expected `[playlist]`"),
                ));
            }
            seen_header = true;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            pack.diagnostics.push(Diagnostic::error(
                origin.at(line_no),
                format!("`{line}` is not a `Key=Value` line; ignored"),
            ));
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let lower = key.to_ascii_lowercase();
        if lower == "numberofentries" {
            match value.parse() {
                Ok(n) => declared = Some((line_no, n)),
                Err(_) => pack.diagnostics.push(Diagnostic::warning(
                    origin.at(line_no),
                    format!("NumberOfEntries `{value}` is not a number"),
                )),
            }
            continue;
        }
        if lower == "version" {
            continue;
        }
        let split = lower
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(lower.len());
        let (field, index) = lower.split_at(split);
        let Ok(n) = index.parse::<u32>() else {
            pack.diagnostics.push(Diagnostic::warning(
                origin.at(line_no),
                format!("unknown key `{key}`; ignored"),
            ));
            continue;
        };
        let entry = entries
            .entry(n)
            .or_insert_with(|| (line_no, StationDraft::default(), None));
        match field {
            "file" => {
                entry.1.streams.push(value.to_owned());
                entry.2 = Some(line_no);
            }
            "title" => entry.1.name = Some(value.to_owned()).filter(|v| !v.is_empty()),
            "length" => {}
            _ => pack.diagnostics.push(Diagnostic::warning(
                origin.at(line_no),
                format!("unknown key `{key}`; ignored"),
            )),
        }
    }
    if !seen_header && !entries.is_empty() {
        pack.diagnostics.push(Diagnostic::warning(
            origin.at(1),
            "missing `[playlist]` header",
        ));
    }
    if let Some((line, n)) = declared
        && n != entries.len()
    {
        pack.diagnostics.push(Diagnostic::warning(
            origin.at(line),
            format!(
                "NumberOfEntries says {n} but the playlist has {} entries",
                entries.len()
            ),
        ));
    }
    for (n, (first_line, mut draft, file_line)) in entries {
        if file_line.is_none() {
            pack.diagnostics.push(Diagnostic::error(
                origin.at(first_line),
                format!("entry {n} has no `File{n}=` URL; skipped"),
            ));
            continue;
        }
        if draft.name.is_none() {
            draft.name = Some(format!("{} {n}", file_stem(file)));
            pack.diagnostics.push(Diagnostic::warning(
                origin.at(first_line),
                format!("entry {n} has no `Title{n}=`; named after the file"),
            ));
        }
        pack.drafts.push(DraftAt {
            draft,
            line: first_line,
        });
    }
    pack
}

fn file_stem(file: &Path) -> String {
    file.file_stem().map_or_else(
        || "playlist".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::station::model::PackFormat;
    use crate::core::station::pack::parse_pack;
    use rstest::rstest;

    const GOOD: &str = "[playlist]
File1=http://one.example/stream
Title1=Station One
Length1=-1
Title2=Station Two
File2=https://two.example/live.aac
NumberOfEntries=2
Version=2
";

    #[test]
    fn groups_entries_by_number() {
        let (stations, diags) = parse_pack(GOOD, PackFormat::Pls, Path::new("p.pls"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stations.len(), 2);
        assert_eq!(stations[0].name, "Station One");
        assert_eq!(stations[0].origin.to_string(), "p.pls:2");
        assert_eq!(stations[1].name, "Station Two");
        assert_eq!(
            stations[1].primary_stream().as_str(),
            "https://two.example/live.aac"
        );
        assert_eq!(stations[1].origin.to_string(), "p.pls:5");
    }

    #[rstest]
    #[case::no_file(
        "[playlist]\nFile1=http://a.example/\nTitle1=A\nTitle2=B\nNumberOfEntries=2\n",
        "p.pls:4: error: entry 2 has no `File2=` URL"
    )]
    #[case::garbage(
        "[playlist]\nthis is junk\nFile1=http://a.example/\nTitle1=A\n",
        "p.pls:2: error: `this is junk` is not a `Key=Value` line"
    )]
    #[case::count(
        "[playlist]\nFile1=http://a.example/\nTitle1=A\nNumberOfEntries=3\n",
        "p.pls:4: warning: NumberOfEntries says 3"
    )]
    #[case::bad_scheme(
        "[playlist]\nFile1=http://a.example/\nTitle1=A\nFile2=ftp://b.example/x\nTitle2=B\n",
        "p.pls:4: error: stream URL `ftp://b.example/x` uses `ftp:`"
    )]
    fn malformed_entries_are_reported(#[case] text: &str, #[case] expected: &str) {
        let (stations, diags) = parse_pack(text, PackFormat::Pls, Path::new("p.pls"));
        assert_eq!(stations.len(), 1, "{diags:?}");
        assert_eq!(stations[0].name, "A");
        assert!(
            diags.iter().any(|d| d.to_string().starts_with(expected)),
            "{diags:?}"
        );
    }

    #[test]
    fn untitled_entries_are_named_after_the_file() {
        let (stations, diags) = parse_pack(
            "[playlist]\nFile1=http://a.example/\n",
            PackFormat::Pls,
            Path::new("dir/jazz.pls"),
        );
        assert_eq!(stations[0].name, "jazz 1");
        assert_eq!(diags.len(), 1);
    }
}
