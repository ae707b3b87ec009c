//! The Multi-Paxos node: proposer, acceptor and learner in one sans-I/O
//! state machine. Role behaviour lives in `start_election` /
//! `become_leader` / `step_down` and the `on_*` handlers; what must survive
//! a crash — the promise, the accepted proposals, the decided slots and the
//! snapshot — lives in [`PaxosDisk`], written through `Ctx::durable_mut`
//! before any reply that depends on it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use smallvec::SmallVec;

use faultline_sim::{Addr, Ctx, NodeId, Process, Role, Time, TimerId};

use super::log::{chain_id, Ballot, PaxosDisk, SlotCommand, Snapshot};
use super::messages::PaxosMsg;
use super::{Params, ReadMode, MAX_QUEUED_REQUESTS, MAX_ROUNDS_REMEMBERED};
use crate::client::Envelope;
use crate::kv::{Applied, Command, KvMsg, KvResult, KvStore, OpId, Reply, Request};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PaxosRole {
    Follower,
    /// Running Phase 1 for its own ballot.
    Candidate,
    /// Phase 1 done: the distinguished proposer.
    Leader,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum PaxosTimer {
    Election,
    Heartbeat,
}

/// Facts reported to the invariant monitor. Commands travel as their
/// [`SlotCommand::id`].
#[derive(Clone, Debug)]
pub enum PaxosNote {
    /// The acceptor's promise is now `ballot` (written to disk).
    Promised {
        ballot: Ballot,
    },
    /// A proposer sent `command` for `slot` in its ballot.
    Proposed {
        slot: u64,
        ballot: Ballot,
        command: u64,
    },
    /// The acceptor accepted (`ballot`, `command`) at `slot` (written to disk).
    Accepted {
        slot: u64,
        ballot: Ballot,
        command: u64,
    },
    /// The learner holds `command` as decided at `slot`.
    Decided {
        slot: u64,
        command: u64,
    },
    /// Applied `slot`; `chain` hashes the applied prefix, `state` is the
    /// store's digest after it.
    Applied {
        slot: u64,
        chain: u64,
        state: u64,
    },
    /// The log up to `slot` was replaced by a snapshot, taken here or
    /// (`installed`) received from a peer.
    Compacted {
        slot: u64,
        chain: u64,
        state: u64,
        installed: bool,
    },
    BecameLeader {
        ballot: Ballot,
    },
    SteppedDown {
        ballot: Ballot,
    },
}

/// One slot this leader proposed and has not yet seen decided.
struct Proposal {
    command: SlotCommand,
    /// `command.id()`, computed once.
    id: u64,
    /// Bit per node that accepted it in this ballot.
    acks: u64,
    /// Local time it was last sent: unanswered for a heartbeat interval, it
    /// is sent again.
    sent_at: Time,
    /// True time it was proposed, for the decide latency.
    proposed_at: Time,
}

/// Phase 1 in progress.
struct Preparing {
    ballot: Ballot,
    from_slot: u64,
    granted: u64,
    /// Per slot: the highest-ballot proposal any promise reported.
    reported: BTreeMap<u64, (Ballot, SlotCommand)>,
    /// The highest snapshot base a promise reported, and whose.
    max_base: (u64, u32),
    /// Client requests that arrived during Phase 1.
    queued: VecDeque<(Addr, Request)>,
}

/// Leader-only state, dropped on stepping down.
struct Leading {
    ballot: Ballot,
    /// The first slot this ballot proposes in; slots below it that this
    /// node does not know decided are fetched from `catch_up_peer`.
    start_slot: u64,
    catch_up_peer: u32,
    /// The last slot Phase 1 reported or filled: a lease read waits until
    /// everything up to it is applied.
    recovered_upto: u64,
    next_slot: u64,
    /// Per peer: slots below it were sent to it at least once.
    sent_upto: Vec<u64>,
    /// Per peer: the last slot of its unanswered Accept (0: none). New
    /// slots wait for the answer (or the next heartbeat, if it was lost)
    /// and then go in one batch: under load, one Accept carries every slot
    /// proposed meanwhile instead of one message per slot.
    busy_until: Vec<u64>,
    proposals: BTreeMap<u64, Proposal>,
    /// Client to answer when a slot is applied.
    replies: BTreeMap<u64, (Addr, OpId)>,
    /// Requests waiting for the pipeline to have room.
    queue: VecDeque<(Addr, Request)>,
    round: u64,
    /// Local time each recent round was sent.
    round_sent: VecDeque<(u64, Time)>,
    acked_round: Vec<u64>,
    /// When each peer last answered (local clock), to step down without a
    /// majority.
    last_ack: Vec<Time>,
    /// Lease reads are safe before this local time.
    lease_until: Option<Time>,
    heartbeat: Option<TimerId>,
    scratch: Vec<u64>,
}

pub struct PaxosNode {
    id: u32,
    n: u32,
    params: Arc<Params>,
    role: PaxosRole,
    /// The node this one believes leads, for redirects.
    leader: Option<u32>,
    /// The highest ballot seen anywhere: the next election goes above it.
    highest_seen: Ballot,
    // ---- learner ----
    store: KvStore,
    applied: u64,
    applied_chain: u64,
    /// Every slot up to it is decided (held in `decided` or applied).
    decided_prefix: u64,
    /// The highest decided prefix a leader announced.
    commit_known: u64,
    /// Local time of the last catch-up request, to send at most one per
    /// heartbeat interval.
    catch_up_sent: Option<Time>,
    /// State captured for the next snapshot: (slot, chain, store).
    pending_snapshot: Option<(u64, u64, KvStore)>,
    /// Local time this acceptor last sent a leader its snapshot for
    /// Accepts of compacted slots, to send at most one per heartbeat
    /// interval.
    snapshot_offered: Option<Time>,
    // ---- acceptor ----
    /// Lease mode: no prepare of another ballot is promised before this
    /// local time (the holder's ballot; ZERO after a restart: nobody's).
    lease_promise: Option<(Ballot, Time)>,
    /// Bug knob `forget_promise`: the promise kept here instead of on disk.
    volatile_promise: Ballot,
    // ---- proposer ----
    prep: Option<Preparing>,
    lead: Option<Leading>,
    election_timer: Option<TimerId>,
    election_deadline: Time,
    peak_log_len: u64,
}

impl PaxosNode {
    /// Builds a node from its durable state: a fresh disk at the start, the
    /// surviving one after a crash. The store is rebuilt from the snapshot;
    /// the decided slots after it apply on start.
    pub fn recover(id: NodeId, n: u32, params: Arc<Params>, disk: &PaxosDisk) -> PaxosNode {
        let (store, applied, applied_chain) = match &disk.snapshot {
            Some(s) => (s.store.clone(), s.last_slot, s.chain),
            None => (KvStore::default(), 0, 0),
        };
        let promised = if params.bugs.forget_promise { Ballot::ZERO } else { disk.promised };
        PaxosNode {
            id: id.0,
            n,
            params,
            role: PaxosRole::Follower,
            leader: None,
            highest_seen: promised,
            store,
            applied,
            applied_chain,
            decided_prefix: applied,
            commit_known: applied,
            catch_up_sent: None,
            pending_snapshot: None,
            snapshot_offered: None,
            lease_promise: None,
            volatile_promise: Ballot::ZERO,
            prep: None,
            lead: None,
            election_timer: None,
            election_deadline: Time::ZERO,
            peak_log_len: 0,
        }
    }

    pub fn paxos_role(&self) -> PaxosRole {
        self.role
    }
    pub fn applied(&self) -> u64 {
        self.applied
    }

    fn majority(&self) -> u32 {
        self.n / 2 + 1
    }

    // ---- acceptor: the promise, durable (or volatile, with the bug knob) ----

    fn promised(&self, ctx: &Ctx<'_, Self>) -> Ballot {
        if self.params.bugs.forget_promise {
            self.volatile_promise
        } else {
            ctx.durable().promised
        }
    }

    fn promise(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot) {
        if self.params.bugs.forget_promise {
            self.volatile_promise = ballot;
        } else {
            ctx.durable_mut().promised = ballot;
        }
        self.highest_seen = self.highest_seen.max(ballot);
        ctx.note(PaxosNote::Promised { ballot });
        ctx.observe_max("max_round", ballot.round);
    }

    /// Writes `command` as accepted at `slot` in `ballot`; slots the
    /// snapshot covers are decided and are not written again.
    fn accept_locally(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        slot: u64,
        ballot: Ballot,
        command: SlotCommand,
        id: u64,
    ) -> bool {
        if slot <= ctx.durable().base() {
            ctx.reached("accept for a slot the snapshot covers skipped");
            return false;
        }
        if !ctx.durable_mut().accepted.insert(slot, (ballot, command, id)) {
            ctx.reached("accept too far past the snapshot not stored");
            return false;
        }
        ctx.note(PaxosNote::Accepted { slot, ballot, command: id });
        true
    }

    fn lease_blocks(&self, ctx: &Ctx<'_, Self>, ballot: Ballot) -> bool {
        self.params.read_mode == ReadMode::Lease
            && self.lease_promise.is_some_and(|(holder, until)| holder != ballot && ctx.now() < until)
    }

    fn report_log_len(&mut self, ctx: &mut Ctx<'_, Self>) {
        let len = ctx.durable().len() as u64;
        if len > self.peak_log_len {
            self.peak_log_len = len;
            ctx.observe_max("peak_log_len", len);
        }
    }

    // ---- timers ----

    fn reset_election_timer(&mut self, ctx: &mut Ctx<'_, Self>) {
        let timeout = ctx.random_between(self.params.election_timeout_min, self.params.election_timeout_max);
        let deadline = ctx.now() + timeout;
        if self.election_timer.is_some() && deadline < self.election_deadline {
            if let Some(t) = self.election_timer.take() {
                ctx.cancel_timer(t);
            }
        }
        self.election_deadline = deadline;
        if self.election_timer.is_none() {
            self.election_timer = Some(ctx.set_timer(timeout, PaxosTimer::Election));
        }
    }

    fn arm_heartbeat(&mut self, ctx: &mut Ctx<'_, Self>) {
        let interval = self.params.heartbeat_interval;
        if let Some(lead) = self.lead.as_mut() {
            lead.heartbeat = Some(ctx.set_timer(interval, PaxosTimer::Heartbeat));
        }
    }

    // ---- role changes ----

    /// Leaves leadership or candidacy, `leader` being whom to follow.
    fn step_down(&mut self, ctx: &mut Ctx<'_, Self>, leader: Option<u32>) {
        if let Some(lead) = self.lead.take() {
            if let Some(t) = lead.heartbeat {
                ctx.cancel_timer(t);
            }
            ctx.note(PaxosNote::SteppedDown { ballot: lead.ballot });
            ctx.count("leader_step_downs", 1);
        }
        self.prep = None;
        self.role = PaxosRole::Follower;
        self.leader = leader;
        self.reset_election_timer(ctx);
    }

    /// A ballot above this node's own leadership or candidacy was seen:
    /// stop proposing (a new distinguished proposer takes over).
    fn preempted(&mut self, ctx: &mut Ctx<'_, Self>, by: Ballot) {
        self.highest_seen = self.highest_seen.max(by);
        let mine = self.lead.as_ref().map(|l| l.ballot).or(self.prep.as_ref().map(|p| p.ballot));
        if mine.is_some_and(|b| b < by) {
            match self.role {
                PaxosRole::Leader => ctx.reached("leader preempted by a higher ballot"),
                PaxosRole::Candidate => ctx.reached("candidate preempted by a higher ballot"),
                PaxosRole::Follower => {}
            }
            self.step_down(ctx, None);
        }
    }

    /// Phase 1 for a ballot above every one seen, for all slots from the
    /// first this node does not know decided.
    fn start_election(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.lease_blocks(ctx, Ballot { round: u64::MAX, node: self.id }) {
            // This node's own acceptor still promises a leader its lease:
            // wait it out rather than break the promise.
            ctx.reached("election waits for a lease this node promised");
            let until = self.lease_promise.map_or(ctx.now(), |(_, t)| t);
            self.election_deadline = until;
            self.election_timer = Some(ctx.set_timer(until.since(ctx.now()), PaxosTimer::Election));
            return;
        }
        let round = self.highest_seen.round.max(self.promised(ctx).round) + 1;
        let ballot = Ballot { round, node: self.id };
        self.lead = None;
        self.role = PaxosRole::Candidate;
        self.leader = None;
        ctx.count("elections", 1);
        self.promise(ctx, ballot);
        let from_slot = self.decided_prefix + 1;
        let disk = ctx.durable();
        let reported: BTreeMap<u64, (Ballot, SlotCommand)> =
            disk.accepted.iter_from(from_slot).map(|(s, (b, c, _))| (s, (*b, c.clone()))).collect();
        let base = disk.base();
        let queued = self.prep.take().map(|p| p.queued).unwrap_or_default();
        self.prep =
            Some(Preparing { ballot, from_slot, granted: 1 << self.id, reported, max_base: (base, self.id), queued });
        self.reset_election_timer(ctx);
        if self.majority() == 1 {
            return self.become_leader(ctx);
        }
        ctx.broadcast(Envelope::Peer(PaxosMsg::Prepare { ballot, from_slot }));
    }

    fn on_promise(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: u32,
        ballot: Ballot,
        base: u64,
        accepted: Vec<(u64, Ballot, SlotCommand)>,
    ) {
        let majority = self.majority();
        let Some(prep) = self.prep.as_mut().filter(|p| p.ballot == ballot) else {
            ctx.reached("promise for an abandoned ballot ignored");
            return;
        };
        if prep.granted & (1 << from) != 0 {
            return;
        }
        prep.granted |= 1 << from;
        if base > prep.max_base.0 {
            prep.max_base = (base, from);
        }
        for (slot, b, command) in accepted {
            if slot < prep.from_slot {
                continue;
            }
            match prep.reported.get(&slot) {
                Some((held, _)) if *held >= b => {}
                _ => {
                    prep.reported.insert(slot, (b, command));
                }
            }
        }
        if prep.granted.count_ones() >= majority {
            self.become_leader(ctx);
        }
    }

    /// Phase 1 succeeded: re-propose every value a promise reported (the
    /// highest ballot's at each slot), fill the gaps below the highest with
    /// no-ops, and only then take new commands (Paxos Made Simple, §3).
    fn become_leader(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(prep) = self.prep.take() else { return };
        let ballot = prep.ballot;
        self.role = PaxosRole::Leader;
        self.leader = Some(self.id);
        if let Some(t) = self.election_timer.take() {
            ctx.cancel_timer(t);
        }
        ctx.count("leaders_elected", 1);
        ctx.note(PaxosNote::BecameLeader { ballot });
        // Slots up to the highest snapshot base a promise reported are
        // decided: never proposed again, learned by catching up.
        let start_slot = prep.from_slot.max(prep.max_base.0 + 1);
        if prep.max_base.0 >= prep.from_slot {
            ctx.reached("new leader finds slots decided in a peer's snapshot");
        }
        let top = prep.reported.keys().next_back().copied().unwrap_or(0).max(start_slot - 1);
        let n = self.n as usize;
        let now = ctx.now();
        self.lead = Some(Leading {
            ballot,
            start_slot,
            catch_up_peer: prep.max_base.1,
            recovered_upto: start_slot - 1,
            next_slot: start_slot,
            sent_upto: vec![start_slot; n],
            busy_until: vec![0; n],
            proposals: BTreeMap::new(),
            replies: BTreeMap::new(),
            queue: VecDeque::new(),
            round: 0,
            round_sent: VecDeque::new(),
            acked_round: vec![0; n],
            last_ack: vec![now; n],
            lease_until: None,
            heartbeat: None,
            scratch: Vec::with_capacity(n),
        });
        if self.params.bugs.skip_reproposal {
            // Bug: new commands go straight into the first slot this node
            // does not know decided, whatever Phase 1 reported there.
            if !prep.reported.is_empty() {
                ctx.reached("new leader skipped values Phase 1 reported");
            }
        } else {
            for slot in start_slot..=top {
                let command = match prep.reported.get(&slot) {
                    Some((_, command)) => {
                        ctx.reached("new leader re-proposes a reported value");
                        command.clone()
                    }
                    None => {
                        ctx.reached("new leader fills a gap with a no-op");
                        SlotCommand::Noop
                    }
                };
                self.propose(ctx, command);
            }
            if let Some(lead) = self.lead.as_mut() {
                lead.recovered_upto = top;
            }
        }
        self.commit_known = self.commit_known.max(start_slot - 1);
        if prep.max_base.0 > self.decided_prefix {
            self.catch_up_sent = None;
            self.request_catch_up(ctx, prep.max_base.1);
        }
        self.flush_accepts(ctx);
        self.send_heartbeats(ctx);
        self.arm_heartbeat(ctx);
        for (client, request) in prep.queued {
            self.on_client(ctx, client, request);
        }
    }

    // ---- leader: Phase 2 ----

    /// Puts `command` in the next slot and accepts it locally; the Accept
    /// goes out with the next flush.
    fn propose(&mut self, ctx: &mut Ctx<'_, Self>, command: SlotCommand) -> Option<u64> {
        let (ballot, slot) = {
            let lead = self.lead.as_mut()?;
            let slot = lead.next_slot;
            lead.next_slot += 1;
            (lead.ballot, slot)
        };
        let id = command.id();
        ctx.note(PaxosNote::Proposed { slot, ballot, command: id });
        let stored = self.accept_locally(ctx, slot, ballot, command.clone(), id);
        let (now, true_now) = (ctx.now(), ctx.true_now());
        let acks = if stored { 1 << self.id } else { 0 };
        if let Some(lead) = self.lead.as_mut() {
            lead.proposals.insert(slot, Proposal { command, id, acks, sent_at: now, proposed_at: true_now });
        }
        self.report_log_len(ctx);
        if self.majority() == 1 {
            self.on_accepted(ctx, self.id, ballot, slot, 1);
        }
        Some(slot)
    }

    /// Sends every idle peer the proposals it has not been sent.
    fn flush_accepts(&mut self, ctx: &mut Ctx<'_, Self>) {
        for peer in 0..self.n {
            if peer != self.id {
                self.send_accepts(ctx, peer);
            }
        }
    }

    /// Sends `peer`, unless it has an Accept unanswered, the next run of
    /// consecutive proposals it has not been sent (at most
    /// `max_accept_batch`). Slots decided meanwhile are skipped: the peer
    /// learns them from `commit`, or by catching up.
    fn send_accepts(&mut self, ctx: &mut Ctx<'_, Self>, peer: u32) {
        let batch = self.params.max_accept_batch;
        let commit = self.decided_prefix;
        let p = peer as usize;
        let Some(lead) = self.lead.as_mut() else { return };
        if lead.busy_until[p] != 0 || lead.sent_upto[p] >= lead.next_slot {
            return;
        }
        // The first proposal not yet sent, and the consecutive ones after it.
        let mut run = lead.proposals.range(lead.sent_upto[p]..);
        let Some((&first, proposal)) = run.next() else {
            lead.sent_upto[p] = lead.next_slot;
            return;
        };
        let mut commands = vec![proposal.command.clone()];
        for ((&slot, proposal), want) in run.zip(first + 1..) {
            if slot != want || commands.len() >= batch {
                break;
            }
            commands.push(proposal.command.clone());
        }
        let last = first + commands.len() as u64 - 1;
        lead.sent_upto[p] = last + 1;
        lead.busy_until[p] = last;
        let msg = PaxosMsg::Accept { ballot: lead.ballot, first_slot: first, commands, commit };
        ctx.send(Addr::node(peer), Envelope::Peer(msg));
    }

    /// Sends again proposals unanswered for a heartbeat interval, to the
    /// peers that have not accepted them (at most `max_accept_batch` slots
    /// per heartbeat).
    fn resend_stale(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        let interval = self.params.heartbeat_interval;
        let batch = self.params.max_accept_batch;
        let commit = self.decided_prefix;
        let (n, all) = (self.n, (1u64 << self.n) - 1);
        let Some(lead) = self.lead.as_mut() else { return };
        let stale: Vec<u64> = lead
            .proposals
            .iter()
            .filter(|(_, p)| now.since(p.sent_at) >= interval)
            .map(|(&s, _)| s)
            .take(batch)
            .collect();
        if stale.is_empty() {
            return;
        }
        ctx.reached("unanswered accepts sent again");
        // Consecutive runs, each to the peers missing from any of its slots.
        let mut i = 0;
        while i < stale.len() {
            let mut j = i + 1;
            while j < stale.len() && stale[j] == stale[j - 1] + 1 {
                j += 1;
            }
            let run = &stale[i..j];
            let mut missing = 0u64;
            let mut commands = Vec::with_capacity(run.len());
            for slot in run {
                if let Some(p) = lead.proposals.get_mut(slot) {
                    missing |= all & !p.acks;
                    p.sent_at = now;
                    commands.push(p.command.clone());
                }
            }
            let msg = PaxosMsg::Accept { ballot: lead.ballot, first_slot: run[0], commands, commit };
            let to: Vec<Addr> = (0..n).filter(|&p| missing & (1 << p) != 0).map(Addr::node).collect();
            ctx.send_many(to, Envelope::Peer(msg));
            i = j;
        }
    }

    fn on_accepted(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, ballot: Ballot, first_slot: u64, count: u64) {
        let majority = self.majority();
        let now = ctx.now();
        // An acknowledgement usually settles a slot or two: kept inline.
        let mut chosen: SmallVec<[(u64, Proposal); 2]> = SmallVec::new();
        {
            let Some(lead) = self.lead.as_mut().filter(|l| l.ballot == ballot) else { return };
            lead.last_ack[from as usize] = now;
            let busy = &mut lead.busy_until[from as usize];
            if *busy != 0 && first_slot + count > *busy {
                *busy = 0;
            }
            for slot in first_slot..first_slot + count {
                let Some(p) = lead.proposals.get_mut(&slot) else { continue };
                p.acks |= 1 << from;
                if p.acks.count_ones() >= majority {
                    if let Some(p) = lead.proposals.remove(&slot) {
                        chosen.push((slot, p));
                    }
                }
            }
        }
        if from != self.id {
            self.send_accepts(ctx, from);
        }
        if chosen.is_empty() {
            return;
        }
        let true_now = ctx.true_now();
        for (slot, p) in chosen {
            ctx.record("decide_latency_us", true_now.since(p.proposed_at).as_nanos() / 1_000);
            self.decide(ctx, slot, p.command, p.id);
        }
        self.advance(ctx);
        self.fill_pipeline(ctx);
    }

    /// Proposes queued requests while the pipeline has room.
    fn fill_pipeline(&mut self, ctx: &mut Ctx<'_, Self>) {
        loop {
            let max = self.params.max_in_flight;
            let Some(lead) = self.lead.as_mut() else { return };
            if lead.proposals.len() >= max {
                break;
            }
            let Some((client, request)) = lead.queue.pop_front() else { break };
            self.propose_request(ctx, client, request);
        }
        self.flush_accepts(ctx);
    }

    fn propose_request(&mut self, ctx: &mut Ctx<'_, Self>, client: Addr, request: Request) {
        // Registered before proposing: in a one-node cluster the slot is
        // decided and applied inside `propose`.
        let Some(lead) = self.lead.as_mut() else { return };
        lead.replies.insert(lead.next_slot, (client, request.op));
        self.propose(ctx, SlotCommand::Client(request));
    }

    // ---- learner ----

    /// Holds `command` as decided at `slot` (written to disk first).
    fn decide(&mut self, ctx: &mut Ctx<'_, Self>, slot: u64, command: SlotCommand, id: u64) {
        if slot <= self.decided_prefix || ctx.durable().decided.contains(slot) {
            return;
        }
        if !ctx.durable_mut().decided.insert(slot, (command, id)) {
            // Too far ahead to hold: learned again by catching up.
            return;
        }
        ctx.note(PaxosNote::Decided { slot, command: id });
        if self.params.bugs.apply_out_of_order && slot > self.applied + 1 {
            // Bug: apply what is decided now, not waiting for the slots below.
            ctx.reached("slot applied before the slots below it were decided");
            self.apply_slot(ctx, slot);
            ctx.count("applied", 1);
        }
    }

    /// Moves the decided prefix over the slots decided since, and applies
    /// them in slot order.
    fn advance(&mut self, ctx: &mut Ctx<'_, Self>) {
        let disk = ctx.durable();
        while disk.decided.contains(self.decided_prefix + 1) {
            self.decided_prefix += 1;
        }
        self.decided_prefix = self.decided_prefix.max(self.applied);
        let mut applied = 0;
        while self.applied < self.decided_prefix {
            let slot = self.applied + 1;
            if !ctx.durable().decided.contains(slot) {
                break;
            }
            self.apply_slot(ctx, slot);
            applied += 1;
        }
        if applied > 0 {
            ctx.count("applied", applied);
        }
        self.maybe_snapshot(ctx);
        self.report_log_len(ctx);
    }

    fn apply_slot(&mut self, ctx: &mut Ctx<'_, Self>, slot: u64) {
        let Some((command, id)) = ctx.durable().decided.get(slot).cloned() else { return };
        let result = match &command {
            SlotCommand::Noop => None,
            SlotCommand::Client(request) => {
                let applied = self.store.apply_request(request, !self.params.bugs.no_dedup);
                match applied {
                    Applied::Cached(_) => ctx.reached("retried client request answered from its session"),
                    Applied::Acknowledged => ctx.reached("late duplicate of an acknowledged request ignored"),
                    Applied::Executed(_) => {}
                }
                applied.result().map(|r| (request.op, r))
            }
        };
        self.applied = slot;
        self.applied_chain = chain_id(self.applied_chain, id);
        ctx.note(PaxosNote::Applied { slot, chain: self.applied_chain, state: self.store.digest() });
        let Some(lead) = self.lead.as_mut() else { return };
        // Replies for slots at or below this one are settled: answered now,
        // or (skipped by a bug) never.
        while let Some((&s, _)) = lead.replies.first_key_value() {
            if s > slot {
                break;
            }
            let Some((_, (client, waiting))) = lead.replies.pop_first() else { break };
            if let Some((op, result)) = result.clone().filter(|(op, _)| s == slot && *op == waiting) {
                ctx.send(client, Envelope::Reply(Reply::Done { op, result }));
            }
        }
    }

    /// What a leader's `commit` teaches: slots up to it are decided with the
    /// value this ballot proposed there, which an acceptor that accepted in
    /// that ballot holds. Anything else is fetched from the leader.
    fn learn_commit(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, ballot: Ballot, commit: u64) {
        self.commit_known = self.commit_known.max(commit);
        let mut slot = self.decided_prefix + 1;
        while slot <= commit {
            let disk = ctx.durable();
            if !disk.decided.contains(slot) {
                match disk.accepted.get(slot) {
                    Some((b, command, id)) if *b == ballot => {
                        let (command, id) = (command.clone(), *id);
                        self.decide(ctx, slot, command, id);
                    }
                    _ => break,
                }
            }
            slot += 1;
        }
        self.advance(ctx);
        if self.decided_prefix < commit {
            self.request_catch_up(ctx, from);
        }
    }

    fn request_catch_up(&mut self, ctx: &mut Ctx<'_, Self>, peer: u32) {
        let now = ctx.now();
        if self.catch_up_sent.is_some_and(|t| now.since(t) < self.params.heartbeat_interval) {
            return;
        }
        self.catch_up_sent = Some(now);
        ctx.reached("lagging learner asks to catch up");
        let msg = PaxosMsg::CatchUp { from_slot: self.decided_prefix + 1 };
        ctx.send(Addr::node(peer), Envelope::Peer(msg));
    }

    /// Any node answers a catch-up from what it holds: its snapshot if the
    /// slots asked for are compacted, else up to `max_catchup_batch`
    /// consecutive decided slots.
    fn on_catch_up(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, from_slot: u64) {
        let disk = ctx.durable();
        if from_slot <= disk.base() {
            if let Some(snapshot) = disk.snapshot.clone() {
                ctx.reached("catch-up answered with a snapshot");
                ctx.count("snapshots_sent", 1);
                ctx.send(Addr::node(from), Envelope::Peer(PaxosMsg::InstallSnapshot { snapshot }));
            }
            return;
        }
        // Consecutive decided slots from `from_slot`, at most a batch.
        let commands: Vec<SlotCommand> = (from_slot..)
            .zip(disk.decided.iter_from(from_slot))
            .take_while(|(want, (slot, _))| want == slot)
            .take(self.params.max_catchup_batch)
            .map(|(_, (_, (command, _)))| command.clone())
            .collect();
        if commands.is_empty() {
            return;
        }
        ctx.reached("catch-up answered with decided slots");
        ctx.send(Addr::node(from), Envelope::Peer(PaxosMsg::Decisions { first_slot: from_slot, commands }));
    }

    fn on_decisions(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, first_slot: u64, commands: Vec<SlotCommand>) {
        for (k, command) in commands.into_iter().enumerate() {
            let id = command.id();
            self.decide(ctx, first_slot + k as u64, command, id);
        }
        self.advance(ctx);
        self.catch_up_sent = None;
        if self.decided_prefix < self.commit_known {
            self.request_catch_up(ctx, from);
        }
        self.after_catch_up(ctx);
    }

    fn on_install_snapshot(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, snapshot: Arc<Snapshot>) {
        let last = snapshot.last_slot;
        if last <= self.applied {
            ctx.reached("snapshot not past the applied slot ignored");
            return;
        }
        if ctx.durable().decided.iter_from(last + 1).next().is_some() {
            ctx.reached("snapshot installed beside later decided slots");
        }
        self.store = snapshot.store.clone();
        self.applied = last;
        self.applied_chain = snapshot.chain;
        self.decided_prefix = self.decided_prefix.max(last);
        if self.pending_snapshot.as_ref().is_some_and(|(s, _, _)| *s <= last) {
            self.pending_snapshot = None;
        }
        let note =
            PaxosNote::Compacted { slot: last, chain: snapshot.chain, state: self.store.digest(), installed: true };
        ctx.durable_mut().compact(snapshot);
        ctx.note(note);
        ctx.count("snapshots_installed", 1);
        self.catch_up_sent = None;
        if let Some(lead) = self.lead.as_mut() {
            // Slots the snapshot covers are decided: this leader's proposals
            // there (the same values, by Phase 1) no longer wait for
            // acceptances, and nothing new goes below its end.
            let before = lead.proposals.len();
            lead.proposals.retain(|&slot, _| slot > last);
            // Their clients retry and are answered from the sessions the
            // snapshot carries.
            lead.replies.retain(|&slot, _| slot > last);
            if lead.proposals.len() < before {
                ctx.reached("leader learns its proposals decided from a snapshot");
            }
            lead.next_slot = lead.next_slot.max(last + 1);
            lead.recovered_upto = lead.recovered_upto.max(last);
            for (sent, busy) in lead.sent_upto.iter_mut().zip(lead.busy_until.iter_mut()) {
                *sent = (*sent).max(last + 1);
                if *busy <= last {
                    *busy = 0;
                }
            }
        }
        self.advance(ctx);
        if self.decided_prefix < self.commit_known {
            self.request_catch_up(ctx, from);
        }
        self.after_catch_up(ctx);
    }

    /// A leader that caught up over slots Phase 1 found decided elsewhere
    /// may now apply what it decided after them.
    fn after_catch_up(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.lead.is_some() {
            self.fill_pipeline(ctx);
        }
    }

    fn maybe_snapshot(&mut self, ctx: &mut Ctx<'_, Self>) {
        let every = self.params.snapshot_every;
        if every == 0 {
            return;
        }
        let base = ctx.durable().base();
        match self.pending_snapshot.take() {
            None if self.applied >= base + every => {
                ctx.reached("snapshot state captured");
                self.pending_snapshot = Some((self.applied, self.applied_chain, self.store.clone()));
            }
            // The log keeps half an interval past the snapshot, so a slightly
            // lagging learner catches up from decided slots.
            Some((slot, chain, store)) if self.applied >= slot + every / 2 && slot > base => {
                ctx.reached("log compacted into a snapshot");
                let state = store.digest();
                ctx.durable_mut().compact(Arc::new(Snapshot { last_slot: slot, chain, store }));
                ctx.note(PaxosNote::Compacted { slot, chain, state, installed: false });
                ctx.count("snapshots", 1);
            }
            other => self.pending_snapshot = other.filter(|(slot, _, _)| *slot > base),
        }
    }

    // ---- leader: heartbeats and leases ----

    fn send_heartbeats(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now();
        let commit = self.decided_prefix;
        let Some(lead) = self.lead.as_mut() else { return };
        lead.round += 1;
        let (ballot, round) = (lead.ballot, lead.round);
        lead.round_sent.push_back((round, now));
        while lead.round_sent.len() > MAX_ROUNDS_REMEMBERED {
            lead.round_sent.pop_front();
        }
        if self.params.read_mode == ReadMode::Lease {
            // The leader's own acceptor promises its lease too.
            self.lease_promise = Some((ballot, now + self.params.lease_duration));
        }
        ctx.broadcast(Envelope::Peer(PaxosMsg::Heartbeat { ballot, commit, round }));
        if self.majority() == 1 {
            self.on_heartbeat_ack(ctx, self.id, ballot, round);
        }
    }

    fn on_heartbeat_ack(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, ballot: Ballot, round: u64) {
        let now = ctx.now();
        let (id, majority) = (self.id as usize, self.majority() as usize);
        let lease_local = self.params.lease_local();
        let lease = self.params.read_mode == ReadMode::Lease;
        let Some(lead) = self.lead.as_mut().filter(|l| l.ballot == ballot) else { return };
        let f = from as usize;
        lead.acked_round[f] = lead.acked_round[f].max(round);
        lead.last_ack[f] = now;
        if !lease {
            return;
        }
        let Leading { scratch, acked_round, round: current, round_sent, lease_until, .. } = lead;
        scratch.clear();
        scratch.extend_from_slice(acked_round);
        scratch[id] = *current;
        scratch.sort_unstable_by(|a, b| b.cmp(a));
        let confirmed = scratch[majority - 1];
        if let Some(&(_, sent)) = round_sent.iter().find(|(r, _)| *r == confirmed) {
            let until = sent + lease_local;
            if lease_until.is_none_or(|t| until > t) {
                *lease_until = Some(until);
            }
        }
    }

    fn on_heartbeat_timer(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.role != PaxosRole::Leader {
            return;
        }
        // Without a majority heard for an election timeout, stop leading:
        // clients are redirected instead of waiting on a leader that cannot
        // decide anything.
        let now = ctx.now();
        let window = self.params.election_timeout_max;
        let (id, majority) = (self.id as usize, self.majority() as usize);
        if let Some(lead) = self.lead.as_ref() {
            let alive = lead.last_ack.iter().enumerate().filter(|&(f, &t)| f == id || now.since(t) <= window).count();
            if alive < majority {
                ctx.count("quorum_lost_step_downs", 1);
                ctx.reached("leader steps down: no majority heard");
                return self.step_down(ctx, None);
            }
        }
        self.send_heartbeats(ctx);
        self.resend_stale(ctx);
        // An Accept unanswered for a whole heartbeat interval is presumed
        // lost: its peer gets new slots again.
        if let Some(lead) = self.lead.as_mut() {
            lead.busy_until.iter_mut().for_each(|b| *b = 0);
        }
        self.flush_accepts(ctx);
        self.retry_leader_catch_up(ctx);
        self.arm_heartbeat(ctx);
    }

    /// A leader still missing slots below its first one asks again, each
    /// time another peer (the one asked may have crashed or lost the
    /// request).
    fn retry_leader_catch_up(&mut self, ctx: &mut Ctx<'_, Self>) {
        let (id, n, prefix) = (self.id, self.n, self.decided_prefix);
        let Some(lead) = self.lead.as_mut() else { return };
        if prefix + 1 >= lead.start_slot {
            return;
        }
        let mut peer = (lead.catch_up_peer + 1) % n;
        if peer == id {
            peer = (peer + 1) % n;
        }
        lead.catch_up_peer = peer;
        ctx.reached("leader asks again for slots below its first");
        self.request_catch_up(ctx, peer);
    }

    fn lease_valid(&self, ctx: &Ctx<'_, Self>) -> bool {
        let now = ctx.now();
        self.lead.as_ref().is_some_and(|l| l.lease_until.is_some_and(|t| now < t))
    }

    // ---- handlers ----

    fn on_client(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, request: Request) {
        match self.role {
            PaxosRole::Follower => {
                let leader = self.leader.map(NodeId);
                if leader.is_some() {
                    ctx.reached("client redirected to the leader");
                } else {
                    ctx.reached("client redirected with no leader known");
                }
                ctx.send(from, Envelope::Reply(Reply::Redirect { op: request.op, leader }));
            }
            PaxosRole::Candidate => {
                if let Some(prep) = self.prep.as_mut() {
                    if prep.queued.len() < MAX_QUEUED_REQUESTS {
                        ctx.reached("request waits for Phase 1");
                        prep.queued.push_back((from, request));
                    }
                }
            }
            PaxosRole::Leader => self.lead_client(ctx, from, request),
        }
    }

    fn lead_client(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, request: Request) {
        if let Command::Get { key } = request.command {
            if self.params.bugs.local_reads {
                // Bug: answer from local state, no lease, no log.
                let result = KvResult::Read(self.store.get(key));
                ctx.send(from, Envelope::Reply(Reply::Done { op: request.op, result }));
                return;
            }
            if self.params.read_mode == ReadMode::Lease {
                let recovered = self.lead.as_ref().is_some_and(|l| self.applied >= l.recovered_upto);
                if self.lease_valid(ctx) && recovered {
                    ctx.reached("lease read served locally");
                    ctx.count("lease_reads", 1);
                    let result = KvResult::Read(self.store.get(key));
                    ctx.send(from, Envelope::Reply(Reply::Done { op: request.op, result }));
                    return;
                }
                ctx.reached("lease read goes through the log: no lease in force");
            }
        }
        let max = self.params.max_in_flight;
        let Some(lead) = self.lead.as_mut() else { return };
        // A retry of an operation still in the pipeline waits for it.
        if let Some(waiting) = lead.replies.values_mut().find(|(_, op)| *op == request.op) {
            waiting.0 = from;
            ctx.reached("retry of an operation still in flight waits for it");
            return;
        }
        if lead.proposals.len() >= max || !lead.queue.is_empty() {
            if lead.queue.len() >= MAX_QUEUED_REQUESTS {
                ctx.count("requests_shed", 1);
                return;
            }
            ctx.reached("request waits for room in the pipeline");
            lead.queue.push_back((from, request));
            return;
        }
        self.propose_request(ctx, from, request);
        self.flush_accepts(ctx);
    }

    fn on_prepare(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, ballot: Ballot, from_slot: u64) {
        self.highest_seen = self.highest_seen.max(ballot);
        if self.lease_blocks(ctx, ballot) {
            ctx.reached("prepare refused: a lease is in force");
            return;
        }
        let promised = self.promised(ctx);
        if ballot < promised {
            ctx.reached("prepare below the promise refused");
            let msg = PaxosMsg::Nack { ballot, promised };
            return ctx.send(Addr::node(from), Envelope::Peer(msg));
        }
        if ballot > promised {
            self.promise(ctx, ballot);
        }
        self.preempted(ctx, ballot);
        if self.role == PaxosRole::Follower && self.leader.is_some_and(|l| l != from) {
            self.leader = None;
        }
        self.reset_election_timer(ctx);
        let disk = ctx.durable();
        let base = disk.base();
        let accepted: Vec<(u64, Ballot, SlotCommand)> =
            disk.accepted.iter_from(from_slot.max(base + 1)).map(|(s, (b, c, _))| (s, *b, c.clone())).collect();
        ctx.send(Addr::node(from), Envelope::Peer(PaxosMsg::Promise { ballot, base, accepted }));
    }

    /// An Accept or Heartbeat from `ballot`'s leader, at or above the
    /// promise: follow it.
    fn follow(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot) {
        self.preempted(ctx, ballot);
        if self.role == PaxosRole::Candidate {
            // Another proposer's ballot at or above ours leads.
            self.step_down(ctx, Some(ballot.node));
        }
        self.leader = Some(ballot.node);
        self.reset_election_timer(ctx);
    }

    fn on_accept(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: u32,
        ballot: Ballot,
        first_slot: u64,
        commands: Vec<SlotCommand>,
        commit: u64,
    ) {
        let promised = self.promised(ctx);
        let below = ballot < promised;
        if below && !self.params.bugs.accept_below_promise {
            ctx.reached("accept below the promise refused");
            let msg = PaxosMsg::Nack { ballot, promised };
            return ctx.send(Addr::node(from), Envelope::Peer(msg));
        }
        if ballot > promised {
            self.promise(ctx, ballot);
        }
        if !below {
            self.follow(ctx, ballot);
        }
        let mut first_stored = None;
        let count = commands.len() as u64;
        let compacted = first_slot <= ctx.durable().base();
        for (k, command) in commands.into_iter().enumerate() {
            let slot = first_slot + k as u64;
            let id = command.id();
            if self.accept_locally(ctx, slot, ballot, command, id) && first_stored.is_none() {
                first_stored = Some(slot);
            }
        }
        self.report_log_len(ctx);
        if let Some(first) = first_stored {
            let msg = PaxosMsg::Accepted { ballot, first_slot: first, count: first_slot + count - first };
            ctx.send(Addr::node(from), Envelope::Peer(msg));
        }
        if compacted && !below && from != self.id {
            self.offer_snapshot(ctx, from);
        }
        if !below {
            self.learn_commit(ctx, from, ballot, commit);
        }
    }

    /// The leader proposes in slots this acceptor has compacted: they are
    /// decided, and it cannot answer them with an Accepted. A leader that
    /// does not know (its Phase 1 majority held older snapshots) would wait
    /// for acceptances that never come, so the acceptor sends it the
    /// snapshot instead (at most once per heartbeat interval).
    fn offer_snapshot(&mut self, ctx: &mut Ctx<'_, Self>, leader: u32) {
        let now = ctx.now();
        if self.snapshot_offered.is_some_and(|t| now.since(t) < self.params.heartbeat_interval) {
            return;
        }
        let Some(snapshot) = ctx.durable().snapshot.clone() else { return };
        self.snapshot_offered = Some(now);
        ctx.reached("accept for compacted slots answered with the snapshot");
        ctx.count("snapshots_sent", 1);
        ctx.send(Addr::node(leader), Envelope::Peer(PaxosMsg::InstallSnapshot { snapshot }));
    }

    fn on_heartbeat(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, ballot: Ballot, commit: u64, round: u64) {
        let promised = self.promised(ctx);
        if ballot < promised {
            let msg = PaxosMsg::Nack { ballot, promised };
            return ctx.send(Addr::node(from), Envelope::Peer(msg));
        }
        self.follow(ctx, ballot);
        if self.params.read_mode == ReadMode::Lease {
            self.lease_promise = Some((ballot, ctx.now() + self.params.lease_duration));
        }
        ctx.send(Addr::node(from), Envelope::Peer(PaxosMsg::HeartbeatAck { ballot, round }));
        self.learn_commit(ctx, from, ballot, commit);
    }

    fn on_nack(&mut self, ctx: &mut Ctx<'_, Self>, promised: Ballot) {
        self.highest_seen = self.highest_seen.max(promised);
        let mine = self.lead.as_ref().map(|l| l.ballot).or(self.prep.as_ref().map(|p| p.ballot));
        if mine.is_some_and(|b| b < promised) {
            ctx.reached("proposer learns of a higher ballot from a nack");
            self.step_down(ctx, Some(promised.node).filter(|&n| n != self.id));
        }
    }
}

impl Process for PaxosNode {
    type Msg = KvMsg<PaxosMsg>;
    type Timer = PaxosTimer;
    type Durable = PaxosDisk;
    type Note = PaxosNote;

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if ctx.durable().snapshot.is_some() {
            ctx.reached("node restarts from a snapshot");
        }
        if !ctx.durable().decided.is_empty() {
            ctx.reached("node restarts with decided slots on disk");
        }
        if self.params.read_mode == ReadMode::Lease {
            // A lease this node promised before a crash is still in force
            // for all it knows: promise nobody anything for a lease period.
            self.lease_promise = Some((Ballot::ZERO, ctx.now() + self.params.lease_duration));
        }
        self.advance(ctx);
        self.reset_election_timer(ctx);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: KvMsg<PaxosMsg>) {
        let msg = match msg {
            Envelope::Peer(msg) => msg,
            Envelope::Request(request) => return self.on_client(ctx, from, request),
            Envelope::Reply(_) => return,
        };
        let Addr::Node(peer) = from else { return };
        let p = peer.0;
        match msg {
            PaxosMsg::Prepare { ballot, from_slot } => self.on_prepare(ctx, p, ballot, from_slot),
            PaxosMsg::Promise { ballot, base, accepted } => self.on_promise(ctx, p, ballot, base, accepted),
            PaxosMsg::Accept { ballot, first_slot, commands, commit } => {
                self.on_accept(ctx, p, ballot, first_slot, commands, commit)
            }
            PaxosMsg::Accepted { ballot, first_slot, count } => self.on_accepted(ctx, p, ballot, first_slot, count),
            PaxosMsg::Nack { promised, .. } => self.on_nack(ctx, promised),
            PaxosMsg::Heartbeat { ballot, commit, round } => self.on_heartbeat(ctx, p, ballot, commit, round),
            PaxosMsg::HeartbeatAck { ballot, round } => self.on_heartbeat_ack(ctx, p, ballot, round),
            PaxosMsg::CatchUp { from_slot } => self.on_catch_up(ctx, p, from_slot),
            PaxosMsg::Decisions { first_slot, commands } => self.on_decisions(ctx, p, first_slot, commands),
            PaxosMsg::InstallSnapshot { snapshot } => self.on_install_snapshot(ctx, p, snapshot),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: PaxosTimer) {
        match timer {
            PaxosTimer::Election => {
                self.election_timer = None;
                if self.role == PaxosRole::Leader {
                    return;
                }
                let now = ctx.now();
                if now < self.election_deadline {
                    let rest = self.election_deadline.since(now);
                    self.election_timer = Some(ctx.set_timer(rest, PaxosTimer::Election));
                    return;
                }
                if self.role == PaxosRole::Candidate {
                    ctx.reached("phase 1 timed out: a new ballot");
                }
                self.start_election(ctx);
            }
            PaxosTimer::Heartbeat => self.on_heartbeat_timer(ctx),
        }
    }

    fn role(&self) -> Role {
        match self.role {
            PaxosRole::Follower => "follower",
            PaxosRole::Candidate => "candidate",
            PaxosRole::Leader => "leader",
        }
    }
}
