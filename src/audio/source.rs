//! The seam between the hub and whatever produces decoded audio for a URL. The production
//! implementation chains `upstream` (HTTP/ICY/playlists/HLS) and `decode` (symphonia); tests plug in
//! in-process sources. A source only ever yields events; reconnecting, pacing and silence are the hub's.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use url::Url;

/// A piece of decoded audio: interleaved f32 samples in −1..1.
#[derive(Debug, Clone, PartialEq)]
pub struct PcmChunk {
    pub rate: u32,
    pub channels: usize,
    pub samples: Vec<f32>,
}

/// Codec facts about the current upstream, for `/info`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamFormat {
    /// Codec name as the decoder reports it (`mp3`, `aac`, `vorbis`, …).
    pub codec: String,
    /// kbit/s: announced by the station (`icy-br`), declared by the stream's headers, or measured from
    /// its packets; never the rate bytes arrived at (a connect burst is many times real time).
    pub bitrate: Option<u32>,
    /// As decoded, not as announced.
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    /// Segmented delivery (HLS): audio arrives this much at a time, so the hub keeps a cushion of
    /// whole segments instead of treating each arrival as a burst to trim. `None`: a continuous stream.
    pub segment: Option<Duration>,
}

/// What an open upstream produces.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceEvent {
    Pcm(PcmChunk),
    /// A new `StreamTitle` (ICY metadata, Ogg comments, HLS ID3).
    Title(String),
    Format(StreamFormat),
}

/// Why an upstream could not be opened or broke off. The message says which URL and what happened.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub Arc<str>);

impl SourceError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(Arc::from(message.into()))
    }
}

/// An open upstream: ends (`None`) on EOF, yields `Err` on a broken connection or an undecodable stream.
pub type SourceStream = BoxStream<'static, Result<SourceEvent, SourceError>>;

/// Opens a station URL and returns its decoded events.
pub trait UpstreamSource: Send + Sync + 'static {
    fn open(&self, url: &Url) -> BoxFuture<'static, Result<SourceStream, SourceError>>;
}
