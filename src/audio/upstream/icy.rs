//! ICY (Icecast/Shoutcast) metadata: the `icy-*` response headers and the in-band title blocks a server
//! interleaves into the audio when asked with `Icy-MetaData: 1`.
//!
//! Wire format: after every `icy-metaint` audio bytes comes one length byte L, then L×16 bytes of NUL-padded
//! text such as `StreamTitle='Artist - Song';StreamUrl='…';` (L is 0 most of the time). The text is UTF-8 or
//! Latin-1, and titles may contain `'`. [`IcyDemux`] strips these blocks from a byte stream split at any
//! point; audio handed to a decoder must never contain them (a false MP3 sync on them kills decoding).

use bytes::BytesMut;
use serde::Serialize;

/// What a station says about itself in its `icy-*` / `ice-*` response headers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IcyHeaders {
    /// `icy-br`: nominal bitrate in kbit/s.
    pub bitrate: Option<u32>,
    pub name: Option<String>,
    pub genre: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    /// `icy-metaint`: audio bytes between metadata blocks; `None` when the server interleaves nothing.
    pub metaint: Option<usize>,
    /// `ice-audio-info`: `ice-samplerate=44100;ice-bitrate=128;ice-channels=2`.
    pub audio_info: Option<String>,
}

/// Longest header value we keep: a station's description is not a novel.
const MAX_VALUE_CHARS: usize = 300;

impl IcyHeaders {
    /// Collects the ICY headers from `(name, value)` pairs (names case-insensitive).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut icy = Self::default();
        for (name, raw) in pairs {
            let value = decode_text(raw);
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let text = || Some(value.chars().take(MAX_VALUE_CHARS).collect::<String>());
            match name.to_ascii_lowercase().as_str() {
                // Some servers send "128,128" (Shoutcast v1 quirk): take the first number.
                "icy-br" => {
                    icy.bitrate = value
                        .split([',', ' ', ';'])
                        .next()
                        .and_then(|v| v.trim().parse().ok())
                        .filter(|&b| b > 0);
                }
                "icy-name" => icy.name = text(),
                "icy-genre" => icy.genre = text(),
                "icy-description" => icy.description = text(),
                "icy-url" => icy.url = text(),
                "icy-metaint" => icy.metaint = value.parse().ok().filter(|&n| n > 0),
                "ice-audio-info" | "icy-audio-info" => icy.audio_info = text(),
                _ => {}
            }
        }
        if icy.bitrate.is_none() {
            icy.bitrate = icy
                .audio_info_field("ice-bitrate")
                .or_else(|| icy.audio_info_field("bitrate"))
                .and_then(|v| v.parse().ok())
                .filter(|&b| b > 0);
        }
        icy
    }

    /// From a reqwest/http header map.
    pub fn from_header_map(headers: &reqwest::header::HeaderMap) -> Self {
        Self::from_pairs(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))
    }

    /// One `key=value` of `ice-audio-info`.
    pub fn audio_info_field(&self, key: &str) -> Option<&str> {
        self.audio_info.as_deref()?.split(';').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then_some(v.trim())
        })
    }

    /// True when the server sent any ICY header at all.
    pub fn is_icy(&self) -> bool {
        *self != Self::default()
    }
}

/// UTF-8 when valid, else Latin-1 (every byte is a char): what real stations send.
pub fn decode_text(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => raw.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Extracts `StreamTitle` from one metadata block (`StreamTitle='Artist - Song';StreamUrl='…';`).
/// An empty title is `None`: stations send `StreamTitle='';` between songs or during ads.
pub fn parse_stream_title(raw: &[u8]) -> Option<String> {
    const KEY: &str = "StreamTitle='";
    let text = raw.split(|&b| b == 0).next().unwrap_or_default();
    let text = decode_text(text);
    let (_, rest) = text.split_once(KEY)?;
    // Titles may contain "'": cut at the "';" that starts the next key, else at the last "';", else the end.
    let title = rest
        .split_once("';Stream")
        .or_else(|| rest.rsplit_once("';"))
        .or_else(|| rest.rsplit_once('\''))
        .map_or(rest, |(title, _)| title)
        .trim();
    (!title.is_empty()).then(|| title.to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Audio bytes left before the next length byte.
    Audio(usize),
    /// Expecting the length byte.
    Length,
    /// Metadata bytes left in the current block.
    Meta(usize),
}

/// Splits an ICY byte stream into pure audio and metadata blocks. Feed it chunks as they arrive, split
/// anywhere; create a new one on every reconnect (the `metaint` phase starts over).
#[derive(Debug, Clone)]
pub struct IcyDemux {
    metaint: usize,
    state: State,
    meta: Vec<u8>,
    /// Metadata blocks seen (including empty ones), for diagnostics.
    blocks: u64,
}

impl IcyDemux {
    /// INVARIANT: `metaint > 0` (a zero interval would mean a length byte after every length byte).
    pub fn new(metaint: usize) -> Self {
        let metaint = metaint.max(1);
        Self {
            metaint,
            state: State::Audio(metaint),
            meta: Vec::with_capacity(255 * 16),
            blocks: 0,
        }
    }

    /// Appends the audio bytes of `chunk` to `audio` and every non-empty `StreamTitle` to `titles`.
    pub fn feed(&mut self, mut chunk: &[u8], audio: &mut BytesMut, titles: &mut Vec<String>) {
        while !chunk.is_empty() {
            match self.state {
                State::Audio(left) => {
                    let n = left.min(chunk.len());
                    let (bytes, rest) = chunk.split_at(n);
                    audio.extend_from_slice(bytes);
                    chunk = rest;
                    self.state = if n == left {
                        State::Length
                    } else {
                        State::Audio(left - n)
                    };
                }
                State::Length => {
                    let Some((&length, rest)) = chunk.split_first() else {
                        break;
                    };
                    let len = usize::from(length) * 16;
                    chunk = rest;
                    self.blocks += 1;
                    self.meta.clear();
                    self.state = if len == 0 {
                        State::Audio(self.metaint)
                    } else {
                        State::Meta(len)
                    };
                }
                State::Meta(left) => {
                    let n = left.min(chunk.len());
                    let (bytes, rest) = chunk.split_at(n);
                    self.meta.extend_from_slice(bytes);
                    chunk = rest;
                    if n == left {
                        if let Some(title) = parse_stream_title(&self.meta) {
                            titles.push(title);
                        }
                        self.state = State::Audio(self.metaint);
                    } else {
                        self.state = State::Meta(left - n);
                    }
                }
            }
        }
    }

    /// Metadata blocks seen so far (a server that announces `icy-metaint` and sends none is broken).
    pub fn blocks(&self) -> u64 {
        self.blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case::simple(b"StreamTitle='A - B';StreamUrl='';" as &[u8], Some("A - B"))]
    #[case::apostrophe(
        b"StreamTitle='It's A - Rock 'n' Roll';StreamUrl='http://x';",
        Some("It's A - Rock 'n' Roll")
    )]
    #[case::no_url(b"StreamTitle='Solo';\0\0\0\0", Some("Solo"))]
    #[case::unterminated(b"StreamTitle='Cut off", Some("Cut off"))]
    #[case::empty(b"StreamTitle='';", None)]
    #[case::spaces(b"StreamTitle='   ';", None)]
    #[case::no_title(b"StreamUrl='x';", None)]
    #[case::utf8("StreamTitle='Motörhead – Ace';".as_bytes(), Some("Motörhead – Ace"))]
    #[case::latin1(b"StreamTitle='Mot\xf6rhead';", Some("Motörhead"))]
    fn stream_title_cases(#[case] raw: &[u8], #[case] expected: Option<&str>) {
        assert_eq!(parse_stream_title(raw).as_deref(), expected);
    }

    #[test]
    fn headers_case_insensitive_with_quirks() {
        let icy = IcyHeaders::from_pairs([
            ("ICY-BR", b"128,128" as &[u8]),
            ("icy-name", b"Radio M\xfcnchen"),
            ("Icy-Genre", b"Jazz"),
            ("icy-metaint", b"16000"),
            ("icy-description", b""),
            (
                "ice-audio-info",
                b"ice-samplerate=44100;ice-bitrate=128;ice-channels=2",
            ),
            ("content-type", b"audio/mpeg"),
        ]);
        assert_eq!(icy.bitrate, Some(128));
        assert_eq!(icy.name.as_deref(), Some("Radio München"));
        assert_eq!(icy.genre.as_deref(), Some("Jazz"));
        assert_eq!(icy.metaint, Some(16000));
        assert_eq!(icy.description, None);
        assert_eq!(icy.audio_info_field("ice-channels"), Some("2"));
        assert!(icy.is_icy());
        assert!(!IcyHeaders::from_pairs([("server", b"x" as &[u8])]).is_icy());
    }

    #[test]
    fn bitrate_from_audio_info_when_icy_br_missing() {
        let icy = IcyHeaders::from_pairs([("ice-audio-info", b"ice-bitrate=96" as &[u8])]);
        assert_eq!(icy.bitrate, Some(96));
    }

    /// Builds an ICY wire stream: `metaint` audio bytes, then a block carrying `titles[i]` (or an empty one).
    fn wire(audio: &[u8], metaint: usize, titles: &[Option<&str>]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut blocks = titles.iter();
        for chunk in audio.chunks(metaint) {
            out.extend_from_slice(chunk);
            if chunk.len() < metaint {
                break;
            }
            match blocks.next().copied().flatten() {
                Some(title) => {
                    let mut meta = format!("StreamTitle='{title}';StreamUrl='';").into_bytes();
                    let len = meta.len().div_ceil(16);
                    meta.resize(len * 16, 0);
                    out.push(len as u8);
                    out.extend_from_slice(&meta);
                }
                None => out.push(0),
            }
        }
        out
    }

    #[test]
    fn demux_is_correct_for_every_chunk_split() {
        let audio: Vec<u8> = (0..=255u8).cycle().take(61).collect();
        let titles = [Some("It's A - B"), None, Some("Ünïcødé – C"), Some("D")];
        let stream = wire(&audio, 7, &titles);
        // Every single split point, and every uniform chunk size.
        for split in 0..=stream.len() {
            let mut d = IcyDemux::new(7);
            let (mut out, mut got) = (BytesMut::new(), Vec::new());
            d.feed(&stream[..split], &mut out, &mut got);
            d.feed(&stream[split..], &mut out, &mut got);
            assert_eq!(&out[..], &audio[..], "split at {split}");
            assert_eq!(got, ["It's A - B", "Ünïcødé – C", "D"], "split at {split}");
        }
        for size in 1..=stream.len() {
            let mut d = IcyDemux::new(7);
            let (mut out, mut got) = (BytesMut::new(), Vec::new());
            for c in stream.chunks(size) {
                d.feed(c, &mut out, &mut got);
            }
            assert_eq!(&out[..], &audio[..], "chunk size {size}");
            assert_eq!(got.len(), 3, "chunk size {size}");
            assert_eq!(d.blocks(), 8);
        }
    }

    proptest! {
        #[test]
        fn demux_random_splits(
            audio in proptest::collection::vec(any::<u8>(), 0..400),
            metaint in 1usize..50,
            cuts in proptest::collection::vec(1usize..40, 0..30),
        ) {
            let titles: Vec<Option<String>> = (0..=audio.len() / metaint)
                .map(|i| (i % 3 == 0).then(|| format!("T{i}")))
                .collect();
            let title_refs: Vec<Option<&str>> = titles.iter().map(Option::as_deref).collect();
            let stream = wire(&audio, metaint, &title_refs);
            let mut d = IcyDemux::new(metaint);
            let (mut out, mut got) = (BytesMut::new(), Vec::new());
            let mut rest = &stream[..];
            for cut in cuts {
                let n = cut.min(rest.len());
                d.feed(&rest[..n], &mut out, &mut got);
                rest = &rest[n..];
            }
            d.feed(rest, &mut out, &mut got);
            prop_assert_eq!(&out[..], &audio[..]);
            let expected: Vec<String> = titles
                .iter()
                .take(audio.len() / metaint)
                .flatten()
                .cloned()
                .collect();
            prop_assert_eq!(got, expected);
        }
    }
}
