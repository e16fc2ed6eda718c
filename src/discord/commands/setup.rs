//! `/setup …`: the ephemeral wizard (pages rendered from the core's [`Wizard`] views, clicks turned into its
//! events) and the direct shortcuts (`voice`, `dj add|remove`, `locale`, `show`, `reset`). Everything here
//! needs Manage Server; nothing is written before Save, and a wizard that times out writes nothing.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use poise::serenity_prelude as serenity;

use crate::core::guild::{GuildSettings, LocaleTag, Region, Volume};
use crate::core::ids::{ChannelKey, GuildKey, RoleKey, UserKey};
use crate::core::locale::{Locales, Message, UserMessage as _};
use crate::core::wizard::{self, ComponentId, Control, Event, Outcome, Step, View, Wizard};
use crate::discord::checks::{self, Action};
use crate::discord::error::BotError;
use crate::discord::render;
use crate::discord::{Context, Data, Error, locale_for, locale_of};

/// Volume presets offered on the volume page: (default, maximum) in percent.
pub const VOLUME_PRESETS: [(u32, u32); 9] = [
    (100, 100),
    (100, 150),
    (100, 200),
    (75, 100),
    (50, 100),
    (50, 50),
    (75, 75),
    (150, 200),
    (200, 200),
];

/// Custom ids of `/setup reset`'s confirmation buttons.
pub const RESET_CONFIRM: &str = "setup-reset:confirm";
pub const RESET_CANCEL: &str = "setup-reset:cancel";

/// One open wizard: whose guild it edits, and the interaction that opened it (to mark it timed out).
struct OpenWizard {
    guild: GuildKey,
    wizard: Wizard,
    /// The original interaction's token: editing its response is how a timed-out page is closed.
    token: String,
}

/// Open wizards by session id. Bounded by the sweep (`sweep_expired`) and by one wizard per guild.
#[derive(Default)]
pub struct WizardSessions {
    open: Mutex<HashMap<u64, OpenWizard>>,
}

impl WizardSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, OpenWizard>> {
        // A panic elsewhere while holding the lock leaves whole entries behind; still usable.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a wizard for `guild`, replacing an older one there (two admins racing: the newest wins and the
    /// old page answers "out of date").
    fn open(&self, guild: GuildKey, wizard: Wizard, token: String) -> u64 {
        let mut open = self.lock();
        open.retain(|_, w| w.guild != guild);
        let mut session = fastrand::u64(1..);
        while open.contains_key(&session) {
            session = fastrand::u64(1..);
        }
        open.insert(
            session,
            OpenWizard {
                guild,
                wizard,
                token,
            },
        );
        session
    }

    /// Open wizards right now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every wizard idle past the timeout; returns the interaction tokens to close their pages.
    pub fn sweep_expired(&self, now: SystemTime) -> Vec<(GuildKey, String)> {
        let mut open = self.lock();
        let expired: Vec<u64> = open
            .iter()
            .filter(|(_, w)| w.wizard.expired(now))
            .map(|(id, _)| *id)
            .collect();
        expired
            .into_iter()
            .filter_map(|id| open.remove(&id))
            .map(|w| (w.guild, w.token))
            .collect()
    }
}

/// Set up the radio for this server
#[poise::command(
    slash_command,
    guild_only,
    subcommands("wizard", "voice", "dj", "locale", "show", "reset"),
    subcommand_required,
    default_member_permissions = "MANAGE_GUILD"
)]
#[allow(clippy::unused_async)] // poise needs a body for a parent of sub-commands.
pub async fn setup(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

fn guild_key(ctx: Context<'_>) -> Result<GuildKey, BotError> {
    ctx.guild_id()
        .map(|g| GuildKey(g.get()))
        .ok_or_else(|| BotError::user("error-guild-only"))
}

/// Manage Server, checked by us too: `default_member_permissions` is only a default admins can change.
fn require_manager(ctx: Context<'_>, guild: GuildKey) -> Result<GuildSettings, BotError> {
    let settings = ctx.data().store.settings(guild)?;
    checks::authorize(ctx, guild, Action::Setup, &settings)?;
    Ok(settings)
}

fn text(locales: &Locales, locale: &LocaleTag, key: &str) -> String {
    locales.text(locale, key, &[])
}

/// The regions worth offering: the countries of the catalog, most stations first (Discord allows 25
/// options; one is "not set").
pub fn region_choices(data: &Data, current: Option<&Region>) -> Vec<Region> {
    let snapshot = data.library.snapshot();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for station in snapshot.catalog.iter() {
        if let Some(country) = station.country.as_deref() {
            *counts.entry(country.to_ascii_uppercase()).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut regions: Vec<Region> = ranked
        .into_iter()
        .filter_map(|(c, _)| c.parse().ok())
        .take(23)
        .collect();
    if let Some(current) = current
        && !regions.contains(current)
    {
        regions.push(current.clone());
    }
    regions.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    regions
}

fn nav_buttons(
    locales: &Locales,
    locale: &LocaleTag,
    session: u64,
    view: &View,
) -> serenity::CreateActionRow {
    let id = |control| ComponentId { session, control }.encode();
    let mut buttons = Vec::new();
    if view.buttons.back {
        buttons.push(
            serenity::CreateButton::new(id(Control::Back))
                .label(text(locales, locale, "setup-button-back"))
                .style(serenity::ButtonStyle::Secondary),
        );
    }
    if view.buttons.next {
        buttons.push(
            serenity::CreateButton::new(id(Control::Next))
                .label(text(locales, locale, "setup-button-next"))
                .style(serenity::ButtonStyle::Primary),
        );
    }
    if view.buttons.save {
        buttons.push(
            serenity::CreateButton::new(id(Control::Save))
                .label(text(locales, locale, "setup-button-save"))
                .style(serenity::ButtonStyle::Success),
        );
    }
    buttons.push(
        serenity::CreateButton::new(id(Control::Cancel))
            .label(text(locales, locale, "setup-button-cancel"))
            .style(serenity::ButtonStyle::Danger),
    );
    serenity::CreateActionRow::Buttons(buttons)
}

fn toggle(
    locales: &Locales,
    locale: &LocaleTag,
    session: u64,
    control: Control,
    on: bool,
) -> serenity::CreateActionRow {
    let label = text(
        locales,
        locale,
        if on {
            "setup-value-yes"
        } else {
            "setup-value-no"
        },
    );
    serenity::CreateActionRow::Buttons(vec![
        serenity::CreateButton::new(ComponentId { session, control }.encode())
            .label(label)
            .style(if on {
                serenity::ButtonStyle::Success
            } else {
                serenity::ButtonStyle::Secondary
            }),
    ])
}

/// The "not set" option of the string selects.
const NONE_VALUE: &str = "-";

/// One wizard page as message content plus components.
#[allow(clippy::too_many_lines)] // One match over the steps reads better than eight helpers.
pub fn render_page(
    data: &Data,
    locale: &LocaleTag,
    session: u64,
    view: &View,
) -> (
    String,
    Option<serenity::CreateEmbed>,
    Vec<serenity::CreateActionRow>,
) {
    let locales = &data.locales;
    let id = |control| ComponentId { session, control }.encode();
    let draft = &view.draft;
    let prompt = match view.step {
        Step::Volume => locales.text(
            locale,
            view.step.prompt_key(),
            &[
                ("default", u64::from(draft.default_volume.percent()).into()),
                ("max", u64::from(draft.max_volume.percent()).into()),
            ],
        ),
        step => text(locales, locale, step.prompt_key()),
    };
    let content = format!("{prompt}\n-# {}/{}", view.position.0, view.position.1);
    let none_label = text(locales, locale, "setup-value-none");
    let mut rows = Vec::new();
    let mut embed = None;
    match view.step {
        Step::Voice => rows.push(serenity::CreateActionRow::SelectMenu(
            serenity::CreateSelectMenu::new(
                id(Control::VoiceSelect),
                serenity::CreateSelectMenuKind::Channel {
                    channel_types: Some(vec![
                        serenity::ChannelType::Voice,
                        serenity::ChannelType::Stage,
                    ]),
                    default_channels: draft
                        .voice_channel
                        .and_then(|c| std::num::NonZeroU64::new(c.0))
                        .map(|c| vec![serenity::ChannelId::from(c)]),
                },
            )
            .min_values(0)
            .max_values(1),
        )),
        Step::DjRoles => rows.push(serenity::CreateActionRow::SelectMenu(
            serenity::CreateSelectMenu::new(
                id(Control::RoleSelect),
                serenity::CreateSelectMenuKind::Role {
                    default_roles: Some(
                        draft
                            .dj_roles
                            .iter()
                            .filter_map(|r| std::num::NonZeroU64::new(r.0))
                            .map(serenity::RoleId::from)
                            .collect(),
                    ),
                },
            )
            .min_values(0)
            .max_values(25),
        )),
        Step::Language => {
            let mut options = vec![
                serenity::CreateSelectMenuOption::new(
                    text(locales, locale, "setup-value-automatic"),
                    NONE_VALUE,
                )
                .default_selection(draft.locale.is_none()),
            ];
            for tag in &view.languages {
                options.push(
                    serenity::CreateSelectMenuOption::new(
                        locales.text(tag, "language-name", &[]),
                        tag.as_str(),
                    )
                    .default_selection(draft.locale.as_ref() == Some(tag)),
                );
            }
            rows.push(serenity::CreateActionRow::SelectMenu(
                serenity::CreateSelectMenu::new(
                    id(Control::LanguageSelect),
                    serenity::CreateSelectMenuKind::String { options },
                ),
            ));
        }
        Step::Region => {
            let mut options = vec![
                serenity::CreateSelectMenuOption::new(none_label, NONE_VALUE)
                    .default_selection(draft.region.is_none()),
            ];
            for region in region_choices(data, draft.region.as_ref()) {
                options.push(
                    serenity::CreateSelectMenuOption::new(region.as_str(), region.as_str())
                        .default_selection(draft.region.as_ref() == Some(&region)),
                );
            }
            rows.push(serenity::CreateActionRow::SelectMenu(
                serenity::CreateSelectMenu::new(
                    id(Control::RegionSelect),
                    serenity::CreateSelectMenuKind::String { options },
                ),
            ));
        }
        Step::AlwaysOn => rows.push(toggle(
            locales,
            locale,
            session,
            Control::AlwaysOnToggle,
            draft.always_on,
        )),
        Step::Volume => {
            let current = (
                u32::from(draft.default_volume.percent()),
                u32::from(draft.max_volume.percent()),
            );
            let mut presets = VOLUME_PRESETS.to_vec();
            if !presets.contains(&current) {
                presets.push(current);
            }
            let options = presets
                .into_iter()
                .map(|(d, m)| {
                    serenity::CreateSelectMenuOption::new(
                        format!("{d} % (max {m} %)"),
                        format!("{d}:{m}"),
                    )
                    .default_selection((d, m) == current)
                })
                .collect();
            rows.push(serenity::CreateActionRow::SelectMenu(
                serenity::CreateSelectMenu::new(
                    id(Control::VolumeSelect),
                    serenity::CreateSelectMenuKind::String { options },
                ),
            ));
        }
        Step::Announce => rows.push(toggle(
            locales,
            locale,
            session,
            Control::AnnounceToggle,
            draft.announce_now_playing,
        )),
        Step::Summary => embed = Some(settings_embed(locales, locale, draft)),
    }
    rows.push(nav_buttons(locales, locale, session, view));
    (content, embed, rows)
}

/// The settings as an embed (wizard summary and `/setup show`).
pub fn settings_embed(
    locales: &Locales,
    locale: &LocaleTag,
    settings: &GuildSettings,
) -> serenity::CreateEmbed {
    let mut embed = serenity::CreateEmbed::new()
        .title(text(locales, locale, "setup-show-title"))
        .colour(0x00_5f_87_ff);
    for (name, value) in wizard::summary_fields(locales, locale, settings) {
        embed = embed.field(name, value, true);
    }
    embed
}

/// Turns a click on `control` (with the component's data) into a wizard event; `None` for a malformed one.
pub fn event_for(
    control: Control,
    kind: &serenity::ComponentInteractionDataKind,
    draft: &GuildSettings,
) -> Option<Event> {
    use serenity::ComponentInteractionDataKind as Kind;
    let first = |values: &[String]| values.first().cloned();
    Some(match (control, kind) {
        (Control::VoiceSelect, Kind::ChannelSelect { values }) => {
            Event::SelectVoice(values.first().map(|c| ChannelKey(c.get())))
        }
        (Control::RoleSelect, Kind::RoleSelect { values }) => {
            Event::SelectDjRoles(values.iter().map(|r| RoleKey(r.get())).collect())
        }
        (Control::LanguageSelect, Kind::StringSelect { values }) => match first(values) {
            None => Event::SelectLanguage(None),
            Some(v) if v == NONE_VALUE => Event::SelectLanguage(None),
            Some(v) => Event::SelectLanguage(Some(v.parse().ok()?)),
        },
        (Control::RegionSelect, Kind::StringSelect { values }) => match first(values) {
            None => Event::SelectRegion(None),
            Some(v) if v == NONE_VALUE => Event::SelectRegion(None),
            Some(v) => Event::SelectRegion(Some(v.parse().ok()?)),
        },
        (Control::VolumeSelect, Kind::StringSelect { values }) => {
            let value = first(values)?;
            let (d, m) = value.split_once(':')?;
            Event::SetVolumes {
                default: Volume::new(d.parse().ok()?).ok()?,
                max: Volume::new(m.parse().ok()?).ok()?,
            }
        }
        (Control::AlwaysOnToggle, Kind::Button) => Event::SetAlwaysOn(!draft.always_on),
        (Control::AnnounceToggle, Kind::Button) => Event::SetAnnounce(!draft.announce_now_playing),
        (Control::Back, Kind::Button) => Event::Back,
        (Control::Next, Kind::Button) => Event::Next,
        (Control::Save, Kind::Button) => Event::Save,
        (Control::Cancel, Kind::Button) => Event::Cancel,
        _ => return None,
    })
}

/// Walk through every setting step by step
#[poise::command(slash_command, guild_only)]
pub async fn wizard(ctx: Context<'_>) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    let current = require_manager(ctx, guild)?;
    let data = ctx.data();
    let owner = UserKey(ctx.author().id.get());
    let (wizard, view) = Wizard::start(
        owner,
        current,
        data.locales.shipped().to_vec(),
        SystemTime::now(),
    );
    let token = match ctx {
        poise::Context::Application(app) => app.interaction.token.clone(),
        poise::Context::Prefix(_) => String::new(),
    };
    let session = data.wizards.open(guild, wizard, token);
    let locale = locale_of(ctx);
    let (content, embed, rows) = render_page(data, &locale, session, &view);
    let mut reply = poise::CreateReply::default()
        .content(content)
        .components(rows)
        .ephemeral(true);
    if let Some(embed) = embed {
        reply = reply.embed(embed);
    }
    ctx.send(reply).await?;
    tracing::info!(guild = guild.0, session, "setup wizard opened");
    Ok(())
}

async fn update_message(
    ctx: &serenity::Context,
    component: &serenity::ComponentInteraction,
    content: String,
    embed: Option<serenity::CreateEmbed>,
    rows: Vec<serenity::CreateActionRow>,
) -> Result<(), Error> {
    let mut message = render::response_message().content(content).components(rows);
    message = match embed {
        Some(embed) => message.embed(embed),
        None => message.embeds(Vec::new()),
    };
    component
        .create_response(
            ctx,
            serenity::CreateInteractionResponse::UpdateMessage(message),
        )
        .await?;
    Ok(())
}

async fn ephemeral(
    ctx: &serenity::Context,
    component: &serenity::ComponentInteraction,
    content: String,
) -> Result<(), Error> {
    component
        .create_response(
            ctx,
            serenity::CreateInteractionResponse::Message(
                render::response_message().content(content).ephemeral(true),
            ),
        )
        .await?;
    Ok(())
}

/// A click on a wizard page.
pub async fn on_wizard_component(
    ctx: &serenity::Context,
    data: &Data,
    component: &serenity::ComponentInteraction,
    id: ComponentId,
) -> Result<(), Error> {
    let user = UserKey(component.user.id.get());
    let guild = component.guild_id.map(|g| GuildKey(g.get()));
    let locale = locale_for(data, guild, Some(component.locale.as_str()));
    let now = SystemTime::now();
    // Decide under the lock, answer after it (no lock across an await).
    let decided = {
        let mut open = data.wizards.lock();
        match open.get_mut(&id.session) {
            None => None,
            Some(entry) => {
                let draft = entry.wizard.view().draft;
                let outcome = match event_for(id.control, &component.data.kind, &draft) {
                    Some(event) => entry.wizard.handle(user, event, now),
                    None => Outcome::Show(entry.wizard.view()),
                };
                let guild = entry.guild;
                if matches!(
                    outcome,
                    Outcome::Saved(_) | Outcome::Cancelled | Outcome::TimedOut
                ) {
                    open.remove(&id.session);
                }
                Some((guild, outcome))
            }
        }
    };
    let Some((guild, outcome)) = decided else {
        // Restarted bot, timed out, or replaced by a newer wizard in this guild.
        let content = data.locales.text(&locale, "setup-timed-out", &[]);
        return update_message(ctx, component, content, None, Vec::new()).await;
    };
    match outcome {
        Outcome::Show(view) => {
            let (content, embed, rows) = render_page(data, &locale, id.session, &view);
            update_message(ctx, component, content, embed, rows).await
        }
        Outcome::Refused(refused) => {
            let content = data.locales.render(&locale, &refused.user_message());
            ephemeral(ctx, component, content).await
        }
        Outcome::Saved(settings) => {
            // The wizard ran as the member who opened it; re-check they still manage the server.
            let actor = checks::actor_from_member(user, component.member.as_ref());
            let current = data.store.settings(guild)?;
            checks::authorize_actor(data, guild, &actor, Action::Setup, &current)?;
            let saved = settings.clone();
            data.store.update_settings(guild, move |s| *s = saved)?;
            data.playback.settings_changed(guild).await;
            tracing::info!(guild = guild.0, user = user.0, "setup saved");
            // The reply's language follows the new setting at once.
            let locale = locale_for(data, Some(guild), Some(component.locale.as_str()));
            let content = data.locales.text(&locale, "setup-saved", &[]);
            let embed = settings_embed(&data.locales, &locale, &settings);
            update_message(ctx, component, content, Some(embed), Vec::new()).await
        }
        Outcome::Cancelled => {
            let content = data.locales.text(&locale, "setup-cancelled", &[]);
            update_message(ctx, component, content, None, Vec::new()).await
        }
        Outcome::TimedOut => {
            let content = data.locales.text(&locale, "setup-timed-out", &[]);
            update_message(ctx, component, content, None, Vec::new()).await
        }
    }
}

/// Closes the pages of wizards that timed out (run every few seconds): nothing was written, and the page
/// says so instead of showing buttons that no longer work.
pub async fn close_expired(http: &serenity::Http, data: &Data) {
    for (guild, token) in data.wizards.sweep_expired(SystemTime::now()) {
        if token.is_empty() {
            continue;
        }
        let locale = locale_for(data, Some(guild), None);
        let edit = render::response_edit()
            .content(data.locales.text(&locale, "setup-timed-out", &[]))
            .embeds(Vec::new())
            .components(Vec::new());
        // The token lives 15 minutes; a page older than that cannot be edited, which is fine.
        if let Err(e) = http
            .edit_original_interaction_response(&token, &edit, Vec::new())
            .await
        {
            tracing::debug!(guild = guild.0, error = %e, "could not close a timed-out wizard page");
        }
        tracing::info!(guild = guild.0, "setup wizard timed out; nothing written");
    }
}

async fn save_and_confirm(
    ctx: Context<'_>,
    guild: GuildKey,
    change: impl FnOnce(&mut GuildSettings) + Send + 'static,
) -> Result<(), Error> {
    let data = ctx.data();
    let settings = data.store.update_settings(guild, move |s| {
        change(s);
        s.clone()
    })?;
    data.playback.settings_changed(guild).await;
    let locale = locale_of(ctx);
    ctx.send(
        poise::CreateReply::default()
            .content(data.locales.text(&locale, "setup-updated", &[]))
            .embed(settings_embed(&data.locales, &locale, &settings))
            .ephemeral(true),
    )
    .await?;
    Ok(())
}

/// Choose the voice channel the radio joins by default
#[poise::command(slash_command, guild_only)]
pub async fn voice(
    ctx: Context<'_>,
    #[description = "Voice channel"]
    #[channel_types("Voice", "Stage")]
    channel: serenity::GuildChannel,
) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    require_manager(ctx, guild)?;
    let channel = ChannelKey(channel.id.get());
    save_and_confirm(ctx, guild, move |s| s.voice_channel = Some(channel)).await
}

/// Add or remove a DJ role
#[poise::command(
    slash_command,
    guild_only,
    subcommands("dj_add", "dj_remove"),
    subcommand_required
)]
#[allow(clippy::unused_async)] // poise needs a body for a parent of sub-commands.
pub async fn dj(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// Let members with this role control the radio
#[poise::command(slash_command, guild_only, rename = "add")]
pub async fn dj_add(
    ctx: Context<'_>,
    #[description = "Role"] role: serenity::Role,
) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    let settings = require_manager(ctx, guild)?;
    let role = RoleKey(role.id.get());
    if settings.dj_roles.len() >= GuildSettings::MAX_DJ_ROLES && !settings.dj_roles.contains(&role)
    {
        return Err(BotError::user_with(
            Message::new("setup-dj-full").arg("max", GuildSettings::MAX_DJ_ROLES),
        ));
    }
    save_and_confirm(ctx, guild, move |s| {
        let roles: Vec<RoleKey> = s.dj_roles.iter().copied().chain([role]).collect();
        s.set_dj_roles(roles);
    })
    .await
}

/// Stop treating this role as a DJ role
#[poise::command(slash_command, guild_only, rename = "remove")]
pub async fn dj_remove(
    ctx: Context<'_>,
    #[description = "Role"] role: serenity::Role,
) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    require_manager(ctx, guild)?;
    let role = RoleKey(role.id.get());
    save_and_confirm(ctx, guild, move |s| {
        let roles: Vec<RoleKey> = s.dj_roles.iter().copied().filter(|r| *r != role).collect();
        s.set_dj_roles(roles);
    })
    .await
}

#[allow(clippy::unused_async)] // poise calls autocomplete callbacks as async functions.
async fn autocomplete_locale(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let locales = &ctx.data().locales;
    let partial = partial.to_lowercase();
    let choices = locales
        .shipped()
        .iter()
        .map(|tag| (tag, locales.text(tag, "language-name", &[])))
        .filter(|(tag, name)| {
            tag.as_str().to_lowercase().contains(&partial) || name.to_lowercase().contains(&partial)
        })
        .map(|(tag, name)| {
            serenity::AutocompleteChoice::new(format!("{name} ({tag})"), tag.as_str())
        })
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

/// Choose the language of the bot's replies here
#[poise::command(slash_command, guild_only)]
pub async fn locale(
    ctx: Context<'_>,
    #[description = "Language"]
    #[autocomplete = "autocomplete_locale"]
    language: String,
) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    require_manager(ctx, guild)?;
    let Some(tag) = ctx.data().locales.best_match(language.trim()) else {
        let shipped = ctx
            .data()
            .locales
            .shipped()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(BotError::user_with(
            Message::new("setup-locale-unknown")
                .arg("language", language.trim())
                .arg("shipped", shipped),
        ));
    };
    save_and_confirm(ctx, guild, move |s| s.locale = Some(tag)).await
}

/// Show this server's radio settings
#[poise::command(slash_command, guild_only)]
pub async fn show(ctx: Context<'_>) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    let settings = require_manager(ctx, guild)?;
    let data = ctx.data();
    let locale = locale_of(ctx);
    ctx.send(
        poise::CreateReply::default()
            .embed(settings_embed(&data.locales, &locale, &settings))
            .ephemeral(true),
    )
    .await?;
    Ok(())
}

/// Reset every radio setting to its default
#[poise::command(slash_command, guild_only)]
pub async fn reset(ctx: Context<'_>) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    require_manager(ctx, guild)?;
    let data = ctx.data();
    let locale = locale_of(ctx);
    let buttons = serenity::CreateActionRow::Buttons(vec![
        serenity::CreateButton::new(RESET_CONFIRM)
            .label(text(&data.locales, &locale, "setup-reset-button"))
            .style(serenity::ButtonStyle::Danger),
        serenity::CreateButton::new(RESET_CANCEL)
            .label(text(&data.locales, &locale, "setup-button-cancel"))
            .style(serenity::ButtonStyle::Secondary),
    ]);
    ctx.send(
        poise::CreateReply::default()
            .content(text(&data.locales, &locale, "setup-reset-confirm"))
            .components(vec![buttons])
            .ephemeral(true),
    )
    .await?;
    Ok(())
}

/// A click on `/setup reset`'s confirmation.
pub async fn on_reset_component(
    ctx: &serenity::Context,
    data: &Data,
    component: &serenity::ComponentInteraction,
    confirmed: bool,
) -> Result<(), Error> {
    let Some(guild) = component.guild_id.map(|g| GuildKey(g.get())) else {
        return Ok(());
    };
    let locale = locale_for(data, Some(guild), Some(component.locale.as_str()));
    if !confirmed {
        let content = data.locales.text(&locale, "setup-cancelled", &[]);
        return update_message(ctx, component, content, None, Vec::new()).await;
    }
    let user = UserKey(component.user.id.get());
    let actor = checks::actor_from_member(user, component.member.as_ref());
    checks::authorize_actor(
        data,
        guild,
        &actor,
        Action::Setup,
        &data.store.settings(guild)?,
    )?;
    data.store.reset_settings(guild)?;
    data.playback.settings_changed(guild).await;
    tracing::info!(guild = guild.0, user = user.0, "settings reset");
    let locale = locale_for(data, Some(guild), Some(component.locale.as_str()));
    let content = data.locales.text(&locale, "setup-reset-done", &[]);
    update_message(ctx, component, content, None, Vec::new()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use poise::serenity_prelude::ComponentInteractionDataKind as Kind;

    #[test]
    fn volume_presets_are_valid_and_default_never_above_max() {
        for (d, m) in VOLUME_PRESETS {
            assert!(d <= m, "{d} > {m}");
            assert!(Volume::new(d).is_ok() && Volume::new(m).is_ok());
        }
    }

    #[test]
    fn clicks_become_wizard_events() {
        let draft = GuildSettings::default();
        let strings = |v: &[&str]| Kind::StringSelect {
            values: v.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert_eq!(
            event_for(Control::VolumeSelect, &strings(&["50:100"]), &draft),
            Some(Event::SetVolumes {
                default: Volume::new(50).unwrap(),
                max: Volume::new(100).unwrap()
            })
        );
        assert_eq!(
            event_for(Control::LanguageSelect, &strings(&["de"]), &draft),
            Some(Event::SelectLanguage(Some("de".parse().unwrap())))
        );
        assert_eq!(
            event_for(Control::RegionSelect, &strings(&[NONE_VALUE]), &draft),
            Some(Event::SelectRegion(None))
        );
        assert_eq!(
            event_for(Control::AlwaysOnToggle, &Kind::Button, &draft),
            Some(Event::SetAlwaysOn(!draft.always_on))
        );
        assert_eq!(
            event_for(
                Control::VoiceSelect,
                &Kind::ChannelSelect {
                    values: vec![serenity::ChannelId::new(7)]
                },
                &draft
            ),
            Some(Event::SelectVoice(Some(ChannelKey(7))))
        );
        assert_eq!(
            event_for(
                Control::RoleSelect,
                &Kind::RoleSelect {
                    values: vec![serenity::RoleId::new(3), serenity::RoleId::new(2)]
                },
                &draft
            ),
            Some(Event::SelectDjRoles(vec![RoleKey(3), RoleKey(2)]))
        );
        // A select's data on a button control (stale or forged) is no event.
        assert_eq!(event_for(Control::Next, &strings(&["x"]), &draft), None);
        assert_eq!(
            event_for(Control::VolumeSelect, &strings(&["500:100"]), &draft),
            None
        );
    }

    #[test]
    fn a_newer_wizard_in_the_same_guild_replaces_the_older_and_expiry_sweeps() {
        let sessions = WizardSessions::default();
        let now = SystemTime::now();
        let start = || Wizard::start(UserKey(1), GuildSettings::default(), Vec::new(), now).0;
        let first = sessions.open(GuildKey(1), start(), "a".into());
        let second = sessions.open(GuildKey(1), start(), "b".into());
        sessions.open(GuildKey(2), start(), "c".into());
        assert_ne!(first, second);
        assert_eq!(sessions.len(), 2);
        assert!(sessions.sweep_expired(now).is_empty());
        let later = now + wizard::IDLE_TIMEOUT;
        let mut swept = sessions.sweep_expired(later);
        swept.sort();
        assert_eq!(
            swept,
            vec![(GuildKey(1), "b".to_owned()), (GuildKey(2), "c".to_owned())]
        );
        assert!(sessions.is_empty());
    }
}
