//! `/radio …`: browsing (`list`, `choose`), the guild's favourites, and station autocomplete. Commands turn
//! Discord input into core calls (catalog snapshot, store) and hand the result to `render`.

use std::sync::Arc;

use poise::serenity_prelude as serenity;

use crate::core::guild::{FavouriteError, Volume};
use crate::core::ids::ChannelKey;
use crate::core::ids::{GuildKey, UserKey};
use crate::core::locale::{Arg, Message};
use crate::core::policy::Actor;
use crate::core::station::reload::Snapshot;
use crate::core::station::{SearchHit, Station, StationId};
use crate::core::store::StoreError;
use crate::discord::checks::{self, Action};
use crate::discord::error::BotError;
use crate::discord::render::{self, ListPage, PAGE_SIZE};
use crate::discord::{Context, Data, Error, locale_for, locale_of, tr};
use crate::player::{NowPlaying, PlayError, PlayRequest, UpstreamHealth};

/// Discord's cap on autocomplete choices.
const MAX_CHOICES: usize = 25;
/// A search listing stops here: nobody pages past 25 pages of ten.
const MAX_LISTED: usize = 250;

/// Listen to internet radio in your voice channel
#[poise::command(
    slash_command,
    guild_only,
    subcommands("play", "stop", "info", "list", "choose", "volume", "favourite"),
    subcommand_required
)]
#[allow(clippy::unused_async)] // poise needs a body for a parent of sub-commands.
pub async fn radio(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

fn guild_key(ctx: Context<'_>) -> Result<GuildKey, BotError> {
    ctx.guild_id()
        .map(|g| GuildKey(g.get()))
        .ok_or_else(|| BotError::user("error-guild-only"))
}

/// The stations a guild sees first: favourites, then most played, then its region's, without repeats.
pub fn preferred_stations(data: &Data, snapshot: &Snapshot, guild: GuildKey) -> Vec<StationId> {
    let mut preferred: Vec<StationId> = Vec::new();
    let push = |id: StationId, list: &mut Vec<StationId>| {
        if !list.contains(&id) && snapshot.catalog.get(&id).is_some() {
            list.push(id);
        }
    };
    // Store trouble degrades suggestions; it never fails a keystroke.
    match data.store.favourites(guild) {
        Ok(favourites) => {
            for id in favourites.as_slice() {
                push(id.clone(), &mut preferred);
            }
        }
        Err(e) => tracing::warn!(guild = guild.0, error = %e, "favourites unreadable"),
    }
    match data.store.most_played(guild, MAX_CHOICES) {
        Ok(played) => {
            for (id, _) in played {
                push(id, &mut preferred);
            }
        }
        Err(e) => tracing::warn!(guild = guild.0, error = %e, "play counts unreadable"),
    }
    if preferred.len() < MAX_CHOICES {
        let region = data.store.settings(guild).ok().and_then(|s| s.region);
        if let Some(region) = region {
            let mut local: Vec<&Arc<Station>> = snapshot
                .catalog
                .iter()
                .filter(|s| {
                    s.country
                        .as_deref()
                        .is_some_and(|c| c.eq_ignore_ascii_case(region.as_str()))
                })
                .collect();
            local.sort_by(|a, b| a.name.cmp(&b.name));
            for s in local.into_iter().take(MAX_CHOICES) {
                push(s.id.clone(), &mut preferred);
            }
        }
    }
    preferred
}

/// Autocomplete choices for `partial` in `guild` (≤ 25; names ≤ 100 characters; values are station ids).
pub fn suggestions(data: &Data, guild: Option<GuildKey>, partial: &str) -> Vec<SearchHit> {
    let snapshot = data.library.snapshot();
    let preferred = guild.map_or_else(Vec::new, |g| preferred_stations(data, &snapshot, g));
    snapshot
        .index
        .autocomplete_preferring(partial, MAX_CHOICES, &preferred)
}

/// Station autocomplete for every `station` option.
#[allow(clippy::unused_async)] // poise calls autocomplete callbacks as async functions.
pub async fn autocomplete_station(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let data = ctx.data();
    if !checks::autocomplete_allowed(data, UserKey(ctx.author().id.get())) {
        return serenity::CreateAutocompleteResponse::new();
    }
    let guild = ctx.guild_id().map(|g| GuildKey(g.get()));
    // Synchronous on purpose: a ranked search over the in-memory index and two small redb reads take well
    // under a millisecond, less than handing them to the blocking pool would.
    let hits = suggestions(data, guild, partial);
    let choices = hits
        .into_iter()
        .map(|hit| {
            serenity::AutocompleteChoice::new(render::truncate(&hit.name, 100), hit.id.as_str())
        })
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

/// Resolves what the member picked or typed: an exact station id (an autocomplete value), else the best
/// search hit for the text.
pub fn resolve_station(snapshot: &Snapshot, input: &str) -> Result<Arc<Station>, Message> {
    let input = input.trim();
    if let Some(station) = snapshot.catalog.get_str(input) {
        return Ok(Arc::clone(station));
    }
    snapshot
        .index
        .search(input, 1)
        .first()
        .and_then(|hit| snapshot.catalog.get(&hit.id))
        .map(Arc::clone)
        .ok_or_else(|| {
            Message::new("radio-unknown-station").arg("query", render::untrusted(input, 100))
        })
}

/// Cuts page `page` of the listing for `query` (empty: every station alphabetically). A page past the end
/// is clamped to the last one.
pub fn list_page(snapshot: &Snapshot, query: &str, page: usize) -> ListPage {
    let query = query.trim();
    let (hits, total) = if query.is_empty() {
        let total = snapshot.index.len();
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        let page = page.min(pages - 1);
        (snapshot.index.search("", (page + 1) * PAGE_SIZE), total)
    } else {
        let hits = snapshot.index.search(query, MAX_LISTED);
        let total = hits.len();
        (hits, total)
    };
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.min(pages - 1);
    let stations = hits
        .iter()
        .skip(page * PAGE_SIZE)
        .take(PAGE_SIZE)
        .filter_map(|hit| snapshot.catalog.get(&hit.id).map(Arc::clone))
        .collect();
    ListPage {
        query: query.to_owned(),
        page,
        pages,
        total,
        stations,
        generation: snapshot.generation,
        stale: false,
    }
}

/// Browse the stations
#[poise::command(slash_command, guild_only)]
pub async fn list(
    ctx: Context<'_>,
    #[description = "Only stations matching these words"]
    #[max_length = 100]
    search: Option<String>,
) -> Result<(), Error> {
    let snapshot = ctx.data().library.snapshot();
    let page = list_page(&snapshot, search.as_deref().unwrap_or_default(), 0);
    let (embed, rows) = render::station_list(&ctx.data().locales, &locale_of(ctx), &page);
    ctx.send(
        poise::CreateReply::default()
            .embed(embed)
            .components(rows)
            .ephemeral(true),
    )
    .await?;
    Ok(())
}

/// A paging button of `/radio list` was clicked: answer with the page it asks for, updating that message.
/// A button from an older catalog (the packs changed since) still pages, over the current catalog, with a
/// note; a page past the end shows the last page.
pub async fn on_list_button(
    ctx: &serenity::Context,
    data: &Data,
    component: &serenity::ComponentInteraction,
    button: &render::ListButton,
) -> Result<(), Error> {
    let snapshot = data.library.snapshot();
    let mut page = list_page(&snapshot, &button.query, button.page);
    page.stale = button.generation != snapshot.generation;
    let locale = component_locale(data, component);
    let (embed, rows) = render::station_list(&data.locales, &locale, &page);
    component
        .create_response(
            ctx,
            serenity::CreateInteractionResponse::UpdateMessage(
                render::response_message().embed(embed).components(rows),
            ),
        )
        .await?;
    Ok(())
}

/// The locale for a component click (the same rule as for commands).
pub fn component_locale(
    data: &Data,
    component: &serenity::ComponentInteraction,
) -> crate::core::guild::LocaleTag {
    locale_for(
        data,
        component.guild_id.map(|g| GuildKey(g.get())),
        Some(component.locale.as_str()),
    )
}

/// The guild's favourites, then its most played stations, as catalog entries (≤ 25, no repeats).
fn popular_stations(
    data: &Data,
    snapshot: &Snapshot,
    guild: GuildKey,
) -> Result<Vec<Arc<Station>>, StoreError> {
    let mut ids: Vec<StationId> = data.store.favourites(guild)?.as_slice().to_vec();
    for (id, _) in data.store.most_played(guild, MAX_CHOICES)? {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids
        .iter()
        .filter_map(|id| snapshot.catalog.get(id).map(Arc::clone))
        .take(MAX_CHOICES)
        .collect())
}

/// Pick one of this server's favourite or most played stations
#[poise::command(slash_command, guild_only)]
pub async fn choose(ctx: Context<'_>) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    let snapshot = ctx.data().library.snapshot();
    let stations = popular_stations(ctx.data(), &snapshot, guild)?;
    if stations.is_empty() {
        return Err(BotError::user("radio-choose-empty"));
    }
    let locale = locale_of(ctx);
    ctx.send(
        poise::CreateReply::default()
            .content(ctx.data().locales.text(&locale, "radio-choose-prompt", &[]))
            .components(render::choose_menu(&ctx.data().locales, &locale, &stations))
            .ephemeral(true),
    )
    .await?;
    Ok(())
}

/// This server's favourite stations
#[poise::command(
    slash_command,
    guild_only,
    subcommands("favourite_add", "favourite_remove", "favourite_list"),
    subcommand_required
)]
#[allow(clippy::unused_async)] // poise needs a body for a parent of sub-commands.
pub async fn favourite(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

fn favourite_error(e: StoreError, station: &Station) -> BotError {
    match e {
        StoreError::Favourite(FavouriteError::Full) => BotError::User(
            Message::new("radio-favourite-full").arg("max", crate::core::guild::Favourites::MAX),
        ),
        StoreError::Favourite(FavouriteError::AlreadyPresent(_)) => BotError::User(
            Message::new("radio-favourite-already")
                .arg("station", render::untrusted(&station.name, 200)),
        ),
        StoreError::Favourite(FavouriteError::NotPresent(_)) => BotError::User(
            Message::new("radio-favourite-missing")
                .arg("station", render::untrusted(&station.name, 200)),
        ),
        other => BotError::Store(other),
    }
}

/// Add a station to the favourites
#[poise::command(slash_command, guild_only, rename = "add")]
pub async fn favourite_add(
    ctx: Context<'_>,
    #[description = "Station to add"]
    #[autocomplete = "autocomplete_station"]
    station: String,
) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    let data = ctx.data();
    checks::authorize(
        ctx,
        guild,
        Action::EditFavourites,
        &data.store.settings(guild)?,
    )?;
    let station = resolve_station(&data.library.snapshot(), &station)?;
    let id = station.id.clone();
    data.store
        .update_favourites(guild, |f| f.add(id))
        .map_err(|e| favourite_error(e, &station))?;
    let text = tr(
        ctx,
        "radio-favourite-added",
        &[("station", render::untrusted(&station.name, 200).into())],
    );
    ctx.send(poise::CreateReply::default().content(text))
        .await?;
    Ok(())
}

/// Remove a station from the favourites
#[poise::command(slash_command, guild_only, rename = "remove")]
pub async fn favourite_remove(
    ctx: Context<'_>,
    #[description = "Station to remove"]
    #[autocomplete = "autocomplete_station"]
    station: String,
) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    let data = ctx.data();
    checks::authorize(
        ctx,
        guild,
        Action::EditFavourites,
        &data.store.settings(guild)?,
    )?;
    // A favourite whose pack was removed can still be removed by its id.
    let snapshot = data.library.snapshot();
    let (id, name) = match resolve_station(&snapshot, &station) {
        Ok(s) => (s.id.clone(), s.name.clone()),
        Err(unknown) => match StationId::parse(station.trim()) {
            Ok(id) if data.store.favourites(guild)?.contains(&id) => {
                (id.clone(), id.as_str().to_owned())
            }
            _ => return Err(BotError::User(unknown)),
        },
    };
    let removed = id.clone();
    data.store
        .update_favourites(guild, |f| f.remove(&removed))
        .map_err(|e| match e {
            StoreError::Favourite(FavouriteError::NotPresent(_)) => BotError::User(
                Message::new("radio-favourite-missing")
                    .arg("station", render::untrusted(&name, 200)),
            ),
            other => BotError::Store(other),
        })?;
    let text = tr(
        ctx,
        "radio-favourite-removed",
        &[("station", render::untrusted(&name, 200).into())],
    );
    ctx.send(poise::CreateReply::default().content(text))
        .await?;
    Ok(())
}

/// Show the favourites
#[poise::command(slash_command, guild_only, rename = "list")]
pub async fn favourite_list(ctx: Context<'_>) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    let data = ctx.data();
    let snapshot = data.library.snapshot();
    let stations: Vec<Arc<Station>> = data
        .store
        .favourites(guild)?
        .as_slice()
        .iter()
        .filter_map(|id| snapshot.catalog.get(id).map(Arc::clone))
        .collect();
    let embed = render::favourites(&data.locales, &locale_of(ctx), &stations);
    ctx.send(poise::CreateReply::default().embed(embed)).await?;
    Ok(())
}

/// A play error as the member's message: the player's Fluent key with its arguments.
pub fn play_error_message(error: &PlayError) -> Message {
    let (key, args) = crate::player::error_key(error);
    let mut message = Message::new(key);
    for (name, value) in args {
        message = message.arg(name, value);
    }
    message
}

/// The voice channel to play in: the member's current one, else the guild's default.
fn voice_channel_for(
    cache: &serenity::Cache,
    data: &Data,
    guild: GuildKey,
    user: UserKey,
) -> Result<ChannelKey, BotError> {
    let current = serenity::GuildId::new(guild.0)
        .to_guild_cached(cache)
        .and_then(|g| {
            g.voice_states
                .get(&serenity::UserId::new(user.0))
                .and_then(|v| v.channel_id)
        })
        .map(|c| ChannelKey(c.get()));
    current
        .or(data.store.settings(guild)?.voice_channel)
        .ok_or_else(|| BotError::user("radio-not-in-voice"))
}

/// Why a play did not start, as the adapters answer it.
pub enum PlayRefusal {
    /// Show this message (ephemeral).
    Message(Message),
    /// The preflight failed: a message plus Retry and similar-station buttons.
    Unreachable {
        message: Message,
        station: String,
        similar: Vec<(String, String)>,
    },
    Internal(BotError),
}

impl From<BotError> for PlayRefusal {
    fn from(e: BotError) -> Self {
        match e {
            BotError::User(m) => Self::Message(m),
            other => Self::Internal(other),
        }
    }
}

/// Everything `/radio play`, `/radio choose` and the Retry / similar buttons share: policy, voice channel,
/// the player. `station` is an exact station id.
pub async fn start_play(
    cache: &serenity::Cache,
    data: &Data,
    guild: GuildKey,
    actor: &Actor,
    station: &Arc<Station>,
    text_channel: Option<ChannelKey>,
) -> Result<NowPlaying, PlayRefusal> {
    let settings = data.store.settings(guild).map_err(BotError::from)?;
    checks::authorize_actor(data, guild, actor, Action::Play, &settings)?;
    let voice_channel = voice_channel_for(cache, data, guild, actor.user)?;
    let request = PlayRequest {
        guild,
        voice_channel,
        text_channel,
        station: station.id.clone(),
        requested_by: actor.user,
        volume: None,
    };
    match data.playback.play(request).await {
        // The play is counted by `Playback::play`, the one place every successful play passes.
        Ok(now) => Ok(now),
        Err(error @ PlayError::Unreachable { .. }) => {
            let PlayError::Unreachable { ref similar, .. } = error else {
                unreachable!("matched above")
            };
            Err(PlayRefusal::Unreachable {
                message: play_error_message(&error),
                station: station.id.as_str().to_owned(),
                similar: similar
                    .iter()
                    .map(|(id, name)| (id.as_str().to_owned(), name.clone()))
                    .collect(),
            })
        }
        Err(PlayError::BadId { what }) => Err(PlayRefusal::Internal(BotError::Internal(format!(
            "invalid {what} id"
        )))),
        Err(other) => Err(PlayRefusal::Message(play_error_message(&other))),
    }
}

/// The now-playing card of `guild`'s session, when one runs.
pub fn card_for(data: &Data, guild: GuildKey) -> Option<render::NowPlayingCard> {
    let status = data.playback.status(guild)?;
    let station = data
        .library
        .snapshot()
        .catalog
        .get(&status.station)
        .map(Arc::clone)?;
    let listeners = data
        .playback
        .session_view(guild)
        .map(|v| v.humans_in_channel.len());
    Some(render::NowPlayingCard {
        station,
        title: status.title.clone(),
        channel: status.channel.0,
        volume_percent: status.volume.percent(),
        since: Some(status.since),
        codec: status.codec.clone(),
        bitrate: status.bitrate,
        sample_rate: status.sample_rate,
        channels: status.channels,
        listeners,
        reconnecting: matches!(status.upstream, UpstreamHealth::Retrying { .. }),
    })
}

/// The card right after a play started (the session's status may lag the reply by a moment).
fn card_after_play(
    data: &Data,
    guild: GuildKey,
    station: &Arc<Station>,
    now: &NowPlaying,
) -> render::NowPlayingCard {
    card_for(data, guild)
        .filter(|c| c.station.id == now.station)
        .unwrap_or_else(|| render::NowPlayingCard {
            station: Arc::clone(station),
            title: None,
            channel: now.channel.0,
            volume_percent: now.volume.percent(),
            since: Some(std::time::SystemTime::now()),
            codec: None,
            bitrate: None,
            sample_rate: None,
            channels: None,
            listeners: None,
            reconnecting: false,
        })
}

/// Play a station in your voice channel
#[poise::command(slash_command, guild_only)]
pub async fn play(
    ctx: Context<'_>,
    #[description = "Station name, alias or genre"]
    #[autocomplete = "autocomplete_station"]
    #[max_length = 100]
    station: String,
) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    let data = ctx.data();
    let station = resolve_station(&data.library.snapshot(), &station)?;
    // Cheap refusals answer at once (ephemeral); the preflight and the voice join may take seconds.
    let settings = data.store.settings(guild)?;
    let actor = checks::actor_of(ctx);
    checks::authorize_actor(data, guild, &actor, Action::Play, &settings)?;
    voice_channel_for(ctx.cache(), data, guild, actor.user)?;
    ctx.defer_ephemeral().await?;
    let text_channel = Some(ChannelKey(ctx.channel_id().get()));
    let locale = locale_of(ctx);
    match start_play(ctx.cache(), data, guild, &actor, &station, text_channel).await {
        Ok(now) => {
            ctx.send(poise::CreateReply::default().content(data.locales.text(
                &locale,
                "radio-starting",
                &[
                    ("station", Arg::from(render::untrusted(&station.name, 200))),
                    ("channel", Arg::from(format!("<#{}>", now.channel.0))),
                ],
            )))
            .await?;
            let (embed, rows) = render::now_playing(
                &data.locales,
                &locale,
                &card_after_play(data, guild, &station, &now),
            );
            // A follow-up, so everyone sees what plays while refusals stay private.
            ctx.send(
                poise::CreateReply::default()
                    .embed(embed)
                    .components(rows)
                    .ephemeral(false),
            )
            .await?;
            Ok(())
        }
        Err(PlayRefusal::Message(message)) => Err(BotError::User(message)),
        Err(PlayRefusal::Internal(e)) => Err(e),
        Err(PlayRefusal::Unreachable {
            message,
            station,
            similar,
        }) => {
            let rows = render::play_failed_buttons(&data.locales, &locale, &station, &similar);
            ctx.send(
                poise::CreateReply::default()
                    .content(data.locales.render(&locale, &message))
                    .components(rows)
                    .ephemeral(true),
            )
            .await?;
            Ok(())
        }
    }
}

/// Stop the radio and leave the voice channel
#[poise::command(slash_command, guild_only)]
pub async fn stop(ctx: Context<'_>) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    let data = ctx.data();
    let actor = checks::actor_of(ctx);
    let name = stop_session(data, guild, &actor).await?;
    let text = tr(
        ctx,
        "radio-stopped",
        &[("station", render::untrusted(&name, 200).into())],
    );
    ctx.send(poise::CreateReply::default().content(text))
        .await?;
    Ok(())
}

/// Stops `guild`'s session if `actor` may; returns the station's name.
async fn stop_session(data: &Data, guild: GuildKey, actor: &Actor) -> Result<String, BotError> {
    // Permission first: a member who may not stop learns what would allow it, playing or not.
    checks::authorize_actor(
        data,
        guild,
        actor,
        Action::Stop,
        &data.store.settings(guild)?,
    )?;
    let status = data
        .playback
        .status(guild)
        .ok_or_else(|| BotError::user("radio-nothing-playing"))?;
    match data.playback.stop(guild).await {
        Ok(()) | Err(PlayError::NotPlaying) => {}
        Err(e) => return Err(BotError::User(play_error_message(&e))),
    }
    let name = data
        .library
        .snapshot()
        .catalog
        .get(&status.station)
        .map_or_else(|| status.station.as_str().to_owned(), |s| s.name.clone());
    Ok(name)
}

/// What is playing right now
#[poise::command(slash_command, guild_only)]
pub async fn info(ctx: Context<'_>) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    let data = ctx.data();
    let card = card_for(data, guild).ok_or_else(|| BotError::user("radio-nothing-playing"))?;
    let (embed, rows) = render::now_playing(&data.locales, &locale_of(ctx), &card);
    ctx.send(poise::CreateReply::default().embed(embed).components(rows))
        .await?;
    Ok(())
}

/// Set the playback volume
#[poise::command(slash_command, guild_only)]
pub async fn volume(
    ctx: Context<'_>,
    #[description = "Volume in percent (capped by the server's maximum)"]
    #[min = 0]
    #[max = 200]
    percent: u32,
) -> Result<(), Error> {
    let guild = guild_key(ctx)?;
    let data = ctx.data();
    let settings = data.store.settings(guild)?;
    checks::authorize(ctx, guild, Action::Volume, &settings)?;
    let asked = Volume::new(percent).map_err(|_| {
        BotError::User(Message::new("radio-volume-invalid").arg("percent", u64::from(percent)))
    })?;
    let volume = asked.capped(settings.max_volume);
    match data.playback.set_volume(guild, volume).await {
        Ok(()) => {}
        Err(PlayError::NotPlaying) => return Err(BotError::user("radio-nothing-playing")),
        Err(e) => return Err(BotError::User(play_error_message(&e))),
    }
    let key = if volume == asked {
        "radio-volume-set"
    } else {
        "radio-volume-capped"
    };
    let text = tr(ctx, key, &[("percent", u64::from(volume.percent()).into())]);
    ctx.send(poise::CreateReply::default().content(text))
        .await?;
    Ok(())
}

/// Answers a component with an ephemeral message.
async fn component_ephemeral(
    ctx: &serenity::Context,
    component: &serenity::ComponentInteraction,
    content: String,
    rows: Vec<serenity::CreateActionRow>,
) -> Result<(), Error> {
    component
        .create_response(
            ctx,
            serenity::CreateInteractionResponse::Message(
                render::response_message()
                    .content(content)
                    .components(rows)
                    .ephemeral(true),
            ),
        )
        .await?;
    Ok(())
}

/// A click that starts a station: the `/radio choose` menu, Retry, or a similar station.
pub async fn on_play_component(
    ctx: &serenity::Context,
    data: &Data,
    component: &serenity::ComponentInteraction,
    station: &str,
) -> Result<(), Error> {
    let Some(guild) = component.guild_id.map(|g| GuildKey(g.get())) else {
        return Ok(());
    };
    let locale = component_locale(data, component);
    let user = UserKey(component.user.id.get());
    if let Err(BotError::User(m)) = checks::component_allowed(data, Some(guild), user) {
        return component_ephemeral(ctx, component, data.locales.render(&locale, &m), Vec::new())
            .await;
    }
    let snapshot = data.library.snapshot();
    let station = match resolve_station(&snapshot, station) {
        Ok(s) => s,
        Err(m) => {
            return component_ephemeral(
                ctx,
                component,
                data.locales.render(&locale, &m),
                Vec::new(),
            )
            .await;
        }
    };
    // The join can take seconds: acknowledge now (ephemeral "thinking"), answer in follow-ups.
    component
        .create_response(
            ctx,
            serenity::CreateInteractionResponse::Defer(render::response_message().ephemeral(true)),
        )
        .await?;
    let actor = checks::actor_from_member(user, component.member.as_ref());
    let text_channel = Some(ChannelKey(component.channel_id.get()));
    let (content, rows, public) =
        match start_play(&ctx.cache, data, guild, &actor, &station, text_channel).await {
            Ok(now) => {
                let content = data.locales.text(
                    &locale,
                    "radio-starting",
                    &[
                        ("station", Arg::from(render::untrusted(&station.name, 200))),
                        ("channel", Arg::from(format!("<#{}>", now.channel.0))),
                    ],
                );
                (
                    content,
                    Vec::new(),
                    Some(card_after_play(data, guild, &station, &now)),
                )
            }
            Err(PlayRefusal::Message(m)) => (data.locales.render(&locale, &m), Vec::new(), None),
            Err(PlayRefusal::Unreachable {
                message,
                station,
                similar,
            }) => (
                data.locales.render(&locale, &message),
                render::play_failed_buttons(&data.locales, &locale, &station, &similar),
                None,
            ),
            Err(PlayRefusal::Internal(e)) => {
                let text = crate::discord::error::user_facing(data, &locale, &e, "component play");
                (text, Vec::new(), None)
            }
        };
    component
        .edit_response(
            ctx,
            render::response_edit().content(content).components(rows),
        )
        .await?;
    if let Some(card) = public {
        let (embed, rows) = render::now_playing(&data.locales, &locale, &card);
        component
            .create_followup(ctx, render::followup().embed(embed).components(rows))
            .await?;
    }
    Ok(())
}

/// The Stop and Refresh buttons under a now-playing embed.
pub async fn on_session_button(
    ctx: &serenity::Context,
    data: &Data,
    component: &serenity::ComponentInteraction,
    stop: bool,
) -> Result<(), Error> {
    let Some(guild) = component.guild_id.map(|g| GuildKey(g.get())) else {
        return Ok(());
    };
    let locale = component_locale(data, component);
    let user = UserKey(component.user.id.get());
    if stop {
        let actor = checks::actor_from_member(user, component.member.as_ref());
        let result = match checks::component_allowed(data, Some(guild), user) {
            Ok(()) => stop_session(data, guild, &actor).await,
            Err(e) => Err(e),
        };
        return match result {
            Ok(_) => {
                let text = data.locales.text(
                    &locale,
                    "radio-stopped-by-button",
                    &[("user", Arg::from(format!("<@{}>", user.0)))],
                );
                component
                    .create_response(
                        ctx,
                        serenity::CreateInteractionResponse::UpdateMessage(
                            render::response_message()
                                .content(text)
                                .embeds(Vec::new())
                                .components(Vec::new()),
                        ),
                    )
                    .await?;
                Ok(())
            }
            Err(e) => {
                let text = crate::discord::error::user_facing(data, &locale, &e, "stop button");
                component_ephemeral(ctx, component, text, Vec::new()).await
            }
        };
    }
    let message = if let Some(card) = card_for(data, guild) {
        let (embed, rows) = render::now_playing(&data.locales, &locale, &card);
        render::response_message().embed(embed).components(rows)
    } else {
        render::response_message()
            .content(data.locales.text(&locale, "radio-nothing-playing", &[]))
            .embeds(Vec::new())
            .components(Vec::new())
    };
    component
        .create_response(
            ctx,
            serenity::CreateInteractionResponse::UpdateMessage(message),
        )
        .await?;
    Ok(())
}
