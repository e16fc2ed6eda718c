//! The stream decoder on arbitrary upstream bytes: the framing sniff, the one demuxer it picks, and
//! symphonia's decoders behind it. Whatever arrives ends in audio, an error or the end, never a panic.
//! The input is split in two chunks at its first byte, so frames straddling a read are exercised too.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use alastor::audio::decode::{FormatHint, StreamDecoder};
use alastor::audio::upstream::connect::ByteStream;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

/// libFuzzer's hook aborts on every panic. symphonia's own panics on malformed data are contained by the
/// decoder (`catch_unwind`, reported as `DecoderPanicked`, pinned by a regression test); they unwind to
/// that. A panic anywhere else (our code) still aborts, and is a finding.
fn contain_decoder_library_panics() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_symphonia = info
                .location()
                .is_some_and(|at| at.file().contains("/symphonia-"));
            if !in_symphonia {
                abort(info);
            }
        }));
    });
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    contain_decoder_library_panics();
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (a, b) = rest.split_at(usize::from(split).min(rest.len()));
    let chunks: Vec<std::io::Result<Bytes>> =
        vec![Ok(Bytes::copy_from_slice(a)), Ok(Bytes::copy_from_slice(b))];
    let mime = ["audio/mpeg", "audio/aac", "application/ogg", "audio/flac", ""]
        [usize::from(split) % 5];
    runtime().block_on(async move {
        let audio: ByteStream = Box::pin(futures_util::stream::iter(chunks));
        let hint = FormatHint {
            mime: (!mime.is_empty()).then(|| mime.to_owned()),
            extension: None,
        };
        let mut decoder = StreamDecoder::spawn(audio, &hint);
        // A bounded input decodes in bounded time; the timeout only turns a hang into a finding.
        let drained = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(event) = decoder.next().await {
                if event.is_err() {
                    break;
                }
            }
        })
        .await;
        assert!(drained.is_ok(), "the decoder hung on a {}-byte input", data.len());
    });
});
