//! The Discord-free core: plain Rust, no serenity/poise/songbird types (a test below enforces it).
//!
//! Everything here is unit-tested without Discord: the station catalog and its search index, the guild
//! store, the player session state machine, the setup wizard, permission policy and rate limits.

pub mod guild;
pub mod ids;
pub mod limits;
pub mod locale;
pub mod player;
pub mod policy;
pub mod send_budget;
pub mod station;
pub mod store;
pub mod wizard;

/// `now + after`, or a year from now when `after` is longer (a configured or imported duration of
/// `u64::MAX` seconds must not overflow an `Instant` and panic).
pub fn saturating_deadline(
    now: std::time::Instant,
    after: std::time::Duration,
) -> std::time::Instant {
    const FAR: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);
    now.checked_add(after.min(FAR)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// INVARIANT: the core never names a Discord library type; adapters live in `src/discord/`.
    // Spelled in pieces so this guard does not flag itself.
    const FORBIDDEN: [&str; 3] = [
        concat!("seren", "ity"),
        concat!("poi", "se"),
        concat!("song", "bird"),
    ];

    #[test]
    fn core_names_no_discord_library() {
        fn visit(dir: &Path, offenders: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("read src/core") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    visit(&path, offenders);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("read source");
                    for (n, line) in text.lines().enumerate() {
                        let code = line.split("//").next().unwrap_or_default();
                        if FORBIDDEN.iter().any(|lib| code.contains(lib)) {
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
        let mut offenders = Vec::new();
        visit(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core"),
            &mut offenders,
        );
        assert!(
            offenders.is_empty(),
            "Discord types in the core:\n{}",
            offenders.join("\n")
        );
    }
}
