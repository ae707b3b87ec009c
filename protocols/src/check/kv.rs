//! A key-value store of strings with get, put and append — the `kv` model
//! of Porcupine — its histories, their JSON format, and its check by the
//! generic search (`search.rs`).
//!
//! Model: every key holds a string, initially empty (`""`); `get` returns
//! it, `put` sets it, `append` concatenates its value to it. Keys are
//! independent, so each is checked on its own, in ascending (byte-wise)
//! order, and the first violating key is reported.
//!
//! Times and real-time order are as in `history.rs`: nanoseconds on one
//! clock; `A` precedes `B` only if `A.complete_ns < B.invoke_ns`, so
//! operations touching at the same instant are concurrent.
//!
//! # JSON format
//!
//! ```json
//! { "ops": [
//!   { "client": 1, "invoke_ns": 0, "complete_ns": 10,
//!     "kind": { "op": "put", "key": "x", "value": "a" },
//!     "outcome": { "type": "written" } },
//!   { "client": 2, "invoke_ns": 5, "complete_ns": 20,
//!     "kind": { "op": "append", "key": "x", "value": "b" },
//!     "outcome": { "type": "written" } },
//!   { "client": 3, "invoke_ns": 30, "complete_ns": 35,
//!     "kind": { "op": "get", "key": "x" },
//!     "outcome": { "type": "read", "value": "ab" } },
//!   { "client": 4, "invoke_ns": 40,
//!     "kind": { "op": "append", "key": "x", "value": "c" },
//!     "outcome": { "type": "unknown" } }
//! ] }
//! ```
//!
//! * `kind.op` is one of `get` (with `key`), `put` and `append` (with `key`
//!   and `value`); keys and values are JSON strings.
//! * `outcome.type` is one of `read` (with `value`, a string: what the get
//!   returned; a key never written reads as `""`), `written` (the put or
//!   append was acknowledged), `failed` (the operation definitely did not
//!   take effect) or `unknown` (timed out: it may or may not take effect, at
//!   any time after `invoke_ns`; a timed-out get tells nothing and is
//!   ignored).
//! * `complete_ns` is omitted (or `null`) exactly when the outcome is
//!   `unknown`.
//! * Unknown fields are rejected; parse errors name the line and column.
//!
//! Parsing ([`KvHistory::from_json_str`]) checks only the shape;
//! [`KvHistory::validate`] checks the rules above that JSON cannot express.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::linearizability::Budget;
use super::search::{check_partitioned, partition_bytes, SearchOp, SearchReport, SequentialSpec};

/// What the client asked for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum KvOpKind {
    /// Read the string under `key`.
    Get { key: String },
    /// Set `key` to `value`.
    Put { key: String, value: String },
    /// Append `value` to the string under `key`.
    Append { key: String, value: String },
}

impl KvOpKind {
    /// The key the operation touches.
    pub fn key(&self) -> &str {
        match self {
            KvOpKind::Get { key } | KvOpKind::Put { key, .. } | KvOpKind::Append { key, .. } => key,
        }
    }
}

impl fmt::Display for KvOpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvOpKind::Get { key } => write!(f, "get(key={})", quoted(key)),
            KvOpKind::Put { key, value } => write!(f, "put(key={}, value={})", quoted(key), quoted(value)),
            KvOpKind::Append { key, value } => write!(f, "append(key={}, value={})", quoted(key), quoted(value)),
        }
    }
}

/// Outcome as the client observed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum KvOutcome {
    /// get: the string read.
    Read { value: String },
    /// put or append acknowledged.
    Written,
    /// The operation definitely did not take effect.
    Failed,
    /// Timed out: it may or may not have taken effect, at any time after
    /// invoke.
    Unknown,
}

impl fmt::Display for KvOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvOutcome::Read { value } => write!(f, "read {}", quoted(value)),
            KvOutcome::Written => write!(f, "written"),
            KvOutcome::Failed => write!(f, "failed"),
            KvOutcome::Unknown => write!(f, "unknown (timed out)"),
        }
    }
}

/// One client operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvOperation {
    pub client: u32,
    pub invoke_ns: u64,
    /// `None` iff the outcome is [`KvOutcome::Unknown`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_ns: Option<u64>,
    pub kind: KvOpKind,
    pub outcome: KvOutcome,
}

impl fmt::Display for KvOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {} {} invoked at {} ns, ", self.client, self.kind, self.invoke_ns)?;
        match self.complete_ns {
            Some(complete_ns) => write!(f, "completed at {complete_ns} ns")?,
            None => write!(f, "never completed")?,
        }
        write!(f, " -> {}", self.outcome)
    }
}

/// A recorded history of the string store: all clients' operations, in any
/// order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvHistory {
    pub ops: Vec<KvOperation>,
}

impl KvHistory {
    /// Parses a history (format in the module docs). The error is
    /// serde_json's, with its line and column.
    pub fn from_json_str(json: &str) -> Result<KvHistory, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Pretty-printed JSON.
    pub fn to_json_string(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// `complete_ns >= invoke_ns`; `complete_ns` is `None` iff the outcome
    /// is `unknown`; `read` only for a get, `written` only for a put or an
    /// append (`failed` and `unknown` for any). Reports the first offending
    /// operation by index.
    pub fn validate(&self) -> Result<(), String> {
        for (index, op) in self.ops.iter().enumerate() {
            op.validate().map_err(|why| format!("op #{index} ({op}): {why}"))?;
        }
        Ok(())
    }
}

impl KvOperation {
    fn validate(&self) -> Result<(), String> {
        match (self.complete_ns, &self.outcome) {
            (None, KvOutcome::Unknown) => {}
            (Some(_), KvOutcome::Unknown) => return Err("outcome unknown but complete_ns is set".to_string()),
            (None, _) => return Err("complete_ns missing for a known outcome".to_string()),
            (Some(complete_ns), _) => {
                if complete_ns < self.invoke_ns {
                    return Err(format!("complete_ns {complete_ns} is before invoke_ns {}", self.invoke_ns));
                }
            }
        }
        let fits = matches!(
            (&self.kind, &self.outcome),
            (_, KvOutcome::Failed | KvOutcome::Unknown)
                | (KvOpKind::Get { .. }, KvOutcome::Read { .. })
                | (KvOpKind::Put { .. } | KvOpKind::Append { .. }, KvOutcome::Written)
        );
        if fits {
            Ok(())
        } else {
            Err(format!("outcome '{}' does not fit operation {}", self.outcome, self.kind))
        }
    }
}

/// A string for a message: quoted and escaped, and cut in the middle past
/// 120 characters.
fn quoted(text: &str) -> String {
    const SHOWN: usize = 120;
    let count = text.chars().count();
    if count <= SHOWN {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(SHOWN / 2).collect();
    let tail: String = text.chars().skip(count - SHOWN / 2).collect();
    format!("{head:?}...{tail:?} ({count} characters)")
}

/// What the search sees of an operation: its kind and outcome, key apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvStep {
    /// A get that returned `value`.
    Get { value: String },
    /// A put (acknowledged, or timed out).
    Put { value: String },
    /// An append (acknowledged, or timed out).
    Append { value: String },
}

/// The string store's sequential specification, one string per key.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvSpec;

impl SequentialSpec for KvSpec {
    type State = String;
    type Op = KvStep;
    const STATE_NOUN: &'static str = "Value";

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, op: &KvStep) -> Option<String> {
        match op {
            KvStep::Get { value } => (state == value).then(|| state.clone()),
            KvStep::Put { value } => Some(value.clone()),
            KvStep::Append { value } => {
                let mut next = String::with_capacity(state.len() + value.len());
                next.push_str(state);
                next.push_str(value);
                Some(next)
            }
        }
    }

    fn is_inert(&self, _state: &String, op: &KvStep) -> bool {
        match op {
            KvStep::Get { .. } => true,
            KvStep::Append { value } => value.is_empty(),
            KvStep::Put { .. } => false,
        }
    }

    fn state_heap_bytes(&self, state: &String) -> u64 {
        state.len() as u64
    }

    fn describe_state(&self, state: &String) -> String {
        quoted(state)
    }
}

/// The report of [`check_kv`]; violations name the key as a string.
pub type KvReport = SearchReport<String>;

/// The ops the search needs, per key in ascending order: `failed` ops and
/// timed-out gets are dropped.
pub fn partition(history: &KvHistory) -> BTreeMap<String, Vec<SearchOp<KvStep>>> {
    let mut by_key: BTreeMap<String, Vec<SearchOp<KvStep>>> = BTreeMap::new();
    for (index, op) in history.ops.iter().enumerate() {
        let step = match (&op.kind, &op.outcome) {
            (_, KvOutcome::Failed) | (KvOpKind::Get { .. }, KvOutcome::Unknown) => continue,
            (KvOpKind::Get { .. }, KvOutcome::Read { value }) => KvStep::Get { value: value.clone() },
            (KvOpKind::Put { value, .. }, _) => KvStep::Put { value: value.clone() },
            (KvOpKind::Append { value, .. }, _) => KvStep::Append { value: value.clone() },
            // `validate` rules out a get with another outcome.
            (KvOpKind::Get { .. }, KvOutcome::Written) => continue,
        };
        let key = op.kind.key();
        if !by_key.contains_key(key) {
            by_key.insert(key.to_string(), Vec::new());
        }
        if let Some(ops) = by_key.get_mut(key) {
            ops.push(SearchOp { index, invoke_ns: op.invoke_ns, complete_ns: op.complete_ns, op: step });
        }
    }
    by_key
}

/// Checks `history` for linearizability against the string store, per key,
/// within `budget` (exhausting it is `Unknown`, never `Ok`). A history that
/// fails [`KvHistory::validate`] gets `Unknown`.
pub fn check_kv(history: &KvHistory, budget: &Budget) -> KvReport {
    if let Err(why) = history.validate() {
        return SearchReport::unknown(format!("invalid history: {why}"));
    }
    let by_key = partition(history);
    let op_heap = |step: &KvStep| match step {
        KvStep::Get { value } | KvStep::Put { value } | KvStep::Append { value } => value.len() as u64,
    };
    let fixed = partition_bytes(&by_key, &op_heap) + by_key.keys().map(|k| k.len() as u64).sum::<u64>();
    let describe_op = |index: usize| history.ops.get(index).map_or_else(String::new, |op| op.to_string());
    check_partitioned(&KvSpec, &by_key, budget, &describe_op, &|key: &String| quoted(key), fixed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::oracle::{brute_force, interval, Rng};
    use crate::check::search::SearchVerdict;

    fn op(client: u32, invoke_ns: u64, complete_ns: Option<u64>, kind: KvOpKind, outcome: KvOutcome) -> KvOperation {
        KvOperation { client, invoke_ns, complete_ns, kind, outcome }
    }

    fn get(client: u32, invoke_ns: u64, complete_ns: u64, key: &str, value: &str) -> KvOperation {
        let outcome = KvOutcome::Read { value: value.to_string() };
        op(client, invoke_ns, Some(complete_ns), KvOpKind::Get { key: key.to_string() }, outcome)
    }

    fn put(client: u32, invoke_ns: u64, complete_ns: u64, key: &str, value: &str) -> KvOperation {
        let kind = KvOpKind::Put { key: key.to_string(), value: value.to_string() };
        op(client, invoke_ns, Some(complete_ns), kind, KvOutcome::Written)
    }

    fn append(client: u32, invoke_ns: u64, complete_ns: u64, key: &str, value: &str) -> KvOperation {
        let kind = KvOpKind::Append { key: key.to_string(), value: value.to_string() };
        op(client, invoke_ns, Some(complete_ns), kind, KvOutcome::Written)
    }

    fn append_timed_out(client: u32, invoke_ns: u64, key: &str, value: &str) -> KvOperation {
        let kind = KvOpKind::Append { key: key.to_string(), value: value.to_string() };
        op(client, invoke_ns, None, kind, KvOutcome::Unknown)
    }

    /// The oracle's view: every op but the failed ones and timed-out gets
    /// (which have no value to step with, and could not change anything).
    fn oracle_ops(h: &KvHistory) -> Vec<(String, SearchOp<KvStep>)> {
        let mut out = Vec::new();
        for (index, o) in h.ops.iter().enumerate() {
            let step = match (&o.kind, &o.outcome) {
                (_, KvOutcome::Failed) | (KvOpKind::Get { .. }, _) if o.complete_ns.is_none() => continue,
                (_, KvOutcome::Failed) => continue,
                (KvOpKind::Get { .. }, KvOutcome::Read { value }) => KvStep::Get { value: value.clone() },
                (KvOpKind::Put { value, .. }, _) => KvStep::Put { value: value.clone() },
                (KvOpKind::Append { value, .. }, _) => KvStep::Append { value: value.clone() },
                (KvOpKind::Get { .. }, _) => continue,
            };
            out.push((
                o.kind.key().to_string(),
                SearchOp { index, invoke_ns: o.invoke_ns, complete_ns: o.complete_ns, op: step },
            ));
        }
        out
    }

    fn kv(ops: Vec<KvOperation>) -> SearchVerdict<String> {
        let h = KvHistory { ops };
        let report = check_kv(&h, &Budget::default());
        assert!(!report.verdict.is_unknown(), "{:?}", report.verdict);
        assert_eq!(report.verdict.is_ok(), brute_force(&KvSpec, &oracle_ops(&h)), "{h:#?}");
        report.verdict
    }

    fn violation(ops: Vec<KvOperation>) -> crate::check::search::KeyViolation<String> {
        match kv(ops) {
            SearchVerdict::Violation(v) => v,
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn appends_concatenate_in_some_order() {
        // Sequential appends, then a read of the whole.
        assert_eq!(
            kv(vec![append(1, 0, 1, "x", "a"), append(1, 2, 3, "x", "b"), get(2, 4, 5, "x", "ab")]),
            SearchVerdict::Ok
        );
        // Concurrent appends: either order.
        for seen in ["ab", "ba"] {
            assert_eq!(
                kv(vec![append(1, 0, 10, "x", "a"), append(2, 0, 10, "x", "b"), get(3, 11, 12, "x", seen)]),
                SearchVerdict::Ok
            );
        }
        // A key never written reads as "", and a put replaces.
        assert_eq!(
            kv(vec![
                get(1, 0, 1, "y", ""),
                put(1, 2, 3, "y", "zz"),
                append(2, 4, 5, "y", "!"),
                get(3, 6, 7, "y", "zz!")
            ]),
            SearchVerdict::Ok
        );
        // A get concurrent with an append may see either.
        assert_eq!(
            kv(vec![append(1, 0, 10, "x", "a"), get(2, 1, 2, "x", ""), get(3, 3, 4, "x", "a")]),
            SearchVerdict::Ok
        );
    }

    #[test]
    fn appends_in_the_wrong_order() {
        let v = violation(vec![append(1, 0, 1, "x", "a"), append(1, 2, 3, "x", "b"), get(2, 4, 5, "x", "ba")]);
        assert_eq!(v.key, "x");
        assert!(v.message.starts_with("key \"x\" is not linearizable (3 ops with a known outcome, 0 timed out)"));
        assert!(v.message.contains("Value after the prefix: \"ab\"."), "{}", v.message);
        assert!(v.message.contains("op #2: client 2 get(key=\"x\")"), "{}", v.message);
        assert_eq!(v.stuck_ops, vec![2]);
    }

    #[test]
    fn stale_read_and_lost_write() {
        // Stale read: the put of "2" completed before the get began.
        violation(vec![put(1, 0, 1, "k", "1"), put(1, 2, 3, "k", "2"), get(2, 4, 5, "k", "1")]);
        // Lost write: both appends completed, a later read shows only one.
        let v = violation(vec![append(1, 0, 10, "k", "a"), append(2, 0, 10, "k", "b"), get(3, 11, 12, "k", "a")]);
        assert_eq!(v.stuck_ops, vec![2]);
        // Reads that go back: "ab" then "a".
        violation(vec![
            append(1, 0, 10, "k", "a"),
            append(2, 0, 10, "k", "b"),
            get(3, 2, 4, "k", "ab"),
            get(4, 5, 6, "k", "a"),
        ]);
        // A value never written.
        violation(vec![append(1, 0, 10, "k", "a"), get(2, 0, 10, "k", "b")]);
    }

    #[test]
    fn timed_out_and_failed_operations() {
        // A timed-out append may take effect late ...
        assert_eq!(
            kv(vec![append_timed_out(1, 0, "x", "a"), append(2, 5, 6, "x", "b"), get(3, 7, 8, "x", "ba")]),
            SearchVerdict::Ok
        );
        // ... or never ...
        assert_eq!(kv(vec![append_timed_out(1, 0, "x", "a"), get(3, 7, 8, "x", "")]), SearchVerdict::Ok);
        // ... but only once, and never before its invocation.
        violation(vec![append_timed_out(1, 0, "x", "a"), get(3, 7, 8, "x", "aa")]);
        violation(vec![get(3, 0, 1, "x", "a"), append_timed_out(1, 2, "x", "a")]);
        // Once read, it cannot be unread.
        violation(vec![append_timed_out(1, 0, "x", "a"), get(2, 1, 2, "x", "a"), get(3, 3, 4, "x", "")]);
        // Failed ops did not happen; timed-out gets say nothing.
        let failed = op(1, 0, Some(1), KvOpKind::Put { key: "x".into(), value: "q".into() }, KvOutcome::Failed);
        let lost_get = op(2, 0, None, KvOpKind::Get { key: "x".into() }, KvOutcome::Unknown);
        assert_eq!(kv(vec![failed, lost_get, get(3, 5, 6, "x", "")]), SearchVerdict::Ok);
    }

    #[test]
    fn keys_are_checked_apart_in_order() {
        let h = KvHistory {
            ops: vec![
                append(1, 0, 1, "b", "1"),
                get(2, 2, 3, "b", "2"),
                append(1, 0, 1, "a", "1"),
                get(2, 2, 3, "a", "1"),
                get(2, 2, 3, "c", "x"),
            ],
        };
        let report = check_kv(&h, &Budget::default());
        match report.verdict {
            SearchVerdict::Violation(v) => assert_eq!((v.key.as_str(), v.stuck_ops), ("b", vec![1])),
            other => panic!("{other:?}"),
        }
        assert_eq!(report.keys_checked, 2);
    }

    #[test]
    fn json_format() {
        let json = r#"{ "ops": [
          { "client": 1, "invoke_ns": 0, "complete_ns": 10,
            "kind": { "op": "put", "key": "x", "value": "a" }, "outcome": { "type": "written" } },
          { "client": 2, "invoke_ns": 5, "complete_ns": 20,
            "kind": { "op": "append", "key": "x", "value": "b" }, "outcome": { "type": "written" } },
          { "client": 3, "invoke_ns": 30, "complete_ns": 35,
            "kind": { "op": "get", "key": "x" }, "outcome": { "type": "read", "value": "ab" } },
          { "client": 4, "invoke_ns": 40,
            "kind": { "op": "append", "key": "x", "value": "c" }, "outcome": { "type": "unknown" } },
          { "client": 4, "invoke_ns": 50, "complete_ns": null,
            "kind": { "op": "get", "key": "x" }, "outcome": { "type": "unknown" } },
          { "client": 5, "invoke_ns": 50, "complete_ns": 51,
            "kind": { "op": "put", "key": "y", "value": "" }, "outcome": { "type": "failed" } }
        ] }"#;
        let h = KvHistory::from_json_str(json).expect("parses");
        assert_eq!(h.validate(), Ok(()));
        assert_eq!(h.ops[3].complete_ns, None);
        assert_eq!(check_kv(&h, &Budget::default()).verdict, SearchVerdict::Ok);
        let again = KvHistory::from_json_str(&h.to_json_string().expect("serializes")).expect("parses");
        assert_eq!(again, h);

        let unknown_field = "{\"ops\":[\n{\"client\":1,\"invoke_ns\":0,\"complete_ns\":1,\n\"kind\":{\"op\":\"get\",\"key\":\"x\",\"value\":\"y\"},\"outcome\":{\"type\":\"read\",\"value\":\"\"}}]}";
        let err = KvHistory::from_json_str(unknown_field).expect_err("a get has no value");
        assert_eq!(err.line(), 3, "{err}");
        for bad in [
            r#"{"ops":[{"client":1,"invoke_ns":0,"complete_ns":1,"kind":{"op":"get","key":1},"outcome":{"type":"read","value":""}}]}"#,
            r#"{"ops":[{"client":1,"invoke_ns":0,"complete_ns":1,"kind":{"op":"cas","key":"x"},"outcome":{"type":"written"}}]}"#,
            r#"{"ops":[{"client":1,"invoke_ns":0,"complete_ns":1,"kind":{"op":"get","key":"x"},"outcome":{"type":"read","value":null}}]}"#,
            r#"{"ops":[],"model":"kv"}"#,
            r#"{"ops":["#,
        ] {
            let err = KvHistory::from_json_str(bad).expect_err(bad);
            assert!(err.to_string().contains("column"), "{err}");
        }
        let invalid = [
            get(1, 5, 4, "x", ""),
            op(1, 0, Some(1), KvOpKind::Get { key: "x".into() }, KvOutcome::Written),
            op(1, 0, Some(1), KvOpKind::Append { key: "x".into(), value: "a".into() }, KvOutcome::Unknown),
            op(1, 0, None, KvOpKind::Append { key: "x".into(), value: "a".into() }, KvOutcome::Written),
        ];
        for bad in invalid {
            let h = KvHistory { ops: vec![get(1, 0, 1, "x", ""), bad] };
            let err = h.validate().expect_err("invalid");
            assert!(err.starts_with("op #1 "), "{err}");
            assert!(check_kv(&h, &Budget::default()).verdict.is_unknown());
        }
    }

    /// A correct store's history: each op applied at a point in its
    /// interval, in point order; if `mutate`, some reads corrupted.
    fn generate_kv(seed: u64, ops: usize, keys: u64, unknown: u64, mutate: bool) -> KvHistory {
        const PIECES: [&str; 4] = ["a", "b", "c", ""];
        let mut rng = Rng(seed);
        let clients = 1 + rng.below(4) as usize;
        let mut clocks = vec![0u64; clients];
        let mut history = Vec::new();
        let mut points = Vec::new();
        for index in 0..ops {
            let client = rng.below(clients as u64) as usize;
            let at = interval(&mut rng, &mut clocks[client], 4, 10, unknown, 5);
            let key = format!("k{}", rng.below(keys));
            let pieces = if rng.percent(10) { 4 } else { 3 };
            let value = PIECES[rng.below(pieces) as usize].to_string();
            let kind = match rng.below(10) {
                0..=3 => KvOpKind::Get { key },
                4..=5 => KvOpKind::Put { key, value },
                _ => KvOpKind::Append { key, value },
            };
            let (complete_ns, outcome) = match (at.failed, at.timed_out) {
                (true, _) => (Some(at.complete_ns), KvOutcome::Failed),
                (_, true) => (None, KvOutcome::Unknown),
                _ => (Some(at.complete_ns), KvOutcome::Written),
            };
            if let Some(point) = at.point_ns {
                points.push((point, index));
            }
            history.push(op(client as u32, at.invoke_ns, complete_ns, kind, outcome));
        }
        points.sort_unstable();
        let mut store: BTreeMap<String, String> = BTreeMap::new();
        for (_, index) in points {
            let o = &mut history[index];
            match &o.kind {
                KvOpKind::Get { key } => {
                    if o.complete_ns.is_some() {
                        o.outcome = KvOutcome::Read { value: store.get(key).cloned().unwrap_or_default() };
                    }
                }
                KvOpKind::Put { key, value } => {
                    store.insert(key.clone(), value.clone());
                }
                KvOpKind::Append { key, value } => store.entry(key.clone()).or_default().push_str(value),
            }
        }
        if mutate {
            for o in &mut history {
                if let KvOutcome::Read { value } = &mut o.outcome {
                    if rng.percent(50) {
                        *value = match rng.below(4) {
                            0 => value.chars().rev().collect(),
                            1 => value.chars().skip(1).collect(),
                            2 => format!("{value}{}", PIECES[rng.below(3) as usize]),
                            _ => PIECES[rng.below(4) as usize].to_string(),
                        };
                    }
                }
            }
        }
        let h = KvHistory { ops: history };
        assert_eq!(h.validate(), Ok(()));
        h
    }

    #[test]
    fn kv_agrees_with_the_oracle() {
        let (mut ok, mut bad) = (0u32, 0u32);
        for seed in 0..3_000u64 {
            let ops = 1 + (seed % 11) as usize;
            let keys = 1 + u64::from(seed % 4 == 0);
            let unknown = [0, 15, 35][(seed % 3) as usize];
            let h = generate_kv(seed, ops, keys, unknown, seed % 2 == 1);
            let report = check_kv(&h, &Budget::default());
            assert!(!report.verdict.is_unknown(), "{h:#?}\n{:?}", report.verdict);
            let expected = brute_force(&KvSpec, &oracle_ops(&h));
            assert_eq!(report.verdict.is_ok(), expected, "seed {seed}: {h:#?}\n{:?}", report.verdict);
            if seed % 2 == 0 {
                assert!(expected, "seed {seed}: a correct store's history is linearizable");
            }
            if expected {
                ok += 1;
            } else {
                bad += 1;
            }
        }
        println!("kv oracle agreement: {ok} linearizable, {bad} not, of 3000");
        assert!(ok > 1_500 && bad > 400, "ok {ok}, violations {bad}");
    }

    #[test]
    fn kv_budget_exhaustion_is_unknown_never_ok() {
        let h = generate_kv(3, 600, 2, 20, false);
        let full = check_kv(&h, &Budget::default());
        assert_eq!(full.verdict, SearchVerdict::Ok);
        assert_eq!(full.keys_checked, 2);
        let short = check_kv(&h, &Budget::new(full.steps - 1));
        match &short.verdict {
            SearchVerdict::Unknown { reason } => {
                assert!(
                    reason.contains(&format!("step budget of {} exhausted while checking key \"k", full.steps - 1)),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(check_kv(&h, &Budget::new(full.steps)), full);
        match check_kv(&h, &Budget::default().with_max_memory(full.peak_memory - 1)).verdict {
            SearchVerdict::Unknown { reason } => {
                assert!(reason.starts_with("memory budget of ") && reason.ends_with("(limits.max_memory)"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(check_kv(&h, &Budget::default().with_max_memory(full.peak_memory)), full);
        // Deterministic: the same report every time.
        assert_eq!(check_kv(&h, &Budget::default()), full);
    }
}
