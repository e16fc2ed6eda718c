//! `alastor stations list|search|check`: the catalog from the command line, for operators and scripts.
//!
//! Output goes through one locked, buffered stdout (62,000 stations as JSON are a few hundred `write`
//! calls, not two million), and a reader that goes away (`alastor stations list | head`) ends the
//! command quietly with status 0, like ripgrep.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use serde::Serialize;

use super::check::{self, CheckArgs};
use crate::config::Config;
use crate::core::station::loader::{CatalogLoad, load_dir, thousands};
use crate::core::station::{Severity, Station, StationIndex};

#[derive(Debug, Subcommand)]
pub enum StationsCommand {
    /// List every loaded station (and report pack problems on stderr).
    List {
        /// Print the stations as a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Search stations the way autocomplete does: prefixes, typos, aliases, genres.
    Search {
        /// What to look for, e.g. "bbc ra" or "jazz".
        query: String,
        /// Most results to show.
        #[arg(long, short = 'n', default_value_t = 10)]
        limit: usize,
        /// Print the results as a JSON array (best first) of objects with id, name and score.
        #[arg(long)]
        json: bool,
    },
    /// Preflight stations: HTTP, playlists, ICY headers and a real decode of the first seconds.
    Check(CheckArgs),
}

pub fn run(command: StationsCommand, config: &Config) -> anyhow::Result<ExitCode> {
    match command {
        StationsCommand::List { json } => list(config, json),
        StationsCommand::Search { query, limit, json } => search(config, &query, limit, json),
        StationsCommand::Check(args) => check::run(args, config),
    }
}

/// Loads the packs folder and prints its diagnostics to stderr: they are for the operator, not for scripts.
/// The last line sums up: `62,104 stations from 654 packs; dropped 1,203 entries: 900 not http(s) …`.
pub fn load_reporting(config: &Config) -> anyhow::Result<CatalogLoad> {
    let load = load_dir(&config.stations.dir)?;
    // Buffered: a corpus with thousands of diagnostics is thousands of lines.
    let mut stderr = BufWriter::new(std::io::stderr().lock());
    for diagnostic in &load.diagnostics {
        let _ = writeln!(stderr, "{diagnostic}");
    }
    let errors = load
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let drops = load.drops();
    let mut summary = format!(
        "{} stations from {} {}",
        thousands(load.catalog.len()),
        thousands(load.packs),
        if load.packs == 1 { "pack" } else { "packs" }
    );
    if drops.total() > 0 || drops.broken_files > 0 {
        let _ = write!(summary, "; {drops}");
    }
    let other = errors.saturating_sub(drops.total() + drops.broken_files);
    if other > 0 {
        let _ = write!(
            summary,
            "; {other} other problem(s) in station packs (the affected fields were skipped)"
        );
    }
    let _ = writeln!(stderr, "{summary}");
    let _ = stderr.flush();
    Ok(load)
}

/// Runs `write` against a buffered stdout; a closed pipe is the reader's way of saying "enough", so it
/// ends the command with success instead of an error.
fn with_stdout(
    write: impl FnOnce(&mut BufWriter<std::io::StdoutLock<'static>>) -> std::io::Result<()>,
) -> anyhow::Result<ExitCode> {
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            // Dropping `out` would flush into the closed pipe again: discard what is buffered.
            let _ = out.into_parts();
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(anyhow::Error::new(e).context("writing to stdout")),
    }
}

/// `serde_json`'s error back as the I/O error it wraps (a broken pipe must stay recognisable).
fn json_to(out: &mut impl Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(std::io::Error::from)?;
    writeln!(out)
}

#[derive(Serialize)]
struct StationRow<'a> {
    id: &'a str,
    name: &'a str,
    streams: Vec<&'a str>,
    aliases: &'a [String],
    tags: &'a [String],
    country: Option<&'a str>,
    language: Option<&'a str>,
    codec: Option<&'static str>,
    bitrate: Option<u32>,
    origin: String,
}

impl<'a> From<&'a Station> for StationRow<'a> {
    fn from(s: &'a Station) -> Self {
        Self {
            id: s.id.as_str(),
            name: &s.name,
            streams: s.streams.iter().map(url::Url::as_str).collect(),
            aliases: &s.aliases,
            tags: &s.tags,
            country: s.country.as_deref(),
            language: s.language.as_deref(),
            codec: s.codec.map(crate::core::station::Codec::label),
            bitrate: s.bitrate,
            origin: s.origin.to_string(),
        }
    }
}

fn list(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let load = load_reporting(config)?;
    with_stdout(|out| {
        if json {
            let rows: Vec<StationRow<'_>> = load
                .catalog
                .iter()
                .map(|s| StationRow::from(s.as_ref()))
                .collect();
            json_to(out, &rows)
        } else {
            let width = load
                .catalog
                .iter()
                .map(|s| s.id.as_str().len())
                .max()
                .unwrap_or(2)
                .max(2);
            for s in load.catalog.iter() {
                let badges = badges(s);
                writeln!(out, "{:<width$}  {}{}", s.id, s.name, badges)?;
            }
            writeln!(
                out,
                "{} stations from {} pack(s) in {}",
                load.catalog.len(),
                load.packs,
                config.stations.dir.display()
            )
        }
    })
}

fn badges(s: &Station) -> String {
    let mut parts = Vec::new();
    if let Some(codec) = s.codec {
        parts.push(codec.label().to_owned());
    }
    if let Some(bitrate) = s.bitrate {
        parts.push(format!("{bitrate} kbit/s"));
    }
    if let Some(country) = &s.country {
        parts.push(country.clone());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("  [{}]", parts.join(", "))
    }
}

fn search(config: &Config, query: &str, limit: usize, json: bool) -> anyhow::Result<ExitCode> {
    let load = load_reporting(config)?;
    let index = StationIndex::build(&load.catalog).context("building the search index")?;
    let hits = index.search(query, limit);
    with_stdout(|out| {
        if json {
            json_to(out, &hits)
        } else if hits.is_empty() {
            writeln!(out, "no station matches `{query}`")
        } else {
            for (rank, hit) in hits.iter().enumerate() {
                writeln!(
                    out,
                    "{:>2}. {:<32} {}  ({:.2})",
                    rank + 1,
                    hit.id.as_str(),
                    hit.name,
                    hit.score
                )?;
            }
            Ok(())
        }
    })
}
