//! `faultline report` (a batch directory's plots, summary and index.html; see
//! `faultline_reports::report`) and `faultline compare` (batch, then report).

use std::path::Path;

use super::batch::{batch, report_error};
use super::{CliError, Outcome};
use crate::cli::{BatchArgs, CompareArgs, ReportArgs};

pub fn report(args: &ReportArgs) -> Result<Outcome, CliError> {
    let written = faultline_reports::write_report(&args.dir, &args.metrics).map_err(report_error)?;
    println!("{}", written.index.display());
    Ok(Outcome::Ok)
}

/// The report after a batch, on the batch summary's last line.
pub fn after_batch(dir: &Path, metrics: &[String], outcome: Outcome) -> Result<Outcome, CliError> {
    let written = faultline_reports::write_report(dir, metrics).map_err(report_error)?;
    println!("{:<12} {}", "report", written.index.display());
    Ok(outcome)
}

pub fn compare(args: &CompareArgs) -> Result<Outcome, CliError> {
    let batch_args = BatchArgs {
        files: args.files.clone(),
        seeds: args.seeds,
        jobs: args.jobs,
        out: args.out.clone(),
        shard: None,
        shard_count: None,
        report: false,
    };
    let outcome = batch(&batch_args)?;
    after_batch(&args.out, &args.metrics, outcome)
}
