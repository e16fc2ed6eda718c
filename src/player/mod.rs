//! The Discord-side playback service: executes the core's per-guild session effects with songbird and the
//! station hubs (`crate::audio`).
//!
//! One tokio task per guild owns that guild's [`Session`](crate::core::player::Session) (no lock is held
//! across an `.await`): commands, voice-state changes, hub title/health changes and timers all arrive as
//! messages on its channel. [`Playback`] is the cheap, cloneable handle the bot's commands and event
//! handler call.

mod guild;
pub mod input;
pub mod notice;
mod pacer;
mod voice_events;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::audio::hub::HubConfig;
use crate::audio::manager::HubManager;
use crate::audio::preflight::{PreflightBudget, Target, preflight};
use crate::audio::station_source::HttpSource;
use crate::audio::upstream::connect::http_client;
use crate::config::PlaybackConfig;
use crate::core::guild::Volume;
use crate::core::ids::{ChannelKey, GuildKey, UserKey};
use crate::core::player::{Event, Timings};
use crate::core::send_budget::VoiceOp;
use crate::core::station::model::{Station, StationId};
use crate::core::station::reload::StationLibrary;
use crate::core::store::Store;

use guild::{Command, GuildTask};
pub use notice::{Keyed, error_key, notice_key, render_notice};

/// How many similar stations a failed play suggests.
const SIMILAR: usize = 3;
/// How long a shard's resume waits for its guilds' `GUILD_CREATE` (their voice states order the resume).
const GUILDS_AVAILABLE_WAIT: Duration = Duration::from_secs(10);
/// How long the resume waits for a guild's join to queue on its shard before it resumes the next guild.
const JOIN_QUEUED_WAIT: Duration = Duration::from_secs(2);

/// What `/radio play` asks for (after the policy check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayRequest {
    pub guild: GuildKey,
    pub voice_channel: ChannelKey,
    pub text_channel: Option<ChannelKey>,
    pub station: StationId,
    pub requested_by: UserKey,
    /// `None`: the guild's default volume.
    pub volume: Option<Volume>,
}

/// What started playing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NowPlaying {
    pub station: StationId,
    pub name: String,
    pub channel: ChannelKey,
    pub volume: Volume,
}

/// Where the station's upstream is, for `/radio info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamHealth {
    Connecting,
    Playing,
    Retrying { reason: String },
}

/// A snapshot of one guild's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStatus {
    pub station: StationId,
    pub title: Option<String>,
    pub since: SystemTime,
    pub volume: Volume,
    pub channel: ChannelKey,
    /// Who started the session (`None` for resumed 24-7 sessions).
    pub started_by: Option<UserKey>,
    pub playing: bool,
    /// As the station's hub decodes it (not as the pack says).
    pub codec: Option<String>,
    pub bitrate: Option<u32>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub upstream: UpstreamHealth,
}

/// Voice-state changes the bot's event handler forwards (from `VoiceStateUpdate` and `GuildCreate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoiceEvent {
    /// A member (not this bot) is now in `channel` (`None`: left voice).
    Member {
        guild: GuildKey,
        user: UserKey,
        is_bot: bool,
        channel: Option<ChannelKey>,
    },
    /// This bot's own voice state (`None`: disconnected).
    Own {
        guild: GuildKey,
        channel: Option<ChannelKey>,
    },
}

/// Why playback could not start or change. `user_message` tells the user what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlayError {
    #[error("station `{0}` is not in the catalog")]
    UnknownStation(StationId),
    /// The preflight failed: the bot offers Retry and the `similar` stations.
    #[error("station `{station}` did not answer with audio: {reason}")]
    Unreachable {
        station: StationId,
        name: String,
        reason: String,
        similar: Vec<(StationId, String)>,
    },
    #[error("could not join voice channel {channel}: {reason}")]
    JoinFailed { channel: ChannelKey, reason: String },
    #[error("nothing is playing in this server")]
    NotPlaying,
    #[error("invalid {what} id 0")]
    BadId { what: &'static str },
    #[error("the player is shutting down")]
    ShuttingDown,
}

impl PlayError {
    /// A sentence for the user (English; the bot's renderer localizes by variant).
    pub fn user_message(&self) -> String {
        match self {
            Self::UnknownStation(id) => format!("I don't know a station called `{id}`."),
            Self::Unreachable { name, reason, .. } => {
                format!("{name} isn't reachable right now: {reason}")
            }
            Self::JoinFailed { reason, .. } => {
                format!("I couldn't join that voice channel: {reason}")
            }
            Self::NotPlaying => "Nothing is playing.".to_owned(),
            Self::BadId { .. } | Self::ShuttingDown => {
                "Playback is unavailable right now; try again in a minute.".to_owned()
            }
        }
    }
}

struct GuildHandle {
    tx: mpsc::Sender<Command>,
    status: watch::Receiver<Option<SessionStatus>>,
    task: JoinHandle<()>,
}

pub(crate) struct Shared {
    pub(crate) songbird: Arc<songbird::Songbird>,
    pub(crate) http: Arc<serenity::http::Http>,
    pub(crate) store: Store,
    pub(crate) library: Arc<StationLibrary>,
    /// Notices and "now playing" messages are posted in the guild's language.
    pub(crate) locales: Arc<crate::core::locale::Locales>,
    pub(crate) hubs: HubManager,
    pub(crate) cfg: PlaybackConfig,
    /// `stations.allow_private_targets`, for the preflight's connections.
    pub(crate) allow_private_targets: bool,
    pub(crate) timings: Timings,
    guilds: Mutex<HashMap<GuildKey, GuildHandle>>,
    /// Humans in voice per guild (user → channel), from forwarded voice states.
    voice: Mutex<HashMap<GuildKey, HashMap<UserKey, ChannelKey>>>,
    closing: std::sync::atomic::AtomicBool,
    /// Every op 4 (join, leave) waits here for its shard's gateway budget.
    pub(crate) pacer: pacer::VoicePacer,
    /// Guilds whose `GUILD_CREATE` arrived (their members' voice states are known).
    available: watch::Sender<HashSet<GuildKey>>,
}

impl Shared {
    pub(crate) fn station(&self, id: &StationId) -> Option<Arc<Station>> {
        self.library.snapshot().catalog.get(id).cloned()
    }

    pub(crate) fn humans_in(&self, guild: GuildKey, channel: ChannelKey) -> Vec<UserKey> {
        let voice = self.voice.lock().unwrap_or_else(PoisonError::into_inner);
        voice.get(&guild).map_or_else(Vec::new, |members| {
            let mut users: Vec<UserKey> = members
                .iter()
                .filter(|(_, c)| **c == channel)
                .map(|(u, _)| *u)
                .collect();
            users.sort_unstable();
            users
        })
    }
}

/// The playback service handle (cheap to clone).
#[derive(Clone)]
pub struct Playback {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback")
            .field("sessions", &self.active_sessions())
            .finish_non_exhaustive()
    }
}

pub(crate) fn guild_id(guild: GuildKey) -> Result<songbird::id::GuildId, PlayError> {
    NonZeroU64::new(guild.0)
        .map(songbird::id::GuildId)
        .ok_or(PlayError::BadId { what: "guild" })
}

pub(crate) fn channel_id(channel: ChannelKey) -> Result<songbird::id::ChannelId, PlayError> {
    NonZeroU64::new(channel.0)
        .map(songbird::id::ChannelId)
        .ok_or(PlayError::BadId { what: "channel" })
}

impl Playback {
    /// Builds the service. Hubs use the real HTTP upstream (`audio::station_source::HttpSource`).
    pub fn new(
        songbird: Arc<songbird::Songbird>,
        http: Arc<serenity::http::Http>,
        store: Store,
        library: Arc<StationLibrary>,
        locales: Arc<crate::core::locale::Locales>,
        config: &crate::config::Config,
    ) -> Result<Self, crate::audio::source::SourceError> {
        let (cfg, allow_private_targets) =
            (&config.playback, config.stations.allow_private_targets);
        let hub_config = HubConfig::default();
        let source = HttpSource::new(crate::audio::upstream::connect::ConnectOptions {
            connect_timeout: hub_config.connect_timeout,
            stall_timeout: hub_config.stall_timeout,
            allow_private_targets,
            ..Default::default()
        })?;
        let hubs = HubManager::new(Arc::new(source), hub_config);
        Ok(Self {
            shared: Arc::new(Shared {
                songbird,
                http,
                store,
                library,
                locales,
                hubs,
                timings: Timings {
                    notice_after: cfg.upstream_notice_after,
                    give_up_after: cfg.upstream_give_up_after,
                },
                cfg: cfg.clone(),
                allow_private_targets,
                guilds: Mutex::default(),
                voice: Mutex::default(),
                closing: std::sync::atomic::AtomicBool::new(false),
                pacer: pacer::VoicePacer::new(cfg.resume_spacing),
                available: watch::Sender::new(HashSet::new()),
            }),
        })
    }

    /// The hub manager (for `/info` stats).
    pub fn hubs(&self) -> &HubManager {
        &self.shared.hubs
    }

    fn handle(&self, guild: GuildKey) -> Result<mpsc::Sender<Command>, PlayError> {
        if self
            .shared
            .closing
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return Err(PlayError::ShuttingDown);
        }
        let mut guilds = self
            .shared
            .guilds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = guilds.get(&guild)
            && !h.task.is_finished()
        {
            return Ok(h.tx.clone());
        }
        let (tx, rx) = mpsc::channel(64);
        let (status_tx, status_rx) = watch::channel(None);
        let task = GuildTask::spawn(Arc::clone(&self.shared), guild, tx.clone(), rx, status_tx);
        guilds.insert(
            guild,
            GuildHandle {
                tx: tx.clone(),
                status: status_rx,
                task,
            },
        );
        Ok(tx)
    }

    fn existing(&self, guild: GuildKey) -> Option<mpsc::Sender<Command>> {
        let guilds = self
            .shared
            .guilds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        guilds.get(&guild).map(|h| h.tx.clone())
    }

    /// Preflights the station, joins the channel and attaches the station. Resolves once audio is attached
    /// (or the join failed).
    pub async fn play(&self, req: PlayRequest) -> Result<NowPlaying, PlayError> {
        guild_id(req.guild)?;
        channel_id(req.voice_channel)?;
        let station = self
            .shared
            .station(&req.station)
            .ok_or_else(|| PlayError::UnknownStation(req.station.clone()))?;
        if self.shared.cfg.preflight {
            self.preflight(&station).await?;
        }
        let settings = self.shared.store.settings(req.guild).unwrap_or_default();
        let volume = req
            .volume
            .unwrap_or(settings.default_volume)
            .capped(settings.max_volume);
        let tx = self.handle(req.guild)?;
        // The session may predate a /setup change: bring it up to date before it decides anything.
        tx.send(Command::Event(settings_event(&settings)))
            .await
            .map_err(|_| PlayError::ShuttingDown)?;
        let (reply, answer) = oneshot::channel();
        let event = Event::PlayRequested {
            station: station.id.clone(),
            channel: req.voice_channel,
            text_channel: req.text_channel,
            requested_by: req.requested_by,
            volume,
            since: SystemTime::now(),
        };
        tx.send(Command::Play { event, reply })
            .await
            .map_err(|_| PlayError::ShuttingDown)?;
        let channel = answer.await.map_err(|_| PlayError::ShuttingDown)??;
        // Counted once, here: every successful play (command, buttons, choose) passes this point. The write
        // is fsync'd, so it runs on the blocking pool and the reply does not wait for the disk.
        let store = self.shared.store.clone();
        let (guild, id) = (req.guild, station.id.clone());
        tokio::task::spawn_blocking(move || {
            if let Err(e) = store.record_play(guild, &id) {
                tracing::warn!(guild = %guild, error = %e, "could not record the play count");
            }
        });
        Ok(NowPlaying {
            station: station.id.clone(),
            name: station.name.clone(),
            channel,
            volume,
        })
    }

    async fn preflight(&self, station: &Station) -> Result<(), PlayError> {
        let budget = PreflightBudget {
            timeout: self.shared.cfg.preflight_timeout,
            decode: self.shared.cfg.preflight_decode,
            allow_private_targets: self.shared.allow_private_targets,
        };
        let client =
            http_client(&budget.connect_options()).map_err(|e| PlayError::Unreachable {
                station: station.id.clone(),
                name: station.name.clone(),
                reason: e.to_string(),
                similar: Vec::new(),
            })?;
        let report = preflight(&client, &Target::from(station), budget).await;
        if report.ok {
            return Ok(());
        }
        let reason = report.failure.as_ref().map_or_else(
            || "no audio within the time limit".to_owned(),
            crate::audio::preflight::Failure::user_message,
        );
        Err(PlayError::Unreachable {
            station: station.id.clone(),
            name: station.name.clone(),
            reason,
            similar: self.similar(station),
        })
    }

    /// Up to [`SIMILAR`] other stations sharing the station's tags (or name words).
    fn similar(&self, station: &Station) -> Vec<(StationId, String)> {
        let snapshot = self.shared.library.snapshot();
        let query = if station.tags.is_empty() {
            station.name.clone()
        } else {
            station.tags.join(" ")
        };
        snapshot
            .index
            .search(&query, SIMILAR + 1)
            .into_iter()
            .filter(|hit| hit.id != station.id)
            .take(SIMILAR)
            .map(|hit| (hit.id, hit.name))
            .collect()
    }

    /// Tells a running session that the guild's settings changed (24-7 mode, idle timeout, announcements).
    /// `/setup` calls this after saving.
    pub async fn settings_changed(&self, guild: GuildKey) {
        let Some(tx) = self.existing(guild) else {
            return;
        };
        match self.shared.store.settings(guild) {
            Ok(settings) => {
                let _ = tx.send(Command::Event(settings_event(&settings))).await;
            }
            Err(e) => tracing::warn!(%guild, error = %e, "cannot read settings for the session"),
        }
    }

    /// Stops and leaves; the resume entry is removed.
    pub async fn stop(&self, guild: GuildKey) -> Result<(), PlayError> {
        if self.status(guild).is_none() {
            return Err(PlayError::NotPlaying);
        }
        let tx = self.existing(guild).ok_or(PlayError::NotPlaying)?;
        let (reply, answer) = oneshot::channel();
        tx.send(Command::Stop { reply })
            .await
            .map_err(|_| PlayError::NotPlaying)?;
        answer.await.map_err(|_| PlayError::NotPlaying)
    }

    pub async fn set_volume(&self, guild: GuildKey, v: Volume) -> Result<(), PlayError> {
        if self.status(guild).is_none() {
            return Err(PlayError::NotPlaying);
        }
        let tx = self.existing(guild).ok_or(PlayError::NotPlaying)?;
        tx.send(Command::Event(Event::VolumeChanged(v)))
            .await
            .map_err(|_| PlayError::NotPlaying)
    }

    pub fn status(&self, guild: GuildKey) -> Option<SessionStatus> {
        let guilds = self
            .shared
            .guilds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        guilds.get(&guild).and_then(|h| h.status.borrow().clone())
    }

    /// Who may control the session (the policy's view).
    pub fn session_view(&self, guild: GuildKey) -> Option<SessionView> {
        let status = self.status(guild)?;
        Some(SessionView {
            started_by: status.started_by,
            humans_in_channel: self.shared.humans_in(guild, status.channel),
        })
    }

    pub fn active_sessions(&self) -> usize {
        let guilds = self
            .shared
            .guilds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        guilds
            .values()
            .filter(|h| h.status.borrow().is_some())
            .count()
    }

    /// Forwarded voice-state changes: keeps the human count per channel and tells the guild's session.
    pub async fn on_voice_state(&self, ev: VoiceEvent) {
        match ev {
            VoiceEvent::Member {
                guild,
                user,
                is_bot,
                channel,
            } => {
                if is_bot {
                    return;
                }
                {
                    let mut voice = self
                        .shared
                        .voice
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    let members = voice.entry(guild).or_default();
                    match channel {
                        Some(c) => members.insert(user, c),
                        None => members.remove(&user),
                    };
                }
                if let Some(tx) = self.existing(guild) {
                    let _ = tx.send(Command::RecountListeners).await;
                }
            }
            VoiceEvent::Own { guild, channel } => {
                if let Some(tx) = self.existing(guild) {
                    let _ = tx.send(Command::OwnVoice(channel)).await;
                }
            }
        }
    }

    /// A gateway shard received READY (`total`: the shard count it identified with).
    pub fn shard_ready(&self, shard: u32, total: u32) {
        self.shared.pacer.shard_ready(shard, total);
    }

    /// A guild's `GUILD_CREATE` arrived (after its voice states were forwarded).
    pub fn guild_available(&self, guild: GuildKey) {
        self.shared.available.send_modify(|a| {
            a.insert(guild);
        });
    }

    /// Waits for a gateway budget slot to leave `guild`'s voice channel outside a session (shutdown's
    /// clean-up of calls no session owns).
    pub async fn pace_leave(&self, guild: GuildKey) {
        self.shared.pacer.acquire(guild, VoiceOp::Leave).await;
    }

    /// Rejoins every guild with a resume entry. Each shard resumes its own guilds in parallel with the others,
    /// guilds with listeners in the channel first; the joins are paced by the shard's gateway budget (see
    /// [`crate::core::send_budget`]).
    pub async fn resume_all(&self) {
        let entries = match self.shared.store.resume_entries() {
            Ok(entries) => entries,
            Err(e) => {
                tracing::error!(error = %e, "cannot read resume entries; nothing resumed");
                return;
            }
        };
        let shards = self.shared.pacer.shard_count();
        tracing::info!(guilds = entries.len(), shards, "resuming playback");
        let mut by_shard: HashMap<u32, Vec<(GuildKey, crate::core::guild::ResumeEntry)>> =
            HashMap::new();
        for (guild, entry) in entries {
            by_shard
                .entry(self.shared.pacer.shard_of(guild))
                .or_default()
                .push((guild, entry));
        }
        let lanes: Vec<_> = by_shard
            .into_iter()
            .map(|(shard, entries)| {
                let playback = self.clone();
                tokio::spawn(async move { playback.resume_shard(shard, entries).await })
            })
            .collect();
        for lane in lanes {
            let _ = lane.await;
        }
    }

    async fn resume_shard(
        &self,
        shard: u32,
        mut entries: Vec<(GuildKey, crate::core::guild::ResumeEntry)>,
    ) {
        self.shared.pacer.wait_shard_ready(shard).await;
        // The listeners are known once the guilds' GUILD_CREATE arrived: wait for them (bounded).
        let mut available = self.shared.available.subscribe();
        let all_available = available.wait_for(|a| entries.iter().all(|(g, _)| a.contains(g)));
        if tokio::time::timeout(GUILDS_AVAILABLE_WAIT, all_available)
            .await
            .is_err()
        {
            tracing::warn!(
                shard,
                "not every resumed guild arrived in {GUILDS_AVAILABLE_WAIT:?}; resuming anyway"
            );
        }
        // Listeners first (most first); otherwise the store's order. Stable, so ties keep it.
        entries.sort_by_cached_key(|(guild, entry)| {
            std::cmp::Reverse(self.shared.humans_in(*guild, entry.voice_channel).len())
        });
        let mut asked = self.shared.pacer.asked(shard);
        for (guild, entry) in entries {
            if self.shared.station(&entry.station).is_none() {
                tracing::warn!(%guild, station = %entry.station, "resume: station no longer in the catalog");
                let _ = self.shared.store.remove_resume(guild);
                continue;
            }
            let Ok(tx) = self.handle(guild) else { return };
            asked.borrow_and_update();
            let _ = tx.send(Command::Event(Event::Resume(entry))).await;
            // The shard's queue is FIFO: let this guild's join queue before the next guild's (keeps the order).
            let _ = tokio::time::timeout(JOIN_QUEUED_WAIT, asked.changed()).await;
        }
    }

    /// Starts a 24-7 guild in its configured channel when it has no session and no resume entry (the bot
    /// calls this for each guild on `GuildCreate`; the store has no index of 24-7 guilds). The station is the
    /// guild's first favourite, else its most played one; a guild with neither has nothing to play yet.
    pub async fn ensure_always_on(&self, guild: GuildKey) {
        let store = &self.shared.store;
        let Ok(settings) = store.settings(guild) else {
            return;
        };
        let (true, Some(channel)) = (settings.always_on, settings.voice_channel) else {
            return;
        };
        let resuming = store
            .resume_entries()
            .is_ok_and(|entries| entries.iter().any(|(g, _)| *g == guild));
        if resuming || self.status(guild).is_some() {
            return;
        }
        let favourite = store
            .favourites(guild)
            .ok()
            .and_then(|f| f.as_slice().first().cloned());
        let station = favourite.or_else(|| {
            store
                .most_played(guild, 1)
                .ok()
                .and_then(|top| top.into_iter().next().map(|(id, _)| id))
        });
        let Some(station) = station.filter(|id| self.shared.station(id).is_some()) else {
            tracing::info!(%guild, "24-7 mode on, but no favourite or played station to start with");
            return;
        };
        let entry = crate::core::guild::ResumeEntry {
            voice_channel: channel,
            station,
            volume: settings.default_volume,
            text_channel: settings.announce_channel,
            started_by: None,
            since: SystemTime::now(),
            title: None,
        };
        if let Ok(tx) = self.handle(guild) {
            let _ = tx.send(Command::Event(Event::Resume(entry))).await;
        }
    }

    /// Leaves every voice channel (keeping resume entries) and waits for the sessions up to `deadline`.
    pub async fn shutdown(&self, deadline: Duration) {
        self.shared
            .closing
            .store(true, std::sync::atomic::Ordering::Release);
        let handles: Vec<(mpsc::Sender<Command>, JoinHandle<()>)> = {
            let mut guilds = self
                .shared
                .guilds
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            guilds.drain().map(|(_, h)| (h.tx, h.task)).collect()
        };
        let work = async {
            for (tx, _) in &handles {
                let _ = tx.send(Command::Event(Event::Shutdown)).await;
            }
            for (tx, task) in handles {
                drop(tx);
                let _ = task.await;
            }
        };
        if tokio::time::timeout(deadline, work).await.is_err() {
            tracing::warn!(
                ?deadline,
                "some voice sessions did not end before the deadline"
            );
        }
        self.shared.hubs.shutdown();
    }
}

pub use crate::core::player::Notice;

fn settings_event(settings: &crate::core::guild::GuildSettings) -> Event {
    Event::SettingsChanged {
        always_on: settings.always_on,
        idle_timeout: settings.idle_timeout,
        announce: settings.announce_now_playing,
    }
}

/// The policy's view of a session: `Playback::session_view` answers in the core's type.
pub use crate::core::policy::SessionView;
