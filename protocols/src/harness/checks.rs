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

/// Clients make progress once the faults heal (scenarios with a liveness phase).
pub const LIVENESS: CheckSpec =
    CheckSpec { name: "liveness", class: CheckClass::Liveness, how: CheckHow::History(live_after_heal) };

fn linearizable(input: &HistoryInput<'_>) -> Option<CheckResult> {
    linearizable_against(input, check::linearizability::Model::Register)
}

fn linearizable_write_once(input: &HistoryInput<'_>) -> Option<CheckResult> {
    linearizable_against(input, check::linearizability::Model::WriteOnce)
}

fn linearizable_against(input: &HistoryInput<'_>, model: check::linearizability::Model) -> Option<CheckResult> {
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
    Some(check::linearizability_of(input.ops.to_vec(), model, &budget, input.outcome.virtual_time))
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
