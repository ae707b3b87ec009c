//! Multi-Paxos, serving the replicated key-value store.
//!
//! Paxos (Lamport, "Paxos Made Simple", 2001) chooses one value with two
//! phases of a numbered *ballot*: in Phase 1 a proposer asks a majority of
//! acceptors to promise to ignore lower ballots and to report what they have
//! accepted; in Phase 2 it asks them to accept the value of the highest
//! ballot reported (or its own if none), and the value is *chosen* once a
//! majority accepts it in one ballot. Multi-Paxos runs one such instance per
//! slot of a log, and a distinguished proposer — the leader — runs Phase 1
//! once for every slot from some index on, then Phase 2 alone for each new
//! command ("Paxos Made Simple", §3; van Renesse & Altinbuken, "Paxos Made
//! Moderately Complex", ACM Computing Surveys 2015, whose leader, acceptor
//! and replica roles this node combines, and whose ballots are
//! (round, leader id) pairs as here).
//!
//! How this implementation does each part:
//!
//! - **Leadership.** A follower that hears no leader for a randomized
//!   election timeout runs Phase 1 with a ballot above every one it has
//!   seen, for all slots from the first it does not know decided. With
//!   promises from a majority it re-proposes, in its own ballot, the value
//!   of the highest ballot reported at each slot, fills the gaps below the
//!   highest reported slot with no-ops, and only then proposes new commands.
//!   Heartbeats keep it leading; a higher ballot (in a Prepare, an Accept or
//!   a Nack) deposes it, and so does an election timeout without hearing a
//!   majority. Other nodes redirect clients to the leader they know.
//! - **Phase 2, pipelined.** Up to `max_in_flight` slots are proposed and
//!   undecided at once; more requests wait in a bounded queue. Accepts
//!   unanswered for a heartbeat interval are sent again.
//! - **Acceptors** write the promise and each slot's accepted
//!   (ballot, command) to durable state before they answer; a restarted node
//!   recovers them, with its decided slots and snapshot.
//! - **Learners.** The leader decides a slot when a majority accepted it;
//!   its Accepts and heartbeats carry `commit`, the slot up to which all is
//!   decided. An acceptor that accepted a slot in the leader's ballot learns
//!   it from that; anything else it fetches (`CatchUp`), as decided slots,
//!   or as the snapshot of the store when the peer has compacted them.
//!   Decided commands apply in slot order to the shared [`KvStore`](crate::kv::KvStore)
//!   (sessions make a retried write apply once).
//! - **Compaction.** Every `snapshot_every` applied slots the store is
//!   captured; half an interval later the slots up to the capture are
//!   dropped (accepted and decided), so memory stays flat however long a
//!   run lasts. Phase 1 promises report the snapshot's last slot: a new
//!   leader never proposes at or below it, and catches up instead.
//! - **Reads** go through the log by default (linearizable: a read is a
//!   command in a slot). With `read_mode = "lease"` the leader answers reads
//!   from its store while it holds a lease. Each acceptor that answers a
//!   heartbeat promises to ignore other ballots' Prepares for
//!   `lease_duration` on its own clock (and for one lease period after a
//!   restart). The leader holds the lease, from the send time of the latest
//!   heartbeat round a majority answered, for
//!   `lease_duration × (1 − ρ) / (1 + ρ)` on *its* clock, where ρ is
//!   `clock_drift_bound`: **safe only while every clock runs at a rate
//!   within [1 − ρ, 1 + ρ] of true time.** Then the leader's lease ends (in
//!   true time) no later than `lease_duration / (1 + ρ)` after the round was
//!   sent, and every acceptor of that majority promised for at least that
//!   long, so no other leader can have decided a write meanwhile. A
//!   `clock_rate` fault outside the bound (chaos draws rates of 0.5 to 2)
//!   breaks it: `scenarios/multipaxos/lease-drift.toml` shows the stale
//!   read.
//!
//! Bounds: `max_in_flight` slots undecided, [`MAX_QUEUED_REQUESTS`]
//! requests queued, `max_accept_batch` slots per Accept,
//! `max_catchup_batch` slots per catch-up answer, and a log of at most
//! about 1.5 × `snapshot_every` slots plus those in flight per node (never
//! more than [`log::MAX_SLOTS_AHEAD`] past its snapshot).
//!
//! Bug knobs re-introduce classic mistakes; see [`Bugs`].

pub mod invariants;
pub mod log;
pub mod messages;
pub mod node;

use std::sync::Arc;

use serde::Deserialize;

use faultline_scenario::{Recovery, Scenario, ScenarioError};
use faultline_sim::world::Monitor;
use faultline_sim::{CheckClass, Duration, LinkKind, NodeId, RoleSpec};

use crate::client::RoutingKind;
use crate::harness::{self, CheckHow, CheckSpec, ClientUse, CoveragePoint, Protocol, ProtocolEntry, ProtocolInfo};
use crate::kv::client::{KvClient, KvClients};
use invariants::PaxosMonitor;
use log::PaxosDisk;
use messages::PaxosMsg;
use node::PaxosNode;

/// How the leader serves reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// A read is a command in a slot, like a write.
    #[default]
    Log,
    /// From the leader's store while it holds a lease: safe only under the
    /// clock drift bound (`clock_drift_bound`; see the module opening).
    Lease,
}

/// Switches that re-introduce classic Multi-Paxos bugs. All off by default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// A new leader ignores the values Phase 1 reported and proposes new
    /// commands in those slots: a chosen value is overwritten.
    pub skip_reproposal: bool,
    /// The leader answers reads from its store with no lease and no log: a
    /// deposed leader serves stale reads.
    pub local_reads: bool,
    /// A learner applies a slot as soon as it is decided, even when slots
    /// below it are not: the store misses their commands.
    pub apply_out_of_order: bool,
    /// Retried writes apply again instead of returning the first result.
    pub no_dedup: bool,
    /// The acceptor keeps its promise in memory only: after a restart it
    /// accepts ballots below one it promised.
    pub forget_promise: bool,
    /// The acceptor accepts ballots below its promise.
    pub accept_below_promise: bool,
}

impl Bugs {
    pub fn enabled(&self) -> Vec<&'static str> {
        let all = [
            ("skip_reproposal", self.skip_reproposal),
            ("local_reads", self.local_reads),
            ("apply_out_of_order", self.apply_out_of_order),
            ("no_dedup", self.no_dedup),
            ("forget_promise", self.forget_promise),
            ("accept_below_promise", self.accept_below_promise),
        ];
        all.into_iter().filter(|(_, on)| *on).map(|(name, _)| name).collect()
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    pub heartbeat_interval: Duration,
    pub read_mode: ReadMode,
    /// Lease mode: how long an acceptor that answered a heartbeat ignores
    /// other ballots' Prepares, on its own clock.
    pub lease_duration: Duration,
    /// Lease mode: ρ, the most any clock's rate may differ from true time
    /// (0.1: rates within 0.9 to 1.1). Leases are safe only within it; the
    /// leader holds its lease for `lease_duration × (1 − ρ) / (1 + ρ)`.
    pub clock_drift_bound: f64,
    /// Slots proposed and not yet decided at once (the pipeline).
    pub max_in_flight: usize,
    /// Slots per Accept message.
    pub max_accept_batch: usize,
    /// Decided slots per catch-up answer.
    pub max_catchup_batch: usize,
    /// Take a snapshot every this many applied slots (0: never).
    pub snapshot_every: u64,
    pub bugs: Bugs,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            election_timeout_min: Duration::from_millis(150),
            election_timeout_max: Duration::from_millis(300),
            heartbeat_interval: Duration::from_millis(50),
            read_mode: ReadMode::Log,
            lease_duration: Duration::from_millis(120),
            clock_drift_bound: 0.1,
            max_in_flight: 64,
            max_accept_batch: 64,
            max_catchup_batch: 256,
            snapshot_every: 1_000,
            bugs: Bugs::default(),
        }
    }
}

impl Params {
    /// How long the leader holds a lease on its own clock after sending the
    /// round that confirmed it (see the module opening).
    pub fn lease_local(&self) -> Duration {
        let rho = self.clock_drift_bound;
        self.lease_duration.mul_f64((1.0 - rho) / (1.0 + rho))
    }
}

/// Requests a leader or candidate queues at most; beyond it they are shed
/// (the client times out and retries).
pub const MAX_QUEUED_REQUESTS: usize = 10_000;
/// Heartbeat rounds whose send time a leader remembers, for leases.
pub const MAX_ROUNDS_REMEMBERED: usize = 64;
/// Each client operation outstanding at once holds at least this many bytes:
/// its client's record, its request in flight, its proposal at the leader
/// and its accepted copy at one acceptor.
pub const BYTES_PER_OUTSTANDING_OP: u64 = 256;
/// Acceptor sets are bit masks of node ids.
pub const MAX_NODES: u32 = 64;

fn params(scenario: &Scenario) -> Result<Params, ScenarioError> {
    let p: Params = scenario.params()?;
    let default = |key: &str| if scenario.writes_param(key) { "" } else { ", the default" };
    if p.election_timeout_min == Duration::ZERO || p.election_timeout_min > p.election_timeout_max {
        return Err(scenario.params_error(
            &["election_timeout_min", "election_timeout_max"],
            format!(
                "`election_timeout_min` ({}{}) must be above zero and at most `election_timeout_max` ({}{})",
                p.election_timeout_min,
                default("election_timeout_min"),
                p.election_timeout_max,
                default("election_timeout_max"),
            ),
        ));
    }
    if p.heartbeat_interval == Duration::ZERO || p.heartbeat_interval >= p.election_timeout_min {
        return Err(scenario.params_error(
            &["heartbeat_interval", "election_timeout_min"],
            format!(
                "`heartbeat_interval` ({}{}) must be above zero and below `election_timeout_min` ({}{})",
                p.heartbeat_interval,
                default("heartbeat_interval"),
                p.election_timeout_min,
                default("election_timeout_min"),
            ),
        ));
    }
    if !(0.0..1.0).contains(&p.clock_drift_bound) {
        return Err(scenario.param_error(
            "clock_drift_bound",
            format!(
                "`clock_drift_bound` must be at least 0 and below 1 (0.1: clocks within ±10%); got {}",
                p.clock_drift_bound
            ),
        ));
    }
    if p.read_mode == ReadMode::Lease && p.lease_local() <= p.heartbeat_interval {
        return Err(scenario.params_error(
            &["lease_duration", "heartbeat_interval", "clock_drift_bound"],
            format!(
                "the leader's lease (`lease_duration` {}{} × (1 − ρ)/(1 + ρ) = {}) must outlast `heartbeat_interval` \
                 ({}{}), or no heartbeat renews it before it lapses",
                p.lease_duration,
                default("lease_duration"),
                p.lease_local(),
                p.heartbeat_interval,
                default("heartbeat_interval"),
            ),
        ));
    }
    for (key, value, max) in [
        ("max_in_flight", p.max_in_flight, 10_000),
        ("max_accept_batch", p.max_accept_batch, 10_000),
        ("max_catchup_batch", p.max_catchup_batch, 100_000),
    ] {
        if value == 0 || value > max {
            return Err(scenario.param_error(key, format!("`{key}` must be 1 to {max}; got {value}")));
        }
    }
    Ok(p)
}

/// What a Multi-Paxos scenario configures, parsed once.
pub struct Config {
    pub nodes: u32,
    pub params: Arc<Params>,
    clients: Option<KvClients>,
}

/// Multi-Paxos as the harness runs it.
pub struct MultiPaxos;

pub static INFO: ProtocolInfo = ProtocolInfo {
    name: "multipaxos",
    summary: "Multi-Paxos with a distinguished proposer serving a linearizable key-value store",
    roles: &[
        RoleSpec { name: "leader", colour: [44, 160, 44], width: 5, primary: true },
        RoleSpec { name: "follower", colour: [150, 150, 150], width: 2, primary: false },
        RoleSpec { name: "candidate", colour: [255, 127, 14], width: 3, primary: false },
    ],
    checks: &[
        CheckSpec {
            name: "invariants",
            class: CheckClass::Safety,
            how: CheckHow::Monitor {
                holds: "one value chosen per slot, only proposed values chosen, promises never decrease, accepted \
                        ballots within the promise, one decision per slot at every learner, state machine safety, \
                        applied slot never decreases, snapshots match the log",
            },
        },
        harness::LINEARIZABILITY,
        harness::LIVENESS,
    ],
    default_metrics: &["leaderless_ms", "elections", "leader_changes", "client_ok"],
    link_kind: LinkKind::Datagram,
    max_nodes: MAX_NODES,
    clients: ClientUse::Optional,
    coverage: &[
        CoveragePoint {
            name: "accept for a slot the snapshot covers skipped",
            description: "an Accept names a slot the acceptor has compacted (decided) already",
        },
        CoveragePoint {
            name: "leader preempted by a higher ballot",
            description: "a leader sees a higher ballot and stops proposing",
        },
        CoveragePoint {
            name: "candidate preempted by a higher ballot",
            description: "a node in Phase 1 sees a higher ballot and gives up its own",
        },
        CoveragePoint {
            name: "election waits for a lease this node promised",
            description: "a node's election timer fires while its acceptor still promises a leader's lease",
        },
        CoveragePoint {
            name: "promise for an abandoned ballot ignored",
            description: "a Promise arrives after its proposer moved on",
        },
        CoveragePoint {
            name: "new leader finds slots decided in a peer's snapshot",
            description: "a promise reports a snapshot past the slots the new leader knows decided",
        },
        CoveragePoint {
            name: "new leader skipped values Phase 1 reported",
            description: "bug knob skip_reproposal: reported values are ignored",
        },
        CoveragePoint {
            name: "new leader re-proposes a reported value",
            description: "Phase 1 reported an accepted value, which the new leader proposes again",
        },
        CoveragePoint {
            name: "new leader fills a gap with a no-op",
            description: "Phase 1 found a slot below the highest accepted one empty",
        },
        CoveragePoint {
            name: "unanswered accepts sent again",
            description: "proposals unanswered for a heartbeat interval are sent again",
        },
        CoveragePoint {
            name: "accept too far past the snapshot not stored",
            description: "an acceptor far behind gets an Accept beyond the slots it may hold, and catches up first",
        },
        CoveragePoint {
            name: "leader asks again for slots below its first",
            description: "a new leader's catch-up over slots decided elsewhere went unanswered for a heartbeat",
        },
        CoveragePoint {
            name: "slot applied before the slots below it were decided",
            description: "bug knob apply_out_of_order: a slot applies past a gap",
        },
        CoveragePoint {
            name: "retried client request answered from its session",
            description: "a retry of an applied request gets its first result (deduplication)",
        },
        CoveragePoint {
            name: "late duplicate of an acknowledged request ignored",
            description: "a copy of a request the client has acknowledged applies as nothing",
        },
        CoveragePoint {
            name: "lagging learner asks to catch up",
            description: "a learner misses slots below the leader's commit and asks for them",
        },
        CoveragePoint {
            name: "catch-up answered with a snapshot",
            description: "a learner asks for slots the peer has compacted and gets its snapshot",
        },
        CoveragePoint {
            name: "catch-up answered with decided slots",
            description: "a learner asks for missing slots and gets a batch of decided ones",
        },
        CoveragePoint {
            name: "snapshot not past the applied slot ignored",
            description: "a late or duplicate snapshot the learner has already applied past",
        },
        CoveragePoint {
            name: "snapshot installed beside later decided slots",
            description: "a learner installs a snapshot while holding decided slots after it",
        },
        CoveragePoint {
            name: "accept for compacted slots answered with the snapshot",
            description: "an acceptor whose snapshot covers slots a leader proposes sends the leader that snapshot",
        },
        CoveragePoint {
            name: "leader learns its proposals decided from a snapshot",
            description: "a leader installs a snapshot covering slots it was still waiting on",
        },
        CoveragePoint { name: "snapshot state captured", description: "the store is captured for the next snapshot" },
        CoveragePoint {
            name: "log compacted into a snapshot",
            description: "the captured store is installed and the slots below it dropped",
        },
        CoveragePoint {
            name: "leader steps down: no majority heard",
            description: "a leader that heard from no majority for an election timeout steps down",
        },
        CoveragePoint {
            name: "client redirected to the leader",
            description: "a follower sends a client to the leader it knows",
        },
        CoveragePoint {
            name: "client redirected with no leader known",
            description: "a node without a known leader turns a client away",
        },
        CoveragePoint {
            name: "request waits for Phase 1",
            description: "a candidate queues a client request until it leads",
        },
        CoveragePoint {
            name: "lease read served locally",
            description: "a leader answers a read from its store under a lease",
        },
        CoveragePoint {
            name: "lease read goes through the log: no lease in force",
            description: "lease mode, but the lease lapsed (or recovery is pending): the read is proposed",
        },
        CoveragePoint {
            name: "retry of an operation still in flight waits for it",
            description: "a leader gets a retry of an operation it proposed and has not applied",
        },
        CoveragePoint {
            name: "request waits for room in the pipeline",
            description: "max_in_flight slots are undecided, so a request queues",
        },
        CoveragePoint {
            name: "prepare refused: a lease is in force",
            description: "an acceptor ignores a Prepare while it promises a leader's lease",
        },
        CoveragePoint {
            name: "prepare below the promise refused",
            description: "an acceptor nacks a Prepare below its promise",
        },
        CoveragePoint {
            name: "accept below the promise refused",
            description: "an acceptor refuses an Accept of a ballot below its promise and nacks it",
        },
        CoveragePoint {
            name: "proposer learns of a higher ballot from a nack",
            description: "a nack deposes a leader or candidate",
        },
        CoveragePoint {
            name: "node restarts from a snapshot",
            description: "a node recovers its store from a snapshot on disk",
        },
        CoveragePoint {
            name: "node restarts with decided slots on disk",
            description: "a node replays decided slots from disk on restart",
        },
        CoveragePoint {
            name: "phase 1 timed out: a new ballot",
            description: "Phase 1 gathered no majority before the election timer fired",
        },
    ],
};

pub const ENTRY: ProtocolEntry = harness::entry::<MultiPaxos>(&INFO);

impl Protocol for MultiPaxos {
    type Node = PaxosNode;
    type Client = KvClient<PaxosMsg>;
    type Config = Config;

    fn configure(scenario: &Scenario) -> Result<Config, ScenarioError> {
        let params = Arc::new(params(scenario)?);
        let clients = KvClients::from_scenario(scenario)?;
        if let Some(c) = &clients {
            c.fit_memory(scenario, BYTES_PER_OUTSTANDING_OP)?;
        }
        Ok(Config { nodes: scenario.nodes, params, clients })
    }

    fn node(config: &Config, id: NodeId, disk: &PaxosDisk) -> PaxosNode {
        PaxosNode::recover(id, config.nodes, config.params.clone(), disk)
    }

    fn clients(config: &Config, scenario: &Scenario, record_history: bool) -> Vec<KvClient<PaxosMsg>> {
        match &config.clients {
            Some(clients) => clients.build(scenario, &RoutingKind::LeaderRedirect, record_history),
            None => Vec::new(),
        }
    }

    fn monitor(_config: &Config, scenario: &Scenario) -> Option<Box<dyn Monitor<PaxosNode>>> {
        Some(Box::new(PaxosMonitor::new(scenario.nodes)))
    }

    /// As Raft's: once the faults heal, a leader within
    /// [`RECOVERY_ELECTIONS`] election timeouts, time for a client's
    /// last pre-heal operation to run out its attempts and for one more
    /// attempt with a redirect; then operations at no less than
    /// [`RECOVERY_RATE_SHARE`] of the rate before the first fault.
    fn recovery(config: &Config) -> Recovery {
        let Some(clients) = &config.clients else { return Recovery::default() };
        let load = &clients.workload.load;
        let mut election = config.params.election_timeout_max.as_nanos().saturating_mul(RECOVERY_ELECTIONS);
        if config.params.read_mode == ReadMode::Lease {
            // Elections also wait out a lease promised before the heal.
            election = election.saturating_add(config.params.lease_duration.as_nanos());
        }
        let within = load.recovery_within(election);
        Recovery { within: Some(within), rate_share: Some(RECOVERY_RATE_SHARE) }
    }
}

/// Election timeouts a healed cluster may take to elect a leader.
pub const RECOVERY_ELECTIONS: u64 = 5;
/// Share of the pre-fault success rate a healed cluster must reach.
pub const RECOVERY_RATE_SHARE: f64 = 0.5;
