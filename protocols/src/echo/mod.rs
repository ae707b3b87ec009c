//! echo: clients send requests to a node, which answers each one at once.
//! The smallest protocol with clients — the same key-value client every
//! protocol uses, so it exercises timeouts, retries, duplicates and client
//! latency — with one check: every reply answers a request that was actually
//! sent (`replies_match`).

use serde::Deserialize;

use std::sync::Arc;

use faultline_sim::scenario::{Scenario, ScenarioError};
use faultline_sim::world::{Monitor, Violation};
use faultline_sim::{Addr, CheckResult, Ctx, LinkKind, Message, NodeId, Process, RunReport, Time, World};

use crate::kv::client::{KeyChooser, KvClient, KvMessage};
use crate::kv::{Command, KvResult, OpId, Reply, Request};

use crate::registry::{ProtocolEntry, RunOptions};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum EchoMsg {
    Request(Request),
    Reply(Reply),
}

impl Message for EchoMsg {
    fn label(&self) -> &'static str {
        match self {
            EchoMsg::Request(_) => "Request",
            EchoMsg::Reply(_) => "Reply",
        }
    }
}

impl KvMessage for EchoMsg {
    fn request(request: Request) -> Self {
        EchoMsg::Request(request)
    }
    fn as_reply(&self) -> Option<&Reply> {
        match self {
            EchoMsg::Reply(r) => Some(r),
            EchoMsg::Request(_) => None,
        }
    }
}

/// Answers every request at once. It stores nothing: a read finds nothing,
/// a write is acknowledged, a compare-and-set never swaps.
pub struct EchoNode;

/// A node's report: it answered `op` for `client`.
#[derive(Debug)]
pub struct Answered {
    pub client: Addr,
    pub op: OpId,
}

impl Process for EchoNode {
    type Msg = EchoMsg;
    type Timer = ();
    type Durable = ();
    type Note = Answered;
    fn on_start(&mut self, _ctx: &mut Ctx<'_, Self>) {}
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: EchoMsg) {
        if let EchoMsg::Request(request) = msg {
            ctx.note(Answered { client: from, op: request.op });
            let result = match request.command {
                Command::Get { .. } => KvResult::Read(None),
                Command::Put { .. } => KvResult::Written,
                Command::Cas { .. } => KvResult::Cas(false),
            };
            ctx.send(from, EchoMsg::Reply(Reply::Done { op: request.op, result }));
        }
    }
    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _timer: ()) {}
}

/// Every answered request was sent by a client: a node never invents one.
struct RepliesMatch {
    clients: u32,
    max_ops: Option<u64>,
}

impl Monitor<EchoNode> for RepliesMatch {
    fn on_note(&mut self, now: Time, node: NodeId, note: &Answered) -> Option<Violation> {
        let bad_client = !matches!(note.client, Addr::Client(c) if c.0 < self.clients && c.0 == note.op.client);
        let bad_op = self.max_ops.is_some_and(|m| note.op.seq >= m);
        (bad_client || bad_op).then(|| Violation {
            check: "replies_match".into(),
            at: now,
            nodes: vec![node.0],
            message: format!("n{} answered op {} for {}, which never sent it", node.0, note.op.seq, note.client),
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
    let keys = Arc::new(KeyChooser::new(&workload));
    let shared = Arc::new(workload.clone());
    let clients = workload
        .homes
        .iter()
        .enumerate()
        .map(|(i, &home)| KvClient::new(i as u32, home, shared.clone(), keys.clone(), false))
        .collect();
    let mut world: World<EchoNode, KvClient<EchoMsg>> =
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
