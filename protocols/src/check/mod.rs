//! Checkers that read what a run recorded — client histories — and judge it.
//! They live apart from the nodes and never look inside them.

pub mod cap;
pub mod history;
pub mod kv;
pub mod linearizability;
pub mod model;
#[cfg(test)]
mod oracle;
pub mod search;
pub mod snapshot;

use faultline_sim::world::Violation;
use faultline_sim::{CheckResult, Time};

use history::{History, Operation, Outcome};
use linearizability::{Budget, Verdict};

/// Linearizability of the clients' combined history.
pub fn linearizability(ops: Vec<Operation>, budget: &Budget, end: Time) -> CheckResult {
    linearizability_of(ops, linearizability::Model::Register, budget, end)
}

/// [`linearizability`] against `model`.
pub fn linearizability_of(
    ops: Vec<Operation>,
    model: linearizability::Model,
    budget: &Budget,
    end: Time,
) -> CheckResult {
    let total = ops.len();
    let history = History { ops };
    let report = linearizability::check_model(&history, model, budget);
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

/// How service must come back after the heal, as the liveness check reads
/// it: the scenario's bounds, any left unset derived by the protocol.
#[derive(Copy, Clone, Debug, Default)]
pub struct RecoveryBound {
    /// The first operation of the phase must succeed within this of the heal.
    pub within: Option<faultline_sim::Duration>,
    /// The phase's success rate over its second half must be at least this
    /// share of the rate before the first fault.
    pub rate_share: Option<f64>,
    /// When the first fault struck (`None`: no fault before the heal).
    pub first_fault: Option<Time>,
}

/// The shortest stretch, and the fewest successes in it, a rate is compared
/// over: shorter ones say more about chance than about the protocol.
const MIN_RATE_WINDOW_NS: u64 = 1_000_000_000;
const MIN_RATE_OPS: usize = 50;

/// After faults heal, the cluster must complete new client operations: at
/// least one operation invoked in the liveness phase succeeds before the
/// run ends — within `bound.within` of the heal when that is set, and then
/// at no less than `bound.rate_share` of the rate before the first fault,
/// over the second half of the phase.
pub fn liveness(
    ops: &[Operation],
    phase_start: Time,
    end: Time,
    run_complete: bool,
    bound: &RecoveryBound,
) -> CheckResult {
    let start = phase_start.as_nanos();
    let ok = |o: &&Operation| !matches!(o.outcome, Outcome::Unknown | Outcome::Failed);
    let started = ops.iter().filter(|o| o.invoke_ns >= start).count();
    let succeeded: Vec<&Operation> = ops.iter().filter(|o| o.invoke_ns >= start).filter(ok).collect();
    let fail = |at: Time, message: String| {
        CheckResult::fail("liveness", Violation { check: "liveness".into(), at, nodes: Vec::new(), message })
    };
    let Some(first) = succeeded.iter().filter_map(|o| o.complete_ns).min() else {
        if let Some(within) = bound.within.filter(|w| phase_start + *w <= end) {
            return fail(
                phase_start + within,
                format!("no client operation succeeded within {within} of the heal (the bound; {started} were tried)"),
            );
        }
        if !run_complete {
            return CheckResult::unknown("liveness", "the run ended before the liveness phase did");
        }
        return fail(
            end,
            format!(
                "no client operation succeeded in the {} after faults healed ({started} were tried)",
                end.since(phase_start)
            ),
        );
    };
    let after = Time::from_nanos(first).since(phase_start);
    if let Some(within) = bound.within.filter(|w| after > *w) {
        return fail(
            Time::from_nanos(first),
            format!("the first operation after the heal succeeded {after} after it, past the bound of {within}"),
        );
    }
    let mut detail = format!(
        "{} of {started} operations in the liveness phase succeeded; first {after} after faults healed",
        succeeded.len()
    );
    if let Some(within) = bound.within {
        detail.push_str(&format!(" (bound {within})"));
    }
    if let Some(share) = bound.rate_share {
        // Successes per second over a stretch, counted by completion time.
        let rate = |from: u64, to: u64| {
            let n = ops.iter().filter(ok).filter_map(|o| o.complete_ns).filter(|&c| c >= from && c < to).count();
            (n, n as f64 * 1e9 / (to - from).max(1) as f64)
        };
        let before_end = bound.first_fault.map_or(start, |t| t.as_nanos().min(start));
        let before_start = ops.iter().map(|o| o.invoke_ns).min().unwrap_or(0);
        let to = if run_complete { end.as_nanos() } else { 0 };
        let (n_before, before) = rate(before_start, before_end);
        // The rate once the cluster has settled: over the phase's second
        // half (or from the first success, if that came later), so a
        // follower catching up right after the heal is not counted against
        // the steady rate.
        let settled = first.max(start + (end.as_nanos().saturating_sub(start)) / 2);
        let (n_after, after_rate) = if to > settled { rate(settled, to) } else { (0, 0.0) };
        let windows_ok = before_end.saturating_sub(before_start) >= MIN_RATE_WINDOW_NS
            && to.saturating_sub(settled) >= MIN_RATE_WINDOW_NS
            && n_before >= MIN_RATE_OPS;
        if !windows_ok {
            detail.push_str(
                "; rate not compared (too little time or too few operations before the first fault or after the heal)",
            );
        } else if after_rate < share * before {
            let _ = n_after;
            return fail(
                end,
                format!(
                    "after the heal operations succeeded at {after_rate:.1}/s, below {share} of the {before:.1}/s {}",
                    if bound.first_fault.is_some() { "before the first fault" } else { "before the heal" }
                ),
            );
        } else {
            detail.push_str(&format!(
                "; {after_rate:.1} ops/s after, {before:.1} ops/s before the first fault (bound {share} of it)"
            ));
        }
    }
    CheckResult::pass("liveness", detail)
}
