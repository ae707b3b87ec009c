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

use faultline_sim::scenario::{Scenario, ScenarioError};
use faultline_sim::{Duration, EndReason, LinkKind, RunReport, World};

use crate::check;
use crate::kv::client::{KeyChooser, KvClient};
use crate::registry::{ProtocolEntry, RunOptions};
use invariants::RaftMonitor;
use messages::RaftMsg;
use node::RaftNode;

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

fn params(scenario: &Scenario) -> Result<Params, ScenarioError> {
    let p: Params = scenario.params()?;
    if p.election_timeout_min == Duration::ZERO || p.election_timeout_min > p.election_timeout_max {
        return Err(scenario.param_error(
            "election_timeout_min",
            format!(
                "`election_timeout_min` ({}) must be above zero and at most `election_timeout_max` ({})",
                p.election_timeout_min, p.election_timeout_max
            ),
        ));
    }
    if p.heartbeat_interval == Duration::ZERO || p.heartbeat_interval >= p.election_timeout_min {
        return Err(scenario.param_error(
            "heartbeat_interval",
            format!(
                "`heartbeat_interval` ({}) must be above zero and below `election_timeout_min` ({})",
                p.heartbeat_interval, p.election_timeout_min
            ),
        ));
    }
    if p.max_entries_per_append == 0 || p.max_entries_per_append > 100_000 {
        return Err(scenario.param_error("max_entries_per_append", "`max_entries_per_append` must be 1 to 100000"));
    }
    if scenario.nodes > 64 {
        return Err(scenario.error("raft supports at most 64 nodes"));
    }
    Ok(p)
}

fn validate(scenario: &Scenario) -> Result<(), ScenarioError> {
    params(scenario)?;
    if let Some(w) = &scenario.workload {
        if matches!(w.key_distribution, faultline_sim::scenario::KeyDistribution::Zipf { .. }) && w.keys > 1_000_000 {
            return Err(scenario.error("a zipf key distribution supports at most 1000000 keys"));
        }
    }
    Ok(())
}

pub type RaftWorld = World<RaftNode, KvClient<RaftMsg>>;

/// Builds the world for one seed: nodes, clients and the invariant monitor.
pub fn build(scenario: &Scenario, seed: u64) -> Result<RaftWorld, ScenarioError> {
    let params = Arc::new(params(scenario)?);
    let n = scenario.nodes;
    let record_history = scenario.checks.is_on("linearizability") || scenario.checks.is_on("liveness");
    let clients = match &scenario.workload {
        Some(w) => {
            let workload = Arc::new(w.clone());
            let keys = Arc::new(KeyChooser::new(w));
            w.homes
                .iter()
                .enumerate()
                .map(|(i, &home)| KvClient::new(i as u32, home, workload.clone(), keys.clone(), record_history))
                .collect()
        }
        None => Vec::new(),
    };
    let spawn_params = params.clone();
    let mut world = World::new(
        scenario.world_config(seed),
        Box::new(move |id, disk| RaftNode::recover(id, n, spawn_params.clone(), disk)),
        clients,
    );
    if scenario.checks.is_on("invariants") {
        world.set_monitor(Box::new(RaftMonitor::new(n)));
    }
    Ok(world)
}

/// Runs the world and judges it: online invariants, the history, liveness.
pub fn judge(scenario: &Scenario, seed: u64, world: &mut RaftWorld, options: &mut RunOptions) -> RunReport {
    let outcome = world.run();
    options.phase("simulated");
    let mut checks = Vec::new();
    if scenario.checks.is_on("invariants") {
        checks.push(match &outcome.violation {
            Some(v) => faultline_sim::CheckResult::fail("invariants", v.clone()),
            None => faultline_sim::CheckResult::pass(
                "invariants",
                "election safety, leader append-only, log matching, leader completeness, state machine safety",
            ),
        });
    }
    let ops: Vec<_> = world.clients().flat_map(|c| c.history_at_end()).collect();
    if let Some(out) = options.history_out.as_mut() {
        out(&check::history::History { ops: ops.clone() });
    }
    let complete = outcome.end == EndReason::TimeLimit || outcome.end == EndReason::Quiescent;
    if scenario.checks.is_on("linearizability") {
        if outcome.violation.is_some() {
            checks.push(faultline_sim::CheckResult::unknown(
                "linearizability",
                "not checked: the run stopped at an invariant violation",
            ));
        } else {
            checks.push(check::linearizability(
                ops.clone(),
                scenario.checks.history_budget_steps,
                outcome.virtual_time,
            ));
        }
    }
    if scenario.checks.is_on("liveness") {
        if let Some(from) = scenario.liveness_from() {
            checks.push(check::liveness(&ops, from, outcome.virtual_time, complete && outcome.violation.is_none()));
        }
    }
    options.phase("checked");
    let mut metrics = world.metrics().clone();
    metrics.count("client_ops_total", ops.len() as u64);
    let homes = scenario.workload.as_ref().map(|w| w.homes.clone()).unwrap_or_default();
    check::cap::analyse(&ops, &homes, scenario.nodes, &outcome.faults, outcome.virtual_time).record(&mut metrics);
    let end = outcome.virtual_time.as_nanos();
    let mut report = RunReport::new(&scenario.name, &scenario.protocol, seed, outcome, metrics, checks);
    let succeeded = |o: &check::history::Operation| {
        (!matches!(o.outcome, check::history::Outcome::Unknown | check::history::Outcome::Failed))
            .then_some(o.complete_ns)
            .flatten()
    };
    report.timeline = faultline_sim::Timeline::from_ops(end, ops.iter().map(|o| (o.invoke_ns, succeeded(o))));
    report
}

fn run(scenario: &Scenario, seed: u64, mut options: RunOptions) -> Result<RunReport, ScenarioError> {
    let mut world = build(scenario, seed)?;
    if let Some(sink) = options.trace.take() {
        world.set_trace_sink(sink);
    }
    Ok(judge(scenario, seed, &mut world, &mut options))
}

pub const ENTRY: ProtocolEntry = ProtocolEntry {
    name: "raft",
    summary: "Raft consensus serving a linearizable key-value store",
    roles: &["leader", "follower", "candidate", "pre_candidate"],
    checks: &["invariants", "linearizability", "liveness"],
    link_kind: LinkKind::Datagram,
    validate,
    run,
};
