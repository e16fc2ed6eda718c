//! The ICY demuxer on arbitrary bytes split at arbitrary points: the first byte picks the metadata
//! interval, the second the chunk size.
#![no_main]

use alastor::audio::upstream::icy::IcyDemux;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [interval, chunk, rest @ ..] = data else {
        return;
    };
    let mut demux = IcyDemux::new(usize::from(*interval) * 16 + 1);
    let mut audio = bytes::BytesMut::new();
    let mut titles = Vec::new();
    for piece in rest.chunks(usize::from(*chunk).max(1)) {
        demux.feed(piece, &mut audio, &mut titles);
    }
    assert!(audio.len() <= rest.len(), "audio out of nowhere");
});
