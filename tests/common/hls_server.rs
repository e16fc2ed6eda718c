//! A live HLS station for tests: `ffmpeg -re` packaging the tone as HLS (1 s segments, a sliding window of 5,
//! old segments deleted) into a tempdir, and a tiny HTTP file server on 127.0.0.1:0 serving that dir with the
//! content types real packagers' CDNs send. Threads rather than tokio so sync tests (which run the CLI
//! binary) can use it without a runtime. Both are stopped on drop.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::icecast::TONE_HZ;
use super::tools::wait_until;

/// How the segments are packaged.
#[derive(Clone, Copy, Debug)]
pub enum Segments {
    /// MPEG-TS segments (`.ts`), AAC inside.
    MpegTs,
    /// Fragmented MP4 (`init.mp4` + `.m4s`), AAC inside.
    Fmp4,
}

/// What the packager encodes (`stations check` should measure this).
pub const HLS_KBPS: u32 = 128;
pub const HLS_SAMPLE_RATE: u32 = 44_100;
pub const HLS_CHANNELS: u16 = 2;

/// ffmpeg packaging a live HLS stream into a tempdir, plus the file server in front of it.
pub struct LiveHls {
    dir: tempfile::TempDir,
    packager: Child,
    server: FileServer,
}

impl LiveHls {
    /// Starts the packager and the server; returns once the playlist lists at least two segments.
    pub fn start(segments: Segments) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = std::fs::File::create(dir.path().join("ffmpeg.log")).expect("log");
        let mut packager = Command::new("ffmpeg");
        packager
            .current_dir(dir.path())
            .args(["-nostdin", "-hide_banner", "-loglevel", "warning", "-re"])
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency={TONE_HZ}:sample_rate=44100"))
            .args(["-ac", "2", "-c:a", "aac", "-b:a", "128k"])
            .args(["-f", "hls", "-hls_time", "1", "-hls_list_size", "5"])
            .args(["-hls_flags", "delete_segments"]);
        match segments {
            Segments::MpegTs => {
                packager.args(["-hls_segment_filename", "seg%05d.ts"]);
            }
            Segments::Fmp4 => {
                packager.args([
                    "-hls_segment_type",
                    "fmp4",
                    "-hls_fmp4_init_filename",
                    "init.mp4",
                    "-hls_segment_filename",
                    "seg%05d.m4s",
                ]);
            }
        }
        let packager = packager
            .arg("live.m3u8")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn ffmpeg");
        let server = FileServer::start(dir.path().to_path_buf());
        let live = Self {
            dir,
            packager,
            server,
        };
        let playlist = live.dir.path().join("live.m3u8");
        wait_until(
            "the packager's playlist to list two segments",
            Duration::from_secs(20),
            || {
                let text = std::fs::read_to_string(&playlist).ok()?;
                (text.matches("#EXTINF").count() >= 2).then_some(())
            },
        );
        live
    }

    /// `http://127.0.0.1:PORT/live.m3u8`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/live.m3u8", self.server.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for LiveHls {
    fn drop(&mut self) {
        let _ = self.packager.kill();
        let _ = self.packager.wait();
    }
}

/// Serves the files of one directory (flat names only) over HTTP/1.1 with `Connection: close`.
pub struct FileServer {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl FileServer {
    pub fn start(root: PathBuf) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(sock) = sock else { continue };
                let root = root.clone();
                std::thread::spawn(move || serve(sock, &root));
            }
        });
        Self { port, stop }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The content type a CDN sends for an HLS file.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("ts") => "video/mp2t",
        Some("m4s") => "audio/iso.segment",
        Some("mp4") => "audio/mp4",
        Some("aac") => "audio/aac",
        _ => "application/octet-stream",
    }
}

fn serve(mut sock: TcpStream, root: &Path) {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(k) => head.extend_from_slice(&buf[..k]),
        }
        if head.len() > 16 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let name = target
        .split('?')
        .next()
        .unwrap_or("")
        .trim_start_matches('/');
    let file = (!name.is_empty() && !name.contains('/') && !name.contains(".."))
        .then(|| std::fs::read(root.join(name)).ok())
        .flatten();
    let response = match file {
        Some(body) => {
            let mut response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\n\
                 Connection: close\r\n\r\n",
                content_type(name),
                body.len()
            )
            .into_bytes();
            if method != "HEAD" {
                response.extend_from_slice(&body);
            }
            response
        }
        None => {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
    };
    let _ = sock.write_all(&response);
}
