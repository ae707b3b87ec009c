//! echo: clients send requests to a node, which answers each one at once.
//! The smallest protocol with clients — the same key-value client every
//! protocol uses, so it exercises timeouts, retries, duplicates and client
//! latency — with one check: every reply answers a request that was actually
//! sent (`replies_match`).

use serde::Deserialize;

use faultline_scenario::{Scenario, ScenarioError, Step};
use faultline_sim::world::{Monitor, Violation};
use faultline_sim::{Addr, CheckClass, Ctx, LinkKind, NodeId, Process, Time};

use crate::client::{Envelope, NoPeer, RoutingKind};
use crate::harness::{self, CheckHow, CheckSpec, ClientUse, Protocol, ProtocolEntry, ProtocolInfo};
use crate::kv::client::{KvClient, KvClients};
use crate::kv::{Command, KvMsg, KvResult, OpId, Reply};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

/// echo's messages: client traffic only.
pub type EchoMsg = KvMsg<NoPeer>;

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
        if let Envelope::Request(request) = msg {
            ctx.note(Answered { client: from, op: request.op });
            let result = match request.command {
                Command::Get { .. } => KvResult::Read(None),
                Command::Put { .. } => KvResult::Written,
                Command::Cas { .. } => KvResult::Cas(false),
                Command::Propose { value, .. } => KvResult::Chosen(value),
            };
            ctx.send(from, Envelope::Reply(Reply::Done { op: request.op, result }));
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
            nodes: vec![node],
            message: format!("n{} answered op {} for {}, which never sent it", node.0, note.op.seq, note.client),
        })
    }
}

/// Each client operation outstanding at once holds at least this many bytes:
/// its client's record of it and its request or reply in flight (a lower
/// bound).
pub const BYTES_PER_OUTSTANDING_OP: u64 = 128;

/// What an echo scenario configures: its clients.
pub struct Config {
    clients: KvClients,
}

pub struct Echo;

pub static INFO: ProtocolInfo = ProtocolInfo {
    name: "echo",
    summary: "clients send requests to their home node, which answers",
    roles: &[],
    checks: &[CheckSpec {
        name: "replies_match",
        class: CheckClass::Safety,
        how: CheckHow::Monitor { holds: "every reply answered a request a client sent" },
    }],
    default_metrics: &["client_ops_ok", "client_ops_unknown"],
    link_kind: LinkKind::Datagram,
    max_nodes: faultline_scenario::MAX_NODES,
    clients: ClientUse::Required,
    coverage: &[],
};

pub const ENTRY: ProtocolEntry = harness::entry::<Echo>(&INFO);

impl Protocol for Echo {
    type Node = EchoNode;
    type Client = KvClient<NoPeer>;
    type Config = Config;

    fn configure(scenario: &Scenario) -> Result<Config, ScenarioError> {
        let _: Params = scenario.params()?;
        // The loader refuses an echo scenario without clients (echo declares
        // them required); this is its place, were it to get here.
        let clients = KvClients::from_scenario(scenario)?.ok_or_else(|| {
            scenario.error_at(
                scenario.value_place(&[Step::Key("protocol")]),
                "echo needs a [workload] with at least one client",
            )
        })?;
        clients.fit_memory(scenario, BYTES_PER_OUTSTANDING_OP)?;
        Ok(Config { clients })
    }

    fn node(_config: &Config, _id: NodeId, _durable: &()) -> EchoNode {
        EchoNode
    }

    fn clients(config: &Config, scenario: &Scenario, record_history: bool) -> Vec<KvClient<NoPeer>> {
        // Every node answers: a client stays with its home node.
        config.clients.build(scenario, &RoutingKind::AnyNode, record_history)
    }

    fn monitor(_config: &Config, scenario: &Scenario) -> Option<Box<dyn Monitor<EchoNode>>> {
        Some(Box::new(RepliesMatch { clients: scenario.clients.count, max_ops: scenario.clients.max_ops_per_client }))
    }
}
