//! What `explore` and `shrink` share: one run with a panic caught, what a
//! failed run failed, and writing a reproducer scenario that is checked to
//! fail again before its path is printed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use anyhow::Context;
use faultline_protocols::Loaded;
use faultline_protocols::RunOptions;
use faultline_scenario::edit::ScenarioDoc;
use faultline_sim::report::client_metrics;
use faultline_sim::{RunReport, Time};

use super::CliError;

/// What a failed run failed: the check, the invariant inside it when the
/// check names one, when, and the checker's message.
#[derive(Clone, Debug)]
pub struct Failed {
    pub check: String,
    pub invariant: Option<String>,
    pub at: Option<Time>,
    pub message: String,
}

impl Failed {
    pub fn of(report: &RunReport) -> Option<Failed> {
        let c = report.failure()?;
        Some(Failed {
            check: c.name.clone(),
            invariant: c.violation.as_ref().map(|v| v.check.clone()),
            at: c.violation.as_ref().map(|v| v.at),
            message: c.violation.as_ref().map_or_else(|| c.detail.clone(), |v| v.message.clone()),
        })
    }

    fn panicked(message: String) -> Failed {
        Failed { check: "panic".into(), invariant: None, at: None, message }
    }

    /// Whether another failure is the same bug as far as shrinking goes:
    /// the same check, and the same invariant inside it.
    pub fn same_as(&self, other: &Failed) -> bool {
        self.check == other.check && self.invariant == other.invariant
    }

    /// "invariants (leader_completeness)".
    pub fn name(&self) -> String {
        match &self.invariant {
            Some(i) if *i != self.check => format!("{} ({i})", self.check),
            _ => self.check.clone(),
        }
    }

    /// One line: the check, when, and the first line of the message (a
    /// linearizability failure explains itself over many; `run` prints them).
    pub fn describe(&self) -> String {
        let message = self.message.lines().next().unwrap_or("");
        match self.at {
            Some(at) => format!("{} at {at}: {message}", self.name()),
            None => format!("{}: {message}", self.name()),
        }
    }
}

/// One run's outcome as the hunting commands see it.
pub struct Ran {
    /// `None` when the run panicked.
    pub report: Option<RunReport>,
    pub failed: Option<Failed>,
}

impl Ran {
    pub fn events(&self) -> u64 {
        self.report.as_ref().map_or(0, |r| r.events)
    }
    pub fn fingerprint(&self) -> String {
        self.report.as_ref().map_or_else(|| "-".to_string(), RunReport::fingerprint_hex)
    }
    /// Client operations issued: succeeded, failed and unknown.
    pub fn operations(&self) -> u64 {
        self.report.as_ref().map_or(0, |r| {
            let m = &r.metrics;
            m.counter(client_metrics::OK) + m.counter(client_metrics::FAILED) + m.counter(client_metrics::UNKNOWN)
        })
    }
}

/// Runs one seed; a panic inside the run is a failure like any other (the
/// seed reproduces it), not the end of the hunt.
pub fn run_caught(scenario: &Loaded, seed: u64) -> Result<Ran, CliError> {
    match catch_unwind(AssertUnwindSafe(|| scenario.run(seed, RunOptions::default()))) {
        Ok(report) => Ok(Ran { failed: Failed::of(&report), report: Some(report) }),
        Err(payload) => Ok(Ran { report: None, failed: Some(Failed::panicked(panic_message(payload.as_ref()))) }),
    }
}

/// What a caught panic said.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".to_string())
}

/// The largest seed a scenario file can hold (TOML integers are signed).
pub const MAX_SEED: u64 = i64::MAX as u64;

/// Refuses a seed a reproducer could not name.
pub fn check_seed(seed: u64) -> Result<(), CliError> {
    if seed > MAX_SEED {
        return Err(CliError::input(anyhow::anyhow!(
            "seed {seed} is past {MAX_SEED}, the largest seed a scenario file (and so a reproducer) can hold"
        )));
    }
    Ok(())
}

/// The `[expect]` fingerprint of a run: none for a run that panicked.
pub fn expected_fingerprint(ran: &Ran) -> Option<String> {
    ran.report.as_ref().map(RunReport::fingerprint_hex)
}

/// Writes `doc` to `path` and runs the written file as `faultline run`
/// would — at the seed the file names — in this process: returns that run,
/// so the caller can say whether the reproducer fails again and with which
/// fingerprint.
pub fn write_reproducer(doc: &ScenarioDoc, path: &Path) -> Result<Ran, CliError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))
            .map_err(CliError::input)?;
    }
    let text = doc.text();
    faultline_reports::atomic::write_atomically(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let scenario = crate::registry()
        .parse_scenario(&text, &path.display().to_string())
        .map_err(|e| CliError::from(anyhow::anyhow!("the written reproducer does not load (a bug): {e}")))?;
    run_caught(&scenario, scenario.seed)
}
