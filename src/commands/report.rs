//! `faultline report` (a batch directory's plots, summary and index.html; see
//! `faultline_reports::report`) and `faultline compare` (batch, then report).

use std::path::Path;

use super::batch::{report_error, run_set};
use super::{CliError, Outcome};
use crate::cli::{CompareArgs, ReportArgs};

/// The metrics a protocol declares worth comparing.
fn declared_metrics(protocol: &str) -> Vec<String> {
    crate::registry()
        .find(protocol)
        .map(|p| p.default_metrics.iter().map(|m| m.to_string()).collect())
        .unwrap_or_default()
}

pub fn report(args: &ReportArgs) -> Result<Outcome, CliError> {
    let written = faultline_reports::write_report(&args.dir, &args.metrics, &declared_metrics).map_err(report_error)?;
    println!("{}", written.index.display());
    Ok(Outcome::Ok)
}

/// The report after a batch, on the batch summary's last line.
pub fn after_batch(dir: &Path, metrics: &[String], outcome: Outcome) -> Result<Outcome, CliError> {
    let written = faultline_reports::write_report(dir, metrics, &declared_metrics).map_err(report_error)?;
    println!("{:<12} {}", "report", written.index.display());
    Ok(outcome)
}

/// `batch` then `report`. Never sharded: an array job's index in the
/// environment does not split a comparison.
pub fn compare(args: &CompareArgs) -> Result<Outcome, CliError> {
    let outcome = run_set(&args.set, None)?;
    after_batch(&args.set.out, &args.metrics, outcome)
}
