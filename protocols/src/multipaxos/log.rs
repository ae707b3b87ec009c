//! Multi-Paxos' durable state and the types named for the algorithm: a
//! [`Ballot`] is (round, node id), a slot holds a [`SlotCommand`], and a
//! [`PaxosDisk`] is what an acceptor and a learner keep across a crash —
//! the promise, each slot's accepted (ballot, command), the decided slots
//! not yet compacted, and the snapshot of the store they compacted into.

use std::collections::VecDeque;
use std::sync::Arc;

use faultline_sim::rng::mix64;
use faultline_sim::trace::stable_hash;

use crate::kv::{KvStore, Request};

/// A ballot: (round, proposer). Ordered by round, then by node id, so two
/// proposers never share a ballot and every ballot has one proposer.
#[derive(Copy, Clone, Debug, Default, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ballot {
    pub round: u64,
    pub node: u32,
}

impl Ballot {
    /// The ballot no proposer uses: below every real one.
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };
}

impl std::fmt::Display for Ballot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, n{})", self.round, self.node)
    }
}

/// What a slot of the replicated log holds.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum SlotCommand {
    /// Fills a slot a new leader found empty below the highest accepted
    /// one, so the slots above it can apply.
    Noop,
    Client(Request),
}

impl SlotCommand {
    /// A stable identity for notes: the monitor compares commands by it.
    pub fn id(&self) -> u64 {
        stable_hash(self)
    }
}

/// The hash of the decided prefix ending in `command`, given the prefix
/// before it: the monitor compares learners' logs through it.
pub fn chain(previous: u64, command: &SlotCommand) -> u64 {
    chain_id(previous, command.id())
}

/// [`chain`] from the command's id.
pub fn chain_id(previous: u64, id: u64) -> u64 {
    mix64(previous ^ id)
}

/// The store after every slot up to `last_slot`, applied in slot order.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Snapshot {
    pub last_slot: u64,
    /// Chain hash of the decided prefix it covers.
    pub chain: u64,
    pub store: KvStore,
}

/// The most slots a node holds past its snapshot, accepted or decided. An
/// Accept or decision further ahead is not stored (not accepting is always
/// safe); the node catches up first. Compaction keeps real logs far below.
pub const MAX_SLOTS_AHEAD: u64 = 1 << 16;

/// Per-slot values from `first` on, stored densely: slots are consecutive,
/// so a deque indexed by slot beats a map on the hot path.
#[derive(Clone, Debug)]
pub struct SlotLog<T> {
    first: u64,
    slots: VecDeque<Option<T>>,
    held: usize,
}

impl<T> Default for SlotLog<T> {
    fn default() -> Self {
        SlotLog { first: 1, slots: VecDeque::new(), held: 0 }
    }
}

impl<T> SlotLog<T> {
    fn offset(&self, slot: u64) -> Option<usize> {
        let i = usize::try_from(slot.checked_sub(self.first)?).ok()?;
        (i < self.slots.len()).then_some(i)
    }
    pub fn get(&self, slot: u64) -> Option<&T> {
        self.offset(slot).and_then(|i| self.slots[i].as_ref())
    }
    pub fn contains(&self, slot: u64) -> bool {
        self.get(slot).is_some()
    }
    /// Stores `value` at `slot`; false (nothing stored) below the first
    /// slot held or [`MAX_SLOTS_AHEAD`] past it.
    pub fn insert(&mut self, slot: u64, value: T) -> bool {
        let Some(i) = slot.checked_sub(self.first) else { return false };
        if i >= MAX_SLOTS_AHEAD {
            return false;
        }
        let i = i as usize;
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        if self.slots[i].replace(value).is_none() {
            self.held += 1;
        }
        true
    }
    /// The values held from `slot` on, in slot order.
    pub fn iter_from(&self, slot: u64) -> impl Iterator<Item = (u64, &T)> {
        let skip = slot.saturating_sub(self.first) as usize;
        let first = self.first;
        self.slots.iter().enumerate().skip(skip).filter_map(move |(i, v)| v.as_ref().map(|v| (first + i as u64, v)))
    }
    /// Drops every slot up to `slot`.
    pub fn drop_through(&mut self, slot: u64) {
        while self.first <= slot {
            match self.slots.pop_front() {
                Some(v) => self.held -= usize::from(v.is_some()),
                None => break,
            }
            self.first += 1;
        }
        self.first = self.first.max(slot + 1);
    }
    /// Slots holding a value.
    pub fn len(&self) -> usize {
        self.held
    }
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }
}

/// What survives a crash. The acceptor writes `promised` and `accepted`
/// before it answers; the learner writes `decided` before it applies.
#[derive(Clone, Debug, Default)]
pub struct PaxosDisk {
    pub promised: Ballot,
    /// Per slot above the snapshot: the highest-ballot proposal accepted,
    /// with the command's id (kept, not hashed again at each use).
    pub accepted: SlotLog<(Ballot, SlotCommand, u64)>,
    /// Slots known decided above the snapshot (applied or not yet), with
    /// the command's id.
    pub decided: SlotLog<(SlotCommand, u64)>,
    pub snapshot: Option<Arc<Snapshot>>,
}

impl PaxosDisk {
    /// The last slot the snapshot covers (0 without one).
    pub fn base(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.last_slot)
    }
    pub fn base_chain(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.chain)
    }
    /// Replaces everything up to `snapshot.last_slot` by the snapshot: those
    /// slots are decided, so no proposer needs their accepted values again.
    pub fn compact(&mut self, snapshot: Arc<Snapshot>) {
        self.accepted.drop_through(snapshot.last_slot);
        self.decided.drop_through(snapshot.last_slot);
        self.snapshot = Some(snapshot);
    }
    /// Entries held (accepted and decided), for the log-length metric.
    pub fn len(&self) -> usize {
        self.accepted.len() + self.decided.len()
    }
    pub fn is_empty(&self) -> bool {
        self.accepted.is_empty() && self.decided.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_order_by_round_then_node() {
        let b = |round, node| Ballot { round, node };
        assert!(b(1, 4) < b(2, 0));
        assert!(b(2, 0) < b(2, 1));
        assert!(Ballot::ZERO < b(0, 1));
        assert_eq!(b(3, 2).to_string(), "(3, n2)");
    }

    #[test]
    fn compaction_drops_what_the_snapshot_covers() {
        let mut disk = PaxosDisk::default();
        for slot in 1..=10 {
            disk.accepted.insert(slot, (Ballot { round: 1, node: 0 }, SlotCommand::Noop, SlotCommand::Noop.id()));
            disk.decided.insert(slot, (SlotCommand::Noop, SlotCommand::Noop.id()));
        }
        let chain_6 = (1..=6).fold(0, |c, _| chain(c, &SlotCommand::Noop));
        disk.compact(Arc::new(Snapshot { last_slot: 6, chain: chain_6, store: KvStore::default() }));
        assert_eq!(disk.base(), 6);
        assert_eq!(disk.accepted.iter_from(0).map(|(s, _)| s).collect::<Vec<_>>(), [7, 8, 9, 10]);
        assert!(!disk.decided.insert(6, (SlotCommand::Noop, 0)), "a compacted slot is not stored again");
        assert!(!disk.decided.insert(7 + MAX_SLOTS_AHEAD, (SlotCommand::Noop, 0)), "nor one too far ahead");
        assert!(disk.decided.insert(12, (SlotCommand::Noop, 0)));
        assert_eq!(disk.decided.iter_from(9).map(|(s, _)| s).collect::<Vec<_>>(), [9, 10, 12]);
        assert_eq!(disk.decided.len(), 5, "7 to 10 and 12");
        assert_eq!(disk.base_chain(), chain_6);
    }
}
