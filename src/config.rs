//! Layered configuration: built-in defaults < `alastor.toml` < `ALASTOR_*` environment variables.
//!
//! Nested keys use `__` in the environment (`ALASTOR_DISCORD__DEV_GUILD=123`), durations are humantime
//! strings (`"30s"`, `"5m"`), and `DISCORD_TOKEN` is accepted as the bot token. Unknown keys and bad values
//! fail at start with the key, the value and what was expected. The token is a [`Secret`]: it never
//! appears in `Debug` output or logs.

use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// File read when neither `--config` nor `ALASTOR_CONFIG` names one. Missing is fine; a broken one is not.
pub const DEFAULT_CONFIG_FILE: &str = "alastor.toml";

/// The whole configuration. Every field has a default, so no file is needed to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub discord: DiscordConfig,
    pub stations: StationsConfig,
    pub limits: LimitsConfig,
    pub data: DataConfig,
    pub log: LogConfig,
    pub playback: PlaybackConfig,
    pub check: CheckConfig,
}

/// How the bot talks to Discord.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Bot token. Also read from `DISCORD_TOKEN`. *Defaults to none (required by `run`).*
    pub token: Option<Secret>,
    /// REST base URL of an HTTP proxy in front of Discord (e.g. a ratelimit proxy, or the test harness).
    /// *Defaults to none: talk to discord.com directly.*
    pub api_base: Option<String>,
    /// Register commands in this guild only (instant updates while developing). *Defaults to none: global.*
    pub dev_guild: Option<u64>,
    /// Explicit sharding; *defaults to none: automatic (Discord's recommendation).*
    pub shards: Option<ShardConfig>,
}

/// An explicit shard range of a fixed total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardConfig {
    /// First shard id this process runs (inclusive).
    pub first: u32,
    /// Last shard id this process runs (inclusive).
    pub last: u32,
    /// Total shards across all processes.
    pub total: u32,
}

/// Where station packs live and how they are watched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StationsConfig {
    /// Folder of station packs, read recursively. *Defaults to `./stations`.*
    pub dir: PathBuf,
    /// Watch the folder and reload on change. *Defaults to true.*
    pub watch: bool,
    /// Quiet time after the last change before a reload. *Defaults to 300ms.*
    #[serde(with = "humantime_serde")]
    pub reload_debounce: Duration,
    /// Follow redirects and playlist entries of a public station into loopback, link-local or private
    /// addresses. A station whose own URL is such an address (a LAN station) may always use them.
    /// *Defaults to false:* a third party's stream must not make the bot fetch from the operator's
    /// own network.
    pub allow_private_targets: bool,
}

impl Default for StationsConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("stations"),
            watch: true,
            reload_debounce: Duration::from_millis(300),
            allow_private_targets: false,
        }
    }
}

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Folder holding `alastor.redb`. *Defaults to `./data`.*
    pub dir: PathBuf,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("data"),
        }
    }
}

/// Command rate limits: a budget of `burst` requests refilled evenly over `per`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Each member's slash commands. *Defaults to 5 per 10s.*
    pub user_commands: RateConfig,
    /// All slash commands in one guild together. *Defaults to 30 per 30s.*
    pub guild_commands: RateConfig,
    /// Each member's autocomplete requests (one per keystroke). *Defaults to 25 per 5s.*
    pub user_autocomplete: RateConfig,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let rate = |burst: u32, secs: u64| RateConfig {
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
            per: Duration::from_secs(secs),
        };
        Self {
            user_commands: rate(5, 10),
            guild_commands: rate(30, 30),
            user_autocomplete: rate(25, 5),
        }
    }
}

/// `burst` requests at once, refilled one by one over `per` (e.g. `{ burst = 5, per = "10s" }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    pub burst: NonZeroU32,
    #[serde(with = "humantime_serde")]
    pub per: Duration,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human output on a terminal, plain (no ANSI, no timestamps) under systemd/journald.
    #[default]
    Auto,
    /// Compact human output with colours.
    Human,
    /// Plain lines without ANSI or timestamps (journald adds its own).
    Plain,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `RUST_LOG`-style filter; `RUST_LOG` itself wins when set. *Defaults to `info`.*
    pub filter: String,
    /// *Defaults to `auto`.*
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".to_owned(),
            format: LogFormat::Auto,
        }
    }
}

/// Station preflight (`alastor stations check`, and before joining voice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckConfig {
    /// Per-station budget: connect, follow playlists, read and decode. *Defaults to 10s.*
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Stations checked at once. *Defaults to 8.*
    pub concurrency: usize,
    /// Seconds of audio decoded to call a station healthy. *Defaults to 2s.*
    #[serde(with = "humantime_serde")]
    pub decode: Duration,
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            concurrency: 8,
            decode: Duration::from_secs(2),
        }
    }
}

/// Playback in voice: preflight before joining, resume pacing, upstream trouble thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaybackConfig {
    /// Check a station answers with decodable audio before joining voice. *Defaults to true.*
    pub preflight: bool,
    /// Budget of that check. *Defaults to 8s.*
    #[serde(with = "humantime_serde")]
    pub preflight_timeout: Duration,
    /// Audio decoded to pass it. *Defaults to 500ms.*
    #[serde(with = "humantime_serde")]
    pub preflight_decode: Duration,
    /// At most one voice join per this interval on each gateway shard (resumes at start, 24-7 guilds,
    /// commands), on top of the shard's gateway budget of 110 voice updates per 61 s (Discord closes a
    /// connection that sends more than 120 events in 60 s). *Defaults to 250ms.*
    #[serde(with = "humantime_serde")]
    pub resume_spacing: Duration,
    /// Tell the channel once the station has been unreachable this long. *Defaults to 10s.*
    #[serde(with = "humantime_serde")]
    pub upstream_notice_after: Duration,
    /// Stop and leave when the station has been unreachable this long. *Defaults to 5m.*
    #[serde(with = "humantime_serde")]
    pub upstream_give_up_after: Duration,
}

impl Default for PlaybackConfig {
    fn default() -> Self {
        Self {
            preflight: true,
            preflight_timeout: Duration::from_secs(8),
            preflight_decode: Duration::from_millis(500),
            resume_spacing: Duration::from_millis(250),
            upstream_notice_after: Duration::from_secs(10),
            upstream_give_up_after: Duration::from_secs(5 * 60),
        }
    }
}

/// A string that must never be printed: `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: call only where it is handed to the library that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A configuration that could not be loaded; the message names the key, the value and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} was given but does not exist")]
    MissingFile { path: PathBuf },
    #[error("config file {path} is not a regular file ({what}); give the path of an alastor.toml")]
    NotAFile { path: PathBuf, what: &'static str },
    #[error(
        "config file {path} is {bytes} bytes; a configuration is at most {MAX_CONFIG_BYTES} bytes"
    )]
    TooLarge { path: PathBuf, bytes: u64 },
    #[error("{}", render_figment_error(.0))]
    Invalid(Box<figment::Error>),
    /// Another error's message with the token cut out of it.
    #[error("{0}")]
    Redacted(String),
}

const ENV_PREFIX: &str = "ALASTOR_";

/// Largest configuration file read: a real one is a few kilobytes.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Environment variables that are command-line flags (clap reads them), not config keys.
const ENV_FLAGS: &[&str] = &["config", "stations_dir", "data_dir"];

impl Config {
    /// Loads defaults < file < environment. `explicit_file` is `--config`/`ALASTOR_CONFIG`: it must exist;
    /// the implicit `alastor.toml` in the working directory is optional.
    pub fn load(explicit_file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = match explicit_file {
            Some(path) if !path.exists() => {
                return Err(ConfigError::MissingFile {
                    path: path.to_owned(),
                });
            }
            Some(path) => path.to_owned(),
            None => PathBuf::from(DEFAULT_CONFIG_FILE),
        };
        // figment reads a folder or a device as "no file" and would run on defaults: refuse instead.
        if let Ok(meta) = std::fs::metadata(&file) {
            let what = if meta.is_dir() {
                Some("a folder")
            } else if !meta.is_file() {
                Some("a device, socket or pipe")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(ConfigError::NotAFile { path: file, what });
            }
            if meta.len() > MAX_CONFIG_BYTES {
                return Err(ConfigError::TooLarge {
                    path: file,
                    bytes: meta.len(),
                });
            }
        }
        Self::from_figment(&Self::figment(&file))
    }

    /// The provider stack, exposed so tests can run it inside `figment::Jail`.
    pub fn figment(file: &Path) -> Figment {
        Figment::new()
            .merge(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            .merge(
                Env::raw()
                    .only(&["DISCORD_TOKEN"])
                    .map(|_| "discord.token".into()),
            )
            .merge(Env::prefixed(ENV_PREFIX).ignore(ENV_FLAGS).split("__"))
    }

    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        // The token alone still extracts when other keys are broken: whatever the error quotes (a
        // value pasted under the wrong key), the token is cut out of it.
        let token = figment.extract_inner::<String>("discord.token").ok();
        let redact = |error: ConfigError| match &token {
            Some(token) if token.len() >= 8 => {
                ConfigError::Redacted(error.to_string().replace(token.as_str(), "[redacted]"))
            }
            _ => error,
        };
        let config: Config = figment
            .extract()
            .map_err(|e| redact(ConfigError::Invalid(Box::new(e))))?;
        config.validate().map_err(redact)?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: String, expected: &str| {
            ConfigError::Invalid(Box::new(figment::Error::from(format!(
                "invalid value `{value}` for key `{key}`: expected {expected}"
            ))))
        };
        if self.check.concurrency == 0 {
            return Err(invalid("check.concurrency", "0".into(), "at least 1"));
        }
        // A typo here used to fall back to `info` silently.
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.filter) {
            return Err(invalid(
                "log.filter",
                self.log.filter.chars().take(200).collect(),
                &format!("a RUST_LOG-style filter such as `info,alastor=debug` ({e})"),
            ));
        }
        if let Some(shards) = &self.discord.shards
            && (shards.first > shards.last || shards.last >= shards.total)
        {
            return Err(invalid(
                "discord.shards",
                format!("{}..={} of {}", shards.first, shards.last, shards.total),
                "first <= last < total",
            ));
        }
        if let Some(base) = &self.discord.api_base
            && !(base.starts_with("http://") || base.starts_with("https://"))
        {
            return Err(invalid(
                "discord.api_base",
                base.clone(),
                "an http:// or https:// URL",
            ));
        }
        Ok(())
    }

    /// The store file inside the data folder.
    pub fn store_path(&self) -> PathBuf {
        self.data.dir.join("alastor.redb")
    }
}

/// The key whose value is the bot token: its value is never quoted, whatever is wrong with it.
const TOKEN_PATH: [&str; 2] = ["discord", "token"];

/// What is wrong, without echoing what the file says. A TOML syntax error quotes the offending source
/// line under a `N |` gutter, and a type error quotes the value: either can be the token (`token = abc`
/// unquoted, or an unterminated string), so excerpts are dropped and the token's value is never shown.
fn describe_kind(path: &[String], kind: &figment::error::Kind) -> String {
    use figment::error::Kind;
    if path.iter().map(String::as_str).eq(TOKEN_PATH) {
        return match kind {
            Kind::InvalidType(_, expected) => {
                format!("the value (not shown: it is the token) is not {expected}")
            }
            _ => "the value (not shown: it is the token) is not a valid token".to_owned(),
        };
    }
    let text = kind.to_string();
    let without_excerpt: Vec<&str> = text.lines().filter(|l| !is_source_excerpt(l)).collect();
    without_excerpt
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A line of a parser's source excerpt: `  |`, `2 | token = abc`, `  |         ^`.
fn is_source_excerpt(line: &str) -> bool {
    line.trim_start()
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start()
        .starts_with('|')
}

/// figment's own messages already carry the key path and expectation; add where the value came from.
fn render_figment_error(error: &figment::Error) -> String {
    use std::fmt::Write as _;
    let mut lines = Vec::new();
    for e in error.clone() {
        let mut line = String::from("invalid configuration: ");
        if !e.path.is_empty() {
            let _ = write!(line, "key `{}`: ", e.path.join("."));
        }
        let _ = write!(line, "{}", describe_kind(&e.path, &e.kind));
        if let Some(meta) = &e.metadata {
            match &meta.source {
                Some(source) => {
                    let _ = write!(line, " (in {source})");
                }
                // Env values have no file; name the exact variable the operator set.
                None if !e.path.is_empty() && meta.name.contains(ENV_PREFIX) => {
                    let var = format!("{ENV_PREFIX}{}", e.path.join("__").to_ascii_uppercase());
                    let _ = write!(line, " (from environment variable `{var}`)");
                }
                None => {
                    let _ = write!(line, " (from {})", meta.name);
                }
            }
        }
        lines.push(line);
    }
    lines.join("\n")
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error; its size is not ours.
mod tests {
    use super::*;
    use figment::Jail;

    fn load_in_jail() -> Result<Config, ConfigError> {
        Config::from_figment(&Config::figment(Path::new(DEFAULT_CONFIG_FILE)))
    }

    #[test]
    fn defaults_need_no_file() {
        Jail::expect_with(|_| {
            let config = load_in_jail().map_err(|e| e.to_string())?;
            assert_eq!(config, Config::default());
            assert_eq!(config.stations.dir, PathBuf::from("stations"));
            assert_eq!(config.store_path(), PathBuf::from("data/alastor.redb"));
            Ok(())
        });
    }

    #[test]
    fn limits_come_from_file_and_env() {
        Jail::expect_with(|jail| {
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                r#"
                [limits]
                user_commands = { burst = 2, per = "4s" }
                "#,
            )?;
            jail.set_env(
                "ALASTOR_LIMITS__USER_AUTOCOMPLETE",
                "{ burst = 9, per = \"1m\" }",
            );
            let limits = load_in_jail().map_err(|e| e.to_string())?.limits;
            assert_eq!(limits.user_commands.burst.get(), 2);
            assert_eq!(limits.user_commands.per, Duration::from_secs(4));
            assert_eq!(limits.user_autocomplete.burst.get(), 9);
            assert_eq!(limits.user_autocomplete.per, Duration::from_secs(60));
            assert_eq!(
                limits.guild_commands,
                LimitsConfig::default().guild_commands
            );
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                "[limits]\nuser_commands = { burst = 0, per = \"1s\" }",
            )?;
            let err = load_in_jail().unwrap_err().to_string();
            assert!(err.contains("burst"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                r#"
                [stations]
                dir = "/srv/packs"
                reload_debounce = "2s"
                [check]
                timeout = "5s"
                concurrency = 3
                "#,
            )?;
            jail.set_env("ALASTOR_CHECK__CONCURRENCY", "12");
            jail.set_env("ALASTOR_DISCORD__DEV_GUILD", "42");
            let config = load_in_jail().map_err(|e| e.to_string())?;
            assert_eq!(config.stations.dir, PathBuf::from("/srv/packs"));
            assert_eq!(config.stations.reload_debounce, Duration::from_secs(2));
            assert_eq!(config.check.timeout, Duration::from_secs(5));
            assert_eq!(config.check.concurrency, 12);
            assert_eq!(config.discord.dev_guild, Some(42));
            Ok(())
        });
    }

    #[test]
    fn discord_token_env_is_the_token_and_is_redacted() {
        Jail::expect_with(|jail| {
            jail.set_env("DISCORD_TOKEN", "abc.def.ghi");
            let config = load_in_jail().map_err(|e| e.to_string())?;
            let token = config.discord.token.as_ref().expect("token");
            assert_eq!(token.expose(), "abc.def.ghi");
            let debug = format!("{config:?}");
            assert!(
                !debug.contains("abc.def.ghi"),
                "token leaked into Debug: {debug}"
            );
            assert!(debug.contains("[redacted]"));
            Ok(())
        });
    }

    #[test]
    fn cli_flag_env_vars_are_not_config_keys() {
        Jail::expect_with(|jail| {
            jail.set_env("ALASTOR_STATIONS_DIR", "/elsewhere");
            jail.set_env("ALASTOR_DATA_DIR", "/elsewhere");
            jail.set_env("ALASTOR_CONFIG", "/elsewhere/alastor.toml");
            load_in_jail().map_err(|e| e.to_string())?;
            Ok(())
        });
    }

    /// Regression: an unquoted or unterminated `token = …` printed the whole token in the TOML error's
    /// source excerpt (`alastor run`, `doctor --quick`).
    #[test]
    fn a_broken_token_line_is_reported_without_the_token() {
        let token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.abcdefghijklmnopqrstuvwxyz012345";
        for line in [
            format!("token = {token}"),
            format!("token = \"{token}"),
            format!("token = '{token}\nname = 1"),
        ] {
            Jail::expect_with(|jail| {
                jail.create_file("alastor.toml", &format!("[discord]\n{line}\n"))?;
                let error = load_in_jail().expect_err("broken").to_string();
                assert!(error.contains("line 2"), "still says where: {error}");
                for piece in token.as_bytes().windows(8) {
                    let piece = std::str::from_utf8(piece).unwrap_or_default();
                    assert!(!error.contains(piece), "`{piece}` of the token in: {error}");
                }
                Ok(())
            });
        }
        Jail::expect_with(|jail| {
            jail.create_file("alastor.toml", "[discord]\ntoken = 123456789012\n")?;
            let error = load_in_jail().expect_err("not a string").to_string();
            assert!(error.contains("discord.token"), "{error}");
            assert!(!error.contains("123456789012"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_bad_log_filter_is_an_error_naming_the_key() {
        Jail::expect_with(|jail| {
            jail.create_file("alastor.toml", "[log]\nfilter = \"info,[broken\"\n")?;
            let error = load_in_jail().expect_err("bad filter").to_string();
            assert!(error.contains("log.filter"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_folder_or_a_device_as_config_file_is_refused_not_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let error = Config::load(Some(dir.path()))
            .expect_err("a folder")
            .to_string();
        assert!(
            error.contains("is not a regular file (a folder)"),
            "{error}"
        );
        let error = Config::load(Some(Path::new("/dev/zero")))
            .expect_err("a device")
            .to_string();
        assert!(error.contains("a device"), "{error}");
        let big = dir.path().join("big.toml");
        std::fs::write(&big, "# x\n".repeat(300_000)).expect("write");
        let error = Config::load(Some(&big)).expect_err("too large").to_string();
        assert!(error.contains("at most"), "{error}");
    }

    #[test]
    fn rejects_unknown_key_naming_it() {
        Jail::expect_with(|jail| {
            jail.create_file(DEFAULT_CONFIG_FILE, "[stations]\ndirectory = \"x\"\n")?;
            let error = load_in_jail()
                .expect_err("unknown key must fail")
                .to_string();
            assert!(error.contains("directory"), "{error}");
            assert!(error.contains("stations"), "{error}");
            assert!(error.contains("alastor.toml"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn rejects_bad_duration_with_key_value_and_expectation() {
        Jail::expect_with(|jail| {
            jail.set_env("ALASTOR_CHECK__TIMEOUT", "soon");
            let error = load_in_jail()
                .expect_err("bad duration must fail")
                .to_string();
            assert!(error.contains("check.timeout"), "{error}");
            assert!(error.contains("soon"), "{error}");
            assert!(error.contains("ALASTOR_CHECK__TIMEOUT"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn rejects_zero_concurrency() {
        Jail::expect_with(|jail| {
            jail.set_env("ALASTOR_CHECK__CONCURRENCY", "0");
            let error = load_in_jail().expect_err("zero must fail").to_string();
            assert!(error.contains("check.concurrency"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let error =
            Config::load(Some(Path::new("/nonexistent/alastor.toml"))).expect_err("missing file");
        assert!(error.to_string().contains("/nonexistent/alastor.toml"));
    }

    #[test]
    fn log_format_is_set_from_file_or_env_and_rejects_unknown_formats() {
        Jail::expect_with(|jail| {
            jail.create_file(
                DEFAULT_CONFIG_FILE,
                "[log]\nformat = \"json\"\nfilter = \"alastor=debug\"\n",
            )?;
            let config = load_in_jail().map_err(|e| e.to_string())?;
            assert_eq!(config.log.format, LogFormat::Json);
            assert_eq!(config.log.filter, "alastor=debug");
            // The systemd unit and the Docker image set the format this way.
            jail.set_env("ALASTOR_LOG__FORMAT", "plain");
            let config = load_in_jail().map_err(|e| e.to_string())?;
            assert_eq!(config.log.format, LogFormat::Plain);
            jail.set_env("ALASTOR_LOG__FORMAT", "xml");
            let error = load_in_jail().expect_err("unknown format").to_string();
            assert!(
                error.contains("log.format") && error.contains("xml"),
                "{error}"
            );
            Ok(())
        });
    }
}
