//! The node API. A process — a protocol node or a simulated client — is a
//! sans-I/O state machine: it reacts to `on_start`, `on_message` and
//! `on_timer`, and every effect it has goes through the [`Ctx`] it is handed.
//! It never sees the event queue, the network or another process, so the same
//! code runs unchanged under every fault model.
//!
//! State that must survive a crash lives in the process's `Durable` type,
//! which the engine owns and lends out through [`Ctx::durable_mut`]; writing
//! it is the simulated fsync. A crash drops the process value (its volatile
//! state) and keeps the durable value; a restart builds a new process from it.
//! With a disk model ([`crate::disk`]) writes take time, and a crash keeps
//! only the writes that finished.

use std::fmt;
use std::hash::Hash;

use serde::Serialize;

use crate::coverage::Coverage;
use crate::metrics::Metrics;
use crate::rng::SimRng;
use crate::time::{Duration, Time};

/// A protocol node, numbered from 0.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct NodeId(pub u32);

/// A simulated client, numbered from 0.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ClientId(pub u32);

/// Where a message comes from or goes to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Addr {
    Node(NodeId),
    Client(ClientId),
}

impl Addr {
    pub fn node(i: u32) -> Addr {
        Addr::Node(NodeId(i))
    }
    pub fn client(i: u32) -> Addr {
        Addr::Client(ClientId(i))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}
impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}
impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Node(n) => n.fmt(f),
            Addr::Client(c) => c.fmt(f),
        }
    }
}

/// A message a process sends. `Hash` feeds the run fingerprint, so two runs
/// that differ only in message contents still get different fingerprints.
pub trait Message: Clone + fmt::Debug + Hash {
    /// A short name for traces and diagrams, e.g. `"AppendEntries"`.
    fn label(&self) -> &'static str;
}

/// A role a node reports, so faults can target "the current leader".
pub type Role = &'static str;

/// A sans-I/O state machine hosted by the engine.
pub trait Process: Sized {
    type Msg: Message;
    type Timer: Clone + fmt::Debug + Hash;
    /// What survives a crash. `Default` is the state of a fresh disk. The
    /// disk model clones it once per write to know what a crash would keep.
    type Durable: Default + Clone;
    /// Facts the process reports for online checkers (e.g. "became leader of
    /// term 3"). Checkers live apart from the process and read only these.
    type Note: fmt::Debug;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>);
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: Self::Msg);
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Self::Timer);
    /// An ordered session link to `peer` broke (partition or crash). Only
    /// session links report this; datagram links fail silently.
    fn on_link_down(&mut self, _ctx: &mut Ctx<'_, Self>, _peer: Addr) {}
    /// A write made through [`Ctx::durable_mut_async`] with this `token` is
    /// durable.
    fn on_durable(&mut self, _ctx: &mut Ctx<'_, Self>, _token: u64) {}
    /// The role this process plays now; `""` when the protocol has none.
    fn role(&self) -> Role {
        ""
    }
}

/// Handle of a pending timer, for cancelling it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

/// Timer slots with generation counters: cancelling bumps the generation, so
/// the queued event is recognised as stale when it pops (lazy cancellation).
#[derive(Default)]
pub(crate) struct TimerTable {
    generations: Vec<u32>,
    live: Vec<bool>,
    free: Vec<u32>,
}

impl TimerTable {
    pub(crate) fn allocate(&mut self) -> TimerId {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.generations.push(0);
                self.live.push(false);
                (self.generations.len() - 1) as u32
            }
        };
        self.live[slot as usize] = true;
        TimerId { slot, generation: self.generations[slot as usize] }
    }
    /// Ends a timer; true if it was still pending.
    pub(crate) fn release(&mut self, id: TimerId) -> bool {
        let s = id.slot as usize;
        if self.generations[s] == id.generation && self.live[s] {
            self.generations[s] = self.generations[s].wrapping_add(1);
            self.live[s] = false;
            self.free.push(id.slot);
            true
        } else {
            false
        }
    }
}

/// One message sent to several processes: the payload is kept once.
pub(crate) struct Multicast<M> {
    /// How many single sends came before it, so the engine transmits
    /// everything in the order the handler sent it.
    pub(crate) after_sends: usize,
    /// The recipients: `Outbox::targets[targets]`.
    pub(crate) targets: std::ops::Range<usize>,
    pub(crate) msg: M,
}

/// Effects a handler produced, applied by the engine when it returns.
pub(crate) struct Outbox<P: Process> {
    pub(crate) sends: Vec<(Addr, P::Msg)>,
    pub(crate) multicasts: Vec<Multicast<P::Msg>>,
    pub(crate) targets: Vec<Addr>,
    pub(crate) timers: Vec<(Duration, TimerId, P::Timer)>,
    pub(crate) notes: Vec<P::Note>,
    pub(crate) client_events: Vec<(ClientEventKind, u64)>,
    /// Tokens of asynchronous writes, called back when durable.
    pub(crate) durable_tokens: Vec<u64>,
}

impl<P: Process> Default for Outbox<P> {
    fn default() -> Self {
        Outbox {
            sends: Vec::new(),
            multicasts: Vec::new(),
            targets: Vec::new(),
            timers: Vec::new(),
            notes: Vec::new(),
            client_events: Vec::new(),
            durable_tokens: Vec::new(),
        }
    }
}

/// Client-operation boundaries, for traces and fingerprints.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClientEventKind {
    Invoke,
    Complete,
}

/// Everything a handler may do. Handed to each call; holds nothing between.
pub struct Ctx<'a, P: Process> {
    pub(crate) me: Addr,
    pub(crate) now_local: Time,
    pub(crate) now_true: Time,
    pub(crate) clock_rate: f64,
    pub(crate) nodes: u32,
    pub(crate) clients: u32,
    pub(crate) rng: &'a mut SimRng,
    pub(crate) durable: &'a mut P::Durable,
    pub(crate) out: &'a mut Outbox<P>,
    pub(crate) timers: &'a mut TimerTable,
    pub(crate) metrics: &'a mut Metrics,
    pub(crate) coverage: &'a mut Coverage,
    /// Which effects beyond plain sends and notes the handler left, as
    /// `EFFECT_*` bits, so the engine tests one byte instead of every
    /// effect list. (Notes are not flagged: a handler that reports several
    /// facts would pay a flag per fact to save one test.)
    pub(crate) effects: u8,
}

/// The handler wrote durable state synchronously: its messages wait.
pub(crate) const WROTE_SYNC: u8 = 1;
/// The handler wrote durable state asynchronously: it wants a callback.
pub(crate) const WROTE_ASYNC: u8 = 2;
/// Some node has a disk model, so every handler's effects go past it (set
/// by the engine before the handler runs).
pub(crate) const EFFECT_DISK: u8 = 4;
/// The handler set a timer.
pub(crate) const EFFECT_TIMERS: u8 = 8;
/// The handler sent one message to several recipients.
pub(crate) const EFFECT_MULTICASTS: u8 = 16;
/// The handler marked client operations.
pub(crate) const EFFECT_CLIENT: u8 = 32;
/// The effects handled before the handler's sends leave.
pub(crate) const EFFECTS_BEFORE_SENDS: u8 = WROTE_SYNC | WROTE_ASYNC | EFFECT_DISK | EFFECT_TIMERS | EFFECT_MULTICASTS;

impl<'a, P: Process> Ctx<'a, P> {
    /// This process's address.
    pub fn me(&self) -> Addr {
        self.me
    }
    /// The local clock: true time as this process's (possibly drifting) clock
    /// reads it.
    pub fn now(&self) -> Time {
        self.now_local
    }
    /// The true virtual time, for metrics and history only — a protocol that
    /// bases decisions on it is cheating.
    pub fn true_now(&self) -> Time {
        self.now_true
    }
    /// How many protocol nodes the cluster has.
    pub fn node_count(&self) -> u32 {
        self.nodes
    }
    pub fn client_count(&self) -> u32 {
        self.clients
    }
    /// A node chosen uniformly among the others (among all, for a client),
    /// from this process's random stream; `None` when there is none.
    pub fn random_peer(&mut self) -> Option<Addr> {
        use rand::Rng;
        let n = self.nodes;
        match self.me {
            Addr::Node(me) => {
                if n < 2 {
                    return None;
                }
                let to = self.rng.gen_range(0..n - 1);
                Some(Addr::node(if to >= me.0 { to + 1 } else { to }))
            }
            Addr::Client(_) => (n > 0).then(|| Addr::node(self.rng.gen_range(0..n))),
        }
    }
    /// Every node id, in order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.nodes).map(NodeId)
    }

    /// Sends `msg` to `to` over the network.
    pub fn send(&mut self, to: Addr, msg: P::Msg) {
        self.out.sends.push((to, msg));
    }
    /// Sends one `msg` to each of `to`, in that order, exactly as a `send`
    /// per recipient would (same network draws, same trace), but the engine
    /// keeps the payload once and clones it only for a delivery.
    pub fn send_many(&mut self, to: impl IntoIterator<Item = Addr>, msg: P::Msg) {
        let start = self.out.targets.len();
        self.out.targets.extend(to);
        let end = self.out.targets.len();
        match end - start {
            0 => {}
            1 => {
                if let Some(to) = self.out.targets.pop() {
                    self.out.sends.push((to, msg));
                }
            }
            _ => {
                self.effects |= EFFECT_MULTICASTS;
                self.out.multicasts.push(Multicast { after_sends: self.out.sends.len(), targets: start..end, msg });
            }
        }
    }
    /// Sends `msg` to every node but this one.
    pub fn broadcast(&mut self, msg: P::Msg) {
        let me = self.me;
        self.send_many((0..self.nodes).map(Addr::node).filter(|&to| to != me), msg);
    }

    /// Fires `timer` after `delay` as measured by this process's clock.
    pub fn set_timer(&mut self, delay: Duration, timer: P::Timer) -> TimerId {
        let id = self.timers.allocate();
        let real = if self.clock_rate == 1.0 { delay } else { delay.mul_f64(1.0 / self.clock_rate) };
        self.effects |= EFFECT_TIMERS;
        self.out.timers.push((real, id, timer));
        id
    }
    /// Cancels a pending timer; a timer that already fired is ignored.
    pub fn cancel_timer(&mut self, id: TimerId) {
        self.timers.release(id);
    }

    /// This process's random stream.
    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }
    /// A uniform draw from `[low, high]`.
    pub fn random_between(&mut self, low: Duration, high: Duration) -> Duration {
        if high <= low {
            return low;
        }
        Duration::from_nanos(crate::rng::uniform_inclusive(self.rng, low.as_nanos(), high.as_nanos()))
    }

    /// Durable state as last persisted.
    pub fn durable(&self) -> &P::Durable {
        self.durable
    }
    /// Durable state for writing, persisted synchronously. Without a disk
    /// model the write survives a crash any time after this handler returns;
    /// with one it survives once the disk has written it, and every message
    /// this node sends from now on leaves only after that.
    pub fn durable_mut(&mut self) -> &mut P::Durable {
        self.effects |= WROTE_SYNC;
        self.durable
    }
    /// Durable state for writing, persisted asynchronously: messages do not
    /// wait for the write, and [`Process::on_durable`] is called with `token`
    /// once it is durable (right after this handler without a disk model).
    /// A crash before then loses the write and the callback.
    pub fn durable_mut_async(&mut self, token: u64) -> &mut P::Durable {
        self.effects |= WROTE_ASYNC;
        self.out.durable_tokens.push(token);
        self.durable
    }

    /// Reports a fact to the online checkers.
    pub fn note(&mut self, note: P::Note) {
        self.out.notes.push(note);
    }
    /// Adds to a named counter.
    pub fn count(&mut self, name: &'static str, delta: u64) {
        self.metrics.count(name, delta);
    }
    /// Marks a coverage point: a rare path this handler has just taken
    /// ("install snapshot to a follower holding later entries"). Reports list
    /// how often each point was reached and which were never reached. Only
    /// counted: it changes neither the trace nor the fingerprint.
    #[inline]
    pub fn reached(&mut self, point: &'static str) {
        self.coverage.reach(point);
    }
    /// Raises a named counter to `value` if it is higher (a peak gauge).
    pub fn observe_max(&mut self, name: &'static str, value: u64) {
        self.metrics.set_max(name, value);
    }
    /// Records a value in a named histogram.
    pub fn record(&mut self, name: &'static str, value: u64) {
        self.metrics.record(name, value);
    }
    /// Marks a client operation's invocation (`op` is the client's own id).
    pub fn client_invoke(&mut self, op: u64) {
        self.effects |= EFFECT_CLIENT;
        self.out.client_events.push((ClientEventKind::Invoke, op));
    }
    /// Marks a client operation's completion.
    pub fn client_complete(&mut self, op: u64) {
        self.effects |= EFFECT_CLIENT;
        self.out.client_events.push((ClientEventKind::Complete, op));
    }
}
