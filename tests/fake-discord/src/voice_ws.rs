//! The voice gateway songbird 0.6 connects to: `wss://localhost:PORT/?v=4`, TLS with the test CA.
//!
//! Handshake as Discord does it: HELLO (op 8) on connect; IDENTIFY (op 0) checked against the session id and the
//! token the main gateway handed out; READY (op 2) with an SSRC, the UDP address and the offered AEAD modes;
//! SELECT_PROTOCOL (op 1) → SESSION_DESCRIPTION (op 4) with a fresh 32-byte key and `dave_protocol_version: 1`;
//! HEARTBEAT (op 3) → ACK (op 6) echoing the nonce; SPEAKING (op 5) recorded; RESUME (op 7) → RESUMED (op 9).
//!
//! DAVE (E2EE) is required, as on Discord since 2026-03-01: an IDENTIFY without `max_dave_protocol_version` ≥ 1 is
//! closed with 4017. The MLS handshake (ops 11, 13, 21–31, binary frames for 25–30) is [`crate::dave`]'s. With
//! [`Builder::dave`](crate::Builder::dave)`(false)` the fake answers `dave_protocol_version: 0` and binary frames are
//! violations.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::Shared;
use crate::state::{Outbound, State, VoiceConn};

/// Modes offered in READY, in Discord's order. songbird 0.6 prefers AES-256-GCM.
pub const MODES: [&str; 2] = ["aead_aes256_gcm_rtpsize", "aead_xchacha20_poly1305_rtpsize"];
/// HELLO's interval (a float, as Discord sends it).
const HEARTBEAT_INTERVAL_MS: f64 = 13_750.0;

pub(crate) async fn serve(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            match acceptor.accept(stream).await {
                Ok(tls) => connection(tls, shared).await,
                Err(e) => shared
                    .hub
                    .update(|st| st.violation(format!("voice gateway TLS handshake failed: {e}"))),
            }
        });
    }
}

fn frame(op: u8, d: &Value) -> String {
    json!({"op": op, "d": d}).to_string()
}

#[allow(clippy::result_large_err)] // The handshake callback's error type is tungstenite's, not ours.
pub(crate) async fn connection<S: AsyncRead + AsyncWrite + Unpin>(stream: S, shared: Arc<Shared>) {
    let mut uri = String::new();
    let ws = tokio_tungstenite::accept_hdr_async(
        stream,
        |req: &tokio_tungstenite::tungstenite::handshake::server::Request, resp| {
            uri = req.uri().to_string();
            Ok(resp)
        },
    )
    .await;
    let Ok(ws) = ws else { return };
    if !uri.contains("v=4") {
        shared.hub.update(|st| {
            st.violation(format!(
                "voice gateway connection to {uri:?}: songbird 0.6 uses ?v=4"
            ));
        });
    }
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Outbound>();
    let _ = tx.send(Outbound::Text(frame(
        8,
        &json!({"heartbeat_interval": HEARTBEAT_INTERVAL_MS}),
    )));
    let mut guild: Option<u64> = None;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outbound::Text(t)) => {
                    if sink.send(Message::text(t)).await.is_err() { break; }
                }
                Some(Outbound::Binary(b)) => {
                    if sink.send(Message::binary(b)).await.is_err() { break; }
                }
                Some(Outbound::Close(code, reason)) => {
                    if let Some(g) = guild {
                        shared.hub.update(|st| { if let Some(c) = st.voice.get_mut(&g) { c.closed = Some(code); } });
                    }
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: reason.into() }))).await;
                    break;
                }
                None => break,
            },
            msg = source.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let close = shared.hub.update(|st| inbound(st, &shared, &tx, &mut guild, text.as_str()));
                    if let Some((code, reason)) = close {
                        let _ = tx.send(Outbound::Close(code, reason));
                    }
                }
                Some(Ok(Message::Binary(b))) => {
                    shared.hub.update(|st| match guild {
                        Some(g) if st.voice.get(&g).is_some_and(|c| c.dave.is_some()) => crate::dave::on_binary(st, g, &b),
                        _ => st.violation(format!(
                            "voice binary frame (DAVE opcode {:?}) although SESSION_DESCRIPTION said dave_protocol_version 0",
                            b.first()
                        )),
                    });
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    if let Some(g) = guild {
        shared.hub.update(|st| {
            if let Some(c) = st.voice.get_mut(&g)
                && c.ws.as_ref().is_some_and(|w| w.same_channel(&tx))
            {
                c.ws = None;
            }
        });
    }
}

fn snowflake_of(v: Option<&Value>) -> Option<u64> {
    let v = v?;
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Checks IDENTIFY/RESUME credentials against what the main gateway issued. Returns the guild.
fn authenticate(st: &mut State, d: &Value, what: &str) -> Result<u64, (u16, String)> {
    let guild = snowflake_of(d.get("server_id")).unwrap_or(0);
    let session = d.get("session_id").and_then(Value::as_str).unwrap_or("");
    let token = d.get("token").and_then(Value::as_str).unwrap_or("");
    let issued_token = st.gateway.voice_tokens.get(&guild);
    let bot_session = st
        .gateway
        .bot_voice
        .get(&guild)
        .map(|v| v.session_id.as_str());
    if issued_token.map(String::as_str) != Some(token) {
        st.violation(format!(
            "voice {what} for guild {guild} with a token VOICE_SERVER_UPDATE did not issue"
        ));
        return Err((4004, "Authentication failed.".into()));
    }
    if bot_session != Some(session) {
        st.violation(format!(
            "voice {what} for guild {guild} with session {session:?}, expected {bot_session:?}"
        ));
        return Err((4006, "Session no longer valid.".into()));
    }
    if what == "IDENTIFY" && snowflake_of(d.get("user_id")) != Some(st.world.bot.id) {
        st.violation(format!(
            "voice IDENTIFY with user_id {:?}, not the bot",
            d.get("user_id")
        ));
        return Err((4004, "Authentication failed.".into()));
    }
    Ok(guild)
}

#[allow(clippy::too_many_lines)] // One arm per voice opcode, in Discord's order, reads better than a dispatch table.
fn inbound(
    st: &mut State,
    shared: &Shared,
    tx: &mpsc::UnboundedSender<Outbound>,
    guild: &mut Option<u64>,
    text: &str,
) -> Option<(u16, String)> {
    let Ok(msg) = serde_json::from_str::<Value>(text) else {
        st.violation(format!("voice frame is not JSON: {text:.200}"));
        return Some((4002, "Failed to decode payload.".into()));
    };
    let op = msg.get("op").and_then(Value::as_u64).unwrap_or(u64::MAX);
    let d = msg.get("d").cloned().unwrap_or(Value::Null);
    if guild.is_none() && !matches!(op, 0 | 3 | 7) {
        st.violation(format!("voice op {op} before IDENTIFY"));
        return Some((4003, "Not authenticated.".into()));
    }
    match op {
        0 => {
            if let Some(close) = crate::voice_trouble::on_attempt(st, &d, "IDENTIFY") {
                return Some(close);
            }
            let g = match authenticate(st, &d, "IDENTIFY") {
                Ok(g) => g,
                Err(close) => return Some(close),
            };
            let offered = d
                .get("max_dave_protocol_version")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if shared.dave && offered < u64::from(crate::dave::PROTOCOL_VERSION) {
                st.violation(format!(
                    "voice IDENTIFY for guild {g} offers max_dave_protocol_version {offered}: Discord requires DAVE \
                     (E2EE) in voice channels since 2026-03-01 and closes with 4017"
                ));
                st.voice.entry(g).or_default().closed = Some(4017);
                return Some((4017, "E2EE/DAVE protocol required.".into()));
            }
            let dave = if shared.dave {
                let channel = st.gateway.bot_voice.get(&g).map_or(0, |v| v.channel_id);
                let humans = crate::dave::humans_in(st, g, channel);
                match crate::dave::DaveCall::new(channel, st.world.bot.id, &humans) {
                    Ok(call) => Some(call),
                    Err(e) => {
                        st.violation(format!("guild {g}: the fake could not set up DAVE: {e}"));
                        return Some((4000, "Unknown error.".into()));
                    }
                }
            } else {
                None
            };
            *guild = Some(g);
            let ssrc = rand::random::<u32>().max(1);
            let previous = st.voice.remove(&g).unwrap_or_default();
            st.voice.insert(
                g,
                VoiceConn {
                    ssrc,
                    identified: true,
                    ws: Some(tx.clone()),
                    connections: previous.connections + 1,
                    dave,
                    ..VoiceConn::default()
                },
            );
            let ready = json!({
                "ssrc": ssrc, "ip": "127.0.0.1", "port": shared.udp_port, "modes": MODES, "experiments": [],
            });
            let _ = tx.send(Outbound::Text(frame(2, &ready)));
            None
        }
        1 => {
            let g = (*guild)?;
            let data = d.get("data").cloned().unwrap_or(Value::Null);
            let mode = data
                .get("mode")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if d.get("protocol").and_then(Value::as_str) != Some("udp")
                || !MODES.contains(&mode.as_str())
            {
                st.violation(format!(
                    "voice SELECT_PROTOCOL not udp with an offered mode: {d}"
                ));
                return Some((4016, "Unknown encryption mode.".into()));
            }
            let address = data.get("address").and_then(Value::as_str).unwrap_or("");
            let port = data.get("port").and_then(Value::as_u64).unwrap_or(0) as u16;
            let selected: Option<SocketAddr> =
                address.parse().ok().map(|ip| SocketAddr::new(ip, port));
            let discovered = st.audio.get(&g).and_then(|a| a.discovery_from);
            if selected.is_none() || (discovered.is_some() && discovered != selected) {
                st.violation(format!("voice SELECT_PROTOCOL address {address}:{port}, IP discovery saw {discovered:?}"));
            }
            let key: [u8; 32] = rand::random();
            let conn = st.voice.entry(g).or_default();
            conn.mode = Some(mode.clone());
            conn.key = Some(key);
            conn.selected_address = selected;
            conn.session_described = true;
            let dave_version = if conn.dave.is_some() {
                crate::dave::PROTOCOL_VERSION
            } else {
                0
            };
            let desc = json!({
                "mode": mode,
                "secret_key": key.to_vec(),
                "dave_protocol_version": dave_version,
                "audio_codec": "opus",
                "video_codec": null,
                "media_session_id": format!("{:032x}", rand::random::<u128>()),
            });
            let _ = tx.send(Outbound::Text(frame(4, &desc)));
            if let Some(call) = &conn.dave {
                for f in call.greeting() {
                    let _ = tx.send(f);
                }
            }
            None
        }
        3 => {
            if let Some(c) = guild.and_then(|g| st.voice.get_mut(&g)) {
                c.heartbeats += 1;
            }
            // v4 heartbeats carry the nonce as `d`; v8 as `{t, seq_ack}` and expect `{t}` back.
            let ack = d.get("t").map_or_else(|| d.clone(), |t| json!({"t": t}));
            let _ = tx.send(Outbound::Text(frame(6, &ack)));
            None
        }
        5 => {
            if let Some(c) = guild.and_then(|g| st.voice.get_mut(&g)) {
                c.speaking.push(d);
            }
            None
        }
        7 => {
            if let Some(close) = crate::voice_trouble::on_attempt(st, &d, "RESUME") {
                return Some(close);
            }
            let g = match authenticate(st, &d, "RESUME") {
                Ok(g) => g,
                Err(close) => return Some(close),
            };
            let Some(conn) = st.voice.get_mut(&g).filter(|c| c.session_described) else {
                return Some((4006, "Session no longer valid.".into()));
            };
            *guild = Some(g);
            conn.resumes += 1;
            conn.ws = Some(tx.clone());
            conn.closed = None;
            let _ = tx.send(Outbound::Text(frame(9, &Value::Null)));
            None
        }
        23 => {
            let g = (*guild)?;
            crate::dave::with_call(st, g, "transition ready (op 23)", |c| {
                c.on_transition_ready(&d)
            });
            None
        }
        31 => {
            // The bot could not process a commit or welcome the fake relayed: the fake's fault. The bot resets and
            // sends a new key package (op 26), which starts a new group.
            let g = (*guild)?;
            st.violation(format!(
                "guild {g}: the bot reports an invalid DAVE commit/welcome (op 31): {d}"
            ));
            None
        }
        _ => {
            st.violation(format!("unknown voice opcode {op}: {d}"));
            Some((4001, "Unknown opcode.".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Hub;
    use crate::world::{GUILD_ID, VOICE_CHANNEL_ID, VoiceState as MemberVoice, World};

    fn shared(dave: bool) -> Shared {
        Shared {
            hub: Hub::new(World::default()),
            gateway_url: String::new(),
            voice_endpoint: String::new(),
            voice_endpoint_moved: String::new(),
            udp_port: 9,
            heartbeat_interval_ms: 41_250,
            dave,
        }
    }

    /// IDENTIFY (offering `offer`) then SELECT_PROTOCOL; returns IDENTIFY's close, the frames sent and the state.
    fn handshake(dave: bool, offer: Option<u64>) -> (Option<(u16, String)>, Vec<Outbound>, State) {
        let shared = shared(dave);
        let mut st = State::new(World::default());
        let bot = st.world.bot.id;
        let voice = MemberVoice::new(bot, VOICE_CHANNEL_ID);
        let session = voice.session_id.clone();
        st.gateway.bot_voice.insert(GUILD_ID, voice);
        st.gateway.voice_tokens.insert(GUILD_ID, "tok".into());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut guild = None;
        let mut d = json!({"server_id": GUILD_ID.to_string(), "session_id": session, "token": "tok",
                           "user_id": bot.to_string()});
        if let Some(v) = offer {
            d["max_dave_protocol_version"] = json!(v);
        }
        let close = inbound(&mut st, &shared, &tx, &mut guild, &frame(0, &d));
        if close.is_none() {
            let select = json!({"protocol": "udp", "data": {"address": "127.0.0.1", "port": 5000,
                                "mode": MODES[0]}});
            assert_eq!(
                inbound(&mut st, &shared, &tx, &mut guild, &frame(1, &select)),
                None
            );
        }
        (
            close,
            std::iter::from_fn(|| rx.try_recv().ok()).collect(),
            st,
        )
    }

    fn text_ops(frames: &[Outbound]) -> Vec<(u64, Value)> {
        frames
            .iter()
            .filter_map(|f| match f {
                Outbound::Text(t) => {
                    let v: Value = serde_json::from_str(t).expect("json");
                    Some((v["op"].as_u64().unwrap_or(99), v["d"].clone()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_client_without_dave_is_closed_with_4017_when_dave_is_required() {
        for offer in [None, Some(0)] {
            let (close, frames, st) = handshake(true, offer);
            assert_eq!(close.map(|c| c.0), Some(4017), "offer {offer:?}");
            assert!(frames.is_empty(), "no READY: {frames:?}");
            assert!(
                st.violations.iter().any(|v| v.contains("4017")),
                "{:?}",
                st.violations
            );
            assert_eq!(st.voice[&GUILD_ID].closed, Some(4017));
        }
    }

    #[test]
    fn a_dave_client_gets_version_1_clients_connect_and_the_external_sender() {
        let (close, frames, st) = handshake(true, Some(1));
        assert_eq!(close, None);
        let ops = text_ops(&frames);
        assert_eq!(
            ops.iter().map(|(op, _)| *op).collect::<Vec<_>>(),
            [2, 4, 11]
        );
        assert_eq!(ops[1].1["dave_protocol_version"], 1);
        assert_eq!(
            ops[2].1["user_ids"],
            json!([
                crate::world::LISTENER_ID.to_string(),
                crate::dave::LISTENING_CLIENT_ID.to_string()
            ]),
            "the default world's listener sits in the bot's channel"
        );
        let Some(Outbound::Binary(ext)) = frames.last() else {
            panic!("op 25 last: {frames:?}")
        };
        assert_eq!(
            ext.first(),
            Some(&25),
            "v4 framing: opcode first, no sequence number"
        );
        assert!(st.violations.is_empty(), "{:?}", st.violations);
    }

    #[test]
    fn with_dave_off_any_client_gets_version_0_and_no_mls_frames() {
        for offer in [None, Some(1)] {
            let (close, frames, st) = handshake(false, offer);
            assert_eq!(close, None);
            let ops = text_ops(&frames);
            assert_eq!(ops.iter().map(|(op, _)| *op).collect::<Vec<_>>(), [2, 4]);
            assert_eq!(ops[1].1["dave_protocol_version"], 0);
            assert!(frames.iter().all(|f| !matches!(f, Outbound::Binary(_))));
            assert!(st.voice[&GUILD_ID].dave.is_none());
        }
    }
}
