//! Raft's safety properties (Figure 3 of the Raft paper), checked online from
//! the facts nodes report — never by looking inside a node:
//!
//! - Election Safety: at most one leader per term.
//! - Leader Append-Only: a leader never truncates its log.
//! - Log Matching: two entries with the same index and term have the same
//!   prefix (compared through chain hashes).
//! - Leader Completeness: a new leader holds every entry committed so far.
//! - State Machine Safety: no two nodes apply different entries at one index.
//! - Committed prefixes never diverge: every node that commits an index
//!   commits the same entry there.
//!
//! It also measures availability facts only a global observer sees: time
//! without any leader, and time from a leader's crash to the next leader.

use std::collections::{BTreeMap, BTreeSet};

use faultline_sim::metrics::Metrics;
use faultline_sim::world::{Monitor, Violation};
use faultline_sim::{NodeId, Time};

use super::node::{RaftNode, RaftNote};

pub struct RaftMonitor {
    nodes: u32,
    leader_of_term: BTreeMap<u64, u32>,
    /// (index, term) -> chain hash of the prefix, from every append.
    appended: BTreeMap<(u64, u64), (u64, u32)>,
    /// index -> (term, chain, node, earliest term it was known committed in)
    /// of the entry committed there.
    committed: BTreeMap<u64, (u64, u64, u32, u64)>,
    /// index -> (chain, node) of the entry applied there.
    applied: BTreeMap<u64, (u64, u32)>,
    /// Per node: index its snapshot covers; history below every node's
    /// snapshot can never be contradicted again and is forgotten.
    compacted: Vec<u64>,
    forgotten_below: u64,
    // Availability measurements.
    leaders: BTreeSet<u32>,
    leaderless_since: Option<Time>,
    leaderless_ns: u64,
    leader_crashed_at: Option<Time>,
    failovers_us: Vec<u64>,
}

impl RaftMonitor {
    pub fn new(nodes: u32) -> RaftMonitor {
        RaftMonitor {
            nodes,
            leader_of_term: BTreeMap::new(),
            appended: BTreeMap::new(),
            committed: BTreeMap::new(),
            applied: BTreeMap::new(),
            compacted: vec![0; nodes as usize],
            forgotten_below: 0,
            leaders: BTreeSet::new(),
            leaderless_since: Some(Time::ZERO),
            leaderless_ns: 0,
            leader_crashed_at: None,
            failovers_us: Vec::new(),
        }
    }

    fn lose_leader(&mut self, now: Time, node: u32) {
        if self.leaders.remove(&node) && self.leaders.is_empty() {
            self.leaderless_since = Some(now);
        }
    }

    fn forget_old_history(&mut self) {
        let floor = self.compacted.iter().copied().min().unwrap_or(0);
        if floor <= self.forgotten_below {
            return;
        }
        self.forgotten_below = floor;
        self.appended = self.appended.split_off(&(floor, 0));
        self.committed = self.committed.split_off(&floor);
        self.applied = self.applied.split_off(&floor);
        // Terms far below every node's snapshot cannot see another election.
        if self.leader_of_term.len() > 10_000 {
            let keep_from = *self.leader_of_term.keys().nth(self.leader_of_term.len() - 10_000).unwrap_or(&0);
            self.leader_of_term = self.leader_of_term.split_off(&keep_from);
        }
    }

    fn violation(check: &str, now: Time, nodes: Vec<u32>, message: String) -> Option<Violation> {
        Some(Violation { check: check.to_string(), at: now, nodes, message })
    }
}

impl Monitor<RaftNode> for RaftMonitor {
    fn on_note(&mut self, now: Time, node: NodeId, note: &RaftNote) -> Option<Violation> {
        let n = node.0;
        match note {
            RaftNote::BecameLeader { term, base_index, log } => {
                if let Some(&other) = self.leader_of_term.get(term) {
                    if other != n {
                        return Self::violation(
                            "election_safety",
                            now,
                            vec![other, n],
                            format!("n{other} and n{n} were both elected leader of term {term}"),
                        );
                    }
                }
                self.leader_of_term.insert(*term, n);
                if let Some(since) = self.leaderless_since.take() {
                    self.leaderless_ns += now.since(since).as_nanos();
                }
                self.leaders.insert(n);
                if let Some(crashed) = self.leader_crashed_at.take() {
                    self.failovers_us.push(now.since(crashed).as_nanos() / 1_000);
                }
                // Leader Completeness: every entry committed in an earlier
                // term is in its log (a leader of an older term, elected
                // late, need not hold entries committed after its term).
                for (&index, &(c_term, chain, by, in_term)) in self.committed.range(base_index + 1..) {
                    if in_term >= *term {
                        continue;
                    }
                    let held = log.get((index - base_index - 1) as usize);
                    if held.map(|&(_, c)| c) != Some(chain) {
                        return Self::violation(
                            "leader_completeness",
                            now,
                            vec![n, by],
                            format!(
                                "n{n} became leader of term {term} without the entry committed at index {index} \
                                 (term {c_term}, committed by n{by}); its log {}",
                                match held {
                                    Some(&(t, _)) => format!("has a term-{t} entry there"),
                                    None => format!("ends at index {}", base_index + log.len() as u64),
                                }
                            ),
                        );
                    }
                }
            }
            RaftNote::SteppedDown { .. } => self.lose_leader(now, n),
            RaftNote::Appended { index, term, chain } => {
                if *index < self.forgotten_below {
                    return None;
                }
                match self.appended.get(&(*index, *term)) {
                    Some(&(other_chain, other)) if other_chain != *chain => {
                        return Self::violation(
                            "log_matching",
                            now,
                            vec![other, n],
                            format!(
                                "n{n} and n{other} hold entries with index {index} and term {term} \
                                 but different logs up to it"
                            ),
                        );
                    }
                    Some(_) => {}
                    None => {
                        self.appended.insert((*index, *term), (*chain, n));
                    }
                }
            }
            RaftNote::Committed { index, term, chain, in_term } => {
                if *index < self.forgotten_below {
                    return None;
                }
                match self.committed.get_mut(index) {
                    Some(&mut (other_term, other_chain, other, _)) if other_chain != *chain => {
                        return Self::violation(
                            "committed_prefix",
                            now,
                            vec![other, n],
                            format!(
                                "committed logs diverge at index {index}: n{other} committed a term-{other_term} \
                                 entry, n{n} a term-{term} entry"
                            ),
                        );
                    }
                    Some(entry) => entry.3 = entry.3.min(*in_term),
                    None => {
                        self.committed.insert(*index, (*term, *chain, n, *in_term));
                    }
                }
            }
            RaftNote::Applied { index, chain } => {
                if *index < self.forgotten_below {
                    return None;
                }
                match self.applied.get(index) {
                    Some(&(other_chain, other)) if other_chain != *chain => {
                        return Self::violation(
                            "state_machine_safety",
                            now,
                            vec![other, n],
                            format!("n{other} and n{n} applied different entries at index {index}"),
                        );
                    }
                    Some(_) => {}
                    None => {
                        self.applied.insert(*index, (*chain, n));
                    }
                }
            }
            RaftNote::Truncated { from, as_leader } => {
                if *as_leader {
                    return Self::violation(
                        "leader_append_only",
                        now,
                        vec![n],
                        format!("leader n{n} truncated its log from index {from}"),
                    );
                }
            }
            RaftNote::Compacted { index } => {
                let slot = &mut self.compacted[n as usize];
                *slot = (*slot).max(*index);
                self.forget_old_history();
            }
        }
        None
    }

    fn on_crash(&mut self, now: Time, node: NodeId) {
        if self.leaders.contains(&node.0) {
            self.leader_crashed_at = Some(now);
        }
        self.lose_leader(now, node.0);
    }

    fn finish(&mut self, now: Time, metrics: &mut Metrics) {
        let mut leaderless = self.leaderless_ns;
        if let Some(since) = self.leaderless_since {
            leaderless += now.since(since).as_nanos();
        }
        metrics.count("leaderless_ms", leaderless / 1_000_000);
        metrics.count("terms", self.leader_of_term.keys().next_back().copied().unwrap_or(0));
        for f in &self.failovers_us {
            metrics.record("failover_us", *f);
        }
        let _ = self.nodes;
    }
}
