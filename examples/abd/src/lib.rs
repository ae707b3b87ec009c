//! ABD: a linearizable key-value register replicated over a majority, with
//! no leader — a protocol that lives outside the faultline repository and
//! runs under its whole command line (`src/main.rs`).
//!
//! Attiya, Bar-Noy and Dolev ("Sharing Memory Robustly in Message-Passing
//! Systems", JACM 1995) emulate a shared register on `n` nodes of which a
//! minority may fail. Every node stores, per key, a value and its *tag*;
//! tags are totally ordered and a node only ever replaces its value with one
//! of a higher tag. Any node coordinates any client operation in two
//! rounds, each of which waits for a majority:
//!
//! - **write**: *query* a majority for their tags, pick a tag above the
//!   highest (version + 1, ties broken by the writing operation), then
//!   *store* (tag, value) at a majority and answer the client;
//! - **read**: *query* a majority for (tag, value), take the highest, *store*
//!   it back at a majority (the write-back), then answer with its value.
//!
//! Any two majorities intersect, so an operation that starts after another
//! finished sees that one's tag or a higher one; the write-back is what makes
//! a read that returned a value visible to every later read. Skipping it is
//! the classic mistake (the `skip_read_write_back` knob, [`Bugs`]): a read
//! can return a value from a half-finished write, and a later read can then
//! return the older value — a new-old inversion that the linearizability
//! check catches.
//!
//! What this implementation adds: a coordinator resends a round to the nodes
//! that have not answered every `retransmit_interval` and abandons the
//! operation after `give_up_after` (like a crashed writer, which ABD
//! tolerates); registers and the set of operations a node has started are
//! durable, so a duplicated request never runs twice, not even after a
//! crash. Compare-and-set has no place in plain ABD, and a client retry
//! could reach a second coordinator that would write the same operation
//! under a second tag, so scenarios must set `cas_ratio = 0` and
//! `retries = 0` (a timed-out operation is "unknown", which the
//! linearizability check allows to take effect at any later time).

mod monitor;
mod node;

use std::sync::Arc;

use serde::Deserialize;

use faultline::protocols::client::RoutingKind;
use faultline::protocols::harness::{self, CheckHow, CheckSpec, ClientUse, CoveragePoint, Protocol, ProtocolInfo};
use faultline::protocols::kv::client::{KvClient, KvClients};
use faultline::protocols::kv::workload::KvWorkload;
use faultline::protocols::ProtocolEntry;
use faultline::scenario::{Scenario, ScenarioError};
use faultline::sim::world::Monitor;
use faultline::sim::{CheckClass, Duration, LinkKind, NodeId};

pub use monitor::RegisterMonotonic;
pub use node::{AbdDisk, AbdNode, AbdPeer, AbdTimer, Register, Stored, Tag};

/// Switches that re-introduce a classic ABD mistake. Off by default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// A read answers after its query round, without writing the value it
    /// found back to a majority.
    pub skip_read_write_back: bool,
}

/// `[params]` of an ABD scenario.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// How long a coordinator waits before resending a round to the nodes
    /// that have not answered.
    pub retransmit_interval: Duration,
    /// How long a coordinator keeps an operation before abandoning it.
    pub give_up_after: Duration,
    pub bugs: Bugs,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            retransmit_interval: Duration::from_millis(20),
            give_up_after: Duration::from_secs(1),
            bugs: Bugs::default(),
        }
    }
}

fn params(scenario: &Scenario) -> Result<Params, ScenarioError> {
    let p: Params = scenario.params()?;
    if p.retransmit_interval == Duration::ZERO {
        return Err(scenario.param_error("retransmit_interval", "`retransmit_interval` must be above zero"));
    }
    if p.give_up_after < p.retransmit_interval {
        return Err(scenario.param_error(
            "give_up_after",
            format!(
                "`give_up_after` ({}) must be at least `retransmit_interval` ({})",
                p.give_up_after, p.retransmit_interval
            ),
        ));
    }
    Ok(p)
}

fn workload(scenario: &Scenario) -> Result<KvWorkload, ScenarioError> {
    let workload = KvWorkload::from_scenario(scenario)?
        .ok_or_else(|| scenario.error("abd needs a [workload] with at least one client"))?;
    if workload.cas_ratio.get() > 0.0 {
        let message = "abd serves get and put only (plain ABD has no compare-and-set): set `cas_ratio = 0`";
        return Err(scenario.key_error("workload", "cas_ratio", message));
    }
    if workload.load.retries != 0 {
        let message = "abd needs `retries = 0` (the default is 3): a retry may reach another coordinator, which would write the same operation under a second tag";
        return Err(scenario.key_error("workload", "retries", message));
    }
    Ok(workload)
}

/// What an ABD scenario configures, parsed once.
pub struct Config {
    nodes: u32,
    params: Arc<Params>,
    clients: KvClients,
}

/// ABD as the harness runs it.
pub struct Abd;

pub static INFO: ProtocolInfo = ProtocolInfo {
    name: "abd",
    summary: "ABD: a leaderless majority-replicated linearizable register (example downstream protocol)",
    roles: &[],
    checks: &[
        CheckSpec {
            name: "register_monotonic",
            class: CheckClass::Safety,
            how: CheckHow::Monitor { holds: "no node's tag for a key ever went down, across crashes" },
        },
        harness::LINEARIZABILITY,
        harness::LIVENESS,
    ],
    default_metrics: &["client_ops_ok", "client_ops_unknown", "abd_retransmits"],
    link_kind: LinkKind::Datagram,
    max_nodes: 99,
    clients: ClientUse::Required,
    coverage: &[
        CoveragePoint {
            name: "duplicate request ignored",
            description: "a coordinator gets a request it has already started",
        },
        CoveragePoint {
            name: "round retransmitted",
            description: "a round heard from no majority in time and is sent again",
        },
        CoveragePoint {
            name: "operation abandoned",
            description: "a coordinator gives up on an operation, as if it had crashed",
        },
    ],
};

/// The registry entry `main` hands to [`faultline::main_with`].
pub const ENTRY: ProtocolEntry = harness::entry::<Abd>(&INFO);

impl Protocol for Abd {
    type Node = AbdNode;
    type Client = KvClient<AbdPeer>;
    type Config = Config;

    fn configure(scenario: &Scenario) -> Result<Config, ScenarioError> {
        let params = Arc::new(params(scenario)?);
        let clients = KvClients::new(workload(scenario)?);
        Ok(Config { nodes: scenario.nodes, params, clients })
    }

    fn node(config: &Config, id: NodeId, _disk: &AbdDisk) -> AbdNode {
        // Everything that must survive a crash is on the disk, which the
        // node reads through its Ctx; the node itself starts empty.
        AbdNode::new(id, config.nodes, config.params.clone())
    }

    fn clients(config: &Config, scenario: &Scenario, record_history: bool) -> Vec<KvClient<AbdPeer>> {
        // No leader: every node coordinates, so a client stays with its home node.
        config.clients.build(scenario, &RoutingKind::AnyNode, record_history)
    }

    fn monitor(_config: &Config, _scenario: &Scenario) -> Option<Box<dyn Monitor<AbdNode>>> {
        Some(Box::new(RegisterMonotonic::default()))
    }
}
