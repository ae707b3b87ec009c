//! Fast Leader Election, as ZooKeeper's `FastLeaderElection` runs it
//! (Medeiros §3.2; Junqueira et al. §V-A). A LOOKING server votes for
//! itself — its currentEpoch, its last zxid and its id — and tells every
//! peer; on hearing a better vote of its round it adopts that vote and tells
//! every peer again. Votes compare in one place, [`Vote::beats`], by
//! (peerEpoch, zxid, server id). A server decides once a quorum of its
//! round's votes agree with its own and no better vote arrives within the
//! finalize wait; it then leads if the vote is its own and follows
//! otherwise. A server that comes late to an election that is over decides
//! from the notifications of those already following or leading: a quorum
//! of them naming one leader, and that leader saying it leads.
//!
//! This file holds the election's state and its predicates; the node
//! (`node.rs`) drives it with messages and timers.

use std::collections::BTreeMap;

use super::log::Zxid;

/// A server's election state as it reports it in a notification.
#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
}

/// A vote: who should lead, and the history that candidate reported.
#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub struct Vote {
    pub leader: u32,
    /// The candidate's last zxid.
    pub zxid: Zxid,
    /// The candidate's currentEpoch.
    pub peer_epoch: u64,
}

impl Vote {
    /// ZooKeeper's `totalOrderPredicate`: whether this vote beats `other`,
    /// by (peerEpoch, zxid, server id). The one comparison of votes.
    pub fn beats(&self, other: &Vote) -> bool {
        (self.peer_epoch, self.zxid, self.leader) > (other.peer_epoch, other.zxid, other.leader)
    }

    /// [`Vote::beats`], or with `ignore_zxid` (bug knob
    /// `election_ignores_zxid`) by (peerEpoch, server id) alone.
    pub fn beats_by(&self, other: &Vote, ignore_zxid: bool) -> bool {
        if ignore_zxid {
            (self.peer_epoch, self.leader) > (other.peer_epoch, other.leader)
        } else {
            self.beats(other)
        }
    }
}

impl std::fmt::Display for Vote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "n{} (epoch {}, zxid {})", self.leader, self.peer_epoch, self.zxid)
    }
}

/// One LOOKING period's state.
pub struct Election {
    /// The vote this server proposes.
    pub proposal: Vote,
    /// Votes of this round from LOOKING servers (this one's own included).
    pub received: BTreeMap<u32, Vote>,
    /// Votes of servers already FOLLOWING or LEADING, with their round and
    /// state: a server joining after an election decides from these.
    pub out_of_election: BTreeMap<u32, (Vote, u64, PeerState)>,
    /// Set while a quorum agrees with `proposal`: the finalize wait runs.
    pub finalizing: bool,
    /// The next wait before notifications are sent again; doubles each
    /// time, up to the scenario's bound (ZooKeeper's `notTimeout`).
    pub resend_after: faultline_sim::Duration,
}

impl Election {
    pub fn new(me: u32, own: Vote, resend_after: faultline_sim::Duration) -> Election {
        let mut received = BTreeMap::new();
        received.insert(me, own);
        Election { proposal: own, received, out_of_election: BTreeMap::new(), finalizing: false, resend_after }
    }

    /// A quorum of this round's votes equals `vote` (ZooKeeper's
    /// termination predicate over the received set).
    pub fn quorum_for(&self, vote: &Vote, quorum: usize) -> bool {
        self.received.values().filter(|v| *v == vote).count() >= quorum
    }

    /// A quorum of servers out of the election follow or lead `vote`'s
    /// leader in its epoch. Only leader and epoch count: servers that
    /// joined at different times agree on those, not on the zxid.
    pub fn out_quorum_for(&self, vote: &Vote, quorum: usize) -> bool {
        self.out_of_election
            .values()
            .filter(|(v, _, _)| v.leader == vote.leader && v.peer_epoch == vote.peer_epoch)
            .count()
            >= quorum
    }

    /// ZooKeeper's `checkLeader`: a server follows another only if that one
    /// said it leads; it leads itself only in the round it is in.
    pub fn leader_confirmed(&self, me: u32, leader: u32, round: u64, my_round: u64) -> bool {
        if leader == me {
            return round == my_round;
        }
        self.out_of_election.get(&leader).is_some_and(|(_, _, state)| *state == PeerState::Leading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(leader: u32, epoch: u64, zxid: (u64, u64)) -> Vote {
        Vote { leader, zxid: Zxid::new(zxid.0, zxid.1), peer_epoch: epoch }
    }

    /// Reference: ZooKeeper's `FastLeaderElection.totalOrderPredicate`:
    /// epoch first, then zxid, then server id.
    #[test]
    fn votes_order_by_epoch_then_zxid_then_id() {
        assert!(v(0, 2, (1, 1)).beats(&v(4, 1, (1, 9))), "a newer epoch wins over a longer history");
        assert!(v(0, 1, (1, 5)).beats(&v(4, 1, (1, 4))), "then the longer history");
        assert!(v(4, 1, (1, 5)).beats(&v(3, 1, (1, 5))), "then the higher id");
        assert!(!v(3, 1, (1, 5)).beats(&v(3, 1, (1, 5))), "a vote does not beat itself");
    }

    #[test]
    fn a_decision_needs_a_quorum_and_a_confirmed_leader() {
        let own = v(2, 1, (1, 3));
        let mut e = Election::new(2, own, faultline_sim::Duration::from_millis(1));
        assert!(!e.quorum_for(&own, 2));
        e.received.insert(0, own);
        assert!(e.quorum_for(&own, 2));
        assert!(!e.quorum_for(&own, 3));
        // Late to an election: two followers of n4 and n4 itself leading.
        let theirs = v(4, 1, (1, 3));
        e.out_of_election.insert(0, (theirs, 7, PeerState::Following));
        e.out_of_election.insert(1, (v(4, 1, (1, 2)), 7, PeerState::Following));
        assert!(e.out_quorum_for(&theirs, 2), "zxids may differ between followers who joined apart");
        assert!(!e.leader_confirmed(2, 4, 7, 1), "n4 has not said it leads");
        e.out_of_election.insert(4, (theirs, 7, PeerState::Leading));
        assert!(e.leader_confirmed(2, 4, 7, 1));
        assert!(e.leader_confirmed(2, 2, 7, 7) && !e.leader_confirmed(2, 2, 7, 6));
    }
}
