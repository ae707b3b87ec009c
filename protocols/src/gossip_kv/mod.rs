//! gossip-kv: an eventually consistent key-value store whose replicas spread
//! updates by gossip — the AP side of the CAP comparison, Dynamo- and
//! Cassandra-style.
//!
//! Every node holds a replica of every key. A client writes and reads at any
//! node (its home first, the next one when that one times out): a write is
//! applied to the node's replica, kept on its disk and acknowledged at once
//! (one replica, W = 1), a read answers from the node's replica (R = 1). So
//! both sides of a partition keep serving, and reads on either side may be
//! stale until the partition heals.
//!
//! **Versions.** Last-writer-wins registers: each value carries a version
//! (timestamp, node), ordered by timestamp and then by the writing node's
//! id, so the order is total and every replica picks the same winner
//! whatever the order updates arrive in (the merge is a join: an LWW
//! register is a state-based CRDT). Version vectors with siblings would keep
//! concurrent writes for the client to reconcile; the comparison here is
//! with registers that return one value, so one value it is, and a
//! concurrent write that loses is *superseded*, which the checks allow.
//! A timestamp is the node's own clock (drift included) in ticks of
//! `clock_resolution`, but never at or below the version the node already
//! holds for the key (a hybrid logical clock's rule): a node's own write
//! always supersedes what it holds, so a client reading its home node reads
//! its writes. Two nodes writing one key within the same tick tie on the
//! timestamp, and the node id decides.
//!
//! **Dissemination.** Rumor mongering (Demers et al., *Epidemic algorithms
//! for replicated database maintenance*, PODC 1987, §1.4): a new version is
//! *hot*; every `round` (with `jitter`) a node pushes its hot entries to
//! `fanout` random peers, and a peer that already held them (or newer) says
//! so; after `k` such unnecessary contacts (`stop = "counter"`), or with
//! probability 1/k at each (`coin`), the node stops spreading that entry.
//! Anti-entropy (Demers §1.3) every `anti_entropy`: a node sends one random
//! peer the versions of all its keys; the peer answers with the entries it
//! holds newer and asks for those it lacks (push-pull), repairing what rumor
//! mongering missed; what either side takes this way is hot again.
//!
//! **Checks** (the monitor, [`monitor`]): no acknowledged write is lost
//! unless superseded by a higher version (some replica, up or down, holds
//! its version or a higher one), a replica's version of a key never goes
//! back (across restarts too), and convergence: after the faults heal, what
//! any replica up and connected for the last `converge_within` held that
//! long before the end is held by every such replica. Linearizability is
//! measured, not required (`histories_not_linearizable`), as are stale
//! reads on each side of a partition (the CAP figures) and how far reads
//! lag the newest acknowledged write, in versions and in time.
//!
//! Bounds: a push carries at most [`MAX_PUSH`] entries, a node keeps at most
//! [`MAX_HOT`] entries hot, and the key set is the workload's `keys`, fixed
//! (rolling key sets are refused: the store never deletes).

pub mod monitor;
pub mod node;

use std::sync::Arc;

use serde::Deserialize;

use faultline_scenario::{Recovery, Scenario, ScenarioError};
use faultline_sim::world::Monitor;
use faultline_sim::{CheckClass, Duration, LinkKind, NodeId};

use crate::client::RoutingKind;
use crate::gossip::Stop;
use crate::harness::{self, CheckHow, CheckSpec, ClientUse, CoveragePoint, Protocol, ProtocolEntry, ProtocolInfo};
use crate::kv::client::{KvClient, KvClients};
use crate::kv::workload::KeyDistribution;
use monitor::StoreMonitor;
use node::{StoreDisk, StoreNode, StorePeer};

/// The most entries one push carries.
pub const MAX_PUSH: usize = 64;
/// The most entries a node spreads at once; a newer version of a key
/// already hot takes its place, one of a key not hot waits for room (anti-
/// entropy still carries it).
pub const MAX_HOT: usize = 4_096;
/// The most keys the store holds (every replica holds them all, and an
/// anti-entropy digest lists them all).
pub const MAX_KEYS: u32 = 65_536;
/// The most nodes: every anti-entropy exchange and the monitor's view are
/// per key and node.
pub const MAX_NODES: u32 = 1_000;
/// Anti-entropy intervals within which an update must reach every replica
/// up and connected, by default.
pub const CONVERGE_INTERVALS: u64 = 20;
/// Bytes a client operation outstanding needs at least (its pending entry
/// at the client, the request and reply in flight).
const BYTES_PER_OUTSTANDING_OP: u64 = 256;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub fanout: u32,
    pub round: Duration,
    /// Each round lasts `round` × (1 + jitter × u), u uniform in [−½, ½).
    pub jitter: f64,
    pub stop: Stop,
    pub k: u32,
    /// The interval of each node's anti-entropy exchange.
    pub anti_entropy: Duration,
    /// How soon every version must reach every replica up and connected
    /// (the convergence check); by default [`CONVERGE_INTERVALS`]
    /// anti-entropy intervals.
    pub converge_within: Option<Duration>,
    /// A version's timestamp is the node's clock in ticks of this length.
    pub clock_resolution: Duration,
    pub bugs: Bugs,
}

/// Switches that plant bugs; all off by default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// Last-writer-wins ties (equal timestamps) go to whichever update
    /// arrives last instead of to the higher node id: replicas that got two
    /// tied writes in opposite orders keep different values.
    pub lww_arrival_order: bool,
    /// A replica takes any version that differs from its own, older ones
    /// included: a late, stale update overwrites a newer value.
    pub older_over_newer: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            fanout: 2,
            round: Duration::from_millis(100),
            jitter: 0.1,
            stop: Stop::Counter,
            k: 3,
            anti_entropy: Duration::from_millis(500),
            converge_within: None,
            clock_resolution: Duration::from_millis(1),
            bugs: Bugs::default(),
        }
    }
}

impl Params {
    /// The convergence bound.
    pub fn convergence_bound(&self) -> Duration {
        let default = Duration::from_nanos(self.anti_entropy.as_nanos().saturating_mul(CONVERGE_INTERVALS));
        self.converge_within.unwrap_or(default)
    }
}

fn params(scenario: &Scenario) -> Result<Params, ScenarioError> {
    let p: Params = scenario.params()?;
    crate::gossip::check_rounds(scenario, p.fanout, p.round, p.jitter, p.k)?;
    if p.anti_entropy == Duration::ZERO {
        return Err(scenario.param_error("anti_entropy", "`anti_entropy` must be above zero"));
    }
    if p.clock_resolution == Duration::ZERO {
        return Err(scenario.param_error("clock_resolution", "`clock_resolution` must be above zero (1ns is finest)"));
    }
    if let Some(w) = p.converge_within.filter(|w| *w < p.anti_entropy) {
        return Err(scenario.params_error(
            &["converge_within", "anti_entropy"],
            format!("`converge_within` ({w}) must be at least one `anti_entropy` interval ({})", p.anti_entropy),
        ));
    }
    Ok(p)
}

/// gossip-kv as the harness runs it.
pub struct GossipKv;

pub static INFO: ProtocolInfo = ProtocolInfo {
    name: "gossip-kv",
    summary: "eventually consistent key-value store: last-writer-wins replicas, rumor mongering and anti-entropy",
    roles: &[],
    checks: &[
        CheckSpec {
            name: "invariants",
            class: CheckClass::Consistency,
            how: CheckHow::Monitor {
                holds: "no acknowledged write lost (each held at its version or higher by some replica); no \
                        replica's version of a key went back; convergence (what a replica up and connected for the \
                        last `converge_within` held that long before the end, every such replica holds)",
            },
        },
        harness::LIVENESS,
    ],
    default_metrics: &["stale_reads", "reads_behind", "histories_not_linearizable", "client_ops_ok"],
    link_kind: LinkKind::Datagram,
    max_nodes: MAX_NODES,
    clients: ClientUse::Required,
    coverage: &[
        CoveragePoint {
            name: "timestamp tie decided by node id",
            description: "two versions of a key with the same timestamp met at a replica",
        },
        CoveragePoint {
            name: "anti-entropy repaired an entry",
            description: "an anti-entropy exchange carried a version the receiver lacked",
        },
        CoveragePoint {
            name: "write timestamp raised above the clock",
            description: "a write's timestamp came from the version held, not the node's clock",
        },
        CoveragePoint {
            name: "duplicate request answered from the session",
            description: "a retried or duplicated write reached a node that had applied it",
        },
    ],
};

pub const ENTRY: ProtocolEntry = harness::entry::<GossipKv>(&INFO);

pub struct Config {
    params: Arc<Params>,
    clients: KvClients,
}

impl Protocol for GossipKv {
    type Node = StoreNode;
    type Client = KvClient<StorePeer>;
    type Config = Config;

    fn configure(scenario: &Scenario) -> Result<Config, ScenarioError> {
        let params = Arc::new(params(scenario)?);
        let Some(clients) = KvClients::from_scenario(scenario)? else {
            return Err(scenario.error("gossip-kv needs a [workload] with at least one client"));
        };
        let w = &clients.workload;
        if w.cas_ratio.get() > 0.0 {
            return Err(scenario.key_error(
                "workload",
                "cas_ratio",
                format!(
                    "gossip-kv's replicas accept writes independently, so it has no compare-and-set: \
                     `cas_ratio` ({}) must be 0",
                    w.cas_ratio.get()
                ),
            ));
        }
        if matches!(w.key_distribution, KeyDistribution::Rolling { .. }) {
            return Err(scenario.key_error(
                "workload",
                "key_distribution",
                "gossip-kv never deletes, so every key ever written stays on every replica: use a fixed key set \
                 (`uniform` or `zipf`), not `rolling`",
            ));
        }
        if w.keys > MAX_KEYS {
            return Err(scenario.key_error(
                "workload",
                "keys",
                format!("gossip-kv holds at most {MAX_KEYS} keys (every digest lists them all); got {}", w.keys),
            ));
        }
        let pairs = u64::from(scenario.nodes) * u64::from(w.keys);
        scenario.check_memory(
            pairs,
            96,
            &format!(
                "{pairs} replica-key entries ({} nodes × {} keys) and the monitor's view of them",
                scenario.nodes, w.keys
            ),
            ("workload", &["keys"]),
            "use fewer keys or nodes",
        )?;
        clients.fit_memory(scenario, BYTES_PER_OUTSTANDING_OP)?;
        Ok(Config { params, clients })
    }

    fn node(config: &Config, id: NodeId, disk: &StoreDisk) -> StoreNode {
        StoreNode::recover(id, config.params.clone(), disk)
    }

    /// Any node serves any operation: a client stays with its home and
    /// moves on when it times out.
    fn clients(config: &Config, scenario: &Scenario, record_history: bool) -> Vec<KvClient<StorePeer>> {
        config.clients.build(scenario, &RoutingKind::AnyNode, record_history)
    }

    fn monitor(config: &Config, scenario: &Scenario) -> Option<Box<dyn Monitor<StoreNode>>> {
        let machines = &scenario.machines;
        let lossy_disk = machines.disk.is_some() || machines.disk_overrides.iter().any(|(_, d)| d.is_some());
        Some(Box::new(StoreMonitor::new(scenario.nodes, config.params.convergence_bound(), lossy_disk)))
    }

    /// The store promises no linearizability: how often a run's history is
    /// not linearizable is measured, not failed.
    fn measure(_config: &Config, input: &harness::HistoryInput<'_>, metrics: &mut faultline_sim::metrics::Metrics) {
        harness::measure_read_linearizability(input, metrics);
    }

    /// Every node serves on its own, so service is back as soon as a
    /// client's node answers again: a client may still be waiting out its
    /// last operation from before the heal.
    fn recovery(config: &Config) -> Recovery {
        let within = config.clients.workload.load.recovery_within(0);
        Recovery { within: Some(within), rate_share: Some(RECOVERY_RATE_SHARE) }
    }
}

/// Share of the pre-fault success rate clients must reach after the heal.
pub const RECOVERY_RATE_SHARE: f64 = 0.5;
