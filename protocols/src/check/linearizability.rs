//! Linearizability checker for key-value histories (see `history.rs`).
//!
//! A history is linearizable if every operation can be given a single
//! instant (its linearization point) between its invocation and its
//! completion such that applying the operations in that order to a
//! sequential register reproduces every observed outcome (Herlihy & Wing
//! 1990).
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
//!   remaining return; linearizing an operation "lifts" its two entries out of
//!   the list in O(1) and backtracking puts them back (dancing links).
//!   Backtracking uses an explicit stack, never recursion.
//! * **Memoization** (Lowe): every configuration reached, i.e. (bitset of
//!   linearized operations, register value), goes into a hash set; reaching
//!   a configuration again is pruned because its subtree was already
//!   explored. The bitset's hash is maintained incrementally (Zobrist
//!   hashing) and the sets are stored in one flat arena.
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
//!   moving it to the front of any valid continuation keeps it valid.
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
//! * Candidate order (a heuristic only, every candidate is still tried): the
//!   write that must be placed first, and writes producing a value some
//!   pending operation is waiting for, come first; then by completion time.
//!
//! Everything is deterministic: hash maps are used for lookups only and all
//! iteration is over sorted vectors.
//!
//! # Budget
//!
//! The search counts *steps*, summed over all keys: every candidate move
//! examined (one model application) and every step of the chain search for
//! timed-out operations. If the count exceeds [`Budget::max_steps`] the
//! verdict is [`Verdict::Unknown`], never `Ok`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};

use super::history::{History, Key, OpKind, Operation, Outcome, Value};

/// Limit on the work the checker may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Maximum number of search steps, summed over all keys.
    pub max_steps: u64,
}

impl Default for Budget {
    /// Ten million steps: ample for large histories of a correct system.
    fn default() -> Self {
        Budget { max_steps: 10_000_000 }
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
    /// produced, if the search identified one; otherwise every pending op.
    pub stuck_ops: Vec<usize>,
}

/// Outcome of [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub verdict: Verdict,
    /// Search steps used, summed over the keys checked.
    pub steps: u64,
    /// Keys whose search finished, including a violating one. (Keys whose
    /// only ops are failed ones or timed-out gets are not searched.)
    pub keys_checked: usize,
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
        };
    }

    let mut by_key: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (index, op) in history.ops.iter().enumerate() {
        if Action::from_op(op).is_some() {
            by_key.entry(op.kind.key()).or_default().push(index);
        }
    }

    let mut steps = 0u64;
    let mut keys_checked = 0usize;
    for (&key, indices) in &by_key {
        let problem = KeyProblem::new(history, indices);
        let mut search = Search::new(&problem, &mut steps, budget.max_steps);
        match search.run() {
            SearchResult::Linearizable => keys_checked += 1,
            SearchResult::NotLinearizable(dead_end) => {
                keys_checked += 1;
                let violation = describe_violation(history, key, &problem, &dead_end);
                return Report { verdict: Verdict::Violation(violation), steps, keys_checked };
            }
            SearchResult::OutOfBudget => {
                return Report {
                    verdict: Verdict::Unknown {
                        reason: format!(
                            "step budget of {} exhausted while checking key {key} \
                             ({} ops; {keys_checked} of {} keys fully checked)",
                            budget.max_steps,
                            indices.len(),
                            by_key.len()
                        ),
                    },
                    steps,
                    keys_checked,
                };
            }
        }
    }
    Report { verdict: Verdict::Ok, steps, keys_checked }
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
        }
    }

    fn is_maybe(self) -> bool {
        matches!(self, Action::MaybePut(_) | Action::MaybeCas { .. })
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
    readers_per_slot: Vec<Vec<u32>>,
    reader_deadlines_per_slot: Vec<Vec<u64>>,
    reader_rank: Vec<u32>,
    /// Per slot: invocation times of its writers, ascending; per op: its
    /// position in that list (`NONE` for non-writers).
    writer_invokes_per_slot: Vec<Vec<u64>>,
    writer_rank: Vec<u32>,
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

        // Entry list over completed operations.
        let mut events: Vec<(u64, bool, u32)> = Vec::new();
        for (index, op) in ops.iter().enumerate() {
            if let Some(complete_ns) = op.complete_ns {
                events.push((op.invoke_ns, false, index as u32));
                events.push((complete_ns, true, index as u32));
            }
        }
        events.sort_unstable();
        let mut call_entry = vec![NONE; ops.len()];
        let mut return_entry = vec![NONE; ops.len()];
        let mut entry_op = Vec::with_capacity(events.len());
        let mut entry_is_return = Vec::with_capacity(events.len());
        for (entry, &(_, is_return, op)) in events.iter().enumerate() {
            if is_return {
                return_entry[op as usize] = entry as u32;
            } else {
                call_entry[op as usize] = entry as u32;
            }
            entry_op.push(op);
            entry_is_return.push(is_return);
        }

        // Pool of timed-out operations, grouped by effect.
        let mut maybe: Vec<u32> = (0..ops.len() as u32).filter(|&i| ops[i as usize].action.is_maybe()).collect();
        maybe.sort_unstable_by_key(|&i| (ops[i as usize].invoke_ns, i));
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
        let mut needs_slot = Vec::with_capacity(ops.len());
        let mut writes_slot = Vec::with_capacity(ops.len());
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
        let mut readers_by_slot: Vec<Vec<(u64, u32)>> = vec![Vec::new(); slots];
        for (index, &needs) in needs_slot.iter().enumerate() {
            if needs != NONE {
                let deadline_ns = ops[index].complete_ns.unwrap_or(u64::MAX);
                readers_by_slot[needs as usize].push((deadline_ns, index as u32));
            }
        }
        let mut reader_rank = vec![NONE; ops.len()];
        let mut readers_per_slot = Vec::with_capacity(slots);
        let mut reader_deadlines_per_slot = Vec::with_capacity(slots);
        for mut readers in readers_by_slot {
            readers.sort_unstable();
            for (rank, &(_, op)) in readers.iter().enumerate() {
                reader_rank[op as usize] = rank as u32;
            }
            reader_deadlines_per_slot.push(readers.iter().map(|&(deadline_ns, _)| deadline_ns).collect());
            readers_per_slot.push(readers.iter().map(|&(_, op)| op).collect());
        }

        let mut writers_by_slot: Vec<Vec<(u64, u32)>> = vec![Vec::new(); slots];
        for (index, &writes) in writes_slot.iter().enumerate() {
            if writes != NONE {
                writers_by_slot[writes as usize].push((ops[index].invoke_ns, index as u32));
            }
        }
        let mut writer_rank = vec![NONE; ops.len()];
        let mut writer_invokes_per_slot = Vec::with_capacity(writers_by_slot.len());
        for mut writers in writers_by_slot {
            writers.sort_unstable();
            for (rank, &(_, op)) in writers.iter().enumerate() {
                writer_rank[op as usize] = rank as u32;
            }
            writer_invokes_per_slot.push(writers.iter().map(|&(invoke_ns, _)| invoke_ns).collect());
        }

        let unobservable = unobservable_writes(&ops, &cas_groups_by_expected);
        let completed_count = ops.iter().filter(|op| op.complete_ns.is_some()).count();
        let zobrist = (0..ops.len() as u64).map(|i| mix64(i ^ 0x5851_f42d_4c95_7f2d)).collect();
        KeyProblem {
            ops,
            completed_count,
            entry_op,
            entry_is_return,
            call_entry,
            return_entry,
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
            reader_deadlines_per_slot,
            reader_rank,
            writer_invokes_per_slot,
            writer_rank,
            unobservable,
        }
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

/// Index of the first non-zero entry (entries are 0 or 1).
fn fenwick_first(tree: &[u32]) -> Option<usize> {
    let mut position = 0;
    let mut step = tree.len().checked_ilog2().map_or(0, |log| 1 << log);
    while step > 0 {
        if position + step <= tree.len() && tree[position + step - 1] == 0 {
            position += step;
        }
        step >>= 1;
    }
    (position < tree.len()).then_some(position)
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

/// Set of visited (linearized-set, state) configurations. Entries live in one
/// flat arena (`width` words each: the bitset, then the state as two words);
/// the map sends a hash to the newest entry with that hash, `links` chains
/// entries that share a hash.
struct Memo {
    width: usize,
    arena: Vec<u64>,
    links: Vec<u32>,
    heads: HashMap<u64, u32, BuildHasherDefault<PassThroughHasher>>,
}

impl Memo {
    fn new(bitset_words: usize) -> Memo {
        Memo { width: bitset_words + 2, arena: Vec::new(), links: Vec::new(), heads: HashMap::default() }
    }

    /// Inserts the configuration; `false` if it was already present.
    fn insert(&mut self, hash: u64, bits: &[u64], state_words: [u64; 2]) -> bool {
        let head = self.heads.get(&hash).copied().unwrap_or(NONE);
        let mut entry = head;
        while entry != NONE {
            let start = entry as usize * self.width;
            let (stored_bits, stored_state) = self.arena[start..start + self.width].split_at(bits.len());
            if stored_bits == bits && stored_state == state_words {
                return false;
            }
            entry = self.links[entry as usize];
        }
        let id = self.links.len() as u32;
        self.arena.extend_from_slice(bits);
        self.arena.extend_from_slice(&state_words);
        self.links.push(head);
        self.heads.insert(hash, id);
        true
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
    prev_hash: u64,
    path_len_before: usize,
    stage: Stage,
    /// This node's moves: `moves[moves_start..moves_end]`, next one at
    /// `next_move`.
    moves_start: usize,
    next_move: usize,
    moves_end: usize,
}

/// Where a node stands in trying its moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Not yet looked at.
    Fresh,
    /// Trying completed ops.
    Plain,
    /// Trying chains of timed-out ops followed by a completed op.
    Chains,
    /// No moves left.
    Exhausted,
}

/// The deepest dead end found (most completed ops linearized).
struct DeadEnd {
    completed_linearized: usize,
    /// Local op indices in linearization order.
    prefix: Vec<u32>,
    state: State,
    /// Completed ops invoked but not linearized (the candidate window).
    pending: Vec<u32>,
    /// The pending op that completed first.
    blocking: u32,
    /// A pending op that needs a state that can no longer be produced.
    doomed: u32,
}

enum SearchResult {
    Linearizable,
    NotLinearizable(DeadEnd),
    OutOfBudget,
}

struct OutOfBudget;

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
    /// Per value slot: ops not yet linearized that may write it / need to
    /// see it. A slot is *doomed* when it still has readers but no writers:
    /// unless the register holds it now, those readers can never be placed.
    /// Per slot: Fenwick tree over `readers_per_slot`, 1 for each reader
    /// not yet linearized.
    unlinearized_readers: Vec<Vec<u32>>,
    /// Per slot: whether it is *stranded*: some reader not yet linearized
    /// has no writer left that could take effect before the reader
    /// completes. Unless the register holds that state now, such a reader
    /// can never be placed. `stranded_slots` counts them.
    slot_stranded: Vec<bool>,
    stranded_slots: u32,
    /// Per slot: Fenwick tree over `writer_invokes_per_slot`, 1 for each
    /// writer not yet linearized.
    unlinearized_writers: Vec<Vec<u32>>,
    bits: Vec<u64>,
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
    steps: &'a mut u64,
    max_steps: u64,
    deepest: Option<DeadEnd>,
    /// Scratch space.
    chain_stack: Vec<(Value, usize)>,
    chain_groups: Vec<u32>,
    scratch_candidates: Vec<(u64, u32)>,
    scratch_demands: Vec<State>,
    scratch_window: Vec<u32>,
}

impl<'a> Search<'a> {
    fn new(p: &'a KeyProblem, steps: &'a mut u64, max_steps: u64) -> Search<'a> {
        let entries = p.entry_op.len() as u32;
        let bitset_words = p.ops.len().div_ceil(64);
        let mut search = Search {
            p,
            next: Vec::new(),
            prev: Vec::new(),
            head: entries,
            tail: entries + 1,
            used: vec![0; p.groups.len()],
            unlinearized_readers: p.readers_per_slot.iter().map(|readers| fenwick_of_ones(readers.len())).collect(),
            slot_stranded: vec![false; p.readers_per_slot.len()],
            stranded_slots: 0,
            unlinearized_writers: p
                .writer_invokes_per_slot
                .iter()
                .map(|invokes| fenwick_of_ones(invokes.len()))
                .collect(),
            bits: vec![0; bitset_words],
            hash: 0,
            state: None,
            state_slot: ABSENT_SLOT,
            state_unobservable: false,
            completed_linearized: 0,
            path: Vec::new(),
            nodes: Vec::new(),
            moves: Vec::new(),
            memo: Memo::new(bitset_words),
            steps,
            max_steps,
            deepest: None,
            chain_stack: Vec::new(),
            chain_groups: Vec::new(),
            scratch_candidates: Vec::new(),
            scratch_demands: Vec::new(),
            scratch_window: Vec::new(),
        };
        search.link_entries();
        for slot in 0..search.slot_stranded.len() as u32 {
            search.refresh_stranded(slot);
        }
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
        let root_key = self.state_key();
        self.memo.insert(state_key_hash(root_key), &self.bits, root_key);
        self.nodes.push(Node {
            via_op: NONE,
            via_chain_start: 0,
            via_chain_len: 0,
            prev_state: None,
            prev_state_slot: ABSENT_SLOT,
            prev_state_unobservable: false,
            prev_hash: 0,
            path_len_before: 0,
            stage: Stage::Fresh,
            moves_start: 0,
            next_move: 0,
            moves_end: 0,
        });
        loop {
            if self.completed_linearized == self.p.completed_count {
                return SearchResult::Linearizable;
            }
            let step = match self.next_move() {
                Ok(Some(candidate)) => self.try_move(candidate),
                Ok(None) => {
                    self.record_dead_end();
                    if self.nodes.len() == 1 {
                        return match self.deepest.take() {
                            Some(dead_end) => SearchResult::NotLinearizable(dead_end),
                            // Unreachable: a dead end was just recorded.
                            None => SearchResult::OutOfBudget,
                        };
                    }
                    self.backtrack();
                    Ok(())
                }
                Err(out) => Err(out),
            };
            if let Err(OutOfBudget) = step {
                return SearchResult::OutOfBudget;
            }
        }
    }

    fn charge(&mut self) -> Result<(), OutOfBudget> {
        *self.steps += 1;
        if *self.steps > self.max_steps {
            Err(OutOfBudget)
        } else {
            Ok(())
        }
    }

    // -- Window ----------------------------------------------------------

    /// The candidate window: completed ops whose call precedes the first
    /// remaining return, in invocation order, plus the op of that return
    /// (the one that must be linearized first among the pending ones, as
    /// it completed first).
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

    /// Completion time of the earliest-completing pending op: timed-out ops
    /// invoked by then may take effect now.
    fn window_end_ns(&self) -> u64 {
        let mut entry = self.next[self.head as usize];
        while entry != self.tail {
            if self.p.entry_is_return[entry as usize] {
                let op = self.p.entry_op[entry as usize] as usize;
                return self.p.ops[op].complete_ns.unwrap_or(u64::MAX);
            }
            entry = self.next[entry as usize];
        }
        u64::MAX
    }

    // -- Pruning ---------------------------------------------------------

    /// The first reader of `slot` not yet linearized, as (op, deadline).
    fn first_pending_reader(&self, slot: u32) -> Option<(u32, u64)> {
        let index = fenwick_first(&self.unlinearized_readers[slot as usize])?;
        Some((self.p.readers_per_slot[slot as usize][index], self.p.reader_deadlines_per_slot[slot as usize][index]))
    }

    /// See `slot_stranded`. Checking the reader that completes first
    /// suffices: a writer in time for it is in time for all.
    fn compute_stranded(&self, slot: u32) -> bool {
        let Some((_, deadline_ns)) = self.first_pending_reader(slot) else {
            return false;
        };
        let invokes = &self.p.writer_invokes_per_slot[slot as usize];
        let in_time = invokes.partition_point(|&invoke_ns| invoke_ns <= deadline_ns);
        fenwick_prefix(&self.unlinearized_writers[slot as usize], in_time) == 0
    }

    fn refresh_stranded(&mut self, slot: u32) {
        let stranded = self.compute_stranded(slot);
        if stranded != self.slot_stranded[slot as usize] {
            self.slot_stranded[slot as usize] = stranded;
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
    /// hold and that no remaining op can produce in time (`NONE` if none).
    fn find_doomed_op(&self) -> u32 {
        (0..self.slot_stranded.len() as u32)
            .filter(|&slot| slot != self.state_slot && self.slot_stranded[slot as usize])
            .find_map(|slot| self.first_pending_reader(slot))
            .map_or(NONE, |(op, _)| op)
    }

    /// Updates the reader/writer trees as `op` is linearized (`undo ==
    /// false`) or un-linearized.
    fn count_linearized(&mut self, op: u32, undo: bool) {
        let needs = self.p.needs_slot[op as usize];
        if needs != NONE {
            let rank = self.p.reader_rank[op as usize] as usize;
            fenwick_add(&mut self.unlinearized_readers[needs as usize], rank, undo);
            self.refresh_stranded(needs);
        }
        let writes = self.p.writes_slot[op as usize];
        if writes != NONE {
            let rank = self.p.writer_rank[op as usize] as usize;
            fenwick_add(&mut self.unlinearized_writers[writes as usize], rank, undo);
            self.refresh_stranded(writes);
        }
    }

    // -- Move generation -------------------------------------------------

    /// The next move to try from the current node, or `None` when exhausted.
    fn next_move(&mut self) -> Result<Option<Move>, OutOfBudget> {
        let node_index = self.nodes.len() - 1;
        if self.nodes[node_index].stage == Stage::Fresh {
            self.charge()?;
            if self.is_doomed() {
                self.nodes[node_index].stage = Stage::Exhausted;
                return Ok(None);
            }
            if let Some(op) = self.state_preserving_candidate()? {
                // Linearizing it first is always safe, so it is the only
                // move tried here.
                self.nodes[node_index].stage = Stage::Exhausted;
                return Ok(Some(Move::plain(op)));
            }
            self.generate_plain_moves()?;
            let end = self.moves.len();
            let node = &mut self.nodes[node_index];
            node.stage = Stage::Plain;
            node.next_move = node.moves_start;
            node.moves_end = end;
        }
        loop {
            let node = &mut self.nodes[node_index];
            if node.next_move < node.moves_end {
                let start = node.next_move;
                let chain_len = self.moves[start + 1];
                node.next_move = start + 2 + chain_len as usize;
                return Ok(Some(Move { op: self.moves[start], chain_start: start + 2, chain_len }));
            }
            if node.stage == Stage::Plain {
                node.stage = Stage::Chains;
                let start = self.moves.len();
                self.generate_chain_moves()?;
                let end = self.moves.len();
                let node = &mut self.nodes[node_index];
                node.next_move = start;
                node.moves_end = end;
            } else {
                node.stage = Stage::Exhausted;
                return Ok(None);
            }
        }
    }

    /// A candidate that is legal in the current state and never changes the
    /// register (a read, a cas that did not swap, a cas that swapped a value
    /// for itself). Linearizing it first loses nothing: moving it to the
    /// front of any successful continuation keeps that continuation valid,
    /// because it is already in the window (nothing pending must precede
    /// it) and it has the same (lack of) effect wherever it is legal. (A put
    /// of the current value is not such an op: later it would overwrite.)
    fn state_preserving_candidate(&mut self) -> Result<Option<u32>, OutOfBudget> {
        let mut entry = self.next[self.head as usize];
        while entry != self.tail && !self.p.entry_is_return[entry as usize] {
            let op = self.p.entry_op[entry as usize];
            entry = self.next[entry as usize];
            self.charge()?;
            let action = self.p.ops[op as usize].action;
            let never_changes = match action {
                Action::Read(_) | Action::CasNotSwapped { .. } => true,
                Action::CasSwapped { expected, new } => expected == new,
                _ => false,
            };
            if never_changes && action.apply_completed(self.state).is_some() {
                return Ok(Some(op));
            }
        }
        Ok(None)
    }

    /// Every other completed op in the window that is legal in the current
    /// state (that is, the writes) as a move `[op, 0]`. Of several with the
    /// same action only the one completing first is kept: swapping two such
    /// ops in any linearization keeps it valid.
    ///
    /// Order (a heuristic only; all are tried): first the writes a
    /// linearization must place now or soon, namely the op that completed
    /// first (it cannot wait) and writes producing a state some pending op
    /// needs but does not have (a read of that value, a swapping cas
    /// expecting it, a non-swapping cas expecting the current value, a
    /// timed-out cas expecting it); then the rest. Within each class,
    /// earliest completion first.
    fn generate_plain_moves(&mut self) -> Result<(), OutOfBudget> {
        let mut window = std::mem::take(&mut self.scratch_window);
        let mut candidates = std::mem::take(&mut self.scratch_candidates);
        let mut demands = std::mem::take(&mut self.scratch_demands);
        candidates.clear();
        demands.clear();
        let state = self.state;
        let first_due = self.window(&mut window);
        let mut any_change = false;
        for &op in &window {
            let action = self.p.ops[op as usize].action;
            if action.apply_completed(state).is_some() {
                continue;
            }
            match action {
                Action::Read(value) => demands.push(value),
                Action::CasSwapped { expected, .. } => demands.push(Some(expected)),
                Action::CasNotSwapped { .. } => any_change = true,
                _ => {}
            }
        }
        for &op in &window {
            self.charge()?;
            let key_op = &self.p.ops[op as usize];
            let Some(next_state) = key_op.action.apply_completed(state) else {
                continue;
            };
            let urgent = op == first_due
                || next_state != state
                    && (any_change
                        || demands.contains(&next_state)
                        || next_state.is_some_and(|value| self.p.maybe_cas_expected.contains(&value)));
            let deadline_ns = key_op.complete_ns.unwrap_or(u64::MAX);
            // Sort key: urgent ones first, then by completion.
            let class = u64::from(!urgent) << 63;
            candidates.push((class | deadline_ns.min(u64::MAX >> 1), op));
        }
        candidates.sort_unstable();
        let ops = &self.p.ops;
        let rank = |op: u32| (ops[op as usize].complete_ns, op);
        for &(_, op) in &candidates {
            let action = ops[op as usize].action;
            let duplicate =
                candidates.iter().any(|&(_, other)| ops[other as usize].action == action && rank(other) < rank(op));
            if !duplicate {
                self.moves.extend_from_slice(&[op, 0]);
            }
        }
        self.scratch_window = window;
        self.scratch_candidates = candidates;
        self.scratch_demands = demands;
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
    fn generate_chain_moves(&mut self) -> Result<(), OutOfBudget> {
        if self.p.groups.is_empty() {
            return Ok(());
        }
        let window_end_ns = self.window_end_ns();
        let state = self.state;
        let mut entry = self.next[self.head as usize];
        while entry != self.tail && !self.p.entry_is_return[entry as usize] {
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
                        self.charge()?;
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
                            self.charge()?;
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
    fn chains_to(&mut self, op: u32, target: Value, window_end_ns: u64) -> Result<(), OutOfBudget> {
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
            if let Err(out) = self.charge() {
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

    fn set_bit(&mut self, op: u32) {
        self.bits[op as usize / 64] ^= 1 << (op % 64);
        self.hash ^= self.p.zobrist[op as usize];
    }

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

    /// Applies a move; if it leads to an unvisited configuration, descends.
    fn try_move(&mut self, candidate: Move) -> Result<(), OutOfBudget> {
        self.charge()?;
        let Move { op, chain_start, chain_len } = candidate;
        let prev_state = self.state;
        let prev_state_slot = self.state_slot;
        let prev_state_unobservable = self.state_unobservable;
        let prev_hash = self.hash;
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
            self.set_bit(maybe_op);
            self.count_linearized(maybe_op, false);
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
                self.set_bit(op);
                let key = state_key(next_state, unobservable);
                if self.memo.insert(self.hash ^ state_key_hash(key), &self.bits, key) {
                    true
                } else {
                    self.set_bit(op);
                    false
                }
            }
            None => false,
        };
        let Some(next_state) = next_state.filter(|_| fresh) else {
            self.undo_chain(chain_start, applied);
            self.path.truncate(path_len_before);
            self.hash = prev_hash;
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
        self.completed_linearized += 1;
        self.count_linearized(op, false);
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
            prev_hash,
            path_len_before,
            stage: Stage::Fresh,
            moves_start,
            next_move: moves_start,
            moves_end: moves_start,
        });
        Ok(())
    }

    /// Reverts the first `applied` ops of a chain, last first.
    fn undo_chain(&mut self, chain_start: usize, applied: u32) {
        for i in (0..applied).rev() {
            let group = self.moves[chain_start + i as usize];
            self.used[group as usize] -= 1;
            let maybe_op = self.p.groups[group as usize].ops[self.used[group as usize]];
            self.set_bit(maybe_op);
            self.count_linearized(maybe_op, true);
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
        self.set_bit(op);
        self.count_linearized(op, true);
        self.completed_linearized -= 1;
        self.undo_chain(node.via_chain_start, node.via_chain_len);
        self.path.truncate(node.path_len_before);
        self.state = node.prev_state;
        self.state_slot = node.prev_state_slot;
        self.state_unobservable = node.prev_state_unobservable;
        self.hash = node.prev_hash;
    }

    /// Remembers the current node if it is the deepest dead end so far.
    fn record_dead_end(&mut self) {
        if self.deepest.as_ref().is_some_and(|d| d.completed_linearized >= self.completed_linearized) {
            return;
        }
        let mut pending = Vec::new();
        let blocking = self.window(&mut pending);
        let doomed = self.find_doomed_op();
        self.deepest = Some(DeadEnd {
            completed_linearized: self.completed_linearized,
            prefix: self.path.clone(),
            state: self.state,
            pending,
            blocking,
            doomed,
        });
    }
}

fn describe_state(state: State) -> String {
    match state {
        Some(value) => format!("value {value}"),
        None => "absent".to_string(),
    }
}

/// Longest prefix lines shown in a violation message.
const PREFIX_LINES_SHOWN: usize = 12;

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
    let prefix = &dead_end.prefix;
    let _ = writeln!(
        message,
        "Longest linearizable prefix found: {} ops ({} with a known outcome){}",
        prefix.len(),
        dead_end.completed_linearized,
        if prefix.is_empty() { "." } else { ":" }
    );
    let skipped = prefix.len().saturating_sub(PREFIX_LINES_SHOWN);
    if skipped > 0 {
        let _ = writeln!(message, "  ... {skipped} earlier ops omitted");
    }
    for &local in &prefix[skipped..] {
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
        }
    }

    fn get(client: u32, invoke_ns: u64, complete_ns: u64, key: Key, value: Option<Value>) -> Operation {
        Operation {
            client,
            invoke_ns,
            complete_ns: Some(complete_ns),
            kind: OpKind::Get { key },
            outcome: Outcome::Read { value },
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
        }
    }

    fn timed_out(client: u32, invoke_ns: u64, kind: OpKind) -> Operation {
        Operation { client, invoke_ns, complete_ns: None, kind, outcome: Outcome::Unknown }
    }

    fn failed(client: u32, invoke_ns: u64, complete_ns: u64, kind: OpKind) -> Operation {
        Operation { client, invoke_ns, complete_ns: Some(complete_ns), kind, outcome: Outcome::Failed }
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
            ops.push(Operation { client, invoke_ns, complete_ns, kind, outcome });
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
        let report = check(&h, &Budget { max_steps: 10 });
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
        let exact = Budget { max_steps: report.steps };
        assert_eq!(check(&h, &exact).verdict, Verdict::Ok);
        let short = Budget { max_steps: report.steps - 1 };
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
            let report = check(&h, &Budget { max_steps: 10 });
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
