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
