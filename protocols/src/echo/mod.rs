//! echo: clients send requests to their home node, which answers each one.
//! The smallest protocol with clients: it exercises timeouts, retries,
//! duplicates and client latency, and has one check — every reply answers a
//! request that was actually sent (`replies_match`).

use serde::Deserialize;

use faultline_sim::report::client_metrics;
use faultline_sim::rng::poisson_gap;
use faultline_sim::scenario::{LoadMode, Scenario, ScenarioError, Workload};
use faultline_sim::world::{Monitor, Violation};
use faultline_sim::{Addr, CheckResult, Ctx, LinkKind, Message, NodeId, Process, RunReport, Time, TimerId, World};

use crate::registry::{ProtocolEntry, RunOptions};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum EchoMsg {
    Request { op: u64 },
    Reply { op: u64 },
}

impl Message for EchoMsg {
    fn label(&self) -> &'static str {
        match self {
            EchoMsg::Request { .. } => "Request",
            EchoMsg::Reply { .. } => "Reply",
        }
    }
}

pub struct EchoNode;

/// A node's report: it answered `op` for `client`.
#[derive(Debug)]
pub struct Answered {
    pub client: Addr,
    pub op: u64,
}

impl Process for EchoNode {
    type Msg = EchoMsg;
    type Timer = ();
    type Durable = ();
    type Note = Answered;
    fn on_start(&mut self, _ctx: &mut Ctx<'_, Self>) {}
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: EchoMsg) {
        if let EchoMsg::Request { op } = msg {
            ctx.note(Answered { client: from, op });
            ctx.send(from, EchoMsg::Reply { op });
        }
    }
    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _timer: ()) {}
}

#[derive(Clone, Debug, Hash)]
pub enum ClientTimer {
    /// The attempt of `op` numbered `attempt` timed out.
    Timeout { op: u64, attempt: u32 },
    /// Open loop: time to start the next operation.
    Arrival,
}

struct Pending {
    op: u64,
    attempt: u32,
    invoked: Time,
    timer: TimerId,
}

/// A client that keeps `concurrency` requests outstanding (closed loop) or
/// starts them at a Poisson rate (open loop), with timeouts and retries.
pub struct EchoClient {
    home: u32,
    workload: Workload,
    next_op: u64,
    pending: Vec<Pending>,
}

impl EchoClient {
    pub fn new(home: u32, workload: Workload) -> EchoClient {
        EchoClient { home, workload, next_op: 0, pending: Vec::new() }
    }

    fn may_start(&self) -> bool {
        self.workload.max_ops_per_client.is_none_or(|m| self.next_op < m)
    }

    fn start_op(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.may_start() {
            return;
        }
        let op = self.next_op;
        self.next_op += 1;
        ctx.client_invoke(op);
        let timer = ctx.set_timer(self.workload.timeout, ClientTimer::Timeout { op, attempt: 0 });
        self.pending.push(Pending { op, attempt: 0, invoked: ctx.now(), timer });
        ctx.send(Addr::node(self.home), EchoMsg::Request { op });
    }

    fn schedule_arrival(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let LoadMode::Open { rate_per_sec } = self.workload.mode {
            let gap = poisson_gap(ctx.rng(), rate_per_sec);
            ctx.set_timer(gap, ClientTimer::Arrival);
        }
    }
}

impl Process for EchoClient {
    type Msg = EchoMsg;
    type Timer = ClientTimer;
    type Durable = ();
    type Note = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match self.workload.mode {
            LoadMode::Closed { concurrency } => {
                for _ in 0..concurrency {
                    self.start_op(ctx);
                }
            }
            LoadMode::Open { .. } => self.schedule_arrival(ctx),
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _from: Addr, msg: EchoMsg) {
        let EchoMsg::Reply { op } = msg else { return };
        // A duplicate or late reply for an op already finished is ignored.
        let Some(i) = self.pending.iter().position(|p| p.op == op) else {
            return;
        };
        let p = self.pending.swap_remove(i);
        ctx.cancel_timer(p.timer);
        ctx.client_complete(op);
        ctx.count(client_metrics::OK, 1);
        ctx.record(client_metrics::LATENCY_US, ctx.now().since(p.invoked).as_nanos() / 1_000);
        if matches!(self.workload.mode, LoadMode::Closed { .. }) {
            self.start_op(ctx);
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
            ClientTimer::Timeout { op, attempt } => {
                let Some(i) = self.pending.iter().position(|p| p.op == op && p.attempt == attempt) else {
                    return;
                };
                if attempt < self.workload.retries {
                    let next = attempt + 1;
                    self.pending[i].attempt = next;
                    self.pending[i].timer =
                        ctx.set_timer(self.workload.timeout, ClientTimer::Timeout { op, attempt: next });
                    ctx.count("client_retries", 1);
                    ctx.send(Addr::node(self.home), EchoMsg::Request { op });
                } else {
                    self.pending.swap_remove(i);
                    ctx.client_complete(op);
                    ctx.count(client_metrics::UNKNOWN, 1);
                    if matches!(self.workload.mode, LoadMode::Closed { .. }) {
                        self.start_op(ctx);
                    }
                }
            }
        }
    }
}

/// Every answered request was sent by a client: a node never invents one.
struct RepliesMatch {
    clients: u32,
    max_ops: Option<u64>,
}

impl Monitor<EchoNode> for RepliesMatch {
    fn on_note(&mut self, now: Time, node: NodeId, note: &Answered) -> Option<Violation> {
        let bad_client = !matches!(note.client, Addr::Client(c) if c.0 < self.clients);
        let bad_op = self.max_ops.is_some_and(|m| note.op >= m);
        (bad_client || bad_op).then(|| Violation {
            check: "replies_match".into(),
            at: now,
            nodes: vec![node.0],
            message: format!("n{} answered op {} for {}, which never sent it", node.0, note.op, note.client),
        })
    }
}

fn validate(scenario: &Scenario) -> Result<(), ScenarioError> {
    let _: Params = scenario.params()?;
    if scenario.workload.as_ref().is_none_or(|w| w.clients == 0) {
        return Err(scenario.error("echo needs a [workload] with at least one client"));
    }
    Ok(())
}

fn run(scenario: &Scenario, seed: u64, mut options: RunOptions) -> Result<RunReport, ScenarioError> {
    validate(scenario)?;
    let Some(workload) = scenario.workload.clone() else {
        return Err(scenario.error("echo needs a [workload] with at least one client"));
    };
    let clients = workload.homes.iter().map(|&h| EchoClient::new(h, workload.clone())).collect();
    let mut world: World<EchoNode, EchoClient> =
        World::new(scenario.world_config(seed), Box::new(|_, _| EchoNode), clients);
    if scenario.checks.is_on("replies_match") {
        world.set_monitor(Box::new(RepliesMatch { clients: workload.clients, max_ops: workload.max_ops_per_client }));
    }
    if let Some(sink) = options.trace.take() {
        world.set_trace_sink(sink);
    }
    let outcome = world.run();
    options.phase("simulated");
    let mut checks = Vec::new();
    if scenario.checks.is_on("replies_match") {
        checks.push(match &outcome.violation {
            Some(v) => CheckResult::fail("replies_match", v.clone()),
            None => CheckResult::pass("replies_match", "every reply answered a request a client sent"),
        });
    }
    Ok(RunReport::new(&scenario.name, &scenario.protocol, seed, outcome, world.metrics().clone(), checks))
}

pub const ENTRY: ProtocolEntry = ProtocolEntry {
    name: "echo",
    summary: "clients send requests to their home node, which answers",
    roles: &[],
    checks: &["replies_match"],
    link_kind: LinkKind::Datagram,
    validate,
    run,
};
