//! PLS packs: `[playlist]` with `FileN=`, `TitleN=`, `LengthN=`, `NumberOfEntries=`, `Version=`; entries
//! are grouped by N and ordered by N. Entries whose titles differ only in a mirror marker
//! (`SomaFM: Groove Salad (#1 128k mp3)`, `(#2 …)`, `(Firewall-friendly 128k mp3)`, Shoutcast's
//! `(#1 - 3/500) Name`) are one station with the mirrors as fallbacks in File order. Keys are
//! case-insensitive (`numberofentries=`). Pure; never fails as a whole file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::model::{Diagnostic, DropReason, Origin, StationDraft};
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
            pack.diagnostics.push(Diagnostic::dropped(
                origin.at(line_no),
                DropReason::GarbageLine,
                format!(
                    "`{}` is not a `Key=Value` line; ignored",
                    super::model::clean_text(&line.chars().take(200).collect::<String>())
                ),
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
        let (field, index) = lower.split_at_checked(split).unwrap_or((&lower, ""));
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
    // Mirror key → index in `pack.drafts` of the station the mirrors join.
    let mut stations_by_key: HashMap<String, usize> = HashMap::new();
    let mut merged: Vec<(usize, String)> = Vec::new();
    for (n, (first_line, mut draft, file_line)) in entries {
        if file_line.is_none() {
            pack.diagnostics.push(Diagnostic::dropped(
                origin.at(first_line),
                DropReason::NoUrl,
                format!("entry {n} has no `File{n}=` URL; skipped"),
            ));
            continue;
        }
        let Some(title) = draft.name.clone() else {
            draft.name = Some(format!("{} {n}", file_stem(file)));
            pack.diagnostics.push(Diagnostic::warning(
                origin.at(first_line),
                format!("entry {n} has no `Title{n}=`; named after the file"),
            ));
            pack.drafts.push(DraftAt {
                draft,
                line: first_line,
            });
            continue;
        };
        let key = mirror_key(&title);
        if let Some(&at) = stations_by_key.get(&key)
            && let Some(station) = pack.drafts.get_mut(at)
        {
            station.draft.streams.append(&mut draft.streams);
            merged.push((at, title));
            continue;
        }
        if !key.is_empty() {
            stations_by_key.insert(key, pack.drafts.len());
        }
        pack.drafts.push(DraftAt {
            draft,
            line: first_line,
        });
    }
    // A station made of mirrors is named without the marker of its first mirror.
    for (at, _) in merged {
        if let Some(station) = pack.drafts.get_mut(at)
            && let Some(name) = station.draft.name.as_mut()
        {
            *name = without_mirror_markers(name);
        }
    }
    pack
}

/// A title without its parenthesised groups that contain a digit (mirror numbers, bitrates, listener
/// counts: `(#1 128k mp3)`, `(#2 - 3/500)`), so `Radio X (Rock)` keeps its `(Rock)`.
fn without_mirror_markers(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    let mut rest = title;
    while let Some((before, after)) = rest.split_once('(') {
        let Some((group, tail)) = after.split_once(')') else {
            break;
        };
        out.push_str(before);
        if !group.chars().any(|c| c.is_ascii_digit()) {
            out.push('(');
            out.push_str(group);
            out.push(')');
        }
        rest = tail;
    }
    out.push_str(rest);
    super::model::clean_text(&out).replace(" :", ":")
}

/// What two mirror titles share: the words of the title without mirror markers, folded (so
/// `Groove Salad (#1): x` and `Groove Salad (Firewall-friendly 128k) x` agree).
fn mirror_key(title: &str) -> String {
    let folded = deunicode::deunicode(&without_mirror_markers(title)).to_lowercase();
    folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
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

    const SOMAFM_7SOUL: &str = "[playlist]
numberofentries=3
File1=http://uwstream2.somafm.com:7770
Title1=SomaFM: Seven Inch Soul (#1 128k mp3): Vintage soul tracks from the original 45 RPM vinyl.
Length1=-1
File2=http://uwstream3.somafm.com:7770
Title2=SomaFM: Seven Inch Soul (#2 128k mp3): Vintage soul tracks from the original 45 RPM vinyl.
Length2=-1
File3=http://ice.somafm.com/7soul
Title3=SomaFM: Seven Inch Soul (Firewall-friendly 128k mp3) Vintage soul tracks from the original 45 RPM vinyl.
Length3=-1
Version=2
";

    #[test]
    fn somafm_mirrors_are_one_station_with_fallbacks_in_file_order() {
        let (stations, diags) = parse_pack(SOMAFM_7SOUL, PackFormat::Pls, Path::new("7soul.pls"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stations.len(), 1);
        let streams: Vec<&str> = stations[0].streams.iter().map(url::Url::as_str).collect();
        assert_eq!(
            streams,
            [
                "http://uwstream2.somafm.com:7770/",
                "http://uwstream3.somafm.com:7770/",
                "http://ice.somafm.com/7soul"
            ]
        );
        assert_eq!(
            stations[0].name,
            "SomaFM: Seven Inch Soul: Vintage soul tracks from the original 45 RPM vinyl."
        );
        assert_eq!(stations[0].origin.line, Some(3));
    }

    #[test]
    fn identical_titles_are_mirrors_and_different_ones_are_not() {
        let text = "[playlist]\nFile1=http://a.example/1\nTitle1=SomaFM Groove Salad\n\
                    File2=http://a.example/2\nTitle2=SomaFM Groove Salad\n\
                    File3=http://b.example/\nTitle3=Radio X (Rock)\n\
                    File4=http://c.example/\nTitle4=Radio X (Jazz)\n";
        let (stations, diags) = parse_pack(text, PackFormat::Pls, Path::new("p.pls"));
        assert!(diags.is_empty(), "{diags:?}");
        let names: Vec<&str> = stations.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["SomaFM Groove Salad", "Radio X (Rock)", "Radio X (Jazz)"]
        );
        assert_eq!(stations[0].streams.len(), 2);
    }

    #[test]
    fn a_dead_mirror_scheme_keeps_the_playable_ones() {
        let text =
            "[playlist]\nFile1=mms://a.example/1\nTitle1=A\nFile2=http://a.example/2\nTitle2=A\n";
        let (stations, diags) = parse_pack(text, PackFormat::Pls, Path::new("p.pls"));
        assert_eq!(stations.len(), 1);
        assert_eq!(stations[0].primary_stream().as_str(), "http://a.example/2");
        assert!(diags.iter().all(|d| d.dropped.is_none()), "{diags:?}");
    }

    #[test]
    fn lowercase_keys_are_read() {
        let text = "[playlist]\nfile1=http://a.example/\ntitle1=A\nnumberofentries=1\n";
        let (stations, diags) = parse_pack(text, PackFormat::Pls, Path::new("p.pls"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stations[0].name, "A");
    }
}
