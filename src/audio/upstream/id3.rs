//! ID3v2 tags as HLS carries timed metadata: at the start of every packed-audio segment (ADTS, MP3) and
//! in MPEG-TS metadata PES streams (stream type 0x15). Only the now-playing fields are read (`TIT2`
//! title, `TPE1` artist); everything else, pictures included, is skipped by its declared size.
//!
//! The bytes come from the station: every length is checked against what is there, and a tag that lies
//! about its size ends the parse instead of reading past it.

/// Longest title we pass on; a title is a line.
const MAX_TITLE_CHARS: usize = 500;
/// `ID3`, version (2), flags, syncsafe size (4).
const HEADER: usize = 10;

/// Total length (header, frames, footer) of the ID3v2 tag at the start of `data`, if one starts there.
pub fn tag_len(data: &[u8]) -> Option<usize> {
    let header = data.get(..HEADER)?;
    let (magic, rest) = header.split_at_checked(3)?;
    if magic != b"ID3" {
        return None;
    }
    let [major, _minor, flags, s0, s1, s2, s3] = *rest else {
        return None;
    };
    if major == 0xff || !matches!(major, 2..=4) {
        return None;
    }
    let body = syncsafe([s0, s1, s2, s3])?;
    // Flag 0x10 (v2.4): a 10-byte footer follows the frames.
    let footer = if flags & 0x10 != 0 { HEADER } else { 0 };
    Some(HEADER + body as usize + footer)
}

/// `ARTIST - TITLE` (or either alone) from the ID3v2 tag at the start of `data`.
pub fn title(data: &[u8]) -> Option<String> {
    let len = tag_len(data)?;
    let major = *data.get(3)?;
    let frames = data.get(HEADER..len.min(data.len()))?;
    let mut title = None;
    let mut artist = None;
    let mut rest = frames;
    // v2.2 frames: 3-byte id, 3-byte size. v2.3/2.4: 4-byte id, 4-byte size (syncsafe in 2.4), 2 flags.
    let (id_len, head_len) = if major == 2 { (3, 6) } else { (4, 10) };
    while let Some(head) = rest.get(..head_len) {
        let (id, size_bytes) = head.split_at(id_len);
        if id.first().is_none_or(|&b| b == 0) {
            break; // padding
        }
        let size = match (major, size_bytes) {
            (2, [a, b, c]) => u32::from_be_bytes([0, *a, *b, *c]),
            (3, [a, b, c, d, ..]) => u32::from_be_bytes([*a, *b, *c, *d]),
            (_, [a, b, c, d, ..]) => syncsafe([*a, *b, *c, *d])?,
            _ => break,
        } as usize;
        let Some(body) = rest.get(head_len..head_len.saturating_add(size)) else {
            break; // a frame that claims more than the tag holds
        };
        match id {
            b"TIT2" | b"TT2" => title = text_frame(body),
            b"TPE1" | b"TP1" => artist = text_frame(body),
            _ => {}
        }
        rest = rest.get(head_len + size..).unwrap_or_default();
    }
    let joined = match (artist, title) {
        (Some(artist), Some(title)) => format!("{artist} - {title}"),
        (None, Some(only)) | (Some(only), None) => only,
        (None, None) => return None,
    };
    Some(joined.chars().take(MAX_TITLE_CHARS).collect())
}

/// A 28-bit syncsafe integer (the high bit of each byte is zero).
fn syncsafe(bytes: [u8; 4]) -> Option<u32> {
    if bytes.iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    Some(bytes.iter().fold(0u32, |n, &b| (n << 7) | u32::from(b)))
}

/// A text frame: an encoding byte, then the text (several values are NUL-separated: the first counts).
fn text_frame(body: &[u8]) -> Option<String> {
    let (&encoding, text) = body.split_first()?;
    let decoded = match encoding {
        0 => text.iter().map(|&b| char::from(b)).collect(),
        1 => utf16(text, None),
        2 => utf16(text, Some(false)),
        3 => String::from_utf8_lossy(text).into_owned(),
        _ => return None,
    };
    let first = decoded.split('\0').next().unwrap_or_default();
    let clean = first.split_whitespace().collect::<Vec<_>>().join(" ");
    (!clean.is_empty()).then_some(clean)
}

/// UTF-16 with a byte-order mark (`little_endian: None`) or big-endian without one.
fn utf16(text: &[u8], little_endian: Option<bool>) -> String {
    let (little, text) = match (little_endian, text) {
        (None, [0xff, 0xfe, rest @ ..]) => (true, rest),
        (None, [0xfe, 0xff, rest @ ..]) | (_, rest) => (false, rest),
    };
    let units = text.chunks_exact(2).map(|pair| match *pair {
        [a, b] if little => u16::from_le_bytes([a, b]),
        [a, b] => u16::from_be_bytes([a, b]),
        _ => 0,
    });
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Builds an ID3v2.4 tag with text frames: what an HLS packager writes. For tests here and in `tests/`.
pub fn tag_for_tests(frames: &[(&[u8; 4], &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (id, text) in frames {
        let size = u32::try_from(text.len() + 1).unwrap_or(0);
        body.extend_from_slice(*id);
        body.extend_from_slice(&to_syncsafe(size));
        body.extend_from_slice(&[0, 0, 3]);
        body.extend_from_slice(text.as_bytes());
    }
    let mut tag = b"ID3\x04\x00\x00".to_vec();
    tag.extend_from_slice(&to_syncsafe(u32::try_from(body.len()).unwrap_or(0)));
    tag.extend_from_slice(&body);
    tag
}

fn to_syncsafe(n: u32) -> [u8; 4] {
    [
        ((n >> 21) & 0x7f) as u8,
        ((n >> 14) & 0x7f) as u8,
        ((n >> 7) & 0x7f) as u8,
        (n & 0x7f) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_artist_and_title_of_a_segment_tag() {
        let tag = tag_for_tests(&[(b"TPE1", "Nina Simone"), (b"TIT2", "Sinnerman")]);
        let mut segment = tag.clone();
        segment.extend_from_slice(&[0xff, 0xf1, 0x50, 0x80]);
        assert_eq!(tag_len(&segment), Some(tag.len()));
        assert_eq!(title(&segment).as_deref(), Some("Nina Simone - Sinnerman"));
    }

    #[test]
    fn timestamp_only_tags_have_no_title() {
        // What most HLS packagers write: only PRIV com.apple.streaming.transportStreamTimestamp.
        let mut tag = b"ID3\x04\x00\x00\x00\x00\x00\x3f".to_vec();
        tag.extend_from_slice(b"PRIV\x00\x00\x00\x35\x00\x00");
        tag.extend_from_slice(b"com.apple.streaming.transportStreamTimestamp\x00");
        tag.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(tag_len(&tag), Some(73));
        assert_eq!(title(&tag), None);
    }

    #[test]
    fn utf16_and_latin1_text() {
        let mut body = vec![1, 0xff, 0xfe];
        for unit in "Köln".encode_utf16() {
            body.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(text_frame(&body).as_deref(), Some("Köln"));
        assert_eq!(text_frame(b"\x00M\xfcnchen").as_deref(), Some("München"));
        assert_eq!(text_frame(b"\x03one\x00two").as_deref(), Some("one"));
        assert_eq!(text_frame(b"\x09junk"), None);
    }

    #[test]
    fn lying_sizes_and_truncation_end_the_parse_without_reading_past() {
        assert_eq!(tag_len(b"ID3"), None);
        assert_eq!(
            tag_len(b"ID3\x04\x00\x00\x80\x00\x00\x00"),
            None,
            "not syncsafe"
        );
        // A frame that claims 2 MB in a 20-byte tag.
        let mut tag = b"ID3\x03\x00\x00\x00\x00\x00\x14".to_vec();
        tag.extend_from_slice(b"TIT2\x00\x20\x00\x00\x00\x00\x03abc");
        assert_eq!(title(&tag), None);
        let mut rng = fastrand::Rng::with_seed(3);
        for len in 0..400 {
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            if bytes.len() > 4 {
                bytes.splice(..4, *b"ID3\x03");
            }
            let _ = title(&bytes);
        }
    }
}
