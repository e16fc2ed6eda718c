//! M3U/M3U8 packs: `#EXTINF:-1 tvg-logo="…" group-title="Jazz;Blues" tvg-country="DE" tvg-language="German",Name`
//! followed by the stream URL line. Read the way VLC and mpv read it: any case of `#EXTINF`, an
//! `#EXTINF` without a comma (the entry is named by `tvg-name`, else by its URL), and a bare URL line
//! without `#EXTINF` (a station named after its host and path, with a warning). `tvg-id` is only an id
//! hint: `ATV.ad` becomes `atv-ad`. Pure; never fails as a whole file (every line stands alone).

use std::path::Path;

use super::model::{Diagnostic, DropReason, Origin, StationDraft};
use super::pack::{DraftAt, RawPack};

/// An `#EXTINF` waiting for its URL line.
struct Pending {
    line: u32,
    draft: StationDraft,
}

pub fn parse(text: &str, file: &Path) -> RawPack {
    let origin = Origin::file(file);
    let mut pack = RawPack::default();
    let mut pending: Option<Pending> = None;
    let orphan = |pack: &mut RawPack, entry: Pending| {
        pack.diagnostics.push(Diagnostic::dropped(
            origin.at(entry.line),
            DropReason::NoUrl,
            "`#EXTINF` has no URL line after it; skipped",
        ));
    };
    for (i, raw_line) in text.lines().enumerate() {
        let line_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let line = raw_line.trim().trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        if let Some(info) = strip_directive(line, "#EXTINF:") {
            if let Some(entry) = pending.take() {
                orphan(&mut pack, entry);
            }
            pending = Some(Pending {
                line: line_no,
                draft: extinf(info),
            });
        } else if line.starts_with('#') {
            // #EXTM3U, #EXTGRP, #EXTVLCOPT and other directives or comments.
            if let Some(group) = strip_directive(line, "#EXTGRP:")
                && let Some(entry) = pending.as_mut()
            {
                entry.draft.tags.extend(split_groups(group));
            }
        } else {
            let line = without_kodi_headers(line, &origin.at(line_no), &mut pack.diagnostics);
            let looks_like_url = url::Url::parse(line).is_ok();
            let (line_at, mut draft) = if let Some(entry) = pending.take() {
                (entry.line, entry.draft)
            } else {
                let name = name_from_url(line);
                // A line that is not a URL at all is reported once, by validation ("not a valid URL").
                if looks_like_url {
                    pack.diagnostics.push(Diagnostic::warning(
                        origin.at(line_no),
                        format!("URL without `#EXTINF`; named `{name}` after its address"),
                    ));
                }
                let draft = StationDraft {
                    name: Some(name),
                    ..StationDraft::default()
                };
                (line_no, draft)
            };
            if draft.name.is_none() && looks_like_url {
                // `#EXTINF:-1` without a comma or title: players show the URL; so do we.
                draft.name = Some(name_from_url(line));
            }
            draft.streams.push(line.to_owned());
            pack.drafts.push(DraftAt {
                draft,
                line: line_at,
            });
        }
    }
    if let Some(entry) = pending {
        orphan(&mut pack, entry);
    }
    pack
}

/// Kodi's `URL|User-Agent=…&Referer=…` puts HTTP headers after a `|`; the URL is what comes before (a
/// `|` is not valid in a URL, so nothing is lost). The headers are not sent: one warning says so.
fn without_kodi_headers<'a>(
    line: &'a str,
    at: &Origin,
    diagnostics: &mut Vec<Diagnostic>,
) -> &'a str {
    let Some((url, headers)) = line.split_once('|') else {
        return line;
    };
    let header_like = headers.split_once('=').is_some_and(|(key, _)| {
        !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if !header_like {
        return line;
    }
    diagnostics.push(Diagnostic::warning(
        at.clone(),
        "Kodi-style `|header=value` after the URL; the headers are ignored",
    ));
    url.trim()
}

/// `line` without `directive` at its start, compared case-insensitively (`#extinf:` is `#EXTINF:`).
fn strip_directive<'a>(line: &'a str, directive: &str) -> Option<&'a str> {
    let (head, rest) = line.split_at_checked(directive.len())?;
    head.eq_ignore_ascii_case(directive).then_some(rest)
}

/// `-1 key="value" key2="v",Display Name` → draft with name and attributes.
fn extinf(info: &str) -> StationDraft {
    let (attrs, name) = split_title(info);
    let mut draft = StationDraft {
        // A title of only invisible characters is no title: the URL names the entry then.
        name: Some(name.trim().to_owned()).filter(|n| !super::model::clean_text(n).is_empty()),
        ..StationDraft::default()
    };
    for (key, value) in attributes(attrs) {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match key.to_ascii_lowercase().as_str() {
            "tvg-id" => draft.id_hint = Some(value.to_owned()),
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

/// Splits at the first comma outside double quotes (attribute values may contain commas). Without such
/// a comma the whole text is attributes and the title is empty.
fn split_title(info: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in info.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                if let Some((attrs, rest)) = info.split_at_checked(i) {
                    return (attrs, rest.strip_prefix(',').unwrap_or(rest));
                }
            }
            _ => {}
        }
    }
    (info, "")
}

/// `key="value"` pairs (values may be unquoted); the leading duration is ignored.
fn attributes(attrs: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = attrs.trim();
    while let Some((before, after)) = rest.split_once('=') {
        let key = before
            .rsplit(char::is_whitespace)
            .next()
            .unwrap_or_default()
            .to_owned();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            quoted.split_once('"').unwrap_or((quoted, ""))
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            after.split_at_checked(end).unwrap_or((after, ""))
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
pub(crate) fn name_from_url(raw: &str) -> String {
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

    #[rstest]
    #[case::no_comma("#EXTINF:-1\nhttp://radio.example/live.mp3\n", "radio.example live")]
    #[case::no_comma_tvg_name(
        "#EXTINF:-1 tvg-name=\"Radio Nord\" tvg-logo=\"http://radio.example/logo.png\"\nhttp://radio.example/live.mp3\n",
        "Radio Nord"
    )]
    #[case::lowercase("#extinf:-1,Lower Case FM\nhttp://radio.example/a\n", "Lower Case FM")]
    #[case::mixed_case("#ExtInf:-1,Mixed FM\nhttp://radio.example/a\n", "Mixed FM")]
    #[case::comma_in_attribute(
        "#EXTINF:-1 group-title=\"Pop, Rock\"\nhttp://radio.example/a\n",
        "radio.example a"
    )]
    fn extinf_the_way_players_read_it(#[case] text: &str, #[case] name: &str) {
        let (stations, diags) = parse_pack(text, PackFormat::M3u, Path::new("p.m3u"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stations.len(), 1);
        assert_eq!(stations[0].name, name);
    }

    #[rstest]
    #[case::dot("ATV.ad", "atv-ad")]
    #[case::at("AndorraTV.ad@Web", "andorratv-ad-web")]
    #[case::upper("BBCRadio1", "bbcradio1")]
    #[case::number_is_no_id("29", "some-tv")]
    fn non_slug_tvg_ids_are_slugified(#[case] tvg_id: &str, #[case] id: &str) {
        let text = format!("#EXTINF:-1 tvg-id=\"{tvg_id}\",Some TV\nhttp://tv.example/a.m3u8\n");
        let (stations, diags) = parse_pack(&text, PackFormat::M3u, Path::new("p.m3u"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stations[0].id.as_str(), id);
    }

    #[rstest]
    #[case::rtmp("#EXTINF:-1,A\nrtmp://x.example/live\n", DropReason::NotHttp("rtmp".into()))]
    #[case::relative("#EXTINF:-1,A\nchannels/af.m3u\n", DropReason::NotAUrl)]
    #[case::bare_garbage("just some words\n", DropReason::NotAUrl)]
    #[case::no_url("#EXTINF:-1,A\n", DropReason::NoUrl)]
    fn every_drop_has_one_typed_reason(#[case] text: &str, #[case] reason: DropReason) {
        let (stations, diags) = parse_pack(text, PackFormat::M3u, Path::new("p.m3u"));
        assert!(stations.is_empty());
        let reasons: Vec<_> = diags.iter().filter_map(|d| d.dropped.clone()).collect();
        assert_eq!(reasons, [reason], "{diags:?}");
    }

    #[test]
    fn kodi_header_suffix_is_not_part_of_the_url() {
        let text = "#EXTINF:-1,Times Now\nhttps://tv.example/live/chunklist_3.m3u8|user-agent=\"Mozilla/5.0 (Linux)\"\n";
        let (stations, diags) = parse_pack(text, PackFormat::M3u, Path::new("p.m3u"));
        assert_eq!(
            stations[0].primary_stream().as_str(),
            "https://tv.example/live/chunklist_3.m3u8"
        );
        assert!(
            diags[0]
                .to_string()
                .starts_with("p.m3u:2: warning: Kodi-style"),
            "{diags:?}"
        );
    }

    #[test]
    fn a_bom_and_crlf_are_not_part_of_the_first_line() {
        let text = "\u{feff}#EXTM3U\r\n#EXTINF:-1,A\r\nhttp://a.example/\r\n";
        let (stations, diags) = parse_pack(text, PackFormat::M3u, Path::new("p.m3u"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stations[0].primary_stream().as_str(), "http://a.example/");
    }
}
