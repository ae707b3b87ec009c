//! ZAB, ZooKeeper's atomic broadcast, serving the replicated key-value store.
//!
//! Zab (Junqueira, Reed & Serafini, "Zab: High-performance broadcast for
//! primary-backup systems", DSN 2011; Medeiros, "ZooKeeper's atomic
//! broadcast protocol: theory and practice", 2012) delivers a primary's
//! state changes to every backup in one total order. A transaction's id is
//! a *zxid*, (epoch, counter): the epoch of the primary that proposed it and
//! its place in that primary's sequence. Every server keeps on disk its
//! acceptedEpoch (the last epoch it promised to follow), its currentEpoch
//! (the epoch whose leader's history it last adopted) and its history. A
//! server is LOOKING, FOLLOWING or LEADING, and a leadership runs through
//! four phases, as ZooKeeper implements them (Zab 1.0, Medeiros §3):
//!
//! - **Fast Leader Election** (`election.rs`): votes of (currentEpoch, last
//!   zxid, server id) flood the cluster in numbered rounds; a server decides
//!   once a quorum shares its vote and nothing better comes within the
//!   finalize wait. The elected server holds the most recent history of a
//!   quorum.
//! - **Discovery**: followers register (FOLLOWERINFO, the paper's CEPOCH);
//!   a quorum's accepted epochs give the new epoch, above all of them
//!   (NEWEPOCH); followers write it as acceptedEpoch and acknowledge
//!   (ACKEPOCH) with their currentEpoch and history. A leader that finds a
//!   follower of this quorum more up to date than itself gives up.
//! - **Synchronization**: the leader brings each follower to its own
//!   history by DIFF (the transactions it misses), TRUNC (drop a tail the
//!   leader does not hold, then the rest) or SNAP (the store, when the
//!   point where they part is compacted), then NEWLEADER. The follower
//!   writes the history, then currentEpoch, then acknowledges. A quorum's
//!   acknowledgement *establishes* the leader: its initial history is
//!   committed, UPTODATE tells the followers so, and only now do leader and
//!   followers serve clients.
//! - **Broadcast**: the leader proposes each request as the next zxid of
//!   its epoch (PROPOSAL), followers write it and acknowledge (ACK), and the
//!   leader commits (COMMIT) the highest zxid a quorum holds, in zxid order.
//!
//! Every message after the election travels on a session link: FIFO, like
//! ZooKeeper's TCP connections, which Zab needs (a proposal must never
//! overtake the synchronization before it, nor a commit its proposal). A
//! broken session (`on_link_down`) sends the follower back to LOOKING and
//! makes the leader drop it; the leader pings each tick and steps down when
//! a quorum has not answered within `sync_limit`; a follower that has not
//! heard its leader within `sync_limit`, or is not up to date within
//! `init_limit`, looks again and stops serving. Gaps the sessions cannot
//! rule out (a one-way cut lets a new session start while the old one's
//! messages were dropped) are caught by followers, which refuse a proposal
//! out of sequence and look again.
//!
//! **Clients**, ZooKeeper-style, use the shared key-value client and
//! store. A client holds a session with a server (its home first); a server
//! that is not serving turns it away, and it moves on. A serving follower
//! forwards writes to its leader (ZooKeeper's REQUEST) and answers the
//! client itself when it delivers the transaction. Reads are answered at
//! once by the server that has the session, from its own store: they may be
//! stale, and ZooKeeper promises sequential consistency, not
//! linearizability. Every answer carries the zxid the server had delivered;
//! the client sends the highest it saw with each request, and a server that
//! has not delivered that far refuses it (a reconnecting session never goes
//! back). A session's requests are answered in order: a read waits behind
//! the session's own writes still in flight at that server. A read after
//! `sync` (`[workload] sync_ratio`) goes through the leader first: the
//! leader answers the sync once everything it had proposed when the sync
//! arrived is committed *and* a quorum has answered a ping round begun
//! after it arrived, so that it still led then. ZooKeeper's leader answers
//! a sync from its own commit point without that round, so a deposed
//! leader that does not know it yet can answer it, and the read misses
//! writes a newer leader committed; the ping round closes that gap.
//!
//! The checks are ZooKeeper's promises: the invariants online (with every
//! read answered from a committed state), the writes and the reads after
//! sync linearizable, and the session guarantees from the zxids the
//! answers carry (`crate::check::session`). Whether the plain reads are
//! linearizable too is measured (`histories_not_linearizable`), and how
//! far reads lag (`read_lag_zxids`, `read_lag_us`, the lag split by the
//! answering server's side of a partition, and stale reads on each side in
//! the CAP figures).
//!
//! Bug knobs re-introduce published ZooKeeper bugs; see [`Bugs`].
//!
//! Bounds: `max_in_flight` proposals uncommitted, [`MAX_QUEUED_REQUESTS`]
//! requests queued at the leader, [`MAX_WAITING_CLIENTS`] clients waiting
//! at one server, and a history of about `snapshot_every` delivered
//! transactions plus those in flight (compaction into a snapshot).

pub mod election;
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
use invariants::ZabMonitor;
use log::ZabDisk;
use messages::ZabMsg;
use node::ZabNode;

/// Switches that re-introduce published ZooKeeper bugs. All off by default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bugs {
    /// A follower acknowledges a proposal before the transaction is durable
    /// (it writes it in the background and answers at once; ZOOKEEPER-4646
    /// is this for NEWLEADER's history). With a `[disk]`, a crash loses
    /// transactions the leader counted towards a commit.
    pub ack_before_durable: bool,
    /// A server serves a client whose session has seen a later zxid than
    /// this server delivered (ZooKeeper refuses the connection): the
    /// session reads back in time.
    pub ignore_session_zxid: bool,
    /// A follower answers a read after sync from its own state, without
    /// asking its leader: the sync is a no-op, and the read may miss writes
    /// that completed before it began.
    pub sync_skips_leader: bool,
    /// Fast Leader Election orders votes by (peerEpoch, server id), leaving
    /// out the zxid, and the new leader does not give up when a follower of
    /// its discovery quorum is more up to date: a server missing committed
    /// transactions can win, and its history overrides theirs.
    pub election_ignores_zxid: bool,
    /// The leader is established, commits its initial history and serves
    /// once its own new epoch is durable, before a quorum acknowledged
    /// NEWLEADER: a history no quorum holds is delivered, and a later
    /// leader can be established without it.
    pub serve_before_newleader_quorum: bool,
    /// A follower makes the new epoch its currentEpoch when it acknowledges
    /// it, before the leader's history has arrived (ZOOKEEPER-4643). A
    /// crash then leaves it with the new epoch and an old history, and its
    /// vote beats servers that hold the transactions it lacks.
    pub epoch_before_history: bool,
    /// A follower takes the transactions of a DIFF as committed and
    /// delivers them at once, before its new leader is established
    /// (ZOOKEEPER-3911): if that leader fails first, a later one can be
    /// established without transactions this server delivered.
    pub diff_uncommitted_as_committed: bool,
    /// A follower keeps its in-memory database across an election instead
    /// of reloading it from its log (ZOOKEEPER-2845): it tells its new
    /// leader the last transaction it delivered, not the last it logged, so
    /// the leader sends a DIFF from there where a TRUNC was due, and the
    /// follower writes it behind its own logged transactions without
    /// dropping them. A transaction no quorum accepted stays in its history
    /// and is delivered in place of the leader's.
    pub keep_db_across_election: bool,
    /// A follower that acknowledged a new epoch still takes proposals from
    /// the leader of an older one and acknowledges them: the promise its
    /// ACKEPOCH made (nothing older is accepted now) is broken, so the old
    /// leader can commit a transaction the new epoch's history lacks.
    pub accept_old_epoch_proposals: bool,
}

impl Bugs {
    pub fn enabled(&self) -> Vec<&'static str> {
        let all = [
            ("ack_before_durable", self.ack_before_durable),
            ("ignore_session_zxid", self.ignore_session_zxid),
            ("sync_skips_leader", self.sync_skips_leader),
            ("election_ignores_zxid", self.election_ignores_zxid),
            ("serve_before_newleader_quorum", self.serve_before_newleader_quorum),
            ("epoch_before_history", self.epoch_before_history),
            ("diff_uncommitted_as_committed", self.diff_uncommitted_as_committed),
            ("keep_db_across_election", self.keep_db_across_election),
            ("accept_old_epoch_proposals", self.accept_old_epoch_proposals),
        ];
        all.into_iter().filter(|(_, on)| *on).map(|(name, _)| name).collect()
    }
}

/// ZAB's settings; ZooKeeper's tickTime, initLimit and syncLimit with their
/// units, scaled to a simulated network of milliseconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// The leader pings its followers every tick, and every server checks
    /// its limits.
    pub tick_interval: Duration,
    /// A follower must be up to date (UPTODATE) this long after it decided,
    /// and a leader established this long after it decided.
    pub init_limit: Duration,
    /// A serving follower that has not heard its leader for this long looks
    /// again; a leader that has not heard a quorum for this long steps down.
    pub sync_limit: Duration,
    /// How long a server waits for a better vote once a quorum agrees.
    pub finalize_wait: Duration,
    /// Notifications go out again after `finalize_wait`, then twice as
    /// long each time, up to this.
    pub max_notification_interval: Duration,
    /// Proposals uncommitted at once (the pipeline).
    pub max_in_flight: usize,
    /// Take a snapshot every this many delivered transactions.
    pub snapshot_every: u64,
    pub bugs: Bugs,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            tick_interval: Duration::from_millis(50),
            init_limit: Duration::from_millis(500),
            sync_limit: Duration::from_millis(200),
            finalize_wait: Duration::from_millis(30),
            max_notification_interval: Duration::from_millis(400),
            max_in_flight: 256,
            snapshot_every: 1_000,
            bugs: Bugs::default(),
        }
    }
}

/// Requests the leader queues at most (waiting for establishment or for
/// room in the pipeline); beyond it they are shed and the client retries.
pub const MAX_QUEUED_REQUESTS: usize = 10_000;
/// Clients one server holds waiting for their transaction; beyond it a
/// client is turned away.
pub const MAX_WAITING_CLIENTS: usize = 10_000;
/// Each client operation outstanding at once holds at least this many
/// bytes: its client's record, its request in flight, its proposal at the
/// leader and its logged copy at one follower.
pub const BYTES_PER_OUTSTANDING_OP: u64 = 256;
/// Acknowledgement sets are bit masks of server ids.
pub const MAX_NODES: u32 = 64;

fn params(scenario: &Scenario) -> Result<Params, ScenarioError> {
    let p: Params = scenario.params()?;
    let default = |key: &str| if scenario.writes_param(key) { "" } else { ", the default" };
    for (key, limit) in [("sync_limit", p.sync_limit), ("init_limit", p.init_limit)] {
        if p.tick_interval == Duration::ZERO || p.tick_interval >= limit {
            return Err(scenario.params_error(
                &["tick_interval", key],
                format!(
                    "`tick_interval` ({}{}) must be above zero and below `{key}` ({}{}): limits are checked each tick",
                    p.tick_interval,
                    default("tick_interval"),
                    limit,
                    default(key),
                ),
            ));
        }
    }
    if p.finalize_wait == Duration::ZERO || p.finalize_wait > p.max_notification_interval {
        return Err(scenario.params_error(
            &["finalize_wait", "max_notification_interval"],
            format!(
                "`finalize_wait` ({}{}) must be above zero and at most `max_notification_interval` ({}{})",
                p.finalize_wait,
                default("finalize_wait"),
                p.max_notification_interval,
                default("max_notification_interval"),
            ),
        ));
    }
    if p.max_in_flight == 0 || p.max_in_flight > 10_000 {
        return Err(scenario
            .param_error("max_in_flight", format!("`max_in_flight` must be 1 to 10000; got {}", p.max_in_flight)));
    }
    if p.snapshot_every == 0 || p.snapshot_every > 1_000_000 {
        return Err(scenario.param_error(
            "snapshot_every",
            format!("`snapshot_every` must be 1 to 1000000; got {}", p.snapshot_every),
        ));
    }
    Ok(p)
}

/// What a ZAB scenario configures, parsed once.
pub struct Config {
    pub nodes: u32,
    pub params: Arc<Params>,
    clients: Option<KvClients>,
}

/// ZAB as the harness runs it.
pub struct Zab;

pub static INFO: ProtocolInfo = ProtocolInfo {
    name: "zab",
    summary: "ZooKeeper's atomic broadcast (Fast Leader Election, discovery, sync, broadcast) on session links, \
              serving a key-value store with ZooKeeper's local, sequentially consistent reads and sync",
    roles: &[
        RoleSpec { name: "leader", colour: [44, 160, 44], width: 5, primary: true },
        RoleSpec { name: "follower", colour: [150, 150, 150], width: 2, primary: false },
        RoleSpec { name: "looking", colour: [255, 127, 14], width: 3, primary: false },
    ],
    checks: &[
        CheckSpec {
            name: "invariants",
            class: CheckClass::Safety,
            how: CheckHow::Monitor {
                holds: "leadership (one established leader per epoch), integrity, agreement, total order, local \
                        primary order, global primary order, primary integrity, prefix consistency, epochs never \
                        go back, reads answered from committed states",
            },
        },
        harness::WRITE_LINEARIZABILITY,
        harness::SEQUENTIAL_CONSISTENCY,
        harness::LIVENESS,
    ],
    default_metrics: &["leaderless_ms", "elections", "leader_changes", "client_ops_ok"],
    link_kind: LinkKind::Session,
    max_nodes: MAX_NODES,
    clients: ClientUse::Optional,
    coverage: &[
        CoveragePoint {
            name: "election joins a later round",
            description: "a LOOKING server hears a notification of a later round and moves to it",
        },
        CoveragePoint {
            name: "election decided by a quorum of its round",
            description: "a LOOKING server decides on notifications of servers that already follow or lead",
        },
        CoveragePoint {
            name: "late server joins an established leader",
            description: "a server decides from a quorum out of the election and the leader saying it leads",
        },
        CoveragePoint {
            name: "notifications sent again: no decision yet",
            description: "a LOOKING server's resend timer fires before it decided",
        },
        CoveragePoint {
            name: "follower info waited for its leader to decide",
            description: "a FOLLOWERINFO reached its leader while it was still in the finalize wait",
        },
        CoveragePoint {
            name: "epoch acknowledged again: not counted",
            description: "an ACKEPOCH for an epoch the follower had accepted already does not count",
        },
        CoveragePoint {
            name: "new epoch already accepted: acknowledged without counting",
            description: "a follower gets NEWEPOCH for the epoch it accepted last",
        },
        CoveragePoint {
            name: "new epoch below the accepted one: back to looking",
            description: "a follower refuses a leader whose epoch is below its acceptedEpoch",
        },
        CoveragePoint {
            name: "leader gives up: a follower is more up to date",
            description: "discovery finds a follower with a more recent history than the leader",
        },
        CoveragePoint {
            name: "follower synchronized by DIFF",
            description: "the follower's history is a prefix of the leader's",
        },
        CoveragePoint {
            name: "follower synchronized by TRUNC",
            description: "the follower holds transactions the leader does not",
        },
        CoveragePoint {
            name: "follower synchronized by SNAP",
            description: "the point where the histories part is compacted at the leader",
        },
        CoveragePoint {
            name: "follower truncates its history",
            description: "a follower drops the tail a TRUNC names",
        },
        CoveragePoint {
            name: "follower joins an established leader",
            description: "a follower acknowledges NEWLEADER after its leader was established",
        },
        CoveragePoint {
            name: "request waits for the leader to be established",
            description: "a leader queues a client request until a quorum acknowledged NEWLEADER",
        },
        CoveragePoint {
            name: "request waits for room in the pipeline",
            description: "max_in_flight proposals are uncommitted, so a request queues",
        },
        CoveragePoint {
            name: "proposal out of sequence: back to looking",
            description: "a follower gets a proposal that does not follow its history (a gap between sessions)",
        },
        CoveragePoint {
            name: "retried request answered from its session",
            description: "a retry of a delivered request gets its first result (deduplication)",
        },
        CoveragePoint {
            name: "late duplicate of an acknowledged request ignored",
            description: "a copy of a request the client has acknowledged delivers as nothing",
        },
        CoveragePoint {
            name: "client refused: server behind its session",
            description: "a client's last zxid is past what this server delivered, so it must go elsewhere",
        },
        CoveragePoint {
            name: "read held behind its session's write",
            description: "a read waits for an earlier write of its session still in flight at this server",
        },
        CoveragePoint {
            name: "sync waits for the next ping round",
            description: "a sync arrives while a ping round begun before it is in flight, so it shares the next one",
        },
        CoveragePoint {
            name: "sync answered ahead of this server's history: client turned away",
            description: "a follower got a sync answer past what it could deliver",
        },
        CoveragePoint {
            name: "leader steps down: zxid counter exhausted",
            description: "the epoch's 32-bit zxid counter is used up, so a new epoch must begin",
        },
        CoveragePoint {
            name: "client turned away: server not serving",
            description: "a server that is LOOKING or not up to date refuses a client",
        },
        CoveragePoint {
            name: "follower sees its leader looking",
            description: "a follower's leader gave up leading (its LOOKING notification reached the follower)",
        },
        CoveragePoint {
            name: "leader sees a follower looking",
            description: "a follower left its leader to look for another",
        },
        CoveragePoint {
            name: "follower lost its leader: sync limit passed",
            description: "a serving follower has not heard its leader for sync_limit",
        },
        CoveragePoint {
            name: "follower not synchronized within the init limit",
            description: "a follower was not up to date init_limit after it decided",
        },
        CoveragePoint {
            name: "leader not established within the init limit",
            description: "a leader had no NEWLEADER quorum init_limit after it decided",
        },
        CoveragePoint {
            name: "leader steps down: no quorum within the sync limit",
            description: "an established leader has not heard a quorum for sync_limit",
        },
        CoveragePoint {
            name: "follower's session to its leader broke",
            description: "a partition or crash broke the session to the leader: the follower looks again",
        },
        CoveragePoint {
            name: "leader's session to a follower broke",
            description: "a partition or crash broke a follower's session: the leader drops it",
        },
        CoveragePoint {
            name: "server restarts from a snapshot",
            description: "a server recovers its store from a snapshot on disk",
        },
        CoveragePoint {
            name: "server restarts with logged transactions",
            description: "a server restarts with transactions logged after its snapshot",
        },
    ],
};

pub const ENTRY: ProtocolEntry = harness::entry::<Zab>(&INFO);

impl Protocol for Zab {
    type Node = ZabNode;
    type Client = KvClient<ZabMsg>;
    type Config = Config;

    fn configure(scenario: &Scenario) -> Result<Config, ScenarioError> {
        let params = Arc::new(params(scenario)?);
        let clients = KvClients::from_scenario(scenario)?;
        if let Some(c) = &clients {
            c.fit_memory(scenario, BYTES_PER_OUTSTANDING_OP)?;
        }
        Ok(Config { nodes: scenario.nodes, params, clients })
    }

    fn node(config: &Config, id: NodeId, disk: &ZabDisk) -> ZabNode {
        ZabNode::recover(id, config.nodes, config.params.clone(), disk)
    }

    /// Every serving server takes requests (followers forward them), so a
    /// client stays with the server that answers and moves on when one
    /// turns it away or times out, following a hint to the leader if given.
    fn clients(config: &Config, scenario: &Scenario, record_history: bool) -> Vec<KvClient<ZabMsg>> {
        match &config.clients {
            Some(clients) => clients.build(scenario, &RoutingKind::LeaderRedirect, record_history),
            None => Vec::new(),
        }
    }

    fn monitor(_config: &Config, scenario: &Scenario) -> Option<Box<dyn Monitor<ZabNode>>> {
        Some(Box::new(ZabMonitor::new(scenario.nodes)))
    }

    /// ZooKeeper documents that its reads are not linearizable: how often
    /// a run's whole history is not is measured, not failed.
    fn measure(_config: &Config, input: &harness::HistoryInput<'_>, metrics: &mut faultline_sim::metrics::Metrics) {
        harness::measure_read_linearizability(input, metrics);
    }

    /// Once the faults heal, a LOOKING server's notifications go out again
    /// within `max_notification_interval`; then up to [`RECOVERY_ELECTIONS`]
    /// attempts, each a finalize wait and at most `init_limit` of discovery
    /// and synchronization; then a client's last pre-heal operation may run
    /// out its attempts. After that, operations at no less than
    /// [`RECOVERY_RATE_SHARE`] of the rate before the first fault.
    fn recovery(config: &Config) -> Recovery {
        let Some(clients) = &config.clients else { return Recovery::default() };
        let p = &config.params;
        let attempt = p.finalize_wait.as_nanos().saturating_add(p.init_limit.as_nanos());
        let election =
            p.max_notification_interval.as_nanos().saturating_add(attempt.saturating_mul(RECOVERY_ELECTIONS));
        let within = clients.workload.load.recovery_within(election);
        Recovery { within: Some(within), rate_share: Some(RECOVERY_RATE_SHARE) }
    }
}

/// Election attempts a healed cluster may take to establish a leader.
pub const RECOVERY_ELECTIONS: u64 = 3;
/// Share of the pre-fault success rate a healed cluster must reach.
pub const RECOVERY_RATE_SHARE: f64 = 0.5;
