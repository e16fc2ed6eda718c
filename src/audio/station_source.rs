//! The production [`UpstreamSource`]: `upstream::open` (redirects, playlists, HLS, Shoutcast v1, ICY
//! demux) feeding `decode::StreamDecoder` (symphonia, bad packets skipped, chained Ogg re-created), with
//! ICY titles and codec changes turned into hub events.

use futures_util::future::BoxFuture;
use tokio::sync::watch;
use url::Url;

use super::decode::{DecodeEvent, FormatHint, StreamDecoder};
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
    bitrate: Option<u32>,
    segment: Option<std::time::Duration>,
    url: Url,
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
            };
            let first = futures_util::stream::iter(initial.map(|t| Ok(SourceEvent::Title(t))));
            let rest = futures_util::stream::unfold(state, next_event);
            Ok(Box::pin(futures_util::StreamExt::chain(first, rest)) as SourceStream)
        })
    }
}

async fn next_event(mut s: Open) -> Option<(Result<SourceEvent, SourceError>, Open)> {
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
                    Ok(DecodeEvent::Started(info)) => Ok(SourceEvent::Format(StreamFormat {
                        codec: info.codec,
                        bitrate: s.bitrate,
                        segment: s.segment,
                    })),
                    Ok(DecodeEvent::Pcm(chunk)) => Ok(SourceEvent::Pcm(PcmChunk {
                        rate: chunk.sample_rate,
                        channels: usize::from(chunk.channels),
                        samples: chunk.samples,
                    })),
                    Err(e) => Err(SourceError::new(format!("{}: {e}", s.url))),
                };
                return Some((item, s));
            }
        }
    }
}
