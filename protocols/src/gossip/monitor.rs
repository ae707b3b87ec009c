//! The dissemination monitor: which live node knows which rumor, and when a
//! rumor first reached every node alive at that moment.
//!
//! Check `integrity`: a node learns only a rumor that was injected, and a
//! rumor at most once per life (a restarted node has forgotten).
//!
//! Measures, per injected rumor: the time and the rounds until every live
//! node knew it (`rumor_complete_us`, and `rumor_complete_rounds`: that
//! time in whole rounds, rounded down, as the messages of a round land
//! within it), how many never got
//! there by the end (`rumors_incomplete`: censored, not dropped), and the
//! residue: live nodes that never learned it (`residue_nodes` of
//! `residue_live_nodes`, summed over rumors, so the share survives summing
//! over seeds).

use faultline_sim::metrics::Metrics;
use faultline_sim::world::{Monitor, Violation};
use faultline_sim::{AppliedFault, Duration, NodeId, Time};

use super::node::{GossipNode, GossipNote, Rumors};

struct Rumor {
    injected: Option<Time>,
    /// Live nodes that know it.
    knowers: u32,
    complete: Option<Time>,
}

pub struct GossipMonitor {
    round: Duration,
    alive: Vec<bool>,
    alive_count: u32,
    known: Vec<Rumors>,
    rumors: Vec<Rumor>,
}

impl GossipMonitor {
    pub fn new(nodes: u32, rumors: usize, round: Duration) -> GossipMonitor {
        GossipMonitor {
            round,
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
        let mut known = std::mem::take(&mut self.known[n]);
        while known != 0 {
            let r = known.trailing_zeros() as usize;
            known &= known - 1;
            self.rumors[r].knowers -= 1;
        }
        // The last node that lacked a rumor may be the one that crashed.
        for r in 0..self.rumors.len() {
            self.mark_complete(now, r);
        }
    }

    fn on_restart(&mut self, _now: Time, node: NodeId) {
        let n = node.0 as usize;
        if !std::mem::replace(&mut self.alive[n], true) {
            self.alive_count += 1;
        }
    }

    fn finish(&mut self, _now: Time, _faults: &[AppliedFault], metrics: &mut Metrics) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Time {
        Time::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn integrity_fails_on_a_rumor_from_nowhere_or_learned_twice() {
        let mut m = GossipMonitor::new(3, 2, Duration::from_millis(100));
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
        let mut m = GossipMonitor::new(3, 1, Duration::from_millis(100));
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
}
