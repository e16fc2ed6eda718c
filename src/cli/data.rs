//! `alastor data …`: export, import and check the guild store (see `core::store::export`).
//!
//! `export` and `check` open the store read-only ([`Store::open_read_only`]): they never create, migrate or
//! change a byte of it, and work on a read-only data dir. Export while the bot runs is refused by the store's
//! lock ("in use by pid …"): stop the service first, so the backup is one consistent snapshot of what the bot
//! last wrote. `import` reads and validates the whole file (at most 64 MiB) before it opens the store.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use crate::config::Config;
use crate::core::store::Store;
use crate::core::store::export::{ImportError, MAX_IMPORT_BYTES, StoreDump};

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Write every table as versioned, human-readable JSON (to stdout, or --out FILE).
    Export {
        /// Write here instead of stdout (atomically: a temporary file, then a rename).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Restore an export into an empty store (all or nothing).
    Import {
        /// The JSON written by `alastor data export`.
        file: PathBuf,
        /// Overwrite a store that already holds data.
        #[arg(long)]
        replace: bool,
    },
    /// Verify the store opens, every record decodes and its checksum matches, and redb's pages are intact;
    /// print the counts. Changes nothing.
    Check,
}

pub fn run(command: &DataCommand, config: &Config) -> anyhow::Result<ExitCode> {
    match command {
        DataCommand::Export { out } => {
            let store = Store::open_read_only(&config.data.dir)?;
            let json = store.export()?.to_json();
            match out {
                None => std::io::stdout()
                    .lock()
                    .write_all(json.as_bytes())
                    .context("writing the export to stdout")?,
                Some(path) => write_atomically(path, &json)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        DataCommand::Import { file, replace } => {
            // The file first: a bad file must not even create the store.
            let dump = read_export(file).with_context(|| file.display().to_string())?;
            let store = Store::open(&config.data.dir)?;
            let counts = store
                .import(&dump, *replace)
                .with_context(|| format!("importing {}", file.display()))?;
            println!("imported {counts} into {}", store.path().display());
            Ok(ExitCode::SUCCESS)
        }
        DataCommand::Check => {
            let mut store = Store::open_read_only(&config.data.dir)?;
            let counts = store.check()?;
            store.verify_pages()?;
            println!(
                "{}: schema {}, every record decodes and matches its checksum: {counts}",
                store.path().display(),
                store.schema_version()?.unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads an export of at most [`MAX_IMPORT_BYTES`]: a regular file's size is checked before reading it, and
/// anything else (a pipe, `/dev/zero`) is read through a cap.
fn read_export(path: &std::path::Path) -> Result<StoreDump, ImportError> {
    let file = std::fs::File::open(path).map_err(ImportError::Read)?;
    let meta = file.metadata().map_err(ImportError::Read)?;
    if meta.is_file() && meta.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge {
            size: Some(meta.len()),
        });
    }
    StoreDump::from_reader(file)
}

/// A backup file is either complete or absent: written beside the target, synced, then renamed.
fn write_atomically(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = std::fs::File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}
