//! Multi-Paxos' durable state and the types named for the algorithm: a
//! [`Ballot`] is (round, node id), a slot holds a [`SlotCommand`], and a
//! [`PaxosDisk`] is what an acceptor and a learner keep across a crash —
//! the promise, each slot's accepted (ballot, command), the decided slots
//! not yet compacted, and the snapshot of the store they compacted into.

use std::collections::BTreeMap;
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
    mix64(previous ^ command.id())
}

/// The store after every slot up to `last_slot`, applied in slot order.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Snapshot {
    pub last_slot: u64,
    /// Chain hash of the decided prefix it covers.
    pub chain: u64,
    pub store: KvStore,
}

/// What survives a crash. The acceptor writes `promised` and `accepted`
/// before it answers; the learner writes `decided` before it applies.
#[derive(Debug, Default)]
pub struct PaxosDisk {
    pub promised: Ballot,
    /// Per slot above the snapshot: the highest-ballot proposal accepted.
    pub accepted: BTreeMap<u64, (Ballot, SlotCommand)>,
    /// Slots known decided above the snapshot (applied or not yet).
    pub decided: BTreeMap<u64, SlotCommand>,
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
        let keep_from = snapshot.last_slot + 1;
        self.accepted = self.accepted.split_off(&keep_from);
        self.decided = self.decided.split_off(&keep_from);
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
            disk.accepted.insert(slot, (Ballot { round: 1, node: 0 }, SlotCommand::Noop));
            disk.decided.insert(slot, SlotCommand::Noop);
        }
        let chain_6 = (1..=6).fold(0, |c, _| chain(c, &SlotCommand::Noop));
        disk.compact(Arc::new(Snapshot { last_slot: 6, chain: chain_6, store: KvStore::default() }));
        assert_eq!(disk.base(), 6);
        assert_eq!(disk.accepted.keys().copied().collect::<Vec<_>>(), [7, 8, 9, 10]);
        assert_eq!(disk.decided.len(), 4);
        assert_eq!(disk.base_chain(), chain_6);
    }
}
