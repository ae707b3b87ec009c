//! Ballots: `(round, node)`, compared round first, then node id. A proposer
//! draws each new ballot's round above every round it has used or seen, and
//! puts its own id beside it, so no two proposers ever hold the same ballot
//! and any two ballots are ordered (Paxos Made Simple, §2.2: "different
//! proposers choose their numbers from disjoint sets").

use std::fmt;

/// A ballot number. The derived order compares `round` first, then `node`:
/// the field order is the ballot order.
#[derive(Copy, Clone, Debug, Default, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ballot {
    pub round: u64,
    pub node: u32,
}

impl Ballot {
    /// Below every ballot a proposer uses (rounds start at 1): the promise
    /// of an acceptor that has promised nothing.
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };

    pub fn new(round: u64, node: u32) -> Ballot {
        Ballot { round, node }
    }
}

impl fmt::Display for Ballot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, n{})", self.round, self.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_order_by_round_then_node() {
        let cases = [
            (Ballot::new(1, 4), Ballot::new(2, 0), std::cmp::Ordering::Less),
            (Ballot::new(3, 1), Ballot::new(3, 2), std::cmp::Ordering::Less),
            (Ballot::new(3, 2), Ballot::new(3, 2), std::cmp::Ordering::Equal),
            (Ballot::new(7, 0), Ballot::new(6, 9), std::cmp::Ordering::Greater),
            (Ballot::ZERO, Ballot::new(1, 0), std::cmp::Ordering::Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(a.cmp(&b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn proposers_with_distinct_ids_never_share_a_ballot() {
        let mut seen = std::collections::BTreeSet::new();
        for round in 1..50 {
            for node in 0..5 {
                assert!(seen.insert(Ballot::new(round, node)));
            }
        }
    }
}
