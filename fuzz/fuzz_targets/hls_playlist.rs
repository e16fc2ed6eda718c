//! Station playlists (PLS, M3U, HLS master and media) on arbitrary bytes, with the kind detection in
//! front as the upstream code runs it.
#![no_main]

use alastor::audio::upstream::playlist::{PlaylistKind, detect, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(base) = url::Url::parse("http://radio.example/live/index.m3u8") else {
        return;
    };
    let _ = detect(None, &base, data);
    for kind in [PlaylistKind::M3u, PlaylistKind::Pls] {
        let _ = parse(kind, data, &base);
    }
});
