//! The simulated key-value client, shared by every protocol that serves the
//! store. It issues get / put / compare-and-set operations drawn from the
//! scenario's workload, sends each attempt where its routing policy says
//! (for Raft: the leader, following redirects), times out and retries under
//! the same operation id, and records every operation in its history: invoke
//! time, completion time and result — or "unknown" when it gave up without
//! learning whether the operation took effect.

use std::marker::PhantomData;
use std::sync::Arc;

use faultline_sim::report::client_metrics;
use faultline_sim::rng::poisson_gap;
use faultline_sim::{Addr, Ctx, Duration, Message, Process, Time, TimerId};
use rand::Rng;

use super::workload::{KeyChooser, KvWorkload, WriteKind};
use super::{Command, KvMsg, KvResult, OpId, Reply, Request, Value};
use crate::check::history::{Operation, Outcome};
use crate::client::{Envelope, LoadMode, Routing, RoutingKind};
use crate::harness::ClientHistory;

/// The most operations one client keeps outstanding (open loop); arrivals
/// beyond it are counted as shed, not queued without bound.
pub const MAX_OUTSTANDING: usize = 1_000;
/// Redirects one attempt follows before it waits for its timeout.
const MAX_REDIRECTS_PER_ATTEMPT: u32 = 8;

#[derive(Clone, Debug, Hash)]
pub enum ClientTimer {
    /// The earliest attempt deadline may have passed. One such timer per
    /// client, re-armed for the next deadline, instead of one per attempt.
    Deadline,
    /// Try operation `seq` again after a short back-off (no leader known).
    Backoff { seq: u64, attempt: u32 },
    /// Open loop: the next operation arrives.
    Arrival,
}

struct Pending {
    seq: u64,
    command: Command,
    /// A read the client preceded by a sync.
    sync: bool,
    invoked: Time,
    attempt: u32,
    redirects: u32,
    /// When the current attempt times out (true time).
    deadline: Time,
}

/// What a protocol's key-value clients share, built once per scenario: the
/// workload and the key chooser.
pub struct KvClients {
    pub workload: Arc<KvWorkload>,
    keys: Arc<KeyChooser>,
}

impl KvClients {
    /// Clients of an already validated workload.
    pub fn new(workload: KvWorkload) -> KvClients {
        KvClients { keys: Arc::new(KeyChooser::new(&workload)), workload: Arc::new(workload) }
    }

    /// Refuses a closed-loop workload whose operations outstanding at once
    /// (clients × concurrency) cannot fit `[limits] max_memory` at
    /// `bytes_per_op` each (the protocol's lower bound per operation).
    pub fn fit_memory(
        &self,
        scenario: &faultline_scenario::Scenario,
        bytes_per_op: u64,
    ) -> Result<(), faultline_scenario::ScenarioError> {
        let LoadMode::Closed { concurrency } = self.workload.load.mode else { return Ok(()) };
        let count = u64::from(scenario.clients.count);
        let ops = count * u64::from(concurrency);
        scenario.check_memory(
            ops,
            bytes_per_op,
            &format!("{ops} operations outstanding at once ({count} clients × concurrency {concurrency})"),
            ("workload", &["concurrency", "clients"]),
            "lower `clients` or `concurrency`",
        )
    }

    /// These clients with their writes issued as `writes`.
    pub fn with_writes(self, writes: WriteKind) -> KvClients {
        let mut workload = (*self.workload).clone();
        workload.writes = writes;
        KvClients { workload: Arc::new(workload), keys: self.keys }
    }

    /// From the scenario's `[workload]`; `None` when it has none.
    pub fn from_scenario(
        scenario: &faultline_scenario::Scenario,
    ) -> Result<Option<KvClients>, faultline_scenario::ScenarioError> {
        Ok(KvWorkload::from_scenario(scenario)?
            .map(|w| KvClients { keys: Arc::new(KeyChooser::new(&w)), workload: Arc::new(w) }))
    }

    /// One client per home node the scenario lists, each routing by `routing`.
    pub fn build<P: Message>(
        &self,
        scenario: &faultline_scenario::Scenario,
        routing: &RoutingKind,
        record_history: bool,
    ) -> Vec<KvClient<P>> {
        let nodes = scenario.nodes;
        let homes = scenario.clients.homes.iter().enumerate();
        homes
            .map(|(i, &home)| {
                let routing = routing.build(home, nodes);
                KvClient::new(i as u32, self.workload.clone(), self.keys.clone(), routing, record_history)
            })
            .collect()
    }
}

pub struct KvClient<P> {
    id: u32,
    workload: Arc<KvWorkload>,
    keys: Arc<KeyChooser>,
    /// Which node each attempt goes to.
    routing: Box<dyn Routing>,
    next_seq: u64,
    pending: Vec<Pending>,
    /// Last value this client saw per key, to give compare-and-set a chance.
    seen: std::collections::BTreeMap<u64, Value>,
    /// The highest position in the service's order this client has been
    /// answered at ([`Reply::Served`]): its session's last zxid.
    last_at: u64,
    history: Vec<Operation>,
    record_history: bool,
    /// When the deadline timer fires, and its handle.
    armed: Option<Time>,
    armed_timer: Option<TimerId>,
    _msg: PhantomData<fn() -> P>,
}

impl<P: Message> KvClient<P> {
    /// `record_history`: keep every operation for the history checkers;
    /// off, memory stays flat however long the run.
    pub fn new(
        id: u32,
        workload: Arc<KvWorkload>,
        keys: Arc<KeyChooser>,
        routing: Box<dyn Routing>,
        record_history: bool,
    ) -> KvClient<P> {
        KvClient {
            id,
            workload,
            keys,
            routing,
            next_seq: 0,
            pending: Vec::new(),
            seen: Default::default(),
            last_at: 0,
            history: Vec::new(),
            record_history,
            armed: None,
            armed_timer: None,
            _msg: PhantomData,
        }
    }

    /// Every operation this client invoked, in invocation order.
    pub fn history(&self) -> &[Operation] {
        &self.history
    }

    /// Operations still outstanding when the run ended count as unknown.
    fn ops_at_end(&self) -> Vec<Operation> {
        let mut ops = self.history.clone();
        for p in &self.pending {
            ops.push(Operation {
                client: self.id,
                invoke_ns: p.invoked.as_nanos(),
                complete_ns: None,
                kind: p.command.clone(),
                outcome: Outcome::Unknown,
                at: None,
                sync: p.sync,
            });
        }
        ops
    }

    /// Makes sure a deadline timer fires no later than `deadline`.
    fn arm_deadline(&mut self, ctx: &mut Ctx<'_, Self>, deadline: Time) {
        if self.armed.is_some_and(|at| at <= deadline) {
            return;
        }
        if let Some(old) = self.armed_timer.take() {
            ctx.cancel_timer(old);
        }
        self.armed = Some(deadline);
        self.armed_timer = Some(ctx.set_timer(deadline.since(ctx.true_now()), ClientTimer::Deadline));
    }

    fn may_start(&self) -> bool {
        self.workload.load.max_ops_per_client.is_none_or(|m| self.next_seq < m)
    }

    /// The next operation, and whether it is a read preceded by a sync.
    fn draw_command(&mut self, ctx: &mut Ctx<'_, Self>) -> (Command, bool) {
        let now = ctx.true_now();
        let key = self.keys.pick(ctx.rng(), now);
        // Rolling keys never come back: forget what was seen of the old ones.
        if let Some(first) = self.keys.first_live(now) {
            if self.seen.first_key_value().is_some_and(|(&k, _)| k < first) {
                self.seen = self.seen.split_off(&first);
            }
        }
        let roll: f64 = ctx.rng().gen();
        // Values are unique per (client, seq), which keeps the history
        // checker precise and fast.
        let value = (u64::from(self.id) + 1) << 40 | (self.next_seq + 1);
        let read = self.workload.read_ratio.get();
        if roll < read {
            // No draw when no read syncs, so such workloads draw as before.
            let sync = self.workload.sync_ratio.get() > 0.0 && ctx.rng().gen::<f64>() < self.workload.sync_ratio.get();
            (Command::Get { key }, sync)
        } else if roll < read + self.workload.cas_ratio.get() {
            (Command::Cas { key, expected: self.seen.get(&key).copied().unwrap_or(0), new: value }, false)
        } else {
            let command = match self.workload.writes {
                WriteKind::Put => Command::Put { key, value },
                WriteKind::Propose => Command::Propose { key, value },
            };
            (command, false)
        }
    }

    fn first_outstanding(&self) -> u64 {
        self.pending.iter().map(|p| p.seq).min().unwrap_or(self.next_seq)
    }

    fn start_op(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.may_start() {
            return;
        }
        if self.pending.len() >= MAX_OUTSTANDING {
            ctx.count("client_ops_shed", 1);
            return;
        }
        let (command, sync) = self.draw_command(ctx);
        let seq = self.next_seq;
        self.next_seq += 1;
        ctx.client_invoke(seq);
        let deadline = ctx.true_now() + self.workload.load.timeout;
        self.pending.push(Pending { seq, command, sync, invoked: ctx.true_now(), attempt: 0, redirects: 0, deadline });
        self.arm_deadline(ctx, deadline);
        self.send(ctx, seq);
    }

    fn send(&mut self, ctx: &mut Ctx<'_, Self>, seq: u64) {
        let first_outstanding = self.first_outstanding();
        if let Some(p) = self.pending.iter().find(|p| p.seq == seq) {
            let request = Request {
                op: OpId { client: self.id, seq },
                command: p.command.clone(),
                first_outstanding,
                seen: self.last_at,
                sync: p.sync,
            };
            let to = self.routing.pick(p.command.key());
            ctx.send(Addr::Node(to), Envelope::Request(request));
        }
    }

    /// `at`: where in the service's order it was answered, if it says.
    fn finish(&mut self, ctx: &mut Ctx<'_, Self>, index: usize, outcome: Outcome, at: Option<u64>) {
        let p = self.pending.swap_remove(index);
        ctx.client_complete(p.seq);
        let now = ctx.true_now();
        let complete_ns = match outcome {
            Outcome::Unknown => None,
            _ => Some(now.as_nanos()),
        };
        match outcome {
            Outcome::Unknown => ctx.count(client_metrics::UNKNOWN, 1),
            Outcome::Failed => ctx.count(client_metrics::FAILED, 1),
            _ => {
                ctx.count(client_metrics::OK, 1);
                ctx.record(client_metrics::LATENCY_US, now.since(p.invoked).as_nanos() / 1_000);
            }
        }
        if let Outcome::Read { value: Some(v) } = outcome {
            self.seen.insert(p.command.key(), v);
        }
        if !self.record_history {
            if matches!(self.workload.load.mode, LoadMode::Closed { .. }) {
                self.start_op(ctx);
            }
            return;
        }
        self.history.push(Operation {
            client: self.id,
            invoke_ns: p.invoked.as_nanos(),
            complete_ns,
            kind: p.command,
            outcome,
            at,
            sync: p.sync,
        });
        if matches!(self.workload.load.mode, LoadMode::Closed { .. }) {
            self.start_op(ctx);
        }
    }

    fn schedule_arrival(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let LoadMode::Open { rate_per_sec } = self.workload.load.mode {
            let gap = poisson_gap(ctx.rng(), rate_per_sec);
            ctx.set_timer(gap, ClientTimer::Arrival);
        }
    }

    /// Back-off before retrying when no leader is known: a tenth of the
    /// timeout, so a client probes a few nodes per timeout.
    fn backoff(&self) -> Duration {
        Duration::from_nanos((self.workload.load.timeout.as_nanos() / 10).max(1_000_000))
    }
}

impl<P: Message> ClientHistory for KvClient<P> {
    fn history_at_end(&self) -> Vec<Operation> {
        self.ops_at_end()
    }
}

impl<P: Message> Process for KvClient<P> {
    type Msg = KvMsg<P>;
    type Timer = ClientTimer;
    type Durable = ();
    type Note = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self.workload.load.mode {
            LoadMode::Closed { concurrency } => {
                for _ in 0..concurrency {
                    self.start_op(ctx);
                }
            }
            LoadMode::Open { .. } => self.schedule_arrival(ctx),
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: KvMsg<P>) {
        let Envelope::Reply(reply) = &msg else { return };
        match reply {
            Reply::Done { op, result } | Reply::Served { op, result, .. } => {
                let at = match reply {
                    Reply::Served { at, .. } => Some(*at),
                    _ => None,
                };
                // Late or duplicate replies for finished operations are ignored.
                let Some(i) = self.pending.iter().position(|p| p.seq == op.seq) else { return };
                if let Addr::Node(n) = from {
                    self.routing.answered(n);
                }
                let outcome = match (&self.pending[i].command, result) {
                    (Command::Get { .. }, KvResult::Read(_))
                    | (Command::Put { .. }, KvResult::Written)
                    | (Command::Cas { .. }, KvResult::Cas(_))
                    | (Command::Propose { .. }, KvResult::Chosen(_)) => result.outcome(),
                    // A reply that does not fit the request is a protocol
                    // bug; recording it as unknown would hide it, so record
                    // what was said and let the checker judge.
                    _ => result.outcome(),
                };
                if let Some(at) = at {
                    self.last_at = self.last_at.max(at);
                }
                self.finish(ctx, i, outcome, at);
            }
            Reply::Redirect { op, leader } => {
                let Some(i) = self.pending.iter().position(|p| p.seq == op.seq) else { return };
                let (seq, attempt) = (self.pending[i].seq, self.pending[i].attempt);
                self.pending[i].redirects += 1;
                if self.pending[i].redirects > MAX_REDIRECTS_PER_ATTEMPT {
                    return; // wait for the timeout
                }
                let Addr::Node(from) = from else { return };
                match self.routing.redirected(from, *leader) {
                    Some(_) => self.send(ctx, seq),
                    None => {
                        let backoff = self.backoff();
                        ctx.set_timer(backoff, ClientTimer::Backoff { seq, attempt });
                    }
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: ClientTimer) {
        match timer {
            ClientTimer::Arrival => {
                self.start_op(ctx);
                if self.may_start() {
                    self.schedule_arrival(ctx);
                }
            }
            ClientTimer::Backoff { seq, attempt } => {
                if self.pending.iter().any(|p| p.seq == seq && p.attempt == attempt) {
                    self.send(ctx, seq);
                }
            }
            ClientTimer::Deadline => {
                self.armed = None;
                self.armed_timer = None;
                let now = ctx.true_now();
                // Expired attempts, oldest operation first.
                let mut expired: Vec<u64> = self.pending.iter().filter(|p| p.deadline <= now).map(|p| p.seq).collect();
                expired.sort_unstable();
                for seq in expired {
                    let Some(i) = self.pending.iter().position(|p| p.seq == seq) else { continue };
                    if self.pending[i].attempt < self.workload.load.retries {
                        let p = &mut self.pending[i];
                        p.attempt += 1;
                        p.redirects = 0;
                        p.deadline = now + self.workload.load.timeout;
                        ctx.count("client_retries", 1);
                        let key = p.command.key();
                        self.routing.timed_out(key);
                        self.send(ctx, seq);
                    } else {
                        // Giving up without an answer: any attempt may have
                        // taken effect (even one that was redirected can
                        // arrive twice), so the honest outcome is unknown.
                        self.finish(ctx, i, Outcome::Unknown, None);
                    }
                }
                if let Some(next) = self.pending.iter().map(|p| p.deadline).min() {
                    self.arm_deadline(ctx, next);
                }
            }
        }
    }
}
