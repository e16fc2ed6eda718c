//! One guild's playback session: phases, events, effects and the transition function.
//!
//! Phases: `Idle` (not in voice) → `Joining` (asked the gateway to join, station chosen) → `Playing` (in voice,
//! the station's listener attached). The executor reports the gateway's answer with `VoiceJoined` /
//! `VoiceJoinFailed`; timers come back as `IdleTimerFired` / `UpstreamTimerFired` and are validated against
//! the deadline stored here, so a stale timer is harmless.
//!
//! Voice trouble while `Playing` (the media connection dropped, see [`VoiceLoss`]) keeps the phase and the
//! attached station: the session waits ([`Effect::ArmRejoinTimer`]), asks for a fresh join
//! ([`Effect::Rejoin`]) with a backoff per kind of loss, and is back to normal on `VoiceRestored`. A 4014 ends
//! the session after [`DISCONNECT_GRACE`](super::voice::DISCONNECT_GRACE) unless the gateway moves the bot;
//! 4017 (DAVE required) ends it at once; too many rejoins in one run give up.

use std::time::{Duration, Instant, SystemTime};

use crate::core::guild::{GuildSettings, ResumeEntry, Volume};
use crate::core::ids::{ChannelKey, UserKey};
use crate::core::station::model::StationId;

use super::voice::{DISCONNECT_GRACE, MAX_REJOINS, STABLE_AFTER, VoiceLoss, rejoin_delay};

/// Where a session is. INVARIANT (checked by [`Session::check`]): a station is attached only while `Playing`,
/// and `Playing`/`Joining` always have a channel and a station; `Idle` has neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Joining,
    Playing,
}

/// How long upstream trouble is tolerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Tell the channel once after the upstream has been down this long (short blips stay silent).
    pub notice_after: Duration,
    /// Give up (detach, leave, clear resume) after the upstream has been down this long.
    pub give_up_after: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            notice_after: Duration::from_secs(10),
            give_up_after: Duration::from_secs(5 * 60),
        }
    }
}

/// Something the session tells a guild's channel. Rendered (localized) by the Discord side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The station has been unreachable for a while; still retrying.
    UpstreamTrouble { station: StationId },
    /// The station is back after a told outage.
    UpstreamRecovered { station: StationId },
    /// The station stayed down too long; playback stopped.
    UpstreamGaveUp { station: StationId },
    /// Nobody listened for the guild's idle timeout; the bot left.
    LeftIdle,
    /// Someone disconnected the bot from voice.
    Disconnected,
    /// Joining the voice channel failed (missing permission, channel gone, gateway timeout).
    JoinFailed { channel: ChannelKey, reason: String },
    /// Discord requires end-to-end encrypted voice (DAVE) and closed the connection (4017); playback stopped.
    DaveRequired,
    /// The voice connection kept failing after every rejoin; playback stopped. `reason` is the last loss.
    VoiceGaveUp { reason: String },
}

/// Inputs to [`Session::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `/radio play` (after policy and preflight): play `station` in `channel`.
    PlayRequested {
        station: StationId,
        channel: ChannelKey,
        text_channel: Option<ChannelKey>,
        requested_by: UserKey,
        volume: Volume,
        /// Wall-clock start, for the resume entry ("playing since").
        since: SystemTime,
    },
    /// Startup: continue what the resume entry (or 24-7 mode) says.
    Resume(ResumeEntry),
    StopRequested,
    /// The gateway confirmed the bot is in `channel`.
    VoiceJoined {
        channel: ChannelKey,
    },
    VoiceJoinFailed {
        reason: String,
    },
    /// Someone moved the bot to another channel.
    VoiceMoved {
        channel: ChannelKey,
    },
    /// The bot was disconnected from voice by someone else.
    VoiceKicked,
    /// The voice (media) connection dropped and the voice library will not recover it by itself; also the
    /// answer to a failed [`Effect::Rejoin`].
    VoiceLost(VoiceLoss),
    /// The voice connection is up again (the library reconnected, or a [`Effect::Rejoin`] succeeded).
    VoiceRestored,
    RejoinTimerFired,
    /// Humans (not bots) now in the bot's voice channel.
    ListenersChanged(usize),
    IdleTimerFired,
    UpstreamDown,
    UpstreamUp,
    UpstreamTimerFired,
    TitleChanged(Option<String>),
    VolumeChanged(Volume),
    /// The guild changed 24-7 mode, idle timeout or announcements.
    SettingsChanged {
        always_on: bool,
        idle_timeout: Duration,
        announce: bool,
    },
    /// Process shutdown: leave voice but keep the resume entry so a restart continues.
    Shutdown,
}

/// Outputs of [`Session::handle`], executed in order by the Discord side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Join (or move to) a voice channel; answer with `VoiceJoined` or `VoiceJoinFailed`.
    Join(ChannelKey),
    Leave,
    /// Play `station` at `volume`, replacing whatever input was attached (station switches stay in voice).
    Attach {
        station: StationId,
        volume: Volume,
    },
    Detach,
    /// Change the attached input's volume.
    SetVolume(Volume),
    Announce(Notice),
    /// Create or edit the single "now playing" message.
    EditNowPlaying {
        station: StationId,
        title: Option<String>,
    },
    PersistResume(ResumeEntry),
    ClearResume,
    /// Fire `IdleTimerFired` at this instant (replaces any armed idle timer).
    ArmIdleTimer(Instant),
    CancelIdleTimer,
    /// Fire `UpstreamTimerFired` at this instant.
    ArmUpstreamTimer(Instant),
    /// Drop the dead voice connection and join the same channel again with a fresh voice session (the
    /// attached station stays); answer with `VoiceRestored` or `VoiceLost`.
    Rejoin(ChannelKey),
    /// Fire `RejoinTimerFired` at this instant (replaces any armed rejoin timer).
    ArmRejoinTimer(Instant),
}

/// A violated invariant (only produced by [`Session::check`]; a bug if ever seen).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("player session invariant violated: {0}")]
pub struct SessionError(pub &'static str);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Upstream {
    Up,
    Down { since: Instant, told: bool },
}

/// The voice (media) connection while `Playing`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    Up,
    /// Dropped for `loss`. `next`: when the armed rejoin timer acts (rejoin, or end the session after a 4014);
    /// `None` while a [`Effect::Rejoin`] is being executed.
    Down {
        loss: VoiceLoss,
        next: Option<Instant>,
    },
}

/// What is playing (or about to) and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    station: StationId,
    channel: ChannelKey,
    text_channel: Option<ChannelKey>,
    started_by: Option<UserKey>,
    volume: Volume,
    since: SystemTime,
    title: Option<String>,
    /// Continued from a resume entry or 24-7 mode: nobody waits for an answer, so a failed join is retried
    /// (with the rejoin backoff) instead of ending the session.
    unattended: bool,
}

/// One guild's session state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    phase: Phase,
    target: Option<Target>,
    attached: bool,
    /// Humans in the bot's channel; `None` until the executor has counted them after a join.
    listeners: Option<usize>,
    idle_deadline: Option<Instant>,
    upstream: Upstream,
    link: Link,
    /// Fresh joins tried in the current run of voice trouble (reset after [`STABLE_AFTER`] connected).
    rejoins: u32,
    /// When the voice connection last came up (join or restore).
    link_up_since: Option<Instant>,
    /// `Joining` an unattended target whose join failed: when the armed rejoin timer joins again.
    join_retry: Option<Instant>,
    always_on: bool,
    idle_timeout: Duration,
    announce: bool,
    timings: Timings,
}

impl Session {
    pub fn new(settings: &GuildSettings, timings: Timings) -> Self {
        Self {
            phase: Phase::Idle,
            target: None,
            attached: false,
            listeners: None,
            idle_deadline: None,
            upstream: Upstream::Up,
            link: Link::Up,
            rejoins: 0,
            link_up_since: None,
            join_retry: None,
            always_on: settings.always_on,
            idle_timeout: settings.idle_timeout,
            announce: settings.announce_now_playing,
            timings,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn station(&self) -> Option<&StationId> {
        self.target.as_ref().map(|t| &t.station)
    }

    pub fn channel(&self) -> Option<ChannelKey> {
        self.target.as_ref().map(|t| t.channel)
    }

    pub fn text_channel(&self) -> Option<ChannelKey> {
        self.target.as_ref().and_then(|t| t.text_channel)
    }

    pub fn started_by(&self) -> Option<UserKey> {
        self.target.as_ref().and_then(|t| t.started_by)
    }

    pub fn volume(&self) -> Option<Volume> {
        self.target.as_ref().map(|t| t.volume)
    }

    pub fn title(&self) -> Option<&str> {
        self.target.as_ref().and_then(|t| t.title.as_deref())
    }

    pub fn since(&self) -> Option<SystemTime> {
        self.target.as_ref().map(|t| t.since)
    }

    pub fn is_attached(&self) -> bool {
        self.attached
    }

    /// `Some(since)` while the upstream is reported down.
    pub fn upstream_down_since(&self) -> Option<Instant> {
        match self.upstream {
            Upstream::Up => None,
            Upstream::Down { since, .. } => Some(since),
        }
    }

    pub fn idle_deadline(&self) -> Option<Instant> {
        self.idle_deadline
    }

    /// `Some(loss)` while the voice connection is down (waiting for a rejoin or the library's reconnect).
    pub fn voice_loss(&self) -> Option<&VoiceLoss> {
        match &self.link {
            Link::Up => None,
            Link::Down { loss, .. } => Some(loss),
        }
    }

    /// Fresh joins tried in the current run of voice trouble.
    pub fn rejoins(&self) -> u32 {
        self.rejoins
    }

    /// Checks the invariants; the property test runs it after every event.
    pub fn check(&self) -> Result<(), SessionError> {
        match self.phase {
            Phase::Idle => {
                if self.target.is_some() {
                    return Err(SessionError("idle with a target"));
                }
                if self.attached {
                    return Err(SessionError("attached while not in voice"));
                }
                if self.idle_deadline.is_some() {
                    return Err(SessionError("idle timer armed while idle"));
                }
            }
            Phase::Joining => {
                if self.target.is_none() {
                    return Err(SessionError("joining without a target"));
                }
                if self.attached {
                    return Err(SessionError("attached before the join completed"));
                }
            }
            Phase::Playing => {
                if self.target.is_none() {
                    return Err(SessionError("playing without a target"));
                }
                if !self.attached {
                    return Err(SessionError("playing without an attached station"));
                }
            }
        }
        if self.always_on && self.idle_deadline.is_some() {
            return Err(SessionError("idle timer armed in 24-7 mode"));
        }
        if self.phase != Phase::Playing && self.link != Link::Up {
            return Err(SessionError("voice link down outside Playing"));
        }
        if self.rejoins > MAX_REJOINS {
            return Err(SessionError("more rejoins than the limit"));
        }
        if self.join_retry.is_some() && self.phase != Phase::Joining {
            return Err(SessionError("a join retry armed outside Joining"));
        }
        Ok(())
    }

    /// The transition function.
    // One flat match over every event reads better than splitting it across helpers.
    #[allow(clippy::too_many_lines)]
    #[must_use]
    pub fn handle(mut self, event: Event, now: Instant) -> (Self, Vec<Effect>) {
        let mut fx = Vec::new();
        match event {
            Event::PlayRequested {
                station,
                channel,
                text_channel,
                requested_by,
                volume,
                since,
            } => {
                let target = Target {
                    station,
                    channel,
                    text_channel,
                    started_by: Some(requested_by),
                    volume,
                    since,
                    title: None,
                    unattended: false,
                };
                self.play(target, &mut fx);
            }
            Event::Resume(entry) => {
                if self.phase == Phase::Idle {
                    let target = Target {
                        station: entry.station,
                        channel: entry.voice_channel,
                        text_channel: entry.text_channel,
                        started_by: entry.started_by,
                        volume: entry.volume,
                        since: entry.since,
                        title: entry.title,
                        unattended: true,
                    };
                    self.play(target, &mut fx);
                }
            }
            Event::StopRequested => {
                if self.phase != Phase::Idle {
                    self.end(&mut fx, true, true);
                    fx.push(Effect::ClearResume);
                }
            }
            Event::VoiceJoined { channel } => self.joined(channel, now, &mut fx),
            Event::VoiceJoinFailed { reason } => {
                let unattended = self.target.as_ref().is_some_and(|t| t.unattended);
                let delay = rejoin_delay(&VoiceLoss::Other(reason.clone()), self.rejoins);
                if self.join_retry.is_some() {
                    // Stale: no join is in flight while a retry is armed.
                } else if self.phase == Phase::Joining
                    && unattended
                    && self.rejoins < MAX_REJOINS
                    && let Some(delay) = delay
                {
                    // A resume after a restart has nobody to tell: a voice server that timed out once
                    // must not lose the guild its station. Retry with the rejoin backoff, keep the entry.
                    self.rejoins += 1;
                    let at = crate::core::saturating_deadline(now, delay);
                    self.join_retry = Some(at);
                    fx.push(Effect::ArmRejoinTimer(at));
                } else if self.phase == Phase::Joining {
                    let channel = self.channel().unwrap_or(ChannelKey(0));
                    // The gateway may have half-joined; leaving is idempotent.
                    self.end(&mut fx, true, false);
                    fx.push(Effect::ClearResume);
                    fx.push(Effect::Announce(Notice::JoinFailed { channel, reason }));
                }
            }
            Event::VoiceMoved { channel } => {
                if self.phase == Phase::Playing && self.channel() != Some(channel) {
                    if let Some(t) = self.target.as_mut() {
                        t.channel = channel;
                    }
                    // Humans in the new channel are unknown until counted.
                    self.listeners = None;
                    self.disarm_idle(&mut fx);
                    self.persist(&mut fx);
                    if let Link::Down {
                        loss: VoiceLoss::Disconnected,
                        ..
                    } = self.link
                    {
                        // The 4014 was a move, not a kick: the library connects to the new channel's server
                        // by itself; rejoin only if it has not by the end of the grace.
                        let at = crate::core::saturating_deadline(now, DISCONNECT_GRACE);
                        self.link = Link::Down {
                            loss: VoiceLoss::Other("moved to another channel".into()),
                            next: Some(at),
                        };
                        fx.push(Effect::ArmRejoinTimer(at));
                    }
                }
            }
            Event::VoiceKicked => {
                if self.phase != Phase::Idle {
                    // Already out of voice: only drop the station listener.
                    self.end(&mut fx, false, true);
                    fx.push(Effect::ClearResume);
                    fx.push(Effect::Announce(Notice::Disconnected));
                }
            }
            Event::VoiceLost(loss) => self.voice_lost(loss, now, &mut fx),
            Event::VoiceRestored => {
                if self.phase == Phase::Playing && self.link != Link::Up {
                    self.link = Link::Up;
                    self.link_up_since = Some(now);
                }
            }
            Event::RejoinTimerFired => {
                if self.phase == Phase::Joining
                    && let Some(at) = self.join_retry
                    && at <= now
                    && let Some(channel) = self.channel()
                {
                    self.join_retry = None;
                    fx.push(Effect::Join(channel));
                } else if self.phase == Phase::Playing
                    && let Link::Down {
                        loss,
                        next: Some(at),
                    } = &self.link
                    && *at <= now
                {
                    if *loss == VoiceLoss::Disconnected {
                        // Nobody moved the bot within the grace: it was kicked, or its channel is gone.
                        self.end(&mut fx, true, true);
                        fx.push(Effect::ClearResume);
                        fx.push(Effect::Announce(Notice::Disconnected));
                    } else {
                        let loss = loss.clone();
                        self.rejoin_now(loss, &mut fx);
                    }
                }
            }
            Event::ListenersChanged(n) => {
                self.listeners = Some(n);
                self.reconsider_idle(now, &mut fx);
            }
            Event::IdleTimerFired => {
                let due = self.idle_deadline.is_some_and(|d| d <= now);
                if due
                    && self.phase == Phase::Playing
                    && self.listeners == Some(0)
                    && !self.always_on
                {
                    self.idle_deadline = None;
                    self.end(&mut fx, true, true);
                    fx.push(Effect::ClearResume);
                    fx.push(Effect::Announce(Notice::LeftIdle));
                }
            }
            Event::UpstreamDown => {
                if self.phase == Phase::Playing && self.upstream == Upstream::Up {
                    self.upstream = Upstream::Down {
                        since: now,
                        told: false,
                    };
                    fx.push(Effect::ArmUpstreamTimer(crate::core::saturating_deadline(
                        now,
                        self.timings.notice_after,
                    )));
                }
            }
            Event::UpstreamUp => {
                if let Upstream::Down { told: true, .. } = self.upstream
                    && let Some(station) = self.station().cloned()
                {
                    fx.push(Effect::Announce(Notice::UpstreamRecovered { station }));
                }
                self.upstream = Upstream::Up;
            }
            Event::UpstreamTimerFired => self.upstream_timer(now, &mut fx),
            Event::TitleChanged(title) => {
                if self.phase == Phase::Playing
                    && let Some(t) = self.target.as_mut()
                    && t.title != title
                {
                    t.title.clone_from(&title);
                    let station = t.station.clone();
                    self.persist(&mut fx);
                    if self.announce && title.is_some() {
                        fx.push(Effect::EditNowPlaying { station, title });
                    }
                }
            }
            Event::VolumeChanged(volume) => {
                if let Some(t) = self.target.as_mut()
                    && t.volume != volume
                {
                    t.volume = volume;
                    if self.phase == Phase::Playing {
                        fx.push(Effect::SetVolume(volume));
                        self.persist(&mut fx);
                    }
                }
            }
            Event::SettingsChanged {
                always_on,
                idle_timeout,
                announce,
            } => {
                self.always_on = always_on;
                self.idle_timeout = idle_timeout;
                self.announce = announce;
                self.disarm_idle(&mut fx);
                self.reconsider_idle(now, &mut fx);
            }
            Event::Shutdown => {
                if self.phase != Phase::Idle {
                    // INVARIANT: no ClearResume here; the entry is what the next process resumes from.
                    self.end(&mut fx, true, true);
                }
            }
        }
        (self, fx)
    }

    fn play(&mut self, target: Target, fx: &mut Vec<Effect>) {
        match self.phase {
            Phase::Playing if self.channel() == Some(target.channel) => {
                // Same channel: switch stations without leaving voice.
                let switched = self.station() != Some(&target.station);
                let station = target.station.clone();
                let volume = target.volume;
                let keep_title = !switched;
                let old_title = self.target.as_ref().and_then(|t| t.title.clone());
                self.target = Some(Target {
                    title: if keep_title { old_title } else { None },
                    ..target
                });
                if switched {
                    self.upstream = Upstream::Up;
                }
                fx.push(Effect::Attach { station, volume });
                self.persist(fx);
            }
            Phase::Playing => {
                // Another channel: detach, move, attach again once the gateway confirms.
                self.attached = false;
                fx.push(Effect::Detach);
                self.disarm_idle(fx);
                fx.push(Effect::Join(target.channel));
                self.target = Some(target);
                self.listeners = None;
                self.upstream = Upstream::Up;
                // A new join supersedes any voice trouble in the old channel.
                self.link = Link::Up;
                self.phase = Phase::Joining;
            }
            Phase::Joining => {
                let moved = self.channel() != Some(target.channel);
                // A member asking now does not wait out an unattended join's retry backoff.
                let retry_pending = self.join_retry.take().is_some();
                if moved || retry_pending {
                    fx.push(Effect::Join(target.channel));
                }
                if retry_pending {
                    self.rejoins = 0;
                }
                self.target = Some(target);
            }
            Phase::Idle => {
                fx.push(Effect::Join(target.channel));
                self.target = Some(target);
                self.listeners = None;
                self.upstream = Upstream::Up;
                self.phase = Phase::Joining;
            }
        }
    }

    fn joined(&mut self, channel: ChannelKey, now: Instant, fx: &mut Vec<Effect>) {
        if self.phase != Phase::Joining {
            // A join confirmation for a session that was stopped meanwhile: get out again.
            if self.phase == Phase::Idle {
                fx.push(Effect::Leave);
            }
            return;
        }
        let Some(t) = self.target.as_mut() else {
            return;
        };
        if t.channel != channel {
            // The gateway put us elsewhere than asked (moved during the join): follow it.
            t.channel = channel;
        }
        let (station, volume) = (t.station.clone(), t.volume);
        self.phase = Phase::Playing;
        self.attached = true;
        self.link = Link::Up;
        self.rejoins = 0;
        self.join_retry = None;
        self.link_up_since = Some(now);
        fx.push(Effect::Attach {
            station: station.clone(),
            volume,
        });
        self.persist(fx);
        if self.announce {
            fx.push(Effect::EditNowPlaying {
                station,
                title: self.title().map(str::to_owned),
            });
        }
        self.reconsider_idle(now, fx);
    }

    /// Leaves the active phase for `Idle`.
    fn end(&mut self, fx: &mut Vec<Effect>, leave: bool, detach: bool) {
        if self.attached && detach {
            fx.push(Effect::Detach);
        }
        if leave {
            fx.push(Effect::Leave);
        }
        self.disarm_idle(fx);
        self.attached = false;
        self.target = None;
        self.listeners = None;
        self.upstream = Upstream::Up;
        self.link = Link::Up;
        self.rejoins = 0;
        self.link_up_since = None;
        self.join_retry = None;
        self.phase = Phase::Idle;
    }

    fn voice_lost(&mut self, loss: VoiceLoss, now: Instant, fx: &mut Vec<Effect>) {
        if self.phase != Phase::Playing {
            // Joining: the join's own answer decides; Idle: nothing to lose.
            return;
        }
        if loss.is_final() {
            self.end(fx, true, true);
            fx.push(Effect::ClearResume);
            fx.push(Effect::Announce(Notice::DaveRequired));
            return;
        }
        match &self.link {
            // Already waiting: the armed timer decides (a second report of the same failure is not news).
            Link::Down { next: Some(_), .. } => return,
            Link::Up => {
                if self
                    .link_up_since
                    .is_some_and(|t| now.saturating_duration_since(t) >= STABLE_AFTER)
                {
                    self.rejoins = 0;
                }
            }
            Link::Down { next: None, .. } => {}
        }
        if loss == VoiceLoss::Disconnected {
            let at = crate::core::saturating_deadline(now, DISCONNECT_GRACE);
            self.link = Link::Down {
                loss,
                next: Some(at),
            };
            fx.push(Effect::ArmRejoinTimer(at));
            return;
        }
        if self.rejoins >= MAX_REJOINS {
            let reason = loss.to_string();
            self.end(fx, true, true);
            fx.push(Effect::ClearResume);
            fx.push(Effect::Announce(Notice::VoiceGaveUp { reason }));
            return;
        }
        match rejoin_delay(&loss, self.rejoins) {
            Some(delay) if delay.is_zero() => self.rejoin_now(loss, fx),
            Some(delay) => {
                let at = crate::core::saturating_deadline(now, delay);
                self.link = Link::Down {
                    loss,
                    next: Some(at),
                };
                fx.push(Effect::ArmRejoinTimer(at));
            }
            // Only final and 4014 losses have no delay, and both returned above.
            None => {}
        }
    }

    fn rejoin_now(&mut self, loss: VoiceLoss, fx: &mut Vec<Effect>) {
        let Some(channel) = self.channel() else {
            return;
        };
        self.rejoins = self.rejoins.saturating_add(1);
        self.link = Link::Down { loss, next: None };
        fx.push(Effect::Rejoin(channel));
    }

    fn persist(&self, fx: &mut Vec<Effect>) {
        if let Some(t) = &self.target {
            fx.push(Effect::PersistResume(ResumeEntry {
                voice_channel: t.channel,
                station: t.station.clone(),
                volume: t.volume,
                text_channel: t.text_channel,
                started_by: t.started_by,
                since: t.since,
                title: t.title.clone(),
            }));
        }
    }

    fn disarm_idle(&mut self, fx: &mut Vec<Effect>) {
        if self.idle_deadline.take().is_some() {
            fx.push(Effect::CancelIdleTimer);
        }
    }

    fn reconsider_idle(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        let lonely = self.phase == Phase::Playing && self.listeners == Some(0) && !self.always_on;
        if lonely {
            if self.idle_deadline.is_none() {
                let deadline = crate::core::saturating_deadline(now, self.idle_timeout);
                self.idle_deadline = Some(deadline);
                fx.push(Effect::ArmIdleTimer(deadline));
            }
        } else {
            self.disarm_idle(fx);
        }
    }

    fn upstream_timer(&mut self, now: Instant, fx: &mut Vec<Effect>) {
        let Upstream::Down { since, told } = self.upstream else {
            return;
        };
        if self.phase != Phase::Playing {
            return;
        }
        let Some(station) = self.station().cloned() else {
            return;
        };
        let give_up_at = crate::core::saturating_deadline(since, self.timings.give_up_after);
        if now >= give_up_at {
            self.end(fx, true, true);
            fx.push(Effect::ClearResume);
            fx.push(Effect::Announce(Notice::UpstreamGaveUp { station }));
        } else if !told && now >= since + self.timings.notice_after {
            self.upstream = Upstream::Down { since, told: true };
            fx.push(Effect::Announce(Notice::UpstreamTrouble { station }));
            fx.push(Effect::ArmUpstreamTimer(give_up_at));
        } else if !told {
            fx.push(Effect::ArmUpstreamTimer(since + self.timings.notice_after));
        } else {
            fx.push(Effect::ArmUpstreamTimer(give_up_at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    const CH: ChannelKey = ChannelKey(10);
    const CH2: ChannelKey = ChannelKey(11);
    const TEXT: ChannelKey = ChannelKey(20);
    const USER: UserKey = UserKey(7);

    fn id(s: &str) -> StationId {
        StationId::parse(s).unwrap()
    }

    fn epoch() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn play(station: &str, channel: ChannelKey) -> Event {
        Event::PlayRequested {
            station: id(station),
            channel,
            text_channel: Some(TEXT),
            requested_by: USER,
            volume: Volume::UNITY,
            since: epoch(),
        }
    }

    fn fresh() -> Session {
        Session::new(&GuildSettings::default(), Timings::default())
    }

    fn run(mut s: Session, events: Vec<Event>, now: Instant) -> (Session, Vec<Effect>) {
        let mut all = Vec::new();
        for e in events {
            let (next, fx) = s.handle(e, now);
            next.check().unwrap();
            s = next;
            all.extend(fx);
        }
        (s, all)
    }

    fn playing(station: &str) -> (Session, Instant) {
        let now = Instant::now();
        let (s, _) = run(
            fresh(),
            vec![
                play(station, CH),
                Event::VoiceJoined { channel: CH },
                Event::ListenersChanged(1),
            ],
            now,
        );
        assert_eq!(s.phase(), Phase::Playing);
        (s, now)
    }

    fn entry(station: &str, title: Option<&str>) -> ResumeEntry {
        ResumeEntry {
            voice_channel: CH,
            station: id(station),
            volume: Volume::UNITY,
            text_channel: Some(TEXT),
            started_by: Some(USER),
            since: epoch(),
            title: title.map(str::to_owned),
        }
    }

    #[test]
    fn play_joins_then_attaches_and_persists() {
        let now = Instant::now();
        let (s, fx) = fresh().handle(play("a", CH), now);
        assert_eq!(fx, vec![Effect::Join(CH)]);
        assert_eq!(s.phase(), Phase::Joining);
        assert!(!s.is_attached());
        let (s, fx) = s.handle(Event::VoiceJoined { channel: CH }, now);
        assert_eq!(
            fx,
            vec![
                Effect::Attach {
                    station: id("a"),
                    volume: Volume::UNITY
                },
                Effect::PersistResume(entry("a", None)),
                Effect::EditNowPlaying {
                    station: id("a"),
                    title: None
                },
            ]
        );
        assert_eq!(s.phase(), Phase::Playing);
    }

    #[test]
    fn switching_station_stays_in_voice() {
        let (s, now) = playing("a");
        let (s, fx) = s.handle(play("b", CH), now);
        assert_eq!(
            fx,
            vec![
                Effect::Attach {
                    station: id("b"),
                    volume: Volume::UNITY
                },
                Effect::PersistResume(entry("b", None)),
            ]
        );
        assert!(!fx.contains(&Effect::Leave));
        assert_eq!(s.station(), Some(&id("b")));
    }

    #[test]
    fn play_in_another_channel_moves() {
        let (s, now) = playing("a");
        let (s, fx) = s.handle(play("a", CH2), now);
        assert_eq!(fx, vec![Effect::Detach, Effect::Join(CH2)]);
        assert_eq!(s.phase(), Phase::Joining);
        let (s, fx) = s.handle(Event::VoiceJoined { channel: CH2 }, now);
        assert!(matches!(fx[0], Effect::Attach { .. }));
        assert_eq!(s.channel(), Some(CH2));
    }

    #[test]
    fn stop_detaches_leaves_and_clears_resume() {
        let (s, now) = playing("a");
        let (s, fx) = s.handle(Event::StopRequested, now);
        assert_eq!(fx, vec![Effect::Detach, Effect::Leave, Effect::ClearResume]);
        assert_eq!(s, fresh());
    }

    #[test]
    fn stop_while_idle_does_nothing() {
        let (s, fx) = fresh().handle(Event::StopRequested, Instant::now());
        assert!(fx.is_empty());
        assert_eq!(s, fresh());
    }

    #[test]
    fn late_join_confirmation_after_stop_leaves_again() {
        let now = Instant::now();
        let (s, _) = run(fresh(), vec![play("a", CH), Event::StopRequested], now);
        let (s, fx) = s.handle(Event::VoiceJoined { channel: CH }, now);
        assert_eq!(fx, vec![Effect::Leave]);
        assert_eq!(s.phase(), Phase::Idle);
    }

    fn failed() -> Event {
        Event::VoiceJoinFailed {
            reason: "connection timed out".into(),
        }
    }

    /// Regression: 6 of 500 guilds stayed silent after a restart because one voice connect timed out under
    /// load; a failed resume join ended the session and cleared the entry, so even the next restart forgot it.
    #[test]
    fn a_resumed_join_that_fails_is_retried_with_backoff_and_keeps_its_entry() {
        let now = Instant::now();
        let (s, fx) = run(
            fresh(),
            vec![Event::Resume(entry("a", None)), failed()],
            now,
        );
        assert_eq!(s.phase(), Phase::Joining);
        assert_eq!(
            fx,
            vec![
                Effect::Join(CH),
                Effect::ArmRejoinTimer(now + Duration::from_secs(1))
            ]
        );
        // Early or stale timers do nothing; the due one joins again, and that join plays.
        let (s, fx) = s.handle(Event::RejoinTimerFired, now);
        assert!(fx.is_empty(), "{fx:?}");
        let at = now + Duration::from_secs(1);
        let (s, fx) = run(s, vec![Event::RejoinTimerFired], at);
        assert_eq!(fx, vec![Effect::Join(CH)]);
        let (s, fx) = run(s, vec![Event::VoiceJoined { channel: CH }], at);
        assert_eq!(s.phase(), Phase::Playing);
        assert!(
            fx.iter().any(|e| matches!(e, Effect::Attach { .. })),
            "{fx:?}"
        );
        assert!(!fx.contains(&Effect::ClearResume));
        assert_eq!(s.rejoins(), 0);
    }

    #[test]
    fn a_resumed_join_gives_up_after_the_rejoin_limit_and_says_so() {
        let mut now = Instant::now();
        let (mut s, _) = run(fresh(), vec![Event::Resume(entry("a", None))], now);
        let mut waits = Vec::new();
        for _ in 0..MAX_REJOINS {
            let (next, fx) = run(s, vec![failed()], now);
            let Some(Effect::ArmRejoinTimer(at)) = fx.last().cloned() else {
                panic!("no retry armed: {fx:?}");
            };
            waits.push(at - now);
            now = at;
            let (next, fx) = run(next, vec![Event::RejoinTimerFired], now);
            assert_eq!(fx, vec![Effect::Join(CH)]);
            s = next;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16].map(Duration::from_secs));
        let (s, fx) = run(s, vec![failed()], now);
        assert_eq!(s.phase(), Phase::Idle);
        assert!(fx.contains(&Effect::ClearResume), "{fx:?}");
        assert!(
            fx.iter()
                .any(|e| matches!(e, Effect::Announce(Notice::JoinFailed { .. }))),
            "{fx:?}"
        );
    }

    #[test]
    fn a_member_playing_while_a_resume_retry_waits_joins_at_once() {
        let now = Instant::now();
        let (s, _) = run(
            fresh(),
            vec![Event::Resume(entry("a", None)), failed()],
            now,
        );
        let (s, fx) = run(s, vec![play("b", CH)], now);
        assert_eq!(fx, vec![Effect::Join(CH)]);
        // Asked for by a member, the next failure is theirs to hear about: no more silent retries.
        let (s, fx) = run(s, vec![failed()], now);
        assert_eq!(s.phase(), Phase::Idle);
        assert!(fx.contains(&Effect::ClearResume), "{fx:?}");
    }

    #[test]
    fn join_failure_is_announced_and_clears_resume() {
        let now = Instant::now();
        let (s, _) = fresh().handle(play("a", CH), now);
        let (s, fx) = s.handle(
            Event::VoiceJoinFailed {
                reason: "no permission".into(),
            },
            now,
        );
        assert_eq!(
            fx,
            vec![
                Effect::Leave,
                Effect::ClearResume,
                Effect::Announce(Notice::JoinFailed {
                    channel: CH,
                    reason: "no permission".into()
                })
            ]
        );
        assert_eq!(s.phase(), Phase::Idle);
    }

    #[test]
    fn kicked_does_not_leave_but_clears() {
        let (s, now) = playing("a");
        let (s, fx) = s.handle(Event::VoiceKicked, now);
        assert_eq!(
            fx,
            vec![
                Effect::Detach,
                Effect::ClearResume,
                Effect::Announce(Notice::Disconnected)
            ]
        );
        assert_eq!(s.phase(), Phase::Idle);
    }

    #[test]
    fn moved_by_someone_persists_new_channel() {
        let (s, now) = playing("a");
        let (s, fx) = s.handle(Event::VoiceMoved { channel: CH2 }, now);
        let mut moved = entry("a", None);
        moved.voice_channel = CH2;
        assert_eq!(fx, vec![Effect::PersistResume(moved)]);
        assert_eq!(s.channel(), Some(CH2));
    }

    #[test]
    fn idle_timeout_leaves_when_alone() {
        let (s, now) = playing("a");
        let (s, fx) = s.handle(Event::ListenersChanged(0), now);
        let deadline = now + GuildSettings::DEFAULT_IDLE_TIMEOUT;
        assert_eq!(fx, vec![Effect::ArmIdleTimer(deadline)]);
        // Early (stale) fire: nothing happens.
        let (s, fx) = s.handle(Event::IdleTimerFired, now + Duration::from_secs(1));
        assert!(fx.is_empty());
        let (s, fx) = s.handle(Event::IdleTimerFired, deadline);
        assert_eq!(
            fx,
            vec![
                Effect::Detach,
                Effect::Leave,
                Effect::ClearResume,
                Effect::Announce(Notice::LeftIdle)
            ]
        );
        assert_eq!(s.phase(), Phase::Idle);
    }

    #[test]
    fn a_listener_returning_cancels_idle() {
        let (s, now) = playing("a");
        let (s, _) = s.handle(Event::ListenersChanged(0), now);
        let (s, fx) = s.handle(Event::ListenersChanged(2), now);
        assert_eq!(fx, vec![Effect::CancelIdleTimer]);
        let later = now + GuildSettings::DEFAULT_IDLE_TIMEOUT * 2;
        let (s, fx) = s.handle(Event::IdleTimerFired, later);
        assert!(fx.is_empty());
        assert_eq!(s.phase(), Phase::Playing);
    }

    #[test]
    fn always_on_never_idles() {
        let settings = GuildSettings {
            always_on: true,
            ..GuildSettings::default()
        };
        let now = Instant::now();
        let (s, fx) = run(
            Session::new(&settings, Timings::default()),
            vec![
                play("a", CH),
                Event::VoiceJoined { channel: CH },
                Event::ListenersChanged(0),
                Event::IdleTimerFired,
            ],
            now + Duration::from_secs(3600),
        );
        assert!(!fx.iter().any(|f| matches!(f, Effect::ArmIdleTimer(_))));
        assert_eq!(s.phase(), Phase::Playing);
    }

    #[test]
    fn turning_always_on_off_arms_idle() {
        let settings = GuildSettings {
            always_on: true,
            ..GuildSettings::default()
        };
        let now = Instant::now();
        let (s, _) = run(
            Session::new(&settings, Timings::default()),
            vec![
                play("a", CH),
                Event::VoiceJoined { channel: CH },
                Event::ListenersChanged(0),
            ],
            now,
        );
        let (_, fx) = s.handle(
            Event::SettingsChanged {
                always_on: false,
                idle_timeout: Duration::from_secs(60),
                announce: true,
            },
            now,
        );
        assert_eq!(
            fx,
            vec![Effect::ArmIdleTimer(now + Duration::from_secs(60))]
        );
    }

    #[test]
    fn upstream_blip_is_silent_long_outage_told_once_then_gives_up() {
        let (s, now) = playing("a");
        let t = Timings::default();
        let (s, fx) = s.handle(Event::UpstreamDown, now);
        assert_eq!(fx, vec![Effect::ArmUpstreamTimer(now + t.notice_after)]);
        // A second Down while down does not restart the clock.
        let (s, fx) = s.handle(Event::UpstreamDown, now + Duration::from_secs(2));
        assert!(fx.is_empty());
        let (s, fx) = s.handle(Event::UpstreamTimerFired, now + t.notice_after);
        assert_eq!(
            fx,
            vec![
                Effect::Announce(Notice::UpstreamTrouble { station: id("a") }),
                Effect::ArmUpstreamTimer(now + t.give_up_after)
            ]
        );
        // Fired again before give-up (spurious): re-arms, no second notice.
        let (s, fx) = s.handle(Event::UpstreamTimerFired, now + t.notice_after * 2);
        assert_eq!(fx, vec![Effect::ArmUpstreamTimer(now + t.give_up_after)]);
        let (s, fx) = s.handle(Event::UpstreamTimerFired, now + t.give_up_after);
        assert_eq!(
            fx,
            vec![
                Effect::Detach,
                Effect::Leave,
                Effect::ClearResume,
                Effect::Announce(Notice::UpstreamGaveUp { station: id("a") })
            ]
        );
        assert_eq!(s.phase(), Phase::Idle);
    }

    #[rstest]
    #[case::short_blip(false, vec![])]
    #[case::after_notice(true, vec![Effect::Announce(Notice::UpstreamRecovered { station: id("a") })])]
    fn upstream_recovery(#[case] told: bool, #[case] expected: Vec<Effect>) {
        let (s, now) = playing("a");
        let (mut s, _) = s.handle(Event::UpstreamDown, now);
        if told {
            s = s
                .handle(
                    Event::UpstreamTimerFired,
                    now + Timings::default().notice_after,
                )
                .0;
        }
        let (s, fx) = s.handle(Event::UpstreamUp, now + Duration::from_secs(30));
        assert_eq!(fx, expected);
        assert_eq!(s.upstream_down_since(), None);
        // The stale timer is harmless after recovery.
        let (s, fx) = s.handle(Event::UpstreamTimerFired, now + Duration::from_secs(600));
        assert!(fx.is_empty());
        assert_eq!(s.phase(), Phase::Playing);
    }

    #[rstest]
    #[case::announce_on(true, true)]
    #[case::announce_off(false, false)]
    fn title_change_persists_and_maybe_announces(#[case] announce: bool, #[case] edits: bool) {
        let settings = GuildSettings {
            announce_now_playing: announce,
            ..GuildSettings::default()
        };
        let now = Instant::now();
        let (s, _) = run(
            Session::new(&settings, Timings::default()),
            vec![play("a", CH), Event::VoiceJoined { channel: CH }],
            now,
        );
        let (s, fx) = s.handle(Event::TitleChanged(Some("Song".into())), now);
        assert_eq!(fx[0], Effect::PersistResume(entry("a", Some("Song"))));
        assert_eq!(
            fx.contains(&Effect::EditNowPlaying {
                station: id("a"),
                title: Some("Song".into())
            }),
            edits
        );
        // The same title again is not news.
        let (_, fx) = s.handle(Event::TitleChanged(Some("Song".into())), now);
        assert!(fx.is_empty());
    }

    #[test]
    fn volume_change_sets_and_persists() {
        let (s, now) = playing("a");
        let v = Volume::new(50).unwrap();
        let (s, fx) = s.handle(Event::VolumeChanged(v), now);
        let mut e = entry("a", None);
        e.volume = v;
        assert_eq!(fx, vec![Effect::SetVolume(v), Effect::PersistResume(e)]);
        assert_eq!(s.volume(), Some(v));
    }

    #[test]
    fn shutdown_leaves_but_keeps_resume() {
        let (s, now) = playing("a");
        let (s, fx) = s.handle(Event::Shutdown, now);
        assert_eq!(fx, vec![Effect::Detach, Effect::Leave]);
        assert!(!fx.contains(&Effect::ClearResume));
        assert_eq!(s.phase(), Phase::Idle);
    }

    #[test]
    fn resume_rejoins_with_last_title() {
        let now = Instant::now();
        let (s, fx) = run(
            fresh(),
            vec![
                Event::Resume(entry("a", Some("Old song"))),
                Event::VoiceJoined { channel: CH },
            ],
            now,
        );
        assert_eq!(fx[0], Effect::Join(CH));
        assert!(fx.contains(&Effect::PersistResume(entry("a", Some("Old song")))));
        assert_eq!(s.title(), Some("Old song"));
        // A resume while already playing (a command came first) is ignored.
        let (s2, fx) = s.clone().handle(Event::Resume(entry("b", None)), now);
        assert!(fx.is_empty());
        assert_eq!(s2, s);
    }

    fn lost(code: u16) -> Event {
        Event::VoiceLost(VoiceLoss::from_close_code(code))
    }

    #[test]
    fn expired_voice_session_rejoins_at_once_and_keeps_the_station() {
        let (s, now) = playing("a");
        let (s, fx) = s.handle(lost(4006), now);
        assert_eq!(fx, vec![Effect::Rejoin(CH)]);
        assert_eq!(s.phase(), Phase::Playing);
        assert!(
            s.is_attached(),
            "the station stays attached across the rejoin"
        );
        assert_eq!(s.voice_loss(), Some(&VoiceLoss::SessionExpired));
        let (s, fx) = s.handle(Event::VoiceRestored, now);
        assert!(fx.is_empty());
        assert_eq!(s.voice_loss(), None);
        assert_eq!(s.rejoins(), 1);
    }

    #[test]
    fn a_failed_rejoin_backs_off_before_the_next() {
        let (s, now) = playing("a");
        let (s, _) = s.handle(lost(4006), now);
        // The rejoin itself failed the same way: the second attempt waits.
        let (s, fx) = s.handle(lost(4006), now);
        let at = now + Duration::from_secs(1);
        assert_eq!(fx, vec![Effect::ArmRejoinTimer(at)]);
        // The same failure reported again (the library's own event) is not a new attempt.
        let (s, fx) = s.handle(lost(4006), now);
        assert!(fx.is_empty());
        let (s, fx) = s.handle(Event::RejoinTimerFired, now);
        assert!(fx.is_empty(), "a stale (early) timer does nothing");
        let (s, fx) = s.handle(Event::RejoinTimerFired, at);
        assert_eq!(fx, vec![Effect::Rejoin(CH)]);
        assert_eq!(s.rejoins(), 2);
    }

    #[rstest]
    #[case::rate_limited(4021, 5)]
    #[case::call_terminated(4022, 2)]
    fn rate_limits_and_terminated_calls_wait_before_the_first_rejoin(
        #[case] code: u16,
        #[case] first_wait: u64,
    ) {
        let (s, now) = playing("a");
        let (s, fx) = s.handle(lost(code), now);
        let at = now + Duration::from_secs(first_wait);
        assert_eq!(fx, vec![Effect::ArmRejoinTimer(at)]);
        let (s, fx) = s.handle(Event::RejoinTimerFired, at);
        assert_eq!(fx, vec![Effect::Rejoin(CH)]);
        let (_, fx) = s.handle(lost(code), at);
        assert_eq!(
            fx,
            vec![Effect::ArmRejoinTimer(
                at + Duration::from_secs(first_wait * 2)
            )]
        );
    }

    #[test]
    fn endless_rate_limits_give_up_after_the_limit() {
        let (mut s, mut now) = playing("a");
        let mut rejoins = 0;
        let mut fx = Vec::new();
        for _ in 0..=MAX_REJOINS * 2 {
            (s, fx) = s.handle(lost(4021), now);
            if let Some(Effect::ArmRejoinTimer(at)) = fx.first() {
                now = *at;
                let (next, again) = s.handle(Event::RejoinTimerFired, now);
                assert_eq!(again, vec![Effect::Rejoin(CH)]);
                rejoins += 1;
                s = next;
            } else {
                break;
            }
        }
        assert_eq!(rejoins, MAX_REJOINS);
        assert_eq!(
            fx,
            vec![
                Effect::Detach,
                Effect::Leave,
                Effect::ClearResume,
                Effect::Announce(Notice::VoiceGaveUp {
                    reason: VoiceLoss::RateLimited.to_string()
                })
            ]
        );
        assert_eq!(s.phase(), Phase::Idle);
    }

    #[test]
    fn a_stable_connection_starts_the_backoff_over() {
        let (s, now) = playing("a");
        let (s, _) = run(s, vec![lost(4006), lost(4006)], now);
        let at = now + Duration::from_secs(1);
        let (s, _) = run(s, vec![Event::RejoinTimerFired, Event::VoiceRestored], at);
        assert_eq!(s.rejoins(), 2);
        // Soon after: the run continues (third attempt waits 2 s).
        let (soon, fx) = s.clone().handle(lost(4006), at + Duration::from_secs(5));
        assert_eq!(
            fx,
            vec![Effect::ArmRejoinTimer(at + Duration::from_secs(7))]
        );
        assert_eq!(soon.rejoins(), 2);
        // Much later: a new run, rejoined at once.
        let (_, fx) = s.handle(lost(4006), at + STABLE_AFTER);
        assert_eq!(fx, vec![Effect::Rejoin(CH)]);
    }

    #[test]
    fn dave_required_ends_the_session_at_once() {
        let (s, now) = playing("a");
        let (s, fx) = s.handle(lost(4017), now);
        assert_eq!(
            fx,
            vec![
                Effect::Detach,
                Effect::Leave,
                Effect::ClearResume,
                Effect::Announce(Notice::DaveRequired)
            ]
        );
        assert_eq!(s, fresh());
        // Whatever the library reports next changes nothing.
        let (s, fx) = run(s, vec![lost(4017), Event::RejoinTimerFired], now);
        assert!(fx.is_empty());
        assert_eq!(s, fresh());
    }

    #[test]
    fn disconnected_4014_ends_after_the_grace_and_leaves() {
        let (s, now) = playing("a");
        let (s, fx) = s.handle(lost(4014), now);
        let at = now + DISCONNECT_GRACE;
        assert_eq!(fx, vec![Effect::ArmRejoinTimer(at)]);
        assert_eq!(s.phase(), Phase::Playing);
        let (s, fx) = s.handle(Event::RejoinTimerFired, at);
        assert_eq!(
            fx,
            vec![
                Effect::Detach,
                Effect::Leave,
                Effect::ClearResume,
                Effect::Announce(Notice::Disconnected)
            ]
        );
        assert_eq!(s.phase(), Phase::Idle);
    }

    #[test]
    fn a_kick_during_the_4014_grace_ends_at_once() {
        let (s, now) = playing("a");
        let (s, _) = s.handle(lost(4014), now);
        let (s, fx) = s.handle(Event::VoiceKicked, now);
        assert_eq!(
            fx,
            vec![
                Effect::Detach,
                Effect::ClearResume,
                Effect::Announce(Notice::Disconnected)
            ]
        );
        // The grace timer firing later is stale.
        let (s, fx) = s.handle(Event::RejoinTimerFired, now + DISCONNECT_GRACE);
        assert!(fx.is_empty());
        assert_eq!(s, fresh());
    }

    #[test]
    fn a_move_during_the_4014_grace_keeps_playing_in_the_new_channel() {
        let (s, now) = playing("a");
        let (s, _) = s.handle(lost(4014), now);
        let later = now + Duration::from_secs(1);
        let (s, fx) = s.handle(Event::VoiceMoved { channel: CH2 }, later);
        let mut moved = entry("a", None);
        moved.voice_channel = CH2;
        assert_eq!(
            fx,
            vec![
                Effect::PersistResume(moved),
                Effect::ArmRejoinTimer(later + DISCONNECT_GRACE)
            ]
        );
        // The library connected to the new channel's server: nothing more to do.
        let (s, fx) = s.handle(Event::VoiceRestored, later);
        assert!(fx.is_empty());
        let (s, fx) = s.handle(Event::RejoinTimerFired, later + DISCONNECT_GRACE);
        assert!(fx.is_empty());
        assert_eq!((s.phase(), s.channel()), (Phase::Playing, Some(CH2)));
    }

    #[test]
    fn voice_trouble_while_joining_is_left_to_the_join() {
        let now = Instant::now();
        let (s, _) = fresh().handle(play("a", CH), now);
        let (s, fx) = run(s, vec![lost(4006), Event::VoiceRestored, lost(4017)], now);
        assert!(fx.is_empty());
        assert_eq!(s.phase(), Phase::Joining);
    }

    #[test]
    fn stop_during_voice_trouble_clears_it() {
        let (s, now) = playing("a");
        let (s, _) = s.handle(lost(4021), now);
        let (s, fx) = s.handle(Event::StopRequested, now);
        assert_eq!(fx, vec![Effect::Detach, Effect::Leave, Effect::ClearResume]);
        assert_eq!(s, fresh());
    }

    fn event() -> impl Strategy<Value = Event> {
        let station = prop_oneof![Just("a"), Just("b")];
        let channel = prop_oneof![Just(CH), Just(CH2)];
        prop_oneof![
            (station.clone(), channel.clone()).prop_map(|(s, c)| play(s, c)),
            station.prop_map(|s| Event::Resume(entry(s, None))),
            Just(Event::StopRequested),
            channel
                .clone()
                .prop_map(|channel| Event::VoiceJoined { channel }),
            Just(Event::VoiceJoinFailed { reason: "x".into() }),
            channel.prop_map(|channel| Event::VoiceMoved { channel }),
            Just(Event::VoiceKicked),
            prop_oneof![
                Just(4006u16),
                Just(4009),
                Just(4014),
                Just(4017),
                Just(4021),
                Just(4022),
                Just(4016)
            ]
            .prop_map(|code| Event::VoiceLost(VoiceLoss::from_close_code(code))),
            Just(Event::VoiceRestored),
            Just(Event::RejoinTimerFired),
            (0usize..3).prop_map(Event::ListenersChanged),
            Just(Event::IdleTimerFired),
            Just(Event::UpstreamDown),
            Just(Event::UpstreamUp),
            Just(Event::UpstreamTimerFired),
            prop::option::of("[ab]").prop_map(Event::TitleChanged),
            (0u32..=200).prop_map(|v| Event::VolumeChanged(Volume::new(v).unwrap())),
            (any::<bool>(), any::<bool>()).prop_map(|(always_on, announce)| {
                Event::SettingsChanged {
                    always_on,
                    idle_timeout: Duration::from_secs(30),
                    announce,
                }
            }),
            Just(Event::Shutdown),
        ]
    }

    proptest! {
        /// No event sequence breaks an invariant, and the effects agree with the phase: an `Attach` only
        /// ever follows a confirmed join and leaves the session `Playing`, and the executor's view of "in
        /// voice" (built from the effects alone) never has a station attached while out of voice.
        #[test]
        fn no_event_sequence_produces_an_invalid_state(
            events in prop::collection::vec((event(), 0u64..400), 1..60)
        ) {
            let start = Instant::now();
            let mut s = fresh();
            let mut elapsed = Duration::ZERO;
            let mut attached = false;
            for (e, step) in events {
                elapsed += Duration::from_secs(step);
                let (next, fx) = s.handle(e, start + elapsed);
                prop_assert_eq!(next.check(), Ok(()));
                for f in &fx {
                    match f {
                        Effect::Attach { .. } => {
                            prop_assert_eq!(next.phase(), Phase::Playing);
                            attached = true;
                        }
                        Effect::Detach => attached = false,
                        Effect::Leave => prop_assert!(!attached, "left voice with a station attached"),
                        Effect::PersistResume(_) => prop_assert_ne!(next.phase(), Phase::Idle),
                        // A rejoin keeps the station: only ever while playing with the link down.
                        Effect::Rejoin(_) => {
                            prop_assert_eq!(next.phase(), Phase::Playing);
                            prop_assert!(next.voice_loss().is_some());
                        }
                        _ => {}
                    }
                }
                if next.phase() == Phase::Idle {
                    prop_assert!(!attached || !next.is_attached());
                }
                prop_assert_eq!(attached, next.is_attached());
                s = next;
            }
        }
    }
}
