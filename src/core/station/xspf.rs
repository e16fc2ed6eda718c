//! XSPF playlists (`.xspf`, what Icecast serves per mount as `/mount.xspf`):
//! `<playlist><trackList><track><location>URL</location><title>…</title>…</track></trackList></playlist>`.
//!
//! [`tracks`] is the pure reader the audio engine reuses for stream indirection; [`parse`] turns the tracks
//! into station drafts for packs. XML goes through `roxmltree` with DTDs refused (so no entity expansion
//! beyond the five predefined ones), a node limit, an input size limit and an element depth limit: a
//! hostile file costs bounded time and memory. Element names are matched by local name, so files with
//! and without the `http://xspf.org/ns/0/` namespace both read.

use std::path::Path;

use roxmltree::{Document, Node, ParsingOptions};

use super::model::{Diagnostic, DropReason, Origin, StationDraft};
use super::pack::{DraftAt, PackError, RawPack};

/// Largest XSPF text read (a playlist of 100,000 tracks is about 15 MB).
pub const MAX_XSPF_BYTES: usize = 32 * 1024 * 1024;
/// Most XML nodes (elements, text, comments) in one file.
pub const MAX_XSPF_NODES: u32 = 2_000_000;
/// Deepest element nesting accepted; XSPF itself needs 4 (`playlist/trackList/track/location`).
pub const MAX_XSPF_DEPTH: usize = 32;

/// One `<track>`: its fields as written (trimmed, empty ones are `None`) and the line it starts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XspfTrack {
    pub title: Option<String>,
    pub creator: Option<String>,
    pub annotation: Option<String>,
    /// A page about the track (`<info>`): the station's homepage in Icecast's playlists.
    pub info: Option<String>,
    pub image: Option<String>,
    /// Every `<location>`, in document order: the first is preferred, the rest are fallbacks.
    pub locations: Vec<String>,
    /// 1-based line of the `<track>` tag.
    pub line: u32,
}

/// Why a text is not a readable XSPF playlist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XspfError {
    #[error("invalid XML: {message}")]
    Xml { line: u32, message: String },
    #[error("not an XSPF playlist (the root element is `<{root}>`, expected `<playlist>`)")]
    NotXspf { line: u32, root: String },
    #[error("elements are nested deeper than {MAX_XSPF_DEPTH} levels")]
    TooDeep { line: u32 },
    #[error("playlist is {bytes} bytes; at most {MAX_XSPF_BYTES} are read")]
    TooLarge { bytes: usize },
}

impl XspfError {
    /// 1-based line the problem is at.
    pub fn line(&self) -> u32 {
        match self {
            Self::Xml { line, .. } | Self::NotXspf { line, .. } | Self::TooDeep { line } => *line,
            Self::TooLarge { .. } => 1,
        }
    }
}

/// Reads the tracks of an XSPF playlist, in document order. Tracks without a `<location>` are returned
/// too (with no locations) so callers can say which one is unusable.
pub fn tracks(text: &str) -> Result<Vec<XspfTrack>, XspfError> {
    if text.len() > MAX_XSPF_BYTES {
        return Err(XspfError::TooLarge { bytes: text.len() });
    }
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XSPF_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| XspfError::Xml {
        line: e.pos().row,
        message: e.to_string(),
    })?;
    check_depth(&doc)?;
    let root = doc.root_element();
    if root.tag_name().name() != "playlist" {
        return Err(XspfError::NotXspf {
            line: line_of(&doc, root),
            root: root.tag_name().name().chars().take(64).collect(),
        });
    }
    let tracks = children_named(root, "trackList")
        .flat_map(|list| children_named(list, "track"))
        .map(|track| read_track(&doc, track))
        .collect();
    Ok(tracks)
}

/// Refuses documents nested deeper than [`MAX_XSPF_DEPTH`]; counting at most that many ancestors per
/// element keeps it linear.
fn check_depth(doc: &Document<'_>) -> Result<(), XspfError> {
    let too_deep = doc
        .descendants()
        .filter(Node::is_element)
        .find(|node| node.ancestors().take(MAX_XSPF_DEPTH + 2).count() > MAX_XSPF_DEPTH + 1);
    match too_deep {
        Some(node) => Err(XspfError::TooDeep {
            line: line_of(doc, node),
        }),
        None => Ok(()),
    }
}

fn children_named<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children()
        .filter(move |child| child.is_element() && child.tag_name().name() == name)
}

fn read_track(doc: &Document<'_>, track: Node<'_, '_>) -> XspfTrack {
    let mut out = XspfTrack {
        line: line_of(doc, track),
        ..XspfTrack::default()
    };
    for child in track.children().filter(Node::is_element) {
        let text = element_text(child);
        match child.tag_name().name() {
            "location" => out.locations.extend(text),
            "title" => out.title = out.title.or(text),
            "creator" => out.creator = out.creator.or(text),
            "annotation" => out.annotation = out.annotation.or(text),
            "info" => out.info = out.info.or(text),
            "image" => out.image = out.image.or(text),
            _ => {}
        }
    }
    out
}

/// The text inside an element (all its text nodes, so CDATA and entities join), trimmed; `None` when
/// empty.
fn element_text(node: Node<'_, '_>) -> Option<String> {
    let text: String = node
        .descendants()
        .filter(Node::is_text)
        .filter_map(|t| t.text())
        .collect();
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn line_of(doc: &Document<'_>, node: Node<'_, '_>) -> u32 {
    doc.text_pos_at(node.range().start).row
}

/// An XSPF pack: one station per track with a location. Invalid XML fails the whole file.
pub fn parse(text: &str, file: &Path) -> Result<RawPack, PackError> {
    let origin = Origin::file(file);
    let tracks = tracks(text).map_err(|e| {
        PackError(Diagnostic::error(
            origin.at(e.line()),
            format!("invalid XSPF: {e}"),
        ))
    })?;
    let mut pack = RawPack::default();
    for track in tracks {
        if track.locations.is_empty() {
            pack.diagnostics.push(Diagnostic::dropped(
                origin.at(track.line),
                DropReason::NoUrl,
                "`<track>` has no `<location>`; skipped",
            ));
            continue;
        }
        let line = track.line;
        pack.drafts.push(DraftAt {
            draft: draft(track),
            line,
        });
    }
    Ok(pack)
}

/// Icecast's annotation is `Key: value` lines (`Stream Title: …`, `Stream Description: …`,
/// `Stream Genre: …`, `Bitrate: 128`, `Content Type: audio/mpeg`).
fn annotation_field<'a>(annotation: Option<&'a str>, key: &str) -> Option<&'a str> {
    annotation?.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        let v = v.trim();
        (k.trim().eq_ignore_ascii_case(key) && !v.is_empty()).then_some(v)
    })
}

fn draft(track: XspfTrack) -> StationDraft {
    let annotation = track.annotation.as_deref();
    // Icecast writes the server name into the annotation and the current song into `<title>`: the
    // server name is the station's stable name, so it wins when present.
    let name = annotation_field(annotation, "Stream Title")
        .map(str::to_owned)
        .or(track.title.clone())
        .or(track.creator.clone())
        .or_else(|| {
            track
                .locations
                .first()
                .map(|url| super::m3u::name_from_url(url))
        });
    let described = annotation_field(annotation, "Stream Description").map(str::to_owned);
    // An annotation that is not Icecast's key/value block is a plain description.
    let plain = annotation
        .filter(|a| annotation_field(Some(a), "Stream Title").is_none())
        .map(str::to_owned);
    StationDraft {
        name,
        description: described.or(plain),
        tags: annotation_field(annotation, "Stream Genre")
            .map(|g| {
                g.split([',', ';', '|'])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        codec: annotation_field(annotation, "Content Type").map(str::to_owned),
        bitrate: annotation_field(annotation, "Bitrate").and_then(super::pack::parse_bitrate),
        homepage: track.info,
        logo: track.image,
        streams: track.locations,
        ..StationDraft::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::station::model::PackFormat;
    use crate::core::station::pack::parse_pack;
    use rstest::rstest;

    /// What Icecast 2.4 serves at `/live.mp3.xspf` (its xspf.xsl), with the song playing in `<title>`.
    const ICECAST: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<playlist xmlns="http://xspf.org/ns/0/" version="1">
  <title/>
  <creator/>
  <trackList>
    <track>
      <location>http://127.0.0.1:8000/live.mp3</location>
      <creator>Some Artist</creator>
      <title>Some Song</title>
      <annotation>Stream Title: Radio Test
Stream Description: Jazz all day
Content Type:audio/mpeg
Bitrate: 128
Current Listeners: 0
Peak Listeners: 0
Stream Genre: Jazz, Blues</annotation>
      <info>http://radio.example/</info>
    </track>
  </trackList>
</playlist>
"#;

    #[test]
    fn reads_icecast_tracks() {
        let tracks = tracks(ICECAST).expect("valid");
        assert_eq!(tracks.len(), 1);
        assert_eq!(tracks[0].locations, ["http://127.0.0.1:8000/live.mp3"]);
        assert_eq!(tracks[0].title.as_deref(), Some("Some Song"));
        assert_eq!(tracks[0].line, 6);
    }

    #[test]
    fn an_icecast_mount_is_a_station_named_after_the_server() {
        let (stations, diags) = parse_pack(ICECAST, PackFormat::Xspf, Path::new("live.xspf"));
        assert!(diags.is_empty(), "{diags:?}");
        let s = &stations[0];
        assert_eq!(s.name, "Radio Test");
        assert_eq!(s.id.as_str(), "radio-test");
        assert_eq!(s.description.as_deref(), Some("Jazz all day"));
        assert_eq!(s.tags, ["jazz", "blues"]);
        assert_eq!(s.bitrate, Some(128));
        assert_eq!(s.codec, Some(crate::core::station::Codec::Mp3));
        assert_eq!(
            s.homepage.as_deref().map(url::Url::as_str),
            Some("http://radio.example/")
        );
        assert_eq!(s.origin.to_string(), "live.xspf:6");
    }

    #[test]
    fn plain_xspf_without_namespace_with_mirrors() {
        let text = "<playlist version=\"1\"><trackList>\n<track><title>A &amp; B</title>\
                    <location>http://a.example/1</location><location>http://a.example/2</location>\
                    <image>http://a.example/logo.png</image><annotation>Just music</annotation></track>\n\
                    <track><location> https://b.example/ </location></track>\n\
                    </trackList></playlist>";
        let (stations, diags) = parse_pack(text, PackFormat::Xspf, Path::new("p.xspf"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stations.len(), 2);
        assert_eq!(stations[0].name, "A & B");
        assert_eq!(stations[0].streams.len(), 2);
        assert_eq!(stations[0].description.as_deref(), Some("Just music"));
        assert_eq!(stations[1].name, "b.example");
    }

    #[rstest]
    #[case::syntax(
        "<playlist><trackList>\n<track></trackList>",
        "p.xspf:2: error: invalid XSPF: invalid XML"
    )]
    #[case::dtd_entities(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">]>\n<playlist/>",
        "error: invalid XSPF: invalid XML"
    )]
    #[case::not_xspf(
        "<rss><channel/></rss>",
        "p.xspf:1: error: invalid XSPF: not an XSPF playlist"
    )]
    fn broken_files_fail_as_a_whole(#[case] text: &str, #[case] expected: &str) {
        let (stations, diags) = parse_pack(text, PackFormat::Xspf, Path::new("p.xspf"));
        assert!(stations.is_empty());
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(diags[0].to_string().contains(expected), "{}", diags[0]);
        assert_eq!(diags[0].dropped, Some(DropReason::BrokenFile));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!(
            "<playlist>{}{}</playlist>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        assert!(matches!(tracks(&text), Err(XspfError::TooDeep { .. })));
    }

    #[test]
    fn a_track_without_location_is_dropped_with_its_reason() {
        let text = "<playlist><trackList><track><title>X</title></track></trackList></playlist>";
        let (stations, diags) = parse_pack(text, PackFormat::Xspf, Path::new("p.xspf"));
        assert!(stations.is_empty());
        assert_eq!(diags[0].dropped, Some(DropReason::NoUrl));
    }
}
