//! The replicated key-value store every consensus protocol here serves, and
//! the pieces around it that protocols share: commands and results, the state
//! machine with its client sessions (so a retried write applies once), the
//! request/reply messages, and the client actor ([`client::KvClient`]).

pub mod client;
pub mod workload;

use std::collections::{BTreeMap, VecDeque};

use faultline_sim::trace::stable_hash;
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
    /// A propose: the value the key holds after it (write-once).
    Chosen(Value),
}

impl KvResult {
    pub fn outcome(&self) -> Outcome {
        match *self {
            KvResult::Read(value) => Outcome::Read { value },
            KvResult::Written => Outcome::Written,
            KvResult::Cas(swapped) => Outcome::Cas { swapped },
            KvResult::Chosen(value) => Outcome::Chosen { value },
        }
    }
}

/// A client's request as it travels to a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub op: OpId,
    pub command: Command,
    /// Every sequence number below this one has completed at the client and
    /// will never be retried, so its cached result may be forgotten
    /// (the session-table cleanup of Ongaro's dissertation, §6.3).
    pub first_outstanding: u64,
    /// The highest position in the service's order this client has been
    /// answered at ([`Reply::Served`]; ZooKeeper's last zxid seen): a
    /// server behind it refuses the client. 0 before any such answer.
    pub seen: u64,
    /// A read preceded by a `sync`: the server catches up with its leader
    /// before it reads.
    pub sync: bool,
}

impl Request {
    /// A request with no session position and no sync.
    pub fn new(op: OpId, command: Command, first_outstanding: u64) -> Request {
        Request { op, command, first_outstanding, seen: 0, sync: false }
    }
}

// Messages feed the run fingerprint through `Hash`. `seen` and `sync` hash
// only when set, so services that never set them hash their requests as
// they did before the fields existed (and keep their pinned fingerprints).
impl std::hash::Hash for Request {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.op.hash(state);
        self.command.hash(state);
        self.first_outstanding.hash(state);
        if self.seen != 0 || self.sync {
            self.seen.hash(state);
            self.sync.hash(state);
        }
    }
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
    /// [`Reply::Done`] from a service that says where in its total order it
    /// answered (ZAB: the zxid the server had delivered). The client
    /// records it with the operation and sends it back as `seen`.
    Served {
        op: OpId,
        result: KvResult,
        at: u64,
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
///
/// It keeps a digest of its whole state, updated with every change: the
/// wrapping sum of a hash of each register, each session's watermark and
/// each cached result. Two stores with the same contents have the same
/// digest whatever order they got there in, so a node can report the state
/// it holds at an index (after applying, snapshotting or installing a
/// snapshot) in one number, at no cost per report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvStore {
    data: BTreeMap<Key, Value>,
    sessions: BTreeMap<u32, Session>,
    digest: u64,
}

// The digest is a function of the rest, so it is left out of the hash: a
// snapshot in a message hashes as it did before the digest existed.
impl std::hash::Hash for KvStore {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.data.hash(state);
        self.sessions.hash(state);
    }
}

fn register_term(key: Key, value: Value) -> u64 {
    stable_hash(&(0u8, key, value))
}

fn watermark_term(client: u32, below: u64) -> u64 {
    if below == 0 {
        0
    } else {
        stable_hash(&(1u8, client, below))
    }
}

fn result_term(client: u32, seq: u64, result: &KvResult) -> u64 {
    stable_hash(&(2u8, client, seq, result))
}

impl KvStore {
    /// The digest of the whole state (see the type's documentation).
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The digest computed from scratch, for tests of the running one.
    pub fn digest_from_scratch(&self) -> u64 {
        let mut d = 0u64;
        for (&k, &v) in &self.data {
            d = d.wrapping_add(register_term(k, v));
        }
        for (&client, session) in &self.sessions {
            d = d.wrapping_add(watermark_term(client, session.acknowledged_below));
            for (seq, result) in &session.results {
                d = d.wrapping_add(result_term(client, *seq, result));
            }
        }
        d
    }

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
            return Applied::Executed(execute(&mut self.data, &mut self.digest, &request.command));
        }
        let OpId { client, seq } = request.op;
        let session = self.sessions.entry(client).or_default();
        if seq < session.acknowledged_below {
            return Applied::Acknowledged;
        }
        let mut digest = self.digest;
        if request.first_outstanding > session.acknowledged_below {
            digest = digest.wrapping_sub(watermark_term(client, session.acknowledged_below));
            session.acknowledged_below = request.first_outstanding;
            digest = digest.wrapping_add(watermark_term(client, session.acknowledged_below));
            while session.results.front().is_some_and(|&(s, _)| s < request.first_outstanding) {
                if let Some((s, r)) = session.results.pop_front() {
                    digest = digest.wrapping_sub(result_term(client, s, &r));
                }
            }
        }
        let at = match session.results.binary_search_by_key(&seq, |&(s, _)| s) {
            Ok(i) => {
                let cached = session.results[i].1.clone();
                self.digest = digest;
                return Applied::Cached(cached);
            }
            Err(at) => at,
        };
        let result = execute(&mut self.data, &mut digest, &request.command);
        if !matches!(request.command, Command::Get { .. }) {
            digest = digest.wrapping_add(result_term(client, seq, &result));
            session.results.insert(at, (seq, result.clone()));
            while session.results.len() > MAX_SESSION_RESULTS {
                if let Some((s, r)) = session.results.pop_front() {
                    digest = digest.wrapping_sub(result_term(client, s, &r));
                }
            }
        }
        self.digest = digest;
        Applied::Executed(result)
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Writes `value` to `key`, keeping `digest` the store's digest.
fn set(data: &mut BTreeMap<Key, Value>, digest: &mut u64, key: Key, value: Value) {
    if let Some(old) = data.insert(key, value) {
        *digest = digest.wrapping_sub(register_term(key, old));
    }
    *digest = digest.wrapping_add(register_term(key, value));
}

/// Runs `command` on the registers (the session bookkeeping is the
/// caller's).
fn execute(data: &mut BTreeMap<Key, Value>, digest: &mut u64, command: &Command) -> KvResult {
    match *command {
        Command::Get { key } => KvResult::Read(data.get(&key).copied()),
        Command::Put { key, value } => {
            set(data, digest, key, value);
            KvResult::Written
        }
        Command::Cas { key, expected, new } => {
            if data.get(&key) == Some(&expected) {
                set(data, digest, key, new);
                KvResult::Cas(true)
            } else {
                KvResult::Cas(false)
            }
        }
        Command::Propose { key, value } => match data.get(&key).copied() {
            Some(chosen) => KvResult::Chosen(chosen),
            None => {
                set(data, digest, key, value);
                KvResult::Chosen(value)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(client: u32, seq: u64, command: Command) -> Request {
        Request::new(OpId { client, seq }, command, seq)
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

    /// The running digest equals the digest computed from the contents, and
    /// tells different states apart, through writes, swaps, retries,
    /// acknowledgements and sessions that overflow their result cache.
    #[test]
    fn the_running_digest_is_the_digest_of_the_contents() {
        use rand::Rng;
        let mut rng = faultline_sim::rng::stream(9, faultline_sim::rng::Stream::Explore);
        let mut kv = KvStore::default();
        let mut seqs = [0u64; 3];
        let mut digests = std::collections::BTreeSet::new();
        for step in 0..5_000 {
            let client = rng.gen_range(0..3u32);
            let key = rng.gen_range(0..4u64);
            let command = match rng.gen_range(0..3) {
                0 => Command::Get { key },
                1 => Command::Put { key, value: rng.gen_range(0..5) },
                _ => Command::Cas { key, expected: rng.gen_range(0..5), new: rng.gen_range(0..5) },
            };
            // Mostly new operations, sometimes a retry of an older one; the
            // watermark moves now and then, and stays put long enough for
            // a session to pass its result limit.
            let seq = if rng.gen_bool(0.1) {
                seqs[client as usize].saturating_sub(rng.gen_range(0..3))
            } else {
                seqs[client as usize] += 1;
                seqs[client as usize]
            };
            let first_outstanding = if step % 2_000 < 1_500 { 0 } else { seq.saturating_sub(rng.gen_range(0..4)) };
            kv.apply(&Request::new(OpId { client, seq }, command, first_outstanding), true);
            assert_eq!(kv.digest(), kv.digest_from_scratch(), "step {step}");
            digests.insert(kv.digest());
        }
        assert!(kv.sessions.values().any(|s| s.results.len() == MAX_SESSION_RESULTS) || digests.len() > 1000);
        let mut other = kv.clone();
        other.apply(&req(7, 0, Command::Put { key: 99, value: 1 }), true);
        assert_ne!(other.digest(), kv.digest(), "a different state has a different digest");
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
