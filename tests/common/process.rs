//! The bot as a process: its pid (from its start line) and signals to it, as a service manager sends them.

use fake_discord::{BotProcess, STARTUP_TIMEOUT};

/// The bot's pid, read from its `alastor starting … pid=N` line.
pub async fn bot_pid(bot: &mut BotProcess) -> String {
    let start_line = bot
        .wait_for_log("alastor starting", STARTUP_TIMEOUT)
        .await
        .expect("start line");
    start_line
        .split("pid=")
        .nth(1)
        .expect("pid field")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

/// `kill <sig> <pid>` (`sig` as `-TERM`, `-HUP`, …).
pub fn signal(pid: &str, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, pid])
        .status()
        .expect("kill");
    assert!(status.success(), "kill {sig} {pid}");
}
