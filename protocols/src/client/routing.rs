//! Where a client sends each attempt of an operation. A routing policy sees
//! only what a real client library sees — which node answered, which one
//! refused and whom it named, which attempt timed out — and picks the next
//! node. Three policies ship: leader-redirect (Raft, Multi-Paxos, ZAB),
//! any node (gossip) and consistent hash (caches); load-balancing policies
//! (random, round-robin, weighted, with failover) fit the same trait.

use faultline_sim::NodeId;

use super::ring::HashRing;

/// Picks the node for each attempt. Deterministic: a policy that needs
/// randomness must be handed a stream of the client's own.
pub trait Routing: Send {
    /// The node the next attempt of an operation on `key` goes to.
    fn pick(&mut self, key: u64) -> NodeId;
    /// `from` answered an operation.
    fn answered(&mut self, _from: NodeId) {}
    /// `from` cannot serve the operation; `hint` is its guess at who can.
    /// `Some(node)`: send the attempt there now; `None`: back off, then
    /// send to [`Routing::pick`].
    fn redirected(&mut self, from: NodeId, hint: Option<NodeId>) -> Option<NodeId>;
    /// An attempt on `key` timed out; the retry goes to [`Routing::pick`].
    fn timed_out(&mut self, key: u64);
}

/// Which policy a protocol's clients use.
#[derive(Clone, Debug)]
pub enum RoutingKind {
    LeaderRedirect,
    AnyNode,
    /// Keys placed on a ring with this many points per node.
    ConsistentHash {
        replicas: u32,
    },
}

impl RoutingKind {
    /// A fresh policy for a client whose home is `home`.
    pub fn build(&self, home: u32, nodes: u32) -> Box<dyn Routing> {
        match self {
            RoutingKind::LeaderRedirect => Box::new(LeaderRedirect { target: home, nodes }),
            RoutingKind::AnyNode => Box::new(AnyNode { target: home, nodes }),
            RoutingKind::ConsistentHash { replicas } => {
                Box::new(ConsistentHash { ring: HashRing::new(nodes, *replicas), skip: 0 })
            }
        }
    }
}

/// Believe the last node that answered is the leader; follow a redirect's
/// hint; with no hint, or after a timeout, try the next node in id order.
pub struct LeaderRedirect {
    target: u32,
    nodes: u32,
}

impl LeaderRedirect {
    fn rotate(&mut self) {
        self.target = (self.target + 1) % self.nodes.max(1);
    }
}

impl Routing for LeaderRedirect {
    fn pick(&mut self, _key: u64) -> NodeId {
        NodeId(self.target)
    }
    fn answered(&mut self, from: NodeId) {
        self.target = from.0;
    }
    fn redirected(&mut self, _from: NodeId, hint: Option<NodeId>) -> Option<NodeId> {
        match hint {
            Some(leader) if leader.0 != self.target => {
                self.target = leader.0;
                Some(leader)
            }
            _ => {
                self.rotate();
                None
            }
        }
    }
    fn timed_out(&mut self, _key: u64) {
        self.rotate();
    }
}

/// Any node serves any operation: stay with the current node (the home node
/// at first) and fail over to the next one when it times out or refuses.
pub struct AnyNode {
    target: u32,
    nodes: u32,
}

impl Routing for AnyNode {
    fn pick(&mut self, _key: u64) -> NodeId {
        NodeId(self.target)
    }
    fn redirected(&mut self, _from: NodeId, _hint: Option<NodeId>) -> Option<NodeId> {
        self.target = (self.target + 1) % self.nodes.max(1);
        Some(NodeId(self.target))
    }
    fn timed_out(&mut self, _key: u64) {
        self.target = (self.target + 1) % self.nodes.max(1);
    }
}

/// A key goes to its owner on the ring; after a timeout or refusal, to the
/// next distinct node on the ring, until some node answers.
pub struct ConsistentHash {
    ring: HashRing,
    /// Owners to skip: how many nodes have failed since the last answer.
    skip: usize,
}

impl Routing for ConsistentHash {
    fn pick(&mut self, key: u64) -> NodeId {
        let skip = self.skip % self.ring.nodes().max(1) as usize;
        NodeId(self.ring.successors(key).nth(skip).unwrap_or(0))
    }
    fn answered(&mut self, _from: NodeId) {
        self.skip = 0;
    }
    fn redirected(&mut self, _from: NodeId, hint: Option<NodeId>) -> Option<NodeId> {
        self.skip += 1;
        hint
    }
    fn timed_out(&mut self, _key: u64) {
        self.skip += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_redirect_follows_hints_and_rotates_without_one() {
        let mut r = RoutingKind::LeaderRedirect.build(1, 3);
        assert_eq!(r.pick(0), NodeId(1));
        assert_eq!(r.redirected(NodeId(1), Some(NodeId(2))), Some(NodeId(2)));
        assert_eq!(r.pick(0), NodeId(2));
        // A hint naming the node already tried is no help: rotate, back off.
        assert_eq!(r.redirected(NodeId(2), Some(NodeId(2))), None);
        assert_eq!(r.pick(0), NodeId(0));
        r.timed_out(0);
        assert_eq!(r.pick(0), NodeId(1));
        r.answered(NodeId(2));
        assert_eq!(r.pick(0), NodeId(2));
    }

    #[test]
    fn consistent_hash_fails_over_along_the_ring_and_returns_after_an_answer() {
        let mut r = RoutingKind::ConsistentHash { replicas: 20 }.build(0, 4);
        let ring = HashRing::new(4, 20);
        let order: Vec<u32> = ring.successors(42).collect();
        assert_eq!(r.pick(42), NodeId(order[0]));
        r.timed_out(42);
        assert_eq!(r.pick(42), NodeId(order[1]));
        r.answered(NodeId(order[1]));
        assert_eq!(r.pick(42), NodeId(order[0]));
    }
}
