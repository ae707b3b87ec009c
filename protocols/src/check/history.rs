//! Client-observed histories of a key-value store, as fed to the
//! linearizability checker (see `linearizability.rs`).
//!
//! A [`History`] is a flat list of [`Operation`]s. Each operation records the
//! client that issued it, when it was invoked and (if the client learned the
//! result) when it completed, what was asked ([`OpKind`]) and what the client
//! observed ([`Outcome`]). Times are nanoseconds on a single global clock (the
//! simulator's virtual clock); operation `A` precedes `B` in real time only if
//! `A.complete_ns < B.invoke_ns`, so operations touching at the same instant
//! count as concurrent.
//!
//! Register semantics: every key starts absent; `put` sets the value; `cas`
//! sets `new` iff the current value is `Some(expected)`; `get` reads it;
//! `propose` sets the value iff the key is absent and returns what it holds.
//!
//! # JSON format
//!
//! ```json
//! { "ops": [
//!   { "client": 1, "invoke_ns": 0,  "complete_ns": 10,
//!     "kind": { "op": "put", "key": 7, "value": 42 },
//!     "outcome": { "type": "written" } },
//!   { "client": 2, "invoke_ns": 5,  "complete_ns": 20,
//!     "kind": { "op": "get", "key": 7 },
//!     "outcome": { "type": "read", "value": 42 } },
//!   { "client": 3, "invoke_ns": 30, "complete_ns": 35,
//!     "kind": { "op": "cas", "key": 7, "expected": 42, "new": 43 },
//!     "outcome": { "type": "cas", "swapped": true } },
//!   { "client": 4, "invoke_ns": 40,
//!     "kind": { "op": "put", "key": 7, "value": 44 },
//!     "outcome": { "type": "unknown" } }
//! ] }
//! ```
//!
//! * `kind.op` is one of `get`, `put`, `cas`, `propose` (write-once: with
//!   `value`; its outcome is `chosen`, with the `value` the key holds).
//! * `outcome.type` is one of `read` (with `value`: a number, or `null` for
//!   an absent key), `written`, `cas` (with `swapped`), `failed` (the
//!   operation definitely did not take effect) or `unknown` (timed out: it may
//!   or may not take effect, at any time after `invoke_ns`).
//! * `complete_ns` is omitted (or `null`) exactly when the outcome is
//!   `unknown`.
//! * Unknown fields are rejected.
//!
//! Parsing ([`History::from_json_str`]) checks only the shape; call
//! [`History::validate`] for the semantic rules.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Key of the key-value store.
pub type Key = u64;
/// Value stored under a key.
pub type Value = u64;

/// What the client asked for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum OpKind {
    /// Read the value of `key`.
    Get { key: Key },
    /// Set `key` to `value`.
    Put { key: Key, value: Value },
    /// Set `key` to `new` iff its current value is `Some(expected)`.
    Cas { key: Key, expected: Value, new: Value },
    /// Write-once: set `key` to `value` iff it is absent; either way the
    /// outcome is the value `key` then holds (the chosen value, which may be
    /// another client's).
    Propose { key: Key, value: Value },
}

impl OpKind {
    /// The key the operation touches.
    pub fn key(&self) -> Key {
        match *self {
            OpKind::Get { key } | OpKind::Put { key, .. } | OpKind::Cas { key, .. } | OpKind::Propose { key, .. } => {
                key
            }
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpKind::Get { key } => write!(f, "get(key={key})"),
            OpKind::Put { key, value } => write!(f, "put(key={key}, value={value})"),
            OpKind::Cas { key, expected, new } => {
                write!(f, "cas(key={key}, expected={expected}, new={new})")
            }
            OpKind::Propose { key, value } => write!(f, "propose(key={key}, value={value})"),
        }
    }
}

/// Outcome as the client observed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// get: the value read (`None` = key absent).
    Read { value: Option<Value> },
    /// put acknowledged.
    Written,
    /// cas completed: whether the swap happened.
    Cas { swapped: bool },
    /// propose completed: the value the key holds (chosen).
    Chosen { value: Value },
    /// The operation definitely did not take effect (e.g. rejected before
    /// being proposed).
    Failed,
    /// Timed out / connection lost: it may or may not have taken effect, at
    /// any time after invoke.
    Unknown,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Read { value: Some(v) } => write!(f, "read {v}"),
            Outcome::Read { value: None } => write!(f, "read absent"),
            Outcome::Written => write!(f, "written"),
            Outcome::Cas { swapped: true } => write!(f, "swapped"),
            Outcome::Cas { swapped: false } => write!(f, "not swapped"),
            Outcome::Chosen { value } => write!(f, "chosen {value}"),
            Outcome::Failed => write!(f, "failed"),
            Outcome::Unknown => write!(f, "unknown (timed out)"),
        }
    }
}

/// One client operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// Issuing client.
    pub client: u32,
    /// When the client invoked the operation.
    pub invoke_ns: u64,
    /// When the client learned the outcome; `None` iff the outcome is
    /// [`Outcome::Unknown`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_ns: Option<u64>,
    /// What was asked.
    pub kind: OpKind,
    /// What the client observed.
    pub outcome: Outcome,
    /// Where in the service's total order the answer was given, for
    /// services that say so (ZAB: the zxid the serving server had
    /// delivered, as ZooKeeper packs it, epoch in the high 32 bits). Absent
    /// for unknown outcomes and for services that give no position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<u64>,
    /// A read the client preceded by a `sync` (ZooKeeper's `sync` then
    /// `getData`): it must reflect every write that completed before it
    /// began.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sync: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {} {} invoked at {} ns, ", self.client, self.kind, self.invoke_ns)?;
        match self.complete_ns {
            Some(complete_ns) => write!(f, "completed at {complete_ns} ns")?,
            None => write!(f, "never completed")?,
        }
        write!(f, " -> {}", self.outcome)?;
        if let Some(at) = self.at {
            write!(f, " at zxid {}", zxid_text(at))?;
        }
        if self.sync {
            write!(f, " (after sync)")?;
        }
        Ok(())
    }
}

/// A recorded history: all operations of all clients, in any order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    pub ops: Vec<Operation>,
}

impl History {
    /// Parses a history from JSON (format in the module docs). The error is
    /// serde_json's, whose `Display` names the line and column.
    pub fn from_json_str(json: &str) -> Result<History, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Serializes the history as pretty-printed JSON.
    pub fn to_json_string(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// Checks the semantic rules the JSON shape cannot express:
    /// `complete_ns >= invoke_ns`; `complete_ns` is `None` iff the outcome is
    /// `Unknown`; the outcome fits the operation (`Read` only for `Get`,
    /// `Written` only for `Put`, `Cas` only for `Cas`, `Chosen` only for
    /// `Propose`; `Failed` and `Unknown`
    /// for any). Reports the first offending operation by index.
    pub fn validate(&self) -> Result<(), String> {
        for (index, op) in self.ops.iter().enumerate() {
            op.validate().map_err(|why| format!("op #{index} ({op}): {why}"))?;
        }
        Ok(())
    }
}

/// ZooKeeper's packing of a zxid: epoch in the high 32 bits, counter in the
/// low 32.
pub fn pack(epoch: u64, counter: u64) -> u64 {
    debug_assert!(epoch <= u64::from(u32::MAX) && counter <= u64::from(u32::MAX));
    (epoch.min(u64::from(u32::MAX)) << 32) | counter.min(u64::from(u32::MAX))
}

/// A packed zxid as `(epoch, counter)`.
pub fn zxid_text(at: u64) -> String {
    format!("({}, {})", at >> 32, at & u64::from(u32::MAX))
}

impl Operation {
    /// Whether a service whose plain reads may be stale (ZooKeeper's)
    /// still promises this operation is linearizable: every write, and
    /// every read after sync.
    pub fn promised_linearizable(&self) -> bool {
        self.sync || !matches!(self.kind, OpKind::Get { .. })
    }

    fn validate(&self) -> Result<(), String> {
        match (self.complete_ns, &self.outcome) {
            (None, Outcome::Unknown) => {}
            (Some(_), Outcome::Unknown) => return Err("outcome unknown but complete_ns is set".to_string()),
            (None, _) => return Err("complete_ns missing for a known outcome".to_string()),
            (Some(complete_ns), _) => {
                if complete_ns < self.invoke_ns {
                    return Err(format!("complete_ns {complete_ns} is before invoke_ns {}", self.invoke_ns));
                }
            }
        }
        if self.at.is_some() && self.complete_ns.is_none() {
            return Err("`at` is set but the outcome is unknown".to_string());
        }
        if self.sync && !matches!(self.kind, OpKind::Get { .. }) {
            return Err(format!("`sync` is set on {}: only a get follows a sync", self.kind));
        }
        let fits = matches!(
            (&self.kind, &self.outcome),
            (_, Outcome::Failed | Outcome::Unknown)
                | (OpKind::Get { .. }, Outcome::Read { .. })
                | (OpKind::Put { .. }, Outcome::Written)
                | (OpKind::Cas { .. }, Outcome::Cas { .. })
                | (OpKind::Propose { .. }, Outcome::Chosen { .. })
        );
        if fits {
            Ok(())
        } else {
            Err(format!("outcome '{}' does not fit operation {}", self.outcome, self.kind))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: OpKind, outcome: Outcome, invoke_ns: u64, complete_ns: Option<u64>) -> Operation {
        Operation { client: 1, invoke_ns, complete_ns, kind, outcome, at: None, sync: false }
    }

    #[test]
    fn json_round_trip() {
        let history = History {
            ops: vec![
                op(OpKind::Put { key: 1, value: 5 }, Outcome::Written, 0, Some(10)),
                op(OpKind::Get { key: 1 }, Outcome::Read { value: None }, 1, Some(2)),
                op(OpKind::Get { key: 1 }, Outcome::Read { value: Some(5) }, 11, Some(12)),
                op(OpKind::Cas { key: 1, expected: 5, new: 6 }, Outcome::Cas { swapped: true }, 13, Some(14)),
                op(OpKind::Put { key: 2, value: 9 }, Outcome::Unknown, 15, None),
                op(OpKind::Get { key: 2 }, Outcome::Failed, 16, Some(16)),
            ],
        };
        assert_eq!(history.validate(), Ok(()));
        let json = history.to_json_string().expect("serializes");
        let parsed = History::from_json_str(&json).expect("parses");
        assert_eq!(parsed, history);
    }

    #[test]
    fn parse_format_details() {
        let json = r#"{"ops":[
            {"client":1,"invoke_ns":0,"complete_ns":3,"kind":{"op":"get","key":4},"outcome":{"type":"read","value":null}},
            {"client":2,"invoke_ns":1,"kind":{"op":"cas","key":4,"expected":1,"new":2},"outcome":{"type":"unknown"}},
            {"client":3,"invoke_ns":2,"complete_ns":null,"kind":{"op":"put","key":4,"value":1},"outcome":{"type":"unknown"}}
        ]}"#;
        let history = History::from_json_str(json).expect("parses");
        assert_eq!(history.ops.len(), 3);
        assert_eq!(history.ops[0].outcome, Outcome::Read { value: None });
        assert_eq!(history.ops[1].complete_ns, None);
        assert_eq!(history.ops[2].complete_ns, None);
        assert_eq!(history.validate(), Ok(()));
    }

    #[test]
    fn parse_errors_name_line_and_column() {
        let unknown_field = "{\"ops\":[\n{\"client\":1,\"invoke_ns\":0,\"complete_ns\":1,\n\"kind\":{\"op\":\"get\",\"key\":1,\"bogus\":2},\"outcome\":{\"type\":\"read\",\"value\":1}}]}";
        let err = History::from_json_str(unknown_field).expect_err("unknown field");
        assert_eq!(err.line(), 3);
        assert!(err.to_string().contains("line 3"), "{err}");

        let unknown_op_field = r#"{"ops":[{"client":1,"invoke_ns":0,"complete_ns":1,"kind":{"op":"get","key":1},"outcome":{"type":"written"},"extra":1}]}"#;
        assert!(History::from_json_str(unknown_op_field).is_err());

        let bad_tag = r#"{"ops":[{"client":1,"invoke_ns":0,"complete_ns":1,"kind":{"op":"delete","key":1},"outcome":{"type":"written"}}]}"#;
        assert!(History::from_json_str(bad_tag).is_err());

        let unknown_top = r#"{"ops":[],"comment":"x"}"#;
        assert!(History::from_json_str(unknown_top).is_err());

        let truncated = "{\"ops\":[";
        let err = History::from_json_str(truncated).expect_err("truncated");
        assert!(err.to_string().contains("column"), "{err}");
    }

    #[test]
    fn validate_rejects_bad_operations() {
        let cases = [
            op(OpKind::Get { key: 1 }, Outcome::Written, 0, Some(1)),
            op(OpKind::Put { key: 1, value: 1 }, Outcome::Read { value: Some(1) }, 0, Some(1)),
            op(OpKind::Put { key: 1, value: 1 }, Outcome::Cas { swapped: true }, 0, Some(1)),
            op(OpKind::Cas { key: 1, expected: 1, new: 2 }, Outcome::Written, 0, Some(1)),
            op(OpKind::Put { key: 1, value: 1 }, Outcome::Written, 5, Some(4)),
            op(OpKind::Put { key: 1, value: 1 }, Outcome::Written, 5, None),
            op(OpKind::Get { key: 1 }, Outcome::Failed, 5, None),
            op(OpKind::Put { key: 1, value: 1 }, Outcome::Unknown, 5, Some(6)),
        ];
        for bad in cases {
            let history = History { ops: vec![op(OpKind::Get { key: 1 }, Outcome::Failed, 0, Some(0)), bad.clone()] };
            let err = history.validate().expect_err("invalid");
            assert!(err.starts_with("op #1 "), "{err} for {bad:?}");
        }
        let fine = History {
            ops: vec![
                op(OpKind::Get { key: 1 }, Outcome::Unknown, 5, None),
                op(OpKind::Put { key: 1, value: 1 }, Outcome::Failed, 5, Some(5)),
                op(OpKind::Cas { key: 1, expected: 1, new: 2 }, Outcome::Cas { swapped: false }, 5, Some(9)),
            ],
        };
        assert_eq!(fine.validate(), Ok(()));
    }
}
