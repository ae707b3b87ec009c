//! The history checks every client-driving protocol may declare, as the
//! harness runs them: the pure checkers live in [`crate::check`], which
//! knows nothing of the harness.

use faultline_sim::{CheckClass, CheckResult, EndReason};

use super::{CheckHow, CheckSpec, HistoryInput};
use crate::check;

/// The clients' history is linearizable against a key-value register.
pub const LINEARIZABILITY: CheckSpec =
    CheckSpec { name: "linearizability", class: CheckClass::Consistency, how: CheckHow::History(linearizable) };

/// The clients' history is linearizable against a write-once register per
/// key (proposes and gets).
pub const WRITE_ONCE_LINEARIZABILITY: CheckSpec = CheckSpec {
    name: "linearizability",
    class: CheckClass::Consistency,
    how: CheckHow::History(linearizable_write_once),
};

/// For services whose plain reads may be stale (ZAB): the writes, and the
/// reads after a sync, are linearizable against a key-value register.
/// Plain reads are left out; [`SEQUENTIAL_CONSISTENCY`] judges them, and
/// [`measure_read_linearizability`] measures how often they are not
/// linearizable.
pub const WRITE_LINEARIZABILITY: CheckSpec =
    CheckSpec { name: "linearizability", class: CheckClass::Consistency, how: CheckHow::History(writes_linearizable) };

/// ZooKeeper's promises to a session, from the zxids answers carry
/// ([`check::session`]): session order across reconnects, read your
/// writes, and a read after sync sees every write completed before it.
pub const SEQUENTIAL_CONSISTENCY: CheckSpec = CheckSpec {
    name: "sequential_consistency",
    class: CheckClass::Consistency,
    how: CheckHow::History(session_guarantees),
};

/// Clients make progress once the faults heal (scenarios with a liveness phase).
pub const LIVENESS: CheckSpec =
    CheckSpec { name: "liveness", class: CheckClass::Liveness, how: CheckHow::History(live_after_heal) };

fn linearizable(input: &HistoryInput<'_>) -> Option<CheckResult> {
    linearizable_against(input, check::linearizability::Model::Register)
}

fn linearizable_write_once(input: &HistoryInput<'_>) -> Option<CheckResult> {
    linearizable_against(input, check::linearizability::Model::WriteOnce)
}

fn writes_linearizable(input: &HistoryInput<'_>) -> Option<CheckResult> {
    let ops: Vec<_> = input.ops.iter().filter(|o| o.promised_linearizable()).cloned().collect();
    let mut result = linearizable_ops(input, ops, check::linearizability::Model::Register);
    if let Some(r) = result.as_mut().filter(|r| r.verdict == faultline_sim::Verdict::Pass) {
        r.detail = format!("{} (writes and reads after sync; plain reads may be stale)", r.detail);
    }
    result
}

fn session_guarantees(input: &HistoryInput<'_>) -> Option<CheckResult> {
    const NAME: &str = "sequential_consistency";
    if input.outcome.violation.is_some() {
        return Some(CheckResult::unknown(NAME, "not checked: the run stopped at an invariant violation"));
    }
    Some(match check::session::check(input.ops) {
        check::session::SessionVerdict::Held { ops, sync_reads } => CheckResult::pass(
            NAME,
            format!(
                "{ops} answers in session order, reads see their session's writes, \
                 {sync_reads} reads after sync see every write completed before them"
            ),
        ),
        check::session::SessionVerdict::Unknown { reason } => CheckResult::unknown(NAME, reason),
        check::session::SessionVerdict::Broken { promise, op, message } => {
            let at = input.ops.get(op).map_or(input.outcome.virtual_time, |o| {
                faultline_sim::Time::from_nanos(o.complete_ns.unwrap_or(o.invoke_ns))
            });
            let violation = faultline_sim::world::Violation {
                check: promise.into(),
                at,
                nodes: Vec::new(),
                message: format!("{promise}: {message}"),
            };
            CheckResult::fail(NAME, violation)
        }
    })
}

/// Measures whether the whole history, plain reads included, is
/// linearizable — for services that do not promise it (ZooKeeper's reads):
/// `histories_linearizable`, `histories_not_linearizable` or
/// `histories_linearizability_unknown` gains one. A measurement, never a
/// failed check.
pub fn measure_read_linearizability(input: &HistoryInput<'_>, metrics: &mut faultline_sim::metrics::Metrics) {
    if !input.ops.iter().any(|o| matches!(o.kind, check::history::OpKind::Get { .. })) {
        return;
    }
    let counter = match linearizable_ops(input, input.ops.to_vec(), check::linearizability::Model::Register) {
        Some(r) if r.verdict == faultline_sim::Verdict::Pass => "histories_linearizable",
        Some(r) if r.verdict == faultline_sim::Verdict::Fail => "histories_not_linearizable",
        _ => "histories_linearizability_unknown",
    };
    metrics.count(counter, 1);
}

fn linearizable_against(input: &HistoryInput<'_>, model: check::linearizability::Model) -> Option<CheckResult> {
    linearizable_ops(input, input.ops.to_vec(), model)
}

fn linearizable_ops(
    input: &HistoryInput<'_>,
    ops: Vec<check::history::Operation>,
    model: check::linearizability::Model,
) -> Option<CheckResult> {
    if input.outcome.violation.is_some() {
        return Some(CheckResult::unknown("linearizability", "not checked: the run stopped at an invariant violation"));
    }
    if input.outcome.end == EndReason::MemoryLimit {
        return Some(CheckResult::unknown(
            "linearizability",
            "not checked: the run ended at its memory limit (limits.max_memory), and the search needs more",
        ));
    }
    // The search may hold what the run left of its memory bound.
    let memory = input.scenario.limits.max_memory.saturating_sub(input.memory_held).max(1);
    let budget =
        check::linearizability::Budget::new(input.scenario.checks.history_budget_steps).with_max_memory(memory);
    Some(check::linearizability_of(ops, model, &budget, input.outcome.virtual_time))
}

fn live_after_heal(input: &HistoryInput<'_>) -> Option<CheckResult> {
    let from = input.scenario.liveness_from()?;
    if input.outcome.virtual_time < from {
        return Some(CheckResult::unknown(
            "liveness",
            format!(
                "not checked: the run ended at {} ({}), before the liveness phase began at {from}",
                input.outcome.virtual_time,
                input.outcome.end.describe()
            ),
        ));
    }
    let first_fault = input.outcome.faults.iter().filter(|f| f.at < from).map(|f| f.at).min();
    let bound =
        check::RecoveryBound { within: input.recovery.within, rate_share: input.recovery.rate_share, first_fault };
    Some(check::liveness(input.ops, from, input.outcome.virtual_time, input.run_complete(), &bound))
}
