//! ZAB's durable state and the types named for the algorithm: a [`Zxid`] is
//! (epoch, counter), a [`Txn`] is one proposal of the broadcast, a history is
//! a [`Snapshot`] of the delivered prefix followed by the logged
//! transactions after it ([`TxnLog`]), and [`ZabDisk`] is what survives a
//! crash: acceptedEpoch, currentEpoch and that history.
//!
//! Histories here have the shape Zab guarantees: every transaction of an
//! epoch reaches a log through that epoch's leader, in counter order and
//! after the leader's whole initial history, so a history holds epoch `e`'s
//! transactions `(e, 1)..=(e, c)` for some `c` and two histories that both
//! hold `(e, k)` agree on everything up to it. [`TxnLog::sync_point`] leans
//! on this to find where a follower's history leaves the leader's from the
//! last zxid of each epoch alone.

use std::collections::VecDeque;
use std::sync::Arc;

use faultline_sim::rng::mix64;
use faultline_sim::trace::stable_hash;

use crate::kv::{KvStore, Request};

/// A transaction id: the epoch of the leader that proposed it and its place
/// in that leader's sequence (from 1). Ordered by epoch, then counter.
#[derive(Copy, Clone, Debug, Default, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub struct Zxid {
    pub epoch: u64,
    pub counter: u64,
}

impl Zxid {
    /// Before every transaction: the zxid of an empty history.
    pub const ZERO: Zxid = Zxid { epoch: 0, counter: 0 };

    pub fn new(epoch: u64, counter: u64) -> Zxid {
        Zxid { epoch, counter }
    }

    /// ZooKeeper's 64-bit zxid: epoch high, counter low. A leader steps
    /// down before its counter leaves 32 bits ([`MAX_COUNTER`]).
    pub fn packed(self) -> u64 {
        crate::check::session::pack(self.epoch, self.counter)
    }
}

impl std::fmt::Display for Zxid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.epoch, self.counter)
    }
}

/// The highest counter a leader proposes at; at it, the leader steps down
/// and a new epoch begins (ZooKeeper forces an election when the low 32
/// bits of the zxid would roll over).
pub const MAX_COUNTER: u64 = u32::MAX as u64;

/// One transaction: a client request, at `index` in the history (from 1).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Txn {
    pub zxid: Zxid,
    pub index: u64,
    pub request: Request,
}

impl Txn {
    /// A stable identity for notes: the monitor compares transactions by it.
    pub fn id(&self) -> u64 {
        stable_hash(self)
    }
}

/// The hash of the history ending in `txn`, given the history before it:
/// the monitor compares nodes' histories through it. Each node computes it
/// itself as it logs, so a gap or a foreign transaction shows.
pub fn chain(previous: u64, txn: &Txn) -> u64 {
    mix64(previous ^ txn.id())
}

/// A place in a history: the transaction at `index`, its zxid, and the
/// chain hash of the history up to it.
#[derive(Copy, Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct Point {
    pub index: u64,
    pub zxid: Zxid,
    pub chain: u64,
}

/// The store after every transaction up to `point`, delivered in order.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Snapshot {
    pub point: Point,
    pub store: KvStore,
}

/// A logged transaction with the chain hash of the history through it.
#[derive(Clone, Debug)]
pub struct Logged {
    pub txn: Txn,
    pub chain: u64,
}

/// A history: the snapshot (the delivered prefix it compacted) and the
/// transactions logged after it, consecutive by index. Compaction keeps it
/// to about `snapshot_every` delivered transactions plus those in flight.
#[derive(Clone, Debug, Default)]
pub struct TxnLog {
    snapshot: Option<Arc<Snapshot>>,
    entries: VecDeque<Logged>,
}

impl TxnLog {
    /// Where the snapshot ends (the empty history's point without one).
    pub fn base(&self) -> Point {
        self.snapshot.as_ref().map_or(Point::default(), |s| s.point)
    }
    pub fn snapshot(&self) -> Option<&Arc<Snapshot>> {
        self.snapshot.as_ref()
    }
    /// The last transaction of the history.
    pub fn last(&self) -> Point {
        match self.entries.back() {
            Some(e) => Point { index: e.txn.index, zxid: e.txn.zxid, chain: e.chain },
            None => self.base(),
        }
    }
    /// Transactions logged after the snapshot.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The logged transaction at `index`, if held (not compacted).
    pub fn get(&self, index: u64) -> Option<&Logged> {
        let i = usize::try_from(index.checked_sub(self.base().index + 1)?).ok()?;
        self.entries.get(i)
    }
    /// The point of `zxid` in this history, if it holds it (the snapshot's
    /// last transaction included, the ones it compacted not).
    pub fn point_of(&self, zxid: Zxid) -> Option<Point> {
        let base = self.base();
        if zxid == base.zxid {
            return Some(base);
        }
        let i = self.entries.binary_search_by_key(&zxid, |e| e.txn.zxid).ok()?;
        let e = &self.entries[i];
        Some(Point { index: e.txn.index, zxid, chain: e.chain })
    }
    /// Appends `txn`, which must follow the last transaction; returns its point.
    pub fn append(&mut self, txn: Txn) -> Point {
        let last = self.last();
        debug_assert_eq!(txn.index, last.index + 1, "a history is consecutive");
        debug_assert!(txn.zxid > last.zxid, "a history is in zxid order");
        let chain = chain(last.chain, &txn);
        let point = Point { index: txn.index, zxid: txn.zxid, chain };
        self.entries.push_back(Logged { txn, chain });
        point
    }
    /// Drops every transaction after `zxid` (TRUNC); false, dropping
    /// nothing, when the history does not hold `zxid`.
    pub fn truncate_after(&mut self, zxid: Zxid) -> bool {
        let Some(point) = self.point_of(zxid) else { return false };
        let keep = (point.index - self.base().index) as usize;
        self.entries.truncate(keep);
        true
    }
    /// Replaces the history up to the snapshot's point by the snapshot.
    pub fn compact(&mut self, snapshot: Arc<Snapshot>) {
        while self.entries.front().is_some_and(|e| e.txn.index <= snapshot.point.index) {
            self.entries.pop_front();
        }
        self.snapshot = Some(snapshot);
    }
    /// Replaces the whole history by `snapshot` (SNAP).
    pub fn install(&mut self, snapshot: Arc<Snapshot>) {
        self.entries.clear();
        self.snapshot = Some(snapshot);
    }
    /// The transactions after `index`, in order.
    pub fn txns_after(&self, index: u64) -> Vec<Txn> {
        let skip = index.saturating_sub(self.base().index) as usize;
        self.entries.iter().skip(skip).map(|e| e.txn.clone()).collect()
    }
    /// The last zxid of each epoch the history holds, in order: the
    /// snapshot's last one first (the epochs it compacted before that are
    /// delivered, so every leader holds them). What a follower tells its
    /// leader in ACKEPOCH, so the leader can find where they part.
    pub fn epoch_ends(&self) -> Vec<Zxid> {
        let mut ends: Vec<Zxid> = Vec::new();
        let base = self.base().zxid;
        if base != Zxid::ZERO {
            ends.push(base);
        }
        for e in &self.entries {
            match ends.last_mut() {
                Some(z) if z.epoch == e.txn.zxid.epoch => *z = e.txn.zxid,
                _ => ends.push(e.txn.zxid),
            }
        }
        ends
    }
    /// [`TxnLog::epoch_ends`] of the history up to `zxid` only.
    pub fn epoch_ends_through(&self, zxid: Zxid) -> Vec<Zxid> {
        let mut ends = self.epoch_ends();
        ends.retain(|z| z.epoch <= zxid.epoch);
        if let Some(z) = ends.last_mut().filter(|z| z.epoch == zxid.epoch) {
            *z = (*z).min(zxid);
        }
        ends
    }
    /// The last zxid of `epoch` this history holds, if it holds any (the
    /// snapshot's, when its last transaction is of that epoch).
    fn last_of_epoch(&self, epoch: u64) -> Option<Zxid> {
        // Entries are in zxid order: the last one of an epoch at or below
        // `epoch` is found by searching for the first of the next epoch.
        let after = self.entries.partition_point(|e| e.txn.zxid.epoch <= epoch);
        if after > 0 && self.entries[after - 1].txn.zxid.epoch == epoch {
            return Some(self.entries[after - 1].txn.zxid);
        }
        let base = self.base().zxid;
        (base.epoch == epoch && base != Zxid::ZERO).then_some(base)
    }
    /// Where a follower's history, described by its [`TxnLog::epoch_ends`],
    /// last agrees with this one: the point both hold and after which they
    /// part (the follower's extra transactions are truncated, this
    /// history's are sent). `None` when this history compacted that point:
    /// the follower needs the snapshot (SNAP).
    ///
    /// Two histories holding a transaction of epoch `e` hold the same
    /// history before `(e, 1)` and the same transactions of `e` up to the
    /// shorter one's last, so the highest epoch both hold gives the point.
    pub fn sync_point(&self, follower_ends: &[Zxid]) -> Option<Point> {
        let common = follower_ends
            .iter()
            .rev()
            .find_map(|z| self.last_of_epoch(z.epoch).map(|mine| mine.min(*z)))
            .unwrap_or(Zxid::ZERO);
        if common == Zxid::ZERO {
            // Nothing in common but the empty history: send everything,
            // which this history still holds only without a snapshot.
            return self.snapshot.is_none().then(Point::default);
        }
        if common < self.base().zxid {
            return None;
        }
        self.point_of(common)
    }
}

/// What survives a crash. The follower writes acceptedEpoch before it
/// answers NEWEPOCH, the history before it acknowledges NEWLEADER or a
/// proposal, and currentEpoch only with (after) the history it covers.
#[derive(Clone, Debug, Default)]
pub struct ZabDisk {
    /// The epoch of the last NEWEPOCH this node accepted (the paper's f.p).
    pub accepted_epoch: u64,
    /// The epoch of the last NEWLEADER this node accepted (the paper's f.a):
    /// its history is that epoch's leader's initial history and what it
    /// proposed after.
    pub current_epoch: u64,
    pub log: TxnLog,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{Command, OpId};

    fn txn(index: u64, epoch: u64, counter: u64) -> Txn {
        let request = Request::new(OpId { client: 0, seq: index }, Command::Put { key: 1, value: index }, index);
        Txn { zxid: Zxid::new(epoch, counter), index, request }
    }

    /// A history of the given zxids, consecutive from index 1.
    fn history(zxids: &[(u64, u64)]) -> TxnLog {
        let mut log = TxnLog::default();
        for (i, &(e, c)) in zxids.iter().enumerate() {
            log.append(txn(i as u64 + 1, e, c));
        }
        log
    }

    #[test]
    fn zxids_order_by_epoch_then_counter() {
        assert!(Zxid::new(1, 9) < Zxid::new(2, 1));
        assert!(Zxid::new(2, 1) < Zxid::new(2, 2));
        assert!(Zxid::ZERO < Zxid::new(0, 1));
        assert_eq!(Zxid::new(3, 2).to_string(), "(3, 2)");
    }

    /// Where a follower and its leader part, for each way histories differ
    /// (Medeiros §3.3: the leader sends DIFF, TRUNC or SNAP).
    #[test]
    fn the_sync_point_is_the_last_transaction_both_hold() {
        let leader = history(&[(1, 1), (1, 2), (3, 1), (3, 2)]);
        let at = |z: (u64, u64)| Some(leader.point_of(Zxid::new(z.0, z.1)).expect("held").index);
        let point = |ends: &[(u64, u64)]| {
            let ends: Vec<Zxid> = ends.iter().map(|&(e, c)| Zxid::new(e, c)).collect();
            leader.sync_point(&ends).map(|p| p.index)
        };
        // Behind in the leader's epoch, or in an earlier one it holds: DIFF.
        assert_eq!(point(&[(1, 2), (3, 1)]), at((3, 1)));
        assert_eq!(point(&[(1, 1)]), at((1, 1)));
        // Up to date.
        assert_eq!(point(&[(1, 2), (3, 2)]), at((3, 2)));
        // An epoch the leader never saw, after (1, 1): TRUNC to (1, 1), not
        // to (1, 2), which the follower never held.
        assert_eq!(point(&[(1, 1), (2, 2)]), at((1, 1)));
        // Further in epoch 1 than the leader (its uncommitted tail): TRUNC.
        assert_eq!(point(&[(1, 5)]), at((1, 2)));
        // Empty follower: everything from the start.
        assert_eq!(point(&[]), Some(0));
        assert_eq!(history(&[(1, 1)]).epoch_ends(), [Zxid::new(1, 1)]);
        assert_eq!(leader.epoch_ends(), [Zxid::new(1, 2), Zxid::new(3, 2)]);
        assert_eq!(leader.epoch_ends_through(Zxid::new(3, 1)), [Zxid::new(1, 2), Zxid::new(3, 1)]);
        assert_eq!(leader.epoch_ends_through(Zxid::new(1, 1)), [Zxid::new(1, 1)]);
    }

    #[test]
    fn a_compacted_sync_point_needs_a_snapshot() {
        let mut leader = history(&[(1, 1), (1, 2), (3, 1), (3, 2)]);
        let base = leader.point_of(Zxid::new(3, 1)).expect("held");
        leader.compact(Arc::new(Snapshot { point: base, store: KvStore::default() }));
        assert_eq!(leader.len(), 1);
        assert_eq!(leader.base(), base);
        let ends = |z: &[(u64, u64)]| z.iter().map(|&(e, c)| Zxid::new(e, c)).collect::<Vec<_>>();
        assert_eq!(leader.sync_point(&ends(&[(1, 2)])), None, "epoch 1 is compacted");
        assert_eq!(leader.sync_point(&ends(&[])), None, "so is the start");
        assert_eq!(leader.sync_point(&ends(&[(1, 2), (3, 1)])).map(|p| p.index), Some(3));
        assert_eq!(leader.sync_point(&ends(&[(1, 2), (3, 9)])).map(|p| p.index), Some(4));
        assert_eq!(leader.txns_after(3).len(), 1);
        assert_eq!(leader.epoch_ends(), ends(&[(3, 2)]));
    }

    #[test]
    fn truncation_keeps_the_prefix_and_its_chain() {
        let mut log = history(&[(1, 1), (1, 2), (2, 1)]);
        let before = log.point_of(Zxid::new(1, 2)).expect("held");
        assert!(log.truncate_after(Zxid::new(1, 2)));
        assert_eq!(log.last(), before);
        assert!(!log.truncate_after(Zxid::new(2, 1)), "no longer held");
        let again = log.append(txn(3, 4, 1));
        assert_ne!(again.chain, history(&[(1, 1), (1, 2), (2, 1)]).last().chain);
    }
}
