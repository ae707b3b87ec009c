//! What one run reports, protocol-agnostic: the engine's outcome, the metrics
//! the processes recorded, and the verdict of every check.

use serde::Serialize;

use crate::fault::AppliedFault;
use crate::metrics::Metrics;
use crate::time::Time;
use crate::world::{EndReason, NetStats, RunOutcome, Violation};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The checker ran out of budget or the run ended too early to decide.
    Unknown,
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violation: Option<Violation>,
}

impl CheckResult {
    pub fn pass(name: &str, detail: impl Into<String>) -> CheckResult {
        CheckResult { name: name.into(), verdict: Verdict::Pass, detail: detail.into(), violation: None }
    }
    pub fn unknown(name: &str, detail: impl Into<String>) -> CheckResult {
        CheckResult { name: name.into(), verdict: Verdict::Unknown, detail: detail.into(), violation: None }
    }
    pub fn fail(name: &str, violation: Violation) -> CheckResult {
        CheckResult {
            name: name.into(),
            verdict: Verdict::Fail,
            detail: violation.message.clone(),
            violation: Some(violation),
        }
    }
}

/// Counters every client-driving protocol records under these names.
pub mod client_metrics {
    pub const OK: &str = "client_ops_ok";
    pub const FAILED: &str = "client_ops_failed";
    pub const UNKNOWN: &str = "client_ops_unknown";
    pub const LATENCY_US: &str = "client_latency_us";
}

#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub protocol: String,
    pub seed: u64,
    pub end: EndReason,
    pub events: u64,
    pub virtual_time: Time,
    pub fingerprint: u64,
    pub net: NetStats,
    pub faults: Vec<AppliedFault>,
    pub checks: Vec<CheckResult>,
    #[serde(skip)]
    pub metrics: Metrics,
}

impl RunReport {
    pub fn new(
        scenario: &str,
        protocol: &str,
        seed: u64,
        outcome: RunOutcome,
        metrics: Metrics,
        checks: Vec<CheckResult>,
    ) -> RunReport {
        RunReport {
            scenario: scenario.to_string(),
            protocol: protocol.to_string(),
            seed,
            end: outcome.end,
            events: outcome.events,
            virtual_time: outcome.virtual_time,
            fingerprint: outcome.fingerprint,
            net: outcome.net,
            faults: outcome.faults,
            checks,
            metrics,
        }
    }

    /// The first failed check, if any.
    pub fn failure(&self) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.verdict == Verdict::Fail)
    }

    pub fn fingerprint_hex(&self) -> String {
        format!("{:016x}", self.fingerprint)
    }
}
