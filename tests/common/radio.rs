//! A local HTTP radio for end-to-end tests: serves a generated tone file in a loop at a steady bitrate, counts
//! connections, and can cut or refuse them to simulate outages. Never a public address.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/audio/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

/// Connections a local radio has seen, and how many are open now.
#[derive(Default)]
pub struct Conns {
    pub total: AtomicUsize,
    pub open: AtomicUsize,
    /// Bumped by [`Conns::cut_all`]; a connection ends when it changes.
    generation: AtomicUsize,
    /// While set, new connections are closed at once (the station is down).
    pub refuse: std::sync::atomic::AtomicBool,
}

impl Conns {
    /// Drops every open connection (an upstream outage); new connections are served normally.
    pub fn cut_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// A local radio: serves `body` in a loop at 8 kB/s (64 kbit/s) after a 0.5 s burst.
pub async fn radio(body: Vec<u8>, content_type: &'static str) -> (String, Arc<Conns>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let body = Arc::new(body);
    let connections = Arc::new(Conns::default());
    let conns = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            conns.total.fetch_add(1, Ordering::SeqCst);
            conns.open.fetch_add(1, Ordering::SeqCst);
            let body = Arc::clone(&body);
            let conns = Arc::clone(&conns);
            tokio::spawn(async move {
                serve(&mut sock, &body, content_type, &conns).await;
                conns.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (format!("http://{addr}/live"), connections)
}

async fn serve(sock: &mut tokio::net::TcpStream, body: &[u8], content_type: &str, conns: &Conns) {
    let generation = conns.generation.load(Ordering::SeqCst);
    if conns.refuse.load(Ordering::SeqCst) {
        return;
    }
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(k) => head.extend_from_slice(&buf[..k]),
        }
    }
    let resp = format!("HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n\r\n");
    if sock.write_all(resp.as_bytes()).await.is_err() {
        return;
    }
    let start = tokio::time::Instant::now();
    let (mut sent, mut pos) = (0usize, 0usize);
    loop {
        let mut out = Vec::with_capacity(1_024);
        for _ in 0..1_024 {
            out.push(body[pos]);
            pos = (pos + 1) % body.len();
        }
        if sock.write_all(&out).await.is_err() {
            return;
        }
        sent += 1_024;
        if conns.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        let due = Duration::from_secs_f64(sent as f64 / 8_000.0)
            .saturating_sub(Duration::from_millis(500));
        tokio::time::sleep_until(start + due).await;
    }
}
