//! Who may do what with the radio in a guild: a pure function of the actor, the guild's settings and the
//! running session. Adapters gather the facts (roles, Manage Server, who is in the channel) and ask here.
//!
//! Rules: with no DJ roles configured everyone may play, stop and change the volume. With DJ roles, those
//! actions need one of them or Manage Server, except that whoever started the session may stop it once
//! they are the only human left with the bot. Setup always needs Manage Server; editing favourites
//! follows the DJ rule.

use crate::core::guild::GuildSettings;
use crate::core::ids::{RoleKey, UserKey};
use crate::core::locale::{Message, UserMessage};

/// Something a member asks the bot to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Play,
    Stop,
    Volume,
    EditFavourites,
    Setup,
}

/// The member asking, as the adapter saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user: UserKey,
    pub roles: Vec<RoleKey>,
    /// Manage Server (or Administrator, which implies it).
    pub manage_guild: bool,
}

/// The running session, as far as permissions care.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionView {
    pub started_by: Option<UserKey>,
    /// Humans (not bots) currently in the bot's voice channel.
    pub humans_in_channel: Vec<UserKey>,
}

/// Why an action was refused, carrying what would allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("needs one of the DJ roles {} or Manage Server", mention_roles(.roles))]
    NeedsDj { roles: Vec<RoleKey> },
    #[error("needs one of the DJ roles {} or Manage Server (the starter may stop once alone with the bot)", mention_roles(.roles))]
    NeedsDjOrAloneStarter { roles: Vec<RoleKey> },
    #[error("needs the Manage Server permission")]
    NeedsManageServer,
}

/// Discord role mentions, `<@&1>, <@&2>`.
fn mention_roles(roles: &[RoleKey]) -> String {
    roles
        .iter()
        .map(|r| format!("<@&{}>", r.0))
        .collect::<Vec<_>>()
        .join(", ")
}

impl UserMessage for Denied {
    fn user_message(&self) -> Message {
        match self {
            Self::NeedsDj { roles } => {
                Message::new("error-denied-dj-roles").arg("roles", mention_roles(roles))
            }
            Self::NeedsDjOrAloneStarter { roles } => {
                Message::new("error-denied-starter-alone").arg("roles", mention_roles(roles))
            }
            Self::NeedsManageServer => Message::new("error-denied-manage-server"),
        }
    }
}

/// Decides whether `actor` may perform `action` now.
pub fn authorize(
    action: Action,
    actor: &Actor,
    settings: &GuildSettings,
    session: Option<&SessionView>,
) -> Result<(), Denied> {
    if actor.manage_guild {
        return Ok(());
    }
    if action == Action::Setup {
        return Err(Denied::NeedsManageServer);
    }
    let dj = &settings.dj_roles;
    if dj.is_empty() || actor.roles.iter().any(|r| dj.contains(r)) {
        return Ok(());
    }
    if action == Action::Stop {
        let alone_starter = session.is_some_and(|s| {
            s.started_by == Some(actor.user) && s.humans_in_channel == [actor.user]
        });
        if alone_starter {
            return Ok(());
        }
        return Err(Denied::NeedsDjOrAloneStarter { roles: dj.clone() });
    }
    Err(Denied::NeedsDj { roles: dj.clone() })
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    const ALICE: UserKey = UserKey(1);
    const BOB: UserKey = UserKey(2);
    const DJ: RoleKey = RoleKey(10);
    const OTHER_ROLE: RoleKey = RoleKey(11);

    fn settings(dj: &[RoleKey]) -> GuildSettings {
        let mut s = GuildSettings::default();
        s.set_dj_roles(dj.iter().copied());
        s
    }

    fn actor(roles: &[RoleKey], manage_guild: bool) -> Actor {
        Actor {
            user: ALICE,
            roles: roles.to_vec(),
            manage_guild,
        }
    }

    #[rstest]
    #[case(Action::Play)]
    #[case(Action::Stop)]
    #[case(Action::Volume)]
    #[case(Action::EditFavourites)]
    fn everyone_may_when_no_dj_roles(#[case] action: Action) {
        assert_eq!(
            authorize(action, &actor(&[], false), &settings(&[]), None),
            Ok(())
        );
    }

    #[rstest]
    #[case(Action::Play, &[DJ], false, true)]
    #[case(Action::Play, &[OTHER_ROLE], false, false)]
    #[case(Action::Play, &[], true, true)]
    #[case(Action::Volume, &[DJ, OTHER_ROLE], false, true)]
    #[case(Action::Volume, &[], false, false)]
    #[case(Action::Stop, &[OTHER_ROLE], false, false)]
    #[case(Action::EditFavourites, &[], false, false)]
    #[case(Action::EditFavourites, &[DJ], false, true)]
    fn dj_roles_or_manage_server_when_set(
        #[case] action: Action,
        #[case] roles: &[RoleKey],
        #[case] manage: bool,
        #[case] allowed: bool,
    ) {
        let result = authorize(action, &actor(roles, manage), &settings(&[DJ]), None);
        assert_eq!(result.is_ok(), allowed, "{result:?}");
    }

    #[rstest]
    #[case(Some(ALICE), vec![ALICE], true)] // starter, alone with the bot
    #[case(Some(ALICE), vec![ALICE, BOB], false)] // others still listening
    #[case(Some(BOB), vec![ALICE], false)] // alone, but someone else started it
    #[case(None, vec![ALICE], false)] // started by 24-7 mode, nobody's session
    #[case(Some(ALICE), vec![], false)] // starter left the channel
    fn the_starter_may_stop_when_alone(
        #[case] started_by: Option<UserKey>,
        #[case] humans: Vec<UserKey>,
        #[case] allowed: bool,
    ) {
        let session = SessionView {
            started_by,
            humans_in_channel: humans,
        };
        let a = actor(&[], false);
        let stop = authorize(Action::Stop, &a, &settings(&[DJ]), Some(&session));
        assert_eq!(stop.is_ok(), allowed, "{stop:?}");
        // Being the alone starter never grants anything but stop.
        assert!(authorize(Action::Volume, &a, &settings(&[DJ]), Some(&session)).is_err());
    }

    #[rstest]
    #[case(&[], false, false)]
    #[case(&[DJ], false, false)]
    #[case(&[], true, true)]
    fn setup_needs_manage_server(
        #[case] roles: &[RoleKey],
        #[case] manage: bool,
        #[case] allowed: bool,
    ) {
        for dj in [&[][..], &[DJ][..]] {
            let result = authorize(Action::Setup, &actor(roles, manage), &settings(dj), None);
            assert_eq!(result.is_ok(), allowed);
            if !allowed {
                assert_eq!(result, Err(Denied::NeedsManageServer));
            }
        }
    }

    #[test]
    fn denied_says_what_would_allow_it() {
        let s = settings(&[RoleKey(7), RoleKey(8)]);
        let err = authorize(Action::Play, &actor(&[], false), &s, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "needs one of the DJ roles <@&7>, <@&8> or Manage Server"
        );
        let msg = err.user_message();
        assert_eq!(msg.key, "error-denied-dj-roles");
        let locales = crate::core::locale::Locales::embedded().unwrap();
        let de = locales.render(&"de".parse().unwrap(), &msg);
        assert!(
            de.contains("<@&7>, <@&8>") && de.contains("Server verwalten"),
            "{de}"
        );
    }
}
