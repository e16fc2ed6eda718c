//! Measures what the station-hub design costs inside songbird's real mixer (mock mode, no Discord):
//! N guild calls on one worker thread, each with one track fed by a hub `Listener` (Opus passthrough),
//! paced in real 20 ms ticks, hubs running the full pipeline (44.1 kHz synthetic music → resample →
//! limiter → one Opus encode per station). Reports process CPU per listener/station and RSS per listener.

use std::io::Cursor;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alastor::audio::hub::HubConfig;
use alastor::audio::listener::Listener;
use alastor::audio::manager::HubManager;
use alastor::audio::source::{PcmChunk, SourceError, SourceEvent, SourceStream, UpstreamSource};
use alastor::core::station::model::{Origin, Station, StationDraft};
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use songbird::driver::DummyMixer;
use songbird::driver::bench_internals::mixer::Mixer;
use songbird::driver::bench_internals::scheduler::{
    Live, LiveStatBlock, Mode, StatBlock, TaskId, WorkerId,
};
use songbird::input::codecs::{get_codec_registry, get_probe};
use songbird::input::{Input, LiveInput, Parsed};
use songbird::tracks::Track;
use symphonia::core::audio::Channels as SChannels;
use symphonia::core::codecs::{CODEC_TYPE_OPUS, CodecParameters, DecoderOptions};
use symphonia::core::errors::Result as SResult;
use symphonia::core::formats::{
    Cue, FormatOptions, FormatReader, Packet, SeekMode, SeekTo, SeekedTo, Track as STrack,
};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::{Metadata, MetadataLog, MetadataOptions};
use symphonia::core::probe::Hint;
use symphonia::core::units::TimeBase;
use tokio::runtime::Handle;

/// The songbird adapter prototype: a never-blocking `FormatReader` over a hub listener.
struct ListenerReader {
    listener: Listener,
    ts: u64,
    tracks: Vec<STrack>,
    cues: Vec<Cue>,
    meta: MetadataLog,
}

impl ListenerReader {
    fn new(listener: Listener) -> Self {
        let mut params = CodecParameters::new();
        params
            .for_codec(CODEC_TYPE_OPUS)
            .with_sample_rate(48_000)
            .with_time_base(TimeBase::new(1, 48_000))
            .with_channels(SChannels::FRONT_LEFT | SChannels::FRONT_RIGHT)
            .with_max_frames_per_packet(1);
        Self {
            listener,
            ts: 0,
            tracks: vec![STrack::new(0, params)],
            cues: vec![],
            meta: MetadataLog::default(),
        }
    }
}

impl FormatReader for ListenerReader {
    fn try_new(_s: MediaSourceStream, _o: &FormatOptions) -> SResult<Self> {
        symphonia::core::errors::unsupported_error("constructed directly from a hub listener")
    }
    fn cues(&self) -> &[Cue] {
        &self.cues
    }
    fn metadata(&mut self) -> Metadata<'_> {
        self.meta.metadata()
    }
    fn seek(&mut self, _m: SeekMode, _t: SeekTo) -> SResult<SeekedTo> {
        symphonia::core::errors::seek_error(symphonia::core::errors::SeekErrorKind::Unseekable)
    }
    fn tracks(&self) -> &[STrack] {
        &self.tracks
    }
    fn next_packet(&mut self) -> SResult<Packet> {
        let frame = self.listener.next_frame();
        let packet = Packet::new_from_slice(0, self.ts, 960, &frame);
        self.ts += 960;
        Ok(packet)
    }
    fn into_inner(self: Box<Self>) -> MediaSourceStream {
        MediaSourceStream::new(
            Box::new(Cursor::new(Vec::<u8>::new())),
            MediaSourceStreamOptions::default(),
        )
    }
}

/// `ProbedMetadata` has no public constructor: probe a tiny DCA1 header to get one.
fn dummy_probed_meta() -> symphonia::core::probe::ProbedMetadata {
    let json = br#"{"dca":{"version":1,"tool":{"name":"x","version":"0"}},"opus":{"mode":"music","sample_rate":48000,"frame_size":960,"vbr":true,"channels":2}}"#;
    let mut hdr = b"DCA1".to_vec();
    hdr.extend_from_slice(&(json.len() as u32).to_le_bytes());
    hdr.extend_from_slice(json);
    let mss = MediaSourceStream::new(
        Box::new(Cursor::new(hdr)),
        MediaSourceStreamOptions::default(),
    );
    get_probe()
        .format(
            &Hint::new(),
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .expect("dca header probes")
        .metadata
}

fn listener_input(listener: Listener) -> Input {
    let reader = ListenerReader::new(listener);
    let decoder = get_codec_registry()
        .make(&reader.tracks[0].codec_params, &DecoderOptions::default())
        .expect("opus decoder");
    Input::Live(
        LiveInput::Parsed(Parsed {
            format: Box::new(reader),
            decoder,
            track_id: 0,
            meta: dummy_probed_meta(),
            supports_backseek: false,
        }),
        None,
    )
}

/// Synthetic "music" at 44.1 kHz stereo (chords + noise, so Opus works as hard as on real audio),
/// delivered in real time in 20 ms chunks.
struct SyntheticMusic;

impl UpstreamSource for SyntheticMusic {
    fn open(&self, _url: &url::Url) -> BoxFuture<'static, Result<SourceStream, SourceError>> {
        Box::pin(async {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut t = 0usize;
            let mut rng = 0x2545_f491_u32;
            let s = futures_util::stream::poll_fn(move |cx| {
                if tick.poll_tick(cx).is_pending() {
                    return std::task::Poll::Pending;
                }
                let mut samples = Vec::with_capacity(882 * 2);
                for i in t..t + 882 {
                    let x = i as f32 / 44_100.0;
                    let chord = [220.0f32, 277.2, 329.6, 440.0, 1_318.5]
                        .iter()
                        .map(|f| (x * f * std::f32::consts::TAU).sin())
                        .sum::<f32>()
                        * 0.12;
                    rng ^= rng << 13;
                    rng ^= rng >> 17;
                    rng ^= rng << 5;
                    let noise = (rng as f32 / u32::MAX as f32 - 0.5) * 0.1;
                    samples.extend_from_slice(&[chord + noise, chord - noise]);
                }
                t += 882;
                std::task::Poll::Ready(Some(Ok(SourceEvent::Pcm(PcmChunk {
                    rate: 44_100,
                    channels: 2,
                    samples,
                }))))
            });
            Ok(s.boxed())
        })
    }
}

fn station(i: usize) -> Station {
    StationDraft {
        name: Some(format!("Bench {i}")),
        streams: vec![format!("http://127.0.0.1:9/{i}")],
        ..StationDraft::default()
    }
    .validate(&Origin::new("bench", None))
    .expect("valid station")
    .0
}

fn cpu_secs() -> f64 {
    let st = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let rest = &st[st.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime")) / 100.0
}

fn rss_kib() -> f64 {
    let st = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    st.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// `stations` hubs, `per_station` listeners each, all calls on one paced songbird worker.
fn run(manager: &HubManager, label: &str, stations: usize, per_station: usize, ticks: usize) {
    let h = Handle::current();
    let rss0 = rss_kib();
    let mut mixers: Vec<DummyMixer> = Vec::with_capacity(stations * per_station);
    for s in 0..stations {
        let st = station(s);
        for _ in 0..per_station {
            let mut m = Mixer::mock(h.clone(), true);
            let (_handle, ctx) = songbird::driver::bench_internals::track_context(Track::from(
                listener_input(manager.attach(&st, 100)),
            ));
            m.0.add_track(ctx).expect("add track");
            mixers.push(m);
        }
    }
    let n = mixers.len();
    let mut cfg = songbird::driver::SchedulerConfig::default();
    cfg.move_expensive_tasks = false;
    cfg.strategy = Mode::MaxPerThread(n.try_into().expect("n > 0"));
    let (_task_tx, task_rx) = flume::unbounded();
    let (sched_tx, _sched_rx) = flume::unbounded();
    let mut core = Live::new(
        WorkerId::new(),
        cfg,
        Arc::new(StatBlock::default()),
        Arc::new(LiveStatBlock::default()),
        task_rx,
        sched_tx,
    );
    let mut id = TaskId::new();
    for (m, l) in mixers {
        core.add_task_direct(m, id.incr());
        // Like songbird's per-call events runner: one task draining the call's event channel.
        let (core_rx, evt_rx) = (l.0, l.1);
        h.spawn(async move {
            let _core_rx = core_rx;
            while let Ok(m) = evt_rx.recv_async().await {
                std::hint::black_box(&m);
            }
        });
    }
    // Let hubs preroll, then warm up the mixers.
    std::thread::sleep(Duration::from_millis(400));
    for _ in 0..10 {
        core.run_once();
    }
    let rss = rss_kib() - rss0;
    let c0 = cpu_secs();
    let t0 = Instant::now();
    let mut deadline = Instant::now();
    let mut busy = Duration::ZERO;
    for _ in 0..ticks {
        let w0 = Instant::now();
        std::hint::black_box(core.run_once());
        busy += w0.elapsed();
        deadline += Duration::from_millis(20);
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - c0;
    let stats = manager.stats();
    let audio: u64 = stats.iter().map(|s| s.frames_audio).sum();
    let silence: u64 = stats.iter().map(|s| s.frames_silence).sum();
    let per_tick_us = cpu * 1e6 / ticks as f64;
    println!(
        "{label:<9} stations={stations:<3} listeners={n:<5} process CPU {per_tick_us:>8.1} us/tick = {:>5.2}% core | per listener {:>6.2} us/tick -> ~{:>5.0}/core | per station {:>6.1} us/tick -> ~{:>4.0}/core | mixer thread {:>5.2} us/call/tick | RSS {:>6.1} KiB/listener | hub frames audio {audio} silence {silence}",
        cpu / wall * 100.0,
        per_tick_us / n as f64,
        20_000.0 / (per_tick_us / n as f64),
        per_tick_us / stations as f64,
        20_000.0 / (per_tick_us / stations as f64),
        busy.as_secs_f64() * 1e6 / (ticks * n) as f64,
        rss / n as f64,
    );
    drop(core);
    manager.shutdown();
    std::thread::sleep(Duration::from_millis(200));
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    // Mixer::mock sends its RTP packets here.
    let _sink = UdpSocket::bind("127.0.0.1:5316").expect("bind 127.0.0.1:5316");
    let ticks: usize = std::env::var("TICKS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(250);
    let manager = HubManager::new(Arc::new(SyntheticMusic), HubConfig::default());
    for n in [1, 100, 1_000, 2_000] {
        run(&manager, "listeners", 1, n, ticks);
    }
    for s in [1, 10, 50] {
        run(&manager, "stations", s, 1, ticks);
    }
}
