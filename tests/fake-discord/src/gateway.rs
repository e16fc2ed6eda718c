//! The main gateway: plain `ws://` JSON (serenity connects to `GET /gateway`'s url with `?v=10` and accepts Text
//! frames as plain JSON), with Discord's opcodes and close codes.
//!
//! Per connection: HELLO, then IDENTIFY (token, intents and privileged-intent checks, READY + one GUILD_CREATE per
//! guild) or RESUME (replay of missed dispatches, RESUMED); HEARTBEAT → HEARTBEAT_ACK; the bot's op 4 voice state
//! updates answered with VOICE_STATE_UPDATE + VOICE_SERVER_UPDATE pointing at the fake voice gateway. Dispatches
//! are filtered by the session's intents, as Discord does.

use std::sync::Arc;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::Shared;
use crate::fixtures;
use crate::state::{Outbound, Session, State};
use crate::world::{VoiceState, intents};

/// Discord's gateway close codes the fake uses.
pub mod close_codes {
    pub const UNKNOWN_ERROR: u16 = 4000;
    pub const UNKNOWN_OPCODE: u16 = 4001;
    pub const DECODE_ERROR: u16 = 4002;
    pub const NOT_AUTHENTICATED: u16 = 4003;
    pub const AUTHENTICATION_FAILED: u16 = 4004;
    pub const ALREADY_AUTHENTICATED: u16 = 4005;
    pub const INVALID_SEQ: u16 = 4007;
    pub const SESSION_TIMED_OUT: u16 = 4009;
    pub const INVALID_API_VERSION: u16 = 4012;
    pub const DISALLOWED_INTENTS: u16 = 4014;
}

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(connection(stream, shared.clone()));
    }
}

fn frame(op: u8, d: &Value) -> String {
    json!({"op": op, "d": d, "s": null, "t": null}).to_string()
}

/// The intent a dispatch needs to reach the bot.
fn required_intent(t: &str) -> u64 {
    match t {
        "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE" | "CHANNEL_CREATE" | "CHANNEL_UPDATE"
        | "CHANNEL_DELETE" | "GUILD_ROLE_CREATE" | "GUILD_ROLE_UPDATE" | "GUILD_ROLE_DELETE" => {
            intents::GUILDS
        }
        "VOICE_STATE_UPDATE" => intents::GUILD_VOICE_STATES,
        "GUILD_MEMBER_ADD" | "GUILD_MEMBER_UPDATE" | "GUILD_MEMBER_REMOVE" => {
            intents::GUILD_MEMBERS
        }
        "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" => intents::GUILD_MESSAGES,
        _ => 0,
    }
}

/// Sends a dispatch in the current session. Returns `false` when no session exists (nothing identified yet).
/// While the bot is between connections the dispatch is kept and replayed on RESUME, as Discord does.
pub(crate) fn dispatch(st: &mut State, t: &str, d: Value) -> bool {
    let Some(session) = st.gateway.session.as_mut() else {
        return false;
    };
    let need = required_intent(t);
    if session.intents & need != need {
        tracing::debug!(target: "fake_discord", "{t} not sent: the bot did not request intent {need:#x}");
        return true;
    }
    session.seq += 1;
    let mut frame = serde_json::Map::new();
    frame.insert("op".into(), json!(0));
    frame.insert("s".into(), json!(session.seq));
    frame.insert("t".into(), json!(t));
    frame.insert("d".into(), d);
    let text = Value::Object(frame).to_string();
    session.sent.push((session.seq, text.clone()));
    if let Some((_, tx)) = &st.gateway.conn {
        let _ = tx.send(Outbound::Text(text));
    }
    true
}

/// Sends a non-dispatch frame to the current connection (op 1, 7, 9) or closes it.
pub(crate) fn control(st: &mut State, out: Outbound) -> bool {
    match &st.gateway.conn {
        Some((_, tx)) => tx.send(out).is_ok(),
        None => false,
    }
}

fn new_session_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn snowflake_of(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

#[allow(clippy::result_large_err)] // The handshake callback's error type is tungstenite's, not ours.
async fn connection(stream: TcpStream, shared: Arc<Shared>) {
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
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Outbound>();
    let conn_id = shared.hub.update(|st| {
        st.gateway.connections += 1;
        if !uri.contains("v=10") {
            st.violation(format!(
                "gateway connection to {uri:?}: serenity 0.12 asks for ?v=10"
            ));
        }
        u64::from(st.gateway.connections)
    });
    let _ = tx.send(Outbound::Text(frame(
        10,
        &json!({"heartbeat_interval": shared.heartbeat_interval_ms}),
    )));
    let mut authenticated = false;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outbound::Text(t)) => {
                    if sink.send(Message::text(t)).await.is_err() { break; }
                }
                // The main gateway speaks JSON text only; binary frames are the voice gateway's (DAVE).
                Some(Outbound::Binary(b)) => {
                    if sink.send(Message::binary(b)).await.is_err() { break; }
                }
                Some(Outbound::Close(code, reason)) => {
                    shared.hub.update(|st| st.gateway.closes.push(format!("fake closed with {code} ({reason})")));
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: reason.into() }))).await;
                    break;
                }
                None => break,
            },
            msg = source.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let close = shared.hub.update(|st| inbound(st, &shared, conn_id, &tx, &mut authenticated, text.as_str()));
                    if let Some((code, reason)) = close {
                        let _ = tx.send(Outbound::Close(code, reason));
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    shared.hub.update(|st| st.violation("binary gateway frame: the fake speaks JSON text only"));
                    let _ = tx.send(Outbound::Close(close_codes::DECODE_ERROR, "Error while decoding payload.".into()));
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map_or(1005, |f| u16::from(f.code));
                    shared.hub.update(|st| st.gateway.closes.push(format!("bot closed with {code}")));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    shared.hub.update(|st| {
        if st
            .gateway
            .conn
            .as_ref()
            .is_some_and(|(id, _)| *id == conn_id)
        {
            st.gateway.conn = None;
        }
    });
}

/// Handles one client frame; returns a close code when Discord would close the connection.
fn inbound(
    st: &mut State,
    shared: &Shared,
    conn_id: u64,
    tx: &mpsc::UnboundedSender<Outbound>,
    authenticated: &mut bool,
    text: &str,
) -> Option<(u16, String)> {
    let Ok(msg) = serde_json::from_str::<Value>(text) else {
        st.violation(format!("gateway frame is not JSON: {text:.200}"));
        return Some((
            close_codes::DECODE_ERROR,
            "Error while decoding payload.".into(),
        ));
    };
    let op = msg.get("op").and_then(Value::as_u64).unwrap_or(u64::MAX);
    let d = msg.get("d").cloned().unwrap_or(Value::Null);
    if !*authenticated && !matches!(op, 1 | 2 | 6) {
        st.violation(format!("gateway op {op} before IDENTIFY/RESUME"));
        return Some((close_codes::NOT_AUTHENTICATED, "Not authenticated.".into()));
    }
    match op {
        1 => {
            st.gateway.heartbeats += 1;
            let _ = tx.send(Outbound::Text(frame(11, &Value::Null)));
            None
        }
        2 => identify(st, shared, conn_id, tx, authenticated, &d),
        6 => resume(st, conn_id, tx, authenticated, &d),
        3 => {
            st.gateway.presence_updates.push(d);
            None
        }
        4 => {
            bot_voice_state_update(st, shared, &d);
            None
        }
        8 => {
            request_guild_members(st, &d);
            None
        }
        _ => {
            st.violation(format!("unknown gateway opcode {op}"));
            Some((close_codes::UNKNOWN_OPCODE, "Unknown opcode.".into()))
        }
    }
}

fn token_matches(st: &State, token: Option<&str>) -> bool {
    let token = token.unwrap_or("");
    token.strip_prefix("Bot ").unwrap_or(token) == st.world.token
}

fn identify(
    st: &mut State,
    shared: &Shared,
    conn_id: u64,
    tx: &mpsc::UnboundedSender<Outbound>,
    authenticated: &mut bool,
    d: &Value,
) -> Option<(u16, String)> {
    if *authenticated {
        st.violation("second IDENTIFY on one gateway connection");
        return Some((
            close_codes::ALREADY_AUTHENTICATED,
            "Already authenticated.".into(),
        ));
    }
    if !token_matches(st, d.get("token").and_then(Value::as_str)) {
        st.violation("IDENTIFY with a wrong token");
        return Some((
            close_codes::AUTHENTICATION_FAILED,
            "Authentication failed.".into(),
        ));
    }
    let requested = d.get("intents").and_then(Value::as_u64).unwrap_or(0);
    let disallowed = requested & intents::PRIVILEGED & !st.world.privileged_intents;
    if disallowed != 0 {
        // Not a violation of the protocol: the bot asked for intents the (fake) developer portal does not grant.
        st.gateway
            .closes
            .push(format!("disallowed intents {disallowed:#x}"));
        return Some((
            close_codes::DISALLOWED_INTENTS,
            "Disallowed intent(s).".into(),
        ));
    }
    let shard_pair = d
        .get("shard")
        .and_then(Value::as_array)
        .and_then(|a| Some([a.first()?.as_u64()? as u32, a.get(1)?.as_u64()? as u32]))
        .unwrap_or([0, 1]);
    *authenticated = true;
    st.gateway.identifies += 1;
    let session_id = new_session_id();
    st.gateway.session = Some(Session {
        id: session_id.clone(),
        seq: 0,
        intents: requested,
        shard: shard_pair,
        sent: Vec::new(),
    });
    st.gateway.conn = Some((conn_id, tx.clone()));
    // A new session starts outside voice: Discord drops the old session's voice states.
    st.gateway.bot_voice.clear();
    st.gateway.voice_tokens.clear();
    dispatch(
        st,
        "READY",
        fixtures::ready(&st.world, &session_id, &shared.gateway_url, shard_pair),
    );
    st.gateway.ready_sent += 1;
    let guilds: Vec<Value> = st
        .world
        .guilds
        .values()
        .map(|g| fixtures::guild_create(g, &st.world, None))
        .collect();
    for g in guilds {
        dispatch(st, "GUILD_CREATE", g);
    }
    None
}

fn resume(
    st: &mut State,
    conn_id: u64,
    tx: &mpsc::UnboundedSender<Outbound>,
    authenticated: &mut bool,
    d: &Value,
) -> Option<(u16, String)> {
    let session_id = d.get("session_id").and_then(Value::as_str).unwrap_or("");
    let seq = d.get("seq").and_then(Value::as_u64).unwrap_or(0);
    if !token_matches(st, d.get("token").and_then(Value::as_str)) {
        st.violation("RESUME with a wrong token");
        return Some((
            close_codes::AUTHENTICATION_FAILED,
            "Authentication failed.".into(),
        ));
    }
    let valid = st
        .gateway
        .session
        .as_ref()
        .is_some_and(|s| s.id == session_id && seq <= s.seq);
    if !valid {
        // Discord answers an unknown or expired session with op 9 `false`: the client must identify anew.
        let _ = tx.send(Outbound::Text(frame(9, &json!(false))));
        return None;
    }
    *authenticated = true;
    st.gateway.resumes += 1;
    st.gateway.conn = Some((conn_id, tx.clone()));
    if let Some(session) = &st.gateway.session {
        for (_, text) in session.sent.iter().filter(|(s, _)| *s > seq) {
            let _ = tx.send(Outbound::Text(text.clone()));
        }
    }
    dispatch(st, "RESUMED", Value::Null);
    None
}

fn bot_voice_state_update(st: &mut State, shared: &Shared, d: &Value) {
    st.gateway.voice_state_updates.push(d.clone());
    let Some(guild_id) = d.get("guild_id").and_then(snowflake_of) else {
        st.violation(format!("op 4 without a guild_id: {d}"));
        return;
    };
    let Some(guild) = st.world.guilds.get(&guild_id) else {
        st.violation(format!(
            "op 4 for guild {guild_id}, which the bot is not in"
        ));
        return;
    };
    let bot = st.world.bot_member();
    let bot_id = st.world.bot.id;
    let session_id = st
        .gateway
        .session
        .as_ref()
        .map(|s| s.id.clone())
        .unwrap_or_default();
    if let Some(channel_id) = d.get("channel_id").and_then(snowflake_of) {
        if !guild.channel(channel_id).is_some_and(|c| c.kind.is_voice()) {
            st.violation(format!(
                "op 4 to channel {channel_id}, not a voice channel of guild {guild_id}"
            ));
            return;
        }
        let state = VoiceState {
            channel_id,
            session_id: session_id.clone(),
            self_mute: d.get("self_mute").and_then(Value::as_bool).unwrap_or(false),
            self_deaf: d.get("self_deaf").and_then(Value::as_bool).unwrap_or(false),
        };
        st.gateway.bot_voice.insert(guild_id, state.clone());
        let vsu = fixtures::voice_state(
            guild_id,
            bot_id,
            Some(&state),
            &session_id,
            Some(fixtures::member(&bot)),
        );
        dispatch(st, "VOICE_STATE_UPDATE", vsu);
        let token = st
            .gateway
            .voice_tokens
            .entry(guild_id)
            .or_insert_with(|| format!("{:016x}", rand::random::<u64>()))
            .clone();
        dispatch(
            st,
            "VOICE_SERVER_UPDATE",
            fixtures::voice_server_update(guild_id, &token, &shared.voice_endpoint),
        );
    } else {
        if st.gateway.bot_voice.remove(&guild_id).is_some() {
            let vsu = fixtures::voice_state(
                guild_id,
                bot_id,
                None,
                &session_id,
                Some(fixtures::member(&bot)),
            );
            dispatch(st, "VOICE_STATE_UPDATE", vsu);
        }
        st.gateway.voice_tokens.remove(&guild_id);
        // Leaving the channel ends the voice session: Discord closes the voice websocket with 4014.
        if let Some(tx) = st.voice.get_mut(&guild_id).and_then(|c| c.ws.take()) {
            let _ = tx.send(Outbound::Close(4014, "Disconnected.".into()));
        }
    }
}

fn request_guild_members(st: &mut State, d: &Value) {
    let Some(guild_id) = d.get("guild_id").and_then(snowflake_of) else {
        return;
    };
    let Some(guild) = st.world.guilds.get(&guild_id) else {
        return;
    };
    let mut members: Vec<Value> = guild.members.values().map(fixtures::member).collect();
    members.push(fixtures::member(&st.world.bot_member()));
    let chunk = json!({
        "guild_id": guild_id.to_string(),
        "members": members,
        "chunk_index": 0,
        "chunk_count": 1,
        "nonce": d.get("nonce"),
    });
    dispatch(st, "GUILD_MEMBERS_CHUNK", chunk);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::World;

    fn identified(intents: u64) -> (State, mpsc::UnboundedReceiver<Outbound>) {
        let mut st = State::new(World::default());
        let (tx, rx) = mpsc::unbounded_channel();
        st.gateway.session = Some(Session {
            id: "s".into(),
            seq: 0,
            intents,
            shard: [0, 1],
            sent: Vec::new(),
        });
        st.gateway.conn = Some((1, tx));
        (st, rx)
    }

    #[test]
    fn dispatches_respect_intents_and_number_sequences() {
        let (mut st, mut rx) = identified(intents::GUILDS);
        assert!(dispatch(&mut st, "VOICE_STATE_UPDATE", json!({})));
        assert!(dispatch(&mut st, "INTERACTION_CREATE", json!({"x": 1})));
        let Ok(Outbound::Text(t)) = rx.try_recv() else {
            panic!("interaction dispatched")
        };
        let v: Value = serde_json::from_str(&t).expect("json");
        assert_eq!(
            (v["op"].as_u64(), v["s"].as_u64(), v["t"].as_str()),
            (Some(0), Some(1), Some("INTERACTION_CREATE"))
        );
        assert!(
            rx.try_recv().is_err(),
            "voice state filtered without GUILD_VOICE_STATES"
        );
    }

    #[test]
    fn resume_replays_missed_dispatches_then_resumed() {
        let (mut st, _rx) = identified(intents::GUILDS);
        for i in 0..3 {
            dispatch(&mut st, "INTERACTION_CREATE", json!({"i": i}));
        }
        st.gateway.conn = None;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut auth = false;
        let token = st.world.token.clone();
        let close = resume(
            &mut st,
            2,
            &tx,
            &mut auth,
            &json!({"token": format!("Bot {token}"), "session_id": "s", "seq": 1}),
        );
        assert!(close.is_none() && auth);
        let seqs: Vec<(u64, String)> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|o| match o {
                Outbound::Text(t) => {
                    let v: Value = serde_json::from_str(&t).expect("json");
                    (
                        v["s"].as_u64().unwrap_or(0),
                        v["t"].as_str().unwrap_or("").to_owned(),
                    )
                }
                Outbound::Close(..) => (0, "close".into()),
                Outbound::Binary(_) => (0, "binary".into()),
            })
            .collect();
        assert_eq!(
            seqs,
            vec![
                (2, "INTERACTION_CREATE".into()),
                (3, "INTERACTION_CREATE".into()),
                (4, "RESUMED".into())
            ]
        );
    }

    #[test]
    fn resume_of_unknown_session_is_invalid_session_false() {
        let (mut st, _rx) = identified(0);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut auth = false;
        let token = st.world.token.clone();
        resume(
            &mut st,
            2,
            &tx,
            &mut auth,
            &json!({"token": token, "session_id": "other", "seq": 0}),
        );
        let Ok(Outbound::Text(t)) = rx.try_recv() else {
            panic!("op 9 sent")
        };
        assert_eq!(serde_json::from_str::<Value>(&t).expect("json")["op"], 9);
        assert!(!auth);
    }
}
