//! A station [`Listener`] as a songbird input: a never-blocking symphonia `FormatReader` that hands songbird
//! the hub's 20 ms Opus frames, so songbird passes them through untouched (volume 1.0, one Opus track).
//!
//! The reader never returns an error and never blocks: an `Err` would end the track, and blocking would stall
//! songbird's mixer thread (every call on it). Underruns are silence frames from the listener itself.

use std::io::Cursor;

use songbird::input::codecs::{get_codec_registry, get_probe};
use songbird::input::{Input, LiveInput, Parsed};
use symphonia::core::audio::Channels;
use symphonia::core::codecs::{CODEC_TYPE_OPUS, CodecParameters, DecoderOptions};
use symphonia::core::errors::{Error as SymphoniaError, Result as SymphoniaResult, SeekErrorKind};
use symphonia::core::formats::{
    Cue, FormatOptions, FormatReader, Packet, SeekMode, SeekTo, SeekedTo, Track,
};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::{Metadata, MetadataLog, MetadataOptions};
use symphonia::core::probe::{Hint, ProbedMetadata};
use symphonia::core::units::TimeBase;

use crate::audio::listener::Listener;

/// Samples per 20 ms frame at 48 kHz: songbird's passthrough needs exactly this.
const FRAME_SAMPLES: u64 = 960;

/// Why a station input could not be built (songbird's codec registry lacks Opus: a build problem).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the voice input: {0}")]
pub struct InputError(String);

struct ListenerReader {
    listener: Listener,
    tracks: Vec<Track>,
    cues: Vec<Cue>,
    meta: MetadataLog,
    ts: u64,
}

impl FormatReader for ListenerReader {
    fn try_new(_source: MediaSourceStream, _options: &FormatOptions) -> SymphoniaResult<Self> {
        // Never probed from bytes: built directly around a listener.
        Err(SymphoniaError::Unsupported(
            "station listeners are not probed from bytes",
        ))
    }

    fn cues(&self) -> &[Cue] {
        &self.cues
    }

    fn metadata(&mut self) -> Metadata<'_> {
        self.meta.metadata()
    }

    fn seek(&mut self, _mode: SeekMode, _to: SeekTo) -> SymphoniaResult<SeekedTo> {
        Err(SymphoniaError::SeekError(SeekErrorKind::Unseekable))
    }

    fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    fn next_packet(&mut self) -> SymphoniaResult<Packet> {
        let frame = self.listener.next_frame();
        let packet = Packet::new_from_slice(0, self.ts, FRAME_SAMPLES, &frame);
        self.ts += FRAME_SAMPLES;
        Ok(packet)
    }

    fn into_inner(self: Box<Self>) -> MediaSourceStream {
        MediaSourceStream::new(
            Box::new(Cursor::new(Vec::<u8>::new())),
            MediaSourceStreamOptions::default(),
        )
    }
}

/// `ProbedMetadata` has no public constructor: probe a minimal DCA1 header (songbird's own container) once.
fn empty_probed_metadata() -> Result<ProbedMetadata, InputError> {
    let json = br#"{"dca":{"version":1,"tool":{"name":"alastor","version":"0"}},"opus":{"mode":"music","sample_rate":48000,"frame_size":960,"vbr":true,"channels":2}}"#;
    let mut header = b"DCA1".to_vec();
    let len = i32::try_from(json.len()).map_err(|e| InputError(e.to_string()))?;
    header.extend_from_slice(&len.to_le_bytes());
    header.extend_from_slice(json);
    let source = MediaSourceStream::new(
        Box::new(Cursor::new(header)),
        MediaSourceStreamOptions::default(),
    );
    get_probe()
        .format(
            &Hint::new(),
            source,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map(|probed| probed.metadata)
        .map_err(|e| InputError(format!("probing the DCA header failed: {e}")))
}

/// Wraps `listener` as a live, ready songbird input (no probe thread, no HTTP in songbird).
pub fn listener_input(listener: Listener) -> Result<Input, InputError> {
    let mut params = CodecParameters::new();
    params
        .for_codec(CODEC_TYPE_OPUS)
        .with_sample_rate(48_000)
        .with_channels(Channels::FRONT_LEFT | Channels::FRONT_RIGHT)
        .with_time_base(TimeBase::new(1, 48_000));
    let reader = ListenerReader {
        listener,
        tracks: vec![Track::new(0, params.clone())],
        cues: Vec::new(),
        meta: MetadataLog::default(),
        ts: 0,
    };
    let decoder = get_codec_registry()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| InputError(format!("no Opus decoder registered: {e}")))?;
    let parsed = Parsed {
        format: Box::new(reader),
        decoder,
        track_id: 0,
        meta: empty_probed_metadata()?,
        supports_backseek: false,
    };
    Ok(Input::Live(LiveInput::Parsed(parsed), None))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::audio::listener::SILENCE_FRAME;
    use crate::audio::ring::FrameRing;

    fn reader(ring: &Arc<FrameRing>) -> ListenerReader {
        let mut params = CodecParameters::new();
        params.for_codec(CODEC_TYPE_OPUS);
        ListenerReader {
            listener: Listener::new(Arc::clone(ring), None),
            tracks: vec![Track::new(0, params)],
            cues: Vec::new(),
            meta: MetadataLog::default(),
            ts: 0,
        }
    }

    #[test]
    fn underrun_is_silence_never_an_error_and_timestamps_advance_by_20_ms() {
        let ring = Arc::new(FrameRing::new(16));
        let mut r = reader(&ring);
        for n in 0..3u64 {
            let p = r.next_packet().expect("never an error");
            assert_eq!(&*p.data, &SILENCE_FRAME);
            assert_eq!((p.ts, p.dur), (n * FRAME_SAMPLES, FRAME_SAMPLES));
        }
        ring.push(Bytes::from_static(b"opus-frame"));
        let p = r.next_packet().expect("frame");
        assert_eq!(&*p.data, b"opus-frame");
        assert_eq!(p.ts, 3 * FRAME_SAMPLES);
    }

    #[test]
    fn builds_a_ready_live_input() {
        let ring = Arc::new(FrameRing::new(16));
        let input = listener_input(Listener::new(ring, None)).expect("input");
        assert!(matches!(input, Input::Live(LiveInput::Parsed(_), None)));
    }
}
