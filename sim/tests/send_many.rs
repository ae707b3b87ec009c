//! `Ctx::send_many` is a send per recipient, in order: same network draws,
//! same deliveries, same fingerprint, while the engine keeps one payload.

use faultline_sim::fault::{FaultAction, NodeRef, ScheduledFault};
use faultline_sim::net::LinkConfig;
use faultline_sim::{
    Addr, Ctx, Duration, Latency, Limits, Message, NodeId, Probability, Process, Time, World, WorldConfig,
};

#[derive(Clone, Debug, Hash, PartialEq)]
struct Payload(Vec<u32>);
impl Message for Payload {
    fn label(&self) -> &'static str {
        "Payload"
    }
}

/// Node 0 sends a mix of single sends, multicasts and broadcasts every
/// millisecond, either with `send_many`/`broadcast` or one `send` each.
struct Sender {
    many: bool,
    round: u32,
    received: Vec<(Time, Addr, Vec<u32>)>,
}

impl Sender {
    fn fan_out(&mut self, ctx: &mut Ctx<'_, Self>, to: &[u32], msg: Payload) {
        if self.many {
            ctx.send_many(to.iter().map(|&n| Addr::node(n)), msg);
        } else {
            for &n in to {
                ctx.send(Addr::node(n), msg.clone());
            }
        }
    }
}

impl Process for Sender {
    type Msg = Payload;
    type Timer = ();
    type Durable = ();
    type Note = ();
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if ctx.me() == Addr::node(0) {
            ctx.set_timer(Duration::ZERO, ());
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: Payload) {
        self.received.push((ctx.true_now(), from, msg.0));
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: ()) {
        let r = self.round;
        ctx.send(Addr::node(1), Payload(vec![r, 0]));
        self.fan_out(ctx, &[2, 3, 1], Payload(vec![r, 1]));
        ctx.send(Addr::node(2), Payload(vec![r, 2]));
        self.fan_out(ctx, &[], Payload(vec![r, 3]));
        self.fan_out(ctx, &[3], Payload(vec![r, 4]));
        if self.many {
            ctx.broadcast(Payload(vec![r, 5]));
        } else {
            self.fan_out(ctx, &[1, 2, 3], Payload(vec![r, 5]));
        }
        self.round += 1;
        if self.round < 200 {
            ctx.set_timer(Duration::from_millis(1), ());
        }
    }
}

fn run(many: bool) -> World<Sender, Sender> {
    let prob = |p| Probability::new(p).unwrap();
    let link = LinkConfig {
        latency: Latency::Uniform { min: Duration::from_micros(100), max: Duration::from_millis(5) },
        loss: prob(0.2),
        duplicate: prob(0.3),
        reorder: prob(0.1),
        ..LinkConfig::default()
    };
    let ms = |n| Time::ZERO + Duration::from_millis(n);
    let faults = vec![
        ScheduledFault {
            at: ms(50),
            action: FaultAction::Pause { node: NodeRef::Id(2) },
            undo_after: Some(Duration::from_millis(30)),
            after: None,
        },
        ScheduledFault {
            at: ms(100),
            action: FaultAction::Partition { groups: vec![vec![0, 1], vec![2, 3]] },
            undo_after: Some(Duration::from_millis(20)),
            after: None,
        },
    ];
    let config = WorldConfig {
        seed: 5,
        nodes: 4,
        client_homes: Vec::new(),
        default_link: link,
        link_overrides: Vec::new(),
        faults,
        limits: Limits::new(ms(1000), 1_000_000),
        liveness_from: None,
        machines: faultline_sim::MachineConfig::ideal(),
    };
    let mut w = World::new(config, Box::new(move |_, _| Sender { many, round: 0, received: Vec::new() }), Vec::new());
    w.run();
    w
}

#[test]
fn send_many_is_a_send_per_recipient() {
    let (many, single) = (run(true), run(false));
    assert_eq!(many.fingerprint(), single.fingerprint());
    assert_eq!(many.net_stats(), single.net_stats());
    assert!(many.net_stats().duplicated > 0 && many.net_stats().dropped_partition > 0);
    for n in 1..4 {
        let got = &many.node(NodeId(n)).unwrap().received;
        assert_eq!(got, &single.node(NodeId(n)).unwrap().received, "node {n}");
        assert!(got.len() > 200, "node {n} got {}", got.len());
    }
}
