//! Identifier newtypes owned by the core. Discord snowflakes become these at the adapter boundary, so the
//! core cannot mix up a guild with a channel and never depends on a Discord library's id types.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! snowflake {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<u64> for $name {
            fn from(raw: u64) -> Self {
                Self(raw)
            }
        }
    };
}

snowflake!(
    /// A Discord guild (server).
    GuildKey
);
snowflake!(
    /// A Discord channel (voice or text).
    ChannelKey
);
snowflake!(
    /// A Discord user.
    UserKey
);
snowflake!(
    /// A Discord role.
    RoleKey
);
