//! The adapter side of "who may do what, and how often": gathers the facts the core's policy and rate limits
//! need from an interaction (member roles, Manage Server, the running session) and turns refusals into
//! [`BotError::User`].
//!
//! [`command_check`] runs before every command (poise `command_check`): the per-user and per-guild command
//! budgets. Commands that change playback or the guild's lists call [`authorize`] with their action.
//! Autocomplete has its own, cheaper budget ([`autocomplete_allowed`]): a refused autocomplete answers with
//! no choices, because Discord shows nothing else for it anyway.

use poise::serenity_prelude as serenity;

use crate::core::guild::GuildSettings;
use crate::core::ids::{GuildKey, RoleKey, UserKey};
use crate::core::limits::Bucket;
use crate::core::locale::UserMessage as _;
pub use crate::core::policy::Action;
use crate::core::policy::{self, Actor, SessionView};
use crate::discord::error::BotError;
use crate::discord::{Context, Data};

/// Whether `permissions` include Manage Server (Administrator implies it).
pub fn manages_guild(permissions: Option<serenity::Permissions>) -> bool {
    permissions.is_some_and(|p| {
        p.contains(serenity::Permissions::MANAGE_GUILD)
            || p.contains(serenity::Permissions::ADMINISTRATOR)
    })
}

/// An [`Actor`] from an interaction's member (roles and the permissions Discord resolved for it).
pub fn actor_from_member(user: UserKey, member: Option<&serenity::Member>) -> Actor {
    let (roles, manage_guild) = member.map_or_else(
        || (Vec::new(), false),
        |m| {
            (
                m.roles.iter().map(|r| RoleKey(r.get())).collect(),
                manages_guild(m.permissions),
            )
        },
    );
    Actor {
        user,
        roles,
        manage_guild,
    }
}

/// The invoking member as an [`Actor`].
pub fn actor_of(ctx: Context<'_>) -> Actor {
    let user = UserKey(ctx.author().id.get());
    match ctx {
        poise::Context::Application(app) => {
            actor_from_member(user, app.interaction.member.as_deref())
        }
        poise::Context::Prefix(_) => actor_from_member(user, None),
    }
}

/// The guild's running session as the policy sees it.
pub fn session_view(data: &Data, guild: GuildKey) -> Option<SessionView> {
    data.playback.session_view(guild)
}

/// Refuses `action` unless the guild's policy allows `actor`.
pub fn authorize_actor(
    data: &Data,
    guild: GuildKey,
    actor: &Actor,
    action: Action,
    settings: &GuildSettings,
) -> Result<(), BotError> {
    let session = session_view(data, guild);
    policy::authorize(action, actor, settings, session.as_ref())
        .map_err(|denied| BotError::User(denied.user_message()))
}

/// Refuses `action` unless the guild's policy allows the invoking member.
pub fn authorize(
    ctx: Context<'_>,
    guild: GuildKey,
    action: Action,
    settings: &GuildSettings,
) -> Result<(), BotError> {
    authorize_actor(ctx.data(), guild, &actor_of(ctx), action, settings)
}

/// The rate-limit decision of one invocation. poise runs `command_check` for every command in the tree
/// (parent and sub-command) and twice per interaction, so the first call decides and the rest reuse it.
#[derive(Clone, Copy)]
struct Decided(Result<(), crate::core::limits::RetryAfter>);

/// poise `command_check`: the per-user and per-guild command budgets, drawn once per interaction.
/// Autocomplete interactions pass here and draw from their own budget in the callback.
pub async fn command_check(ctx: Context<'_>) -> Result<bool, BotError> {
    if let poise::Context::Application(app) = ctx
        && app.interaction_type == poise::CommandInteractionType::Autocomplete
    {
        return Ok(true);
    }
    let decided = ctx.invocation_data::<Decided>().await.map(|d| *d);
    let decided = if let Some(decided) = decided {
        decided
    } else {
        let user = UserKey(ctx.author().id.get());
        let guild = ctx.guild_id().map(|g| GuildKey(g.get()));
        let decided = Decided(ctx.data().limits.check(Bucket::Command, guild, user));
        if decided.0.is_err() {
            tracing::debug!(user = user.0, "command rate-limited");
        }
        ctx.set_invocation_data(decided).await;
        decided
    };
    match decided.0 {
        Ok(()) => Ok(true),
        Err(retry) => Err(BotError::User(retry.user_message())),
    }
}

/// The same command budget for a component click (buttons and menus start playback too).
pub fn component_allowed(
    data: &Data,
    guild: Option<GuildKey>,
    user: UserKey,
) -> Result<(), BotError> {
    data.limits
        .check(Bucket::Command, guild, user)
        .map_err(|retry| BotError::User(retry.user_message()))
}

/// The autocomplete budget; `false` means answer with no choices.
pub fn autocomplete_allowed(data: &Data, user: UserKey) -> bool {
    data.limits.check(Bucket::Autocomplete, None, user).is_ok()
}
