//! A SWIM member: its view of every other member (alive, suspect or dead,
//! with the incarnation the state is about), its probe of the current
//! protocol period, the indirect probes it runs for others, and the queue of
//! membership updates it piggybacks on every message it sends.

use std::sync::Arc;

use faultline_sim::{Addr, Ctx, Duration, Message, Process};
use rand::Rng;
use smallvec::SmallVec;

use super::{Params, Selection};

/// The most updates one message carries.
pub const MAX_PIGGYBACK: usize = 6;
/// The most updates a member keeps queued for piggybacking; past it the
/// update sent most often already is dropped.
pub const MAX_QUEUED_UPDATES: usize = 512;
/// The most indirect probes a member runs for others at once.
pub const MAX_RELAYS: usize = 64;

#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Alive,
    Suspect,
    Dead,
}

/// A membership update: `member` is in `health` at `incarnation`.
#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub struct Update {
    pub member: u32,
    pub health: Health,
    pub incarnation: u64,
}

pub type Updates = SmallVec<[Update; MAX_PIGGYBACK]>;

/// Every message: what it is, the sender's incarnation (a message from a
/// member shows it alive at that incarnation), and piggybacked updates.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct SwimMsg {
    pub kind: Kind,
    pub incarnation: u64,
    pub updates: Updates,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum Kind {
    /// A probe; answered by `Ack` with the same `seq`.
    Ping {
        seq: u64,
    },
    Ack {
        seq: u64,
    },
    /// Probe `target` for the sender and pass its ack back.
    PingReq {
        seq: u64,
        target: u32,
    },
    /// A member rejoining after a restart asks for the receiver's state.
    Join,
    /// The answer to `Join`: every view that is not "alive at incarnation
    /// 0", as updates (memberlist's push-pull on join).
    State {
        views: Vec<Update>,
    },
}

impl Message for SwimMsg {
    fn label(&self) -> &'static str {
        match self.kind {
            Kind::Ping { .. } => "Ping",
            Kind::Ack { .. } => "Ack",
            Kind::PingReq { .. } => "PingReq",
            Kind::Join => "Join",
            Kind::State { .. } => "State",
        }
    }
}

#[derive(Copy, Clone, Debug, Hash, PartialEq, Eq)]
pub enum SwimTimer {
    /// The start of a protocol period.
    Period,
    /// This member leaves the group (the scenario's `leaves`).
    Leave,
    /// The direct probe `seq` had no ack in time: probe indirectly.
    AckTimeout { seq: u64 },
    /// `member`'s suspicion at `incarnation` ran out.
    Suspicion { member: u32, incarnation: u64 },
}

/// Facts for the monitor.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SwimNote {
    /// This member now holds `member` in `health`; `declared` when its own
    /// probe or suspicion timeout decided it, not an update it heard.
    View { member: u32, health: Health, incarnation: u64, declared: bool },
    /// This member left the group.
    Left,
    /// This member raised its incarnation to `incarnation`: refuting a
    /// suspicion or death of itself, or rejoining after a restart.
    Refuted { incarnation: u64 },
}

/// What survives a crash: whether the member booted before, and its
/// incarnation, so a restarted member rejoins above every incarnation the
/// others hold for it.
#[derive(Copy, Clone, Debug, Default)]
pub struct Persisted {
    pub booted: bool,
    pub incarnation: u64,
    /// It left the group: a restart keeps it out.
    pub left: bool,
}

/// The largest incarnation a view holds: views are packed in 32 bits (the
/// incarnation above two bits of health), so a member's incarnation stops
/// rising there.
pub const MAX_INCARNATION: u64 = (1 << 30) - 1;

/// One member's view of another, packed: incarnation << 2 | health.
#[derive(Copy, Clone, Debug)]
struct View {
    health: Health,
    incarnation: u64,
}

impl View {
    fn pack(self) -> u32 {
        let h = match self.health {
            Health::Alive => 0,
            Health::Suspect => 1,
            Health::Dead => 2,
        };
        ((self.incarnation.min(MAX_INCARNATION) as u32) << 2) | h
    }
    fn unpack(word: u32) -> View {
        let health = match word & 3 {
            0 => Health::Alive,
            1 => Health::Suspect,
            _ => Health::Dead,
        };
        View { health, incarnation: u64::from(word >> 2) }
    }
}

/// Round-robin probe order without a list: the others, walked as
/// i ↦ (a·i + b) mod m (m = n − 1, a prime to m), with a fresh random a and
/// b each time round — every other member once per m periods, in an order
/// that changes from one round to the next, in constant memory per member.
#[derive(Copy, Clone, Debug)]
struct Order {
    a: u64,
    b: u64,
    next: u64,
}

fn gcd(mut x: u64, mut y: u64) -> u64 {
    while y != 0 {
        (x, y) = (y, x % y);
    }
    x
}

/// A probe of this period: its target and whether an ack came back.
#[derive(Copy, Clone, Debug)]
struct Probe {
    seq: u64,
    target: u32,
    acked: bool,
}

/// An indirect probe this member runs for `requester`: the ack for `seq`
/// (this member's own ping) goes back as the ack for `their_seq`.
#[derive(Copy, Clone, Debug)]
struct Relay {
    seq: u64,
    requester: Addr,
    their_seq: u64,
}

#[derive(Copy, Clone, Debug)]
struct Queued {
    update: Update,
    sent: u32,
}

pub struct SwimNode {
    params: Arc<Params>,
    me: u32,
    incarnation: u64,
    nodes: u32,
    views: Vec<u32>,
    order: Order,
    probe: Option<Probe>,
    next_seq: u64,
    relays: Vec<Relay>,
    queue: Vec<Queued>,
    /// A restarted member that has not yet had another's state.
    joining: bool,
    /// It left: it sends and answers nothing.
    left: bool,
    /// Times an update is piggybacked: λ·⌈log₂(n + 1)⌉.
    retransmits: u32,
}

impl SwimNode {
    pub fn new(params: Arc<Params>, me: u32, nodes: u32) -> SwimNode {
        let retransmits = params.retransmit_mult * super::log2_members(nodes);
        SwimNode {
            params,
            me,
            incarnation: 0,
            nodes,
            views: vec![View { health: Health::Alive, incarnation: 0 }.pack(); nodes as usize],
            order: Order { a: 1, b: 0, next: u64::MAX },
            probe: None,
            next_seq: 0,
            relays: Vec::new(),
            queue: Vec::new(),
            joining: false,
            left: false,
            retransmits,
        }
    }

    pub fn health_of(&self, member: u32) -> Option<Health> {
        self.views.get(member as usize).map(|&v| View::unpack(v).health)
    }

    fn view(&self, member: u32) -> View {
        View::unpack(self.views[member as usize])
    }

    /// The `i`-th other member (`i < n − 1`): the members but this one.
    fn other(&self, i: u64) -> u32 {
        let i = i as u32;
        if i >= self.me {
            i + 1
        } else {
            i
        }
    }

    fn send(&mut self, ctx: &mut Ctx<'_, Self>, to: Addr, kind: Kind) {
        let updates = self.piggyback();
        ctx.count("swim_messages", 1);
        ctx.send(to, SwimMsg { kind, incarnation: self.incarnation, updates });
    }

    /// The updates sent least often so far, each counted as sent once more;
    /// those sent `retransmits` times leave the queue.
    fn piggyback(&mut self) -> Updates {
        let mut out = Updates::new();
        if self.queue.is_empty() {
            return out;
        }
        let take = MAX_PIGGYBACK.min(self.queue.len());
        if self.queue.len() > take {
            // The `take` least-sent to the front (ties by queue position, so
            // the choice is a function of the queue alone).
            self.queue.select_nth_unstable_by_key(take - 1, |q| q.sent);
        }
        self.queue[..take].sort_by_key(|q| q.sent);
        for q in &mut self.queue[..take] {
            out.push(q.update);
            q.sent += 1;
        }
        let limit = self.retransmits;
        self.queue.retain(|q| q.sent < limit);
        out
    }

    /// Queues `update` for piggybacking, replacing any older one about the
    /// same member.
    fn broadcast(&mut self, update: Update) {
        self.queue.retain(|q| q.update.member != update.member);
        if self.queue.len() >= MAX_QUEUED_UPDATES {
            if let Some(i) = (0..self.queue.len()).max_by_key(|&i| self.queue[i].sent) {
                self.queue.swap_remove(i);
            }
        }
        self.queue.push(Queued { update, sent: 0 });
    }

    fn set_view(&mut self, ctx: &mut Ctx<'_, Self>, member: u32, health: Health, incarnation: u64, declared: bool) {
        self.views[member as usize] = View { health, incarnation }.pack();
        ctx.note(SwimNote::View { member, health, incarnation, declared });
        self.broadcast(Update { member, health, incarnation });
        if health == Health::Suspect {
            let timeout = self.params.suspicion_timeout;
            if timeout == Duration::ZERO || self.params.bugs.zero_suspicion {
                self.set_view(ctx, member, Health::Dead, incarnation, true);
            } else {
                ctx.set_timer(timeout, SwimTimer::Suspicion { member, incarnation });
            }
        }
    }

    /// Raises this member's incarnation past `heard` and says it is alive.
    fn refute(&mut self, ctx: &mut Ctx<'_, Self>, heard: u64) {
        if self.params.bugs.no_refutation {
            return;
        }
        ctx.count("refutations", 1);
        self.announce(ctx, heard);
    }

    /// Takes an incarnation above `heard` and this member's own, keeps it
    /// on disk, and queues "alive at it" for piggybacking.
    fn announce(&mut self, ctx: &mut Ctx<'_, Self>, heard: u64) {
        self.incarnation = (self.incarnation.max(heard) + 1).min(MAX_INCARNATION);
        *ctx.durable_mut() = Persisted { booted: true, incarnation: self.incarnation, left: false };
        ctx.note(SwimNote::Refuted { incarnation: self.incarnation });
        self.broadcast(Update { member: self.me, health: Health::Alive, incarnation: self.incarnation });
    }

    /// SWIM's precedence (§4.2, with memberlist's rule for deaths): alive at
    /// i overrides suspect or alive below i and dead below i; suspect at i
    /// overrides alive up to i and suspect below i; dead at i overrides
    /// alive and suspect up to i.
    fn apply(&mut self, ctx: &mut Ctx<'_, Self>, u: Update) {
        let Some(view) = self.views.get(u.member as usize).map(|&v| View::unpack(v)) else { return };
        if u.member == self.me {
            if u.health != Health::Alive && u.incarnation >= self.incarnation {
                self.refute(ctx, u.incarnation);
            }
            return;
        }
        let (i, j) = (u.incarnation.min(MAX_INCARNATION), view.incarnation);
        let takes = match (u.health, view.health) {
            (Health::Alive, _) => i > j,
            (Health::Suspect, Health::Alive) => i >= j,
            (Health::Suspect, Health::Suspect) => i > j,
            (Health::Suspect, Health::Dead) => false,
            (Health::Dead, Health::Dead) => i > j,
            (Health::Dead, _) => i >= j,
        };
        if takes {
            self.set_view(ctx, u.member, u.health, i, false);
        }
    }

    /// A message from `sender` shows it alive at `incarnation`: one that
    /// refuted (or rejoined) above what this member holds comes back here at
    /// its first message. One this member holds suspect or dead at that
    /// incarnation or above is told so, on the answer's piggyback (the
    /// update goes to the front of the queue), so it can refute: the
    /// gossip of its death may have ended before it could hear it (it was
    /// cut off, or paused).
    fn heard_from(&mut self, ctx: &mut Ctx<'_, Self>, sender: u32, incarnation: u64) {
        if sender as usize >= self.views.len() || sender == self.me {
            return;
        }
        let view = self.view(sender);
        if view.health != Health::Alive && view.incarnation >= incarnation.min(MAX_INCARNATION) {
            self.broadcast(Update { member: sender, health: view.health, incarnation: view.incarnation });
        } else {
            self.apply(ctx, Update { member: sender, health: Health::Alive, incarnation });
        }
    }

    fn apply_all(&mut self, ctx: &mut Ctx<'_, Self>, updates: &Updates) {
        for &u in updates {
            self.apply(ctx, u);
        }
    }

    /// The next member to probe: round-robin over a changing order of the
    /// others (SWIM §4.3), or uniformly at random. Members held dead stay
    /// on the list (SWIM drops them; memberlist keeps gossiping to them for
    /// a while, for the same reason): two members that came to hold each
    /// other dead while cut off find each other again at the next probe,
    /// which shows the probed one alive, or tells it it is held dead so it
    /// refutes. A probe of a member held dead is direct only.
    fn next_target(&mut self, ctx: &mut Ctx<'_, Self>) -> Option<u32> {
        let m = u64::from(self.nodes - 1);
        if m == 0 {
            return None;
        }
        let i = match self.params.selection {
            Selection::Random => return Some(self.random_other(ctx)),
            Selection::RoundRobin => {
                if self.order.next >= m {
                    let a = loop {
                        let a = ctx.rng().gen_range(1..m.max(2));
                        if gcd(a, m) == 1 {
                            break a;
                        }
                    };
                    self.order = Order { a, b: ctx.rng().gen_range(0..m), next: 0 };
                }
                let Order { a, b, next } = self.order;
                self.order.next += 1;
                (a * next + b) % m
            }
        };
        Some(self.other(i))
    }

    fn on_period(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.set_timer(self.params.period, SwimTimer::Period);
        ctx.count("member_periods", 1);
        if self.joining {
            // Ask a random member for its state until one answers.
            let to = self.random_other(ctx);
            self.send(ctx, Addr::node(to), Kind::Join);
        }
        // The last period's probe found no way to its target: suspect it.
        if let Some(p) = self.probe.take() {
            let view = self.view(p.target);
            if !p.acked && view.health == Health::Alive {
                self.set_view(ctx, p.target, Health::Suspect, view.incarnation, true);
            }
        }
        let Some(target) = self.next_target(ctx) else { return };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.probe = Some(Probe { seq, target, acked: false });
        self.send(ctx, Addr::node(target), Kind::Ping { seq });
        ctx.set_timer(self.params.ack_timeout, SwimTimer::AckTimeout { seq });
    }

    /// No direct ack: ask `k` other members to probe the target.
    fn on_ack_timeout(&mut self, ctx: &mut Ctx<'_, Self>, seq: u64) {
        let Some(p) = self.probe.filter(|p| p.seq == seq && !p.acked) else { return };
        if self.view(p.target).health == Health::Dead {
            return;
        }
        // k members alive here, not the target.
        let chosen =
            self.distinct_others(ctx, self.params.k, |s, m| m != p.target && s.view(m).health == Health::Alive);
        for helper in chosen {
            self.send(ctx, Addr::node(helper), Kind::PingReq { seq, target: p.target });
        }
    }

    /// Leaves the group as memberlist does: "dead at my incarnation" about
    /// itself, sent at once to 2·⌈log₂(n + 1)⌉ random members (who gossip
    /// it on), then silence.
    fn leave(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.left = true;
        *ctx.durable_mut() = Persisted { booted: true, incarnation: self.incarnation, left: true };
        ctx.count("leaves", 1);
        ctx.note(SwimNote::Left);
        let update = Update { member: self.me, health: Health::Dead, incarnation: self.incarnation };
        let fanout = (2 * super::log2_members(self.nodes)).min(self.nodes - 1);
        for to in self.distinct_others(ctx, fanout, |_, _| true) {
            let seq = self.next_seq;
            self.next_seq += 1;
            ctx.count("swim_messages", 1);
            let updates = std::iter::once(update).collect();
            ctx.send(Addr::node(to), SwimMsg { kind: Kind::Ping { seq }, incarnation: self.incarnation, updates });
        }
    }

    /// A uniformly chosen member other than this one.
    fn random_other(&self, ctx: &mut Ctx<'_, Self>) -> u32 {
        self.other(ctx.rng().gen_range(0..u64::from(self.nodes - 1)))
    }

    /// Up to `count` distinct other members that `accept` takes, drawn at
    /// random in a bounded number of tries (4 × `count`): a view of n
    /// members is never copied, whatever n.
    fn distinct_others(
        &self,
        ctx: &mut Ctx<'_, Self>,
        count: u32,
        accept: impl Fn(&Self, u32) -> bool,
    ) -> SmallVec<[u32; 64]> {
        let mut chosen = SmallVec::new();
        for _ in 0..4 * count {
            if chosen.len() >= count as usize {
                break;
            }
            let m = self.random_other(ctx);
            if !chosen.contains(&m) && accept(self, m) {
                chosen.push(m);
            }
        }
        chosen
    }

    fn on_ack(&mut self, ctx: &mut Ctx<'_, Self>, seq: u64) {
        if let Some(p) = self.probe.as_mut().filter(|p| p.seq == seq) {
            p.acked = true;
            return;
        }
        if let Some(i) = self.relays.iter().position(|r| r.seq == seq) {
            let relay = self.relays.swap_remove(i);
            self.send(ctx, relay.requester, Kind::Ack { seq: relay.their_seq });
        }
    }
}

impl Process for SwimNode {
    type Msg = SwimMsg;
    type Timer = SwimTimer;
    type Durable = Persisted;
    type Note = SwimNote;

    /// Periods start at once in lock step without jitter (every member's
    /// periods at the same instants, as the analysis assumes), else at a
    /// random phase. A restarted member rejoins with a higher incarnation.
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let now = ctx.now().as_nanos();
        let period = self.params.period.as_nanos();
        let first = if self.params.jitter { ctx.rng().gen_range(0..period) } else { period - now % period };
        ctx.set_timer(Duration::from_nanos(first), SwimTimer::Period);
        let persisted = *ctx.durable();
        if persisted.left {
            // It left for good: a restart does not bring it back.
            self.left = true;
            return;
        }
        if persisted.booted {
            // A restart: rejoin above every incarnation the others may hold.
            ctx.count("rejoins", 1);
            self.announce(ctx, persisted.incarnation);
            self.joining = true;
        } else {
            *ctx.durable_mut() = Persisted { booted: true, incarnation: 0, left: false };
            let me = self.me;
            if let Some(spec) = self.params.leaves.iter().find(|l| l.node == me) {
                let at = spec.at.as_nanos().saturating_sub(now);
                ctx.set_timer(Duration::from_nanos(at), SwimTimer::Leave);
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: SwimMsg) {
        if self.left {
            return;
        }
        if let Addr::Node(sender) = from {
            self.heard_from(ctx, sender.0, msg.incarnation);
        }
        self.apply_all(ctx, &msg.updates);
        match msg.kind {
            Kind::Ping { seq } => self.send(ctx, from, Kind::Ack { seq }),
            Kind::Join => {
                let views: Vec<Update> = (0..self.nodes)
                    .filter(|&m| m != self.me)
                    .filter_map(|m| {
                        let v = self.view(m);
                        (v.health != Health::Alive || v.incarnation > 0).then_some(Update {
                            member: m,
                            health: v.health,
                            incarnation: v.incarnation,
                        })
                    })
                    .collect();
                self.send(ctx, from, Kind::State { views });
            }
            Kind::State { views } => {
                self.joining = false;
                for u in views {
                    self.apply(ctx, u);
                }
            }
            Kind::Ack { seq } => self.on_ack(ctx, seq),
            Kind::PingReq { seq: their_seq, target } => {
                if target as usize >= self.views.len() || target == self.me {
                    return;
                }
                let seq = self.next_seq;
                self.next_seq += 1;
                if self.relays.len() >= MAX_RELAYS {
                    self.relays.remove(0);
                }
                self.relays.push(Relay { seq, requester: from, their_seq });
                self.send(ctx, Addr::node(target), Kind::Ping { seq });
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: SwimTimer) {
        if self.left {
            return;
        }
        match timer {
            SwimTimer::Leave => self.leave(ctx),
            SwimTimer::Period => self.on_period(ctx),
            SwimTimer::AckTimeout { seq } => self.on_ack_timeout(ctx, seq),
            SwimTimer::Suspicion { member, incarnation } => {
                let view = self.view(member);
                if view.health == Health::Suspect && view.incarnation == incarnation {
                    self.set_view(ctx, member, Health::Dead, incarnation, true);
                }
            }
        }
    }
}
