//! A real Icecast (Debian's `icecast2`) for tests, and the real source clients that feed it: `ffmpeg -re`
//! encoding a sine tone ([`Feeder`]) and `liquidsoap` playing "songs" whose titles change ([`Liquidsoap`]).
//!
//! Everything listens on 127.0.0.1 on an ephemeral port, writes into its own tempdir, and is killed when its
//! handle drops. Readiness is awaited on Icecast's `/status-json.xsl`, never slept for.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::tools::{free_port, http_get, poll, url_encode};

pub const SOURCE_PASSWORD: &str = "source-test-pw";
pub const ADMIN_PASSWORD: &str = "admin-test-pw";
/// How long Icecast gets to answer HTTP after it is spawned.
const STARTUP: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_secs(2);

/// The tone every feeder sends (the e2e tests listen for it).
pub const TONE_HZ: u32 = 440;

/// A running `icecast2 -c <tempdir>/icecast.xml`.
pub struct Icecast {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Icecast {
    /// Starts Icecast on a free 127.0.0.1 port and returns once it answers HTTP. A port taken between our
    /// probe and Icecast's bind makes Icecast exit: we retry on a new port.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // Icecast drops root for `nobody` (see `config`): the dirs it reads and logs into must allow that.
        set_mode(dir.path(), 0o755);
        let logs = dir.path().join("log");
        std::fs::create_dir_all(&logs).expect("mkdir log");
        set_mode(&logs, 0o777);
        let mut icecast = Self {
            dir,
            port: 0,
            child: None,
        };
        let mut errors = Vec::new();
        for _ in 0..5 {
            icecast.port = free_port();
            match icecast.spawn() {
                Ok(()) => return icecast,
                Err(error) => errors.push(error),
            }
        }
        panic!("icecast2 never came up on a free port: {errors:#?}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/mount` (`mount` without its leading slash).
    pub fn url(&self, mount: &str) -> String {
        format!("http://127.0.0.1:{}/{mount}", self.port)
    }

    /// The `icecast://` URL a source client pushes `mount` to.
    pub fn source_url(&self, mount: &str) -> String {
        format!(
            "icecast://source:{SOURCE_PASSWORD}@127.0.0.1:{}/{mount}",
            self.port
        )
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills Icecast (an outage: listeners and sources are cut at once) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts Icecast again on the same port (listeners reconnect to the same URL). The port may sit in
    /// `TIME_WAIT` or be briefly taken: retried until [`STARTUP`] runs out.
    pub fn start_again(&mut self) {
        self.stop();
        let deadline = std::time::Instant::now() + STARTUP;
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(error) => assert!(
                    std::time::Instant::now() < deadline,
                    "icecast2 did not come back on port {}: {error}",
                    self.port
                ),
            }
        }
    }

    /// Spawns Icecast on `self.port` and waits until it answers, or says why not (it exited: log tail).
    fn spawn(&mut self) -> Result<(), String> {
        let config = self.dir.path().join("icecast.xml");
        std::fs::write(&config, self.config()).expect("write icecast.xml");
        let out = std::fs::File::create(self.dir.path().join("log/stdout.log")).expect("log file");
        let mut child = Command::new("icecast2")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup log"))
            .stderr(out)
            .spawn()
            .map_err(|e| format!("spawning icecast2: {e}"))?;
        let deadline = std::time::Instant::now() + STARTUP;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "icecast2 exited with {status} on port {}:\n{}",
                    self.port,
                    self.log_tail()
                ));
            }
            if let Ok(response) = http_get(self.port, "/status-json.xsl", None, POLL)
                && response.status == 200
                && response.text().contains("icestats")
            {
                self.child = Some(child);
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "icecast2 did not answer on port {} within {STARTUP:?}:\n{}",
                    self.port,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last lines of Icecast's own output and error log, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut text = String::new();
        for name in ["stdout.log", "error.log"] {
            let log =
                std::fs::read_to_string(self.dir.path().join("log").join(name)).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let from = lines.len().saturating_sub(15);
            let _ = writeln!(text, "--- {name}:\n{}", lines[from..].join("\n"));
        }
        text
    }

    /// Our own icecast.xml: 127.0.0.1 only, own log dir, no pidfile, no chroot, the stock burst (64 kB, what
    /// real stations send a new listener at once). Debian's icecast2 2.4 refuses to start as root ("You should
    /// not run icecast2 as root"), so as root it switches to `nobody:nogroup` (`<changeowner>`).
    fn config(&self) -> String {
        let logs = self.dir.path().join("log");
        let changeowner = if running_as_root() {
            "<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
        } else {
            ""
        };
        format!(
            "<icecast>\n\
             <location>test</location><admin>test@localhost</admin>\n\
             <limits><clients>100</clients><sources>20</sources><source-timeout>10</source-timeout></limits>\n\
             <authentication><source-password>{SOURCE_PASSWORD}</source-password>\
             <admin-user>admin</admin-user><admin-password>{ADMIN_PASSWORD}</admin-password></authentication>\n\
             <hostname>127.0.0.1</hostname>\n\
             <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>\n\
             <fileserve>1</fileserve>\n\
             <paths><logdir>{logs}</logdir><webroot>/usr/share/icecast2/web</webroot>\
             <adminroot>/usr/share/icecast2/admin</adminroot></paths>\n\
             <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>\n\
             <security><chroot>0</chroot>{changeowner}</security>\n\
             </icecast>\n",
            port = self.port,
            logs = logs.display(),
        )
    }

    /// The mounts Icecast lists as live right now, with their status entries (`/status-json.xsl`; one
    /// source is an object, several an array).
    pub fn sources(&self) -> Vec<serde_json::Value> {
        let Ok(response) = http_get(self.port, "/status-json.xsl", None, POLL) else {
            return Vec::new();
        };
        // Icecast 2.4 writes a bare `-` for some numbers it does not know; the page is then not JSON.
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&response.body) else {
            return Vec::new();
        };
        match &json["icestats"]["source"] {
            serde_json::Value::Array(all) => all.clone(),
            serde_json::Value::Object(_) => vec![json["icestats"]["source"].clone()],
            _ => Vec::new(),
        }
    }

    /// The status entry of `mount` if it is live.
    pub fn source(&self, mount: &str) -> Option<serde_json::Value> {
        let suffix = format!("/{mount}");
        self.sources().into_iter().find(|source| {
            source["listenurl"]
                .as_str()
                .is_some_and(|url| url.ends_with(&suffix))
        })
    }

    /// Waits until `mount` has a source (the feeder connected and sent its headers); on a timeout the
    /// failure shows `feeder_log` (what the source client said) and Icecast's logs.
    pub fn wait_mount(
        &self,
        mount: &str,
        timeout: Duration,
        feeder_log: impl Fn() -> String,
    ) -> serde_json::Value {
        poll(timeout, || self.source(mount)).unwrap_or_else(|| {
            panic!(
                "/{mount} did not go live within {timeout:?}; the source client said:\n{}\n{}",
                feeder_log(),
                self.log_tail()
            )
        })
    }

    /// Waits until Icecast reports a title on `mount` that satisfies `pred`; returns it.
    pub fn wait_title(
        &self,
        mount: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
        feeder_log: impl Fn() -> String,
    ) -> String {
        poll(timeout, || {
            let source = self.source(mount)?;
            let title = source["title"].as_str()?.to_owned();
            pred(&title).then_some(title)
        })
        .unwrap_or_else(|| {
            panic!(
                "/{mount} showed no matching title within {timeout:?} ({:?}); the source client said:\n{}",
                self.source(mount),
                feeder_log()
            )
        })
    }

    /// Sets the ICY title of an MP3/AAC mount the way source clients such as BUTT do
    /// (`/admin/metadata?mode=updinfo`), and waits until the status page shows it.
    pub fn set_title(&self, mount: &str, title: &str) {
        let path = format!(
            "/admin/metadata?mount=/{mount}&mode=updinfo&song={}",
            url_encode(title)
        );
        let auth = format!("admin:{ADMIN_PASSWORD}");
        let response = http_get(self.port, &path, Some(&auth), POLL).expect("admin/metadata");
        assert_eq!(
            response.status,
            200,
            "admin/metadata on /{mount}: {}",
            response.text()
        );
        self.wait_title(mount, STARTUP, |t| t == title, String::new);
    }
}

impl Drop for Icecast {
    fn drop(&mut self) {
        self.stop();
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|uids| uids.split_whitespace().next())
            == Some("0")
    })
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// How a feeder encodes the tone, and what a listener should measure on the mount.
#[derive(Clone, Copy, Debug)]
pub struct Encoding {
    /// Mount name without the slash; also names the station.
    pub mount: &'static str,
    pub content_type: &'static str,
    /// ffmpeg's output options (codec, rate, channels, bitrate, muxer).
    pub ffmpeg: &'static [&'static str],
    /// What `stations check` should report.
    pub codec: &'static str,
    pub sample_rate: u32,
    pub channels: u16,
    /// kbit/s the encoder produces (CBR or hard-managed); `None` for lossless, measured with
    /// [`measure_bitrate`] instead.
    pub kbps: Option<u32>,
    /// The title the stream carries: in the Ogg comment header (`-metadata title=`), or set as the ICY title
    /// through Icecast's admin interface for MP3/AAC.
    pub title: &'static str,
}

/// The streams a real Icecast station sends, as ffmpeg encodes them.
pub const ENCODINGS: &[Encoding] = &[
    Encoding {
        mount: "live.mp3",
        content_type: "audio/mpeg",
        ffmpeg: &[
            "-ac",
            "2",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            "-f",
            "mp3",
        ],
        codec: "mp3",
        sample_rate: 44_100,
        channels: 2,
        kbps: Some(128),
        title: "Tone Artist - MP3 Song",
    },
    Encoding {
        mount: "live.aac",
        content_type: "audio/aac",
        ffmpeg: &["-ac", "2", "-c:a", "aac", "-b:a", "128k", "-f", "adts"],
        codec: "aac",
        sample_rate: 44_100,
        channels: 2,
        kbps: Some(128),
        title: "Tone Artist - AAC Song",
    },
    Encoding {
        mount: "live.ogg",
        content_type: "application/ogg",
        // min = max = target: libvorbis's hard-managed mode, so a sine tone does not fall to 24 kbit/s.
        ffmpeg: &[
            "-ac",
            "2",
            "-c:a",
            "libvorbis",
            "-b:a",
            "128k",
            "-minrate",
            "128k",
            "-maxrate",
            "128k",
            "-f",
            "ogg",
        ],
        codec: "vorbis",
        sample_rate: 44_100,
        channels: 2,
        kbps: Some(128),
        title: "Vorbis Song",
    },
    Encoding {
        mount: "live.opus",
        content_type: "audio/ogg",
        ffmpeg: &[
            "-ac", "2", "-c:a", "libopus", "-b:a", "96k", "-vbr", "off", "-f", "ogg",
        ],
        codec: "opus",
        sample_rate: 48_000,
        channels: 2,
        kbps: Some(96),
        title: "Opus Song",
    },
    Encoding {
        mount: "live.flac",
        content_type: "application/ogg",
        ffmpeg: &["-ac", "2", "-c:a", "flac", "-f", "ogg"],
        codec: "flac",
        sample_rate: 44_100,
        channels: 2,
        kbps: None,
        title: "FLAC Song",
    },
    Encoding {
        mount: "mono.mp3",
        content_type: "audio/mpeg",
        ffmpeg: &[
            "-ar",
            "22050",
            "-ac",
            "1",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "48k",
            "-f",
            "mp3",
        ],
        codec: "mp3",
        sample_rate: 22_050,
        channels: 1,
        kbps: Some(48),
        title: "Tone Artist - Mono Song",
    },
];

impl Encoding {
    /// Whether the title travels inside the stream (Ogg comments) rather than as ICY metadata.
    pub fn ogg(&self) -> bool {
        self.ffmpeg.ends_with(&["-f", "ogg"])
    }
}

/// The input options of the tone every ffmpeg feeder sends.
fn tone_input() -> Vec<String> {
    [
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency={TONE_HZ}:sample_rate=44100"),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// kbit/s ffmpeg produces for `encoding` over 10 s of the tone (file size, container included): the
/// reference for variable-rate (lossless) encodings.
pub fn measure_bitrate(encoding: &Encoding, scratch: &Path) -> u32 {
    let out = scratch.join(format!("measure-{}", encoding.mount));
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(tone_input())
        .args(["-t", "10"])
        .args(encoding.ffmpeg)
        .arg(&out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg could not encode {encoding:?}");
    let bytes = std::fs::metadata(&out).expect("encoded file").len();
    (bytes * 8 / 10 / 1000) as u32
}

/// A running `ffmpeg -re` pushing the tone to an Icecast mount; killed on drop.
pub struct Feeder {
    child: Child,
    log: PathBuf,
}

impl Feeder {
    /// Starts ffmpeg pushing `encoding` to `icecast`'s mount (`-ice_name` and `-metadata title=` set; the
    /// title lands in Ogg comment headers; for MP3/AAC call [`Icecast::set_title`]).
    pub fn start(icecast: &Icecast, encoding: &Encoding) -> Self {
        let log = icecast
            .dir()
            .join(format!("ffmpeg-{}.log", encoding.mount.replace('/', "_")));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "warning", "-re"])
            .args(tone_input())
            .args(encoding.ffmpeg)
            .args(["-metadata", &format!("title={}", encoding.title)])
            .args(["-content_type", encoding.content_type])
            .args(["-ice_name", &format!("Test {}", encoding.mount)])
            .arg(icecast.source_url(encoding.mount))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("spawn ffmpeg");
        Self { child, log }
    }

    /// ffmpeg's own messages so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a liquidsoap output encodes.
#[derive(Clone, Copy, Debug)]
pub enum LiqFormat {
    /// `%mp3.cbr` 128 kbit/s stereo: titles go out as ICY metadata (through Icecast's admin interface).
    Mp3,
    /// `%vorbis.cbr` 128 kbit/s stereo: each title starts a new chained Ogg stream with a new comment header.
    Vorbis,
}

/// A running `liquidsoap` playing the tone as "songs" whose title changes every `song_seconds`
/// (`Song 1`, `Song 2`, ... by `Liquidsoap Tones`); killed on drop.
pub struct Liquidsoap {
    child: Child,
    log: PathBuf,
}

impl Liquidsoap {
    /// The script for Debian's liquidsoap 2.1 (`settings.x.set`, `insert_metadata` with a method,
    /// `thread.run(every=)`), checked with `liquidsoap --check` before it runs.
    pub fn script(icecast: &Icecast, outputs: &[(&str, LiqFormat)], song_seconds: f64) -> String {
        let mut script = String::from(
            "settings.init.allow_root.set(true)\n\
             settings.log.stdout.set(true)\n\
             settings.log.file.set(false)\n\
             settings.log.level.set(3)\n\
             song = ref(0)\n\
             tone = insert_metadata(sine(440.))\n\
             def next_song() =\n  \
               song := !song + 1\n  \
               tone.insert_metadata([(\"title\", \"Song #{!song}\"), (\"artist\", \"Liquidsoap Tones\")])\n\
             end\n",
        );
        let _ = writeln!(script, "thread.run(every={song_seconds:.3}, next_song)");
        script.push_str("radio = mksafe(tone)\n");
        for (mount, format) in outputs {
            let encoder = match format {
                LiqFormat::Mp3 => "%mp3.cbr(bitrate=128, samplerate=44100, stereo=true)",
                LiqFormat::Vorbis => "%vorbis.cbr(bitrate=128, samplerate=44100, channels=2)",
            };
            let _ = writeln!(
                script,
                "output.icecast({encoder}, host=\"127.0.0.1\", port={port}, password=\"{SOURCE_PASSWORD}\", \
                 mount=\"/{mount}\", name=\"Liquidsoap {mount}\", radio)",
                port = icecast.port(),
            );
        }
        script
    }

    pub fn start(icecast: &Icecast, outputs: &[(&str, LiqFormat)], song_seconds: f64) -> Self {
        let path = icecast.dir().join("radio.liq");
        std::fs::write(&path, Self::script(icecast, outputs, song_seconds)).expect("write script");
        let check = Command::new("liquidsoap")
            .arg("--check")
            .arg(&path)
            .output()
            .expect("run liquidsoap --check");
        assert!(
            check.status.success(),
            "liquidsoap --check rejected our script:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let log = icecast.dir().join("liquidsoap.log");
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new("liquidsoap")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup log"))
            .stderr(out)
            .spawn()
            .expect("spawn liquidsoap");
        Self { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Liquidsoap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
