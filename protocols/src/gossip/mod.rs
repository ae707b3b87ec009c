//! gossip: epidemic dissemination among peers without roles.
//!
//! Rumors start at the nodes and times the scenario names and spread by
//! gossip rounds: every `round` (stretched or shrunk by `jitter`, or in lock
//! step when `jitter = 0`) each node contacts `fanout` peers chosen uniformly
//! and pushes its hot rumors to them (`push`), asks them for theirs (`pull`),
//! or both (`push-pull`). A node stops spreading a rumor by one of the rumor
//! mongering rules of Demers et al., *Epidemic algorithms for replicated
//! database maintenance* (PODC 1987), §1.4: after `k` unnecessary contacts
//! (`stop = "counter"`, with `feedback`: the receiver says it already knew),
//! after `k` contacts of any kind (`counter`, blind), with probability 1/k at
//! each unnecessary contact (`coin`), or never. Anti-entropy (`anti_entropy`,
//! an interval) exchanges full digests with one random peer, repairing what
//! rumor mongering missed (Demers §1.3).
//!
//! What the analyses predict, and the tests hold the simulation to: push with
//! fanout 1 in lock step informs everyone in log₂ n + ln n + O(1) rounds
//! (Pittel, *On spreading a rumor*, SIAM J. Appl. Math. 1987; Karp, Schindelhauer,
//! Shenker & Vöcking, *Randomized rumor spreading*, FOCS 2000, for push-pull's
//! log₃ n + O(log log n)); the residue of rumor mongering with a counter
//! of k and feedback satisfies s = e^{−(k+1)(1−s)} (Demers §1.4).
//!
//! The monitor ([`monitor`]) checks integrity (a node learns only injected
//! rumors, once per life) and, with anti-entropy, convergence at the end of
//! the run, and measures completion time, rounds and residue.
//!
//! Bounds: at most [`MAX_RUMORS`] rumors (a set of them is one 64-bit word,
//! so every message is a few words), `fanout` at most [`MAX_FANOUT`].

pub mod monitor;
pub mod node;

use std::sync::Arc;

use serde::Deserialize;

use faultline_scenario::{Scenario, ScenarioError};
use faultline_sim::world::Monitor;
use faultline_sim::{CheckClass, Duration, LinkKind, NodeId};

use crate::harness::{self, CheckHow, CheckSpec, ClientUse, Protocol, ProtocolEntry, ProtocolInfo};
use crate::idle::Idle;
use monitor::GossipMonitor;
use node::{GossipMsg, GossipNode};

/// The most rumors a scenario may start.
pub const MAX_RUMORS: usize = 64;
/// The most peers a node contacts per round.
pub const MAX_FANOUT: u32 = 64;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Push,
    Pull,
    PushPull,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// Spread for ever (the pure epidemic of the analyses).
    Never,
    /// Stop after `k` counted contacts.
    Counter,
    /// Stop with probability 1/k at each counted contact.
    Coin,
}

/// Where and when a rumor starts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RumorSpec {
    pub node: u32,
    #[serde(default)]
    pub at: Duration,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub mode: Mode,
    pub fanout: u32,
    pub round: Duration,
    /// Each round lasts `round` × (1 + jitter × u), u uniform in [−½, ½),
    /// and starts at a random phase; 0: every node's rounds at the same
    /// instants.
    pub jitter: f64,
    pub stop: Stop,
    /// Counted contacts are the unnecessary ones the receiver reports
    /// (feedback), or every contact (blind).
    pub feedback: bool,
    pub k: u32,
    /// The interval of each node's anti-entropy exchange; none by default.
    pub anti_entropy: Option<Duration>,
    /// With anti-entropy, how soon every rumor must reach every node that is
    /// up and connected (the `convergence` check); by default
    /// [`CONVERGE_INTERVALS`] anti-entropy intervals.
    pub converge_within: Option<Duration>,
    pub rumors: Vec<RumorSpec>,
    pub bugs: Bugs,
}

/// Switches that plant bugs; all off by default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// Rumors stop too early and anti-entropy is off: a node loses interest
    /// in a rumor at its first counted contact whatever the stop rule, and
    /// its anti-entropy exchanges send nothing, so what rumor mongering
    /// misses is never repaired.
    pub no_repair: bool,
}

/// Anti-entropy intervals within which a rumor must have reached every node
/// up and connected, by default: a node that lacks a rumor nearly everyone
/// holds learns it at its next exchange, and a rumor anti-entropy alone
/// spreads reaches everyone in O(log n) intervals.
pub const CONVERGE_INTERVALS: u64 = 20;

impl Params {
    /// The convergence bound, when anti-entropy promises convergence.
    pub fn convergence_bound(&self) -> Option<Duration> {
        let every = self.anti_entropy?;
        let default = Duration::from_nanos(every.as_nanos().saturating_mul(CONVERGE_INTERVALS));
        Some(self.converge_within.unwrap_or(default))
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            mode: Mode::Push,
            fanout: 1,
            round: Duration::from_millis(100),
            jitter: 0.1,
            stop: Stop::Never,
            feedback: true,
            k: 2,
            anti_entropy: None,
            converge_within: None,
            rumors: vec![RumorSpec { node: 0, at: Duration::ZERO }],
            bugs: Bugs::default(),
        }
    }
}

/// Validates the round parameters every gossip protocol here shares: the
/// fanout, the round and its jitter, and the stop rule's k.
pub(crate) fn check_rounds(
    scenario: &Scenario,
    fanout: u32,
    round: Duration,
    jitter: f64,
    k: u32,
) -> Result<(), ScenarioError> {
    let n = scenario.nodes;
    if fanout == 0 || fanout > MAX_FANOUT || (n > 1 && fanout >= n) {
        return Err(scenario.param_error(
            "fanout",
            format!(
                "`fanout` must be 1 to {} (at most {MAX_FANOUT}, below the {n} nodes); got {fanout}",
                MAX_FANOUT.min(n.saturating_sub(1)).max(1),
            ),
        ));
    }
    if round == Duration::ZERO {
        return Err(scenario.param_error("round", "`round` must be above zero"));
    }
    if !(0.0..=1.0).contains(&jitter) {
        return Err(scenario.param_error("jitter", format!("`jitter` must be 0 to 1; got {jitter}")));
    }
    if k == 0 || k > 1_000 {
        return Err(scenario.param_error("k", format!("`k` must be 1 to 1000; got {k}")));
    }
    Ok(())
}

/// The next round after this one: `round` stretched or shrunk by up to half
/// the `jitter` either way (one draw), or exactly `round` without jitter.
pub(crate) fn jittered_round(round: Duration, jitter: f64, rng: &mut impl rand::Rng) -> Duration {
    if jitter == 0.0 {
        return round;
    }
    let f: f64 = rng.gen_range(-0.5..0.5);
    Duration::from_nanos((round.as_nanos() as f64 * (1.0 + jitter * f)).max(1.0) as u64)
}

fn params(scenario: &Scenario) -> Result<Params, ScenarioError> {
    let p: Params = scenario.params()?;
    let n = scenario.nodes;
    check_rounds(scenario, p.fanout, p.round, p.jitter, p.k)?;
    if p.anti_entropy == Some(Duration::ZERO) {
        return Err(scenario.param_error("anti_entropy", "`anti_entropy` must be above zero (leave it out for none)"));
    }
    match (p.converge_within, p.anti_entropy) {
        (Some(_), None) => {
            return Err(scenario.param_error(
                "converge_within",
                "`converge_within` bounds anti-entropy's convergence: set `anti_entropy` too",
            ))
        }
        (Some(w), Some(every)) if w < every => {
            return Err(scenario.params_error(
                &["converge_within", "anti_entropy"],
                format!("`converge_within` ({w}) must be at least one `anti_entropy` interval ({every})"),
            ))
        }
        _ => {}
    }
    if p.anti_entropy.is_some() && !p.rumors.is_empty() {
        // The convergence check keeps when each node learned each rumor.
        let pairs = u64::from(n) * p.rumors.len() as u64;
        scenario.check_memory(
            pairs,
            8,
            &format!("{pairs} node-rumor learning times for the convergence check"),
            ("params", &["rumors", "anti_entropy"]),
            "start fewer rumors",
        )?;
    }
    if p.rumors.is_empty() || p.rumors.len() > MAX_RUMORS {
        return Err(scenario
            .param_error("rumors", format!("`rumors` must list 1 to {MAX_RUMORS} rumors; got {}", p.rumors.len())));
    }
    if let Some((i, r)) = p.rumors.iter().enumerate().find(|(_, r)| r.node >= n) {
        return Err(scenario
            .param_error("rumors", format!("rumor {i} starts at node {}, but the nodes are 0 to {}", r.node, n - 1)));
    }
    Ok(p)
}

/// gossip as the harness runs it.
pub struct Gossip;

pub static INFO: ProtocolInfo = ProtocolInfo {
    name: "gossip",
    summary: "epidemic dissemination: push, pull or push-pull rounds, rumor mongering stop rules, anti-entropy",
    roles: &[],
    checks: &[CheckSpec {
        name: "invariants",
        class: CheckClass::Safety,
        how: CheckHow::Monitor {
            holds: "integrity (every node learned only injected rumors, each at most once per life); convergence \
                    (with anti-entropy: a rumor a node up and connected for the last `converge_within` knew that long \
                    before the end is known to every such node)",
        },
    }],
    default_metrics: &["rumors_complete", "rumors_incomplete", "residue_nodes", "gossip_messages"],
    link_kind: LinkKind::Datagram,
    max_nodes: faultline_scenario::MAX_NODES,
    clients: ClientUse::None,
    coverage: &[],
};

pub const ENTRY: ProtocolEntry = harness::entry::<Gossip>(&INFO);

pub struct Config {
    params: Arc<Params>,
}

impl Protocol for Gossip {
    type Node = GossipNode;
    type Client = Idle<GossipMsg>;
    type Config = Config;

    fn configure(scenario: &Scenario) -> Result<Config, ScenarioError> {
        Ok(Config { params: Arc::new(params(scenario)?) })
    }

    fn node(config: &Config, _id: NodeId, _booted: &bool) -> GossipNode {
        GossipNode::new(config.params.clone())
    }

    fn clients(_config: &Config, _scenario: &Scenario, _record_history: bool) -> Vec<Idle<GossipMsg>> {
        Vec::new()
    }

    fn monitor(config: &Config, scenario: &Scenario) -> Option<Box<dyn Monitor<GossipNode>>> {
        let p = &config.params;
        Some(Box::new(GossipMonitor::new(scenario.nodes, p.rumors.len(), p.round, p.convergence_bound())))
    }
}
