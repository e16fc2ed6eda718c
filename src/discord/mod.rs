//! The Discord adapter: poise commands, the event handler, checks, errors and rendering. It turns Discord
//! interactions into calls on the core and the core's answers into localized replies; nothing below `core`
//! knows about Discord.

pub mod checks;
pub mod commands;
pub mod data;
pub mod error;
pub mod events;
pub mod render;

use crate::core::guild::LocaleTag;
use crate::core::ids::GuildKey;
use crate::core::locale::{Arg, FALLBACK, Locales};

pub use data::Data;
pub use error::BotError;

/// Every command and handler fails with this.
pub type Error = BotError;
/// poise's context with our data and error.
pub type Context<'a> = poise::Context<'a, Data, Error>;

/// Every command the bot registers, with Discord localizations filled in from the Fluent files.
pub fn commands(locales: &Locales) -> Vec<poise::Command<Data, Error>> {
    let mut commands = commands::all();
    for command in &mut commands {
        localize(command, locales, "cmd");
    }
    commands
}

/// Fills `description_localizations` of `command`, its parameters and sub-commands from the keys
/// `cmd-<path>-description` and `cmd-<path>-<param>-description`, for every shipped locale that has them. The
/// en-US text also becomes the default description, so the Fluent file is the one source.
fn localize(command: &mut poise::Command<Data, Error>, locales: &Locales, prefix: &str) {
    let path = format!("{prefix}-{}", command.name);
    fill(
        locales,
        &format!("{path}-description"),
        &mut command.description,
        &mut command.description_localizations,
    );
    for parameter in &mut command.parameters {
        fill(
            locales,
            &format!("{path}-{}-description", parameter.name),
            &mut parameter.description,
            &mut parameter.description_localizations,
        );
    }
    for sub in &mut command.subcommands {
        localize(sub, locales, &path);
    }
}

type Localizations = std::borrow::Cow<
    'static,
    [(
        std::borrow::Cow<'static, str>,
        std::borrow::Cow<'static, str>,
    )],
>;

fn fill(
    locales: &Locales,
    key: &str,
    default: &mut Option<std::borrow::Cow<'static, str>>,
    localized: &mut Localizations,
) {
    let mut translations: Vec<_> = locales.translations(key).into_iter().collect();
    translations.sort();
    for (locale, text) in translations {
        if locale == FALLBACK {
            *default = Some(text.clone().into());
        }
        localized.to_mut().push((locale.into(), text.into()));
    }
}

/// The locale to answer in: the guild's setting > the member's Discord locale > en-US.
pub fn locale_for(data: &Data, guild: Option<GuildKey>, user_locale: Option<&str>) -> LocaleTag {
    let guild_locale = guild
        .and_then(|g| data.store.settings(g).ok())
        .and_then(|s| s.locale);
    data.locales.resolve(guild_locale.as_ref(), user_locale)
}

/// The locale to answer `ctx` in.
pub fn locale_of(ctx: Context<'_>) -> LocaleTag {
    locale_for(
        ctx.data(),
        ctx.guild_id().map(|g| GuildKey(g.get())),
        ctx.locale(),
    )
}

/// Shorthand: the text of `key` in `ctx`'s locale.
pub fn tr(ctx: Context<'_>, key: &str, args: &[(&str, Arg)]) -> String {
    ctx.data().locales.text(&locale_of(ctx), key, args)
}
