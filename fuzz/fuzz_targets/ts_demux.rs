//! The MPEG-TS demuxer (and the timed-ID3 reader behind it) on arbitrary segments, several in a row as
//! a live playlist delivers them.
#![no_main]

use alastor::audio::upstream::id3;
use alastor::audio::upstream::ts::TsDemuxer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut demuxer = TsDemuxer::default();
    for segment in data.split(|&b| b == 0xa5) {
        if let Ok(audio) = demuxer.push(segment) {
            assert!(audio.len() <= segment.len(), "audio out of nowhere");
        }
        for tag in demuxer.take_id3() {
            let _ = id3::title(&tag);
        }
    }
    let _ = id3::title(data);
});
