//! M3U/M3U8 packs: `#EXTINF:-1 tvg-logo="…" group-title="Jazz;Blues" tvg-country="DE" tvg-language="German",Name`
//! followed by the stream URL line. A bare URL line without `#EXTINF` becomes a station named after its
//! host and path (with a warning). Pure; never fails as a whole file (every line stands alone).

use std::path::Path;

use super::model::{Diagnostic, Origin, StationDraft};
use super::pack::{DraftAt, RawPack};

pub fn parse(text: &str, file: &Path) -> RawPack {
    let origin = Origin::file(file);
    let mut pack = RawPack::default();
    // An `#EXTINF` waiting for its URL line: (line, draft).
    let mut pending: Option<(u32, StationDraft)> = None;
    for (i, raw_line) in text.lines().enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let line = raw_line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() {
            continue;
        }
        if let Some(info) = line.strip_prefix("#EXTINF:") {
            if let Some((orphan, _)) = pending.take() {
                pack.diagnostics.push(Diagnostic::error(
                    origin.at(orphan),
                    "`#EXTINF` has no URL line after it; skipped",
                ));
            }
            pending = Some((line_no, extinf(info)));
        } else if line.starts_with('#') {
            // #EXTM3U, #EXTGRP and other directives or comments.
            if let Some(group) = line.strip_prefix("#EXTGRP:")
                && let Some((_, draft)) = pending.as_mut()
            {
                draft.tags.extend(split_groups(group));
            }
        } else {
            let (line_at, mut draft) = if let Some(entry) = pending.take() {
                entry
            } else {
                let name = name_from_url(line);
                pack.diagnostics.push(Diagnostic::warning(
                    origin.at(line_no),
                    format!("URL without `#EXTINF`; named `{name}` after its address"),
                ));
                let draft = StationDraft {
                    name: Some(name),
                    ..StationDraft::default()
                };
                (line_no, draft)
            };
            draft.streams.push(line.to_owned());
            pack.drafts.push(DraftAt {
                draft,
                line: line_at,
            });
        }
    }
    if let Some((orphan, _)) = pending {
        pack.diagnostics.push(Diagnostic::error(
            origin.at(orphan),
            "`#EXTINF` has no URL line after it; skipped",
        ));
    }
    pack
}

/// `-1 key="value" key2="v",Display Name` → draft with name and attributes.
fn extinf(info: &str) -> StationDraft {
    let (attrs, name) = split_title(info);
    let mut draft = StationDraft {
        name: Some(name.trim().to_owned()).filter(|n| !n.is_empty()),
        ..StationDraft::default()
    };
    for (key, value) in attributes(attrs) {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match key.to_ascii_lowercase().as_str() {
            "tvg-id" => draft.id = Some(value.to_owned()),
            "tvg-logo" | "logo" => draft.logo = Some(value.to_owned()),
            "group-title" | "tvg-genre" => draft.tags.extend(split_groups(value)),
            "tvg-country" => draft.country = Some(value.to_owned()),
            "tvg-language" => draft.language = Some(value.to_owned()),
            "tvg-name" if draft.name.is_none() => draft.name = Some(value.to_owned()),
            _ => {}
        }
    }
    draft
}

/// Splits at the first comma outside double quotes (attribute values may contain commas).
fn split_title(info: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in info.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => return (&info[..i], &info[i + 1..]),
            _ => {}
        }
    }
    (info, "")
}

/// `key="value"` pairs (values may be unquoted); the leading duration is ignored.
fn attributes(attrs: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = attrs.trim();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq]
            .rsplit(char::is_whitespace)
            .next()
            .unwrap_or_default()
            .to_owned();
        let after = &rest[eq + 1..];
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.push((key, value.to_owned()));
        rest = remaining;
    }
    out
}

fn split_groups(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split([';', '|'])
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
}

/// `http://stream.example.org:8000/jazz.mp3` → "stream.example.org jazz".
fn name_from_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(url) => {
            let host = url
                .host_str()
                .unwrap_or_default()
                .trim_start_matches("www.");
            let stem = url
                .path_segments()
                .and_then(|mut s| s.rfind(|seg| !seg.is_empty()))
                .map(|seg| seg.split('.').next().unwrap_or(seg).to_owned())
                .unwrap_or_default();
            if stem.is_empty() {
                host.to_owned()
            } else {
                format!("{host} {stem}")
            }
        }
        Err(_) => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::station::model::PackFormat;
    use crate::core::station::pack::parse_pack;
    use rstest::rstest;

    const GOOD: &str = "#EXTM3U
#EXTINF:-1 tvg-id=\"\" tvg-logo=\"https://logo.example/a.png\" group-title=\"Jazz;Blues\" tvg-country=\"DE\" tvg-language=\"German\",Radio, Jazz & More
http://jazz.example/live.mp3

#EXTINF:-1,Plain
https://plain.example/stream
";

    #[test]
    fn parses_extinf_attributes_and_lines() {
        let (stations, diags) = parse_pack(GOOD, PackFormat::M3u, Path::new("p.m3u"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stations.len(), 2);
        let a = &stations[0];
        assert_eq!(a.name, "Radio, Jazz & More");
        assert_eq!(a.id.as_str(), "radio-jazz-more");
        assert_eq!(a.tags, vec!["jazz", "blues"]);
        assert_eq!(a.country.as_deref(), Some("DE"));
        assert_eq!(a.language.as_deref(), Some("German"));
        assert_eq!(
            a.logo.as_deref().map(url::Url::as_str),
            Some("https://logo.example/a.png")
        );
        assert_eq!(a.origin.to_string(), "p.m3u:2");
        assert_eq!(stations[1].origin.to_string(), "p.m3u:5");
    }

    #[rstest]
    #[case::bare_url(
        "#EXTM3U\nhttp://stream.example.org:8000/jazz.mp3\n",
        "stream.example.org jazz",
        "p.m3u:2: warning: URL without `#EXTINF`"
    )]
    #[case::bare_host(
        "https://www.radio.example/\n",
        "radio.example",
        "p.m3u:1: warning: URL without `#EXTINF`"
    )]
    fn bare_urls_get_a_derived_name(#[case] text: &str, #[case] name: &str, #[case] warning: &str) {
        let (stations, diags) = parse_pack(text, PackFormat::M3u, Path::new("p.m3u"));
        assert_eq!(stations.len(), 1);
        assert_eq!(stations[0].name, name);
        assert!(diags[0].to_string().starts_with(warning), "{diags:?}");
    }

    #[rstest]
    #[case::orphan_extinf(
        "#EXTM3U\n#EXTINF:-1,Lost\n#EXTINF:-1,Ok\nhttp://ok.example/\n",
        "p.m3u:2: error: `#EXTINF` has no URL line"
    )]
    #[case::trailing_extinf(
        "#EXTINF:-1,Ok\nhttp://ok.example/\n#EXTINF:-1,Lost\n",
        "p.m3u:3: error: `#EXTINF` has no URL line"
    )]
    #[case::non_http(
        "#EXTINF:-1,Ok\nhttp://ok.example/\n#EXTINF:-1,Mms\nmms://bad.example/\n",
        "p.m3u:3: error: stream URL `mms://bad.example/` uses `mms:`"
    )]
    fn malformed_entries_are_skipped(#[case] text: &str, #[case] expected: &str) {
        let (stations, diags) = parse_pack(text, PackFormat::M3u, Path::new("p.m3u"));
        assert_eq!(stations.len(), 1, "{diags:?}");
        assert_eq!(stations[0].name, "Ok");
        assert!(
            diags.iter().any(|d| d.to_string().starts_with(expected)),
            "{diags:?}"
        );
    }
}
