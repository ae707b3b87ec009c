//! Linearizability checker for key-value histories (see `history.rs`).
//!
//! A history is linearizable if every operation can be given a single
//! instant (its linearization point) between its invocation and its
//! completion such that applying the operations in that order to a
//! sequential register reproduces every observed outcome (Herlihy & Wing
//! 1990).
//!
//! This module's search is specialised to the register ([`Model::Register`]).
//! Other models — the write-once register ([`Model::WriteOnce`]) and the
//! string key-value store of `kv.rs` — are checked by the generic search of
//! `search.rs` against the sequential specifications of `model.rs` and
//! `kv.rs`, under the same [`Budget`].
//!
//! # Algorithm
//!
//! * **Locality.** Linearizability is compositional, so the history is split
//!   per key and each key is checked on its own, in ascending key order; the
//!   first violating key is reported.
//! * **Search.** Per key, a depth-first search in the style of Wing & Gong
//!   ("Testing and verifying concurrent objects", JPDC 1993) with the
//!   improvements of Lowe ("Testing for linearizability", CCPE 2017), as also
//!   used by Porcupine. Call and return events are kept in one time-ordered,
//!   doubly linked entry list (ties: calls before returns, so operations
//!   whose intervals touch are concurrent). The candidates for the next
//!   linearization point are the operations whose call precedes the first
//!   remaining return (the *window*); linearizing an operation "lifts" its
//!   two entries out of the list in O(1) and backtracking puts them back
//!   (dancing links). Backtracking uses an explicit stack, never recursion.
//! * **Memoization** (Lowe): every configuration reached, i.e. (set of
//!   linearized operations, register value), goes into a hash set; reaching
//!   a configuration again is pruned because its subtree was already
//!   explored. The set's hash is maintained incrementally (Zobrist hashing).
//!   A configuration is stored compactly and exactly: every completed
//!   operation that returns before the first one not yet linearized is
//!   linearized, so the set is that position plus a bitmap of the few
//!   operations linearized ahead of it (in return order), plus the non-zero
//!   words of a bitmap over the timed-out operations. An entry costs tens of
//!   bytes, not one bit per operation of the key.
//! * **Failed operations** are dropped: they did not take effect.
//! * **Unknown outcomes** (timeouts) return at +infinity: they may take
//!   effect at any point after their invocation, or never. A timed-out get
//!   carries no information and is dropped. Timed-out puts and cases are kept
//!   in a pool instead of the entry list and are linearized *just in time*:
//!   only as a short chain applied immediately before a completed operation
//!   that is not legal in the current state but becomes legal after the
//!   chain. Any linearization can be rearranged into that form (a timed-out
//!   operation that nothing depends on can be moved later or dropped, and one
//!   that is immediately overwritten can be dropped), so no verdict changes,
//!   while the search no longer branches on every subset of pending
//!   timed-out operations. Timed-out operations with the same effect are
//!   interchangeable; only the earliest-invoked unused one is ever tried. The
//!   search succeeds once every operation with a known completion is
//!   linearized; timed-out operations never have to be.
//!
//! Further reductions, each of which keeps the verdict exact:
//!
//! * A candidate that never changes the register (a read, a cas that did not
//!   swap) and is legal now is linearized at once, with no alternative tried:
//!   moving it to the front of any valid continuation keeps it valid. Such a
//!   candidate is found through per-value indexes, without scanning the
//!   window.
//! * Of several candidates with the same action (e.g. two puts of one value)
//!   only the one that completes first is tried: swapping two such
//!   operations in a linearization keeps it valid.
//! * Lookahead: a node is abandoned as soon as some operation not yet
//!   linearized needs a register value (a read's result, a swapping cas's
//!   expected value) that the register does not hold and that no remaining
//!   write invoked before that operation completed can produce.
//! * A write whose value no operation can ever observe as written by it (every
//!   observer is separated from it by another write in real time) leaves the
//!   register in a state that nothing placed before the next write can tell
//!   apart from any other such state, so configurations merge those states.
//!
//! Moves are generated lazily, in stages, so that a node whose first move
//! leads on costs a few index look-ups rather than a scan of the window (the
//! order is a heuristic only: every move is still tried before a node is
//! abandoned): first the operation that completed first, if it is a legal
//! write (it cannot wait); then, if it needs a value the register does not
//! hold, the writes towards that value, and every legal swapping cas (each
//! can be placed only while the register holds the value it expects); then
//! every other legal put, the ones producing a value some pending operation
//! waits for first, each class by completion time; then chains of timed-out
//! operations.
//!
//! Everything is deterministic: hash maps are used for lookups only and all
//! iteration is over sorted vectors.
//!
//! # Budget
//!
//! The search counts *steps*, summed over all keys: one per unit of work —
//! every candidate move examined (one model application), every window entry
//! or index element visited, every word of a configuration built or compared,
//! every step of the chain search for timed-out operations — so its time is
//! proportional to the steps it takes. (Splitting the history per key and the
//! per-key indexes cost O(n log n) before the search starts.) If the count
//! exceeds [`Budget::max_steps`] the verdict is [`Verdict::Unknown`], never
//! `Ok`.
//!
//! The memory the search holds — the memo table, the node stack and its
//! moves, the per-key indexes — is counted too, by a deterministic estimate:
//! entries times their size, spare capacity included (one control byte per
//! slot for hash tables), never the allocator or the machine. If it exceeds
//! [`Budget::max_memory`] the verdict is likewise `Unknown`, the same one on
//! every machine.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::mem::size_of;

use super::history::{History, Key, OpKind, Operation, Outcome, Value};

/// Limits on the work and the memory the checker may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Maximum number of search steps, summed over all keys.
    pub max_steps: u64,
    /// Maximum bytes the search may hold at once, by its own deterministic
    /// estimate (see the module docs). Keys are checked one after another,
    /// so this bounds the largest key's search.
    pub max_memory: u64,
}

impl Budget {
    /// Ten million steps: ample for large histories of a correct system.
    pub const DEFAULT_MAX_STEPS: u64 = 10_000_000;
    /// The default memory bound, the same as a run's
    /// (`faultline_sim::Limits::DEFAULT_MAX_MEMORY`, 384 MiB).
    pub const DEFAULT_MAX_MEMORY: u64 = faultline_sim::Limits::DEFAULT_MAX_MEMORY;

    /// `max_steps` steps and the default memory bound.
    pub fn new(max_steps: u64) -> Budget {
        Budget { max_steps, max_memory: Self::DEFAULT_MAX_MEMORY }
    }

    /// The same budget with a memory bound of `max_memory` bytes.
    pub fn with_max_memory(self, max_memory: u64) -> Budget {
        Budget { max_memory, ..self }
    }
}

impl Default for Budget {
    /// [`Budget::DEFAULT_MAX_STEPS`] and [`Budget::DEFAULT_MAX_MEMORY`].
    fn default() -> Self {
        Budget::new(Self::DEFAULT_MAX_STEPS)
    }
}

/// Result of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The history is linearizable.
    Ok,
    /// The history is not linearizable; details for the first violating key.
    Violation(Violation),
    /// No verdict: the budget ran out, or the history is malformed.
    Unknown { reason: String },
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Ok)
    }

    pub fn is_violation(&self) -> bool {
        matches!(self, Verdict::Violation(_))
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Verdict::Unknown { .. })
    }
}

/// Why a key's history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The violating key (the smallest one, if several violate).
    pub key: Key,
    /// Human-readable explanation (several lines): the longest linearizable
    /// prefix the search found (its last ops, each with client, kind, times
    /// and outcome), the register value after it, why it cannot be extended,
    /// and the ops pending at that point.
    pub message: String,
    /// Indices into `History::ops` of the ops that could not be placed after
    /// that prefix: the op whose outcome needs a value that can no longer be
    /// produced, if the search identified one; otherwise the pending ops
    /// (the first 32 by invocation, if there are more).
    pub stuck_ops: Vec<usize>,
}

/// Outcome of [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub verdict: Verdict,
    /// Search steps used, summed over the keys checked (at most one past
    /// [`Budget::max_steps`]).
    pub steps: u64,
    /// Keys whose search finished, including a violating one. (Keys whose
    /// only ops are failed ones or timed-out gets are not searched.)
    pub keys_checked: usize,
    /// The most memory the search held at once, in bytes, by the estimate
    /// compared with [`Budget::max_memory`].
    pub peak_memory: u64,
}

/// A number of bytes, exactly, for a message: "512 MiB" when it is a whole
/// number of a binary unit, else "1809 bytes".
pub fn describe_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    match UNITS.iter().find(|&&(_, size)| bytes >= size && bytes.is_multiple_of(size)) {
        Some(&(unit, size)) => format!("{} {unit}", bytes / size),
        None if bytes == 1 => "1 byte".to_string(),
        None => format!("{bytes} bytes"),
    }
}

/// The sequential object a history is checked against, one per key (the
/// models are described in `model.rs`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Model {
    /// A register: get, put, cas; checked by this module's optimised search.
    Register,
    /// A write-once register: get, propose; checked by the generic search
    /// (`search.rs`) with `model::WriteOnceSpec`.
    WriteOnce,
}

/// Checks `history` for linearizability against `model`, per key, within
/// `budget` (exhausting it is [`Verdict::Unknown`], never `Ok`).
pub fn check_model(history: &History, model: Model, budget: &Budget) -> Report {
    match model {
        Model::Register => check(history, budget),
        Model::WriteOnce => super::model::check_write_once(history, budget),
    }
}

/// Checks `history` for linearizability against a register-per-key model
/// (all keys start absent). Keys are checked in ascending order and the
/// first violating one is reported. A history that fails
/// [`History::validate`] gets [`Verdict::Unknown`].
pub fn check(history: &History, budget: &Budget) -> Report {
    if let Err(why) = history.validate() {
        return Report {
            verdict: Verdict::Unknown { reason: format!("invalid history: {why}") },
            steps: 0,
            keys_checked: 0,
            peak_memory: 0,
        };
    }
    if let Some(index) = history.ops.iter().position(|op| matches!(op.kind, OpKind::Propose { .. })) {
        return Report {
            verdict: Verdict::Unknown {
                reason: format!("op #{index} is a propose, which the register model does not have"),
            },
            steps: 0,
            keys_checked: 0,
            peak_memory: 0,
        };
    }

    let mut by_key: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (index, op) in history.ops.iter().enumerate() {
        if Action::from_op(op).is_some() {
            by_key.entry(op.kind.key()).or_default().push(index);
        }
    }
    // The index lists, and a B-tree node's worth of keys and headers each.
    let by_key_bytes: u64 =
        by_key.values().map(|indices| vec_bytes(indices) + (size_of::<Key>() + size_of::<Vec<usize>>()) as u64).sum();

    let mut meter = Meter { steps: 0, max_steps: budget.max_steps, max_memory: budget.max_memory, peak_memory: 0 };
    let mut keys_checked = 0usize;
    for (&key, indices) in &by_key {
        let problem = KeyProblem::new(history, indices);
        let result = Search::new(&problem, &mut meter, by_key_bytes + problem.heap_bytes()).run();
        // What ran out; for memory, also the knob that raises it.
        let exhausted = |what: String, knob: &str| Verdict::Unknown {
            reason: format!(
                "{what} exhausted while checking key {key} ({} ops; {keys_checked} of {} keys fully checked){knob}",
                indices.len(),
                by_key.len()
            ),
        };
        let verdict = match result {
            SearchResult::Linearizable => {
                keys_checked += 1;
                continue;
            }
            SearchResult::NotLinearizable(dead_end) => {
                keys_checked += 1;
                Verdict::Violation(describe_violation(history, key, &problem, &dead_end))
            }
            SearchResult::Exhausted(Exhausted::Steps) => exhausted(format!("step budget of {}", budget.max_steps), ""),
            SearchResult::Exhausted(Exhausted::Memory) => {
                exhausted(format!("memory budget of {}", describe_bytes(budget.max_memory)), " (limits.max_memory)")
            }
        };
        return Report { verdict, steps: meter.steps, keys_checked, peak_memory: meter.peak_memory };
    }
    Report { verdict: Verdict::Ok, steps: meter.steps, keys_checked, peak_memory: meter.peak_memory }
}

/// The steps taken and the memory held, against the budget.
struct Meter {
    steps: u64,
    max_steps: u64,
    max_memory: u64,
    peak_memory: u64,
}

/// Which bound of the [`Budget`] ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exhausted {
    Steps,
    Memory,
}

/// Picks an op's slot and sort key for an index (`None`: not in it).
type SlotPick<'a> = &'a dyn Fn(usize, &KeyOp) -> Option<(u32, u64)>;

/// Per slot, the `(sort key, op)` pairs of the ops `pick` assigns to it.
fn bucket_by_slot(ops: &[KeyOp], slots: usize, pick: SlotPick<'_>) -> Vec<Vec<(u64, u32)>> {
    let mut per_slot: Vec<Vec<(u64, u32)>> = Vec::new();
    per_slot.resize_with(slots, Vec::new);
    for (index, op) in ops.iter().enumerate() {
        if let Some((slot, key)) = pick(index, op) {
            per_slot[slot as usize].push((key, index as u32));
        }
    }
    per_slot
}

/// Heap bytes of a vector's buffer, spare capacity included.
fn vec_bytes<T>(v: &Vec<T>) -> u64 {
    (v.capacity() * size_of::<T>()) as u64
}

/// Heap bytes of a vector of vectors.
fn nested_vec_bytes<T>(v: &Vec<Vec<T>>) -> u64 {
    vec_bytes(v) + v.iter().map(vec_bytes).sum::<u64>()
}

/// Heap bytes of a hash table holding `capacity` entries of `(K, V)`: a
/// SwissTable keeps at least 8 slots per 7 entries, each with a control byte.
fn table_bytes<K, V>(capacity: usize) -> u64 {
    (capacity as u64).div_ceil(7) * 8 * (size_of::<(K, V)>() as u64 + 1)
}

/// Register value: `None` = key absent.
type State = Option<Value>;

/// An operation reduced to what the search needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Action {
    Read(State),
    Put(Value),
    CasSwapped {
        expected: Value,
        new: Value,
    },
    CasNotSwapped {
        expected: Value,
    },
    /// Timed-out put: sets the value at some point, or never.
    MaybePut(Value),
    /// Timed-out cas: may swap (if the value matches) at some point, or never.
    MaybeCas {
        expected: Value,
        new: Value,
    },
}

impl Action {
    /// `None` for operations that carry no constraint: failed ones, timed-out
    /// gets and timed-out cases that could never change the value. (Outcomes
    /// that do not fit the operation are rejected by validation beforehand.)
    fn from_op(op: &Operation) -> Option<Action> {
        match (&op.kind, &op.outcome) {
            (_, Outcome::Failed) => None,
            (OpKind::Get { .. }, Outcome::Read { value }) => Some(Action::Read(*value)),
            (OpKind::Get { .. }, _) => None,
            (OpKind::Put { value, .. }, Outcome::Written) => Some(Action::Put(*value)),
            (OpKind::Put { value, .. }, Outcome::Unknown) => Some(Action::MaybePut(*value)),
            (OpKind::Put { .. }, _) => None,
            (OpKind::Cas { expected, new, .. }, Outcome::Cas { swapped: true }) => {
                Some(Action::CasSwapped { expected: *expected, new: *new })
            }
            (OpKind::Cas { expected, .. }, Outcome::Cas { swapped: false }) => {
                Some(Action::CasNotSwapped { expected: *expected })
            }
            (OpKind::Cas { expected, new, .. }, Outcome::Unknown) if expected != new => {
                Some(Action::MaybeCas { expected: *expected, new: *new })
            }
            (OpKind::Cas { .. }, _) => None,
            // Refused by `check` before any search: the register has no
            // write-once operation.
            (OpKind::Propose { .. }, _) => None,
        }
    }

    fn is_maybe(self) -> bool {
        matches!(self, Action::MaybePut(_) | Action::MaybeCas { .. })
    }

    /// A completed op that never changes the register (a read, a cas that
    /// did not swap, a cas that swapped a value for itself).
    fn never_changes(self) -> bool {
        match self {
            Action::Read(_) | Action::CasNotSwapped { .. } => true,
            Action::CasSwapped { expected, new } => expected == new,
            _ => false,
        }
    }

    /// Completed operation: the state after it, if its outcome is possible
    /// in `state`.
    fn apply_completed(self, state: State) -> Option<State> {
        match self {
            Action::Read(value) => (state == value).then_some(state),
            Action::Put(value) => Some(Some(value)),
            Action::CasSwapped { expected, new } => (state == Some(expected)).then_some(Some(new)),
            Action::CasNotSwapped { expected } => (state != Some(expected)).then_some(state),
            Action::MaybePut(_) | Action::MaybeCas { .. } => None,
        }
    }

    /// Timed-out operation: the state after it, if it changes `state`.
    fn apply_maybe(self, state: State) -> Option<State> {
        match self {
            Action::MaybePut(value) => (state != Some(value)).then_some(Some(value)),
            Action::MaybeCas { expected, new } => (state == Some(expected)).then_some(Some(new)),
            _ => None,
        }
    }
}

/// One operation of the key being checked.
struct KeyOp {
    /// Index into `History::ops`.
    history_index: usize,
    invoke_ns: u64,
    /// `None` for timed-out operations (return at +infinity).
    complete_ns: Option<u64>,
    action: Action,
}

const NONE: u32 = u32::MAX;

/// Value slot of the absent register.
const ABSENT_SLOT: u32 = 0;

/// Timed-out operations with one effect, in invocation order. The search
/// always takes the first unused one, so the used ones are a prefix.
struct Group {
    ops: Vec<u32>,
    effect: Action,
}

/// Ops sorted by one key, with that key per op for binary searches and,
/// per op of the key's problem, its position in the list (`NONE` if absent).
#[derive(Default)]
struct SortedOps<K> {
    ops: Vec<u32>,
    keys: Vec<K>,
}

impl<K: Copy + Ord> SortedOps<K> {
    /// Sorts `(key, op)` pairs and records each op's position in `rank`.
    fn new(mut pairs: Vec<(K, u32)>, rank: &mut [u32]) -> SortedOps<K> {
        pairs.sort_unstable();
        for (position, &(_, op)) in pairs.iter().enumerate() {
            rank[op as usize] = position as u32;
        }
        SortedOps {
            keys: pairs.iter().map(|&(key, _)| key).collect(),
            ops: pairs.into_iter().map(|(_, op)| op).collect(),
        }
    }

    fn len(&self) -> usize {
        self.ops.len()
    }

    /// How many ops have a key of at most `key`.
    fn count_up_to(&self, key: K) -> usize {
        self.keys.partition_point(|&k| k <= key)
    }

    /// How many ops have a key below `key`.
    fn count_below(&self, key: K) -> usize {
        self.keys.partition_point(|&k| k < key)
    }

    fn heap_bytes(&self) -> u64 {
        vec_bytes(&self.ops) + vec_bytes(&self.keys)
    }
}

/// Static description of one key's sub-history.
struct KeyProblem {
    ops: Vec<KeyOp>,
    completed_count: usize,
    /// Entry list: entries `0..n` are events; `n` is the head, `n + 1` the
    /// tail sentinel. `entry_op[e]` is the op; `entry_is_return[e]` the kind.
    entry_op: Vec<u32>,
    entry_is_return: Vec<bool>,
    call_entry: Vec<u32>,
    return_entry: Vec<u32>,
    /// Completed ops in return order; per op its rank in it (`NONE` for
    /// timed-out ops).
    by_return: Vec<u32>,
    return_rank: Vec<u32>,
    /// Per timed-out op, its index among the timed-out ops (`NONE` for
    /// completed ones); `maybe_count` of them.
    maybe_rank: Vec<u32>,
    maybe_count: usize,
    groups: Vec<Group>,
    put_group_by_value: HashMap<Value, u32>,
    /// Put groups in ascending value order.
    put_groups: Vec<u32>,
    cas_groups_by_new: HashMap<Value, Vec<u32>>,
    cas_groups_by_expected: HashMap<Value, Vec<u32>>,
    /// Values some timed-out cas expects.
    maybe_cas_expected: HashSet<Value>,
    zobrist: Vec<u64>,
    /// Dense ids ("slots") for register states: slot 0 is "absent", every
    /// value seen gets one. Per op, the slot of the state it needs to see
    /// (reads, swapping cases) and of the value it may write; `NONE` if
    /// none.
    needs_slot: Vec<u32>,
    writes_slot: Vec<u32>,
    /// Per slot: the ops that need to see it, by completion time, and
    /// their completion times; per op: its position in that list.
    readers_per_slot: Vec<SortedOps<u64>>,
    reader_rank: Vec<u32>,
    /// Per slot: invocation times of its writers, ascending; per op: its
    /// position in that list (`NONE` for non-writers).
    writers_per_slot: Vec<SortedOps<u64>>,
    writer_rank: Vec<u32>,
    /// Per slot: the completed ops that never change the register and are
    /// legal only in that state (reads, a cas of the value for itself), by
    /// call entry; per op its position.
    pure_readers_per_slot: Vec<SortedOps<u32>>,
    pure_reader_rank: Vec<u32>,
    /// Per slot: the cases that swapped the slot's value for another, by
    /// call entry; per op its position.
    swapping_per_slot: Vec<SortedOps<u32>>,
    swapping_rank: Vec<u32>,
    /// Cases that did not swap, by call entry; per op its position.
    unswapped: SortedOps<u32>,
    unswapped_rank: Vec<u32>,
    /// Per slot: the positions in `unswapped` of those that expected the
    /// slot's value (illegal while the register holds it); per op its
    /// position in that list.
    unswapped_per_slot: Vec<SortedOps<u32>>,
    unswapped_slot_rank: Vec<u32>,
    /// Per op: the slot of the value an unswapped cas expected (`NONE` if
    /// none).
    unswapped_slot: Vec<u32>,
    /// Per slot: its completed writers (puts, swapping cases) by invocation.
    completed_writers_per_slot: Vec<SortedOps<u64>>,
    /// Per op: a completed write whose value no op can ever observe (see
    /// `unobservable_writes`).
    unobservable: Vec<bool>,
}

impl KeyProblem {
    fn new(history: &History, indices: &[usize]) -> KeyProblem {
        let mut ops = Vec::with_capacity(indices.len());
        for &history_index in indices {
            let op = &history.ops[history_index];
            if let Some(action) = Action::from_op(op) {
                ops.push(KeyOp {
                    history_index,
                    invoke_ns: op.invoke_ns,
                    complete_ns: if action.is_maybe() { None } else { op.complete_ns },
                    action,
                });
            }
        }
        let n = ops.len();

        // Entry list over completed operations.
        let mut events: Vec<(u64, bool, u32)> = Vec::new();
        for (index, op) in ops.iter().enumerate() {
            if let Some(complete_ns) = op.complete_ns {
                events.push((op.invoke_ns, false, index as u32));
                events.push((complete_ns, true, index as u32));
            }
        }
        events.sort_unstable();
        let mut call_entry = vec![NONE; n];
        let mut return_entry = vec![NONE; n];
        let mut return_rank = vec![NONE; n];
        let mut by_return = Vec::with_capacity(events.len() / 2);
        let mut entry_op = Vec::with_capacity(events.len());
        let mut entry_is_return = Vec::with_capacity(events.len());
        for (entry, &(_, is_return, op)) in events.iter().enumerate() {
            if is_return {
                return_entry[op as usize] = entry as u32;
                return_rank[op as usize] = by_return.len() as u32;
                by_return.push(op);
            } else {
                call_entry[op as usize] = entry as u32;
            }
            entry_op.push(op);
            entry_is_return.push(is_return);
        }
        drop(events);

        // Pool of timed-out operations, grouped by effect.
        let mut maybe: Vec<u32> = (0..n as u32).filter(|&i| ops[i as usize].action.is_maybe()).collect();
        maybe.sort_unstable_by_key(|&i| (ops[i as usize].invoke_ns, i));
        let mut maybe_rank = vec![NONE; n];
        for (rank, &i) in maybe.iter().enumerate() {
            maybe_rank[i as usize] = rank as u32;
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut group_by_effect: HashMap<Action, u32> = HashMap::new();
        for &i in &maybe {
            let effect = ops[i as usize].action;
            let group = *group_by_effect.entry(effect).or_insert_with(|| {
                groups.push(Group { ops: Vec::new(), effect });
                groups.len() as u32 - 1
            });
            groups[group as usize].ops.push(i);
        }
        let mut put_group_by_value = HashMap::new();
        let mut put_groups = Vec::new();
        let mut cas_groups_by_new: HashMap<Value, Vec<u32>> = HashMap::new();
        let mut cas_groups_by_expected: HashMap<Value, Vec<u32>> = HashMap::new();
        for (index, group) in groups.iter().enumerate() {
            let index = index as u32;
            match group.effect {
                Action::MaybePut(value) => {
                    put_group_by_value.insert(value, index);
                    put_groups.push(index);
                }
                Action::MaybeCas { expected, new } => {
                    cas_groups_by_new.entry(new).or_default().push(index);
                    cas_groups_by_expected.entry(expected).or_default().push(index);
                }
                _ => {}
            }
        }
        put_groups.sort_unstable_by_key(|&g| match groups[g as usize].effect {
            Action::MaybePut(value) => value,
            _ => 0,
        });

        let mut slot_of_value: HashMap<Value, u32> = HashMap::new();
        let mut slot = |value: Value| -> u32 {
            let next = slot_of_value.len() as u32 + 1;
            *slot_of_value.entry(value).or_insert(next)
        };
        let mut needs_slot = Vec::with_capacity(n);
        let mut writes_slot = Vec::with_capacity(n);
        for op in &ops {
            let (needs, writes) = match op.action {
                Action::Read(Some(value)) => (slot(value), NONE),
                Action::Read(None) => (ABSENT_SLOT, NONE),
                Action::CasNotSwapped { .. } => (NONE, NONE),
                Action::Put(value) | Action::MaybePut(value) => (NONE, slot(value)),
                Action::CasSwapped { expected, new } => (slot(expected), slot(new)),
                Action::MaybeCas { new, .. } => (NONE, slot(new)),
            };
            needs_slot.push(needs);
            writes_slot.push(writes);
        }
        let slots = slot_of_value.len() + 1;

        // Per-slot indexes, each built from (slot, sort key) per op.
        let buckets = |pick: SlotPick<'_>| bucket_by_slot(&ops, slots, pick);
        let readers = buckets(&|index, op| {
            (needs_slot[index] != NONE).then(|| (needs_slot[index], op.complete_ns.unwrap_or(u64::MAX)))
        });
        let writers = buckets(&|index, op| (writes_slot[index] != NONE).then(|| (writes_slot[index], op.invoke_ns)));
        let completed_writers = buckets(&|index, op| {
            (writes_slot[index] != NONE && op.complete_ns.is_some()).then(|| (writes_slot[index], op.invoke_ns))
        });
        let pure_readers = buckets(&|index, op| {
            (needs_slot[index] != NONE && op.action.never_changes())
                .then(|| (needs_slot[index], u64::from(call_entry[index])))
        });
        let mut reader_rank = vec![NONE; n];
        let readers_per_slot: Vec<SortedOps<u64>> =
            readers.into_iter().map(|pairs| SortedOps::new(pairs, &mut reader_rank)).collect();
        let mut writer_rank = vec![NONE; n];
        let writers_per_slot: Vec<SortedOps<u64>> =
            writers.into_iter().map(|pairs| SortedOps::new(pairs, &mut writer_rank)).collect();
        let mut scratch_rank = vec![NONE; n];
        let completed_writers_per_slot: Vec<SortedOps<u64>> =
            completed_writers.into_iter().map(|pairs| SortedOps::new(pairs, &mut scratch_rank)).collect();
        drop(scratch_rank);
        let swapping = buckets(&|index, op| {
            (needs_slot[index] != NONE && matches!(op.action, Action::CasSwapped { .. }) && !op.action.never_changes())
                .then(|| (needs_slot[index], u64::from(call_entry[index])))
        });
        let mut swapping_rank = vec![NONE; n];
        let swapping_per_slot: Vec<SortedOps<u32>> = swapping
            .into_iter()
            .map(|pairs| {
                let pairs = pairs.into_iter().map(|(call, op)| (call as u32, op)).collect();
                SortedOps::new(pairs, &mut swapping_rank)
            })
            .collect();
        let mut pure_reader_rank = vec![NONE; n];
        let pure_readers_per_slot: Vec<SortedOps<u32>> = pure_readers
            .into_iter()
            .map(|pairs| {
                let pairs = pairs.into_iter().map(|(call, op)| (call as u32, op)).collect();
                SortedOps::new(pairs, &mut pure_reader_rank)
            })
            .collect();

        // Cases that did not swap, and per slot those that expected its value.
        let mut unswapped_rank = vec![NONE; n];
        let unswapped = SortedOps::new(
            (0..n as u32)
                .filter(|&i| matches!(ops[i as usize].action, Action::CasNotSwapped { .. }))
                .map(|i| (call_entry[i as usize], i))
                .collect(),
            &mut unswapped_rank,
        );
        let mut unswapped_by_slot: Vec<Vec<(u32, u32)>> = Vec::new();
        unswapped_by_slot.resize_with(slots, Vec::new);
        let mut unswapped_slot = vec![NONE; n];
        for (position, &op) in unswapped.ops.iter().enumerate() {
            let Action::CasNotSwapped { expected } = ops[op as usize].action else {
                continue;
            };
            // A value nothing writes is never the state: such a cas is
            // always legal and belongs to no slot.
            if let Some(&slot) = slot_of_value.get(&expected) {
                unswapped_by_slot[slot as usize].push((position as u32, op));
                unswapped_slot[op as usize] = slot;
            }
        }
        let mut unswapped_slot_rank = vec![NONE; n];
        let unswapped_per_slot: Vec<SortedOps<u32>> =
            unswapped_by_slot.into_iter().map(|pairs| SortedOps::new(pairs, &mut unswapped_slot_rank)).collect();

        let unobservable = unobservable_writes(&ops, &cas_groups_by_expected);
        let completed_count = by_return.len();
        let zobrist = (0..n as u64).map(|i| mix64(i ^ 0x5851_f42d_4c95_7f2d)).collect();
        KeyProblem {
            ops,
            completed_count,
            entry_op,
            entry_is_return,
            call_entry,
            return_entry,
            by_return,
            return_rank,
            maybe_rank,
            maybe_count: maybe.len(),
            groups,
            put_group_by_value,
            put_groups,
            cas_groups_by_new,
            maybe_cas_expected: cas_groups_by_expected.keys().copied().collect(),
            cas_groups_by_expected,
            zobrist,
            needs_slot,
            writes_slot,
            readers_per_slot,
            reader_rank,
            writers_per_slot,
            writer_rank,
            pure_readers_per_slot,
            pure_reader_rank,
            swapping_per_slot,
            swapping_rank,
            unswapped,
            unswapped_rank,
            unswapped_per_slot,
            unswapped_slot_rank,
            unswapped_slot,
            completed_writers_per_slot,
            unobservable,
        }
    }

    /// Heap bytes held, by the estimate of the module docs.
    fn heap_bytes(&self) -> u64 {
        let per_slot = |lists: &Vec<SortedOps<u64>>| -> u64 {
            vec_bytes(lists) + lists.iter().map(SortedOps::heap_bytes).sum::<u64>()
        };
        let per_slot_u32 = |lists: &Vec<SortedOps<u32>>| -> u64 {
            vec_bytes(lists) + lists.iter().map(SortedOps::heap_bytes).sum::<u64>()
        };
        let group_lists: u64 = vec_bytes(&self.groups) + self.groups.iter().map(|g| vec_bytes(&g.ops)).sum::<u64>();
        // (A sum over a map's values: their order does not matter.)
        let cas_maps = |map: &HashMap<Value, Vec<u32>>| -> u64 {
            table_bytes::<Value, Vec<u32>>(map.capacity()) + map.values().map(vec_bytes).sum::<u64>()
        };
        vec_bytes(&self.ops)
            + vec_bytes(&self.entry_op)
            + vec_bytes(&self.entry_is_return)
            + vec_bytes(&self.call_entry)
            + vec_bytes(&self.return_entry)
            + vec_bytes(&self.by_return)
            + vec_bytes(&self.return_rank)
            + vec_bytes(&self.maybe_rank)
            + group_lists
            + table_bytes::<Value, u32>(self.put_group_by_value.capacity())
            + vec_bytes(&self.put_groups)
            + cas_maps(&self.cas_groups_by_new)
            + cas_maps(&self.cas_groups_by_expected)
            + table_bytes::<Value, ()>(self.maybe_cas_expected.capacity())
            + vec_bytes(&self.zobrist)
            + vec_bytes(&self.needs_slot)
            + vec_bytes(&self.writes_slot)
            + per_slot(&self.readers_per_slot)
            + vec_bytes(&self.reader_rank)
            + per_slot(&self.writers_per_slot)
            + vec_bytes(&self.writer_rank)
            + per_slot_u32(&self.pure_readers_per_slot)
            + vec_bytes(&self.pure_reader_rank)
            + per_slot_u32(&self.swapping_per_slot)
            + vec_bytes(&self.swapping_rank)
            + self.unswapped.heap_bytes()
            + vec_bytes(&self.unswapped_rank)
            + per_slot_u32(&self.unswapped_per_slot)
            + vec_bytes(&self.unswapped_slot_rank)
            + vec_bytes(&self.unswapped_slot)
            + per_slot(&self.completed_writers_per_slot)
            + vec_bytes(&self.unobservable)
    }
}

/// For each op: whether it is a completed write (put, swapping cas) whose
/// value can never be observed *as written by it*. An observer (a read of
/// the value, a cas expecting it) can see a write `w` only if it does not
/// complete before `w` is invoked and no other completed write must come
/// between them (one invoked after `w` completed and completed before the
/// observer was invoked). Timed-out cases are never ruled out.
///
/// While the last write placed is such a write, no op that could be
/// placed can tell its value apart from any other unobservable value, so
/// the search treats all those states as one.
fn unobservable_writes(ops: &[KeyOp], cas_groups_by_expected: &HashMap<Value, Vec<u32>>) -> Vec<bool> {
    let written = |op: &KeyOp| match op.action {
        Action::Put(value) | Action::CasSwapped { new: value, .. } => Some(value),
        _ => None,
    };
    // Completed writes by invocation, with suffix minima of completion:
    // `separated_after[i]` is the earliest completion among writes
    // `i..` in that order.
    let mut writes: Vec<(u64, u64)> = ops
        .iter()
        .filter(|op| written(op).is_some())
        .filter_map(|op| op.complete_ns.map(|complete_ns| (op.invoke_ns, complete_ns)))
        .collect();
    writes.sort_unstable();
    let mut separated_after = vec![u64::MAX; writes.len() + 1];
    for i in (0..writes.len()).rev() {
        separated_after[i] = separated_after[i + 1].min(writes[i].1);
    }
    // Observers per value, by invocation, with prefix maxima of completion.
    let mut observers: HashMap<Value, Vec<(u64, u64)>> = HashMap::new();
    for op in ops {
        let observed = match op.action {
            Action::Read(Some(value))
            | Action::CasSwapped { expected: value, .. }
            | Action::CasNotSwapped { expected: value } => value,
            _ => continue,
        };
        if let Some(complete_ns) = op.complete_ns {
            observers.entry(observed).or_default().push((op.invoke_ns, complete_ns));
        }
    }
    for list in observers.values_mut() {
        list.sort_unstable();
        let mut max_complete_ns = 0;
        for entry in list.iter_mut() {
            max_complete_ns = max_complete_ns.max(entry.1);
            entry.1 = max_complete_ns;
        }
    }
    ops.iter()
        .map(|op| {
            let (Some(value), Some(complete_ns)) = (written(op), op.complete_ns) else {
                return false;
            };
            if cas_groups_by_expected.contains_key(&value) {
                return false;
            }
            // Observers invoked after this time are separated from `op`.
            let first_after = writes.partition_point(|&(invoke_ns, _)| invoke_ns <= complete_ns);
            let horizon_ns = separated_after[first_after];
            let Some(list) = observers.get(&value) else {
                return true;
            };
            let reachable = list.partition_point(|&(invoke_ns, _)| invoke_ns <= horizon_ns);
            reachable == 0 || list[reachable - 1].1 < op.invoke_ns
        })
        .collect()
}

/// A Fenwick (binary indexed) tree over `len` ones.
fn fenwick_of_ones(len: usize) -> Vec<u32> {
    (1..=len as u32).map(|i| i & i.wrapping_neg()).collect()
}

/// Adds one at `index` (`add`), or removes one.
fn fenwick_add(tree: &mut [u32], index: usize, add: bool) {
    let mut i = index + 1;
    while i <= tree.len() {
        if add {
            tree[i - 1] += 1;
        } else {
            tree[i - 1] -= 1;
        }
        i += i & i.wrapping_neg();
    }
}

/// Sum of the first `count` entries.
fn fenwick_prefix(tree: &[u32], count: usize) -> u32 {
    let mut sum = 0;
    let mut i = count;
    while i > 0 {
        sum += tree[i - 1];
        i &= i - 1;
    }
    sum
}

/// Index of the entry holding the `k`-th one, counted from 0 (entries are 0
/// or 1); `None` if there are no more than `k` ones.
fn fenwick_select(tree: &[u32], mut k: u32) -> Option<usize> {
    let mut position = 0;
    let mut step = tree.len().checked_ilog2().map_or(0, |log| 1 << log);
    while step > 0 {
        if position + step <= tree.len() && tree[position + step - 1] <= k {
            position += step;
            k -= tree[position - 1];
        }
        step >>= 1;
    }
    (position < tree.len()).then_some(position)
}

/// Flips bit `index` of `bits`, keeping `summary` (a bit per word of
/// `bits`: set iff the word is non-zero) up to date.
fn toggle_bit(bits: &mut [u64], summary: &mut [u64], index: usize) {
    let word = index / 64;
    bits[word] ^= 1 << (index % 64);
    let summary_bit = 1u64 << (word % 64);
    if bits[word] == 0 {
        summary[word / 64] &= !summary_bit;
    } else {
        summary[word / 64] |= summary_bit;
    }
}

/// Appends the non-zero words of `bits` from word `from` on (the first
/// one masked by `from_mask`), found through `summary`, until `ones` set
/// bits are found, in runs of consecutive words: a header `index << 32 |
/// length`, then the words. Returns the summary words visited.
fn push_word_runs(
    bits: &[u64],
    summary: &[u64],
    from: usize,
    from_mask: u64,
    mut ones: usize,
    out: &mut Vec<u64>,
) -> u64 {
    // Where the current run's header is, and the word that would extend it.
    let mut run: Option<(usize, usize)> = None;
    let mut push = |word: usize, value: u64, out: &mut Vec<u64>| {
        match run {
            Some((header, next)) if next == word => out[header] += 1,
            _ => {
                run = Some((out.len(), word));
                out.push((word as u64) << 32 | 1);
            }
        }
        if let Some((_, next)) = run.as_mut() {
            *next = word + 1;
        }
        out.push(value);
        value.count_ones() as usize
    };
    if ones == 0 || from >= bits.len() {
        return 0;
    }
    let first = bits[from] & from_mask;
    if first != 0 {
        ones -= push(from, first, out);
    }
    let mut visited = 1;
    let mut summary_index = (from + 1) / 64;
    let mut mask = !0u64 << ((from + 1) % 64);
    while ones > 0 && summary_index < summary.len() {
        visited += 1;
        let mut rest = summary[summary_index] & mask;
        while rest != 0 && ones > 0 {
            let word = summary_index * 64 + rest.trailing_zeros() as usize;
            rest &= rest - 1;
            ones -= push(word, bits[word], out);
        }
        summary_index += 1;
        mask = !0;
    }
    visited
}

/// SplitMix64 finalizer.
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The state as part of a configuration: all unobservable states are the
/// same (see `unobservable_writes`).
fn state_key(state: State, unobservable: bool) -> [u64; 2] {
    match (unobservable, state) {
        (true, _) => [2, 0],
        (false, None) => [0, 0],
        (false, Some(value)) => [1, value],
    }
}

/// Hash of a configuration's state words (see `Search::state_key`).
fn state_key_hash(key: [u64; 2]) -> u64 {
    mix64(key[1] ^ mix64(key[0] ^ 0x1405_7b7e_f767_814f))
}

/// Hasher for keys that are already well-mixed 64-bit hashes.
#[derive(Default)]
struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = mix64(self.0 ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Words of a configuration built or compared per step: a cache line,
/// about the work of one model application.
const WORDS_PER_STEP: usize = 8;

/// Words in one chunk of the memo's arena: 1 MiB.
const MEMO_CHUNK_WORDS: usize = 1 << 17;

/// Set of visited configurations, each encoded as words (see
/// `Search::encode_configuration`). Encodings lie back to back in an arena
/// of fixed-size chunks, so it grows a chunk at a time instead of doubling
/// (and copying) one buffer; `places` says where each entry is. The map
/// sends a hash to the newest entry with that hash, `links` chains entries
/// that share a hash.
struct Memo {
    chunks: Vec<Vec<u64>>,
    /// Heap bytes of `chunks`' buffers.
    chunk_bytes: u64,
    /// Per entry: its chunk, its offset in it, its length.
    places: Vec<(u32, u32, u32)>,
    links: Vec<u32>,
    heads: HashMap<u64, u32, BuildHasherDefault<PassThroughHasher>>,
}

impl Memo {
    fn new() -> Memo {
        Memo { chunks: Vec::new(), chunk_bytes: 0, places: Vec::new(), links: Vec::new(), heads: HashMap::default() }
    }

    fn entry(&self, entry: u32) -> &[u64] {
        let (chunk, offset, len) = self.places[entry as usize];
        &self.chunks[chunk as usize][offset as usize..(offset + len) as usize]
    }

    /// Inserts the encoding `key`: `Some(false)` if it was already present,
    /// `None` if entry ids ran out. Adds the steps of the comparisons to
    /// `compared`.
    fn insert(&mut self, hash: u64, key: &[u64], compared: &mut u64) -> Option<bool> {
        let head = self.heads.get(&hash).copied().unwrap_or(NONE);
        let mut entry = head;
        while entry != NONE {
            let stored = self.entry(entry);
            *compared += 1 + key.len().min(stored.len()).div_ceil(WORDS_PER_STEP) as u64;
            if stored == key {
                return Some(false);
            }
            entry = self.links[entry as usize];
        }
        let id = u32::try_from(self.links.len()).ok().filter(|&id| id != NONE)?;
        let len = u32::try_from(key.len()).ok()?;
        if self.chunks.last().is_none_or(|chunk| chunk.capacity() - chunk.len() < key.len()) {
            let chunk: Vec<u64> = Vec::with_capacity(MEMO_CHUNK_WORDS.max(key.len()));
            self.chunk_bytes += vec_bytes(&chunk);
            self.chunks.push(chunk);
        }
        let chunk = self.chunks.len() - 1;
        let offset = u32::try_from(self.chunks[chunk].len()).ok()?;
        self.chunks[chunk].extend_from_slice(key);
        self.places.push((chunk as u32, offset, len));
        self.links.push(head);
        self.heads.insert(hash, id);
        Some(true)
    }

    fn heap_bytes(&self) -> u64 {
        vec_bytes(&self.chunks)
            + self.chunk_bytes
            + vec_bytes(&self.places)
            + vec_bytes(&self.links)
            + table_bytes::<u64, u32>(self.heads.capacity())
    }
}

/// A search node: the configuration reached by one move, plus where the
/// search stands in trying this node's own moves.
struct Node {
    /// The move into this node (`via_op == NONE` at the root): the completed
    /// op `via_op`, preceded by `via_chain_len` timed-out ops whose groups
    /// are listed at `moves[via_chain_start..]`.
    via_op: u32,
    via_chain_start: usize,
    via_chain_len: u32,
    prev_state: State,
    prev_state_slot: u32,
    prev_state_unobservable: bool,
    path_len_before: usize,
    /// The stage whose moves are `moves[next_move..moves_end]`.
    stage: Stage,
    /// Where this node's moves start in `moves`; each stage writes its own
    /// there, once the previous stage's are used up.
    moves_start: usize,
    next_move: usize,
    moves_end: usize,
}

/// Where a node stands in trying its moves; each stage's moves are
/// generated only when the previous stage's are used up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Not yet looked at.
    Fresh,
    /// Tried the op that completed first (if it is a legal write).
    FirstDue,
    /// Trying the writes towards the value the op that completed first
    /// needs, and every legal swapping cas.
    NeededWrites,
    /// Trying every other legal put.
    OtherWrites,
    /// Trying chains of timed-out ops followed by a completed op.
    Chains,
    /// No moves left.
    Exhausted,
}

/// How many values the moves towards the value the first-due op needs
/// follow back through swapping cases (see `generate_needed_writes`).
const NEEDED_VALUE_HOPS: usize = 16;

/// Most ops of the longest linearizable prefix a violation message shows.
const PREFIX_LINES_SHOWN: usize = 12;

/// Most pending ops a violation message shows (and a dead end records).
const PENDING_SHOWN: usize = 32;

/// The deepest dead end found (most completed ops linearized).
struct DeadEnd {
    completed_linearized: usize,
    /// Length of the linearizable prefix, and its last
    /// `PREFIX_LINES_SHOWN` ops (local indices) in linearization order.
    prefix_len: usize,
    prefix_tail: Vec<u32>,
    state: State,
    /// Completed ops invoked but not linearized (the candidate window), the
    /// first `PENDING_SHOWN` by invocation; `more_pending`: there are more.
    pending: Vec<u32>,
    more_pending: bool,
    /// The pending op that completed first.
    blocking: u32,
    /// A pending op that needs a state that can no longer be produced.
    doomed: u32,
}

enum SearchResult {
    Linearizable,
    NotLinearizable(DeadEnd),
    Exhausted(Exhausted),
}

/// A move: the completed op `op`, preceded by the chain of timed-out ops
/// whose groups are `moves[chain_start..chain_start + chain_len]`.
#[derive(Clone, Copy)]
struct Move {
    op: u32,
    chain_start: usize,
    chain_len: u32,
}

impl Move {
    fn plain(op: u32) -> Move {
        Move { op, chain_start: 0, chain_len: 0 }
    }
}

struct Search<'a> {
    p: &'a KeyProblem,
    /// The entry list: `next`/`prev` over entries plus two sentinels.
    next: Vec<u32>,
    prev: Vec<u32>,
    head: u32,
    tail: u32,
    /// Per group: how many of its ops are linearized (a prefix).
    used: Vec<usize>,
    /// Per slot: Fenwick tree over `readers_per_slot`, 1 for each reader
    /// not yet linearized.
    unlinearized_readers: Vec<Vec<u32>>,
    /// Per slot: whether it is *stranded*: some reader not yet linearized
    /// has no writer left that could take effect before the reader
    /// completes. Unless the register holds that state now, such a reader
    /// can never be placed. `stranded_slots` counts them; `stranded_tree`
    /// is a Fenwick tree over slots, 1 for each stranded one.
    slot_stranded: Vec<bool>,
    stranded_slots: u32,
    stranded_tree: Vec<u32>,
    /// Per slot: Fenwick tree over `writers_per_slot`, 1 for each
    /// writer not yet linearized.
    unlinearized_writers: Vec<Vec<u32>>,
    /// Per slot: Fenwick tree over `pure_readers_per_slot`; over
    /// `unswapped`; per slot over `unswapped_per_slot`: 1 for each op not
    /// yet linearized.
    pure_readers: Vec<Vec<u32>>,
    swapping_pending: Vec<Vec<u32>>,
    unswapped: Vec<u32>,
    unswapped_per_slot: Vec<Vec<u32>>,
    /// Fenwick tree over the completed ops in return order, 1 for each op
    /// not yet linearized: its first one is the op that completed first.
    unlinearized_by_return: Vec<u32>,
    /// Bitmaps of the linearized ops: all, by local index; completed ones
    /// by return rank and timed-out ones by `maybe_rank` (`maybe_linearized`
    /// of them), each with a summary bit per non-zero word.
    bits: Vec<u64>,
    by_return_bits: Vec<u64>,
    by_return_summary: Vec<u64>,
    maybe_bits: Vec<u64>,
    maybe_summary: Vec<u64>,
    maybe_linearized: usize,
    /// Zobrist hash of `bits`.
    hash: u64,
    state: State,
    /// Slot of `state`.
    state_slot: u32,
    /// The last write placed is unobservable (see `unobservable_writes`).
    state_unobservable: bool,
    completed_linearized: usize,
    /// Linearized ops in order.
    path: Vec<u32>,
    nodes: Vec<Node>,
    /// Arena of encoded moves `[op, chain_len, groups...]`, a stack parallel
    /// to `nodes`.
    moves: Vec<u32>,
    memo: Memo,
    meter: &'a mut Meter,
    /// Bytes held that do not change during the search: the key's problem,
    /// the split of the history, the structures above sized by it.
    fixed_bytes: u64,
    deepest: Option<DeadEnd>,
    /// Scratch space.
    key_words: Vec<u64>,
    chain_stack: Vec<(Value, usize)>,
    chain_groups: Vec<u32>,
    scratch_candidates: Vec<(u64, u32)>,
    scratch_demands: HashSet<State>,
    scratch_actions: HashSet<Action>,
    scratch_tried: Vec<Action>,
    scratch_window: Vec<u32>,
}

impl<'a> Search<'a> {
    /// `outside_bytes`: what the check holds for this key outside the
    /// search (the key's problem and the split of the history).
    fn new(p: &'a KeyProblem, meter: &'a mut Meter, outside_bytes: u64) -> Search<'a> {
        let entries = p.entry_op.len() as u32;
        let slots = p.readers_per_slot.len();
        let ones_per_slot =
            |lists: &Vec<SortedOps<u32>>| -> Vec<Vec<u32>> { lists.iter().map(|l| fenwick_of_ones(l.len())).collect() };
        let mut search = Search {
            p,
            next: Vec::new(),
            prev: Vec::new(),
            head: entries,
            tail: entries + 1,
            used: vec![0; p.groups.len()],
            unlinearized_readers: p.readers_per_slot.iter().map(|r| fenwick_of_ones(r.len())).collect(),
            slot_stranded: vec![false; slots],
            stranded_slots: 0,
            stranded_tree: vec![0; slots],
            unlinearized_writers: p.writers_per_slot.iter().map(|w| fenwick_of_ones(w.len())).collect(),
            pure_readers: ones_per_slot(&p.pure_readers_per_slot),
            swapping_pending: ones_per_slot(&p.swapping_per_slot),
            unswapped: fenwick_of_ones(p.unswapped.len()),
            unswapped_per_slot: ones_per_slot(&p.unswapped_per_slot),
            unlinearized_by_return: fenwick_of_ones(p.completed_count),
            bits: vec![0; p.ops.len().div_ceil(64)],
            by_return_bits: vec![0; p.completed_count.div_ceil(64)],
            by_return_summary: vec![0; p.completed_count.div_ceil(64 * 64)],
            maybe_bits: vec![0; p.maybe_count.div_ceil(64)],
            maybe_summary: vec![0; p.maybe_count.div_ceil(64 * 64)],
            maybe_linearized: 0,
            hash: 0,
            state: None,
            state_slot: ABSENT_SLOT,
            state_unobservable: false,
            completed_linearized: 0,
            path: Vec::new(),
            nodes: Vec::new(),
            moves: Vec::new(),
            memo: Memo::new(),
            meter,
            fixed_bytes: 0,
            deepest: None,
            key_words: Vec::new(),
            chain_stack: Vec::new(),
            chain_groups: Vec::new(),
            scratch_candidates: Vec::new(),
            scratch_demands: HashSet::new(),
            scratch_actions: HashSet::new(),
            scratch_tried: Vec::new(),
            scratch_window: Vec::new(),
        };
        search.link_entries();
        for slot in 0..slots as u32 {
            search.refresh_stranded(slot);
        }
        search.fixed_bytes = outside_bytes
            + vec_bytes(&search.next)
            + vec_bytes(&search.prev)
            + vec_bytes(&search.used)
            + nested_vec_bytes(&search.unlinearized_readers)
            + vec_bytes(&search.slot_stranded)
            + vec_bytes(&search.stranded_tree)
            + nested_vec_bytes(&search.unlinearized_writers)
            + nested_vec_bytes(&search.pure_readers)
            + nested_vec_bytes(&search.swapping_pending)
            + vec_bytes(&search.unswapped)
            + nested_vec_bytes(&search.unswapped_per_slot)
            + vec_bytes(&search.unlinearized_by_return)
            + vec_bytes(&search.bits)
            + vec_bytes(&search.by_return_bits)
            + vec_bytes(&search.by_return_summary)
            + vec_bytes(&search.maybe_bits)
            + vec_bytes(&search.maybe_summary);
        search
    }

    /// Builds the doubly linked list `head, 0, 1, .., n-1, tail`.
    fn link_entries(&mut self) {
        let n = self.p.entry_op.len() as u32;
        self.next = vec![NONE; n as usize + 2];
        self.prev = vec![NONE; n as usize + 2];
        let mut previous = self.head;
        for entry in (0..n).chain(std::iter::once(self.tail)) {
            self.next[previous as usize] = entry;
            self.prev[entry as usize] = previous;
            previous = entry;
        }
    }

    fn run(&mut self) -> SearchResult {
        match self.search() {
            Ok(result) => result,
            Err(exhausted) => SearchResult::Exhausted(exhausted),
        }
    }

    fn search(&mut self) -> Result<SearchResult, Exhausted> {
        self.check_memory()?;
        let root_key = self.state_key();
        self.memo_insert(root_key)?;
        self.nodes.push(Node {
            via_op: NONE,
            via_chain_start: 0,
            via_chain_len: 0,
            prev_state: None,
            prev_state_slot: ABSENT_SLOT,
            prev_state_unobservable: false,
            path_len_before: 0,
            stage: Stage::Fresh,
            moves_start: 0,
            next_move: 0,
            moves_end: 0,
        });
        self.check_memory()?;
        loop {
            if self.completed_linearized == self.p.completed_count {
                // Scratch space may have grown since the last check.
                self.check_memory()?;
                return Ok(SearchResult::Linearizable);
            }
            match self.next_move()? {
                Some(candidate) => self.try_move(candidate)?,
                None => {
                    self.record_dead_end()?;
                    if self.nodes.len() == 1 {
                        self.check_memory()?;
                        let dead_end = self.deepest.take().expect("a dead end is recorded at the root");
                        return Ok(SearchResult::NotLinearizable(dead_end));
                    }
                    self.backtrack();
                }
            }
        }
    }

    /// Counts `units` steps of work against the budget (a count past it
    /// stops at one over).
    fn charge(&mut self, units: u64) -> Result<(), Exhausted> {
        let meter = &mut *self.meter;
        meter.steps = meter.steps.saturating_add(units);
        if meter.steps > meter.max_steps {
            meter.steps = meter.max_steps.saturating_add(1);
            Err(Exhausted::Steps)
        } else {
            Ok(())
        }
    }

    /// Bytes held now, by the estimate of the module docs.
    fn held_bytes(&self) -> u64 {
        let deepest = self.deepest.as_ref().map_or(0, |d| vec_bytes(&d.pending) + vec_bytes(&d.prefix_tail));
        self.fixed_bytes
            + self.memo.heap_bytes()
            + vec_bytes(&self.path)
            + vec_bytes(&self.nodes)
            + vec_bytes(&self.moves)
            + vec_bytes(&self.key_words)
            + vec_bytes(&self.chain_stack)
            + vec_bytes(&self.chain_groups)
            + vec_bytes(&self.scratch_candidates)
            + table_bytes::<State, ()>(self.scratch_demands.capacity())
            + table_bytes::<Action, ()>(self.scratch_actions.capacity())
            + vec_bytes(&self.scratch_tried)
            + vec_bytes(&self.scratch_window)
            + deepest
    }

    /// Checks the bytes held against the budget; called wherever the
    /// search's structures grow.
    fn check_memory(&mut self) -> Result<(), Exhausted> {
        let held = self.held_bytes();
        self.meter.peak_memory = self.meter.peak_memory.max(held);
        if held > self.meter.max_memory {
            Err(Exhausted::Memory)
        } else {
            Ok(())
        }
    }

    // -- Window ----------------------------------------------------------

    /// The completed op not yet linearized that completed first (`NONE`
    /// once all are): it must be linearized before anything invoked after
    /// it completed, so the window is what was invoked by then.
    fn first_due(&self) -> u32 {
        fenwick_select(&self.unlinearized_by_return, 0).map_or(NONE, |rank| self.p.by_return[rank])
    }

    /// Completion time of the first-due op: timed-out ops invoked by then
    /// may take effect now.
    fn window_end_ns(&self) -> u64 {
        match self.first_due() {
            NONE => u64::MAX,
            op => self.p.ops[op as usize].complete_ns.unwrap_or(u64::MAX),
        }
    }

    /// The candidate window: completed ops whose call precedes the first
    /// remaining return, in invocation order, plus the op of that return
    /// (the first-due op). The caller charges `out.len()` steps.
    fn window(&self, out: &mut Vec<u32>) -> u32 {
        out.clear();
        let mut entry = self.next[self.head as usize];
        while entry != self.tail {
            let op = self.p.entry_op[entry as usize];
            if self.p.entry_is_return[entry as usize] {
                return op;
            }
            out.push(op);
            entry = self.next[entry as usize];
        }
        NONE
    }

    fn is_linearized(&self, op: u32) -> bool {
        self.bits[op as usize / 64] & (1 << (op % 64)) != 0
    }

    // -- Pruning ---------------------------------------------------------

    /// The first reader of `slot` not yet linearized, as (op, deadline).
    fn first_pending_reader(&self, slot: u32) -> Option<(u32, u64)> {
        let index = fenwick_select(&self.unlinearized_readers[slot as usize], 0)?;
        let readers = &self.p.readers_per_slot[slot as usize];
        Some((readers.ops[index], readers.keys[index]))
    }

    /// See `slot_stranded`. Checking the reader that completes first
    /// suffices: a writer in time for it is in time for all.
    fn compute_stranded(&self, slot: u32) -> bool {
        let Some((_, deadline_ns)) = self.first_pending_reader(slot) else {
            return false;
        };
        let in_time = self.p.writers_per_slot[slot as usize].count_up_to(deadline_ns);
        fenwick_prefix(&self.unlinearized_writers[slot as usize], in_time) == 0
    }

    fn refresh_stranded(&mut self, slot: u32) {
        let stranded = self.compute_stranded(slot);
        if stranded != self.slot_stranded[slot as usize] {
            self.slot_stranded[slot as usize] = stranded;
            fenwick_add(&mut self.stranded_tree, slot as usize, stranded);
            if stranded {
                self.stranded_slots += 1;
            } else {
                self.stranded_slots -= 1;
            }
        }
    }

    /// Some op still needs to see a state that the register does not hold
    /// and that no remaining op can produce in time.
    fn is_doomed(&self) -> bool {
        self.stranded_slots > u32::from(self.slot_stranded[self.state_slot as usize])
    }

    /// For diagnostics: an op that needs a state that the register does not
    /// hold and that no remaining op can produce in time (`NONE` if none),
    /// from the lowest such slot.
    fn find_doomed_op(&self) -> u32 {
        let Some(mut slot) = fenwick_select(&self.stranded_tree, 0) else {
            return NONE;
        };
        if slot == self.state_slot as usize {
            match fenwick_select(&self.stranded_tree, 1) {
                Some(next) => slot = next,
                None => return NONE,
            }
        }
        self.first_pending_reader(slot as u32).map_or(NONE, |(op, _)| op)
    }

    /// Linearizes `op` in every index (`linearize`), or takes it back out.
    /// The entry list is updated separately, on descending and
    /// backtracking.
    fn mark(&mut self, op: u32, linearize: bool) {
        let p = self.p;
        let i = op as usize;
        let undo = !linearize;
        self.bits[i / 64] ^= 1 << (i % 64);
        self.hash ^= p.zobrist[i];
        let needs = p.needs_slot[i];
        if needs != NONE {
            fenwick_add(&mut self.unlinearized_readers[needs as usize], p.reader_rank[i] as usize, undo);
            self.refresh_stranded(needs);
            if p.pure_reader_rank[i] != NONE {
                fenwick_add(&mut self.pure_readers[needs as usize], p.pure_reader_rank[i] as usize, undo);
            }
            if p.swapping_rank[i] != NONE {
                fenwick_add(&mut self.swapping_pending[needs as usize], p.swapping_rank[i] as usize, undo);
            }
        }
        let writes = p.writes_slot[i];
        if writes != NONE {
            fenwick_add(&mut self.unlinearized_writers[writes as usize], p.writer_rank[i] as usize, undo);
            self.refresh_stranded(writes);
        }
        if p.unswapped_rank[i] != NONE {
            fenwick_add(&mut self.unswapped, p.unswapped_rank[i] as usize, undo);
            let slot = p.unswapped_slot[i];
            if slot != NONE {
                fenwick_add(&mut self.unswapped_per_slot[slot as usize], p.unswapped_slot_rank[i] as usize, undo);
            }
        }
        let rank = p.return_rank[i];
        if rank != NONE {
            fenwick_add(&mut self.unlinearized_by_return, rank as usize, undo);
            toggle_bit(&mut self.by_return_bits, &mut self.by_return_summary, rank as usize);
            if linearize {
                self.completed_linearized += 1;
            } else {
                self.completed_linearized -= 1;
            }
        } else {
            toggle_bit(&mut self.maybe_bits, &mut self.maybe_summary, p.maybe_rank[i] as usize);
            if linearize {
                self.maybe_linearized += 1;
            } else {
                self.maybe_linearized -= 1;
            }
        }
    }

    // -- Move generation -------------------------------------------------

    /// The next move to try from the current node, or `None` when exhausted.
    fn next_move(&mut self) -> Result<Option<Move>, Exhausted> {
        let node_index = self.nodes.len() - 1;
        loop {
            let node = &mut self.nodes[node_index];
            if node.next_move < node.moves_end {
                let start = node.next_move;
                let chain_len = self.moves[start + 1];
                node.next_move = start + 2 + chain_len as usize;
                return Ok(Some(Move { op: self.moves[start], chain_start: start + 2, chain_len }));
            }
            match node.stage {
                Stage::Fresh => {
                    self.charge(1)?;
                    if self.is_doomed() {
                        self.nodes[node_index].stage = Stage::Exhausted;
                        return Ok(None);
                    }
                    if let Some(op) = self.state_preserving_candidate()? {
                        // Linearizing it first is always safe, so it is the
                        // only move tried here.
                        self.nodes[node_index].stage = Stage::Exhausted;
                        return Ok(Some(Move::plain(op)));
                    }
                    self.nodes[node_index].stage = Stage::FirstDue;
                    let first_due = self.first_due();
                    if self.is_legal_write(first_due) {
                        return Ok(Some(Move::plain(first_due)));
                    }
                }
                Stage::FirstDue => {
                    self.begin_stage(node_index, Stage::NeededWrites);
                    self.generate_needed_writes()?;
                    self.end_stage(node_index)?;
                }
                Stage::NeededWrites => {
                    // The puts tried so far: the first-due op and the
                    // previous stage's, whose moves are still in place.
                    let mut tried = std::mem::take(&mut self.scratch_tried);
                    tried.clear();
                    let first_due = self.first_due();
                    if self.is_legal_write(first_due) {
                        tried.push(self.p.ops[first_due as usize].action);
                    }
                    let node = &self.nodes[node_index];
                    tried.extend(
                        self.moves[node.moves_start..node.moves_end]
                            .chunks(2)
                            .map(|mv| self.p.ops[mv[0] as usize].action)
                            .filter(|action| matches!(action, Action::Put(_))),
                    );
                    self.begin_stage(node_index, Stage::OtherWrites);
                    let generated = self.generate_other_writes(&tried);
                    self.scratch_tried = tried;
                    generated?;
                    self.end_stage(node_index)?;
                }
                Stage::OtherWrites => {
                    self.begin_stage(node_index, Stage::Chains);
                    self.generate_chain_moves()?;
                    self.end_stage(node_index)?;
                }
                Stage::Chains | Stage::Exhausted => {
                    self.nodes[node_index].stage = Stage::Exhausted;
                    return Ok(None);
                }
            }
        }
    }

    /// Starts a node's next stage: the previous stage's moves are used up
    /// (and no child of the node is left), so their space is reused.
    fn begin_stage(&mut self, node_index: usize, stage: Stage) {
        let node = &mut self.nodes[node_index];
        node.stage = stage;
        self.moves.truncate(node.moves_start);
    }

    fn end_stage(&mut self, node_index: usize) -> Result<(), Exhausted> {
        let node = &mut self.nodes[node_index];
        node.next_move = node.moves_start;
        node.moves_end = self.moves.len();
        self.check_memory()
    }

    /// A completed op that changes the register and is legal now.
    fn is_legal_write(&self, op: u32) -> bool {
        op != NONE && {
            let action = self.p.ops[op as usize].action;
            !action.never_changes() && action.apply_completed(self.state).is_some()
        }
    }

    /// The value the first-due op needs the register to hold, if it does
    /// not (a read of a value, a swapping cas).
    fn needed_value(&self, op: u32) -> Option<Value> {
        let needed = match self.p.ops.get(op as usize)?.action {
            Action::Read(value) => value,
            Action::CasSwapped { expected, .. } => Some(expected),
            _ => None,
        }?;
        (self.state != Some(needed)).then_some(needed)
    }

    /// A candidate that is legal in the current state and never changes the
    /// register (a read, a cas that did not swap, a cas that swapped a value
    /// for itself): the one invoked first, found through the indexes.
    /// Linearizing it first loses nothing: moving it to the front of any
    /// successful continuation keeps that continuation valid, because it is
    /// already in the window (nothing pending must precede it) and it has
    /// the same (lack of) effect wherever it is legal. (A put of the current
    /// value is not such an op: later it would overwrite.)
    fn state_preserving_candidate(&mut self) -> Result<Option<u32>, Exhausted> {
        let p = self.p;
        let first_due = self.first_due();
        let Some(&due_entry) = p.return_entry.get(first_due as usize) else {
            return Ok(None);
        };
        let slot = self.state_slot as usize;
        // (call entry, op) of the best so far.
        let mut best: Option<(u32, u32)> = None;
        let readers = &p.pure_readers_per_slot[slot];
        let in_window = readers.count_below(due_entry);
        if let Some(index) = fenwick_select(&self.pure_readers[slot], 0).filter(|&index| index < in_window) {
            best = Some((readers.keys[index], readers.ops[index]));
        }
        let (unswapped, steps) = self.first_legal_unswapped(due_entry);
        self.charge(steps)?;
        if let Some(op) = unswapped {
            let call = p.call_entry[op as usize];
            if best.is_none_or(|(best_call, _)| call < best_call) {
                best = Some((call, op));
            }
        }
        Ok(best.map(|(_, op)| op))
    }

    /// The first cas that did not swap, is in the window (called before
    /// `due_entry`) and is legal now (expected another value than the
    /// register holds), with the steps it took to find.
    fn first_legal_unswapped(&self, due_entry: u32) -> (Option<u32>, u64) {
        let p = self.p;
        let in_window = p.unswapped.count_below(due_entry);
        let pending = fenwick_prefix(&self.unswapped, in_window);
        if pending == 0 {
            return (None, 1);
        }
        // Those expecting the current value are the illegal ones.
        let slot = self.state_slot as usize;
        let illegal = &p.unswapped_per_slot[slot];
        let illegal_pending = &self.unswapped_per_slot[slot];
        let illegal_before = |count: usize| fenwick_prefix(illegal_pending, illegal.count_below(count as u32)) as usize;
        if illegal.len() == 0 || illegal_before(in_window) == 0 {
            return (fenwick_select(&self.unswapped, 0).map(|index| p.unswapped.ops[index]), 2);
        }
        if pending as usize == illegal_before(in_window) {
            return (None, 2);
        }
        // The smallest prefix holding a legal one ends with it.
        let (mut low, mut high) = (1, in_window);
        let mut steps = 2;
        while low < high {
            steps += 1;
            let middle = low + (high - low) / 2;
            if fenwick_prefix(&self.unswapped, middle) as usize > illegal_before(middle) {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        (Some(p.unswapped.ops[low - 1]), steps)
    }

    /// The writes a linearization from here most likely needs next, as
    /// moves `[op, 0]`, one per action (the one completing first: of
    /// several with the same action only that one is ever tried, as
    /// swapping two such ops in a linearization keeps it valid):
    ///
    /// 1. towards the value the first-due op needs, if the register does not
    ///    hold it: the put of it and the swapping cas from the current value
    ///    to it, in the window; if there is neither, the same for the value
    ///    the first-completing cas that writes it expects, and so on, for
    ///    up to `NEEDED_VALUE_HOPS` values;
    /// 2. every legal swapping cas (one expecting the current value) in the
    ///    window, earliest completion first: each can be placed only while
    ///    the register holds that value.
    ///
    /// The first-due op's action, tried already, is left out.
    fn generate_needed_writes(&mut self) -> Result<(), Exhausted> {
        let p = self.p;
        let first_due = self.first_due();
        let Some(&due_entry) = p.return_entry.get(first_due as usize) else {
            return Ok(());
        };
        let due_ns = self.window_end_ns();
        let tried_first = self.is_legal_write(first_due).then(|| p.ops[first_due as usize].action);
        let rank = |op: u32| (p.ops[op as usize].complete_ns.unwrap_or(u64::MAX), op);
        let keep_first = |best: &mut Option<(u64, u32)>, op: u32| {
            if best.is_none_or(|kept| rank(op) < kept) {
                *best = Some(rank(op));
            }
        };
        // 1. Towards the needed value.
        let mut toward: [Option<(u64, u32)>; 2] = [None, None];
        if self.needed_value(first_due).is_some() {
            let mut slot = p.needs_slot[first_due as usize];
            for _ in 0..NEEDED_VALUE_HOPS {
                let writers = &p.completed_writers_per_slot[slot as usize];
                let in_window = writers.count_up_to(due_ns);
                self.charge(1 + in_window as u64)?;
                let (mut put, mut cas, mut further) = (None, None, None);
                for &op in &writers.ops[..in_window] {
                    if self.is_linearized(op) {
                        continue;
                    }
                    match p.ops[op as usize].action {
                        Action::Put(_) => keep_first(&mut put, op),
                        Action::CasSwapped { expected, new } if expected != new => {
                            if self.state == Some(expected) {
                                keep_first(&mut cas, op);
                            } else {
                                keep_first(&mut further, op);
                            }
                        }
                        _ => {}
                    }
                }
                if put.is_some() || cas.is_some() {
                    toward = [put, cas];
                    toward.sort_unstable_by_key(|found| found.map_or((u64::MAX, NONE), |rank| rank));
                    break;
                }
                match further {
                    Some((_, op)) => slot = p.needs_slot[op as usize],
                    None => break,
                }
            }
        }
        let toward_cas = toward
            .iter()
            .flatten()
            .map(|&(_, op)| p.ops[op as usize].action)
            .find(|action| matches!(action, Action::CasSwapped { .. }));
        for &(_, op) in toward.iter().flatten() {
            if Some(p.ops[op as usize].action) != tried_first {
                self.moves.extend_from_slice(&[op, 0]);
            }
        }

        // 2. Every legal swapping cas, one per action.
        let slot = self.state_slot as usize;
        let in_window = p.swapping_per_slot[slot].count_below(due_entry);
        let pending = fenwick_prefix(&self.swapping_pending[slot], in_window);
        if pending == 0 {
            return Ok(());
        }
        let mut found = std::mem::take(&mut self.scratch_candidates);
        found.clear();
        for k in 0..pending {
            if let Some(index) = fenwick_select(&self.swapping_pending[slot], k) {
                found.push(rank(p.swapping_per_slot[slot].ops[index]));
            }
        }
        let new_of = |op: u32| match p.ops[op as usize].action {
            Action::CasSwapped { new, .. } => new,
            _ => 0,
        };
        // By action (the new value), first completion first; keep the first
        // of each; then in completion order.
        found.sort_unstable_by_key(|&(deadline_ns, op)| (new_of(op), deadline_ns, op));
        found.dedup_by_key(|&mut (_, op)| new_of(op));
        found.sort_unstable();
        let log = u64::from(usize::BITS - found.len().leading_zeros());
        let result = self.charge(pending as u64 * (2 + log));
        for &(_, op) in &found {
            let action = Some(p.ops[op as usize].action);
            if action != tried_first && action != toward_cas {
                self.moves.extend_from_slice(&[op, 0]);
            }
        }
        self.scratch_candidates = found;
        result
    }

    /// Every legal put in the window not tried yet, as a move `[op, 0]`:
    /// the first-due op, if it was one, and the puts of the previous stage
    /// are in `tried`; every legal swapping cas was in the previous stage.
    /// Of several with the same value only the one completing first is
    /// kept: swapping two such ops in any linearization keeps it valid.
    ///
    /// Order (a heuristic only; all are tried): first the puts a
    /// linearization must place now or soon, namely the op that completed
    /// first (it cannot wait) and puts producing a state some pending op
    /// needs but does not have (a read of that value, a swapping cas
    /// expecting it, a non-swapping cas expecting the current value, a
    /// timed-out cas expecting it); then the rest. Within each class,
    /// earliest completion first.
    fn generate_other_writes(&mut self, tried: &[Action]) -> Result<(), Exhausted> {
        let mut window = std::mem::take(&mut self.scratch_window);
        let mut candidates = std::mem::take(&mut self.scratch_candidates);
        let mut demands = std::mem::take(&mut self.scratch_demands);
        let mut seen = std::mem::take(&mut self.scratch_actions);
        seen.clear();
        seen.extend(tried.iter().copied());
        let result = self.other_writes(&mut window, &mut candidates, &mut demands, &mut seen);
        self.scratch_window = window;
        self.scratch_candidates = candidates;
        self.scratch_demands = demands;
        self.scratch_actions = seen;
        result
    }

    fn other_writes(
        &mut self,
        window: &mut Vec<u32>,
        candidates: &mut Vec<(u64, u32)>,
        demands: &mut HashSet<State>,
        seen: &mut HashSet<Action>,
    ) -> Result<(), Exhausted> {
        let p = self.p;
        candidates.clear();
        demands.clear();
        let state = self.state;
        let first_due = self.window(window);
        self.charge(1 + window.len() as u64)?;
        let mut any_change = false;
        for &op in window.iter() {
            let action = p.ops[op as usize].action;
            if action.apply_completed(state).is_some() {
                continue;
            }
            match action {
                Action::Read(value) => {
                    demands.insert(value);
                }
                Action::CasSwapped { expected, .. } => {
                    demands.insert(Some(expected));
                }
                Action::CasNotSwapped { .. } => any_change = true,
                _ => {}
            }
        }
        self.charge(window.len() as u64)?;
        for &op in window.iter() {
            let key_op = &p.ops[op as usize];
            let Action::Put(value) = key_op.action else {
                continue;
            };
            let next_state = Some(value);
            let urgent = op == first_due
                || next_state != state
                    && (any_change || demands.contains(&next_state) || p.maybe_cas_expected.contains(&value));
            let deadline_ns = key_op.complete_ns.unwrap_or(u64::MAX);
            // Sort key: urgent ones first, then by completion.
            let class = u64::from(!urgent) << 63;
            candidates.push((class | deadline_ns.min(u64::MAX >> 1), op));
        }
        let sort_steps = candidates.len() as u64 * u64::from(usize::BITS - candidates.len().leading_zeros());
        self.charge(sort_steps + candidates.len() as u64)?;
        candidates.sort_unstable();
        // Puts of one value share a class, but for the first-due op, which
        // completes first of all: the first of each is the one to keep.
        for &(_, op) in candidates.iter() {
            if seen.insert(p.ops[op as usize].action) {
                self.moves.extend_from_slice(&[op, 0]);
            }
        }
        Ok(())
    }

    /// First unused op of `group` if it is invoked within the window.
    fn available(&self, group: u32, window_end_ns: u64) -> bool {
        let g = &self.p.groups[group as usize];
        g.ops.get(self.used[group as usize]).is_some_and(|&op| self.p.ops[op as usize].invoke_ns <= window_end_ns)
    }

    /// For every completed op in the window that is illegal in the current
    /// state, every chain of timed-out ops that makes it legal, as moves
    /// `[op, chain_len, groups...]`.
    fn generate_chain_moves(&mut self) -> Result<(), Exhausted> {
        if self.p.groups.is_empty() {
            return Ok(());
        }
        let window_end_ns = self.window_end_ns();
        let state = self.state;
        let mut entry = self.next[self.head as usize];
        while entry != self.tail && !self.p.entry_is_return[entry as usize] {
            self.charge(1)?;
            let op = self.p.entry_op[entry as usize];
            entry = self.next[entry as usize];
            let action = self.p.ops[op as usize].action;
            if action.apply_completed(state).is_some() {
                continue;
            }
            match action {
                Action::Read(Some(target)) => {
                    self.chains_to(op, target, window_end_ns)?;
                }
                Action::CasSwapped { expected, .. } => {
                    self.chains_to(op, expected, window_end_ns)?;
                }
                Action::CasNotSwapped { expected } => {
                    // The state is Some(expected); any single timed-out op
                    // that changes it makes the failed cas legal.
                    for index in 0..self.p.put_groups.len() {
                        let group = self.p.put_groups[index];
                        self.charge(1)?;
                        let changes = matches!(
                            self.p.groups[group as usize].effect,
                            Action::MaybePut(value) if value != expected
                        );
                        if changes && self.available(group, window_end_ns) {
                            self.moves.extend_from_slice(&[op, 1, group]);
                        }
                    }
                    if let Some(cas_groups) = self.p.cas_groups_by_expected.get(&expected) {
                        for &group in cas_groups {
                            self.charge(1)?;
                            if self.available(group, window_end_ns) {
                                self.moves.extend_from_slice(&[op, 1, group]);
                            }
                        }
                    }
                }
                // Reads of an absent key cannot be enabled (nothing deletes);
                // puts are always legal.
                _ => {}
            }
        }
        Ok(())
    }

    /// Emits every simple chain (optional timed-out put, then timed-out cases
    /// along distinct values) from the current state to `Some(target)`,
    /// searching backwards from the target with an explicit stack.
    fn chains_to(&mut self, op: u32, target: Value, window_end_ns: u64) -> Result<(), Exhausted> {
        let state = self.state;
        let mut stack = std::mem::take(&mut self.chain_stack);
        let mut chosen = std::mem::take(&mut self.chain_groups);
        chosen.clear();
        stack.clear();
        stack.push((target, 0));
        let result = loop {
            let Some(&(value, candidate)) = stack.last() else {
                break Ok(());
            };
            // One step, and one per value on the stack compared below.
            if let Err(out) = self.charge(1 + stack.len() as u64) {
                break Err(out);
            }
            let top = stack.len() - 1;
            stack[top].1 += 1;
            if candidate == 0 {
                // A timed-out put of `value` ends the chain here.
                if let Some(&group) = self.p.put_group_by_value.get(&value) {
                    if self.available(group, window_end_ns) {
                        self.emit_chain(op, group, &chosen);
                    }
                }
                continue;
            }
            let cas_groups = self.p.cas_groups_by_new.get(&value).map_or(&[][..], Vec::as_slice);
            let Some(&group) = cas_groups.get(candidate - 1) else {
                stack.pop();
                chosen.pop();
                continue;
            };
            if !self.available(group, window_end_ns) {
                continue;
            }
            let Action::MaybeCas { expected, .. } = self.p.groups[group as usize].effect else {
                continue;
            };
            if state == Some(expected) {
                self.emit_chain(op, group, &chosen);
            } else if stack.iter().all(|&(seen, _)| seen != expected) {
                chosen.push(group);
                stack.push((expected, 0));
            }
        };
        self.chain_stack = stack;
        self.chain_groups = chosen;
        result
    }

    /// Encodes `[op, len, first, chosen reversed...]`.
    fn emit_chain(&mut self, op: u32, first: u32, chosen: &[u32]) {
        self.moves.push(op);
        self.moves.push(chosen.len() as u32 + 1);
        self.moves.push(first);
        self.moves.extend(chosen.iter().rev());
    }

    // -- Applying and undoing moves --------------------------------------

    fn remove_entry(&mut self, entry: u32) {
        let (prev, next) = (self.prev[entry as usize], self.next[entry as usize]);
        self.next[prev as usize] = next;
        self.prev[next as usize] = prev;
    }

    fn restore_entry(&mut self, entry: u32) {
        let (prev, next) = (self.prev[entry as usize], self.next[entry as usize]);
        self.next[prev as usize] = entry;
        self.prev[next as usize] = entry;
    }

    fn state_key(&self) -> [u64; 2] {
        state_key(self.state, self.state_unobservable)
    }

    /// Encodes the configuration — the linearized set as marked, and
    /// `state_words` — into `key_words`, exactly and canonically, and
    /// returns the words visited. Every completed op returning before the
    /// first one not linearized (return rank `first`) is linearized, so the
    /// words are: the two state words; `first`; the count of words that
    /// follow for the completed ops linearized ahead of it: the non-zero
    /// words of the return-rank bitmap from `first`'s on (bits up to
    /// `first` cleared), in runs of consecutive words, each with a header
    /// (index, length); then the same runs for the timed-out ops' bitmap.
    fn encode_configuration(&mut self, state_words: [u64; 2]) -> u64 {
        let key = &mut self.key_words;
        key.clear();
        key.extend_from_slice(&state_words);
        let first = fenwick_select(&self.unlinearized_by_return, 0).unwrap_or(self.p.completed_count);
        key.push(first as u64);
        let count_at = key.len();
        key.push(0);
        let ahead = self.completed_linearized - first;
        let above_first = if first % 64 == 63 { 0 } else { !0u64 << (first % 64 + 1) };
        let mut visited =
            push_word_runs(&self.by_return_bits, &self.by_return_summary, first / 64, above_first, ahead, key);
        key[count_at] = (key.len() - count_at - 1) as u64;
        visited += push_word_runs(&self.maybe_bits, &self.maybe_summary, 0, !0, self.maybe_linearized, key);
        visited + key.len() as u64
    }

    /// Records the configuration as marked, with `state_words`; `false` if
    /// it was visited before.
    fn memo_insert(&mut self, state_words: [u64; 2]) -> Result<bool, Exhausted> {
        let visited = self.encode_configuration(state_words);
        let hash = self.hash ^ state_key_hash(state_words);
        let mut compared = 0;
        let fresh = self.memo.insert(hash, &self.key_words, &mut compared);
        let built = 1 + visited.div_ceil(WORDS_PER_STEP as u64);
        self.charge(built + compared)?;
        match fresh {
            Some(true) => self.check_memory().map(|()| true),
            Some(false) => Ok(false),
            // More configurations than entry ids: far past any memory budget.
            None => Err(Exhausted::Memory),
        }
    }

    /// Applies a move; if it leads to an unvisited configuration, descends.
    fn try_move(&mut self, candidate: Move) -> Result<(), Exhausted> {
        self.charge(1)?;
        let Move { op, chain_start, chain_len } = candidate;
        let prev_state = self.state;
        let prev_state_slot = self.state_slot;
        let prev_state_unobservable = self.state_unobservable;
        let path_len_before = self.path.len();

        // Tentatively apply the chain, then the completed op.
        let mut state = prev_state;
        let mut slot = prev_state_slot;
        let mut applied = 0u32;
        let mut legal = true;
        for i in 0..chain_len {
            let group = self.moves[chain_start + i as usize];
            let g = &self.p.groups[group as usize];
            let Some(&maybe_op) = g.ops.get(self.used[group as usize]) else {
                legal = false;
                break;
            };
            match g.effect.apply_maybe(state) {
                Some(next_state) => state = next_state,
                None => {
                    legal = false;
                    break;
                }
            }
            self.used[group as usize] += 1;
            self.mark(maybe_op, true);
            slot = self.p.writes_slot[maybe_op as usize];
            self.path.push(maybe_op);
            applied += 1;
        }
        let action = self.p.ops[op as usize].action;
        let next_state = if legal { action.apply_completed(state) } else { None };
        let is_write = matches!(action, Action::Put(_) | Action::CasSwapped { .. });
        let unobservable =
            if is_write { self.p.unobservable[op as usize] } else { prev_state_unobservable && chain_len == 0 };
        let fresh = match next_state {
            Some(next_state) => {
                self.mark(op, true);
                let fresh = self.memo_insert(state_key(next_state, unobservable));
                if fresh != Ok(true) {
                    self.mark(op, false);
                }
                fresh?
            }
            None => false,
        };
        let Some(next_state) = next_state.filter(|_| fresh) else {
            self.undo_chain(chain_start, applied);
            self.path.truncate(path_len_before);
            return Ok(());
        };

        // Descend.
        if is_write {
            slot = self.p.writes_slot[op as usize];
        }
        self.state = next_state;
        self.state_slot = slot;
        self.state_unobservable = unobservable;
        self.path.push(op);
        self.remove_entry(self.p.call_entry[op as usize]);
        self.remove_entry(self.p.return_entry[op as usize]);
        let moves_start = self.moves.len();
        self.nodes.push(Node {
            via_op: op,
            via_chain_start: chain_start,
            via_chain_len: chain_len,
            prev_state,
            prev_state_slot,
            prev_state_unobservable,
            path_len_before,
            stage: Stage::Fresh,
            moves_start,
            next_move: moves_start,
            moves_end: moves_start,
        });
        self.check_memory()
    }

    /// Reverts the first `applied` ops of a chain, last first.
    fn undo_chain(&mut self, chain_start: usize, applied: u32) {
        for i in (0..applied).rev() {
            let group = self.moves[chain_start + i as usize];
            self.used[group as usize] -= 1;
            let maybe_op = self.p.groups[group as usize].ops[self.used[group as usize]];
            self.mark(maybe_op, false);
        }
    }

    /// Pops the current node, undoing the move into it.
    fn backtrack(&mut self) {
        let Some(node) = self.nodes.pop() else {
            return;
        };
        self.moves.truncate(node.moves_start);
        let op = node.via_op;
        self.restore_entry(self.p.return_entry[op as usize]);
        self.restore_entry(self.p.call_entry[op as usize]);
        self.mark(op, false);
        self.undo_chain(node.via_chain_start, node.via_chain_len);
        self.path.truncate(node.path_len_before);
        self.state = node.prev_state;
        self.state_slot = node.prev_state_slot;
        self.state_unobservable = node.prev_state_unobservable;
    }

    /// Remembers the current node if it is the deepest dead end so far.
    fn record_dead_end(&mut self) -> Result<(), Exhausted> {
        if self.deepest.as_ref().is_some_and(|d| d.completed_linearized >= self.completed_linearized) {
            return Ok(());
        }
        let (mut pending, mut prefix_tail) =
            self.deepest.take().map_or_else(Default::default, |d| (d.pending, d.prefix_tail));
        // The window's first ops, up to one more than are kept.
        pending.clear();
        let mut entry = self.next[self.head as usize];
        while entry != self.tail && !self.p.entry_is_return[entry as usize] && pending.len() <= PENDING_SHOWN {
            pending.push(self.p.entry_op[entry as usize]);
            entry = self.next[entry as usize];
        }
        let more_pending = pending.len() > PENDING_SHOWN;
        pending.truncate(PENDING_SHOWN);
        let blocking = self.first_due();
        let skipped = self.path.len().saturating_sub(PREFIX_LINES_SHOWN);
        prefix_tail.clear();
        prefix_tail.extend_from_slice(&self.path[skipped..]);
        self.charge(1 + pending.len() as u64 + prefix_tail.len() as u64)?;
        let doomed = self.find_doomed_op();
        self.deepest = Some(DeadEnd {
            completed_linearized: self.completed_linearized,
            prefix_len: self.path.len(),
            prefix_tail,
            state: self.state,
            pending,
            more_pending,
            blocking,
            doomed,
        });
        self.check_memory()
    }
}

fn describe_state(state: State) -> String {
    match state {
        Some(value) => format!("value {value}"),
        None => "absent".to_string(),
    }
}

fn describe_violation(history: &History, key: Key, problem: &KeyProblem, dead_end: &DeadEnd) -> Violation {
    let history_index = |local: u32| problem.ops[local as usize].history_index;
    let describe = |local: u32| -> String {
        let index = history_index(local);
        format!("op #{index}: {}", history.ops[index])
    };
    let timed_out = problem.ops.len() - problem.completed_count;
    let mut message = format!(
        "key {key} is not linearizable ({} ops with a known outcome, {timed_out} timed out).\n",
        problem.completed_count
    );
    let _ = writeln!(
        message,
        "Longest linearizable prefix found: {} ops ({} with a known outcome){}",
        dead_end.prefix_len,
        dead_end.completed_linearized,
        if dead_end.prefix_len == 0 { "." } else { ":" }
    );
    let skipped = dead_end.prefix_len - dead_end.prefix_tail.len();
    if skipped > 0 {
        let _ = writeln!(message, "  ... {skipped} earlier ops omitted");
    }
    for &local in &dead_end.prefix_tail {
        let _ = writeln!(message, "  {}", describe(local));
    }
    let _ = writeln!(message, "Register after the prefix: {}.", describe_state(dead_end.state));
    let stuck_ops = if dead_end.doomed != NONE {
        let needed = match problem.ops[dead_end.doomed as usize].action {
            Action::Read(value) => value,
            Action::CasSwapped { expected, .. } => Some(expected),
            _ => dead_end.state,
        };
        let _ = writeln!(
            message,
            "No extension of this prefix works: {}\n  needs the register to be {}, but every \
             write that could make it so before that op completed is already in the prefix \
             and overwritten (or there is none).",
            describe(dead_end.doomed),
            describe_state(needed)
        );
        vec![history_index(dead_end.doomed)]
    } else {
        let _ = writeln!(
            message,
            "No extension of this prefix works: no order of the pending ops (together with \
             any timed-out writes) explains their outcomes."
        );
        dead_end.pending.iter().map(|&local| history_index(local)).collect()
    };
    if !dead_end.pending.is_empty() {
        let _ = writeln!(message, "Pending ops (invoked, not yet linearized):");
        for &local in &dead_end.pending {
            let _ = writeln!(message, "  {}", describe(local));
        }
        if dead_end.more_pending {
            let _ = writeln!(message, "  ... and more (the first {PENDING_SHOWN} by invocation are shown)");
        }
    }
    if dead_end.blocking != NONE {
        let complete_ns = problem.ops[dead_end.blocking as usize].complete_ns.unwrap_or(u64::MAX);
        let _ = write!(
            message,
            "op #{} completed first, at {complete_ns} ns, so it had to be linearized before \
             anything invoked later.",
            history_index(dead_end.blocking)
        );
    }
    Violation { key, message, stuck_ops }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // ---------------------------------------------------------------
    // Builders.

    fn put(client: u32, invoke_ns: u64, complete_ns: u64, key: Key, value: Value) -> Operation {
        Operation {
            client,
            invoke_ns,
            complete_ns: Some(complete_ns),
            kind: OpKind::Put { key, value },
            outcome: Outcome::Written,
            at: None,
            sync: false,
        }
    }

    fn get(client: u32, invoke_ns: u64, complete_ns: u64, key: Key, value: Option<Value>) -> Operation {
        Operation {
            client,
            invoke_ns,
            complete_ns: Some(complete_ns),
            kind: OpKind::Get { key },
            outcome: Outcome::Read { value },
            at: None,
            sync: false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn cas(
        client: u32,
        invoke_ns: u64,
        complete_ns: u64,
        key: Key,
        expected: Value,
        new: Value,
        swapped: bool,
    ) -> Operation {
        Operation {
            client,
            invoke_ns,
            complete_ns: Some(complete_ns),
            kind: OpKind::Cas { key, expected, new },
            outcome: Outcome::Cas { swapped },
            at: None,
            sync: false,
        }
    }

    fn timed_out(client: u32, invoke_ns: u64, kind: OpKind) -> Operation {
        Operation { client, invoke_ns, complete_ns: None, kind, outcome: Outcome::Unknown, at: None, sync: false }
    }

    fn failed(client: u32, invoke_ns: u64, complete_ns: u64, kind: OpKind) -> Operation {
        Operation {
            client,
            invoke_ns,
            complete_ns: Some(complete_ns),
            kind,
            outcome: Outcome::Failed,
            at: None,
            sync: false,
        }
    }

    fn history(ops: Vec<Operation>) -> History {
        History { ops }
    }

    /// Checks with a generous budget and, for small histories, asserts that
    /// the brute-force reference agrees.
    fn verdict(ops: Vec<Operation>) -> Verdict {
        let h = history(ops);
        let report = check(&h, &Budget::default());
        if h.ops.len() <= 9 {
            assert_eq!(
                report.verdict.is_ok(),
                brute_force_linearizable(&h),
                "checker and brute force disagree on {h:#?}: {:?}",
                report.verdict
            );
        }
        report.verdict
    }

    fn assert_ok(ops: Vec<Operation>) {
        let v = verdict(ops);
        assert!(v.is_ok(), "expected Ok, got {v:?}");
    }

    fn assert_violation(ops: Vec<Operation>) -> Violation {
        match verdict(ops) {
            Verdict::Violation(violation) => violation,
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    // ---------------------------------------------------------------
    // Brute-force reference: tries every order of every subset of the
    // timed-out ops, with a state map over all keys (no partitioning).

    fn brute_force_linearizable(h: &History) -> bool {
        let ops: Vec<&Operation> = h
            .ops
            .iter()
            .filter(|op| {
                !matches!(op.outcome, Outcome::Failed)
                    && !matches!((&op.kind, &op.outcome), (OpKind::Get { .. }, Outcome::Unknown))
            })
            .collect();
        assert!(ops.len() <= 24, "brute force is for tiny histories");
        type Registers = BTreeMap<Key, Value>;
        fn go(
            ops: &[&Operation],
            done: u32,
            state: &mut Registers,
            failed: &mut std::collections::HashSet<(u32, Registers)>,
        ) -> bool {
            let all_completed_done =
                ops.iter().enumerate().all(|(i, op)| op.complete_ns.is_none() || done & (1 << i) != 0);
            if all_completed_done {
                return true;
            }
            if failed.contains(&(done, state.clone())) {
                return false;
            }
            for (i, op) in ops.iter().enumerate() {
                if done & (1 << i) != 0 {
                    continue;
                }
                // Every pending op that completed before `op` was invoked
                // must already be linearized.
                let blocked = ops
                    .iter()
                    .enumerate()
                    .any(|(j, other)| done & (1 << j) == 0 && other.complete_ns.is_some_and(|c| c < op.invoke_ns));
                if blocked {
                    continue;
                }
                let key = op.kind.key();
                let before = state.get(&key).copied();
                let after = match (&op.kind, &op.outcome) {
                    (OpKind::Get { .. }, Outcome::Read { value }) => {
                        if before != *value {
                            continue;
                        }
                        before
                    }
                    (OpKind::Put { value, .. }, _) => Some(*value),
                    (OpKind::Cas { expected, new, .. }, Outcome::Cas { swapped }) => {
                        if (before == Some(*expected)) != *swapped {
                            continue;
                        }
                        if *swapped {
                            Some(*new)
                        } else {
                            before
                        }
                    }
                    (OpKind::Cas { expected, new, .. }, Outcome::Unknown) => {
                        if before == Some(*expected) {
                            Some(*new)
                        } else {
                            before
                        }
                    }
                    _ => unreachable!("filtered or invalid"),
                };
                match after {
                    Some(value) => state.insert(key, value),
                    None => state.remove(&key),
                };
                let found = go(ops, done | (1 << i), state, failed);
                match before {
                    Some(value) => state.insert(key, value),
                    None => state.remove(&key),
                };
                if found {
                    return true;
                }
            }
            failed.insert((done, state.clone()));
            false
        }
        go(&ops, 0, &mut BTreeMap::new(), &mut std::collections::HashSet::new())
    }

    // ---------------------------------------------------------------
    // Deterministic history generator.

    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            mix64(self.0)
        }

        /// Uniform-ish in `0..n` (`n > 0`).
        fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }

        fn percent(&mut self, p: u64) -> bool {
            self.below(100) < p
        }
    }

    #[derive(Clone, Copy, Debug)]
    struct GenParams {
        ops: usize,
        clients: u32,
        keys: u64,
        values: u64,
        max_gap_ns: u64,
        max_duration_ns: u64,
        failed_percent: u64,
        unknown_percent: u64,
        /// One global clock: no two ops overlap (strictly separated).
        sequential: bool,
    }

    /// Generates a history of a correct (linearizable) system: every op gets
    /// a linearization point inside its interval (timed-out ops: anywhere
    /// after invoke, or never), outcomes come from applying the ops to the
    /// model in linearization-point order.
    fn generate(seed: u64, params: GenParams) -> History {
        let mut rng = Rng(seed);
        let mut client_clock_ns = vec![0u64; params.clients as usize];
        let mut global_clock_ns = 0u64;
        let mut ops = Vec::with_capacity(params.ops);
        let mut points: Vec<(u64, usize)> = Vec::new();
        for index in 0..params.ops {
            let client = rng.below(u64::from(params.clients)) as u32;
            let clock = if params.sequential { &mut global_clock_ns } else { &mut client_clock_ns[client as usize] };
            let gap_ns = rng.below(params.max_gap_ns + 1) + u64::from(params.sequential);
            let invoke_ns = *clock + gap_ns;
            let complete_ns = invoke_ns + rng.below(params.max_duration_ns + 1);
            *clock = complete_ns;
            let key = rng.below(params.keys);
            let kind = match rng.below(10) {
                0..=3 => OpKind::Get { key },
                4..=6 => OpKind::Put { key, value: rng.below(params.values) },
                _ => OpKind::Cas { key, expected: rng.below(params.values), new: rng.below(params.values) },
            };
            let roll = rng.below(100);
            let (outcome, complete_ns, point_ns) = if roll < params.failed_percent {
                (Outcome::Failed, Some(complete_ns), None)
            } else if roll < params.failed_percent + params.unknown_percent {
                let point_ns = if params.sequential {
                    Some(invoke_ns + rng.below(complete_ns - invoke_ns + 1))
                } else {
                    Some(invoke_ns + rng.below(4 * params.max_duration_ns + 1))
                };
                (Outcome::Unknown, None, point_ns.filter(|_| rng.percent(50)))
            } else {
                // Placeholder outcome, fixed below.
                let point_ns = invoke_ns + rng.below(complete_ns - invoke_ns + 1);
                (Outcome::Written, Some(complete_ns), Some(point_ns))
            };
            if let Some(point_ns) = point_ns {
                points.push((point_ns, index));
            }
            ops.push(Operation { client, invoke_ns, complete_ns, kind, outcome, at: None, sync: false });
        }
        points.sort_unstable();
        let mut registers: BTreeMap<Key, Value> = BTreeMap::new();
        for &(_, index) in &points {
            let op = &mut ops[index];
            let known = op.complete_ns.is_some();
            match op.kind {
                OpKind::Get { key } => {
                    if known {
                        op.outcome = Outcome::Read { value: registers.get(&key).copied() };
                    }
                }
                OpKind::Put { key, value } => {
                    registers.insert(key, value);
                    if known {
                        op.outcome = Outcome::Written;
                    }
                }
                OpKind::Cas { key, expected, new } => {
                    let swapped = registers.get(&key) == Some(&expected);
                    if swapped {
                        registers.insert(key, new);
                    }
                    if known {
                        op.outcome = Outcome::Cas { swapped };
                    }
                }
                OpKind::Propose { key, value } => {
                    let chosen = *registers.entry(key).or_insert(value);
                    if known {
                        op.outcome = Outcome::Chosen { value: chosen };
                    }
                }
            }
        }
        let h = History { ops };
        assert_eq!(h.validate(), Ok(()));
        h
    }

    fn small_params(ops: usize, clients: u32, sequential: bool) -> GenParams {
        GenParams {
            ops,
            clients,
            keys: 3,
            values: 4,
            max_gap_ns: 4,
            max_duration_ns: 8,
            failed_percent: 5,
            unknown_percent: 10,
            sequential,
        }
    }

    /// Randomly corrupts outcomes so that some histories become
    /// non-linearizable.
    fn mutate(h: &mut History, rng: &mut Rng, values: u64) {
        for op in &mut h.ops {
            if !rng.percent(25) {
                continue;
            }
            op.outcome = match (&op.kind, &op.outcome) {
                (OpKind::Get { .. }, Outcome::Read { .. }) => {
                    Outcome::Read { value: if rng.percent(20) { None } else { Some(rng.below(values)) } }
                }
                (OpKind::Cas { .. }, Outcome::Cas { swapped }) => Outcome::Cas { swapped: !swapped },
                (_, outcome) => outcome.clone(),
            };
        }
    }

    // ---------------------------------------------------------------
    // Hand-written histories.

    #[test]
    fn empty_history_is_ok() {
        let report = check(&History::default(), &Budget::default());
        assert_eq!(report.verdict, Verdict::Ok);
        assert_eq!(report.keys_checked, 0);
        assert_eq!(report.steps, 0);
    }

    #[test]
    fn sequential_put_get() {
        assert_ok(vec![
            get(1, 0, 1, 1, None),
            put(1, 2, 3, 1, 10),
            get(2, 4, 5, 1, Some(10)),
            put(2, 6, 7, 1, 11),
            get(1, 8, 9, 1, Some(11)),
            cas(1, 10, 11, 1, 11, 12, true),
            cas(2, 12, 13, 1, 11, 13, false),
            get(2, 14, 15, 1, Some(12)),
        ]);
    }

    #[test]
    fn concurrent_put_and_get_may_see_old_or_new() {
        for seen in [None, Some(5)] {
            assert_ok(vec![put(1, 0, 10, 1, 5), get(2, 2, 8, 1, seen)]);
        }
        // Two concurrent writes, reads afterwards agree on one order.
        for last in [5, 6] {
            assert_ok(vec![
                put(1, 0, 10, 1, 5),
                put(2, 0, 10, 1, 6),
                get(3, 11, 12, 1, Some(last)),
                get(3, 13, 14, 1, Some(last)),
            ]);
        }
    }

    #[test]
    fn equal_timestamps_are_concurrent() {
        // The get is invoked exactly when the put completes: concurrent, so
        // the old value is allowed...
        assert_ok(vec![put(1, 0, 10, 1, 5), get(2, 10, 12, 1, None)]);
        // ...one nanosecond later it is not.
        assert_violation(vec![put(1, 0, 10, 1, 5), get(2, 11, 12, 1, None)]);
    }

    #[test]
    fn read_of_a_value_never_written() {
        let violation = assert_violation(vec![put(1, 0, 1, 1, 5), get(2, 2, 3, 1, Some(7))]);
        assert_eq!(violation.key, 1);
        assert_eq!(violation.stuck_ops, vec![1]);
        assert!(violation.message.contains("op #1"), "{}", violation.message);
        assert!(violation.message.contains("read 7"), "{}", violation.message);
    }

    #[test]
    fn stale_read_after_completed_write() {
        let violation = assert_violation(vec![put(1, 0, 1, 1, 5), put(1, 2, 3, 1, 6), get(2, 4, 5, 1, Some(5))]);
        assert!(violation.message.contains("Register after the prefix: value 6"), "{}", violation.message);
    }

    #[test]
    fn lost_write() {
        // An acknowledged write that later reads do not see.
        assert_violation(vec![
            put(1, 0, 5, 1, 5),
            get(2, 6, 7, 1, Some(5)),
            put(3, 8, 9, 1, 6),
            get(2, 10, 11, 1, Some(5)),
        ]);
        // Lost update: two cases from the same value both claim success.
        assert_violation(vec![put(1, 0, 1, 1, 0), cas(2, 2, 10, 1, 0, 1, true), cas(3, 2, 10, 1, 0, 2, true)]);
        // ...fine if only one of them did.
        assert_ok(vec![
            put(1, 0, 1, 1, 0),
            cas(2, 2, 10, 1, 0, 1, true),
            cas(3, 2, 10, 1, 0, 2, false),
            get(1, 11, 12, 1, Some(1)),
        ]);
    }

    #[test]
    fn cas_contradicting_prior_state() {
        assert_violation(vec![put(1, 0, 1, 1, 1), cas(2, 2, 3, 1, 2, 3, true)]);
        assert_violation(vec![put(1, 0, 1, 1, 1), cas(2, 2, 3, 1, 1, 3, false)]);
        // A cas on an absent key never swaps.
        assert_violation(vec![cas(2, 2, 3, 1, 0, 3, true)]);
        assert_ok(vec![cas(2, 2, 3, 1, 0, 3, false), get(1, 4, 5, 1, None)]);
    }

    #[test]
    fn timed_out_put_read_later_is_ok() {
        assert_ok(vec![
            put(1, 0, 1, 1, 5),
            timed_out(2, 2, OpKind::Put { key: 1, value: 6 }),
            get(3, 3, 4, 1, Some(5)),
            get(3, 100, 101, 1, Some(6)),
        ]);
    }

    #[test]
    fn timed_out_put_never_read_is_ok() {
        assert_ok(vec![
            put(1, 0, 1, 1, 5),
            timed_out(2, 2, OpKind::Put { key: 1, value: 6 }),
            get(3, 3, 4, 1, Some(5)),
            get(3, 100, 101, 1, Some(5)),
            put(1, 102, 103, 1, 7),
            get(3, 104, 105, 1, Some(7)),
        ]);
    }

    #[test]
    fn timed_out_put_cannot_be_unread() {
        let violation = assert_violation(vec![
            put(1, 0, 1, 1, 5),
            timed_out(2, 2, OpKind::Put { key: 1, value: 6 }),
            get(3, 3, 4, 1, Some(6)),
            get(3, 5, 6, 1, Some(5)),
        ]);
        assert_eq!(violation.stuck_ops, vec![3]);
        // But two timed-out puts of the same value can explain it.
        assert_ok(vec![
            put(1, 0, 1, 1, 5),
            timed_out(2, 2, OpKind::Put { key: 1, value: 6 }),
            timed_out(4, 2, OpKind::Put { key: 1, value: 5 }),
            get(3, 3, 4, 1, Some(6)),
            get(3, 5, 6, 1, Some(5)),
        ]);
    }

    #[test]
    fn timed_out_put_takes_effect_only_after_invoke() {
        assert_violation(vec![get(3, 0, 1, 1, Some(6)), timed_out(2, 2, OpKind::Put { key: 1, value: 6 })]);
    }

    #[test]
    fn timed_out_cas_both_ways() {
        let cas_kind = OpKind::Cas { key: 1, expected: 5, new: 6 };
        // Took effect.
        assert_ok(vec![put(1, 0, 1, 1, 5), timed_out(2, 2, cas_kind.clone()), get(3, 10, 11, 1, Some(6))]);
        // Did not take effect.
        assert_ok(vec![put(1, 0, 1, 1, 5), timed_out(2, 2, cas_kind.clone()), get(3, 10, 11, 1, Some(5))]);
        // Could not have swapped: the value never was 5.
        assert_violation(vec![put(1, 0, 1, 1, 4), timed_out(2, 2, cas_kind.clone()), get(3, 10, 11, 1, Some(6))]);
        // Chain of timed-out ops: put 5 then cas 5 -> 6.
        assert_ok(vec![
            put(1, 0, 1, 1, 4),
            timed_out(2, 2, cas_kind.clone()),
            timed_out(4, 3, OpKind::Put { key: 1, value: 5 }),
            get(3, 10, 11, 1, Some(6)),
            get(3, 12, 13, 1, Some(6)),
        ]);
        // A failed cas explained by a timed-out put that changed the value.
        assert_ok(vec![
            put(1, 0, 1, 1, 5),
            timed_out(4, 2, OpKind::Put { key: 1, value: 7 }),
            cas(3, 10, 11, 1, 5, 9, false),
            get(3, 12, 13, 1, Some(7)),
        ]);
        assert_violation(vec![
            put(1, 0, 1, 1, 5),
            timed_out(4, 2, OpKind::Put { key: 1, value: 7 }),
            cas(3, 10, 11, 1, 5, 9, false),
            get(3, 12, 13, 1, Some(5)),
        ]);
    }

    #[test]
    fn failed_ops_are_ignored() {
        assert_ok(vec![
            put(1, 0, 1, 1, 5),
            failed(2, 2, 3, OpKind::Put { key: 1, value: 9 }),
            failed(2, 4, 5, OpKind::Cas { key: 1, expected: 5, new: 8 }),
            failed(2, 4, 5, OpKind::Get { key: 1 }),
            get(3, 6, 7, 1, Some(5)),
        ]);
        // A failed put did not take effect, so its value cannot be read.
        assert_violation(vec![
            put(1, 0, 1, 1, 5),
            failed(2, 2, 3, OpKind::Put { key: 1, value: 9 }),
            get(3, 6, 7, 1, Some(9)),
        ]);
        // Timed-out gets carry no information.
        assert_ok(vec![put(1, 0, 1, 1, 5), timed_out(2, 2, OpKind::Get { key: 1 })]);
    }

    #[test]
    fn multi_key_reports_the_first_violating_key() {
        let ops = vec![
            // Key 5 violates (listed first).
            put(1, 0, 1, 5, 1),
            get(2, 2, 3, 5, Some(2)),
            // Key 1 is fine.
            put(1, 0, 1, 1, 1),
            get(2, 2, 3, 1, Some(1)),
            // Key 3 violates.
            put(1, 10, 11, 3, 1),
            put(1, 12, 13, 3, 2),
            get(2, 14, 15, 3, Some(1)),
            // Key 9 is fine.
            get(2, 14, 15, 9, None),
        ];
        let report = check(&history(ops.clone()), &Budget::default());
        match &report.verdict {
            Verdict::Violation(violation) => {
                assert_eq!(violation.key, 3);
                assert_eq!(violation.stuck_ops, vec![6]);
                assert!(violation.message.starts_with("key 3 "), "{}", violation.message);
            }
            other => panic!("expected violation, got {other:?}"),
        }
        assert_eq!(report.keys_checked, 2);
        // Only one key violates.
        let mut one_bad: Vec<Operation> = ops;
        one_bad.drain(4..7);
        match check(&history(one_bad), &Budget::default()).verdict {
            Verdict::Violation(violation) => assert_eq!(violation.key, 5),
            other => panic!("expected violation, got {other:?}"),
        }
    }

    #[test]
    fn invalid_history_is_unknown() {
        let mut bad = put(1, 5, 4, 1, 1);
        let report = check(&history(vec![bad.clone()]), &Budget::default());
        assert!(report.verdict.is_unknown(), "{:?}", report.verdict);
        bad.complete_ns = Some(6);
        bad.outcome = Outcome::Read { value: None };
        let report = check(&history(vec![bad]), &Budget::default());
        match report.verdict {
            Verdict::Unknown { reason } => assert!(reason.contains("op #0"), "{reason}"),
            other => panic!("expected unknown, got {other:?}"),
        }
    }

    #[test]
    fn violation_message_shows_prefix_and_candidates() {
        let violation = assert_violation(vec![
            put(1, 0, 10, 1, 1),
            get(2, 11, 20, 1, Some(1)),
            get(3, 12, 22, 1, Some(2)),
            put(4, 13, 14, 1, 3),
        ]);
        let message = &violation.message;
        assert!(message.contains("Longest linearizable prefix"), "{message}");
        assert!(message.contains("op #0: client 1 put(key=1, value=1)"), "{message}");
        assert!(message.contains("invoked at 12 ns, completed at 22 ns -> read 2"), "{message}");
        assert!(violation.stuck_ops.contains(&2), "{violation:?}");
    }

    #[test]
    fn budget_exhaustion_is_unknown_never_ok() {
        let h = generate(
            7,
            GenParams {
                ops: 2_000,
                clients: 20,
                keys: 1,
                values: 50,
                max_gap_ns: 2,
                max_duration_ns: 50,
                failed_percent: 2,
                unknown_percent: 5,
                sequential: false,
            },
        );
        let report = check(&h, &Budget::new(10));
        assert!(report.verdict.is_unknown(), "{:?}", report.verdict);
        assert_eq!(report.keys_checked, 0);
        assert_eq!(report.steps, 11);
        match &report.verdict {
            Verdict::Unknown { reason } => assert!(reason.contains("budget"), "{reason}"),
            other => panic!("expected unknown, got {other:?}"),
        }
        let report = check(&h, &Budget::default());
        assert_eq!(report.verdict, Verdict::Ok);
        // Exactly enough budget is enough; one step less is not.
        let exact = Budget::new(report.steps);
        assert_eq!(check(&h, &exact).verdict, Verdict::Ok);
        let short = Budget::new(report.steps - 1);
        assert!(check(&h, &short).verdict.is_unknown());
    }

    #[test]
    fn checks_are_deterministic() {
        let mut params = small_params(3_000, 12, false);
        params.keys = 7;
        let h = generate(99, params);
        let first = check(&h, &Budget::default());
        assert_eq!(first.verdict, Verdict::Ok);
        assert_eq!(check(&h, &Budget::default()), first);
        let mut bad = h.clone();
        mutate(&mut bad, &mut Rng(5), params.values);
        let first = check(&bad, &Budget::default());
        assert!(first.verdict.is_violation(), "{:?}", first.verdict);
        assert_eq!(check(&bad, &Budget::default()), first);
    }

    /// Small histories, correct and corrupted, against the brute-force
    /// reference: one key or two, up to 40% timed-out ops.
    #[test]
    fn small_histories_agree_with_brute_force() {
        let (mut ok, mut bad) = (0u32, 0u32);
        for ops in 1..=12usize {
            for seed in 0..150u64 {
                for variant in 0..8u64 {
                    let clients = [2, 3, 5, 8][(variant % 4) as usize];
                    let mut params = small_params(ops, clients, false);
                    params.keys = 1 + u64::from(seed % 5 == 0);
                    params.values = 2 + seed % 3;
                    params.unknown_percent = [0, 10, 25, 40][(seed % 4) as usize];
                    params.max_duration_ns = 4 + seed % 12;
                    let mut h = generate(seed ^ (variant << 32), params);
                    if variant >= 4 {
                        mutate(&mut h, &mut Rng(seed ^ variant), params.values);
                    }
                    let expected = brute_force_linearizable(&h);
                    let report = check(&h, &Budget::default());
                    assert!(!report.verdict.is_unknown(), "{h:#?}");
                    assert_eq!(report.verdict.is_ok(), expected, "{h:#?}\n{:?}", report.verdict);
                    if expected {
                        ok += 1;
                    } else {
                        bad += 1;
                    }
                }
            }
        }
        assert!(bad > 2_000 && ok > 8_000, "ok {ok}, violations {bad}");
    }

    /// The generic search (`search.rs`) with the register's spec agrees with
    /// this module's search and with the brute-force reference on small
    /// histories, and with this module's search on larger ones.
    #[test]
    fn generic_search_agrees_with_the_register_search() {
        use crate::check::model::check_register_generic;
        let (mut ok, mut bad) = (0u32, 0u32);
        for seed in 0..2_500u64 {
            let ops = 1 + (seed % 12) as usize;
            let mut params = small_params(ops, [2, 3, 5][(seed % 3) as usize], false);
            params.keys = 1 + u64::from(seed % 5 == 0);
            params.values = 2 + seed % 3;
            params.unknown_percent = [0, 10, 25, 40][(seed % 4) as usize];
            let mut h = generate(seed, params);
            if seed % 2 == 1 {
                mutate(&mut h, &mut Rng(!seed), params.values);
            }
            let optimised = check(&h, &Budget::default());
            let generic = check_register_generic(&h, &Budget::default());
            assert!(!generic.verdict.is_unknown(), "{h:#?}\n{:?}", generic.verdict);
            assert_eq!(
                generic.verdict.is_ok(),
                optimised.verdict.is_ok(),
                "seed {seed}: {h:#?}\n{:?}",
                generic.verdict
            );
            assert_eq!(generic.verdict.is_ok(), brute_force_linearizable(&h), "seed {seed}: {h:#?}");
            if let (Verdict::Violation(a), Verdict::Violation(b)) = (&generic.verdict, &optimised.verdict) {
                assert_eq!(a.key, b.key, "seed {seed}: the first violating key");
            }
            if generic.verdict.is_ok() {
                ok += 1;
            } else {
                bad += 1;
            }
        }
        println!("generic register search vs optimised and brute force: {ok} linearizable, {bad} not, of 2500");
        assert!(ok > 1_000 && bad > 400, "ok {ok}, violations {bad}");
        // Larger histories: the two searches only.
        let (mut ok, mut bad) = (0u32, 0u32);
        for seed in 0..200u64 {
            let mut params = small_params(60 + (seed % 5) as usize * 20, 6, false);
            params.keys = 2;
            let mut h = generate(seed, params);
            if seed % 2 == 1 {
                mutate(&mut h, &mut Rng(seed), params.values);
            }
            let optimised = check(&h, &Budget::default());
            let generic = check_register_generic(&h, &Budget::default());
            assert!(!generic.verdict.is_unknown() && !optimised.verdict.is_unknown(), "seed {seed}");
            assert_eq!(generic.verdict.is_ok(), optimised.verdict.is_ok(), "seed {seed}: {h:#?}");
            if generic.verdict.is_ok() {
                ok += 1;
            } else {
                bad += 1;
            }
        }
        println!("generic register search vs optimised, 60 to 140 ops: {ok} linearizable, {bad} not, of 200");
        assert!(ok >= 100 && bad > 50, "ok {ok}, violations {bad}");
    }

    /// 60,000 ops over 100 keys from 20 clients, with 1% failed and 2%
    /// timed-out ops.
    #[test]
    fn large_correct_history_checks_within_budget() {
        let params = GenParams {
            ops: 60_000,
            clients: 20,
            keys: 100,
            values: 16,
            max_gap_ns: 50,
            max_duration_ns: 400,
            failed_percent: 1,
            unknown_percent: 2,
            sequential: false,
        };
        let h = generate(42, params);
        let report = check(&h, &Budget::default());
        eprintln!("60k ops / 100 keys / 20 clients: {:?}, {} steps", report.verdict, report.steps);
        assert_eq!(report.verdict, Verdict::Ok);
        assert_eq!(report.keys_checked, 100);
        assert!(report.steps <= 10_000_000);
    }

    /// One hot key: 5,000 ops from 40 clients, nearly always 40 in flight.
    #[test]
    fn hot_key_correct_history_checks_within_budget() {
        let params = GenParams {
            ops: 5_000,
            clients: 40,
            keys: 1,
            values: 1_000,
            max_gap_ns: 2,
            max_duration_ns: 100,
            failed_percent: 1,
            unknown_percent: 1,
            sequential: false,
        };
        let h = generate(1, params);
        let report = check(&h, &Budget::default());
        eprintln!("5k ops / 1 key / 40 clients: {:?}, {} steps", report.verdict, report.steps);
        assert_eq!(report.verdict, Verdict::Ok);
    }

    /// 20,000 ops on 2 keys from 20 clients, 3% timed out.
    #[test]
    fn contended_correct_history_checks_within_budget() {
        let params = GenParams {
            ops: 20_000,
            clients: 20,
            keys: 2,
            values: 1_000,
            max_gap_ns: 20,
            max_duration_ns: 200,
            failed_percent: 1,
            unknown_percent: 3,
            sequential: false,
        };
        let h = generate(4242, params);
        let report = check(&h, &Budget::default());
        eprintln!("20k ops / 2 keys / 20 clients: {:?}, {} steps", report.verdict, report.steps);
        assert_eq!(report.verdict, Verdict::Ok);
    }

    /// `ops` ops on key 1, all concurrent (every one invoked before any
    /// completes; completions in invocation order), linearized in a random
    /// order: 40% gets, 40% puts of fresh values, 20% cases, half of which
    /// swap.
    fn all_concurrent(seed: u64, ops: u64) -> History {
        let mut rng = Rng(seed);
        let mut order: Vec<(u64, u64)> = (0..ops).map(|i| (rng.next_u64(), i)).collect();
        order.sort_unstable();
        let mut history: Vec<Operation> = (0..ops).map(|i| get(i as u32, i, ops + i, 1, None)).collect();
        let (mut register, mut fresh) = (None, 1);
        for &(_, i) in &order {
            fresh += 1;
            let op = &mut history[i as usize];
            match rng.below(10) {
                0..=3 => op.outcome = Outcome::Read { value: register },
                4..=7 => {
                    op.kind = OpKind::Put { key: 1, value: fresh };
                    op.outcome = Outcome::Written;
                    register = Some(fresh);
                }
                _ => {
                    let swapped = register.is_some() && rng.percent(50);
                    let current = register.unwrap_or(0);
                    let expected = if swapped { current } else { current.saturating_sub(1).max(1) };
                    op.kind = OpKind::Cas { key: 1, expected, new: fresh };
                    op.outcome = Outcome::Cas { swapped };
                    if swapped {
                        register = Some(fresh);
                    }
                }
            }
        }
        let h = History { ops: history };
        assert_eq!(h.validate(), Ok(()));
        h
    }

    /// 20,000 concurrent ops on one key: every op is a candidate at every
    /// step, so any work per step that grows with the window would take
    /// time quadratic in the ops. The search is done within the default
    /// budget, in steps (the figure that bounds time) and memory.
    #[test]
    fn twenty_thousand_concurrent_ops_on_one_key_check_within_budget() {
        let h = all_concurrent(7, 20_000);
        let report = check(&h, &Budget::default());
        eprintln!(
            "20k concurrent ops / 1 key: {:?}, {} steps, {} held",
            report.verdict,
            report.steps,
            describe_bytes(report.peak_memory)
        );
        assert_eq!(report.verdict, Verdict::Ok);
        assert_eq!(report.keys_checked, 1);
        assert!(report.steps < Budget::DEFAULT_MAX_STEPS / 4, "{} steps", report.steps);
        assert!(report.peak_memory < Budget::DEFAULT_MAX_MEMORY / 2, "{} bytes", report.peak_memory);
        // A read of a value never written: found at once.
        let mut bad = h.clone();
        if let Some(op) = bad.ops.iter_mut().find(|op| matches!(op.outcome, Outcome::Read { .. })) {
            op.outcome = Outcome::Read { value: Some(1) };
        }
        let report = check(&bad, &Budget::default());
        assert!(report.verdict.is_violation(), "{:?}", report.verdict);
        // Reads of other values, which may or may not still be
        // linearizable: whatever the verdict, the search stops within the
        // budget.
        let values: Vec<Value> = h
            .ops
            .iter()
            .filter_map(|op| match op.kind {
                OpKind::Put { value, .. } => Some(value),
                _ => None,
            })
            .collect();
        let mut shuffled = h.clone();
        let reads = shuffled.ops.iter_mut().filter(|op| matches!(op.outcome, Outcome::Read { .. }));
        for (i, op) in reads.enumerate().filter(|(i, _)| i % 7 == 0) {
            op.outcome = Outcome::Read { value: Some(values[i * 31 % values.len()]) };
        }
        let report = check(&shuffled, &Budget::default());
        eprintln!("20k concurrent ops, reads shuffled: {:?}, {} steps", report.verdict, report.steps);
        assert!(report.steps <= Budget::DEFAULT_MAX_STEPS + 1, "{} steps", report.steps);
    }

    /// The memory bound: past it the verdict is Unknown (never Ok), naming
    /// the bound; the estimate is exact to the byte, so the bound that is
    /// just enough is enough on every machine, and one byte less is not.
    #[test]
    fn memory_exhaustion_is_unknown_never_ok() {
        let h = all_concurrent(3, 5_000);
        let report = check(&h, &Budget::default());
        assert_eq!(report.verdict, Verdict::Ok);
        let peak = report.peak_memory;
        assert!(peak > 0);
        for max_memory in [1, 64 << 10, peak / 2, peak - 1] {
            let short = check(&h, &Budget::default().with_max_memory(max_memory));
            match &short.verdict {
                Verdict::Unknown { reason } => {
                    assert!(
                        reason.starts_with(&format!("memory budget of {} exhausted", describe_bytes(max_memory))),
                        "{reason}"
                    );
                    assert!(reason.contains("key 1") && reason.contains("limits.max_memory"), "{reason}");
                }
                other => panic!("{max_memory} bytes: expected unknown, got {other:?}"),
            }
            assert_eq!(short.keys_checked, 0);
            assert!(short.steps <= report.steps);
            assert!(short.peak_memory > max_memory);
        }
        let exact = check(&h, &Budget::default().with_max_memory(peak));
        assert_eq!(exact, report);
        // The memory bound is per key: keys are checked one at a time.
        let mut two_keys = h.clone();
        two_keys.ops.extend(h.ops.iter().map(|op| {
            let mut op = op.clone();
            op.kind = match op.kind {
                OpKind::Get { .. } => OpKind::Get { key: 2 },
                OpKind::Put { value, .. } => OpKind::Put { key: 2, value },
                OpKind::Cas { expected, new, .. } => OpKind::Cas { key: 2, expected, new },
                OpKind::Propose { value, .. } => OpKind::Propose { key: 2, value },
            };
            op
        }));
        let report = check(&two_keys, &Budget::default().with_max_memory(peak + peak / 4));
        assert_eq!(report.verdict, Verdict::Ok);
        assert_eq!(report.keys_checked, 2);
    }

    /// More timed-out ops than one summary word of their bitmap covers
    /// (4,096), so configurations span several words of it.
    #[test]
    fn many_timed_out_ops_check() {
        let params = GenParams {
            ops: 40_000,
            clients: 10,
            keys: 1,
            values: 1_000,
            max_gap_ns: 20,
            max_duration_ns: 100,
            failed_percent: 1,
            unknown_percent: 12,
            sequential: false,
        };
        let h = generate(17, params);
        let timed_out = h.ops.iter().filter(|op| op.outcome == Outcome::Unknown).count();
        assert!(timed_out > 4_096, "{timed_out}");
        let report = check(&h, &Budget::default());
        eprintln!("40k ops / 1 key / 12% timed out: {:?}, {} steps", report.verdict, report.steps);
        assert_eq!(report.verdict, Verdict::Ok, "{} steps", report.steps);
    }

    /// A violation message lists the first `PENDING_SHOWN` pending ops only.
    #[test]
    fn violation_message_caps_the_pending_ops() {
        let mut ops = vec![put(1, 0, 5, 1, 5)];
        ops.extend((0..40).map(|i| get(2 + i, 0, 10 + u64::from(i), 1, Some(9))));
        let report = check(&history(ops), &Budget::default());
        let Verdict::Violation(violation) = report.verdict else {
            panic!("expected a violation, got {:?}", report.verdict);
        };
        assert_eq!(violation.stuck_ops.len(), 1, "{violation:?}");
        let listed = violation.message.lines().filter(|line| line.starts_with("  op #")).count();
        assert_eq!(listed, PENDING_SHOWN, "{}", violation.message);
        assert!(violation.message.contains("... and more"), "{}", violation.message);
    }

    // ---------------------------------------------------------------
    // Property tests.

    /// Pairs of reads of the same key with different results.
    fn differing_read_pairs(h: &History) -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for (i, a) in h.ops.iter().enumerate() {
            for (j, b) in h.ops.iter().enumerate().skip(i + 1) {
                if let (
                    OpKind::Get { key: ka },
                    Outcome::Read { value: va },
                    OpKind::Get { key: kb },
                    Outcome::Read { value: vb },
                ) = (&a.kind, &a.outcome, &b.kind, &b.outcome)
                {
                    if ka == kb && va != vb {
                        pairs.push((i, j));
                    }
                }
            }
        }
        pairs
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// (1) Sequential executions of the model are linearizable.
        #[test]
        fn sequential_executions_are_linearizable(
            seed in any::<u64>(),
            ops in 1usize..150,
            clients in 1u32..6,
        ) {
            let h = generate(seed, small_params(ops, clients, true));
            let report = check(&h, &Budget::default());
            prop_assert_eq!(report.verdict, Verdict::Ok);
        }

        /// (2) Concurrent executions with a linearization point inside each
        /// op's interval (timed-out ops: any time after invocation, or
        /// never) are linearizable.
        #[test]
        fn concurrent_executions_are_linearizable(
            seed in any::<u64>(),
            ops in 1usize..400,
            clients in 1u32..20,
            keys in 1u64..4,
            values in 1u64..6,
        ) {
            let mut params = small_params(ops, clients, false);
            params.keys = keys;
            params.values = values;
            let h = generate(seed, params);
            let report = check(&h, &Budget::default());
            prop_assert_eq!(report.verdict, Verdict::Ok);
        }

        /// (3) Swapping the results of two strictly ordered reads of one key
        /// that saw different values breaks a sequential history.
        #[test]
        fn swapping_two_sequential_reads_is_a_violation(
            seed in any::<u64>(),
            ops in 2usize..80,
            pick in any::<u64>(),
        ) {
            let mut params = small_params(ops, 3, true);
            params.unknown_percent = 0;
            params.keys = 2;
            params.values = 3;
            let mut h = generate(seed, params);
            let pairs = differing_read_pairs(&h);
            prop_assume!(!pairs.is_empty());
            let (i, j) = pairs[(pick % pairs.len() as u64) as usize];
            let outcome_i = h.ops[i].outcome.clone();
            h.ops[i].outcome = h.ops[j].outcome.clone();
            h.ops[j].outcome = outcome_i;
            let report = check(&h, &Budget::default());
            match report.verdict {
                Verdict::Violation(violation) => {
                    // The smallest violating key; the swap broke key `k`,
                    // and every other key is untouched.
                    prop_assert_eq!(violation.key, h.ops[i].kind.key());
                }
                other => prop_assert!(false, "expected violation, got {:?}", other),
            }
        }

        /// (4) A large, highly concurrent history with a tiny budget is
        /// never reported Ok.
        #[test]
        fn tiny_budget_is_never_ok(
            seed in any::<u64>(),
            ops in 200usize..600,
            clients in 5u32..20,
            unknown_percent in 0u64..20,
        ) {
            let mut params = small_params(ops, clients, false);
            params.keys = 1;
            params.unknown_percent = unknown_percent;
            let h = generate(seed, params);
            let report = check(&h, &Budget::new(10));
            prop_assert!(report.verdict.is_unknown(), "{:?}", report.verdict);
        }

        /// The checker agrees with the brute-force reference.
        #[test]
        fn checker_agrees_with_brute_force(
            seed in any::<u64>(),
            ops in 1usize..14,
            clients in 1u32..6,
            keys in 1u64..3,
            unknown_percent in 0u64..40,
            corrupt in any::<bool>(),
        ) {
            let mut params = small_params(ops, clients, false);
            params.keys = keys;
            params.values = 3;
            params.unknown_percent = unknown_percent;
            let mut h = generate(seed, params);
            if corrupt {
                mutate(&mut h, &mut Rng(!seed), params.values);
            }
            let report = check(&h, &Budget::default());
            prop_assert!(!report.verdict.is_unknown());
            prop_assert_eq!(report.verdict.is_ok(), brute_force_linearizable(&h), "{:?}", report.verdict);
        }
    }
}
