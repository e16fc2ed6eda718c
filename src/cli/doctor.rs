//! `alastor doctor`: checks an installation before (or while) it runs — configuration, token format (never
//! the token itself), data folder and store, station packs and, unless `--quick`, reachability of the Discord
//! API and of a sample of stations. One line per check with what to do about a problem; exit code 1 when any
//! check fails. `--quick` touches no network, so it suits a container HEALTHCHECK.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::audio::preflight::{PreflightBudget, Target, preflight_all};
use crate::audio::upstream::http_client;
use crate::config::Config;
use crate::core::station::loader::{CatalogSource, load_dir};

/// Discord's REST base when `discord.api_base` is not configured.
pub const DISCORD_API_BASE: &str = "https://discord.com/api/v10";

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Offline checks only (config, token format, store, packs): fast, for health checks.
    #[arg(long)]
    pub quick: bool,
    /// Also preflight this many stations (the first ones in catalog order). Ignored with `--quick`.
    /// (`--stations` is already the global packs-folder flag.)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub sample: usize,
    /// Budget for each network check.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// How one check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
    Skipped,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: the report aligns columns with `{:<5}`.
        f.pad(match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
            Self::Skipped => "skip",
        })
    }
}

/// One line of the report: what was checked, what was found, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    pub hint: Option<String>,
}

impl Check {
    fn new(name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Self {
        Self {
            name,
            verdict,
            detail: detail.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Runs the doctor. Loads the configuration itself: a broken config is a finding, not a crash.
pub fn run(cli: &super::Cli, args: &DoctorArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut checks = Vec::new();
    match cli.load_config() {
        Ok(config) => {
            checks.push(Check::new("config", Verdict::Ok, config_source(cli)));
            checks.extend(run_checks(&config, args));
        }
        Err(error) => checks.push(
            Check::new("config", Verdict::Fail, format!("{error:#}"))
                .hint("fix the key named above in the file or the ALASTOR_* variable; other checks skipped"),
        ),
    }
    for check in &checks {
        writeln!(
            out,
            "{:<5} {:<10} {}",
            check.verdict, check.name, check.detail
        )?;
        if let Some(hint) = &check.hint {
            writeln!(out, "{:<5} {:<10} -> {hint}", "", "")?;
        }
    }
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    if failed == 0 {
        writeln!(out, "all checks passed")?;
        Ok(ExitCode::SUCCESS)
    } else {
        writeln!(out, "{failed} check(s) failed")?;
        Ok(ExitCode::FAILURE)
    }
}

fn config_source(cli: &super::Cli) -> String {
    let file = cli
        .config
        .clone()
        .unwrap_or_else(|| crate::config::DEFAULT_CONFIG_FILE.into());
    if file.exists() {
        format!("loaded {} + ALASTOR_* environment", file.display())
    } else {
        "built-in defaults + ALASTOR_* environment (no config file)".to_owned()
    }
}

/// Every check after the configuration, in report order.
pub fn run_checks(config: &Config, args: &DoctorArgs) -> Vec<Check> {
    let mut checks = vec![
        check_token(
            config
                .discord
                .token
                .as_ref()
                .map(crate::config::Secret::expose),
        ),
        check_data_dir(&config.data.dir),
        check_store(&config.store_path()),
    ];
    let (packs, stations) = check_packs(&config.stations.dir);
    checks.push(packs);
    if args.quick {
        return checks;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            checks.push(Check::new(
                "network",
                Verdict::Fail,
                format!("no async runtime: {error}"),
            ));
            return checks;
        }
    };
    let base = config
        .discord
        .api_base
        .as_deref()
        .unwrap_or(DISCORD_API_BASE);
    checks.push(runtime.block_on(check_discord(base, args.timeout)));
    if args.sample > 0 {
        let targets: Vec<Target> = stations
            .iter()
            .take(args.sample)
            .map(Target::from)
            .collect();
        checks.push(runtime.block_on(check_stations(config, &targets, args.timeout)));
    }
    checks
}

/// Presence and shape of the bot token: three dot-separated base64url parts, the first being the bot's user id.
/// Never prints any part of it.
pub fn check_token(token: Option<&str>) -> Check {
    const NAME: &str = "token";
    let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
        return Check::new(NAME, Verdict::Fail, "no bot token configured").hint(
            "set DISCORD_TOKEN (systemd: /etc/alastor/env; Docker: --env-file) from the Developer Portal, Bot tab",
        );
    };
    let parts: Vec<&str> = token.split('.').collect();
    let base64url = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let problem = if token.starts_with("Bot ") || token.starts_with("Bearer ") {
        Some("starts with an authorization scheme (`Bot `): give the bare token")
    } else if parts.len() != 3 {
        Some("does not have three dot-separated parts")
    } else if !parts.iter().all(|p| base64url(p)) {
        Some("contains characters outside base64url (quotes or spaces copied along?)")
    } else if parts[0].len() < 16 || parts[2].len() < 20 {
        Some("parts are too short for a Discord bot token")
    } else {
        None
    };
    match problem {
        None => Check::new(
            NAME,
            Verdict::Ok,
            format!(
                "present, well-formed ({} characters; not shown)",
                token.len()
            ),
        ),
        Some(problem) => Check::new(NAME, Verdict::Fail, format!("token {problem}"))
            .hint("copy the token again from the Developer Portal (Bot tab, Reset Token)"),
    }
}

/// The data folder exists (or can be created by `run`) and is writable.
pub fn check_data_dir(dir: &Path) -> Check {
    const NAME: &str = "data dir";
    if !dir.exists() {
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return if parent.is_dir() {
            Check::new(
                NAME,
                Verdict::Warn,
                format!(
                    "{} does not exist yet; `alastor run` creates it",
                    dir.display()
                ),
            )
        } else {
            Check::new(
                NAME,
                Verdict::Fail,
                format!("{} and its parent do not exist", dir.display()),
            )
            .hint("create it, or point ALASTOR_DATA_DIR / data.dir at a writable folder")
        };
    }
    if !dir.is_dir() {
        return Check::new(
            NAME,
            Verdict::Fail,
            format!("{} is not a folder", dir.display()),
        );
    }
    let probe = dir.join(format!(".alastor-doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"probe") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            Check::new(NAME, Verdict::Ok, format!("{} is writable", dir.display()))
        }
        Err(error) => Check::new(
            NAME,
            Verdict::Fail,
            format!("{} is not writable: {error}", dir.display()),
        )
        .hint("give the service user write access (systemd: StateDirectory; Docker: the /data volume owner)"),
    }
}

/// The store opens and every record decodes with a matching checksum (`Store::check`, then redb's page
/// checksums), when there is a file. Opened read-only: the doctor never creates or changes the store. A store
/// locked by the running bot counts as healthy (the bot verified it when it opened it).
pub fn check_store(path: &Path) -> Check {
    const NAME: &str = "store";
    if !path.exists() {
        return Check::new(
            NAME,
            Verdict::Ok,
            format!(
                "{} not created yet (first run starts empty)",
                path.display()
            ),
        );
    }
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut store = match crate::core::store::Store::open_read_only(dir) {
        Ok(store) => store,
        Err(error @ crate::core::store::StoreError::InUse { .. }) => {
            // The running bot holds it: that is the healthy case for a HEALTHCHECK.
            return Check::new(
                NAME,
                Verdict::Ok,
                error.to_string().replace(
                    " — stop the other Alastor, or point this one at another folder with --data",
                    "",
                ),
            );
        }
        Err(error @ crate::core::store::StoreError::FromTheFuture { .. }) => {
            return Check::new(NAME, Verdict::Fail, error.to_string())
                .hint("upgrade Alastor to the release that wrote it, or restore a backup");
        }
        Err(error) => {
            return Check::new(NAME, Verdict::Fail, error.to_string()).hint(
                "restore a backup with `alastor data import`, or move the file aside to start empty",
            );
        }
    };
    match store.check().and_then(|counts| store.verify_pages().map(|()| counts)) {
        Ok(counts) => Check::new(
            NAME,
            Verdict::Ok,
            format!(
                "{} opens, every record decodes and matches its checksum ({counts})",
                path.display()
            ),
        ),
        Err(error) => Check::new(NAME, Verdict::Fail, error.to_string()).hint(
            "export what still decodes is not possible record by record yet: restore a backup with `alastor data import --replace`",
        ),
    }
}

/// Loads the packs like `run` does; the stations come back for the optional preflight.
pub fn check_packs(dir: &Path) -> (Check, Vec<crate::core::station::Station>) {
    const NAME: &str = "stations";
    let load = match load_dir(dir) {
        Ok(load) => load,
        Err(error) => {
            return (
                Check::new(NAME, Verdict::Fail, error.to_string())
                    .hint("fix the folder's permissions or point ALASTOR_STATIONS_DIR elsewhere"),
                Vec::new(),
            );
        }
    };
    let stations: Vec<_> = load.catalog.iter().map(|s| s.as_ref().clone()).collect();
    let errors: Vec<String> = load.errors().map(ToString::to_string).collect();
    let origin = match load.source {
        CatalogSource::Folder => format!("{} pack(s) in {}", load.packs, dir.display()),
        CatalogSource::Embedded => format!("{} missing: built-in default pack", dir.display()),
    };
    let detail = format!("{} station(s) from {origin}", stations.len());
    let check = if stations.is_empty() {
        Check::new(NAME, Verdict::Fail, detail).hint(
            "add a pack (TOML, YAML, M3U, PLS or XSPF) to the folder; see `alastor stations list`",
        )
    } else if errors.is_empty() {
        Check::new(NAME, Verdict::Ok, detail)
    } else {
        let first = errors
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        // The same per-reason counts as `stations list` prints, then the first few places.
        let drops = load.drops();
        Check::new(
            NAME,
            Verdict::Warn,
            format!("{detail}; {drops}; first: {first}"),
        )
        .hint("`alastor stations list` prints every problem as file:line")
    };
    (check, stations)
}

/// `GET {base}/gateway`: DNS, TLS and Discord's edge, without a token.
pub async fn check_discord(base: &str, timeout: Duration) -> Check {
    const NAME: &str = "discord";
    let url = format!("{}/gateway", base.trim_end_matches('/'));
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(client) => client,
        Err(error) => return Check::new(NAME, Verdict::Fail, format!("HTTP client: {error}")),
    };
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => {
            let body: serde_json::Value = match response.bytes().await {
                Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
                Err(_) => serde_json::Value::Null,
            };
            if body
                .get("url")
                .and_then(serde_json::Value::as_str)
                .is_some()
            {
                Check::new(
                    NAME,
                    Verdict::Ok,
                    format!("{url} answers with a gateway URL"),
                )
            } else {
                Check::new(
                    NAME,
                    Verdict::Fail,
                    format!("{url} answered without a gateway URL"),
                )
                .hint("check discord.api_base: it must be a Discord REST API base")
            }
        }
        Ok(response) => Check::new(
            NAME,
            Verdict::Fail,
            format!("{url} answered HTTP {}", response.status()),
        )
        .hint("Discord may be down (discordstatus.com), or discord.api_base is wrong"),
        Err(error) => Check::new(NAME, Verdict::Fail, format!("{url} unreachable: {error}"))
            .hint("check DNS, the firewall (outbound 443) and any proxy"),
    }
}

/// Preflights `targets` with the same code as `alastor stations check`.
pub async fn check_stations(config: &Config, targets: &[Target], timeout: Duration) -> Check {
    const NAME: &str = "streams";
    let budget = PreflightBudget {
        timeout,
        decode: config.check.decode,
        allow_private_targets: config.stations.allow_private_targets,
    };
    let client = match http_client(&budget.connect_options()).context("building the HTTP client") {
        Ok(client) => client,
        Err(error) => return Check::new(NAME, Verdict::Fail, format!("{error:#}")),
    };
    let reports = preflight_all(&client, targets, budget, config.check.concurrency, |_| {}).await;
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.ok)
        .map(|r| r.station.clone().unwrap_or_else(|| "?".to_owned()))
        .collect();
    let detail = format!(
        "{}/{} station(s) play",
        reports.len() - failed.len(),
        reports.len()
    );
    if failed.is_empty() {
        Check::new(NAME, Verdict::Ok, detail)
    } else {
        Check::new(
            NAME,
            Verdict::Fail,
            format!("{detail}; failing: {}", failed.join(", ")),
        )
        .hint("`alastor stations check <id>` shows why each one fails")
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    const WELL_FORMED: &str =
        "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE.abcdefghijklmnopqrstuvwxyz0123456789AB";

    #[rstest]
    #[case(Some(WELL_FORMED), Verdict::Ok)]
    #[case(None, Verdict::Fail)]
    #[case(Some("   "), Verdict::Fail)]
    #[case(
        Some("Bot MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE.abcdefghijklmnopqrstuvwxyz0123456789AB"),
        Verdict::Fail
    )]
    #[case(Some("MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE"), Verdict::Fail)]
    #[case(
        Some("\"MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE.abcdefghijklmnopqrstuvwxyz0123456789AB\""),
        Verdict::Fail
    )]
    #[case(Some("a.b.c"), Verdict::Fail)]
    fn token_format(#[case] token: Option<&str>, #[case] expected: Verdict) {
        let check = check_token(token);
        assert_eq!(check.verdict, expected, "{check:?}");
        if let Some(token) = token {
            for part in token.split('.').filter(|p| p.len() > 3) {
                assert!(!check.detail.contains(part), "token part leaked: {check:?}");
            }
        }
    }

    #[test]
    fn data_dir_writable_missing_and_orphaned() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(check_data_dir(dir.path()).verdict, Verdict::Ok);
        assert_eq!(
            check_data_dir(&dir.path().join("new")).verdict,
            Verdict::Warn
        );
        assert_eq!(
            check_data_dir(&dir.path().join("a/b")).verdict,
            Verdict::Fail
        );
        assert!(
            std::fs::read_dir(dir.path())
                .expect("list")
                .next()
                .is_none(),
            "probe file left behind"
        );
    }

    #[test]
    fn store_missing_open_locked_and_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("alastor.redb");
        assert_eq!(check_store(&path).verdict, Verdict::Ok);
        let db = redb::Database::create(&path).expect("create");
        assert_eq!(
            check_store(&path).verdict,
            Verdict::Ok,
            "locked by a running bot is fine"
        );
        drop(db);
        // A bare redb file was not made by Alastor (its first create writes the schema atomically).
        let foreign = check_store(&path);
        assert_eq!(foreign.verdict, Verdict::Fail, "{foreign:?}");
        assert!(
            foreign.detail.contains("not an Alastor store"),
            "{foreign:?}"
        );
        std::fs::write(&path, b"definitely not a redb file, just some bytes").expect("write");
        let check = check_store(&path);
        assert_eq!(check.verdict, Verdict::Fail, "{check:?}");
        assert!(check.hint.is_some());
    }

    #[test]
    fn packs_count_stations_and_surface_skipped_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("a.toml"),
            "[[station]]\nname = \"Good FM\"\nurls = [\"http://127.0.0.1:9/a\"]\n\n\
             [[station]]\nname = \"Bad FM\"\nurls = [\"ftp://127.0.0.1/a\"]\n",
        )
        .expect("write");
        let (check, stations) = check_packs(dir.path());
        assert_eq!(check.verdict, Verdict::Warn, "{check:?}");
        assert_eq!(stations.len(), 1);
        assert!(
            check.detail.contains("1 station(s)") && check.detail.contains("a.toml"),
            "{check:?}"
        );
        assert!(
            check
                .detail
                .contains("dropped 1 entry: 1 not http(s) (ftp)"),
            "{check:?}"
        );

        let empty = tempfile::tempdir().expect("tempdir");
        assert_eq!(check_packs(empty.path()).0.verdict, Verdict::Fail);
    }
}
