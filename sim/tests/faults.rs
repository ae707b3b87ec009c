//! Each network and node fault, tested against a control run without it: the
//! assertion on the faulty run fails if the fault is switched off.

use faultline_sim::fault::{FaultAction, NodeRef, ScheduledFault};
use faultline_sim::net::{LinkConfig, LinkKind};
use faultline_sim::{
    Addr, Ctx, Duration, Latency, Limits, Message, NodeId, Probability, Process, Time, World, WorldConfig,
};

#[derive(Clone, Debug, Hash, PartialEq)]
struct Seq(u32);
impl Message for Seq {
    fn label(&self) -> &'static str {
        "Seq"
    }
}

#[derive(Clone, Debug, Hash)]
enum Tick {
    /// Send the next message of the plan.
    Send,
    /// A timer whose firing time is recorded.
    Alarm,
}

#[derive(Clone, Default, Debug)]
struct Disk {
    persisted_sends: u32,
}

/// A test process: node 0 sends `count` numbered messages to node 1, one per
/// `every`; everyone records what arrives, when, and what else happens.
#[derive(Default)]
struct Probe {
    count: u32,
    every: Duration,
    sent: u32,
    alarm_after: Option<Duration>,
    received: Vec<(Time, Addr, u32)>,
    link_downs: Vec<(Time, Addr)>,
    alarms: Vec<Time>,
    /// Volatile copy of how many sends this incarnation made.
    volatile_sends: u32,
    /// What the durable state said when this incarnation was built.
    recovered_sends: u32,
}

impl Process for Probe {
    type Msg = Seq;
    type Timer = Tick;
    type Durable = Disk;
    type Note = ();
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if ctx.me() == Addr::node(0) && self.count > 0 {
            ctx.set_timer(Duration::ZERO, Tick::Send);
        }
        if let Some(after) = self.alarm_after {
            ctx.set_timer(after, Tick::Alarm);
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: Seq) {
        self.received.push((ctx.true_now(), from, msg.0));
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Tick) {
        match timer {
            Tick::Send => {
                ctx.send(Addr::node(1), Seq(self.sent));
                self.sent += 1;
                self.volatile_sends += 1;
                ctx.durable_mut().persisted_sends += 1;
                if self.sent < self.count {
                    ctx.set_timer(self.every, Tick::Send);
                }
            }
            Tick::Alarm => self.alarms.push(ctx.true_now()),
        }
    }
    fn on_link_down(&mut self, ctx: &mut Ctx<'_, Self>, peer: Addr) {
        self.link_downs.push((ctx.true_now(), peer));
    }
}

struct Setup {
    nodes: u32,
    link: LinkConfig,
    faults: Vec<ScheduledFault>,
    count: u32,
    every: Duration,
    alarm_after: Option<Duration>,
    run_for: Duration,
    seed: u64,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            nodes: 2,
            link: LinkConfig::default(),
            faults: Vec::new(),
            count: 100,
            every: Duration::from_millis(1),
            alarm_after: None,
            run_for: Duration::from_secs(1),
            seed: 1,
        }
    }
}

fn world(s: &Setup) -> World<Probe, Probe> {
    let config = WorldConfig {
        seed: s.seed,
        nodes: s.nodes,
        client_homes: Vec::new(),
        default_link: s.link.clone(),
        link_overrides: Vec::new(),
        faults: s.faults.clone(),
        limits: Limits::new(Time::ZERO + s.run_for, 10_000_000),
        liveness_from: None,
        machines: faultline_sim::MachineConfig::ideal(),
    };
    let (count, every, alarm_after) = (s.count, s.every, s.alarm_after);
    World::new(
        config,
        Box::new(move |_, disk: &Disk| Probe {
            count,
            every,
            alarm_after,
            recovered_sends: disk.persisted_sends,
            ..Probe::default()
        }),
        Vec::new(),
    )
}

fn run(s: &Setup) -> World<Probe, Probe> {
    let mut w = world(s);
    w.run();
    w
}

fn received(w: &World<Probe, Probe>, node: u32) -> Vec<u32> {
    w.node(NodeId(node)).map(|p| p.received.iter().map(|r| r.2).collect()).unwrap_or_default()
}

fn at(ms: u64) -> Time {
    Time::ZERO + Duration::from_millis(ms)
}

fn fault(ms: u64, action: FaultAction, undo_after_ms: Option<u64>) -> ScheduledFault {
    ScheduledFault { at: at(ms), action, undo_after: undo_after_ms.map(Duration::from_millis), after: None }
}

fn prob(p: f64) -> Probability {
    Probability::new(p).unwrap()
}

#[test]
fn loss_one_drops_everything() {
    let control = run(&Setup::default());
    assert_eq!(received(&control, 1).len(), 100);
    let lossy = run(&Setup { link: LinkConfig { loss: prob(1.0), ..LinkConfig::default() }, ..Setup::default() });
    assert!(received(&lossy, 1).is_empty());
    assert_eq!(lossy.net_stats().dropped_loss, 100);
}

#[test]
fn duplication_one_doubles_deliveries() {
    let dup = run(&Setup { link: LinkConfig { duplicate: prob(1.0), ..LinkConfig::default() }, ..Setup::default() });
    let got = received(&dup, 1);
    assert_eq!(got.len(), 200);
    for seq in 0..100 {
        assert_eq!(got.iter().filter(|&&s| s == seq).count(), 2, "seq {seq} arrives twice");
    }
}

fn inversions(seqs: &[u32]) -> usize {
    seqs.windows(2).filter(|w| w[1] < w[0]).count()
}

#[test]
fn reordering_is_observed() {
    let constant =
        LinkConfig { latency: Latency::Constant { value: Duration::from_millis(5) }, ..LinkConfig::default() };
    let control = run(&Setup { link: constant.clone(), ..Setup::default() });
    assert_eq!(inversions(&received(&control, 1)), 0, "a constant latency keeps order");
    let reordering = LinkConfig { reorder: prob(0.3), reorder_delay: Duration::from_millis(10), ..constant };
    let got = received(&run(&Setup { link: reordering, ..Setup::default() }), 1);
    assert_eq!(got.len(), 100);
    assert!(inversions(&got) > 5, "reordering should overtake: {got:?}");
}

#[test]
fn nothing_crosses_a_partition_and_delivery_resumes_after_heal() {
    // Messages are sent at 0..100 ms; the partition holds from 20 to 60 ms.
    let partition = FaultAction::Partition { groups: vec![vec![0], vec![1]] };
    let w = run(&Setup { faults: vec![fault(20, partition, Some(40))], ..Setup::default() });
    let arrivals = &w.node(NodeId(1)).unwrap().received;
    let inside: Vec<_> = arrivals.iter().filter(|r| r.0 > at(20) && r.0 < at(60)).collect();
    assert!(inside.is_empty(), "delivered during the partition: {inside:?}");
    assert!(arrivals.iter().any(|r| r.0 > at(60)), "delivery resumes after heal");
    assert!(w.net_stats().dropped_partition >= 39);
    let control = run(&Setup::default());
    assert!(control.node(NodeId(1)).unwrap().received.iter().any(|r| r.0 > at(20) && r.0 < at(60)));
}

#[test]
fn one_way_cut_blocks_one_direction_only() {
    // Node 0 sends to node 1: cutting 0 -> 1 silences it ...
    let cut = FaultAction::PartitionOneway { from: vec![0], to: vec![1] };
    let s = Setup { faults: vec![fault(0, cut, None)], ..Setup::default() };
    let w = run(&s);
    assert!(received(&w, 1).is_empty(), "0 -> 1 is cut");
    // ... while cutting the reverse direction leaves it open.
    let reverse = FaultAction::PartitionOneway { from: vec![1], to: vec![0] };
    let w = run(&Setup { faults: vec![fault(0, reverse, None)], ..Setup::default() });
    assert_eq!(received(&w, 1).len(), 100, "cutting 1 -> 0 leaves 0 -> 1 open");
}

#[test]
fn session_link_delivers_in_order_and_breaks_on_partition() {
    let jittery = Latency::Uniform { min: Duration::from_micros(100), max: Duration::from_millis(20) };
    let datagram = LinkConfig { latency: jittery.clone(), ..LinkConfig::default() };
    let dgram = received(&run(&Setup { link: datagram, ..Setup::default() }), 1);
    assert!(inversions(&dgram) > 0, "datagrams with jitter reorder");
    let session = LinkConfig { kind: LinkKind::Session, latency: jittery, ..LinkConfig::default() };
    let ordered = received(&run(&Setup { link: session.clone(), ..Setup::default() }), 1);
    assert_eq!(ordered, (0..100).collect::<Vec<_>>(), "a session link is FIFO");

    let partition = FaultAction::Partition { groups: vec![vec![0], vec![1]] };
    let w = run(&Setup { link: session, faults: vec![fault(50, partition, Some(10))], ..Setup::default() });
    let n0 = w.node(NodeId(0)).unwrap();
    let n1 = w.node(NodeId(1)).unwrap();
    assert_eq!(n0.link_downs, vec![(at(50), Addr::node(1))], "sender told");
    assert_eq!(n1.link_downs, vec![(at(50), Addr::node(0))], "receiver told");
    let got = received(&w, 1);
    assert!(got.len() < 100, "messages in flight on the broken session are lost");
    assert!(got.iter().any(|&s| s > 70), "a new session carries later messages");
    assert_eq!(inversions(&got), 0);
}

#[test]
fn crash_loses_volatile_state_and_keeps_durable_state() {
    let crash = FaultAction::Crash { node: NodeRef::Id(0) };
    let w = run(&Setup { faults: vec![fault(50, crash, Some(10))], ..Setup::default() });
    let n0 = w.node(NodeId(0)).unwrap();
    // Sends at 0..=49 ms happened before the crash at 50 ms: the fault was
    // scheduled first, so it wins the tie with the 50 ms send.
    assert_eq!(n0.recovered_sends, 50, "the restarted node is rebuilt from its durable state");
    assert_eq!(n0.volatile_sends, 100, "volatile state starts afresh: the 50 earlier sends are forgotten");
    assert_eq!(w.durable(NodeId(0)).persisted_sends, 150, "durable writes from both incarnations survive");
    let control = run(&Setup::default());
    assert_eq!(control.node(NodeId(0)).unwrap().recovered_sends, 0);
    assert_eq!(control.durable(NodeId(0)).persisted_sends, 100);
}

#[test]
fn paused_node_timers_fire_late() {
    let s = Setup { count: 0, alarm_after: Some(Duration::from_millis(100)), ..Setup::default() };
    let control = run(&s);
    assert_eq!(control.node(NodeId(1)).unwrap().alarms, vec![at(100)]);
    let pause = FaultAction::Pause { node: NodeRef::Id(1) };
    let w = run(&Setup { faults: vec![fault(50, pause, Some(200))], ..s });
    assert_eq!(w.node(NodeId(1)).unwrap().alarms, vec![at(250)], "the alarm waits for the resume");
}

#[test]
fn paused_node_deliveries_wait() {
    let pause = FaultAction::Pause { node: NodeRef::Id(1) };
    let w = run(&Setup { faults: vec![fault(10, pause, Some(200))], ..Setup::default() });
    let arrivals = &w.node(NodeId(1)).unwrap().received;
    assert_eq!(arrivals.len(), 100, "nothing lost");
    assert!(arrivals.iter().all(|r| r.0 <= at(11) || r.0 >= at(210)));
}

#[test]
fn clock_drift_stretches_timers() {
    let s = Setup { count: 0, alarm_after: Some(Duration::from_millis(100)), ..Setup::default() };
    let slow = FaultAction::ClockRate { node: NodeRef::Id(1), rate: 0.5 };
    // Faults at time zero fire after every on_start, so the alarm was armed
    // at the true rate and keeps its time; the local clock slows from then on.
    let w = run(&Setup { faults: vec![fault(0, slow, None)], ..s });
    assert_eq!(w.node(NodeId(1)).unwrap().alarms, vec![at(100)], "a timer set before the drift keeps its time");
    assert_eq!(w.now(), at(100));
    assert_eq!(w.local_time(NodeId(1)), Time::ZERO + Duration::from_millis(50), "local clock runs at half speed");
    // A timer set after the drift is stretched: node 0 sends every 10 ms of
    // its own clock; at rate 0.5 that is every 20 ms of true time.
    let slow0 = FaultAction::ClockRate { node: NodeRef::Id(0), rate: 0.5 };
    let setup = Setup { count: 10, every: Duration::from_millis(10), ..Setup::default() };
    let control = run(&setup);
    let drifting = run(&Setup { faults: vec![fault(0, slow0, None)], ..setup });
    let last = |w: &World<Probe, Probe>| w.node(NodeId(1)).unwrap().received.last().unwrap().0;
    assert_eq!(last(&control), at(91), "9 gaps of 10 ms plus 1 ms latency");
    assert_eq!(last(&drifting), at(181), "9 gaps of 20 ms plus 1 ms latency");
}

#[test]
fn simultaneous_events_keep_a_stable_order() {
    // Constant latency and one sender: everything is simultaneous pairwise;
    // order must be the send order, and identical across runs.
    let link = LinkConfig { latency: Latency::Constant { value: Duration::from_millis(3) }, ..LinkConfig::default() };
    let s = Setup { link, every: Duration::ZERO, ..Setup::default() };
    let a = run(&s);
    assert_eq!(received(&a, 1), (0..100).collect::<Vec<_>>());
    assert!(a.node(NodeId(1)).unwrap().received.iter().all(|r| r.0 == at(3)));
    let b = run(&s);
    assert_eq!(a.fingerprint(), b.fingerprint());
}

#[test]
fn fingerprint_depends_on_seed_and_nothing_else() {
    let jitter = LinkConfig {
        latency: Latency::Uniform { min: Duration::from_millis(1), max: Duration::from_millis(9) },
        loss: prob(0.1),
        ..LinkConfig::default()
    };
    let s = Setup { link: jitter, ..Setup::default() };
    let a = run(&s).fingerprint();
    let b = run(&s).fingerprint();
    let c = run(&Setup { seed: 2, ..s }).fingerprint();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn event_limit_ends_the_run_with_that_reason() {
    let mut w = world(&Setup::default());
    let config_limit = 10;
    let mut limited = World::<Probe, Probe>::new(
        WorldConfig {
            seed: 1,
            nodes: 2,
            client_homes: Vec::new(),
            default_link: LinkConfig::default(),
            link_overrides: Vec::new(),
            faults: Vec::new(),
            limits: Limits::new(at(1000), config_limit),
            liveness_from: None,
            machines: faultline_sim::MachineConfig::ideal(),
        },
        Box::new(|_, _| Probe { count: 100, every: Duration::from_millis(1), ..Probe::default() }),
        Vec::new(),
    );
    assert_eq!(limited.run().end, faultline_sim::EndReason::EventLimit);
    assert_eq!(limited.events(), config_limit);
    assert_eq!(w.run().end, faultline_sim::EndReason::Quiescent);
}

// ---- overlapping faults compose: each undo removes only what its fault did ----

fn arrivals_between(w: &World<Probe, Probe>, from_ms: u64, to_ms: u64) -> Vec<(Time, Addr, u32)> {
    w.node(NodeId(1)).unwrap().received.iter().copied().filter(|r| r.0 > at(from_ms) && r.0 < at(to_ms)).collect()
}

#[test]
fn overlapping_partitions_each_heal_only_themselves() {
    // Node 0 sends to node 1 every millisecond for 200 ms. Partition A holds
    // from 20 to 60 ms, partition B (a different split that also separates
    // 0 from 1) from 40 to 100 ms: A's heal must leave B standing.
    let a = FaultAction::Partition { groups: vec![vec![0], vec![1, 2]] };
    let b = FaultAction::Partition { groups: vec![vec![0, 2], vec![1]] };
    let s = Setup {
        nodes: 3,
        count: 200,
        faults: vec![fault(20, a, Some(40)), fault(40, b, Some(60))],
        ..Setup::default()
    };
    let w = run(&s);
    let leaked = arrivals_between(&w, 20, 100);
    assert!(leaked.is_empty(), "delivered while partition B stood: {leaked:?}");
    assert!(w.node(NodeId(1)).unwrap().received.iter().any(|r| r.0 > at(100)), "delivery resumes once both healed");
    let heals: Vec<(Time, &str)> =
        w.applied_faults().iter().filter(|f| f.kind == "heal").map(|f| (f.at, f.description.as_str())).collect();
    assert_eq!(heals, [(at(60), "heal partition #0"), (at(100), "heal partition #1")]);
    assert_eq!(w.applied_faults()[2].undoes(), Some(0));
    // Control: with A alone, delivery resumes at 60 ms.
    let alone = Setup { faults: vec![s.faults[0].clone()], ..s };
    assert!(!arrivals_between(&run(&alone), 60, 100).is_empty());
}

#[test]
fn overlapping_one_way_cuts_each_heal_only_themselves() {
    // Cut A: 0 -> {1, 2} from 20 to 60 ms; cut B: {0, 2} -> 1 from 40 to
    // 100 ms. Both block 0 -> 1; A's heal must not lift B.
    let a = FaultAction::PartitionOneway { from: vec![0], to: vec![1, 2] };
    let b = FaultAction::PartitionOneway { from: vec![0, 2], to: vec![1] };
    let s = Setup {
        nodes: 3,
        count: 200,
        faults: vec![fault(20, a, Some(40)), fault(40, b, Some(60))],
        ..Setup::default()
    };
    let w = run(&s);
    let leaked = arrivals_between(&w, 20, 100);
    assert!(leaked.is_empty(), "delivered while cut B stood: {leaked:?}");
    assert!(w.node(NodeId(1)).unwrap().received.iter().any(|r| r.0 > at(100)), "delivery resumes once both healed");
    let heals: Vec<&str> =
        w.applied_faults().iter().filter(|f| f.kind == "heal").map(|f| f.description.as_str()).collect();
    assert_eq!(heals, ["heal partition_oneway #0", "heal partition_oneway #1"]);
}

#[test]
fn a_partition_heal_leaves_an_overlapping_isolation_standing() {
    let partition = FaultAction::Partition { groups: vec![vec![0], vec![1]] };
    let isolate = FaultAction::Isolate { node: NodeRef::Id(1) };
    let s = Setup {
        count: 200,
        faults: vec![fault(20, partition, Some(20)), fault(30, isolate, Some(70))],
        ..Setup::default()
    };
    let w = run(&s);
    assert!(arrivals_between(&w, 20, 100).is_empty());
    assert!(w.node(NodeId(1)).unwrap().received.iter().any(|r| r.0 > at(100)));
}

#[test]
fn an_explicit_heal_still_heals_everything() {
    let a = FaultAction::Partition { groups: vec![vec![0], vec![1]] };
    let b = FaultAction::PartitionOneway { from: vec![0], to: vec![1] };
    let s = Setup {
        count: 200,
        faults: vec![fault(20, a, Some(100)), fault(30, b, Some(100)), fault(50, FaultAction::Heal, None)],
        ..Setup::default()
    };
    let w = run(&s);
    assert!(arrivals_between(&w, 20, 50).is_empty());
    assert!(!arrivals_between(&w, 51, 120).is_empty(), "the heal at 50 ms lifts both");
    let late: Vec<&str> = w.applied_faults().iter().filter(|f| f.at > at(50)).map(|f| f.description.as_str()).collect();
    assert_eq!(late, ["heal partition #0 (already healed)", "heal partition_oneway #1 (already healed)"]);
}

#[test]
fn overlapping_sessions_break_once() {
    let session = LinkConfig { kind: LinkKind::Session, ..LinkConfig::default() };
    let a = FaultAction::Partition { groups: vec![vec![0], vec![1]] };
    let b = FaultAction::Partition { groups: vec![vec![0], vec![1]] };
    let s = Setup {
        link: session,
        count: 200,
        faults: vec![fault(20, a, Some(40)), fault(40, b, Some(60))],
        ..Setup::default()
    };
    let w = run(&s);
    assert_eq!(
        w.node(NodeId(0)).unwrap().link_downs,
        vec![(at(20), Addr::node(1))],
        "broken once, by the first partition"
    );
    assert!(arrivals_between(&w, 20, 100).is_empty());
    assert!(w.node(NodeId(1)).unwrap().received.iter().any(|r| r.0 > at(100)), "a new session after both heals");
}

#[test]
fn overlapping_pauses_count() {
    // An alarm due at 100 ms on node 1; pauses from 50 to 250 ms and from
    // 100 to 400 ms: the node runs again only at 400 ms.
    let pause = || FaultAction::Pause { node: NodeRef::Id(1) };
    let s = Setup {
        count: 0,
        alarm_after: Some(Duration::from_millis(100)),
        faults: vec![fault(50, pause(), Some(200)), fault(100, pause(), Some(300))],
        ..Setup::default()
    };
    let w = run(&s);
    assert_eq!(w.node(NodeId(1)).unwrap().alarms, vec![at(400)]);
    // An explicit resume ends every pause at once.
    let resume = fault(150, FaultAction::Resume { node: NodeRef::Id(1) }, None);
    let w = run(&Setup { faults: vec![s.faults[0].clone(), s.faults[1].clone(), resume], ..s });
    assert_eq!(w.node(NodeId(1)).unwrap().alarms, vec![at(150)]);
}

#[test]
fn a_crash_restarts_only_the_node_it_took_down() {
    // Crash A at 20 ms (restart due at 120 ms); an explicit restart at 50 ms;
    // crash B at 60 ms (restart due at 260 ms). A's end must not restart the
    // node B took down.
    let crash = || FaultAction::Crash { node: NodeRef::Id(0) };
    let restart = FaultAction::Restart { node: NodeRef::Id(0) };
    let s = Setup {
        faults: vec![fault(20, crash(), Some(100)), fault(50, restart, None), fault(60, crash(), Some(200))],
        ..Setup::default()
    };
    let w = run(&s);
    let restarts: Vec<(Time, &str)> =
        w.applied_faults().iter().filter(|f| f.kind == "restart").map(|f| (f.at, f.description.as_str())).collect();
    assert_eq!(
        restarts,
        [(at(50), "restart n0 from durable state"), (at(260), "restart n0 from durable state (ends crash #2)")]
    );
}

#[test]
fn a_clock_change_ends_into_the_one_still_in_force() {
    // Node 1's clock runs at 2x from 0 to 100 ms and at 0.5x from 50 to
    // 250 ms. The first one's end leaves 0.5x; the second's restores 1x.
    let clock = |rate| FaultAction::ClockRate { node: NodeRef::Id(1), rate };
    let s = Setup {
        count: 0,
        faults: vec![fault(0, clock(2.0), Some(100)), fault(50, clock(0.5), Some(200))],
        ..Setup::default()
    };
    let w = run(&s);
    assert_eq!(w.now(), at(250));
    // 50 ms at 2x, then 200 ms at 0.5x.
    assert_eq!(w.local_time(NodeId(1)), Time::ZERO + Duration::from_millis(200));
    let last = w.applied_faults().last().unwrap();
    assert_eq!(last.description, "n1 clock runs at 1x (ends clock_rate #1)");
}
