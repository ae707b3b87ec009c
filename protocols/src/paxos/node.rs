//! The Paxos node: a sans-I/O state machine playing every role it has. Each
//! node is an acceptor and a learner; nodes `0..proposers` are also
//! proposers. Role behaviour lives in `propose_*` (proposer), `accept_*`
//! (acceptor) and `learn_*` (learner) methods. What must survive a crash —
//! each key's promise and accepted (ballot, value), and the highest round
//! this node has used as a proposer — lives in [`PaxosDisk`], written before
//! any message that depends on it is sent.

use std::collections::BTreeMap;
use std::sync::Arc;

use faultline_sim::{Addr, Ctx, Duration, NodeId, Process, Role, Time, TimerId};

use super::acceptor::{self, AcceptReply, AcceptorState, PrepareReply};
use super::ballot::Ballot;
use super::messages::PaxosMsg;
use super::Params;
use crate::client::Envelope;
use crate::kv::{Command, Key, KvMsg, KvResult, OpId, Reply, Request, Value};

/// The most instances one proposer runs at once; requests for further keys
/// are dropped (their clients time out and retry). Clients × concurrency
/// stays far below it in every shipped scenario.
pub const MAX_INSTANCES: usize = 10_000;
/// The most clients one instance answers; a request beyond it is dropped.
pub const MAX_WAITERS: usize = 1_024;
/// The most ballots one instance tries before it gives up (its clients time
/// out; a retry starts a fresh instance).
pub const MAX_BALLOTS_PER_INSTANCE: u32 = 1_000;
/// How far timed-out phases raise the phase timeout: at most this many
/// times the configured one (and never past [`super::MAX_PHASE_DURATION`]).
pub const MAX_TIMEOUT_FACTOR: u64 = 64;

/// What survives a crash.
#[derive(Clone, Debug, Default)]
pub struct PaxosDisk {
    /// Per key: the acceptor's promise and accepted (ballot, value).
    pub acceptor: BTreeMap<Key, AcceptorState>,
    /// The highest round this node has put in a ballot: a restarted proposer
    /// starts above it, so it never reuses a ballot with another value.
    pub last_round: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum PaxosTimer {
    /// The phase of `ballot` for `key` gathered no majority in time.
    Phase { key: Key, ballot: Ballot },
    /// The back-off after `ballot` was preempted is over: try a new one.
    Retry { key: Key, ballot: Ballot },
}

/// Facts reported to the invariant monitor.
#[derive(Clone, Debug)]
pub enum PaxosNote {
    /// A proposer took a client's value for `key` as its own.
    Proposed { key: Key, value: Value },
    /// A proposer started Phase 1 with `ballot`.
    BallotStarted { key: Key, ballot: Ballot },
    /// An acceptor's promise for `key` is now `ballot`.
    Promised { key: Key, ballot: Ballot },
    /// An acceptor accepted `(ballot, value)`; `promise` is its promise after.
    Accepted { key: Key, ballot: Ballot, value: Value, promise: Ballot },
    /// A learner learned that `value` is chosen for `key`.
    Learned { key: Key, value: Value },
    /// This node sent `count` peer messages about `key`.
    Sent { key: Key, count: u32 },
}

/// A client to answer once the instance ends.
#[derive(Clone, Copy, Debug)]
struct Waiter {
    client: Addr,
    op: OpId,
    read: bool,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Phase 1: promises so far (a bit per acceptor), the highest-ballot
    /// value they reported, and the first one reported (bug knob
    /// `adopt_first_reported`).
    Preparing { promises: u64, highest: Option<(Ballot, Value)>, first: Option<(Ballot, Value)> },
    /// Phase 2: Accepts sent, waiting to learn the decision.
    Accepting,
    /// Preempted: waiting out a back-off before a new ballot.
    BackingOff,
}

/// A proposer's state for one key, dropped once the key is decided.
struct Instance {
    ballot: Ballot,
    phase: Phase,
    /// The first client value proposed here (none while only reads wait).
    own: Option<Value>,
    waiters: Vec<Waiter>,
    ballots: u32,
    timer: Option<TimerId>,
    /// When the current phase started (this node's clock).
    phase_started: Time,
}

pub struct PaxosNode {
    id: u32,
    n: u32,
    params: Arc<Params>,
    /// Learner: decided keys and their values.
    learned: BTreeMap<Key, Value>,
    /// Learner: per undecided key, the latest acceptance heard from each
    /// acceptor (the highest ballot), dropped once the key is decided.
    tallies: BTreeMap<Key, Vec<Option<(Ballot, Value)>>>,
    /// Proposer: the instance running per key.
    instances: BTreeMap<Key, Instance>,
    /// The highest round seen in any ballot, so a new ballot starts above it.
    highest_round_seen: u64,
    /// Bug knob `forget_promise`: promises kept here instead of on disk.
    volatile_promises: BTreeMap<Key, Ballot>,
    /// The phase timeout in use (see [`Params::phase_timeout`]), and the
    /// smoothed time phases took to complete.
    phase_timeout: Duration,
    smoothed_phase: Option<Duration>,
    /// When a timed-out phase last raised `phase_timeout`: it rises at most
    /// once per timeout, however many instances time out together.
    timeout_raised_at: Option<Time>,
}

impl PaxosNode {
    /// Builds a node from its durable state: a fresh disk at the start, the
    /// surviving one after a crash. Learned decisions are not kept: a
    /// restarted node learns a key again when it next runs Phase 1 for it.
    pub fn recover(id: NodeId, n: u32, params: Arc<Params>, disk: &PaxosDisk) -> PaxosNode {
        PaxosNode {
            id: id.0,
            n,
            learned: BTreeMap::new(),
            tallies: BTreeMap::new(),
            instances: BTreeMap::new(),
            highest_round_seen: disk.last_round,
            volatile_promises: BTreeMap::new(),
            phase_timeout: params.phase_timeout,
            smoothed_phase: None,
            timeout_raised_at: None,
            params,
        }
    }

    pub fn is_proposer(&self) -> bool {
        self.id < self.params.proposers
    }

    /// What this node has learned about `key`.
    pub fn learned(&self, key: Key) -> Option<Value> {
        self.learned.get(&key).copied()
    }

    fn majority(&self) -> u32 {
        self.n / 2 + 1
    }

    fn see_round(&mut self, round: u64) {
        self.highest_round_seen = self.highest_round_seen.max(round);
    }

    // ---- messaging: a node is its own acceptor and learner ----

    /// Sends `msg` to every node, this one included (handled at once).
    fn send_all(&mut self, ctx: &mut Ctx<'_, Self>, msg: PaxosMsg) {
        let key = msg.key();
        let others = self.n.saturating_sub(1);
        if others > 0 {
            ctx.count("paxos_messages", u64::from(others));
            ctx.note(PaxosNote::Sent { key, count: others });
            ctx.broadcast(Envelope::Peer(msg.clone()));
        }
        self.on_peer(ctx, self.id, msg);
    }

    fn send_to(&mut self, ctx: &mut Ctx<'_, Self>, to: u32, msg: PaxosMsg) {
        if to == self.id {
            return self.on_peer(ctx, to, msg);
        }
        ctx.count("paxos_messages", 1);
        ctx.note(PaxosNote::Sent { key: msg.key(), count: 1 });
        ctx.send(Addr::node(to), Envelope::Peer(msg));
    }

    fn on_peer(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, msg: PaxosMsg) {
        match msg {
            PaxosMsg::Prepare { key, ballot } => self.accept_prepare(ctx, from, key, ballot),
            PaxosMsg::Accept { key, ballot, value } => self.accept_accept(ctx, from, key, ballot, value),
            PaxosMsg::Promise { key, ballot, accepted } => self.propose_on_promise(ctx, from, key, ballot, accepted),
            PaxosMsg::Nack { key, ballot, promised } => self.propose_on_nack(ctx, key, ballot, promised),
            PaxosMsg::Accepted { key, ballot, value } => self.learn_accepted(ctx, from, key, ballot, value),
            PaxosMsg::Decided { key, value } => self.learn(ctx, key, value),
        }
    }

    // ---- clients ----

    fn on_client(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, request: Request) {
        let (key, own, read) = match request.command {
            Command::Propose { key, value } => (key, Some(value), false),
            Command::Get { key } => (key, None, true),
            // Paxos here is a write-once store: the workload sends no puts
            // or compare-and-sets (the scenario loader refuses them), and a
            // request that is none of these gets no answer.
            Command::Put { .. } | Command::Cas { .. } => return,
        };
        if let Some(value) = self.learned(key) {
            // A chosen value never changes: a learner that knows it answers.
            let result = if read {
                ctx.reached("read answered from a learned decision");
                KvResult::Read(Some(value))
            } else {
                ctx.reached("propose answered from a learned decision");
                KvResult::Chosen(value)
            };
            ctx.send(from, Envelope::Reply(Reply::Done { op: request.op, result }));
            return;
        }
        if !self.is_proposer() {
            ctx.reached("client redirected to a proposer");
            let proposer = NodeId(self.id % self.params.proposers);
            ctx.send(from, Envelope::Reply(Reply::Redirect { op: request.op, leader: Some(proposer) }));
            return;
        }
        let waiter = Waiter { client: from, op: request.op, read };
        if let Some(inst) = self.instances.get_mut(&key) {
            let full = inst.waiters.len() >= MAX_WAITERS;
            match inst.waiters.iter_mut().find(|w| w.op == request.op) {
                Some(w) => {
                    ctx.reached("retried request joins its running instance");
                    w.client = from;
                }
                None if !full => inst.waiters.push(waiter),
                None => ctx.count("paxos_requests_dropped", 1),
            }
            if inst.own.is_none() {
                if let Some(value) = own {
                    inst.own = Some(value);
                    ctx.note(PaxosNote::Proposed { key, value });
                }
            }
            return;
        }
        if self.instances.len() >= MAX_INSTANCES {
            ctx.count("paxos_requests_dropped", 1);
            return;
        }
        if let Some(value) = own {
            ctx.note(PaxosNote::Proposed { key, value });
        }
        let inst = Instance {
            ballot: Ballot::ZERO,
            phase: Phase::BackingOff,
            own,
            waiters: vec![waiter],
            ballots: 0,
            timer: None,
            phase_started: ctx.now(),
        };
        self.instances.insert(key, inst);
        self.propose_new_ballot(ctx, key);
    }

    fn answer(ctx: &mut Ctx<'_, Self>, waiter: Waiter, result: KvResult) {
        ctx.send(waiter.client, Envelope::Reply(Reply::Done { op: waiter.op, result }));
    }

    // ---- proposer ----

    /// Phase 1a with a ballot above every round used or seen.
    fn propose_new_ballot(&mut self, ctx: &mut Ctx<'_, Self>, key: Key) {
        let round = ctx.durable().last_round.max(self.highest_round_seen) + 1;
        // Persisted before the Prepare leaves: after a restart this node's
        // next ballot is above every ballot it sent before the crash.
        ctx.durable_mut().last_round = round;
        self.see_round(round);
        // Bug knob `same_ballot`: every proposer signs its ballots as n0.
        let node = if self.params.bugs.same_ballot { 0 } else { self.id };
        let ballot = Ballot::new(round, node);
        let Some(inst) = self.instances.get_mut(&key) else { return };
        if let Some(t) = inst.timer.take() {
            ctx.cancel_timer(t);
        }
        if inst.ballots >= MAX_BALLOTS_PER_INSTANCE {
            ctx.reached("proposer gives up after too many ballots");
            self.instances.remove(&key);
            return;
        }
        inst.ballots += 1;
        inst.ballot = ballot;
        inst.phase = Phase::Preparing { promises: 0, highest: None, first: None };
        inst.phase_started = ctx.now();
        inst.timer = Some(ctx.set_timer(self.phase_timeout, PaxosTimer::Phase { key, ballot }));
        ctx.count("phase1_rounds", 1);
        ctx.note(PaxosNote::BallotStarted { key, ballot });
        self.send_all(ctx, PaxosMsg::Prepare { key, ballot });
    }

    fn propose_on_promise(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: u32,
        key: Key,
        ballot: Ballot,
        accepted: Option<(Ballot, Value)>,
    ) {
        if let Some((b, _)) = accepted {
            self.see_round(b.round);
        }
        let majority = self.majority();
        let bugs = &self.params.bugs;
        let Some(inst) = self.instances.get_mut(&key) else { return };
        if inst.ballot != ballot {
            ctx.reached("late reply for an older ballot ignored");
            return;
        }
        let Phase::Preparing { promises, highest, first } = &mut inst.phase else { return };
        let bit = 1u64 << from;
        if *promises & bit != 0 {
            ctx.reached("duplicate promise ignored");
            return;
        }
        *promises |= bit;
        if let Some(acc) = accepted {
            if highest.is_none_or(|h| acc.0 > h.0) {
                *highest = Some(acc);
            }
            first.get_or_insert(acc);
        }
        if promises.count_ones() < majority {
            return;
        }
        let took = ctx.now().since(inst.phase_started);
        // Phase 1 is done: the value for Phase 2 is the one reported with
        // the highest ballot, else the client's own.
        let reported = if bugs.adopt_first_reported { *first } else { *highest };
        let value = match (reported, inst.own) {
            (Some(_), Some(own)) if bugs.ignore_reported => own,
            (Some((_, v)), own) => {
                if own.is_some_and(|o| o != v) {
                    ctx.reached("proposer adopts a value reported in phase 1");
                }
                v
            }
            (None, Some(own)) => own,
            (None, None) => {
                // Only reads wait, and no acceptor of a majority accepted
                // anything: nothing is chosen, and nothing was when they
                // were invoked.
                ctx.reached("read answered none after phase 1");
                if let Some(inst) = self.instances.remove(&key) {
                    if let Some(t) = inst.timer {
                        ctx.cancel_timer(t);
                    }
                    for w in inst.waiters {
                        Self::answer(ctx, w, KvResult::Read(None));
                    }
                }
                return;
            }
        };
        if reported.is_none() {
            // Reads waiting beside a propose: nothing was chosen when this
            // majority promised, so they read none now, before the propose.
            let (reads, rest): (Vec<Waiter>, Vec<Waiter>) = inst.waiters.iter().partition(|w| w.read);
            inst.waiters = rest;
            if !reads.is_empty() {
                ctx.reached("read beside a propose answered none after phase 1");
            }
            for w in reads {
                Self::answer(ctx, w, KvResult::Read(None));
            }
        } else if inst.own.is_none() {
            ctx.reached("read finishes phase 2 with a reported value");
        }
        inst.phase = Phase::Accepting;
        inst.phase_started = ctx.now();
        if let Some(t) = inst.timer.take() {
            ctx.cancel_timer(t);
        }
        self.phase_completed(ctx, took);
        let timer = ctx.set_timer(self.phase_timeout, PaxosTimer::Phase { key, ballot });
        if let Some(inst) = self.instances.get_mut(&key) {
            inst.timer = Some(timer);
        }
        self.send_all(ctx, PaxosMsg::Accept { key, ballot, value });
    }

    /// A phase completed in `took`: the timeout comes back towards twice
    /// the smoothed phase time, never below the configured one. When that
    /// at least halves it — the network works again after timeouts raised
    /// it — every phase still waiting is re-armed with the new timeout
    /// (counted from its start), so an instance whose messages were lost
    /// before a heal does not wait out the raised one.
    fn phase_completed(&mut self, ctx: &mut Ctx<'_, Self>, took: Duration) {
        let smoothed = match self.smoothed_phase {
            Some(s) => Duration::from_nanos((s.as_nanos() / 8).saturating_mul(7).saturating_add(took.as_nanos() / 8)),
            None => took,
        };
        self.smoothed_phase = Some(smoothed);
        let before = self.phase_timeout;
        self.phase_timeout = Duration::from_nanos(smoothed.as_nanos().saturating_mul(2)).max(self.params.phase_timeout);
        if self.phase_timeout.as_nanos().saturating_mul(2) > before.as_nanos() {
            return;
        }
        ctx.reached("phase timeout lowered: waiting phases re-armed");
        let now = ctx.now();
        for (&key, inst) in &mut self.instances {
            if matches!(inst.phase, Phase::BackingOff) {
                continue;
            }
            if let Some(t) = inst.timer.take() {
                ctx.cancel_timer(t);
            }
            let delay = (inst.phase_started + self.phase_timeout).since(now);
            inst.timer = Some(ctx.set_timer(delay, PaxosTimer::Phase { key, ballot: inst.ballot }));
        }
    }

    /// A phase timed out: perhaps the timeout is shorter than a round trip,
    /// so it doubles — at most once per timeout, however many instances
    /// timed out together, and up to [`MAX_TIMEOUT_FACTOR`] times the
    /// configured one.
    fn phase_timed_out(&mut self, now: Time) {
        if self.timeout_raised_at.is_some_and(|t| now.since(t) < self.phase_timeout) {
            return;
        }
        self.timeout_raised_at = Some(now);
        let cap = self.params.phase_timeout.as_nanos().saturating_mul(MAX_TIMEOUT_FACTOR);
        let cap = Duration::from_nanos(cap).min(super::MAX_PHASE_DURATION);
        self.phase_timeout = Duration::from_nanos(self.phase_timeout.as_nanos().saturating_mul(2)).min(cap);
    }

    fn propose_on_nack(&mut self, ctx: &mut Ctx<'_, Self>, key: Key, ballot: Ballot, promised: Ballot) {
        self.see_round(promised.round);
        let Some(inst) = self.instances.get(&key) else { return };
        if inst.ballot != ballot || matches!(inst.phase, Phase::BackingOff) {
            return;
        }
        ctx.reached("ballot preempted by a higher promise");
        ctx.count("ballots_preempted", 1);
        self.propose_back_off(ctx, key);
    }

    /// Drops the current ballot and tries a new one after a random back-off
    /// in `[0, retry_backoff_max]` (at once when that is zero).
    fn propose_back_off(&mut self, ctx: &mut Ctx<'_, Self>, key: Key) {
        let max = self.params.retry_backoff_max;
        let delay = ctx.random_between(Duration::ZERO, max);
        let Some(inst) = self.instances.get_mut(&key) else { return };
        if let Some(t) = inst.timer.take() {
            ctx.cancel_timer(t);
        }
        if delay == Duration::ZERO {
            return self.propose_new_ballot(ctx, key);
        }
        inst.phase = Phase::BackingOff;
        let ballot = inst.ballot;
        inst.timer = Some(ctx.set_timer(delay, PaxosTimer::Retry { key, ballot }));
    }

    // ---- acceptor ----

    fn acceptor_state(&self, ctx: &Ctx<'_, Self>, key: Key) -> AcceptorState {
        let mut state = ctx.durable().acceptor.get(&key).copied().unwrap_or_default();
        if self.params.bugs.forget_promise {
            state.promised = self.volatile_promises.get(&key).copied().unwrap_or(Ballot::ZERO);
        }
        state
    }

    /// Writes the acceptor's state for `key` (durably, but for the bug knob
    /// `forget_promise`), noting a changed promise.
    fn store_acceptor(&mut self, ctx: &mut Ctx<'_, Self>, key: Key, before: Ballot, state: AcceptorState) {
        if self.params.bugs.forget_promise {
            self.volatile_promises.insert(key, state.promised);
            let on_disk = AcceptorState { promised: Ballot::ZERO, accepted: state.accepted };
            ctx.durable_mut().acceptor.insert(key, on_disk);
        } else {
            ctx.durable_mut().acceptor.insert(key, state);
        }
        if state.promised != before {
            ctx.note(PaxosNote::Promised { key, ballot: state.promised });
        }
    }

    fn accept_prepare(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, key: Key, ballot: Ballot) {
        self.see_round(ballot.round);
        if let Some(value) = self.learned(key) {
            ctx.reached("prepare answered with the decision");
            return self.send_to(ctx, from, PaxosMsg::Decided { key, value });
        }
        let mut state = self.acceptor_state(ctx, key);
        let before = state.promised;
        match acceptor::on_prepare(&mut state, ballot) {
            PrepareReply::Promise { accepted } => {
                self.store_acceptor(ctx, key, before, state);
                self.send_to(ctx, from, PaxosMsg::Promise { key, ballot, accepted });
            }
            PrepareReply::Nack { promised } => {
                ctx.reached("prepare refused: promised a higher ballot");
                self.send_to(ctx, from, PaxosMsg::Nack { key, ballot, promised });
            }
        }
    }

    fn accept_accept(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, key: Key, ballot: Ballot, value: Value) {
        self.see_round(ballot.round);
        let mut state = self.acceptor_state(ctx, key);
        let before = state.promised;
        match acceptor::on_accept(&mut state, ballot, value, self.params.bugs.accept_below_promise) {
            AcceptReply::Accepted => {
                self.store_acceptor(ctx, key, before, state);
                ctx.note(PaxosNote::Accepted { key, ballot, value, promise: state.promised });
                // Phase 2b goes to every learner (see the module opening).
                self.send_all(ctx, PaxosMsg::Accepted { key, ballot, value });
            }
            AcceptReply::Nack { promised } => {
                ctx.reached("accept refused: promised a higher ballot");
                self.send_to(ctx, from, PaxosMsg::Nack { key, ballot, promised });
            }
        }
    }

    // ---- learner ----

    fn learn_accepted(&mut self, ctx: &mut Ctx<'_, Self>, from: u32, key: Key, ballot: Ballot, value: Value) {
        if self.learned.contains_key(&key) {
            return;
        }
        let n = self.n as usize;
        let tally = self.tallies.entry(key).or_insert_with(|| vec![None; n]);
        let Some(slot) = tally.get_mut(from as usize) else { return };
        match *slot {
            Some((b, _)) if b >= ballot => return,
            Some(_) => ctx.reached("learner replaces an acceptance with a higher ballot's"),
            None => {}
        }
        *slot = Some((ballot, value));
        // A value is chosen when a majority accepted it in one ballot. Bug
        // knob `mixed_ballot_majority`: count the value across ballots.
        let mixed = self.params.bugs.mixed_ballot_majority;
        let count = tally.iter().flatten().filter(|&&(b, v)| v == value && (mixed || b == ballot)).count();
        if count as u32 >= self.majority() {
            self.learn(ctx, key, value);
        }
    }

    fn learn(&mut self, ctx: &mut Ctx<'_, Self>, key: Key, value: Value) {
        if self.learned.contains_key(&key) {
            return;
        }
        self.learned.insert(key, value);
        self.tallies.remove(&key);
        ctx.note(PaxosNote::Learned { key, value });
        if let Some(inst) = self.instances.remove(&key) {
            if let Some(t) = inst.timer {
                ctx.cancel_timer(t);
            }
            if matches!(inst.phase, Phase::Accepting) {
                self.phase_completed(ctx, ctx.now().since(inst.phase_started));
            }
            for w in inst.waiters {
                let result = if w.read { KvResult::Read(Some(value)) } else { KvResult::Chosen(value) };
                Self::answer(ctx, w, result);
            }
        }
    }
}

impl Process for PaxosNode {
    type Msg = KvMsg<PaxosMsg>;
    type Timer = PaxosTimer;
    type Durable = PaxosDisk;
    type Note = PaxosNote;

    fn on_start(&mut self, _ctx: &mut Ctx<'_, Self>) {}

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: KvMsg<PaxosMsg>) {
        match (msg, from) {
            (Envelope::Peer(msg), Addr::Node(peer)) if peer.0 < self.n => self.on_peer(ctx, peer.0, msg),
            (Envelope::Request(request), _) => self.on_client(ctx, from, request),
            // Replies are for clients; peer messages from a client are not
            // part of the protocol.
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: PaxosTimer) {
        match timer {
            PaxosTimer::Phase { key, ballot } => {
                let Some(inst) = self.instances.get_mut(&key) else { return };
                if inst.ballot != ballot || matches!(inst.phase, Phase::BackingOff) {
                    return;
                }
                inst.timer = None;
                ctx.reached("phase timed out: a new ballot");
                ctx.count("phase_timeouts", 1);
                self.phase_timed_out(ctx.now());
                self.propose_back_off(ctx, key);
            }
            PaxosTimer::Retry { key, ballot } => {
                let Some(inst) = self.instances.get_mut(&key) else { return };
                if inst.ballot != ballot || !matches!(inst.phase, Phase::BackingOff) {
                    return;
                }
                inst.timer = None;
                self.propose_new_ballot(ctx, key);
            }
        }
    }

    fn role(&self) -> Role {
        if self.is_proposer() {
            "proposer"
        } else {
            "acceptor"
        }
    }
}
