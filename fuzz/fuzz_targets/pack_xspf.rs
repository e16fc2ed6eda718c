//! XSPF on arbitrary text, both ways the bot reads it: as a station pack and as a stream's playlist
//! (Icecast's `/mount.xspf`), with the kind detection in front as the upstream code runs it.
#![no_main]

use alastor::audio::upstream::playlist::{PlaylistKind, detect, parse};
use alastor::core::station::model::PackFormat;
use alastor::core::station::pack::parse_pack;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = parse_pack(text, PackFormat::Xspf, std::path::Path::new("fuzz.xspf"));
    let Ok(base) = url::Url::parse("http://radio.example/live.xspf") else {
        return;
    };
    let _ = detect(Some("application/xspf+xml"), &base, text.as_bytes());
    let _ = parse(PlaylistKind::Xspf, text.as_bytes(), &base);
});
