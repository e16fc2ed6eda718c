//! A small MPEG transport stream demuxer for HLS audio segments: finds the program (PAT), its first audio
//! elementary stream (PMT: AAC in ADTS, or MPEG-1/2 audio), and returns that stream's PES payloads as one
//! byte stream, which the ADTS/MP3 readers then decode like any other radio stream.
//!
//! State (the PIDs) carries across segments, as a live playlist's segments are one continuous stream; each
//! segment's own PAT/PMT refresh it. Video and data streams are skipped; a TS without an audio stream this
//! decoder knows says which stream types it did find.

/// TS packets are always 188 bytes, each starting with this sync byte.
pub const PACKET: usize = 188;
const SYNC: u8 = 0x47;

/// Stream types (ISO 13818-1 table 2-34) the decoders can read once unwrapped.
const AAC_ADTS: u8 = 0x0F;
const MPEG1_AUDIO: u8 = 0x03;
const MPEG2_AUDIO: u8 = 0x04;
/// Metadata carried in PES packets: HLS timed ID3 (Apple's "Timed Metadata for HTTP Live Streaming").
const METADATA_PES: u8 = 0x15;
/// Largest ID3 tag kept from one metadata PES: titles are small, a station's cover art is not ours.
const MAX_ID3: usize = 64 * 1024;

/// Why a segment could not be demuxed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    #[error("not an MPEG-TS segment (no 0x47 sync every 188 bytes)")]
    NotTs,
    #[error(
        "the transport stream has no audio stream this decoder reads (stream types found: {0:?})"
    )]
    NoAudio(Vec<u8>),
}

/// Whether `data` looks like a transport stream (sync bytes where packets start).
pub fn looks_like_ts(data: &[u8]) -> bool {
    data.len() >= PACKET
        && data
            .chunks(PACKET)
            .take(4)
            .all(|p| p.len() < PACKET || p.first() == Some(&SYNC))
}

/// The demuxer's memory between segments.
#[derive(Debug, Default, Clone)]
pub struct TsDemuxer {
    pmt_pid: Option<u16>,
    audio_pid: Option<u16>,
    stream_type: Option<u8>,
    /// Stream types seen in PMTs, for the "no audio" error.
    seen_types: Vec<u8>,
    /// Inside the current PES packet, bytes of its header still to skip (headers may span packets).
    pes_header_left: usize,
    /// The timed-ID3 metadata stream, its tag being collected, and tags complete in this segment.
    id3_pid: Option<u16>,
    id3_partial: Vec<u8>,
    id3_done: Vec<Vec<u8>>,
}

impl TsDemuxer {
    /// The audio stream's codec as a decoder hint (`aac` or `mp3`), once a PMT named it.
    pub fn codec(&self) -> Option<&'static str> {
        match self.stream_type? {
            AAC_ADTS => Some("aac"),
            MPEG1_AUDIO | MPEG2_AUDIO => Some("mp3"),
            _ => None,
        }
    }

    /// The timed-ID3 tags of the segments pushed since the last call (the one still being collected stays).
    pub fn take_id3(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.id3_done)
    }

    /// Demuxes one segment (whole packets; a trailing partial packet is ignored) into audio bytes.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, TsError> {
        if !looks_like_ts(data) {
            return Err(TsError::NotTs);
        }
        let mut audio = Vec::with_capacity(data.len());
        for packet in data.chunks_exact(PACKET) {
            match <&[u8; PACKET]>::try_from(packet) {
                Ok(packet) if packet[0] == SYNC => self.packet(packet, &mut audio),
                // Lost sync inside a segment: skip the packet rather than misread payload as headers.
                _ => {}
            }
        }
        if self.audio_pid.is_none() {
            return Err(TsError::NoAudio(self.seen_types.clone()));
        }
        Ok(audio)
    }

    fn packet(&mut self, packet: &[u8; PACKET], audio: &mut Vec<u8>) {
        let start = packet[1] & 0x40 != 0;
        let pid = (u16::from(packet[1] & 0x1F) << 8) | u16::from(packet[2]);
        let control = (packet[3] >> 4) & 0x3;
        let mut at = 4;
        if control & 0x2 != 0 {
            at += 1 + usize::from(packet[4]);
        }
        if control & 0x1 == 0 {
            return;
        }
        // An adaptation field that claims the whole packet leaves no payload.
        let Some(payload) = packet.get(at..).filter(|p| !p.is_empty()) else {
            return;
        };
        if pid == 0 {
            if start {
                self.pat(payload);
            }
        } else if Some(pid) == self.pmt_pid {
            if start {
                self.pmt(payload);
            }
        } else if Some(pid) == self.audio_pid {
            self.pes(payload, start, audio);
        } else if Some(pid) == self.id3_pid {
            self.metadata(payload, start);
        }
    }

    /// Collects one timed-ID3 PES (a tag may span packets); a new PES completes the previous one.
    fn metadata(&mut self, payload: &[u8], start: bool) {
        let body = if start {
            if !self.id3_partial.is_empty() {
                self.id3_done.push(std::mem::take(&mut self.id3_partial));
            }
            match payload {
                [0, 0, 1, _, _, _, _, _, header_len, ..] => payload
                    .get(9 + usize::from(*header_len)..)
                    .unwrap_or_default(),
                _ => return,
            }
        } else {
            payload
        };
        let room = MAX_ID3.saturating_sub(self.id3_partial.len());
        self.id3_partial
            .extend_from_slice(body.get(..room.min(body.len())).unwrap_or_default());
        // A complete tag need not wait for the next PES to start.
        if super::id3::tag_len(&self.id3_partial).is_some_and(|len| self.id3_partial.len() >= len) {
            self.id3_done.push(std::mem::take(&mut self.id3_partial));
        }
    }

    /// The section after the pointer field: `(table body, section end)`, bounded by the packet.
    fn section(payload: &[u8]) -> Option<&[u8]> {
        let pointer = usize::from(*payload.first()?);
        let section = payload.get(1 + pointer..)?;
        let length = (usize::from(*section.get(1)? & 0x0F) << 8) | usize::from(*section.get(2)?);
        // 3 header bytes + length, minus the 4-byte CRC at the end.
        let end = (3 + length).saturating_sub(4).min(section.len());
        section.get(..end)
    }

    fn pat(&mut self, payload: &[u8]) {
        let Some(section) = Self::section(payload) else {
            return;
        };
        // table id, length (2), transport stream id (2), version, section numbers (2): 8 bytes.
        for entry in section.get(8..).unwrap_or_default().chunks_exact(4) {
            let &[p0, p1, pid_hi, pid_lo] = entry else {
                continue;
            };
            if u16::from_be_bytes([p0, p1]) != 0 {
                self.pmt_pid = Some((u16::from(pid_hi & 0x1F) << 8) | u16::from(pid_lo));
                return;
            }
        }
    }

    fn pmt(&mut self, payload: &[u8]) {
        let Some(section) = Self::section(payload) else {
            return;
        };
        // Table id, length (2), program (2), version, section numbers (2), PCR PID (2), info length (2).
        let Some(&[.., info_hi, info_lo]) = section.get(..12) else {
            return;
        };
        let info = (usize::from(info_hi & 0x0F) << 8) | usize::from(info_lo);
        let mut streams = section.get(12 + info..).unwrap_or_default();
        let mut audio_found = false;
        while let Some(&[stream_type, pid_hi, pid_lo, es_hi, es_lo]) = streams.get(..5) {
            let pid = (u16::from(pid_hi & 0x1F) << 8) | u16::from(pid_lo);
            let es_info = (usize::from(es_hi & 0x0F) << 8) | usize::from(es_lo);
            if !self.seen_types.contains(&stream_type) {
                self.seen_types.push(stream_type);
            }
            if matches!(stream_type, AAC_ADTS | MPEG1_AUDIO | MPEG2_AUDIO) && !audio_found {
                if self.audio_pid != Some(pid) {
                    self.pes_header_left = 0;
                }
                self.audio_pid = Some(pid);
                self.stream_type = Some(stream_type);
                audio_found = true;
            } else if stream_type == METADATA_PES && self.id3_pid.is_none() {
                self.id3_pid = Some(pid);
            }
            streams = streams.get(5 + es_info..).unwrap_or_default();
        }
    }

    fn pes(&mut self, payload: &[u8], start: bool, audio: &mut Vec<u8>) {
        let mut payload = payload;
        if start {
            // 00 00 01, stream id, length (2), flags (2), header data length.
            let [0, 0, 1, _, _, _, _, _, header_len, ..] = *payload else {
                self.pes_header_left = 0;
                return;
            };
            self.pes_header_left = 9 + usize::from(header_len);
        }
        let skip = self.pes_header_left.min(payload.len());
        self.pes_header_left -= skip;
        payload = payload.get(skip..).unwrap_or_default();
        audio.extend_from_slice(payload);
    }
}

/// Wraps an elementary audio stream into a transport stream (PAT, PMT, PES packets of `frame_bytes`):
/// what an HLS packager does. For tests here and in `tests/`; also documents the layout this demuxer reads.
pub fn mux_for_tests(es: &[u8], stream_type: u8, frame_bytes: usize) -> Vec<u8> {
    mux_with_id3_for_tests(es, stream_type, frame_bytes, None)
}

/// Like [`mux_for_tests`], with a timed-ID3 metadata stream (PID 0x0102, stream type 0x15) carrying
/// `id3` once, after the audio: how HLS packagers deliver now-playing titles in TS segments.
// A fixture builder: every index is into buffers it sized itself, never into station bytes; its
// tables read best written out in one place.
#[allow(clippy::indexing_slicing, clippy::too_many_lines)]
pub fn mux_with_id3_for_tests(
    es: &[u8],
    stream_type: u8,
    frame_bytes: usize,
    id3: Option<&[u8]>,
) -> Vec<u8> {
    const PMT_PID: u16 = 0x1000;
    const AUDIO_PID: u16 = 0x0101;
    const ID3_PID: u16 = 0x0102;
    fn packet(pid: u16, start: bool, counter: &mut u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            SYNC,
            (u8::from(start) << 6) | ((pid >> 8) as u8 & 0x1F),
            pid as u8,
        ];
        let room = PACKET - 4;
        if payload.len() >= room {
            p.push(0x10 | (*counter & 0x0F));
            p.extend_from_slice(&payload[..room]);
        } else {
            // Adaptation field stuffing fills the packet.
            let stuffing = room - payload.len();
            p.push(0x30 | (*counter & 0x0F));
            p.push((stuffing - 1) as u8);
            if stuffing > 1 {
                p.push(0);
                p.extend(std::iter::repeat_n(0xFF, stuffing - 2));
            }
            p.extend_from_slice(payload);
        }
        *counter = counter.wrapping_add(1);
        p
    }
    fn section(table_id: u8, body: &[u8]) -> Vec<u8> {
        let length = body.len() + 4;
        let mut s = vec![0, table_id, 0xB0 | ((length >> 8) as u8), length as u8];
        s.extend_from_slice(body);
        s.extend_from_slice(&[0, 0, 0, 0]); // CRC: not checked by the demuxer
        s
    }
    let (mut table_counter, mut program_counter, mut audio_counter) = (0, 0, 0);
    let mut out = Vec::new();
    let pat = section(
        0x00,
        &[
            0,
            1,
            0xC1,
            0,
            0,
            0,
            1,
            0xE0 | (PMT_PID >> 8) as u8,
            PMT_PID as u8,
        ],
    );
    out.extend(packet(0, true, &mut table_counter, &pat));
    let mut pmt_body = vec![
        0,
        1,
        0xC1,
        0,
        0,
        0xE1,
        0x01,
        0xF0,
        0,
        stream_type,
        0xE0 | (AUDIO_PID >> 8) as u8,
        AUDIO_PID as u8,
        0xF0,
        0,
    ];
    if id3.is_some() {
        pmt_body.extend_from_slice(&[
            METADATA_PES,
            0xE0 | (ID3_PID >> 8) as u8,
            ID3_PID as u8,
            0xF0,
            0,
        ]);
    }
    let pmt = section(0x02, &pmt_body);
    out.extend(packet(PMT_PID, true, &mut program_counter, &pmt));
    for frame in es.chunks(frame_bytes.max(1)) {
        let mut pes = vec![0, 0, 1, 0xC0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1];
        let length = pes.len() - 6 + frame.len();
        if let Ok(length) = u16::try_from(length) {
            pes[4..6].copy_from_slice(&length.to_be_bytes());
        }
        pes.extend_from_slice(frame);
        let mut first = true;
        for chunk in pes.chunks(PACKET - 4) {
            out.extend(packet(AUDIO_PID, first, &mut audio_counter, chunk));
            first = false;
        }
    }
    if let Some(tag) = id3 {
        // Private stream 1 (0xBD) with a PTS, as ffmpeg and Apple's packagers write timed ID3.
        let mut pes = vec![0, 0, 1, 0xBD, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1];
        pes.extend_from_slice(tag);
        let mut counter = 0;
        let mut first = true;
        for chunk in pes.chunks(PACKET - 4) {
            out.extend(packet(ID3_PID, first, &mut counter, chunk));
            first = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn timed_id3_in_a_metadata_stream_is_collected_apart_from_the_audio() {
        let stream = es(5_000);
        let tag = super::super::id3::tag_for_tests(&[(b"TIT2", &"Long Song ".repeat(40))]);
        let ts = mux_with_id3_for_tests(&stream, AAC_ADTS, 371, Some(&tag));
        let mut demuxer = TsDemuxer::default();
        let audio = demuxer.push(&ts).expect("demux");
        assert_eq!(audio, stream, "the metadata stays out of the audio");
        let tags = demuxer.take_id3();
        assert_eq!(
            tags.len(),
            1,
            "one tag, spanning {} packets",
            tag.len() / PACKET + 1
        );
        assert_eq!(
            super::super::id3::title(&tags[0]).as_deref(),
            Some("Long Song ".repeat(40).trim())
        );
        assert!(demuxer.take_id3().is_empty(), "taken once");
    }

    #[test]
    fn round_trips_an_elementary_stream_across_segments() {
        let stream = es(20_000);
        let ts = mux_for_tests(&stream, AAC_ADTS, 371);
        assert!(looks_like_ts(&ts));
        let mut demuxer = TsDemuxer::default();
        // Split at a packet boundary, as segments are.
        let cut = (ts.len() / PACKET / 2) * PACKET;
        let mut out = demuxer.push(&ts[..cut]).unwrap();
        out.extend(demuxer.push(&ts[cut..]).unwrap());
        assert_eq!(out, stream);
        assert_eq!(demuxer.codec(), Some("aac"));
    }

    #[test]
    fn mpeg_audio_is_found_and_named() {
        let mut demuxer = TsDemuxer::default();
        let stream = es(1_000);
        assert_eq!(
            demuxer
                .push(&mux_for_tests(&stream, MPEG1_AUDIO, 417))
                .unwrap(),
            stream
        );
        assert_eq!(demuxer.codec(), Some("mp3"));
    }

    #[test]
    fn video_only_and_non_ts_are_explained() {
        let mut demuxer = TsDemuxer::default();
        assert_eq!(
            demuxer.push(&mux_for_tests(&es(500), 0x1B, 100)),
            Err(TsError::NoAudio(vec![0x1B]))
        );
        assert_eq!(
            demuxer.push(b"ID3 not a transport stream"),
            Err(TsError::NotTs)
        );
        assert!(!looks_like_ts(&[0xFF, 0xF1, 0, 0]));
    }
}
