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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::linearizability::check;
    use crate::check::oracle::{brute_force, interval, Rng};

    fn op(client: u32, invoke_ns: u64, complete_ns: Option<u64>, kind: OpKind, outcome: Outcome) -> Operation {
        Operation { client, invoke_ns, complete_ns, kind, outcome, at: None, sync: false }
    }

    fn propose(client: u32, invoke_ns: u64, complete_ns: u64, key: Key, value: Value, chosen: Value) -> Operation {
        op(client, invoke_ns, Some(complete_ns), OpKind::Propose { key, value }, Outcome::Chosen { value: chosen })
    }

    fn propose_timed_out(client: u32, invoke_ns: u64, key: Key, value: Value) -> Operation {
        op(client, invoke_ns, None, OpKind::Propose { key, value }, Outcome::Unknown)
    }

    fn get(client: u32, invoke_ns: u64, complete_ns: u64, key: Key, value: Option<Value>) -> Operation {
        op(client, invoke_ns, Some(complete_ns), OpKind::Get { key }, Outcome::Read { value })
    }

    /// The oracle's view of a history: every op but the failed ones.
    fn oracle_ops(h: &History) -> Vec<(Key, SearchOp<Observed>)> {
        h.ops
            .iter()
            .enumerate()
            .filter(|(_, o)| o.outcome != Outcome::Failed)
            .map(|(index, o)| {
                let observed = Observed { kind: o.kind.clone(), outcome: o.outcome.clone() };
                (o.kind.key(), SearchOp { index, invoke_ns: o.invoke_ns, complete_ns: o.complete_ns, op: observed })
            })
            .collect()
    }

    /// The write-once verdict, checked against the oracle.
    fn write_once(ops: Vec<Operation>) -> Verdict {
        let h = History { ops };
        let report = check_write_once(&h, &Budget::default());
        assert!(!report.verdict.is_unknown(), "{:?}", report.verdict);
        assert_eq!(report.verdict.is_ok(), brute_force(&WriteOnceSpec, &oracle_ops(&h)), "{h:#?}");
        report.verdict
    }

    fn violation(ops: Vec<Operation>) -> Violation {
        match write_once(ops) {
            Verdict::Violation(v) => v,
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn write_once_sequential_and_concurrent_proposes() {
        // One propose wins; the other learns the winner.
        assert_eq!(
            write_once(vec![
                propose(1, 0, 10, 1, 5, 5),
                propose(2, 2, 12, 1, 6, 5),
                get(3, 20, 21, 1, Some(5)),
                get(4, 0, 1, 2, None),
            ]),
            Verdict::Ok
        );
        // Concurrent: the later-invoked one may win.
        assert_eq!(write_once(vec![propose(1, 0, 10, 1, 5, 6), propose(2, 2, 12, 1, 6, 6)]), Verdict::Ok);
        // A get concurrent with the propose may see none chosen.
        assert_eq!(
            write_once(vec![propose(1, 0, 10, 1, 5, 5), get(2, 1, 4, 1, None), get(3, 11, 12, 1, Some(5))]),
            Verdict::Ok
        );
    }

    #[test]
    fn two_different_values_chosen() {
        let v = violation(vec![propose(1, 0, 10, 3, 5, 5), propose(2, 2, 12, 3, 6, 6)]);
        assert_eq!(v.key, 3);
        assert!(v.message.starts_with("key 3 is not linearizable (2 ops with a known outcome, 0 timed out)"));
        assert!(v.message.contains("Value after the prefix: chosen 5."), "{}", v.message);
        assert_eq!(v.stuck_ops, vec![1]);
    }

    #[test]
    fn get_of_none_after_a_completed_propose() {
        let v = violation(vec![propose(1, 0, 10, 1, 5, 5), get(2, 11, 12, 1, None)]);
        assert_eq!(v.stuck_ops, vec![1]);
        assert!(v.message.contains("op #1: client 2 get(key=1)"), "{}", v.message);
        assert!(v.message.contains("[its outcome is impossible here]"), "{}", v.message);
        // Sequential gets that see a value and then none.
        violation(vec![propose(1, 0, 10, 1, 5, 5), get(2, 0, 3, 1, Some(5)), get(3, 4, 5, 1, None)]);
    }

    #[test]
    fn a_value_nobody_proposed() {
        let v = violation(vec![propose(1, 0, 10, 1, 5, 7)]);
        assert_eq!(v.stuck_ops, vec![0]);
        violation(vec![propose(1, 0, 10, 1, 5, 5), get(2, 0, 10, 1, Some(8))]);
    }

    #[test]
    fn timed_out_proposes() {
        // A timed-out propose may be the one chosen, even though it never
        // completed ...
        assert_eq!(
            write_once(vec![propose_timed_out(1, 0, 1, 9), propose(2, 5, 6, 1, 4, 9), get(3, 7, 8, 1, Some(9))]),
            Verdict::Ok
        );
        // ... or never take effect.
        assert_eq!(write_once(vec![propose_timed_out(1, 0, 1, 9), propose(2, 5, 6, 1, 4, 4)]), Verdict::Ok);
        // But not before it was invoked.
        violation(vec![propose(2, 0, 6, 1, 4, 9), propose_timed_out(1, 7, 1, 9)]);
        // Nor can a chosen value change after it.
        violation(vec![propose(2, 0, 6, 1, 4, 4), propose_timed_out(1, 7, 1, 9), get(3, 20, 21, 1, Some(9))]);
        // Failed proposes and timed-out gets are ignored.
        assert_eq!(
            write_once(vec![
                op(1, 0, Some(1), OpKind::Propose { key: 1, value: 3 }, Outcome::Failed),
                op(2, 0, None, OpKind::Get { key: 1 }, Outcome::Unknown),
                get(3, 5, 6, 1, None),
            ]),
            Verdict::Ok
        );
    }

    #[test]
    fn write_once_rejects_puts_and_reports_the_first_violating_key() {
        let h = History { ops: vec![op(1, 0, Some(1), OpKind::Put { key: 1, value: 3 }, Outcome::Written)] };
        let report = check_write_once(&h, &Budget::default());
        assert_eq!(
            report.verdict,
            Verdict::Unknown { reason: "op #0 is a put, which the write-once model does not have".to_string() }
        );
        let h = History {
            ops: vec![
                propose(1, 0, 10, 9, 5, 6),
                propose(1, 0, 10, 4, 5, 5),
                propose(1, 0, 10, 7, 5, 6),
                get(2, 20, 21, 4, Some(5)),
            ],
        };
        let report = check_write_once(&h, &Budget::default());
        match report.verdict {
            Verdict::Violation(v) => assert_eq!((v.key, v.stuck_ops), (7, vec![2])),
            other => panic!("{other:?}"),
        }
        assert_eq!(report.keys_checked, 2);
    }

    /// A correct write-once system's history: each op applied at a point in
    /// its interval, in point order; then, if `mutate`, some outcomes
    /// corrupted.
    fn generate_write_once(seed: u64, ops: usize, keys: u64, values: u64, unknown: u64, mutate: bool) -> History {
        let mut rng = Rng(seed);
        let clients = 1 + rng.below(4) as usize;
        let mut clocks = vec![0u64; clients];
        let mut history = Vec::new();
        let mut points = Vec::new();
        for index in 0..ops {
            let client = rng.below(clients as u64) as usize;
            let at = interval(&mut rng, &mut clocks[client], 4, 10, unknown, 5);
            let key = rng.below(keys);
            let kind =
                if rng.percent(40) { OpKind::Get { key } } else { OpKind::Propose { key, value: rng.below(values) } };
            let (complete_ns, outcome) = match (at.failed, at.timed_out) {
                (true, _) => (Some(at.complete_ns), Outcome::Failed),
                (_, true) => (None, Outcome::Unknown),
                _ => (Some(at.complete_ns), Outcome::Written),
            };
            if let Some(point) = at.point_ns {
                points.push((point, index));
            }
            history.push(op(client as u32, at.invoke_ns, complete_ns, kind, outcome));
        }
        points.sort_unstable();
        let mut chosen: BTreeMap<Key, Value> = BTreeMap::new();
        for (_, index) in points {
            let o = &mut history[index];
            let known = o.complete_ns.is_some();
            match o.kind {
                OpKind::Get { key } if known => o.outcome = Outcome::Read { value: chosen.get(&key).copied() },
                OpKind::Propose { key, value } => {
                    let value = *chosen.entry(key).or_insert(value);
                    if known {
                        o.outcome = Outcome::Chosen { value };
                    }
                }
                _ => {}
            }
        }
        if mutate {
            for o in &mut history {
                if !rng.percent(20) {
                    continue;
                }
                o.outcome = match o.outcome {
                    Outcome::Read { .. } => {
                        Outcome::Read { value: if rng.percent(25) { None } else { Some(rng.below(values)) } }
                    }
                    Outcome::Chosen { .. } => Outcome::Chosen { value: rng.below(values + 1) },
                    ref other => other.clone(),
                };
            }
        }
        let h = History { ops: history };
        assert_eq!(h.validate(), Ok(()));
        h
    }

    #[test]
    fn write_once_agrees_with_the_oracle() {
        let (mut ok, mut bad) = (0u32, 0u32);
        for seed in 0..3_000u64 {
            let ops = 1 + (seed % 11) as usize;
            let keys = 1 + u64::from(seed % 4 == 0);
            let unknown = [0, 15, 35][(seed % 3) as usize];
            let h = generate_write_once(seed, ops, keys, 2 + seed % 3, unknown, seed % 2 == 1);
            let report = check_write_once(&h, &Budget::default());
            assert!(!report.verdict.is_unknown(), "{h:#?}\n{:?}", report.verdict);
            let expected = brute_force(&WriteOnceSpec, &oracle_ops(&h));
            assert_eq!(report.verdict.is_ok(), expected, "seed {seed}: {h:#?}\n{:?}", report.verdict);
            if expected {
                ok += 1;
            } else {
                bad += 1;
            }
            if seed % 2 == 0 {
                assert!(expected, "seed {seed}: a correct system's history is linearizable");
            }
        }
        println!("write-once oracle agreement: {ok} linearizable, {bad} not, of 3000");
        assert!(ok > 1_500 && bad > 500, "ok {ok}, violations {bad}");
    }

    #[test]
    fn write_once_budget_exhaustion_is_unknown_never_ok() {
        let h = generate_write_once(11, 400, 1, 50, 20, false);
        let full = check_write_once(&h, &Budget::default());
        assert_eq!(full.verdict, Verdict::Ok);
        assert!(full.steps > 1, "{full:?}");
        let short = check_write_once(&h, &Budget::new(full.steps - 1));
        match &short.verdict {
            Verdict::Unknown { reason } => {
                assert!(
                    reason.starts_with(&format!("step budget of {} exhausted while checking key 0", full.steps - 1)),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(check_write_once(&h, &Budget::new(full.steps)).verdict, Verdict::Ok);
        let tight = Budget::default().with_max_memory(full.peak_memory - 1);
        match check_write_once(&h, &tight).verdict {
            Verdict::Unknown { reason } => assert!(reason.ends_with("(limits.max_memory)"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(check_write_once(&h, &Budget::default().with_max_memory(full.peak_memory)), full);
    }

    #[test]
    fn write_once_through_the_harness_entry_point() {
        let ops = vec![propose(1, 0, 10, 3, 5, 5), propose(2, 2, 12, 3, 6, 6)];
        let result = crate::check::linearizability_of(
            ops,
            crate::check::linearizability::Model::WriteOnce,
            &Budget::default(),
            faultline_sim::Time::from_nanos(100),
        );
        let text = format!("{result:?}");
        assert!(text.contains("key 3: key 3 is not linearizable"), "{text}");
        assert!(text.contains("clients [2]"), "{text}");
    }

    #[test]
    fn register_spec_agrees_with_the_optimised_search_on_hand_written_shapes() {
        let put = |c, i, e, k, v| op(c, i, Some(e), OpKind::Put { key: k, value: v }, Outcome::Written);
        // Stale read and lost write.
        let stale = History { ops: vec![put(1, 0, 10, 1, 1), put(1, 20, 30, 1, 2), get(2, 40, 50, 1, Some(1))] };
        let lost = History {
            ops: vec![put(1, 0, 10, 1, 1), put(2, 0, 10, 1, 2), get(3, 20, 30, 1, Some(1)), get(4, 31, 40, 1, Some(2))],
        };
        for h in [stale, lost] {
            let generic = check_register_generic(&h, &Budget::default());
            assert!(generic.verdict.is_violation(), "{generic:?}");
            assert!(check(&h, &Budget::default()).verdict.is_violation());
        }
    }
    /// 20,000 ops on one key from 16 clients, 40 ns each, a new one every
    /// 3 ns: the memo holds a few words per configuration, not a bit per op.
    #[test]
    fn a_large_write_once_history_checks_within_budget() {
        let mut ops = Vec::new();
        for i in 0..20_000u64 {
            let (kind, outcome) = if i % 3 == 0 {
                (OpKind::Propose { key: 1, value: i }, Outcome::Chosen { value: 0 })
            } else {
                (OpKind::Get { key: 1 }, Outcome::Read { value: Some(0) })
            };
            ops.push(op((i % 16) as u32, 3 * i, Some(3 * i + 40), kind, outcome));
        }
        let h = History { ops };
        let report = check_write_once(&h, &Budget::default());
        assert_eq!(report.verdict, Verdict::Ok);
        assert!(report.steps < 1_000_000, "{} steps", report.steps);
        assert!(report.peak_memory < 16 << 20, "{} bytes", report.peak_memory);
        assert_eq!(check_write_once(&h, &Budget::default()), report);
    }
}
