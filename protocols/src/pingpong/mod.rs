//! pingpong: every node forwards each message it receives to a random other
//! node. It has no clients and no invariants; it exists to exercise the engine
//! (and to benchmark it: the number of messages in flight stays constant).

use serde::Deserialize;

use faultline_sim::scenario::{Scenario, ScenarioError};
use faultline_sim::{Addr, Ctx, LinkKind, Message, Process, RunReport, World};
use rand::Rng;

use crate::idle::Idle;
use crate::registry::{ProtocolEntry, RunOptions};

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

    fn forward(ctx: &mut Ctx<'_, Self>, msg: Ping) {
        let n = ctx.node_count();
        if n < 2 {
            return;
        }
        let me = match ctx.me() {
            Addr::Node(id) => id.0,
            Addr::Client(_) => return,
        };
        // A uniform choice among the other n - 1 nodes.
        let mut to = ctx.rng().gen_range(0..n - 1);
        if to >= me {
            to += 1;
        }
        ctx.send(Addr::node(to), msg);
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

/// Builds the world for one seed (also used by the benchmark).
pub fn build(scenario: &Scenario, seed: u64) -> Result<PingWorld, ScenarioError> {
    let params: Params = scenario.params()?;
    let nodes = scenario.nodes;
    let mut config = scenario.world_config(seed);
    config.client_homes.clear();
    if params.spawn_interval == Some(faultline_sim::Duration::ZERO) {
        return Err(scenario.error("params.spawn_interval must be above zero"));
    }
    Ok(World::new(config, Box::new(move |id, _| PingNode::new(id.0, nodes, &params)), Vec::new()))
}

fn validate(scenario: &Scenario) -> Result<(), ScenarioError> {
    build(scenario, scenario.seed)?;
    if scenario.workload.as_ref().is_some_and(|w| w.clients > 0) {
        return Err(scenario.error("pingpong has no clients: remove [workload] or set clients = 0"));
    }
    Ok(())
}

fn run(scenario: &Scenario, seed: u64, mut options: RunOptions) -> Result<RunReport, ScenarioError> {
    let mut world = build(scenario, seed)?;
    if let Some(sink) = options.trace.take() {
        world.set_trace_sink(sink);
    }
    let outcome = world.run();
    options.phase("simulated");
    Ok(RunReport::new(&scenario.name, &scenario.protocol, seed, outcome, world.metrics().clone(), Vec::new()))
}

pub const ENTRY: ProtocolEntry = ProtocolEntry {
    name: "pingpong",
    summary: "nodes forward messages to random peers (engine exercise and benchmark)",
    roles: &[],
    checks: &[],
    link_kind: LinkKind::Datagram,
    validate,
    run,
};
