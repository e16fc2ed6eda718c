//! The only place the bot's embeds and components are built. Every function takes plain data plus the texts
//! and a locale, so what a member sees is decided here and nowhere else, within Discord's limits (embed
//! description ≤ 4096, field value ≤ 1024, `custom_id` ≤ 100 characters).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use poise::serenity_prelude as serenity;

use crate::core::guild::LocaleTag;
use crate::core::locale::{Arg, Locales};
use crate::core::station::Station;

/// Stations per `/radio list` page: ten lines stay readable on a phone.
pub const PAGE_SIZE: usize = 10;
/// Discord's `custom_id` limit.
pub const MAX_CUSTOM_ID: usize = 100;
/// The bot's accent colour (a warm radio-dial amber).
const ACCENT: u32 = 0x00E0_8A2E;

/// Prefix of the list's paging buttons: `radio:list:<p|n>:<page>:<generation>:<query>`.
pub const LIST_PREFIX: &str = "radio:list:";
/// The select menu of `/radio choose`.
pub const CHOOSE_ID: &str = "radio:choose";

/// One page of `/radio list`.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub query: String,
    /// Zero-based.
    pub page: usize,
    pub pages: usize,
    pub total: usize,
    pub stations: Vec<Arc<Station>>,
    /// The catalog generation the page was cut from; a button from an older one is stale.
    pub generation: u64,
    /// The member clicked a button of an older catalog.
    pub stale: bool,
}

/// A paging button's state, parsed back from its `custom_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListButton {
    pub page: usize,
    pub generation: u64,
    pub query: String,
}

/// The `custom_id` of a paging button. The query is cut (at a character boundary) to fit Discord's limit.
pub fn list_custom_id(kind: char, page: usize, generation: u64, query: &str) -> String {
    let mut id = format!("{LIST_PREFIX}{kind}:{page}:{generation}:");
    for c in query.chars() {
        if id.len() + c.len_utf8() > MAX_CUSTOM_ID {
            break;
        }
        id.push(c);
    }
    id
}

/// Parses a paging button's `custom_id`; `None` for anything else (or a malformed one).
pub fn parse_list_custom_id(id: &str) -> Option<ListButton> {
    let rest = id.strip_prefix(LIST_PREFIX)?;
    let mut parts = rest.splitn(4, ':');
    let kind = parts.next()?;
    if kind != "p" && kind != "n" {
        return None;
    }
    let page = parts.next()?.parse().ok()?;
    let generation = parts.next()?.parse().ok()?;
    let query = parts.next()?.to_owned();
    Some(ListButton {
        page,
        generation,
        query,
    })
}

fn station_line(station: &Station) -> String {
    let mut line = format!("**{}**", untrusted(&station.name, MAX_CHOICE_NAME * 2));
    let mut badges = Vec::new();
    if let Some(codec) = station.codec {
        badges.push(codec.label().to_owned());
    }
    if let Some(kbps) = station.bitrate {
        badges.push(format!("{kbps} kbps"));
    }
    if let Some(country) = &station.country {
        badges.push(country.clone());
    }
    if !badges.is_empty() {
        line.push_str(" · ");
        line.push_str(&badges.join(" · "));
    }
    let _ = write!(line, " — `{}`", station.id.as_str());
    if !station.tags.is_empty() {
        let tags = station
            .tags
            .iter()
            .take(4)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(line, "\n-# {}", untrusted(&tags, MAX_CHOICE_NAME * 2));
    }
    line
}

/// Escapes Discord markdown in names that come from station packs.
pub fn escape(text: &str) -> String {
    untrusted(text, usize::MAX)
}

/// Discord's limits, in characters.
pub const MAX_CONTENT: usize = 2_000;
pub const MAX_FIELD_VALUE: usize = 1_024;
pub const MAX_EMBED_TITLE: usize = 256;
pub const MAX_EMBED_DESCRIPTION: usize = 4_096;
pub const MAX_EMBED_TOTAL: usize = 6_000;
pub const MAX_CHOICE_NAME: usize = 100;

/// Text that came from a third party (ICY and Ogg titles, pack names, tags, descriptions, what a user
/// typed) made safe to put into a message: control and bidi-override characters dropped, markdown
/// escaped, mentions (`@everyone`, `@here`, `<@…>`, `<@&…>`, `<#…>`, `</…>`) broken with a zero-width
/// space so they render as text and never ping, and the result at most `max` characters (an ellipsis
/// marks a cut). Every message also goes out with empty `allowed_mentions` ([`no_pings`]); this makes
/// the text read right as well.
pub fn untrusted(text: &str, max: usize) -> String {
    const ZWSP: char = '\u{200b}';
    let mut out = String::with_capacity(text.len().min(max.saturating_mul(4)));
    let mut count = 0usize;
    let mut chars = text.chars().filter(|&c| !is_hidden_control(c)).peekable();
    let mut at_line_start = true;
    while let Some(c) = chars.next() {
        let mut unit = [c, '\0', '\0'];
        let mut len = 1;
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']' | '(' | ')' => {
                unit = ['\\', c, '\0'];
                len = 2;
            }
            // `-# ` at a line start is Discord's small-text heading; `- ` a list item.
            '-' if at_line_start => {
                unit = ['\\', c, '\0'];
                len = 2;
            }
            '@' | '<' if matches!(chars.peek(), Some(n) if n.is_alphanumeric() || matches!(n, '@' | '#' | '&' | '/' | '!')) =>
            {
                unit = [c, ZWSP, '\0'];
                len = 2;
            }
            _ => {}
        }
        at_line_start = c == '\n';
        let rest_fits = chars.peek().is_none();
        // Leave room for the ellipsis unless this is the last unit.
        let budget = if rest_fits {
            max
        } else {
            max.saturating_sub(1)
        };
        if count + len > budget {
            if max > 0 {
                out.push('…');
            }
            return out;
        }
        out.extend(unit.iter().take(len));
        count += len;
    }
    out
}

/// A message built from our own template around already-escaped values, cut to `max` characters
/// (our templates are short; this only bites when values are at their caps).
pub fn untrusted_frame(text: &str, max: usize) -> String {
    truncate(text, max)
}

/// Control characters (but newline and tab), bidi overrides and isolates, and the zero-width
/// characters that make text read differently from what it is.
fn is_hidden_control(c: char) -> bool {
    use crate::core::station::model::{is_hidden_control, is_zero_width};
    // The packs' definition, but messages keep their line breaks; the invisible math operators
    // (U+2061–U+2065) go too.
    (is_hidden_control(c) && c != '\n' && c != '\t')
        || is_zero_width(c)
        || matches!(c, '\u{2061}'..='\u{2065}')
}

/// Mentions parsed from message text: none. Every message, reply and edit the bot sends carries this,
/// so a station's title or name can never ping `@everyone`, a role or a member.
pub fn no_pings() -> serenity::CreateAllowedMentions {
    serenity::CreateAllowedMentions::new()
}

// The builders every message is made from: each starts with no mentions allowed. A test keeps the
// plain `::new()` constructors out of the rest of the code.

/// An interaction response message (type 4 or 7).
pub fn response_message() -> serenity::CreateInteractionResponseMessage {
    serenity::CreateInteractionResponseMessage::new().allowed_mentions(no_pings())
}

/// An edit of the original interaction response (after a deferral).
pub fn response_edit() -> serenity::EditInteractionResponse {
    serenity::EditInteractionResponse::new().allowed_mentions(no_pings())
}

/// A follow-up message to an interaction.
pub fn followup() -> serenity::CreateInteractionResponseFollowup {
    serenity::CreateInteractionResponseFollowup::new().allowed_mentions(no_pings())
}

/// A message posted to a channel (notices, now playing).
pub fn channel_message() -> serenity::CreateMessage {
    serenity::CreateMessage::new().allowed_mentions(no_pings())
}

/// An edit of a channel message.
pub fn channel_edit() -> serenity::EditMessage {
    serenity::EditMessage::new().allowed_mentions(no_pings())
}

/// The embed and paging buttons of one `/radio list` page.
pub fn station_list(
    locales: &Locales,
    locale: &LocaleTag,
    page: &ListPage,
) -> (serenity::CreateEmbed, Vec<serenity::CreateActionRow>) {
    let title = if page.query.is_empty() {
        locales.text(locale, "radio-list-title", &[])
    } else {
        locales.text(
            locale,
            "radio-list-title-search",
            &[("query", Arg::Str(page.query.clone()))],
        )
    };
    let mut description = String::new();
    if page.stale {
        let _ = write!(
            description,
            "*{}*\n\n",
            locales.text(locale, "radio-list-stale", &[])
        );
    }
    if page.stations.is_empty() {
        description.push_str(&locales.text(locale, "radio-list-empty", &[]));
    } else {
        let first = page.page * PAGE_SIZE;
        let lines: Vec<String> = page
            .stations
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}. {}", first + i + 1, station_line(s)))
            .collect();
        description.push_str(&lines.join("\n"));
    }
    let footer = locales.text(
        locale,
        "radio-list-footer",
        &[
            ("page", Arg::from(page.page + 1)),
            ("pages", Arg::from(page.pages.max(1))),
            ("total", Arg::from(page.total)),
        ],
    );
    let embed = serenity::CreateEmbed::new()
        .title(title)
        .description(truncate(&description, 4096))
        .colour(ACCENT)
        .footer(serenity::CreateEmbedFooter::new(footer));
    let previous = serenity::CreateButton::new(list_custom_id(
        'p',
        page.page.saturating_sub(1),
        page.generation,
        &page.query,
    ))
    .label(locales.text(locale, "radio-list-previous", &[]))
    .emoji('◀')
    .style(serenity::ButtonStyle::Secondary)
    .disabled(page.page == 0);
    let next = serenity::CreateButton::new(list_custom_id(
        'n',
        (page.page + 1).min(page.pages.saturating_sub(1)),
        page.generation,
        &page.query,
    ))
    .label(locales.text(locale, "radio-list-next", &[]))
    .emoji('▶')
    .style(serenity::ButtonStyle::Secondary)
    .disabled(page.page + 1 >= page.pages);
    let rows = if page.pages > 1 {
        vec![serenity::CreateActionRow::Buttons(vec![previous, next])]
    } else {
        Vec::new()
    };
    (embed, rows)
}

/// The guild's favourites as an embed.
pub fn favourites(
    locales: &Locales,
    locale: &LocaleTag,
    stations: &[Arc<Station>],
) -> serenity::CreateEmbed {
    let description = if stations.is_empty() {
        locales.text(locale, "radio-favourite-list-empty", &[])
    } else {
        stations
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}. {}", i + 1, station_line(s)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    serenity::CreateEmbed::new()
        .title(locales.text(locale, "radio-favourite-list-title", &[]))
        .description(truncate(&description, 4096))
        .colour(ACCENT)
}

/// The select menu of `/radio choose` (≤ 25 options; labels ≤ 100, descriptions ≤ 100 characters).
pub fn choose_menu(
    locales: &Locales,
    locale: &LocaleTag,
    stations: &[Arc<Station>],
) -> Vec<serenity::CreateActionRow> {
    let options = stations
        .iter()
        .take(25)
        .map(|s| {
            let mut option =
                serenity::CreateSelectMenuOption::new(truncate(&s.name, 100), s.id.as_str());
            let detail: Vec<String> = s
                .tags
                .iter()
                .take(3)
                .cloned()
                .chain(s.country.clone())
                .collect();
            if !detail.is_empty() {
                option = option.description(truncate(&detail.join(" · "), 100));
            }
            option
        })
        .collect();
    vec![serenity::CreateActionRow::SelectMenu(
        serenity::CreateSelectMenu::new(
            CHOOSE_ID,
            serenity::CreateSelectMenuKind::String { options },
        )
        .placeholder(locales.text(locale, "radio-choose-placeholder", &[])),
    )]
}

/// What `/info` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct BotInfo {
    pub version: &'static str,
    pub uptime: Duration,
    pub guilds: usize,
    pub sessions: usize,
    pub stations: usize,
    /// Resident memory in bytes (`VmRSS`), when the platform tells.
    pub memory: Option<u64>,
    pub latency: Option<Duration>,
}

/// The `/info` embed.
pub fn info(locales: &Locales, locale: &LocaleTag, info: &BotInfo) -> serenity::CreateEmbed {
    let unknown = || locales.text(locale, "info-unknown", &[]);
    let uptime = humantime::format_duration(Duration::from_secs(info.uptime.as_secs())).to_string();
    let memory = info.memory.map_or_else(unknown, |b| {
        format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
    });
    let latency = info
        .latency
        .map_or_else(unknown, |d| format!("{} ms", d.as_millis()));
    serenity::CreateEmbed::new()
        .title(locales.text(
            locale,
            "info-title",
            &[("version", Arg::from(info.version))],
        ))
        .colour(ACCENT)
        .field(locales.text(locale, "info-uptime", &[]), uptime, true)
        .field(
            locales.text(locale, "info-guilds", &[]),
            info.guilds.to_string(),
            true,
        )
        .field(
            locales.text(locale, "info-sessions", &[]),
            info.sessions.to_string(),
            true,
        )
        .field(
            locales.text(locale, "info-stations", &[]),
            info.stations.to_string(),
            true,
        )
        .field(locales.text(locale, "info-memory", &[]), memory, true)
        .field(locales.text(locale, "info-latency", &[]), latency, true)
}

/// Custom id prefix of buttons that (re)start a station: Retry and the similar stations after a failed
/// preflight, `radio:play:<station id>`.
pub const PLAY_PREFIX: &str = "radio:play:";
/// The Stop button under the now-playing embed.
pub const STOP_ID: &str = "radio:stop";
/// The Refresh button under the now-playing embed.
pub const REFRESH_ID: &str = "radio:refresh";

/// `44.1 kHz`, `48 kHz`, `22.05 kHz`.
fn sample_rate_label(hz: u32) -> String {
    let khz = format!("{:.2}", f64::from(hz) / 1_000.0);
    format!("{} kHz", khz.trim_end_matches('0').trim_end_matches('.'))
}

/// What the now-playing embed shows.
#[derive(Debug, Clone)]
pub struct NowPlayingCard {
    pub station: Arc<Station>,
    /// The live `StreamTitle`, when the station sends one.
    pub title: Option<String>,
    pub channel: u64,
    pub volume_percent: u16,
    pub since: Option<std::time::SystemTime>,
    /// Codec, bitrate, rate and channels as the hub decodes them (they win over the pack's values).
    pub codec: Option<String>,
    pub bitrate: Option<u32>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u16>,
    pub listeners: Option<usize>,
    /// The upstream is retrying right now.
    pub reconnecting: bool,
}

/// The station embed of `/radio play` and `/radio info`, with Stop and Refresh buttons.
#[allow(clippy::too_many_lines)] // A flat list of optional fields; splitting it hides the embed's order.
pub fn now_playing(
    locales: &Locales,
    locale: &LocaleTag,
    card: &NowPlayingCard,
) -> (serenity::CreateEmbed, Vec<serenity::CreateActionRow>) {
    let station = &card.station;
    let mut badges = Vec::new();
    if let Some(codec) = card
        .codec
        .clone()
        .or_else(|| station.codec.map(|c| c.label().to_owned()))
    {
        badges.push(format!("`{codec}`"));
    }
    if let Some(kbps) = card.bitrate.or(station.bitrate) {
        badges.push(format!("`{kbps} kbps`"));
    }
    if let Some(rate) = card.sample_rate {
        badges.push(format!("`{}`", sample_rate_label(rate)));
    }
    match card.channels {
        Some(1) => badges.push("`mono`".to_owned()),
        Some(2) => badges.push("`stereo`".to_owned()),
        _ => {}
    }
    let mut embed = serenity::CreateEmbed::new()
        .author(serenity::CreateEmbedAuthor::new(locales.text(
            locale,
            "radio-now-playing",
            &[],
        )))
        .title(untrusted(&station.name, MAX_EMBED_TITLE))
        .colour(ACCENT);
    if let Some(home) = &station.homepage {
        embed = embed.url(home.as_str());
    }
    if let Some(logo) = &station.logo {
        embed = embed.thumbnail(logo.as_str());
    }
    let mut description = String::new();
    if let Some(text) = &station.description {
        description.push_str(&untrusted(text, 300));
    }
    if card.reconnecting {
        if !description.is_empty() {
            description.push('\n');
        }
        description.push_str(&locales.text(locale, "radio-reconnecting", &[]));
    }
    if !description.is_empty() {
        embed = embed.description(description);
    }
    let on_air = card
        .title
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map_or_else(|| "—".to_owned(), |t| untrusted(t, MAX_FIELD_VALUE));
    embed = embed.field(
        locales.text(locale, "radio-field-title", &[]),
        on_air,
        false,
    );
    if !badges.is_empty() {
        embed = embed.field(
            locales.text(locale, "radio-field-format", &[]),
            badges.join(" "),
            true,
        );
    }
    embed = embed
        .field(
            locales.text(locale, "radio-field-channel", &[]),
            format!("<#{}>", card.channel),
            true,
        )
        .field(
            locales.text(locale, "radio-field-volume", &[]),
            format!("{} %", card.volume_percent),
            true,
        );
    if let Some(since) = card
        .since
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
    {
        embed = embed.field(
            locales.text(locale, "radio-field-since", &[]),
            format!("<t:{}:R>", since.as_secs()),
            true,
        );
    }
    if let Some(listeners) = card.listeners {
        embed = embed.field(
            locales.text(locale, "radio-field-listeners", &[]),
            listeners.to_string(),
            true,
        );
    }
    if let Some(country) = &station.country {
        embed = embed.field(
            locales.text(locale, "radio-field-country", &[]),
            country.clone(),
            true,
        );
    }
    if !station.tags.is_empty() {
        let tags = station
            .tags
            .iter()
            .take(6)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        embed = embed.field(
            locales.text(locale, "radio-field-tags", &[]),
            untrusted(&tags, MAX_FIELD_VALUE),
            true,
        );
    }
    embed = embed.footer(serenity::CreateEmbedFooter::new(station.id.as_str()));
    let buttons = serenity::CreateActionRow::Buttons(vec![
        serenity::CreateButton::new(STOP_ID)
            .label(locales.text(locale, "radio-button-stop", &[]))
            .style(serenity::ButtonStyle::Danger),
        serenity::CreateButton::new(REFRESH_ID)
            .label(locales.text(locale, "radio-button-refresh", &[]))
            .style(serenity::ButtonStyle::Secondary),
    ]);
    (embed, vec![buttons])
}

/// Retry and up to three similar stations after a failed preflight (ids that would not fit are skipped).
pub fn play_failed_buttons(
    locales: &Locales,
    locale: &LocaleTag,
    station: &str,
    similar: &[(String, String)],
) -> Vec<serenity::CreateActionRow> {
    let mut buttons = Vec::new();
    let retry = format!("{PLAY_PREFIX}{station}");
    if retry.len() <= MAX_CUSTOM_ID {
        buttons.push(
            serenity::CreateButton::new(retry)
                .label(locales.text(locale, "player-retry", &[]))
                .style(serenity::ButtonStyle::Primary),
        );
    }
    for (id, name) in similar.iter().take(3) {
        let custom = format!("{PLAY_PREFIX}{id}");
        if custom.len() <= MAX_CUSTOM_ID {
            buttons.push(
                serenity::CreateButton::new(custom)
                    .label(truncate(name, 80))
                    .style(serenity::ButtonStyle::Secondary),
            );
        }
    }
    if buttons.is_empty() {
        Vec::new()
    } else {
        vec![serenity::CreateActionRow::Buttons(buttons)]
    }
}

/// Cuts `text` to at most `max` characters, marking the cut with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// INVARIANT: every message the bot sends starts from a builder here, with no mentions allowed.
    #[test]
    fn message_builders_come_only_from_render() {
        fn visit(dir: &std::path::Path, plain: &[&str], offenders: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("read src") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    visit(&path, plain, offenders);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("discord/render.rs")
                {
                    let text = std::fs::read_to_string(&path).expect("read source");
                    for (n, line) in text.lines().enumerate() {
                        if plain.iter().any(|p| line.contains(p)) {
                            offenders.push(format!(
                                "{}:{}: {}",
                                path.display(),
                                n + 1,
                                line.trim()
                            ));
                        }
                    }
                }
            }
        }
        // Spelled in pieces so this guard does not flag itself.
        let plain = [
            concat!("CreateMessage", "::new()"),
            concat!("EditMessage", "::new()"),
            concat!("CreateInteractionResponseMessage", "::new()"),
            concat!("EditInteractionResponse", "::new()"),
            concat!("CreateInteractionResponseFollowup", "::new()"),
        ];
        let mut offenders = Vec::new();
        visit(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &plain,
            &mut offenders,
        );
        assert!(
            offenders.is_empty(),
            "build messages with render::{{response_message, response_edit, followup, channel_message, \
             channel_edit}} (no pings):\n{}",
            offenders.join("\n")
        );
    }

    #[test]
    fn hostile_titles_render_as_text() {
        assert_eq!(untrusted("@everyone party", 100), "@\u{200b}everyone party");
        assert_eq!(
            untrusted("<@&123> and <#9>", 100),
            "<\u{200b}@\u{200b}&123\\> and <\u{200b}\\#9\\>"
        );
        assert_eq!(untrusted("-# tiny\n- item", 100), "\\-\\# tiny\n\\- item");
        assert_eq!(untrusted("a\\*b*", 100), "a\\\\\\*b\\*");
        assert_eq!(untrusted("evil\u{202e}txt.exe\u{7}", 100), "eviltxt.exe");
        assert_eq!(
            untrusted("a < b @ c", 100),
            "a < b @ c",
            "a lone < or @ is not a mention"
        );
        assert_eq!(
            untrusted(&"x".repeat(4_080), MAX_CONTENT).chars().count(),
            MAX_CONTENT
        );
        assert_eq!(untrusted("abcdef", 4), "abc…");
        assert_eq!(untrusted("abc", 3), "abc");
    }

    proptest! {
        #[test]
        fn untrusted_text_never_mentions_and_fits(text in "\\PC{0,3000}|[@<#&!/a-z0-9 \n-]{0,300}",
                                                  max in 0usize..2_100) {
            let safe = untrusted(&text, max);
            prop_assert!(safe.chars().count() <= max, "{} > {max}", safe.chars().count());
            for needle in ["@everyone", "@here", "<@", "<#", "</", "<@&"] {
                prop_assert!(!safe.contains(needle), "{needle} survived in {safe:?}");
            }
            let hidden = safe.chars().any(|c| c == '\u{202e}' || (c.is_control() && c != '\n' && c != '\t'));
            prop_assert!(!hidden, "a hidden character survived in {:?}", safe);
        }

        #[test]
        fn list_custom_ids_fit_and_round_trip(page in 0usize..100_000, generation in 0u64..u64::MAX,
                                              query in "\\PC{0,120}") {
            let id = list_custom_id('n', page, generation, &query);
            prop_assert!(id.len() <= MAX_CUSTOM_ID);
            let parsed = parse_list_custom_id(&id).expect("own ids parse");
            prop_assert_eq!(parsed.page, page);
            prop_assert_eq!(parsed.generation, generation);
            prop_assert!(query.starts_with(&parsed.query));
        }
    }

    #[test]
    fn foreign_and_malformed_ids_are_not_list_buttons() {
        for id in [
            "radio:stop",
            "radio:list:x:1:1:q",
            "radio:list:n:one:1:q",
            "radio:list:n:1",
        ] {
            assert_eq!(parse_list_custom_id(id), None, "{id}");
        }
        assert_eq!(
            parse_list_custom_id("radio:list:p:2:7:jazz:fm"),
            Some(ListButton {
                page: 2,
                generation: 7,
                query: "jazz:fm".to_owned()
            })
        );
    }

    #[test]
    fn markdown_in_station_names_is_escaped_and_long_text_truncated() {
        assert_eq!(escape("*Hits* _now_"), "\\*Hits\\* \\_now\\_");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
