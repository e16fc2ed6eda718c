//! The voice UDP endpoint: IP discovery, keepalives, and RTP in → decrypted Opus → decoded PCM per guild.
//!
//! Packet layout for the `*_rtpsize` AEAD modes (what songbird 0.6 sends): RTP header (12 bytes + 4·CC, plus the
//! 4-byte extension preamble when X=1, all in the clear and used as AAD) ‖ ciphertext ‖ 16-byte tag ‖ 4-byte
//! big-endian nonce counter. The nonce is that counter followed by zeros (12 bytes for AES-256-GCM, 24 for
//! XChaCha20-Poly1305). With X=1 the decrypted payload starts with the extension body, which is skipped.
//!
//! In a DAVE call the Opus frame inside is end-to-end encrypted once more; the call's simulated listener
//! ([`crate::dave`]) removes that layer before the Opus decoder sees the frame, as a real listener's client does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use aes_gcm::aead::AeadInPlace as _;
use aes_gcm::{Aes256Gcm, KeyInit as _};
use chacha20poly1305::XChaCha20Poly1305;
use tokio::net::UdpSocket;

use crate::Shared;
use crate::dave::Opened;
use crate::state::{AudioLog, Frame, MAX_FRAMES, State};

/// RTP payload type Discord uses for Opus.
pub const OPUS_PAYLOAD_TYPE: u8 = 120;
/// IP discovery packets are 74 bytes: type, length (70), SSRC, 64-byte address, port.
pub const DISCOVERY_LEN: usize = 74;
const TAG_LEN: usize = 16;
const NONCE_SUFFIX_LEN: usize = 4;

/// What a datagram from the bot is.
#[derive(Debug, PartialEq, Eq)]
pub enum Datagram {
    /// IP discovery request (type 1).
    Discovery {
        ssrc: u32,
    },
    /// songbird's keepalive: the SSRC alone, big-endian.
    Keepalive {
        ssrc: u32,
    },
    Rtp(RtpHeader),
    Other,
}

/// The parts of an RTP header the receiver needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload_type: u8,
    /// Bytes of the header authenticated as AAD: fixed header, CSRCs and the extension preamble.
    pub aad_len: usize,
    /// Bytes of extension body at the start of the decrypted payload.
    pub extension_len: usize,
}

pub fn classify(pkt: &[u8]) -> Datagram {
    let u32_at = |i: usize| u32::from_be_bytes([pkt[i], pkt[i + 1], pkt[i + 2], pkt[i + 3]]);
    if pkt.len() == DISCOVERY_LEN && pkt[0..2] == [0, 1] && pkt[2..4] == [0, 70] {
        return Datagram::Discovery { ssrc: u32_at(4) };
    }
    if pkt.len() == 4 {
        return Datagram::Keepalive { ssrc: u32_at(0) };
    }
    if pkt.len() < 12 || pkt[0] >> 6 != 2 {
        return Datagram::Other;
    }
    let cc = usize::from(pkt[0] & 0x0F);
    let mut aad_len = 12 + 4 * cc;
    let mut extension_len = 0;
    if pkt[0] & 0x10 != 0 {
        if pkt.len() < aad_len + 4 {
            return Datagram::Other;
        }
        extension_len = 4 * usize::from(u16::from_be_bytes([pkt[aad_len + 2], pkt[aad_len + 3]]));
        aad_len += 4;
    }
    if pkt.len() < aad_len + TAG_LEN + NONCE_SUFFIX_LEN {
        return Datagram::Other;
    }
    Datagram::Rtp(RtpHeader {
        seq: u16::from_be_bytes([pkt[2], pkt[3]]),
        timestamp: u32_at(4),
        ssrc: u32_at(8),
        payload_type: pkt[1] & 0x7F,
        aad_len,
        extension_len,
    })
}

/// The IP discovery answer: type 2, length 70, SSRC, the address as NUL-terminated ASCII, the port.
pub fn discovery_response(ssrc: u32, from: SocketAddr) -> [u8; DISCOVERY_LEN] {
    let mut out = [0u8; DISCOVERY_LEN];
    out[0..2].copy_from_slice(&2u16.to_be_bytes());
    out[2..4].copy_from_slice(&70u16.to_be_bytes());
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    let ip = from.ip().to_string();
    let n = ip.len().min(63);
    out[8..8 + n].copy_from_slice(&ip.as_bytes()[..n]);
    out[72..74].copy_from_slice(&from.port().to_be_bytes());
    out
}

/// Why a packet could not be opened.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("unknown encryption mode {0}")]
    UnknownMode(String),
    #[error("authentication tag mismatch (wrong key, nonce or AAD)")]
    Tag,
    #[error("extension longer than the payload")]
    Extension,
}

/// Decrypts one RTP packet and returns the Opus frame.
pub fn decrypt(
    pkt: &[u8],
    header: &RtpHeader,
    key: &[u8; 32],
    mode: &str,
) -> Result<Vec<u8>, DecryptError> {
    let (aad, rest) = pkt.split_at(header.aad_len);
    let (sealed, nonce_suffix) = rest.split_at(rest.len() - NONCE_SUFFIX_LEN);
    let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
    let mut buf = ciphertext.to_vec();
    match mode {
        "aead_aes256_gcm_rtpsize" => {
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(nonce_suffix);
            Aes256Gcm::new(key.into())
                .decrypt_in_place_detached(&nonce.into(), aad, &mut buf, tag.into())
                .map_err(|_| DecryptError::Tag)?;
        }
        "aead_xchacha20_poly1305_rtpsize" => {
            let mut nonce = [0u8; 24];
            nonce[..4].copy_from_slice(nonce_suffix);
            XChaCha20Poly1305::new(key.into())
                .decrypt_in_place_detached(&nonce.into(), aad, &mut buf, tag.into())
                .map_err(|_| DecryptError::Tag)?;
        }
        other => return Err(DecryptError::UnknownMode(other.to_owned())),
    }
    if header.extension_len > buf.len() {
        return Err(DecryptError::Extension);
    }
    buf.drain(..header.extension_len);
    Ok(buf)
}

/// Per-SSRC Opus decoders: 48 kHz stereo, what songbird encodes by default.
struct Decoders {
    by_ssrc: HashMap<u32, opus2::Decoder>,
    pcm: Vec<f32>,
}

impl Decoders {
    /// Decodes one frame to mono (L+R)/2. `None` when libopus rejects the packet.
    fn decode(&mut self, ssrc: u32, opus: &[u8]) -> Option<Vec<f32>> {
        let decoder = match self.by_ssrc.entry(ssrc) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(opus2::Decoder::new(48_000, opus2::Channels::Stereo).ok()?)
            }
        };
        let n = decoder.decode_float(opus, &mut self.pcm, false).ok()?;
        Some(
            self.pcm[..2 * n]
                .chunks_exact(2)
                .map(|lr| f32::midpoint(lr[0], lr[1]))
                .collect(),
        )
    }
}

pub(crate) async fn serve(socket: UdpSocket, shared: Arc<Shared>) {
    // 120 ms at 48 kHz stereo: the longest Opus packet.
    let mut decoders = Decoders {
        by_ssrc: HashMap::new(),
        pcm: vec![0.0; 5760 * 2],
    };
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let pkt = &buf[..n];
        match classify(pkt) {
            Datagram::Discovery { ssrc } => {
                // Recorded before answering: the client sends SELECT_PROTOCOL the moment it has the answer,
                // and on a reconnect the check must not see the previous connection's address.
                shared.hub.update(|st| match st.ssrc_guild(ssrc) {
                    Some(g) => st.audio.entry(g).or_default().discovery_from = Some(from),
                    None => st.violation(format!(
                        "IP discovery for SSRC {ssrc}, which no voice READY assigned"
                    )),
                });
                let _ = socket.send_to(&discovery_response(ssrc, from), from).await;
            }
            Datagram::Keepalive { ssrc } => shared.hub.update(|st| {
                if let Some(g) = st.ssrc_guild(ssrc) {
                    st.audio.entry(g).or_default().keepalives += 1;
                }
            }),
            Datagram::Rtp(header) => {
                let session = shared.hub.read(|st| {
                    let g = st.ssrc_guild(header.ssrc)?;
                    let c = &st.voice[&g];
                    Some((g, c.key, c.mode.clone()))
                });
                let Some((guild, Some(key), Some(mode))) = session else {
                    // A packet from a previous connection (or a leftover bot) is counted, not decoded.
                    shared.hub.update(|st| st.unknown_ssrc_packets += 1);
                    continue;
                };
                let opened = decrypt(pkt, &header, &key, &mode)
                    .map_err(|e| e.to_string())
                    .map(|opus| shared.hub.update_quiet(|st| open_e2ee(st, guild, opus)));
                let frame = match &opened {
                    Ok(Opened::DaveFailed(_)) => Err(DAVE_FAILED.to_owned()),
                    Ok(
                        Opened::Dave(opus)
                        | Opened::Clear(opus)
                        | Opened::Silence(opus)
                        | Opened::ClearAfterTransition(opus),
                    ) => decoders
                        .decode(header.ssrc, opus)
                        .ok_or_else(|| "opus".to_owned()),
                    Err(e) => Err(e.clone()),
                };
                shared.hub.update(|st| {
                    if let Ok(o) = &opened {
                        record_e2ee(st, guild, header, o);
                    }
                    let log = st.audio.entry(guild).or_default();
                    record(log, header, frame);
                    if header.payload_type != OPUS_PAYLOAD_TYPE {
                        st.violation(format!(
                            "RTP payload type {}, Discord uses {OPUS_PAYLOAD_TYPE}",
                            header.payload_type
                        ));
                    }
                });
            }
            Datagram::Other => shared
                .hub
                .update(|st| st.violation(format!("unrecognised {n}-byte voice datagram"))),
        }
    }
}

/// `record`'s error for a frame the DAVE layer could not open (counted apart from transport failures).
const DAVE_FAILED: &str = "dave";

/// Removes the DAVE layer when guild `guild`'s call has one.
fn open_e2ee(st: &mut State, guild: u64, opus: Vec<u8>) -> Opened {
    match st.voice.get_mut(&guild).and_then(|c| c.dave.as_mut()) {
        Some(call) => call.open(opus),
        None => Opened::Clear(opus),
    }
}

/// Counts what the DAVE layer made of a frame; a clear frame after the transition is a violation.
fn record_e2ee(st: &mut State, guild: u64, header: RtpHeader, opened: &Opened) {
    let log = st.audio.entry(guild).or_default();
    match opened {
        Opened::Dave(_) => log.dave_frames += 1,
        // Failures are counted by `record` (the frame is not decoded); silence is clear by design.
        Opened::DaveFailed(_) | Opened::Silence(_) => {}
        Opened::Clear(_) => log.clear_frames += 1,
        Opened::ClearAfterTransition(_) => {
            log.clear_frames += 1;
            log.clear_frames_after_transition += 1;
            let report = st
                .voice
                .get_mut(&guild)
                .and_then(|c| c.dave.as_mut())
                .is_some_and(crate::dave::DaveCall::report_clear_frame);
            if report {
                st.violation(format!(
                    "guild {guild}: Opus frame (RTP seq {}) arrived without DAVE encryption after the E2EE transition \
                     executed",
                    header.seq
                ));
            }
        }
    }
    if let Opened::DaveFailed(e) = opened {
        tracing::debug!(target: "fake_discord", "guild {guild}: DAVE frame not decrypted: {e}");
    }
}

fn record(log: &mut AudioLog, header: RtpHeader, frame: Result<Vec<f32>, String>) {
    log.packets += 1;
    if let Some(last) = log.last_seq {
        let gap = header.seq.wrapping_sub(last);
        if gap > 1 && gap < 1000 {
            log.lost += u64::from(gap - 1);
        }
    }
    log.last_seq = Some(header.seq);
    match frame {
        Ok(samples) => {
            log.frames.push_back(Frame {
                at: Instant::now(),
                samples,
            });
            while log.frames.len() > MAX_FRAMES {
                log.frames.pop_front();
            }
        }
        Err(e) if e == "opus" => log.opus_errors += 1,
        Err(e) if e == DAVE_FAILED => log.dave_decrypt_failures += 1,
        Err(_) => log.decrypt_failures += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seals a packet the way songbird does, for round trips.
    fn seal(header: &[u8], payload: &[u8], key: &[u8; 32], mode: &str, counter: u32) -> Vec<u8> {
        let mut buf = payload.to_vec();
        let tag: Vec<u8> = if mode == "aead_aes256_gcm_rtpsize" {
            {
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(&counter.to_be_bytes());
                Aes256Gcm::new(key.into())
                    .encrypt_in_place_detached(&nonce.into(), header, &mut buf)
                    .expect("seal")
                    .to_vec()
            }
        } else {
            {
                let mut nonce = [0u8; 24];
                nonce[..4].copy_from_slice(&counter.to_be_bytes());
                XChaCha20Poly1305::new(key.into())
                    .encrypt_in_place_detached(&nonce.into(), header, &mut buf)
                    .expect("seal")
                    .to_vec()
            }
        };
        [header, &buf, &tag, &counter.to_be_bytes()].concat()
    }

    fn rtp_header(seq: u16, ssrc: u32) -> Vec<u8> {
        let mut h = vec![0x80, OPUS_PAYLOAD_TYPE];
        h.extend_from_slice(&seq.to_be_bytes());
        h.extend_from_slice(&960u32.to_be_bytes());
        h.extend_from_slice(&ssrc.to_be_bytes());
        h
    }

    #[test]
    fn both_modes_round_trip() {
        let key = [7u8; 32];
        for mode in crate::voice_ws::MODES {
            let pkt = seal(
                &rtp_header(5, 42),
                &[0xF8, 0xFF, 0xFE],
                &key,
                mode,
                0xDEAD_BEEF,
            );
            let Datagram::Rtp(h) = classify(&pkt) else {
                panic!("rtp")
            };
            assert_eq!((h.seq, h.ssrc, h.aad_len), (5, 42, 12));
            assert_eq!(
                decrypt(&pkt, &h, &key, mode),
                Ok(vec![0xF8, 0xFF, 0xFE]),
                "{mode}"
            );
            assert_eq!(
                decrypt(&pkt, &h, &[8u8; 32], mode),
                Err(DecryptError::Tag),
                "{mode} wrong key"
            );
        }
    }

    #[test]
    fn extension_preamble_is_aad_and_its_body_is_stripped() {
        let mut header = rtp_header(1, 9);
        header[0] |= 0x10;
        header.extend_from_slice(&[0xBE, 0xDE, 0, 1]); // one 32-bit word of extension
        let payload = [[1u8, 2, 3, 4].as_slice(), &[0xAA, 0xBB]].concat();
        let key = [1u8; 32];
        let pkt = seal(&header, &payload, &key, "aead_aes256_gcm_rtpsize", 3);
        let Datagram::Rtp(h) = classify(&pkt) else {
            panic!("rtp")
        };
        assert_eq!((h.aad_len, h.extension_len), (16, 4));
        assert_eq!(
            decrypt(&pkt, &h, &key, "aead_aes256_gcm_rtpsize"),
            Ok(vec![0xAA, 0xBB])
        );
    }

    #[test]
    fn discovery_request_and_response_have_discords_layout() {
        let mut req = [0u8; DISCOVERY_LEN];
        req[0..2].copy_from_slice(&1u16.to_be_bytes());
        req[2..4].copy_from_slice(&70u16.to_be_bytes());
        req[4..8].copy_from_slice(&0x1092u32.to_be_bytes());
        assert_eq!(classify(&req), Datagram::Discovery { ssrc: 0x1092 });
        let resp = discovery_response(0x1092, "127.0.0.1:40000".parse().expect("addr"));
        assert_eq!(&resp[0..8], &[0, 2, 0, 70, 0, 0, 0x10, 0x92]);
        assert_eq!(&resp[8..18], b"127.0.0.1\0");
        assert_eq!(u16::from_be_bytes([resp[72], resp[73]]), 40000);
        assert_eq!(
            classify(&[0, 0, 0x10, 0x92]),
            Datagram::Keepalive { ssrc: 0x1092 }
        );
    }

    #[test]
    fn sequence_gaps_count_as_lost_and_failures_are_split() {
        let mut log = AudioLog::default();
        let h = |seq| RtpHeader {
            seq,
            timestamp: 0,
            ssrc: 1,
            payload_type: 120,
            aad_len: 12,
            extension_len: 0,
        };
        record(&mut log, h(65_534), Ok(vec![0.0; 960]));
        record(&mut log, h(1), Ok(vec![0.0; 960])); // wraps, skipping 65535 and 0
        record(&mut log, h(2), Err("tag".into()));
        record(&mut log, h(3), Err("opus".into()));
        assert_eq!(
            (
                log.packets,
                log.lost,
                log.decrypt_failures,
                log.opus_errors,
                log.frames.len()
            ),
            (4, 2, 1, 1, 2)
        );
    }

    #[test]
    fn opus_frames_decode_to_mono_pcm() {
        let mut enc =
            opus2::Encoder::new(48_000, opus2::Channels::Stereo, opus2::Application::Audio)
                .expect("encoder");
        let pcm: Vec<f32> = (0..960)
            .flat_map(|i| {
                let v = 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 48_000.0).sin();
                [v, v]
            })
            .collect();
        let packet = enc.encode_vec_float(&pcm, 4000).expect("encode");
        let mut d = Decoders {
            by_ssrc: HashMap::new(),
            pcm: vec![0.0; 5760 * 2],
        };
        let mono = d.decode(1, &packet).expect("decodes");
        assert_eq!(mono.len(), 960);
        assert!(
            d.decode(2, &[0xF8, 0xFF, 0xFE])
                .is_some_and(|s| s.iter().all(|x| x.abs() < 0.05))
        );
    }
}
