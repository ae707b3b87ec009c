//! Checkers that read what a run recorded — client histories — and judge it.
//! They live apart from the nodes and never look inside them.

pub mod cap;
pub mod history;
pub mod linearizability;
pub mod snapshot;

use faultline_sim::world::Violation;
use faultline_sim::{CheckResult, Time};

use history::{History, Operation, Outcome};
use linearizability::{Budget, Verdict};

/// Linearizability of the clients' combined history.
pub fn linearizability(ops: Vec<Operation>, budget_steps: u64, end: Time) -> CheckResult {
    let total = ops.len();
    let history = History { ops };
    let report = linearizability::check(&history, &Budget { max_steps: budget_steps });
    match report.verdict {
        Verdict::Ok => CheckResult::pass(
            "linearizability",
            format!("{total} operations linearizable ({} keys, {} search steps)", report.keys_checked, report.steps),
        ),
        Verdict::Unknown { reason } => {
            CheckResult::unknown("linearizability", format!("{reason} ({} search steps)", report.steps))
        }
        Verdict::Violation(v) => {
            let clients: Vec<u32> = v.stuck_ops.iter().filter_map(|&i| history.ops.get(i)).map(|o| o.client).collect();
            let at = v
                .stuck_ops
                .iter()
                .filter_map(|&i| history.ops.get(i))
                .map(|o| o.invoke_ns)
                .min()
                .map_or(end, Time::from_nanos);
            let violation = Violation {
                check: "linearizability".into(),
                at,
                nodes: Vec::new(),
                message: format!("key {}: {} (clients {clients:?})", v.key, v.message),
            };
            CheckResult::fail("linearizability", violation)
        }
    }
}

/// After faults heal, the cluster must complete new client operations: at
/// least one operation invoked in the liveness phase succeeds before the
/// run ends.
pub fn liveness(ops: &[Operation], phase_start: Time, end: Time, run_complete: bool) -> CheckResult {
    let started = ops.iter().filter(|o| o.invoke_ns >= phase_start.as_nanos()).count();
    let succeeded: Vec<&Operation> = ops
        .iter()
        .filter(|o| o.invoke_ns >= phase_start.as_nanos() && !matches!(o.outcome, Outcome::Unknown | Outcome::Failed))
        .collect();
    if let Some(first) = succeeded.iter().filter_map(|o| o.complete_ns).min() {
        let after = Time::from_nanos(first).since(phase_start);
        return CheckResult::pass(
            "liveness",
            format!(
                "{} of {started} operations in the liveness phase succeeded; first {after} after faults healed",
                succeeded.len()
            ),
        );
    }
    if !run_complete {
        return CheckResult::unknown("liveness", "the run ended before the liveness phase did");
    }
    CheckResult::fail(
        "liveness",
        Violation {
            check: "liveness".into(),
            at: end,
            nodes: Vec::new(),
            message: format!(
                "no client operation succeeded in the {} after faults healed ({started} were tried)",
                end.since(phase_start)
            ),
        },
    )
}
