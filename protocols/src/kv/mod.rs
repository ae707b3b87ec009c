//! The replicated key-value store every consensus protocol here serves, and
//! the pieces around it that protocols share: commands and results, the state
//! machine with its client sessions (so a retried write applies once), the
//! request/reply messages, and the client actor ([`client::KvClient`]).

pub mod client;

use std::collections::BTreeMap;

use faultline_sim::NodeId;

pub use crate::check::history::{Key, OpKind as Command, Outcome, Value};

/// Identifies one client operation: the client and its own sequence number.
/// Retries reuse it, which is what deduplication keys on.
#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub struct OpId {
    pub client: u32,
    pub seq: u64,
}

/// What applying a command produced.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum KvResult {
    Read(Option<Value>),
    Written,
    Cas(bool),
}

impl KvResult {
    pub fn outcome(&self) -> Outcome {
        match *self {
            KvResult::Read(value) => Outcome::Read { value },
            KvResult::Written => Outcome::Written,
            KvResult::Cas(swapped) => Outcome::Cas { swapped },
        }
    }
}

/// A client's request as it travels to a node.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Request {
    pub op: OpId,
    pub command: Command,
    /// Every sequence number below this one has completed at the client and
    /// will never be retried, so its cached result may be forgotten
    /// (the session-table cleanup of Ongaro's dissertation, §6.3).
    pub first_outstanding: u64,
}

/// A node's answer.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum Reply {
    Done {
        op: OpId,
        result: KvResult,
    },
    /// This node cannot serve the request; `leader` is its best guess.
    Redirect {
        op: OpId,
        leader: Option<NodeId>,
    },
}

/// The most results a session keeps; older ones are forgotten even if the
/// client never acknowledged them (bounds memory under a misbehaving client).
pub const MAX_SESSION_RESULTS: usize = 1_024;

/// The deterministic state machine: a map of registers plus, per client, the
/// results of operations it may still retry.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct KvStore {
    data: BTreeMap<Key, Value>,
    sessions: BTreeMap<u32, BTreeMap<u64, KvResult>>,
}

impl KvStore {
    pub fn get(&self, key: Key) -> Option<Value> {
        self.data.get(&key).copied()
    }

    /// Applies `command` once: a retry of an operation already applied
    /// returns the first result without applying again — unless `dedup` is
    /// off (a bug knob).
    pub fn apply(&mut self, request: &Request, dedup: bool) -> KvResult {
        let OpId { client, seq } = request.op;
        if dedup {
            let session = self.sessions.entry(client).or_default();
            // Forget results the client has acknowledged.
            while session.first_key_value().is_some_and(|(&s, _)| s < request.first_outstanding) {
                session.pop_first();
            }
            if let Some(result) = session.get(&seq) {
                return result.clone();
            }
        }
        let result = self.execute(&request.command);
        if dedup && !matches!(request.command, Command::Get { .. }) {
            let session = self.sessions.entry(client).or_default();
            session.insert(seq, result.clone());
            while session.len() > MAX_SESSION_RESULTS {
                session.pop_first();
            }
        }
        result
    }

    fn execute(&mut self, command: &Command) -> KvResult {
        match *command {
            Command::Get { key } => KvResult::Read(self.get(key)),
            Command::Put { key, value } => {
                self.data.insert(key, value);
                KvResult::Written
            }
            Command::Cas { key, expected, new } => {
                if self.data.get(&key) == Some(&expected) {
                    self.data.insert(key, new);
                    KvResult::Cas(true)
                } else {
                    KvResult::Cas(false)
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(client: u32, seq: u64, command: Command) -> Request {
        Request { op: OpId { client, seq }, command, first_outstanding: seq }
    }

    #[test]
    fn a_retried_write_applies_once() {
        let mut kv = KvStore::default();
        let cas = req(1, 0, Command::Cas { key: 1, expected: 0, new: 5 });
        kv.apply(&req(2, 0, Command::Put { key: 1, value: 0 }), true);
        assert_eq!(kv.apply(&cas, true), KvResult::Cas(true));
        kv.apply(&req(2, 1, Command::Put { key: 1, value: 0 }), true);
        // The retry returns the first result and does not swap again.
        assert_eq!(kv.apply(&cas, true), KvResult::Cas(true));
        assert_eq!(kv.get(1), Some(0));
        // Without deduplication the retry applies a second time.
        assert_eq!(kv.apply(&cas, false), KvResult::Cas(true));
        assert_eq!(kv.get(1), Some(5));
    }

    #[test]
    fn acknowledged_results_are_forgotten() {
        let mut kv = KvStore::default();
        for seq in 0..10 {
            kv.apply(&req(1, seq, Command::Put { key: seq, value: seq }), true);
        }
        assert_eq!(kv.sessions[&1].len(), 1, "each request acknowledged everything before it");
    }
}
