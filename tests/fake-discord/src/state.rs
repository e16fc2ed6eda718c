//! The fake's shared state and the one way to wait on it.
//!
//! Every server task (REST, gateway, voice gateway, UDP) mutates one [`State`] under one mutex and bumps a version;
//! tests wait with [`Hub::wait`], which re-checks a predicate on every change until a deadline. No sleeps are used
//! as synchronisation anywhere: a waiter wakes on the change it waits for.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::error::{Error, Result};
use crate::world::{User, VoiceState as MemberVoice, World};

/// One REST request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The path after `/api/v10`, e.g. `/interactions/123/tok/callback`.
    pub path: String,
    /// The route with ids replaced, e.g. `POST /interactions/{id}/{token}/callback`; `None` for unknown routes.
    pub route: Option<String>,
    /// Query pairs (serenity writes `?&k=v`; the leading `&` is accepted).
    pub query: Vec<(String, String)>,
    /// JSON body, or the `payload_json` part of a multipart body.
    pub body: Option<Value>,
    pub status: u16,
    pub user_agent: Option<String>,
    pub at: Instant,
}

/// An injected REST failure, consumed by the first matching request.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub method: Option<String>,
    pub path_contains: String,
    pub kind: FaultKind,
    pub remaining: u32,
}

/// What an injected failure answers.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// HTTP 429 with Discord's headers and body; `global` sets `X-RateLimit-Global` and the `global` field.
    RateLimited { retry_after: Duration, global: bool },
    /// Any status with a Discord-style JSON error body.
    Status {
        status: u16,
        code: u32,
        message: String,
    },
}

/// The initial response the bot gave to an interaction.
#[derive(Debug, Clone)]
pub struct Callback {
    /// 4 message, 5 deferred message, 6 deferred update, 7 update message, 8 autocomplete result, 9 modal.
    pub kind: u8,
    pub data: Value,
    /// Time from the fake's dispatch to the callback request.
    pub latency: Duration,
}

#[derive(Debug, Clone)]
pub(crate) struct InteractionRecord {
    pub id: u64,
    pub token: String,
    /// 2 command, 3 component, 4 autocomplete, 5 modal submit.
    pub kind: u8,
    pub guild_id: u64,
    pub channel_id: u64,
    pub user_id: u64,
    pub dispatched_at: Instant,
    pub callback: Option<Callback>,
    /// Rejected callback attempts (late, duplicate, wrong type), with the Discord error code answered.
    pub rejected: Vec<(u8, u32)>,
    pub original_message: Option<u64>,
    pub followups: Vec<u64>,
    /// For components: the message whose component was used (type 7 edits it).
    pub source_message: Option<u64>,
}

/// A message in a channel, created by the bot (interaction responses, follow-ups or plain channel messages).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub id: u64,
    pub channel_id: u64,
    pub guild_id: Option<u64>,
    pub author: User,
    pub content: String,
    pub embeds: Value,
    pub components: Value,
    pub flags: u64,
    pub kind: u8,
    /// The interaction this message answers (original response or follow-up).
    pub interaction_id: Option<u64>,
    pub webhook_id: Option<u64>,
    pub timestamp: String,
    pub edited_timestamp: Option<String>,
    pub deleted: bool,
    /// Number of edits (PATCH, type 7 updates).
    pub edits: u32,
}

impl MessageRecord {
    /// The message as Discord's REST API and gateway return it.
    pub fn json(&self) -> Value {
        crate::fixtures::message(&crate::fixtures::MessageFields {
            id: self.id,
            channel_id: self.channel_id,
            guild_id: self.guild_id,
            author: &self.author,
            content: &self.content,
            embeds: &self.embeds,
            components: &self.components,
            flags: self.flags,
            kind: self.kind,
            webhook_id: self.webhook_id,
            application_id: self.webhook_id,
            timestamp: &self.timestamp,
            edited_timestamp: self.edited_timestamp.as_deref(),
        })
    }
}

/// Messages flags Discord uses.
pub mod message_flags {
    pub const EPHEMERAL: u64 = 1 << 6;
    /// "Bot is thinking…": a deferred response not edited yet.
    pub const LOADING: u64 = 1 << 7;
}

/// Commands the bot registered.
#[derive(Debug, Clone, Default)]
pub(crate) struct Commands {
    pub global: Vec<Value>,
    pub guild: BTreeMap<u64, Vec<Value>>,
    /// Bulk-overwrite and create calls seen.
    pub registrations: u32,
}

/// Outbound frames for a websocket connection task.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(String),
    Close(u16, String),
    /// A binary websocket frame (the voice gateway's DAVE opcodes 25, 27, 29, 30).
    Binary(Vec<u8>),
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub id: String,
    pub seq: u64,
    pub intents: u64,
    pub shard: [u32; 2],
    /// Dispatches sent in this session, replayed after a RESUME with a lower sequence.
    pub sent: Vec<(u64, String)>,
}

/// A gateway connection: its id and the channel to its task.
pub(crate) type Conn = (u64, mpsc::UnboundedSender<Outbound>);

/// One shard beyond shard 0: its session and the connection carrying it (shard 0's are
/// [`GatewayState::session`] and [`GatewayState::conn`], so single-shard code reads as before).
#[derive(Debug, Default)]
pub(crate) struct ShardLink {
    pub session: Option<Session>,
    pub conn: Option<Conn>,
}

/// One event the bot sent on the main gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentOp {
    pub at: Instant,
    pub op: u8,
    /// The fake's connection number (1 for the first connection of the run).
    pub connection: u64,
}

/// The gateway's limits, as `/gateway/bot` announces them and as the gateway enforces them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GatewayLimits {
    /// `/gateway/bot`'s `shards`: the shard count the fake routes guilds by.
    pub shards: u32,
    /// `session_start_limit.max_concurrency`: identifies allowed per [`IDENTIFY_WINDOW`].
    pub max_concurrency: u32,
    /// Events a client may send per connection in `send_window` (Discord: 120 per 60 s) before a 4008 close.
    pub send_limit: u32,
    pub send_window: Duration,
}

/// Discord's identify bucket: `max_concurrency` identifies per 5 s.
pub(crate) const IDENTIFY_WINDOW: Duration = Duration::from_secs(5);

impl Default for GatewayLimits {
    fn default() -> Self {
        Self {
            shards: 1,
            max_concurrency: 1,
            send_limit: 120,
            send_window: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct GatewayState {
    pub session: Option<Session>,
    /// The connection that identified or resumed the current session.
    pub conn: Option<(u64, mpsc::UnboundedSender<Outbound>)>,
    /// Shards 1.. (shard 0 is `session`/`conn`).
    pub other_shards: BTreeMap<u32, ShardLink>,
    pub limits: GatewayLimits,
    /// Every event the bot sent, per shard, in arrival order.
    pub sent_ops: BTreeMap<u32, Vec<SentOp>>,
    /// When recent identifies arrived (for `max_concurrency`).
    pub identify_times: VecDeque<Instant>,
    /// Identifies answered with op 9 for exceeding `max_concurrency`.
    pub identify_refusals: u32,
    pub connections: u32,
    pub identifies: u32,
    pub resumes: u32,
    pub heartbeats: u32,
    pub ready_sent: u32,
    /// Close codes the fake sent or the bot sent, with who closed.
    pub closes: Vec<String>,
    pub presence_updates: Vec<Value>,
    /// The bot's op 4 payloads, in order.
    pub voice_state_updates: Vec<Value>,
    /// Where the bot sits in voice, per guild.
    pub bot_voice: BTreeMap<u64, MemberVoice>,
    /// Voice server allocations handed out with VOICE_SERVER_UPDATE: guild → token.
    pub voice_tokens: BTreeMap<u64, String>,
}

impl GatewayState {
    /// A shard's session and connection.
    pub fn link_mut(&mut self, shard: u32) -> (&mut Option<Session>, &mut Option<Conn>) {
        if shard == 0 {
            (&mut self.session, &mut self.conn)
        } else {
            let link = self.other_shards.entry(shard).or_default();
            (&mut link.session, &mut link.conn)
        }
    }

    pub fn shard_session(&self, shard: u32) -> Option<&Session> {
        if shard == 0 {
            self.session.as_ref()
        } else {
            self.other_shards.get(&shard)?.session.as_ref()
        }
    }

    pub fn shard_conn(&self, shard: u32) -> Option<&Conn> {
        if shard == 0 {
            self.conn.as_ref()
        } else {
            self.other_shards.get(&shard)?.conn.as_ref()
        }
    }

    /// The shard count guilds are routed by: the one the bot identified with, else the configured one.
    pub fn shard_count(&self) -> u32 {
        self.session
            .as_ref()
            .map_or(self.limits.shards, |s| s.shard[1])
            .max(1)
    }

    /// The shard Discord delivers a guild's events on: `(guild_id >> 22) % shard_count`.
    pub fn shard_of(&self, guild_id: u64) -> u32 {
        u32::try_from((guild_id >> 22) % u64::from(self.shard_count())).unwrap_or(0)
    }

    /// Whether every shard has a session (with one shard: whether the bot identified).
    pub fn all_shards_identified(&self) -> bool {
        (0..self.shard_count()).all(|s| self.shard_session(s).is_some())
    }
}

/// One voice connection (voice websocket + its UDP media session) of the bot in one guild.
#[derive(Debug, Default)]
pub(crate) struct VoiceConn {
    pub ssrc: u32,
    pub mode: Option<String>,
    pub key: Option<[u8; 32]>,
    pub identified: bool,
    pub session_described: bool,
    /// Address the bot reported in SELECT_PROTOCOL.
    pub selected_address: Option<SocketAddr>,
    pub heartbeats: u32,
    pub speaking: Vec<Value>,
    pub resumes: u32,
    pub closed: Option<u16>,
    pub ws: Option<mpsc::UnboundedSender<Outbound>>,
    pub connections: u32,
    /// The DAVE (E2EE) call of this connection, when SESSION_DESCRIPTION enabled it.
    pub dave: Option<crate::dave::DaveCall>,
}

/// One decoded 20 ms Opus frame, down-mixed to mono.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub at: Instant,
    pub samples: Vec<f32>,
}

/// Everything the UDP receiver learned about one guild's audio.
#[derive(Debug, Default)]
pub(crate) struct AudioLog {
    pub frames: VecDeque<Frame>,
    pub packets: u64,
    pub decrypt_failures: u64,
    pub opus_errors: u64,
    pub lost: u64,
    pub keepalives: u64,
    pub last_seq: Option<u16>,
    pub discovery_from: Option<SocketAddr>,
    /// Opus frames that arrived DAVE-encrypted and that the simulated listener decrypted.
    pub dave_frames: u64,
    /// Frames with the DAVE marker the simulated listener could not decrypt.
    pub dave_decrypt_failures: u64,
    /// Non-silence Opus frames that arrived without DAVE encryption (before the first transition: allowed).
    pub clear_frames: u64,
    /// Of those, the ones after the first DAVE transition executed: each is also a violation.
    pub clear_frames_after_transition: u64,
}

/// Frames kept per guild: 30 s of audio.
pub(crate) const MAX_FRAMES: usize = 1500;

#[derive(Debug)]
pub(crate) struct State {
    pub world: World,
    increment: u64,
    pub requests: Vec<RecordedRequest>,
    pub violations: Vec<String>,
    pub faults: Vec<Fault>,
    pub commands: Commands,
    pub interactions: HashMap<u64, InteractionRecord>,
    pub messages: BTreeMap<u64, MessageRecord>,
    pub gateway: GatewayState,
    pub voice: BTreeMap<u64, VoiceConn>,
    pub audio: BTreeMap<u64, AudioLog>,
    pub unknown_ssrc_packets: u64,
    /// Rate-limit buckets: route → (window start, requests in window).
    pub buckets: HashMap<String, (Instant, u32)>,
    /// The 3 s Discord gives a bot to answer an interaction.
    pub interaction_deadline: Duration,
    /// Scripted voice trouble and the client's reconnect attempts (`voice_trouble`).
    pub trouble: crate::voice_trouble::Trouble,
}

impl State {
    pub fn new(world: World) -> Self {
        Self {
            world,
            increment: 0,
            requests: Vec::new(),
            violations: Vec::new(),
            faults: Vec::new(),
            commands: Commands::default(),
            interactions: HashMap::new(),
            messages: BTreeMap::new(),
            gateway: GatewayState::default(),
            voice: BTreeMap::new(),
            audio: BTreeMap::new(),
            unknown_ssrc_packets: 0,
            buckets: HashMap::new(),
            interaction_deadline: Duration::from_secs(3),
            trouble: crate::voice_trouble::Trouble::default(),
        }
    }

    /// A fresh snowflake.
    pub fn snowflake(&mut self) -> u64 {
        self.increment += 1;
        crate::fixtures::snowflake(self.increment)
    }

    /// Records a protocol violation: reported as a test failure when the fake is dropped.
    pub fn violation(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        tracing::warn!(target: "fake_discord", "violation: {msg}");
        self.violations.push(msg);
    }

    pub fn ssrc_guild(&self, ssrc: u32) -> Option<u64> {
        self.voice
            .iter()
            .find(|(_, c)| c.ssrc == ssrc)
            .map(|(g, _)| *g)
    }

    /// A short description of what the fake has seen, for timeout messages.
    pub fn summary(&self) -> String {
        let last: Vec<String> = self
            .requests
            .iter()
            .rev()
            .take(6)
            .rev()
            .map(|r| format!("{} {} → {}", r.method, r.path, r.status))
            .collect();
        let voice: Vec<String> = self
            .voice
            .iter()
            .map(|(g, c)| {
                let a = self.audio.get(g);
                format!(
                    "guild {g}: identified={} described={} mode={:?} packets={} decrypt_failures={}",
                    c.identified,
                    c.session_described,
                    c.mode,
                    a.map_or(0, |a| a.packets),
                    a.map_or(0, |a| a.decrypt_failures)
                )
            })
            .collect();
        format!(
            "seen: {} REST requests (last: [{}]); gateway: {} connections, {} identifies, {} resumes, session {}; \
             commands registered: {}; voice: [{}]; violations: {:?}",
            self.requests.len(),
            last.join(", "),
            self.gateway.connections,
            self.gateway.identifies,
            self.gateway.resumes,
            if self.gateway.conn.is_some() {
                "connected"
            } else {
                "not connected"
            },
            self.commands.registrations,
            voice.join("; "),
            self.violations
        )
    }
}

/// The state plus its change signal.
#[derive(Debug)]
pub(crate) struct Hub {
    state: Mutex<State>,
    version: watch::Sender<u64>,
}

impl Hub {
    pub fn new(world: World) -> Self {
        Self {
            state: Mutex::new(State::new(world)),
            version: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // INVARIANT: no code panics while holding the lock except on a bug; a poisoned state is still the best
        // evidence a failing test has, so keep using it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Mutates the state and wakes every waiter.
    pub fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let r = f(&mut self.lock());
        self.version.send_modify(|v| *v += 1);
        r
    }

    /// Mutates state no waiter looks at (e.g. a DAVE decryptor's ratchet) without waking anyone.
    pub fn update_quiet<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.lock())
    }

    /// Reads the state without waking anyone.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    /// Waits until `check` returns `Some`, re-checking on every state change, for at most `timeout`.
    pub async fn wait<R>(
        &self,
        what: impl Into<String>,
        timeout: Duration,
        mut check: impl FnMut(&State) -> Option<R>,
    ) -> Result<R> {
        let mut rx = self.version.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // `borrow_and_update` before checking: a change after the check wakes `changed()` below.
            rx.borrow_and_update();
            if let Some(r) = self.read(&mut check) {
                return Ok(r);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                let seen = self.read(State::summary);
                return Err(Error::Timeout {
                    what: what.into(),
                    after: timeout,
                    seen,
                });
            }
        }
    }
}
