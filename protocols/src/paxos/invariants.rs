//! Paxos's safety properties, checked online from the facts nodes report —
//! never from any node's own belief. "Chosen" is computed here, globally: a
//! value is chosen for a key once a majority of acceptors have accepted it
//! in the same ballot (Paxos Made Simple, §2.1). The names follow the
//! properties as the papers state them:
//!
//! - `only_proposed_chosen` (nontriviality): only a value some client
//!   proposed for the key is chosen.
//! - `at_most_one_chosen` (safety / consistency): at most one value is
//!   chosen per key.
//! - `learned_is_chosen`: a learner learns only a value that is chosen.
//! - `promise_monotonic`: an acceptor's promise for a key never decreases,
//!   across restarts too (what it promised before a crash still binds it).
//! - `accepted_within_promise`: an acceptor accepts a ballot only if it is
//!   at least every promise it made for the key, and its accepted ballot
//!   never exceeds its promise.
//!
//! It also measures what only a global observer sees: ballots started per
//! key until it was chosen, time from a key's first propose to its choice,
//! and peer messages per decided key.

use std::collections::BTreeMap;

use faultline_sim::metrics::Metrics;
use faultline_sim::world::{Monitor, Violation};
use faultline_sim::{NodeId, Time};

use super::ballot::Ballot;
use super::node::{PaxosNode, PaxosNote};
use crate::kv::{Key, Value};

/// What the monitor knows of one key. Small and bounded by the run: the
/// values proposed for it, and one acceptor set per (ballot, value) accepted.
#[derive(Default)]
struct KeyFacts {
    proposed: Vec<Value>,
    /// Acceptors (a bit each) that accepted each (ballot, value).
    accepted: BTreeMap<(Ballot, Value), u64>,
    chosen: Option<(Ballot, Value)>,
    /// When a proposer first took a client's value for the key.
    first_proposed_at: Option<Time>,
    /// Ballots started until the key was chosen.
    ballots: u64,
    /// From the first propose to the choice.
    latency_us: Option<u64>,
    messages: u64,
}

pub struct PaxosMonitor {
    majority: u32,
    keys: BTreeMap<Key, KeyFacts>,
    /// The highest promise each (acceptor, key) has made, across restarts.
    promises: BTreeMap<(u32, Key), Ballot>,
    decisions: u64,
}

impl PaxosMonitor {
    pub fn new(nodes: u32) -> PaxosMonitor {
        PaxosMonitor { majority: nodes / 2 + 1, keys: BTreeMap::new(), promises: BTreeMap::new(), decisions: 0 }
    }

    fn violation(check: &str, now: Time, nodes: Vec<u32>, message: String) -> Option<Violation> {
        let nodes = nodes.into_iter().map(NodeId).collect();
        Some(Violation { check: check.to_string(), at: now, nodes, message })
    }

    fn accepted(
        &mut self,
        now: Time,
        n: u32,
        (key, ballot, value, promise): (Key, Ballot, Value, Ballot),
    ) -> Option<Violation> {
        let held = self.promises.get(&(n, key)).copied().unwrap_or(Ballot::ZERO);
        if ballot < held {
            return Self::violation(
                "accepted_within_promise",
                now,
                vec![n],
                format!("n{n} accepted ballot {ballot} for key {key}, below its promise {held}"),
            );
        }
        if ballot > promise {
            return Self::violation(
                "accepted_within_promise",
                now,
                vec![n],
                format!("n{n} accepted ballot {ballot} for key {key} above its promise {promise}"),
            );
        }
        self.promises.insert((n, key), held.max(promise));
        let majority = self.majority;
        let facts = self.keys.entry(key).or_default();
        let acceptors = facts.accepted.entry((ballot, value)).or_insert(0);
        *acceptors |= 1 << n;
        if acceptors.count_ones() < majority {
            return None;
        }
        match facts.chosen {
            Some((_, other)) if other == value => None,
            Some((other_ballot, other)) => Self::violation(
                "at_most_one_chosen",
                now,
                vec![n],
                format!(
                    "two values chosen for key {key}: {other} in ballot {other_ballot}, then {value} in ballot \
                     {ballot} (a majority accepted each)"
                ),
            ),
            None => {
                facts.chosen = Some((ballot, value));
                self.decisions += 1;
                facts.latency_us = facts.first_proposed_at.map(|at| now.since(at).as_nanos() / 1_000);
                if !facts.proposed.contains(&value) {
                    return Self::violation(
                        "only_proposed_chosen",
                        now,
                        vec![n],
                        format!("value {value} was chosen for key {key} in ballot {ballot}, but no client proposed it"),
                    );
                }
                None
            }
        }
    }
}

impl Monitor<PaxosNode> for PaxosMonitor {
    fn on_note(&mut self, now: Time, node: NodeId, note: &PaxosNote) -> Option<Violation> {
        let n = node.0;
        match *note {
            PaxosNote::Proposed { key, value } => {
                let facts = self.keys.entry(key).or_default();
                facts.first_proposed_at.get_or_insert(now);
                if !facts.proposed.contains(&value) {
                    facts.proposed.push(value);
                }
            }
            PaxosNote::BallotStarted { key, .. } => {
                let facts = self.keys.entry(key).or_default();
                if facts.chosen.is_none() {
                    facts.ballots += 1;
                }
            }
            PaxosNote::Sent { key, count } => self.keys.entry(key).or_default().messages += u64::from(count),
            PaxosNote::Promised { key, ballot } => {
                let held = self.promises.entry((n, key)).or_insert(Ballot::ZERO);
                if ballot < *held {
                    let held = *held;
                    return Self::violation(
                        "promise_monotonic",
                        now,
                        vec![n],
                        format!("n{n}'s promise for key {key} fell from {held} to {ballot}"),
                    );
                }
                *held = ballot;
            }
            PaxosNote::Accepted { key, ballot, value, promise } => {
                return self.accepted(now, n, (key, ballot, value, promise));
            }
            PaxosNote::Learned { key, value } => {
                let chosen = self.keys.get(&key).and_then(|f| f.chosen);
                match chosen {
                    Some((_, v)) if v == value => {}
                    Some((b, v)) => {
                        return Self::violation(
                            "learned_is_chosen",
                            now,
                            vec![n],
                            format!("n{n} learned {value} for key {key}, but {v} is chosen (in ballot {b})"),
                        )
                    }
                    None => {
                        return Self::violation(
                            "learned_is_chosen",
                            now,
                            vec![n],
                            format!("n{n} learned {value} for key {key}, which no majority has accepted in one ballot"),
                        )
                    }
                }
            }
        }
        None
    }

    fn finish(
        &mut self,
        _now: Time,
        _faults: &[faultline_sim::AppliedFault],
        metrics: &mut Metrics,
    ) -> Option<Violation> {
        metrics.count("decisions", self.decisions);
        for facts in self.keys.values().filter(|f| f.chosen.is_some()) {
            metrics.record("ballots_per_decision", facts.ballots.max(1));
            metrics.record("messages_per_decision", facts.messages);
            if let Some(us) = facts.latency_us {
                metrics.record("decision_latency_us", us);
            }
        }
        None
    }
}
