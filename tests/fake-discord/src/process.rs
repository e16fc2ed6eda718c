//! Runs the bot under test as a child process: environment pointing at the fake, logs captured line by line,
//! killed when the handle is dropped (so a failing test never leaves a bot streaming into the next test's ports).

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::error::{Error, Result};

/// Lines kept from the bot's stdout and stderr.
const MAX_LINES: usize = 20_000;
/// Lines printed when a test fails while the bot runs.
const TAIL_ON_FAILURE: usize = 80;

/// A running bot. Dropping it kills the process.
#[derive(Debug)]
pub struct BotProcess {
    name: String,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    changed: watch::Receiver<u64>,
}

impl BotProcess {
    /// Spawns `program` with `args` and `env` (on top of the inherited environment).
    pub fn spawn(program: &Path, args: &[&str], env: &[(String, String)]) -> Result<Self> {
        let name = program.file_name().map_or_else(
            || program.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| Error::Process {
            path: program.display().to_string(),
            source,
        })?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, changed) = watch::channel(0u64);
        let tx = Arc::new(tx);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, logs.clone(), tx.clone(), name.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, logs.clone(), tx, name.clone()));
        }
        Ok(Self {
            name,
            child,
            logs,
            changed,
        })
    }

    /// Every captured line so far (stdout and stderr interleaved in arrival order).
    pub fn logs(&self) -> Vec<String> {
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Lines containing `needle`.
    pub fn log_lines_containing(&self, needle: &str) -> Vec<String> {
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }

    /// Waits for a log line containing `needle`.
    pub async fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.changed.borrow_and_update();
            if let Some(line) = self.log_lines_containing(needle).into_iter().next() {
                return Ok(line);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Timeout {
                    what: format!("log line containing {needle:?}"),
                    after: timeout,
                    seen: format!(
                        "{} exited with {status}; last lines:\n{}",
                        self.name,
                        self.tail(30)
                    ),
                });
            }
            // The process may exit without another line: poll its status at least every 200 ms.
            let step = (tokio::time::Instant::now() + Duration::from_millis(200)).min(deadline);
            let _ = tokio::time::timeout_at(step, self.changed.changed()).await;
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("log line containing {needle:?}"),
                    after: timeout,
                    seen: format!("last lines of {}:\n{}", self.name, self.tail(30)),
                });
            }
        }
    }

    /// `Some(exit status)` once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the process and waits for it.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// The last `n` lines, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        let logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        logs[logs.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- last {TAIL_ON_FAILURE} lines of {} ----\n{}\n----",
                self.name,
                self.tail(TAIL_ON_FAILURE)
            );
        }
        // kill_on_drop reaps the child; start_kill makes it immediate.
        let _ = self.child.start_kill();
    }
}

async fn pump(
    stream: impl AsyncRead + Unpin,
    logs: Arc<Mutex<Vec<String>>>,
    tx: Arc<watch::Sender<u64>>,
    name: String,
) {
    let mut lines = BufReader::new(stream).lines();
    let echo = std::env::var_os("FAKE_DISCORD_ECHO").is_some();
    while let Ok(Some(line)) = lines.next_line().await {
        if echo {
            eprintln!("[{name}] {line}");
        }
        {
            let mut logs = logs.lock().unwrap_or_else(PoisonError::into_inner);
            if logs.len() >= MAX_LINES {
                logs.drain(..MAX_LINES / 10);
            }
            logs.push(line);
        }
        tx.send_modify(|v| *v += 1);
    }
}
