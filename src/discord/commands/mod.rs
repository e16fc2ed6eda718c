//! The slash commands, one file per top-level command. `all()` is the list `app.rs` registers.

pub mod info;
pub mod radio;
pub mod setup;

use crate::discord::{Data, Error};

/// Every command of the bot, unlocalized (see [`crate::discord::commands`](super::commands)).
pub fn all() -> Vec<poise::Command<Data, Error>> {
    vec![radio::radio(), setup::setup(), info::info()]
}
