//! `alastor stations check` against live HLS written by a real packager: `ffmpeg -re -f hls` with 1 s
//! segments, a 5-segment sliding window and deleted old segments, once as MPEG-TS and once as fragmented MP4,
//! served from 127.0.0.1 by a file server the test starts.
//!
//! Needs `ffmpeg` (see tests/README.md): skipped loudly without it, failed under CI.

mod common;

use common::check_report::{Expected, Title, assert_no_mismatches, compare, run_check};
use common::hls_server::{HLS_CHANNELS, HLS_KBPS, HLS_SAMPLE_RATE, LiveHls, Segments};
use common::tools::tools_present;
use rstest::rstest;

#[rstest]
#[case::mpeg_ts(Segments::MpegTs)]
#[case::fmp4(Segments::Fmp4)]
fn live_hls_from_ffmpeg_checks_as_aac_with_its_bitrate_rate_and_channels(
    #[case] segments: Segments,
) {
    if !tools_present(&format!("real_hls::{segments:?}"), &["ffmpeg"]) {
        return;
    }
    let live = LiveHls::start(segments);
    let stations = [Expected {
        name: format!("Live HLS {segments:?}"),
        url: live.url(),
        codec: "aac",
        kbps: HLS_KBPS,
        sample_rate: HLS_SAMPLE_RATE,
        channels: HLS_CHANNELS,
        title: Title::Unset,
        hls: true,
    }];
    let run = run_check(&stations, "15s");
    let (reports, took) = (&run.reports, run.took);
    let (table, failures) = compare(&stations, reports);
    eprintln!("\nstations check --json over live HLS ({segments:?}, {took:?}):\n{table}");
    let packager = std::fs::read_to_string(live.dir().join("ffmpeg.log")).unwrap_or_default();
    assert_no_mismatches(&run, failures, &format!("\n\npackager:\n{packager}"));
}
