//! What one run reports, protocol-agnostic: the engine's outcome, the metrics
//! the processes recorded, and the verdict of every check.

use std::collections::BTreeMap;

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

/// What a check protects, as the protocol declares it. Reports count the
/// failures of safety and consistency checks as violations (the CAP chart's
/// consistency axis); a liveness failure is a stall, not a wrong answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckClass {
    /// An invariant of the protocol's state (two leaders in one term).
    Safety,
    /// The clients' history against a model (linearizability).
    Consistency,
    /// Progress: something good eventually happens.
    Liveness,
}

impl CheckClass {
    pub fn as_str(&self) -> &'static str {
        match self {
            CheckClass::Safety => "safety",
            CheckClass::Consistency => "consistency",
            CheckClass::Liveness => "liveness",
        }
    }
    /// Whether a failure of this class means the system gave a wrong answer.
    pub fn is_violation(&self) -> bool {
        matches!(self, CheckClass::Safety | CheckClass::Consistency)
    }
}

/// A role a protocol's nodes report, and how diagrams draw it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoleSpec {
    pub name: &'static str,
    /// Lifeline colour (RGB).
    pub colour: [u8; 3],
    /// Lifeline width in pixels: the roles that matter most stand out.
    pub width: u32,
    /// The role `[chaos] leader_bias` aims at (a leader, a primary).
    pub primary: bool,
}

impl RoleSpec {
    /// A role drawn as an ordinary member (thin grey).
    pub const fn plain(name: &'static str) -> RoleSpec {
        RoleSpec { name, colour: [150, 150, 150], width: 2, primary: false }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    pub name: String,
    /// What the check protects; set by the harness from the protocol's
    /// declaration (`None` only for a check no protocol declared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<CheckClass>,
    pub verdict: Verdict,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violation: Option<Violation>,
}

impl CheckResult {
    pub fn pass(name: &str, detail: impl Into<String>) -> CheckResult {
        CheckResult { name: name.into(), class: None, verdict: Verdict::Pass, detail: detail.into(), violation: None }
    }
    pub fn unknown(name: &str, detail: impl Into<String>) -> CheckResult {
        CheckResult {
            name: name.into(),
            class: None,
            verdict: Verdict::Unknown,
            detail: detail.into(),
            violation: None,
        }
    }
    pub fn fail(name: &str, violation: Violation) -> CheckResult {
        CheckResult {
            name: name.into(),
            class: None,
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

/// Client operations over virtual time, in equal buckets: what a
/// throughput-and-success-rate-over-time plot needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Timeline {
    pub bucket_ns: u64,
    /// Operations invoked in each bucket ...
    pub invoked: Vec<u32>,
    /// ... and how many of those succeeded.
    pub succeeded: Vec<u32>,
    /// Successful completions in each bucket (throughput).
    pub completed: Vec<u32>,
}

/// The most buckets a timeline has.
pub const TIMELINE_BUCKETS: u64 = 200;

impl Timeline {
    /// Buckets `(invoke_ns, complete_ns if it succeeded)` pairs over `[0, end_ns)`.
    pub fn from_ops(end_ns: u64, ops: impl Iterator<Item = (u64, Option<u64>)>) -> Timeline {
        let bucket_ns = end_ns.div_ceil(TIMELINE_BUCKETS).max(1_000_000);
        let n = end_ns.div_ceil(bucket_ns).max(1) as usize;
        let mut t = Timeline { bucket_ns, invoked: vec![0; n], succeeded: vec![0; n], completed: vec![0; n] };
        let at = |ns: u64| ((ns / bucket_ns) as usize).min(n - 1);
        for (invoke, complete) in ops {
            t.invoked[at(invoke)] += 1;
            if let Some(c) = complete {
                t.succeeded[at(invoke)] += 1;
                t.completed[at(c)] += 1;
            }
        }
        t
    }
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
    /// Empty for protocols without clients.
    #[serde(skip_serializing_if = "Timeline::is_empty")]
    pub timeline: Timeline,
    /// Hits of each coverage point, by name: every point the protocol
    /// declares (0 when never reached), and any it reached undeclared.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub coverage: BTreeMap<String, u64>,
}

impl Timeline {
    pub fn is_empty(&self) -> bool {
        self.invoked.is_empty()
    }
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
            timeline: Timeline::default(),
            coverage: BTreeMap::new(),
        }
    }

    /// The run's verdict over all its checks: fail if any check failed,
    /// else unknown if any could not decide, else pass.
    pub fn verdict(&self) -> Verdict {
        if self.failure().is_some() {
            Verdict::Fail
        } else if self.checks.iter().any(|c| c.verdict == Verdict::Unknown) {
            Verdict::Unknown
        } else {
            Verdict::Pass
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
