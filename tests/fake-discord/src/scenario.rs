//! The test-facing API: handles that read like the scenario ("member 2 of guild 1 runs `/radio play`", "what
//! does guild 1 hear?") and turn into the gateway dispatches and state queries Discord would produce.
//!
//! Slash commands are built from what the bot registered (option types, sub-commands, choices, required options),
//! the way a Discord client builds them, so a test cannot invoke something a user could not.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::fixtures::{self, InteractionFields};
use crate::gateway;
use crate::state::{
    Callback, Fault, FaultKind, InteractionRecord, MessageRecord, Outbound, RecordedRequest,
    SentOp, State,
};
use crate::world::{VoiceState, permissions};
use crate::{FakeDiscord, audio};

/// How long a dispatch waits for the bot to have a gateway session (it may be reconnecting).
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);
/// Slack on top of the interaction deadline before `callback()` gives up (the fake rejects late callbacks anyway).
const CALLBACK_GRACE: Duration = Duration::from_secs(2);
/// Default bound for a visible reply (deferred commands may join voice first: songbird retries take ~12 s).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// One autocomplete choice the bot offered.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub name: String,
    pub value: Value,
}

fn timeout_err(what: String, after: Duration, seen: String) -> Error {
    Error::Timeout { what, after, seen }
}

/// Sends a dispatch, waiting (bounded) for the bot to have a session.
async fn dispatch_when_identified(
    d: &FakeDiscord,
    what: &str,
    build: impl Fn(&mut State) -> Result<Option<(String, Value)>>,
) -> Result<()> {
    d.shared
        .hub
        .wait(
            format!("a gateway session to deliver {what}"),
            SESSION_TIMEOUT,
            |st| st.gateway.all_shards_identified().then_some(()),
        )
        .await?;
    d.shared.hub.update(|st| {
        if let Some((t, payload)) = build(st)? {
            gateway::dispatch(st, &t, payload);
        }
        Ok(())
    })
}

/// A guild of the fake world.
#[derive(Debug, Clone, Copy)]
pub struct GuildHandle<'a> {
    d: &'a FakeDiscord,
    id: u64,
}

impl<'a> GuildHandle<'a> {
    pub(crate) fn new(d: &'a FakeDiscord, id: u64) -> Self {
        Self { d, id }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// A member acting in this guild (invoking commands in the guild's first text channel unless
    /// [`MemberHandle::in_channel`] says otherwise).
    pub fn member(&self, user_id: u64) -> MemberHandle<'a> {
        MemberHandle {
            d: self.d,
            guild: self.id,
            user: user_id,
            channel: None,
        }
    }

    /// What the bot sends to this guild's voice connection.
    pub fn voice(&self) -> VoiceHandle<'a> {
        VoiceHandle {
            d: self.d,
            guild: self.id,
        }
    }

    /// The voice channel the bot sits in (from its own op 4 updates), if any.
    pub fn bot_voice_channel(&self) -> Option<u64> {
        self.d
            .shared
            .hub
            .read(|st| st.gateway.bot_voice.get(&self.id).map(|v| v.channel_id))
    }

    /// Waits until the bot sits in `channel` (`None`: until it left voice).
    pub async fn wait_bot_voice_channel(
        &self,
        channel: Option<u64>,
        timeout: Duration,
    ) -> Result<()> {
        let g = self.id;
        self.d
            .shared
            .hub
            .wait(
                format!("the bot's voice channel in guild {g} to be {channel:?}"),
                timeout,
                |st| (st.gateway.bot_voice.get(&g).map(|v| v.channel_id) == channel).then_some(()),
            )
            .await
    }

    /// Users in a voice channel, the bot included, as the fake's world has them.
    pub fn voice_channel_members(&self, channel: u64) -> Vec<u64> {
        self.d.shared.hub.read(|st| {
            let mut users = st
                .world
                .guilds
                .get(&self.id)
                .map(|g| g.voice_channel_members(channel))
                .unwrap_or_default();
            if st
                .gateway
                .bot_voice
                .get(&self.id)
                .is_some_and(|v| v.channel_id == channel)
            {
                users.push(st.world.bot.id);
            }
            users
        })
    }

    /// Messages the bot posted in this guild, oldest first (deleted ones excluded).
    pub fn messages(&self) -> Vec<Message<'a>> {
        let g = self.id;
        self.d.shared.hub.read(|st| {
            st.messages
                .values()
                .filter(|m| m.guild_id == Some(g) && !m.deleted)
                .map(|m| Message::new(self.d, m.clone(), invoker_of(st, m)))
                .collect()
        })
    }

    /// Waits for a (non-deleted) bot message in this guild matching `pred`.
    pub async fn wait_message(
        &self,
        timeout: Duration,
        pred: impl Fn(&MessageRecord) -> bool,
    ) -> Result<Message<'a>> {
        let g = self.id;
        let d = self.d;
        d.shared
            .hub
            .wait(
                format!("a matching bot message in guild {g}"),
                timeout,
                |st| {
                    st.messages
                        .values()
                        .rev()
                        .find(|m| m.guild_id == Some(g) && !m.deleted && pred(m))
                        .map(|m| Message::new(d, m.clone(), invoker_of(st, m)))
                },
            )
            .await
    }
}

/// Who a message's buttons are clicked as by default: the member whose interaction produced it.
fn invoker_of(st: &State, m: &MessageRecord) -> Option<(u64, u64)> {
    let ix = st.interactions.get(&m.interaction_id?)?;
    Some((ix.guild_id, ix.user_id))
}

/// A member of a guild, acting like a Discord user would.
#[derive(Debug, Clone, Copy)]
pub struct MemberHandle<'a> {
    d: &'a FakeDiscord,
    guild: u64,
    user: u64,
    channel: Option<u64>,
}

/// What `run`/`autocomplete` send: command data plus the interaction kind.
struct Invocation {
    kind: u8,
    data: Value,
    message: Option<MessageRecord>,
}

impl<'a> MemberHandle<'a> {
    /// Invoke commands in `channel` instead of the guild's first text channel.
    #[must_use]
    pub fn in_channel(mut self, channel: u64) -> Self {
        self.channel = Some(channel);
        self
    }

    pub fn id(&self) -> u64 {
        self.user
    }

    /// Runs a slash command: `run("/radio play", [("station", "jazz")])`. Sub-commands and groups are words of the
    /// command; option values are given as text and typed from the registered definition (integer, number,
    /// boolean, user, channel, role, mentionable). Returns once the INTERACTION_CREATE is dispatched.
    pub async fn run<'s, I>(&self, command: &str, options: I) -> Result<Interaction<'a>>
    where
        I: IntoIterator<Item = (&'s str, &'s str)>,
    {
        let options: Vec<(String, String)> = options
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let command = command.to_owned();
        let guild = self.guild;
        self.invoke(&format!("{command} (interaction)"), move |st| {
            let data = command_data(st, guild, &command, &options, None)?;
            Ok(Invocation {
                kind: 2,
                data,
                message: None,
            })
        })
        .await
    }

    /// Types into an autocompleted option and returns the choices the bot offered (it must answer with type 8
    /// within the interaction deadline). `focused` is `(option, partial text)`; `options` are the other options
    /// already filled in.
    pub async fn autocomplete<'s, I>(
        &self,
        command: &str,
        focused: (&str, &str),
        options: I,
    ) -> Result<Vec<Choice>>
    where
        I: IntoIterator<Item = (&'s str, &'s str)>,
    {
        let options: Vec<(String, String)> = options
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let focused = (focused.0.to_owned(), focused.1.to_owned());
        let command = command.to_owned();
        let guild = self.guild;
        let ix = self
            .invoke(&format!("{command} (autocomplete)"), move |st| {
                let data = command_data(st, guild, &command, &options, Some(&focused))?;
                Ok(Invocation {
                    kind: 4,
                    data,
                    message: None,
                })
            })
            .await?;
        ix.choices().await
    }

    /// Clicks a button of a bot message.
    pub async fn click(&self, message: &Message<'_>, custom_id: &str) -> Result<Interaction<'a>> {
        let (rec, custom_id) = (message.record.clone(), custom_id.to_owned());
        self.invoke(&format!("click on {custom_id}"), move |st| {
            let current = current_message(st, rec.id)?;
            let c = find_component(&current, &custom_id)?;
            if c.get("type").and_then(Value::as_u64) != Some(2) {
                return Err(Error::scenario(format!(
                    "component {custom_id:?} is not a button: {c}"
                )));
            }
            if c.get("disabled").and_then(Value::as_bool) == Some(true) {
                return Err(Error::scenario(format!(
                    "button {custom_id:?} is disabled: a user cannot click it"
                )));
            }
            Ok(Invocation {
                kind: 3,
                data: json!({"custom_id": custom_id, "component_type": 2}),
                message: Some(current),
            })
        })
        .await
    }

    /// Picks `values` in a select menu of a bot message. String selects take option values; user, role, channel
    /// and mentionable selects take ids (resolved data is attached as Discord does).
    pub async fn select(
        &self,
        message: &Message<'_>,
        custom_id: &str,
        values: &[&str],
    ) -> Result<Interaction<'a>> {
        let (rec, custom_id) = (message.record.clone(), custom_id.to_owned());
        let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        let guild = self.guild;
        self.invoke(&format!("select on {custom_id}"), move |st| {
            let current = current_message(st, rec.id)?;
            let c = find_component(&current, &custom_id)?;
            let ctype = c.get("type").and_then(Value::as_u64).unwrap_or(0);
            if !matches!(ctype, 3 | 5..=8) {
                return Err(Error::scenario(format!(
                    "component {custom_id:?} is not a select menu: {c}"
                )));
            }
            let min = c.get("min_values").and_then(Value::as_u64).unwrap_or(1) as usize;
            let max = c.get("max_values").and_then(Value::as_u64).unwrap_or(1) as usize;
            if values.len() < min || values.len() > max {
                return Err(Error::scenario(format!(
                    "{custom_id:?} takes {min}..={max} values, got {}",
                    values.len()
                )));
            }
            let mut data =
                json!({"custom_id": custom_id, "component_type": ctype, "values": values});
            if ctype == 3 {
                let offered: Vec<&str> = c
                    .get("options")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o.get("value").and_then(Value::as_str))
                    .collect();
                if let Some(v) = values.iter().find(|v| !offered.contains(&v.as_str())) {
                    return Err(Error::scenario(format!(
                        "{custom_id:?} offers {offered:?}, not {v:?}"
                    )));
                }
            } else {
                let mut resolved = Map::new();
                for v in &values {
                    let id: u64 = v
                        .parse()
                        .map_err(|_| Error::scenario(format!("select value {v:?} is not an id")))?;
                    resolve(st, guild, id, ctype_to_option(ctype), &mut resolved)?;
                }
                data["resolved"] = Value::Object(resolved);
            }
            Ok(Invocation {
                kind: 3,
                data,
                message: Some(current),
            })
        })
        .await
    }

    /// Fills in and submits a modal the bot opened. `fields` are `(text input custom_id, value)`.
    pub async fn submit_modal<'s, I>(&self, modal: &Modal, fields: I) -> Result<Interaction<'a>>
    where
        I: IntoIterator<Item = (&'s str, &'s str)>,
    {
        let fields: Vec<(String, String)> = fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let modal = modal.clone();
        self.invoke(&format!("modal {}", modal.custom_id), move |st| {
            let inputs: Vec<&Value> = modal.components.iter()
                .flat_map(|r| r.get("components").and_then(Value::as_array).into_iter().flatten())
                .collect();
            for (id, _) in &fields {
                if !inputs.iter().any(|i| i.get("custom_id").and_then(Value::as_str) == Some(id)) {
                    return Err(Error::scenario(format!("modal {:?} has no text input {id:?}", modal.custom_id)));
                }
            }
            let mut rows = Vec::new();
            for input in inputs {
                let id = input.get("custom_id").and_then(Value::as_str).unwrap_or("");
                let value = fields.iter().find(|(k, _)| k == id).map(|(_, v)| v.clone());
                if value.is_none() && input.get("required").and_then(Value::as_bool).unwrap_or(true) {
                    return Err(Error::scenario(format!("modal {:?}: required input {id:?} not filled in", modal.custom_id)));
                }
                rows.push(json!({"type": 1, "components": [{"type": 4, "custom_id": id, "value": value.unwrap_or_default()}]}));
            }
            let message = match modal.source_message { Some(m) => Some(current_message(st, m)?), None => None };
            Ok(Invocation { kind: 5, data: json!({"custom_id": modal.custom_id, "components": rows}), message })
        })
        .await
    }

    /// Joins a voice channel (or moves to it): the world changes and the bot gets VOICE_STATE_UPDATE.
    pub async fn join_voice(&self, channel: u64) -> Result<()> {
        let (g, u) = (self.guild, self.user);
        dispatch_when_identified(self.d, "a member's voice join", move |st| {
            let guild = st
                .world
                .guilds
                .get_mut(&g)
                .ok_or_else(|| Error::scenario(format!("no guild {g}")))?;
            if !guild.channel(channel).is_some_and(|c| c.kind.is_voice()) {
                return Err(Error::scenario(format!(
                    "channel {channel} is not a voice channel of guild {g}"
                )));
            }
            let member = guild
                .members
                .get(&u)
                .cloned()
                .ok_or_else(|| Error::scenario(format!("no member {u} in guild {g}")))?;
            let state = VoiceState::new(u, channel);
            guild.voice_states.insert(u, state.clone());
            crate::dave::member_voice_changed(st, g, u);
            Ok(Some((
                "VOICE_STATE_UPDATE".to_owned(),
                fixtures::voice_state(
                    g,
                    u,
                    Some(&state),
                    &state.session_id,
                    Some(fixtures::member(&member)),
                ),
            )))
        })
        .await
    }

    /// Leaves voice: the world changes and the bot gets VOICE_STATE_UPDATE with `channel_id: null`.
    pub async fn leave_voice(&self) -> Result<()> {
        let (g, u) = (self.guild, self.user);
        dispatch_when_identified(self.d, "a member's voice leave", move |st| {
            let guild = st
                .world
                .guilds
                .get_mut(&g)
                .ok_or_else(|| Error::scenario(format!("no guild {g}")))?;
            let member = guild
                .members
                .get(&u)
                .cloned()
                .ok_or_else(|| Error::scenario(format!("no member {u} in guild {g}")))?;
            let Some(old) = guild.voice_states.remove(&u) else {
                return Err(Error::scenario(format!(
                    "member {u} is not in voice in guild {g}"
                )));
            };
            crate::dave::member_voice_changed(st, g, u);
            Ok(Some((
                "VOICE_STATE_UPDATE".to_owned(),
                fixtures::voice_state(g, u, None, &old.session_id, Some(fixtures::member(&member))),
            )))
        })
        .await
    }

    async fn invoke(
        &self,
        what: &str,
        build: impl Fn(&mut State) -> Result<Invocation>,
    ) -> Result<Interaction<'a>> {
        let (g, u, channel) = (self.guild, self.user, self.channel);
        let d = self.d;
        d.shared
            .hub
            .wait(
                format!("a gateway session to deliver {what}"),
                SESSION_TIMEOUT,
                |st| st.gateway.all_shards_identified().then_some(()),
            )
            .await?;
        let id = d.shared.hub.update(|st| -> Result<u64> {
            let inv = build(st)?;
            let guild = st
                .world
                .guilds
                .get(&g)
                .ok_or_else(|| Error::scenario(format!("no guild {g}")))?;
            let member = guild
                .members
                .get(&u)
                .cloned()
                .ok_or_else(|| Error::scenario(format!("no member {u} in guild {g}")))?;
            let channel_id = inv
                .message
                .as_ref()
                .map(|m| m.channel_id)
                .or(channel)
                .or_else(|| guild.default_text_channel())
                .ok_or_else(|| {
                    Error::scenario(format!("guild {g} has no text channel to invoke {what} in"))
                })?;
            let channel = guild
                .channel(channel_id)
                .cloned()
                .ok_or_else(|| Error::scenario(format!("no channel {channel_id} in guild {g}")))?;
            let guild = guild.clone();
            let id = st.snowflake();
            let token = format!("aW50ZXJhY3Rpb24.fake.{id:x}{:016x}", rand::random::<u64>());
            let app_permissions = permissions::ALL & !permissions::ADMINISTRATOR;
            let payload = fixtures::interaction(&InteractionFields {
                kind: inv.kind,
                id,
                token: &token,
                application_id: st.world.application_id,
                guild: &guild,
                channel: &channel,
                member: &member,
                data: inv.data,
                message: inv.message.as_ref().map(MessageRecord::json),
                app_permissions,
            });
            st.interactions.insert(
                id,
                InteractionRecord {
                    id,
                    token,
                    kind: inv.kind,
                    guild_id: g,
                    channel_id,
                    user_id: u,
                    dispatched_at: Instant::now(),
                    callback: None,
                    rejected: Vec::new(),
                    original_message: None,
                    followups: Vec::new(),
                    source_message: inv.message.as_ref().map(|m| m.id),
                },
            );
            gateway::dispatch(st, "INTERACTION_CREATE", payload);
            Ok(id)
        })?;
        Ok(Interaction { d, id })
    }
}

fn current_message(st: &State, id: u64) -> Result<MessageRecord> {
    st.messages
        .get(&id)
        .filter(|m| !m.deleted)
        .cloned()
        .ok_or_else(|| Error::scenario(format!("message {id} no longer exists")))
}

fn find_component(m: &MessageRecord, custom_id: &str) -> Result<Value> {
    let all: Vec<&Value> = m
        .components
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| {
            row.get("components")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .collect();
    all.iter()
        .find(|c| c.get("custom_id").and_then(Value::as_str) == Some(custom_id))
        .map(|c| (*c).clone())
        .ok_or_else(|| {
            let ids: Vec<&str> = all
                .iter()
                .filter_map(|c| c.get("custom_id").and_then(Value::as_str))
                .collect();
            Error::scenario(format!(
                "message {} has no component {custom_id:?} (it has {ids:?})",
                m.id
            ))
        })
}

/// Select menu type → the option type whose resolution it uses.
fn ctype_to_option(ctype: u64) -> u64 {
    match ctype {
        5 => 6,
        6 => 8,
        8 => 7,
        _ => 9,
    }
}

/// Adds Discord's `resolved` entries for an id of option type 6 (user), 7 (channel), 8 (role) or 9 (mentionable).
fn resolve(
    st: &State,
    guild: u64,
    id: u64,
    kind: u64,
    resolved: &mut Map<String, Value>,
) -> Result<()> {
    let g = st
        .world
        .guilds
        .get(&guild)
        .ok_or_else(|| Error::scenario(format!("no guild {guild}")))?;
    let mut put = |section: &str, value: Value| {
        if let Value::Object(m) = resolved.entry(section).or_insert_with(|| json!({})) {
            m.insert(id.to_string(), value);
        }
    };
    let member = g
        .members
        .get(&id)
        .cloned()
        .or_else(|| (id == st.world.bot.id).then(|| st.world.bot_member()));
    match (
        kind,
        member,
        g.roles.iter().find(|r| r.id == id),
        g.channel(id),
    ) {
        (6 | 9, Some(m), _, _) => {
            put("users", fixtures::user(&m.user));
            let mut mj = fixtures::interaction_member(&m, g.member_permissions(id));
            if let Value::Object(o) = &mut mj {
                o.remove("user");
            }
            put("members", mj);
        }
        (8 | 9, _, Some(r), _) => put("roles", fixtures::role(r)),
        (7, _, _, Some(c)) => put(
            "channels",
            json!({
                "id": c.id.to_string(), "name": c.name, "type": c.kind as u8,
                "permissions": permissions::ALL.to_string(), "guild_id": guild.to_string(),
            }),
        ),
        _ => {
            return Err(Error::scenario(format!(
                "id {id} does not resolve to a {} in guild {guild}",
                match kind {
                    6 => "user",
                    7 => "channel",
                    8 => "role",
                    _ => "user or role",
                }
            )));
        }
    }
    Ok(())
}

/// Builds `data` for a chat-input command from the registered definition.
#[allow(clippy::too_many_lines)] // Mirrors how a Discord client builds a command: walk, type, check, nest.
fn command_data(
    st: &State,
    guild: u64,
    command: &str,
    given: &[(String, String)],
    focused: Option<&(String, String)>,
) -> Result<Value> {
    let words: Vec<&str> = command
        .trim()
        .trim_start_matches('/')
        .split_whitespace()
        .collect();
    let Some((&name, path)) = words.split_first() else {
        return Err(Error::scenario("empty command"));
    };
    let registered: Vec<&Value> = st
        .commands
        .guild
        .get(&guild)
        .into_iter()
        .flatten()
        .chain(st.commands.global.iter())
        .collect();
    let cmd = registered
        .iter()
        .find(|c| {
            c.get("name").and_then(Value::as_str) == Some(name)
                && c.get("type").and_then(Value::as_u64).unwrap_or(1) == 1
        })
        .ok_or_else(|| {
            let names: Vec<&str> = registered
                .iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect();
            Error::scenario(format!(
                "/{name} is not registered in guild {guild} or globally (registered: {names:?})"
            ))
        })?;
    // Descend through sub-command groups and sub-commands.
    let mut defs: Vec<Value> = cmd
        .get("options")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut chain: Vec<(String, u64)> = Vec::new();
    for word in path {
        let sub = defs
            .iter()
            .find(|o| {
                o.get("name").and_then(Value::as_str) == Some(word)
                    && matches!(o.get("type").and_then(Value::as_u64), Some(1 | 2))
            })
            .cloned()
            .ok_or_else(|| Error::scenario(format!("/{name} has no sub-command {word:?}")))?;
        chain.push((
            (*word).to_owned(),
            sub.get("type").and_then(Value::as_u64).unwrap_or(1),
        ));
        defs = sub
            .get("options")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
    }
    if defs
        .iter()
        .any(|o| matches!(o.get("type").and_then(Value::as_u64), Some(1 | 2)))
    {
        return Err(Error::scenario(format!(
            "/{} needs a sub-command",
            words.join(" ")
        )));
    }
    let mut resolved = Map::new();
    let mut options = Vec::new();
    let all_given = given
        .iter()
        .map(|(k, v)| (k, v, false))
        .chain(focused.map(|(k, v)| (k, v, true)));
    for (key, value, is_focused) in all_given {
        let def = defs
            .iter()
            .find(|o| o.get("name").and_then(Value::as_str) == Some(key.as_str()))
            .ok_or_else(|| {
                let names: Vec<&str> = defs
                    .iter()
                    .filter_map(|o| o.get("name").and_then(Value::as_str))
                    .collect();
                Error::scenario(format!(
                    "/{} has no option {key:?} (options: {names:?})",
                    words.join(" ")
                ))
            })?;
        let kind = def.get("type").and_then(Value::as_u64).unwrap_or(3);
        if is_focused {
            if def.get("autocomplete").and_then(Value::as_bool) != Some(true) {
                return Err(Error::scenario(format!(
                    "option {key:?} is not autocompleted"
                )));
            }
            options.push(json!({"name": key, "type": kind, "value": value, "focused": true}));
            continue;
        }
        let typed = typed_value(kind, key, value)?;
        if let Some(choices) = def
            .get("choices")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            && !choices.iter().any(|c| c.get("value") == Some(&typed))
        {
            let offered: Vec<&Value> = choices.iter().filter_map(|c| c.get("value")).collect();
            return Err(Error::scenario(format!(
                "option {key:?} only takes the choices {offered:?}, not {value:?}"
            )));
        }
        if matches!(kind, 6..=9) {
            let id = value.parse().map_err(|_| {
                Error::scenario(format!("option {key:?} needs an id, got {value:?}"))
            })?;
            resolve(st, guild, id, kind, &mut resolved)?;
        }
        options.push(json!({"name": key, "type": kind, "value": typed}));
    }
    if focused.is_none() {
        for def in &defs {
            let opt = def.get("name").and_then(Value::as_str).unwrap_or("");
            if def.get("required").and_then(Value::as_bool) == Some(true)
                && !given.iter().any(|(k, _)| k == opt)
            {
                return Err(Error::scenario(format!(
                    "/{} requires option {opt:?}",
                    words.join(" ")
                )));
            }
        }
    }
    let mut nested = Value::Array(options);
    for (word, kind) in chain.into_iter().rev() {
        nested = json!([{"name": word, "type": kind, "options": nested}]);
    }
    let mut data = json!({
        "id": cmd.get("id").cloned().unwrap_or(Value::Null),
        "name": name,
        "type": 1,
        "options": nested,
    });
    if let Some(g) = cmd.get("guild_id") {
        data["guild_id"] = g.clone();
    }
    if !resolved.is_empty() {
        data["resolved"] = Value::Object(resolved);
    }
    Ok(data)
}

fn typed_value(kind: u64, key: &str, value: &str) -> Result<Value> {
    let bad = |what: &str| Error::scenario(format!("option {key:?} is {what}, got {value:?}"));
    Ok(match kind {
        4 => json!(value.parse::<i64>().map_err(|_| bad("an integer"))?),
        10 => json!(value.parse::<f64>().map_err(|_| bad("a number"))?),
        5 => json!(value.parse::<bool>().map_err(|_| bad("a boolean"))?),
        11 => {
            return Err(Error::scenario(format!(
                "option {key:?} is an attachment; the fake does not upload files"
            )));
        }
        _ => json!(value),
    })
}

/// An interaction the fake dispatched, and what the bot did with it.
#[derive(Debug, Clone, Copy)]
pub struct Interaction<'a> {
    d: &'a FakeDiscord,
    id: u64,
}

impl<'a> Interaction<'a> {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Waits for the initial response (bounded by the interaction deadline plus a grace period).
    pub async fn callback(&self) -> Result<Callback> {
        let id = self.id;
        let deadline = self.d.shared.hub.read(|st| st.interaction_deadline);
        self.d
            .shared
            .hub
            .wait(format!("the bot's response to interaction {id}"), deadline + CALLBACK_GRACE, |st| {
                let ix = st.interactions.get(&id)?;
                match (&ix.callback, ix.rejected.first()) {
                    (Some(cb), _) => Some(Ok(cb.clone())),
                    (None, Some((kind, code))) => Some(Err(Error::Response(format!(
                        "interaction {id}: callback type {kind} refused with Discord error {code}"
                    )))),
                    (None, None) => None,
                }
            })
            .await?
    }

    /// The autocomplete choices (initial response type 8).
    pub async fn choices(&self) -> Result<Vec<Choice>> {
        let cb = self.callback().await?;
        if cb.kind != 8 {
            return Err(Error::Response(format!(
                "expected an autocomplete result (type 8), got type {}",
                cb.kind
            )));
        }
        Ok(cb
            .data
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| Choice {
                name: c
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                value: c.get("value").cloned().unwrap_or(Value::Null),
            })
            .collect())
    }

    /// The modal the bot opened (initial response type 9).
    pub async fn modal(&self) -> Result<Modal> {
        let cb = self.callback().await?;
        if cb.kind != 9 {
            return Err(Error::Response(format!(
                "expected a modal (type 9), got type {}",
                cb.kind
            )));
        }
        let source_message = self
            .d
            .shared
            .hub
            .read(|st| st.interactions.get(&self.id).and_then(|i| i.source_message));
        Ok(Modal {
            custom_id: cb
                .data
                .get("custom_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            title: cb
                .data
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            components: cb
                .data
                .get("components")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            source_message,
        })
    }

    /// The first message a user sees: an immediate response (type 4), the deferred response once edited, a
    /// follow-up, or the component's message updated by type 7. Waits up to [`REPLY_TIMEOUT`].
    pub async fn reply(&self) -> Result<Message<'a>> {
        self.reply_within(REPLY_TIMEOUT).await
    }

    pub async fn reply_within(&self, timeout: Duration) -> Result<Message<'a>> {
        self.wait_message(timeout, |_| true).await
    }

    /// Waits for a visible response message of this interaction (original or follow-up) matching `pred`.
    pub async fn wait_message(
        &self,
        timeout: Duration,
        pred: impl Fn(&MessageRecord) -> bool,
    ) -> Result<Message<'a>> {
        let (id, d) = (self.id, self.d);
        d.shared
            .hub
            .wait(
                format!("a visible reply to interaction {id}"),
                timeout,
                |st| {
                    let ix = st.interactions.get(&id)?;
                    if let Some((kind, code)) = ix.rejected.first()
                        && ix.callback.is_none()
                    {
                        return Some(Err(Error::Response(format!(
                            "interaction {id}: callback type {kind} refused with {code}"
                        ))));
                    }
                    let updated = ix.callback.as_ref().is_some_and(|c| c.kind == 7);
                    let original = ix
                        .original_message
                        .filter(|_| ix.callback.as_ref().is_some_and(|c| c.kind != 6));
                    let original = original.and_then(|m| st.messages.get(&m)).filter(|m| {
                        !m.deleted
                            && m.flags & crate::message_flags::LOADING == 0
                            && (m.interaction_id == Some(id) || updated)
                    });
                    let followups = ix
                        .followups
                        .iter()
                        .filter_map(|m| st.messages.get(m))
                        .filter(|m| !m.deleted);
                    original
                        .into_iter()
                        .chain(followups)
                        .find(|m| pred(m))
                        .map(|m| Ok(Message::new(d, m.clone(), Some((ix.guild_id, ix.user_id)))))
                },
            )
            .await?
    }

    /// Every response message of this interaction (original first, then follow-ups), deleted ones excluded.
    pub fn messages(&self) -> Vec<Message<'a>> {
        let (id, d) = (self.id, self.d);
        d.shared.hub.read(|st| {
            let Some(ix) = st.interactions.get(&id) else {
                return Vec::new();
            };
            ix.original_message
                .iter()
                .chain(ix.followups.iter())
                .filter_map(|m| st.messages.get(m))
                .filter(|m| !m.deleted)
                .map(|m| Message::new(d, m.clone(), Some((ix.guild_id, ix.user_id))))
                .collect()
        })
    }
}

/// A modal the bot opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Modal {
    pub custom_id: String,
    pub title: String,
    /// Action rows with text inputs, as the bot sent them.
    pub components: Vec<Value>,
    /// The message whose component opened the modal, if any.
    pub(crate) source_message: Option<u64>,
}

/// A bot message as a user sees it, with the member who would click its components.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    d: &'a FakeDiscord,
    record: MessageRecord,
    invoker: Option<(u64, u64)>,
}

impl<'a> Message<'a> {
    fn new(d: &'a FakeDiscord, record: MessageRecord, invoker: Option<(u64, u64)>) -> Self {
        Self { d, record, invoker }
    }

    pub fn id(&self) -> u64 {
        self.record.id
    }

    pub fn content(&self) -> &str {
        &self.record.content
    }

    pub fn embeds(&self) -> &Value {
        &self.record.embeds
    }

    pub fn components(&self) -> &Value {
        &self.record.components
    }

    pub fn is_ephemeral(&self) -> bool {
        self.record.flags & crate::message_flags::EPHEMERAL != 0
    }

    pub fn record(&self) -> &MessageRecord {
        &self.record
    }

    /// Every component `custom_id`, row by row.
    pub fn custom_ids(&self) -> Vec<String> {
        self.record
            .components
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| {
                row.get("components")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .filter_map(|c| {
                c.get("custom_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect()
    }

    /// The message as it is now (after edits).
    pub fn refresh(&self) -> Result<Self> {
        let rec = self
            .d
            .shared
            .hub
            .read(|st| current_message(st, self.record.id))?;
        Ok(Self {
            record: rec,
            ..self.clone()
        })
    }

    fn clicker(&self) -> Result<MemberHandle<'a>> {
        let (g, u) = self.invoker.ok_or_else(|| {
            Error::scenario(
                "this message came from no interaction: say who clicks with member(..).click(..)",
            )
        })?;
        Ok(self.d.guild(g).member(u))
    }

    /// Clicks a button as the member whose interaction produced this message.
    pub async fn click(&self, custom_id: &str) -> Result<Interaction<'a>> {
        self.clicker()?.click(self, custom_id).await
    }

    /// Selects values as the member whose interaction produced this message.
    pub async fn select(&self, custom_id: &str, values: &[&str]) -> Result<Interaction<'a>> {
        self.clicker()?.select(self, custom_id, values).await
    }
}

/// What a guild's voice connection carried over a window of time.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// Dominant frequency, `None` when silent.
    pub frequency: Option<f32>,
    pub dbfs: f32,
    pub silent: bool,
    /// Decoded 20 ms frames in the window.
    pub frames: usize,
}

/// Counters of one guild's voice connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VoiceStats {
    pub ssrc: u32,
    pub mode: Option<String>,
    pub connections: u32,
    pub resumes: u32,
    pub heartbeats: u32,
    pub speaking_updates: usize,
    pub packets: u64,
    pub decrypt_failures: u64,
    pub opus_errors: u64,
    pub lost: u64,
    pub keepalives: u64,
    pub closed: Option<u16>,
    /// SESSION_DESCRIPTION's `dave_protocol_version` (0: transport encryption only).
    pub dave_protocol_version: u16,
    /// Opus frames that arrived DAVE-encrypted and that the fake's simulated listener decrypted.
    pub dave_frames: u64,
    /// Frames with the DAVE marker the listener could not decrypt.
    pub dave_decrypt_failures: u64,
    /// Non-silence frames in the clear (allowed before the first DAVE transition).
    pub clear_frames: u64,
    /// Clear frames after the first transition executed (each also a violation).
    pub clear_frames_after_transition: u64,
    /// The MLS group's epoch (0: no group yet); each member join or leave advances it.
    pub epoch: u64,
    /// DAVE transitions executed (op 22).
    pub dave_transitions: u32,
    /// Users in the MLS group (the bot, the fake's listening client, members in the channel), sorted.
    pub dave_members: Vec<u64>,
}

/// A guild's voice connection as the fake voice server sees it.
#[derive(Debug, Clone, Copy)]
pub struct VoiceHandle<'a> {
    pub(crate) d: &'a FakeDiscord,
    pub(crate) guild: u64,
}

fn window_samples(st: &State, guild: u64, window: Duration) -> Vec<f32> {
    let Some(log) = st.audio.get(&guild) else {
        return Vec::new();
    };
    let now = Instant::now();
    log.frames
        .iter()
        .filter(|f| now.duration_since(f.at) <= window)
        .flat_map(|f| f.samples.iter().copied())
        .collect()
}

fn heard(samples: &[f32]) -> Heard {
    Heard {
        frequency: audio::dominant_frequency(samples),
        dbfs: audio::dbfs(samples),
        silent: audio::is_silent(samples),
        frames: samples.len() / 960,
    }
}

impl VoiceHandle<'_> {
    /// Waits until the voice handshake completed (SESSION_DESCRIPTION sent) and returns the negotiated mode.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<String> {
        let g = self.guild;
        self.d
            .shared
            .hub
            .wait(
                format!("the bot's voice connection in guild {g}"),
                timeout,
                |st| {
                    st.voice
                        .get(&g)
                        .filter(|c| c.session_described && c.ws.is_some())
                        .and_then(|c| c.mode.clone())
                },
            )
            .await
    }

    /// Mono PCM (48 kHz) of the frames that arrived within the last `window`.
    pub fn recent(&self, window: Duration) -> Vec<f32> {
        self.d
            .shared
            .hub
            .read(|st| window_samples(st, self.guild, window))
    }

    /// What the guild heard over the last `window`.
    pub fn hearing(&self, window: Duration) -> Heard {
        heard(&self.recent(window))
    }

    /// "What frequency is this guild hearing?" over the last 0.5 s; `None` when silent.
    pub fn frequency(&self) -> Option<f32> {
        self.hearing(Duration::from_millis(500)).frequency
    }

    /// "Is it silent?" over the last 0.5 s (no packets counts as silent).
    pub fn is_silent(&self) -> bool {
        self.hearing(Duration::from_millis(500)).silent
    }

    /// Share of the last `window`'s energy at `freq` (≈1 for a pure tone at that frequency).
    pub fn tone_ratio(&self, freq: f32, window: Duration) -> f64 {
        audio::tone_ratio(&self.recent(window), freq)
    }

    /// Waits until the last 0.5 s is a tone within 3 Hz of `freq` holding most of the energy.
    pub async fn wait_for_tone(&self, freq: f32, timeout: Duration) -> Result<Heard> {
        let g = self.guild;
        let window = Duration::from_millis(500);
        self.d
            .shared
            .hub
            .wait(format!("a {freq} Hz tone in guild {g}"), timeout, |st| {
                let s = window_samples(st, g, window);
                // Check cheaply first (Goertzel), then measure (FFT), so waiting does not burn the CPU.
                if s.len() < 20 * 960 || audio::tone_ratio(&s, freq) < 0.5 {
                    return None;
                }
                let h = heard(&s);
                h.frequency.filter(|f| (f - freq).abs() < 3.0).map(|_| h)
            })
            .await
    }

    /// Waits until the last `quiet` had no audible audio (silence frames, or no packets at all).
    pub async fn wait_silent(&self, quiet: Duration, timeout: Duration) -> Result<()> {
        let g = self.guild;
        let start = Instant::now();
        let deadline = start + timeout;
        loop {
            // The window must lie entirely after the call, or audio heard before it could count as "silence".
            let silent = start.elapsed() >= quiet
                && self
                    .d
                    .shared
                    .hub
                    .read(|st| audio::is_silent(&window_samples(st, g, quiet)));
            if silent {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let h = self.hearing(quiet);
                return Err(timeout_err(
                    format!("{quiet:?} of silence in guild {g}"),
                    timeout,
                    format!("still hearing {h:?}"),
                ));
            }
            // Silence is mostly the *absence* of packets, which produces no state change to wake on: poll at 50 Hz.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Records `duration` of what the guild hears from now on.
    pub async fn record(&self, duration: Duration) -> Vec<f32> {
        let start = Instant::now();
        tokio::time::sleep(duration).await;
        self.d.shared.hub.read(|st| {
            st.audio.get(&self.guild).map_or_else(Vec::new, |log| {
                log.frames
                    .iter()
                    .filter(|f| f.at >= start)
                    .flat_map(|f| f.samples.iter().copied())
                    .collect()
            })
        })
    }

    pub fn stats(&self) -> VoiceStats {
        self.d.shared.hub.read(|st| {
            let c = st.voice.get(&self.guild);
            let a = st.audio.get(&self.guild);
            VoiceStats {
                ssrc: c.map_or(0, |c| c.ssrc),
                mode: c.and_then(|c| c.mode.clone()),
                connections: c.map_or(0, |c| c.connections),
                resumes: c.map_or(0, |c| c.resumes),
                heartbeats: c.map_or(0, |c| c.heartbeats),
                speaking_updates: c.map_or(0, |c| c.speaking.len()),
                packets: a.map_or(0, |a| a.packets),
                decrypt_failures: a.map_or(0, |a| a.decrypt_failures),
                opus_errors: a.map_or(0, |a| a.opus_errors),
                lost: a.map_or(0, |a| a.lost),
                keepalives: a.map_or(0, |a| a.keepalives),
                closed: c.and_then(|c| c.closed),
                dave_protocol_version: c
                    .and_then(|c| c.dave.as_ref())
                    .map_or(0, |_| crate::dave::PROTOCOL_VERSION),
                dave_frames: a.map_or(0, |a| a.dave_frames),
                dave_decrypt_failures: a.map_or(0, |a| a.dave_decrypt_failures),
                clear_frames: a.map_or(0, |a| a.clear_frames),
                clear_frames_after_transition: a.map_or(0, |a| a.clear_frames_after_transition),
                epoch: c.and_then(|c| c.dave.as_ref()).map_or(0, |d| d.epoch),
                dave_transitions: c
                    .and_then(|c| c.dave.as_ref())
                    .map_or(0, |d| d.transitions_executed),
                dave_members: c
                    .and_then(|c| c.dave.as_ref())
                    .map(crate::dave::DaveCall::group_members)
                    .unwrap_or_default(),
            }
        })
    }

    /// Waits until `transitions` DAVE transitions executed (the first one makes the call E2EE; each member join or
    /// leave adds one) and returns the stats then.
    pub async fn wait_dave_transitions(
        &self,
        transitions: u32,
        timeout: Duration,
    ) -> Result<VoiceStats> {
        let g = self.guild;
        self.d
            .shared
            .hub
            .wait(
                format!("{transitions} DAVE transition(s) in guild {g}"),
                timeout,
                |st| {
                    st.voice
                        .get(&g)
                        .and_then(|c| c.dave.as_ref())
                        .is_some_and(|d| d.transitions_executed >= transitions)
                        .then_some(())
                },
            )
            .await?;
        Ok(self.stats())
    }

    /// Asks the bot to build a new MLS group (op 24 `epoch: 1`), as Discord does when a call's group must start over.
    pub fn dave_restart_group(&self) -> bool {
        let g = self.guild;
        self.d.shared.hub.update(|st| {
            let open = st
                .voice
                .get(&g)
                .is_some_and(|c| c.dave.is_some() && c.ws.is_some());
            crate::dave::with_call(
                st,
                g,
                "new group (op 24)",
                crate::dave::DaveCall::prepare_new_group,
            );
            open
        })
    }

    /// Closes the voice websocket with `code` (4015 "voice server crashed" makes songbird resume; 4014 means
    /// "disconnected from the channel").
    pub fn disconnect(&self, code: u16) -> bool {
        self.d.shared.hub.update(|st| {
            st.voice
                .get_mut(&self.guild)
                .and_then(|c| c.ws.take())
                .is_some_and(|tx| {
                    tx.send(Outbound::Close(code, "fake voice disconnect".into()))
                        .is_ok()
                })
        })
    }
}

/// Counters of the main gateway.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayStats {
    pub connections: u32,
    pub identifies: u32,
    pub resumes: u32,
    pub heartbeats: u32,
    pub connected: bool,
    /// The session's intents, if one exists.
    pub intents: Option<u64>,
    /// The session's `[shard id, shard count]` from IDENTIFY.
    pub shard: Option<[u32; 2]>,
    pub closes: Vec<String>,
    /// The bot's op 4 payloads.
    pub voice_state_updates: Vec<Value>,
    pub presence_updates: Vec<Value>,
}

/// The events the bot sent on one shard, oldest first (every connection of the shard).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentOps(pub Vec<SentOp>);

impl SentOps {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many events had opcode `op` (1 heartbeat, 2 identify, 3 presence, 4 voice state, 6 resume).
    pub fn count(&self, op: u8) -> usize {
        self.0.iter().filter(|s| s.op == op).count()
    }

    /// The most events sent within any `window` (e.g. 60 s: Discord's budget is 120 per connection).
    pub fn densest_window(&self, window: Duration) -> usize {
        let mut start = 0;
        let mut best = 0;
        for (end, op) in self.0.iter().enumerate() {
            while self
                .0
                .get(start)
                .is_some_and(|first| op.at.duration_since(first.at) >= window)
            {
                start += 1;
            }
            best = best.max(end + 1 - start);
        }
        best
    }

    /// The time from the first to the last event.
    pub fn span(&self) -> Duration {
        match (self.0.first(), self.0.last()) {
            (Some(a), Some(b)) => b.at.duration_since(a.at),
            _ => Duration::ZERO,
        }
    }
}

/// One shard as the fake sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardStats {
    pub shard: u32,
    pub identified: bool,
    pub connected: bool,
    /// Events the bot sent on this shard (all its connections).
    pub events: usize,
}

/// Control of the main gateway connection.
#[derive(Debug, Clone, Copy)]
pub struct GatewayHandle<'a> {
    d: &'a FakeDiscord,
}

impl<'a> GatewayHandle<'a> {
    pub(crate) fn new(d: &'a FakeDiscord) -> Self {
        Self { d }
    }

    pub fn stats(&self) -> GatewayStats {
        self.d.shared.hub.read(|st| GatewayStats {
            connections: st.gateway.connections,
            identifies: st.gateway.identifies,
            resumes: st.gateway.resumes,
            heartbeats: st.gateway.heartbeats,
            connected: st.gateway.conn.is_some(),
            intents: st.gateway.session.as_ref().map(|s| s.intents),
            shard: st.gateway.session.as_ref().map(|s| s.shard),
            closes: st.gateway.closes.clone(),
            voice_state_updates: st.gateway.voice_state_updates.clone(),
            presence_updates: st.gateway.presence_updates.clone(),
        })
    }

    /// Every event the bot sent on `shard` (heartbeats, identifies, voice state updates…) with its arrival time.
    pub fn sent_ops(&self, shard: u32) -> SentOps {
        self.d
            .shared
            .hub
            .read(|st| SentOps(st.gateway.sent_ops.get(&shard).cloned().unwrap_or_default()))
    }

    /// Every shard of the shard count the bot identified with (or the configured one).
    pub fn shards(&self) -> Vec<ShardStats> {
        self.d.shared.hub.read(|st| {
            (0..st.gateway.shard_count())
                .map(|shard| ShardStats {
                    shard,
                    identified: st.gateway.shard_session(shard).is_some(),
                    connected: st.gateway.shard_conn(shard).is_some(),
                    events: st.gateway.sent_ops.get(&shard).map_or(0, Vec::len),
                })
                .collect()
        })
    }

    /// Identifies refused with op 9 for exceeding `max_concurrency` per 5 s.
    pub fn identify_refusals(&self) -> u32 {
        self.d.shared.hub.read(|st| st.gateway.identify_refusals)
    }

    /// The shard a guild's events go to: `(guild_id >> 22) % shard_count`.
    pub fn shard_of(&self, guild_id: u64) -> u32 {
        self.d.shared.hub.read(|st| st.gateway.shard_of(guild_id))
    }

    /// Waits until every shard has identified.
    pub async fn wait_all_shards(&self, timeout: Duration) -> Result<()> {
        self.d
            .shared
            .hub
            .wait("every shard to identify", timeout, |st| {
                st.gateway.all_shards_identified().then_some(())
            })
            .await
    }

    /// Closes `shard`'s connection with `code`.
    pub fn disconnect_shard(&self, shard: u32, code: u16) -> bool {
        self.d.shared.hub.update(|st| {
            gateway::control_shard(st, shard, Outbound::Close(code, "fake disconnect".into()))
        })
    }

    /// Closes the connection with `code` (4000 and most codes: the bot resumes; 4004: the bot stops).
    pub fn disconnect(&self, code: u16) -> bool {
        self.d
            .shared
            .hub
            .update(|st| gateway::control(st, Outbound::Close(code, "fake disconnect".into())))
    }

    /// Sends op 9 INVALID_SESSION. Not resumable: the session is gone and the bot must identify again.
    pub fn invalid_session(&self, resumable: bool) -> bool {
        self.d.shared.hub.update(|st| {
            let sent = gateway::control(
                st,
                Outbound::Text(json!({"op": 9, "d": resumable, "s": null, "t": null}).to_string()),
            );
            if !resumable {
                st.gateway.session = None;
                st.gateway.conn = None;
            }
            sent
        })
    }

    /// Sends op 7 RECONNECT: the bot should reconnect and resume.
    pub fn reconnect(&self) -> bool {
        self.d.shared.hub.update(|st| {
            gateway::control(
                st,
                Outbound::Text(json!({"op": 7, "d": null, "s": null, "t": null}).to_string()),
            )
        })
    }

    /// Sends op 1: the bot must heartbeat immediately.
    pub fn request_heartbeat(&self) -> bool {
        self.d.shared.hub.update(|st| {
            let seq = st.gateway.session.as_ref().map(|s| s.seq);
            gateway::control(
                st,
                Outbound::Text(json!({"op": 1, "d": seq, "s": null, "t": null}).to_string()),
            )
        })
    }

    /// Sends any dispatch (escape hatch for events without a dedicated helper).
    pub async fn dispatch(&self, t: &str, d: Value) -> Result<()> {
        let t = t.to_owned();
        dispatch_when_identified(self.d, &t.clone(), move |_| {
            Ok(Some((t.clone(), d.clone())))
        })
        .await
    }

    /// Waits until the gateway counters satisfy `pred` (e.g. "2 identifies", "1 resume and connected").
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&GatewayStats) -> bool,
    ) -> Result<GatewayStats> {
        self.d
            .shared
            .hub
            .wait(what.to_owned(), timeout, |st| {
                let s = GatewayStats {
                    connections: st.gateway.connections,
                    identifies: st.gateway.identifies,
                    resumes: st.gateway.resumes,
                    heartbeats: st.gateway.heartbeats,
                    connected: st.gateway.conn.is_some(),
                    intents: st.gateway.session.as_ref().map(|s| s.intents),
                    shard: st.gateway.session.as_ref().map(|s| s.shard),
                    closes: st.gateway.closes.clone(),
                    voice_state_updates: Vec::new(),
                    presence_updates: Vec::new(),
                };
                pred(&s).then_some(s)
            })
            .await
    }
}

/// The REST request log and fault injection.
#[derive(Debug, Clone, Copy)]
pub struct RestHandle<'a> {
    d: &'a FakeDiscord,
}

impl<'a> RestHandle<'a> {
    pub(crate) fn new(d: &'a FakeDiscord) -> Self {
        Self { d }
    }

    /// Requests whose route (e.g. `POST /interactions/{id}/{token}/callback`) equals `route`.
    pub fn requests_to(&self, route: &str) -> Vec<RecordedRequest> {
        self.d.shared.hub.read(|st| {
            st.requests
                .iter()
                .filter(|r| r.route.as_deref() == Some(route))
                .cloned()
                .collect()
        })
    }

    /// Waits for a request matching `pred`.
    pub async fn wait_request(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&RecordedRequest) -> bool,
    ) -> Result<RecordedRequest> {
        self.d
            .shared
            .hub
            .wait(what.to_owned(), timeout, |st| {
                st.requests.iter().find(|r| pred(r)).cloned()
            })
            .await
    }

    /// The next `times` requests whose path contains `path_contains` (and whose method is `method`, if given) get
    /// HTTP 429 with Discord's headers and body.
    pub fn inject_rate_limit(
        &self,
        method: Option<&str>,
        path_contains: &str,
        times: u32,
        retry_after: Duration,
        global: bool,
    ) {
        self.inject(
            method,
            path_contains,
            times,
            FaultKind::RateLimited {
                retry_after,
                global,
            },
        );
    }

    /// The next `times` matching requests get `status` with a Discord error body `{code, message}`.
    pub fn inject_error(
        &self,
        method: Option<&str>,
        path_contains: &str,
        times: u32,
        status: u16,
        code: u32,
        message: &str,
    ) {
        self.inject(
            method,
            path_contains,
            times,
            FaultKind::Status {
                status,
                code,
                message: message.to_owned(),
            },
        );
    }

    fn inject(self, method: Option<&str>, path_contains: &str, times: u32, kind: FaultKind) {
        if times == 0 {
            return;
        }
        let fault = Fault {
            method: method.map(str::to_owned),
            path_contains: path_contains.to_owned(),
            kind,
            remaining: times,
        };
        self.d.shared.hub.update(|st| st.faults.push(fault));
    }
}
