//! The network model: per-link latency, loss, duplication and reordering;
//! directed cuts for partitions; and the two link kinds.
//!
//! *Datagram* links lose, duplicate and reorder. *Session* links behave like
//! TCP: FIFO per direction, no loss or duplication, and a partition or crash
//! breaks the connection — messages in flight on it are discarded and both
//! ends are told. Clients reach the cluster through a *home* node: a client is
//! on its home node's side of any partition.

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
        }
    }
}

/// What the network decided for one send.
pub enum Fate {
    /// Lost (loss draw or a cut link).
    Dropped { cut: bool },
    /// Deliver after `delay`; `copy_delay` is a duplicate's delay, if any.
    Deliver { delay: Duration, copy_delay: Option<Duration>, connection: u32 },
}

pub struct Network {
    nodes: usize,
    /// `links[from * nodes + to]` indexes `configs`.
    links: Vec<u16>,
    configs: Vec<LinkConfig>,
    /// `cut[from * nodes + to]`: traffic from → to is blocked.
    cut: Vec<bool>,
    pub(crate) any_cut: bool,
    /// Session links: connection epoch per unordered process pair, and the
    /// latest scheduled delivery per directed pair (for FIFO).
    epochs: Vec<u32>,
    /// Whether a session pair carried traffic since it last broke; only a
    /// connection that was up can be broken (and reported).
    up: Vec<bool>,
    last_delivery: Vec<Time>,
    processes: usize,
    home: Vec<u32>,
    /// Set for the liveness phase: loss, duplication and reordering stop.
    pub(crate) quiet: bool,
}

impl Network {
    /// `home[c]` is client `c`'s home node.
    pub fn new(nodes: u32, home: Vec<u32>, default: LinkConfig) -> Network {
        let n = nodes as usize;
        let processes = n + home.len();
        Network {
            nodes: n,
            links: vec![0; n * n],
            configs: vec![default],
            cut: vec![false; n * n],
            any_cut: false,
            epochs: vec![0; processes * processes],
            up: vec![false; processes * processes],
            last_delivery: vec![Time::ZERO; processes * processes],
            processes,
            home,
            quiet: false,
        }
    }

    /// Overrides the link from → to.
    pub fn set_link(&mut self, from: u32, to: u32, config: LinkConfig) {
        let idx = match self.configs.iter().position(|c| *c == config) {
            Some(i) => i,
            None => {
                self.configs.push(config);
                self.configs.len() - 1
            }
        };
        self.links[from as usize * self.nodes + to as usize] = idx as u16;
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

    fn pair(&self, a: Addr, b: Addr) -> usize {
        let (x, y) = (self.process_index(a), self.process_index(b));
        let (lo, hi) = if x < y { (x, y) } else { (y, x) };
        lo * self.processes + hi
    }

    pub fn is_cut(&self, from: Addr, to: Addr) -> bool {
        if !self.any_cut {
            return false;
        }
        let (a, b) = (self.location(from), self.location(to));
        a != b && self.cut[a * self.nodes + b]
    }

    pub fn link(&self, from: Addr, to: Addr) -> &LinkConfig {
        let (a, b) = (self.location(from), self.location(to));
        &self.configs[self.links[a * self.nodes + b] as usize]
    }

    /// Decides what happens to a message sent now.
    #[inline]
    pub fn route(&mut self, now: Time, from: Addr, to: Addr, rng: &mut SimRng) -> Fate {
        if self.is_cut(from, to) {
            return Fate::Dropped { cut: true };
        }
        let quiet = self.quiet;
        let a = self.location(from);
        let b = self.location(to);
        let link = &self.configs[self.links[a * self.nodes + b] as usize];
        match link.kind {
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
                Fate::Deliver { delay, copy_delay, connection: u32::MAX }
            }
            LinkKind::Session => {
                let delay = link.latency.sample(rng);
                let directed = self.process_index(from) * self.processes + self.process_index(to);
                let at = (now + delay).max(self.last_delivery[directed]);
                self.last_delivery[directed] = at;
                let pair = self.pair(from, to);
                self.up[pair] = true;
                let connection = self.epochs[pair];
                Fate::Deliver { delay: at - now, copy_delay: None, connection }
            }
        }
    }

    /// Whether a message that was routed on `connection` may still arrive.
    #[inline]
    pub fn connection_alive(&self, from: Addr, to: Addr, connection: u32) -> bool {
        connection == u32::MAX || self.epochs[self.pair(from, to)] == connection
    }

    fn is_session(&self, a: Addr, b: Addr) -> bool {
        self.link(a, b).kind == LinkKind::Session || self.link(b, a).kind == LinkKind::Session
    }

    /// Breaks the session between two processes; true if it was a session link.
    pub fn break_connection(&mut self, a: Addr, b: Addr) -> bool {
        if !self.is_session(a, b) {
            return false;
        }
        let p = self.pair(a, b);
        self.epochs[p] = self.epochs[p].wrapping_add(1);
        std::mem::replace(&mut self.up[p], false)
    }

    /// Every process address, nodes first.
    pub fn addresses(&self) -> impl Iterator<Item = Addr> + '_ {
        (0..self.nodes as u32).map(Addr::node).chain((0..self.home.len() as u32).map(Addr::client))
    }

    /// Blocks from → to for every from in `a`, to in `b`. Returns the session
    /// pairs this newly cut, so both ends can be told.
    pub fn cut_oneway(&mut self, a: &[u32], b: &[u32]) -> Vec<(Addr, Addr)> {
        for &x in a {
            for &y in b {
                if x != y {
                    self.cut[x as usize * self.nodes + y as usize] = true;
                    self.any_cut = true;
                }
            }
        }
        self.broken_sessions()
    }

    /// Sessions that cross a cut in either direction and are still up get
    /// broken; returns them.
    fn broken_sessions(&mut self) -> Vec<(Addr, Addr)> {
        let addrs: Vec<Addr> = self.addresses().collect();
        let mut broken = Vec::new();
        for (i, &x) in addrs.iter().enumerate() {
            for &y in &addrs[i + 1..] {
                if matches!((x, y), (Addr::Client(_), Addr::Client(_))) {
                    continue;
                }
                if (self.is_cut(x, y) || self.is_cut(y, x)) && self.break_connection(x, y) {
                    broken.push((x, y));
                }
            }
        }
        broken
    }

    pub fn heal(&mut self) {
        self.cut.iter_mut().for_each(|c| *c = false);
        self.any_cut = false;
    }

    pub fn nodes(&self) -> u32 {
        self.nodes as u32
    }
}
