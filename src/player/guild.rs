//! One guild's task: owns the session state, runs the core's transition function on every message and
//! executes the effects (songbird join/leave/play, hub attach, store writes, announcements, timers).
//!
//! Voice trouble: each songbird call gets a [`DriverEvents`] handler (once per call object) whose events come
//! back as [`Command::Driver`]; a [`Effect::Rejoin`] drops the dead connection and joins the same channel
//! again (see [`GuildTask::rejoin`]).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serenity::all::{ChannelId, MessageId};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::input::listener_input;
use super::notice::notice_key;
use super::voice_events::{DriverEvents, driver_retry, log_loss, loss_of_join_error};
use super::{PlayError, SessionStatus, Shared, UpstreamHealth, channel_id, guild_id};
use crate::audio::hub::UpstreamState;
use crate::core::guild::Volume;
use crate::core::ids::{ChannelKey, GuildKey};
use crate::core::player::{Effect, Event, Notice, Phase, Session, VoiceLoss};
use crate::core::send_budget::VoiceOp;
use crate::core::station::model::StationId;
use crate::discord::render;

/// How often the hub's upstream state is sampled for trouble/recovery.
const HEALTH_POLL: Duration = Duration::from_secs(1);

pub(crate) enum Command {
    Event(Event),
    /// A play request: answered with the channel once attached, or the join error.
    Play {
        event: Event,
        reply: oneshot::Sender<Result<ChannelKey, PlayError>>,
    },
    Stop {
        reply: oneshot::Sender<()>,
    },
    RecountListeners,
    OwnVoice(Option<ChannelKey>),
    /// A voice event from the [`DriverEvents`] handler of call number `generation`.
    Driver {
        generation: u64,
        event: Event,
    },
}

pub(crate) struct GuildTask {
    shared: Arc<Shared>,
    guild: GuildKey,
    session: Session,
    tx: mpsc::Sender<Command>,
    status: watch::Sender<Option<SessionStatus>>,
    idle_at: Option<tokio::time::Instant>,
    upstream_at: Option<tokio::time::Instant>,
    /// Watches the attached hub's titles and health; aborted on detach.
    watcher: Option<JoinHandle<()>>,
    pending_play: Option<oneshot::Sender<Result<ChannelKey, PlayError>>>,
    now_playing_message: Option<(ChannelId, MessageId)>,
    upstream: UpstreamHealth,
    rejoin_at: Option<tokio::time::Instant>,
    /// The text channel of the session as it was before the event being handled: a session that just ended
    /// (kicked, 4017, idle, upstream gave up) has none left, but its notice belongs there.
    text_channel_before: Option<ChannelKey>,
    /// The songbird call that has this task's [`DriverEvents`] handler, and its number.
    handled_call: Weak<tokio::sync::Mutex<songbird::Call>>,
    call_generation: u64,
}

impl GuildTask {
    pub(crate) fn spawn(
        shared: Arc<Shared>,
        guild: GuildKey,
        tx: mpsc::Sender<Command>,
        rx: mpsc::Receiver<Command>,
        status: watch::Sender<Option<SessionStatus>>,
    ) -> JoinHandle<()> {
        let settings = shared.store.settings(guild).unwrap_or_default();
        let session = Session::new(&settings, shared.timings);
        let task = Self {
            shared,
            guild,
            session,
            tx,
            status,
            idle_at: None,
            upstream_at: None,
            watcher: None,
            pending_play: None,
            now_playing_message: None,
            upstream: UpstreamHealth::Connecting,
            rejoin_at: None,
            text_channel_before: None,
            handled_call: Weak::new(),
            call_generation: 0,
        };
        tokio::spawn(task.run(rx))
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        loop {
            let idle = self.idle_at;
            let upstream = self.upstream_at;
            let rejoin = self.rejoin_at;
            let command = tokio::select! {
                c = rx.recv() => match c { Some(c) => c, None => break },
                () = sleep_until(idle) => { self.idle_at = None; Command::Event(Event::IdleTimerFired) }
                () = sleep_until(upstream) => { self.upstream_at = None; Command::Event(Event::UpstreamTimerFired) }
                () = sleep_until(rejoin) => { self.rejoin_at = None; Command::Event(Event::RejoinTimerFired) }
            };
            let shutdown = matches!(command, Command::Event(Event::Shutdown));
            self.command(command).await;
            if shutdown {
                break;
            }
        }
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Event(e) => self.feed(e).await,
            Command::Play { event, reply } => {
                if let Some(old) = self.pending_play.replace(reply) {
                    let _ = old.send(Err(PlayError::JoinFailed {
                        channel: ChannelKey(0),
                        reason: "superseded by a newer request".into(),
                    }));
                }
                self.feed(event).await;
                self.answer_play(None);
            }
            Command::Stop { reply } => {
                self.feed(Event::StopRequested).await;
                let _ = reply.send(());
            }
            Command::RecountListeners => {
                if let Some(channel) = self.session.channel() {
                    let n = self.shared.humans_in(self.guild, channel).len();
                    self.feed(Event::ListenersChanged(n)).await;
                }
            }
            Command::OwnVoice(channel) => match channel {
                Some(c) => self.feed(Event::VoiceMoved { channel: c }).await,
                // A disconnect we asked for (leave) finds the session idle already.
                None if self.session.phase() == Phase::Playing => {
                    self.feed(Event::VoiceKicked).await;
                }
                None => {}
            },
            Command::Driver { generation, event } => {
                // Events of a call this task already dropped (left, or replaced by a new join) are stale.
                if generation == self.call_generation {
                    self.feed(event).await;
                }
            }
        }
    }

    /// Answers a waiting play request once the session is playing or back to idle.
    fn answer_play(&mut self, failure: Option<PlayError>) {
        let outcome = match (self.session.phase(), failure) {
            (_, Some(e)) => Err(e),
            (Phase::Playing, None) => Ok(self.session.channel().unwrap_or(ChannelKey(0))),
            (Phase::Joining, None) => return,
            (Phase::Idle, None) => Err(PlayError::NotPlaying),
        };
        if let Some(reply) = self.pending_play.take() {
            let _ = reply.send(outcome);
        }
    }

    /// Runs the state machine on `event` and everything its effects feed back (join results).
    async fn feed(&mut self, event: Event) {
        match &event {
            Event::UpstreamDown => {
                self.upstream = UpstreamHealth::Retrying {
                    reason: "reconnecting to the station".into(),
                };
            }
            Event::UpstreamUp => self.upstream = UpstreamHealth::Playing,
            _ => {}
        }
        let mut queue = vec![event];
        while let Some(event) = queue.pop() {
            self.text_channel_before = self.session.text_channel();
            let (next, effects) = self
                .session
                .clone()
                .handle(event, tokio::time::Instant::now().into_std());
            self.session = next;
            for effect in effects {
                if let Some(back) = self.execute(effect).await {
                    queue.push(back);
                }
            }
        }
        self.publish();
    }

    async fn execute(&mut self, effect: Effect) -> Option<Event> {
        let Ok(gid) = guild_id(self.guild) else {
            return None;
        };
        match effect {
            Effect::Join(channel) => {
                let Ok(cid) = channel_id(channel) else {
                    return Some(Event::VoiceJoinFailed {
                        reason: "invalid channel".into(),
                    });
                };
                self.shared.pacer.acquire(self.guild, VoiceOp::Join).await;
                self.prepare_call(gid).await;
                match self.shared.songbird.join(gid, cid).await {
                    Ok(_) => Some(Event::VoiceJoined { channel }),
                    Err(e) => {
                        tracing::warn!(guild = %self.guild, %channel, error = %e, "voice join failed");
                        // A close code says more than songbird's debug text (4017: DAVE, 4021: rate limit).
                        let loss = loss_of_join_error(&e);
                        let reason = match &loss {
                            VoiceLoss::Other(_) => e.to_string(),
                            coded => {
                                log_loss(self.guild, coded, "voice join refused");
                                coded.to_string()
                            }
                        };
                        self.answer_play(Some(PlayError::JoinFailed {
                            channel,
                            reason: reason.clone(),
                        }));
                        Some(Event::VoiceJoinFailed { reason })
                    }
                }
            }
            Effect::Leave => {
                self.shared.pacer.acquire(self.guild, VoiceOp::Leave).await;
                if let Err(e) = self.shared.songbird.remove(gid).await {
                    tracing::debug!(guild = %self.guild, error = %e, "leave: not in voice");
                }
                None
            }
            Effect::Attach { station, volume } => {
                self.attach(&station, volume).await;
                // Listener counts for the (new) channel.
                self.session.channel().map(|channel| {
                    Event::ListenersChanged(self.shared.humans_in(self.guild, channel).len())
                })
            }
            Effect::SetVolume(volume) => {
                // Volumes are hub gain presets: re-attach on the matching hub (passthrough stays intact).
                if let Some(station) = self.session.station().cloned() {
                    self.attach(&station, volume).await;
                }
                None
            }
            Effect::Detach => {
                if let Some(w) = self.watcher.take() {
                    w.abort();
                }
                if let Some(call) = self.shared.songbird.get(gid) {
                    call.lock().await.stop();
                }
                None
            }
            Effect::Announce(notice) => {
                self.announce(&notice).await;
                None
            }
            Effect::EditNowPlaying { station, title } => {
                self.now_playing(&station, title.as_deref()).await;
                None
            }
            Effect::PersistResume(entry) => {
                if let Err(e) = self.shared.store.put_resume(self.guild, &entry) {
                    tracing::error!(guild = %self.guild, error = %e, "cannot persist the resume entry");
                }
                None
            }
            Effect::ClearResume => {
                if let Err(e) = self.shared.store.remove_resume(self.guild) {
                    tracing::error!(guild = %self.guild, error = %e, "cannot remove the resume entry");
                }
                None
            }
            Effect::ArmIdleTimer(at) => {
                self.idle_at = Some(to_tokio(at));
                None
            }
            Effect::CancelIdleTimer => {
                self.idle_at = None;
                None
            }
            Effect::ArmUpstreamTimer(at) => {
                self.upstream_at = Some(to_tokio(at));
                None
            }
            Effect::Rejoin(channel) => Some(self.rejoin(gid, channel).await),
            Effect::ArmRejoinTimer(at) => {
                self.rejoin_at = Some(to_tokio(at));
                None
            }
        }
    }

    /// The guild's songbird call, created if needed, with this task's [`DriverEvents`] handler on it and the
    /// bot's connection retries (`driver_retry`). A call object gets the handler once; a new one (after a
    /// leave removed the old) gets a new generation, so the old one's late events are ignored.
    async fn prepare_call(&mut self, gid: songbird::id::GuildId) {
        let call = self.shared.songbird.get_or_insert(gid);
        if self
            .handled_call
            .upgrade()
            .is_some_and(|handled| Arc::ptr_eq(&handled, &call))
        {
            return;
        }
        self.call_generation += 1;
        self.handled_call = Arc::downgrade(&call);
        let mut handler = call.lock().await;
        let mut config = handler.config().clone();
        config.driver_retry = driver_retry();
        handler.set_config(config);
        for event in [
            songbird::CoreEvent::DriverDisconnect,
            songbird::CoreEvent::DriverReconnect,
            songbird::CoreEvent::DriverConnect,
        ] {
            handler.add_global_event(
                songbird::Event::Core(event),
                DriverEvents {
                    tx: self.tx.clone(),
                    guild: self.guild,
                    generation: self.call_generation,
                },
            );
        }
    }

    /// A fresh join of `channel` after the voice connection died: drop the dead connection's details (an
    /// expired session id and token) from the call without telling the gateway, then join the same channel
    /// again. The op 4 for the channel the bot is still in makes Discord send a new `VOICE_STATE_UPDATE` and
    /// `VOICE_SERVER_UPDATE` (what discord.js's `rejoin()` relies on); leaving first would make the gateway's
    /// "left" echo cancel the new join. The station's track stays on the call and plays on once connected.
    async fn rejoin(&mut self, gid: songbird::id::GuildId, channel: ChannelKey) -> Event {
        let Ok(cid) = channel_id(channel) else {
            return Event::VoiceLost(VoiceLoss::Other("invalid channel".into()));
        };
        // A fresh join is an op 4 like any other: it waits for the shard's send budget.
        self.shared.pacer.acquire(self.guild, VoiceOp::Join).await;
        self.prepare_call(gid).await;
        if let Some(call) = self.shared.songbird.get(gid) {
            call.lock()
                .await
                .update_state(String::new(), None::<songbird::id::ChannelId>);
        }
        tracing::info!(guild = %self.guild, %channel, attempt = self.session.rejoins(), "rejoining voice");
        match self.shared.songbird.join(gid, cid).await {
            Ok(_) => {
                tracing::info!(guild = %self.guild, %channel, "voice rejoined");
                Event::VoiceRestored
            }
            Err(e) => {
                let loss = loss_of_join_error(&e);
                log_loss(self.guild, &loss, "voice rejoin failed");
                Event::VoiceLost(loss)
            }
        }
    }

    async fn attach(&mut self, id: &StationId, volume: Volume) {
        let Ok(gid) = guild_id(self.guild) else {
            return;
        };
        let Some(station) = self.shared.station(id) else {
            tracing::warn!(guild = %self.guild, station = %id, "attach: station left the catalog");
            return;
        };
        let listener = self.shared.hubs.attach(&station, volume.percent());
        let input = match listener_input(listener) {
            Ok(input) => input,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the voice input");
                return;
            }
        };
        let Some(call) = self.shared.songbird.get(gid) else {
            tracing::warn!(guild = %self.guild, "attach: no voice call");
            return;
        };
        // play_only replaces the previous track without firing its End event (a clean station switch).
        call.lock().await.play_only_input(input);
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
        self.upstream = UpstreamHealth::Connecting;
        self.watcher = Some(spawn_watcher(
            Arc::clone(&self.shared),
            id.clone(),
            self.tx.clone(),
        ));
    }

    /// `key` in the guild's language (its setup choice, else English: a channel has no member locale).
    fn text(&self, key: &str, args: &[(&'static str, String)]) -> String {
        let settings = self.shared.store.settings(self.guild).unwrap_or_default();
        let locale = self.shared.locales.resolve(settings.locale.as_ref(), None);
        let args: Vec<(&str, crate::core::locale::Arg)> = args
            .iter()
            .map(|(name, value)| (*name, crate::core::locale::Arg::from(value.as_str())))
            .collect();
        self.shared.locales.text(&locale, key, &args)
    }

    fn announce_channel(&self) -> Option<ChannelId> {
        let settings = self.shared.store.settings(self.guild).unwrap_or_default();
        settings
            .announce_channel
            .or_else(|| self.session.text_channel())
            .or(self.text_channel_before)
            .filter(|c| c.0 != 0)
            .map(|c| ChannelId::new(c.0))
    }

    async fn announce(&self, notice: &Notice) {
        let Some(channel) = self.announce_channel() else {
            return;
        };
        let name = self
            .session
            .station()
            .and_then(|id| self.shared.station(id))
            .map(|s| s.name.clone());
        let name = name.map(|n| render::untrusted(&n, MAX_NAME_IN_TEXT));
        let (key, mut args) = notice_key(notice, name.as_deref());
        for (arg, value) in &mut args {
            // The reason quotes upstream errors (URLs, server text).
            if *arg == "reason" {
                *value = render::untrusted(value, MAX_TITLE_IN_TEXT);
            }
        }
        let text = render::untrusted_frame(&self.text(key, &args), render::MAX_CONTENT);
        if let Err(e) = channel
            .send_message(&self.shared.http, render::channel_message().content(text))
            .await
        {
            tracing::warn!(guild = %self.guild, error = %e, "cannot post a notice");
        }
    }

    /// Posts the "now playing" message once per session and edits it on title changes.
    async fn now_playing(&mut self, station: &StationId, title: Option<&str>) {
        let Some(channel) = self.announce_channel() else {
            return;
        };
        let name = self
            .shared
            .station(station)
            .map_or_else(|| station.to_string(), |s| s.name.clone());
        // Both come from third parties (the pack, the station's stream): escaped and cut so the
        // message fits Discord's 2,000 characters whatever the station sends.
        let name = render::untrusted(&name, MAX_NAME_IN_TEXT);
        let text = match title {
            Some(t) => self.text(
                "player-now-playing-title",
                &[
                    ("station", name.clone()),
                    ("title", render::untrusted(t, MAX_TITLE_IN_TEXT)),
                ],
            ),
            None => self.text("player-now-playing", &[("station", name.clone())]),
        };
        let text = render::untrusted_frame(&text, render::MAX_CONTENT);
        if let Some((c, m)) = self.now_playing_message
            && c == channel
        {
            let edit = c
                .edit_message(&self.shared.http, m, render::channel_edit().content(&text))
                .await;
            if edit.is_ok() {
                return;
            }
        }
        match channel
            .send_message(&self.shared.http, render::channel_message().content(text))
            .await
        {
            Ok(message) => self.now_playing_message = Some((channel, message.id)),
            Err(e) => tracing::warn!(guild = %self.guild, error = %e, "cannot post now playing"),
        }
    }

    fn publish(&mut self) {
        if self.session.phase() == Phase::Idle {
            self.now_playing_message = None;
        }
        let snapshot = match (self.session.station(), self.session.channel()) {
            (Some(station), Some(channel)) => {
                // This guild's own hub: another volume preset of the station is another upstream.
                let gain = crate::audio::manager::gain_preset(
                    self.session.volume().unwrap_or_default().percent(),
                );
                let format = self
                    .shared
                    .hubs
                    .stats()
                    .into_iter()
                    .find(|h| &h.station == station && h.gain_percent == gain)
                    .and_then(|h| h.format);
                Some(SessionStatus {
                    station: station.clone(),
                    title: self.session.title().map(str::to_owned),
                    since: self
                        .session
                        .since()
                        .unwrap_or(std::time::SystemTime::UNIX_EPOCH),
                    volume: self.session.volume().unwrap_or_default(),
                    channel,
                    started_by: self.session.started_by(),
                    playing: self.session.phase() == Phase::Playing,
                    bitrate: format
                        .as_ref()
                        .and_then(|f| f.bitrate)
                        .or_else(|| self.shared.station(station).and_then(|s| s.bitrate)),
                    sample_rate: format.as_ref().and_then(|f| f.sample_rate),
                    channels: format.as_ref().and_then(|f| f.channels),
                    codec: format.map(|f| codec_label(&f.codec)),
                    upstream: self.upstream.clone(),
                })
            }
            _ => None,
        };
        self.status.send_replace(snapshot);
    }
}

/// Forwards the hub's title changes and upstream health to the guild task.
fn spawn_watcher(
    shared: Arc<Shared>,
    station: StationId,
    tx: mpsc::Sender<Command>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut titles = shared.hubs.titles(&station);
        let mut down: Option<bool> = None;
        let mut poll = tokio::time::interval(HEALTH_POLL);
        loop {
            let title_changed = async {
                match titles.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ok = title_changed => {
                    if !ok { titles = None; continue; }
                    let title = titles.as_mut().and_then(|rx| rx.borrow_and_update().clone());
                    if tx.send(Command::Event(Event::TitleChanged(title))).await.is_err() { return; }
                }
                _ = poll.tick() => {
                    let state = shared.hubs.stats().into_iter()
                        .find(|h| h.station == station)
                        .map(|h| h.state);
                    // Anything but Playing counts as down (Connecting/Buffering/Retrying alternate during an
                    // outage); the core only tells users after `notice_after`, so a normal start is silent.
                    let now_down = !matches!(state, Some(UpstreamState::Playing { .. }));
                    if state.is_some() && down != Some(now_down) {
                        down = Some(now_down);
                        let event = if now_down { Event::UpstreamDown } else { Event::UpstreamUp };
                        if tx.send(Command::Event(event)).await.is_err() { return; }
                    }
                }
            }
        }
    })
}

/// Station names are at most 100 characters in packs; escaping can double that.
const MAX_NAME_IN_TEXT: usize = 200;
/// Room left for a title in a 2,000-character message after the template and the name.
const MAX_TITLE_IN_TEXT: usize = 1_500;

/// The badge for a decoder's codec name (`mp3` → `MP3`); unknown names pass through.
fn codec_label(decoder_name: &str) -> String {
    crate::core::station::Codec::parse(decoder_name).map_or_else(
        || decoder_name.to_ascii_uppercase(),
        |c| c.label().to_owned(),
    )
}

fn to_tokio(at: Instant) -> tokio::time::Instant {
    tokio::time::Instant::from_std(at)
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
