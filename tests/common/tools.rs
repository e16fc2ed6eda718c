//! What the real-server tests need from the machine: the system binaries they run (and the skip-or-fail rule
//! when one is missing), a free 127.0.0.1 port, a bounded HTTP GET for status pages, and a `wait_until`
//! that polls with a deadline instead of sleeping.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Whether we run under CI: `CI` set to anything but empty, `0` or `false`.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Where `name` is on `PATH`, if anywhere.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// True when every tool is installed. When one is missing: under CI the test fails (the packages are part of
/// the README's setup, so a missing one is a broken CI image), elsewhere it prints a loud SKIPPED line and
/// returns false so the test returns early.
pub fn tools_present(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| which(tool).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !under_ci(),
        "{test}: missing {missing:?} under CI; install the Debian packages `icecast2 ffmpeg liquidsoap` \
         (`.ci/run` does)"
    );
    // Straight to the process's stderr, not `eprintln!`: libtest captures the macros' output of a passing
    // test, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "\n======== SKIPPED {test}: {missing:?} not installed (apt-get install icecast2 ffmpeg liquidsoap); \
         under CI=true this is a failure ========\n"
    );
    false
}

/// A port that was free on 127.0.0.1 a moment ago (bound to `:0`, then released). Another process may take
/// it before our server binds: callers retry with a new port when their server fails to bind.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A parsed HTTP response: status code and body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path` on 127.0.0.1:`port` with HTTP/1.0 (the server closes after the body), bounded by `timeout`.
/// `auth` is `user:password` for Basic authentication.
pub fn http_get(
    port: u16,
    path: &str,
    auth: Option<&str>,
    timeout: Duration,
) -> std::io::Result<Response> {
    let mut sock = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    if let Some(auth) = auth {
        let _ = write!(
            request,
            "Authorization: Basic {}\r\n",
            base64(auth.as_bytes())
        );
    }
    request.push_str("\r\n");
    sock.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    Ok(Response {
        status,
        body: raw[split + 4..].to_vec(),
    })
}

/// Standard base64 with padding (for a Basic authorization header).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Polls `probe` every 25 ms until it returns `Some`, or `None` after `timeout`. For servers that have no
/// event to wait on but a status page.
pub fn poll<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// [`poll`], failing with `what` after `timeout`.
pub fn wait_until<T>(what: &str, timeout: Duration, probe: impl FnMut() -> Option<T>) -> T {
    poll(timeout, probe).unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// URL-encodes a query value (RFC 3986 unreserved characters kept).
pub fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}
