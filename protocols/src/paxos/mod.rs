//! Single-decree Paxos, one instance per key: a write-once key-value
//! register.
//!
//! Paxos (Lamport, "Paxos Made Simple", 2001; van Renesse & Altinbuken,
//! "Paxos Made Moderately Complex", ACM Computing Surveys, 2015) chooses one
//! value among those proposed, despite crashes, loss, duplication and
//! reordering, as long as a majority of acceptors can talk. Each key here is
//! its own instance: the first value chosen for a key is its value forever.
//!
//! Roles. Every node is an acceptor and a learner; nodes `0..proposers`
//! (`[params] proposers`) are also proposers. Ballots are `(round, node id)`
//! ([`ballot::Ballot`]): unique per proposer and totally ordered.
//!
//! - Phase 1a: a proposer sends `Prepare(b)` to every acceptor.
//! - Phase 1b: an acceptor that has promised nothing above `b` promises `b`
//!   and answers with the highest-ballot value it has accepted, if any;
//!   otherwise it refuses (`Nack`, naming its promise).
//! - Phase 2a: with promises from a majority, the proposer sends
//!   `Accept(b, v)`: `v` is the value reported with the highest ballot, or,
//!   when none was reported, the client's.
//! - Phase 2b: an acceptor that has promised nothing above `b` accepts
//!   `(b, v)` and tells every learner (`Accepted`).
//!
//! Acceptors write their promise and accepted (ballot, value) to durable
//! state before they answer ([`node::PaxosDisk`]), so a restarted acceptor
//! keeps its word; a proposer persists the highest round it has used, so it
//! never reuses a ballot after a restart.
//!
//! Learning: acceptors send `Accepted` to every learner, and a learner
//! learns `v` once a majority of acceptors have told it they accepted `v` in
//! the same ballot. This costs n² messages per decision instead of the 2n of
//! a proposer announcing the decision, but every node learns one message
//! delay after the accepts, and a decision does not wait on the proposer
//! surviving to announce it. A learner that knows a key is decided answers a
//! Prepare for it with `Decided`, so a proposer that missed the decision
//! learns it in one round trip.
//!
//! Clients use the shared [`KvClient`]: its writes are proposes
//! (`propose(key, value)` returns the chosen value, maybe another client's)
//! and its reads are gets. A node that has learned a key answers both at
//! once. Otherwise a non-proposer redirects the client to a proposer (node
//! `id % proposers`), and a proposer runs an instance for the key:
//!
//! - a propose runs Phase 1 with a fresh ballot, Phase 2 with the value that
//!   Phase 1 dictates, and answers with the value it learns;
//! - a get runs Phase 1 too (reads are linearizable, not local): if a
//!   majority promises and none reports an accepted value, nothing can have
//!   been chosen below that ballot, nor before the get was invoked, and the
//!   get reads none; if some value was reported, the proposer finishes
//!   Phase 2 with the highest-ballot one and the get reads what is learned.
//!
//! Livelock is real: two proposers can preempt each other's ballots
//! forever. A preempted ballot (a `Nack`, or no majority within
//! `phase_timeout`) is retried after a random back-off in
//! `[0, retry_backoff_max]`; with `retry_backoff_max = "0ms"` dueling
//! proposers retry at once and may stall (`scenarios/paxos/dueling.toml`).
//!
//! Memory. Per key, an acceptor holds a promise and an accepted pair (about
//! 40 bytes), a learner the decided value or, until it learns, one
//! acceptance per acceptor; a proposer holds an instance only while a client
//! waits on an undecided key, at most [`node::MAX_INSTANCES`], each with at
//! most [`node::MAX_WAITERS`] clients. Everything per key is bounded by the
//! number of keys the workload touches (`[workload] keys`).
//!
//! Metrics: `ballots_per_decision` and `messages_per_decision` (histograms,
//! one sample per decided key: ballots started until the key was chosen,
//! and peer messages about it), `decision_latency_us` (first ballot to the
//! choice), `phase1_rounds`, `decisions`, `ballots_preempted`,
//! `phase_timeouts` and `paxos_messages` (counters).
//!
//! Bug knobs re-introduce classic mistakes; see [`Bugs`].

pub mod acceptor;
pub mod ballot;
pub mod invariants;
pub mod messages;
pub mod node;

use std::sync::Arc;

use serde::Deserialize;

use faultline_scenario::{Recovery, Scenario, ScenarioError};
use faultline_sim::fault::{FaultAction, NodeRef};
use faultline_sim::world::Monitor;
use faultline_sim::{CheckClass, Duration, LinkKind, NodeId, RoleSpec};

use crate::client::RoutingKind;
use crate::harness::{self, CheckHow, CheckSpec, ClientUse, CoveragePoint, Protocol, ProtocolEntry, ProtocolInfo};
use crate::kv::client::{KvClient, KvClients};
use crate::kv::workload::WriteKind;
use invariants::PaxosMonitor;
use messages::PaxosMsg;
use node::{PaxosDisk, PaxosNode};

/// Switches that re-introduce classic Paxos mistakes. All off by default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// Acceptors keep their promises in memory only: after a restart an
    /// acceptor promises (and accepts) ballots below one it promised.
    pub forget_promise: bool,
    /// A proposer ignores the values reported in Phase 1 and proposes its
    /// client's value.
    pub ignore_reported: bool,
    /// A proposer adopts the first value reported in Phase 1 instead of the
    /// one with the highest ballot.
    pub adopt_first_reported: bool,
    /// Ballots are not unique: every proposer signs its ballots as node 0,
    /// so two proposers can run the same ballot with different values.
    pub same_ballot: bool,
    /// An acceptor accepts a ballot below its promise.
    pub accept_below_promise: bool,
    /// A learner counts acceptances of one value in different ballots
    /// towards one majority.
    pub mixed_ballot_majority: bool,
}

impl Bugs {
    pub fn enabled(&self) -> Vec<&'static str> {
        let all = [
            ("forget_promise", self.forget_promise),
            ("ignore_reported", self.ignore_reported),
            ("adopt_first_reported", self.adopt_first_reported),
            ("same_ballot", self.same_ballot),
            ("accept_below_promise", self.accept_below_promise),
            ("mixed_ballot_majority", self.mixed_ballot_majority),
        ];
        all.into_iter().filter(|(_, on)| *on).map(|(name, _)| name).collect()
    }
}

/// `[params]` of a Paxos scenario.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// How many nodes (the first ones by id) are proposers: 1 to `nodes`.
    pub proposers: u32,
    /// A phase (1 or 2) that gathers no majority within this starts a new
    /// ballot (after the back-off). The shortest timeout a proposer uses:
    /// it doubles the timeout when phases time out (at most once per
    /// timeout, up to [`node::MAX_TIMEOUT_FACTOR`] times this one) and
    /// brings it back towards twice the phase time it measures when phases
    /// complete, re-arming the phases still waiting once it has at least
    /// halved. A timeout shorter than a round trip slows a proposer down
    /// instead of stalling it, and a heal after a long partition is not
    /// waited out at the raised timeout.
    pub phase_timeout: Duration,
    /// A preempted ballot is retried after a random back-off in
    /// `[0, retry_backoff_max]`; zero retries at once.
    pub retry_backoff_max: Duration,
    pub bugs: Bugs,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            proposers: 1,
            phase_timeout: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(20),
            bugs: Bugs::default(),
        }
    }
}

/// The longest `phase_timeout` and `retry_backoff_max` accepted.
pub const MAX_PHASE_DURATION: Duration = Duration::from_secs(60);

/// Each client operation outstanding at once holds at least this many bytes:
/// its client's record of it, its request in flight, and its proposer's
/// instance (a lower bound: messages in flight and acceptor state add to it).
pub const BYTES_PER_OUTSTANDING_OP: u64 = 256;

fn params(scenario: &Scenario) -> Result<Params, ScenarioError> {
    let p: Params = scenario.params()?;
    if p.proposers == 0 || p.proposers > scenario.nodes {
        return Err(scenario.param_error(
            "proposers",
            format!(
                "`proposers` ({}) must be 1 to the number of nodes ({}): the first `proposers` nodes propose",
                p.proposers, scenario.nodes
            ),
        ));
    }
    for (key, value) in [("phase_timeout", p.phase_timeout), ("retry_backoff_max", p.retry_backoff_max)] {
        // A back-off may be zero (retry at once); a timeout may not.
        let zero_ok = key == "retry_backoff_max";
        if (!zero_ok && value == Duration::ZERO) || value > MAX_PHASE_DURATION {
            let range = if zero_ok { "at most" } else { "above zero and at most" };
            return Err(scenario.param_error(key, format!("`{key}` ({value}) must be {range} {MAX_PHASE_DURATION}")));
        }
    }
    if p.proposers == scenario.nodes {
        // Every node proposes, so none ever plays only "acceptor".
        for (i, f) in scenario.faults.iter().enumerate() {
            if matches!(target(&f.action), Some(NodeRef::Role(r)) if r == "acceptor") {
                return Err(scenario.fault_error(
                    i,
                    "node",
                    "with every node a proposer (`[params] proposers` = nodes), no node is ever only an \
                     `acceptor`, so this fault would never happen; lower `proposers` or aim it at another node",
                ));
            }
        }
    }
    Ok(p)
}

/// The node a fault aims at, if it aims at one.
fn target(action: &FaultAction) -> Option<&NodeRef> {
    match action {
        FaultAction::Isolate { node }
        | FaultAction::Crash { node }
        | FaultAction::Restart { node }
        | FaultAction::Pause { node }
        | FaultAction::Resume { node }
        | FaultAction::ClockRate { node, .. }
        | FaultAction::SlowDisk { node, .. } => Some(node),
        FaultAction::Partition { .. } | FaultAction::PartitionOneway { .. } | FaultAction::Heal => None,
    }
}

/// What a Paxos scenario configures, parsed once.
pub struct Config {
    pub nodes: u32,
    pub params: Arc<Params>,
    clients: Option<KvClients>,
}

/// Paxos as the harness runs it.
pub struct Paxos;

pub static INFO: ProtocolInfo = ProtocolInfo {
    name: "paxos",
    summary: "Single-decree Paxos per key: a linearizable write-once key-value register",
    roles: &[
        RoleSpec { name: "proposer", colour: [31, 119, 180], width: 4, primary: true },
        RoleSpec { name: "acceptor", colour: [150, 150, 150], width: 2, primary: false },
    ],
    checks: &[
        CheckSpec {
            name: "invariants",
            class: CheckClass::Safety,
            how: CheckHow::Monitor {
                holds: "only proposed values chosen, at most one value chosen per key, learners learn only chosen \
                        values, promises never decrease, accepts within the promise",
            },
        },
        harness::WRITE_ONCE_LINEARIZABILITY,
        harness::LIVENESS,
    ],
    default_metrics: &["decisions", "phase1_rounds", "client_ok"],
    link_kind: LinkKind::Datagram,
    max_nodes: 64,
    clients: ClientUse::Optional,
    coverage: &[
        CoveragePoint {
            name: "read answered from a learned decision",
            description: "a get for a key the node has learned is answered at once",
        },
        CoveragePoint {
            name: "propose answered from a learned decision",
            description: "a propose for a key the node has learned returns the chosen value at once",
        },
        CoveragePoint {
            name: "client redirected to a proposer",
            description: "a node that is not a proposer sends a client to one",
        },
        CoveragePoint {
            name: "retried request joins its running instance",
            description: "a client's retry reaches a proposer still running the instance for it",
        },
        CoveragePoint {
            name: "proposer gives up after too many ballots",
            description: "an instance reaches its ballot bound without a decision",
        },
        CoveragePoint {
            name: "late reply for an older ballot ignored",
            description: "a promise for a ballot the proposer has already left behind",
        },
        CoveragePoint {
            name: "duplicate promise ignored",
            description: "a second promise from one acceptor for the same ballot",
        },
        CoveragePoint {
            name: "proposer adopts a value reported in phase 1",
            description: "a proposer proposes another client's value that Phase 1 reported instead of its own",
        },
        CoveragePoint {
            name: "read answered none after phase 1",
            description: "a majority promised and none had accepted a value: the get reads none",
        },
        CoveragePoint {
            name: "read beside a propose answered none after phase 1",
            description: "gets waiting on an instance with a propose read none before its Phase 2",
        },
        CoveragePoint {
            name: "read finishes phase 2 with a reported value",
            description: "a get found an accepted value and completes its choice before answering",
        },
        CoveragePoint {
            name: "ballot preempted by a higher promise",
            description: "an acceptor refused the proposer's ballot (dueling proposers)",
        },
        CoveragePoint {
            name: "phase timed out: a new ballot",
            description: "a phase gathered no majority in time and the proposer tries a new ballot",
        },
        CoveragePoint {
            name: "phase timeout lowered: waiting phases re-armed",
            description:
                "phases completed again after timeouts had raised the phase timeout; waiting phases use the lowered one",
        },
        CoveragePoint {
            name: "prepare answered with the decision",
            description: "an acceptor that has learned the key answers a Prepare with the decided value",
        },
        CoveragePoint {
            name: "prepare refused: promised a higher ballot",
            description: "an acceptor sends a Nack for a Prepare below its promise",
        },
        CoveragePoint {
            name: "accept refused: promised a higher ballot",
            description: "an acceptor sends a Nack for an Accept below its promise",
        },
        CoveragePoint {
            name: "learner replaces an acceptance with a higher ballot's",
            description: "an acceptor accepted again in a higher ballot before the learner learned",
        },
    ],
};

pub const ENTRY: ProtocolEntry = harness::entry::<Paxos>(&INFO);

impl Protocol for Paxos {
    type Node = PaxosNode;
    type Client = KvClient<PaxosMsg>;
    type Config = Config;

    fn configure(scenario: &Scenario) -> Result<Config, ScenarioError> {
        let params = Arc::new(params(scenario)?);
        let clients = KvClients::from_scenario(scenario)?;
        if let Some(c) = &clients {
            if c.workload.cas_ratio.get() > 0.0 {
                return Err(scenario.key_error(
                    "workload",
                    "cas_ratio",
                    format!(
                        "paxos is a write-once register: its writes are proposes and it has no compare-and-set, \
                         so `cas_ratio` ({}) must be 0",
                        c.workload.cas_ratio.get()
                    ),
                ));
            }
            c.fit_memory(scenario, BYTES_PER_OUTSTANDING_OP)?;
        }
        let clients = clients.map(|c| c.with_writes(WriteKind::Propose));
        Ok(Config { nodes: scenario.nodes, params, clients })
    }

    fn node(config: &Config, id: NodeId, disk: &PaxosDisk) -> PaxosNode {
        PaxosNode::recover(id, config.nodes, config.params.clone(), disk)
    }

    fn clients(config: &Config, scenario: &Scenario, record_history: bool) -> Vec<KvClient<PaxosMsg>> {
        match &config.clients {
            // Redirects name a proposer; see the module opening.
            Some(clients) => clients.build(scenario, &RoutingKind::LeaderRedirect, record_history),
            None => Vec::new(),
        }
    }

    fn monitor(_config: &Config, scenario: &Scenario) -> Option<Box<dyn Monitor<PaxosNode>>> {
        Some(Box::new(PaxosMonitor::new(scenario.nodes)))
    }

    /// Once the faults heal, a decision within [`RECOVERY_BALLOTS`] ballots
    /// (each a phase timeout and a back-off); a client may still be waiting
    /// out its last operation from before the heal before it invokes one in
    /// the phase, and that one may need a redirect or a timed-out attempt
    /// of its own. Then operations at no less than [`RECOVERY_RATE_SHARE`]
    /// of the rate before the first fault.
    fn recovery(config: &Config) -> Recovery {
        let Some(clients) = &config.clients else { return Recovery::default() };
        let load = &clients.workload.load;
        let p = &config.params;
        let ballot = p.phase_timeout.as_nanos().saturating_mul(2).saturating_add(p.retry_backoff_max.as_nanos());
        let ballots = ballot.saturating_mul(RECOVERY_BALLOTS);
        let within = load.recovery_within(ballots);
        Recovery { within: Some(within), rate_share: Some(RECOVERY_RATE_SHARE) }
    }
}

/// Ballots a healed cluster may take to decide again.
pub const RECOVERY_BALLOTS: u64 = 5;
/// Share of the pre-fault success rate a healed cluster must reach.
pub const RECOVERY_RATE_SHARE: f64 = 0.5;
