//! `faultline merge`: the shard directories of one batch into the directory
//! one unsharded batch would have written (see `faultline_reports::merge`).

use super::batch::{print_summary, report_error};
use super::{CliError, Outcome};
use crate::cli::MergeArgs;

pub fn merge(args: &MergeArgs) -> Result<Outcome, CliError> {
    let merged = faultline_reports::merge(&args.dirs, &args.out).map_err(report_error)?;
    let scenarios = merged.manifest.scenarios.len();
    let header = [format!(
        "{} merged from {} director{} ({scenarios} scenario{}, seeds {})",
        args.out.display(),
        args.dirs.len(),
        if args.dirs.len() == 1 { "y" } else { "ies" },
        if scenarios == 1 { "" } else { "s" },
        merged.manifest.seeds
    )];
    Ok(print_summary(&header, &merged.records, &args.out))
}
