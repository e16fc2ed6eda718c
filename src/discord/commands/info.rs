//! `/info`: version, uptime, guilds, playing sessions, stations loaded, memory and gateway latency.

use crate::discord::render::{self, BotInfo};
use crate::discord::{Context, Error, locale_of};

/// Resident set size from `/proc/self/status` (`VmRSS:   12345 kB`); `None` off Linux or when unreadable.
pub fn resident_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// About this bot: version, uptime, load
#[poise::command(slash_command)]
pub async fn info(ctx: Context<'_>) -> Result<(), Error> {
    let data = ctx.data();
    let latency = ctx.ping().await;
    let info = BotInfo {
        version: env!("CARGO_PKG_VERSION"),
        uptime: data.started.elapsed(),
        guilds: ctx.cache().guild_count(),
        sessions: data.active_sessions(),
        stations: data.library.snapshot().catalog.len(),
        memory: resident_memory(),
        // serenity reports zero until the first heartbeat was acknowledged.
        latency: (!latency.is_zero()).then_some(latency),
    };
    let embed = render::info(&data.locales, &locale_of(ctx), &info);
    ctx.send(poise::CreateReply::default().embed(embed).ephemeral(true))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_parsed_in_bytes() {
        let status = "Name:\talastor\nVmPeak:\t  99999 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n";
        assert_eq!(parse_vm_rss(status), Some(20_480 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_has_a_resident_size_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_memory().is_some_and(|b| b > 0));
        }
    }
}
