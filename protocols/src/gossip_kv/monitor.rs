//! The store monitor: every replica's version of every key, the
//! acknowledged writes, and what reads returned.
//!
//! Violations of check `invariants`:
//! - `lost_write`: an acknowledged write is held, at its version or a
//!   higher one, by no replica (up or down: a down replica's disk counts).
//!   Superseded by a higher version is not lost.
//! - `monotonic`: a replica's version of a key went back — by a merge, or
//!   across a restart (what it recovered is below what it held). The LWW
//!   merge is a join, so this never happens in a correct store. With a disk
//!   model (`[disk]`) a crash may lose writes the disk had not yet made; the
//!   node sent nothing after them (its messages wait for the disk), so a
//!   restart below the pre-crash versions is allowed there, and the writes
//!   it lost were never acknowledged.
//! - `unique_versions`: two replicas hold one version of a key with
//!   different values (a version names one write).
//! - `convergence`, at the end: for each key, the highest version that any
//!   *settled* replica (up, unpaused and connected for the whole of the last
//!   W = `converge_within`, neither end of a one-way cut) held W before the
//!   end is held (or a higher one) by every settled replica. When a
//!   partition stood during the last W nothing is judged and
//!   `convergence_unjudged` counts the run.
//!
//! Measures reads: `store_reads`, and those that returned a version below
//! some write already acknowledged (`reads_behind`), by how many such
//! writes (`read_lag_versions`) and since when the value read had been
//! superseded by one (`read_lag_us`: from the first acknowledgement of a
//! higher version to the read). Reads answered while a partition was in
//! force are split by the side of the replica that answered:
//! `minority_store_reads`, `minority_reads_behind` and the histograms
//! `minority_read_lag_versions` and `minority_read_lag_us`, and the same
//! for `majority_`.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

use faultline_sim::fault::{partition_spans, unsettled_after};
use faultline_sim::metrics::Metrics;
use faultline_sim::world::{Monitor, Violation};
use faultline_sim::{AppliedFault, Duration, NodeId, Time};

use super::node::{StoreNode, StoreNote, Version};
use crate::check::lag::{ReadLags, SideNames};
use crate::kv::{Key, Value};

/// Acknowledged writes kept per key before those every replica has caught
/// up with are forgotten.
const PRUNE_ABOVE: usize = 64;
/// The most changes kept per replica and key for the convergence check.
/// Past it the oldest go, and the check then takes that replica to have
/// held nothing before the oldest kept: it can only judge less, never fail
/// a run it would have passed.
pub const MAX_HISTORY: usize = 4_096;

struct KeyView {
    /// Per replica: the version held (kept while the replica is down).
    held: Vec<Option<Version>>,
    /// Per replica: the value held with it.
    values: Vec<Option<Value>>,
    /// Per replica: (since, version) changes, trimmed to the last one at
    /// least W old and those after it.
    history: Vec<VecDeque<(u64, Version)>>,
    /// Acknowledged writes some replica may still lack: version → when.
    acked: BTreeMap<Version, u64>,
    /// The highest version ever acknowledged.
    max_acked: Option<Version>,
}

impl KeyView {
    fn new(nodes: usize) -> KeyView {
        KeyView {
            held: vec![None; nodes],
            values: vec![None; nodes],
            history: vec![VecDeque::new(); nodes],
            acked: BTreeMap::new(),
            max_acked: None,
        }
    }

    fn max_held(&self) -> Option<Version> {
        self.held.iter().copied().max().flatten()
    }

    /// Forgets acknowledged writes every replica holds (or has superseded).
    fn prune(&mut self) {
        if self.acked.len() <= PRUNE_ABOVE {
            return;
        }
        if let Some(Some(floor)) = self.held.iter().copied().min() {
            self.acked = self.acked.split_off(&Version { ts: floor.ts, node: floor.node.saturating_add(1) });
        }
    }

    /// The version replica `n` held at `cutoff` (ns).
    fn held_at(&self, n: usize, cutoff: u64) -> Option<Version> {
        self.history[n].iter().take_while(|(since, _)| *since <= cutoff).last().map(|&(_, v)| v)
    }
}

pub struct StoreMonitor {
    converge_within: Duration,
    /// Writes are durable only once a disk model has made them.
    lossy_disk: bool,
    keys: BTreeMap<Key, KeyView>,
    up: Vec<bool>,
    up_since: Vec<Time>,
    /// Per replica restarted: when, and the keys it held then that it has
    /// not reported recovering yet (judged at the first note after then).
    restarted: Vec<Option<(Time, BTreeMap<Key, Version>)>>,
    /// How many entries of `restarted` are set: every note asks, so the
    /// common case (none) does not scan the replicas.
    restarts_pending: usize,
    /// Read figures, recorded as reads happen.
    lag: Metrics,
    reads: ReadLags,
}

fn violation(check: &str, now: Time, nodes: Vec<u32>, message: String) -> Option<Violation> {
    Some(Violation { check: check.to_string(), at: now, nodes: nodes.into_iter().map(NodeId).collect(), message })
}

impl StoreMonitor {
    pub fn new(nodes: u32, converge_within: Duration, lossy_disk: bool) -> StoreMonitor {
        let n = nodes as usize;
        StoreMonitor {
            converge_within,
            lossy_disk,
            keys: BTreeMap::new(),
            up: vec![true; n],
            up_since: vec![Time::ZERO; n],
            restarted: vec![None; n],
            restarts_pending: 0,
            lag: Metrics::default(),
            reads: ReadLags::default(),
        }
    }

    fn view(&mut self, key: Key) -> &mut KeyView {
        let nodes = self.up.len();
        self.keys.entry(key).or_insert_with(|| KeyView::new(nodes))
    }

    /// Replica `n` holds `key` at `version` from now on.
    fn holds(&mut self, now: Time, n: usize, key: Key, entry: (Version, Value), restart: bool) -> Option<Violation> {
        let (version, value) = entry;
        let window = self.converge_within.as_nanos();
        let lossy = self.lossy_disk;
        let view = self.view(key);
        let other = (0..view.held.len()).find(|&m| view.held[m] == Some(version) && view.values[m] != Some(value));
        if let Some(m) = other {
            let theirs = view.values[m].map_or("none".to_string(), |v| v.to_string());
            return violation(
                "unique_versions",
                now,
                vec![n as u32, m as u32],
                format!("key {key}: version {version} holds value {value} at n{n} and value {theirs} at n{m}"),
            );
        }
        let before = view.held[n].replace(version);
        view.values[n] = Some(value);
        let history = &mut view.history[n];
        history.push_back((now.as_nanos(), version));
        let trim = now.as_nanos().saturating_sub(window);
        while history.len() > MAX_HISTORY || (history.len() >= 2 && history[1].0 <= trim) {
            history.pop_front();
        }
        let before = before.filter(|b| version < *b)?;
        if restart && lossy {
            return None;
        }
        let node = n as u32;
        if let Some(acked) = view.max_acked.filter(|a| view.max_held() < Some(*a)) {
            return violation(
                "lost_write",
                now,
                vec![node],
                format!(
                    "key {key}: n{n} went from version {before} to {version}, and no replica holds the \
                     acknowledged write at {acked} or higher any more"
                ),
            );
        }
        let how = if restart { "restarted with" } else { "replaced it with the older" };
        violation(
            "monotonic",
            now,
            vec![node],
            format!("key {key}: n{n} held version {before} and {how} version {version}"),
        )
    }

    /// Judges the recoveries of replicas restarted before `now`: without a
    /// lossy disk, a key held before the crash and not recovered went back
    /// to nothing. With one, acknowledgements of versions no replica holds
    /// any more are withdrawn: the disk lost them before the reply left.
    fn settle_restarts(&mut self, now: Time) -> Option<Violation> {
        if self.restarts_pending == 0 {
            return None;
        }
        for n in 0..self.restarted.len() {
            if self.restarted[n].as_ref().is_none_or(|(at, _)| *at >= now) {
                continue;
            }
            let Some((_, left)) = self.restarted[n].take() else { continue };
            self.restarts_pending -= 1;
            if self.lossy_disk {
                for view in self.keys.values_mut() {
                    let held = view.max_held();
                    if view.max_acked > held {
                        view.acked.retain(|v, _| Some(*v) <= held);
                        view.max_acked = held;
                    }
                }
            } else if let Some((key, version)) = left.into_iter().next() {
                return violation(
                    "monotonic",
                    now,
                    vec![n as u32],
                    format!("key {key}: n{n} held version {version} and restarted without the key"),
                );
            }
        }
        None
    }

    fn acked(&mut self, now: Time, key: Key, version: Version) {
        let view = self.view(key);
        view.acked.insert(version, now.as_nanos());
        view.max_acked = view.max_acked.max(Some(version));
        view.prune();
    }

    fn read(&mut self, now: Time, n: usize, key: Key, version: Option<Version>) {
        let view = self.view(key);
        let above = match version {
            Some(v) => view.acked.range((Bound::Excluded(v), Bound::Unbounded)),
            None => view.acked.range(..),
        };
        let (behind, first) = above.fold((0u64, u64::MAX), |(count, first), (_, &at)| (count + 1, first.min(at)));
        self.lag.count("store_reads", 1);
        let lag_us = (behind > 0).then(|| now.as_nanos().saturating_sub(first) / 1_000);
        if let Some(us) = lag_us {
            self.lag.count("reads_behind", 1);
            self.lag.record("read_lag_versions", behind);
            self.lag.record("read_lag_us", us);
        }
        self.reads.push(now, n as u32, behind, lag_us);
    }

    fn convergence(&self, now: Time, faults: &[AppliedFault], metrics: &mut Metrics) -> Option<Violation> {
        let within = self.converge_within;
        let Some(cutoff) = now.as_nanos().checked_sub(within.as_nanos()) else {
            metrics.count("convergence_unjudged", 1);
            return None;
        };
        if partition_spans(faults, now).iter().any(|s| s.end_ns > cutoff) {
            metrics.count("convergence_unjudged", 1);
            return None;
        }
        let unsettled = unsettled_after(faults, cutoff, self.up.len());
        let settled: Vec<usize> = (0..self.up.len())
            .filter(|&n| self.up[n] && !unsettled[n] && self.up_since[n].as_nanos() <= cutoff)
            .collect();
        let mut first = None;
        let mut missing = 0u64;
        let mut divergent = 0u64;
        for (&key, view) in &self.keys {
            let target = settled.iter().filter_map(|&n| view.held_at(n, cutoff)).max();
            if let Some(target) = target {
                for &n in &settled {
                    if view.held[n] < Some(target) {
                        missing += 1;
                        first.get_or_insert((n, key, target, view.held[n]));
                    }
                }
            }
            let mut held = settled.iter().map(|&n| (view.held[n], view.values[n]));
            if let Some(h) = held.next() {
                if held.any(|o| o != h) {
                    divergent += 1;
                }
            }
        }
        metrics.count("convergence_judged", 1);
        metrics.count("divergent_keys", divergent);
        let (n, key, target, held) = first?;
        let held = held.map_or("nothing".to_string(), |v| format!("version {v}"));
        violation(
            "convergence",
            now,
            vec![n as u32],
            format!(
                "key {key}: a replica up and connected held version {target} {within} before the end, and n{n} \
                 still holds {held} at the end; {missing} replica-key pair(s) behind"
            ),
        )
    }
}

impl Monitor<StoreNode> for StoreMonitor {
    fn on_note(&mut self, now: Time, node: NodeId, note: &StoreNote) -> Option<Violation> {
        let n = node.0 as usize;
        if let Some(v) = self.settle_restarts(now) {
            return Some(v);
        }
        match *note {
            StoreNote::Holds { key, version, value } => return self.holds(now, n, key, (version, value), false),
            StoreNote::Recovered { key, version, value } => {
                if let Some((_, left)) = self.restarted[n].as_mut() {
                    left.remove(&key);
                }
                return self.holds(now, n, key, (version, value), true);
            }
            StoreNote::Acked { key, version } => self.acked(now, key, version),
            StoreNote::Read { key, version } => self.read(now, n, key, version),
        }
        None
    }

    fn on_crash(&mut self, _now: Time, node: NodeId) {
        self.up[node.0 as usize] = false;
    }

    fn on_restart(&mut self, now: Time, node: NodeId) {
        let n = node.0 as usize;
        self.up[n] = true;
        self.up_since[n] = now;
        let held = self.keys.iter().filter_map(|(&k, view)| view.held[n].map(|v| (k, v))).collect();
        if self.restarted[n].replace((now, held)).is_none() {
            self.restarts_pending += 1;
        }
        if self.lossy_disk {
            // The disk may have lost what the node held: it reports what it
            // recovered next, and a key it reports nothing for it lost.
            for view in self.keys.values_mut() {
                view.held[n] = None;
                view.values[n] = None;
            }
        }
    }

    fn finish(&mut self, now: Time, faults: &[AppliedFault], metrics: &mut Metrics) -> Option<Violation> {
        let unrecovered = self.settle_restarts(now + Duration::from_nanos(1));
        metrics.add(&self.lag);
        let majority = SideNames {
            reads: "majority_store_reads",
            lagging: "majority_reads_behind",
            lag: "majority_read_lag_versions",
            lag_us: Some("majority_read_lag_us"),
        };
        let minority = SideNames {
            reads: "minority_store_reads",
            lagging: "minority_reads_behind",
            lag: "minority_read_lag_versions",
            lag_us: Some("minority_read_lag_us"),
        };
        self.reads.split_by_side(now, faults, self.up.len() as u32, &majority, &minority, metrics);
        unrecovered.or_else(|| self.convergence(now, faults, metrics))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Time {
        Time::ZERO + Duration::from_millis(ms)
    }

    fn v(ts: u64, node: u32) -> Version {
        Version { ts, node }
    }

    /// Replica notes with the value a version's timestamp, so one version
    /// always carries one value.
    fn holds(key: Key, version: Version) -> StoreNote {
        StoreNote::Holds { key, version, value: version.ts }
    }

    fn recovered(key: Key, version: Version) -> StoreNote {
        StoreNote::Recovered { key, version, value: version.ts }
    }

    fn monitor(nodes: u32) -> StoreMonitor {
        StoreMonitor::new(nodes, Duration::from_millis(1000), false)
    }

    /// A replica that goes back loses an acknowledged write when it held
    /// the only copy; otherwise it only went back.
    #[test]
    fn going_back_is_a_lost_write_when_no_replica_keeps_the_acknowledged_one() {
        let mut m = monitor(3);
        assert!(m.on_note(at(1), NodeId(0), &holds(7, v(5, 0))).is_none());
        assert!(m.on_note(at(1), NodeId(0), &StoreNote::Acked { key: 7, version: v(5, 0) }).is_none());
        assert!(m.on_note(at(2), NodeId(1), &holds(7, v(5, 0))).is_none());
        let back = m.on_note(at(3), NodeId(0), &holds(7, v(4, 2))).expect("went back");
        assert_eq!(back.check, "monotonic", "n1 still holds the write: {}", back.message);
        let lost = m.on_note(at(4), NodeId(1), &holds(7, v(3, 2))).expect("the last copy went");
        assert_eq!((lost.check.as_str(), lost.nodes.as_slice()), ("lost_write", &[NodeId(1)][..]), "{}", lost.message);
        // A write superseded by a higher version is not lost.
        let mut m = monitor(2);
        assert!(m.on_note(at(1), NodeId(0), &StoreNote::Acked { key: 1, version: v(5, 0) }).is_none());
        assert!(m.on_note(at(1), NodeId(0), &holds(1, v(5, 0))).is_none());
        assert!(m.on_note(at(2), NodeId(0), &holds(1, v(5, 1))).is_none(), "the tie goes to the higher node");
        assert!(m.finish(at(3), &[], &mut Metrics::default()).is_none());
    }

    /// Without a disk model a restarted replica must recover every key at
    /// the version it held; with one, it may lose what its disk had not
    /// written, and acknowledgements of what no replica kept are withdrawn.
    #[test]
    fn a_restart_must_recover_what_was_held_unless_the_disk_could_lose_it() {
        let mut m = monitor(2);
        assert!(m.on_note(at(1), NodeId(0), &holds(1, v(5, 0))).is_none());
        assert!(m.on_note(at(1), NodeId(0), &holds(2, v(6, 0))).is_none());
        m.on_crash(at(2), NodeId(0));
        m.on_restart(at(3), NodeId(0));
        assert!(m.on_note(at(3), NodeId(0), &recovered(1, v(5, 0))).is_none());
        let v2 = m.on_note(at(4), NodeId(1), &StoreNote::Read { key: 1, version: None }).expect("key 2 forgotten");
        assert_eq!(v2.check, "monotonic");
        assert!(v2.message.contains("key 2"), "{}", v2.message);

        let mut m = StoreMonitor::new(2, Duration::from_millis(1000), true);
        assert!(m.on_note(at(1), NodeId(0), &holds(1, v(5, 0))).is_none());
        assert!(m.on_note(at(1), NodeId(0), &StoreNote::Acked { key: 1, version: v(5, 0) }).is_none());
        m.on_crash(at(2), NodeId(0));
        m.on_restart(at(3), NodeId(0));
        assert!(m.on_note(at(5), NodeId(1), &StoreNote::Read { key: 1, version: None }).is_none());
        // The withdrawn acknowledgement no longer counts against later changes.
        assert!(m.on_note(at(6), NodeId(1), &holds(1, v(2, 1))).is_none());
        assert!(m.on_note(at(7), NodeId(1), &holds(1, v(1, 1))).is_some_and(|x| x.check == "monotonic"));
    }

    /// Convergence: what a settled replica held W before the end, every
    /// settled replica holds at the end; later versions need not have
    /// arrived, and a replica restarted inside the window is not judged.
    #[test]
    fn convergence_judges_what_settled_replicas_held_a_window_before_the_end() {
        let mut m = monitor(3);
        for n in 0..3 {
            assert!(m.on_note(at(100), NodeId(n), &holds(1, v(1, 0))).is_none());
        }
        // A newer version reaches only n0, 500ms before the end: too late to judge.
        assert!(m.on_note(at(1500), NodeId(0), &holds(1, v(9, 0))).is_none());
        let mut metrics = Metrics::default();
        assert!(m.finish(at(2000), &[], &mut metrics).is_none());
        assert_eq!(metrics.counter("divergent_keys"), 1);
        // Judged at a later end, n1 and n2 are behind.
        let late = m.finish(at(2600), &[], &mut Metrics::default()).expect("n1 and n2 behind");
        assert_eq!((late.check.as_str(), late.nodes.as_slice()), ("convergence", &[NodeId(1)][..]));
        assert!(late.message.contains("2 replica-key pair(s)"), "{}", late.message);
        // n1 and n2 restarted inside the window: only n0 is judged.
        m.on_crash(at(2000), NodeId(1));
        m.on_restart(at(2100), NodeId(1));
        m.on_crash(at(2000), NodeId(2));
        m.on_restart(at(2100), NodeId(2));
        for n in 1..3 {
            assert!(m.on_note(at(2100), NodeId(n), &recovered(1, v(1, 0))).is_none());
        }
        assert!(m.finish(at(2600), &[], &mut Metrics::default()).is_none());
    }

    /// A read's lag counts the acknowledged writes above the version it
    /// returned, and its time since the first of them.
    #[test]
    fn read_lag_counts_acknowledged_writes_above_the_version_read() {
        let mut m = monitor(2);
        for (ms, ts) in [(10, 1), (20, 2), (30, 3)] {
            assert!(m.on_note(at(ms), NodeId(0), &holds(4, v(ts, 0))).is_none());
            assert!(m.on_note(at(ms), NodeId(0), &StoreNote::Acked { key: 4, version: v(ts, 0) }).is_none());
        }
        assert!(m.on_note(at(40), NodeId(1), &StoreNote::Read { key: 4, version: Some(v(1, 0)) }).is_none());
        assert!(m.on_note(at(40), NodeId(0), &StoreNote::Read { key: 4, version: Some(v(3, 0)) }).is_none());
        let mut metrics = Metrics::default();
        m.finish(at(50), &[], &mut metrics);
        assert_eq!((metrics.counter("store_reads"), metrics.counter("reads_behind")), (2, 1));
        assert_eq!(metrics.histogram("read_lag_versions").map(|h| h.max()), Some(2));
        assert_eq!(metrics.histogram("read_lag_us").map(|h| h.max() / 1_000), Some(20), "superseded at 20ms");
    }
}

#[cfg(test)]
mod unique {
    use super::*;

    /// One version is one write: two replicas holding it with different
    /// values is a violation.
    #[test]
    fn a_version_carries_one_value() {
        let mut m = StoreMonitor::new(2, Duration::from_millis(1000), false);
        let now = Time::ZERO + Duration::from_millis(1);
        let version = Version { ts: 3, node: 0 };
        assert!(m.on_note(now, NodeId(0), &StoreNote::Holds { key: 1, version, value: 10 }).is_none());
        assert!(m.on_note(now, NodeId(1), &StoreNote::Holds { key: 1, version, value: 10 }).is_none());
        let v = m.on_note(now, NodeId(1), &StoreNote::Holds { key: 2, version, value: 11 });
        assert!(v.is_none(), "another key");
        let v = m.on_note(now, NodeId(0), &StoreNote::Holds { key: 2, version, value: 12 }).expect("reused");
        assert_eq!(v.check, "unique_versions", "{}", v.message);
    }
}
