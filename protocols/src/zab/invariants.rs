//! Zab's properties, checked online from the facts servers report — never
//! from any server's belief. They are named as ZooKeeper's TLA+
//! specifications name them (`zookeeper-specifications/`, after Junqueira
//! et al. §III and Medeiros §2), so a violation points at a property a
//! reader can look up:
//!
//! - `leadership`: at most one established leader per epoch, and only the
//!   established leader of an epoch proposes in it (TLA+ `Leadership`).
//! - `integrity`: a server delivers only a transaction some primary
//!   proposed with that zxid (`Integrity`).
//! - `agreement`: servers that deliver at the same position of their
//!   histories deliver the same transaction (`Agreement`, with
//!   `total_order` below).
//! - `total_order`: each server delivers at consecutive positions, in zxid
//!   order (`TotalOrder`): with `agreement`, every server delivers a prefix
//!   of one sequence.
//! - `local_primary_order`: a primary proposes its epoch's zxids in counter
//!   order, and a server delivers `(e, c)` right after `(e, c - 1)`
//!   (`LocalPrimaryOrder`).
//! - `global_primary_order`: a server delivers an epoch's transactions
//!   after those of every earlier epoch it delivers (`GlobalPrimaryOrder`).
//! - `primary_integrity`: an established primary's initial history holds
//!   every transaction of an earlier epoch that any server delivers, at the
//!   same position (`PrimaryIntegrity`).
//! - `prefix_consistency`: the delivered histories agree as wholes — the
//!   chain hash of the history and the store's digest at each position
//!   match, snapshots included, and no server takes back a delivery
//!   (`PrefixConsistency`).
//! - `epochs_monotonic`: acceptedEpoch and currentEpoch never go back, and
//!   currentEpoch never passes acceptedEpoch, across restarts.
//!
//! - `reads_committed`: a server answers a read from the state after the
//!   last transaction it delivered, and that state is the one the
//!   delivered sequence holds there (ZooKeeper's promise that every read
//!   returns the state after some committed zxid).
//!
//! It also measures what only a global observer sees: time with no
//! established leader, leader changes, and how far each read lags the
//! furthest delivery anywhere (`read_lag_zxids`, in transactions, and
//! `read_lag_us`, how long the state read had been superseded), over the
//! reads that lag (`reads_lagging` of `local_reads`). Reads answered while
//! a partition was in force are split by the side of the server that
//! answered them: `minority_local_reads`, `minority_reads_lagging` and the
//! histogram `minority_read_lag_zxids` (of the reads that lag), and the
//! same for `majority_`. Up to [`crate::check::lag::MAX_READ_SAMPLES`] reads are kept for that split;
//! past it `read_samples_dropped` counts those left out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use faultline_sim::metrics::Metrics;
use faultline_sim::world::{Monitor, Violation};
use faultline_sim::{AppliedFault, NodeId, Time};

use super::log::{Point, Zxid};
use super::node::{ZabNode, ZabNote};
use crate::check::lag::{ReadLags, SideNames};

/// One position of the delivered sequence, as first delivered.
struct Delivered {
    zxid: Zxid,
    txn: u64,
    chain: u64,
    state: u64,
    node: u32,
    /// When it was first delivered anywhere.
    time: Time,
}

pub struct ZabMonitor {
    /// Every transaction proposed, by zxid, above `forgotten`.
    proposals: BTreeMap<Zxid, u64>,
    /// Per epoch: the last counter proposed in it.
    last_proposed: BTreeMap<u64, u64>,
    /// Per epoch: its established leader and where its initial history ends.
    established: BTreeMap<u64, (u32, Point)>,
    /// The delivered sequence from position `base` on.
    base: u64,
    sequence: VecDeque<Delivered>,
    /// Proposals at or below it are forgotten (every server compacted past).
    forgotten: Zxid,
    /// Per server: the last position it delivered (or restored) since it
    /// started; `None`: nothing yet, so the next is position 1.
    delivered: Vec<Option<Point>>,
    /// Per server: the position its snapshot covers.
    compacted: Vec<u64>,
    accepted_epoch: Vec<u64>,
    current_epoch: Vec<u64>,
    leaders: BTreeSet<u32>,
    /// Since when no leader is established; `None` also before the first,
    /// so `leaderless_ms` leaves the first election out (as Raft's does).
    leaderless_since: Option<Time>,
    leaderless_ns: u64,
    leader_changes: u64,
    last_leader: Option<u32>,
    /// The read lag figures, recorded as reads happen.
    lag: Metrics,
    /// Every local read, for the split by partition side at the end.
    reads: ReadLags,
    nodes: u32,
}

fn violation(check: &str, now: Time, nodes: Vec<u32>, message: String) -> Option<Violation> {
    Some(Violation { check: check.to_string(), at: now, nodes: nodes.into_iter().map(NodeId).collect(), message })
}

impl ZabMonitor {
    pub fn new(nodes: u32) -> ZabMonitor {
        let n = nodes as usize;
        ZabMonitor {
            proposals: BTreeMap::new(),
            last_proposed: BTreeMap::new(),
            established: BTreeMap::new(),
            base: 1,
            sequence: VecDeque::new(),
            forgotten: Zxid::ZERO,
            delivered: vec![None; n],
            compacted: vec![0; n],
            accepted_epoch: vec![0; n],
            current_epoch: vec![0; n],
            leaders: BTreeSet::new(),
            leaderless_since: None,
            leaderless_ns: 0,
            leader_changes: 0,
            last_leader: None,
            lag: Metrics::default(),
            reads: ReadLags::default(),
            nodes,
        }
    }

    /// Records the lag of the reads answered while a partition was in
    /// force under the side of the server that answered them.
    fn split_reads_by_side(&mut self, now: Time, faults: &[AppliedFault]) {
        let majority = SideNames {
            reads: "majority_local_reads",
            lagging: "majority_reads_lagging",
            lag: "majority_read_lag_zxids",
            lag_us: None,
        };
        let minority = SideNames {
            reads: "minority_local_reads",
            lagging: "minority_reads_lagging",
            lag: "minority_read_lag_zxids",
            lag_us: None,
        };
        self.reads.split_by_side(now, faults, self.nodes, &majority, &minority, &mut self.lag);
    }

    /// The delivered sequence at `index`; `None` if not delivered yet or
    /// forgotten.
    fn at(&self, index: u64) -> Option<&Delivered> {
        let i = usize::try_from(index.checked_sub(self.base)?).ok()?;
        self.sequence.get(i)
    }

    fn forget_old(&mut self) {
        let floor = self.compacted.iter().copied().min().unwrap_or(0);
        while self.base <= floor {
            let Some(d) = self.sequence.pop_front() else { break };
            self.forgotten = self.forgotten.max(d.zxid);
            self.base += 1;
        }
        let keep = self.proposals.split_off(&Zxid::new(self.forgotten.epoch, self.forgotten.counter + 1));
        self.proposals = keep;
    }

    fn lose_leader(&mut self, now: Time, node: u32) {
        if self.leaders.remove(&node) && self.leaders.is_empty() {
            self.leaderless_since = Some(now);
        }
    }

    /// A history of server `n` reaches `point` with store digest `state`:
    /// the delivered sequence must hold the same there.
    fn matches_sequence(&self, now: Time, n: u32, point: Point, state: u64, what: &str) -> Option<Violation> {
        let d = self.at(point.index)?;
        if d.chain != point.chain {
            return violation(
                "prefix_consistency",
                now,
                vec![d.node, n],
                format!(
                    "n{n}'s {what} at position {} ({}) holds another history than n{} delivered up to there",
                    point.index, point.zxid, d.node
                ),
            );
        }
        if d.state != state {
            return violation(
                "prefix_consistency",
                now,
                vec![d.node, n],
                format!(
                    "n{n}'s {what} at position {} holds another store than n{} after the same history",
                    point.index, d.node
                ),
            );
        }
        None
    }

    fn on_established(&mut self, now: Time, n: u32, epoch: u64, last: Point) -> Option<Violation> {
        if let Some(&(other, _)) = self.established.get(&epoch) {
            return violation(
                "leadership",
                now,
                vec![other, n],
                format!("n{other} and n{n} were both established as the leader of epoch {epoch}"),
            );
        }
        self.established.insert(epoch, (n, last));
        if let Some(d) = self.at(last.index) {
            if d.chain != last.chain {
                return violation(
                    "primary_integrity",
                    now,
                    vec![n, d.node],
                    format!(
                        "n{n} was established in epoch {epoch} with a history that differs from the delivered one \
                         at position {} (n{} delivered {} there)",
                        last.index, d.node, d.zxid
                    ),
                );
            }
        }
        if let Some(d) = self.at(last.index + 1).filter(|d| d.zxid.epoch < epoch) {
            return violation(
                "primary_integrity",
                now,
                vec![n, d.node],
                format!(
                    "n{n} was established in epoch {epoch} with a history of {} transactions, without {} that n{} \
                     delivered at position {}",
                    last.index,
                    d.zxid,
                    d.node,
                    last.index + 1
                ),
            );
        }
        if let Some(since) = self.leaderless_since.take() {
            self.leaderless_ns += now.since(since).as_nanos();
        }
        self.leaders.insert(n);
        if self.last_leader != Some(n) {
            self.leader_changes += 1;
            self.last_leader = Some(n);
        }
        None
    }

    fn on_proposed(&mut self, now: Time, n: u32, zxid: Zxid, txn: u64) -> Option<Violation> {
        match self.established.get(&zxid.epoch) {
            Some(&(leader, _)) if leader == n => {}
            Some(&(leader, _)) => {
                return violation(
                    "leadership",
                    now,
                    vec![n, leader],
                    format!("n{n} proposed {zxid} in epoch {}, whose established leader is n{leader}", zxid.epoch),
                )
            }
            None => {
                return violation(
                    "leadership",
                    now,
                    vec![n],
                    format!(
                        "n{n} proposed {zxid} before a quorum established it as the leader of epoch {}",
                        zxid.epoch
                    ),
                )
            }
        }
        let last = self.last_proposed.get(&zxid.epoch).copied().unwrap_or(0);
        if zxid.counter != last + 1 {
            return violation(
                "local_primary_order",
                now,
                vec![n],
                format!("n{n} proposed {zxid} after ({}, {last}) in its epoch", zxid.epoch),
            );
        }
        self.last_proposed.insert(zxid.epoch, zxid.counter);
        self.proposals.insert(zxid, txn);
        None
    }

    fn on_delivered(&mut self, now: Time, n: u32, point: Point, txn: u64, state: u64) -> Option<Violation> {
        let zxid = point.zxid;
        if zxid > self.forgotten && self.proposals.get(&zxid) != Some(&txn) {
            let what =
                if self.proposals.contains_key(&zxid) { "another transaction than the one" } else { "what no primary" };
            return violation("integrity", now, vec![n], format!("n{n} delivered at {zxid} {what} proposed there"));
        }
        let prev = self.delivered[n as usize].unwrap_or_default();
        if point.index != prev.index + 1 {
            return violation(
                "total_order",
                now,
                vec![n],
                format!("n{n} delivered position {} right after position {}", point.index, prev.index),
            );
        }
        if zxid.epoch < prev.zxid.epoch {
            return violation(
                "global_primary_order",
                now,
                vec![n],
                format!("n{n} delivered {zxid} after {} of a later epoch", prev.zxid),
            );
        }
        let expected = Zxid::new(zxid.epoch, zxid.counter.wrapping_sub(1));
        if zxid.counter == 0
            || (zxid.counter > 1 && prev.zxid != expected)
            || (zxid.epoch == prev.zxid.epoch && zxid <= prev.zxid)
        {
            return violation(
                "local_primary_order",
                now,
                vec![n],
                format!("n{n} delivered {zxid} right after {}, not after {expected}", prev.zxid),
            );
        }
        self.delivered[n as usize] = Some(point);
        if let Some(d) = self.at(point.index).filter(|d| d.zxid != zxid || d.txn != txn) {
            return violation(
                "agreement",
                now,
                vec![d.node, n],
                format!("n{} delivered {} and n{n} delivered {zxid} at position {}", d.node, d.zxid, point.index),
            );
        }
        for (&epoch, &(leader, last)) in self.established.range(zxid.epoch + 1..) {
            if point.index > last.index {
                return violation(
                    "primary_integrity",
                    now,
                    vec![n, leader],
                    format!(
                        "n{n} delivered {zxid} at position {}, past the initial history n{leader} was established \
                         with in epoch {epoch} ({} transactions)",
                        point.index, last.index
                    ),
                );
            }
            if point.index == last.index && point.chain != last.chain {
                return violation(
                    "primary_integrity",
                    now,
                    vec![n, leader],
                    format!(
                        "n{n} delivered at position {} a history other than the one n{leader} was established with \
                         in epoch {epoch}",
                        point.index
                    ),
                );
            }
        }
        if self.at(point.index).is_some() {
            return self.matches_sequence(now, n, point, state, "delivery");
        }
        if point.index == self.base + self.sequence.len() as u64 {
            self.sequence.push_back(Delivered { zxid, txn, chain: point.chain, state, node: n, time: now });
        }
        None
    }

    fn on_restored(&mut self, now: Time, n: u32, point: Point, state: u64, installed: bool) -> Option<Violation> {
        if let Some(prev) = self.delivered[n as usize].filter(|p| installed && p.index > point.index) {
            return violation(
                "prefix_consistency",
                now,
                vec![n],
                format!(
                    "n{n} installed a snapshot at position {}, taking back deliveries up to position {}",
                    point.index, prev.index
                ),
            );
        }
        let what = if installed { "installed snapshot" } else { "snapshot on disk" };
        if let Some(v) = self.matches_sequence(now, n, point, state, what) {
            return Some(v);
        }
        self.delivered[n as usize] = Some(point);
        let c = &mut self.compacted[n as usize];
        *c = (*c).max(point.index);
        self.forget_old();
        None
    }

    fn on_read(&mut self, now: Time, n: u32, point: Point, state: u64) -> Option<Violation> {
        let delivered = self.delivered[n as usize].unwrap_or_default();
        if point != delivered {
            return violation(
                "reads_committed",
                now,
                vec![n],
                format!(
                    "n{n} answered a read at position {} ({}), but the last it delivered is position {} ({})",
                    point.index, point.zxid, delivered.index, delivered.zxid
                ),
            );
        }
        if let Some(mut v) = self.matches_sequence(now, n, point, state, "read") {
            v.check = "reads_committed".into();
            return Some(v);
        }
        let furthest = (self.base + self.sequence.len() as u64).saturating_sub(1);
        let lag = furthest.saturating_sub(point.index);
        self.reads.push(now, n, lag, None);
        if furthest > point.index {
            self.lag.count("reads_lagging", 1);
            self.lag.record("read_lag_zxids", furthest - point.index);
            if let Some(next) = self.at(point.index + 1) {
                self.lag.record("read_lag_us", now.since(next.time).as_nanos() / 1_000);
            }
        }
        None
    }

    fn on_epoch(&mut self, now: Time, n: u32, epoch: u64, accepted: bool) -> Option<Violation> {
        let i = n as usize;
        let (name, before) =
            if accepted { ("acceptedEpoch", self.accepted_epoch[i]) } else { ("currentEpoch", self.current_epoch[i]) };
        if epoch < before {
            return violation("epochs_monotonic", now, vec![n], format!("n{n}'s {name} went from {before} to {epoch}"));
        }
        if accepted {
            self.accepted_epoch[i] = epoch;
        } else {
            if epoch > self.accepted_epoch[i] {
                let a = self.accepted_epoch[i];
                return violation(
                    "epochs_monotonic",
                    now,
                    vec![n],
                    format!("n{n}'s currentEpoch {epoch} passed its acceptedEpoch {a}"),
                );
            }
            self.current_epoch[i] = epoch;
        }
        None
    }
}

impl Monitor<ZabNode> for ZabMonitor {
    fn on_note(&mut self, now: Time, node: NodeId, note: &ZabNote) -> Option<Violation> {
        let n = node.0;
        match *note {
            ZabNote::AcceptedEpoch { epoch } => self.on_epoch(now, n, epoch, true),
            ZabNote::CurrentEpoch { epoch } => self.on_epoch(now, n, epoch, false),
            ZabNote::Established { epoch, last } => self.on_established(now, n, epoch, last),
            ZabNote::SteppedDown { .. } => {
                self.lose_leader(now, n);
                None
            }
            ZabNote::Proposed { zxid, txn, .. } => self.on_proposed(now, n, zxid, txn),
            ZabNote::Delivered { point, txn, state } => self.on_delivered(now, n, point, txn, state),
            ZabNote::Restored { point, state, installed } => self.on_restored(now, n, point, state, installed),
            ZabNote::Read { point, state } => self.on_read(now, n, point, state),
            ZabNote::Compacted { point, state } => {
                let v = self.matches_sequence(now, n, point, state, "snapshot");
                let c = &mut self.compacted[n as usize];
                *c = (*c).max(point.index);
                self.forget_old();
                v
            }
        }
    }

    fn on_crash(&mut self, now: Time, node: NodeId) {
        // A restart delivers again from its snapshot.
        self.delivered[node.0 as usize] = None;
        self.lose_leader(now, node.0);
    }

    fn finish(&mut self, now: Time, faults: &[AppliedFault], metrics: &mut Metrics) -> Option<Violation> {
        self.split_reads_by_side(now, faults);
        let mut leaderless = self.leaderless_ns;
        if let Some(since) = self.leaderless_since {
            leaderless += now.since(since).as_nanos();
        }
        metrics.count("leaderless_ms", leaderless / 1_000_000);
        metrics.count("leader_changes", self.leader_changes);
        metrics.count("max_established_epoch", self.established.keys().next_back().copied().unwrap_or(0));
        metrics.add(&self.lag);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Time = Time::ZERO;

    fn z(epoch: u64, counter: u64) -> Zxid {
        Zxid::new(epoch, counter)
    }

    fn p(index: u64, zxid: Zxid, chain: u64) -> Point {
        Point { index, zxid, chain }
    }

    /// Feeds `notes` (node, note) to a three-server monitor; the first
    /// violation's check, if any.
    fn verdict(notes: &[(u32, ZabNote)]) -> Option<String> {
        let mut m = ZabMonitor::new(3);
        notes.iter().find_map(|(n, note)| m.on_note(T, NodeId(*n), note)).map(|v| v.check)
    }

    fn established(n: u32, epoch: u64, last: Point) -> (u32, ZabNote) {
        (n, ZabNote::Established { epoch, last })
    }

    fn proposed(n: u32, zxid: Zxid, index: u64, txn: u64) -> (u32, ZabNote) {
        (n, ZabNote::Proposed { zxid, index, txn })
    }

    fn delivered(n: u32, point: Point, txn: u64) -> (u32, ZabNote) {
        (n, ZabNote::Delivered { point, txn, state: point.chain })
    }

    /// Epoch 1 led by n0: two transactions, delivered by n0 and n1.
    fn epoch_one() -> Vec<(u32, ZabNote)> {
        vec![
            established(0, 1, Point::default()),
            proposed(0, z(1, 1), 1, 11),
            proposed(0, z(1, 2), 2, 12),
            delivered(0, p(1, z(1, 1), 101), 11),
            delivered(1, p(1, z(1, 1), 101), 11),
        ]
    }

    #[test]
    fn a_clean_history_passes() {
        let mut notes = epoch_one();
        notes.extend([
            delivered(0, p(2, z(1, 2), 102), 12),
            delivered(1, p(2, z(1, 2), 102), 12),
            established(2, 2, p(2, z(1, 2), 102)),
            proposed(2, z(2, 1), 3, 21),
            delivered(2, p(1, z(1, 1), 101), 11),
            delivered(2, p(2, z(1, 2), 102), 12),
            delivered(2, p(3, z(2, 1), 103), 21),
        ]);
        assert_eq!(verdict(&notes), None);
    }

    /// Each property, broken in the smallest way, is caught by its name.
    #[test]
    fn each_property_is_named() {
        let with = |extra: Vec<(u32, ZabNote)>| {
            let mut notes = epoch_one();
            notes.extend(extra);
            verdict(&notes)
        };
        let cases: Vec<(&str, Vec<(u32, ZabNote)>)> = vec![
            ("leadership", vec![established(1, 1, Point::default())]),
            ("leadership", vec![proposed(1, z(1, 3), 3, 13)]),
            ("leadership", vec![proposed(0, z(2, 1), 3, 21)]),
            ("local_primary_order", vec![proposed(0, z(1, 4), 3, 14)]),
            ("integrity", vec![delivered(1, p(2, z(1, 2), 102), 99)]),
            ("total_order", vec![proposed(0, z(1, 3), 3, 13), delivered(1, p(3, z(1, 3), 103), 13)]),
            (
                "agreement",
                // n2, leading epoch 2 from (1, 1), delivers (2, 1) where n0
                // delivered (1, 2).
                vec![
                    established(2, 2, p(1, z(1, 1), 101)),
                    proposed(2, z(2, 1), 2, 21),
                    delivered(2, p(1, z(1, 1), 101), 11),
                    delivered(2, p(2, z(2, 1), 202), 21),
                    delivered(0, p(2, z(1, 2), 102), 12),
                ],
            ),
            ("prefix_consistency", vec![delivered(0, p(2, z(1, 2), 102), 12), delivered(1, p(2, z(1, 2), 999), 12)]),
            (
                "primary_integrity",
                // n2 established in epoch 2 without (1, 2), which n0 delivered.
                vec![delivered(0, p(2, z(1, 2), 102), 12), established(2, 2, p(1, z(1, 1), 101))],
            ),
            ("primary_integrity", vec![established(2, 2, p(1, z(1, 1), 101)), delivered(1, p(2, z(1, 2), 102), 12)]),
            (
                "prefix_consistency",
                vec![
                    delivered(0, p(2, z(1, 2), 102), 12),
                    delivered(1, p(2, z(1, 2), 102), 12),
                    (1, ZabNote::Restored { point: p(1, z(1, 1), 101), state: 101, installed: true }),
                ],
            ),
            (
                "prefix_consistency",
                vec![
                    delivered(0, p(2, z(1, 2), 102), 12),
                    (2, ZabNote::Compacted { point: p(2, z(1, 2), 102), state: 7 }),
                ],
            ),
            (
                "epochs_monotonic",
                vec![(1, ZabNote::AcceptedEpoch { epoch: 3 }), (1, ZabNote::AcceptedEpoch { epoch: 2 })],
            ),
            ("epochs_monotonic", vec![(1, ZabNote::CurrentEpoch { epoch: 1 })]),
        ];
        for (check, extra) in cases {
            assert_eq!(with(extra.clone()).as_deref(), Some(check), "{extra:?}");
        }
    }

    /// Orders that only a per-server view catches: (1, 2) delivered before
    /// (1, 1), and an older epoch after a newer one.
    #[test]
    fn delivery_order_is_checked_per_server() {
        let mut m = ZabMonitor::new(3);
        for note in [established(0, 1, Point::default()), proposed(0, z(1, 1), 1, 11), proposed(0, z(1, 2), 2, 12)] {
            assert!(m.on_note(T, NodeId(note.0), &note.1).is_none());
        }
        let skip = m.on_note(T, NodeId(2), &delivered(2, p(1, z(1, 2), 5), 12).1).expect("caught");
        assert_eq!(skip.check, "local_primary_order");
        // A restart delivers again from the start without breaking order.
        assert!(m.on_note(T, NodeId(1), &delivered(1, p(1, z(1, 1), 101), 11).1).is_none());
        m.on_crash(T, NodeId(1));
        assert!(m.on_note(T, NodeId(1), &delivered(1, p(1, z(1, 1), 101), 11).1).is_none());
    }

    /// Reads answered during a partition count under the answering
    /// server's side; reads before it, under neither.
    #[test]
    fn read_lag_is_split_by_the_side_of_the_answering_server() {
        let mut m = ZabMonitor::new(5);
        let at = |ms: u64| Time::ZERO + faultline_sim::Duration::from_millis(ms);
        // Epoch one: n0 and n4 deliver both positions, n3 only the first.
        let mut notes = epoch_one();
        notes.extend([
            delivered(0, p(2, z(1, 2), 102), 12),
            delivered(3, p(1, z(1, 1), 101), 11),
            delivered(4, p(1, z(1, 1), 101), 11),
            delivered(4, p(2, z(1, 2), 102), 12),
        ]);
        for (n, note) in &notes {
            assert!(m.on_note(at(1), NodeId(*n), note).is_none(), "{note:?}");
        }
        let read = |n: u32, point: Point| (n, ZabNote::Read { point, state: point.chain });
        let reads = [
            (500, read(3, p(1, z(1, 1), 101))),
            (2000, read(0, p(2, z(1, 2), 102))),
            (2000, read(3, p(1, z(1, 1), 101))),
            (2500, read(4, p(2, z(1, 2), 102))),
        ];
        for (ms, (n, note)) in &reads {
            assert!(m.on_note(at(*ms), NodeId(*n), note).is_none(), "read by n{n}");
        }
        let partition = AppliedFault {
            at: at(1000),
            kind: "partition",
            nodes: (0..5).collect(),
            description: "partition [[0, 1], [2, 3, 4]]".into(),
            groups: vec![vec![0, 1], vec![2, 3, 4]],
        };
        let mut metrics = Metrics::default();
        m.finish(at(3000), &[partition], &mut metrics);
        assert_eq!(metrics.counter("minority_local_reads"), 1);
        assert_eq!(metrics.counter("minority_reads_lagging"), 0);
        assert_eq!(metrics.counter("majority_local_reads"), 2);
        assert_eq!(metrics.counter("majority_reads_lagging"), 1);
        assert_eq!(metrics.counter("reads_lagging"), 2, "the read before the partition lags too");
    }
}
