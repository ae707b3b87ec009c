//! The errors the reports crate reports, typed so the CLI can tell a user's
//! mistake (exit 2) from a failure of the machine (exit 1).

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    #[error("cannot write CSV: {0}")]
    Csv(#[from] csv::Error),
}

impl ReportError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ReportError {
        ReportError::Io { path: path.into(), source }
    }

    /// Whether the user asked for something that cannot be done (exit 2), as
    /// opposed to the machine failing to do it.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            ReportError::Mismatch { .. }
                | ReportError::Merge(_)
                | ReportError::BadRecord { .. }
                | ReportError::BadManifest { .. }
        )
    }
}
