//! `alastor stations check`: preflight stations from the shell — HTTP, redirects, playlists, ICY headers
//! and a real decode of the first seconds — with a progress bar on a terminal, a summary table (or JSON),
//! and exit code 1 when any station fails.

use std::io::{IsTerminal as _, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::audio::preflight::{PreflightBudget, PreflightReport, Target, preflight_all};
use crate::audio::upstream::http_client;
use crate::config::Config;
use crate::core::station::model::{clean_text, fold};
use crate::core::station::{Catalog, Station, StationIndex};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only check stations matching these searches (ids or free text); all stations when empty.
    pub queries: Vec<String>,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Stations checked at once [default: config `check.concurrency`].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Budget per station, e.g. `10s` [default: config `check.timeout`].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
}

// Ownership comes from the dispatch in `stations.rs`, which hands every subcommand its arguments.
#[allow(clippy::needless_pass_by_value)]
pub fn run(args: CheckArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let load = super::stations::load_reporting(config)?;
    let mut stdout = std::io::stdout().lock();
    run_with_catalog(&args, config, &load.catalog, &mut stdout)
}

/// The command over an already loaded catalog, writing to `out` (tests pass a buffer).
pub fn run_with_catalog(
    args: &CheckArgs,
    config: &Config,
    catalog: &Catalog,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let stations = select(catalog, &args.queries)?;
    if stations.is_empty() {
        writeln!(out, "no stations to check")?;
        return Ok(ExitCode::SUCCESS);
    }
    let budget = PreflightBudget {
        timeout: args.timeout.unwrap_or(config.check.timeout),
        decode: config.check.decode,
        allow_private_targets: config.stations.allow_private_targets,
    };
    anyhow::ensure!(
        budget.timeout > Duration::ZERO,
        "--timeout must be more than 0"
    );
    let concurrency = args.concurrency.unwrap_or(config.check.concurrency);
    anyhow::ensure!(concurrency > 0, "--concurrency must be at least 1");

    let targets: Vec<Target> = stations.iter().map(|s| Target::from(s.as_ref())).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let client =
        http_client(&budget.connect_options()).context("building the HTTP client (TLS setup)")?;
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(targets.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let reports = runtime.block_on(preflight_all(
        &client,
        &targets,
        budget,
        concurrency,
        |report| {
            if let Some(bar) = &progress {
                bar.inc(1);
                bar.set_message(report.station.clone().unwrap_or_default());
            }
        },
    ));
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }

    if args.json {
        serde_json::to_writer_pretty(&mut *out, &reports)?;
        writeln!(out)?;
    } else {
        write_table(out, &reports)?;
    }
    let failed = reports.iter().filter(|r| !r.ok).count();
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Stations named by the queries (an exact id, else the top search hit), in query order without
/// duplicates; every station when there are no queries.
fn select(catalog: &Catalog, queries: &[String]) -> anyhow::Result<Vec<Arc<Station>>> {
    if queries.is_empty() {
        return Ok(catalog.iter().cloned().collect());
    }
    let index = StationIndex::build(catalog).context("building the search index")?;
    let mut chosen: Vec<Arc<Station>> = Vec::new();
    for query in queries {
        // An id, or a station's whole name; never the nearest fuzzy match: checking a station the
        // operator did not name would report on the wrong one.
        let wanted = fold(query.trim());
        let hits = index.search(query, 5);
        let station = catalog.get_str(query.trim()).cloned().or_else(|| {
            hits.iter()
                .find(|hit| fold(&hit.name) == wanted)
                .and_then(|hit| catalog.get(&hit.id).cloned())
        });
        let Some(station) = station else {
            let suggestions: Vec<String> = hits
                .iter()
                .take(3)
                .map(|hit| format!("`{}` ({})", hit.id, clean_text(&hit.name)))
                .collect();
            // Controls and bidi overrides could rewrite what the operator reads.
            let query = clean_text(query);
            if suggestions.is_empty() {
                anyhow::bail!(
                    "no station has the id or name `{query}` (list them with `alastor stations list`)"
                );
            }
            anyhow::bail!(
                "no station has the id or name `{query}`; did you mean {}?",
                suggestions.join(", ")
            );
        };
        if !chosen.iter().any(|s| s.id == station.id) {
            chosen.push(station);
        }
    }
    Ok(chosen)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

fn write_table(out: &mut dyn Write, reports: &[PreflightReport]) -> std::io::Result<()> {
    let header = [
        "STATION", "STATUS", "CODEC", "KBIT/S", "RATE", "TITLE", "TIME", "REASON",
    ];
    let rows: Vec<[String; 8]> = reports
        .iter()
        .map(|r| {
            let status = match (r.ok, r.status) {
                (true, _) if r.attempts.len() > 1 => format!("ok (fallback {})", r.attempts.len()),
                (true, _) => "ok".to_owned(),
                (false, Some(code)) => format!("FAIL {code}"),
                (false, None) => "FAIL".to_owned(),
            };
            let codec = match (&r.codec, r.channels) {
                (Some(c), Some(1)) => format!("{c} mono"),
                (Some(c), _) => c.clone(),
                (None, _) => "-".to_owned(),
            };
            [
                truncate(r.station.as_deref().unwrap_or("-"), 32),
                status,
                codec,
                r.bitrate.map_or_else(|| "-".into(), |b| b.to_string()),
                r.sample_rate.map_or_else(|| "-".into(), |s| s.to_string()),
                truncate(r.title.as_deref().unwrap_or("-"), 32),
                format!("{:.1}s", r.elapsed_ms as f64 / 1000.0),
                r.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let pad = width - cell.chars().count();
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        text.trim_end().to_owned()
    };
    writeln!(out, "{}", line(&header.map(str::to_owned)))?;
    for row in &rows {
        writeln!(out, "{}", line(row))?;
    }
    let failed = reports.iter().filter(|r| !r.ok).count();
    writeln!(
        out,
        "{} checked, {} ok, {failed} failed",
        reports.len(),
        reports.len() - failed
    )
}
