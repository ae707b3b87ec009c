//! A gossip node: its rumors' states, its round and anti-entropy timers, and
//! the messages of push, pull and digest exchange. Rumors are named by their
//! index in the scenario's list, so a set of rumors is a 64-bit mask and every
//! message is a few words, whatever the cluster's size.

use std::sync::Arc;

use faultline_sim::{Addr, Ctx, Duration, Message, Process};
use rand::Rng;

use super::{Mode, Params, Stop};

/// A set of rumors, one bit per rumor index.
pub type Rumors = u64;

/// The rumor indices in `set`, lowest first.
pub fn each_rumor(mut set: Rumors) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let r = (set != 0).then(|| set.trailing_zeros() as usize)?;
        set &= set - 1;
        Some(r)
    })
}

#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub enum GossipMsg {
    /// The sender's hot rumors (push).
    Push {
        rumors: Rumors,
    },
    /// Which of the pushed or pulled rumors the receiver already knew (the
    /// feedback of Demers' rumor mongering); sent only when it knew some.
    Feedback {
        already: Rumors,
    },
    /// A request for the receiver's hot rumors (pull).
    Pull,
    /// The receiver's hot rumors, in answer to a pull.
    PullReply {
        rumors: Rumors,
    },
    /// Anti-entropy: every rumor the sender knows; the receiver answers with
    /// every rumor it knows, and each takes what it lacked.
    Digest {
        known: Rumors,
    },
    DigestReply {
        known: Rumors,
    },
}

impl Message for GossipMsg {
    fn label(&self) -> &'static str {
        match self {
            GossipMsg::Push { .. } => "Push",
            GossipMsg::Feedback { .. } => "Feedback",
            GossipMsg::Pull => "Pull",
            GossipMsg::PullReply { .. } => "PullReply",
            GossipMsg::Digest { .. } => "Digest",
            GossipMsg::DigestReply { .. } => "DigestReply",
        }
    }
}

#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub enum GossipTimer {
    /// A gossip round: push and pull to `fanout` peers.
    Round,
    /// An anti-entropy exchange with one peer.
    AntiEntropy,
    /// Rumor `r` starts here.
    Inject(u32),
}

/// Facts for the monitor.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum GossipNote {
    /// Rumor `rumor` started at this node.
    Injected { rumor: u32 },
    /// This node learned `rumor` (from a peer).
    Learned { rumor: u32 },
}

/// A rumor's state at one node (Demers' susceptible, infective, removed).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    Susceptible,
    /// Spreading it; `count` unnecessary contacts (feedback) or pushes (blind)
    /// so far.
    Infective {
        count: u32,
    },
    /// Knows it and no longer spreads it.
    Removed,
}

pub struct GossipNode {
    params: Arc<Params>,
    states: Vec<State>,
    /// Rumors known (infective or removed).
    known: Rumors,
    /// Rumors infective: what this node pushes and answers pulls with.
    hot: Rumors,
}

impl GossipNode {
    pub fn new(params: Arc<Params>) -> GossipNode {
        let rumors = params.rumors.len();
        GossipNode { params, states: vec![State::Susceptible; rumors], known: 0, hot: 0 }
    }

    /// Rumors this node knows.
    pub fn known(&self) -> Rumors {
        self.known
    }

    fn set(&mut self, r: usize, state: State) {
        self.states[r] = state;
        let bit = 1u64 << r;
        match state {
            State::Susceptible => {
                self.known &= !bit;
                self.hot &= !bit;
            }
            State::Infective { .. } => {
                self.known |= bit;
                self.hot |= bit;
            }
            State::Removed => {
                self.known |= bit;
                self.hot &= !bit;
            }
        }
    }

    /// Takes every rumor of `rumors` this node lacked; returns those it
    /// already knew.
    fn learn(&mut self, ctx: &mut Ctx<'_, Self>, rumors: Rumors) -> Rumors {
        let already = rumors & self.known;
        for r in each_rumor(rumors & !self.known) {
            self.set(r, State::Infective { count: 0 });
            ctx.note(GossipNote::Learned { rumor: r as u32 });
        }
        already
    }

    fn me(ctx: &Ctx<'_, Self>) -> u32 {
        match ctx.me() {
            Addr::Node(id) => id.0,
            Addr::Client(_) => 0,
        }
    }

    fn send(ctx: &mut Ctx<'_, Self>, to: Addr, msg: GossipMsg) {
        ctx.count("gossip_messages", 1);
        ctx.send(to, msg);
    }

    /// The next round after this one: a round, stretched or shrunk by up to
    /// half the jitter either way.
    fn next_round(&self, ctx: &mut Ctx<'_, Self>) -> Duration {
        super::jittered_round(self.params.round, self.params.jitter, ctx.rng())
    }

    fn on_round(&mut self, ctx: &mut Ctx<'_, Self>) {
        let next = self.next_round(ctx);
        ctx.set_timer(next, GossipTimer::Round);
        let (push, pull) = match self.params.mode {
            Mode::Push => (true, false),
            Mode::Pull => (false, true),
            Mode::PushPull => (true, true),
        };
        let pushing = push && self.hot != 0;
        for _ in 0..self.params.fanout {
            let Some(to) = ctx.random_peer() else { return };
            if pushing {
                Self::send(ctx, to, GossipMsg::Push { rumors: self.hot });
            }
            if pull {
                Self::send(ctx, to, GossipMsg::Pull);
            }
        }
        if pushing && !self.params.feedback {
            // Blind: every push counts, needed or not.
            let pushed = self.hot;
            for _ in 0..self.params.fanout {
                self.lose_interest(ctx, pushed);
            }
        }
    }

    /// One contact that counts towards the stop rule for each rumor of
    /// `rumors` still hot here: an unnecessary one (feedback) or any push
    /// (blind).
    fn lose_interest(&mut self, ctx: &mut Ctx<'_, Self>, rumors: Rumors) {
        for r in each_rumor(rumors & self.hot) {
            let State::Infective { count } = self.states[r] else { continue };
            let stop = match self.params.stop {
                // The planted bug: interest lost at the first counted contact.
                _ if self.params.bugs.no_repair => true,
                Stop::Never => false,
                Stop::Counter => count + 1 >= self.params.k,
                Stop::Coin => ctx.rng().gen_range(0..self.params.k) == 0,
            };
            let state = if stop { State::Removed } else { State::Infective { count: count + 1 } };
            self.set(r, state);
        }
    }

    fn on_anti_entropy(&mut self, ctx: &mut Ctx<'_, Self>) {
        if let Some(every) = self.params.anti_entropy {
            ctx.set_timer(every, GossipTimer::AntiEntropy);
        }
        if self.params.bugs.no_repair {
            return;
        }
        if let Some(to) = ctx.random_peer() {
            Self::send(ctx, to, GossipMsg::Digest { known: self.known });
        }
    }
}

impl Process for GossipNode {
    type Msg = GossipMsg;
    type Timer = GossipTimer;
    /// Whether this node booted before: a rumor due before a node's first
    /// boot starts when it boots; one due while it is down after a crash is
    /// lost with it.
    type Durable = bool;
    type Note = GossipNote;

    /// Rounds start at once in lock step when there is no jitter (every
    /// node's round at the same instants, as the analyses assume), else at a
    /// random phase within the first round.
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().as_nanos();
        let round = self.params.round;
        let first = if self.params.jitter == 0.0 {
            // The next multiple of the round (a restarted node rejoins the step).
            let r = round.as_nanos();
            Duration::from_nanos(r - now % r)
        } else {
            Duration::from_nanos(ctx.rng().gen_range(0..round.as_nanos()))
        };
        ctx.set_timer(first, GossipTimer::Round);
        if let Some(every) = self.params.anti_entropy {
            let phase = Duration::from_nanos(ctx.rng().gen_range(0..every.as_nanos()));
            ctx.set_timer(phase, GossipTimer::AntiEntropy);
        }
        let me = Self::me(ctx);
        let first_boot = !*ctx.durable();
        if first_boot {
            *ctx.durable_mut() = true;
        }
        for (r, spec) in self.params.rumors.iter().enumerate() {
            let at = spec.at.as_nanos();
            if spec.node == me && (at >= now || first_boot) {
                ctx.set_timer(Duration::from_nanos(at.saturating_sub(now)), GossipTimer::Inject(r as u32));
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: GossipMsg) {
        match msg {
            GossipMsg::Push { rumors } | GossipMsg::PullReply { rumors } => {
                let already = self.learn(ctx, rumors);
                if self.params.feedback && already != 0 {
                    Self::send(ctx, from, GossipMsg::Feedback { already });
                }
            }
            GossipMsg::Feedback { already } => self.lose_interest(ctx, already),
            GossipMsg::Pull => {
                if self.hot != 0 {
                    let rumors = self.hot;
                    Self::send(ctx, from, GossipMsg::PullReply { rumors });
                    if !self.params.feedback {
                        self.lose_interest(ctx, rumors);
                    }
                }
            }
            GossipMsg::Digest { known } => {
                let mine = self.known;
                self.learn(ctx, known);
                if mine & !known != 0 {
                    Self::send(ctx, from, GossipMsg::DigestReply { known: mine });
                }
            }
            GossipMsg::DigestReply { known } => {
                self.learn(ctx, known);
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: GossipTimer) {
        match timer {
            GossipTimer::Round => self.on_round(ctx),
            GossipTimer::AntiEntropy => self.on_anti_entropy(ctx),
            GossipTimer::Inject(r) => {
                let r = r as usize;
                if self.states[r] == State::Susceptible {
                    self.set(r, State::Infective { count: 0 });
                    ctx.note(GossipNote::Injected { rumor: r as u32 });
                }
            }
        }
    }
}
