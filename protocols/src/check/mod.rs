//! Checkers that read what a run recorded — client histories — and judge it.
//! They live apart from the nodes and never look inside them.

pub mod cap;
pub mod history;
pub mod kv;
pub mod lag;
pub mod linearizability;
pub mod model;
#[cfg(test)]
mod oracle;
pub mod search;
pub mod session;
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
    if started == 0 {
        // Nothing was asked of the cluster after the heal (the workload ran
        // out first, or the run ended at the heal): nothing to judge.
        return CheckResult::unknown(
            "liveness",
            format!(
                "no client operation was invoked in the {} after faults healed (the workload had ended)",
                end.since(phase_start)
            ),
        );
    }
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
        // The stretch after ends when the run did, or earlier when the
        // clients stopped asking (their workload ran out): a rate counted
        // where nothing was asked would blame the cluster for the silence.
        let last_invoke = ops.iter().map(|o| o.invoke_ns).max().unwrap_or(0);
        let to = if run_complete { end.as_nanos().min(last_invoke) } else { 0 };
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

#[cfg(test)]
mod tests {
    use super::*;
    use history::OpKind;

    const MS: u64 = 1_000_000;

    fn put(invoke_ms: u64, complete_ms: Option<u64>) -> Operation {
        Operation {
            client: 0,
            invoke_ns: invoke_ms * MS,
            complete_ns: complete_ms.map(|c| c * MS),
            kind: OpKind::Put { key: 1, value: invoke_ms },
            outcome: if complete_ms.is_some() { Outcome::Written } else { Outcome::Unknown },
            at: None,
            sync: false,
        }
    }

    fn run(ops: &[Operation], within_ms: Option<u64>) -> CheckResult {
        let bound = RecoveryBound {
            within: within_ms.map(|w| faultline_sim::Duration::from_nanos(w * MS)),
            ..RecoveryBound::default()
        };
        liveness(ops, Time::from_nanos(1_000 * MS), Time::from_nanos(2_000 * MS), true, &bound)
    }

    #[test]
    fn nothing_invoked_after_the_heal_is_unknown_not_a_failure() {
        let ops = [put(10, Some(12)), put(500, Some(501))];
        assert!(run(&ops, None).verdict == faultline_sim::report::Verdict::Unknown, "{:?}", run(&ops, None));
        assert!(run(&ops, Some(100)).verdict == faultline_sim::report::Verdict::Unknown);
        assert!(run(&[], Some(100)).verdict == faultline_sim::report::Verdict::Unknown);
    }

    #[test]
    fn operations_tried_and_none_succeeding_is_a_failure() {
        let ops = [put(10, Some(12)), put(1_010, None), put(1_400, None)];
        assert!(run(&ops, None).verdict == faultline_sim::report::Verdict::Fail);
        assert!(run(&ops, Some(100)).verdict == faultline_sim::report::Verdict::Fail);
    }

    fn rated(ops: &[Operation]) -> CheckResult {
        let bound = RecoveryBound {
            rate_share: Some(0.5),
            first_fault: Some(Time::from_nanos(2_000 * MS)),
            ..RecoveryBound::default()
        };
        liveness(ops, Time::from_nanos(3_000 * MS), Time::from_nanos(6_000 * MS), true, &bound)
    }

    /// One success every `every_ms` from `from_ms` to `to_ms`.
    fn steady(from_ms: u64, to_ms: u64, every_ms: u64) -> Vec<Operation> {
        (from_ms..to_ms).step_by(every_ms as usize).map(|t| put(t, Some(t + 1))).collect()
    }

    #[test]
    fn the_rate_after_the_heal_is_compared_while_clients_ask() {
        // 100/s before the first fault; after the heal, 100/s is fine.
        let mut ops = steady(0, 2_000, 10);
        ops.extend(steady(3_000, 6_000, 10));
        assert_eq!(rated(&ops).verdict, faultline_sim::report::Verdict::Pass, "{:?}", rated(&ops));
        // 10/s after the heal while clients keep asking: too slow.
        let mut slow = steady(0, 2_000, 10);
        slow.extend(steady(3_000, 6_000, 100));
        assert_eq!(rated(&slow).verdict, faultline_sim::report::Verdict::Fail);
        // The workload ends a second into the phase: too little time asked
        // to compare, which is no failure.
        let mut ended = steady(0, 2_000, 10);
        ended.extend(steady(3_000, 4_000, 10));
        assert_eq!(rated(&ended).verdict, faultline_sim::report::Verdict::Pass, "{:?}", rated(&ended));
    }

    #[test]
    fn a_success_past_the_bound_fails_and_within_it_passes() {
        let ops = [put(1_010, Some(1_300))];
        assert!(run(&ops, Some(100)).verdict == faultline_sim::report::Verdict::Fail);
        assert!(run(&ops, Some(400)).verdict == faultline_sim::report::Verdict::Pass);
        assert!(run(&ops, None).verdict == faultline_sim::report::Verdict::Pass);
    }
}
