//! pingpong: every node forwards each message it receives to a random other
//! node. It has no clients and no invariants; it exists to exercise the engine
//! (and to benchmark it: the number of messages in flight stays constant).

use serde::Deserialize;

use faultline_scenario::{Scenario, ScenarioError};
use faultline_sim::{Addr, Ctx, LinkKind, Message, NodeId, Process, World};

use crate::harness::{self, ClientUse, Protocol, ProtocolEntry, ProtocolInfo};
use crate::idle::Idle;

/// The most messages a pingpong scenario may start with.
pub const MAX_IN_FLIGHT: u32 = 1_000_000;
/// Each message in flight holds at least this many bytes: its delivery event
/// in the engine's queue (a lower bound).
pub const BYTES_PER_MESSAGE: u64 = 64;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Messages started at time zero, spread evenly over the nodes.
    pub in_flight: u32,
    /// If set, every node also starts a fresh message this often, so traffic
    /// survives loss, partitions and crashes.
    pub spawn_interval: Option<faultline_sim::Duration>,
}

impl Default for Params {
    fn default() -> Self {
        Params { in_flight: 10, spawn_interval: None }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Ping {
    pub token: u32,
    pub hops: u32,
}

impl Message for Ping {
    fn label(&self) -> &'static str {
        "Ping"
    }
}

pub struct PingNode {
    /// Tokens this node starts with.
    tokens: std::ops::Range<u32>,
    spawn_interval: Option<faultline_sim::Duration>,
    spawned: u32,
}

impl PingNode {
    pub fn new(id: u32, nodes: u32, params: &Params) -> PingNode {
        let share = |i: u32| (u64::from(params.in_flight) * u64::from(i) / u64::from(nodes)) as u32;
        PingNode { tokens: share(id)..share(id + 1), spawn_interval: params.spawn_interval, spawned: 0 }
    }

    #[inline]
    fn forward(ctx: &mut Ctx<'_, Self>, msg: Ping) {
        if let Some(to) = ctx.random_peer() {
            ctx.send(to, msg);
        }
    }
}

impl Process for PingNode {
    type Msg = Ping;
    type Timer = ();
    type Durable = ();
    type Note = ();

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        for token in self.tokens.clone() {
            Self::forward(ctx, Ping { token, hops: 0 });
        }
        if let Some(every) = self.spawn_interval {
            ctx.set_timer(every, ());
        }
    }
    #[inline]
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _from: Addr, msg: Ping) {
        Self::forward(ctx, Ping { token: msg.token, hops: msg.hops.wrapping_add(1) });
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _timer: ()) {
        if let Some(every) = self.spawn_interval {
            // Fresh tokens count down from the top so they never collide
            // with the initial ones.
            self.spawned += 1;
            Self::forward(ctx, Ping { token: u32::MAX - self.spawned, hops: 0 });
            ctx.set_timer(every, ());
        }
    }
}

pub type PingWorld = World<PingNode, Idle<Ping>>;

/// pingpong as the harness runs it.
pub struct PingPong;

pub static INFO: ProtocolInfo = ProtocolInfo {
    name: "pingpong",
    summary: "nodes forward messages to random peers (engine exercise and benchmark)",
    roles: &[],
    checks: &[],
    default_metrics: &[],
    link_kind: LinkKind::Datagram,
    max_nodes: faultline_scenario::MAX_NODES,
    clients: ClientUse::None,
    coverage: &[],
};

pub const ENTRY: ProtocolEntry = harness::entry::<PingPong>(&INFO);

impl Protocol for PingPong {
    type Node = PingNode;
    type Client = Idle<Ping>;
    /// The parameters and the cluster size.
    type Config = (Params, u32);

    fn configure(scenario: &Scenario) -> Result<(Params, u32), ScenarioError> {
        let params: Params = scenario.params()?;
        if params.in_flight > MAX_IN_FLIGHT {
            return Err(scenario.param_error(
                "in_flight",
                format!("`in_flight` must be at most {MAX_IN_FLIGHT}; got {}", params.in_flight),
            ));
        }
        let in_flight = u64::from(params.in_flight);
        scenario.check_memory(
            in_flight,
            BYTES_PER_MESSAGE,
            &format!("{in_flight} messages in flight"),
            ("params", &["in_flight"]),
            "lower `in_flight`",
        )?;
        if params.spawn_interval == Some(faultline_sim::Duration::ZERO) {
            return Err(scenario.param_error("spawn_interval", "`spawn_interval` must be above zero"));
        }
        Ok((params, scenario.nodes))
    }

    fn node(config: &(Params, u32), id: NodeId, _durable: &()) -> PingNode {
        PingNode::new(id.0, config.1, &config.0)
    }

    fn clients(_config: &(Params, u32), _scenario: &Scenario, _record_history: bool) -> Vec<Idle<Ping>> {
        Vec::new()
    }
}

/// Builds the world for one seed, outside the harness (the engine benchmark).
pub fn build(scenario: &Scenario, seed: u64) -> Result<PingWorld, ScenarioError> {
    let config = PingPong::configure(scenario)?;
    let mut world_config = scenario.world_config(seed);
    world_config.client_homes.clear();
    Ok(World::new(world_config, Box::new(move |id, d| PingPong::node(&config, id, d)), Vec::new()))
}
