//! The world: hosts the nodes and clients, owns the clock, the event queue,
//! the network and the fault schedule, and runs events in (time, sequence)
//! order until a bound or a violation ends the run.

use std::rc::Rc;

use rand::Rng;
use serde::Serialize;

use crate::coverage::Coverage;
use crate::disk::Disk;
use crate::fault::{AppliedFault, FaultAction, NodeRef, ScheduledFault};
use crate::machine::MachineConfig;
use crate::metrics::Metrics;
use crate::net::{CutId, Fate, LinkConfig, Network};
use crate::process::{
    Addr, ClientEventKind, ClientId, Ctx, Message, Multicast, NodeId, Outbox, Process, Role, TimerId, TimerTable,
    EFFECTS_BEFORE_SENDS, EFFECT_CLIENT, EFFECT_DISK, WROTE_ASYNC, WROTE_SYNC,
};
use crate::queue::EventQueue;
use crate::rng::{stream, SimRng, Stream};
use crate::time::{Duration, Time};
use crate::trace::{stable_hash, EventKind, Trace};

/// The bounds of a run. Every run has all four.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct Limits {
    /// The run ends when the clock would pass this.
    pub max_time: Time,
    /// The run ends after this many events.
    pub max_events: u64,
    /// The run ends when the memory it holds — counted by
    /// [`crate::mem::Counting`] on the run's own thread, from the world's
    /// creation — passes this many bytes. Without the counting allocator
    /// installed nothing is counted and this bound cannot end a run.
    pub max_memory: u64,
    /// The run ends when this many events in a row happen at one instant of
    /// virtual time: the clock has stopped (a zero-latency loop, a timer
    /// that re-arms itself for now).
    pub max_events_per_instant: u64,
}

impl Limits {
    /// The default memory bound of a run: 384 MiB (a run that reaches it
    /// peaks near twice that in resident memory, allocator and buffers
    /// growing by doubling included).
    pub const DEFAULT_MAX_MEMORY: u64 = 384 << 20;
    /// The default bound on events at one instant: 10 million.
    pub const DEFAULT_MAX_EVENTS_PER_INSTANT: u64 = 10_000_000;

    /// Limits of time and events, with the default memory and
    /// events-per-instant bounds.
    pub fn new(max_time: Time, max_events: u64) -> Limits {
        Limits {
            max_time,
            max_events,
            max_memory: Self::DEFAULT_MAX_MEMORY,
            max_events_per_instant: Self::DEFAULT_MAX_EVENTS_PER_INSTANT,
        }
    }
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
    /// The run held more memory than `max_memory`.
    MemoryLimit,
    /// `max_events_per_instant` events in a row at one instant.
    TimeStalled,
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
            EndReason::MemoryLimit => "hit the memory limit (limits.max_memory)",
            EndReason::TimeStalled => "virtual time stopped advancing (limits.max_events_per_instant)",
            EndReason::Violation => "stopped at a violation",
        }
    }
}

/// A broken invariant, found online or by a checker after the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Violation {
    pub check: String,
    pub at: Time,
    pub nodes: Vec<NodeId>,
    pub message: String,
}

/// An online checker: it reads the facts nodes report, never the nodes.
pub trait Monitor<N: Process> {
    fn on_note(&mut self, now: Time, node: NodeId, note: &N::Note) -> Option<Violation>;
    fn on_crash(&mut self, _now: Time, _node: NodeId) {}
    /// Node `node` is up again: restarted, or booted late.
    fn on_restart(&mut self, _now: Time, _node: NodeId) {}
    /// Called once when the run ends, with the faults that were applied,
    /// to record what the monitor measured and to judge what only the end
    /// can show (every replica converged): a violation returned here fails
    /// the run unless an earlier one already did.
    fn finish(&mut self, _now: Time, _faults: &[AppliedFault], _metrics: &mut Metrics) -> Option<Violation> {
        None
    }
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
    /// Disks, start-up times and clocks of the nodes' machines.
    pub machines: MachineConfig,
}

/// The run's memory is measured every 1,024 events (a thread-local read).
const MEMORY_CHECK_MASK: u64 = 1023;

/// The most node ids a fault's description lists from one group; a larger
/// group is shown by its first ids and its size, so a partition of 100,000
/// nodes is not a description of half a megabyte in every trace and report.
const DESCRIBED_NODES: usize = 16;

/// `[0, 4, 7]`, or `[0, 1, 2, ... (50000 nodes)]` past [`DESCRIBED_NODES`].
fn node_list(ids: &[u32]) -> String {
    if ids.len() <= DESCRIBED_NODES {
        return format!("{ids:?}");
    }
    let head: Vec<String> = ids[..DESCRIBED_NODES / 2].iter().map(u32::to_string).collect();
    format!("[{}, ... ({} nodes)]", head.join(", "), ids.len())
}

fn node_lists(groups: &[Vec<u32>]) -> String {
    format!("[{}]", groups.iter().map(|g| node_list(g)).collect::<Vec<_>>().join(", "))
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
    /// A copy of a message sent to several processes at once; the payload
    /// is shared until delivery.
    DeliverShared {
        from: Addr,
        to: Addr,
        connection: u32,
        hash: u64,
        id: u64,
        msg: Rc<N::Msg>,
    },
    Fault(u32),
    /// The end of applied fault number `fault` (its index in the applied
    /// list): removes what that fault did and nothing else.
    Undo {
        fault: u32,
        undo: Undo,
    },
    LinkDown {
        at: Addr,
        peer: Addr,
    },
    Liveness,
    /// Node `node` boots (its machine's start-up delay has passed).
    Boot {
        node: u32,
    },
    /// Write `seq` on node `node`'s disk is durable.
    DiskDone {
        node: u32,
        incarnation: u32,
        seq: u64,
    },
    /// An asynchronous write is durable: `on_durable(token)`.
    Durable {
        node: u32,
        incarnation: u32,
        token: u64,
    },
}

/// What undoing one applied fault removes.
#[derive(Copy, Clone, Debug)]
enum Undo {
    /// A partition, one-way cut or isolation: that barrier only.
    Barrier { cut: CutId, kind: &'static str },
    /// A crash: restarts the node if this crash is what holds it down.
    Crash { node: u32 },
    /// A pause: resumes the node once no other pause holds it.
    Pause { node: u32 },
    /// A clock change: the rate falls back to the latest clock fault still
    /// in force on the node, or to the true rate.
    Clock { node: u32 },
    /// A slow disk: its factor comes off the node's disk.
    SlowDisk { node: u32 },
}

/// Whether a message may be handed to its recipient now.
enum Admit {
    /// Dropped (partition, broken session, crashed recipient); traced.
    Dropped,
    /// The recipient is paused: the delivery waits for its resume.
    Held,
    Node(usize),
    Client(usize),
}

/// A node's disk: its durable state, the messages and reports it holds.
type NodeDisk<N> = Disk<<N as Process>::Durable, <N as Process>::Msg, <N as Process>::Note>;

struct NodeSlot<N: Process> {
    process: Option<N>,
    durable: N::Durable,
    rng: SimRng,
    incarnation: u32,
    paused: bool,
    /// While crashed: the applied crash that took the node down.
    down_by: Option<usize>,
    /// The applied pauses holding the node (it runs when none is left).
    pauses: Vec<usize>,
    /// The applied clock faults in force, oldest first, with their rates:
    /// the last one sets the clock.
    clock_faults: Vec<(usize, f64)>,
    clock_rate: f64,
    /// The local clock read `local_base` at true time `true_base`.
    true_base: Time,
    local_base: Time,
    role: Role,
    /// The machine's own clock rate and offset, which a clock fault
    /// overrides and its end restores.
    machine_rate: f64,
    machine_offset: Duration,
    /// `None`: writes are durable at once.
    disk: Option<Box<NodeDisk<N>>>,
    /// False until the machine's start-up delay has passed.
    booted: bool,
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
    coverage: Coverage,
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
    /// This thread's memory holding when the world was made: the run holds
    /// what the thread holds beyond it.
    memory_mark: crate::mem::Mark,
    /// Events in a row at `now`.
    at_instant: u64,
    /// The run passed `max_memory` while it started.
    memory_exceeded: bool,
    started: bool,
    quiet_phase: bool,
    /// `EFFECT_DISK` if some node has a disk model, else 0: the effects
    /// every node handler starts with.
    disk_effects: u8,
    /// Faults waiting for a node to take a role (`ScheduledFault::after`).
    armed: Vec<usize>,
}

impl<N: Process, C: Process<Msg = N::Msg>> World<N, C> {
    /// Builds a world; `spawn` makes a node from its durable state (fresh at
    /// start, recovered after a crash), `clients` are the client processes.
    pub fn new(config: WorldConfig, mut spawn: Spawn<N>, clients: Vec<C>) -> World<N, C> {
        assert_eq!(clients.len(), config.client_homes.len(), "one home node per client");
        let memory_mark = crate::mem::Mark::now();
        let mut net = Network::new(config.nodes, config.client_homes, config.default_link);
        for (from, to, link) in config.link_overrides {
            net.set_link(from, to, link);
        }
        let mut boots = Vec::new();
        let nodes = (0..config.nodes)
            .map(|i| {
                let durable = N::Durable::default();
                let machine = config.machines.draw(config.seed, i);
                let booted = machine.start == Time::ZERO;
                if !booted {
                    boots.push((machine.start, i));
                }
                let disk = config
                    .machines
                    .disk_of(i)
                    .map(|disk| Box::new(Disk::new(disk, stream(config.seed, Stream::Disk(i)), durable.clone())));
                NodeSlot {
                    process: booted.then(|| spawn(NodeId(i), &durable)),
                    durable,
                    rng: stream(config.seed, Stream::Node(i)),
                    incarnation: 0,
                    paused: false,
                    down_by: None,
                    pauses: Vec::new(),
                    clock_faults: Vec::new(),
                    clock_rate: machine.clock_rate,
                    true_base: Time::ZERO,
                    local_base: Time::ZERO + machine.clock_offset,
                    role: "",
                    machine_rate: machine.clock_rate,
                    machine_offset: machine.clock_offset,
                    disk,
                    booted,
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
            coverage: Coverage::default(),
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
            memory_mark,
            at_instant: 0,
            memory_exceeded: false,
            started: false,
            quiet_phase: false,
            disk_effects: 0,
            armed: Vec::new(),
        };
        if world.nodes.iter().any(|n| n.disk.is_some()) {
            world.disk_effects = EFFECT_DISK;
        }
        for (at, node) in boots {
            world.push(at, Event::Boot { node });
        }
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
    /// The coverage points the processes reached so far.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }
    pub fn net_stats(&self) -> &NetStats {
        &self.stats
    }
    /// A running node, or `None` while it is crashed.
    pub fn node(&self, id: NodeId) -> Option<&N> {
        self.nodes.get(id.0 as usize).and_then(|n| n.process.as_ref())
    }
    pub fn durable(&self, id: NodeId) -> &N::Durable {
        &self.nodes[id.0 as usize].durable
    }
    pub fn client(&self, id: ClientId) -> &C {
        &self.clients[id.0 as usize].process
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

    #[inline(always)]
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
            if self.nodes[i].booted {
                self.trace.event(self.now, EventKind::Start, Some(Addr::node(i as u32)), None, "", 0, String::new);
                self.with_node(i, |p, ctx| p.on_start(ctx));
            }
        }
        for i in 0..self.clients.len() {
            self.with_client(i, |p, ctx| p.on_start(ctx));
            // Thousands of clients each starting many operations at once can
            // outgrow the bound before the first event.
            if self.over_memory() {
                self.memory_exceeded = true;
                return;
            }
        }
    }

    fn over_memory(&self) -> bool {
        self.memory_mark.since() > self.limits.max_memory
    }

    /// Bytes this run holds beyond what its thread held when the world was
    /// made (zero without the counting allocator: [`crate::mem`]).
    pub fn memory_held(&self) -> u64 {
        self.memory_mark.since()
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
            if self.memory_exceeded || (self.events & MEMORY_CHECK_MASK == 0 && self.over_memory()) {
                self.memory_exceeded = true;
                return EndReason::MemoryLimit;
            }
            if next == self.now {
                if self.at_instant >= self.limits.max_events_per_instant {
                    return EndReason::TimeStalled;
                }
                self.at_instant += 1;
            } else {
                self.at_instant = 1;
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
            let late = m.finish(self.now, &self.applied, &mut self.metrics);
            if self.violation.is_none() {
                self.violation = late;
            }
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
            Event::Deliver { from, to, connection, hash, id, msg } => {
                match self.admit(from, to, connection, id, &msg) {
                    Admit::Dropped => {}
                    Admit::Held => self.hold(to, Event::Deliver { from, to, connection, hash, id, msg }),
                    Admit::Node(i) => self.deliver_to_node(i, from, to, hash, id, msg),
                    Admit::Client(c) => self.deliver_to_client(c, from, to, hash, id, msg),
                }
            }
            Event::DeliverShared { from, to, connection, hash, id, msg } => {
                match self.admit(from, to, connection, id, &msg) {
                    Admit::Dropped => {}
                    Admit::Held => self.hold(to, Event::DeliverShared { from, to, connection, hash, id, msg }),
                    Admit::Node(i) => {
                        let msg = Rc::try_unwrap(msg).unwrap_or_else(|shared| (*shared).clone());
                        self.deliver_to_node(i, from, to, hash, id, msg)
                    }
                    Admit::Client(c) => {
                        let msg = Rc::try_unwrap(msg).unwrap_or_else(|shared| (*shared).clone());
                        self.deliver_to_client(c, from, to, hash, id, msg)
                    }
                }
            }
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
            Event::Undo { fault, undo } => self.undo_fault(fault as usize, undo),
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
            Event::Boot { node } => self.boot(node),
            Event::DiskDone { node, incarnation, seq } => self.disk_done(node, incarnation, seq),
            Event::Durable { node, incarnation, token } => self.write_durable(node, incarnation, token),
        }
    }

    /// An asynchronous write is durable: its writer is told. Out of line,
    /// like the other disk and machine events, so that `handle`, which
    /// every message goes through, stays as small as it was without them.
    #[inline(never)]
    fn write_durable(&mut self, node: u32, incarnation: u32, token: u64) {
        let slot = &self.nodes[node as usize];
        if slot.incarnation != incarnation || slot.process.is_none() {
            return;
        }
        if slot.paused {
            self.held[node as usize].push(Event::Durable { node, incarnation, token });
            return;
        }
        self.with_node(node as usize, |p, ctx| p.on_durable(ctx, token));
    }

    /// A machine's start-up delay has passed: its node starts, unless a
    /// fault already started it.
    #[inline(never)]
    fn boot(&mut self, node: u32) {
        let i = node as usize;
        if self.nodes[i].booted {
            return;
        }
        self.nodes[i].booted = true;
        if self.nodes[i].process.is_some() || self.nodes[i].down_by.is_some() {
            return;
        }
        let process = (self.spawn)(NodeId(node), &self.nodes[i].durable);
        self.nodes[i].process = Some(process);
        self.trace.event(self.now, EventKind::Start, Some(Addr::node(node)), None, "", 0, String::new);
        self.with_node(i, |p, ctx| p.on_start(ctx));
    }

    /// A disk write is durable: the messages that waited for it leave and
    /// its asynchronous writers are told.
    #[inline(never)]
    fn disk_done(&mut self, node: u32, incarnation: u32, seq: u64) {
        let i = node as usize;
        let slot = &mut self.nodes[i];
        if slot.incarnation != incarnation {
            return;
        }
        let Some(done) = slot.disk.as_mut().and_then(|d| d.complete(seq)) else { return };
        self.metrics.count("disk_writes", 1);
        let me = Addr::node(node);
        for (to, msg) in done.sends {
            self.transmit(me, to, msg);
        }
        let now = self.now;
        for note in done.notes {
            if let Some(v) = self.monitor.as_mut().and_then(|m| m.on_note(now, NodeId(node), &note)) {
                if self.violation.is_none() {
                    self.violation = Some(v);
                }
            }
        }
        let now = self.now;
        for token in done.tokens {
            self.push(now, Event::Durable { node, incarnation, token });
        }
    }

    /// Decides whether a message may be handed over now; traces a drop.
    #[inline(always)]
    fn admit(&mut self, from: Addr, to: Addr, connection: u32, id: u64, msg: &N::Msg) -> Admit {
        let now = self.now;
        if self.net.is_cut(from, to) {
            self.stats.dropped_partition += 1;
            self.trace.message(now, EventKind::Drop, from, to, id, msg.label(), 1, || format!("{msg:?} (partition)"));
            return Admit::Dropped;
        }
        if !self.net.connection_alive(from, to, connection) {
            self.stats.dropped_broken_session += 1;
            self.trace
                .message(now, EventKind::Drop, from, to, id, msg.label(), 2, || format!("{msg:?} (session broken)"));
            return Admit::Dropped;
        }
        match to {
            Addr::Node(n) => {
                let i = n.0 as usize;
                let slot = &self.nodes[i];
                if slot.process.is_none() {
                    self.stats.dropped_crashed += 1;
                    self.trace
                        .message(now, EventKind::Drop, from, to, id, msg.label(), 3, || format!("{msg:?} (crashed)"));
                    return Admit::Dropped;
                }
                if slot.paused {
                    return Admit::Held;
                }
                Admit::Node(i)
            }
            Addr::Client(c) => Admit::Client(c.0 as usize),
        }
    }

    /// Keeps an event for a paused node until it resumes.
    fn hold(&mut self, to: Addr, event: Event<N, C>) {
        if let Addr::Node(n) = to {
            self.held[n.0 as usize].push(event);
        }
    }

    #[inline(always)]
    fn deliver_to_node(&mut self, i: usize, from: Addr, to: Addr, hash: u64, id: u64, msg: N::Msg) {
        self.stats.delivered += 1;
        self.trace.message(self.now, EventKind::Deliver, from, to, id, msg.label(), hash, || format!("{msg:?}"));
        self.with_node(i, |p, ctx| p.on_message(ctx, from, msg));
    }

    #[inline(always)]
    fn deliver_to_client(&mut self, c: usize, from: Addr, to: Addr, hash: u64, id: u64, msg: N::Msg) {
        self.stats.delivered += 1;
        self.trace.message(self.now, EventKind::Deliver, from, to, id, msg.label(), hash, || format!("{msg:?}"));
        self.with_client(c, |p, ctx| p.on_message(ctx, from, msg));
    }

    /// Routes one message through the network model.
    #[inline(always)]
    fn transmit(&mut self, from: Addr, to: Addr, msg: N::Msg) {
        let hash = stable_hash(&msg);
        if let Some((id, delay, copy_delay, connection)) = self.route(from, to, hash, &msg) {
            let now = self.now;
            if let Some(copy_delay) = copy_delay {
                self.push(now + copy_delay, Event::Deliver { from, to, connection, hash, id, msg: msg.clone() });
            }
            self.push(now + delay, Event::Deliver { from, to, connection, hash, id, msg });
        }
    }

    /// Routes one message to each of `targets`, as `transmit` per target
    /// would, keeping a single copy of the payload in the queue.
    fn transmit_many(&mut self, from: Addr, targets: &[Addr], msg: N::Msg) {
        let hash = stable_hash(&msg);
        let msg = Rc::new(msg);
        let now = self.now;
        for &to in targets {
            if let Some((id, delay, copy_delay, connection)) = self.route(from, to, hash, &msg) {
                if let Some(copy_delay) = copy_delay {
                    let copy = Rc::clone(&msg);
                    self.push(now + copy_delay, Event::DeliverShared { from, to, connection, hash, id, msg: copy });
                }
                let msg = Rc::clone(&msg);
                self.push(now + delay, Event::DeliverShared { from, to, connection, hash, id, msg });
            }
        }
    }

    /// Counts and traces one send and asks the network its fate: `None` when
    /// it is dropped, else (message id, delay, a duplicate's delay, the
    /// connection it travels on).
    #[inline(always)]
    fn route(
        &mut self,
        from: Addr,
        to: Addr,
        hash: u64,
        msg: &N::Msg,
    ) -> Option<(u64, Duration, Option<Duration>, u32)> {
        let now = self.now;
        let valid = match to {
            Addr::Node(n) => n.0 < self.net.nodes(),
            Addr::Client(c) => (c.0 as usize) < self.clients.len(),
        };
        if !valid {
            // A protocol addressed a process that does not exist: count it as
            // dropped rather than failing the run.
            self.stats.dropped_loss += 1;
            return None;
        }
        // The message id is the index of this send in the run.
        let id = self.stats.sent;
        self.stats.sent += 1;
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
                None
            }
            Fate::Deliver { delay, copy_delay, connection } => {
                if copy_delay.is_some() {
                    self.stats.duplicated += 1;
                    self.trace.message(now, EventKind::Duplicate, from, to, id, msg.label(), hash, String::new);
                }
                Some((id, delay, copy_delay, connection))
            }
        }
    }

    /// Transmits a handler's sends and multicasts in the order it made them.
    fn transmit_all(
        &mut self,
        me: Addr,
        sends: &mut Vec<(Addr, N::Msg)>,
        multicasts: &mut Vec<Multicast<N::Msg>>,
        targets: &mut Vec<Addr>,
    ) {
        let mut singles = sends.drain(..);
        let mut done = 0;
        for m in multicasts.drain(..) {
            while done < m.after_sends {
                let Some((to, msg)) = singles.next() else { break };
                self.transmit(me, to, msg);
                done += 1;
            }
            self.transmit_many(me, &targets[m.targets], m.msg);
        }
        for (to, msg) in singles {
            self.transmit(me, to, msg);
        }
        targets.clear();
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
            coverage: &mut self.coverage,
            effects: self.disk_effects,
        };
        f(process, &mut ctx);
        let effects = ctx.effects;
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
            if !self.armed.is_empty() {
                self.role_taken(role);
            }
        }
        let me = Addr::node(i as u32);
        // Most handlers send a message or two and nothing else: one test of
        // the effect bits skips every other effect list.
        if effects & EFFECTS_BEFORE_SENDS != 0 {
            self.effects_before_sends(i, effects, incarnation);
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
        if effects & EFFECT_CLIENT != 0 {
            let mut events = std::mem::take(&mut self.node_out.client_events);
            for (kind, op) in events.drain(..) {
                self.trace_client(me, kind, op);
            }
            self.node_out.client_events = events;
        }
    }

    /// A node handler's timers, durable writes and multicasts, in that
    /// order (a synchronous write holds back the messages after it).
    #[inline]
    fn effects_before_sends(&mut self, i: usize, effects: u8, incarnation: u32) {
        let now = self.now;
        if !self.node_out.timers.is_empty() {
            let mut timers = std::mem::take(&mut self.node_out.timers);
            for (delay, id, timer) in timers.drain(..) {
                self.push(now + delay, Event::NodeTimer { node: i as u32, incarnation, id, timer });
            }
            self.node_out.timers = timers;
        }
        if effects & (EFFECT_DISK | WROTE_SYNC | WROTE_ASYNC) != 0 {
            if self.nodes[i].disk.is_some() {
                self.through_disk(i, effects & (WROTE_SYNC | WROTE_ASYNC), incarnation);
            } else if !self.node_out.durable_tokens.is_empty() {
                // No disk model: an asynchronous write is durable at once.
                let mut tokens = std::mem::take(&mut self.node_out.durable_tokens);
                for token in tokens.drain(..) {
                    self.push(now, Event::Durable { node: i as u32, incarnation, token });
                }
                self.node_out.durable_tokens = tokens;
            }
        }
        if !self.node_out.multicasts.is_empty() {
            let me = Addr::node(i as u32);
            let mut sends = std::mem::take(&mut self.node_out.sends);
            let mut multicasts = std::mem::take(&mut self.node_out.multicasts);
            let mut targets = std::mem::take(&mut self.node_out.targets);
            self.transmit_all(me, &mut sends, &mut multicasts, &mut targets);
            self.node_out.sends = sends;
            self.node_out.multicasts = multicasts;
            self.node_out.targets = targets;
        }
    }

    /// A node took `role`: the faults waiting for it strike after their
    /// delay (drawn from the fault stream). Their `node` is resolved then.
    fn role_taken(&mut self, role: Role) {
        let now = self.now;
        let mut i = 0;
        while i < self.armed.len() {
            let idx = self.armed[i];
            let Some(t) = self.faults[idx].after.as_ref().filter(|t| t.role == role) else {
                i += 1;
                continue;
            };
            let (lo, hi) = (t.delay_min.as_nanos(), t.delay_max.as_nanos());
            let delay = if hi > lo { self.fault_rng.gen_range(lo..=hi) } else { lo };
            self.armed.swap_remove(i);
            self.faults[idx].after = None;
            self.push(now + Duration::from_nanos(delay), Event::Fault(idx as u32));
        }
    }

    /// Puts a handler's writes on node `i`'s disk, and holds its messages
    /// back until the node's synchronous writes are durable.
    fn through_disk(&mut self, i: usize, wrote: u8, incarnation: u32) {
        let now = self.now;
        let slot = &mut self.nodes[i];
        let Some(disk) = slot.disk.as_mut() else { return };
        if wrote != 0 {
            let sync = wrote & WROTE_SYNC != 0;
            if let Some((done, seq)) = disk.write(now, &slot.durable, sync, &mut self.node_out.durable_tokens) {
                self.push(done, Event::DiskDone { node: i as u32, incarnation, seq });
            }
        }
        let slot = &mut self.nodes[i];
        let Some(held) = slot.disk.as_mut().and_then(|d| d.send_barrier()) else { return };
        let out = &mut self.node_out;
        let mut singles = out.sends.drain(..);
        let mut done = 0;
        for m in out.multicasts.drain(..) {
            while done < m.after_sends {
                let Some(send) = singles.next() else { break };
                held.sends.push(send);
                done += 1;
            }
            held.sends.extend(out.targets[m.targets].iter().map(|&to| (to, m.msg.clone())));
        }
        held.sends.extend(singles);
        out.targets.clear();
        held.notes.append(&mut out.notes);
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
            coverage: &mut self.coverage,
            effects: 0,
        };
        f(&mut slot.process, &mut ctx);
        let me = Addr::client(i as u32);
        let mut out = std::mem::take(&mut self.client_out);
        for (delay, id, timer) in out.timers.drain(..) {
            self.push(now + delay, Event::ClientTimer { client: i as u32, id, timer });
        }
        if out.multicasts.is_empty() {
            for (to, msg) in out.sends.drain(..) {
                self.transmit(me, to, msg);
            }
        } else {
            self.transmit_all(me, &mut out.sends, &mut out.multicasts, &mut out.targets);
        }
        out.notes.clear();
        // Clients have no disk model and no durability callbacks.
        out.durable_tokens.clear();
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

    /// Records an applied fault; returns its id, the index in the applied
    /// list, which the records of its undo name ("heal partition #3").
    fn record_fault(&mut self, kind: &'static str, nodes: Vec<u32>, description: String) -> usize {
        let hash = stable_hash(&(kind, &nodes));
        self.trace.event(self.now, EventKind::Fault, None, None, kind, hash, || description.clone());
        self.applied.push(AppliedFault { at: self.now, kind, nodes, description, groups: Vec::new() });
        self.applied.len() - 1
    }

    /// Schedules the end of applied fault `fault`, if it has one.
    fn schedule_undo(&mut self, at: Option<Time>, fault: usize, undo: Undo) {
        if let Some(at) = at {
            self.push(at, Event::Undo { fault: fault as u32, undo });
        }
    }

    fn apply_fault(&mut self, idx: usize) {
        if self.quiet_phase {
            return;
        }
        if self.faults[idx].after.is_some() {
            // Timed by a role change: it waits for one (`role_taken`).
            self.armed.push(idx);
            return;
        }
        let fault = self.faults[idx].clone();
        let undo_at = fault.undo_after.map(|d| self.now + d);
        match &fault.action {
            FaultAction::Partition { groups } => {
                let n = self.nodes_len();
                let unlisted = groups.len() as u32;
                let mut label = vec![unlisted; n as usize];
                for (g, members) in groups.iter().enumerate() {
                    for &m in members {
                        if m < n {
                            label[m as usize] = g as u32;
                        }
                    }
                }
                let mut sides: Vec<Vec<u32>> = groups.iter().filter(|g| !g.is_empty()).cloned().collect();
                let rest: Vec<u32> = (0..n).filter(|&i| label[i as usize] == unlisted).collect();
                if !rest.is_empty() {
                    sides.push(rest);
                }
                let (cut, broken) = self.net.partition(label);
                let id = self.record_fault(
                    "partition",
                    (0..n).collect(),
                    format!("partition {} (unlisted nodes form their own group)", node_lists(groups)),
                );
                self.set_groups(sides);
                self.notify_broken(broken);
                self.schedule_undo(undo_at, id, Undo::Barrier { cut, kind: "partition" });
            }
            FaultAction::PartitionOneway { from, to } => {
                let (cut, broken) = self.net.cut(from, to);
                let nodes = from.iter().chain(to.iter()).copied().collect();
                let id = self.record_fault(
                    "partition_oneway",
                    nodes,
                    format!("cut {} -> {}", node_list(from), node_list(to)),
                );
                self.notify_broken(broken);
                self.schedule_undo(undo_at, id, Undo::Barrier { cut, kind: "partition_oneway" });
            }
            FaultAction::Isolate { node } => {
                let Some(target) = self.resolve(node, false) else {
                    return self.skip_fault("isolate", node);
                };
                let n = self.nodes_len();
                let mut label = vec![0; n as usize];
                label[target as usize] = 1;
                let (cut, broken) = self.net.partition(label);
                let id = self.record_fault("isolate", vec![target], format!("isolate n{target}{}", via(node)));
                self.set_groups(vec![vec![target], (0..n).filter(|&b| b != target).collect()]);
                self.notify_broken(broken);
                self.schedule_undo(undo_at, id, Undo::Barrier { cut, kind: "isolate" });
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
                let id = self.crash(target, format!("crash n{target}{}", via(node)));
                self.nodes[target as usize].down_by = Some(id);
                self.schedule_undo(undo_at, id, Undo::Crash { node: target });
            }
            FaultAction::Restart { node } => {
                let Some(target) = self.resolve(node, true) else {
                    return self.skip_fault("restart", node);
                };
                self.restart(target, format!("restart n{target} from durable state"));
            }
            FaultAction::Pause { node } => {
                let Some(target) = self.resolve(node, false) else {
                    return self.skip_fault("pause", node);
                };
                let slot = &self.nodes[target as usize];
                if slot.process.is_none() {
                    return self.skip_fault("pause", node);
                }
                let description = match slot.pauses.last() {
                    None => format!("pause n{target}{}", via(node)),
                    Some(other) => format!("pause n{target}{} (already paused by pause #{other})", via(node)),
                };
                let id = self.record_fault("pause", vec![target], description);
                let slot = &mut self.nodes[target as usize];
                slot.paused = true;
                slot.pauses.push(id);
                self.schedule_undo(undo_at, id, Undo::Pause { node: target });
            }
            FaultAction::Resume { node } => {
                let Some(target) = self.resolve(node, false) else {
                    return self.skip_fault("resume", node);
                };
                // An explicit resume ends every pause.
                self.nodes[target as usize].pauses.clear();
                self.resume(target, format!("resume n{target}"));
            }
            FaultAction::ClockRate { node, rate } => {
                let Some(target) = self.resolve(node, false) else {
                    return self.skip_fault("clock_rate", node);
                };
                self.set_clock_rate(target, *rate);
                let id = self.record_fault(
                    "clock_rate",
                    vec![target],
                    format!("n{target} clock runs at {rate}x{}", via(node)),
                );
                let in_force = &mut self.nodes[target as usize].clock_faults;
                if undo_at.is_none() {
                    // A lasting change: the faults before it can no longer
                    // set the clock when they end.
                    in_force.clear();
                }
                in_force.push((id, *rate));
                self.schedule_undo(undo_at, id, Undo::Clock { node: target });
            }
            FaultAction::SlowDisk { node, factor } => {
                let Some(target) = self.resolve(node, false) else {
                    return self.skip_fault("slow_disk", node);
                };
                let Some(disk) = self.nodes[target as usize].disk.as_mut() else {
                    return self.skip_fault("slow_disk", node);
                };
                disk.slowdowns.push((self.applied.len(), *factor));
                let id = self.record_fault(
                    "slow_disk",
                    vec![target],
                    format!("n{target} disk writes {factor}x slower{}", via(node)),
                );
                self.schedule_undo(undo_at, id, Undo::SlowDisk { node: target });
            }
        }
    }

    /// Ends applied fault `fault`: removes what it did and nothing else.
    fn undo_fault(&mut self, fault: usize, undo: Undo) {
        if self.quiet_phase {
            return;
        }
        match undo {
            Undo::Barrier { cut, kind } => {
                let description = if self.net.remove_cut(cut) {
                    format!("heal {kind} #{fault}")
                } else {
                    format!("heal {kind} #{fault} (already healed)")
                };
                self.record_fault("heal", Vec::new(), description);
            }
            Undo::Crash { node } => {
                let slot = &self.nodes[node as usize];
                if slot.process.is_some() {
                    return self.skip_undo(
                        "restart",
                        format!("restart n{node} skipped: running again before crash #{fault} ended"),
                    );
                }
                match slot.down_by {
                    Some(by) if by != fault => self.skip_undo(
                        "restart",
                        format!("restart n{node} skipped: crash #{by}, not crash #{fault}, holds it down"),
                    ),
                    _ => self.restart(node, format!("restart n{node} from durable state (ends crash #{fault})")),
                }
            }
            Undo::Pause { node } => {
                let pauses = &mut self.nodes[node as usize].pauses;
                // Gone when a resume fault, a crash or the liveness phase ended it.
                let Some(pos) = pauses.iter().position(|&p| p == fault) else { return };
                pauses.remove(pos);
                match pauses.first() {
                    None => self.resume(node, format!("resume n{node} (ends pause #{fault})")),
                    Some(&other) => self.skip_undo(
                        "resume",
                        format!("resume n{node} skipped: pause #{fault} ended, pause #{other} still holds it"),
                    ),
                }
            }
            Undo::SlowDisk { node } => {
                let Some(disk) = self.nodes[node as usize].disk.as_mut() else { return };
                let Some(pos) = disk.slowdowns.iter().position(|&(f, _)| f == fault) else { return };
                disk.slowdowns.remove(pos);
                self.record_fault(
                    "slow_disk",
                    vec![node],
                    format!("n{node} disk back to speed (ends slow_disk #{fault})"),
                );
            }
            Undo::Clock { node } => {
                let in_force = &mut self.nodes[node as usize].clock_faults;
                let Some(pos) = in_force.iter().position(|&(f, _)| f == fault) else {
                    return self.skip_undo(
                        "clock_rate",
                        format!("n{node} clock reset skipped: restarted or replaced since clock_rate #{fault}"),
                    );
                };
                let was_setting = pos + 1 == in_force.len();
                in_force.remove(pos);
                if was_setting {
                    let machine_rate = self.nodes[node as usize].machine_rate;
                    let in_force = &self.nodes[node as usize].clock_faults;
                    let rate = in_force.last().map_or(machine_rate, |&(_, rate)| rate);
                    self.set_clock_rate(node, rate);
                    self.record_fault(
                        "clock_rate",
                        vec![node],
                        format!("n{node} clock runs at {rate}x (ends clock_rate #{fault})"),
                    );
                } else {
                    let &(latest, _) = in_force.last().expect("a later clock fault is in force");
                    self.skip_undo(
                        "clock_rate",
                        format!("n{node} clock reset skipped: clock_rate #{latest} replaced clock_rate #{fault}"),
                    );
                }
            }
        }
    }

    fn set_groups(&mut self, groups: Vec<Vec<u32>>) {
        if let Some(last) = self.applied.last_mut() {
            last.groups = groups;
        }
    }

    fn skip_fault(&mut self, kind: &'static str, node: &NodeRef) {
        self.skip_undo(kind, format!("{kind} skipped: no node matched {node}"));
    }

    /// Traces a fault (or the end of one) that had nothing to do.
    fn skip_undo(&mut self, kind: &'static str, description: String) {
        self.metrics.count("faults_skipped", 1);
        self.trace.event(self.now, EventKind::Fault, None, None, "skipped", stable_hash(kind), || description.clone());
    }

    fn notify_broken(&mut self, pairs: Vec<(Addr, Addr)>) {
        let now = self.now;
        for (a, b) in pairs {
            self.push(now, Event::LinkDown { at: a, peer: b });
            self.push(now, Event::LinkDown { at: b, peer: a });
        }
    }

    /// Crashes a running node; returns the applied fault's id.
    fn crash(&mut self, target: u32, description: String) -> usize {
        let i = target as usize;
        let slot = &mut self.nodes[i];
        slot.process = None;
        slot.paused = false;
        slot.pauses.clear();
        slot.incarnation = slot.incarnation.wrapping_add(1);
        slot.role = "";
        if let Some(disk) = slot.disk.as_mut() {
            let (lost, synced) = disk.crash();
            if let Some(synced) = synced {
                slot.durable = synced;
            }
            self.metrics.count("disk_writes_lost", lost as u64);
        }
        self.held[i].clear();
        let me = Addr::node(target);
        let broken = self.net.break_sessions_of(me);
        let now = self.now;
        for peer in broken {
            self.push(now, Event::LinkDown { at: peer, peer: me });
        }
        if let Some(m) = self.monitor.as_mut() {
            m.on_crash(now, NodeId(target));
        }
        self.record_fault("crash", vec![target], description)
    }

    fn restart(&mut self, target: u32, description: String) {
        let i = target as usize;
        if self.nodes[i].process.is_some() {
            return self.skip_fault("restart", &NodeRef::Id(target));
        }
        let now = self.now;
        let process = (self.spawn)(NodeId(target), &self.nodes[i].durable);
        let slot = &mut self.nodes[i];
        slot.process = Some(process);
        slot.down_by = None;
        slot.clock_faults.clear();
        slot.clock_rate = slot.machine_rate;
        slot.true_base = now;
        slot.local_base = now + slot.machine_offset;
        slot.booted = true;
        self.record_fault("restart", vec![target], description);
        if let Some(m) = self.monitor.as_mut() {
            m.on_restart(now, NodeId(target));
        }
        self.with_node(i, |p, ctx| p.on_start(ctx));
    }

    fn resume(&mut self, target: u32, description: String) {
        let i = target as usize;
        if !self.nodes[i].paused {
            return;
        }
        self.nodes[i].paused = false;
        self.record_fault("resume", vec![target], description);
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
            if let Some(disk) = self.nodes[i as usize].disk.as_mut() {
                disk.slowdowns.clear();
            }
            if self.nodes[i as usize].process.is_none() {
                self.restart(i, format!("restart n{i} from durable state"));
            } else {
                self.nodes[i as usize].pauses.clear();
                self.resume(i, format!("resume n{i}"));
                self.nodes[i as usize].clock_faults.clear();
                let machine_rate = self.nodes[i as usize].machine_rate;
                if self.nodes[i as usize].clock_rate != machine_rate {
                    self.set_clock_rate(i, machine_rate);
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
    pub fn local_time(&self, node: NodeId) -> Time {
        self.nodes[node.0 as usize].local_now(self.now)
    }

    /// Shorthand for tests: durations as `Duration`.
    pub fn elapsed(&self) -> Duration {
        self.now.since(Time::ZERO)
    }
}

#[cfg(test)]
mod description_tests {
    use super::{node_list, node_lists};

    #[test]
    fn small_groups_are_listed_large_ones_summarised() {
        assert_eq!(node_lists(&[vec![0, 4], vec![], vec![1]]), "[[0, 4], [], [1]]");
        let half: Vec<u32> = (0..50_000).collect();
        assert_eq!(node_list(&half), "[0, 1, 2, 3, 4, 5, 6, 7, ... (50000 nodes)]");
    }
}
