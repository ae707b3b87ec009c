//! The sequential models the histories of `history.rs` are checked against,
//! one object per key, for the generic search of `search.rs`.
//!
//! * **Register** ([`RegisterSpec`]): the state is absent or a value; `get`
//!   reads it, `put` sets it, `cas` sets `new` iff it holds `expected`. A
//!   timed-out `put` or `cas` may take effect at any time after its
//!   invocation, or never. The register has its own optimised search
//!   (`linearizability.rs`, `Model::Register`); this spec exists so that
//!   search can be compared with the generic one.
//! * **Write-once** ([`WriteOnceSpec`], `Model::WriteOnce`): the state is
//!   absent or a value; `get` reads it; `propose(v)` sets it to `v` iff it is
//!   absent and returns the value it then holds (`chosen`). Once chosen, the
//!   value never changes. A timed-out propose may take effect (choosing its
//!   value if none is chosen yet) at any time after its invocation, or never.
//!
//! In both, `failed` operations did not take effect and timed-out gets carry
//! no information: both are dropped before the search.

use std::collections::BTreeMap;

use super::history::{History, Key, OpKind, Operation, Outcome, Value};
use super::linearizability::{Budget, Report, Verdict, Violation};
use super::search::{check_partitioned, partition_bytes, SearchOp, SearchReport, SearchVerdict, SequentialSpec};

/// One history operation with what its client observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub kind: OpKind,
    pub outcome: Outcome,
}

fn describe(state: &Option<Value>) -> String {
    match state {
        Some(value) => format!("value {value}"),
        None => "absent".to_string(),
    }
}

/// A register per key: get, put, cas.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegisterSpec;

impl SequentialSpec for RegisterSpec {
    type State = Option<Value>;
    type Op = Observed;
    const STATE_NOUN: &'static str = "Register";

    fn init(&self) -> Option<Value> {
        None
    }

    fn step(&self, state: &Option<Value>, op: &Observed) -> Option<Option<Value>> {
        match (&op.kind, &op.outcome) {
            (OpKind::Get { .. }, Outcome::Read { value }) => (state == value).then_some(*state),
            (OpKind::Put { value, .. }, Outcome::Written | Outcome::Unknown) => Some(Some(*value)),
            (OpKind::Cas { expected, new, .. }, Outcome::Cas { swapped }) => {
                let holds = *state == Some(*expected);
                (holds == *swapped).then_some(if holds { Some(*new) } else { *state })
            }
            (OpKind::Cas { expected, new, .. }, Outcome::Unknown) => {
                Some(if *state == Some(*expected) { Some(*new) } else { *state })
            }
            // A timed-out get changes nothing.
            (OpKind::Get { .. }, Outcome::Unknown) => Some(*state),
            _ => None,
        }
    }

    fn is_inert(&self, _state: &Option<Value>, op: &Observed) -> bool {
        matches!(
            (&op.kind, &op.outcome),
            (OpKind::Get { .. }, _) | (OpKind::Cas { .. }, Outcome::Cas { swapped: false })
        )
    }

    fn describe_state(&self, state: &Option<Value>) -> String {
        describe(state)
    }
}

/// A write-once register per key: get, propose.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteOnceSpec;

impl SequentialSpec for WriteOnceSpec {
    type State = Option<Value>;
    type Op = Observed;
    const STATE_NOUN: &'static str = "Value";

    fn init(&self) -> Option<Value> {
        None
    }

    fn step(&self, state: &Option<Value>, op: &Observed) -> Option<Option<Value>> {
        match (&op.kind, &op.outcome) {
            (OpKind::Get { .. }, Outcome::Read { value }) => (state == value).then_some(*state),
            (OpKind::Get { .. }, Outcome::Unknown) => Some(*state),
            (OpKind::Propose { value, .. }, Outcome::Chosen { value: chosen }) => {
                let holds = state.unwrap_or(*value);
                (holds == *chosen).then_some(Some(holds))
            }
            (OpKind::Propose { value, .. }, Outcome::Unknown) => Some(Some(state.unwrap_or(*value))),
            _ => None,
        }
    }

    fn is_inert(&self, state: &Option<Value>, op: &Observed) -> bool {
        // Once chosen, nothing changes the value.
        state.is_some() || matches!(op.kind, OpKind::Get { .. })
    }

    fn describe_state(&self, state: &Option<Value>) -> String {
        match state {
            Some(value) => format!("chosen {value}"),
            None => "none chosen".to_string(),
        }
    }
}

/// The ops the search needs, per key in ascending order: `failed` ops and
/// timed-out gets are dropped.
pub fn partition(history: &History) -> BTreeMap<Key, Vec<SearchOp<Observed>>> {
    let mut by_key: BTreeMap<Key, Vec<SearchOp<Observed>>> = BTreeMap::new();
    for (index, op) in history.ops.iter().enumerate() {
        let dropped = matches!(op.outcome, Outcome::Failed)
            || matches!((&op.kind, &op.outcome), (OpKind::Get { .. }, Outcome::Unknown));
        if dropped {
            continue;
        }
        by_key.entry(op.kind.key()).or_default().push(SearchOp {
            index,
            invoke_ns: op.invoke_ns,
            complete_ns: op.complete_ns,
            op: Observed { kind: op.kind.clone(), outcome: op.outcome.clone() },
        });
    }
    by_key
}

fn op_name(kind: &OpKind) -> &'static str {
    match kind {
        OpKind::Get { .. } => "get",
        OpKind::Put { .. } => "put",
        OpKind::Cas { .. } => "cas",
        OpKind::Propose { .. } => "propose",
    }
}

fn unknown(reason: String) -> Report {
    Report { verdict: Verdict::Unknown { reason }, steps: 0, keys_checked: 0, peak_memory: 0 }
}

/// Checks `history` with the generic search against `spec`, after
/// [`History::validate`] and a check that every op is one of `allowed`
/// (anything else gets [`Verdict::Unknown`] naming the op and the model).
fn check_with<S: SequentialSpec<Op = Observed>>(
    history: &History,
    spec: &S,
    model_name: &str,
    allowed: &dyn Fn(&Operation) -> bool,
    budget: &Budget,
) -> Report {
    if let Err(why) = history.validate() {
        return unknown(format!("invalid history: {why}"));
    }
    if let Some((index, op)) = history.ops.iter().enumerate().find(|(_, op)| !allowed(op)) {
        return unknown(format!("op #{index} is a {}, which the {model_name} model does not have", op_name(&op.kind)));
    }
    let by_key = partition(history);
    let fixed = partition_bytes(&by_key, &|_| 0);
    let describe_op = |index: usize| history.ops.get(index).map_or_else(String::new, |op| op.to_string());
    let report = check_partitioned(spec, &by_key, budget, &describe_op, &|key: &Key| key.to_string(), fixed);
    into_report(report)
}

/// A generic search's report as the register checker's.
pub fn into_report(report: SearchReport<Key>) -> Report {
    let verdict = match report.verdict {
        SearchVerdict::Ok => Verdict::Ok,
        SearchVerdict::Unknown { reason } => Verdict::Unknown { reason },
        SearchVerdict::Violation(v) => {
            Verdict::Violation(Violation { key: v.key, message: v.message, stuck_ops: v.stuck_ops })
        }
    };
    Report { verdict, steps: report.steps, keys_checked: report.keys_checked, peak_memory: report.peak_memory }
}

/// Linearizability against a write-once register per key (every key starts
/// with none chosen). Keys are checked in ascending order and the first
/// violating one is reported; a history with a put or a cas, or one that
/// fails [`History::validate`], gets [`Verdict::Unknown`].
pub fn check_write_once(history: &History, budget: &Budget) -> Report {
    let allowed = |op: &Operation| matches!(op.kind, OpKind::Get { .. } | OpKind::Propose { .. });
    check_with(history, &WriteOnceSpec, "write-once", &allowed, budget)
}

/// Linearizability against a register per key with the generic search (the
/// optimised one is `linearizability::check`; the two agree).
pub fn check_register_generic(history: &History, budget: &Budget) -> Report {
    let allowed = |op: &Operation| !matches!(op.kind, OpKind::Propose { .. });
    check_with(history, &RegisterSpec, "register", &allowed, budget)
}
