//! A linearizability search generic over the sequential object: the same
//! per-key Wing & Gong / Lowe search as the register's (see
//! `linearizability.rs`), without its register-specific reductions, for any
//! model that implements [`SequentialSpec`] (the models are in `model.rs`
//! and `kv.rs`).
//!
//! # A model
//!
//! A [`SequentialSpec`] is a sequential specification: an initial state and
//! a step function that applies one operation *together with the outcome the
//! client observed* and returns the next state, or `None` if that outcome
//! cannot be observed in that state (the operation is illegal there). An
//! operation whose outcome is unknown (timed out) is given to `step` too; it
//! then returns the state the operation leaves if it takes effect. The
//! search decides whether it takes effect: at any point after its
//! invocation, or never. Timed-out operations that can never change the
//! state (a timed-out read) carry no information; the callers drop them, as
//! they drop `failed` operations, which did not take effect.
//!
//! # Search
//!
//! * **Locality.** The operations are partitioned per key by the caller and
//!   each key is searched on its own, in ascending key order; the first
//!   violating key is reported.
//! * **Entries.** Call and return events are kept in one time-ordered,
//!   doubly linked list (ties: calls before returns, so operations whose
//!   intervals touch are concurrent); a timed-out operation returns after
//!   everything else. The candidates for the next linearization point are
//!   the calls ahead of the first remaining return. Linearizing an operation
//!   lifts both its entries out of the list; backtracking puts them back.
//!   Backtracking uses an explicit stack, never recursion.
//! * **Memoisation** (Lowe): every configuration reached, (set of linearized
//!   operations, model state), goes into a hash set, and reaching one again
//!   is pruned: its subtree was already explored and failed. The set is a
//!   bitmap over the operations in completion order (timed-out ones last),
//!   stored exactly but compactly: the number of leading all-ones words and
//!   the words from there to the last non-zero one. The operations that
//!   completed early are all linearized, so an entry holds a few words
//!   around the current window, not a bit per operation of the key.
//! * **Forced moves.** A candidate that is legal now and that the model
//!   calls inert ([`SequentialSpec::is_inert`]: it leaves this state and
//!   every state reachable from it unchanged — a read that matches, a
//!   write-once propose after the value is chosen) is linearized at once
//!   with no alternative tried: moving it to the front of any valid
//!   continuation keeps that continuation valid, since nothing still pending
//!   completed before it was invoked and it changes nothing where it was.
//! * **Success** is reached once every operation with a known outcome is
//!   linearized; timed-out operations never have to be.
//!
//! Hash sets are used for lookups only; candidates are tried in list order,
//! so the verdict, the steps and the messages are the same on every run.
//!
//! # Budget
//!
//! The search is charged to the same [`Budget`] as the register search. A
//! *step* is a candidate examined (one model application), a backtrack, an
//! entry visited while describing a dead end, or eight words of a
//! configuration built for the memo (the linearized set and the state's
//! heap bytes). The memory held — the entry list, the stack with its states,
//! the memo with its configurations (one control byte per entry and the
//! table's 8/7 slack), the operations themselves — is a deterministic
//! estimate, not the allocator's figure. Past either bound the verdict is
//! [`SearchVerdict::Unknown`], naming which bound ran out (for memory, the
//! knob `limits.max_memory`), never `Ok`.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::hash::Hash;
use std::mem::size_of;

use super::linearizability::{describe_bytes, Budget};

/// A sequential specification, checked one key at a time.
pub trait SequentialSpec {
    /// The state of one key's object.
    type State: Clone + Eq + Hash;
    /// One operation with the outcome the client observed (or the fact that
    /// it is unknown).
    type Op;

    /// What the object's name is in a message ("Register", "Value").
    const STATE_NOUN: &'static str;

    /// The state of a key no operation has touched.
    fn init(&self) -> Self::State;

    /// The state after `op`, whose outcome must be what the client observed;
    /// `None` if that outcome is impossible in `state`. For an operation
    /// with an unknown outcome: the state it leaves if it takes effect now
    /// (`None`: it cannot take effect in `state`).
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// Whether `op`, legal in `state`, leaves it unchanged and so it stays
    /// in every state reachable from `state` (a read; in a write-once
    /// object, any operation once the value is chosen). Such an op is
    /// linearized at once, with no alternative tried. `false` is always
    /// correct, only slower.
    fn is_inert(&self, _state: &Self::State, _op: &Self::Op) -> bool {
        false
    }

    /// Heap bytes a state holds beyond its own size (for the memory
    /// estimate; a string's capacity, say).
    fn state_heap_bytes(&self, _state: &Self::State) -> u64 {
        0
    }

    /// The state, for a message: "value 5", "absent", `"ab"`.
    fn describe_state(&self, state: &Self::State) -> String;
}

/// One operation of a key, as the search sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchOp<O> {
    /// Index of the operation in the caller's history (for messages).
    pub index: usize,
    pub invoke_ns: u64,
    /// `None`: timed out, so it may take effect at any time after
    /// `invoke_ns`, or never.
    pub complete_ns: Option<u64>,
    pub op: O,
}

/// Why a key's history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyViolation<K> {
    /// The violating key (the smallest one, if several violate).
    pub key: K,
    /// The longest linearizable prefix found, the state after it, the ops
    /// pending there and which of them cannot be placed (several lines).
    pub message: String,
    /// Indices into the history of the ops that could not be placed after
    /// that prefix: the pending ops with a known outcome that is impossible
    /// in the prefix's state, or else all pending ops with a known outcome
    /// (the first 32 by invocation at most).
    pub stuck_ops: Vec<usize>,
}

/// Result of a generic check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchVerdict<K> {
    /// Linearizable.
    Ok,
    /// Not linearizable; details for the first violating key.
    Violation(KeyViolation<K>),
    /// No verdict: a budget ran out, or the history does not fit the model.
    Unknown { reason: String },
}

impl<K> SearchVerdict<K> {
    pub fn is_ok(&self) -> bool {
        matches!(self, SearchVerdict::Ok)
    }

    pub fn is_violation(&self) -> bool {
        matches!(self, SearchVerdict::Violation(_))
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, SearchVerdict::Unknown { .. })
    }
}

/// Outcome of [`check_partitioned`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchReport<K> {
    pub verdict: SearchVerdict<K>,
    /// Steps used, summed over the keys (at most one past the budget).
    pub steps: u64,
    /// Keys whose search finished, a violating one included.
    pub keys_checked: usize,
    /// The most memory held at once, by the estimate.
    pub peak_memory: u64,
}

impl<K> SearchReport<K> {
    /// A report of no search at all.
    pub fn unknown(reason: String) -> SearchReport<K> {
        SearchReport { verdict: SearchVerdict::Unknown { reason }, steps: 0, keys_checked: 0, peak_memory: 0 }
    }
}

/// The last ops of the longest prefix shown in a violation message.
const PREFIX_LINES_SHOWN: usize = 12;
/// Pending ops shown (and reported as stuck) at most.
const PENDING_SHOWN: usize = 32;
/// Words of a configuration handled per step.
const WORDS_PER_STEP: u64 = 8;

/// Checks every key's operations against `spec`, in ascending key order.
///
/// `describe_op(index)` renders a history op for messages (e.g.
/// "client 1 get(key=3) invoked at ..."), `key_label` a key ("3", `"x"`),
/// and `fixed_bytes` is the memory the caller holds throughout (the
/// partitioned operations), counted against the memory bound.
pub fn check_partitioned<K, S>(
    spec: &S,
    keys: &BTreeMap<K, Vec<SearchOp<S::Op>>>,
    budget: &Budget,
    describe_op: &dyn Fn(usize) -> String,
    key_label: &dyn Fn(&K) -> String,
    fixed_bytes: u64,
) -> SearchReport<K>
where
    K: Ord + Clone,
    S: SequentialSpec,
{
    let mut meter = Meter { steps: 0, max_steps: budget.max_steps, max_memory: budget.max_memory, peak_memory: 0 };
    let mut keys_checked = 0usize;
    for (key, ops) in keys {
        let result = KeySearch::new(spec, ops, &mut meter, fixed_bytes).run();
        let exhausted = |what: String, knob: &str| SearchVerdict::Unknown {
            reason: format!(
                "{what} exhausted while checking key {} ({} ops; {keys_checked} of {} keys fully checked){knob}",
                key_label(key),
                ops.len(),
                keys.len()
            ),
        };
        let verdict = match result {
            KeyResult::Linearizable => {
                keys_checked += 1;
                continue;
            }
            KeyResult::NotLinearizable(dead_end) => {
                keys_checked += 1;
                SearchVerdict::Violation(describe_violation(
                    spec,
                    key.clone(),
                    &key_label(key),
                    ops,
                    &dead_end,
                    describe_op,
                ))
            }
            KeyResult::Exhausted(Exhausted::Steps) => exhausted(format!("step budget of {}", budget.max_steps), ""),
            KeyResult::Exhausted(Exhausted::Memory) => {
                exhausted(format!("memory budget of {}", describe_bytes(budget.max_memory)), " (limits.max_memory)")
            }
        };
        return SearchReport { verdict, steps: meter.steps, keys_checked, peak_memory: meter.peak_memory };
    }
    SearchReport { verdict: SearchVerdict::Ok, steps: meter.steps, keys_checked, peak_memory: meter.peak_memory }
}

/// Heap bytes of the partitioned operations: the map's entries and each
/// key's vector (spare capacity included), plus `op_heap` per operation.
pub fn partition_bytes<K, O>(keys: &BTreeMap<K, Vec<SearchOp<O>>>, op_heap: &dyn Fn(&O) -> u64) -> u64 {
    keys.values()
        .map(|ops| {
            (size_of::<K>() + size_of::<Vec<SearchOp<O>>>()) as u64
                + (ops.capacity() * size_of::<SearchOp<O>>()) as u64
                + ops.iter().map(|o| op_heap(&o.op)).sum::<u64>()
        })
        .sum()
}

struct Meter {
    steps: u64,
    max_steps: u64,
    max_memory: u64,
    peak_memory: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exhausted {
    Steps,
    Memory,
}

enum KeyResult<St> {
    Linearizable,
    NotLinearizable(DeadEnd<St>),
    Exhausted(Exhausted),
}

/// The deepest point the search reached before it had to backtrack.
struct DeadEnd<St> {
    /// Ops linearized, and how many of them have a known outcome.
    prefix_len: usize,
    completed_linearized: usize,
    /// The last [`PREFIX_LINES_SHOWN`] of them (local indices), in order.
    prefix_tail: Vec<u32>,
    state: St,
    /// Ops invoked before the first remaining return (local indices), the
    /// first [`PENDING_SHOWN`], and whether there were more.
    pending: Vec<u32>,
    more_pending: bool,
    /// The op whose return is first among the remaining ones.
    blocking: Option<u32>,
}

const HEAD: u32 = 0;
const NIL: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Entry {
    /// Local op index.
    op: u32,
    is_return: bool,
    prev: u32,
    next: u32,
}

struct Frame<St> {
    /// The call entry of the op linearized.
    call: u32,
    /// The state before it.
    state: St,
    /// Linearized as a forced move: no alternative to try on backtracking.
    forced: bool,
}

struct KeySearch<'a, S: SequentialSpec> {
    spec: &'a S,
    ops: &'a [SearchOp<S::Op>],
    meter: &'a mut Meter,
    entries: Vec<Entry>,
    /// Per op, its return entry.
    return_of: Vec<u32>,
    /// Per op, its bit in the linearized set: ops with a known outcome by
    /// completion time, then the timed-out ones by invocation.
    bit_of: Vec<u32>,
    completed_count: usize,
    /// Memory held before the search's own structures.
    base_bytes: u64,
    stack_bytes: u64,
    memo_bytes: u64,
}

impl<'a, S: SequentialSpec> KeySearch<'a, S> {
    fn new(spec: &'a S, ops: &'a [SearchOp<S::Op>], meter: &'a mut Meter, fixed_bytes: u64) -> Self {
        // (time, return?, op): timed-out ops return after every finite time.
        let mut events: Vec<(u128, bool, u32)> = Vec::with_capacity(2 * ops.len());
        for (i, op) in ops.iter().enumerate() {
            events.push((u128::from(op.invoke_ns), false, i as u32));
            let ret = op.complete_ns.map_or(u128::from(u64::MAX) + 1, u128::from);
            events.push((ret, true, i as u32));
        }
        events.sort_unstable();
        let mut entries = Vec::with_capacity(events.len() + 1);
        entries.push(Entry { op: NIL, is_return: false, prev: NIL, next: if events.is_empty() { NIL } else { 1 } });
        let mut return_of = vec![NIL; ops.len()];
        let last = events.len() as u32;
        for (i, &(_, is_return, op)) in events.iter().enumerate() {
            let at = i as u32 + 1;
            if is_return {
                return_of[op as usize] = at;
            }
            entries.push(Entry { op, is_return, prev: at - 1, next: if at == last { NIL } else { at + 1 } });
        }
        let completed_count = ops.iter().filter(|o| o.complete_ns.is_some()).count();
        let mut by_completion: Vec<(u128, u64, u32)> = ops
            .iter()
            .enumerate()
            .map(|(i, o)| (o.complete_ns.map_or(u128::from(u64::MAX) + 1, u128::from), o.invoke_ns, i as u32))
            .collect();
        by_completion.sort_unstable();
        let mut bit_of = vec![0u32; ops.len()];
        for (bit, &(_, _, op)) in by_completion.iter().enumerate() {
            bit_of[op as usize] = bit as u32;
        }
        let base_bytes = fixed_bytes
            + (entries.capacity() * size_of::<Entry>()) as u64
            + ((return_of.capacity() + bit_of.capacity()) * size_of::<u32>()) as u64
            + (events.capacity() * size_of::<(u128, bool, u32)>()) as u64;
        KeySearch {
            spec,
            ops,
            meter,
            entries,
            return_of,
            bit_of,
            completed_count,
            base_bytes,
            stack_bytes: 0,
            memo_bytes: 0,
        }
    }

    fn charge(&mut self, steps: u64) -> Result<(), Exhausted> {
        self.meter.steps += steps;
        if self.meter.steps > self.meter.max_steps {
            Err(Exhausted::Steps)
        } else {
            Ok(())
        }
    }

    fn check_memory(&mut self, words: usize) -> Result<(), Exhausted> {
        let held = self.base_bytes + (words * size_of::<u64>()) as u64 + self.stack_bytes + self.memo_bytes;
        self.meter.peak_memory = self.meter.peak_memory.max(held);
        if held > self.meter.max_memory {
            Err(Exhausted::Memory)
        } else {
            Ok(())
        }
    }

    fn lift(&mut self, at: u32) {
        let Entry { prev, next, .. } = self.entries[at as usize];
        self.entries[prev as usize].next = next;
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }

    fn unlift(&mut self, at: u32) {
        let Entry { prev, next, .. } = self.entries[at as usize];
        self.entries[prev as usize].next = at;
        if next != NIL {
            self.entries[next as usize].prev = at;
        }
    }

    fn run(mut self) -> KeyResult<S::State> {
        match self.search() {
            Ok(result) => result,
            Err(exhausted) => KeyResult::Exhausted(exhausted),
        }
    }

    fn search(&mut self) -> Result<KeyResult<S::State>, Exhausted> {
        let words = self.ops.len().div_ceil(64);
        let mut linearized = vec![0u64; words];
        let mut state = self.spec.init();
        let mut completed_done = 0usize;
        let mut stack: Vec<Frame<S::State>> = Vec::new();
        // A configuration: the number of leading all-ones words of the
        // linearized set, the words after them up to the last non-zero one,
        // and the state.
        let mut memo: HashSet<(u32, Box<[u64]>, S::State)> = HashSet::new();
        let mut full_words = 0usize;
        let mut dead_end: Option<DeadEnd<S::State>> = None;
        let frame_bytes = size_of::<Frame<S::State>>() as u64;
        // A memo entry: its slot (8/7 of it, with a control byte), the set's
        // words and the state's heap bytes.
        let slot_bytes = (size_of::<(u32, Box<[u64]>, S::State)>() as u64 + 1) * 8 / 7 + 1;
        self.check_memory(words)?;
        let mut cursor = self.entries[HEAD as usize].next;
        loop {
            if completed_done == self.completed_count {
                return Ok(KeyResult::Linearizable);
            }
            self.charge(1)?;
            let mut backtrack = cursor == NIL || self.entries[cursor as usize].is_return;
            if !backtrack {
                let entry = self.entries[cursor as usize];
                let local = entry.op as usize;
                let op = &self.ops[local];
                if let Some(next) = self.spec.step(&state, &op.op) {
                    let forced = next == state && self.spec.is_inert(&state, &op.op);
                    let state_heap = self.spec.state_heap_bytes(&next);
                    let bit = self.bit_of[local] as usize;
                    linearized[bit / 64] |= 1 << (bit % 64);
                    let full_before = full_words;
                    while full_words < words && linearized[full_words] == u64::MAX {
                        full_words += 1;
                    }
                    let end = linearized.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1).max(full_words);
                    let stored = &linearized[full_words..end];
                    self.charge(1 + ((words - full_before) as u64 + state_heap / 8) / WORDS_PER_STEP)?;
                    let fresh = memo.insert((full_words as u32, stored.into(), next.clone()));
                    if fresh {
                        self.memo_bytes += slot_bytes + std::mem::size_of_val(stored) as u64 + state_heap;
                        self.stack_bytes += frame_bytes + self.spec.state_heap_bytes(&state);
                        let before = std::mem::replace(&mut state, next);
                        stack.push(Frame { call: cursor, state: before, forced });
                        self.lift(cursor);
                        self.lift(self.return_of[local]);
                        if op.complete_ns.is_some() {
                            completed_done += 1;
                        }
                        self.check_memory(words)?;
                        cursor = self.entries[HEAD as usize].next;
                        continue;
                    }
                    linearized[bit / 64] &= !(1 << (bit % 64));
                    full_words = full_words.min(bit / 64);
                    // The forced move's subtree failed, so this node fails.
                    backtrack = forced;
                }
                if !backtrack {
                    cursor = entry.next;
                    continue;
                }
            }
            if dead_end.as_ref().is_none_or(|d| stack.len() > d.prefix_len) {
                dead_end = Some(self.dead_end(&stack, &state, completed_done)?);
            }
            loop {
                self.charge(1)?;
                let Some(frame) = stack.pop() else {
                    let found = match dead_end.take() {
                        Some(found) => found,
                        None => self.dead_end(&stack, &state, completed_done)?,
                    };
                    return Ok(KeyResult::NotLinearizable(found));
                };
                self.stack_bytes -= frame_bytes + self.spec.state_heap_bytes(&frame.state);
                let local = self.entries[frame.call as usize].op as usize;
                self.unlift(self.return_of[local]);
                self.unlift(frame.call);
                let bit = self.bit_of[local] as usize;
                linearized[bit / 64] &= !(1 << (bit % 64));
                full_words = full_words.min(bit / 64);
                if self.ops[local].complete_ns.is_some() {
                    completed_done -= 1;
                }
                state = frame.state;
                if !frame.forced {
                    cursor = self.entries[frame.call as usize].next;
                    break;
                }
            }
        }
    }

    /// The dead end at the current node, for the violation message.
    fn dead_end(
        &mut self,
        stack: &[Frame<S::State>],
        state: &S::State,
        completed_done: usize,
    ) -> Result<DeadEnd<S::State>, Exhausted> {
        let tail_from = stack.len().saturating_sub(PREFIX_LINES_SHOWN);
        let prefix_tail = stack[tail_from..].iter().map(|f| self.entries[f.call as usize].op).collect();
        let mut pending = Vec::new();
        let mut more_pending = false;
        let mut blocking = None;
        let mut at = self.entries[HEAD as usize].next;
        while at != NIL {
            self.charge(1)?;
            let entry = self.entries[at as usize];
            if entry.is_return {
                blocking = Some(entry.op).filter(|&op| self.ops[op as usize].complete_ns.is_some());
                break;
            }
            if pending.len() < PENDING_SHOWN {
                pending.push(entry.op);
            } else {
                more_pending = true;
                break;
            }
            at = entry.next;
        }
        Ok(DeadEnd {
            prefix_len: stack.len(),
            completed_linearized: completed_done,
            prefix_tail,
            state: state.clone(),
            pending,
            more_pending,
            blocking,
        })
    }
}

fn describe_violation<K, S: SequentialSpec>(
    spec: &S,
    key: K,
    key_label: &str,
    ops: &[SearchOp<S::Op>],
    dead_end: &DeadEnd<S::State>,
    describe_op: &dyn Fn(usize) -> String,
) -> KeyViolation<K> {
    let describe = |local: u32| {
        let index = ops[local as usize].index;
        format!("op #{index}: {}", describe_op(index))
    };
    let completed = ops.iter().filter(|o| o.complete_ns.is_some()).count();
    let mut message = format!(
        "key {key_label} is not linearizable ({completed} ops with a known outcome, {} timed out).\n",
        ops.len() - completed
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
    let _ = writeln!(message, "{} after the prefix: {}.", S::STATE_NOUN, spec.describe_state(&dead_end.state));
    let known: Vec<u32> = dead_end.pending.iter().copied().filter(|&l| ops[l as usize].complete_ns.is_some()).collect();
    let impossible: Vec<u32> =
        known.iter().copied().filter(|&l| spec.step(&dead_end.state, &ops[l as usize].op).is_none()).collect();
    let _ = writeln!(
        message,
        "No extension of this prefix works: no order of the pending ops (together with any \
         timed-out ops) explains their outcomes."
    );
    if !dead_end.pending.is_empty() {
        let _ = writeln!(message, "Pending ops (invoked, not yet linearized):");
        for &local in &dead_end.pending {
            let op = &ops[local as usize];
            let note = if op.complete_ns.is_some() && impossible.contains(&local) {
                " [its outcome is impossible here]"
            } else {
                ""
            };
            let _ = writeln!(message, "  {}{note}", describe(local));
        }
        if dead_end.more_pending {
            let _ = writeln!(message, "  ... and more (the first {PENDING_SHOWN} by invocation are shown)");
        }
    }
    if let Some(blocking) = dead_end.blocking {
        let complete_ns = ops[blocking as usize].complete_ns.unwrap_or(u64::MAX);
        let _ = write!(
            message,
            "op #{} completed first, at {complete_ns} ns, so it had to be linearized before \
             anything invoked later.",
            ops[blocking as usize].index
        );
    }
    let stuck = if impossible.is_empty() { known } else { impossible };
    let stuck_ops = stuck.iter().map(|&l| ops[l as usize].index).collect();
    KeyViolation { key, message: message.trim_end().to_string(), stuck_ops }
}
