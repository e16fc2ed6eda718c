//! Opening a station URL: redirects (followed by hand so each hop is recorded), playlist indirection
//! (PLS/M3U, HLS master and media playlists; depth-limited, loops detected), content-type sniffing (an HTML
//! page is not a stream), Shoutcast v1 `ICY 200 OK` status lines (hyper refuses them, so those servers are
//! read over a small raw HTTP/1.0 path), and ICY metadata stripped from the audio.
//!
//! The result is an [`Upstream`]: an async byte stream of pure audio plus what was learned on the way.
//! Every read is bounded by a stall timeout, so a server that goes silent ends the stream with a
//! `TimedOut` error instead of hanging its reader.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::watch;
use url::Url;

use super::icy::{IcyDemux, IcyHeaders};
use super::id3;
use super::playlist::{self, HlsMedia, Playlist};
use super::ts::{self, TsDemuxer};

/// Pure audio bytes (or the error that ended them).
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + Sync>>;

/// The User-Agent we announce: some stations refuse requests without one.
pub const USER_AGENT: &str = concat!(
    "Alastor/",
    env!("CARGO_PKG_VERSION"),
    " (self-hosted Discord radio bot)"
);

/// Largest playlist body we read (station playlists are a few hundred bytes, live HLS media playlists a
/// few kilobytes); a larger one is refused, never cut mid-line.
pub const MAX_PLAYLIST_BYTES: usize = 1024 * 1024;
/// Largest HLS segment we buffer: ten seconds of 320 kbit/s audio is 400 KB; video renditions run to a
/// few MB. A segment that never ends must not take the machine's memory.
pub const MAX_SEGMENT_BYTES: usize = 16 * 1024 * 1024;
/// Largest response head on the raw (Shoutcast v1) path.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Limits for opening a station.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// TCP + TLS connect, and waiting for the response head.
    pub connect_timeout: Duration,
    /// No bytes for this long ends the stream with a `TimedOut` error.
    pub stall_timeout: Duration,
    pub max_redirects: usize,
    /// Playlists pointing at playlists: how deep we follow.
    pub max_playlist_depth: usize,
    /// Follow a public station's redirects and playlist entries into loopback, link-local or private
    /// addresses (`stations.allow_private_targets`). A station whose own URL is such an address may
    /// always use them.
    pub allow_private_targets: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(5),
            max_redirects: 10,
            max_playlist_depth: 4,
            allow_private_targets: false,
        }
    }
}

/// The HTTP client every upstream uses: rustls, our User-Agent, redirects followed by [`open`] itself.
///
/// Unless `allow_private_targets` is set, host names are resolved by [`PublicResolver`]: a name that is
/// not local by its spelling and resolves to a loopback, link-local or private address is refused at
/// connect time, so DNS (or a rebinding answer after our own checks) cannot lead a public station into
/// the operator's network.
pub fn http_client(options: &ConnectOptions) -> reqwest::Result<reqwest::Client> {
    http_client_resolving(options, PublicResolver::default())
}

/// [`http_client`] with a given resolver (tests give it fixed answers).
#[doc(hidden)]
pub fn http_client_resolving(
    options: &ConnectOptions,
    resolver: PublicResolver,
) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(options.connect_timeout)
        .redirect(reqwest::redirect::Policy::none());
    if options.allow_private_targets {
        builder.build()
    } else {
        builder.dns_resolver(std::sync::Arc::new(resolver)).build()
    }
}

/// A host name answered only by private addresses (or by some): where a public station must not go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves to {addr}, a loopback, link-local or private address")]
pub struct ResolvesPrivate {
    pub host: String,
    pub addr: IpAddr,
}

/// The system resolver, with every answer screened by [`screen_resolved`].
#[derive(Debug, Clone, Default)]
pub struct PublicResolver {
    /// Fixed answers consulted before the system resolver (tests: a name that "resolves" to loopback).
    fixed: Vec<(String, IpAddr)>,
}

impl PublicResolver {
    /// Answers `host` with `addr` without asking the system (tests only; real names go to the system).
    #[doc(hidden)]
    #[must_use]
    pub fn with_fixed_answer(mut self, host: &str, addr: IpAddr) -> Self {
        self.fixed.push((host.to_ascii_lowercase(), addr));
        self
    }

    async fn lookup(&self, host: &str) -> std::io::Result<Vec<SocketAddr>> {
        let fixed: Vec<SocketAddr> = self
            .fixed
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(host))
            .map(|(_, ip)| SocketAddr::new(*ip, 0))
            .collect();
        if !fixed.is_empty() {
            return Ok(fixed);
        }
        Ok(tokio::net::lookup_host((host, 0)).await?.collect())
    }
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = this.lookup(&host).await?;
            let addrs = screen_resolved(&host, found)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `host`'s resolved addresses may be used by a station that must stay on the public internet.
/// IP literals and names that are local by their spelling (`localhost`, `*.lan`, …) pass: those were
/// judged by [`is_private_target`] before any connect, where a LAN station's own URL is allowed. Any
/// other name with even one private answer is refused: a mixed answer is how rebinding attacks start.
pub fn screen_resolved(
    host: &str,
    addrs: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, ResolvesPrivate> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() || is_local_name(bare) {
        return Ok(addrs);
    }
    if let Some(private) = addrs.iter().find(|a| is_private_ip(a.ip())) {
        return Err(ResolvesPrivate {
            host: host.to_owned(),
            addr: private.ip(),
        });
    }
    Ok(addrs)
}

/// An open station stream and what was learned on the way to it.
pub struct Upstream {
    /// The URL the audio comes from (after redirects and playlists).
    pub url: Url,
    pub status: u16,
    /// The server answered `ICY 200 OK` (Shoutcast v1).
    pub shoutcast_v1: bool,
    /// Every redirect target, in order.
    pub redirects: Vec<Url>,
    /// Every playlist followed, in order.
    pub playlist_hops: Vec<Url>,
    pub content_type: Option<String>,
    pub icy: IcyHeaders,
    /// HLS: the playlist's target duration. Audio then arrives a segment at a time, this much at once.
    /// `None`: a continuous stream.
    pub segment_duration: Option<Duration>,
    /// File extension hint for the decoder (`mp3`, `aac`, …) when the URL has one.
    pub extension: Option<String>,
    /// Pure audio, ICY metadata removed.
    pub audio: ByteStream,
    /// The latest `StreamTitle` (from ICY metadata), `None` until one arrives.
    pub titles: watch::Receiver<Option<String>>,
}

impl ConnectError {
    /// The HTTP status the failing response had, when one arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Stalled { status, .. } => *status,
            _ => None,
        }
    }
}

impl Upstream {
    /// Served as HLS segments.
    pub fn hls(&self) -> bool {
        self.segment_duration.is_some()
    }
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("url", &self.url.as_str())
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("icy", &self.icy)
            .finish_non_exhaustive()
    }
}

/// Why a station could not be opened. Each names the URL it happened at.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{url}: the server answered HTTP {status}")]
    Status { url: Url, status: u16 },
    #[error("{url}: no answer within {after:?}")]
    Timeout { url: Url, after: Duration },
    #[error("{url}: the server sent nothing for {after:?}")]
    Stalled {
        url: Url,
        after: Duration,
        /// The status of the response that then went silent, when it got that far.
        status: Option<u16>,
    },
    #[error("{url}: the host name could not be resolved ({detail})")]
    Dns { url: Url, detail: String },
    #[error("{url}: TLS failed ({detail})")]
    Tls { url: Url, detail: String },
    #[error("{url}: could not connect ({detail})")]
    Connect { url: Url, detail: String },
    #[error("{url}: the answer is not audio but `{content_type}` (a web page?)")]
    NotAudio { url: Url, content_type: String },
    #[error("{url}: the stream ended before any audio")]
    Empty { url: Url },
    #[error("{url}: unusable playlist: {source}")]
    Playlist {
        url: Url,
        source: playlist::PlaylistError,
    },
    #[error("{url}: playlists loop back to this URL")]
    PlaylistLoop { url: Url },
    #[error("{url}: playlists nested deeper than {depth}")]
    PlaylistTooDeep { url: Url, depth: usize },
    #[error("{url}: more than {max} redirects")]
    TooManyRedirects { url: Url, max: usize },
    #[error("{url}: redirects to `{location}`, which is not an http(s) URL")]
    BadRedirect { url: Url, location: String },
    #[error(
        "{url}: refused to follow it to {target}: that is a loopback, link-local or private address and \
         the station's own URL is not (set stations.allow_private_targets = true to allow it)"
    )]
    PrivateTarget { url: Url, target: Box<Url> },
    #[error(
        "{url}: refused to connect: {source}, and the station is not on the operator's network by its \
         own URL (set stations.allow_private_targets = true to allow it)"
    )]
    ResolvesPrivate {
        url: Url,
        source: Box<ResolvesPrivate>,
    },
    #[error("{url}: the {what} is larger than {limit} bytes")]
    TooLarge {
        url: Url,
        what: &'static str,
        limit: usize,
    },
    #[error("{url}: unsupported stream: {why}")]
    Unsupported { url: Url, why: String },
    #[error("{url}: {detail}")]
    Io { url: Url, detail: String },
}

/// Opens `url`, following redirects and playlists, and returns the audio stream.
pub async fn open(
    client: &reqwest::Client,
    url: &Url,
    options: &ConnectOptions,
) -> Result<Upstream, ConnectError> {
    let mut trail = Trail {
        // A station on the operator's own network may use it; a public one may not send us there.
        guard_private: !options.allow_private_targets && !is_private_target(url),
        ..Trail::default()
    };
    let mut upstream = open_at(client, url.clone(), options, &mut trail, 0).await?;
    upstream.redirects = trail.redirects;
    upstream.playlist_hops = trail.hops;
    Ok(upstream)
}

#[derive(Default)]
struct Trail {
    redirects: Vec<Url>,
    hops: Vec<Url>,
    visited: HashSet<Url>,
    /// Refuse loopback, link-local and private targets (the station's own URL is public).
    guard_private: bool,
}

impl Trail {
    fn check_target(&self, from: &Url, target: &Url) -> Result<(), ConnectError> {
        if self.guard_private && is_private_target(target) {
            return Err(ConnectError::PrivateTarget {
                url: from.clone(),
                target: Box::new(target.clone()),
            });
        }
        Ok(())
    }
}

/// Whether a URL points into the operator's network: loopback, link-local (cloud metadata services at
/// 169.254.169.254), private, carrier-grade NAT, unspecified or unique-local addresses, or a host name
/// that only means something locally. Names that merely resolve to such addresses are caught at connect
/// time by [`PublicResolver`].
pub fn is_private_target(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => is_private_ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_private_ip(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => is_local_name(name),
        None => true,
    }
}

/// Loopback, private, link-local, carrier-grade NAT, unspecified, broadcast or unique-local.
pub fn is_private_ip(ip: IpAddr) -> bool {
    fn v4(ip: std::net::Ipv4Addr) -> bool {
        let [a, b, ..] = ip.octets();
        ip.is_loopback()
            || ip.is_private()
            || ip.is_link_local()
            || ip.is_unspecified()
            || ip.is_broadcast()
            || a == 0
            || (a == 100 && (64..128).contains(&b))
    }
    match ip {
        IpAddr::V4(ip) => v4(ip),
        IpAddr::V6(ip) => {
            let first = ip.segments()[0];
            ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some_and(v4)
        }
    }
}

/// A host name that only means something on the local network: `localhost`, mDNS `.local`, the
/// reserved `.internal`/`.home.arpa`, the common `.lan`, and single-label names (`nas`, `radio`).
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || !name.contains('.')
        || [".localhost", ".local", ".internal", ".home.arpa", ".lan"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
}

/// A response head in one shape for both the reqwest and the raw path.
struct Head {
    status: u16,
    shoutcast_v1: bool,
    headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    fn get(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| super::icy::decode_text(v).trim().to_owned())
    }

    fn icy(&self) -> IcyHeaders {
        IcyHeaders::from_pairs(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
    }
}

// The whole redirect → playlist → audio decision in one place; split, it would hide the order of checks.
#[allow(clippy::too_many_lines)]
fn open_at<'a>(
    client: &'a reqwest::Client,
    url: Url,
    options: &'a ConnectOptions,
    trail: &'a mut Trail,
    depth: usize,
) -> Pin<Box<dyn Future<Output = Result<Upstream, ConnectError>> + Send + 'a>> {
    Box::pin(async move {
        if !trail.visited.insert(url.clone()) {
            return Err(ConnectError::PlaylistLoop { url });
        }
        if let Some(from) = trail.hops.last() {
            trail.check_target(from, &url)?;
        }
        let mut url = url;
        let mut redirects = 0;
        let (head, mut body) = loop {
            let (head, body) = fetch(client, &url, options).await?;
            if (300..400).contains(&head.status) {
                let location = head.get("location").unwrap_or_default();
                let next = url
                    .join(&location)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| ConnectError::BadRedirect {
                        url: url.clone(),
                        location: location.chars().take(200).collect(),
                    })?;
                trail.check_target(&url, &next)?;
                redirects += 1;
                if redirects > options.max_redirects {
                    return Err(ConnectError::TooManyRedirects {
                        url,
                        max: options.max_redirects,
                    });
                }
                trail.redirects.push(next.clone());
                url = next;
                continue;
            }
            if !(200..300).contains(&head.status) {
                return Err(ConnectError::Status {
                    url,
                    status: head.status,
                });
            }
            break (head, body);
        };

        let content_type = head.get("content-type");
        let first = match body.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => return Err(io_error(&url, &e, options, Some(head.status))),
            None => return Err(ConnectError::Empty { url }),
        };

        if let Some(kind) = playlist::detect(content_type.as_deref(), &url, &first) {
            if depth >= options.max_playlist_depth {
                return Err(ConnectError::PlaylistTooDeep {
                    url,
                    depth: options.max_playlist_depth,
                });
            }
            let text = read_to_limit(first, body, &url, options, head.status).await?;
            let parsed =
                playlist::parse(kind, &text, &url).map_err(|source| ConnectError::Playlist {
                    url: url.clone(),
                    source,
                })?;
            trail.hops.push(url.clone());
            return match parsed {
                Playlist::Streams(entries) => {
                    // Entries are alternatives: the first that opens wins; else the first entry's error.
                    let mut first_error = None;
                    for entry in entries {
                        match open_at(client, entry, options, trail, depth + 1).await {
                            Ok(upstream) => return Ok(upstream),
                            Err(e) => {
                                first_error.get_or_insert(e);
                            }
                        }
                    }
                    Err(first_error.unwrap_or(ConnectError::Playlist {
                        url,
                        source: playlist::PlaylistError::Empty,
                    }))
                }
                Playlist::HlsMaster(variants) => {
                    // Audio-only radio masters list variants by quality; the first is the author's default.
                    let variant = variants.into_iter().next().ok_or(ConnectError::Playlist {
                        url: url.clone(),
                        source: playlist::PlaylistError::Empty,
                    })?;
                    open_at(client, variant.url, options, trail, depth + 1).await
                }
                Playlist::HlsMedia(media) => {
                    Ok(open_hls(client, url, &media, options, trail.guard_private))
                }
            };
        }

        if let Some(ct) = &content_type {
            let mime = ct.to_ascii_lowercase();
            if mime.starts_with("text/html") || mime.starts_with("application/json") {
                return Err(ConnectError::NotAudio {
                    url,
                    content_type: ct.clone(),
                });
            }
        }
        if looks_like_html(&first) {
            return Err(ConnectError::NotAudio {
                url,
                content_type: content_type.unwrap_or_else(|| "text/html".into()),
            });
        }

        let icy = head.icy();
        let (titles_tx, titles) = watch::channel(None);
        let raw: ByteStream = Box::pin(futures_util::stream::once(async { Ok(first) }).chain(body));
        let audio = match icy.metaint {
            Some(metaint) => demux_icy(raw, metaint, titles_tx),
            None => raw,
        };
        Ok(Upstream {
            extension: extension(&url),
            url,
            status: head.status,
            shoutcast_v1: head.shoutcast_v1,
            redirects: Vec::new(),
            playlist_hops: Vec::new(),
            content_type,
            icy,
            segment_duration: None,
            audio,
            titles,
        })
    })
}

fn extension(url: &Url) -> Option<String> {
    let last = url.path_segments()?.next_back()?;
    let (_, ext) = last.rsplit_once('.')?;
    (!ext.is_empty() && ext.len() <= 5).then(|| ext.to_ascii_lowercase())
}

fn looks_like_html(first: &[u8]) -> bool {
    let head = String::from_utf8_lossy(first.get(..256).unwrap_or(first)).to_ascii_lowercase();
    let head = head.trim_start();
    head.starts_with("<!doctype html") || head.starts_with("<html") || head.starts_with("<?xml")
}

/// Strips ICY metadata from `raw` and publishes each new title on `titles`.
fn demux_icy(raw: ByteStream, metaint: usize, titles: watch::Sender<Option<String>>) -> ByteStream {
    let mut demux = IcyDemux::new(metaint);
    Box::pin(raw.filter_map(move |item| {
        let out = match item {
            Ok(chunk) => {
                let mut audio = BytesMut::with_capacity(chunk.len());
                let mut found = Vec::new();
                demux.feed(&chunk, &mut audio, &mut found);
                if let Some(title) = found.pop() {
                    titles.send_if_modified(|current| {
                        let changed = current.as_deref() != Some(title.as_str());
                        *current = Some(title);
                        changed
                    });
                }
                // A chunk that was all metadata yields nothing rather than an empty read (EOF to readers).
                (!audio.is_empty()).then(|| Ok(audio.freeze()))
            }
            Err(e) => Some(Err(e)),
        };
        std::future::ready(out)
    }))
}

/// Reads a playlist body, bounded in size and by the stall timeout.
async fn read_to_limit(
    first: Bytes,
    mut body: ByteStream,
    url: &Url,
    options: &ConnectOptions,
    status: u16,
) -> Result<Vec<u8>, ConnectError> {
    let mut text = first.to_vec();
    loop {
        if text.len() > MAX_PLAYLIST_BYTES {
            return Err(ConnectError::TooLarge {
                url: url.clone(),
                what: "playlist",
                limit: MAX_PLAYLIST_BYTES,
            });
        }
        match body.next().await {
            Some(Ok(chunk)) => text.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(io_error(url, &e, options, Some(status))),
            None => return Ok(text),
        }
    }
}

fn io_error(
    url: &Url,
    e: &io::Error,
    options: &ConnectOptions,
    status: Option<u16>,
) -> ConnectError {
    if e.kind() == io::ErrorKind::TimedOut {
        ConnectError::Stalled {
            url: url.clone(),
            after: options.stall_timeout,
            status,
        }
    } else {
        ConnectError::Io {
            url: url.clone(),
            detail: e.to_string(),
        }
    }
}

/// Ends a stream with a `TimedOut` error when no item arrives within `stall`.
pub fn with_stall_timeout(
    stream: impl Stream<Item = io::Result<Bytes>> + Send + Sync + 'static,
    stall: Duration,
) -> ByteStream {
    let stream: ByteStream = Box::pin(stream);
    Box::pin(futures_util::stream::unfold(
        Some(stream),
        move |state| async move {
            let mut stream = state?;
            match tokio::time::timeout(stall, stream.next()).await {
                Ok(Some(item)) => Some((item, Some(stream))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no data for {stall:?}"),
                    )),
                    None,
                )),
            }
        },
    ))
}

/// One GET with `Icy-MetaData: 1`. Falls back to the raw path when hyper refuses an `ICY 200 OK` line.
async fn fetch(
    client: &reqwest::Client,
    url: &Url,
    options: &ConnectOptions,
) -> Result<(Head, ByteStream), ConnectError> {
    let request = client
        .get(url.clone())
        .header("Icy-MetaData", "1")
        .header(reqwest::header::ACCEPT, "*/*");
    match tokio::time::timeout(options.connect_timeout, request.send()).await {
        Err(_) => Err(ConnectError::Timeout {
            url: url.clone(),
            after: options.connect_timeout,
        }),
        Ok(Ok(response)) => {
            let head = Head {
                status: response.status().as_u16(),
                shoutcast_v1: false,
                headers: response
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
                    .collect(),
            };
            let body = response.bytes_stream().map(|r| r.map_err(io::Error::other));
            Ok((head, with_stall_timeout(body, options.stall_timeout)))
        }
        Ok(Err(e)) if is_icy_status_line(&e) && url.scheme() == "http" => {
            fetch_raw(url, options).await
        }
        Ok(Err(e)) => Err(classify(url, &e, options)),
    }
}

/// hyper's parser refuses any status line but `HTTP/1.x`: `ICY 200 OK` shows up as a version parse error.
fn is_icy_status_line(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        let text = format!("{err:?}");
        if text.contains("Parse(Version)") || text.contains("invalid HTTP version") {
            return true;
        }
        source = err.source();
    }
    false
}

fn classify(url: &Url, e: &reqwest::Error, options: &ConnectOptions) -> ConnectError {
    let mut chain = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        chain.push(err.to_string());
        source = err.source();
    }
    let detail = chain.last().cloned().unwrap_or_default();
    let all = chain.join(": ").to_ascii_lowercase();
    let url = url.clone();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<ResolvesPrivate>() {
            return ConnectError::ResolvesPrivate {
                url,
                source: Box::new(refused.clone()),
            };
        }
        source = err.source();
    }
    if e.is_timeout() {
        ConnectError::Timeout {
            url,
            after: options.connect_timeout,
        }
    } else if all.contains("dns error") || all.contains("failed to lookup address") {
        ConnectError::Dns { url, detail }
    } else if all.contains("certificate") || all.contains("tls") || all.contains("handshake") {
        ConnectError::Tls { url, detail }
    } else if e.is_connect() {
        ConnectError::Connect { url, detail }
    } else {
        ConnectError::Io { url, detail }
    }
}

/// The Shoutcast v1 path: plain TCP, HTTP/1.0 request, any `ICY`/`HTTP` status line.
async fn fetch_raw(
    url: &Url,
    options: &ConnectOptions,
) -> Result<(Head, ByteStream), ConnectError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let timeout = |after| ConnectError::Timeout {
        url: url.clone(),
        after,
    };
    let connect = async {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let found = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| ConnectError::Dns {
                url: url.clone(),
                detail: e.to_string(),
            })?
            .collect();
        // The same screen as the reqwest path's resolver: this path must not be the way around it.
        let addrs = if options.allow_private_targets {
            found
        } else {
            screen_resolved(&host, found).map_err(|source| ConnectError::ResolvesPrivate {
                url: url.clone(),
                source: Box::new(source),
            })?
        };
        tokio::net::TcpStream::connect(addrs.as_slice())
            .await
            .map_err(|e| ConnectError::Connect {
                url: url.clone(),
                detail: e.to_string(),
            })
    };
    let mut stream = tokio::time::timeout(options.connect_timeout, connect)
        .await
        .map_err(|_| timeout(options.connect_timeout))??;
    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let request = format!(
        "GET {target} HTTP/1.0\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n\
         Accept: */*\r\nIcy-MetaData: 1\r\nConnection: close\r\n\r\n"
    );
    let io_err = |e: io::Error| ConnectError::Io {
        url: url.clone(),
        detail: e.to_string(),
    };
    stream.write_all(request.as_bytes()).await.map_err(io_err)?;

    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(end) = find_head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(ConnectError::Io {
                url: url.clone(),
                detail: "response head too large".into(),
            });
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(options.connect_timeout, stream.read(&mut chunk))
            .await
            .map_err(|_| timeout(options.connect_timeout))?
            .map_err(io_err)?;
        if n == 0 {
            return Err(ConnectError::Empty { url: url.clone() });
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    };
    let head_bytes = buf.get(..head_end.0).unwrap_or_default();
    let rest = buf.get(head_end.1..).unwrap_or_default().to_vec();
    let head = parse_raw_head(head_bytes).ok_or_else(|| ConnectError::Io {
        url: url.clone(),
        detail: "malformed response head".into(),
    })?;
    let leftover = Bytes::from(rest);
    let tail = futures_util::stream::unfold(Some(stream), |state| async move {
        let mut stream = state?;
        let mut chunk = vec![0u8; 16 * 1024];
        match stream.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok(Bytes::from(chunk)), Some(stream)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let body =
        futures_util::stream::iter((!leftover.is_empty()).then_some(Ok(leftover))).chain(tail);
    Ok((head, with_stall_timeout(body, options.stall_timeout)))
}

/// `(end of head, start of body)`: accepts `\r\n\r\n` and the bare `\n\n` some old servers send.
fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    let lf = buf
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn parse_raw_head(head: &[u8]) -> Option<Head> {
    let text = super::icy::decode_text(head);
    let mut lines = text.lines();
    let status_line = lines.next()?.trim();
    let mut parts = status_line.split_whitespace();
    let protocol = parts.next()?;
    let status: u16 = parts.next()?.parse().ok()?;
    let shoutcast_v1 = protocol.eq_ignore_ascii_case("ICY");
    if !shoutcast_v1 && !protocol.starts_with("HTTP/") {
        return None;
    }
    let headers = lines
        .filter_map(|line| {
            let (k, v) = line.split_once(':')?;
            Some((k.trim().to_owned(), v.trim().as_bytes().to_vec()))
        })
        .collect();
    Some(Head {
        status,
        shoutcast_v1,
        headers,
    })
}

/// Streams an HLS media playlist: starts near the live edge, fetches each new segment once, and reloads
/// the playlist every half target duration. Segments are concatenated: packed ADTS/MP3 segments demux as
/// one stream (the readers resync on frame headers and step over per-segment ID3 tags).
// The HLS state machine (queue, reload, errors) is one unfold; its pieces only make sense together.
#[allow(clippy::too_many_lines)]
fn open_hls(
    client: &reqwest::Client,
    url: Url,
    media: &HlsMedia,
    options: &ConnectOptions,
    guard_private: bool,
) -> Upstream {
    struct State {
        client: reqwest::Client,
        url: Url,
        queue: VecDeque<Url>,
        next_sequence: u64,
        target: Duration,
        ended: bool,
        stall: Duration,
        connect: Duration,
        /// Set once a segment turned out to be MPEG-TS: its PIDs carry over to the next segments.
        ts: Option<TsDemuxer>,
        /// fMP4: the init segment (`ftyp` + `moov`), sent once before the first media segment.
        init: Option<Url>,
        /// Titles from timed ID3 (a tag at the start of each packed-audio segment, or a TS
        /// metadata stream).
        titles: watch::Sender<Option<String>>,
        /// The station's own URL is public: segments on private addresses are refused.
        guard_private: bool,
    }
    /// Live playlists start this many segments before the newest (what players do: a small cushion).
    const LIVE_EDGE_SEGMENTS: usize = 3;
    fn enqueue(state: &mut State, media: &HlsMedia, first_load: bool) {
        let count = media.segments.len() as u64;
        let skip = if first_load && !media.ended {
            media.segments.len().saturating_sub(LIVE_EDGE_SEGMENTS)
        } else {
            0
        };
        for (i, segment) in media.segments.iter().enumerate().skip(skip) {
            let sequence = media.media_sequence + i as u64;
            if first_load || sequence >= state.next_sequence {
                state.queue.push_back(segment.clone());
            }
        }
        state.next_sequence = state.next_sequence.max(media.media_sequence + count);
        state.target = Duration::from_secs(media.target_duration);
        state.ended = media.ended;
    }
    // `.ts` names the container, not the codec: the decoder probes the demuxed ADTS/MP3 frames instead.
    // fMP4 segments (`.m4s`, `.mp4`, `.cmfa`) follow their init segment as one fragmented MP4 stream.
    let extension = if media.init_map.is_some() {
        Some("mp4".to_owned())
    } else {
        media
            .segments
            .first()
            .and_then(extension)
            .filter(|e| !e.eq_ignore_ascii_case("ts"))
    };
    let hls_stall = options
        .stall_timeout
        .max(Duration::from_secs(media.target_duration.saturating_mul(3)));
    let (titles_tx, titles) = watch::channel(None);
    let mut state = State {
        client: client.clone(),
        url: url.clone(),
        queue: VecDeque::new(),
        next_sequence: 0,
        target: Duration::from_secs(media.target_duration),
        ended: false,
        stall: options.stall_timeout,
        connect: options.connect_timeout,
        ts: None,
        init: media.init_map.clone(),
        titles: titles_tx,
        guard_private,
    };
    enqueue(&mut state, media, true);
    let stream = futures_util::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            let init = state.init.take();
            if let Some(segment) = init.or_else(|| state.queue.pop_front()) {
                if state.guard_private && is_private_target(&segment) {
                    let refused = ConnectError::PrivateTarget {
                        url: state.url.clone(),
                        target: Box::new(segment),
                    };
                    return Some((Err(io::Error::other(refused.to_string())), None));
                }
                let fetched = tokio::time::timeout(
                    state.connect + state.stall,
                    get_bounded(&state.client, &segment, MAX_SEGMENT_BYTES, "HLS segment"),
                )
                .await;
                return match fetched {
                    Ok(Ok(bytes)) if state.ts.is_some() || ts::looks_like_ts(&bytes) => {
                        let demuxer = state.ts.get_or_insert_with(TsDemuxer::default);
                        match demuxer.push(&bytes) {
                            Ok(audio) => {
                                let tags = demuxer.take_id3();
                                publish_title(
                                    &state.titles,
                                    tags.iter().filter_map(|t| id3::title(t)),
                                );
                                Some((Ok(Bytes::from(audio)), Some(state)))
                            }
                            Err(e) => Some((
                                Err(io::Error::other(format!("HLS segment {segment}: {e}"))),
                                None,
                            )),
                        }
                    }
                    Ok(Ok(bytes)) => {
                        publish_title(&state.titles, id3::title(&bytes));
                        Some((Ok(bytes), Some(state)))
                    }
                    Ok(Err(e)) => Some((
                        Err(io::Error::other(format!("HLS segment {segment}: {e}"))),
                        None,
                    )),
                    Err(_) => Some((
                        Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("HLS segment {segment} took too long"),
                        )),
                        None,
                    )),
                };
            }
            if state.ended {
                return None;
            }
            tokio::time::sleep((state.target / 2).max(Duration::from_millis(500))).await;
            let reloaded = tokio::time::timeout(
                state.connect + state.stall,
                get_bounded(
                    &state.client,
                    &state.url,
                    MAX_PLAYLIST_BYTES,
                    "HLS playlist",
                ),
            )
            .await;
            let body = match reloaded {
                Ok(Ok(body)) => body,
                Ok(Err(e)) => {
                    return Some((
                        Err(io::Error::other(format!("HLS playlist {}: {e}", state.url))),
                        None,
                    ));
                }
                Err(_) => {
                    return Some((
                        Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("HLS playlist {} took too long", state.url),
                        )),
                        None,
                    ));
                }
            };
            match playlist::parse(playlist::PlaylistKind::M3u, &body, &state.url) {
                Ok(Playlist::HlsMedia(media)) => {
                    let url = state.url.clone();
                    enqueue(&mut state, &media, false);
                    state.url = url;
                }
                _ => {
                    return Some((
                        Err(io::Error::other(format!(
                            "HLS playlist {} is no longer a media playlist",
                            state.url
                        ))),
                        None,
                    ));
                }
            }
        }
    });
    Upstream {
        url,
        status: 200,
        shoutcast_v1: false,
        redirects: Vec::new(),
        playlist_hops: Vec::new(),
        content_type: Some("application/vnd.apple.mpegurl".into()),
        icy: IcyHeaders::default(),
        segment_duration: Some(Duration::from_secs(media.target_duration)),
        extension,
        // A live playlist that stops growing would otherwise poll forever without yielding a byte.
        audio: with_stall_timeout(stream, hls_stall),
        titles,
    }
}

/// GETs `url` and reads its body, refusing one larger than `limit` as soon as it gets there (a segment
/// that never ends, a playlist of a million entries) instead of buffering it whole.
async fn get_bounded(
    client: &reqwest::Client,
    url: &Url,
    limit: usize,
    what: &'static str,
) -> Result<Bytes, BoundedError> {
    let response = client.get(url.clone()).send().await?.error_for_status()?;
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BoundedError::TooLarge { what, limit });
    }
    let mut body = BytesMut::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Err(BoundedError::TooLarge { what, limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Why a bounded GET failed.
#[derive(Debug, thiserror::Error)]
enum BoundedError {
    #[error("{}", describe_body_error(.0))]
    Http(#[from] reqwest::Error),
    #[error("the {what} is larger than {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
}

/// reqwest's "error decoding response body" says little: name what the server did.
fn describe_body_error(e: &reqwest::Error) -> String {
    if e.is_body() || e.is_decode() {
        "the connection broke off mid-body (the server closed it early or sent less than its \
         Content-Length)"
            .to_owned()
    } else {
        e.to_string()
    }
}

/// Publishes the last of `titles` when it differs from the current one (a segment repeats its song's
/// tag; watchers wake only on a change).
fn publish_title(tx: &watch::Sender<Option<String>>, titles: impl IntoIterator<Item = String>) {
    if let Some(title) = titles.into_iter().last() {
        tx.send_if_modified(|current| {
            if current.as_ref() == Some(&title) {
                return false;
            }
            *current = Some(title);
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().expect("ip"), 0)
    }

    #[test]
    fn a_public_name_with_any_private_answer_is_refused() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "::ffff:192.168.1.1",
        ] {
            let refused = screen_resolved("rebind.example", vec![at("93.184.216.34"), at(private)])
                .expect_err(private);
            assert_eq!(
                refused.addr.to_string(),
                private.parse::<IpAddr>().expect("ip").to_string()
            );
            assert!(
                refused.to_string().contains("rebind.example resolves to"),
                "{refused}"
            );
        }
        assert_eq!(
            screen_resolved(
                "radio.example",
                vec![at("93.184.216.34"), at("2606:4700::1")]
            )
            .map(|a| a.len()),
            Ok(2)
        );
    }

    #[test]
    fn literals_and_local_names_are_judged_before_the_connect_not_by_the_resolver() {
        // A LAN station's own URL may be one of these; the redirect guard refuses them for public stations.
        for host in [
            "127.0.0.1",
            "[::1]",
            "localhost",
            "nas",
            "radio.lan",
            "box.local",
            "svc.internal",
        ] {
            assert!(
                screen_resolved(host, vec![at("192.168.1.5")]).is_ok(),
                "{host}"
            );
            assert!(
                is_private_target(&Url::parse(&format!("http://{host}:8000/")).expect("url")),
                "{host}"
            );
        }
        assert!(!is_private_target(
            &Url::parse("http://radio.example/").expect("url")
        ));
    }

    #[test]
    fn raw_head_accepts_icy_and_http() {
        let head = parse_raw_head(
            b"ICY 200 OK\r\nicy-name:Old Server\r\nicy-metaint: 8192\r\ncontent-type:audio/mpeg",
        )
        .expect("icy head");
        assert_eq!(head.status, 200);
        assert!(head.shoutcast_v1);
        assert_eq!(head.icy().metaint, Some(8192));
        assert_eq!(head.get("Content-Type").as_deref(), Some("audio/mpeg"));
        let head = parse_raw_head(b"HTTP/1.0 404 Not Found\r\n").expect("http head");
        assert_eq!(head.status, 404);
        assert!(!head.shoutcast_v1);
        assert!(parse_raw_head(b"SIP/2.0 200 OK").is_none());
    }

    #[test]
    fn head_end_crlf_and_bare_lf() {
        assert_eq!(
            find_head_end(b"ICY 200 OK\r\na:b\r\n\r\nxx"),
            Some((15, 19))
        );
        assert_eq!(find_head_end(b"ICY 200 OK\na:b\n\nxx"), Some((14, 16)));
        assert_eq!(find_head_end(b"ICY 200 OK\r\n"), None);
    }

    #[test]
    fn extension_from_url() {
        let ext = |u: &str| extension(&Url::parse(u).expect("url"));
        assert_eq!(ext("http://a/live.MP3?x=1").as_deref(), Some("mp3"));
        assert_eq!(ext("http://a/stream"), None);
        assert_eq!(ext("http://a/seg/12.aac").as_deref(), Some("aac"));
    }

    #[tokio::test(start_paused = true)]
    async fn stall_timeout_ends_a_silent_stream() {
        let silent = futures_util::stream::pending::<io::Result<Bytes>>();
        let mut stream = with_stall_timeout(silent, Duration::from_secs(3));
        let err = stream.next().await.expect("item").expect_err("timeout");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(stream.next().await.is_none());
    }
}
