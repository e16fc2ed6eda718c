//! Streaming decode: async audio bytes in, interleaved f32 PCM chunks out, on symphonia 0.5.
//!
//! symphonia reads synchronously, so the decode loop runs on a blocking thread (`spawn_blocking`) and
//! reads through [`ChannelReader`], fed by a small async pump task: no tokio worker ever blocks. Radio
//! streams are messy, so a packet that fails to decode is skipped and counted (not fatal), and a chained
//! Ogg stream's `ResetRequired` (a new logical stream per song) re-creates the decoder. Opus (which
//! symphonia 0.5 demuxes from Ogg but cannot decode) is decoded by libopus.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::StreamExt as _;
use serde::Serialize;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, CODEC_TYPE_OPUS, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use tokio::sync::mpsc;

use super::upstream::ByteStream;

/// Consecutive undecodable packets after which a stream is called undecodable.
const MAX_CONSECUTIVE_ERRORS: u64 = 64;

/// What the decoder found: the codec's short name (`mp3`, `aac`, `vorbis`, …) and the PCM format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamInfo {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u16,
}

/// Interleaved f32 PCM.
#[derive(Debug, Clone, PartialEq)]
pub struct PcmChunk {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: u16,
}

impl PcmChunk {
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }

    pub fn seconds(&self) -> f64 {
        self.frames() as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// Decoder output.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeEvent {
    /// A (new) stream started: first after probing, again after every chained-Ogg reset.
    Started(StreamInfo),
    Pcm(PcmChunk),
}

/// Why decoding stopped before the input ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("no supported audio format found ({0})")]
    Probe(String),
    #[error("the stream has no decodable audio track")]
    NoTrack,
    #[error("no decoder for this codec ({0})")]
    UnsupportedCodec(String),
    #[error("{count} packets in a row failed to decode (last: {last})")]
    TooManyErrors { count: u64, last: String },
    /// Reading the input failed; `kind` is `TimedOut` when the upstream stalled.
    #[error("reading the stream failed: {message}")]
    Read {
        kind: io::ErrorKind,
        message: String,
    },
}

/// Counters a caller can read while decoding runs.
#[derive(Debug, Default)]
pub struct DecodeStats {
    pub packets: AtomicU64,
    pub skipped: AtomicU64,
    pub resets: AtomicU64,
}

/// What the decoder should assume about the input (from the content type and URL).
#[derive(Debug, Clone, Default)]
pub struct FormatHint {
    pub mime: Option<String>,
    pub extension: Option<String>,
}

impl FormatHint {
    fn to_hint(&self) -> Hint {
        let mut hint = Hint::new();
        if let Some(mime) = &self.mime {
            let mime = mime
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            // Stations send many spellings; map them onto the extensions symphonia's probe knows.
            let ext = match mime.as_str() {
                "audio/mpeg" | "audio/mp3" | "audio/mpeg3" | "audio/x-mpeg" => Some("mp3"),
                "audio/aac" | "audio/aacp" | "audio/x-aac" => Some("aac"),
                "audio/ogg" | "application/ogg" | "audio/opus" | "audio/vorbis" => Some("ogg"),
                "audio/flac" | "audio/x-flac" => Some("flac"),
                "audio/mp4" | "audio/x-m4a" => Some("m4a"),
                "audio/wav" | "audio/x-wav" | "audio/wave" => Some("wav"),
                _ => None,
            };
            if let Some(ext) = ext {
                hint.with_extension(ext);
            }
            hint.mime_type(&mime);
        }
        if let Some(ext) = &self.extension {
            hint.with_extension(ext);
        }
        hint
    }
}

/// A running decode. Dropping it stops the pump; the blocking thread then sees end of input and exits.
pub struct StreamDecoder {
    events: mpsc::Receiver<Result<DecodeEvent, DecodeError>>,
    stats: Arc<DecodeStats>,
    pump: tokio::task::JoinHandle<()>,
}

impl Drop for StreamDecoder {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

impl StreamDecoder {
    /// Starts decoding `audio`. Must be called inside a tokio runtime.
    pub fn spawn(mut audio: ByteStream, hint: &FormatHint) -> Self {
        // Small bounds: a few chunks of bytes and of PCM in flight keep memory flat and latency low.
        let (bytes_tx, bytes_rx) = mpsc::channel::<io::Result<Bytes>>(8);
        let (events_tx, events) = mpsc::channel(8);
        let stats = Arc::new(DecodeStats::default());
        let pump = tokio::spawn(async move {
            while let Some(item) = audio.next().await {
                let failed = item.is_err();
                if bytes_tx.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        let hint = hint.to_hint();
        let thread_stats = Arc::clone(&stats);
        tokio::task::spawn_blocking(move || {
            let reader = ChannelReader {
                rx: bytes_rx,
                current: Bytes::new(),
            };
            if let Err(e) = decode_loop(reader, &hint, &events_tx, &thread_stats) {
                let _ = events_tx.blocking_send(Err(e));
            }
        });
        Self {
            events,
            stats,
            pump,
        }
    }

    /// The next event; `None` once the input ended (or after an error was returned).
    pub async fn next(&mut self) -> Option<Result<DecodeEvent, DecodeError>> {
        self.events.recv().await
    }

    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }
}

/// A blocking `Read` over chunks sent from async code. End of channel is end of file.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

impl Seek for ChannelReader {
    fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "live streams cannot seek",
        ))
    }
}

impl MediaSource for ChannelReader {
    fn is_seekable(&self) -> bool {
        false
    }

    fn byte_len(&self) -> Option<u64> {
        None
    }
}

fn codec_name(codec: symphonia::core::codecs::CodecType) -> String {
    symphonia::default::get_codecs()
        .get_codec(codec)
        .map_or_else(|| format!("{codec}"), |d| d.short_name.to_owned())
}

fn read_error(e: &io::Error) -> DecodeError {
    DecodeError::Read {
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// Largest Opus packet: 120 ms at 48 kHz, per channel.
const OPUS_MAX_FRAMES: usize = 5_760;

/// A track's decoder. symphonia 0.5 demuxes Ogg/Opus but has no Opus decoder, so Opus packets go to
/// libopus (already linked for encoding) instead.
enum TrackDecoder {
    Symphonia {
        decoder: Box<dyn Decoder>,
        samples: Option<SampleBuffer<f32>>,
    },
    Opus(OpusTrack),
}

struct OpusTrack {
    decoder: opus2::Decoder,
    channels: u16,
    /// Frames still to drop from the start: the encoder's look-ahead (`pre_skip` in `OpusHead`).
    pre_skip: usize,
    pcm: Vec<f32>,
}

impl OpusTrack {
    fn new(params: &symphonia::core::codecs::CodecParameters) -> Result<Self, DecodeError> {
        let count = params
            .channels
            .map_or(2, symphonia::core::audio::Channels::count);
        let channels = match count {
            1 => opus2::Channels::Mono,
            2 => opus2::Channels::Stereo,
            n => {
                return Err(DecodeError::UnsupportedCodec(format!(
                    "opus with {n} channels (multistream Opus is not supported)"
                )));
            }
        };
        let decoder = opus2::Decoder::new(48_000, channels)
            .map_err(|e| DecodeError::UnsupportedCodec(format!("opus: {e}")))?;
        Ok(Self {
            decoder,
            channels: count as u16,
            pre_skip: params.delay.unwrap_or(0) as usize,
            pcm: vec![0.0; OPUS_MAX_FRAMES * count],
        })
    }

    fn decode(&mut self, data: &[u8]) -> Result<Option<PcmChunk>, String> {
        let frames = self
            .decoder
            .decode_float(data, &mut self.pcm, false)
            .map_err(|e| e.to_string())?;
        let skip = self.pre_skip.min(frames);
        self.pre_skip -= skip;
        if skip == frames {
            return Ok(None);
        }
        let channels = usize::from(self.channels);
        Ok(Some(PcmChunk {
            samples: self.pcm[skip * channels..frames * channels].to_vec(),
            sample_rate: 48_000,
            channels: self.channels,
        }))
    }
}

/// What decoding one packet gave.
enum PacketOutcome {
    Pcm(PcmChunk),
    /// Nothing to hand on (a header-only or fully pre-skipped packet).
    Empty,
    /// This packet is broken; the stream may still be fine.
    Undecodable(String),
    /// A new logical stream began (chained Ogg): the track must be re-opened.
    Reset,
}

impl TrackDecoder {
    fn decode(
        &mut self,
        packet: &symphonia::core::formats::Packet,
        codec: &str,
    ) -> Result<PacketOutcome, DecodeError> {
        match self {
            Self::Opus(opus) => Ok(match opus.decode(&packet.data) {
                Ok(Some(chunk)) => PacketOutcome::Pcm(chunk),
                Ok(None) => PacketOutcome::Empty,
                Err(e) => PacketOutcome::Undecodable(e),
            }),
            Self::Symphonia { decoder, samples } => {
                let decoded = match decoder.decode(packet) {
                    Ok(decoded) => decoded,
                    Err(SymphoniaError::DecodeError(e)) => {
                        return Ok(PacketOutcome::Undecodable(e.to_owned()));
                    }
                    Err(SymphoniaError::IoError(e)) => return Err(read_error(&e)),
                    Err(SymphoniaError::ResetRequired) => return Ok(PacketOutcome::Reset),
                    Err(e) => return Err(DecodeError::UnsupportedCodec(format!("{codec}: {e}"))),
                };
                let spec = *decoded.spec();
                let frames = decoded.frames();
                if frames == 0 {
                    return Ok(PacketOutcome::Empty);
                }
                let channels = spec.channels.count() as u16;
                let buffer = match samples {
                    Some(buffer)
                        if buffer.capacity() >= decoded.capacity() * usize::from(channels) =>
                    {
                        buffer
                    }
                    slot => slot.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
                };
                buffer.copy_interleaved_ref(decoded);
                Ok(PacketOutcome::Pcm(PcmChunk {
                    samples: buffer.samples().to_vec(),
                    sample_rate: spec.rate,
                    channels,
                }))
            }
        }
    }
}

/// Picks the default (or first decodable) track and builds its decoder.
fn open_track(format: &dyn FormatReader) -> Result<(u32, TrackDecoder, String), DecodeError> {
    let track = format
        .default_track()
        .filter(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .or_else(|| {
            format
                .tracks()
                .iter()
                .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        })
        .ok_or(DecodeError::NoTrack)?;
    if track.codec_params.codec == CODEC_TYPE_OPUS {
        let opus = OpusTrack::new(&track.codec_params)?;
        return Ok((track.id, TrackDecoder::Opus(opus), "opus".to_owned()));
    }
    let name = codec_name(track.codec_params.codec);
    let decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| DecodeError::UnsupportedCodec(format!("{name}: {e}")))?;
    Ok((
        track.id,
        TrackDecoder::Symphonia {
            decoder,
            samples: None,
        },
        name,
    ))
}

fn decode_loop(
    reader: ChannelReader,
    hint: &Hint,
    events: &mpsc::Sender<Result<DecodeEvent, DecodeError>>,
    stats: &DecodeStats,
) -> Result<(), DecodeError> {
    let stream = MediaSourceStream::new(Box::new(reader), MediaSourceStreamOptions::default());
    let probed = symphonia::default::get_probe()
        .format(
            hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymphoniaError::IoError(io) => read_error(&io),
            other => DecodeError::Probe(other.to_string()),
        })?;
    let mut format = probed.format;
    let (mut track_id, mut track, mut codec) = open_track(format.as_ref())?;
    let mut announced: Option<StreamInfo> = None;
    let mut consecutive_errors = 0u64;
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::ResetRequired) => {
                // Chained Ogg: a new logical stream (new song, maybe new parameters).
                stats.resets.fetch_add(1, Ordering::Relaxed);
                (track_id, track, codec) = open_track(format.as_ref())?;
                announced = None;
                continue;
            }
            Err(SymphoniaError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Ok(());
            }
            Err(SymphoniaError::IoError(e)) => return Err(read_error(&e)),
            Err(e) => {
                return Err(DecodeError::TooManyErrors {
                    count: consecutive_errors + 1,
                    last: e.to_string(),
                });
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        stats.packets.fetch_add(1, Ordering::Relaxed);
        let chunk = match track.decode(&packet, &codec)? {
            PacketOutcome::Pcm(chunk) => chunk,
            PacketOutcome::Empty => {
                consecutive_errors = 0;
                continue;
            }
            PacketOutcome::Undecodable(e) => {
                stats.skipped.fetch_add(1, Ordering::Relaxed);
                consecutive_errors += 1;
                if consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                    return Err(DecodeError::TooManyErrors {
                        count: consecutive_errors,
                        last: e,
                    });
                }
                continue;
            }
            PacketOutcome::Reset => {
                stats.resets.fetch_add(1, Ordering::Relaxed);
                (track_id, track, codec) = open_track(format.as_ref())?;
                announced = None;
                continue;
            }
        };
        consecutive_errors = 0;
        let info = StreamInfo {
            codec: codec.clone(),
            sample_rate: chunk.sample_rate,
            channels: chunk.channels,
        };
        if announced.as_ref() != Some(&info) {
            if events
                .blocking_send(Ok(DecodeEvent::Started(info.clone())))
                .is_err()
            {
                return Ok(());
            }
            announced = Some(info);
        }
        if events.blocking_send(Ok(DecodeEvent::Pcm(chunk))).is_err() {
            // Nobody listens any more.
            return Ok(());
        }
    }
}
