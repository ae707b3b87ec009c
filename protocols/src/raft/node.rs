//! The Raft node: a sans-I/O state machine. Role behaviour lives in the
//! `step_*` / `become_*` methods; everything that must survive a crash —
//! currentTerm, votedFor and the log — lives in [`RaftDisk`], written before
//! any reply that depends on it.

use std::collections::VecDeque;
use std::sync::Arc;

use faultline_sim::{Addr, Ctx, Duration, NodeId, Process, Role, Time, TimerId};

use super::log::{Entry, LogCommand, RaftLog};
use super::messages::RaftMsg;
use super::{Params, ReadMode};
use crate::client::Envelope;
use crate::kv::{Applied, Command, KvMsg, KvResult, KvStore, OpId, Reply, Request};

/// What survives a crash.
#[derive(Clone, Debug, Default)]
pub struct RaftDisk {
    pub term: u64,
    pub voted_for: Option<u32>,
    pub log: RaftLog,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RaftRole {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum RaftTimer {
    Election,
    Heartbeat,
}

/// Facts reported to the invariant monitor.
#[derive(Clone, Debug)]
pub enum RaftNote {
    /// Became leader; `log` is (term, chain) of each entry after `base_index`.
    BecameLeader {
        term: u64,
        base_index: u64,
        log: Vec<(u64, u64)>,
    },
    SteppedDown {
        term: u64,
    },
    /// A follower accepted `leader` as the leader of `term` (the first
    /// append or snapshot it took from it).
    HeardLeader {
        term: u64,
        leader: u32,
    },
    Appended {
        index: u64,
        term: u64,
        chain: u64,
    },
    /// `in_term`: the committing node's term when it learned of the commit.
    Committed {
        index: u64,
        term: u64,
        chain: u64,
        in_term: u64,
    },
    /// `state`: the digest of the state machine after applying the entry.
    Applied {
        index: u64,
        chain: u64,
        state: u64,
    },
    Truncated {
        from: u64,
        as_leader: bool,
    },
    /// Something after which Figure 2 says a follower's election timer
    /// starts over: granting a vote, or an append or snapshot from the
    /// leader of its term. `local` is the node's own clock.
    ElectionDeferred {
        local: Time,
        by: &'static str,
    },
    /// The election timer fired and the node starts a (pre-)election, at
    /// `local` on its own clock.
    ElectionTimedOut {
        local: Time,
    },
    /// The log up to `index` was replaced by a snapshot, taken here or
    /// (`installed`) received from the leader: what the snapshot says it
    /// covers, and the digest of the state the node now holds for it.
    Compacted {
        index: u64,
        term: u64,
        chain: u64,
        state: u64,
        installed: bool,
    },
}

/// A linearizable read waiting for its ReadIndex round.
struct PendingRead {
    client: Addr,
    op: OpId,
    key: u64,
    /// The commit index when the read arrived; `None` until this leader has
    /// committed an entry of its own term.
    read_index: Option<u64>,
    round: u64,
}

/// Leader-only state, dropped on stepping down.
struct LeaderState {
    next_index: Vec<u64>,
    match_index: Vec<u64>,
    /// Latest heartbeat round each follower answered in this term.
    acked_round: Vec<u64>,
    /// When each follower last answered (local clock), for CheckQuorum.
    last_ack: Vec<Time>,
    /// First index of this term: reads wait until it commits.
    term_start: u64,
    round: u64,
    /// Client to answer when an index is applied.
    replies: VecDeque<(u64, Addr, OpId)>,
    /// When each index was appended, for commit latency.
    appended_at: VecDeque<(u64, Time)>,
    /// Reused for majority computations on every reply (no allocation, no
    /// zeroing of a large stack array).
    scratch: Vec<u64>,
    reads: Vec<PendingRead>,
    /// A heartbeat round sent for reads and not yet confirmed by a majority.
    read_round_in_flight: Option<u64>,
    /// Per follower: the last index of an unanswered AppendEntries (0: none).
    /// New entries wait for its reply, or for the next heartbeat if it was
    /// lost, so entries are batched instead of re-sent with every request.
    in_flight: Vec<u64>,
    /// Per follower: the latest round sent to it. A follower busy with an
    /// append gets a newer round when that append is answered, so a read
    /// round never adds a message beside an unanswered append.
    sent_round: Vec<u64>,
    heartbeat: Option<TimerId>,
    /// The last index of the leader's own log known durable: the leader
    /// counts itself towards a commit only this far.
    own_durable: u64,
}

/// An asynchronous write waiting for its `on_durable` callback.
#[derive(Copy, Clone, Debug)]
enum Pending {
    /// The candidate's vote for itself in `term`.
    Vote { term: u64 },
    /// The leader's own entries up to `index`, appended in `term`.
    Log { term: u64, index: u64 },
    /// A follower's entries written without waiting (bug knob
    /// `ack_before_durable`): nothing waits for them.
    Unawaited,
}

pub struct RaftNode {
    id: u32,
    n: u32,
    params: Arc<Params>,
    role: RaftRole,
    leader: Option<u32>,
    commit_index: u64,
    last_applied: u64,
    store: KvStore,
    /// The armed election timer, if any; it may fire before `election_deadline`
    /// and then re-arms for the rest, so a heartbeat only moves the deadline
    /// instead of cancelling and re-arming a timer.
    election_timer: Option<TimerId>,
    election_deadline: Time,
    votes: Vec<bool>,
    /// Local time a valid leader was last heard from.
    last_leader_contact: Option<Time>,
    lead: Option<LeaderState>,
    /// State captured for the next snapshot, installed once the log has
    /// moved half a snapshot interval past it: the log keeps a tail that
    /// slightly lagging followers catch up from without a snapshot transfer.
    pending_snapshot: Option<(u64, KvStore)>,
    /// Longest in-memory log this incarnation has reported.
    peak_log_len: u64,
    /// Bug knob `volatile_vote`: currentTerm and votedFor kept here instead
    /// of on disk.
    volatile_term: u64,
    volatile_vote: Option<u32>,
    /// Asynchronous writes in flight, by token, in the order they were made
    /// (the disk completes them in that order).
    pending: VecDeque<(u64, Pending)>,
    next_token: u64,
}

impl RaftNode {
    /// Builds a node from its durable state: a fresh disk at the start, the
    /// surviving one after a crash.
    pub fn recover(id: NodeId, n: u32, params: Arc<Params>, disk: &RaftDisk) -> RaftNode {
        let (store, applied) = match disk.log.snapshot() {
            Some(s) => (s.store.clone(), s.last_index),
            None => (KvStore::default(), 0),
        };
        RaftNode {
            id: id.0,
            n,
            params,
            role: RaftRole::Follower,
            leader: None,
            commit_index: applied,
            last_applied: applied,
            store,
            election_timer: None,
            election_deadline: Time::ZERO,
            votes: vec![false; n as usize],
            last_leader_contact: None,
            lead: None,
            pending_snapshot: None,
            peak_log_len: 0,
            volatile_term: 0,
            volatile_vote: None,
            pending: VecDeque::new(),
            next_token: 0,
        }
    }

    /// A token for an asynchronous write of `what`.
    fn pending_write(&mut self, what: Pending) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        self.pending.push_back((token, what));
        token
    }

    pub fn raft_role(&self) -> RaftRole {
        self.role
    }
    pub fn commit_index(&self) -> u64 {
        self.commit_index
    }

    fn majority(&self) -> usize {
        self.n as usize / 2 + 1
    }

    // ---- durable term and vote (or volatile, with the bug knob) ----

    fn term(&self, ctx: &Ctx<'_, Self>) -> u64 {
        if self.params.bugs.volatile_vote {
            self.volatile_term
        } else {
            ctx.durable().term
        }
    }

    fn voted_for(&self, ctx: &Ctx<'_, Self>) -> Option<u32> {
        if self.params.bugs.volatile_vote {
            self.volatile_vote
        } else {
            ctx.durable().voted_for
        }
    }

    fn persist_term_and_vote(&mut self, ctx: &mut Ctx<'_, Self>, term: u64, vote: Option<u32>) {
        if self.params.bugs.volatile_vote {
            self.volatile_term = term;
            self.volatile_vote = vote;
        } else if ctx.durable().term != term || ctx.durable().voted_for != vote {
            // Only a change is written: with a disk model every write holds
            // the node's messages back until it is durable.
            let disk = ctx.durable_mut();
            disk.term = term;
            disk.voted_for = vote;
        }
        ctx.observe_max("max_term", term);
    }

    fn report_log_len(&mut self, ctx: &mut Ctx<'_, Self>) {
        let len = ctx.durable().log.len() as u64;
        if len > self.peak_log_len {
            self.peak_log_len = len;
            ctx.observe_max("peak_log_len", len);
        }
    }

    // ---- timers ----

    fn reset_election_timer(&mut self, ctx: &mut Ctx<'_, Self>) {
        let timeout = ctx.random_between(self.params.election_timeout_min, self.params.election_timeout_max);
        let deadline = ctx.now() + timeout;
        // An armed timer set for later than the new deadline would fire late.
        if self.election_timer.is_some() && deadline < self.election_deadline {
            if let Some(t) = self.election_timer.take() {
                ctx.cancel_timer(t);
            }
        }
        self.election_deadline = deadline;
        if self.election_timer.is_none() {
            self.election_timer = Some(ctx.set_timer(timeout, RaftTimer::Election));
        }
    }

    fn cancel_election_timer(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Some(t) = self.election_timer.take() {
            ctx.cancel_timer(t);
        }
    }

    // ---- role changes ----

    fn become_follower(&mut self, ctx: &mut Ctx<'_, Self>, term: u64, leader: Option<u32>) {
        let current = self.term(ctx);
        if term > current {
            self.persist_term_and_vote(ctx, term, None);
        }
        if self.role == RaftRole::Leader {
            if term > current {
                ctx.reached("leader steps down on a higher term");
            }
            ctx.note(RaftNote::SteppedDown { term: current });
            if let Some(lead) = self.lead.take() {
                if let Some(t) = lead.heartbeat {
                    ctx.cancel_timer(t);
                }
            }
        }
        self.role = RaftRole::Follower;
        if leader.is_some() && leader != self.leader {
            if let Some(leader) = leader {
                ctx.note(RaftNote::HeardLeader { term: self.term(ctx), leader });
            }
        }
        self.leader = leader;
        if self.election_timer.is_none() {
            self.reset_election_timer(ctx);
        }
    }

    fn start_election(&mut self, ctx: &mut Ctx<'_, Self>, pre_vote: bool) {
        self.votes.iter_mut().for_each(|v| *v = false);
        self.leader = None;
        let term = if pre_vote {
            self.role = RaftRole::PreCandidate;
            ctx.count("pre_votes", 1);
            self.votes[self.id as usize] = true;
            self.term(ctx) + 1
        } else {
            self.role = RaftRole::Candidate;
            ctx.count("elections", 1);
            let term = self.term(ctx) + 1;
            if self.params.bugs.volatile_vote {
                self.persist_term_and_vote(ctx, term, Some(self.id));
                self.votes[self.id as usize] = true;
            } else {
                // The new term and the vote for itself are written
                // asynchronously: RequestVote is a request, not a reply that
                // depends on them, so it leaves at once, and the candidate
                // counts its own vote only once it is durable (`on_durable`).
                // A crash before then loses both, harmlessly: no one else
                // counted that vote.
                let token = self.pending_write(Pending::Vote { term });
                let disk = ctx.durable_mut_async(token);
                disk.term = term;
                disk.voted_for = Some(self.id);
                ctx.observe_max("max_term", term);
            }
            term
        };
        self.reset_election_timer(ctx);
        if self.majority() == 1 && self.votes[self.id as usize] {
            return self.won_votes(ctx, pre_vote);
        }
        let log = &ctx.durable().log;
        let msg =
            RaftMsg::RequestVote { term, last_log_index: log.last_index(), last_log_term: log.last_term(), pre_vote };
        ctx.broadcast(Envelope::Peer(msg));
    }

    fn won_votes(&mut self, ctx: &mut Ctx<'_, Self>, pre_vote: bool) {
        if pre_vote {
            self.start_election(ctx, false);
        } else {
            self.become_leader(ctx);
        }
    }

    fn become_leader(&mut self, ctx: &mut Ctx<'_, Self>) {
        let term = self.term(ctx);
        self.role = RaftRole::Leader;
        self.leader = Some(self.id);
        ctx.count("leaders_elected", 1);
        self.cancel_election_timer(ctx);
        let log = &ctx.durable().log;
        let (base_index, digest, last) = (log.base_index(), log.digest(), log.last_index());
        ctx.note(RaftNote::BecameLeader { term, base_index, log: digest });
        let n = self.n as usize;
        let now = ctx.now();
        self.lead = Some(LeaderState {
            next_index: vec![last + 1; n],
            match_index: vec![0; n],
            acked_round: vec![0; n],
            last_ack: vec![now; n],
            term_start: last + 1,
            round: 0,
            replies: VecDeque::new(),
            appended_at: VecDeque::new(),
            scratch: Vec::with_capacity(n),
            reads: Vec::new(),
            read_round_in_flight: None,
            in_flight: vec![0; n],
            sent_round: vec![0; n],
            heartbeat: None,
            own_durable: 0,
        });
        // A no-op of the new term commits everything before it (§5.4.2, §8).
        self.append(ctx, LogCommand::Noop);
        self.broadcast_append(ctx);
        self.arm_heartbeat(ctx);
    }

    fn arm_heartbeat(&mut self, ctx: &mut Ctx<'_, Self>) {
        let interval = self.params.heartbeat_interval;
        if let Some(lead) = self.lead.as_mut() {
            lead.heartbeat = Some(ctx.set_timer(interval, RaftTimer::Heartbeat));
        }
    }

    // ---- leader: log and replication ----

    /// Appends to the leader's own log. The write is asynchronous (Raft
    /// dissertation §10.2.1: the leader writes its log in parallel with
    /// replicating it): AppendEntries leave at once, and the leader counts
    /// itself towards a commit only once the entry is durable (`on_durable`).
    fn append(&mut self, ctx: &mut Ctx<'_, Self>, command: LogCommand) -> u64 {
        let term = self.term(ctx);
        let index = ctx.durable().log.last_index() + 1;
        let token = self.pending_write(Pending::Log { term, index });
        let (index, chain) = ctx.durable_mut_async(token).log.append(Entry { term, command });
        ctx.note(RaftNote::Appended { index, term, chain });
        self.report_log_len(ctx);
        let now = ctx.true_now();
        if let Some(lead) = self.lead.as_mut() {
            lead.match_index[self.id as usize] = index;
            lead.appended_at.push_back((index, now));
        }
        index
    }

    /// The leader's own entries up to `index`, appended in `term`, are
    /// durable.
    fn own_log_durable(&mut self, ctx: &mut Ctx<'_, Self>, term: u64, index: u64) {
        if self.role != RaftRole::Leader || self.term(ctx) != term {
            return;
        }
        if let Some(lead) = self.lead.as_mut() {
            lead.own_durable = lead.own_durable.max(index);
        }
        self.advance_commit(ctx);
    }

    /// Starts a round: followers with nothing in flight get what they miss
    /// now. Followers busy with an unanswered append get an empty
    /// AppendEntries anchored at their matchIndex (confirming leadership
    /// without resending entries) only as far as the round needs to reach a
    /// majority at once; the rest get the round when that append is answered.
    fn broadcast_append(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(lead) = self.lead.as_mut() else { return };
        lead.round += 1;
        let idle = (0..self.n).filter(|&p| p != self.id && lead.in_flight[p as usize] == 0).count();
        let mut extra = (self.majority() - 1).saturating_sub(idle);
        for peer in 0..self.n {
            if peer == self.id {
                continue;
            }
            let busy = self.lead.as_ref().is_some_and(|l| l.in_flight[peer as usize] != 0);
            if !busy {
                self.send_append(ctx, peer);
            } else if extra > 0 {
                extra -= 1;
                self.send_heartbeat(ctx, peer);
            }
        }
    }

    /// The current round, recorded as the latest one sent to `peer`; `None`
    /// when not leading.
    fn round_for(&mut self, peer: u32) -> Option<u64> {
        let lead = self.lead.as_mut()?;
        lead.sent_round[peer as usize] = lead.round;
        Some(lead.round)
    }

    fn send_heartbeat(&mut self, ctx: &mut Ctx<'_, Self>, peer: u32) {
        let term = self.term(ctx);
        let Some(round) = self.round_for(peer) else { return };
        let Some(prev_index) = self.lead.as_ref().map(|l| l.match_index[peer as usize]) else { return };
        match ctx.durable().log.term_at(prev_index) {
            Some(prev_term) => {
                let msg = RaftMsg::Append {
                    term,
                    prev_index,
                    prev_term,
                    entries: Vec::new(),
                    leader_commit: self.commit_index,
                    round,
                };
                ctx.send(Addr::node(peer), Envelope::Peer(msg));
            }
            None => self.send_append(ctx, peer),
        }
    }

    /// Sends `peer` the entries it misses from nextIndex on (or the snapshot
    /// when they are compacted away).
    fn send_append(&mut self, ctx: &mut Ctx<'_, Self>, peer: u32) {
        let term = self.term(ctx);
        let Some(round) = self.round_for(peer) else { return };
        let Some(next) = self.lead.as_ref().map(|l| l.next_index[peer as usize]) else { return };
        let log = &ctx.durable().log;
        let msg = if next <= log.base_index() {
            match log.snapshot() {
                Some(snapshot) => RaftMsg::InstallSnapshot { term, snapshot: snapshot.clone(), round },
                None => return,
            }
        } else {
            let prev_index = next - 1;
            let Some(prev_term) = log.term_at(prev_index) else { return };
            let entries = log.entries_from(next, self.params.max_entries_per_append);
            let last_sent = prev_index + entries.len() as u64;
            if let Some(lead) = self.lead.as_mut() {
                lead.in_flight[peer as usize] = if entries.is_empty() { 0 } else { last_sent };
            }
            RaftMsg::Append { term, prev_index, prev_term, entries, leader_commit: self.commit_index, round }
        };
        if matches!(msg, RaftMsg::InstallSnapshot { .. }) {
            ctx.reached("install snapshot sent");
        }
        ctx.send(Addr::node(peer), Envelope::Peer(msg));
    }

    /// Sends new entries to every follower that has none in flight.
    fn replicate(&mut self, ctx: &mut Ctx<'_, Self>) {
        let last = ctx.durable().log.last_index();
        for peer in 0..self.n {
            let idle = self
                .lead
                .as_ref()
                .is_some_and(|l| l.in_flight[peer as usize] == 0 && l.next_index[peer as usize] <= last);
            if peer != self.id && idle {
                self.send_append(ctx, peer);
            }
        }
    }

    fn advance_commit(&mut self, ctx: &mut Ctx<'_, Self>) {
        let term = self.term(ctx);
        // The highest index a majority stores: the majority-th largest
        // matchIndex (the leader counts with the last index it has durably).
        let (id, majority) = (self.id as usize, self.majority());
        let Some(lead) = self.lead.as_mut() else { return };
        let LeaderState { scratch, match_index, own_durable, .. } = lead;
        scratch.clear();
        scratch.extend_from_slice(match_index);
        scratch[id] = *own_durable;
        let candidate = kth_largest(scratch, majority);
        if candidate <= self.commit_index {
            return;
        }
        let log = &ctx.durable().log;
        // Only entries of the current term commit by counting replicas;
        // earlier ones commit through them (§5.4.2, Figure 8).
        let own_term = log.term_at(candidate) == Some(term);
        if own_term || self.params.bugs.commit_previous_term_by_count {
            self.commit_to(ctx, candidate);
        } else {
            ctx.reached("commit of an earlier term's entry waits for one of this term");
        }
    }

    fn commit_to(&mut self, ctx: &mut Ctx<'_, Self>, index: u64) {
        let index = index.min(ctx.durable().log.last_index());
        if index <= self.commit_index {
            return;
        }
        let now = ctx.true_now();
        let in_term = self.term(ctx);
        for i in self.commit_index + 1..=index {
            let log = &ctx.durable().log;
            if let (Some(term), Some(chain)) = (log.term_at(i), log.chain_at(i)) {
                ctx.note(RaftNote::Committed { index: i, term, chain, in_term });
            }
            if let Some(lead) = self.lead.as_mut() {
                // Indices were appended in order and commit in order.
                while lead.appended_at.front().is_some_and(|&(at, _)| at < i) {
                    lead.appended_at.pop_front();
                }
                if lead.appended_at.front().is_some_and(|&(at, _)| at == i) {
                    if let Some((_, appended)) = lead.appended_at.pop_front() {
                        ctx.record("commit_latency_us", now.since(appended).as_nanos() / 1_000);
                    }
                }
            }
        }
        self.commit_index = index;
        self.apply_committed(ctx);
        self.serve_reads(ctx);
    }

    fn apply_committed(&mut self, ctx: &mut Ctx<'_, Self>) {
        while self.last_applied < self.commit_index {
            let index = self.last_applied + 1;
            let log = &ctx.durable().log;
            let Some(entry) = log.entry(index) else { break };
            let chain = log.chain_at(index).unwrap_or(0);
            let result = match &entry.command {
                LogCommand::Noop => None,
                LogCommand::Client(request) => {
                    let request = request.clone();
                    let applied = self.store.apply_request(&request, !self.params.bugs.no_dedup);
                    match applied {
                        Applied::Cached(_) => ctx.reached("retried client request answered from its session"),
                        Applied::Acknowledged => ctx.reached("late duplicate of an acknowledged request ignored"),
                        Applied::Executed(_) => {}
                    }
                    applied.result().map(|result| (request.op, result))
                }
            };
            self.last_applied = index;
            ctx.note(RaftNote::Applied { index, chain, state: self.store.digest() });
            ctx.count("applied", 1);
            if let (Some((op, result)), Some(lead)) = (result, self.lead.as_mut()) {
                while lead.replies.front().is_some_and(|&(at, _, _)| at < index) {
                    lead.replies.pop_front();
                }
                if lead.replies.front().is_some_and(|&(at, _, _)| at == index) {
                    if let Some((_, client, waiting)) = lead.replies.pop_front() {
                        if waiting == op {
                            ctx.send(client, Envelope::Reply(Reply::Done { op, result }));
                        }
                    }
                }
            }
        }
        self.maybe_snapshot(ctx);
    }

    fn maybe_snapshot(&mut self, ctx: &mut Ctx<'_, Self>) {
        let every = self.params.snapshot_every;
        if every == 0 {
            return;
        }
        let base = ctx.durable().log.base_index();
        match self.pending_snapshot.take() {
            None if self.last_applied >= base + every => {
                ctx.reached("snapshot state captured");
                self.pending_snapshot = Some((self.last_applied, self.store.clone()));
            }
            Some((index, store)) if self.last_applied >= index + every / 2 && index > base => {
                ctx.reached("log compacted into a snapshot");
                ctx.durable_mut().log.compact(index, store);
                if let Some(s) = ctx.durable().log.snapshot().filter(|s| s.last_index == index) {
                    let note = RaftNote::Compacted {
                        index,
                        term: s.last_term,
                        chain: s.chain,
                        state: s.store.digest(),
                        installed: false,
                    };
                    ctx.note(note);
                }
                ctx.count("snapshots", 1);
            }
            // Still waiting, or a snapshot install overtook the capture.
            other => self.pending_snapshot = other.filter(|(index, _)| *index > base),
        }
    }

    // ---- leader: reads ----

    /// The highest heartbeat round a majority has answered (the leader
    /// counts as answering every round it sent).
    fn confirmed_round(lead: &mut LeaderState, id: usize, majority: usize) -> u64 {
        let LeaderState { scratch, acked_round, round, .. } = lead;
        scratch.clear();
        scratch.extend_from_slice(acked_round);
        scratch[id] = *round;
        kth_largest(scratch, majority)
    }

    fn serve_reads(&mut self, ctx: &mut Ctx<'_, Self>) {
        let (applied, commit) = (self.last_applied, self.commit_index);
        let Some(lead) = self.lead.as_ref() else { return };
        if lead.reads.is_empty() && lead.read_round_in_flight.is_none() {
            return;
        }
        let (id, majority) = (self.id as usize, self.majority());
        let Some(lead) = self.lead.as_mut() else { return };
        let confirmed = Self::confirmed_round(lead, id, majority);
        let term_committed = commit >= lead.term_start;
        let mut answered = Vec::new();
        let mut waiting_for_term_commit = false;
        lead.reads.retain_mut(|read| {
            if read.read_index.is_none() {
                if term_committed {
                    read.read_index = Some(commit);
                } else {
                    waiting_for_term_commit = true;
                }
            }
            match read.read_index {
                Some(ri) if read.round <= confirmed && applied >= ri => {
                    answered.push((read.client, read.op, read.key));
                    false
                }
                _ => true,
            }
        });
        if lead.read_round_in_flight.is_some_and(|r| r <= confirmed) {
            lead.read_round_in_flight = None;
        }
        let needs_round = lead.reads.iter().any(|r| r.round > lead.round);
        let start_round = needs_round && lead.read_round_in_flight.is_none();
        if start_round {
            lead.read_round_in_flight = Some(lead.round + 1);
        }
        if waiting_for_term_commit {
            ctx.reached("read waits for the leader's first commit of its term");
        }
        if needs_round && !start_round {
            ctx.reached("read waits for the round in flight to confirm");
        }
        if start_round {
            ctx.reached("read starts a heartbeat round");
        }
        if !answered.is_empty() {
            ctx.reached("read index read served");
        }
        for (client, op, key) in answered {
            let result = KvResult::Read(self.store.get(key));
            ctx.send(client, Envelope::Reply(Reply::Done { op, result }));
        }
        if start_round {
            self.broadcast_append(ctx);
        }
    }

    // ---- handlers ----

    fn on_client(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, request: Request) {
        if self.role != RaftRole::Leader {
            let leader = self.leader.map(NodeId);
            if leader.is_some() {
                ctx.reached("client redirected to the leader");
            } else {
                ctx.reached("client redirected with no leader known");
            }
            ctx.send(from, Envelope::Reply(Reply::Redirect { op: request.op, leader }));
            return;
        }
        if let Command::Get { key } = request.command {
            if self.params.bugs.local_reads {
                // Bug: answer from local state without confirming leadership.
                let result = KvResult::Read(self.store.get(key));
                ctx.send(from, Envelope::Reply(Reply::Done { op: request.op, result }));
                return;
            }
            if self.params.read_mode == ReadMode::ReadIndex {
                let Some(lead) = self.lead.as_mut() else { return };
                // The read needs a round sent after it arrived; reads that
                // arrive while one is in flight share the next one.
                let round = lead.round + 1;
                lead.reads.push(PendingRead { client: from, op: request.op, key, read_index: None, round });
                self.serve_reads(ctx);
                return;
            }
        }
        // A retry of an operation this leader has appended and not yet
        // applied waits for that entry rather than appending a copy: under
        // load, clients time out before their entries commit, and a copy per
        // retry would lengthen the very queue they timed out in.
        if let Some(lead) = self.lead.as_mut() {
            if let Some(pending) = lead.replies.iter_mut().find(|(_, _, op)| *op == request.op) {
                pending.1 = from;
                ctx.reached("retry of an operation still in the log waits for it");
                return;
            }
        }
        // Register the reply before appending: in a one-node cluster the
        // entry commits and applies inside `append`.
        let index = ctx.durable().log.last_index() + 1;
        if let Some(lead) = self.lead.as_mut() {
            lead.replies.push_back((index, from, request.op));
        }
        self.append(ctx, LogCommand::Client(request));
        self.replicate(ctx);
    }

    fn on_request_vote(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, msg: (u64, u64, u64, bool)) {
        let (term, last_log_index, last_log_term, pre_vote) = msg;
        let current = self.term(ctx);
        // Leader stickiness (§4.2.3 / §9.6): while a leader is heard from,
        // ignore candidates. Always for PreVote; for real votes with CheckQuorum.
        let now = ctx.now();
        let heard_recently = self.last_leader_contact.is_some_and(|t| now.since(t) < self.params.election_timeout_min)
            && self.leader.is_some();
        if heard_recently && (pre_vote || self.params.check_quorum) && term > current {
            if pre_vote {
                ctx.reached("pre-vote refused: a leader was heard recently");
            } else {
                ctx.reached("vote refused: a leader was heard recently");
            }
            ctx.send(Addr::node(from), Envelope::Peer(RaftMsg::Vote { term: current, granted: false, pre_vote }));
            return;
        }
        if !pre_vote && term > current {
            self.become_follower(ctx, term, None);
        }
        let current = self.term(ctx);
        let log = &ctx.durable().log;
        let up_to_date = (last_log_term, last_log_index) >= (log.last_term(), log.last_index());
        let log_ok = up_to_date || self.params.bugs.vote_without_log_check;
        let term_ok = if pre_vote { term > current } else { term == current };
        let vote_free = pre_vote || self.voted_for(ctx).is_none_or(|v| v == from);
        let granted = term_ok && log_ok && vote_free;
        if term_ok && !log_ok {
            ctx.reached("vote refused: candidate's log is out of date");
        } else if term_ok && !vote_free {
            ctx.reached("vote refused: already voted for another candidate");
        }
        if granted && !pre_vote {
            self.persist_term_and_vote(ctx, current, Some(from));
            self.reset_election_timer(ctx);
            ctx.note(RaftNote::ElectionDeferred { local: ctx.now(), by: "granting a vote" });
        }
        let reply_term = if pre_vote { term } else { current };
        ctx.send(Addr::node(from), Envelope::Peer(RaftMsg::Vote { term: reply_term, granted, pre_vote }));
    }

    fn on_vote(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, term: u64, granted: bool, pre_vote: bool) {
        let current = self.term(ctx);
        if !pre_vote && term > current {
            if self.role == RaftRole::Candidate {
                ctx.reached("candidate steps down on a higher term in a vote");
            }
            self.become_follower(ctx, term, None);
            return;
        }
        let expected_role = if pre_vote { RaftRole::PreCandidate } else { RaftRole::Candidate };
        let expected_term = if pre_vote { current + 1 } else { current };
        if self.role != expected_role || term != expected_term || !granted {
            return;
        }
        self.votes[from as usize] = true;
        self.count_votes(ctx, pre_vote);
    }

    /// Wins the (pre-)election once a majority's votes are in.
    fn count_votes(&mut self, ctx: &mut Ctx<'_, Self>, pre_vote: bool) {
        if self.votes.iter().filter(|v| **v).count() >= self.majority() {
            self.won_votes(ctx, pre_vote);
        }
    }

    /// The candidate's own vote for the term `term` is durable: it counts.
    fn own_vote_durable(&mut self, ctx: &mut Ctx<'_, Self>, term: u64) {
        if self.role != RaftRole::Candidate || self.term(ctx) != term {
            return;
        }
        self.votes[self.id as usize] = true;
        self.count_votes(ctx, false);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: u32,
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
        round: u64,
    ) {
        let current = self.term(ctx);
        let leader_term = term;
        let reply = |ctx: &mut Ctx<'_, Self>, term, success, match_index, conflict_index, conflict_term| {
            let msg = RaftMsg::AppendReply {
                term,
                success,
                match_index,
                conflict_index,
                conflict_term,
                round,
                request_term: leader_term,
            };
            ctx.send(Addr::node(from), Envelope::Peer(msg));
        };
        if term < current {
            ctx.reached("append from an older term refused");
            return reply(ctx, current, false, 0, 0, None);
        }
        if self.role != RaftRole::Follower || term > current || self.leader != Some(from) {
            self.become_follower(ctx, term, Some(from));
        }
        self.last_leader_contact = Some(ctx.now());
        self.reset_election_timer(ctx);
        ctx.note(RaftNote::ElectionDeferred { local: ctx.now(), by: "an append from the leader" });
        let log = &ctx.durable().log;
        let base = log.base_index();
        let last = log.last_index();
        if prev_index > last {
            ctx.reached("append refused: follower's log too short");
            return reply(ctx, term, false, 0, last + 1, None);
        }
        // Entries at or below the snapshot are committed and match: skip them.
        let (prev_index, entries) = if prev_index < base {
            ctx.reached("append overlaps the follower's snapshot");
            let skip = (base - prev_index) as usize;
            if skip >= entries.len() {
                return reply(ctx, term, true, base, 0, None);
            }
            (base, entries[skip..].to_vec())
        } else {
            (prev_index, entries)
        };
        let log = &ctx.durable().log;
        match log.term_at(prev_index) {
            Some(t) if t == prev_term => {}
            Some(t) => {
                let first = log.first_index_of_term(t, prev_index);
                ctx.reached("append refused: conflicting term at the previous index");
                return reply(ctx, term, false, 0, first, Some(t));
            }
            None => return reply(ctx, term, false, 0, base + 1, None),
        }
        let last_new = prev_index + entries.len() as u64;
        if self.params.bugs.truncate_on_any_append && prev_index < ctx.durable().log.last_index() {
            // Bug: drop everything after prev_index, even entries that match
            // (a stale or reordered AppendEntries then erases newer ones).
            ctx.durable_mut().log.truncate_from(prev_index + 1);
            ctx.note(RaftNote::Truncated { from: prev_index + 1, as_leader: false });
        }
        for (k, entry) in entries.into_iter().enumerate() {
            let index = prev_index + 1 + k as u64;
            let log = &ctx.durable().log;
            match log.term_at(index) {
                Some(t) if t == entry.term => continue,
                Some(_) => {
                    // First real conflict: truncate from here only (§5.3).
                    ctx.reached("follower truncates conflicting entries");
                    ctx.durable_mut().log.truncate_from(index);
                    ctx.note(RaftNote::Truncated { from: index, as_leader: false });
                }
                None => {}
            }
            let term_of = entry.term;
            let disk = if self.params.bugs.ack_before_durable {
                // Bug: the entry is written asynchronously, so the reply
                // below does not wait for it to be durable.
                let token = self.pending_write(Pending::Unawaited);
                ctx.durable_mut_async(token)
            } else {
                ctx.durable_mut()
            };
            let (i, chain) = disk.log.append(entry);
            debug_assert_eq!(i, index);
            ctx.note(RaftNote::Appended { index: i, term: term_of, chain });
        }
        self.report_log_len(ctx);
        if leader_commit > self.commit_index {
            let cap = if self.params.bugs.commit_without_cap { ctx.durable().log.last_index() } else { last_new };
            self.commit_to(ctx, leader_commit.min(cap));
        }
        reply(ctx, term, true, last_new, 0, None);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append_reply(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: u32,
        success: bool,
        match_index: u64,
        conflict_index: u64,
        conflict_term: Option<u64>,
        round: u64,
    ) {
        let now = ctx.now();
        let last = ctx.durable().log.last_index();
        let f = from as usize;
        // Whether this reply told the leader something new. A duplicate or
        // stale reply must not trigger a send: each such send would start a
        // chain of replies and sends that duplication keeps alive forever.
        // Which hint a failed reply's back-off used: the conflict term or not.
        let mut back_off = None;
        let news = {
            let log = &ctx.durable().log;
            let Some(lead) = self.lead.as_mut() else { return };
            lead.acked_round[f] = lead.acked_round[f].max(round);
            lead.last_ack[f] = now;
            if success {
                let advanced = match_index > lead.match_index[f];
                lead.match_index[f] = lead.match_index[f].max(match_index);
                lead.next_index[f] = lead.next_index[f].max(lead.match_index[f] + 1);
                if lead.match_index[f] >= lead.in_flight[f] {
                    lead.in_flight[f] = 0;
                }
                advanced
            } else {
                // Fast back-off with the follower's conflict hint (§5.3).
                let hinted = match conflict_term.and_then(|t| log.last_index_of_term(t)) {
                    Some(i) => {
                        back_off = Some(true);
                        i + 1
                    }
                    None => {
                        back_off = Some(false);
                        conflict_index
                    }
                };
                let next = hinted.clamp(lead.match_index[f] + 1, last + 1);
                // Unmoved means a stale reply (or a follower that lost
                // entries it acknowledged): the heartbeat retries.
                let moved = next != lead.next_index[f];
                lead.next_index[f] = next;
                lead.in_flight[f] = 0;
                moved
            }
        };
        match back_off {
            Some(true) => ctx.reached("leader backs off by the conflict term"),
            Some(false) => ctx.reached("leader backs off by the conflict index"),
            None => {}
        }
        if success {
            self.advance_commit(ctx);
        }
        self.serve_reads(ctx);
        let Some(lead) = self.lead.as_ref() else { return };
        let idle = lead.in_flight[f] == 0;
        let owed_round = lead.sent_round[f] < lead.round;
        // A successful answer to the latest round from a follower still
        // behind also sends: an earlier append to it may have been lost.
        let current = success && round == lead.round;
        let behind = lead.next_index[f] <= ctx.durable().log.last_index();
        if idle && (owed_round || ((news || current) && behind)) {
            self.send_append(ctx, from);
        }
    }

    /// A reply to something this node sent as leader: a newer term deposes
    /// it (§5.1); only replies of its current term while still leading count.
    /// Steps down on a newer term; otherwise whether a reply answers a
    /// request this node sent as the leader it is now. `term` is the
    /// replier's term, `request_term` the term of the request it answers:
    /// a follower that rejects a request of an older term replies with its
    /// own term, which may be this node's current term if it has since been
    /// elected again, and the request's round means nothing in this term.
    fn reply_is_for_current_leadership(&mut self, ctx: &mut Ctx<'_, Self>, term: u64, request_term: u64) -> bool {
        let current = self.term(ctx);
        if term > current {
            self.become_follower(ctx, term, None);
            return false;
        }
        if term == current && request_term != current && self.role == RaftRole::Leader {
            // The rejection of a request this node sent in an earlier term.
            ctx.count("stale_term_replies_ignored", 1);
            ctx.reached("stale reply from an older term ignored");
            return false;
        }
        term == current && self.role == RaftRole::Leader
    }

    fn on_install_snapshot(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: u32,
        term: u64,
        snapshot: Arc<super::log::Snapshot>,
        round: u64,
    ) {
        let current = self.term(ctx);
        if term < current {
            ctx.reached("install snapshot from an older term refused");
            let reply = RaftMsg::SnapshotReply { term: current, last_index: 0, round, request_term: term };
            ctx.send(Addr::node(from), Envelope::Peer(reply));
            return;
        }
        if self.role != RaftRole::Follower || term > current || self.leader != Some(from) {
            self.become_follower(ctx, term, Some(from));
        }
        self.last_leader_contact = Some(ctx.now());
        self.reset_election_timer(ctx);
        ctx.note(RaftNote::ElectionDeferred { local: ctx.now(), by: "a snapshot from the leader" });
        let last_index = snapshot.last_index;
        if last_index > self.commit_index {
            let note = RaftNote::Committed {
                index: last_index,
                term: snapshot.last_term,
                chain: snapshot.chain,
                in_term: term,
            };
            ctx.note(note);
            if ctx.durable().log.last_index() > last_index {
                ctx.reached("install snapshot to a follower holding later entries");
            }
            self.store = snapshot.store.clone();
            if self.pending_snapshot.take().is_some() {
                ctx.reached("pending snapshot dropped: an install overtook it");
            }
            let note = RaftNote::Compacted {
                index: last_index,
                term: snapshot.last_term,
                chain: snapshot.chain,
                state: self.store.digest(),
                installed: true,
            };
            ctx.durable_mut().log.install(snapshot);
            ctx.note(note);
            self.commit_index = last_index;
            self.last_applied = last_index;
            ctx.count("snapshots_installed", 1);
        } else {
            ctx.reached("install snapshot not past the commit index ignored");
        }
        ctx.send(
            Addr::node(from),
            Envelope::Peer(RaftMsg::SnapshotReply { term, last_index, round, request_term: term }),
        );
    }

    fn on_snapshot_reply(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, last_index: u64, round: u64) {
        let now = ctx.now();
        let Some(lead) = self.lead.as_mut() else { return };
        let f = from as usize;
        lead.acked_round[f] = lead.acked_round[f].max(round);
        lead.last_ack[f] = now;
        // As for appends: only a reply that moved the follower on sends
        // again. A duplicated or late reply that did not would start a chain
        // of snapshots and replies that lives as long as the leader does.
        let advanced = last_index > lead.match_index[f];
        lead.match_index[f] = lead.match_index[f].max(last_index);
        lead.next_index[f] = lead.match_index[f] + 1;
        self.advance_commit(ctx);
        if advanced {
            self.send_append(ctx, from);
        } else {
            ctx.reached("snapshot reply that moved nothing sends nothing");
        }
    }

    fn on_heartbeat(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.role != RaftRole::Leader {
            return;
        }
        if self.params.check_quorum {
            // Step down if a majority has not answered within an election
            // timeout: a partitioned leader stops serving (§6.2).
            let now = ctx.now();
            let window = self.params.election_timeout_max;
            if let Some(lead) = self.lead.as_ref() {
                let id = self.id as usize;
                let alive =
                    lead.last_ack.iter().enumerate().filter(|&(f, &t)| f == id || now.since(t) <= window).count();
                if alive < self.majority() {
                    ctx.count("check_quorum_step_downs", 1);
                    ctx.reached("leader steps down: no quorum heard (check quorum)");
                    let term = self.term(ctx);
                    self.become_follower(ctx, term, None);
                    return;
                }
            }
        }
        // An append unanswered for a whole heartbeat interval is presumed
        // lost: this round resends it.
        if let Some(lead) = self.lead.as_mut() {
            lead.in_flight.iter_mut().for_each(|f| *f = 0);
        }
        self.broadcast_append(ctx);
        self.arm_heartbeat(ctx);
    }
}

impl Process for RaftNode {
    type Msg = KvMsg<RaftMsg>;
    type Timer = RaftTimer;
    type Durable = RaftDisk;
    type Note = RaftNote;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if ctx.durable().log.snapshot().is_some() {
            ctx.reached("node restarts from a snapshot");
        }
        self.reset_election_timer(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: KvMsg<RaftMsg>) {
        let peer = match from {
            Addr::Node(n) => Some(n.0),
            Addr::Client(_) => None,
        };
        let msg = match msg {
            Envelope::Peer(msg) => msg,
            Envelope::Request(request) => return self.on_client(ctx, from, request),
            // Replies are for clients; a node that gets one ignores it.
            Envelope::Reply(_) => return,
        };
        match (msg, peer) {
            (RaftMsg::RequestVote { term, last_log_index, last_log_term, pre_vote }, Some(p)) => {
                self.on_request_vote(ctx, p, (term, last_log_index, last_log_term, pre_vote))
            }
            (RaftMsg::Vote { term, granted, pre_vote }, Some(p)) => self.on_vote(ctx, p, term, granted, pre_vote),
            (RaftMsg::Append { term, prev_index, prev_term, entries, leader_commit, round }, Some(p)) => {
                self.on_append(ctx, p, term, prev_index, prev_term, entries, leader_commit, round)
            }
            (
                RaftMsg::AppendReply { term, success, match_index, conflict_index, conflict_term, round, request_term },
                Some(p),
            ) if self.reply_is_for_current_leadership(ctx, term, request_term) => {
                self.on_append_reply(ctx, p, success, match_index, conflict_index, conflict_term, round)
            }
            (RaftMsg::InstallSnapshot { term, snapshot, round }, Some(p)) => {
                self.on_install_snapshot(ctx, p, term, snapshot, round)
            }
            (RaftMsg::SnapshotReply { term, last_index, round, request_term }, Some(p))
                if self.reply_is_for_current_leadership(ctx, term, request_term) =>
            {
                self.on_snapshot_reply(ctx, p, last_index, round)
            }
            // Replies for an earlier leadership (see above), and peer
            // messages from a client, which are not part of the protocol.
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: RaftTimer) {
        match timer {
            RaftTimer::Election => {
                self.election_timer = None;
                if self.role == RaftRole::Leader {
                    return;
                }
                let now = ctx.now();
                if now < self.election_deadline {
                    // The deadline moved while this timer was armed.
                    let rest = self.election_deadline.since(now);
                    self.election_timer = Some(ctx.set_timer(rest, RaftTimer::Election));
                    return;
                }
                ctx.note(RaftNote::ElectionTimedOut { local: now });
                match self.role {
                    RaftRole::Candidate => ctx.reached("election timed out as candidate (split vote)"),
                    RaftRole::PreCandidate => ctx.reached("pre-vote round timed out"),
                    _ => {}
                }
                self.start_election(ctx, self.params.pre_vote);
            }
            RaftTimer::Heartbeat => self.on_heartbeat(ctx),
        }
    }

    fn on_durable(&mut self, ctx: &mut Ctx<'_, Self>, token: u64) {
        while let Some(&(t, what)) = self.pending.front() {
            if t > token {
                break;
            }
            self.pending.pop_front();
            match what {
                Pending::Vote { term } => self.own_vote_durable(ctx, term),
                Pending::Log { term, index } => self.own_log_durable(ctx, term, index),
                Pending::Unawaited => {}
            }
        }
    }

    fn role(&self) -> Role {
        match self.role {
            RaftRole::Follower => "follower",
            RaftRole::PreCandidate => "pre_candidate",
            RaftRole::Candidate => "candidate",
            RaftRole::Leader => "leader",
        }
    }
}

/// The `k`-th largest value (1-based): with `k` a majority, the highest value
/// a majority reaches. Insertion sort: clusters are small and this runs on
/// every reply, where a general sort's set-up cost dominates.
fn kth_largest(values: &mut [u64], k: usize) -> u64 {
    for i in 1..values.len() {
        let mut j = i;
        while j > 0 && values[j - 1] < values[j] {
            values.swap(j - 1, j);
            j -= 1;
        }
    }
    values[k - 1]
}

/// Convenience for tests: the election timeout range as durations.
pub fn timeouts(params: &Params) -> (Duration, Duration) {
    (params.election_timeout_min, params.election_timeout_max)
}
