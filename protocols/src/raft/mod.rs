//! Raft, serving a replicated key-value store.
//!
//! Raft (Ongaro & Ousterhout, "In Search of an Understandable Consensus
//! Algorithm", 2014; Ongaro's dissertation, 2014) keeps a replicated log
//! consistent by electing a leader per *term*: a node that hears nothing from
//! a leader for a randomized election timeout becomes a candidate, and wins
//! with votes from a majority — each voter granting at most one vote per term,
//! and only to a candidate whose log is at least as up-to-date as its own
//! (§5.4.1). The leader appends client commands to its log and replicates
//! them with AppendEntries, whose consistency check (the previous entry's
//! index and term) makes followers' logs match the leader's (§5.3). An entry
//! of the leader's own term is committed once a majority stores it, and with
//! it every entry before it (§5.4.2); committed entries are applied in order.
//!
//! What this implementation adds to Figure 2, each as the paper or the
//! dissertation describes it: a no-op entry at the start of each term (§8);
//! fast nextIndex back-off with a conflict hint (§5.3); linearizable reads
//! through ReadIndex or through the log (§6.4); client sessions that make a
//! retried write apply once (§6.3); PreVote and CheckQuorum (§9.6, §6.2);
//! snapshots with InstallSnapshot (§7).
//!
//! Bug knobs re-introduce classic mistakes; see [`Bugs`].

pub mod invariants;
pub mod log;
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
use invariants::RaftMonitor;
use messages::RaftMsg;
use node::{RaftDisk, RaftNode};

/// How the leader serves reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadMode {
    /// Confirm leadership with a heartbeat round, then read at the commit
    /// index (§6.4).
    #[default]
    ReadIndex,
    /// Append reads to the log like writes.
    Log,
}

/// Switches that re-introduce published Raft bugs. All off by default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// Commit an entry of an earlier term by counting replicas — the
    /// Figure 8 scenario of the Raft paper (§5.4.2).
    pub commit_previous_term_by_count: bool,
    /// Keep currentTerm and votedFor in memory only: after a crash a node
    /// votes again in a term it already voted in, electing two leaders.
    pub volatile_vote: bool,
    /// Follower truncates its log after prevLogIndex on every AppendEntries,
    /// even a stale one whose entries all match (§5.3 says: only on conflict).
    pub truncate_on_any_append: bool,
    /// Grant votes without the up-to-date log check (§5.4.1).
    pub vote_without_log_check: bool,
    /// Follower sets commitIndex to leaderCommit capped by its last log index
    /// rather than the last entry this AppendEntries made match (Figure 2).
    pub commit_without_cap: bool,
    /// Leader answers reads from local state without confirming it still
    /// leads: a deposed leader serves stale reads (§6.4).
    pub local_reads: bool,
    /// Apply retried writes again instead of returning the first result (§6.3).
    pub no_dedup: bool,
    /// A follower acknowledges appended entries before they are durable (it
    /// writes them asynchronously and answers at once): with a `[disk]`, a
    /// crash loses entries the leader counted towards a commit.
    pub ack_before_durable: bool,
}

impl Bugs {
    pub fn enabled(&self) -> Vec<&'static str> {
        let all = [
            ("commit_previous_term_by_count", self.commit_previous_term_by_count),
            ("volatile_vote", self.volatile_vote),
            ("truncate_on_any_append", self.truncate_on_any_append),
            ("vote_without_log_check", self.vote_without_log_check),
            ("commit_without_cap", self.commit_without_cap),
            ("local_reads", self.local_reads),
            ("ack_before_durable", self.ack_before_durable),
            ("no_dedup", self.no_dedup),
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
    pub pre_vote: bool,
    pub check_quorum: bool,
    pub read_mode: ReadMode,
    /// Take a snapshot every this many applied entries (0: never).
    pub snapshot_every: u64,
    pub max_entries_per_append: usize,
    pub bugs: Bugs,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            election_timeout_min: Duration::from_millis(150),
            election_timeout_max: Duration::from_millis(300),
            heartbeat_interval: Duration::from_millis(50),
            pre_vote: false,
            check_quorum: false,
            read_mode: ReadMode::ReadIndex,
            snapshot_every: 1_000,
            max_entries_per_append: 64,
            bugs: Bugs::default(),
        }
    }
}

/// Each client operation outstanding at once holds at least this many bytes:
/// its client's record of it, its request in flight, and its entry in the
/// leader's log and in one follower's (a lower bound: the history, more
/// replicas and the state machine add to it).
pub const BYTES_PER_OUTSTANDING_OP: u64 = 256;

fn params(scenario: &Scenario) -> Result<Params, ScenarioError> {
    let p: Params = scenario.params()?;
    // When the key at fault is left at its default, the written key that
    // made the default impossible is the place (`params_error`).
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
            &["heartbeat_interval", "election_timeout_min", "election_timeout_max"],
            format!(
                "`heartbeat_interval` ({}{}) must be above zero and below `election_timeout_min` ({}{})",
                p.heartbeat_interval,
                default("heartbeat_interval"),
                p.election_timeout_min,
                default("election_timeout_min"),
            ),
        ));
    }
    if p.max_entries_per_append == 0 || p.max_entries_per_append > 100_000 {
        return Err(scenario.param_error("max_entries_per_append", "`max_entries_per_append` must be 1 to 100000"));
    }
    if !p.pre_vote {
        // Only PreVote makes a node a pre-candidate.
        for (i, f) in scenario.faults.iter().enumerate() {
            if matches!(target(&f.action), Some(NodeRef::Role(r)) if r == "pre_candidate") {
                return Err(scenario.fault_error(
                    i,
                    "node",
                    "no node is ever a `pre_candidate` without `[params] pre_vote = true`, so this fault would never \
                     happen; set pre_vote = true or aim it at another node",
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

/// What a Raft scenario configures, parsed once.
pub struct Config {
    pub nodes: u32,
    pub params: Arc<Params>,
    clients: Option<KvClients>,
}

/// Raft as the harness runs it.
pub struct Raft;

pub static INFO: ProtocolInfo = ProtocolInfo {
    name: "raft",
    summary: "Raft consensus serving a linearizable key-value store",
    roles: &[
        RoleSpec { name: "leader", colour: [44, 160, 44], width: 5, primary: true },
        RoleSpec { name: "follower", colour: [150, 150, 150], width: 2, primary: false },
        RoleSpec { name: "candidate", colour: [255, 127, 14], width: 3, primary: false },
        RoleSpec { name: "pre_candidate", colour: [230, 180, 0], width: 3, primary: false },
    ],
    checks: &[
        CheckSpec {
            name: "invariants",
            class: CheckClass::Safety,
            how: CheckHow::Monitor {
                holds: "election safety, leader append-only, log matching, leader completeness, state machine safety, \
                        election timers, snapshots match the log",
            },
        },
        harness::LINEARIZABILITY,
        harness::LIVENESS,
    ],
    default_metrics: &["leaderless_ms", "elections", "client_ok"],
    link_kind: LinkKind::Datagram,
    max_nodes: 64,
    clients: ClientUse::Optional,
    coverage: &[
        CoveragePoint {
            name: "snapshot reply that moved nothing sends nothing",
            description: "a duplicated or late InstallSnapshot reply leaves the follower's next entry where it was",
        },
        CoveragePoint {
            name: "retry of an operation still in the log waits for it",
            description: "a leader gets a retry of an operation it appended and has not yet applied",
        },
        CoveragePoint {
            name: "stale reply from an older term ignored",
            description: "a leader drops the rejection of an append or snapshot it sent in an earlier term",
        },
        CoveragePoint {
            name: "leader steps down on a higher term",
            description: "a leader learns of a newer term and becomes a follower",
        },
        CoveragePoint {
            name: "leader steps down: no quorum heard (check quorum)",
            description: "a leader that heard from no majority for an election timeout steps down",
        },
        CoveragePoint {
            name: "candidate steps down on a higher term in a vote",
            description: "a candidate gets a vote reply of a newer term",
        },
        CoveragePoint {
            name: "election timed out as candidate (split vote)",
            description: "an election ends without a winner and a new one starts",
        },
        CoveragePoint {
            name: "pre-vote round timed out",
            description: "a pre-vote round gathers no majority before the timer fires",
        },
        CoveragePoint {
            name: "pre-vote refused: a leader was heard recently",
            description: "leader stickiness: a follower that hears its leader refuses a pre-vote",
        },
        CoveragePoint {
            name: "vote refused: a leader was heard recently",
            description: "with check quorum, a follower that hears its leader refuses a real vote",
        },
        CoveragePoint {
            name: "vote refused: candidate's log is out of date",
            description: "a voter's log is more up to date than the candidate's",
        },
        CoveragePoint {
            name: "vote refused: already voted for another candidate",
            description: "a voter has already voted for someone else in this term",
        },
        CoveragePoint {
            name: "append from an older term refused",
            description: "a follower rejects an AppendEntries from a deposed leader",
        },
        CoveragePoint {
            name: "append refused: follower's log too short",
            description: "AppendEntries names a previous index past the follower's log",
        },
        CoveragePoint {
            name: "append refused: conflicting term at the previous index",
            description: "the follower's entry at the previous index has another term",
        },
        CoveragePoint {
            name: "append overlaps the follower's snapshot",
            description: "AppendEntries carries entries the follower has already compacted",
        },
        CoveragePoint {
            name: "follower truncates conflicting entries",
            description: "a follower drops entries that conflict with the leader's (§5.3)",
        },
        CoveragePoint {
            name: "leader backs off by the conflict term",
            description: "fast back-off: the leader holds the follower's conflicting term",
        },
        CoveragePoint {
            name: "leader backs off by the conflict index",
            description: "fast back-off: the leader jumps to the follower's conflict index",
        },
        CoveragePoint {
            name: "commit of an earlier term's entry waits for one of this term",
            description: "a majority holds an older-term entry, which does not commit by counting (Figure 8)",
        },
        CoveragePoint {
            name: "snapshot state captured",
            description: "the state machine is captured for the next snapshot",
        },
        CoveragePoint {
            name: "log compacted into a snapshot",
            description: "the captured state is installed and the log before it dropped",
        },
        CoveragePoint {
            name: "install snapshot sent",
            description: "a follower lags behind the leader's snapshot and is sent it",
        },
        CoveragePoint {
            name: "install snapshot from an older term refused",
            description: "a follower rejects an InstallSnapshot from a deposed leader",
        },
        CoveragePoint {
            name: "install snapshot to a follower holding later entries",
            description: "the follower's log reaches past the snapshot it installs",
        },
        CoveragePoint {
            name: "install snapshot not past the commit index ignored",
            description: "a late or duplicate InstallSnapshot the follower has already committed",
        },
        CoveragePoint {
            name: "pending snapshot dropped: an install overtook it",
            description: "a follower installs a snapshot while holding a captured one",
        },
        CoveragePoint {
            name: "node restarts from a snapshot",
            description: "a node recovers its state machine from a snapshot on disk",
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
            name: "read waits for the leader's first commit of its term",
            description: "a ReadIndex read arrives before the leader's no-op commits",
        },
        CoveragePoint {
            name: "read starts a heartbeat round",
            description: "a ReadIndex read needs a new round to confirm leadership",
        },
        CoveragePoint {
            name: "read waits for the round in flight to confirm",
            description: "reads share a confirmation round that is still in flight",
        },
        CoveragePoint {
            name: "read index read served",
            description: "a ReadIndex read is answered after a majority confirmed leadership",
        },
        CoveragePoint {
            name: "retried client request answered from its session",
            description: "a retry of an applied request gets its first result (deduplication)",
        },
        CoveragePoint {
            name: "late duplicate of an acknowledged request ignored",
            description: "a copy of a request the client has acknowledged applies as nothing",
        },
    ],
};

pub const ENTRY: ProtocolEntry = harness::entry::<Raft>(&INFO);

impl Protocol for Raft {
    type Node = RaftNode;
    type Client = KvClient<RaftMsg>;
    type Config = Config;

    fn configure(scenario: &Scenario) -> Result<Config, ScenarioError> {
        let params = Arc::new(params(scenario)?);
        let clients = KvClients::from_scenario(scenario)?;
        if let Some(c) = &clients {
            c.fit_memory(scenario, BYTES_PER_OUTSTANDING_OP)?;
        }
        Ok(Config { nodes: scenario.nodes, params, clients })
    }

    fn node(config: &Config, id: NodeId, disk: &RaftDisk) -> RaftNode {
        RaftNode::recover(id, config.nodes, config.params.clone(), disk)
    }

    fn clients(config: &Config, scenario: &Scenario, record_history: bool) -> Vec<KvClient<RaftMsg>> {
        match &config.clients {
            Some(clients) => clients.build(scenario, &RoutingKind::LeaderRedirect, record_history),
            None => Vec::new(),
        }
    }

    fn monitor(config: &Config, scenario: &Scenario) -> Option<Box<dyn Monitor<RaftNode>>> {
        Some(Box::new(RaftMonitor::new(scenario.nodes, config.params.election_timeout_min)))
    }

    /// Once the faults heal, a leader within [`RECOVERY_ELECTIONS`] election
    /// timeouts; a client may still be waiting out its last operation from
    /// before the heal (every attempt timing out, a back-off between) before
    /// it invokes one in the phase, and that one may need a redirect or a
    /// timed-out attempt of its own. Then operations at no less than
    /// [`RECOVERY_RATE_SHARE`] of the rate before the first fault.
    fn recovery(config: &Config) -> Recovery {
        let Some(clients) = &config.clients else { return Recovery::default() };
        let load = &clients.workload.load;
        // Saturating: a timeout of centuries is valid input, and its bound
        // is then simply never reached.
        let election = config.params.election_timeout_max.as_nanos().saturating_mul(RECOVERY_ELECTIONS);
        let within = load.recovery_within(election);
        Recovery { within: Some(within), rate_share: Some(RECOVERY_RATE_SHARE) }
    }
}

/// Election timeouts a healed cluster may take to elect a leader.
pub const RECOVERY_ELECTIONS: u64 = 5;
/// Share of the pre-fault success rate a healed cluster must reach.
pub const RECOVERY_RATE_SHARE: f64 = 0.5;
