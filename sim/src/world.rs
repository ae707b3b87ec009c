//! The world: hosts the nodes and clients, owns the clock, the event queue,
//! the network and the fault schedule, and runs events in (time, sequence)
//! order until a bound or a violation ends the run.

use rand::Rng;
use serde::Serialize;

use crate::fault::{AppliedFault, FaultAction, NodeRef, ScheduledFault};
use crate::metrics::Metrics;
use crate::net::{Fate, LinkConfig, Network};
use crate::process::{
    Addr, ClientEventKind, ClientId, Ctx, Message, NodeId, Outbox, Process, Role, TimerId, TimerTable,
};
use crate::queue::EventQueue;
use crate::rng::{stream, SimRng, Stream};
use crate::time::{Duration, Time};
use crate::trace::{stable_hash, EventKind, Trace};

/// The bounds of a run. Every run has both.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct Limits {
    /// The run ends when the clock would pass this.
    pub max_time: Time,
    /// The run ends after this many events.
    pub max_events: u64,
}

/// Why a run stopped.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// Reached `max_time`: the normal end.
    TimeLimit,
    /// Reached `max_events` before `max_time`.
    EventLimit,
    /// Nothing left to happen.
    Quiescent,
    /// More events pending at once than the queue holds.
    QueueFull,
    /// An online check failed.
    Violation,
}

impl EndReason {
    pub fn describe(&self) -> &'static str {
        match self {
            EndReason::TimeLimit => "reached the time limit",
            EndReason::EventLimit => "hit the event limit (limits.max_events)",
            EndReason::Quiescent => "no events left",
            EndReason::QueueFull => "event queue full",
            EndReason::Violation => "stopped at a violation",
        }
    }
}

/// A broken invariant, found online or by a checker after the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Violation {
    pub check: String,
    pub at: Time,
    pub nodes: Vec<u32>,
    pub message: String,
}

/// An online checker: it reads the facts nodes report, never the nodes.
pub trait Monitor<N: Process> {
    fn on_note(&mut self, now: Time, node: NodeId, note: &N::Note) -> Option<Violation>;
    fn on_crash(&mut self, _now: Time, _node: NodeId) {}
    /// Called once when the run ends, to record what the monitor measured.
    fn finish(&mut self, _now: Time, _metrics: &mut Metrics) {}
}

/// Network counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NetStats {
    pub sent: u64,
    pub delivered: u64,
    pub dropped_loss: u64,
    pub dropped_partition: u64,
    pub dropped_crashed: u64,
    pub dropped_broken_session: u64,
    pub duplicated: u64,
    pub timers_fired: u64,
}

/// How to build a world.
pub struct WorldConfig {
    pub seed: u64,
    pub nodes: u32,
    /// One entry per client: its home node.
    pub client_homes: Vec<u32>,
    pub default_link: LinkConfig,
    pub link_overrides: Vec<(u32, u32, LinkConfig)>,
    pub faults: Vec<ScheduledFault>,
    pub limits: Limits,
    /// When the safety phase ends and the liveness phase begins: every fault
    /// is undone and loss, duplication and reordering stop.
    pub liveness_from: Option<Time>,
}

/// How a role-targeted fault found its node, for descriptions.
fn via(node: &NodeRef) -> String {
    match node {
        NodeRef::Id(_) => String::new(),
        other => format!(" ({other})"),
    }
}

enum Event<N: Process, C: Process<Msg = N::Msg>> {
    /// `id` is the message id the trace sink writes (see `Trace::message`).
    Deliver {
        from: Addr,
        to: Addr,
        connection: u32,
        hash: u64,
        id: u64,
        msg: N::Msg,
    },
    NodeTimer {
        node: u32,
        incarnation: u32,
        id: TimerId,
        timer: N::Timer,
    },
    ClientTimer {
        client: u32,
        id: TimerId,
        timer: C::Timer,
    },
    Fault(u32),
    LinkDown {
        at: Addr,
        peer: Addr,
    },
    Liveness,
}

struct NodeSlot<N: Process> {
    process: Option<N>,
    durable: N::Durable,
    rng: SimRng,
    incarnation: u32,
    paused: bool,
    clock_rate: f64,
    /// The local clock read `local_base` at true time `true_base`.
    true_base: Time,
    local_base: Time,
    role: Role,
}

impl<N: Process> NodeSlot<N> {
    fn local_now(&self, now: Time) -> Time {
        if self.clock_rate == 1.0 {
            self.local_base + now.since(self.true_base)
        } else {
            self.local_base + now.since(self.true_base).mul_f64(self.clock_rate)
        }
    }
}

struct ClientSlot<C: Process> {
    process: C,
    durable: C::Durable,
    rng: SimRng,
}

/// What a finished run reports.
#[derive(Clone, Debug, Serialize)]
pub struct RunOutcome {
    pub end: EndReason,
    pub events: u64,
    pub virtual_time: Time,
    pub fingerprint: u64,
    pub net: NetStats,
    pub faults: Vec<AppliedFault>,
    pub violation: Option<Violation>,
}

pub type Spawn<N> = Box<dyn FnMut(NodeId, &<N as Process>::Durable) -> N>;

pub struct World<N: Process, C: Process<Msg = N::Msg>> {
    now: Time,
    queue: EventQueue<Event<N, C>>,
    nodes: Vec<NodeSlot<N>>,
    held: Vec<Vec<Event<N, C>>>,
    clients: Vec<ClientSlot<C>>,
    net: Network,
    net_rng: SimRng,
    fault_rng: SimRng,
    timers: TimerTable,
    node_out: Outbox<N>,
    client_out: Outbox<C>,
    metrics: Metrics,
    trace: Trace,
    stats: NetStats,
    spawn: Spawn<N>,
    monitor: Option<Box<dyn Monitor<N>>>,
    faults: Vec<ScheduledFault>,
    applied: Vec<AppliedFault>,
    limits: Limits,
    events: u64,
    violation: Option<Violation>,
    queue_full: bool,
    started: bool,
    quiet_phase: bool,
}

impl<N: Process, C: Process<Msg = N::Msg>> World<N, C> {
    /// Builds a world; `spawn` makes a node from its durable state (fresh at
    /// start, recovered after a crash), `clients` are the client processes.
    pub fn new(config: WorldConfig, mut spawn: Spawn<N>, clients: Vec<C>) -> World<N, C> {
        assert_eq!(clients.len(), config.client_homes.len(), "one home node per client");
        let mut net = Network::new(config.nodes, config.client_homes, config.default_link);
        for (from, to, link) in config.link_overrides {
            net.set_link(from, to, link);
        }
        let nodes = (0..config.nodes)
            .map(|i| {
                let durable = N::Durable::default();
                NodeSlot {
                    process: Some(spawn(NodeId(i), &durable)),
                    durable,
                    rng: stream(config.seed, Stream::Node(i)),
                    incarnation: 0,
                    paused: false,
                    clock_rate: 1.0,
                    true_base: Time::ZERO,
                    local_base: Time::ZERO,
                    role: "",
                }
            })
            .collect();
        let clients = clients
            .into_iter()
            .enumerate()
            .map(|(i, process)| ClientSlot {
                process,
                durable: C::Durable::default(),
                rng: stream(config.seed, Stream::Client(i as u32)),
            })
            .collect();
        let mut world = World {
            now: Time::ZERO,
            queue: EventQueue::default(),
            nodes,
            held: (0..config.nodes).map(|_| Vec::new()).collect(),
            clients,
            net,
            net_rng: stream(config.seed, Stream::Network),
            fault_rng: stream(config.seed, Stream::Faults),
            timers: TimerTable::default(),
            node_out: Outbox::default(),
            client_out: Outbox::default(),
            metrics: Metrics::default(),
            trace: Trace::new(None),
            stats: NetStats::default(),
            spawn,
            monitor: None,
            faults: Vec::new(),
            applied: Vec::new(),
            limits: config.limits,
            events: 0,
            violation: None,
            queue_full: false,
            started: false,
            quiet_phase: false,
        };
        for fault in config.faults {
            world.schedule_fault(fault);
        }
        if let Some(at) = config.liveness_from {
            world.push(at, Event::Liveness);
        }
        world
    }

    /// Writes every event as a JSON line to `sink`.
    pub fn set_trace_sink(&mut self, sink: Box<dyn std::io::Write + Send>) {
        self.trace = Trace::new(Some(sink));
    }

    pub fn set_monitor(&mut self, monitor: Box<dyn Monitor<N>>) {
        self.monitor = Some(monitor);
    }

    pub fn now(&self) -> Time {
        self.now
    }
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    pub fn metrics_mut(&mut self) -> &mut Metrics {
        &mut self.metrics
    }
    pub fn net_stats(&self) -> &NetStats {
        &self.stats
    }
    /// A running node, or `None` while it is crashed.
    pub fn node(&self, id: u32) -> Option<&N> {
        self.nodes.get(id as usize).and_then(|n| n.process.as_ref())
    }
    pub fn durable(&self, id: u32) -> &N::Durable {
        &self.nodes[id as usize].durable
    }
    pub fn client(&self, id: u32) -> &C {
        &self.clients[id as usize].process
    }
    pub fn clients(&self) -> impl Iterator<Item = &C> {
        self.clients.iter().map(|c| &c.process)
    }
    pub fn applied_faults(&self) -> &[AppliedFault] {
        &self.applied
    }
    pub fn events(&self) -> u64 {
        self.events
    }
    /// Current role of each node (`""` when crashed or role-less).
    pub fn roles(&self) -> Vec<Role> {
        self.nodes.iter().map(|n| if n.process.is_some() { n.role } else { "" }).collect()
    }

    fn push(&mut self, at: Time, event: Event<N, C>) {
        if self.queue.push(at, event).is_err() {
            self.queue_full = true;
        }
    }

    fn schedule_fault(&mut self, fault: ScheduledFault) {
        let at = fault.at;
        self.faults.push(fault);
        let idx = (self.faults.len() - 1) as u32;
        self.push(at, Event::Fault(idx));
    }

    fn start(&mut self) {
        self.started = true;
        for i in 0..self.nodes.len() {
            self.trace.event(self.now, EventKind::Start, Some(Addr::node(i as u32)), None, "", 0, String::new);
            self.with_node(i, |p, ctx| p.on_start(ctx));
        }
        for i in 0..self.clients.len() {
            self.with_client(i, |p, ctx| p.on_start(ctx));
        }
    }

    /// Runs until a bound, a violation, or nothing is left to do.
    pub fn run(&mut self) -> RunOutcome {
        let end = self.run_until(self.limits.max_time);
        self.outcome(end)
    }

    /// Runs events up to and including `until` (capped at the run's limit).
    pub fn run_until(&mut self, until: Time) -> EndReason {
        if !self.started {
            self.start();
        }
        let until = until.min(self.limits.max_time);
        loop {
            if self.violation.is_some() {
                return EndReason::Violation;
            }
            if self.queue_full {
                return EndReason::QueueFull;
            }
            let Some(next) = self.queue.peek_time() else {
                return EndReason::Quiescent;
            };
            if next > until {
                self.now = until;
                return EndReason::TimeLimit;
            }
            if self.events >= self.limits.max_events {
                return EndReason::EventLimit;
            }
            let Some((at, event)) = self.queue.pop() else {
                return EndReason::Quiescent;
            };
            self.now = at;
            self.events += 1;
            self.handle(event);
        }
    }

    pub fn outcome(&mut self, end: EndReason) -> RunOutcome {
        let _ = self.trace.finish();
        if let Some(m) = self.monitor.as_mut() {
            m.finish(self.now, &mut self.metrics);
        }
        RunOutcome {
            end,
            events: self.events,
            virtual_time: self.now,
            fingerprint: self.trace.fingerprint(),
            net: self.stats.clone(),
            faults: self.applied.clone(),
            violation: self.violation.clone(),
        }
    }

    /// Flushes the trace sink, reporting a failed write.
    pub fn finish_trace(&mut self) -> std::io::Result<()> {
        self.trace.finish()
    }

    pub fn fingerprint(&self) -> u64 {
        self.trace.fingerprint()
    }

    #[inline]
    fn handle(&mut self, event: Event<N, C>) {
        match event {
            Event::Deliver { from, to, connection, hash, id, msg } => self.deliver(from, to, connection, hash, id, msg),
            Event::NodeTimer { node, incarnation, id, timer } => {
                let slot = &self.nodes[node as usize];
                if slot.incarnation != incarnation || slot.process.is_none() {
                    self.timers.release(id);
                    return;
                }
                if slot.paused {
                    self.held[node as usize].push(Event::NodeTimer { node, incarnation, id, timer });
                    return;
                }
                if !self.timers.release(id) {
                    return; // cancelled
                }
                self.stats.timers_fired += 1;
                let now = self.now;
                self.trace.event(now, EventKind::Timer, Some(Addr::node(node)), None, "", stable_hash(&timer), || {
                    format!("{timer:?}")
                });
                self.with_node(node as usize, |p, ctx| p.on_timer(ctx, timer));
            }
            Event::ClientTimer { client, id, timer } => {
                if !self.timers.release(id) {
                    return;
                }
                self.stats.timers_fired += 1;
                let now = self.now;
                self.trace.event(
                    now,
                    EventKind::Timer,
                    Some(Addr::client(client)),
                    None,
                    "",
                    stable_hash(&timer),
                    || format!("{timer:?}"),
                );
                self.with_client(client as usize, |p, ctx| p.on_timer(ctx, timer));
            }
            Event::Fault(idx) => self.apply_fault(idx as usize),
            Event::LinkDown { at, peer } => {
                self.trace.event(self.now, EventKind::LinkDown, Some(at), Some(peer), "", 0, String::new);
                match at {
                    Addr::Node(n) => {
                        let i = n.0 as usize;
                        if self.nodes[i].process.is_some() {
                            if self.nodes[i].paused {
                                self.held[i].push(Event::LinkDown { at, peer });
                            } else {
                                self.with_node(i, |p, ctx| p.on_link_down(ctx, peer));
                            }
                        }
                    }
                    Addr::Client(c) => self.with_client(c.0 as usize, |p, ctx| p.on_link_down(ctx, peer)),
                }
            }
            Event::Liveness => self.begin_liveness_phase(),
        }
    }

    #[inline]
    fn deliver(&mut self, from: Addr, to: Addr, connection: u32, hash: u64, id: u64, msg: N::Msg) {
        let now = self.now;
        if self.net.is_cut(from, to) {
            self.stats.dropped_partition += 1;
            self.trace.message(now, EventKind::Drop, from, to, id, msg.label(), 1, || format!("{msg:?} (partition)"));
            return;
        }
        if !self.net.connection_alive(from, to, connection) {
            self.stats.dropped_broken_session += 1;
            self.trace
                .message(now, EventKind::Drop, from, to, id, msg.label(), 2, || format!("{msg:?} (session broken)"));
            return;
        }
        match to {
            Addr::Node(n) => {
                let i = n.0 as usize;
                let slot = &self.nodes[i];
                if slot.process.is_none() {
                    self.stats.dropped_crashed += 1;
                    self.trace
                        .message(now, EventKind::Drop, from, to, id, msg.label(), 3, || format!("{msg:?} (crashed)"));
                    return;
                }
                if slot.paused {
                    self.held[i].push(Event::Deliver { from, to, connection, hash, id, msg });
                    return;
                }
                self.stats.delivered += 1;
                self.trace.message(now, EventKind::Deliver, from, to, id, msg.label(), hash, || format!("{msg:?}"));
                self.with_node(i, |p, ctx| p.on_message(ctx, from, msg));
            }
            Addr::Client(c) => {
                self.stats.delivered += 1;
                self.trace.message(now, EventKind::Deliver, from, to, id, msg.label(), hash, || format!("{msg:?}"));
                self.with_client(c.0 as usize, |p, ctx| p.on_message(ctx, from, msg));
            }
        }
    }

    /// Routes one message through the network model.
    #[inline]
    fn transmit(&mut self, from: Addr, to: Addr, msg: N::Msg) {
        let now = self.now;
        let valid = match to {
            Addr::Node(n) => n.0 < self.net.nodes(),
            Addr::Client(c) => (c.0 as usize) < self.clients.len(),
        };
        if !valid {
            // A protocol addressed a process that does not exist: count it as
            // dropped rather than failing the run.
            self.stats.dropped_loss += 1;
            return;
        }
        // The message id is the index of this send in the run.
        let id = self.stats.sent;
        self.stats.sent += 1;
        let hash = stable_hash(&msg);
        self.trace.message(now, EventKind::Send, from, to, id, msg.label(), hash, || format!("{msg:?}"));
        match self.net.route(now, from, to, &mut self.net_rng) {
            Fate::Dropped { cut } => {
                if cut {
                    self.stats.dropped_partition += 1;
                } else {
                    self.stats.dropped_loss += 1;
                }
                self.trace.message(now, EventKind::Drop, from, to, id, msg.label(), u64::from(cut), || {
                    format!("{msg:?} ({})", if cut { "partition" } else { "loss" })
                });
            }
            Fate::Deliver { delay, copy_delay, connection } => {
                if let Some(copy_delay) = copy_delay {
                    self.stats.duplicated += 1;
                    self.trace.message(now, EventKind::Duplicate, from, to, id, msg.label(), hash, String::new);
                    self.push(now + copy_delay, Event::Deliver { from, to, connection, hash, id, msg: msg.clone() });
                }
                self.push(now + delay, Event::Deliver { from, to, connection, hash, id, msg });
            }
        }
    }

    /// Calls a node handler with a fresh `Ctx`, then applies its effects.
    #[inline]
    fn with_node(&mut self, i: usize, f: impl FnOnce(&mut N, &mut Ctx<'_, N>)) {
        let now = self.now;
        let nodes = self.nodes_len();
        let slot = &mut self.nodes[i];
        let now_local = slot.local_now(now);
        let Some(process) = slot.process.as_mut() else {
            return;
        };
        let mut ctx = Ctx {
            me: Addr::node(i as u32),
            now_local,
            now_true: now,
            clock_rate: slot.clock_rate,
            nodes,
            clients: self.clients.len() as u32,
            rng: &mut slot.rng,
            durable: &mut slot.durable,
            out: &mut self.node_out,
            timers: &mut self.timers,
            metrics: &mut self.metrics,
        };
        f(process, &mut ctx);
        let role = process.role();
        let incarnation = slot.incarnation;
        if role != slot.role {
            slot.role = role;
            self.trace.event(
                now,
                EventKind::Role,
                Some(Addr::node(i as u32)),
                None,
                role,
                stable_hash(role),
                String::new,
            );
        }
        let me = Addr::node(i as u32);
        // Most handlers send a message or two and nothing else: touch only
        // the effect lists that are non-empty.
        if !self.node_out.timers.is_empty() {
            let mut timers = std::mem::take(&mut self.node_out.timers);
            for (delay, id, timer) in timers.drain(..) {
                self.push(now + delay, Event::NodeTimer { node: i as u32, incarnation, id, timer });
            }
            self.node_out.timers = timers;
        }
        match self.node_out.sends.len() {
            0 => {}
            1 => {
                if let Some((to, msg)) = self.node_out.sends.pop() {
                    self.transmit(me, to, msg);
                }
            }
            _ => {
                let mut sends = std::mem::take(&mut self.node_out.sends);
                for (to, msg) in sends.drain(..) {
                    self.transmit(me, to, msg);
                }
                self.node_out.sends = sends;
            }
        }
        if !self.node_out.notes.is_empty() {
            let mut notes = std::mem::take(&mut self.node_out.notes);
            for note in notes.drain(..) {
                if let Some(monitor) = self.monitor.as_mut() {
                    if let Some(v) = monitor.on_note(now, NodeId(i as u32), &note) {
                        if self.violation.is_none() {
                            self.violation = Some(v);
                        }
                    }
                }
            }
            self.node_out.notes = notes;
        }
        if !self.node_out.client_events.is_empty() {
            let mut events = std::mem::take(&mut self.node_out.client_events);
            for (kind, op) in events.drain(..) {
                self.trace_client(me, kind, op);
            }
            self.node_out.client_events = events;
        }
    }

    #[inline]
    fn nodes_len(&self) -> u32 {
        self.nodes.len() as u32
    }

    fn with_client(&mut self, i: usize, f: impl FnOnce(&mut C, &mut Ctx<'_, C>)) {
        let now = self.now;
        let nodes = self.nodes_len();
        let clients = self.clients.len() as u32;
        let slot = &mut self.clients[i];
        let mut ctx = Ctx {
            me: Addr::client(i as u32),
            now_local: now,
            now_true: now,
            clock_rate: 1.0,
            nodes,
            clients,
            rng: &mut slot.rng,
            durable: &mut slot.durable,
            out: &mut self.client_out,
            timers: &mut self.timers,
            metrics: &mut self.metrics,
        };
        f(&mut slot.process, &mut ctx);
        let me = Addr::client(i as u32);
        let mut out = std::mem::take(&mut self.client_out);
        for (delay, id, timer) in out.timers.drain(..) {
            self.push(now + delay, Event::ClientTimer { client: i as u32, id, timer });
        }
        for (to, msg) in out.sends.drain(..) {
            self.transmit(me, to, msg);
        }
        out.notes.clear();
        for (kind, op) in out.client_events.drain(..) {
            self.trace_client(me, kind, op);
        }
        self.client_out = out;
    }

    fn trace_client(&mut self, who: Addr, kind: ClientEventKind, op: u64) {
        let ev = match kind {
            ClientEventKind::Invoke => EventKind::Invoke,
            ClientEventKind::Complete => EventKind::Complete,
        };
        self.trace.event(self.now, ev, Some(who), None, "", op, || format!("op {op}"));
    }

    // ---- faults ----

    /// Resolves a node reference now; `None` when no node matches.
    fn resolve(&mut self, node: &NodeRef, want_crashed: bool) -> Option<u32> {
        match node {
            NodeRef::Id(i) => Some(*i),
            NodeRef::Role(role) => (0..self.nodes_len()).find(|&i| {
                let n = &self.nodes[i as usize];
                n.process.is_some() && n.role == role.as_str()
            }),
            NodeRef::Random => {
                let candidates: Vec<u32> = (0..self.nodes_len())
                    .filter(|&i| self.nodes[i as usize].process.is_none() == want_crashed)
                    .collect();
                if candidates.is_empty() {
                    None
                } else {
                    Some(candidates[self.fault_rng.gen_range(0..candidates.len())])
                }
            }
        }
    }

    fn record_fault(&mut self, kind: &'static str, nodes: Vec<u32>, description: String) {
        let hash = stable_hash(&(kind, &nodes));
        self.trace.event(self.now, EventKind::Fault, None, None, kind, hash, || description.clone());
        self.applied.push(AppliedFault { at: self.now, kind, nodes, description, groups: Vec::new() });
    }

    fn apply_fault(&mut self, idx: usize) {
        if self.quiet_phase {
            return;
        }
        let fault = self.faults[idx].clone();
        let undo_at = fault.undo_after.map(|d| self.now + d);
        let undo = |world: &mut Self, action: FaultAction| {
            if let Some(at) = undo_at {
                world.schedule_fault(ScheduledFault { at, action, undo_after: None });
            }
        };
        match &fault.action {
            FaultAction::Partition { groups } => {
                let n = self.nodes_len();
                let mut group_of = vec![groups.len(); n as usize];
                for (g, members) in groups.iter().enumerate() {
                    for &m in members {
                        group_of[m as usize] = g;
                    }
                }
                let mut broken = Vec::new();
                for a in 0..n {
                    let others: Vec<u32> = (0..n).filter(|&b| group_of[b as usize] != group_of[a as usize]).collect();
                    broken.extend(self.net.cut_oneway(&[a], &others));
                }
                self.record_fault(
                    "partition",
                    (0..n).collect(),
                    format!("partition {groups:?} (unlisted nodes form their own group)"),
                );
                let mut sides: Vec<Vec<u32>> = groups.iter().filter(|g| !g.is_empty()).cloned().collect();
                let unlisted: Vec<u32> = (0..n).filter(|&i| group_of[i as usize] == groups.len()).collect();
                if !unlisted.is_empty() {
                    sides.push(unlisted);
                }
                self.set_groups(sides);
                self.notify_broken(broken);
                undo(self, FaultAction::Heal);
            }
            FaultAction::PartitionOneway { from, to } => {
                let broken = self.net.cut_oneway(from, to);
                let nodes = from.iter().chain(to.iter()).copied().collect();
                self.record_fault("partition_oneway", nodes, format!("cut {from:?} -> {to:?}"));
                self.notify_broken(broken);
                undo(self, FaultAction::Heal);
            }
            FaultAction::Isolate { node } => {
                let Some(target) = self.resolve(node, false) else {
                    return self.skip_fault("isolate", node);
                };
                let others: Vec<u32> = (0..self.nodes_len()).filter(|&b| b != target).collect();
                let mut broken = self.net.cut_oneway(&[target], &others);
                broken.extend(self.net.cut_oneway(&others, &[target]));
                self.record_fault("isolate", vec![target], format!("isolate n{target}{}", via(node)));
                self.set_groups(vec![vec![target], others]);
                self.notify_broken(broken);
                undo(self, FaultAction::Heal);
            }
            FaultAction::Heal => {
                self.net.heal();
                self.record_fault("heal", Vec::new(), "heal all partitions".into());
            }
            FaultAction::Crash { node } => {
                let Some(target) = self.resolve(node, false) else {
                    return self.skip_fault("crash", node);
                };
                if self.nodes[target as usize].process.is_none() {
                    return self.skip_fault("crash", node);
                }
                self.crash(target, format!("crash n{target}{}", via(node)));
                undo(self, FaultAction::Restart { node: NodeRef::Id(target) });
            }
            FaultAction::Restart { node } => {
                let Some(target) = self.resolve(node, true) else {
                    return self.skip_fault("restart", node);
                };
                self.restart(target);
            }
            FaultAction::Pause { node } => {
                let Some(target) = self.resolve(node, false) else {
                    return self.skip_fault("pause", node);
                };
                let slot = &mut self.nodes[target as usize];
                if slot.process.is_none() || slot.paused {
                    return self.skip_fault("pause", node);
                }
                slot.paused = true;
                self.record_fault("pause", vec![target], format!("pause n{target}{}", via(node)));
                undo(self, FaultAction::Resume { node: NodeRef::Id(target) });
            }
            FaultAction::Resume { node } => {
                let Some(target) = self.resolve(node, false) else {
                    return self.skip_fault("resume", node);
                };
                self.resume(target);
            }
            FaultAction::ClockRate { node, rate } => {
                let Some(target) = self.resolve(node, false) else {
                    return self.skip_fault("clock_rate", node);
                };
                self.set_clock_rate(target, *rate);
                self.record_fault("clock_rate", vec![target], format!("n{target} clock runs at {rate}x{}", via(node)));
                undo(self, FaultAction::ClockRate { node: NodeRef::Id(target), rate: 1.0 });
            }
        }
    }

    fn set_groups(&mut self, groups: Vec<Vec<u32>>) {
        if let Some(last) = self.applied.last_mut() {
            last.groups = groups;
        }
    }

    fn skip_fault(&mut self, kind: &'static str, node: &NodeRef) {
        self.metrics.count("faults_skipped", 1);
        let description = format!("{kind} skipped: no node matched {node}");
        self.trace.event(self.now, EventKind::Fault, None, None, "skipped", stable_hash(kind), || description.clone());
    }

    fn notify_broken(&mut self, pairs: Vec<(Addr, Addr)>) {
        let now = self.now;
        for (a, b) in pairs {
            self.push(now, Event::LinkDown { at: a, peer: b });
            self.push(now, Event::LinkDown { at: b, peer: a });
        }
    }

    fn crash(&mut self, target: u32, description: String) {
        let i = target as usize;
        let slot = &mut self.nodes[i];
        slot.process = None;
        slot.paused = false;
        slot.incarnation = slot.incarnation.wrapping_add(1);
        slot.role = "";
        self.held[i].clear();
        let me = Addr::node(target);
        let peers: Vec<Addr> = self.net.addresses().filter(|&a| a != me).collect();
        let mut broken = Vec::new();
        for peer in peers {
            if self.net.break_connection(me, peer) {
                broken.push(peer);
            }
        }
        let now = self.now;
        for peer in broken {
            self.push(now, Event::LinkDown { at: peer, peer: me });
        }
        if let Some(m) = self.monitor.as_mut() {
            m.on_crash(now, NodeId(target));
        }
        self.record_fault("crash", vec![target], description);
    }

    fn restart(&mut self, target: u32) {
        let i = target as usize;
        if self.nodes[i].process.is_some() {
            return self.skip_fault("restart", &NodeRef::Id(target));
        }
        let now = self.now;
        let process = (self.spawn)(NodeId(target), &self.nodes[i].durable);
        let slot = &mut self.nodes[i];
        slot.process = Some(process);
        slot.clock_rate = 1.0;
        slot.true_base = now;
        slot.local_base = now;
        self.record_fault("restart", vec![target], format!("restart n{target} from durable state"));
        self.with_node(i, |p, ctx| p.on_start(ctx));
    }

    fn resume(&mut self, target: u32) {
        let i = target as usize;
        if !self.nodes[i].paused {
            return;
        }
        self.nodes[i].paused = false;
        self.record_fault("resume", vec![target], format!("resume n{target}"));
        let now = self.now;
        for event in std::mem::take(&mut self.held[i]) {
            self.push(now, event);
        }
    }

    fn set_clock_rate(&mut self, target: u32, rate: f64) {
        let now = self.now;
        let slot = &mut self.nodes[target as usize];
        slot.local_base = slot.local_now(now);
        slot.true_base = now;
        slot.clock_rate = rate;
    }

    fn begin_liveness_phase(&mut self) {
        self.net.heal();
        self.net.quiet = true;
        self.record_fault("liveness", Vec::new(), "liveness phase: faults healed, network quiet".into());
        for i in 0..self.nodes_len() {
            if self.nodes[i as usize].process.is_none() {
                self.restart(i);
            } else {
                self.resume(i);
                if self.nodes[i as usize].clock_rate != 1.0 {
                    self.set_clock_rate(i, 1.0);
                }
            }
        }
        // Faults still scheduled for later never fire: the phase is quiet.
        self.quiet_phase = true;
    }

    /// Live client ids, for callers that need them.
    pub fn client_ids(&self) -> impl Iterator<Item = ClientId> {
        (0..self.clients.len() as u32).map(ClientId)
    }

    /// The current local clock of a node (for tests of drift).
    pub fn local_time(&self, node: u32) -> Time {
        self.nodes[node as usize].local_now(self.now)
    }

    /// Shorthand for tests: durations as `Duration`.
    pub fn elapsed(&self) -> Duration {
        self.now.since(Time::ZERO)
    }
}
