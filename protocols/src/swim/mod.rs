//! swim: membership and failure detection by SWIM — Das, Gupta & Motivala,
//! *SWIM: Scalable Weakly-consistent Infection-style process group
//! Membership protocol* (DSN 2002).
//!
//! Every `period` (T′) each member probes one other: a `Ping`, answered by an
//! `Ack`. Without an ack within `ack_timeout` it asks `k` other members to
//! probe the target for it (`PingReq`), and they relay the target's ack.
//! A target that answered neither way by the end of the period becomes
//! *suspect* (§4.2); a suspect not heard alive within `suspicion_timeout`
//! is declared *dead*. A member that hears itself suspected or declared dead
//! refutes it by raising its *incarnation* number, and the higher
//! incarnation's "alive" overrides the older suspicion. Updates travel
//! piggybacked on the probes and acks (§4.1, infection-style), each sent
//! λ·⌈log₂(n + 1)⌉ times (`retransmit_mult` is λ), newest first. Probe
//! targets come round-robin over an order of the others redrawn each time
//! round (§4.3: a dead member is probed within 2n − 1 periods), or
//! uniformly at random as in the analysis of §3.1. Every message carries
//! its sender's incarnation, members held dead stay on the probe list, and
//! a restarted member asks another for its state (see [`node`]). A restarted member rejoins at an incarnation above
//! its last (kept on disk). Deaths follow memberlist's precedence: "dead at
//! i" overrides alive and suspect up to i, and only "alive" above i brings a
//! member back.
//!
//! What the analysis predicts, and a test holds the simulation to: with
//! every member probing a uniform random target each period, the expected
//! number of periods from a failure to its first detection is
//! 1 / (1 − e^{−q_f}), q_f the fraction of members not failed (§3.1).
//!
//! The monitor ([`monitor`]) checks, at the end, that no member up and
//! reachable for the settle window is held dead by another such member
//! (refutation works), and that every member down for the window is held
//! dead by all of them (completeness); and measures detection times, false
//! positives and messages per member per period.

pub mod monitor;
pub mod node;

use std::sync::Arc;

use serde::Deserialize;

use faultline_scenario::{Scenario, ScenarioError};
use faultline_sim::world::Monitor;
use faultline_sim::{CheckClass, Duration, LinkKind, NodeId};

use crate::harness::{self, CheckHow, CheckSpec, ClientUse, Protocol, ProtocolEntry, ProtocolInfo};
use crate::idle::Idle;
use monitor::SwimMonitor;
use node::{SwimMsg, SwimNode};

/// The most members asked to probe indirectly.
pub const MAX_K: u32 = 16;
/// The largest λ.
pub const MAX_RETRANSMIT_MULT: u32 = 64;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// Round-robin over a shuffled list (SWIM §4.3).
    RoundRobin,
    /// A uniform random member each period (the analysis of §3.1).
    Random,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub period: Duration,
    pub ack_timeout: Duration,
    pub k: u32,
    pub suspicion_timeout: Duration,
    pub retransmit_mult: u32,
    pub selection: Selection,
    /// Periods start at a random phase per member; `false`: every member's
    /// periods start at the same instants (lock step).
    pub jitter: bool,
    /// How long a member must have been up and reachable (or down) before
    /// the end for the check to judge it; by default
    /// [`Params::default_settle`].
    pub settle_within: Option<Duration>,
    /// Members that leave the group, and when.
    pub leaves: Vec<LeaveSpec>,
    pub bugs: Bugs,
}

/// A member leaving: it tells a few members it is dead and falls silent.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaveSpec {
    pub node: u32,
    pub at: Duration,
}

/// Switches that plant bugs; all off by default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// A member never refutes a suspicion or death of itself: one lost
    /// round of probes under loss or a pause kills a live member for good.
    pub no_refutation: bool,
    /// Suspicion lasts no time: a member whose probe failed is declared
    /// dead at once, whatever `suspicion_timeout` says — SWIM without its
    /// suspicion subprotocol (§4.2), whose false positives the suspicion
    /// exists to avoid.
    pub zero_suspicion: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            period: Duration::from_millis(200),
            ack_timeout: Duration::from_millis(40),
            k: 3,
            suspicion_timeout: Duration::from_millis(1000),
            retransmit_mult: 3,
            selection: Selection::RoundRobin,
            jitter: true,
            settle_within: None,
            leaves: Vec::new(),
            bugs: Bugs::default(),
        }
    }
}

impl Params {
    /// The settle window: two suspicion timeouts and 2n + 20 periods with
    /// round-robin probing (every member probes a dead one within 2n − 1
    /// periods, whatever the gossip), or 20·⌈log₂(n + 1)⌉ periods with
    /// random probing (gossip then carries the news: every member hears an
    /// update within O(log n) periods with high probability).
    pub fn default_settle(&self, nodes: u32) -> Duration {
        let log = u64::from(log2_members(nodes));
        let periods = match self.selection {
            Selection::RoundRobin => 2 * u64::from(nodes) + 20,
            Selection::Random => 20 * log,
        };
        let ns = self
            .suspicion_timeout
            .as_nanos()
            .saturating_mul(2)
            .saturating_add(self.period.as_nanos().saturating_mul(periods));
        Duration::from_nanos(ns)
    }

    pub fn settle(&self, nodes: u32) -> Duration {
        self.settle_within.unwrap_or_else(|| self.default_settle(nodes))
    }
}

/// ⌈log₂(n + 1)⌉ for n members (at least 1): the "log n" of SWIM's
/// dissemination and of the settle window.
pub fn log2_members(nodes: u32) -> u32 {
    (32 - nodes.leading_zeros()).max(1)
}

fn params(scenario: &Scenario) -> Result<Params, ScenarioError> {
    let p: Params = scenario.params()?;
    if p.period == Duration::ZERO {
        return Err(scenario.param_error("period", "`period` must be above zero"));
    }
    if p.ack_timeout == Duration::ZERO || p.ack_timeout >= p.period {
        return Err(scenario.params_error(
            &["ack_timeout", "period"],
            format!(
                "`ack_timeout` ({}) must be above zero and below `period` ({}): the indirect probe runs in what is left \
                 of the period",
                p.ack_timeout, p.period
            ),
        ));
    }
    if p.k > MAX_K {
        return Err(scenario.param_error("k", format!("`k` must be 0 to {MAX_K}; got {}", p.k)));
    }
    if p.retransmit_mult == 0 || p.retransmit_mult > MAX_RETRANSMIT_MULT {
        return Err(scenario.param_error(
            "retransmit_mult",
            format!("`retransmit_mult` must be 1 to {MAX_RETRANSMIT_MULT}; got {}", p.retransmit_mult),
        ));
    }
    if let Some((i, l)) = p.leaves.iter().enumerate().find(|(_, l)| l.node >= scenario.nodes) {
        return Err(scenario.param_error(
            "leaves",
            format!("leave {i} names node {}, but the nodes are 0 to {}", l.node, scenario.nodes.saturating_sub(1)),
        ));
    }
    if scenario.nodes < 2 {
        return Err(scenario.error("swim needs at least 2 nodes".to_string()));
    }
    // Each member holds a view of every other: n² views of 4 bytes.
    let n = u64::from(scenario.nodes);
    scenario.check_memory(
        n.saturating_mul(n),
        4,
        &format!("{n} members' views of {n} members"),
        ("nodes", &[]),
        "run fewer nodes",
    )?;
    Ok(p)
}

/// swim as the harness runs it.
pub struct Swim;

pub static INFO: ProtocolInfo = ProtocolInfo {
    name: "swim",
    summary: "SWIM membership: probes, indirect probes, suspicion, incarnations, piggybacked updates",
    roles: &[],
    checks: &[CheckSpec {
        name: "membership",
        class: CheckClass::Safety,
        how: CheckHow::Monitor {
            holds: "refutation (no member up and reachable for the settle window is held dead by another such \
                    member) and completeness (every member down for the window is held dead by all of them)",
        },
    }],
    default_metrics: &["false_positives", "detections_complete", "detections_incomplete", "swim_messages"],
    link_kind: LinkKind::Datagram,
    max_nodes: faultline_scenario::MAX_NODES,
    clients: ClientUse::None,
    coverage: &[],
};

pub const ENTRY: ProtocolEntry = harness::entry::<Swim>(&INFO);

pub struct Config {
    params: Arc<Params>,
    nodes: u32,
}

impl Protocol for Swim {
    type Node = SwimNode;
    type Client = Idle<SwimMsg>;
    type Config = Config;

    fn configure(scenario: &Scenario) -> Result<Config, ScenarioError> {
        Ok(Config { params: Arc::new(params(scenario)?), nodes: scenario.nodes })
    }

    fn node(config: &Config, id: NodeId, _persisted: &node::Persisted) -> SwimNode {
        SwimNode::new(config.params.clone(), id.0, config.nodes)
    }

    fn clients(_config: &Config, _scenario: &Scenario, _record_history: bool) -> Vec<Idle<SwimMsg>> {
        Vec::new()
    }

    fn monitor(config: &Config, _scenario: &Scenario) -> Option<Box<dyn Monitor<SwimNode>>> {
        let p = &config.params;
        Some(Box::new(SwimMonitor::new(config.nodes, p.period, p.settle(config.nodes))))
    }
}
