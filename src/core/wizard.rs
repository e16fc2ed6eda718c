//! The `/setup wizard` as a pure state machine: steps, Back/Next, an idle timeout and one Save.
//!
//! The adapter feeds it [`Event`]s (component clicks, with who clicked) and renders the [`View`] it
//! returns. Nothing is written until Save: then [`Outcome::Saved`] carries the complete new settings,
//! stamped, for one store transaction. Cancel, timeout or a dropped wizard leave the guild untouched.

use std::time::{Duration, SystemTime};

use crate::core::guild::{GuildSettings, LocaleTag, Region, SetupStamp, Volume};
use crate::core::ids::{ChannelKey, RoleKey, UserKey};
use crate::core::locale::{Locales, Message, UserMessage};

/// Idle time after which the wizard ends without writing anything.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The wizard's pages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Voice,
    DjRoles,
    Language,
    Region,
    AlwaysOn,
    Volume,
    Announce,
    Summary,
}

impl Step {
    pub const ALL: [Step; 8] = [
        Step::Voice,
        Step::DjRoles,
        Step::Language,
        Step::Region,
        Step::AlwaysOn,
        Step::Volume,
        Step::Announce,
        Step::Summary,
    ];

    fn index(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    fn next(self) -> Self {
        Self::ALL[(self.index() + 1).min(Self::ALL.len() - 1)]
    }

    fn back(self) -> Self {
        Self::ALL[self.index().saturating_sub(1)]
    }

    /// The Fluent id of the step's prompt.
    pub fn prompt_key(self) -> &'static str {
        match self {
            Step::Voice => "setup-step-voice",
            Step::DjRoles => "setup-step-dj-roles",
            Step::Language => "setup-step-language",
            Step::Region => "setup-step-region",
            Step::AlwaysOn => "setup-step-always-on",
            Step::Volume => "setup-step-volume",
            Step::Announce => "setup-step-announce",
            Step::Summary => "setup-step-summary",
        }
    }
}

/// What a click means. Selections apply to the step they belong to only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    SelectVoice(Option<ChannelKey>),
    SelectDjRoles(Vec<RoleKey>),
    SelectLanguage(Option<LocaleTag>),
    SelectRegion(Option<Region>),
    SetAlwaysOn(bool),
    SetVolumes { default: Volume, max: Volume },
    SetAnnounce(bool),
    Next,
    Back,
    Save,
    Cancel,
}

/// A click the wizard refuses; the wizard stays as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("this setup belongs to someone else")]
    NotYours,
    #[error("that choice belongs to another step (the wizard is on {0:?})")]
    WrongStep(Step),
    #[error("`{0}` is not a shipped language")]
    NotShipped(LocaleTag),
    #[error("save is only possible on the summary")]
    NotOnSummary,
}

impl UserMessage for Refused {
    fn user_message(&self) -> Message {
        match self {
            Refused::NotYours => Message::new("setup-not-yours"),
            // Stale components from an older message: show the current page again.
            Refused::WrongStep(_) | Refused::NotShipped(_) | Refused::NotOnSummary => {
                Message::new("setup-stale")
            }
        }
    }
}

/// Which buttons the page shows besides Cancel, which every page has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buttons {
    pub back: bool,
    pub next: bool,
    pub save: bool,
}

/// One page, as data: the adapter turns it into components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub step: Step,
    /// 1-based position and count, for "step 3 of 8".
    pub position: (usize, usize),
    /// Every value chosen so far (the summary shows them all; steps pre-select theirs).
    pub draft: GuildSettings,
    /// Language choices (the shipped locales) on the language step.
    pub languages: Vec<LocaleTag>,
    pub buttons: Buttons,
}

/// The result of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Show this page (the same one after a refused click).
    Show(View),
    /// Refused; the wizard is unchanged.
    Refused(Refused),
    /// Write these settings (one transaction) and end the wizard.
    Saved(GuildSettings),
    Cancelled,
    TimedOut,
}

/// One running wizard. Dropping it writes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wizard {
    owner: UserKey,
    step: Step,
    draft: GuildSettings,
    languages: Vec<LocaleTag>,
    last_activity: SystemTime,
    /// INVARIANT: once set, every event answers with the same final outcome and changes nothing.
    ended: Option<Outcome>,
}

impl Wizard {
    /// Starts on the first step, pre-filled with the guild's current settings.
    pub fn start(
        owner: UserKey,
        current: GuildSettings,
        languages: Vec<LocaleTag>,
        now: SystemTime,
    ) -> (Self, View) {
        let wizard = Self {
            owner,
            step: Step::Voice,
            draft: current,
            languages,
            last_activity: now,
            ended: None,
        };
        let view = wizard.view();
        (wizard, view)
    }

    pub fn owner(&self) -> UserKey {
        self.owner
    }

    pub fn step(&self) -> Step {
        self.step
    }

    pub fn is_ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Whether the idle timeout has passed at `now` (a clock going backwards counts as no time).
    pub fn expired(&self, now: SystemTime) -> bool {
        now.duration_since(self.last_activity)
            .is_ok_and(|idle| idle >= IDLE_TIMEOUT)
    }

    pub fn view(&self) -> View {
        View {
            step: self.step,
            position: (self.step.index() + 1, Step::ALL.len()),
            draft: self.draft.clone(),
            languages: if self.step == Step::Language {
                self.languages.clone()
            } else {
                Vec::new()
            },
            buttons: Buttons {
                back: self.step != Step::Voice,
                next: self.step != Step::Summary,
                save: self.step == Step::Summary,
            },
        }
    }

    /// Applies one click by `user` at `now`.
    pub fn handle(&mut self, user: UserKey, event: Event, now: SystemTime) -> Outcome {
        if let Some(ended) = &self.ended {
            return ended.clone();
        }
        if self.expired(now) {
            self.ended = Some(Outcome::TimedOut);
            return Outcome::TimedOut;
        }
        // A stranger's click neither changes the wizard nor keeps it alive.
        if user != self.owner {
            return Outcome::Refused(Refused::NotYours);
        }
        match self.apply(event, now) {
            Ok(Some(end)) => {
                self.ended = Some(end.clone());
                end
            }
            Ok(None) => {
                self.last_activity = now;
                Outcome::Show(self.view())
            }
            Err(refused) => Outcome::Refused(refused),
        }
    }

    fn on(&self, step: Step) -> Result<(), Refused> {
        if self.step == step {
            Ok(())
        } else {
            Err(Refused::WrongStep(self.step))
        }
    }

    fn apply(&mut self, event: Event, now: SystemTime) -> Result<Option<Outcome>, Refused> {
        match event {
            Event::SelectVoice(channel) => {
                self.on(Step::Voice)?;
                self.draft.voice_channel = channel;
            }
            Event::SelectDjRoles(roles) => {
                self.on(Step::DjRoles)?;
                self.draft.set_dj_roles(roles);
            }
            Event::SelectLanguage(locale) => {
                self.on(Step::Language)?;
                if let Some(tag) = &locale
                    && !self.languages.contains(tag)
                {
                    return Err(Refused::NotShipped(tag.clone()));
                }
                self.draft.locale = locale;
            }
            Event::SelectRegion(region) => {
                self.on(Step::Region)?;
                self.draft.region = region;
            }
            Event::SetAlwaysOn(on) => {
                self.on(Step::AlwaysOn)?;
                self.draft.always_on = on;
            }
            Event::SetVolumes { default, max } => {
                self.on(Step::Volume)?;
                self.draft.set_volumes(default, max);
            }
            Event::SetAnnounce(on) => {
                self.on(Step::Announce)?;
                self.draft.announce_now_playing = on;
            }
            Event::Next => self.step = self.step.next(),
            Event::Back => self.step = self.step.back(),
            Event::Cancel => return Ok(Some(Outcome::Cancelled)),
            Event::Save => {
                if self.step != Step::Summary {
                    return Err(Refused::NotOnSummary);
                }
                let mut settings = self.draft.clone();
                settings.setup = Some(SetupStamp {
                    at: now,
                    by: self.owner,
                });
                return Ok(Some(Outcome::Saved(settings)));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: UserKey = UserKey(1);
    const OTHER: UserKey = UserKey(2);

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn tag(s: &str) -> LocaleTag {
        s.parse().unwrap()
    }

    fn wizard() -> Wizard {
        Wizard::start(
            ADMIN,
            GuildSettings::default(),
            vec![tag("en-US"), tag("de")],
            t(0),
        )
        .0
    }

    fn show(o: Outcome) -> View {
        match o {
            Outcome::Show(v) => v,
            other => panic!("expected a page, got {other:?}"),
        }
    }

    fn vol(p: u32) -> Volume {
        Volume::new(p).unwrap()
    }

    #[test]
    fn full_walk_saves_every_choice_once() {
        let mut w = wizard();
        let mut s = 1;
        let mut step = |w: &mut Wizard, e: Event| {
            s += 1;
            show(w.handle(ADMIN, e, t(s)))
        };
        step(&mut w, Event::SelectVoice(Some(ChannelKey(50))));
        assert_eq!(step(&mut w, Event::Next).step, Step::DjRoles);
        step(
            &mut w,
            Event::SelectDjRoles(vec![RoleKey(9), RoleKey(8), RoleKey(9)]),
        );
        let v = step(&mut w, Event::Next);
        assert_eq!((v.step, v.languages.len()), (Step::Language, 2));
        step(&mut w, Event::SelectLanguage(Some(tag("de"))));
        step(&mut w, Event::Next);
        step(&mut w, Event::SelectRegion(Some("DE".parse().unwrap())));
        step(&mut w, Event::Next);
        step(&mut w, Event::SetAlwaysOn(true));
        step(&mut w, Event::Next);
        step(
            &mut w,
            Event::SetVolumes {
                default: vol(150),
                max: vol(120),
            },
        );
        step(&mut w, Event::Next);
        step(&mut w, Event::SetAnnounce(false));
        let summary = step(&mut w, Event::Next);
        assert_eq!(summary.step, Step::Summary);
        assert_eq!(summary.position, (8, 8));
        assert_eq!(
            summary.buttons,
            Buttons {
                back: true,
                next: false,
                save: true
            }
        );
        let Outcome::Saved(saved) = w.handle(ADMIN, Event::Save, t(100)) else {
            panic!("not saved")
        };
        assert_eq!(saved.voice_channel, Some(ChannelKey(50)));
        assert_eq!(saved.dj_roles, vec![RoleKey(8), RoleKey(9)]);
        assert_eq!(saved.locale, Some(tag("de")));
        assert_eq!(saved.region.as_ref().map(Region::as_str), Some("DE"));
        assert!(saved.always_on && !saved.announce_now_playing);
        assert_eq!(
            (saved.default_volume, saved.max_volume),
            (vol(120), vol(120))
        );
        assert_eq!(
            saved.setup,
            Some(SetupStamp {
                at: t(100),
                by: ADMIN
            })
        );
        // Ended: a second Save cannot write twice... it repeats the same outcome, changing nothing.
        assert!(w.is_ended());
        assert_eq!(
            w.handle(ADMIN, Event::Cancel, t(101)),
            Outcome::Saved(saved)
        );
    }

    #[test]
    fn empty_dj_roles_mean_everyone() {
        let mut w = Wizard::start(
            ADMIN,
            GuildSettings {
                dj_roles: vec![RoleKey(3)],
                ..GuildSettings::default()
            },
            vec![tag("en-US")],
            t(0),
        )
        .0;
        w.handle(ADMIN, Event::Next, t(1));
        let v = show(w.handle(ADMIN, Event::SelectDjRoles(vec![]), t(2)));
        assert!(v.draft.dj_roles.is_empty());
    }

    #[test]
    fn back_from_summary_keeps_values() {
        let mut w = wizard();
        w.handle(ADMIN, Event::SelectVoice(Some(ChannelKey(7))), t(1));
        for n in 0..7 {
            w.handle(ADMIN, Event::Next, t(2 + n));
        }
        assert_eq!(w.step(), Step::Summary);
        let v = show(w.handle(ADMIN, Event::Back, t(20)));
        assert_eq!(v.step, Step::Announce);
        for n in 0..6 {
            w.handle(ADMIN, Event::Back, t(21 + n));
        }
        let first = w.view();
        assert_eq!(first.step, Step::Voice);
        assert!(!first.buttons.back);
        assert_eq!(first.draft.voice_channel, Some(ChannelKey(7)));
        // Back on the first page stays there.
        assert_eq!(show(w.handle(ADMIN, Event::Back, t(30))).step, Step::Voice);
    }

    #[test]
    fn other_users_clicks_are_refused_and_change_nothing() {
        let mut w = wizard();
        let before = w.clone();
        assert_eq!(
            w.handle(OTHER, Event::SelectVoice(Some(ChannelKey(1))), t(5)),
            Outcome::Refused(Refused::NotYours)
        );
        assert_eq!(
            w.handle(OTHER, Event::Cancel, t(6)),
            Outcome::Refused(Refused::NotYours)
        );
        assert_eq!(w, before);
        assert_eq!(Refused::NotYours.user_message().key, "setup-not-yours");
    }

    #[test]
    fn stale_and_invalid_events_are_refused() {
        let mut w = wizard();
        // A role select from another page while on the voice page.
        assert_eq!(
            w.handle(ADMIN, Event::SelectDjRoles(vec![RoleKey(1)]), t(1)),
            Outcome::Refused(Refused::WrongStep(Step::Voice))
        );
        assert_eq!(
            w.handle(ADMIN, Event::Save, t(2)),
            Outcome::Refused(Refused::NotOnSummary)
        );
        w.handle(ADMIN, Event::Next, t(3));
        w.handle(ADMIN, Event::Next, t(4));
        assert_eq!(
            w.handle(ADMIN, Event::SelectLanguage(Some(tag("fr"))), t(5)),
            Outcome::Refused(Refused::NotShipped(tag("fr")))
        );
        assert_eq!(w.view().draft, GuildSettings::default());
    }

    #[test]
    fn idle_timeout_ends_with_nothing_written() {
        let mut w = wizard();
        w.handle(ADMIN, Event::SelectVoice(Some(ChannelKey(1))), t(60));
        // Activity resets the idle clock.
        assert!(!w.expired(t(60) + IDLE_TIMEOUT - Duration::from_secs(1)));
        assert!(w.expired(t(60) + IDLE_TIMEOUT));
        assert_eq!(
            w.handle(ADMIN, Event::Next, t(60) + IDLE_TIMEOUT),
            Outcome::TimedOut
        );
        assert_eq!(w.handle(ADMIN, Event::Save, t(10_000)), Outcome::TimedOut);
        // A clock going backwards is not a timeout.
        assert!(!wizard().expired(t(0) - Duration::from_secs(5)));
    }

    #[test]
    fn cancel_ends_without_saving() {
        let mut w = wizard();
        w.handle(ADMIN, Event::SelectVoice(Some(ChannelKey(1))), t(1));
        assert_eq!(w.handle(ADMIN, Event::Cancel, t(2)), Outcome::Cancelled);
        assert_eq!(w.handle(ADMIN, Event::Next, t(3)), Outcome::Cancelled);
    }

    #[test]
    fn every_step_has_a_prompt_in_every_locale() {
        let locales = crate::core::locale::Locales::embedded().unwrap();
        for locale in locales.shipped() {
            for step in Step::ALL {
                let text = locales.text(locale, step.prompt_key(), &[]);
                assert_ne!(text, step.prompt_key(), "{locale}: {step:?}");
            }
        }
    }
}

/// The settings as localized `(field, value)` rows, for the wizard's summary page and `/setup show`.
/// Channels and roles are Discord mentions, which every client renders as names.
pub fn summary_fields(
    locales: &Locales,
    locale: &LocaleTag,
    settings: &GuildSettings,
) -> Vec<(String, String)> {
    let text = |key: &str| locales.text(locale, key, &[]);
    let yes_no = |on: bool| {
        text(if on {
            "setup-value-yes"
        } else {
            "setup-value-no"
        })
    };
    let roles = if settings.dj_roles.is_empty() {
        text("setup-value-everyone")
    } else {
        settings
            .dj_roles
            .iter()
            .map(|r| format!("<@&{}>", r.0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        (
            text("setup-field-voice"),
            settings
                .voice_channel
                .map_or_else(|| text("setup-value-none"), |c| format!("<#{}>", c.0)),
        ),
        (text("setup-field-dj-roles"), roles),
        (
            text("setup-field-language"),
            settings
                .locale
                .as_ref()
                .map_or_else(|| text("setup-value-none"), ToString::to_string),
        ),
        (
            text("setup-field-region"),
            settings
                .region
                .as_ref()
                .map_or_else(|| text("setup-value-none"), ToString::to_string),
        ),
        (text("setup-field-always-on"), yes_no(settings.always_on)),
        (
            text("setup-field-volume"),
            format!(
                "{} % (max {} %)",
                settings.default_volume.percent(),
                settings.max_volume.percent()
            ),
        ),
        (
            text("setup-field-announce"),
            yes_no(settings.announce_now_playing),
        ),
    ]
}

#[cfg(test)]
mod summary_tests {
    use super::*;

    #[test]
    fn summary_shows_every_choice_in_german() {
        let locales = Locales::embedded().unwrap();
        let mut s = GuildSettings {
            voice_channel: Some(ChannelKey(5)),
            locale: Some("de".parse().unwrap()),
            always_on: true,
            announce_now_playing: false,
            ..GuildSettings::default()
        };
        s.set_dj_roles([RoleKey(2), RoleKey(1)]);
        let rows = summary_fields(&locales, &"de".parse().unwrap(), &s);
        let flat: Vec<String> = rows.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        assert_eq!(
            flat,
            [
                "Sprachkanal: <#5>",
                "DJ-Rollen: <@&1>, <@&2>",
                "Sprache: de",
                "Region: nicht festgelegt",
                "Dauerbetrieb: ja",
                "Lautstärke: 100 % (max 100 %)",
                "Ansagen: nein",
            ]
        );
        let en = summary_fields(
            &locales,
            &"en-US".parse().unwrap(),
            &GuildSettings::default(),
        );
        assert_eq!(en[1], ("DJ roles".to_owned(), "everyone".to_owned()));
    }
}

/// A wizard component's `custom_id`: which wizard session and which control, so a click on a stale or
/// foreign message is recognised without any Discord state. `setup:<session hex>:<control>`, always
/// far below Discord's 100-character limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ComponentId {
    pub session: u64,
    pub control: Control,
}

/// The controls a wizard page can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    VoiceSelect,
    RoleSelect,
    LanguageSelect,
    RegionSelect,
    AlwaysOnToggle,
    VolumeSelect,
    AnnounceToggle,
    Back,
    Next,
    Save,
    Cancel,
}

impl Control {
    const NAMES: [(Control, &'static str); 11] = [
        (Control::VoiceSelect, "voice"),
        (Control::RoleSelect, "roles"),
        (Control::LanguageSelect, "lang"),
        (Control::RegionSelect, "region"),
        (Control::AlwaysOnToggle, "always"),
        (Control::VolumeSelect, "volume"),
        (Control::AnnounceToggle, "announce"),
        (Control::Back, "back"),
        (Control::Next, "next"),
        (Control::Save, "save"),
        (Control::Cancel, "cancel"),
    ];

    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("cancel", |(_, n)| n)
    }
}

impl ComponentId {
    const PREFIX: &'static str = "setup";

    pub fn encode(self) -> String {
        format!(
            "{}:{:x}:{}",
            Self::PREFIX,
            self.session,
            self.control.name()
        )
    }

    /// `None` for ids that are not the wizard's (other commands' components) or are malformed.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut parts = raw.split(':');
        if parts.next()? != Self::PREFIX {
            return None;
        }
        let session = u64::from_str_radix(parts.next()?, 16).ok()?;
        let name = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let control = Control::NAMES.iter().find(|(_, n)| *n == name)?.0;
        Some(Self { session, control })
    }
}

#[cfg(test)]
mod component_id_tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn round_trips_within_discords_limit(session: u64, i in 0usize..Control::NAMES.len()) {
            let id = ComponentId { session, control: Control::NAMES[i].0 };
            let raw = id.encode();
            prop_assert!(raw.len() <= 100, "{}", raw);
            prop_assert_eq!(ComponentId::parse(&raw), Some(id));
        }
    }

    #[test]
    fn foreign_and_malformed_ids_are_not_ours() {
        for raw in [
            "radio:1:play",
            "setup:zz:next",
            "setup:1:nope",
            "setup:1:next:x",
            "setup",
            "",
        ] {
            assert_eq!(ComponentId::parse(raw), None, "{raw}");
        }
    }
}
