//! Every JSON payload the fake sends, built with `json!` from the [`World`](crate::world::World).
//!
//! serenity checks payloads strictly and silently drops one it cannot parse (only a `warn!` in the bot's log), so
//! each builder here is deserialized with serenity 0.12.5's own model types in `tests/fixtures.rs`: a field that
//! becomes required upstream breaks that test, not a scenario.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::world::{Channel, Guild, Member, Role, User, VoiceState, World};

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// A snowflake for "now" with a per-process increment, so ids sort by creation like Discord's.
pub fn snowflake(increment: u64) -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64;
    (ms.saturating_sub(DISCORD_EPOCH_MS) << 22) | (1 << 17) | (1 << 12) | (increment & 0xFFF)
}

/// ISO 8601 with microseconds and `+00:00`, the form Discord uses for `timestamp` and `joined_at`.
pub fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days.cast_signed() + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// When every fake member joined: a fixed date keeps fixtures stable.
pub const JOINED_AT: &str = "2024-01-01T00:00:00.000000+00:00";

pub fn user(u: &User) -> Value {
    json!({
        "id": u.id.to_string(),
        "username": u.name,
        "discriminator": "0",
        "global_name": null,
        "avatar": null,
        "bot": u.bot,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": null,
    })
}

pub fn member(m: &Member) -> Value {
    json!({
        "user": user(&m.user),
        "nick": m.nick,
        "avatar": null,
        "roles": m.roles.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "joined_at": JOINED_AT,
        "premium_since": null,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false,
        "communication_disabled_until": null,
        "banner": null,
    })
}

/// A member as it appears inside an interaction: with the effective `permissions` Discord computes.
pub fn interaction_member(m: &Member, permissions: u64) -> Value {
    let mut v = member(m);
    v["permissions"] = json!(permissions.to_string());
    v
}

pub fn role(r: &Role) -> Value {
    json!({
        "id": r.id.to_string(),
        "name": r.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false,
        "icon": null,
        "unicode_emoji": null,
        "position": r.position,
        "permissions": r.permissions.to_string(),
        "managed": false,
        "mentionable": false,
        "flags": 0,
    })
}

pub fn channel(c: &Channel, guild_id: u64) -> Value {
    let mut v = json!({
        "id": c.id.to_string(),
        "type": c.kind as u8,
        "guild_id": guild_id.to_string(),
        "name": c.name,
        "position": c.position,
        "permission_overwrites": [],
        "nsfw": false,
        "parent_id": null,
        "flags": 0,
    });
    if c.kind.is_voice() {
        v["bitrate"] = json!(64_000);
        v["user_limit"] = json!(0);
        v["rtc_region"] = Value::Null;
    } else {
        v["topic"] = Value::Null;
        v["last_message_id"] = Value::Null;
        v["rate_limit_per_user"] = json!(0);
    }
    v
}

/// A VOICE_STATE_UPDATE body (also the shape of GUILD_CREATE `voice_states[]` when `member` is omitted there).
/// `state` `None` means "left voice" (`channel_id: null`).
pub fn voice_state(
    guild_id: u64,
    user_id: u64,
    state: Option<&VoiceState>,
    session_id: &str,
    member_json: Option<Value>,
) -> Value {
    let mut v = json!({
        "guild_id": guild_id.to_string(),
        "channel_id": state.map(|s| s.channel_id.to_string()),
        "user_id": user_id.to_string(),
        "session_id": session_id,
        "deaf": false,
        "mute": false,
        "self_deaf": state.is_some_and(|s| s.self_deaf),
        "self_mute": state.is_some_and(|s| s.self_mute),
        "self_stream": false,
        "self_video": false,
        "suppress": false,
        "request_to_speak_timestamp": null,
    });
    if let Some(m) = member_json {
        v["member"] = m;
    }
    v
}

pub fn guild_create(g: &Guild, world: &World, bot_voice: Option<&VoiceState>) -> Value {
    let mut members: Vec<Value> = g.members.values().map(member).collect();
    members.push(member(&world.bot_member()));
    let mut voice_states: Vec<Value> = g
        .voice_states
        .iter()
        .map(|(u, s)| voice_state(g.id, *u, Some(s), &s.session_id, None))
        .collect();
    if let Some(s) = bot_voice {
        voice_states.push(voice_state(
            g.id,
            world.bot.id,
            Some(s),
            &s.session_id,
            None,
        ));
    }
    json!({
        "id": g.id.to_string(),
        "name": g.name,
        "icon": null,
        "icon_hash": null,
        "splash": null,
        "discovery_splash": null,
        "owner_id": g.owner_id.to_string(),
        "afk_channel_id": null,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": g.roles.iter().map(role).collect::<Vec<_>>(),
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": null,
        "system_channel_id": null,
        "system_channel_flags": 0,
        "rules_channel_id": null,
        "max_members": 500_000,
        "vanity_url_code": null,
        "description": null,
        "banner": null,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": g.preferred_locale,
        "public_updates_channel_id": null,
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": false,
        "joined_at": JOINED_AT,
        "large": false,
        "unavailable": false,
        "member_count": members.len(),
        "voice_states": voice_states,
        "members": members,
        "channels": g.channels.iter().map(|c| channel(c, g.id)).collect::<Vec<_>>(),
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    })
}

pub fn ready(world: &World, session_id: &str, resume_gateway_url: &str, shard: [u32; 2]) -> Value {
    json!({
        "v": 10,
        "user": {
            "id": world.bot.id.to_string(), "username": world.bot.name, "discriminator": "0",
            "global_name": null, "avatar": null, "bot": true, "verified": true, "mfa_enabled": false,
            "flags": 0, "public_flags": 0,
        },
        "guilds": world.guilds.keys().map(|id| json!({"id": id.to_string(), "unavailable": true})).collect::<Vec<_>>(),
        "session_id": session_id,
        "resume_gateway_url": resume_gateway_url,
        "shard": shard,
        "application": {"id": world.application_id.to_string(), "flags": 0},
        "private_channels": [],
        "presences": [],
        "relationships": [],
        "user_settings": {},
        "geo_ordered_rtc_regions": ["fake"],
        "guild_join_requests": [],
        "session_type": "normal",
        "auth_session_id_hash": "fake",
    })
}

pub fn voice_server_update(guild_id: u64, token: &str, endpoint: &str) -> Value {
    json!({"token": token, "guild_id": guild_id.to_string(), "endpoint": endpoint})
}

pub fn current_user(world: &World) -> Value {
    json!({
        "id": world.bot.id.to_string(),
        "username": world.bot.name,
        "discriminator": "0",
        "global_name": null,
        "avatar": null,
        "bot": true,
        "verified": true,
        "mfa_enabled": false,
        "locale": "en-US",
        "flags": 0,
        "public_flags": 0,
        "primary_guild": null,
    })
}

pub fn application_info(world: &World) -> Value {
    json!({
        "id": world.application_id.to_string(),
        "name": world.application_name,
        "icon": null,
        "description": "",
        "bot_public": true,
        "bot_require_code_grant": false,
        "owner": user(&world.owner),
        "verify_key": "0000000000000000000000000000000000000000000000000000000000000000",
        "team": null,
        "flags": 0,
        "bot": current_user(world),
        "approximate_guild_count": world.guilds.len(),
        "interactions_endpoint_url": null,
        "tags": [],
        // The rest of what Discord's spec (PrivateApplicationResponse) says every answer carries.
        "type": null,
        "flags_new": "0",
        "redirect_uris": [],
        "role_connections_verification_url": null,
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "eligible_oauth2_scopes": ["bot", "applications.commands"],
    })
}

pub fn gateway(url: &str) -> Value {
    json!({"url": url})
}

pub fn gateway_bot(url: &str) -> Value {
    gateway_bot_sharded(url, 1, 1)
}

/// `GET /gateway/bot` recommending `shards` shards, `max_concurrency` identifies per 5 s.
pub fn gateway_bot_sharded(url: &str, shards: u32, max_concurrency: u32) -> Value {
    json!({
        "url": url,
        "shards": shards,
        "session_start_limit": {
            "total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": max_concurrency,
        },
    })
}

/// Discord's answer to a command registration: the definition as sent plus the server-side fields.
pub fn registered_command(
    def: &Value,
    id: u64,
    application_id: u64,
    guild_id: Option<u64>,
    version: u64,
) -> Value {
    let mut obj = match def {
        Value::Object(o) => o.clone(),
        _ => serde_json::Map::new(),
    };
    // Discord answers with the options it stored: a field sent as `null` (serenity writes `min_length: null`) is
    // absent from the answer, not echoed.
    if let Some(options) = obj.get_mut("options") {
        drop_null_fields(options);
    }
    obj.entry("type").or_insert(json!(1));
    obj.entry("description").or_insert(json!(""));
    obj.entry("default_member_permissions")
        .or_insert(Value::Null);
    obj.entry("nsfw").or_insert(json!(false));
    obj.insert("id".into(), json!(id.to_string()));
    obj.insert("application_id".into(), json!(application_id.to_string()));
    obj.insert("version".into(), json!(version.to_string()));
    if let Some(g) = guild_id {
        obj.insert("guild_id".into(), json!(g.to_string()));
    }
    Value::Object(obj)
}

/// Removes `null`-valued fields from every object in `v`, recursively.
fn drop_null_fields(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.retain(|_, f| !f.is_null());
            o.values_mut().for_each(drop_null_fields);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_null_fields),
        _ => {}
    }
}

/// Message components as Discord stores and returns them: every component gets its numeric `id` (numbered in
/// order, depth first, where the sender gave none) and the defaults Discord fills in (select menus pick 1 of 1,
/// containers have no accent colour and no spoiler, separators are a small divider, thumbnails no description).
pub fn components_as_returned(components: &Value) -> Value {
    fn used(v: &Value, ids: &mut Vec<u64>) {
        match v {
            Value::Object(o) => {
                if let Some(id) = o.get("id").and_then(Value::as_u64) {
                    ids.push(id);
                }
                o.values().for_each(|c| used(c, ids));
            }
            Value::Array(a) => a.iter().for_each(|c| used(c, ids)),
            _ => {}
        }
    }
    fn number(v: &mut Value, next: &mut u64, taken: &[u64]) {
        let Value::Object(o) = v else {
            return;
        };
        if o.get("type").and_then(Value::as_u64).is_none() {
            return;
        }
        if o.get("id").is_none_or(Value::is_null) {
            while taken.contains(next) {
                *next += 1;
            }
            o.insert("id".into(), json!(*next));
            *next += 1;
        }
        match o.get("type").and_then(Value::as_u64) {
            Some(3 | 5..=8) => {
                o.entry("min_values").or_insert(json!(1));
                o.entry("max_values").or_insert(json!(1));
            }
            Some(11) => {
                o.entry("description").or_insert(Value::Null);
                o.entry("spoiler").or_insert(json!(false));
            }
            Some(14) => {
                o.entry("spacing").or_insert(json!(1));
                o.entry("divider").or_insert(json!(true));
            }
            Some(17) => {
                o.entry("accent_color").or_insert(Value::Null);
                o.entry("spoiler").or_insert(json!(false));
            }
            _ => {}
        }
        if let Some(Value::Array(children)) = o.get_mut("components") {
            for c in children {
                number(c, next, taken);
            }
        }
        if let Some(accessory) = o.get_mut("accessory") {
            number(accessory, next, taken);
        }
    }
    let mut out = components.clone();
    drop_null_fields(&mut out);
    let mut taken = Vec::new();
    used(&out, &mut taken);
    let mut next = 1;
    if let Value::Array(rows) = &mut out {
        for row in rows {
            number(row, &mut next, &taken);
        }
    }
    out
}

/// The fields of a message the fake stores; see [`message`].
#[derive(Debug, Clone, PartialEq)]
pub struct MessageFields<'a> {
    pub id: u64,
    pub channel_id: u64,
    pub guild_id: Option<u64>,
    pub author: &'a User,
    pub content: &'a str,
    pub embeds: &'a Value,
    pub components: &'a Value,
    pub flags: u64,
    pub kind: u8,
    pub webhook_id: Option<u64>,
    pub application_id: Option<u64>,
    pub timestamp: &'a str,
    pub edited_timestamp: Option<&'a str>,
}

pub fn message(m: &MessageFields<'_>) -> Value {
    let mut v = json!({
        "id": m.id.to_string(),
        "channel_id": m.channel_id.to_string(),
        "guild_id": m.guild_id.map(|g| g.to_string()),
        "author": user(m.author),
        "content": m.content,
        "timestamp": m.timestamp,
        "edited_timestamp": m.edited_timestamp,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "mention_channels": [],
        "attachments": [],
        "embeds": m.embeds,
        "reactions": [],
        "pinned": false,
        "type": m.kind,
        "flags": m.flags,
        "components": m.components,
    });
    // Discord omits these for a bot's own channel messages; it never sends them as `null`.
    if let Some(w) = m.webhook_id {
        v["webhook_id"] = json!(w.to_string());
    }
    if let Some(a) = m.application_id {
        v["application_id"] = json!(a.to_string());
    }
    v
}

/// The envelope every guild interaction shares; `kind` is 2 (command), 3 (component), 4 (autocomplete) or 5 (modal).
#[derive(Debug, Clone)]
pub struct InteractionFields<'a> {
    pub kind: u8,
    pub id: u64,
    pub token: &'a str,
    pub application_id: u64,
    pub guild: &'a Guild,
    pub channel: &'a Channel,
    pub member: &'a Member,
    pub data: Value,
    pub message: Option<Value>,
    pub app_permissions: u64,
}

pub fn interaction(f: &InteractionFields<'_>) -> Value {
    let permissions = f.guild.member_permissions(f.member.user.id);
    let mut v = json!({
        "id": f.id.to_string(),
        "application_id": f.application_id.to_string(),
        "type": f.kind,
        "data": f.data,
        "guild": {"id": f.guild.id.to_string(), "locale": f.guild.preferred_locale, "features": []},
        "guild_id": f.guild.id.to_string(),
        "channel": channel(f.channel, f.guild.id),
        "channel_id": f.channel.id.to_string(),
        "member": interaction_member(f.member, permissions),
        "token": f.token,
        "version": 1,
        "app_permissions": f.app_permissions.to_string(),
        "locale": "en-US",
        "guild_locale": f.guild.preferred_locale,
        "entitlements": [],
        "authorizing_integration_owners": {"0": f.guild.id.to_string()},
        "context": 0,
        "attachment_size_limit": 26_214_400,
    });
    if let Some(m) = &f.message {
        v["message"] = m.clone();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_matches_known_instants() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000000+00:00");
        let t = UNIX_EPOCH
            + Duration::from_micros(1_704_067_200_000_000 + 86_400_000_000 * 59 + 3_723_000_042);
        assert_eq!(iso8601(t), "2024-02-29T01:02:03.000042+00:00");
    }

    #[test]
    fn snowflakes_carry_their_creation_time() {
        let id = snowflake(1);
        let ms = (id >> 22) + DISCORD_EPOCH_MS;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as u64;
        assert!(
            now.abs_diff(ms) < 60_000,
            "snowflake time {ms} vs now {now}"
        );
    }
}
