//! The composition root: configuration → store → station library (+ watcher) → texts and limits → serenity
//! client (REST through `discord.api_base` when set, cache, non-privileged intents, songbird) → poise with
//! every command, registered globally or in `discord.dev_guild` → run until SIGTERM/SIGINT, then leave voice
//! and close the gateway cleanly.
//!
//! Start-up failures are one clear line each (no token, a token Discord rejects, an unreachable Discord, a
//! store in use, a broken station folder), returned as [`AppError`] for `alastor run` to print.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use poise::serenity_prelude as serenity;
use songbird::SerenityInit as _;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::core::limits::RateLimits;
use crate::core::locale::{LocaleError, Locales};
use crate::core::station::reload::{ReloadError, StationLibrary};
use crate::core::store::{Store, StoreError};
use crate::discord::commands::setup::{self, WizardSessions};
use crate::discord::{self, Data};
use crate::player::Playback;
use crate::service::{Service, Signals};

/// How long shutdown waits for voice calls to be left before closing the gateway anyway.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);
/// After the shutdown finished, how long the gateway may take to close before the process exits anyway
/// (a gateway that keeps invalidating the session kept serenity reconnecting, and SIGTERM was ignored).
const GATEWAY_CLOSE_DEADLINE: Duration = Duration::from_secs(5);

/// Why the bot could not start or stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("no Discord bot token: set DISCORD_TOKEN (or `discord.token` in alastor.toml)")]
    NoToken,
    #[error(
        "Discord rejected the bot token (401 Unauthorized): copy a fresh one from the developer portal into DISCORD_TOKEN"
    )]
    TokenRejected,
    #[error("cannot reach Discord{}: {source}", base.as_deref().map(|b| format!(" at {b}")).unwrap_or_default())]
    Unreachable {
        base: Option<String>,
        source: Box<serenity::Error>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("station library: {0}")]
    Stations(#[from] ReloadError),
    #[error("built-in texts: {0}")]
    Texts(#[from] LocaleError),
    #[error("cannot listen for SIGTERM/SIGHUP: {0}")]
    Signals(std::io::Error),
    #[error("audio engine: {0}")]
    Playback(String),
    #[error("registering the slash commands failed: {0}")]
    Registration(String),
    #[error("Discord connection failed: {0}")]
    Discord(Box<serenity::Error>),
    #[error(
        "the Discord gateway did not close within {0:?} after the shutdown (sessions were saved); exiting anyway"
    )]
    GatewayWouldNotClose(Duration),
}

impl From<serenity::Error> for AppError {
    fn from(e: serenity::Error) -> Self {
        Self::Discord(Box::new(e))
    }
}

/// Builds REST access: through `api_base` (a ratelimit proxy or the test harness) with serenity's own
/// ratelimiter off, because serenity ignores the proxy otherwise; straight to Discord when unset.
fn http(token: &str, api_base: Option<&str>) -> serenity::Http {
    let builder = serenity::HttpBuilder::new(token);
    match api_base {
        Some(base) => builder.proxy(base).ratelimiter_disabled(true).build(),
        None => builder.build(),
    }
}

/// `GET /users/@me`: proves the token before anything connects, so a bad one is one clear line.
async fn check_token(
    http: &serenity::Http,
    api_base: Option<&str>,
) -> Result<serenity::CurrentUser, AppError> {
    match http.get_current_user().await {
        Ok(user) => Ok(user),
        Err(serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(r)))
            if r.status_code.as_u16() == 401 =>
        {
            Err(AppError::TokenRejected)
        }
        Err(e) => Err(AppError::Unreachable {
            base: api_base.map(str::to_owned),
            source: Box::new(e),
        }),
    }
}

/// Re-reads the configuration the way the process started (for SIGHUP).
pub type ConfigLoader = Box<dyn Fn() -> Result<Config, String> + Send + Sync>;

/// How often open wizards are swept for timeouts and idle rate-limit entries pruned.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(15);

/// Runs the bot until a shutdown signal. `Ok` after a clean stop.
pub async fn run(config: &Config, reread: ConfigLoader) -> Result<(), AppError> {
    let started = Instant::now();
    tracing::info!(
        pid = std::process::id(),
        version = env!("CARGO_PKG_VERSION"),
        "alastor starting"
    );
    let token = config.discord.token.as_ref().ok_or(AppError::NoToken)?;
    let api_base = config.discord.api_base.as_deref();
    // Before the slow start-up work: from here on SIGTERM means "stop cleanly", not "die".
    let mut signals = Signals::new().map_err(AppError::Signals)?;
    let service = Arc::new(Service::start());

    let store = Store::open(&config.data.dir)?;
    let library = StationLibrary::open(&config.stations.dir)?;
    // Kept alive for the whole run: dropping the handle stops the watcher.
    let _watch = if config.stations.watch {
        library.watch(config.stations.reload_debounce)?
    } else {
        None
    };
    tracing::info!(
        stations = library.snapshot().catalog.len(),
        dir = %config.stations.dir.display(),
        "station library loaded"
    );
    let locales = Arc::new(Locales::embedded()?);
    let limits = Arc::new(RateLimits::new(&config.limits));

    let http = http(token.expose(), api_base);
    let me = check_token(&http, api_base).await?;
    tracing::info!(bot = %me.name, id = me.id.get(), "token accepted");
    let songbird = songbird::Songbird::serenity();
    let (fatal_tx, mut fatal_rx) = mpsc::unbounded_channel::<String>();
    let dev_guild = config.discord.dev_guild;
    let commands = discord::commands(&locales);
    // The player needs the client's HTTP handle, the framework's setup needs the player: the slot is filled
    // right after the client is built and read when READY arrives.
    let playback_slot: Arc<OnceLock<Playback>> = Arc::new(OnceLock::new());
    let parts = DataParts {
        store: store.clone(),
        library: Arc::clone(&library),
        locales: Arc::clone(&locales),
        limits,
        started,
        playback: Arc::clone(&playback_slot),
    };
    let framework = framework(commands, parts, dev_guild, fatal_tx, Arc::clone(&service));

    let intents = serenity::GatewayIntents::GUILDS | serenity::GatewayIntents::GUILD_VOICE_STATES;
    let mut client = serenity::ClientBuilder::new_with_http(http, intents)
        .framework(framework)
        .register_songbird_with(Arc::clone(&songbird))
        .await?;
    let playback = Playback::new(
        Arc::clone(&songbird),
        Arc::clone(&client.http),
        store,
        Arc::clone(&library),
        Arc::clone(&locales),
        config,
    )
    .map_err(|e| AppError::Playback(e.to_string()))?;
    let _ = playback_slot.set(playback.clone());

    let shard_manager = Arc::clone(&client.shard_manager);
    let stopper = {
        let shard_manager = Arc::clone(&shard_manager);
        let service = Arc::clone(&service);
        let library = Arc::clone(&library);
        let playback = playback.clone();
        let running = config.clone();
        tokio::spawn(async move {
            while signals.next().await == crate::service::Signal::Reload {
                reload(&service, &library, &playback, &running, &reread).await;
            }
            let playing = playback.active_sessions();
            tracing::info!(playing, "shutting down: saving sessions and leaving voice");
            service.stopping(&format!("saving {playing} sessions"));
            // Keeps every resume entry and leaves voice; the shard manager then flushes the queued leaves.
            playback.shutdown(SHUTDOWN_DEADLINE).await;
            leave_all(&songbird, &playback, SHUTDOWN_DEADLINE).await;
            shard_manager.shutdown_all().await;
            tracing::info!(
                saved = playing,
                "shutdown complete: sessions saved, voice left"
            );
        })
    };

    drive_gateway(&mut client, config, &mut fatal_rx, &shard_manager, stopper).await
}

/// Runs the shards until they end, a fatal start-up error arrives, or the shutdown finishes; then
/// waits a bounded time for the gateway to close.
async fn drive_gateway(
    client: &mut serenity::Client,
    config: &Config,
    fatal_rx: &mut mpsc::UnboundedReceiver<String>,
    shard_manager: &Arc<serenity::gateway::ShardManager>,
    stopper: tokio::task::JoinHandle<()>,
) -> Result<(), AppError> {
    let gateway = async {
        match &config.discord.shards {
            Some(s) => client.start_shard_range(s.first..s.last + 1, s.total).await,
            None => client.start_autosharded().await,
        }
    };
    tokio::pin!(gateway);
    tokio::pin!(stopper);
    let mut stopper_done = false;
    let result = tokio::select! {
        result = &mut gateway => result.map_err(AppError::from),
        Some(message) = fatal_rx.recv() => {
            shard_manager.shutdown_all().await;
            Err(AppError::Registration(message))
        }
        _ = &mut stopper => {
            // Sessions are saved and the shards were told to close: the gateway ends now, or we stop
            // waiting for it (the process must exit on SIGTERM whatever the gateway does).
            stopper_done = true;
            match tokio::time::timeout(GATEWAY_CLOSE_DEADLINE, &mut gateway).await {
                Ok(result) => result.map_err(AppError::from),
                Err(_) => Err(AppError::GatewayWouldNotClose(GATEWAY_CLOSE_DEADLINE)),
            }
        }
    };
    // A clean stop: the stopper finished (or is finishing) the shutdown; wait for it so sessions are saved.
    if !stopper_done
        && tokio::time::timeout(SHUTDOWN_DEADLINE * 2, &mut stopper)
            .await
            .is_err()
    {
        tracing::warn!("shutdown did not finish in time");
    }
    result
}

/// SIGHUP: re-reads the configuration and the station packs. The packs apply at once (the watcher covers
/// edits too; this covers file systems without inotify). The configuration is validated and compared: a
/// broken file is reported and the running settings stay; changed sections are named, and apply at the next
/// restart (the Discord connection, store and limits are built once).
async fn reload(
    service: &Service,
    library: &Arc<StationLibrary>,
    playback: &Playback,
    running: &Config,
    reread: &ConfigLoader,
) {
    service.reloading("reloading configuration and station packs");
    match reread() {
        Ok(new) => {
            let changed = changed_sections(running, &new);
            if changed.is_empty() {
                tracing::info!("configuration re-read: unchanged");
            } else {
                tracing::warn!(
                    sections = %changed.join(", "),
                    "configuration changed: these sections apply after a restart"
                );
            }
        }
        Err(error) => {
            tracing::error!(%error, "configuration re-read failed; keeping the running configuration");
        }
    }
    let library = Arc::clone(library);
    let result = tokio::task::spawn_blocking(move || {
        library
            .reload(&std::collections::BTreeSet::new())
            .map(|generation| (generation, library.snapshot().catalog.len()))
    })
    .await;
    match result {
        Ok(Ok((generation, stations))) => {
            tracing::info!(generation, stations, "station packs reloaded (SIGHUP)");
        }
        Ok(Err(error)) => tracing::warn!(%error, "reload failed; keeping the current stations"),
        Err(error) => tracing::warn!(%error, "reload task failed"),
    }
    service.ready(&status_line(playback));
}

/// The top-level configuration sections that differ.
fn changed_sections(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut note = |name, differs| {
        if differs {
            changed.push(name);
        }
    };
    note("discord", old.discord != new.discord);
    note("stations", old.stations != new.stations);
    note("limits", old.limits != new.limits);
    note("data", old.data != new.data);
    note("log", old.log != new.log);
    note("playback", old.playback != new.playback);
    note("check", old.check != new.check);
    changed
}

/// The `STATUS=` line systemd shows.
fn status_line(playback: &Playback) -> String {
    match playback.active_sessions() {
        1 => "1 guild playing".to_owned(),
        n => format!("{n} guilds playing"),
    }
}

/// Sweeps timed-out wizards, prunes idle rate-limit entries and refreshes the status line.
async fn housekeeping(http: Arc<serenity::Http>, data: &Data, service: &Service) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_status = String::new();
    loop {
        tick.tick().await;
        setup::close_expired(&http, data).await;
        data.limits.prune();
        let status = status_line(&data.playback);
        if status != last_status {
            service.status(&status);
            last_status = status;
        }
    }
}

/// poise with every command, the checks and hooks; on READY it registers the commands (in `dev_guild`, else
/// globally) and hands over `data`. A failed registration is sent to `fatal` so the process stops instead
/// of hanging (poise holds every event until setup succeeds).
/// What `Data` is built from once READY arrives.
struct DataParts {
    store: Store,
    library: Arc<StationLibrary>,
    locales: Arc<Locales>,
    limits: Arc<RateLimits>,
    started: Instant,
    playback: Arc<OnceLock<Playback>>,
}

fn framework(
    commands: Vec<poise::Command<Data, discord::Error>>,
    parts: DataParts,
    dev_guild: Option<u64>,
    fatal_tx: mpsc::UnboundedSender<String>,
    service: Arc<Service>,
) -> poise::Framework<Data, discord::Error> {
    poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands,
            on_error: |error| Box::pin(discord::error::on_error(error)),
            command_check: Some(|ctx| Box::pin(discord::checks::command_check(ctx))),
            event_handler: |framework, event| {
                Box::pin(discord::events::handle(
                    framework.serenity_context,
                    event,
                    framework.user_data,
                ))
            },
            // Owners are not used: skip the extra `GET /oauth2/applications/@me` at start.
            initialize_owners: false,
            // poise's default lets replies ping users; nothing the bot says should ping anyone.
            allowed_mentions: Some(discord::render::no_pings()),
            ..Default::default()
        })
        .setup(move |ctx, ready, framework| {
            Box::pin(async move {
                let commands = &framework.options().commands;
                let registered = match dev_guild {
                    Some(guild) => {
                        poise::builtins::register_in_guild(
                            ctx,
                            commands,
                            serenity::GuildId::new(guild),
                        )
                        .await
                    }
                    None => poise::builtins::register_globally(ctx, commands).await,
                };
                if let Err(e) = registered {
                    // Every later event would wait on this setup forever: stop the process instead.
                    let _ = fatal_tx.send(e.to_string());
                    return Err(e.into());
                }
                tracing::info!(
                    guilds = ready.guilds.len(),
                    scope = dev_guild.map_or_else(|| "global".to_owned(), |g| format!("guild {g}")),
                    "ready; commands registered"
                );
                let playback = parts.playback.get().cloned().ok_or_else(|| {
                    discord::BotError::Internal("the player was not built before READY".to_owned())
                })?;
                let data = Data {
                    store: parts.store,
                    library: parts.library,
                    locales: parts.locales,
                    limits: parts.limits,
                    playback: playback.clone(),
                    wizards: Arc::new(WizardSessions::default()),
                    started: parts.started,
                };
                if let Some(shard) = ready.shard {
                    playback.shard_ready(shard.id.0, shard.total);
                }
                // Sessions that were playing before a restart or crash come back without a command.
                tokio::spawn(async move { playback.resume_all().await });
                {
                    let data = data.clone();
                    let http = Arc::clone(&ctx.http);
                    let service = Arc::clone(&service);
                    tokio::spawn(async move { housekeeping(http, &data, &service).await });
                }
                service.ready(&format!("connected to {} guilds", ready.guilds.len()));
                Ok(data)
            })
        })
        .build()
}

/// Leaves every voice channel, bounded by `deadline` (a stuck voice gateway must not block the exit).
/// Each leave waits for its shard's gateway budget, as the player's do.
async fn leave_all(songbird: &songbird::Songbird, playback: &Playback, deadline: Duration) {
    let guilds: Vec<_> = songbird.iter().map(|(guild, _)| guild).collect();
    let leave = async {
        for guild in guilds {
            playback
                .pace_leave(crate::core::ids::GuildKey(guild.0.get()))
                .await;
            if let Err(e) = songbird.remove(guild).await {
                tracing::warn!(guild = guild.0.get(), error = %e, "could not leave voice");
            }
        }
    };
    if tokio::time::timeout(deadline, leave).await.is_err() {
        tracing::warn!(?deadline, "leaving voice took too long; closing anyway");
    }
}
