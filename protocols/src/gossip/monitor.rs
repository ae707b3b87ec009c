//! The dissemination monitor: which live node knows which rumor, and when a
//! rumor first reached every node alive at that moment.
//!
//! Check `integrity`: a node learns only a rumor that was injected, and a
//! rumor at most once per life (a restarted node has forgotten).
//!
//! Check `convergence`, at the end, when anti-entropy is on with a bound W
//! (`converge_within`): a rumor that some *settled* node (up, unpaused and
//! connected for the whole of the last W, neither end of a one-way cut)
//! already knew W before the end is
//! known to every settled node. A rumor no settled node held then (lost
//! with the crash of the only nodes that knew it, say: a node's rumors do
//! not survive a crash) is not judged and counts in
//! `convergence_rumors_unjudged`. When a partition stood during the last W
//! nothing is judged and `convergence_unjudged` counts the run.
//!
//! Measures, per injected rumor: the time and the rounds until every live
//! node knew it (`rumor_complete_us`, and `rumor_complete_rounds`: that
//! time in whole rounds, rounded down, as the messages of a round land
//! within it), how many never got
//! there by the end (`rumors_incomplete`: censored, not dropped), and the
//! residue: live nodes that never learned it (`residue_nodes` of
//! `residue_live_nodes`, summed over rumors, so the share survives summing
//! over seeds).

use faultline_sim::fault::{partition_spans, unsettled_after};
use faultline_sim::metrics::Metrics;
use faultline_sim::world::{Monitor, Violation};
use faultline_sim::{AppliedFault, Duration, NodeId, Time};

use super::node::{each_rumor, GossipNode, GossipNote, Rumors};

struct Rumor {
    injected: Option<Time>,
    /// Live nodes that know it.
    knowers: u32,
    complete: Option<Time>,
}

pub struct GossipMonitor {
    round: Duration,
    /// The convergence bound, with anti-entropy on.
    converge_within: Option<Duration>,
    /// When each node last came up.
    up_since: Vec<Time>,
    /// With a convergence bound: when node n learned rumor r, at
    /// `n * rumors + r` (nanoseconds; `u64::MAX`: it does not know it).
    learned_at: Vec<u64>,
    alive: Vec<bool>,
    alive_count: u32,
    known: Vec<Rumors>,
    rumors: Vec<Rumor>,
}

impl GossipMonitor {
    pub fn new(nodes: u32, rumors: usize, round: Duration, converge_within: Option<Duration>) -> GossipMonitor {
        GossipMonitor {
            round,
            converge_within,
            up_since: vec![Time::ZERO; nodes as usize],
            learned_at: if converge_within.is_some() { vec![u64::MAX; nodes as usize * rumors] } else { Vec::new() },
            alive: vec![true; nodes as usize],
            alive_count: nodes,
            known: vec![0; nodes as usize],
            rumors: (0..rumors).map(|_| Rumor { injected: None, knowers: 0, complete: None }).collect(),
        }
    }

    fn mark_complete(&mut self, now: Time, r: usize) {
        let alive = self.alive_count;
        let rumor = &mut self.rumors[r];
        if rumor.injected.is_some() && rumor.complete.is_none() && rumor.knowers >= alive {
            rumor.complete = Some(now);
        }
    }

    fn knows(&mut self, now: Time, n: usize, r: usize) {
        self.known[n] |= 1 << r;
        let rumors = self.rumors.len();
        if let Some(t) = self.learned_at.get_mut(n * rumors + r) {
            *t = now.as_nanos();
        }
        self.rumors[r].knowers += 1;
        self.mark_complete(now, r);
    }
}

impl Monitor<GossipNode> for GossipMonitor {
    fn on_note(&mut self, now: Time, node: NodeId, note: &GossipNote) -> Option<Violation> {
        let n = node.0 as usize;
        let (GossipNote::Injected { rumor } | GossipNote::Learned { rumor }) = *note;
        let r = rumor as usize;
        let fail = |message: String| Some(Violation { check: "integrity".into(), at: now, nodes: vec![node], message });
        if r >= self.rumors.len() {
            return fail(format!("n{n} reported rumor {r}, which the scenario does not have"));
        }
        if self.known[n] & (1 << r) != 0 {
            return fail(format!("n{n} learned rumor {r} a second time"));
        }
        match note {
            GossipNote::Injected { .. } => {
                self.rumors[r].injected.get_or_insert(now);
            }
            GossipNote::Learned { .. } if self.rumors[r].injected.is_none() => {
                return fail(format!("n{n} learned rumor {r} before it was injected anywhere"));
            }
            GossipNote::Learned { .. } => {}
        }
        self.knows(now, n, r);
        None
    }

    fn on_crash(&mut self, now: Time, node: NodeId) {
        let n = node.0 as usize;
        if !std::mem::replace(&mut self.alive[n], false) {
            return;
        }
        self.alive_count -= 1;
        let rumors = self.rumors.len();
        if let Some(times) = self.learned_at.get_mut(n * rumors..(n + 1) * rumors) {
            times.fill(u64::MAX);
        }
        for r in each_rumor(std::mem::take(&mut self.known[n])) {
            self.rumors[r].knowers -= 1;
        }
        // The last node that lacked a rumor may be the one that crashed.
        for r in 0..self.rumors.len() {
            self.mark_complete(now, r);
        }
    }

    fn on_restart(&mut self, now: Time, node: NodeId) {
        let n = node.0 as usize;
        self.up_since[n] = now;
        if !std::mem::replace(&mut self.alive[n], true) {
            self.alive_count += 1;
        }
    }

    fn finish(&mut self, now: Time, faults: &[AppliedFault], metrics: &mut Metrics) -> Option<Violation> {
        self.measure(metrics);
        self.convergence(now, faults, metrics)
    }
}

impl GossipMonitor {
    fn measure(&self, metrics: &mut Metrics) {
        let round = self.round.as_nanos().max(1);
        for rumor in &self.rumors {
            let Some(injected) = rumor.injected else { continue };
            metrics.count("rumors_injected", 1);
            metrics.count("residue_nodes", u64::from(self.alive_count.saturating_sub(rumor.knowers)));
            metrics.count("residue_live_nodes", u64::from(self.alive_count));
            match rumor.complete {
                Some(at) => {
                    let took = at.since(injected).as_nanos();
                    metrics.count("rumors_complete", 1);
                    metrics.record("rumor_complete_us", took / 1_000);
                    metrics.record("rumor_complete_rounds", took / round);
                }
                None => metrics.count("rumors_incomplete", 1),
            }
        }
    }

    fn convergence(&self, now: Time, faults: &[AppliedFault], metrics: &mut Metrics) -> Option<Violation> {
        let within = self.converge_within?;
        let end = now.as_nanos();
        let Some(cutoff) = end.checked_sub(within.as_nanos()) else {
            metrics.count("convergence_unjudged", 1);
            return None;
        };
        if partition_spans(faults, now).iter().any(|s| s.end_ns > cutoff) {
            metrics.count("convergence_unjudged", 1);
            return None;
        }
        let unsettled = unsettled_after(faults, cutoff, self.alive.len());
        let settled: Vec<usize> = (0..self.alive.len())
            .filter(|&n| self.alive[n] && !unsettled[n] && self.up_since[n].as_nanos() <= cutoff)
            .collect();
        let rumors = self.rumors.len();
        let mut first = None;
        let mut missing = 0u64;
        for (r, rumor) in self.rumors.iter().enumerate() {
            let Some(injected) = rumor.injected.filter(|t| t.as_nanos() <= cutoff) else { continue };
            if !settled.iter().any(|&n| self.learned_at[n * rumors + r] <= cutoff) {
                metrics.count("convergence_rumors_unjudged", 1);
                continue;
            }
            for &n in &settled {
                if self.known[n] & (1 << r) == 0 {
                    missing += 1;
                    first.get_or_insert((n, r, injected));
                }
            }
        }
        let (n, r, injected) = first?;
        Some(Violation {
            check: "convergence".into(),
            at: now,
            nodes: vec![NodeId(n as u32)],
            message: format!(
                "n{n} never learned rumor {r} (injected at {injected}), {within} before the end with anti-entropy on; \
                 {missing} node-rumor pair(s) missing"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Time {
        Time::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn integrity_fails_on_a_rumor_from_nowhere_or_learned_twice() {
        let mut m = GossipMonitor::new(3, 2, Duration::from_millis(100), None);
        let learned = |r| GossipNote::Learned { rumor: r };
        let v = m.on_note(at(1), NodeId(1), &learned(0)).expect("not injected yet");
        assert_eq!(v.check, "integrity");
        assert!(m.on_note(at(1), NodeId(0), &GossipNote::Injected { rumor: 0 }).is_none());
        assert!(m.on_note(at(2), NodeId(1), &learned(0)).is_none());
        assert!(m.on_note(at(3), NodeId(1), &learned(0)).is_some(), "a second time");
        assert!(m.on_note(at(3), NodeId(2), &learned(5)).is_some(), "no such rumor");
    }

    /// Completion counts the nodes alive at the moment: a crash of the last
    /// node that lacked the rumor completes it; a restart does not undo that.
    #[test]
    fn completion_and_residue_count_live_nodes() {
        let mut m = GossipMonitor::new(3, 1, Duration::from_millis(100), None);
        assert!(m.on_note(at(0), NodeId(0), &GossipNote::Injected { rumor: 0 }).is_none());
        assert!(m.on_note(at(150), NodeId(1), &GossipNote::Learned { rumor: 0 }).is_none());
        m.on_crash(at(250), NodeId(2));
        m.on_restart(at(400), NodeId(2));
        let mut metrics = Metrics::default();
        m.finish(at(500), &[], &mut metrics);
        assert_eq!(metrics.counter("rumors_complete"), 1);
        assert_eq!(metrics.histogram("rumor_complete_rounds").map(|h| h.max()), Some(2));
        assert_eq!(metrics.counter("residue_nodes"), 1, "the restarted node never learned it");
        assert_eq!(metrics.counter("residue_live_nodes"), 3);
    }

    /// Convergence judges the nodes up and connected for the last W, and
    /// only rumors one of them knew W before the end.
    #[test]
    fn convergence_judges_settled_nodes_and_rumors_they_held() {
        let w = Some(Duration::from_millis(1000));
        let mut m = GossipMonitor::new(3, 2, Duration::from_millis(100), w);
        assert!(m.on_note(at(0), NodeId(0), &GossipNote::Injected { rumor: 0 }).is_none());
        assert!(m.on_note(at(10), NodeId(1), &GossipNote::Learned { rumor: 0 }).is_none());
        // Rumor 1 starts at n2, which crashes before telling anyone.
        assert!(m.on_note(at(20), NodeId(2), &GossipNote::Injected { rumor: 1 }).is_none());
        m.on_crash(at(30), NodeId(2));
        m.on_restart(at(40), NodeId(2));
        let mut metrics = Metrics::default();
        let v = m.finish(at(2000), &[], &mut metrics).expect("n2 lacks rumor 0");
        assert_eq!((v.check.as_str(), v.nodes.as_slice()), ("convergence", &[NodeId(2)][..]));
        assert_eq!(metrics.counter("convergence_rumors_unjudged"), 1, "rumor 1 was lost with n2");
        // n2 learns it: converged.
        assert!(m.on_note(at(1500), NodeId(2), &GossipNote::Learned { rumor: 0 }).is_none());
        assert!(m.finish(at(2000), &[], &mut Metrics::default()).is_none());
        // Too soon after its restart to be judged at all.
        let mut late = GossipMonitor::new(2, 1, Duration::from_millis(100), w);
        assert!(late.on_note(at(0), NodeId(0), &GossipNote::Injected { rumor: 0 }).is_none());
        late.on_crash(at(500), NodeId(1));
        late.on_restart(at(1500), NodeId(1));
        assert!(late.finish(at(2000), &[], &mut Metrics::default()).is_none());
    }

    /// The ends of a one-way cut that stood during the last W are not
    /// judged; once it healed before the window, they are.
    #[test]
    fn one_way_cuts_in_the_window_leave_their_ends_unjudged() {
        let w = Some(Duration::from_millis(1000));
        let cut = |at_ms| AppliedFault {
            at: at(at_ms),
            kind: "partition_oneway",
            nodes: vec![1, 2],
            description: "cut n1 -> n2".into(),
            groups: Vec::new(),
        };
        let heal = |at_ms| AppliedFault {
            at: at(at_ms),
            kind: "heal",
            nodes: Vec::new(),
            description: "heal partition_oneway #0".into(),
            groups: Vec::new(),
        };
        let judge = |faults: &[AppliedFault]| {
            let mut m = GossipMonitor::new(3, 1, Duration::from_millis(100), w);
            assert!(m.on_note(at(0), NodeId(0), &GossipNote::Injected { rumor: 0 }).is_none());
            m.finish(at(2000), faults, &mut Metrics::default()).map(|v| v.nodes)
        };
        assert_eq!(judge(&[cut(100)]), None, "still in force at the end");
        assert_eq!(judge(&[cut(100), heal(1500)]), None, "healed inside the window");
        assert_eq!(judge(&[cut(100), heal(500)]), Some(vec![NodeId(1)]), "healed before it");
    }
}
