//! The network model: per-link latency, loss, duplication and reordering;
//! partitions and one-way cuts; and the two link kinds.
//!
//! *Datagram* links lose, duplicate and reorder. *Session* links behave like
//! TCP: FIFO per direction, no loss or duplication, and a partition or crash
//! breaks the connection — messages in flight on it are discarded and both
//! ends are told. Clients reach the cluster through a *home* node: a client is
//! on its home node's side of any partition.
//!
//! State grows with nodes + clients + link overrides + sessions in use, never
//! with their square, so a world of a million nodes fits: one default link and
//! an ordered map of overridden links; each partition in force is one group
//! label per node; each one-way cut is two node sets; session state exists
//! only for the sessions up now (a broken one is forgotten). Every map that is
//! ever iterated is ordered (`BTreeMap`/`BTreeSet`), so nothing depends on
//! hashing order; the session states themselves, looked up twice per message
//! and never iterated, sit in a hash map with a fixed hasher (the live pair
//! sets give their order).

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::process::Addr;
use crate::rng::{Latency, Probability, SimRng};
use crate::time::{Duration, Time};

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    Datagram,
    Session,
}

/// How one directed link behaves.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinkConfig {
    pub kind: LinkKind,
    pub latency: Latency,
    pub loss: Probability,
    pub duplicate: Probability,
    /// Chance that a message is held back by `reorder_delay` extra, enough to
    /// be overtaken by later ones.
    pub reorder: Probability,
    pub reorder_delay: Duration,
    /// Chance that a message is held far longer than any latency: an extra
    /// delay drawn uniformly from `hold_min..=hold_max` (a stalled route, a
    /// buffer flushed late). On a session link a held message holds back
    /// the ones behind it.
    pub hold: Probability,
    pub hold_min: Duration,
    pub hold_max: Duration,
}

impl LinkConfig {
    /// Whether this link never loses, duplicates, reorders or holds.
    fn is_calm(&self) -> bool {
        self.loss.is_zero() && self.duplicate.is_zero() && self.reorder.is_zero() && self.hold.is_zero()
    }
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            kind: LinkKind::Datagram,
            latency: Latency::Constant { value: Duration::from_millis(1) },
            loss: Probability::ZERO,
            duplicate: Probability::ZERO,
            reorder: Probability::ZERO,
            reorder_delay: Duration::from_millis(10),
            hold: Probability::ZERO,
            hold_min: Duration::from_secs(1),
            hold_max: Duration::from_secs(1),
        }
    }
}

impl LinkConfig {
    /// The extra delay of one held message.
    #[inline(never)]
    fn held_for(&self, rng: &mut SimRng) -> Duration {
        Duration::from_nanos(
            rng.gen_range(self.hold_min.as_nanos()..=self.hold_max.as_nanos().max(self.hold_min.as_nanos())),
        )
    }
}

/// What the network decided for one send.
pub enum Fate {
    /// Lost (loss draw or a cut link).
    Dropped { cut: bool },
    /// Deliver after `delay`; `copy_delay` is a duplicate's delay, if any.
    Deliver { delay: Duration, copy_delay: Option<Duration>, connection: u32 },
}

/// Names one partition or one-way cut in force, so that undoing the fault
/// that made it removes that one and leaves the others standing.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CutId(pub u64);

/// A set of nodes as a bitset: membership is one load, whatever its size.
#[derive(Clone, Debug)]
struct NodeSet {
    words: Vec<u64>,
}

impl NodeSet {
    fn new(nodes: usize, members: &[u32]) -> NodeSet {
        let mut words = vec![0u64; nodes.div_ceil(64)];
        for &m in members {
            if (m as usize) < nodes {
                words[m as usize / 64] |= 1 << (m % 64);
            }
        }
        NodeSet { words }
    }
    #[inline]
    fn contains(&self, node: usize) -> bool {
        self.words.get(node / 64).is_some_and(|w| w & (1 << (node % 64)) != 0)
    }
}

/// What blocks traffic: a partition (nodes with different labels cannot
/// reach each other) or a one-way cut (`from` cannot reach `to`).
#[derive(Clone, Debug)]
enum Barrier {
    Partition { label: Vec<u32> },
    Oneway { from: NodeSet, to: NodeSet },
}

impl Barrier {
    /// Whether traffic from node `a` to node `b` (distinct) is blocked.
    #[inline]
    fn blocks(&self, a: usize, b: usize) -> bool {
        match self {
            Barrier::Partition { label } => label[a] != label[b],
            Barrier::Oneway { from, to } => from.contains(a) && to.contains(b),
        }
    }
}

/// One session that is up: its connection (a number no other connection of
/// the run shares, so a message sent on a broken connection is recognised
/// when it arrives) and the latest scheduled delivery per direction for FIFO
/// (`[0]` from the lower process index to the higher, `[1]` back). A session
/// exists from its first message until it breaks, so session state grows
/// with the sessions up, not with every pair that ever talked.
#[derive(Clone, Debug)]
struct Session {
    connection: u32,
    last_delivery: [Time; 2],
}

pub struct Network {
    nodes: usize,
    /// The default link is `configs[0]`; overrides index into `configs`.
    configs: Vec<LinkConfig>,
    /// Per entry of `configs`: whether it can lose, duplicate, reorder or
    /// hold nothing, so a message on it draws only its latency (as the
    /// full path would: a zero rate draws nothing).
    calm: Vec<bool>,
    /// Directed node pairs whose link is not the default.
    overrides: BTreeMap<(u32, u32), u32>,
    /// Partitions and cuts in force, in the order they were made.
    barriers: Vec<(CutId, Barrier)>,
    next_cut: u64,
    /// Whether any barrier stands: the hot path checks only this.
    pub(crate) any_cut: bool,
    /// Sessions up, by unordered process pair `(lower, higher)` index.
    /// Never iterated: [`Network::live`] holds the same pairs in order.
    sessions: FxHashMap<(u32, u32), Session>,
    /// The number the next connection gets.
    next_connection: u32,
    /// The pairs whose session is up, and the same pairs reversed, so the
    /// sessions of one process are a range of either set.
    live: BTreeSet<(u32, u32)>,
    live_reversed: BTreeSet<(u32, u32)>,
    home: Vec<u32>,
    /// Set for the liveness phase: loss, duplication and reordering stop.
    pub(crate) quiet: bool,
}

impl Network {
    /// `home[c]` is client `c`'s home node.
    pub fn new(nodes: u32, home: Vec<u32>, default: LinkConfig) -> Network {
        assert!(
            (nodes as u64) + (home.len() as u64) <= u64::from(u32::MAX),
            "nodes + clients must fit a 32-bit process index"
        );
        Network {
            nodes: nodes as usize,
            calm: vec![default.is_calm()],
            configs: vec![default],
            overrides: BTreeMap::new(),
            barriers: Vec::new(),
            next_cut: 0,
            any_cut: false,
            sessions: FxHashMap::default(),
            next_connection: 0,
            live: BTreeSet::new(),
            live_reversed: BTreeSet::new(),
            home,
            quiet: false,
        }
    }

    /// Overrides the link from → to.
    pub fn set_link(&mut self, from: u32, to: u32, config: LinkConfig) {
        let idx = match self.configs.iter().position(|c| *c == config) {
            Some(i) => i,
            None => {
                self.calm.push(config.is_calm());
                self.configs.push(config);
                self.configs.len() - 1
            }
        };
        if idx == 0 {
            self.overrides.remove(&(from, to));
        } else {
            self.overrides.insert((from, to), idx as u32);
        }
    }

    /// The node a process stands at: itself, or a client's home.
    #[inline]
    fn location(&self, a: Addr) -> usize {
        match a {
            Addr::Node(n) => n.0 as usize,
            Addr::Client(c) => self.home[c.0 as usize] as usize,
        }
    }

    #[inline]
    pub fn process_index(&self, a: Addr) -> usize {
        match a {
            Addr::Node(n) => n.0 as usize,
            Addr::Client(c) => self.nodes + c.0 as usize,
        }
    }

    /// The process at a process index (the inverse of `process_index`).
    fn address(&self, index: u32) -> Addr {
        if (index as usize) < self.nodes {
            Addr::node(index)
        } else {
            Addr::client(index - self.nodes as u32)
        }
    }

    /// The unordered pair key of two processes, and whether `a` is the
    /// higher index (the direction slot of `a → b`).
    #[inline]
    fn pair(&self, a: Addr, b: Addr) -> ((u32, u32), usize) {
        let (x, y) = (self.process_index(a) as u32, self.process_index(b) as u32);
        if x <= y {
            ((x, y), 0)
        } else {
            ((y, x), 1)
        }
    }

    #[inline(always)]
    pub fn is_cut(&self, from: Addr, to: Addr) -> bool {
        self.any_cut && self.crosses_barrier(from, to)
    }

    /// The slow half of `is_cut`, kept out of line so the common case (no
    /// partition in force) stays a single test in the hot loop.
    #[inline(never)]
    fn crosses_barrier(&self, from: Addr, to: Addr) -> bool {
        let (a, b) = (self.location(from), self.location(to));
        a != b && self.barriers.iter().any(|(_, barrier)| barrier.blocks(a, b))
    }

    #[inline(always)]
    fn link_index(&self, a: usize, b: usize) -> usize {
        if self.overrides.is_empty() {
            return 0;
        }
        self.overrides.get(&(a as u32, b as u32)).map_or(0, |&i| i as usize)
    }

    pub fn link(&self, from: Addr, to: Addr) -> &LinkConfig {
        let (a, b) = (self.location(from), self.location(to));
        &self.configs[self.link_index(a, b)]
    }

    /// Decides what happens to a message sent now. The draws from `rng` come
    /// in a fixed order — loss, latency, reorder, duplicate, the duplicate's
    /// latency, hold — which run fingerprints depend on. A zero rate draws
    /// nothing, so a link without holds routes as it always did.
    #[inline(always)]
    pub fn route(&mut self, now: Time, from: Addr, to: Addr, rng: &mut SimRng) -> Fate {
        if self.is_cut(from, to) {
            return Fate::Dropped { cut: true };
        }
        let quiet = self.quiet;
        let a = self.location(from);
        let b = self.location(to);
        let index = self.link_index(a, b);
        let link = &self.configs[index];
        match link.kind {
            LinkKind::Datagram if quiet || self.calm[index] => {
                Fate::Deliver { delay: link.latency.sample(rng), copy_delay: None, connection: u32::MAX }
            }
            LinkKind::Datagram => {
                if !quiet && link.loss.sample(rng) {
                    return Fate::Dropped { cut: false };
                }
                let mut delay = link.latency.sample(rng);
                if !quiet && link.reorder.sample(rng) {
                    delay = delay + link.reorder_delay;
                }
                let copy_delay =
                    if !quiet && link.duplicate.sample(rng) { Some(link.latency.sample(rng)) } else { None };
                if !quiet && link.hold.sample(rng) {
                    delay = delay + link.held_for(rng);
                }
                Fate::Deliver { delay, copy_delay, connection: u32::MAX }
            }
            LinkKind::Session => {
                let mut delay = link.latency.sample(rng);
                if !quiet && link.hold.sample(rng) {
                    delay = delay + link.held_for(rng);
                }
                self.route_session(now, from, to, delay)
            }
        }
    }

    /// A session link delivers in FIFO order on the pair's connection, which
    /// comes up with its first message.
    #[inline(never)]
    fn route_session(&mut self, now: Time, from: Addr, to: Addr, delay: Duration) -> Fate {
        let (key, direction) = self.pair(from, to);
        let session = match self.sessions.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                // u32::MAX marks a datagram; connection numbers skip it.
                let connection = self.next_connection;
                self.next_connection = self.next_connection.wrapping_add(1) % u32::MAX;
                self.live.insert(key);
                self.live_reversed.insert((key.1, key.0));
                e.insert(Session { connection, last_delivery: [Time::ZERO; 2] })
            }
        };
        let at = (now + delay).max(session.last_delivery[direction]);
        session.last_delivery[direction] = at;
        Fate::Deliver { delay: at - now, copy_delay: None, connection: session.connection }
    }

    /// Whether a message that was routed on `connection` may still arrive.
    #[inline(always)]
    pub fn connection_alive(&self, from: Addr, to: Addr, connection: u32) -> bool {
        connection == u32::MAX || self.session_connection(from, to) == Some(connection)
    }

    #[inline(never)]
    fn session_connection(&self, from: Addr, to: Addr) -> Option<u32> {
        self.sessions.get(&self.pair(from, to).0).map(|s| s.connection)
    }

    fn is_session(&self, a: Addr, b: Addr) -> bool {
        self.link(a, b).kind == LinkKind::Session || self.link(b, a).kind == LinkKind::Session
    }

    /// Breaks the session between two processes; true if it was up (and both
    /// ends must be told).
    pub fn break_connection(&mut self, a: Addr, b: Addr) -> bool {
        if !self.is_session(a, b) {
            return false;
        }
        let key = self.pair(a, b).0;
        // A pair with no session up has nothing in flight to discard.
        if self.sessions.remove(&key).is_none() {
            return false;
        }
        self.live.remove(&key);
        self.live_reversed.remove(&(key.1, key.0));
        true
    }

    /// Breaks every session of `a` that is up; returns the peers, in order.
    pub fn break_sessions_of(&mut self, a: Addr) -> Vec<Addr> {
        let me = self.process_index(a) as u32;
        let mut peers: Vec<u32> = self.live_reversed.range((me, 0)..=(me, u32::MAX)).map(|&(_, lo)| lo).collect();
        peers.extend(self.live.range((me, 0)..=(me, u32::MAX)).map(|&(_, hi)| hi));
        let mut broken = Vec::new();
        for peer in peers {
            let peer = self.address(peer);
            if self.break_connection(a, peer) {
                broken.push(peer);
            }
        }
        broken
    }

    /// How many sessions are up now.
    pub fn live_sessions(&self) -> usize {
        self.live.len()
    }

    /// Every process address, nodes first.
    pub fn addresses(&self) -> impl Iterator<Item = Addr> + '_ {
        (0..self.nodes as u32).map(Addr::node).chain((0..self.home.len() as u32).map(Addr::client))
    }

    fn add_barrier(&mut self, barrier: Barrier) -> CutId {
        let id = CutId(self.next_cut);
        self.next_cut += 1;
        self.barriers.push((id, barrier));
        self.any_cut = true;
        id
    }

    /// Splits the nodes by `label`: nodes with different labels cannot reach
    /// each other (one label per node). Returns the partition's id and the
    /// session pairs it newly broke, so both ends can be told.
    pub fn partition(&mut self, label: Vec<u32>) -> (CutId, Vec<(Addr, Addr)>) {
        assert_eq!(label.len(), self.nodes, "one partition label per node");
        let id = self.add_barrier(Barrier::Partition { label });
        (id, self.broken_sessions())
    }

    /// Blocks from → to for every from in `a`, to in `b` (a node never cuts
    /// itself). Returns the cut's id and the session pairs it newly broke.
    pub fn cut(&mut self, a: &[u32], b: &[u32]) -> (CutId, Vec<(Addr, Addr)>) {
        let id =
            self.add_barrier(Barrier::Oneway { from: NodeSet::new(self.nodes, a), to: NodeSet::new(self.nodes, b) });
        (id, self.broken_sessions())
    }

    /// Blocks from → to for every from in `a`, to in `b`, until the next
    /// [`Network::heal`]. Returns the session pairs this newly cut.
    pub fn cut_oneway(&mut self, a: &[u32], b: &[u32]) -> Vec<(Addr, Addr)> {
        self.cut(a, b).1
    }

    /// Removes one partition or cut; the others stay. Sessions it broke stay
    /// broken (they reconnect on their next message). False if it was gone.
    pub fn remove_cut(&mut self, id: CutId) -> bool {
        let before = self.barriers.len();
        self.barriers.retain(|(b, _)| *b != id);
        self.any_cut = !self.barriers.is_empty();
        self.barriers.len() != before
    }

    /// Whether a partition or cut is still in force.
    pub fn has_cut(&self, id: CutId) -> bool {
        self.barriers.iter().any(|(b, _)| *b == id)
    }

    /// Sessions that are up and cross a barrier in either direction get
    /// broken; returns them in pair order. Walks the live sessions only, and
    /// rebuilds the live indexes in one pass rather than pair by pair: a
    /// partition of a large cluster may break most of them at once.
    fn broken_sessions(&mut self) -> Vec<(Addr, Addr)> {
        let crossing: Vec<(u32, u32)> = self
            .live
            .iter()
            .copied()
            .filter(|&(lo, hi)| {
                let (x, y) = (self.address(lo), self.address(hi));
                !matches!((x, y), (Addr::Client(_), Addr::Client(_)))
                    && (self.is_cut(x, y) || self.is_cut(y, x))
                    && self.is_session(x, y)
            })
            .collect();
        if crossing.is_empty() {
            return Vec::new();
        }
        for key in &crossing {
            self.sessions.remove(key);
        }
        let mut broken = crossing.iter().peekable();
        let kept: Vec<(u32, u32)> = self
            .live
            .iter()
            .copied()
            .filter(|key| {
                let is_broken = broken.peek() == Some(&key);
                if is_broken {
                    broken.next();
                }
                !is_broken
            })
            .collect();
        let mut reversed: Vec<(u32, u32)> = kept.iter().map(|&(lo, hi)| (hi, lo)).collect();
        reversed.sort_unstable();
        // Sorted input: both sets are built in bulk.
        self.live = kept.into_iter().collect();
        self.live_reversed = reversed.into_iter().collect();
        crossing.into_iter().map(|(lo, hi)| (self.address(lo), self.address(hi))).collect()
    }

    /// Removes every partition and cut.
    pub fn heal(&mut self) {
        self.barriers.clear();
        self.any_cut = false;
    }

    pub fn nodes(&self) -> u32 {
        self.nodes as u32
    }
}
