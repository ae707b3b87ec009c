//! The disk model and machine differences, each tested against a control run
//! without them: every assertion on the modelled run fails with it switched
//! off.

use std::cell::RefCell;
use std::rc::Rc;

use faultline_sim::fault::{FaultAction, NodeRef, ScheduledFault};
use faultline_sim::net::LinkConfig;
use faultline_sim::{
    Addr, Ctx, DiskConfig, Duration, Latency, Limits, MachineConfig, Message, Monitor, NodeId, Process, Time,
    Violation, World, WorldConfig,
};

#[derive(Clone, Debug, Hash, PartialEq)]
struct Written(u64);
impl Message for Written {
    fn label(&self) -> &'static str {
        "Written"
    }
}

#[derive(Clone, Debug, Hash)]
struct Write;

#[derive(Clone, Default, Debug)]
struct Store {
    value: u64,
}

/// What the test reads after the run, shared with every incarnation.
#[derive(Default)]
struct Log {
    /// (true time, value) of every message node 1 received.
    received: Vec<(Time, u64)>,
    /// (true time, token) of every durability callback on node 0.
    durable: Vec<(Time, u64)>,
    /// What each incarnation of node 0 recovered.
    recovered: Vec<u64>,
    /// When each node started, true time.
    started: Vec<(u32, Time)>,
    /// When each node's first timer fired, true time.
    fired: Vec<(u32, Time)>,
    /// (true time, value) of every report the checker saw.
    noted: Vec<(Time, u64)>,
}

/// A checker that records what it is told and when.
struct Recorder(Rc<RefCell<Log>>);

impl Monitor<Writer> for Recorder {
    fn on_note(&mut self, now: Time, _node: NodeId, note: &u64) -> Option<Violation> {
        self.0.borrow_mut().noted.push((now, *note));
        None
    }
}

/// Node 0 writes `value + 1` at 10 ms and tells node 1; `sync` chooses how.
struct Writer {
    sync: bool,
    log: Rc<RefCell<Log>>,
}

impl Process for Writer {
    type Msg = Written;
    type Timer = Write;
    type Durable = Store;
    /// The value written, reported to the checker.
    type Note = u64;
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let me = match ctx.me() {
            Addr::Node(n) => n.0,
            Addr::Client(_) => return,
        };
        self.log.borrow_mut().started.push((me, ctx.true_now()));
        if me == 0 {
            self.log.borrow_mut().recovered.push(ctx.durable().value);
        }
        ctx.set_timer(Duration::from_millis(10), Write);
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _from: Addr, msg: Written) {
        self.log.borrow_mut().received.push((ctx.true_now(), msg.0));
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _timer: Write) {
        let Addr::Node(me) = ctx.me() else { return };
        self.log.borrow_mut().fired.push((me.0, ctx.true_now()));
        if me.0 != 0 {
            return;
        }
        let value = ctx.durable().value + 1;
        if self.sync {
            ctx.durable_mut().value = value;
        } else {
            ctx.durable_mut_async(value).value = value;
        }
        ctx.send(Addr::node(1), Written(value));
        ctx.note(value);
    }
    fn on_durable(&mut self, ctx: &mut Ctx<'_, Self>, token: u64) {
        self.log.borrow_mut().durable.push((ctx.true_now(), token));
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at(n: u64) -> Time {
    Time::ZERO + ms(n)
}

fn disk(latency: u64) -> Option<DiskConfig> {
    Some(DiskConfig { latency: Latency::Constant { value: ms(latency) } })
}

fn run(sync: bool, machines: MachineConfig, faults: Vec<ScheduledFault>, seed: u64, nodes: u32) -> Rc<RefCell<Log>> {
    let log = Rc::new(RefCell::new(Log::default()));
    let config = WorldConfig {
        seed,
        nodes,
        client_homes: Vec::new(),
        default_link: LinkConfig::default(), // 1 ms, no loss
        link_overrides: Vec::new(),
        faults,
        limits: Limits::new(at(200), 1_000_000),
        liveness_from: None,
        machines,
    };
    let shared = Rc::clone(&log);
    let mut world: World<Writer, Writer> =
        World::new(config, Box::new(move |_: NodeId, _: &Store| Writer { sync, log: Rc::clone(&shared) }), Vec::new());
    world.set_monitor(Box::new(Recorder(Rc::clone(&log))));
    world.run();
    log
}

fn with_disk(latency: u64) -> MachineConfig {
    MachineConfig { disk: disk(latency), ..MachineConfig::ideal() }
}

/// Crash node 0 at `crash` ms, restart it 20 ms later.
fn crash_at(crash: u64) -> Vec<ScheduledFault> {
    vec![ScheduledFault {
        at: at(crash),
        action: FaultAction::Crash { node: NodeRef::Id(0) },
        undo_after: Some(ms(20)),
        after: None,
    }]
}

#[test]
fn a_synchronous_persist_delays_the_messages_after_it_by_the_disk_latency() {
    let instant = run(true, MachineConfig::ideal(), Vec::new(), 1, 2);
    assert_eq!(instant.borrow().received, vec![(at(11), 1)], "10 ms timer + 1 ms link");
    let slow = run(true, with_disk(15), Vec::new(), 1, 2);
    assert_eq!(slow.borrow().received, vec![(at(26), 1)], "the 15 ms write comes first");
}

#[test]
fn an_asynchronous_persist_lets_messages_go_and_calls_back_when_durable() {
    let log = run(false, with_disk(15), Vec::new(), 1, 2);
    assert_eq!(log.borrow().received, vec![(at(11), 1)]);
    assert_eq!(log.borrow().durable, vec![(at(25), 1)]);
    let instant = run(false, MachineConfig::ideal(), Vec::new(), 1, 2);
    assert_eq!(instant.borrow().durable, vec![(at(10), 1)], "no disk: durable at once");
}

#[test]
fn an_unsynced_write_is_lost_on_crash() {
    // The write starts at 10 ms and takes 15 ms; the crash at 20 ms beats it.
    let lost = run(true, with_disk(15), crash_at(20), 1, 2);
    assert_eq!(lost.borrow().recovered, vec![0, 0], "the restart finds the value from before the write");
    // The restart (at 40 ms) writes again at 50 ms; that write's message,
    // 15 + 1 ms later, is the only one: the first died with its write.
    assert_eq!(lost.borrow().received, vec![(at(66), 1)]);
    // Without a disk model the same crash keeps the write.
    let kept = run(true, MachineConfig::ideal(), crash_at(20), 1, 2);
    assert_eq!(kept.borrow().recovered, vec![0, 1]);
    // And a crash after the write completed keeps it too.
    let durable = run(true, with_disk(15), crash_at(30), 1, 2);
    assert_eq!(durable.borrow().recovered, vec![0, 1]);
}

#[test]
fn an_asynchronous_write_lost_on_crash_is_never_called_back() {
    let log = run(false, with_disk(15), crash_at(20), 1, 2);
    assert_eq!(log.borrow().recovered, vec![0, 0]);
    // The only callback is the restarted node's own write (at 50 + 15 ms).
    assert_eq!(log.borrow().durable, vec![(at(65), 1)]);
}

#[test]
fn start_up_jitter_breaks_lockstep() {
    let first_fires = |machines: MachineConfig| {
        let log = run(true, machines, Vec::new(), 3, 5);
        let fired: std::collections::BTreeSet<Time> = log.borrow().fired.iter().map(|&(_, t)| t).collect();
        fired.len()
    };
    assert_eq!(first_fires(MachineConfig::ideal()), 1, "identical machines fire in lockstep");
    assert_eq!(first_fires(MachineConfig::typical()), 5, "each machine boots at its own time");
}

#[test]
fn clock_drift_makes_equal_timers_fire_apart() {
    let machines = MachineConfig { clock_drift_ppm: 100.0, ..MachineConfig::ideal() };
    let log = run(true, machines, Vec::new(), 3, 5);
    let fired: std::collections::BTreeSet<Time> = log.borrow().fired.iter().map(|&(_, t)| t).collect();
    assert_eq!(fired.len(), 5);
    for t in fired {
        let off = (t.as_nanos() as f64 - 10e6).abs();
        assert!(off <= 10e6 * 100e-6 + 1.0, "a 10 ms timer is off by at most 100 ppm: {off} ns");
        assert!(off > 0.0);
    }
}

#[test]
fn a_slow_disk_multiplies_write_latency_while_it_holds() {
    let slow = |at_ms: u64, lasting: u64| {
        vec![ScheduledFault {
            at: at(at_ms),
            action: FaultAction::SlowDisk { node: NodeRef::Id(0), factor: 3.0 },
            undo_after: Some(ms(lasting)),
            after: None,
        }]
    };
    // In force at 10 ms, when the write starts: 15 ms x 3, then 1 ms of link.
    let log = run(true, with_disk(15), slow(5, 100), 1, 2);
    assert_eq!(log.borrow().received, vec![(at(56), 1)]);
    // Ended before the write starts: no effect.
    let log = run(true, with_disk(15), slow(2, 5), 1, 2);
    assert_eq!(log.borrow().received, vec![(at(26), 1)]);
}

/// What a node reports to the checkers waits with its messages: a checker
/// never hears of a write a crash took back.
#[test]
fn reports_wait_for_the_synchronous_write_and_die_with_it() {
    let instant = run(true, MachineConfig::ideal(), Vec::new(), 1, 2);
    assert_eq!(instant.borrow().noted, vec![(at(10), 1)]);
    let slow = run(true, with_disk(15), Vec::new(), 1, 2);
    assert_eq!(slow.borrow().noted, vec![(at(25), 1)], "reported when durable");
    let lost = run(true, with_disk(15), crash_at(20), 1, 2);
    assert_eq!(lost.borrow().noted, vec![(at(65), 1)], "only the restarted node's write is reported");
    let asynchronous = run(false, with_disk(15), Vec::new(), 1, 2);
    assert_eq!(asynchronous.borrow().noted, vec![(at(10), 1)], "an asynchronous write holds nothing back");
}
