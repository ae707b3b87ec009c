//! One module per command; `dispatch` routes to them.

mod batch;
mod bench;
mod cache;
mod check_history;
mod coverage;
mod explore;
mod hunt;
mod merge;
mod replay;
mod report;
mod run;
mod shrink;

use std::fmt;
use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// How a command that did its work came out.
pub enum Outcome {
    Ok,
    /// A check failed (exit 1).
    CheckFailed,
    /// A checker ran out of budget without a verdict (exit 3).
    Unknown,
}

impl Outcome {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Outcome::Ok => ExitCode::SUCCESS,
            Outcome::CheckFailed => ExitCode::from(1),
            Outcome::Unknown => ExitCode::from(3),
        }
    }
}

/// A command that could not do its work (exit 2): bad input, or an output
/// it could not write. Never exit 1, which says a check failed.
pub struct CliError {
    pub error: anyhow::Error,
}

impl CliError {
    pub fn input(error: impl Into<anyhow::Error>) -> CliError {
        CliError { error: error.into() }
    }
    pub fn exit_code(&self) -> u8 {
        2
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            write!(f, "{:#}", self.error)
        } else {
            write!(f, "{}", self.error)
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> CliError {
        CliError { error }
    }
}

pub fn dispatch(cli: Cli) -> Result<Outcome, CliError> {
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Batch(args) => match batch::batch(&args)? {
            outcome if args.report => report::after_batch(&args.set.out, &[], outcome),
            outcome => Ok(outcome),
        },
        Command::Report(args) => report::report(&args),
        Command::Compare(args) => report::compare(&args),
        Command::Merge(args) => merge::merge(&args),
        Command::Validate { files } => run::validate(&files),
        Command::Bench(args) => bench::bench(&args),
        Command::Explore(args) => explore::explore(&args),
        Command::Shrink(args) => shrink::shrink(&args),
        Command::Replay(args) => replay::replay(&args),
        Command::Cache { command } => cache::cache(command),
        Command::CheckHistory { file, model, budget, max_memory, max_input, json } => {
            check_history::check_history(&file, model, budget, max_memory.as_deref(), max_input.as_deref(), json)
        }
        Command::Protocols => {
            for p in crate::registry().entries() {
                println!("{:<12} {}", p.name, p.summary);
            }
            Ok(Outcome::Ok)
        }
    }
}
