//! The fake's picture of Discord: the bot's identity, guilds with their channels, roles, members and voice states.
//!
//! Tests build a [`World`] before start (or take [`World::default`], one guild ready for a radio bot); the fake keeps
//! it consistent afterwards (members joining voice, the bot's own voice state), so GUILD_CREATE after a re-identify
//! shows what happened before, as on Discord.

use std::collections::BTreeMap;

/// Default bot user id; Discord gives a bot's user the same id as its application.
pub const BOT_ID: u64 = 900;
/// Default application id.
pub const APPLICATION_ID: u64 = BOT_ID;
/// Owner of the application and of the default guild.
pub const OWNER_ID: u64 = 4;
/// The default guild.
pub const GUILD_ID: u64 = 1;
/// The default guild's text channel.
pub const TEXT_CHANNEL_ID: u64 = 10;
/// The default guild's first voice channel; [`LISTENER_ID`] sits in it at start.
pub const VOICE_CHANNEL_ID: u64 = 20;
/// A second, empty voice channel.
pub const OTHER_VOICE_CHANNEL_ID: u64 = 21;
/// A role without extra permissions, given to [`LISTENER_ID`].
pub const DJ_ROLE_ID: u64 = 30;
/// A member in [`VOICE_CHANNEL_ID`] with [`DJ_ROLE_ID`].
pub const LISTENER_ID: u64 = 2;
/// A member not in any voice channel.
pub const LURKER_ID: u64 = 3;

/// Permission bits used by the fake (Discord's values).
pub mod permissions {
    pub const ADMINISTRATOR: u64 = 1 << 3;
    pub const MANAGE_CHANNELS: u64 = 1 << 4;
    pub const MANAGE_GUILD: u64 = 1 << 5;
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    pub const SEND_MESSAGES: u64 = 1 << 11;
    pub const EMBED_LINKS: u64 = 1 << 14;
    pub const CONNECT: u64 = 1 << 20;
    pub const SPEAK: u64 = 1 << 21;
    pub const USE_APPLICATION_COMMANDS: u64 = 1 << 31;
    /// What `@everyone` gets in a new guild (Discord's default set, 104324673).
    pub const EVERYONE_DEFAULT: u64 = 104_324_673;
    /// Every permission bit Discord defines today: what an administrator effectively has.
    pub const ALL: u64 = (1 << 51) - 1;
}

/// Gateway intent bits the fake cares about (Discord's values).
pub mod intents {
    pub const GUILDS: u64 = 1 << 0;
    pub const GUILD_MEMBERS: u64 = 1 << 1;
    pub const GUILD_VOICE_STATES: u64 = 1 << 7;
    pub const GUILD_PRESENCES: u64 = 1 << 8;
    pub const GUILD_MESSAGES: u64 = 1 << 9;
    pub const MESSAGE_CONTENT: u64 = 1 << 15;
    /// Intents an application must enable in the developer portal; identifying with one that is not enabled closes
    /// the gateway with 4014.
    pub const PRIVILEGED: u64 = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT;
}

/// A Discord user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub bot: bool,
}

impl User {
    pub fn new(id: u64, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            bot: false,
        }
    }
}

/// Channel kinds the fake models (Discord's `type` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Text = 0,
    Voice = 2,
    Category = 4,
    Stage = 13,
}

impl ChannelKind {
    pub fn is_voice(self) -> bool {
        matches!(self, Self::Voice | Self::Stage)
    }
}

/// A guild channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: u64,
    pub name: String,
    pub kind: ChannelKind,
    pub position: u32,
}

/// A guild role. The `@everyone` role has the guild's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: u64,
    pub name: String,
    pub permissions: u64,
    pub position: u32,
}

/// A guild member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub roles: Vec<u64>,
    pub nick: Option<String>,
}

/// Where a member sits in voice. `session_id` is the member's gateway session (a fake value for fake members).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceState {
    pub channel_id: u64,
    pub session_id: String,
    pub self_mute: bool,
    pub self_deaf: bool,
}

/// A guild with everything GUILD_CREATE carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guild {
    pub id: u64,
    pub name: String,
    pub owner_id: u64,
    pub preferred_locale: String,
    pub channels: Vec<Channel>,
    pub roles: Vec<Role>,
    pub members: BTreeMap<u64, Member>,
    pub voice_states: BTreeMap<u64, VoiceState>,
}

impl Guild {
    /// An empty guild with its `@everyone` role (Discord's default permissions) and the owner as a member.
    pub fn new(id: u64, name: impl Into<String>) -> Self {
        let mut guild = Self {
            id,
            name: name.into(),
            owner_id: OWNER_ID,
            preferred_locale: "en-US".to_owned(),
            channels: Vec::new(),
            roles: vec![Role {
                id,
                name: "@everyone".to_owned(),
                permissions: permissions::EVERYONE_DEFAULT,
                position: 0,
            }],
            members: BTreeMap::new(),
            voice_states: BTreeMap::new(),
        };
        guild = guild.member(OWNER_ID, "owner", &[]);
        guild
    }

    #[must_use]
    pub fn text_channel(mut self, id: u64, name: &str) -> Self {
        self.push_channel(id, name, ChannelKind::Text);
        self
    }

    #[must_use]
    pub fn voice_channel(mut self, id: u64, name: &str) -> Self {
        self.push_channel(id, name, ChannelKind::Voice);
        self
    }

    #[must_use]
    pub fn stage_channel(mut self, id: u64, name: &str) -> Self {
        self.push_channel(id, name, ChannelKind::Stage);
        self
    }

    fn push_channel(&mut self, id: u64, name: &str, kind: ChannelKind) {
        let position = self.channels.len() as u32;
        self.channels.push(Channel {
            id,
            name: name.to_owned(),
            kind,
            position,
        });
    }

    #[must_use]
    pub fn role(mut self, id: u64, name: &str, permissions: u64) -> Self {
        let position = self.roles.len() as u32;
        self.roles.push(Role {
            id,
            name: name.to_owned(),
            permissions,
            position,
        });
        self
    }

    /// Adds (or replaces) a human member with these roles.
    #[must_use]
    pub fn member(mut self, id: u64, name: &str, roles: &[u64]) -> Self {
        self.members.insert(
            id,
            Member {
                user: User::new(id, name),
                roles: roles.to_vec(),
                nick: None,
            },
        );
        self
    }

    /// Puts a member in a voice channel at start.
    #[must_use]
    pub fn in_voice(mut self, user_id: u64, channel_id: u64) -> Self {
        self.voice_states
            .insert(user_id, VoiceState::new(user_id, channel_id));
        self
    }

    pub fn channel(&self, id: u64) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }

    /// The first text channel: where interactions are invoked unless a test says otherwise.
    pub fn default_text_channel(&self) -> Option<u64> {
        self.channels
            .iter()
            .find(|c| c.kind == ChannelKind::Text)
            .map(|c| c.id)
    }

    /// Effective guild-level permissions of a member, as Discord computes them for `member.permissions` in
    /// interactions (channel overwrites are not modelled).
    pub fn member_permissions(&self, user_id: u64) -> u64 {
        if user_id == self.owner_id {
            return permissions::ALL;
        }
        let everyone = self
            .roles
            .iter()
            .find(|r| r.id == self.id)
            .map_or(0, |r| r.permissions);
        let perms = self.members.get(&user_id).map_or(everyone, |m| {
            m.roles
                .iter()
                .filter_map(|id| self.roles.iter().find(|r| r.id == *id))
                .fold(everyone, |acc, r| acc | r.permissions)
        });
        if perms & permissions::ADMINISTRATOR != 0 {
            permissions::ALL
        } else {
            perms
        }
    }

    /// Users currently in a voice channel.
    pub fn voice_channel_members(&self, channel_id: u64) -> Vec<u64> {
        self.voice_states
            .iter()
            .filter(|(_, v)| v.channel_id == channel_id)
            .map(|(u, _)| *u)
            .collect()
    }
}

impl VoiceState {
    pub fn new(user_id: u64, channel_id: u64) -> Self {
        Self {
            channel_id,
            session_id: format!("fake-voice-session-{user_id}"),
            self_mute: false,
            self_deaf: false,
        }
    }
}

/// Everything the fake Discord knows at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct World {
    /// The bot's user. Its id is what `GET /users/@me` and READY return.
    pub bot: User,
    pub application_id: u64,
    pub application_name: String,
    pub owner: User,
    /// The token the bot must present (`Authorization: Bot <token>`, IDENTIFY `token`).
    pub token: String,
    /// Privileged intents enabled "in the developer portal".
    pub privileged_intents: u64,
    pub guilds: BTreeMap<u64, Guild>,
}

impl World {
    /// A world with the bot and no guilds.
    pub fn empty() -> Self {
        Self {
            bot: User {
                id: BOT_ID,
                name: "alastor".to_owned(),
                bot: true,
            },
            application_id: APPLICATION_ID,
            application_name: "Alastor".to_owned(),
            owner: User::new(OWNER_ID, "owner"),
            token: fake_token(BOT_ID),
            privileged_intents: 0,
            guilds: BTreeMap::new(),
        }
    }

    #[must_use]
    pub fn guild(mut self, guild: Guild) -> Self {
        self.guilds.insert(guild.id, guild);
        self
    }

    #[must_use]
    pub fn privileged_intents(mut self, mask: u64) -> Self {
        self.privileged_intents = mask;
        self
    }

    /// The guild as the bot sees it: its own member entry included.
    pub(crate) fn bot_member(&self) -> Member {
        Member {
            user: self.bot.clone(),
            roles: Vec::new(),
            nick: None,
        }
    }
}

impl Default for World {
    /// Guild [`GUILD_ID`] with `#general` ([`TEXT_CHANNEL_ID`]), voice channels "Radio" ([`VOICE_CHANNEL_ID`]) and
    /// "Lounge" ([`OTHER_VOICE_CHANNEL_ID`]), a DJ role, a listener in "Radio" and a lurker outside voice.
    fn default() -> Self {
        Self::empty().guild(
            Guild::new(GUILD_ID, "Fake Guild")
                .text_channel(TEXT_CHANNEL_ID, "general")
                .voice_channel(VOICE_CHANNEL_ID, "Radio")
                .voice_channel(OTHER_VOICE_CHANNEL_ID, "Lounge")
                .role(DJ_ROLE_ID, "DJ", 0)
                .member(LISTENER_ID, "listener", &[DJ_ROLE_ID])
                .member(LURKER_ID, "lurker", &[])
                .in_voice(LISTENER_ID, VOICE_CHANNEL_ID),
        )
    }
}

/// A token shaped like Discord's (`base64(user id).timestamp.hmac`), so token parsers accept it; it opens nothing.
pub fn fake_token(bot_id: u64) -> String {
    use base64::Engine as _;
    let id = base64::engine::general_purpose::STANDARD_NO_PAD.encode(bot_id.to_string());
    format!("{id}.ZmFrZQ.ZmFrZS1kaXNjb3JkLXRlc3QtdG9rZW4tbm90LWEtc2VjcmV0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_union_roles_and_administrator_means_all() {
        let g = Guild::new(7, "g")
            .role(70, "admin", permissions::ADMINISTRATOR)
            .role(71, "mod", permissions::MANAGE_GUILD)
            .member(8, "a", &[70])
            .member(9, "m", &[71])
            .member(10, "plain", &[]);
        assert_eq!(g.member_permissions(8), permissions::ALL);
        assert_eq!(
            g.member_permissions(9),
            permissions::EVERYONE_DEFAULT | permissions::MANAGE_GUILD
        );
        assert_eq!(g.member_permissions(10), permissions::EVERYONE_DEFAULT);
        assert_eq!(g.member_permissions(OWNER_ID), permissions::ALL);
    }

    #[test]
    fn default_world_has_a_listener_in_voice() {
        let w = World::default();
        let g = &w.guilds[&GUILD_ID];
        assert_eq!(g.voice_channel_members(VOICE_CHANNEL_ID), vec![LISTENER_ID]);
        assert_eq!(g.default_text_channel(), Some(TEXT_CHANNEL_ID));
        assert!(
            w.token.starts_with("OTAw."),
            "token encodes the bot id: {}",
            w.token
        );
    }
}
