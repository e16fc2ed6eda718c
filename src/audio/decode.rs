//! Streaming decode: async audio bytes in, interleaved f32 PCM chunks out, on symphonia 0.5.
//!
//! symphonia reads synchronously, so the decode loop runs on a blocking thread (`spawn_blocking`) and
//! reads through [`ChannelReader`], fed by a small async pump task: no tokio worker ever blocks. Radio
//! streams are messy, so a packet that fails to decode is skipped and counted (not fatal), and a chained
//! Ogg stream's `ResetRequired` (a new logical stream per song) re-creates the decoder. Opus (which
//! symphonia 0.5 demuxes from Ogg but cannot decode) is decoded by libopus.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::StreamExt as _;
use serde::Serialize;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, CODEC_TYPE_OPUS, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::{MetadataOptions, StandardTagKey, Tag};
use symphonia::core::probe::{Hint, Probe};
use tokio::sync::mpsc;

use super::upstream::ByteStream;

/// Consecutive undecodable packets after which a stream is called undecodable.
const MAX_CONSECUTIVE_ERRORS: u64 = 64;

/// What the decoder found: the codec's short name (`mp3`, `aac`, `vorbis`, …) and the PCM format as
/// decoded (not as the station claims).
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
    /// A title carried inside the stream: Vorbis comments (Vorbis, Ogg FLAC) or OpusTags, sent again
    /// for every new song of a chained Ogg stream. ICY titles travel beside the audio, not through here.
    Title(String),
}

/// Why decoding stopped before the input ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("no supported audio format found ({0})")]
    Probe(String),
    #[error("the stream has no decodable audio track")]
    NoTrack,
    #[error("the stream ended before any {0} audio frame was found in it")]
    NoFrames(&'static str),
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
    /// The decoding library gave up on malformed data by panicking; the stream is treated as broken.
    #[error("the audio decoder failed on malformed data ({0})")]
    DecoderPanicked(String),
}

/// A panic's message, for the error that replaces it.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

/// Counters a caller can read while decoding runs.
#[derive(Debug, Default)]
pub struct DecodeStats {
    pub packets: AtomicU64,
    pub skipped: AtomicU64,
    pub resets: AtomicU64,
    /// Bytes of the packets that decoded to audio, and the audio they gave (µs): their ratio is the
    /// stream's bitrate, whatever the network did (a server's connect burst and our read-ahead arrive
    /// faster than real time, so bytes over wall time or over bytes read would overstate it).
    pub audio_bytes: AtomicU64,
    pub audio_micros: AtomicU64,
    /// kbit/s the encoder wrote into the stream (0: none): a constant MP3 frame-header bitrate or a
    /// Vorbis identification header's nominal bitrate. VBR MP3, AAC, Opus and FLAC declare none.
    pub declared_kbps: AtomicU32,
}

/// Audio needed before a measured bitrate means anything (a few frames say little about VBR).
const MIN_MEASURED: std::time::Duration = std::time::Duration::from_millis(500);

impl DecodeStats {
    /// kbit/s measured over the packets decoded so far; `None` before half a second of audio.
    pub fn measured_kbps(&self) -> Option<u32> {
        let micros = self.audio_micros.load(Ordering::Relaxed);
        if micros < MIN_MEASURED.as_micros() as u64 {
            return None;
        }
        let bits = self.audio_bytes.load(Ordering::Relaxed) as f64 * 8.0;
        // bits per µs × 1000 = kbit/s.
        Some((bits / micros as f64 * 1_000.0).round() as u32).filter(|&k| k > 0)
    }

    /// The stream's bitrate: what its headers declare, else what its packets measure.
    pub fn kbps(&self) -> Option<u32> {
        match self.declared_kbps.load(Ordering::Relaxed) {
            0 => self.measured_kbps(),
            declared => Some(declared),
        }
    }

    fn count_audio(&self, packet_bytes: usize, chunk: &PcmChunk) {
        self.audio_bytes
            .fetch_add(packet_bytes as u64, Ordering::Relaxed);
        let micros = chunk.frames() as u64 * 1_000_000 / u64::from(chunk.sample_rate.max(1));
        self.audio_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// What the decoder should assume about the input (from the content type and URL).
#[derive(Debug, Clone, Default)]
pub struct FormatHint {
    pub mime: Option<String>,
    pub extension: Option<String>,
}

/// The container (or elementary framing) of a stream, which picks the one demuxer that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    /// AAC in ADTS frames.
    Adts,
    /// MPEG-1/2 audio frames (MP3, MP2).
    MpegAudio,
    Ogg,
    Flac,
    /// MP4 / fragmented MP4 (HLS fMP4 segments after their init segment).
    Mp4,
    Wav,
}

impl Container {
    fn label(self) -> &'static str {
        match self {
            Self::Adts => "AAC (ADTS)",
            Self::MpegAudio => "MP3",
            Self::Ogg => "Ogg",
            Self::Flac => "FLAC",
            Self::Mp4 => "MP4",
            Self::Wav => "WAV",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "audio/mpeg" | "audio/mp3" | "audio/mpeg3" | "audio/x-mpeg" | "mp3" | "mp2"
            | "mpga" => Self::MpegAudio,
            "audio/aac" | "audio/aacp" | "audio/x-aac" | "aac" | "adts" => Self::Adts,
            "audio/ogg" | "application/ogg" | "audio/opus" | "audio/vorbis" | "ogg" | "oga"
            | "opus" => Self::Ogg,
            "audio/flac" | "audio/x-flac" | "flac" => Self::Flac,
            "audio/mp4" | "audio/x-m4a" | "m4a" | "mp4" | "m4s" | "cmfa" => Self::Mp4,
            "audio/wav" | "audio/x-wav" | "audio/wave" | "wav" => Self::Wav,
            _ => return None,
        })
    }

    /// A probe that knows only this container: symphonia 0.5's probe ignores hints and takes the first
    /// marker of any format it finds, so an ADTS stream joined mid-frame was read as MP3 (a false
    /// MPEG sync inside AAC data) and never decoded.
    fn probe(self) -> Probe {
        use symphonia::default::formats::{
            AdtsReader, FlacReader, IsoMp4Reader, MpaReader, OggReader, WavReader,
        };
        let mut probe = Probe::default();
        match self {
            Self::Adts => probe.register_all::<AdtsReader>(),
            Self::MpegAudio => probe.register_all::<MpaReader>(),
            Self::Ogg => probe.register_all::<OggReader>(),
            Self::Flac => probe.register_all::<FlacReader>(),
            Self::Mp4 => probe.register_all::<IsoMp4Reader>(),
            Self::Wav => probe.register_all::<WavReader>(),
        }
        probe
    }
}

impl FormatHint {
    /// What the content type says, else what the URL's extension says. Only a hint: headerless MPEG
    /// framings are told apart by their frame headers ([`sniff_framing`]).
    fn container(&self) -> Option<Container> {
        let mime = self.mime.as_ref().map(|mime| {
            mime.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        mime.as_deref().and_then(Container::from_name).or_else(|| {
            self.extension
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
                .and_then(Container::from_name)
        })
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
        let container = hint.container();
        let thread_stats = Arc::clone(&stats);
        tokio::task::spawn_blocking(move || {
            let reader = ChannelReader {
                rx: bytes_rx,
                current: Bytes::new(),
            };
            // symphonia's demuxers and decoders index out of bounds on some malformed input (found by the
            // `decode_stream` fuzz target in its AAC decoder). Whatever the station sends, that is this
            // stream's error, reported like any other, never a silently dead decoder thread.
            let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                decode_loop(reader, container, &events_tx, &thread_stats)
            }))
            .unwrap_or_else(|panic| Err(DecodeError::DecoderPanicked(panic_text(panic.as_ref()))));
            if let Err(e) = decoded {
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
        let (filled, _) = buf.split_at_mut(n);
        filled.copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Most bytes read ahead to tell ADTS from MPEG audio (a few frames suffice; a burst brings far more).
const SNIFF_BYTES: usize = 32 * 1024;

impl ChannelReader {
    /// Reads ahead until a chain of ADTS or MPEG audio frames shows which framing this is, and keeps
    /// what it read for the demuxer. `Ok(None)`: neither within [`SNIFF_BYTES`] (or the input ended).
    /// An input error before any framing showed is the answer itself (a probe over what little came
    /// would only say "no format found").
    fn sniff_framing(&mut self) -> io::Result<Option<Container>> {
        let mut seen = bytes::BytesMut::from(self.current.as_ref());
        let mut found = sniff_framing(&seen);
        while found.is_none() && seen.len() < SNIFF_BYTES {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => seen.extend_from_slice(&chunk),
                Some(Err(e)) => return Err(e),
                None => break,
            }
            found = sniff_framing(&seen);
        }
        self.current = seen.freeze();
        Ok(found)
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
            samples: self
                .pcm
                .get(skip * channels..frames * channels)
                .unwrap_or_default()
                .to_vec(),
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

/// Picks the default (or first decodable) track and builds its decoder; records the bitrate its
/// headers declare, if any.
fn open_track(
    format: &dyn FormatReader,
    stats: &DecodeStats,
) -> Result<(u32, TrackDecoder, String), DecodeError> {
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
    stats.declared_kbps.store(
        vorbis_nominal_kbps(&track.codec_params).unwrap_or(0),
        Ordering::Relaxed,
    );
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

/// Probes the stream with the one demuxer its framing or hint names (all of them when neither says).
fn open_format(
    mut reader: ChannelReader,
    hinted: Option<Container>,
) -> Result<Box<dyn FormatReader>, DecodeError> {
    // ADTS and MPEG audio have no stream header and share the 0xFFF sync: their frame chains decide,
    // whatever the content type claims (stations label AAC as audio/mpeg and the reverse).
    let container = match hinted {
        None | Some(Container::Adts | Container::MpegAudio) => reader
            .sniff_framing()
            .map_err(|e| read_error(&e))?
            .or(hinted),
        other => other,
    };
    let stream = MediaSourceStream::new(Box::new(reader), MediaSourceStreamOptions::default());
    let restricted = container.map(Container::probe);
    let probe = restricted
        .as_ref()
        .unwrap_or_else(|| symphonia::default::get_probe());
    let probed = probe
        .format(
            &Hint::new(),
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| match (e, container) {
            // The input ended while the demuxer still searched for its first frame.
            (SymphoniaError::IoError(io), Some(container))
                if io.kind() == io::ErrorKind::UnexpectedEof =>
            {
                DecodeError::NoFrames(container.label())
            }
            (SymphoniaError::IoError(io), None) if io.kind() == io::ErrorKind::UnexpectedEof => {
                DecodeError::NoFrames("MP3, AAC, Ogg, FLAC, MP4 or WAV")
            }
            (SymphoniaError::IoError(io), _) => read_error(&io),
            (other, _) => DecodeError::Probe(other.to_string()),
        })?;
    Ok(probed.format)
}

fn decode_loop(
    reader: ChannelReader,
    hinted: Option<Container>,
    events: &mpsc::Sender<Result<DecodeEvent, DecodeError>>,
    stats: &DecodeStats,
) -> Result<(), DecodeError> {
    let mut format = open_format(reader, hinted)?;
    let (mut track_id, mut track, mut codec) = open_track(format.as_ref(), stats)?;
    let mut announced: Option<StreamInfo> = None;
    let mut consecutive_errors = 0u64;
    let mut titles = InStreamTitles::default();
    let mut mp3_rate = Mp3Rate::default();
    if !titles.send_new(format.as_mut(), events) {
        return Ok(());
    }
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(SymphoniaError::ResetRequired) => {
                // Chained Ogg: a new logical stream (new song, maybe new parameters and tags).
                stats.resets.fetch_add(1, Ordering::Relaxed);
                (track_id, track, codec) = open_track(format.as_ref(), stats)?;
                announced = None;
                if !titles.send_new(format.as_mut(), events) {
                    return Ok(());
                }
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
                (track_id, track, codec) = open_track(format.as_ref(), stats)?;
                announced = None;
                if !titles.send_new(format.as_mut(), events) {
                    return Ok(());
                }
                continue;
            }
        };
        consecutive_errors = 0;
        stats.count_audio(packet.data.len(), &chunk);
        if codec == "mp3" {
            mp3_rate.observe(&packet.data, stats);
        }
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

/// Frame headers in a row, each where the previous frame's length says, that identify a framing.
const SNIFF_CHAIN: usize = 4;

/// ADTS or MPEG audio: the framing whose frames first form a chain of [`SNIFF_CHAIN`] headers, each
/// where the previous frame's length says (one header-like pair of bytes inside audio data is common;
/// four in a row at the right distances is not).
fn sniff_framing(data: &[u8]) -> Option<Container> {
    let chained = |start: usize, frame_len: fn(&[u8]) -> Option<usize>| {
        let mut at = start;
        for _ in 0..SNIFF_CHAIN {
            match data.get(at..).and_then(frame_len) {
                Some(len) => at += len,
                None => return false,
            }
        }
        true
    };
    (0..data.len()).find_map(|start| {
        if data.get(start) != Some(&0xff) {
            None
        } else if chained(start, adts_frame_len) {
            Some(Container::Adts)
        } else if chained(start, mpeg_frame_len) {
            Some(Container::MpegAudio)
        } else {
            None
        }
    })
}

/// Length of the ADTS frame whose header starts `data` (sync 0xFFF, layer 0, a valid rate index).
fn adts_frame_len(data: &[u8]) -> Option<usize> {
    let [0xff, b1, b2, b3, b4, b5, ..] = *data else {
        return None;
    };
    if b1 & 0xf6 != 0xf0 || (b2 >> 2) & 0x0f > 12 {
        return None;
    }
    let len = (usize::from(b3 & 0x03) << 11) | (usize::from(b4) << 3) | usize::from(b5 >> 5);
    let header = if b1 & 0x01 == 0 { 9 } else { 7 };
    (len > header).then_some(len)
}

/// Length of the MPEG audio frame whose header starts `data`.
fn mpeg_frame_len(data: &[u8]) -> Option<usize> {
    const RATES: [[u32; 3]; 4] = [
        [11_025, 12_000, 8_000],  // MPEG-2.5
        [0, 0, 0],                // reserved
        [22_050, 24_000, 16_000], // MPEG-2
        [44_100, 48_000, 32_000], // MPEG-1
    ];
    let kbps = mpeg_frame_kbps(data)?;
    let [_, b1, b2, ..] = *data else {
        return None;
    };
    let version = usize::from((b1 >> 3) & 0b11);
    let rate = *RATES.get(version)?.get(usize::from((b2 >> 2) & 0b11))?;
    if rate == 0 {
        return None;
    }
    let padding = u32::from((b2 >> 1) & 1);
    let bits = kbps * 1_000;
    let len = match ((b1 >> 1) & 0b11, version) {
        (3, _) => (12 * bits / rate + padding) * 4, // Layer I
        (1, 0 | 2) => 72 * bits / rate + padding,   // Layer III, MPEG-2/2.5
        _ => 144 * bits / rate + padding,           // Layer II, Layer III MPEG-1
    };
    usize::try_from(len).ok().filter(|&len| len > 4)
}

/// Longest in-stream title we pass on: Vorbis comments may be megabytes; a title is a line.
const MAX_TITLE_CHARS: usize = 500;

/// Titles carried in the container's metadata (Vorbis comments, OpusTags, FLAC comment blocks): one
/// revision per logical stream, so a chained Ogg stream brings a new one with every song.
#[derive(Debug, Default)]
struct InStreamTitles {
    last: Option<String>,
}

impl InStreamTitles {
    /// Sends the latest revision's title if it is new; `false` when nobody listens any more.
    fn send_new(
        &mut self,
        format: &mut dyn FormatReader,
        events: &mpsc::Sender<Result<DecodeEvent, DecodeError>>,
    ) -> bool {
        let title = {
            let mut metadata = format.metadata();
            metadata
                .skip_to_latest()
                .and_then(|revision| title_from_tags(revision.tags()))
        };
        match title {
            Some(title) if self.last.as_ref() != Some(&title) => {
                self.last = Some(title.clone());
                events.blocking_send(Ok(DecodeEvent::Title(title))).is_ok()
            }
            _ => true,
        }
    }
}

/// `ARTIST - TITLE` as Icecast shows an Ogg stream's comments; either alone when the other is missing.
fn title_from_tags(tags: &[Tag]) -> Option<String> {
    let find = |key: StandardTagKey, raw: &str| {
        tags.iter()
            .find(|t| t.std_key == Some(key) || t.key.eq_ignore_ascii_case(raw))
            .map(|t| {
                let text = t.value.to_string();
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .filter(|v| !v.is_empty())
    };
    let title = match (
        find(StandardTagKey::Artist, "artist"),
        find(StandardTagKey::TrackTitle, "title"),
    ) {
        (Some(artist), Some(title)) => format!("{artist} - {title}"),
        (None, Some(only)) | (Some(only), None) => only,
        (None, None) => return None,
    };
    Some(title.chars().take(MAX_TITLE_CHARS).collect())
}

/// The nominal bitrate of a Vorbis identification header (the first packet, kept as extra data).
fn vorbis_nominal_kbps(params: &symphonia::core::codecs::CodecParameters) -> Option<u32> {
    let ident = params.extra_data.as_deref()?;
    if ident.get(..7)? != b"\x01vorbis" {
        return None;
    }
    // Layout: type, "vorbis", version u32, channels u8, rate u32, maximum, nominal, minimum (i32 LE).
    let nominal = i32::from_le_bytes(ident.get(20..24)?.try_into().ok()?);
    u32::try_from(nominal)
        .ok()
        .filter(|&bits| bits >= 1_000)
        .map(|bits| (bits + 500) / 1_000)
}

/// kbit/s of an MPEG audio frame from its four header bytes (an MP3 packet starts with them).
fn mpeg_frame_kbps(frame: &[u8]) -> Option<u32> {
    const V1_L1: [u32; 16] = [
        0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0,
    ];
    const V1_L2: [u32; 16] = [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0,
    ];
    const V1_L3: [u32; 16] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0,
    ];
    const V2_L1: [u32; 16] = [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0,
    ];
    const V2_L23: [u32; 16] = [
        0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0,
    ];
    let [sync, b1, b2, ..] = *frame else {
        return None;
    };
    if sync != 0xff || b1 & 0xe0 != 0xe0 {
        return None;
    }
    // Version bits: 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5. Layer bits: 3 = I, 2 = II, 1 = III.
    let table = match ((b1 >> 3) & 0b11, (b1 >> 1) & 0b11) {
        (3, 3) => &V1_L1,
        (3, 2) => &V1_L2,
        (3, 1) => &V1_L3,
        (0 | 2, 3) => &V2_L1,
        (0 | 2, 1 | 2) => &V2_L23,
        _ => return None,
    };
    table.get(usize::from(b2 >> 4)).copied().filter(|&k| k > 0)
}

/// Frames that must agree before an MP3 stream's header bitrate is taken as its constant bitrate.
const MP3_CBR_FRAMES: u32 = 16;

/// Tells CBR from VBR MP3 by its frame headers: a bitrate every frame repeats is declared; one that
/// changes is not (the measured rate is the only honest figure for VBR).
#[derive(Debug, Default)]
struct Mp3Rate {
    first: Option<u32>,
    agreeing: u32,
    varies: bool,
}

impl Mp3Rate {
    fn observe(&mut self, packet: &[u8], stats: &DecodeStats) {
        if self.varies {
            return;
        }
        let Some(kbps) = mpeg_frame_kbps(packet) else {
            return;
        };
        match self.first {
            None => self.first = Some(kbps),
            Some(first) if first != kbps => {
                self.varies = true;
                stats.declared_kbps.store(0, Ordering::Relaxed);
                return;
            }
            Some(_) => {}
        }
        self.agreeing += 1;
        if self.agreeing == MP3_CBR_FRAMES {
            stats.declared_kbps.store(kbps, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphonia::core::meta::Value;

    fn tag(key: &str, std_key: Option<StandardTagKey>, value: &str) -> Tag {
        Tag::new(std_key, key, Value::from(value))
    }

    #[test]
    fn ogg_comments_become_artist_dash_title() {
        let tags = [
            tag("ARTIST", Some(StandardTagKey::Artist), "Nina  Simone"),
            tag("TITLE", Some(StandardTagKey::TrackTitle), "Sinnerman"),
        ];
        assert_eq!(
            title_from_tags(&tags).as_deref(),
            Some("Nina Simone - Sinnerman")
        );
        let only = [tag("title", None, "Live from the studio")];
        assert_eq!(
            title_from_tags(&only).as_deref(),
            Some("Live from the studio")
        );
        assert_eq!(title_from_tags(&[tag("ENCODER", None, "Lavf")]), None);
        let huge = [tag("TITLE", None, &"x".repeat(100_000))];
        assert_eq!(
            title_from_tags(&huge).map(|t| t.chars().count()),
            Some(MAX_TITLE_CHARS)
        );
    }

    fn adts_frame(len: usize) -> Vec<u8> {
        // MPEG-4 AAC-LC, 44.1 kHz, stereo, no CRC; the payload holds a false MP3 header.
        let mut frame = vec![
            0xff,
            0xf1,
            0x50,
            0x80 | ((len >> 11) as u8 & 0x03),
            (len >> 3) as u8,
            ((len as u8 & 0x07) << 5) | 0x1f,
            0xfc,
        ];
        frame.extend_from_slice(&[0xff, 0xfb, 0x90, 0x64]);
        frame.resize(len, 0x21);
        frame
    }

    /// Regression: an Icecast AAC mount joined mid-frame was probed as MP3 (symphonia 0.5 takes the
    /// first marker of any format) and `stations check` timed out in 1 of 5 runs.
    #[test]
    fn adts_joined_mid_frame_is_not_taken_for_mp3() {
        let mut burst = vec![0x33, 0x00, 0xff, 0xfb, 0x90, 0x64, 0x10, 0x20];
        for len in [371, 380, 366, 402, 371] {
            burst.extend(adts_frame(len));
        }
        assert_eq!(sniff_framing(&burst), Some(Container::Adts));
    }

    #[test]
    fn mp3_frames_are_told_by_their_chain() {
        // 128 kbit/s at 44.1 kHz, no padding: 417-byte frames.
        let mut frame = vec![0xff, 0xfb, 0x90, 0x64];
        frame.resize(417, 0x55);
        assert_eq!(mpeg_frame_len(&frame), Some(417));
        let mut stream = vec![0x12, 0x34, 0xff, 0xf1];
        for _ in 0..5 {
            stream.extend_from_slice(&frame);
        }
        assert_eq!(sniff_framing(&stream), Some(Container::MpegAudio));
        assert_eq!(sniff_framing(b"OggS\x00\x02 not mpeg at all"), None);
        let mut rng = fastrand::Rng::with_seed(21);
        let noise: Vec<u8> = (0..20_000).map(|_| rng.u8(..)).collect();
        assert_eq!(sniff_framing(&noise), None, "random bytes form no chain");
    }

    #[test]
    fn mpeg_headers_give_their_bitrate() {
        // MPEG-1 Layer III, index 9 = 128 kbit/s; MPEG-2 Layer III (22.05 kHz), index 6 = 48 kbit/s.
        assert_eq!(mpeg_frame_kbps(&[0xff, 0xfb, 0x90, 0x64]), Some(128));
        assert_eq!(mpeg_frame_kbps(&[0xff, 0xf3, 0x60, 0xc4]), Some(48));
        assert_eq!(mpeg_frame_kbps(&[0xff, 0xfb]), None);
        assert_eq!(mpeg_frame_kbps(b"ID3\x04"), None);
        // Free-format (index 0) and the forbidden index 15 declare nothing.
        assert_eq!(mpeg_frame_kbps(&[0xff, 0xfb, 0x00, 0x64]), None);
        assert_eq!(mpeg_frame_kbps(&[0xff, 0xfb, 0xf0, 0x64]), None);
    }

    #[test]
    fn only_a_bitrate_every_frame_repeats_is_declared() {
        let stats = DecodeStats::default();
        let mut cbr = Mp3Rate::default();
        for _ in 0..MP3_CBR_FRAMES {
            cbr.observe(&[0xff, 0xfb, 0x90, 0x64], &stats);
        }
        assert_eq!(stats.declared_kbps.load(Ordering::Relaxed), 128);
        cbr.observe(&[0xff, 0xfb, 0xb0, 0x64], &stats);
        assert_eq!(
            stats.declared_kbps.load(Ordering::Relaxed),
            0,
            "VBR after all"
        );
    }

    #[test]
    fn measured_bitrate_is_bytes_over_audio_time_not_over_wall_time() {
        let stats = DecodeStats::default();
        assert_eq!(stats.kbps(), None);
        // One second of 48 kHz stereo from 16,000 bytes of packets: 128 kbit/s, however fast it came.
        let chunk = PcmChunk {
            samples: vec![0.0; 96_000],
            sample_rate: 48_000,
            channels: 2,
        };
        stats.count_audio(16_000, &chunk);
        assert_eq!(stats.measured_kbps(), Some(128));
        stats.declared_kbps.store(96, Ordering::Relaxed);
        assert_eq!(stats.kbps(), Some(96));
    }

    #[test]
    fn vorbis_nominal_bitrate_from_the_identification_header() {
        let mut ident = b"\x01vorbis".to_vec();
        ident.extend_from_slice(&0u32.to_le_bytes()); // version
        ident.push(2); // channels
        ident.extend_from_slice(&44_100u32.to_le_bytes());
        ident.extend_from_slice(&0i32.to_le_bytes()); // maximum
        ident.extend_from_slice(&112_000i32.to_le_bytes()); // nominal
        ident.extend_from_slice(&0i32.to_le_bytes()); // minimum
        let mut params = symphonia::core::codecs::CodecParameters::new();
        params.with_extra_data(ident.clone().into_boxed_slice());
        assert_eq!(vorbis_nominal_kbps(&params), Some(112));
        let mut truncated = symphonia::core::codecs::CodecParameters::new();
        truncated.with_extra_data(ident.get(..18).unwrap_or_default().into());
        assert_eq!(vorbis_nominal_kbps(&truncated), None);
    }
}
