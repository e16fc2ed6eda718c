//! Voice trouble, scripted: what Discord does to a running call and how the client's reconnects are answered.
//!
//! - [`VoiceHandle::kick`]: a moderator disconnects the bot (or deletes its channel): `VOICE_STATE_UPDATE` with
//!   `channel_id: null` for the bot, then the voice websocket closed with 4014.
//! - [`VoiceHandle::expire_session`]: the voice session ends server-side (4006 "session no longer valid",
//!   4009 "session timeout"): the websocket is closed with the code and its token expires, so a RESUME or
//!   IDENTIFY with it is closed with 4006; only a new op 4 gets a new token.
//! - [`VoiceHandle::refuse_identify`]: the next IDENTIFYs are closed with a code (4021 rate limited, 4022
//!   call terminated, 4017 DAVE required), for backoff tests.
//! - [`VoiceHandle::move_endpoint`]: Discord moves the call to another voice server: `VOICE_SERVER_UPDATE` with
//!   a new token and the endpoint of a second voice gateway listener ([`serve_moved`]).
//! - [`VoiceHandle::attempts`]: every IDENTIFY and RESUME with its time and answer, to count reconnects.
//!
//! The hooks [`on_attempt`] (called first for voice ops 0 and 7) keep the voice gateway's own handshake code
//! unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};
use crate::scenario::{Heard, VoiceHandle};
use crate::state::{Outbound, State};
use crate::{Shared, audio, fixtures, gateway};

/// One voice IDENTIFY or RESUME as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceAttempt {
    pub at: Instant,
    /// `"IDENTIFY"` or `"RESUME"`.
    pub op: &'static str,
    /// The close code a script answered it with; `None`: handled by the voice gateway as usual.
    pub refused: Option<u16>,
    /// It carried a token issued with [`VoiceHandle::move_endpoint`].
    pub moved: bool,
}

/// The scripted trouble and what the client did about it.
#[derive(Debug, Default)]
pub(crate) struct Trouble {
    attempts: BTreeMap<u64, Vec<VoiceAttempt>>,
    /// Guild → (close code, how many more IDENTIFYs to refuse).
    refusals: BTreeMap<u64, (u16, u32)>,
    /// Guild → tokens of voice sessions that ended server-side.
    expired: BTreeMap<u64, BTreeSet<String>>,
    /// Tokens handed out with the second voice server's endpoint.
    moved_tokens: BTreeSet<String>,
    /// Connections the second voice server accepted.
    moved_server_accepts: u32,
}

fn snowflake_of(v: Option<&Value>) -> Option<u64> {
    let v = v?;
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Called first for every voice IDENTIFY (`op` "IDENTIFY") and RESUME: records it and answers scripted
/// trouble. `Some(close)` closes the connection with that code instead of the normal handshake.
pub(crate) fn on_attempt(st: &mut State, d: &Value, op: &'static str) -> Option<(u16, String)> {
    let guild = snowflake_of(d.get("server_id")).unwrap_or(0);
    let token = d.get("token").and_then(Value::as_str).unwrap_or("");
    let trouble = &mut st.trouble;
    let expired = trouble
        .expired
        .get(&guild)
        .is_some_and(|tokens| tokens.contains(token));
    let refused = if expired {
        // Not a violation: trying the old session once is what clients do after 4009; Discord says 4006.
        Some((4006, "Session no longer valid.".to_owned()))
    } else if op == "IDENTIFY"
        && let Some((code, left)) = trouble.refusals.get_mut(&guild)
        && *left > 0
    {
        *left -= 1;
        Some((*code, reason_of(*code).to_owned()))
    } else {
        None
    };
    let moved = trouble.moved_tokens.contains(token);
    trouble
        .attempts
        .entry(guild)
        .or_default()
        .push(VoiceAttempt {
            at: Instant::now(),
            op,
            refused: refused.as_ref().map(|(code, _)| *code),
            moved,
        });
    refused
}

fn reason_of(code: u16) -> &'static str {
    match code {
        4006 => "Session no longer valid.",
        4009 => "Session timeout.",
        4014 => "Disconnected.",
        4017 => "E2EE/DAVE protocol required.",
        4021 => "Disconnected: Rate Limited.",
        4022 => "Disconnected: Call Terminated.",
        _ => "fake voice trouble",
    }
}

/// The second voice server (an endpoint move's target): the same voice gateway, on its own port.
pub(crate) async fn serve_moved(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        shared.hub.update(|st| st.trouble.moved_server_accepts += 1);
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            match acceptor.accept(stream).await {
                Ok(tls) => crate::voice_ws::connection(tls, shared).await,
                Err(e) => shared.hub.update(|st| {
                    st.violation(format!("moved voice gateway TLS handshake failed: {e}"));
                }),
            }
        });
    }
}

fn close_voice(st: &mut State, guild: u64, code: u16) -> bool {
    st.voice
        .get_mut(&guild)
        .and_then(|c| c.ws.take())
        .is_some_and(|tx| {
            tx.send(Outbound::Close(code, reason_of(code).into()))
                .is_ok()
        })
}

impl VoiceHandle<'_> {
    /// A moderator disconnects the bot from voice (or deletes its channel): the bot's voice state goes to
    /// `channel_id: null` (`VOICE_STATE_UPDATE`), its voice server allocation ends and the voice websocket is
    /// closed with 4014, as Discord does.
    pub fn kick(&self) -> Result<()> {
        let g = self.guild;
        self.d.shared.hub.update(|st| {
            if st.gateway.bot_voice.remove(&g).is_none() {
                return Err(Error::scenario(format!(
                    "the bot is not in voice in guild {g}"
                )));
            }
            let bot = st.world.bot_member();
            let bot_id = st.world.bot.id;
            let session_id = st
                .gateway
                .session
                .as_ref()
                .map(|s| s.id.clone())
                .unwrap_or_default();
            let vsu =
                fixtures::voice_state(g, bot_id, None, &session_id, Some(fixtures::member(&bot)));
            gateway::dispatch(st, "VOICE_STATE_UPDATE", vsu);
            st.gateway.voice_tokens.remove(&g);
            close_voice(st, g, 4014);
            Ok(())
        })
    }

    /// Ends the voice session server-side with `code` (4006 or 4009): the websocket closes, and the session's
    /// token is expired, so a RESUME or IDENTIFY with it is closed with 4006. The next op 4 from the bot is
    /// answered with a new token. `false` when no voice websocket was open.
    pub fn expire_session(&self, code: u16) -> bool {
        let g = self.guild;
        self.d.shared.hub.update(|st| {
            if let Some(token) = st.gateway.voice_tokens.remove(&g) {
                st.trouble.expired.entry(g).or_default().insert(token);
            }
            close_voice(st, g, code)
        })
    }

    /// The next `count` voice IDENTIFYs of this guild are closed with `code` right away (4021, 4022, 4017…).
    pub fn refuse_identify(&self, code: u16, count: u32) {
        let g = self.guild;
        self.d
            .shared
            .hub
            .update(|st| st.trouble.refusals.insert(g, (code, count)));
    }

    /// Discord moves the call to another voice server: `VOICE_SERVER_UPDATE` with a new token and the second
    /// voice gateway's endpoint (returned). The old connection is left for the client to drop.
    pub fn move_endpoint(&self) -> Result<String> {
        let g = self.guild;
        let endpoint = self.d.shared.voice_endpoint_moved.clone();
        self.d.shared.hub.update(|st| {
            if !st.gateway.bot_voice.contains_key(&g) {
                return Err(Error::scenario(format!(
                    "the bot is not in voice in guild {g}"
                )));
            }
            let token = format!("{:016x}", rand::random::<u64>());
            st.gateway.voice_tokens.insert(g, token.clone());
            st.trouble.moved_tokens.insert(token.clone());
            gateway::dispatch(
                st,
                "VOICE_SERVER_UPDATE",
                fixtures::voice_server_update(g, &token, &endpoint),
            );
            Ok(endpoint.clone())
        })
    }

    /// Waits until the last 0.5 s of audio that arrived *after* `since` is a tone within 3 Hz of `freq`: proof
    /// that audio came back after a reconnect, not an echo of what was heard before it.
    pub async fn wait_for_tone_since(
        &self,
        freq: f32,
        since: Instant,
        timeout: Duration,
    ) -> Result<Heard> {
        let g = self.guild;
        let window = Duration::from_millis(500);
        self.d
            .shared
            .hub
            .wait(
                format!("a {freq} Hz tone in guild {g} after the trouble"),
                timeout,
                |st| {
                    let now = Instant::now();
                    let samples: Vec<f32> = st
                        .audio
                        .get(&g)?
                        .frames
                        .iter()
                        .filter(|f| f.at >= since && now.duration_since(f.at) <= window)
                        .flat_map(|f| f.samples.iter().copied())
                        .collect();
                    if samples.len() < 20 * 960 || audio::tone_ratio(&samples, freq) < 0.5 {
                        return None;
                    }
                    let frequency = audio::dominant_frequency(&samples)?;
                    ((frequency - freq).abs() < 3.0).then(|| Heard {
                        frequency: Some(frequency),
                        dbfs: audio::dbfs(&samples),
                        silent: audio::is_silent(&samples),
                        frames: samples.len() / 960,
                    })
                },
            )
            .await
    }

    /// Every voice IDENTIFY and RESUME of this guild so far, oldest first.
    pub fn attempts(&self) -> Vec<VoiceAttempt> {
        let g = self.guild;
        self.d
            .shared
            .hub
            .read(|st| st.trouble.attempts.get(&g).cloned().unwrap_or_default())
    }

    /// Connections the second voice server (the target of [`move_endpoint`](Self::move_endpoint)) accepted,
    /// from any guild.
    pub fn moved_server_connections(&self) -> u32 {
        self.d.shared.hub.read(|st| st.trouble.moved_server_accepts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::World;
    use serde_json::json;

    fn identify(token: &str) -> Value {
        json!({"server_id": "1", "session_id": "s", "token": token, "user_id": "2"})
    }

    #[test]
    fn refusals_count_down_and_are_recorded() {
        let mut st = State::new(World::default());
        st.trouble.refusals.insert(1, (4021, 2));
        let answers: Vec<Option<u16>> = (0..3)
            .map(|_| on_attempt(&mut st, &identify("t"), "IDENTIFY").map(|(code, _)| code))
            .collect();
        assert_eq!(answers, vec![Some(4021), Some(4021), None]);
        let recorded: Vec<Option<u16>> =
            st.trouble.attempts[&1].iter().map(|a| a.refused).collect();
        assert_eq!(recorded, answers);
        // RESUMEs are not refused by an IDENTIFY script.
        st.trouble.refusals.insert(1, (4021, 1));
        assert_eq!(on_attempt(&mut st, &identify("t"), "RESUME"), None);
    }

    #[test]
    fn an_expired_token_is_answered_4006() {
        let mut st = State::new(World::default());
        st.trouble
            .expired
            .entry(1)
            .or_default()
            .insert("old".into());
        assert_eq!(
            on_attempt(&mut st, &identify("old"), "RESUME").map(|(c, _)| c),
            Some(4006)
        );
        assert_eq!(on_attempt(&mut st, &identify("new"), "IDENTIFY"), None);
        assert!(st.violations.is_empty());
    }
}
