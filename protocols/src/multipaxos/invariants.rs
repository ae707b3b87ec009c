//! Multi-Paxos' safety properties, checked online from the facts nodes
//! report — never from any node's belief. What is *chosen* is computed here,
//! globally: a command is chosen at a slot once a majority of acceptors have
//! reported accepting it there in one ballot.
//!
//! - `chosen_once`: at most one command is chosen per slot (Paxos' safety,
//!   "Paxos Made Simple" §2.2).
//! - `only_proposed_chosen`: an acceptor accepts only what the ballot's
//!   proposer proposed at that slot, and a proposer proposes one command
//!   per slot and ballot — so only proposed commands can be chosen.
//! - `promise_monotonic`: an acceptor's promise never decreases, across
//!   restarts too.
//! - `accepted_within_promise`: an acceptor never accepts a ballot below
//!   the highest it promised.
//! - `decision_agreement`: every learner decides the same command at a slot,
//!   and it is the chosen one.
//! - `state_machine_safety`: learners that apply a slot hold the same
//!   decided prefix and the same store after it (the store's digest): state
//!   is the decisions applied in slot order.
//! - `applied_monotonic`: a node's applied slot never goes back within a
//!   run of the node (a restart resumes from its snapshot).
//! - `snapshot_matches_log`: a snapshot taken or installed at a slot covers
//!   the decided prefix there and holds the state it gives
//!   ([`crate::check::snapshot`]).
//!
//! It also measures what only a global observer sees: time without any
//! leader, and leader changes.

use std::collections::{BTreeSet, VecDeque};

use faultline_sim::metrics::Metrics;
use faultline_sim::world::{Monitor, Violation};
use faultline_sim::{NodeId, Time};
use smallvec::SmallVec;

use super::log::Ballot;
use super::node::{PaxosNode, PaxosNote};
use crate::check::snapshot::{self, KnownAt, SnapshotClaim};

/// What the monitor knows of one slot.
///
/// A slot is almost always proposed and accepted in one ballot, so the
/// lists keep their first entry inline: a slot's facts cost no allocation.
#[derive(Default)]
struct SlotFacts {
    /// (ballot, command) of each proposal.
    proposed: SmallVec<[(Ballot, u64); 1]>,
    /// (ballot, command, acceptors) of each accepted proposal.
    accepted: SmallVec<[(Ballot, u64, u64); 1]>,
    /// The chosen command and the ballot it was chosen in.
    chosen: Option<(u64, Ballot)>,
    /// The first decision reported, and by whom.
    decided: Option<(u64, u32)>,
    /// (chain, state digest, node) of the first apply.
    applied: Option<(u64, u64, u32)>,
}

pub struct PaxosMonitor {
    nodes: u32,
    /// Facts per slot from `base` on.
    base: u64,
    slots: VecDeque<SlotFacts>,
    /// Per node: the highest ballot it ever promised (kept across crashes).
    promised: Vec<Ballot>,
    /// Per node: the last slot it applied since it last started.
    applied: Vec<Option<u64>>,
    /// Per node: the slot its snapshot covers; facts below every node's
    /// snapshot can never be contradicted again and are forgotten.
    compacted: Vec<u64>,
    leaders: BTreeSet<u32>,
    /// Since when no node has led; `None` also before the first leader, so
    /// `leaderless_ms` leaves the first election out (as Raft's does).
    leaderless_since: Option<Time>,
    leaderless_ns: u64,
    leader_changes: u64,
    last_leader: Option<u32>,
}

fn violation(check: &str, now: Time, nodes: Vec<u32>, message: String) -> Option<Violation> {
    Some(Violation { check: check.to_string(), at: now, nodes: nodes.into_iter().map(NodeId).collect(), message })
}

impl PaxosMonitor {
    pub fn new(nodes: u32) -> PaxosMonitor {
        PaxosMonitor {
            nodes,
            base: 1,
            slots: VecDeque::new(),
            promised: vec![Ballot::ZERO; nodes as usize],
            applied: vec![None; nodes as usize],
            compacted: vec![0; nodes as usize],
            leaders: BTreeSet::new(),
            leaderless_since: None,
            leaderless_ns: 0,
            leader_changes: 0,
            last_leader: None,
        }
    }

    fn majority(&self) -> u32 {
        self.nodes / 2 + 1
    }

    /// The facts of `slot`; `None` for a slot already forgotten.
    fn slot(&mut self, slot: u64) -> Option<&mut SlotFacts> {
        let i = usize::try_from(slot.checked_sub(self.base)?).ok()?;
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, SlotFacts::default);
        }
        self.slots.get_mut(i)
    }

    fn get(&self, slot: u64) -> Option<&SlotFacts> {
        let i = usize::try_from(slot.checked_sub(self.base)?).ok()?;
        self.slots.get(i)
    }

    fn forget_old(&mut self) {
        let floor = self.compacted.iter().copied().min().unwrap_or(0);
        while self.base <= floor && !self.slots.is_empty() {
            self.slots.pop_front();
            self.base += 1;
        }
        self.base = self.base.max(floor + 1);
    }

    fn lose_leader(&mut self, now: Time, node: u32) {
        if self.leaders.remove(&node) && self.leaders.is_empty() {
            self.leaderless_since = Some(now);
        }
    }

    fn on_accepted(&mut self, now: Time, n: u32, slot: u64, ballot: Ballot, command: u64) -> Option<Violation> {
        if ballot < self.promised[n as usize] {
            let promised = self.promised[n as usize];
            return violation(
                "accepted_within_promise",
                now,
                vec![n],
                format!("n{n} accepted ballot {ballot} at slot {slot} after promising ballot {promised}"),
            );
        }
        let majority = self.majority();
        let facts = self.slot(slot)?;
        match facts.proposed.iter().find(|(b, _)| *b == ballot) {
            Some(&(_, proposed)) if proposed == command => {}
            Some(_) => {
                return violation(
                    "only_proposed_chosen",
                    now,
                    vec![n, ballot.node],
                    format!("n{n} accepted at slot {slot} in ballot {ballot} a command its proposer did not propose"),
                )
            }
            None => {
                return violation(
                    "only_proposed_chosen",
                    now,
                    vec![n, ballot.node],
                    format!("n{n} accepted at slot {slot} in ballot {ballot}, where nothing was proposed"),
                )
            }
        }
        let acceptors = match facts.accepted.iter_mut().find(|(b, _, _)| *b == ballot) {
            Some(entry) => {
                entry.2 |= 1 << n;
                entry.2
            }
            None => {
                facts.accepted.push((ballot, command, 1 << n));
                1 << n
            }
        };
        if acceptors.count_ones() < majority {
            return None;
        }
        match facts.chosen {
            None => facts.chosen = Some((command, ballot)),
            Some((other, at)) if other != command => {
                return violation(
                    "chosen_once",
                    now,
                    vec![at.node, ballot.node],
                    format!(
                        "two commands chosen at slot {slot}: one in ballot {at}, another in ballot {ballot} \
                         (a majority accepted each)"
                    ),
                );
            }
            Some(_) => {}
        }
        None
    }
}

impl Monitor<PaxosNode> for PaxosMonitor {
    fn on_note(&mut self, now: Time, node: NodeId, note: &PaxosNote) -> Option<Violation> {
        let n = node.0;
        match *note {
            PaxosNote::Promised { ballot } => {
                let before = self.promised[n as usize];
                if ballot < before {
                    return violation(
                        "promise_monotonic",
                        now,
                        vec![n],
                        format!("n{n} promised ballot {ballot} after promising the higher ballot {before}"),
                    );
                }
                self.promised[n as usize] = ballot;
            }
            PaxosNote::Proposed { slot, ballot, command } => {
                let facts = self.slot(slot)?;
                match facts.proposed.iter().find(|(b, _)| *b == ballot) {
                    Some(&(_, other)) if other != command => {
                        return violation(
                            "only_proposed_chosen",
                            now,
                            vec![n],
                            format!("n{n} proposed two commands at slot {slot} in its ballot {ballot}"),
                        );
                    }
                    Some(_) => {}
                    None => facts.proposed.push((ballot, command)),
                }
            }
            PaxosNote::Accepted { slot, ballot, command } => return self.on_accepted(now, n, slot, ballot, command),
            PaxosNote::Decided { slot, command } => {
                let facts = self.slot(slot)?;
                match (facts.chosen, facts.decided) {
                    (_, Some((other, by))) if other != command => {
                        return violation(
                            "decision_agreement",
                            now,
                            vec![by, n],
                            format!("n{by} and n{n} decided different commands at slot {slot}"),
                        );
                    }
                    (Some((chosen, at)), _) if chosen != command => {
                        return violation(
                            "decision_agreement",
                            now,
                            vec![n],
                            format!("n{n} decided at slot {slot} a command other than the one chosen in ballot {at}"),
                        );
                    }
                    (None, _) => {
                        return violation(
                            "decision_agreement",
                            now,
                            vec![n],
                            format!("n{n} decided a command at slot {slot} that no majority has accepted"),
                        );
                    }
                    _ => {}
                }
                if facts.decided.is_none() {
                    facts.decided = Some((command, n));
                }
            }
            PaxosNote::Applied { slot, chain, state } => {
                if let Some(last) = self.applied[n as usize] {
                    if slot <= last {
                        return violation(
                            "applied_monotonic",
                            now,
                            vec![n],
                            format!("n{n} applied slot {slot} after slot {last}"),
                        );
                    }
                }
                self.applied[n as usize] = Some(slot);
                let facts = self.slot(slot)?;
                match facts.applied {
                    Some((other_chain, _, other)) if other_chain != chain => {
                        return violation(
                            "state_machine_safety",
                            now,
                            vec![other, n],
                            format!("n{other} and n{n} applied different decided prefixes up to slot {slot}"),
                        );
                    }
                    Some((_, other_state, other)) if other_state != state => {
                        return violation(
                            "state_machine_safety",
                            now,
                            vec![other, n],
                            format!(
                                "n{other} and n{n} applied the same decisions up to slot {slot} but hold different \
                                 stores after it: one did not apply them in slot order"
                            ),
                        );
                    }
                    Some(_) => {}
                    None => facts.applied = Some((chain, state, n)),
                }
            }
            PaxosNote::Compacted { slot, chain, state, installed } => {
                if let Some(facts) = self.get(slot) {
                    let claim = SnapshotClaim { index: slot, term: 0, chain, state };
                    let known = KnownAt {
                        committed: facts.applied.map(|(c, _, _)| (0, c)),
                        applied_state: facts.applied.map(|(_, s, _)| s),
                    };
                    if let Some(why) = snapshot::contradiction(&claim, &known) {
                        let how = if installed { "installed" } else { "took" };
                        return violation(
                            "snapshot_matches_log",
                            now,
                            vec![n],
                            format!("n{n} {how} a snapshot at slot {slot} that does not match the log: {why}"),
                        );
                    }
                }
                if installed {
                    // Applying resumes after the installed snapshot.
                    self.applied[n as usize] = Some(slot);
                }
                let c = &mut self.compacted[n as usize];
                *c = (*c).max(slot);
                self.forget_old();
            }
            PaxosNote::BecameLeader { .. } => {
                if let Some(since) = self.leaderless_since.take() {
                    self.leaderless_ns += now.since(since).as_nanos();
                }
                self.leaders.insert(n);
                if self.last_leader != Some(n) {
                    self.leader_changes += 1;
                    self.last_leader = Some(n);
                }
            }
            PaxosNote::SteppedDown { .. } => self.lose_leader(now, n),
        }
        None
    }

    fn on_crash(&mut self, now: Time, node: NodeId) {
        // A restart applies again from its snapshot.
        self.applied[node.0 as usize] = None;
        self.lose_leader(now, node.0);
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
        metrics.count("leader_changes", self.leader_changes);
        let top = self.promised.iter().max().copied().unwrap_or(Ballot::ZERO);
        metrics.count("max_ballot_round", top.round);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Time = Time::ZERO;

    fn b(round: u64, node: u32) -> Ballot {
        Ballot { round, node }
    }

    /// Feeds `notes` (node, note) to a three-node monitor; the first
    /// violation's check, if any.
    fn verdict(notes: &[(u32, PaxosNote)]) -> Option<String> {
        let mut m = PaxosMonitor::new(3);
        notes.iter().find_map(|(n, note)| m.on_note(T, NodeId(*n), note)).map(|v| v.check)
    }

    fn proposed(slot: u64, ballot: Ballot, command: u64) -> (u32, PaxosNote) {
        (ballot.node, PaxosNote::Proposed { slot, ballot, command })
    }

    fn accepted(n: u32, slot: u64, ballot: Ballot, command: u64) -> (u32, PaxosNote) {
        (n, PaxosNote::Accepted { slot, ballot, command })
    }

    /// Reference: "Paxos Made Simple" §2.2 (P2: once a value is chosen,
    /// every higher ballot that is chosen has that value).
    #[test]
    fn two_values_chosen_at_one_slot_are_caught_and_one_is_not() {
        let first = [proposed(1, b(1, 0), 7), accepted(0, 1, b(1, 0), 7), accepted(1, 1, b(1, 0), 7)];
        assert_eq!(verdict(&first), None);
        // A later ballot re-proposing the chosen value is fine...
        let mut same = first.to_vec();
        same.extend([proposed(1, b(2, 2), 7), accepted(2, 1, b(2, 2), 7), accepted(1, 1, b(2, 2), 7)]);
        assert_eq!(verdict(&same), None);
        // ...one choosing another value is not.
        let mut other = first.to_vec();
        other.extend([proposed(1, b(2, 2), 8), accepted(2, 1, b(2, 2), 8), accepted(1, 1, b(2, 2), 8)]);
        assert_eq!(verdict(&other).as_deref(), Some("chosen_once"));
        // A minority accepting another value chooses nothing.
        let mut minority = first.to_vec();
        minority.extend([proposed(1, b(2, 2), 8), accepted(2, 1, b(2, 2), 8)]);
        assert_eq!(verdict(&minority), None);
    }

    #[test]
    fn each_acceptor_and_learner_rule_is_named() {
        let cases: Vec<(&str, Vec<(u32, PaxosNote)>)> = vec![
            ("only_proposed_chosen", vec![accepted(1, 1, b(1, 0), 7)]),
            ("only_proposed_chosen", vec![proposed(1, b(1, 0), 7), accepted(1, 1, b(1, 0), 8)]),
            ("only_proposed_chosen", vec![proposed(1, b(1, 0), 7), proposed(1, b(1, 0), 8)]),
            (
                "promise_monotonic",
                vec![(1, PaxosNote::Promised { ballot: b(3, 2) }), (1, PaxosNote::Promised { ballot: b(2, 0) })],
            ),
            (
                "accepted_within_promise",
                vec![(1, PaxosNote::Promised { ballot: b(3, 2) }), proposed(1, b(2, 0), 7), accepted(1, 1, b(2, 0), 7)],
            ),
            ("decision_agreement", vec![proposed(1, b(1, 0), 7), (2, PaxosNote::Decided { slot: 1, command: 7 })]),
            (
                "decision_agreement",
                vec![
                    proposed(1, b(1, 0), 7),
                    accepted(0, 1, b(1, 0), 7),
                    accepted(1, 1, b(1, 0), 7),
                    (2, PaxosNote::Decided { slot: 1, command: 8 }),
                ],
            ),
            (
                "applied_monotonic",
                vec![
                    (1, PaxosNote::Applied { slot: 2, chain: 5, state: 5 }),
                    (1, PaxosNote::Applied { slot: 2, chain: 5, state: 5 }),
                ],
            ),
            (
                "state_machine_safety",
                vec![
                    (1, PaxosNote::Applied { slot: 1, chain: 5, state: 5 }),
                    (2, PaxosNote::Applied { slot: 1, chain: 5, state: 6 }),
                ],
            ),
            (
                "snapshot_matches_log",
                vec![
                    (1, PaxosNote::Applied { slot: 1, chain: 5, state: 5 }),
                    (2, PaxosNote::Compacted { slot: 1, chain: 5, state: 9, installed: true }),
                ],
            ),
        ];
        for (check, notes) in cases {
            assert_eq!(verdict(&notes).as_deref(), Some(check), "{notes:?}");
        }
    }

    /// A promise survives a crash in the monitor's record, so a restarted
    /// acceptor that forgot it is caught.
    #[test]
    fn a_promise_forgotten_across_a_restart_is_caught() {
        let mut m = PaxosMonitor::new(3);
        assert!(m.on_note(T, NodeId(1), &PaxosNote::Promised { ballot: b(4, 1) }).is_none());
        m.on_crash(T, NodeId(1));
        let v = m.on_note(T, NodeId(1), &PaxosNote::Promised { ballot: b(1, 1) }).expect("caught");
        assert_eq!(v.check, "promise_monotonic");
        // Applying starts over after a restart without breaking monotonicity.
        assert!(m.on_note(T, NodeId(2), &PaxosNote::Applied { slot: 3, chain: 1, state: 1 }).is_none());
        m.on_crash(T, NodeId(2));
        assert!(m.on_note(T, NodeId(2), &PaxosNote::Applied { slot: 1, chain: 2, state: 2 }).is_none());
    }
}
