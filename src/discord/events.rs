//! Gateway events beyond commands: component clicks (list paging, the choose menu, play/stop buttons, the
//! setup wizard) and the voice states the player needs. Each interaction gets exactly one answer; unknown
//! `custom_id`s are left alone (another handler, or an old bot version, owns them).

use poise::serenity_prelude as serenity;

use crate::core::ids::{ChannelKey, GuildKey, UserKey};
use crate::core::wizard::ComponentId;
use crate::discord::commands::{radio, setup};
use crate::discord::render;
use crate::discord::{Data, Error};
use crate::player::VoiceEvent;

/// poise's event hook.
pub async fn handle(
    ctx: &serenity::Context,
    event: &serenity::FullEvent,
    data: &Data,
) -> Result<(), Error> {
    match event {
        serenity::FullEvent::InteractionCreate {
            interaction: serenity::Interaction::Component(component),
        } => on_component(ctx, data, component).await?,
        serenity::FullEvent::GuildCreate { guild, .. } => on_guild_create(data, guild).await,
        serenity::FullEvent::Ready { data_about_bot } => {
            if let Some(shard) = data_about_bot.shard {
                data.playback.shard_ready(shard.id.0, shard.total);
            }
        }
        serenity::FullEvent::VoiceStateUpdate { new, .. } => {
            on_voice_state(ctx, data, new).await;
        }
        _ => {}
    }
    Ok(())
}

/// The voice states a guild starts with (the player counts listeners from them), then 24-7 mode.
async fn on_guild_create(data: &Data, guild: &serenity::Guild) {
    let key = GuildKey(guild.id.get());
    for state in guild.voice_states.values() {
        let event = VoiceEvent::Member {
            guild: key,
            user: UserKey(state.user_id.get()),
            is_bot: guild
                .members
                .get(&state.user_id)
                .is_some_and(|m| m.user.bot),
            channel: state.channel_id.map(|c| ChannelKey(c.get())),
        };
        data.playback.on_voice_state(event).await;
    }
    data.playback.guild_available(key);
    data.playback.ensure_always_on(key).await;
}

async fn on_voice_state(ctx: &serenity::Context, data: &Data, state: &serenity::VoiceState) {
    let Some(guild) = state.guild_id else { return };
    let channel = state.channel_id.map(|c| ChannelKey(c.get()));
    let event = if state.user_id == ctx.cache.current_user().id {
        VoiceEvent::Own {
            guild: GuildKey(guild.get()),
            channel,
        }
    } else {
        VoiceEvent::Member {
            guild: GuildKey(guild.get()),
            user: UserKey(state.user_id.get()),
            is_bot: state.member.as_ref().is_some_and(|m| m.user.bot),
            channel,
        }
    };
    data.playback.on_voice_state(event).await;
}

async fn on_component(
    ctx: &serenity::Context,
    data: &Data,
    component: &serenity::ComponentInteraction,
) -> Result<(), Error> {
    let id = component.data.custom_id.as_str();
    let span = tracing::info_span!(
        "component",
        guild = component.guild_id.map(serenity::GuildId::get),
        custom_id = id
    );
    let _entered = span.enter();
    if let Some(button) = render::parse_list_custom_id(id) {
        return radio::on_list_button(ctx, data, component, &button).await;
    }
    if id == render::CHOOSE_ID {
        if let serenity::ComponentInteractionDataKind::StringSelect { values } =
            &component.data.kind
            && let Some(station) = values.first()
        {
            return radio::on_play_component(ctx, data, component, station).await;
        }
        return Ok(());
    }
    if let Some(station) = id.strip_prefix(render::PLAY_PREFIX) {
        return radio::on_play_component(ctx, data, component, station).await;
    }
    if id == render::STOP_ID || id == render::REFRESH_ID {
        return radio::on_session_button(ctx, data, component, id == render::STOP_ID).await;
    }
    if let Some(wizard) = ComponentId::parse(id) {
        return setup::on_wizard_component(ctx, data, component, wizard).await;
    }
    if id == setup::RESET_CONFIRM || id == setup::RESET_CANCEL {
        return setup::on_reset_component(ctx, data, component, id == setup::RESET_CONFIRM).await;
    }
    tracing::debug!("component not ours");
    Ok(())
}
