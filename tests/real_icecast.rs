//! `alastor stations check` against a real Icecast (Debian's `icecast2` 2.4) fed by real source clients:
//! ffmpeg (MP3, AAC/ADTS, Ogg Vorbis, Ogg Opus, Ogg FLAC, 22.05 kHz mono MP3) and liquidsoap (MP3 and Vorbis
//! with titles changing per song). Until these, every stream in the suite was one we wrote ourselves; real
//! servers send a connect burst, chained Ogg streams, their own playlist formats (`.xspf`, `.m3u`).
//!
//! Needs `icecast2`, `ffmpeg`, `liquidsoap` (see tests/README.md): skipped loudly without them, failed under CI.

mod common;

use std::time::Duration;

use common::check_report::{Expected, Title, assert_no_mismatches, compare, run_check};
use common::icecast::{ENCODINGS, Feeder, Icecast, LiqFormat, Liquidsoap, measure_bitrate};
use common::tools::tools_present;

const LIVE: Duration = Duration::from_secs(15);

fn expected(icecast: &Icecast, mount: &str) -> Expected {
    let encoding = ENCODINGS
        .iter()
        .find(|e| e.mount == mount)
        .expect("known mount");
    Expected {
        name: format!("Icecast {mount}"),
        url: icecast.url(mount),
        codec: encoding.codec,
        kbps: encoding.kbps.unwrap_or(0),
        sample_rate: encoding.sample_rate,
        channels: encoding.channels,
        title: Title::Exact(encoding.title.to_owned()),
        hls: false,
    }
}

#[test]
fn every_real_icecast_mount_checks_with_its_codec_bitrate_rate_channels_and_title() {
    if !tools_present(
        "real_icecast::every_real_icecast_mount_checks",
        &["icecast2", "ffmpeg", "liquidsoap"],
    ) {
        return;
    }
    let icecast = Icecast::start();
    let feeders: Vec<Feeder> = ENCODINGS
        .iter()
        .map(|encoding| Feeder::start(&icecast, encoding))
        .collect();
    let liquidsoap = Liquidsoap::start(
        &icecast,
        &[("liq.mp3", LiqFormat::Mp3), ("liq.ogg", LiqFormat::Vorbis)],
        3.0,
    );

    let mut stations = Vec::new();
    for (encoding, feeder) in ENCODINGS.iter().zip(&feeders) {
        let source = icecast.wait_mount(encoding.mount, LIVE, || feeder.log());
        if !encoding.ogg() {
            icecast.set_title(encoding.mount, encoding.title);
        }
        let mut want = expected(&icecast, encoding.mount);
        if encoding.kbps.is_none() {
            want.kbps = measure_bitrate(encoding, icecast.dir());
        }
        eprintln!("live: /{} ({})", encoding.mount, source["server_type"]);
        stations.push(want);
    }
    for (mount, codec) in [("liq.mp3", "mp3"), ("liq.ogg", "vorbis")] {
        // A title on the status page: liquidsoap has sent at least one song change.
        let title = icecast.wait_title(mount, LIVE, |t| t.contains("Song "), || liquidsoap.log());
        eprintln!("live: /{mount} ({title})");
        stations.push(Expected {
            name: format!("Liquidsoap {mount}"),
            url: icecast.url(mount),
            codec,
            kbps: 128,
            sample_rate: 44_100,
            channels: 2,
            title: Title::Contains("Song "),
            hls: false,
        });
    }

    let run = run_check(&stations, "15s");
    let (reports, took) = (&run.reports, run.took);
    let (table, failures) = compare(&stations, reports);
    eprintln!(
        "\nstations check --json over a real Icecast ({} mounts, {took:?}):\n{table}",
        stations.len()
    );
    assert_no_mismatches(&run, failures, "");
    drop(liquidsoap);
    drop(feeders);
}

#[test]
fn xspf_and_m3u_indirection_of_an_icecast_mount_checks_ok() {
    if !tools_present(
        "real_icecast::xspf_and_m3u_indirection",
        &["icecast2", "ffmpeg"],
    ) {
        return;
    }
    let icecast = Icecast::start();
    let mp3 = ENCODINGS
        .iter()
        .find(|e| e.mount == "live.mp3")
        .expect("mp3");
    let feeder = Feeder::start(&icecast, mp3);
    icecast.wait_mount(mp3.mount, LIVE, || feeder.log());
    icecast.set_title(mp3.mount, mp3.title);

    let stations: Vec<Expected> = ["xspf", "m3u"]
        .into_iter()
        .map(|playlist| {
            let mut want = expected(&icecast, "live.mp3");
            want.name = format!("Icecast live.mp3 via .{playlist}");
            want.url = icecast.url(&format!("live.mp3.{playlist}"));
            want
        })
        .collect();
    let run = run_check(&stations, "15s");
    let (reports, took) = (&run.reports, run.took);
    let (table, mut failures) = compare(&stations, reports);
    for report in reports {
        let hops = report["playlist_hops"].as_array().map_or(0, Vec::len);
        if hops != 1 {
            failures.push(format!(
                "{}: {hops} playlist hops, want 1 ({})",
                report["name"], report["playlist_hops"]
            ));
        }
        if report["url"].as_str() != Some(icecast.url("live.mp3").as_str()) {
            failures.push(format!(
                "{}: played {}, want the mount {}",
                report["name"],
                report["url"],
                icecast.url("live.mp3")
            ));
        }
    }
    eprintln!("\nplaylist indirection ({took:?}):\n{table}");
    assert_no_mismatches(&run, failures, "");
    drop(feeder);
}
