//! The errors the reports crate reports, typed so the CLI can tell a user's
//! mistake from a failure of the machine (both exit 2).

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReportError {
    /// The OS's message is part of this one's, and not its source, so a
    /// chain printed with `{:#}` says it once.
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    /// An output directory holds a different batch than the one asked for.
    #[error("{}: {message}", dir.display())]
    Mismatch { dir: PathBuf, message: String },
    /// Shard directories that do not form one batch.
    #[error("{0}")]
    Merge(String),
    /// A line of `runs.jsonl` that is not a run record, before its last line.
    #[error("{}:{line}: not a run record ({message}); the file is damaged, move it away to start the batch afresh", path.display())]
    BadRecord { path: PathBuf, line: usize, message: String },
    #[error("{}: not a batch manifest ({message})", path.display())]
    BadManifest { path: PathBuf, message: String },
    #[error("histogram `{metric}`: {message}")]
    Histogram { metric: String, message: String },
    #[error("cannot write CSV")]
    Csv(#[from] csv::Error),
}

impl ReportError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ReportError {
        ReportError::Io { path: path.into(), error: source }
    }
}
