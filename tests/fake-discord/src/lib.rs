//! A protocol-faithful fake Discord for end-to-end tests of a serenity 0.12 / poise 0.7 / songbird 0.6 bot.
//!
//! [`FakeDiscord::start`] binds four servers on 127.0.0.1 ephemeral ports:
//! - REST (`http://127.0.0.1:P`, reached through serenity's `HttpBuilder::proxy`, which keeps `/api/v10`): see
//!   [`rest`](crate::rest) for the routes; every request is recorded, unknown routes fail the test;
//! - the gateway (`ws://`, JSON): HELLO, IDENTIFY/RESUME, heartbeats, READY, GUILD_CREATE, interactions, voice
//!   state updates;
//! - the voice gateway (`wss://localhost:P/?v=4`, TLS with a throw-away CA the bot trusts via `SSL_CERT_FILE`);
//! - the voice UDP endpoint: IP discovery, RTP decryption (AES-256-GCM and XChaCha20-Poly1305 rtpsize), Opus decode.
//! - DAVE end-to-end encryption in voice, on by default (see [`dave`](crate::dave)): the fake is the MLS external
//!   sender and hears through a simulated call member that decrypts each frame.
//! - a second voice gateway, the target of [`VoiceHandle::move_endpoint`] (Discord moving a call to another voice
//!   server); scripted voice trouble is in [`voice_trouble`].
//!
//! Tests drive it like a Discord user would and ask what the bot did:
//!
//! ```no_run
//! // In alastor's tests/e2e_*.rs the binary is `env!("CARGO_BIN_EXE_alastor")`.
//! # async fn scenario(alastor: &std::path::Path) -> fake_discord::Result<()> {
//! use fake_discord::{FakeDiscord, GUILD_ID, LISTENER_ID};
//! let d = FakeDiscord::start().await;
//! let _bot = d.spawn_bot(alastor, &["run"], &[])?;
//! d.wait_ready(std::time::Duration::from_secs(30)).await?;
//! let reply = d.guild(GUILD_ID).member(LISTENER_ID).run("/radio play", [("station", "jazz")]).await?.reply().await?;
//! assert!(reply.content().contains("jazz"));
//! let heard = d.guild(GUILD_ID).voice().wait_for_tone(440.0, std::time::Duration::from_secs(20)).await?;
//! assert!((heard.frequency.unwrap_or(0.0) - 440.0).abs() < 3.0);
//! # Ok(()) }
//! ```
//!
//! Protocol violations (unknown routes, late or double interaction responses, bad payloads, wrong voice
//! credentials) are collected and make the test fail when the [`FakeDiscord`] is dropped, unless the test takes them
//! with [`FakeDiscord::take_violations`].
//!
//! Crypto: ring only. This crate is a dev-dependency of the bot, so its features unify into the bot's test build;
//! a second rustls provider (aws-lc-rs) would make songbird's voice connect panic.

#![recursion_limit = "256"] // `json!` for GUILD_CREATE has more fields than the default limit expands.

pub mod audio;
pub mod dave;
mod error;
pub mod fixtures;
pub mod gateway;
pub mod process;
pub mod rest;
mod scenario;
pub mod spec;
mod state;
mod tls;
pub mod voice_trouble;
pub mod voice_udp;
pub mod voice_ws;
pub mod world;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

pub use error::{Error, Result};
pub use process::BotProcess;
pub use scenario::{
    Choice, GatewayHandle, GatewayStats, GuildHandle, Heard, Interaction, MemberHandle, Message,
    Modal, RestHandle, VoiceHandle, VoiceStats,
};
pub use scenario::{SentOps, ShardStats};
pub use state::SentOp;
pub use state::{Callback, FaultKind, MessageRecord, RecordedRequest, message_flags};
pub use voice_trouble::VoiceAttempt;
pub use world::{
    APPLICATION_ID, BOT_ID, DJ_ROLE_ID, GUILD_ID, LISTENER_ID, LURKER_ID, OTHER_VOICE_CHANNEL_ID,
    OWNER_ID, TEXT_CHANNEL_ID, VOICE_CHANNEL_ID, World,
};

use state::Hub;

/// What every server task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub hub: Hub,
    pub gateway_url: String,
    /// `localhost:PORT`: VOICE_SERVER_UPDATE's `endpoint` (songbird prepends `wss://` and appends `/?v=4`).
    pub voice_endpoint: String,
    /// The second voice gateway's `localhost:PORT`, where `voice().move_endpoint()` moves a call.
    pub voice_endpoint_moved: String,
    pub udp_port: u16,
    pub heartbeat_interval_ms: u64,
    /// DAVE (E2EE) required in voice, as on Discord since 2026-03-01; off only for the legacy-path test.
    pub dave: bool,
}

/// Options for [`FakeDiscord::builder`].
#[derive(Debug, Clone)]
pub struct Builder {
    world: World,
    heartbeat_interval: Duration,
    interaction_deadline: Duration,
    dave: bool,
    gateway_limits: state::GatewayLimits,
}

impl Builder {
    /// The world the bot finds at IDENTIFY (default: [`World::default`]).
    #[must_use]
    pub fn world(mut self, world: World) -> Self {
        self.world = world;
        self
    }

    /// HELLO's `heartbeat_interval` (Discord: 41.25 s).
    #[must_use]
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// How long the bot has to answer an interaction (Discord: 3 s). Later callbacks are refused with
    /// "Unknown interaction" (10062) and recorded as violations.
    #[must_use]
    pub fn interaction_deadline(mut self, deadline: Duration) -> Self {
        self.interaction_deadline = deadline;
        self
    }

    /// DAVE end-to-end encryption in voice (default: on, required, as Discord runs voice channels since
    /// 2026-03-01: a client offering no DAVE is closed with 4017). `false` answers `dave_protocol_version: 0` and
    /// treats binary (MLS) frames as violations: only for the test that proves the transport-only path.
    #[must_use]
    pub fn dave(mut self, on: bool) -> Self {
        self.dave = on;
        self
    }

    /// The shard count `/gateway/bot` recommends and the gateway routes guilds by (default 1). Each shard is its
    /// own connection and session; a guild's events go to shard `(guild_id >> 22) % shards`, as on Discord, so a
    /// sharded world needs guild ids that differ in their upper bits (e.g. `n << 22`).
    #[must_use]
    pub fn shards(mut self, shards: u32) -> Self {
        self.gateway_limits.shards = shards.max(1);
        self
    }

    /// `session_start_limit.max_concurrency` (default 1): identifies allowed per 5 s; more are answered with
    /// op 9 and recorded as violations.
    #[must_use]
    pub fn max_concurrency(mut self, max_concurrency: u32) -> Self {
        self.gateway_limits.max_concurrency = max_concurrency.max(1);
        self
    }

    /// The per-connection send budget (default Discord's: 120 events per 60 s); the event over it closes the
    /// connection with 4008 and is a violation.
    #[must_use]
    pub fn gateway_send_limit(mut self, events: u32, window: Duration) -> Self {
        self.gateway_limits.send_limit = events;
        self.gateway_limits.send_window = window;
        self
    }

    pub async fn start(self) -> Result<FakeDiscord> {
        let bind = |what: &'static str| {
            move |e: std::io::Error| Error::Setup(format!("binding the {what} on 127.0.0.1: {e}"))
        };
        let rest = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(bind("REST listener"))?;
        let gateway = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(bind("gateway listener"))?;
        let voice = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(bind("voice gateway listener"))?;
        let voice_moved = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(bind("second voice gateway listener"))?;
        let udp = UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(bind("voice UDP socket"))?;
        let port = |l: std::io::Result<std::net::SocketAddr>| {
            l.map(|a| a.port()).map_err(bind("listener address"))
        };
        let (rest_port, gateway_port, voice_port) = (
            port(rest.local_addr())?,
            port(gateway.local_addr())?,
            port(voice.local_addr())?,
        );
        let udp_port = port(udp.local_addr())?;
        let voice_moved_port = port(voice_moved.local_addr())?;
        let tls = tls::make()?;
        let hub = Hub::new(self.world);
        hub.update(|st| {
            st.interaction_deadline = self.interaction_deadline;
            st.gateway.limits = self.gateway_limits.clone();
        });
        let shared = Arc::new(Shared {
            hub,
            gateway_url: format!("ws://127.0.0.1:{gateway_port}"),
            voice_endpoint: format!("localhost:{voice_port}"),
            voice_endpoint_moved: format!("localhost:{voice_moved_port}"),
            udp_port,
            heartbeat_interval_ms: self.heartbeat_interval.as_millis() as u64,
            dave: self.dave,
        });
        let tasks = vec![
            tokio::spawn(rest::serve(rest, shared.clone())),
            tokio::spawn(gateway::serve(gateway, shared.clone())),
            tokio::spawn(voice_ws::serve(voice, tls.acceptor.clone(), shared.clone())),
            tokio::spawn(voice_udp::serve(udp, shared.clone())),
            tokio::spawn(voice_trouble::serve_moved(
                voice_moved,
                tls.acceptor.clone(),
                shared.clone(),
            )),
        ];
        Ok(FakeDiscord {
            shared,
            tls,
            tasks,
            rest_base: format!("http://127.0.0.1:{rest_port}"),
        })
    }
}

/// The fake Discord. Dropping it stops every server and fails the test if protocol violations were recorded.
pub struct FakeDiscord {
    pub(crate) shared: Arc<Shared>,
    tls: tls::TestTls,
    tasks: Vec<JoinHandle<()>>,
    rest_base: String,
}

/// Default bound for the bot's start (connect, READY, command registration) on a busy machine.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

impl FakeDiscord {
    /// Starts the fake with [`World::default`]. Panics if a port cannot be bound (nothing to test then).
    pub async fn start() -> Self {
        match Self::builder().start().await {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    pub fn builder() -> Builder {
        Builder {
            world: World::default(),
            heartbeat_interval: Duration::from_millis(41_250),
            interaction_deadline: Duration::from_secs(3),
            dave: true,
            gateway_limits: state::GatewayLimits::default(),
        }
    }

    /// The base URL for serenity's `HttpBuilder::proxy` / the bot's `discord.api_base` (no `/api/v10`: serenity
    /// keeps that part of the path).
    pub fn rest_base(&self) -> &str {
        &self.rest_base
    }

    /// The gateway URL `GET /gateway` returns.
    pub fn gateway_url(&self) -> &str {
        &self.shared.gateway_url
    }

    /// The test CA's PEM file, for the bot's `SSL_CERT_FILE`.
    pub fn ca_file(&self) -> &Path {
        &self.tls.ca_path
    }

    /// The test CA in PEM, for clients that take a root certificate directly.
    pub fn ca_pem(&self) -> &str {
        &self.tls.ca_pem
    }

    /// The bot token the fake accepts.
    pub fn token(&self) -> String {
        self.shared.hub.read(|st| st.world.token.clone())
    }

    /// The world as it is now (members' voice states included).
    pub fn world(&self) -> World {
        self.shared.hub.read(|st| st.world.clone())
    }

    /// Environment for a bot process: the token, the REST base (as `DISCORD_API_BASE` and
    /// `ALASTOR_DISCORD__API_BASE`) and `SSL_CERT_FILE` for the voice gateway's certificate.
    pub fn bot_env(&self) -> Vec<(String, String)> {
        vec![
            ("DISCORD_TOKEN".to_owned(), self.token()),
            ("DISCORD_API_BASE".to_owned(), self.rest_base.clone()),
            (
                "ALASTOR_DISCORD__API_BASE".to_owned(),
                self.rest_base.clone(),
            ),
            (
                "SSL_CERT_FILE".to_owned(),
                self.tls.ca_path.display().to_string(),
            ),
        ]
    }

    /// Spawns the bot with [`bot_env`](Self::bot_env) plus `env`; killed when the returned handle drops.
    pub fn spawn_bot(
        &self,
        program: impl AsRef<Path>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<BotProcess> {
        let mut all = self.bot_env();
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        BotProcess::spawn(&PathBuf::from(program.as_ref()), args, &all)
    }

    /// Waits until the bot identified, received its guilds and registered at least one command.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        self.shared
            .hub
            .wait(
                "the bot to identify and register its commands",
                timeout,
                |st| (st.gateway.ready_sent > 0 && st.commands.registrations > 0).then_some(()),
            )
            .await
    }

    /// Waits for a command registration and returns the registered commands (guild commands of `guild`, or global
    /// ones for `None`).
    pub async fn wait_commands_registered(
        &self,
        guild: Option<u64>,
        timeout: Duration,
    ) -> Result<Vec<Value>> {
        self.shared
            .hub
            .wait("command registration", timeout, |st| {
                let list = match guild {
                    Some(g) => st.commands.guild.get(&g),
                    None => (st.commands.registrations > 0).then_some(&st.commands.global),
                };
                list.filter(|l| !l.is_empty()).cloned()
            })
            .await
    }

    /// Registered commands: `Some(guild)` for that guild's, `None` for global ones.
    pub fn commands(&self, guild: Option<u64>) -> Vec<Value> {
        self.shared.hub.read(|st| match guild {
            Some(g) => st.commands.guild.get(&g).cloned().unwrap_or_default(),
            None => st.commands.global.clone(),
        })
    }

    pub fn guild(&self, id: u64) -> GuildHandle<'_> {
        GuildHandle::new(self, id)
    }

    pub fn gateway(&self) -> GatewayHandle<'_> {
        GatewayHandle::new(self)
    }

    pub fn rest(&self) -> RestHandle<'_> {
        RestHandle::new(self)
    }

    /// Every REST request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.hub.read(|st| st.requests.clone())
    }

    /// Violations recorded so far (still reported on drop).
    pub fn violations(&self) -> Vec<String> {
        self.shared.hub.read(|st| st.violations.clone())
    }

    /// Takes the violations so they are not reported on drop: for tests that provoke them on purpose.
    pub fn take_violations(&self) -> Vec<String> {
        self.shared
            .hub
            .update(|st| std::mem::take(&mut st.violations))
    }

    /// Every message the bot created (interaction responses, follow-ups, channel messages), oldest first.
    pub fn messages(&self) -> Vec<MessageRecord> {
        self.shared
            .hub
            .read(|st| st.messages.values().cloned().collect())
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let violations = self.violations();
        assert!(
            violations.is_empty() || std::thread::panicking(),
            "the fake Discord recorded {} protocol violation(s) (take them with `take_violations` if expected):\n  - {}",
            violations.len(),
            violations.join("\n  - ")
        );
    }
}

impl std::fmt::Debug for FakeDiscord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDiscord")
            .field("rest_base", &self.rest_base)
            .field("gateway_url", &self.shared.gateway_url)
            .field("voice_endpoint", &self.shared.voice_endpoint)
            .field("udp_port", &self.shared.udp_port)
            .finish_non_exhaustive()
    }
}
