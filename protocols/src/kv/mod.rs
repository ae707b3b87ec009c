//! The replicated key-value store every consensus protocol here serves, and
//! the pieces around it that protocols share: commands and results, the state
//! machine with its client sessions (so a retried write applies once), the
//! request/reply messages, and the client actor ([`client::KvClient`]).

pub mod client;
pub mod workload;

use std::collections::{BTreeMap, VecDeque};

use faultline_sim::NodeId;

pub use crate::check::history::{Key, OpKind as Command, Outcome, Value};

/// The messages of a world whose nodes speak peer messages `P` and serve
/// key-value clients.
pub type KvMsg<P> = crate::client::Envelope<P, Request, Reply>;

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

/// One client's session: results it may still retry, and the watermark
/// below which every operation is acknowledged and must never run again.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
struct Session {
    acknowledged_below: u64,
    /// Sorted by sequence number; sequence numbers mostly arrive in order,
    /// so a deque takes them at the back without allocating per result.
    results: VecDeque<(u64, KvResult)>,
}

/// How [`KvStore::apply_request`] treated a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Ran against the store.
    Executed(KvResult),
    /// A retry of an operation already applied: its first result, not run again.
    Cached(KvResult),
    /// A late copy of an operation the client has acknowledged: nothing done.
    Acknowledged,
}

impl Applied {
    /// The result to answer with; `None` for an acknowledged duplicate.
    pub fn result(self) -> Option<KvResult> {
        match self {
            Applied::Executed(r) | Applied::Cached(r) => Some(r),
            Applied::Acknowledged => None,
        }
    }
}

/// The deterministic state machine: a map of registers plus, per client, the
/// results of operations it may still retry.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct KvStore {
    data: BTreeMap<Key, Value>,
    sessions: BTreeMap<u32, Session>,
}

impl KvStore {
    pub fn get(&self, key: Key) -> Option<Value> {
        self.data.get(&key).copied()
    }

    /// Applies `command` once: a retry of an operation already applied
    /// returns the first result without applying again, and a late duplicate
    /// of one the client has acknowledged does nothing and returns `None` —
    /// unless `dedup` is off (a bug knob), when every copy executes.
    pub fn apply(&mut self, request: &Request, dedup: bool) -> Option<KvResult> {
        self.apply_request(request, dedup).result()
    }

    /// [`KvStore::apply`], saying which way the request went, so a node can
    /// mark the rare ways as coverage points.
    pub fn apply_request(&mut self, request: &Request, dedup: bool) -> Applied {
        if !dedup {
            return Applied::Executed(self.execute(&request.command));
        }
        let OpId { client, seq } = request.op;
        let session = self.sessions.entry(client).or_default();
        if seq < session.acknowledged_below {
            return Applied::Acknowledged;
        }
        if request.first_outstanding > session.acknowledged_below {
            session.acknowledged_below = request.first_outstanding;
            while session.results.front().is_some_and(|&(s, _)| s < request.first_outstanding) {
                session.results.pop_front();
            }
        }
        let at = match session.results.binary_search_by_key(&seq, |&(s, _)| s) {
            Ok(i) => return Applied::Cached(session.results[i].1.clone()),
            Err(at) => at,
        };
        let result = self.execute(&request.command);
        if !matches!(request.command, Command::Get { .. }) {
            let session = self.sessions.entry(client).or_default();
            session.results.insert(at, (seq, result.clone()));
            while session.results.len() > MAX_SESSION_RESULTS {
                session.results.pop_front();
            }
        }
        Applied::Executed(result)
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
        assert_eq!(kv.apply(&cas, true), Some(KvResult::Cas(true)));
        kv.apply(&req(2, 1, Command::Put { key: 1, value: 0 }), true);
        // The retry returns the first result and does not swap again.
        assert_eq!(kv.apply(&cas, true), Some(KvResult::Cas(true)));
        assert_eq!(kv.get(1), Some(0));
        // Without deduplication the retry applies a second time.
        assert_eq!(kv.apply(&cas, false), Some(KvResult::Cas(true)));
        assert_eq!(kv.get(1), Some(5));
    }

    #[test]
    fn a_late_duplicate_of_an_acknowledged_write_does_nothing() {
        let mut kv = KvStore::default();
        let old = req(1, 0, Command::Put { key: 1, value: 10 });
        kv.apply(&old, true);
        // Seq 1 tells the store that seq 0 is acknowledged.
        kv.apply(&req(1, 1, Command::Put { key: 1, value: 11 }), true);
        assert_eq!(kv.apply(&old, true), None);
        assert_eq!(kv.get(1), Some(11), "the old write must not run again");
    }

    #[test]
    fn acknowledged_results_are_forgotten() {
        let mut kv = KvStore::default();
        for seq in 0..10 {
            kv.apply(&req(1, seq, Command::Put { key: seq, value: seq }), true);
        }
        assert_eq!(kv.sessions[&1].results.len(), 1, "each request acknowledged everything before it");
    }
}
