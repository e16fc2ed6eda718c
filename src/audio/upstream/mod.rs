//! Upstream: getting a station's audio bytes. Playlists ([`playlist`]), ICY headers and in-band titles
//! ([`icy`]), HLS timed ID3 titles ([`id3`]), and opening a URL through redirects, playlists and Shoutcast quirks ([`connect`]).
//! Shared by `stations check` (preflight) and the station hubs.

pub mod connect;
pub mod icy;
pub mod id3;
pub mod playlist;
pub mod ts;

pub use connect::{ByteStream, ConnectError, ConnectOptions, Upstream, http_client, open};
