//! The membership monitor: which live member holds which other dead, and
//! since when; each crash's detection.
//!
//! Check `membership`, at the end, over the *settled* members (up, unpaused
//! and reachable for the whole settle window W before the end, neither end
//! of a one-way cut that stood in it, and not within W of their boot):
//! - refutation: no settled member holds another settled member dead, and
//!   has since before the window began — a live member declared dead must
//!   have come back within W (by refuting, or by its next message);
//! - completeness: a member down since before the window is held dead by
//!   every settled member.
//!
//! When a partition stood during the window nothing is judged
//! (`membership_unjudged`), nor when the run is shorter than W.
//!
//! A member that left the group (the scenario's `leaves`) is treated as
//! down from its leave on, for good: completeness asks that every settled
//! member hold it dead (`leave_all_us` measures how soon all did).
//!
//! Measures, per crash: the time to its first detection (the first
//! suspicion or death any live member declares: `detect_first_us`), to the
//! first declared death (`detect_dead_us`), and until every live member
//! holds it dead (`detect_all_us`, with `detections_complete`; a crash that
//! restarted or reached the end first counts in `detections_incomplete`:
//! censored, not dropped). False positives (`false_positives`): a member
//! declared dead while it was up, once per member and incarnation however
//! many members declared it; `false_suspicions` counts each suspicion a
//! member declared of a member that was up.

use std::collections::BTreeMap;

use faultline_sim::fault::{partition_spans, unsettled_after};
use faultline_sim::metrics::Metrics;
use faultline_sim::world::{Monitor, Violation};
use faultline_sim::{AppliedFault, Duration, NodeId, Time};

use super::node::{Health, SwimNode, SwimNote};

/// One crash of a member, while it is down.
#[derive(Copy, Clone, Debug)]
struct Crash {
    at: Time,
    /// A leave, not a crash: counted apart, and not a detection.
    left: bool,
    first_detected: Option<Time>,
    first_dead: Option<Time>,
    all_dead: Option<Time>,
}

pub struct SwimMonitor {
    period: Duration,
    settle: Duration,
    alive: Vec<bool>,
    alive_count: u32,
    /// Members that left the group: out for good, even if up again.
    left: Vec<bool>,
    up_since: Vec<Time>,
    /// Per live observer, the members it holds dead and since when.
    dead_views: Vec<BTreeMap<u32, Time>>,
    /// Per member, the live observers that hold it dead.
    dead_by: Vec<u32>,
    /// The open crash of each member that is down.
    crashes: Vec<Option<Crash>>,
    /// Crashes a restart ended, for the metrics at the end.
    closed: Vec<Crash>,
    /// (member, incarnation) declared dead while the member was up: one
    /// false positive each, however many members declared it.
    false_deaths: std::collections::BTreeSet<(u32, u64)>,
    false_suspicions: u64,
}

impl SwimMonitor {
    pub fn new(nodes: u32, period: Duration, settle: Duration) -> SwimMonitor {
        let n = nodes as usize;
        SwimMonitor {
            period,
            settle,
            alive: vec![true; n],
            alive_count: nodes,
            left: vec![false; n],
            up_since: vec![Time::ZERO; n],
            dead_views: vec![BTreeMap::new(); n],
            dead_by: vec![0; n],
            crashes: vec![None; n],
            closed: Vec::new(),
            false_deaths: std::collections::BTreeSet::new(),
            false_suspicions: 0,
        }
    }

    /// Every live member holds `member` (down) dead: its crash is fully
    /// detected.
    fn mark_all_dead(&mut self, now: Time, member: usize) {
        let everyone = self.alive_count;
        if let Some(c) = self.crashes[member].as_mut() {
            if c.all_dead.is_none() && self.dead_by[member] >= everyone {
                c.all_dead = Some(now);
            }
        }
    }

    fn close(&self, crash: Crash, metrics: &mut Metrics) {
        if crash.left {
            metrics.count("leaves_noted", 1);
            match crash.all_dead {
                Some(t) => metrics.record("leave_all_us", t.since(crash.at).as_nanos() / 1_000),
                None => metrics.count("leaves_incomplete", 1),
            }
            return;
        }
        metrics.count("crashes", 1);
        if let Some(t) = crash.first_detected {
            let took = t.since(crash.at).as_nanos();
            metrics.record("detect_first_us", took / 1_000);
            // In whole periods, rounded down: a detection lands just after
            // a period's end.
            metrics.record("detect_first_periods", took / self.period.as_nanos().max(1));
        }
        if let Some(t) = crash.first_dead {
            metrics.record("detect_dead_us", t.since(crash.at).as_nanos() / 1_000);
        }
        match crash.all_dead {
            Some(t) => {
                metrics.count("detections_complete", 1);
                metrics.record("detect_all_us", t.since(crash.at).as_nanos() / 1_000);
            }
            None => metrics.count("detections_incomplete", 1),
        }
    }
}

impl Monitor<SwimNode> for SwimMonitor {
    fn on_note(&mut self, now: Time, node: NodeId, note: &SwimNote) -> Option<Violation> {
        let SwimNote::View { member, health, incarnation, declared } = *note else {
            if *note == SwimNote::Left {
                self.went_down(now, node, true);
            }
            return None;
        };
        let (o, m) = (node.0 as usize, member as usize);
        if m >= self.alive.len() {
            return Some(Violation {
                check: "membership".into(),
                at: now,
                nodes: vec![node],
                message: format!("n{o} holds a view of n{m}, which the scenario does not have"),
            });
        }
        let held_dead = self.dead_views[o].contains_key(&member);
        if health == Health::Dead && !held_dead {
            self.dead_views[o].insert(member, now);
            self.dead_by[m] += 1;
        } else if health != Health::Dead && held_dead {
            self.dead_views[o].remove(&member);
            self.dead_by[m] -= 1;
        }
        if self.alive[m] {
            if declared && health == Health::Dead {
                self.false_deaths.insert((member, incarnation));
            }
            if declared && health == Health::Suspect {
                self.false_suspicions += 1;
            }
            return None;
        }
        if let Some(c) = self.crashes[m].as_mut() {
            if health != Health::Alive && declared {
                c.first_detected.get_or_insert(now);
            }
            if health == Health::Dead && declared {
                c.first_dead.get_or_insert(now);
            }
        }
        self.mark_all_dead(now, m);
        None
    }

    fn on_crash(&mut self, now: Time, node: NodeId) {
        self.went_down(now, node, false);
    }

    fn on_restart(&mut self, now: Time, node: NodeId) {
        let o = node.0 as usize;
        if self.left[o] {
            // It left: up again, it stays out of the group.
            return;
        }
        self.up_since[o] = now;
        if !std::mem::replace(&mut self.alive[o], true) {
            self.alive_count += 1;
        }
        if let Some(c) = self.crashes[o].take() {
            self.closed.push(c);
        }
    }

    fn finish(&mut self, now: Time, faults: &[AppliedFault], metrics: &mut Metrics) -> Option<Violation> {
        for &c in self.closed.iter().chain(self.crashes.iter().flatten()) {
            self.close(c, metrics);
        }
        metrics.count("false_positives", self.false_deaths.len() as u64);
        metrics.count("false_suspicions", self.false_suspicions);
        self.judge(now, faults, metrics)
    }
}

impl SwimMonitor {
    /// `node` crashed, or left the group (`left`): it no longer observes,
    /// and every live member should come to hold it dead.
    fn went_down(&mut self, now: Time, node: NodeId, left: bool) {
        let o = node.0 as usize;
        if left {
            self.left[o] = true;
        }
        if !std::mem::replace(&mut self.alive[o], false) {
            return;
        }
        self.alive_count -= 1;
        for (member, _) in std::mem::take(&mut self.dead_views[o]) {
            self.dead_by[member as usize] -= 1;
        }
        self.crashes[o] = Some(Crash { at: now, left, first_detected: None, first_dead: None, all_dead: None });
        // With one observer fewer, another crash may now be fully detected.
        for m in 0..self.crashes.len() {
            if self.crashes[m].is_some() {
                self.mark_all_dead(now, m);
            }
        }
    }

    fn judge(&self, now: Time, faults: &[AppliedFault], metrics: &mut Metrics) -> Option<Violation> {
        let end = now.as_nanos();
        let Some(cutoff) = end.checked_sub(self.settle.as_nanos()) else {
            metrics.count("membership_unjudged", 1);
            return None;
        };
        if partition_spans(faults, now).iter().any(|s| s.end_ns > cutoff) {
            metrics.count("membership_unjudged", 1);
            return None;
        }
        let unsettled = unsettled_after(faults, cutoff, self.alive.len());
        let settled = |n: usize| self.alive[n] && !unsettled[n] && self.up_since[n].as_nanos() <= cutoff;
        let fail = |check: &str, nodes: Vec<NodeId>, message: String| {
            Some(Violation { check: check.into(), at: now, nodes, message })
        };
        for o in (0..self.alive.len()).filter(|&o| settled(o)) {
            for (&m, &since) in &self.dead_views[o] {
                if settled(m as usize) && since.as_nanos() <= cutoff {
                    return fail(
                        "refutation",
                        vec![NodeId(o as u32), NodeId(m)],
                        format!(
                            "n{o} has held n{m} dead since {since}, though n{m} has been up and reachable since before \
                             {} (the settle window, {}, before the end)",
                            Time::from_nanos(cutoff),
                            self.settle
                        ),
                    );
                }
            }
        }
        for (m, crash) in self.crashes.iter().enumerate() {
            let Some(c) = crash.filter(|c| c.at.as_nanos() <= cutoff) else { continue };
            if unsettled[m] {
                continue;
            }
            let blind: Vec<usize> = (0..self.alive.len())
                .filter(|&o| settled(o) && !self.dead_views[o].contains_key(&(m as u32)))
                .collect();
            if let Some(&o) = blind.first() {
                return fail(
                    "completeness",
                    vec![NodeId(o as u32), NodeId(m as u32)],
                    format!(
                        "n{m} crashed at {} and is still down, but n{o} and {} other settled member(s) do not hold it \
                         dead at the end, {} (the settle window) later",
                        c.at,
                        blind.len() - 1,
                        self.settle
                    ),
                );
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Time {
        Time::ZERO + Duration::from_millis(ms)
    }

    fn view(member: u32, health: Health, declared: bool) -> SwimNote {
        SwimNote::View { member, health, incarnation: 0, declared }
    }

    fn monitor() -> SwimMonitor {
        SwimMonitor::new(3, Duration::from_millis(100), Duration::from_millis(1000))
    }

    /// A live member held dead since before the window fails refutation;
    /// held dead only inside the window, or brought back, it does not.
    #[test]
    fn refutation_judges_dead_views_older_than_the_window() {
        let mut m = monitor();
        assert!(m.on_note(at(100), NodeId(0), &view(1, Health::Dead, true)).is_none());
        let mut metrics = Metrics::default();
        let v = m.finish(at(2000), &[], &mut metrics).expect("n0 holds live n1 dead");
        assert_eq!((v.check.as_str(), v.nodes.as_slice()), ("refutation", &[NodeId(0), NodeId(1)][..]));
        assert_eq!(metrics.counter("false_positives"), 1);
        assert!(m.finish(at(1050), &[], &mut Metrics::default()).is_none(), "within the window");
        assert!(m.on_note(at(1500), NodeId(0), &view(1, Health::Alive, false)).is_none());
        assert!(m.finish(at(2000), &[], &mut Metrics::default()).is_none(), "came back");
    }

    /// A member down since before the window must be held dead by every
    /// settled member; detection times are measured from the crash.
    #[test]
    fn completeness_needs_every_settled_member_to_hold_the_crashed_one_dead() {
        let mut m = monitor();
        m.on_crash(at(100), NodeId(2));
        assert!(m.on_note(at(300), NodeId(0), &view(2, Health::Suspect, true)).is_none());
        assert!(m.on_note(at(500), NodeId(0), &view(2, Health::Dead, true)).is_none());
        let v = m.finish(at(2000), &[], &mut Metrics::default()).expect("n1 does not hold n2 dead");
        assert_eq!((v.check.as_str(), v.nodes.as_slice()), ("completeness", &[NodeId(1), NodeId(2)][..]));
        assert!(m.on_note(at(700), NodeId(1), &view(2, Health::Dead, false)).is_none());
        let mut metrics = Metrics::default();
        assert!(m.finish(at(2000), &[], &mut metrics).is_none());
        assert_eq!(metrics.counter("detections_complete"), 1);
        assert_eq!(metrics.histogram("detect_first_periods").map(|h| h.max()), Some(2));
        assert_eq!(metrics.histogram("detect_all_us").map(|h| h.max() / 1000), Some(600));
    }
}
