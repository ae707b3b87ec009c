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
//! - Election timers run their course (Figure 2, Followers): a node starts
//!   an election only once a whole minimum election timeout has passed on
//!   its own clock since it last granted a vote or heard from the leader of
//!   its term.
//! - Snapshots match the log: a snapshot taken or installed at an index
//!   records the committed entry's term and prefix there, and holds the
//!   state that applying that prefix gives (compared through the state
//!   machine's digest, which nodes also report with every apply).
//!
//! It also measures availability facts only a global observer sees:
//!
//! - `first_election_us`: from the start to the first leader.
//! - `leaderless_ms`: time without any leader *after* the first one was
//!   elected (the first election is `first_election_us`).
//! - `elected_us`: from a leader's crash until a leader of a later term is
//!   elected.
//! - `failover_us`: from a leader's crash until a majority of the surviving
//!   nodes (the new leader among them) know a leader of a later term — when
//!   the cluster can serve again.
//!
//! A trial that has not finished when the run ends, or when the next leader
//! crash cuts it short, is censored, never dropped: it is counted in
//! `first_election_censored`, `elected_censored` or `failover_censored`
//! with how long each was watched (see [`faultline_sim::metrics::Censored`]).

use std::collections::{BTreeMap, BTreeSet};

use faultline_sim::metrics::{Metrics, CENSORED};
use faultline_sim::world::{Monitor, Violation};
use faultline_sim::{NodeId, Time};

use super::node::{RaftNode, RaftNote};
use crate::check::snapshot::{self, KnownAt, SnapshotClaim};

/// Facts per log index, stored densely from `base` on: log indices grow by
/// one, so a vector beats a map in the hot path.
struct ByIndex<T> {
    base: u64,
    slots: std::collections::VecDeque<T>,
}

impl<T: Default> ByIndex<T> {
    fn new() -> Self {
        ByIndex { base: 0, slots: Default::default() }
    }
    fn slot(&mut self, index: u64) -> &mut T {
        let i = (index - self.base) as usize;
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, T::default);
        }
        &mut self.slots[i]
    }
    /// Drops everything below `index`.
    fn forget_below(&mut self, index: u64) {
        while self.base < index && !self.slots.is_empty() {
            self.slots.pop_front();
            self.base += 1;
        }
        self.base = self.base.max(index);
    }
    fn get(&self, index: u64) -> Option<&T> {
        let i = usize::try_from(index.checked_sub(self.base)?).ok()?;
        self.slots.get(i)
    }
    fn iter_from(&self, index: u64) -> impl Iterator<Item = (u64, &T)> {
        let skip = index.saturating_sub(self.base) as usize;
        self.slots.iter().enumerate().skip(skip).map(move |(i, t)| (self.base + i as u64, t))
    }
}

/// The (term, chain hash, node) of each term seen appended at one index.
/// Almost always a single term, kept inline; a vector only after a conflict,
/// so the hot path allocates nothing per index.
#[derive(Default)]
struct AppendedAt {
    first: Option<(u64, u64, u32)>,
    more: Vec<(u64, u64, u32)>,
}

impl AppendedAt {
    fn find(&self, term: u64) -> Option<(u64, u64, u32)> {
        self.first.iter().chain(&self.more).find(|(t, _, _)| *t == term).copied()
    }
    fn push(&mut self, fact: (u64, u64, u32)) {
        match self.first {
            None => self.first = Some(fact),
            Some(_) => self.more.push(fact),
        }
    }
}

/// What was committed at one index: (term, chain, node, earliest term it
/// was known committed in).
type CommitFact = Option<(u64, u64, u32, u64)>;

pub struct RaftMonitor {
    nodes: u32,
    leader_of_term: BTreeMap<u64, u32>,
    /// Per index: (term, chain hash of the prefix, node) from every append;
    /// usually one term per index, a few after leader changes.
    appended: ByIndex<AppendedAt>,
    committed: ByIndex<CommitFact>,
    /// Per index: (chain, state digest after it, node) of the entry applied
    /// there.
    applied: ByIndex<Option<(u64, u64, u32)>>,
    /// Per node: index its snapshot covers; history below every node's
    /// snapshot can never be contradicted again and is forgotten.
    compacted: Vec<u64>,
    forgotten_below: u64,
    /// The shortest election timeout, and per node the local time of the
    /// latest event that must restart its election timer (none since its
    /// last restart: `None`).
    election_timeout_min: faultline_sim::Duration,
    deferred: Vec<Option<(Time, &'static str)>>,
    // Availability measurements.
    leaders: BTreeSet<u32>,
    leaderless_since: Option<Time>,
    leaderless_ns: u64,
    first_leader: bool,
    /// The leader crash being timed.
    failover: Option<Failover>,
    /// Nodes crashed and not yet restarted.
    down: BTreeSet<u32>,
    /// Timings measured, recorded when the run ends: (histogram, value).
    samples: Vec<(&'static str, u64)>,
    /// Trials censored: (histogram, how long it was watched, us).
    censored: Vec<(&'static str, u64)>,
}

/// A leader crash being timed.
struct Failover {
    crashed_at: Time,
    /// The crashed leader's term: a leader of a later term ends the trial.
    term: u64,
    elected: bool,
    /// Nodes that know a leader of a later term.
    heard: BTreeSet<u32>,
}

impl RaftMonitor {
    pub fn new(nodes: u32, election_timeout_min: faultline_sim::Duration) -> RaftMonitor {
        RaftMonitor {
            nodes,
            election_timeout_min,
            deferred: vec![None; nodes as usize],
            leader_of_term: BTreeMap::new(),
            appended: ByIndex::new(),
            committed: ByIndex::new(),
            applied: ByIndex::new(),
            compacted: vec![0; nodes as usize],
            forgotten_below: 0,
            leaders: BTreeSet::new(),
            leaderless_since: None,
            leaderless_ns: 0,
            first_leader: false,
            failover: None,
            down: BTreeSet::new(),
            samples: Vec::new(),
            censored: Vec::new(),
        }
    }

    /// A node knows a leader of `term`: the failover being timed ends once a
    /// majority of the nodes still up do.
    fn heard(&mut self, now: Time, node: u32, term: u64) {
        let Some(f) = self.failover.as_mut() else { return };
        if term <= f.term || !f.elected {
            return;
        }
        f.heard.insert(node);
        let survivors = self.nodes as usize - self.down.len();
        let heard = f.heard.iter().filter(|n| !self.down.contains(n)).count();
        if heard > survivors / 2 {
            self.samples.push(("failover_us", now.since(f.crashed_at).as_nanos() / 1_000));
            self.failover = None;
        }
    }

    /// Ends the failover being timed at `now` without a result.
    fn censor_failover(&mut self, now: Time) {
        if let Some(f) = self.failover.take() {
            let watched = now.since(f.crashed_at).as_nanos() / 1_000;
            self.censored.push(("failover_us", watched));
            if !f.elected {
                self.censored.push(("elected_us", watched));
            }
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
        self.appended.forget_below(floor);
        self.committed.forget_below(floor);
        self.applied.forget_below(floor);
        // Terms far below every node's snapshot cannot see another election.
        if self.leader_of_term.len() > 10_000 {
            let keep_from = *self.leader_of_term.keys().nth(self.leader_of_term.len() - 10_000).unwrap_or(&0);
            self.leader_of_term = self.leader_of_term.split_off(&keep_from);
        }
    }

    fn violation(check: &str, now: Time, nodes: Vec<u32>, message: String) -> Option<Violation> {
        let nodes = nodes.into_iter().map(NodeId).collect();
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
                if !self.first_leader {
                    self.first_leader = true;
                    self.samples.push(("first_election_us", now.since(Time::ZERO).as_nanos() / 1_000));
                }
                if let Some(f) = self.failover.as_mut().filter(|f| *term > f.term && !f.elected) {
                    f.elected = true;
                    let elected = now.since(f.crashed_at).as_nanos() / 1_000;
                    self.samples.push(("elected_us", elected));
                }
                self.heard(now, n, *term);
                // Leader Completeness: every entry committed in an earlier
                // term is in its log (a leader of an older term, elected
                // late, need not hold entries committed after its term).
                for (index, fact) in self.committed.iter_from(base_index + 1) {
                    let Some((c_term, chain, by, in_term)) = *fact else { continue };
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
            RaftNote::HeardLeader { term, .. } => self.heard(now, n, *term),
            RaftNote::ElectionDeferred { local, by } => self.deferred[n as usize] = Some((*local, by)),
            RaftNote::ElectionTimedOut { local } => {
                if let Some((at, by)) = self.deferred[n as usize] {
                    let waited = local.since(at);
                    if waited < self.election_timeout_min {
                        return Self::violation(
                            "election_timer",
                            now,
                            vec![n],
                            format!(
                                "n{n} started an election {waited} after {by} (on its own clock), before the \
                                 shortest election timeout ({}) had passed",
                                self.election_timeout_min
                            ),
                        );
                    }
                }
            }
            RaftNote::Appended { index, term, chain } => {
                if *index < self.forgotten_below {
                    return None;
                }
                let seen = self.appended.slot(*index);
                match seen.find(*term) {
                    Some((_, other_chain, other)) if other_chain != *chain => {
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
                    None => seen.push((*term, *chain, n)),
                }
            }
            RaftNote::Committed { index, term, chain, in_term } => {
                if *index < self.forgotten_below {
                    return None;
                }
                match self.committed.slot(*index) {
                    Some((other_term, other_chain, other, _)) if *other_chain != *chain => {
                        let (other_term, other) = (*other_term, *other);
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
                    Some(fact) => fact.3 = fact.3.min(*in_term),
                    slot @ None => *slot = Some((*term, *chain, n, *in_term)),
                }
            }
            RaftNote::Applied { index, chain, state } => {
                if *index < self.forgotten_below {
                    return None;
                }
                match self.applied.slot(*index) {
                    Some((other_chain, _, other)) if *other_chain != *chain => {
                        let other = *other;
                        return Self::violation(
                            "state_machine_safety",
                            now,
                            vec![other, n],
                            format!("n{other} and n{n} applied different entries at index {index}"),
                        );
                    }
                    Some((_, other_state, other)) if *other_state != *state => {
                        let other = *other;
                        return Self::violation(
                            "state_machine_safety",
                            now,
                            vec![other, n],
                            format!(
                                "n{other} and n{n} applied the same log up to index {index} but hold different \
                                 states after it"
                            ),
                        );
                    }
                    Some(_) => {}
                    slot @ None => *slot = Some((*chain, *state, n)),
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
            RaftNote::Compacted { index, term, chain, state, installed } => {
                if *index >= self.forgotten_below {
                    let claim = SnapshotClaim { index: *index, term: *term, chain: *chain, state: *state };
                    let committed = self.committed.get(*index).and_then(|f| f.map(|(t, c, _, _)| (t, c)));
                    let applied = self.applied.get(*index).and_then(|f| f.map(|(_, state, _)| state));
                    let known = KnownAt { committed, applied_state: applied };
                    if let Some(why) = snapshot::contradiction(&claim, &known) {
                        let how = if *installed { "installed" } else { "took" };
                        return Self::violation(
                            "snapshot_matches_log",
                            now,
                            vec![n],
                            format!("n{n} {how} a snapshot at index {index} that does not match the log: {why}"),
                        );
                    }
                }
                let slot = &mut self.compacted[n as usize];
                *slot = (*slot).max(*index);
                self.forget_old_history();
            }
        }
        None
    }

    fn on_crash(&mut self, now: Time, node: NodeId) {
        // A restarted node's timers start afresh.
        self.deferred[node.0 as usize] = None;
        self.down.insert(node.0);
        if self.leaders.contains(&node.0) {
            // A crash of the next leader before the cluster heard it cuts
            // the trial under way short.
            self.censor_failover(now);
            let term = self.leader_of_term.iter().rev().find(|(_, &l)| l == node.0).map_or(0, |(&t, _)| t);
            self.failover = Some(Failover { crashed_at: now, term, elected: false, heard: BTreeSet::new() });
        }
        self.lose_leader(now, node.0);
    }

    fn on_restart(&mut self, _now: Time, node: NodeId) {
        self.down.remove(&node.0);
    }

    fn finish(
        &mut self,
        now: Time,
        _faults: &[faultline_sim::AppliedFault],
        metrics: &mut Metrics,
    ) -> Option<Violation> {
        let mut leaderless = self.leaderless_ns;
        if let Some(since) = self.leaderless_since {
            leaderless += now.since(since).as_nanos();
        }
        metrics.count("leaderless_ms", leaderless / 1_000_000);
        metrics.count("terms", self.leader_of_term.keys().next_back().copied().unwrap_or(0));
        for &(name, value) in &self.samples {
            metrics.record(name, value);
        }
        self.censor_failover(now);
        if !self.first_leader {
            self.censored.push(("first_election_us", now.since(Time::ZERO).as_nanos() / 1_000));
        }
        // Every censorable histogram has its counter in every run, zero or
        // not, so results.csv shows "none censored" rather than nothing.
        for c in &CENSORED {
            metrics.count(c.counter, 0);
        }
        for &(histogram, watched) in &self.censored {
            metrics.censor(histogram, watched);
        }
        let _ = self.nodes;
        None
    }
}
