//! faultline-reports: what a batch of runs leaves behind. One record per run
//! ([`RunRecord`], a line of `runs.jsonl`), from which a tidy results.csv,
//! a timings.csv and per-scenario merged HdrHistograms are rebuilt; the
//! batch directory's manifest, resume and shard merging; and the report of a
//! batch: plots, summary table and a self-contained index.html. Knows no protocol.

pub mod atomic;
pub mod batch_dir;
pub mod coverage;
pub mod diagram;
pub mod error;
pub mod figures;
pub mod histograms;
pub mod html;
pub mod manifest;
pub mod metric_tables;
pub mod plot;
pub mod record;
pub mod replay;
pub mod report;
pub mod results;
pub mod runlog;
pub mod shiviz;
pub mod summary;
pub mod trials;
pub mod work;

pub use batch_dir::{merge, open_batch, pending, write_reports, Merged, OpenBatch};
pub use coverage::{CoverageTally, PointTally};
pub use error::ReportError;
pub use manifest::{Manifest, ScenarioFile};
pub use record::{RunRecord, RunVerdict, Tally};
pub use report::{write_report, Written};
pub use work::{SeedRange, Shard, WorkItem, WorkSpecError};
