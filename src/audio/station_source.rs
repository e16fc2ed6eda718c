//! The production [`UpstreamSource`]: `upstream::open` (redirects, playlists, HLS, Shoutcast v1, ICY
//! demux) feeding `decode::StreamDecoder` (symphonia, bad packets skipped, chained Ogg re-created), with
//! ICY titles and codec changes turned into hub events.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::watch;
use url::Url;

use super::decode::{DecodeEvent, FormatHint, PcmChunk as DecodedPcm, StreamDecoder};
use super::source::{
    PcmChunk, SourceError, SourceEvent, SourceStream, StreamFormat, UpstreamSource,
};
use super::upstream::{ConnectOptions, http_client, open};

/// Opens real station URLs over HTTP(S).
#[derive(Debug, Clone)]
pub struct HttpSource {
    client: reqwest::Client,
    options: ConnectOptions,
}

impl HttpSource {
    pub fn new(options: ConnectOptions) -> Result<Self, SourceError> {
        let client = http_client(&options)
            .map_err(|e| SourceError::new(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client, options })
    }
}

struct Open {
    decoder: StreamDecoder,
    titles: Option<watch::Receiver<Option<String>>>,
    /// What the station announced (`icy-br`): wins over anything the stream says or we measure.
    bitrate: Option<u32>,
    segment: Option<Duration>,
    url: Url,
    /// The last format reported, and whether its bitrate was already refined by measurement.
    format: Option<StreamFormat>,
    refined: bool,
    /// A chunk held back while the refined format goes out first.
    pending_pcm: Option<DecodedPcm>,
}

impl UpstreamSource for HttpSource {
    fn open(&self, url: &Url) -> BoxFuture<'static, Result<SourceStream, SourceError>> {
        let client = self.client.clone();
        let options = self.options.clone();
        let url = url.clone();
        Box::pin(async move {
            let upstream = open(&client, &url, &options)
                .await
                .map_err(|e| SourceError::new(e.to_string()))?;
            let hint = FormatHint {
                mime: upstream.content_type.clone(),
                extension: upstream.extension.clone(),
            };
            let mut titles = upstream.titles;
            let initial = titles.borrow_and_update().clone();
            let state = Open {
                decoder: StreamDecoder::spawn(upstream.audio, &hint),
                titles: Some(titles),
                bitrate: upstream.icy.bitrate,
                segment: upstream.segment_duration,
                url: upstream.url,
                format: None,
                refined: false,
                pending_pcm: None,
            };
            let first = futures_util::stream::iter(initial.map(|t| Ok(SourceEvent::Title(t))));
            let rest = futures_util::stream::unfold(state, next_event);
            Ok(Box::pin(futures_util::StreamExt::chain(first, rest)) as SourceStream)
        })
    }
}

/// Audio after which the measured bitrate replaces the first estimate (once): long enough to average
/// over VBR frames, short enough that `/radio info` soon shows it.
const BITRATE_SETTLED: Duration = Duration::from_secs(5);

impl Open {
    /// The format again with a settled measured bitrate, once, when the station announced none and it
    /// differs from what was reported at the start.
    fn refined_format(&mut self) -> Option<StreamFormat> {
        if self.refined || self.bitrate.is_some() {
            return None;
        }
        let stats = self.decoder.stats();
        if stats.audio_micros.load(Ordering::Relaxed) < BITRATE_SETTLED.as_micros() as u64 {
            return None;
        }
        self.refined = true;
        let format = self.format.as_mut()?;
        let kbps = stats.kbps();
        if format.bitrate == kbps {
            return None;
        }
        format.bitrate = kbps;
        Some(format.clone())
    }
}

async fn next_event(mut s: Open) -> Option<(Result<SourceEvent, SourceError>, Open)> {
    if let Some(chunk) = s.pending_pcm.take() {
        let pcm = SourceEvent::Pcm(PcmChunk {
            rate: chunk.sample_rate,
            channels: usize::from(chunk.channels),
            samples: chunk.samples,
        });
        return Some((Ok(pcm), s));
    }
    loop {
        let title_changed = async {
            match s.titles.as_mut() {
                Some(rx) => rx.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            alive = title_changed => {
                if !alive {
                    // The demuxer is gone (stream ending); the decoder reports how.
                    s.titles = None;
                    continue;
                }
                let title = s.titles.as_mut().and_then(|rx| rx.borrow_and_update().clone());
                if let Some(title) = title {
                    return Some((Ok(SourceEvent::Title(title)), s));
                }
            }
            event = s.decoder.next() => {
                let item = match event? {
                    Ok(DecodeEvent::Started(info)) => {
                        let format = StreamFormat {
                            codec: info.codec,
                            bitrate: s.bitrate.or_else(|| s.decoder.stats().kbps()),
                            sample_rate: Some(info.sample_rate),
                            channels: Some(info.channels),
                            segment: s.segment,
                        };
                        s.format = Some(format.clone());
                        Ok(SourceEvent::Format(format))
                    }
                    Ok(DecodeEvent::Pcm(chunk)) => {
                        if let Some(refined) = s.refined_format() {
                            s.pending_pcm = Some(chunk);
                            return Some((Ok(SourceEvent::Format(refined)), s));
                        }
                        Ok(SourceEvent::Pcm(PcmChunk {
                            rate: chunk.sample_rate,
                            channels: usize::from(chunk.channels),
                            samples: chunk.samples,
                        }))
                    }
                    Ok(DecodeEvent::Title(title)) => Ok(SourceEvent::Title(title)),
                    Err(e) => Err(SourceError::new(format!("{}: {e}", s.url))),
                };
                return Some((item, s));
            }
        }
    }
}
