//! The ZAB server: one sans-I/O state machine that is LOOKING (Fast Leader
//! Election, `election.rs`), FOLLOWING or LEADING. Each role's state is its
//! own type, dropped when the server leaves the role; what must survive a
//! crash — acceptedEpoch, currentEpoch and the history — lives in
//! [`ZabDisk`], written through `Ctx::durable_mut` before any message that
//! depends on it (the leader logs its own proposals asynchronously and
//! counts itself once they are durable, as ZooKeeper's leader does).
//!
//! The leader's phases: *discovery* (a quorum's FOLLOWERINFO gives the new
//! epoch, a quorum's ACKEPOCH makes it this leader's), *synchronization*
//! (each follower gets DIFF, TRUNC or SNAP and NEWLEADER; a quorum's
//! acknowledgement establishes the leader, which commits its initial
//! history and sends UPTODATE), then *broadcast*. Followers that join later
//! go through the same steps with the established leader.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use faultline_sim::{Addr, Ctx, NodeId, Process, Role, Time, TimerId};

use super::election::{Election, PeerState, Vote};
use super::log::{Point, Snapshot, Txn, ZabDisk, Zxid, MAX_COUNTER};
use super::messages::ZabMsg;
use super::{Params, MAX_QUEUED_REQUESTS, MAX_WAITING_CLIENTS};
use crate::client::Envelope;
use crate::kv::{Applied, Command, KvMsg, KvResult, KvStore, OpId, Reply, Request};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ZabRole {
    Looking,
    Following,
    Leading,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum ZabTimer {
    /// The periodic tick: pings, and the init and sync limits.
    Tick,
    /// No decision yet: notifications go out again.
    Resend,
    /// The finalize wait of `round` for `vote` is over.
    Finalize { round: u64, vote: Vote },
}

/// Facts reported to the invariant monitor. Transactions travel as their
/// [`Txn::id`], states as the store's digest.
#[derive(Clone, Debug)]
pub enum ZabNote {
    /// acceptedEpoch is now `epoch` (written to disk).
    AcceptedEpoch { epoch: u64 },
    /// currentEpoch is now `epoch` (written to disk, after the history).
    CurrentEpoch { epoch: u64 },
    /// A quorum acknowledged NEWLEADER: this node leads `epoch`, and its
    /// initial history ends at `last`.
    Established { epoch: u64, last: Point },
    /// The established leader of `epoch` stopped leading.
    SteppedDown { epoch: u64 },
    /// The leader of `zxid.epoch` proposed this transaction.
    Proposed { zxid: Zxid, index: u64, txn: u64 },
    /// Committed and applied to the store, at `point` of this node's
    /// history; `state` is the store's digest after it.
    Delivered { point: Point, txn: u64, state: u64 },
    /// The store was rebuilt from a snapshot: from disk at a start, or
    /// (`installed`) from a leader's SNAP. Delivery resumes after `point`.
    Restored { point: Point, state: u64, installed: bool },
    /// The history up to `point` was compacted into a snapshot.
    Compacted { point: Point, state: u64 },
    /// A client's read was answered from this server's store, whose digest
    /// is `state`, as it stood after delivering `point`.
    Read { point: Point, state: u64 },
}

/// A follower's progress with its leader.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum FollowerPhase {
    /// FOLLOWERINFO sent; waiting for NEWEPOCH.
    Discovery,
    /// ACKEPOCH sent; receiving DIFF, TRUNC or SNAP, then NEWLEADER.
    Synchronization,
    /// NEWLEADER acknowledged; waiting for UPTODATE.
    Synced,
    /// UPTODATE received: serving clients.
    Broadcast,
}

struct Following {
    leader: u32,
    phase: FollowerPhase,
    /// The leader's new epoch, once NEWEPOCH arrived.
    epoch: u64,
    /// The election round this server decided in.
    round: u64,
    /// Local time it started following (the init limit runs from here).
    since: Time,
    /// Local time the leader was last heard (the sync limit runs from here).
    last_heard: Time,
}

/// The leader's phase.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum LeaderPhase {
    /// Collecting FOLLOWERINFO from a quorum.
    Discovery,
    /// NEWEPOCH sent; collecting ACKEPOCH from a quorum.
    EpochProposed,
    /// Followers synchronized; collecting NEWLEADER acknowledgements.
    Synchronization,
    /// Established: proposing and committing.
    Broadcast,
}

/// One follower as its leader sees it (ZooKeeper's `LearnerHandler`).
#[derive(Clone, Debug)]
enum LearnerState {
    /// FOLLOWERINFO received, before the new epoch is known.
    Registered,
    EpochSent,
    /// ACKEPOCH received, with its history's shape; synchronized once a
    /// quorum made the epoch this leader's.
    EpochAcked {
        last: Zxid,
        epoch_ends: Vec<Zxid>,
    },
    /// Synchronization and NEWLEADER sent; its history will be the leader's
    /// up to `last`. New proposals go to it from now on.
    Syncing {
        last: Zxid,
    },
    /// NEWLEADER acknowledged: its ACKs count.
    Synced,
}

struct Learner {
    state: LearnerState,
    /// The highest ping round it answered.
    pinged: u64,
    accepted_epoch: u64,
    /// It holds the leader's history up to here, durably.
    acked: Zxid,
    last_heard: Time,
}

impl Learner {
    /// Whether proposals and commits go to it.
    fn forwarding(&self) -> bool {
        matches!(self.state, LearnerState::Syncing { .. } | LearnerState::Synced)
    }
}

struct Leading {
    phase: LeaderPhase,
    /// The new epoch, once a discovery quorum gave it.
    epoch: u64,
    since: Time,
    learners: BTreeMap<u32, Learner>,
    /// Bit per node whose ACKEPOCH counted (this one's own included).
    epoch_acks: u64,
    /// Bit per node that acknowledged NEWLEADER (this one once its own
    /// currentEpoch is durable).
    newleader_acks: u64,
    /// The counter of the next proposal of this epoch.
    next_counter: u64,
    /// This leader's own history is durable up to here.
    own_durable: Zxid,
    /// The index of the commit point, for the pipeline bound.
    committed_index: u64,
    /// Requests waiting for establishment or for room in the pipeline.
    queue: VecDeque<Request>,
    scratch: Vec<Zxid>,
    /// The last ping round begun.
    ping_round: u64,
    /// Syncs waiting, in arrival order (their rounds and points only rise).
    syncs: VecDeque<SyncWait>,
}

/// A sync the leader has not answered yet: it answers once a quorum has
/// answered ping round `round` (begun after the sync arrived, so the
/// quorum still followed this leader then: no later epoch can have
/// committed anything before it) and everything proposed when it arrived,
/// up to `upto`, is committed.
#[derive(Copy, Clone, Debug)]
struct SyncWait {
    /// The follower that asked, or `None` for this leader's own client.
    from: Option<u32>,
    id: u64,
    upto: Zxid,
    round: u64,
}

/// An asynchronous write waiting for its `on_durable` callback.
#[derive(Copy, Clone, Debug)]
enum PendingWrite {
    /// The leader's own proposal `zxid` of `epoch`.
    Proposal { epoch: u64, zxid: Zxid },
    /// The leader's currentEpoch, set to `epoch`.
    CurrentEpoch { epoch: u64 },
    /// A snapshot and the compaction it allows: nothing waits for it.
    Snapshot,
    /// A follower's proposal written without waiting (bug knob
    /// `ack_before_durable`): nothing waits for it.
    Unawaited,
}

pub struct ZabNode {
    id: u32,
    n: u32,
    params: Arc<Params>,
    role: ZabRole,
    /// The election round (ZooKeeper's logicalclock); volatile.
    round: u64,
    election: Option<Election>,
    resend_timer: Option<TimerId>,
    /// The vote this server decided on, and its round: what it tells a
    /// LOOKING peer while it follows or leads.
    decided: Option<(Vote, u64)>,
    follow: Option<Following>,
    lead: Option<Leading>,
    /// FOLLOWERINFO that arrived while this server was still LOOKING, by
    /// sender (its accepted epoch): handled if it comes to lead. Stands for
    /// the connection a ZooKeeper follower keeps retrying until its leader
    /// listens.
    stashed: BTreeMap<u32, u64>,
    // ---- delivery ----
    store: KvStore,
    applied: Point,
    /// The highest commit this server learned from its current leader (or
    /// made, as leader); nothing after its own history's end delivers.
    commit: Zxid,
    /// Clients to answer when their operation is delivered here.
    waiting: BTreeMap<OpId, Addr>,
    /// Reads held behind a write of the same session still waiting here
    /// (a session's requests are answered in order, as ZooKeeper's commit
    /// processor answers them).
    held_reads: VecDeque<(Addr, Request)>,
    /// Reads waiting for their sync to come back, by sync id.
    syncing: BTreeMap<u64, (Addr, Request)>,
    next_sync: u64,
    pending: VecDeque<(u64, PendingWrite)>,
    next_token: u64,
    peak_log_len: u64,
}

impl ZabNode {
    /// Builds a server from its durable state: a fresh disk at the start,
    /// the surviving one after a crash. The store is the snapshot's; the
    /// logged transactions after it deliver once a leader commits them.
    pub fn recover(id: NodeId, n: u32, params: Arc<Params>, disk: &ZabDisk) -> ZabNode {
        let (store, applied) = match disk.log.snapshot() {
            Some(s) => (s.store.clone(), s.point),
            None => (KvStore::default(), Point::default()),
        };
        ZabNode {
            id: id.0,
            n,
            params,
            role: ZabRole::Looking,
            round: 0,
            election: None,
            resend_timer: None,
            decided: None,
            follow: None,
            lead: None,
            stashed: BTreeMap::new(),
            store,
            applied,
            commit: applied.zxid,
            waiting: BTreeMap::new(),
            held_reads: VecDeque::new(),
            syncing: BTreeMap::new(),
            next_sync: 0,
            pending: VecDeque::new(),
            next_token: 0,
            peak_log_len: 0,
        }
    }

    pub fn zab_role(&self) -> ZabRole {
        self.role
    }
    /// The last transaction this server delivered.
    pub fn applied(&self) -> Point {
        self.applied
    }

    fn quorum(&self) -> usize {
        self.n as usize / 2 + 1
    }

    fn pending_write(&mut self, what: PendingWrite) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        self.pending.push_back((token, what));
        token
    }

    fn own_vote(&self, ctx: &Ctx<'_, Self>) -> Vote {
        let disk = ctx.durable();
        Vote { leader: self.id, zxid: disk.log.last().zxid, peer_epoch: disk.current_epoch }
    }

    fn peer_state(&self) -> PeerState {
        match self.role {
            ZabRole::Looking => PeerState::Looking,
            ZabRole::Following => PeerState::Following,
            ZabRole::Leading => PeerState::Leading,
        }
    }

    fn report_log_len(&mut self, ctx: &mut Ctx<'_, Self>) {
        let len = ctx.durable().log.len() as u64;
        if len > self.peak_log_len {
            self.peak_log_len = len;
            ctx.observe_max("peak_log_len", len);
        }
    }

    fn send_peer(ctx: &mut Ctx<'_, Self>, to: u32, msg: ZabMsg) {
        ctx.send(Addr::node(to), Envelope::Peer(msg));
    }

    // ---- Fast Leader Election ----

    /// Leaves whatever role this server had and starts an election with a
    /// vote for itself (ZooKeeper's `lookForLeader`).
    fn start_looking(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Some(lead) = self.lead.take() {
            if lead.phase == LeaderPhase::Broadcast {
                ctx.note(ZabNote::SteppedDown { epoch: lead.epoch });
                ctx.count("leader_step_downs", 1);
            }
        }
        self.follow = None;
        // Clients waiting here time out and retry elsewhere: a server that
        // lost its leader stops serving.
        self.waiting.clear();
        self.held_reads.clear();
        self.syncing.clear();
        self.role = ZabRole::Looking;
        self.decided = None;
        self.round += 1;
        let own = self.own_vote(ctx);
        self.election = Some(Election::new(self.id, own, self.params.finalize_wait));
        ctx.count("elections", 1);
        self.notify_all(ctx);
        self.arm_resend(ctx);
        self.check_quorum_for_proposal(ctx);
    }

    fn notify_all(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(e) = self.election.as_ref() else { return };
        let msg = ZabMsg::Notification { vote: e.proposal, round: self.round, state: PeerState::Looking };
        ctx.broadcast(Envelope::Peer(msg));
    }

    fn arm_resend(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Some(t) = self.resend_timer.take() {
            ctx.cancel_timer(t);
        }
        let Some(e) = self.election.as_mut() else { return };
        let wait = e.resend_after;
        e.resend_after = (wait + wait).min(self.params.max_notification_interval);
        self.resend_timer = Some(ctx.set_timer(wait, ZabTimer::Resend));
    }

    /// This server adopts `vote` as its proposal and tells every peer.
    fn adopt(&mut self, ctx: &mut Ctx<'_, Self>, vote: Vote) {
        let me = self.id;
        let Some(e) = self.election.as_mut() else { return };
        e.proposal = vote;
        e.finalizing = false;
        e.received.insert(me, vote);
        self.notify_all(ctx);
    }

    /// A quorum of this round agrees with the proposal: the finalize wait
    /// starts (a better vote arriving meanwhile resets it).
    fn check_quorum_for_proposal(&mut self, ctx: &mut Ctx<'_, Self>) {
        let (quorum, round) = (self.quorum(), self.round);
        let Some(e) = self.election.as_mut() else { return };
        if e.finalizing || !e.quorum_for(&e.proposal, quorum) {
            return;
        }
        e.finalizing = true;
        let vote = e.proposal;
        ctx.set_timer(self.params.finalize_wait, ZabTimer::Finalize { round, vote });
    }

    fn on_finalize(&mut self, ctx: &mut Ctx<'_, Self>, round: u64, vote: Vote) {
        let quorum = self.quorum();
        let Some(e) = self.election.as_ref() else { return };
        if round != self.round || !e.finalizing || e.proposal != vote || !e.quorum_for(&vote, quorum) {
            return;
        }
        self.decide(ctx, vote);
    }

    fn on_notification(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, vote: Vote, round: u64, state: PeerState) {
        if self.role == ZabRole::Looking {
            return self.looking_notification(ctx, from, vote, round, state);
        }
        if state != PeerState::Looking {
            return;
        }
        // A LOOKING peer. If it is this server's leader, the leader gave up:
        // a ZooKeeper leader closes its followers' connections as it stops
        // leading. A notification it sent before it led (FIFO: before its
        // NEWEPOCH) is of the round this server decided in, not later.
        if let Some(f) = self.follow.as_ref().filter(|f| f.leader == from) {
            if f.phase != FollowerPhase::Discovery || round > f.round {
                ctx.reached("follower sees its leader looking");
                return self.start_looking(ctx);
            }
        }
        // A follower that went looking has left this leader.
        if let Some(lead) = self.lead.as_mut() {
            if lead.learners.remove(&from).is_some() {
                ctx.reached("leader sees a follower looking");
            }
        }
        // Tell the peer whom this server follows or leads, so it can join.
        if let Some((decided, decided_round)) = self.decided {
            let msg = ZabMsg::Notification { vote: decided, round: decided_round, state: self.peer_state() };
            Self::send_peer(ctx, from, msg);
        }
    }

    fn looking_notification(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, vote: Vote, round: u64, state: PeerState) {
        if state == PeerState::Looking {
            // A peer that registered while this server was looking has gone
            // looking again: its registration is void.
            self.stashed.remove(&from);
        }
        let (me, quorum, ignore_zxid) = (self.id, self.quorum(), self.params.bugs.election_ignores_zxid);
        let own = self.own_vote(ctx);
        let Some(e) = self.election.as_mut() else { return };
        match state {
            PeerState::Looking => {
                if round > self.round {
                    ctx.reached("election joins a later round");
                    self.round = round;
                    e.received.clear();
                    let best = if vote.beats_by(&own, ignore_zxid) { vote } else { own };
                    self.adopt(ctx, best);
                } else if round < self.round {
                    // A peer behind: tell it this round and vote.
                    let msg = ZabMsg::Notification { vote: e.proposal, round: self.round, state: PeerState::Looking };
                    return Self::send_peer(ctx, from, msg);
                } else if vote.beats_by(&e.proposal, ignore_zxid) {
                    self.adopt(ctx, vote);
                }
                if let Some(e) = self.election.as_mut() {
                    e.received.insert(from, vote);
                }
                self.check_quorum_for_proposal(ctx);
            }
            PeerState::Following | PeerState::Leading => {
                let my_round = self.round;
                e.out_of_election.insert(from, (vote, round, state));
                if round == my_round {
                    e.received.insert(from, vote);
                    if e.quorum_for(&vote, quorum) && e.leader_confirmed(me, vote.leader, round, my_round) {
                        ctx.reached("election decided by a quorum of its round");
                        return self.decide(ctx, vote);
                    }
                }
                if e.out_quorum_for(&vote, quorum) && e.leader_confirmed(me, vote.leader, round, my_round) {
                    ctx.reached("late server joins an established leader");
                    self.round = round;
                    self.decide(ctx, vote);
                }
            }
        }
    }

    fn decide(&mut self, ctx: &mut Ctx<'_, Self>, vote: Vote) {
        self.election = None;
        if let Some(t) = self.resend_timer.take() {
            ctx.cancel_timer(t);
        }
        self.decided = Some((vote, self.round));
        let now = ctx.now();
        if vote.leader == self.id {
            self.become_leader(ctx, now);
        } else {
            self.stashed.clear();
            self.role = ZabRole::Following;
            self.commit = self.applied.zxid;
            self.follow = Some(Following {
                leader: vote.leader,
                phase: FollowerPhase::Discovery,
                epoch: 0,
                round: self.round,
                since: now,
                last_heard: now,
            });
            let accepted_epoch = ctx.durable().accepted_epoch;
            Self::send_peer(ctx, vote.leader, ZabMsg::FollowerInfo { accepted_epoch });
        }
    }

    // ---- leader: discovery ----

    fn become_leader(&mut self, ctx: &mut Ctx<'_, Self>, now: Time) {
        self.role = ZabRole::Leading;
        self.commit = self.applied.zxid;
        let last = ctx.durable().log.last();
        self.lead = Some(Leading {
            phase: LeaderPhase::Discovery,
            epoch: 0,
            since: now,
            learners: BTreeMap::new(),
            epoch_acks: 1 << self.id,
            newleader_acks: 0,
            next_counter: 1,
            own_durable: last.zxid,
            committed_index: self.applied.index,
            queue: VecDeque::new(),
            scratch: Vec::new(),
            ping_round: 0,
            syncs: VecDeque::new(),
        });
        for (from, accepted_epoch) in std::mem::take(&mut self.stashed) {
            ctx.reached("follower info waited for its leader to decide");
            self.on_follower_info(ctx, from, accepted_epoch);
        }
        self.check_discovery(ctx);
    }

    fn on_follower_info(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, accepted_epoch: u64) {
        match self.role {
            ZabRole::Looking => {
                self.stashed.insert(from, accepted_epoch);
                return;
            }
            ZabRole::Following => return,
            ZabRole::Leading => {}
        }
        let now = ctx.now();
        let Some(lead) = self.lead.as_mut() else { return };
        // A new registration starts over with this follower, as a new
        // connection does in ZooKeeper.
        let mut learner =
            Learner { state: LearnerState::Registered, pinged: 0, accepted_epoch, acked: Zxid::ZERO, last_heard: now };
        if lead.phase != LeaderPhase::Discovery {
            learner.state = LearnerState::EpochSent;
            Self::send_peer(ctx, from, ZabMsg::NewEpoch { epoch: lead.epoch });
        }
        lead.learners.insert(from, learner);
        self.check_discovery(ctx);
    }

    /// A quorum registered: the new epoch is above every epoch they (and
    /// this server) accepted; it is written before anyone hears of it, so
    /// no restart of this server proposes it again.
    fn check_discovery(&mut self, ctx: &mut Ctx<'_, Self>) {
        let quorum = self.quorum();
        let own_accepted = ctx.durable().accepted_epoch;
        let Some(lead) = self.lead.as_mut() else { return };
        if lead.phase != LeaderPhase::Discovery || lead.learners.len() + 1 < quorum {
            return;
        }
        let epoch = lead.learners.values().map(|l| l.accepted_epoch).max().unwrap_or(0).max(own_accepted) + 1;
        lead.epoch = epoch;
        lead.phase = LeaderPhase::EpochProposed;
        let to: Vec<Addr> = lead.learners.keys().map(|&f| Addr::node(f)).collect();
        for l in lead.learners.values_mut() {
            l.state = LearnerState::EpochSent;
        }
        ctx.durable_mut().accepted_epoch = epoch;
        ctx.note(ZabNote::AcceptedEpoch { epoch });
        ctx.observe_max("max_epoch", epoch);
        ctx.send_many(to, Envelope::Peer(ZabMsg::NewEpoch { epoch }));
        self.check_epoch_quorum(ctx);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_ack_epoch(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: u32,
        epoch: u64,
        current_epoch: Option<u64>,
        last: Zxid,
        epoch_ends: Vec<Zxid>,
    ) {
        let mine = (ctx.durable().current_epoch, ctx.durable().log.last().zxid);
        let Some(lead) = self.lead.as_mut().filter(|l| l.epoch == epoch) else { return };
        let Some(learner) = lead.learners.get_mut(&from) else { return };
        if !matches!(learner.state, LearnerState::EpochSent) {
            return;
        }
        learner.state = LearnerState::EpochAcked { last, epoch_ends };
        match lead.phase {
            LeaderPhase::EpochProposed => {
                let Some(theirs) = current_epoch else {
                    ctx.reached("epoch acknowledged again: not counted");
                    return;
                };
                // ZooKeeper's waitForEpochAck: a follower of the discovery
                // quorum with a more recent history than the leader means
                // the election chose wrongly; this server gives up.
                if (theirs, last) > mine && !self.params.bugs.election_ignores_zxid {
                    ctx.reached("leader gives up: a follower is more up to date");
                    return self.start_looking(ctx);
                }
                lead.epoch_acks |= 1 << from;
                self.check_epoch_quorum(ctx);
            }
            LeaderPhase::Synchronization | LeaderPhase::Broadcast => self.sync_learner(ctx, from),
            LeaderPhase::Discovery => {}
        }
    }

    /// A quorum acknowledged the epoch: this leader's currentEpoch becomes
    /// it, and every follower that acknowledged is synchronized.
    fn check_epoch_quorum(&mut self, ctx: &mut Ctx<'_, Self>) {
        let quorum = self.quorum();
        let Some(lead) = self.lead.as_mut() else { return };
        if lead.phase != LeaderPhase::EpochProposed || (lead.epoch_acks.count_ones() as usize) < quorum {
            return;
        }
        lead.phase = LeaderPhase::Synchronization;
        let epoch = lead.epoch;
        let ready: Vec<u32> = lead
            .learners
            .iter()
            .filter(|(_, l)| matches!(l.state, LearnerState::EpochAcked { .. }))
            .map(|(&f, _)| f)
            .collect();
        // Written in the background: the leader counts itself towards the
        // NEWLEADER quorum once it is durable (and with it, the disk being
        // in order, the whole history before it).
        let token = self.pending_write(PendingWrite::CurrentEpoch { epoch });
        ctx.durable_mut_async(token).current_epoch = epoch;
        ctx.note(ZabNote::CurrentEpoch { epoch });
        for f in ready {
            self.sync_learner(ctx, f);
        }
    }

    // ---- leader: synchronization ----

    /// Brings follower `f` up to this leader's history: DIFF when its
    /// history is a prefix of the leader's, TRUNC when it holds
    /// transactions the leader does not, SNAP when the point where they
    /// part is compacted here; then NEWLEADER. Proposals made from now on
    /// go to it after these, on the same FIFO session.
    fn sync_learner(&mut self, ctx: &mut Ctx<'_, Self>, f: u32) {
        let Some(lead) = self.lead.as_mut() else { return };
        let Some(learner) = lead.learners.get_mut(&f) else { return };
        let LearnerState::EpochAcked { last, epoch_ends } = &learner.state else { return };
        let log = &ctx.durable().log;
        let leader_last = log.last().zxid;
        let msg = match (log.sync_point(epoch_ends), log.snapshot()) {
            (Some(p), _) if p.zxid == *last => ZabMsg::Diff { txns: log.txns_after(p.index) },
            (Some(p), _) => ZabMsg::Trunc { to: p.zxid, txns: log.txns_after(p.index) },
            (None, Some(snapshot)) => {
                ZabMsg::Snap { snapshot: snapshot.clone(), txns: log.txns_after(snapshot.point.index) }
            }
            // `sync_point` needs a snapshot only when there is one.
            (None, None) => ZabMsg::Trunc { to: Zxid::ZERO, txns: log.txns_after(0) },
        };
        match msg {
            ZabMsg::Diff { .. } => {
                ctx.reached("follower synchronized by DIFF");
                ctx.count("sync_diff", 1);
            }
            ZabMsg::Trunc { .. } => {
                ctx.reached("follower synchronized by TRUNC");
                ctx.count("sync_trunc", 1);
            }
            _ => {
                ctx.reached("follower synchronized by SNAP");
                ctx.count("sync_snap", 1);
            }
        }
        learner.state = LearnerState::Syncing { last: leader_last };
        let epoch = lead.epoch;
        Self::send_peer(ctx, f, msg);
        Self::send_peer(ctx, f, ZabMsg::NewLeader { epoch, last: leader_last });
    }

    fn on_ack_new_leader(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, epoch: u64, last: Zxid) {
        let commit = self.commit;
        let Some(lead) = self.lead.as_mut().filter(|l| l.epoch == epoch) else { return };
        let Some(learner) = lead.learners.get_mut(&from) else { return };
        let LearnerState::Syncing { last: expected } = learner.state else { return };
        if last != expected {
            ctx.count("sync_refused", 1);
            lead.learners.remove(&from);
            return;
        }
        learner.state = LearnerState::Synced;
        learner.acked = last;
        match lead.phase {
            LeaderPhase::Synchronization => {
                lead.newleader_acks |= 1 << from;
                self.check_established(ctx);
            }
            LeaderPhase::Broadcast => {
                ctx.reached("follower joins an established leader");
                Self::send_peer(ctx, from, ZabMsg::UpToDate { epoch, commit });
                // It may already hold proposals a quorum needs.
                self.advance_commit(ctx);
            }
            _ => {}
        }
    }

    /// A quorum holds the initial history in this epoch: the leader is
    /// established, commits that history, tells its followers UPTODATE and
    /// starts proposing. Only now does it serve clients.
    fn check_established(&mut self, ctx: &mut Ctx<'_, Self>) {
        // With `serve_before_newleader_quorum`, its own durable epoch is enough.
        let needed = if self.params.bugs.serve_before_newleader_quorum { 1 } else { self.quorum() };
        let last = ctx.durable().log.last();
        let Some(lead) = self.lead.as_mut() else { return };
        if lead.phase != LeaderPhase::Synchronization || (lead.newleader_acks.count_ones() as usize) < needed {
            return;
        }
        lead.phase = LeaderPhase::Broadcast;
        lead.own_durable = last.zxid;
        lead.committed_index = last.index;
        let epoch = lead.epoch;
        let synced: Vec<Addr> = lead
            .learners
            .iter()
            .filter(|(_, l)| matches!(l.state, LearnerState::Synced))
            .map(|(&f, _)| Addr::node(f))
            .collect();
        ctx.note(ZabNote::Established { epoch, last });
        ctx.count("leaders_elected", 1);
        self.commit = self.commit.max(last.zxid);
        ctx.send_many(synced, Envelope::Peer(ZabMsg::UpToDate { epoch, commit: self.commit }));
        self.deliver(ctx);
        self.drain_queue(ctx);
    }

    // ---- leader: broadcast ----

    fn in_flight(&self, ctx: &Ctx<'_, Self>) -> usize {
        let committed = self.lead.as_ref().map_or(0, |l| l.committed_index);
        ctx.durable().log.last().index.saturating_sub(committed) as usize
    }

    fn lead_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        let established = self.lead.as_ref().is_some_and(|l| l.phase == LeaderPhase::Broadcast);
        let full = self.in_flight(ctx) >= self.params.max_in_flight;
        let Some(lead) = self.lead.as_mut() else { return };
        if !established || full || !lead.queue.is_empty() {
            if lead.queue.len() >= MAX_QUEUED_REQUESTS {
                ctx.count("requests_shed", 1);
                return;
            }
            if established {
                ctx.reached("request waits for room in the pipeline");
            } else {
                ctx.reached("request waits for the leader to be established");
            }
            lead.queue.push_back(request);
            return;
        }
        self.propose(ctx, request);
    }

    fn drain_queue(&mut self, ctx: &mut Ctx<'_, Self>) {
        while self.lead.as_ref().is_some_and(|l| l.phase == LeaderPhase::Broadcast && !l.queue.is_empty())
            && self.in_flight(ctx) < self.params.max_in_flight
        {
            let Some(request) = self.lead.as_mut().and_then(|l| l.queue.pop_front()) else { break };
            self.propose(ctx, request);
        }
    }

    /// Logs the next transaction of this epoch (in the background: the
    /// leader counts itself once it is durable) and sends it to every
    /// follower it forwards to.
    fn propose(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        let index = ctx.durable().log.last().index + 1;
        if self.lead.as_ref().is_some_and(|l| l.next_counter > MAX_COUNTER) {
            ctx.reached("leader steps down: zxid counter exhausted");
            return self.step_down(ctx);
        }
        let Some(lead) = self.lead.as_mut() else { return };
        let epoch = lead.epoch;
        let zxid = Zxid::new(epoch, lead.next_counter);
        lead.next_counter += 1;
        let to: Vec<Addr> = lead.learners.iter().filter(|(_, l)| l.forwarding()).map(|(&f, _)| Addr::node(f)).collect();
        let txn = Txn { zxid, index, request };
        ctx.note(ZabNote::Proposed { zxid, index, txn: txn.id() });
        ctx.count("proposals", 1);
        let token = self.pending_write(PendingWrite::Proposal { epoch, zxid });
        ctx.durable_mut_async(token).log.append(txn.clone());
        self.report_log_len(ctx);
        ctx.send_many(to, Envelope::Peer(ZabMsg::Proposal { txn }));
    }

    fn on_ack(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, epoch: u64, zxid: Zxid) {
        let Some(lead) = self.lead.as_mut().filter(|l| l.epoch == epoch && l.phase == LeaderPhase::Broadcast) else {
            return;
        };
        let Some(learner) = lead.learners.get_mut(&from).filter(|l| matches!(l.state, LearnerState::Synced)) else {
            return;
        };
        learner.acked = learner.acked.max(zxid);
        self.advance_commit(ctx);
    }

    /// The commit point is the highest zxid a quorum holds durably (an ACK
    /// of a proposal covers every one before it: a follower logs them in
    /// order and refuses a gap). Commits go out in zxid order.
    fn advance_commit(&mut self, ctx: &mut Ctx<'_, Self>) {
        let quorum = self.quorum();
        let Some(lead) = self.lead.as_mut().filter(|l| l.phase == LeaderPhase::Broadcast) else { return };
        let Leading { scratch, learners, own_durable, .. } = lead;
        scratch.clear();
        scratch.push(*own_durable);
        scratch.extend(learners.values().filter(|l| matches!(l.state, LearnerState::Synced)).map(|l| l.acked));
        if scratch.len() < quorum {
            return;
        }
        scratch.sort_unstable_by(|a, b| b.cmp(a));
        let point = scratch[quorum - 1];
        if point <= self.commit {
            return;
        }
        let Some(at) = ctx.durable().log.point_of(point) else { return };
        self.commit = point;
        lead.committed_index = at.index;
        let to: Vec<Addr> = lead.learners.iter().filter(|(_, l)| l.forwarding()).map(|(&f, _)| Addr::node(f)).collect();
        ctx.send_many(to, Envelope::Peer(ZabMsg::Commit { zxid: point }));
        self.deliver(ctx);
        self.answer_syncs(ctx);
        self.drain_queue(ctx);
    }

    // ---- leader: sync ----

    /// A sync arrived (from follower `from`, or this leader's own client):
    /// it waits for what is proposed now to commit and for a quorum to
    /// answer a ping round begun no earlier than its arrival. A round in
    /// flight began before it, so it waits for the next round, begun when
    /// the one in flight is answered; every sync that arrives meanwhile
    /// shares that next round.
    fn lead_sync(&mut self, ctx: &mut Ctx<'_, Self>, from: Option<u32>, id: u64) {
        let upto = ctx.durable().log.last().zxid;
        let Some(lead) = self.lead.as_mut().filter(|l| l.phase == LeaderPhase::Broadcast) else { return };
        if lead.syncs.len() >= MAX_WAITING_CLIENTS {
            ctx.count("syncs_shed", 1);
            return;
        }
        let round = match lead.syncs.back() {
            None => {
                lead.ping_round += 1;
                Self::ping_learners(ctx, lead);
                lead.ping_round
            }
            // Waiting syncs are on the round in flight or the next one.
            Some(_) => {
                ctx.reached("sync waits for the next ping round");
                lead.ping_round + 1
            }
        };
        lead.syncs.push_back(SyncWait { from, id, upto, round });
        self.answer_syncs(ctx);
    }

    fn ping_learners(ctx: &mut Ctx<'_, Self>, lead: &Leading) {
        let (epoch, round) = (lead.epoch, lead.ping_round);
        let to: Vec<Addr> = lead.learners.keys().map(|&f| Addr::node(f)).collect();
        ctx.send_many(to, Envelope::Peer(ZabMsg::Ping { epoch, round }));
    }

    fn on_ping_ack(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, epoch: u64, round: u64) {
        let Some(lead) = self.lead.as_mut().filter(|l| l.epoch == epoch) else { return };
        if let Some(l) = lead.learners.get_mut(&from) {
            l.pinged = l.pinged.max(round);
        }
        if !lead.syncs.is_empty() {
            self.answer_syncs(ctx);
        }
    }

    /// Answers, in order, the syncs whose ping round a quorum answered and
    /// whose proposals are committed.
    fn answer_syncs(&mut self, ctx: &mut Ctx<'_, Self>) {
        let quorum = self.quorum();
        let commit = self.commit;
        let Some(lead) = self.lead.as_mut().filter(|l| l.phase == LeaderPhase::Broadcast) else { return };
        let answered = |lead: &Leading, round: u64| {
            1 + lead.learners.values().filter(|l| matches!(l.state, LearnerState::Synced) && l.pinged >= round).count()
                >= quorum
        };
        if lead.syncs.back().is_some_and(|s| s.round > lead.ping_round) && answered(lead, lead.ping_round) {
            lead.ping_round += 1;
            Self::ping_learners(ctx, lead);
        }
        let mut own = Vec::new();
        while let Some(&sync) = lead.syncs.front() {
            if !answered(lead, sync.round) || commit < sync.upto {
                break;
            }
            lead.syncs.pop_front();
            match sync.from {
                Some(f) => Self::send_peer(ctx, f, ZabMsg::SyncDone { id: sync.id, commit }),
                None => own.push(sync.id),
            }
        }
        for id in own {
            if let Some((client, request)) = self.syncing.remove(&id) {
                self.serve_read(ctx, client, &request);
            }
        }
    }

    fn on_forward(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, request: Request) {
        let known = self.lead.as_ref().is_some_and(|l| l.learners.get(&from).is_some_and(|l| l.forwarding()));
        if known {
            self.lead_request(ctx, request);
        }
    }

    /// The leader steps down and looks for a new one.
    fn step_down(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.start_looking(ctx);
    }

    // ---- follower ----

    fn following(&mut self, from: u32, phases: &[FollowerPhase], now: Time) -> Option<&mut Following> {
        let f = self.follow.as_mut().filter(|f| f.leader == from && phases.contains(&f.phase))?;
        f.last_heard = now;
        Some(f)
    }

    fn on_new_epoch(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, epoch: u64) {
        let now = ctx.now();
        if self.following(from, &[FollowerPhase::Discovery], now).is_none() {
            return;
        }
        let accepted = ctx.durable().accepted_epoch;
        if epoch < accepted {
            ctx.reached("new epoch below the accepted one: back to looking");
            return self.start_looking(ctx);
        }
        let current_epoch = if epoch > accepted {
            ctx.durable_mut().accepted_epoch = epoch;
            ctx.note(ZabNote::AcceptedEpoch { epoch });
            ctx.observe_max("max_epoch", epoch);
            Some(ctx.durable().current_epoch)
        } else {
            ctx.reached("new epoch already accepted: acknowledged without counting");
            None
        };
        if self.params.bugs.epoch_before_history && ctx.durable().current_epoch < epoch {
            // ZOOKEEPER-4643: the epoch is made current before the history
            // that should come with it has arrived.
            ctx.durable_mut().current_epoch = epoch;
            ctx.note(ZabNote::CurrentEpoch { epoch });
        }
        if let Some(f) = self.follow.as_mut() {
            f.epoch = epoch;
            f.phase = FollowerPhase::Synchronization;
        }
        let log = &ctx.durable().log;
        let (last, epoch_ends) = if self.params.bugs.keep_db_across_election {
            // ZOOKEEPER-2845: the retained database's last transaction
            // stands for the history.
            (self.applied.zxid, log.epoch_ends_through(self.applied.zxid))
        } else {
            (log.last().zxid, log.epoch_ends())
        };
        let msg = ZabMsg::AckEpoch { epoch, current_epoch, last, epoch_ends };
        Self::send_peer(ctx, from, msg);
    }

    /// Appends synchronization transactions; false if they do not follow
    /// the history (the leader misjudged it), and the server looks again.
    /// A correct leader never sends such a synchronization, so refusals are
    /// counted (`sync_refused`) rather than declared as coverage points
    /// that a scenario ought to reach.
    fn append_synced(&mut self, ctx: &mut Ctx<'_, Self>, txns: Vec<Txn>) -> bool {
        for txn in txns {
            let last = ctx.durable().log.last();
            if self.params.bugs.keep_db_across_election && txn.index <= last.index {
                // ZOOKEEPER-2845: the DIFF lands behind the transactions
                // this server logged after the ones it delivered; at the
                // places they hold, its own stay.
                continue;
            }
            if txn.index != last.index + 1 || txn.zxid <= last.zxid {
                ctx.count("sync_refused", 1);
                self.start_looking(ctx);
                return false;
            }
            ctx.durable_mut().log.append(txn);
        }
        self.report_log_len(ctx);
        true
    }

    fn on_diff(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, txns: Vec<Txn>) {
        let now = ctx.now();
        if self.following(from, &[FollowerPhase::Synchronization], now).is_some()
            && self.append_synced(ctx, txns)
            && self.params.bugs.diff_uncommitted_as_committed
        {
            // ZOOKEEPER-3911: the DIFF is taken as committed and delivered
            // before the leader is established.
            self.commit = self.commit.max(ctx.durable().log.last().zxid);
            self.deliver(ctx);
        }
    }

    fn on_trunc(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, to: Zxid, txns: Vec<Txn>) {
        let now = ctx.now();
        if self.following(from, &[FollowerPhase::Synchronization], now).is_none() {
            return;
        }
        match ctx.durable().log.point_of(to) {
            None => {
                ctx.count("sync_refused", 1);
                return self.start_looking(ctx);
            }
            // Delivered transactions are committed; a leader that would
            // take them back lacks them, and this server will not follow it.
            Some(p) if p.index < self.applied.index => {
                ctx.count("sync_refused", 1);
                return self.start_looking(ctx);
            }
            Some(_) => {}
        }
        ctx.reached("follower truncates its history");
        ctx.durable_mut().log.truncate_after(to);
        self.append_synced(ctx, txns);
    }

    fn on_snap(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, snapshot: Arc<Snapshot>, txns: Vec<Txn>) {
        let now = ctx.now();
        if self.following(from, &[FollowerPhase::Synchronization], now).is_none() {
            return;
        }
        if snapshot.point.index < self.applied.index {
            ctx.count("sync_refused", 1);
            return self.start_looking(ctx);
        }
        self.store = snapshot.store.clone();
        self.applied = snapshot.point;
        self.commit = self.commit.max(snapshot.point.zxid);
        ctx.note(ZabNote::Restored { point: snapshot.point, state: self.store.digest(), installed: true });
        ctx.count("snapshots_installed", 1);
        ctx.durable_mut().log.install(snapshot);
        self.append_synced(ctx, txns);
    }

    fn on_new_leader(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, epoch: u64, last: Zxid) {
        let now = ctx.now();
        let Some(f) = self.following(from, &[FollowerPhase::Synchronization], now) else { return };
        if f.epoch != epoch {
            return;
        }
        if ctx.durable().log.last().zxid != last {
            ctx.count("sync_refused", 1);
            return self.start_looking(ctx);
        }
        f.phase = FollowerPhase::Synced;
        // After the history it covers: the disk writes in order, so this
        // lands no earlier than the synchronization before it.
        ctx.durable_mut().current_epoch = epoch;
        ctx.note(ZabNote::CurrentEpoch { epoch });
        Self::send_peer(ctx, from, ZabMsg::AckNewLeader { epoch, last });
    }

    fn on_up_to_date(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, epoch: u64, commit: Zxid) {
        let now = ctx.now();
        let Some(f) = self.following(from, &[FollowerPhase::Synced], now) else { return };
        if f.epoch != epoch {
            return;
        }
        f.phase = FollowerPhase::Broadcast;
        self.commit = self.commit.max(commit);
        self.deliver(ctx);
    }

    fn on_proposal(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, txn: Txn) {
        let now = ctx.now();
        if self.params.bugs.accept_old_epoch_proposals && self.accept_old_epoch(ctx, from, &txn) {
            return;
        }
        let Some(f) = self.following(from, &[FollowerPhase::Synced, FollowerPhase::Broadcast], now) else { return };
        let epoch = f.epoch;
        let last = ctx.durable().log.last();
        // FIFO links deliver the leader's proposals in order; a gap means
        // messages were lost between two sessions, and this server starts
        // over rather than log around the hole.
        let next_counter = if last.zxid.epoch == epoch { last.zxid.counter + 1 } else { 1 };
        if txn.zxid.epoch != epoch || txn.zxid.counter != next_counter || txn.index != last.index + 1 {
            ctx.reached("proposal out of sequence: back to looking");
            return self.start_looking(ctx);
        }
        let zxid = txn.zxid;
        let disk = if self.params.bugs.ack_before_durable {
            // Bug: the write goes on in the background, so the ACK below
            // leaves before the transaction is durable.
            let token = self.pending_write(PendingWrite::Unawaited);
            ctx.durable_mut_async(token)
        } else {
            ctx.durable_mut()
        };
        disk.log.append(txn);
        self.report_log_len(ctx);
        Self::send_peer(ctx, from, ZabMsg::Ack { epoch, zxid });
    }

    /// The `accept_old_epoch_proposals` bug: a proposal from another server
    /// of an epoch older than the one this follower acknowledged is logged
    /// and acknowledged to its sender when it follows the history. True
    /// when it was taken.
    fn accept_old_epoch(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, txn: &Txn) -> bool {
        let Some(f) = self.follow.as_ref().filter(|f| f.leader != from && f.phase != FollowerPhase::Discovery) else {
            return false;
        };
        let last = ctx.durable().log.last();
        if txn.zxid.epoch >= f.epoch || txn.index != last.index + 1 || txn.zxid <= last.zxid {
            return false;
        }
        ctx.count("old_epoch_proposals_accepted", 1);
        ctx.durable_mut().log.append(txn.clone());
        self.report_log_len(ctx);
        Self::send_peer(ctx, from, ZabMsg::Ack { epoch: txn.zxid.epoch, zxid: txn.zxid });
        true
    }

    fn on_commit(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, zxid: Zxid) {
        let now = ctx.now();
        if self.following(from, &[FollowerPhase::Synced, FollowerPhase::Broadcast], now).is_none() {
            return;
        }
        self.commit = self.commit.max(zxid);
        self.deliver(ctx);
    }

    fn on_ping(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, epoch: u64, round: u64) {
        let now = ctx.now();
        if self.follow.as_ref().is_some_and(|f| f.leader == from && f.epoch == epoch) {
            if let Some(f) = self.follow.as_mut() {
                f.last_heard = now;
            }
            Self::send_peer(ctx, from, ZabMsg::PingAck { epoch, round });
        }
    }

    // ---- delivery ----

    /// Delivers, in order, every logged transaction up to the commit point:
    /// applies it to the store (sessions make a retried write apply once)
    /// and answers the client waiting here, if any.
    fn deliver(&mut self, ctx: &mut Ctx<'_, Self>) {
        loop {
            let next = self.applied.index + 1;
            let Some(entry) = ctx.durable().log.get(next) else { break };
            if entry.txn.zxid > self.commit {
                break;
            }
            let (txn, chain) = (entry.txn.clone(), entry.chain);
            let applied = self.store.apply_request(&txn.request, true);
            match applied {
                Applied::Cached(_) => ctx.reached("retried request answered from its session"),
                Applied::Acknowledged => ctx.reached("late duplicate of an acknowledged request ignored"),
                Applied::Executed(_) => {}
            }
            self.applied = Point { index: next, zxid: txn.zxid, chain };
            ctx.note(ZabNote::Delivered { point: self.applied, txn: txn.id(), state: self.store.digest() });
            if let Some(client) = self.waiting.remove(&txn.request.op) {
                if let Some(result) = applied.result() {
                    let at = txn.zxid.packed();
                    ctx.send(client, Envelope::Reply(Reply::Served { op: txn.request.op, result, at }));
                }
            }
        }
        self.release_reads(ctx);
        self.maybe_snapshot(ctx);
    }

    /// Every `snapshot_every` delivered transactions the store is captured
    /// and the history up to it compacted, in the background (a crash
    /// before it is durable keeps the longer history, which is as good).
    fn maybe_snapshot(&mut self, ctx: &mut Ctx<'_, Self>) {
        let base = ctx.durable().log.base();
        if self.applied.index < base.index + self.params.snapshot_every {
            return;
        }
        let snapshot = Arc::new(Snapshot { point: self.applied, store: self.store.clone() });
        let token = self.pending_write(PendingWrite::Snapshot);
        ctx.durable_mut_async(token).log.compact(snapshot);
        ctx.note(ZabNote::Compacted { point: self.applied, state: self.store.digest() });
        ctx.count("snapshots", 1);
    }

    // ---- clients ----

    fn on_client(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, request: Request) {
        let established = self.lead.as_ref().is_some_and(|l| l.phase == LeaderPhase::Broadcast);
        let read = matches!(request.command, Command::Get { .. });
        let serving = match self.role {
            // A leader takes writes while it establishes itself (they wait
            // in its queue), but reads only once its history is committed.
            ZabRole::Leading => established || !read,
            ZabRole::Following => self.follow.as_ref().is_some_and(|f| f.phase == FollowerPhase::Broadcast),
            ZabRole::Looking => false,
        };
        let leader = self.follow.as_ref().map(|f| NodeId(f.leader));
        if !serving || self.waiting.len() + self.held_reads.len() + self.syncing.len() >= MAX_WAITING_CLIENTS {
            // A server that is not up to date turns the client away (a
            // ZooKeeper client then connects to another server).
            ctx.reached("client turned away: server not serving");
            ctx.send(from, Envelope::Reply(Reply::Redirect { op: request.op, leader }));
            return;
        }
        if request.seen > self.applied.zxid.packed() && !self.params.bugs.ignore_session_zxid {
            // ZooKeeper refuses a session whose last zxid this server has
            // not delivered: reading here would take the session back.
            ctx.reached("client refused: server behind its session");
            ctx.count("sessions_refused_behind", 1);
            ctx.send(from, Envelope::Reply(Reply::Redirect { op: request.op, leader }));
            return;
        }
        if let Command::Get { .. } = request.command {
            if request.sync {
                return self.start_sync(ctx, from, request);
            }
            if self.write_waiting(request.op) {
                ctx.reached("read held behind its session's write");
                self.held_reads.push_back((from, request));
                return;
            }
            return self.serve_read(ctx, from, &request);
        }
        self.waiting.insert(request.op, from);
        if self.role == ZabRole::Leading {
            return self.lead_request(ctx, request);
        }
        if let Some(f) = self.follow.as_ref() {
            ctx.count("requests_forwarded", 1);
            Self::send_peer(ctx, f.leader, ZabMsg::Forward { request });
        }
    }

    /// Whether a write of `op`'s session that came before it still waits
    /// here for delivery.
    fn write_waiting(&self, op: OpId) -> bool {
        let first = OpId { client: op.client, seq: 0 };
        self.waiting.range(first..op).next().is_some()
    }

    /// Answers a read from this server's store, as it stands: ZooKeeper's
    /// local read, which may be stale. The answer carries the zxid it
    /// reflects, and the monitor hears which state was read.
    fn serve_read(&mut self, ctx: &mut Ctx<'_, Self>, client: Addr, request: &Request) {
        let Command::Get { key } = request.command else { return };
        let result = KvResult::Read(self.store.get(key));
        ctx.count("local_reads", 1);
        ctx.note(ZabNote::Read { point: self.applied, state: self.store.digest() });
        let at = self.applied.zxid.packed();
        ctx.send(client, Envelope::Reply(Reply::Served { op: request.op, result, at }));
    }

    /// Serves the held reads no earlier write of their session waits for.
    fn release_reads(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.held_reads.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.held_reads);
        for (client, request) in held {
            if self.write_waiting(request.op) {
                self.held_reads.push_back((client, request));
            } else {
                self.serve_read(ctx, client, &request);
            }
        }
    }

    /// A read after `sync`: this server catches up with its leader first.
    /// A follower passes the sync to its leader on the session, behind the
    /// session's earlier requests; the leader answers it once it is sure it
    /// still leads and what it had proposed is committed.
    fn start_sync(&mut self, ctx: &mut Ctx<'_, Self>, client: Addr, request: Request) {
        let id = self.next_sync;
        self.next_sync += 1;
        self.syncing.insert(id, (client, request));
        ctx.count("syncs", 1);
        if self.role == ZabRole::Leading {
            return self.lead_sync(ctx, None, id);
        }
        if self.params.bugs.sync_skips_leader {
            if let Some((client, request)) = self.syncing.remove(&id) {
                self.serve_read(ctx, client, &request);
            }
            return;
        }
        if let Some(f) = self.follow.as_ref() {
            Self::send_peer(ctx, f.leader, ZabMsg::Sync { id });
        }
    }

    fn on_sync(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, id: u64) {
        let known = self.lead.as_ref().is_some_and(|l| l.learners.get(&from).is_some_and(|l| l.forwarding()));
        if known {
            self.lead_sync(ctx, Some(from), id);
        }
    }

    /// The leader answered a sync: deliver up to its commit point (the
    /// commits and proposals before it came first, on the same session),
    /// then read.
    fn on_sync_done(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, id: u64, commit: Zxid) {
        let now = ctx.now();
        if self.following(from, &[FollowerPhase::Broadcast], now).is_none() {
            return;
        }
        self.commit = self.commit.max(commit);
        self.deliver(ctx);
        let Some((client, request)) = self.syncing.remove(&id) else { return };
        if self.applied.zxid < commit {
            ctx.reached("sync answered ahead of this server's history: client turned away");
            let leader = Some(NodeId(from));
            ctx.send(client, Envelope::Reply(Reply::Redirect { op: request.op, leader }));
            return;
        }
        self.serve_read(ctx, client, &request);
    }

    // ---- the tick ----

    fn on_tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(self.params.tick_interval, ZabTimer::Tick);
        let now = ctx.now();
        let (init_limit, sync_limit, quorum) = (self.params.init_limit, self.params.sync_limit, self.quorum());
        if let Some(f) = self.follow.as_ref() {
            if f.phase == FollowerPhase::Broadcast {
                if now.since(f.last_heard) > sync_limit {
                    ctx.reached("follower lost its leader: sync limit passed");
                    return self.start_looking(ctx);
                }
            } else if now.since(f.since) > init_limit {
                ctx.reached("follower not synchronized within the init limit");
                return self.start_looking(ctx);
            }
        }
        let Some(lead) = self.lead.as_ref() else { return };
        if lead.phase != LeaderPhase::Broadcast {
            if now.since(lead.since) > init_limit {
                ctx.reached("leader not established within the init limit");
                return self.step_down(ctx);
            }
        } else {
            let heard = lead
                .learners
                .values()
                .filter(|l| matches!(l.state, LearnerState::Synced) && now.since(l.last_heard) <= sync_limit)
                .count();
            if heard + 1 < quorum {
                ctx.reached("leader steps down: no quorum within the sync limit");
                ctx.count("quorum_lost_step_downs", 1);
                return self.step_down(ctx);
            }
        }
        Self::ping_learners(ctx, lead);
    }
}

impl Process for ZabNode {
    type Msg = KvMsg<ZabMsg>;
    type Timer = ZabTimer;
    type Durable = ZabDisk;
    type Note = ZabNote;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if ctx.durable().log.snapshot().is_some() {
            ctx.reached("server restarts from a snapshot");
            ctx.note(ZabNote::Restored { point: self.applied, state: self.store.digest(), installed: false });
        }
        if !ctx.durable().log.is_empty() {
            ctx.reached("server restarts with logged transactions");
        }
        ctx.set_timer(self.params.tick_interval, ZabTimer::Tick);
        self.start_looking(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: KvMsg<ZabMsg>) {
        let msg = match msg {
            Envelope::Peer(msg) => msg,
            Envelope::Request(request) => return self.on_client(ctx, from, request),
            Envelope::Reply(_) => return,
        };
        let Addr::Node(peer) = from else { return };
        let p = peer.0;
        if let Some(l) = self.lead.as_mut().and_then(|l| l.learners.get_mut(&p)) {
            l.last_heard = ctx.now();
        }
        match msg {
            ZabMsg::Notification { vote, round, state } => self.on_notification(ctx, p, vote, round, state),
            ZabMsg::FollowerInfo { accepted_epoch } => self.on_follower_info(ctx, p, accepted_epoch),
            ZabMsg::NewEpoch { epoch } => self.on_new_epoch(ctx, p, epoch),
            ZabMsg::AckEpoch { epoch, current_epoch, last, epoch_ends } => {
                self.on_ack_epoch(ctx, p, epoch, current_epoch, last, epoch_ends)
            }
            ZabMsg::Diff { txns } => self.on_diff(ctx, p, txns),
            ZabMsg::Trunc { to, txns } => self.on_trunc(ctx, p, to, txns),
            ZabMsg::Snap { snapshot, txns } => self.on_snap(ctx, p, snapshot, txns),
            ZabMsg::NewLeader { epoch, last } => self.on_new_leader(ctx, p, epoch, last),
            ZabMsg::AckNewLeader { epoch, last } => self.on_ack_new_leader(ctx, p, epoch, last),
            ZabMsg::UpToDate { epoch, commit } => self.on_up_to_date(ctx, p, epoch, commit),
            ZabMsg::Proposal { txn } => self.on_proposal(ctx, p, txn),
            ZabMsg::Ack { epoch, zxid } => self.on_ack(ctx, p, epoch, zxid),
            ZabMsg::Commit { zxid } => self.on_commit(ctx, p, zxid),
            ZabMsg::Ping { epoch, round } => self.on_ping(ctx, p, epoch, round),
            ZabMsg::PingAck { epoch, round } => self.on_ping_ack(ctx, p, epoch, round),
            ZabMsg::Sync { id } => self.on_sync(ctx, p, id),
            ZabMsg::SyncDone { id, commit } => self.on_sync_done(ctx, p, id, commit),
            ZabMsg::Forward { request } => self.on_forward(ctx, p, request),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: ZabTimer) {
        match timer {
            ZabTimer::Tick => self.on_tick(ctx),
            ZabTimer::Resend => {
                self.resend_timer = None;
                if self.role == ZabRole::Looking {
                    ctx.reached("notifications sent again: no decision yet");
                    self.notify_all(ctx);
                    self.arm_resend(ctx);
                }
            }
            ZabTimer::Finalize { round, vote } => {
                if self.role == ZabRole::Looking {
                    self.on_finalize(ctx, round, vote);
                }
            }
        }
    }

    /// A session broke (partition or crash): ZooKeeper's follower that
    /// loses its leader's connection goes back to LOOKING; a leader drops
    /// the follower's handler, and steps down at its next tick if that
    /// leaves it without a quorum.
    fn on_link_down(&mut self, ctx: &mut Ctx<'_, Self>, peer: Addr) {
        let Addr::Node(peer) = peer else { return };
        let p = peer.0;
        if self.follow.as_ref().is_some_and(|f| f.leader == p) {
            ctx.reached("follower's session to its leader broke");
            return self.start_looking(ctx);
        }
        if let Some(lead) = self.lead.as_mut() {
            if lead.learners.remove(&p).is_some() {
                ctx.reached("leader's session to a follower broke");
            }
        }
        self.stashed.remove(&p);
    }

    fn on_durable(&mut self, ctx: &mut Ctx<'_, Self>, token: u64) {
        while let Some(&(t, what)) = self.pending.front() {
            if t > token {
                break;
            }
            self.pending.pop_front();
            let Some(lead) = self.lead.as_mut() else { continue };
            match what {
                PendingWrite::Proposal { epoch, zxid } if lead.epoch == epoch => {
                    lead.own_durable = lead.own_durable.max(zxid);
                    self.advance_commit(ctx);
                }
                PendingWrite::CurrentEpoch { epoch }
                    if lead.epoch == epoch && lead.phase == LeaderPhase::Synchronization =>
                {
                    lead.newleader_acks |= 1 << self.id;
                    self.check_established(ctx);
                }
                _ => {}
            }
        }
    }

    fn role(&self) -> Role {
        match self.role {
            ZabRole::Looking => "looking",
            ZabRole::Following => "follower",
            ZabRole::Leading => "leader",
        }
    }
}
