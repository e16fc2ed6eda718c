//! Runs the real `alastor stations check --json` over a pack the test writes, and compares each station's
//! report with what its feeder encodes: one table row per station (printed, see it with `--nocapture`) and
//! one line per mismatch, so a failing test shows every wrong field at once instead of the first.

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

/// What a station's feeder sends, i.e. what the check must measure.
#[derive(Clone, Debug)]
pub struct Expected {
    pub name: String,
    pub url: String,
    pub codec: &'static str,
    /// kbit/s; the report must be within ±15 %.
    pub kbps: u32,
    pub sample_rate: u32,
    pub channels: u16,
    pub title: Title,
    pub hls: bool,
}

#[derive(Clone, Debug)]
pub enum Title {
    /// The feeder sets none.
    Unset,
    Exact(String),
    /// Changes over time (liquidsoap's `Song N`): must contain this.
    Contains(&'static str),
}

/// ±15 %: a listener's measurement against the encoder's setting.
pub const BITRATE_TOLERANCE: f64 = 0.15;

/// One `stations check --json` over all the stations (the way an operator runs it).
pub struct CheckRun {
    /// One report per station, in the CLI's order.
    pub reports: Vec<serde_json::Value>,
    pub took: Duration,
    /// The run over all stations crashed (no JSON): its exit status and stderr. `reports` then come from one
    /// run per station, and a station whose own run crashed has a report saying so (`"crashed": true`).
    pub crash: Option<String>,
}

/// Runs the real binary over a pack of `stations` with `--timeout timeout`, all at once.
pub fn run_check(stations: &[Expected], timeout: &str) -> CheckRun {
    let started = Instant::now();
    match check_once(stations, timeout) {
        Ok(reports) => CheckRun {
            reports,
            took: started.elapsed(),
            crash: None,
        },
        Err(crash) => {
            // Find out which station brings the command down, and what the others measure.
            let reports = std::thread::scope(|scope| {
                let runs: Vec<_> = stations
                    .iter()
                    .map(|station| {
                        scope.spawn(move || {
                            check_once(std::slice::from_ref(station), timeout).map_or_else(
                                |crash| {
                                    serde_json::json!({
                                        "name": station.name,
                                        "ok": false,
                                        "crashed": true,
                                        "reason": crash,
                                    })
                                },
                                |mut one| one.pop().unwrap_or_default(),
                            )
                        })
                    })
                    .collect();
                runs.into_iter()
                    .map(|run| run.join().expect("check thread"))
                    .collect()
            });
            CheckRun {
                reports,
                took: started.elapsed(),
                crash: Some(crash),
            }
        }
    }
}

/// The reports of one CLI run, or why it printed none (exit status and the first lines of stderr).
fn check_once(stations: &[Expected], timeout: &str) -> Result<Vec<serde_json::Value>, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pack = String::new();
    for station in stations {
        let _ = write!(
            pack,
            "[[station]]\nname = \"{}\"\nurl = \"{}\"\ntags = [\"test\"]\n\n",
            station.name, station.url
        );
    }
    std::fs::write(dir.path().join("real.toml"), pack).expect("write pack");
    let data = dir.path().join("data");
    let output = Command::new(env!("CARGO_BIN_EXE_alastor"))
        .arg("--stations")
        .arg(dir.path())
        .arg("--data")
        .arg(&data)
        .args(["stations", "check", "--json", "--timeout", timeout])
        .args(["--concurrency", &stations.len().to_string()])
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run alastor stations check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&stdout).map_err(|_| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let panic: Vec<String> = stderr
            .lines()
            .filter(|line| !line.contains(" WARN ") && !line.trim().is_empty())
            .take(2)
            // A panic message may quote the stream's raw bytes: keep it printable.
            .map(|line| {
                line.chars()
                    .filter(|c| !c.is_control() && *c != '\u{FFFD}')
                    .take(160)
                    .collect()
            })
            .collect();
        format!("{}: {}", output.status, panic.join(" / "))
    })
}

/// Compares reports with expectations: the table (header + one row per station) and every mismatch.
pub fn compare(expected: &[Expected], reports: &[serde_json::Value]) -> (String, Vec<String>) {
    let mut rows = vec![[
        "STATION".to_owned(),
        "OK".to_owned(),
        "CODEC".to_owned(),
        "KBIT/S (want)".to_owned(),
        "RATE".to_owned(),
        "CH".to_owned(),
        "TITLE".to_owned(),
        "REASON".to_owned(),
    ]];
    let mut failures = Vec::new();
    for want in expected {
        let Some(report) = reports.iter().find(|r| r["name"] == want.name.as_str()) else {
            failures.push(format!("{}: no report at all", want.name));
            continue;
        };
        let ok = report["ok"].as_bool() == Some(true);
        let codec = report["codec"].as_str().unwrap_or("-");
        let kbps = report["bitrate"].as_u64();
        let rate = report["sample_rate"].as_u64();
        let channels = report["channels"].as_u64();
        let title = report["title"].as_str();
        let reason = report["reason"].as_str().unwrap_or("");
        let mut fail = |what: String| failures.push(format!("{}: {what}", want.name));
        if !ok {
            fail(format!("not ok: {reason}"));
        }
        if codec != want.codec {
            fail(format!("codec {codec}, want {}", want.codec));
        }
        let low = f64::from(want.kbps) * (1.0 - BITRATE_TOLERANCE);
        let high = f64::from(want.kbps) * (1.0 + BITRATE_TOLERANCE);
        if !kbps.is_some_and(|k| (low..=high).contains(&(k as f64))) {
            fail(format!(
                "bitrate {kbps:?} kbit/s, want {} ±15 % ({low:.0}..={high:.0})",
                want.kbps
            ));
        }
        if rate != Some(u64::from(want.sample_rate)) {
            fail(format!("sample rate {rate:?}, want {}", want.sample_rate));
        }
        if channels != Some(u64::from(want.channels)) {
            fail(format!("channels {channels:?}, want {}", want.channels));
        }
        match &want.title {
            Title::Unset => {}
            Title::Exact(t) if title == Some(t.as_str()) => {}
            Title::Contains(part) if title.is_some_and(|t| t.contains(part)) => {}
            other => fail(format!("title {title:?}, want {other:?}")),
        }
        if want.hls && report["hls"].as_bool() != Some(true) {
            fail(format!("hls {}, want true", report["hls"]));
        }
        rows.push([
            want.name.clone(),
            if ok {
                "ok"
            } else if report["crashed"] == true {
                "CRASH"
            } else {
                "FAIL"
            }
            .to_owned(),
            codec.to_owned(),
            format!(
                "{} ({})",
                kbps.map_or_else(|| "-".to_owned(), |k| k.to_string()),
                want.kbps
            ),
            rate.map_or_else(|| "-".to_owned(), |r| r.to_string()),
            channels.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            title.unwrap_or("-").to_owned(),
            reason.chars().take(90).collect(),
        ]);
    }
    let mut widths = [0usize; 8];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    for row in &rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        let _ = writeln!(table, "{}", line.trim_end());
    }
    (table, failures)
}

/// Fails the test when there are mismatches (a crash of the whole run counts as the first), with every
/// report attached, and `context` (a source client's log, say) after them.
pub fn assert_no_mismatches(run: &CheckRun, mut failures: Vec<String>, context: &str) {
    if let Some(crash) = &run.crash {
        failures.insert(
            0,
            format!(
                "the check over all stations crashed ({crash}); rows are from one run per station"
            ),
        );
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n  {}\n\nreports:\n{}{context}",
        failures.len(),
        failures.join("\n  "),
        serde_json::to_string_pretty(&run.reports).unwrap_or_default()
    );
}
