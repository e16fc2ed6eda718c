//! Pure parsers for the playlists radio stations hide their streams behind: PLS, M3U/M3U8 and HLS.
//!
//! No I/O here: [`parse`] takes a body and the URL it came from and returns what to fetch next. Relative
//! entries are resolved against that URL; only http(s) entries are kept (a `file:` or `rtsp:` line in a
//! station's playlist is not something we can play).

use url::Url;

/// Which playlist syntax a body is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistKind {
    Pls,
    /// M3U, extended M3U and M3U8; HLS is recognised inside by its tags.
    M3u,
    /// XSPF: Icecast serves one for every mount (`/mount.xspf`), `<location>`s inside `<track>`s.
    Xspf,
}

/// What a playlist points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playlist {
    /// Alternative stream URLs in order of preference (PLS or plain M3U).
    Streams(Vec<Url>),
    /// An HLS media playlist: segments to fetch in order, refreshed every target duration.
    HlsMedia(HlsMedia),
    /// An HLS master playlist: variant playlists, best first by the order we prefer (see [`parse`]).
    HlsMaster(Vec<HlsVariant>),
}

/// An HLS media playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsMedia {
    /// `#EXT-X-TARGETDURATION` in seconds (at least 1).
    pub target_duration: u64,
    /// `#EXT-X-MEDIA-SEQUENCE` of the first segment.
    pub media_sequence: u64,
    pub segments: Vec<Url>,
    /// `#EXT-X-ENDLIST` seen: a finished (VOD) playlist, not a live one.
    pub ended: bool,
    /// `#EXT-X-MAP:URI=…`: the init segment (`ftyp` + `moov`) fMP4/CMAF segments need before them.
    pub init_map: Option<Url>,
}

/// One `#EXT-X-STREAM-INF` variant of a master playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsVariant {
    pub url: Url,
    pub bandwidth: Option<u64>,
    pub codecs: Option<String>,
}

/// Why a playlist body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaylistError {
    #[error("the playlist has no http(s) stream entries")]
    Empty,
    #[error("the playlist is not text")]
    NotText,
    #[error("the XSPF playlist cannot be read: {0}")]
    Xspf(String),
}

/// Guesses the playlist kind from a content type, the URL's extension, or the body's first bytes.
pub fn detect(content_type: Option<&str>, url: &Url, body_start: &[u8]) -> Option<PlaylistKind> {
    let mime = content_type
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match mime.as_str() {
        "audio/x-scpls" | "application/pls+xml" | "audio/scpls" => return Some(PlaylistKind::Pls),
        "audio/x-mpegurl"
        | "audio/mpegurl"
        | "application/x-mpegurl"
        | "application/vnd.apple.mpegurl"
        | "application/vnd.apple.mpegurl.audio" => {
            return Some(PlaylistKind::M3u);
        }
        "application/xspf+xml" => return Some(PlaylistKind::Xspf),
        _ => {}
    }
    // Bytes, not text: an Icecast connect burst starts mid-frame, so the head is arbitrary binary and a
    // lossy UTF-8 view of it has multi-byte U+FFFDs where a byte index would split a char.
    let head = body_start
        .get(..body_start.len().min(512))
        .unwrap_or(body_start);
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let head = head.trim_ascii_start();
    if head
        .get(..10)
        .is_some_and(|h| h.eq_ignore_ascii_case(b"[playlist]"))
    {
        return Some(PlaylistKind::Pls);
    }

    if head.starts_with(b"#EXTM3U") {
        return Some(PlaylistKind::M3u);
    }
    if looks_like_xspf(head) {
        return Some(PlaylistKind::Xspf);
    }
    // An audio content type wins over the extension: `stream.m3u` answering `audio/mpeg` is audio.
    if mime.starts_with("audio/") || mime.starts_with("application/ogg") {
        return None;
    }
    let extension = std::path::Path::new(url.path())
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if extension.as_deref() == Some("pls") {
        return Some(PlaylistKind::Pls);
    }
    if extension.as_deref() == Some("xspf") && head.starts_with(b"<") {
        return Some(PlaylistKind::Xspf);
    }
    if matches!(extension.as_deref(), Some("m3u" | "m3u8")) {
        // A bare `http://…` line list without #EXTM3U still counts when the URL says so.
        if head.starts_with(b"http://") || head.starts_with(b"https://") || head.starts_with(b"#") {
            return Some(PlaylistKind::M3u);
        }
    }
    None
}

/// Parses a playlist body fetched from `base`.
pub fn parse(kind: PlaylistKind, body: &[u8], base: &Url) -> Result<Playlist, PlaylistError> {
    let text = std::str::from_utf8(body).map(str::to_owned).or_else(|_| {
        // Old PLS files are often Latin-1; any byte maps to a char, so this cannot fail.
        if body.contains(&0) {
            Err(PlaylistError::NotText)
        } else {
            Ok(body.iter().map(|&b| char::from(b)).collect())
        }
    })?;
    let text = text.trim_start_matches('\u{feff}');
    match kind {
        PlaylistKind::Pls => parse_pls(text, base),
        PlaylistKind::M3u => parse_m3u(text, base),
        PlaylistKind::Xspf => parse_xspf(text, base),
    }
}

/// An XML document whose root element is `<playlist>` (after an optional declaration and comments),
/// seen in the first bytes.
fn looks_like_xspf(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let mut rest = text.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("<?") {
            rest = after.split_once("?>").map_or("", |(_, r)| r).trim_start();
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.split_once("-->").map_or("", |(_, r)| r).trim_start();
        } else {
            break;
        }
    }
    rest.strip_prefix("<playlist")
        .is_some_and(|r| r.starts_with([' ', '>', '\n', '\r', '\t']))
}

/// Every `<location>` of every track, in order: the first is preferred, the rest are fallbacks.
fn parse_xspf(text: &str, base: &Url) -> Result<Playlist, PlaylistError> {
    let tracks =
        crate::core::station::xspf::tracks(text).map_err(|e| PlaylistError::Xspf(e.to_string()))?;
    let mut urls: Vec<Url> = Vec::new();
    for location in tracks.iter().flat_map(|t| &t.locations) {
        if let Some(url) = resolve(base, location)
            && !urls.contains(&url)
        {
            urls.push(url);
        }
    }
    if urls.is_empty() {
        return Err(PlaylistError::Empty);
    }
    Ok(Playlist::Streams(urls))
}

fn resolve(base: &Url, raw: &str) -> Option<Url> {
    let url = base.join(raw.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

fn parse_pls(text: &str, base: &Url) -> Result<Playlist, PlaylistError> {
    // `FileN=` entries, ordered by N (files list them in any order; N says the preference).
    let mut entries: Vec<(u32, Url)> = text
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            let key = key.trim();
            let (field, n) = key.split_at_checked(4)?;
            let n = n
                .parse::<u32>()
                .ok()
                .filter(|_| field.eq_ignore_ascii_case("file"))?;
            Some((n, resolve(base, value)?))
        })
        .collect();
    entries.sort_by_key(|(n, _)| *n);
    let mut urls: Vec<Url> = Vec::new();
    for (_, url) in entries {
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    if urls.is_empty() {
        return Err(PlaylistError::Empty);
    }
    Ok(Playlist::Streams(urls))
}

fn parse_m3u(text: &str, base: &Url) -> Result<Playlist, PlaylistError> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let is_master = lines.iter().any(|l| l.starts_with("#EXT-X-STREAM-INF"));
    let is_media = lines
        .iter()
        .any(|l| l.starts_with("#EXT-X-TARGETDURATION") || l.starts_with("#EXT-X-MEDIA-SEQUENCE"));
    if is_master {
        let mut variants = Vec::new();
        let mut pending: Option<(Option<u64>, Option<String>)> = None;
        for line in &lines {
            if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
                let bandwidth = attribute(attrs, "BANDWIDTH").and_then(|b| b.parse().ok());
                pending = Some((bandwidth, attribute(attrs, "CODECS")));
            } else if !line.starts_with('#')
                && let Some((bandwidth, codecs)) = pending.take()
                && let Some(url) = resolve(base, line)
            {
                variants.push(HlsVariant {
                    url,
                    bandwidth,
                    codecs,
                });
            }
        }
        if variants.is_empty() {
            return Err(PlaylistError::Empty);
        }
        return Ok(Playlist::HlsMaster(variants));
    }
    if is_media {
        let mut media = HlsMedia {
            target_duration: 1,
            media_sequence: 0,
            segments: Vec::new(),
            ended: false,
            init_map: None,
        };
        for line in &lines {
            if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
                media.target_duration = v.trim().parse::<u64>().unwrap_or(1).max(1);
            } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                media.media_sequence = v.trim().parse().unwrap_or(0);
            } else if line.starts_with("#EXT-X-ENDLIST") {
                media.ended = true;
            } else if let Some(attrs) = line.strip_prefix("#EXT-X-MAP:") {
                media.init_map = attribute(attrs, "URI").and_then(|uri| resolve(base, &uri));
            } else if !line.starts_with('#')
                && let Some(url) = resolve(base, line)
            {
                media.segments.push(url);
            }
        }
        return Ok(Playlist::HlsMedia(media));
    }
    let mut urls: Vec<Url> = Vec::new();
    for line in lines.iter().filter(|l| !l.starts_with('#')) {
        if let Some(url) = resolve(base, line)
            && !urls.contains(&url)
        {
            urls.push(url);
        }
    }
    if urls.is_empty() {
        return Err(PlaylistError::Empty);
    }
    Ok(Playlist::Streams(urls))
}

/// Reads `KEY=value` or `KEY="value"` from an HLS attribute list (quoted values may contain commas).
fn attribute(attrs: &str, key: &str) -> Option<String> {
    let mut rest = attrs;
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=')?;
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let (value, next) = quoted.split_once('"')?;
            (value, next.trim_start_matches(','))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        if name.trim().eq_ignore_ascii_case(key) {
            return Some(value.to_owned());
        }
        rest = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn base() -> Url {
        Url::parse("http://radio.example/listen/station.pls").expect("url")
    }

    fn urls(p: &Playlist) -> Vec<String> {
        match p {
            Playlist::Streams(u) => u.iter().map(ToString::to_string).collect(),
            other => panic!("not streams: {other:?}"),
        }
    }

    #[test]
    fn pls_orders_by_number_resolves_relative_and_dedups() {
        let body = "[playlist]\nNumberOfEntries=3\nFile2=http://b.example/live\nTitle1=x\n\
                    File1=/stream.mp3\nFile3=http://b.example/live\nLength1=-1\nVersion=2\n";
        let p = parse(PlaylistKind::Pls, body.as_bytes(), &base()).expect("pls");
        assert_eq!(
            urls(&p),
            ["http://radio.example/stream.mp3", "http://b.example/live"]
        );
    }

    #[test]
    fn pls_latin1_and_crlf() {
        let mut body =
            b"[Playlist]\r\nTitle1=Radio M\xfcnchen\r\nfile1=http://a.example/x\r\n".to_vec();
        body.extend_from_slice(b"\r\n");
        let p = parse(PlaylistKind::Pls, &body, &base()).expect("pls");
        assert_eq!(urls(&p), ["http://a.example/x"]);
    }

    #[rstest]
    #[case::no_entries("[playlist]\nNumberOfEntries=0\n")]
    #[case::only_unplayable("[playlist]\nFile1=rtsp://a.example/x\nFile2=file:///etc/passwd\n")]
    fn pls_without_streams_is_empty(#[case] body: &str) {
        assert_eq!(
            parse(PlaylistKind::Pls, body.as_bytes(), &base()),
            Err(PlaylistError::Empty)
        );
    }

    #[test]
    fn m3u_plain_and_extended() {
        let body = "#EXTM3U\n#EXTINF:-1,Radio\nhttp://a.example/1\n\nrelative/2.aac\n# comment\n";
        let p = parse(PlaylistKind::M3u, body.as_bytes(), &base()).expect("m3u");
        assert_eq!(
            urls(&p),
            [
                "http://a.example/1",
                "http://radio.example/listen/relative/2.aac"
            ]
        );
    }

    #[test]
    fn hls_media_playlist() {
        let body = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:120\n\
                    #EXTINF:6.0,\nseg120.aac\n#EXTINF:6.0,\nhttps://cdn.example/seg121.aac\n";
        let p = parse(PlaylistKind::M3u, body.as_bytes(), &base()).expect("hls");
        let Playlist::HlsMedia(media) = p else {
            panic!("not media: {p:?}")
        };
        assert_eq!(media.target_duration, 6);
        assert_eq!(media.media_sequence, 120);
        assert!(!media.ended);
        assert_eq!(
            media.segments[0].as_str(),
            "http://radio.example/listen/seg120.aac"
        );
        assert_eq!(media.segments[1].as_str(), "https://cdn.example/seg121.aac");
        assert_eq!(media.init_map, None);
    }

    #[test]
    fn hls_fmp4_playlist_names_its_init_segment() {
        let body = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n\
                    #EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"720@0\"\n#EXTINF:2.0,\nseg1.m4s\n";
        let p = parse(PlaylistKind::M3u, body.as_bytes(), &base()).expect("hls");
        let Playlist::HlsMedia(media) = p else {
            panic!("not media: {p:?}")
        };
        assert_eq!(
            media.init_map.as_ref().map(Url::as_str),
            Some("http://radio.example/listen/init.mp4")
        );
        assert_eq!(media.segments.len(), 1);
    }

    #[test]
    fn hls_master_playlist_with_quoted_codecs() {
        let body = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=128000,CODECS=\"mp4a.40.2,mp4a.40.5\"\n\
                    hi/index.m3u8\n#EXT-X-STREAM-INF:CODECS=\"mp4a.40.5\",BANDWIDTH=48000\nlo/index.m3u8\n";
        let p = parse(PlaylistKind::M3u, body.as_bytes(), &base()).expect("master");
        let Playlist::HlsMaster(variants) = p else {
            panic!("not master: {p:?}")
        };
        assert_eq!(variants.len(), 2);
        assert_eq!(variants[0].bandwidth, Some(128_000));
        assert_eq!(variants[0].codecs.as_deref(), Some("mp4a.40.2,mp4a.40.5"));
        assert_eq!(variants[1].bandwidth, Some(48_000));
        assert_eq!(
            variants[1].url.as_str(),
            "http://radio.example/listen/lo/index.m3u8"
        );
    }

    #[rstest]
    #[case::pls_mime(Some("audio/x-scpls"), "http://a/x", b"" as &[u8], Some(PlaylistKind::Pls))]
    #[case::hls_mime(
        Some("application/vnd.apple.mpegurl"),
        "http://a/x",
        b"",
        Some(PlaylistKind::M3u)
    )]
    #[case::pls_body(
        Some("text/plain"),
        "http://a/x",
        b"[playlist]\nFile1=http://b/",
        Some(PlaylistKind::Pls)
    )]
    #[case::m3u_body(None, "http://a/x", b"#EXTM3U\n", Some(PlaylistKind::M3u))]
    #[case::m3u_ext(
        Some("text/plain"),
        "http://a/x.m3u",
        b"http://b/\n",
        Some(PlaylistKind::M3u)
    )]
    #[case::pls_ext(None, "http://a/x.PLS", b"", Some(PlaylistKind::Pls))]
    #[case::audio_wins_over_ext(Some("audio/mpeg"), "http://a/x.m3u", b"\xff\xfb", None)]
    #[case::mp3(Some("audio/mpeg"), "http://a/live", b"\xff\xfb\x90", None)]
    #[case::html(Some("text/html"), "http://a/", b"<!doctype html>", None)]
    #[case::xspf_mime(
        Some("application/xspf+xml; charset=UTF-8"),
        "http://a/live.mp3.xspf",
        b"<?xml",
        Some(PlaylistKind::Xspf)
    )]
    #[case::xspf_body(
        Some("text/xml"),
        "http://a/x",
        b"<?xml version=\"1.0\"?>\n<!-- by icecast -->\n<playlist xmlns=\"http://xspf.org/ns/0/\">",
        Some(PlaylistKind::Xspf)
    )]
    #[case::other_xml(Some("text/xml"), "http://a/x", b"<?xml version=\"1.0\"?><rss>", None)]
    fn detect_cases(
        #[case] ct: Option<&str>,
        #[case] url: &str,
        #[case] body: &[u8],
        #[case] expected: Option<PlaylistKind>,
    ) {
        let url = Url::parse(url).expect("url");
        assert_eq!(detect(ct, &url, body), expected);
    }

    /// Regression: `stations check` panicked (exit 101) on real Icecast MP3/AAC connections. The connect
    /// burst starts mid-frame; `detect` sliced `head[..10]` of a lossy UTF-8 string, and byte 10 fell
    /// inside a U+FFFD.
    #[test]
    fn detect_never_panics_on_a_binary_burst_that_starts_mid_frame() {
        let url = Url::parse("http://a/live").expect("url");
        // 0xff bytes become three-byte U+FFFDs in a lossy view: byte 10 lands inside one.
        let burst = [
            0x20, 0x20, 0x20, 0xff, 0xfb, 0x90, 0x64, 0xff, 0xff, 0xc4, 0x00, 0x00,
        ];
        assert_eq!(detect(None, &url, &burst), None);
        assert_eq!(detect(Some("audio/aac"), &url, &burst), None);
        let mut rng = fastrand::Rng::with_seed(13);
        for len in 0..600 {
            let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            for ct in [None, Some("audio/mpeg"), Some("text/plain")] {
                let _ = detect(ct, &url, &bytes);
            }
        }
    }

    #[test]
    fn detect_sees_a_pls_after_a_bom_and_blank_lines() {
        let url = Url::parse("http://a/x").expect("url");
        let body = b"\xef\xbb\xbf\r\n  [Playlist]\r\nFile1=http://b/";
        assert_eq!(detect(None, &url, body), Some(PlaylistKind::Pls));
    }

    /// Regression: Icecast's `/mount.xspf` was refused as "a web page".
    #[test]
    fn icecast_xspf_points_at_its_mount() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<playlist xmlns="http://xspf.org/ns/0/" version="1">
  <title/>
  <creator/>
  <trackList>
    <track>
      <location>http://radio.example:8000/live.mp3</location>
      <creator/>
      <title>Artist - Song</title>
      <annotation>Stream Title: Test FM
Stream Description: tones</annotation>
      <info/>
    </track>
    <track><location>backup.mp3</location></track>
  </trackList>
</playlist>
"#;
        let p = parse(PlaylistKind::Xspf, body.as_bytes(), &base()).expect("xspf");
        assert_eq!(
            urls(&p),
            [
                "http://radio.example:8000/live.mp3",
                "http://radio.example/listen/backup.mp3"
            ]
        );
        assert!(matches!(
            parse(
                PlaylistKind::Xspf,
                b"<playlist><trackList/></playlist>",
                &base()
            ),
            Err(PlaylistError::Empty)
        ));
        assert!(matches!(
            parse(PlaylistKind::Xspf, b"<playlist><unclosed>", &base()),
            Err(PlaylistError::Xspf(_))
        ));
    }
}
