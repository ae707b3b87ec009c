//! How far the engine scales: prints figures, asserts nothing.
//!
//! ```text
//! cargo run --release -p faultline-sim --example scale            # every case
//! cargo run --release -p faultline-sim --example scale -- hops    # one case
//! ```
//!
//! Each case runs in a child process of its own, so one case's peak memory
//! does not hide another's. Cases:
//!
//! - `hops`: 100,000 nodes passing 10,000 tokens to random peers, 10 million
//!   events; peak RSS and bytes per node (target: under 1 GiB);
//! - `clients`: 5 nodes answering 10,000 closed-loop clients over session
//!   links for 2 virtual seconds (target: under 200 MiB);
//! - `partition`: 100,000 nodes split in two halves and healed, wall time of
//!   each (target: under 50 ms each), with datagram links and with session
//!   links carrying 100,000 live sessions (whose breaking and link-down
//!   notifications the apply time then includes);
//! - `million`: a 1,000,000-node world built and run for 2 million events.

use std::process::Command;

use faultline_sim::fault::{FaultAction, ScheduledFault};
use faultline_sim::net::{LinkConfig, LinkKind};
use faultline_sim::{Addr, Ctx, Duration, Latency, Limits, Message, Process, Time, World, WorldConfig};
use rand::Rng;

const CASES: [&str; 4] = ["hops", "clients", "partition", "million"];

#[derive(Clone, Debug, Hash)]
enum Msg {
    /// A token passed from node to node; counts its hops.
    Token(u64),
    Request(u64),
    Reply(u64),
}

impl Message for Msg {
    fn label(&self) -> &'static str {
        match self {
            Msg::Token(_) => "Token",
            Msg::Request(_) => "Request",
            Msg::Reply(_) => "Reply",
        }
    }
}

/// A node: starts a token if told to, forwards tokens to a random peer if
/// told to, and answers every request.
struct Node {
    starts_token: bool,
    forwards: bool,
}

fn random_peer<P: Process>(ctx: &mut Ctx<'_, P>) -> Addr {
    let n = ctx.node_count();
    let me = match ctx.me() {
        Addr::Node(id) => id.0,
        Addr::Client(_) => u32::MAX,
    };
    let pick = ctx.rng().gen_range(0..n - 1);
    Addr::node(if pick >= me { pick + 1 } else { pick })
}

impl Process for Node {
    type Msg = Msg;
    type Timer = ();
    type Durable = ();
    type Note = ();
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.starts_token {
            let to = random_peer(ctx);
            ctx.send(to, Msg::Token(0));
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: Addr, msg: Msg) {
        match msg {
            Msg::Token(hops) if self.forwards => {
                let to = random_peer(ctx);
                ctx.send(to, Msg::Token(hops + 1));
            }
            Msg::Request(op) => ctx.send(from, Msg::Reply(op)),
            _ => {}
        }
    }
    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _timer: ()) {}
}

/// A closed-loop client: one request in flight to its home node, a think
/// time of 5–15 ms between a reply and the next request.
struct Client {
    home: u32,
    next_op: u64,
}

impl Process for Client {
    type Msg = Msg;
    type Timer = ();
    type Durable = ();
    type Note = ();
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let first = ctx.random_between(Duration::ZERO, Duration::from_millis(10));
        ctx.set_timer(first, ());
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _from: Addr, msg: Msg) {
        if let Msg::Reply(op) = msg {
            ctx.client_complete(op);
            let think = ctx.random_between(Duration::from_millis(5), Duration::from_millis(15));
            ctx.set_timer(think, ());
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _timer: ()) {
        let op = self.next_op;
        self.next_op += 1;
        ctx.client_invoke(op);
        ctx.send(Addr::node(self.home), Msg::Request(op));
    }
}

fn link(kind: LinkKind) -> LinkConfig {
    LinkConfig {
        kind,
        latency: Latency::Uniform { min: Duration::from_millis(1), max: Duration::from_millis(2) },
        ..LinkConfig::default()
    }
}

fn config(
    nodes: u32,
    client_homes: Vec<u32>,
    kind: LinkKind,
    faults: Vec<ScheduledFault>,
    limits: Limits,
) -> WorldConfig {
    WorldConfig {
        seed: 7,
        nodes,
        client_homes,
        default_link: link(kind),
        link_overrides: Vec::new(),
        faults,
        limits,
        liveness_from: None,
        machines: faultline_sim::MachineConfig::ideal(),
    }
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Wall time, for the figures only: nothing in a run reads it.
#[allow(clippy::disallowed_methods)]
fn wall_now() -> std::time::Instant {
    std::time::Instant::now()
}

fn at_ms(ms: u64) -> Time {
    Time::ZERO + Duration::from_millis(ms)
}

fn hop_world(nodes: u32, tokens: u32, max_events: u64) -> World<Node, Client> {
    let limits = Limits::new(at_ms(3_600_000), max_events);
    let spawn = Box::new(move |id: faultline_sim::NodeId, _: &()| Node { starts_token: id.0 < tokens, forwards: true });
    World::new(config(nodes, Vec::new(), LinkKind::Datagram, Vec::new(), limits), spawn, Vec::new())
}

fn run_hops(case: &str, nodes: u32, tokens: u32, max_events: u64) {
    let started = wall_now();
    let mut world = hop_world(nodes, tokens, max_events);
    let built = started.elapsed().as_secs_f64();
    let started = wall_now();
    let outcome = world.run();
    let ran = started.elapsed().as_secs_f64();
    let peak = peak_rss_bytes().unwrap_or(0);
    println!(
        "{case}: {nodes} nodes, {tokens} tokens in flight: built in {built:.3}s; {} events ({:?}) in {ran:.3}s = {:.2}M events/s, {:.3} virtual s; peak RSS {} = {} bytes per node; fingerprint {:016x}",
        outcome.events,
        outcome.end,
        outcome.events as f64 / ran / 1e6,
        outcome.virtual_time.as_secs_f64(),
        mib(peak),
        peak / u64::from(nodes),
        outcome.fingerprint
    );
}

fn run_clients() {
    let (nodes, clients) = (5u32, 10_000u32);
    let homes: Vec<u32> = (0..clients).map(|c| c % nodes).collect();
    let limits = Limits::new(at_ms(2_000), 100_000_000);
    let spawn = Box::new(|_, _: &()| Node { starts_token: false, forwards: false });
    let client_procs = homes.iter().map(|&home| Client { home, next_op: 0 }).collect();
    let started = wall_now();
    let mut world: World<Node, Client> =
        World::new(config(nodes, homes, LinkKind::Session, Vec::new(), limits), spawn, client_procs);
    let outcome = world.run();
    let wall = started.elapsed().as_secs_f64();
    let peak = peak_rss_bytes().unwrap_or(0);
    println!(
        "clients: {nodes} nodes, {clients} clients over session links, {:.3} virtual s: {} events, {} messages delivered in {wall:.3}s; peak RSS {}; fingerprint {:016x}",
        outcome.virtual_time.as_secs_f64(),
        outcome.events,
        outcome.net.delivered,
        mib(peak),
        outcome.fingerprint
    );
}

fn run_partition(kind: LinkKind) {
    let nodes = 100_000u32;
    let half: Vec<u32> = (0..nodes / 2).collect();
    let partition = ScheduledFault {
        at: at_ms(10),
        action: FaultAction::Partition { groups: vec![half] },
        undo_after: Some(Duration::from_millis(10)),
        after: None,
    };
    let limits = Limits::new(at_ms(30), 100_000_000);
    // Every node sends one token to a random peer at start, which is not
    // forwarded: by 10 ms the network is idle, and over session links
    // ~100,000 sessions are up.
    let spawn = Box::new(|_, _: &()| Node { starts_token: true, forwards: false });
    let mut world: World<Node, Client> =
        World::new(config(nodes, Vec::new(), kind, vec![partition], limits), spawn, Vec::new());
    world.run_until(Time::from_nanos(at_ms(10).as_nanos() - 1));
    let events_before = world.events();
    let started = wall_now();
    world.run_until(at_ms(10));
    let apply = started.elapsed().as_secs_f64() * 1e3;
    let apply_events = world.events() - events_before;
    world.run_until(Time::from_nanos(at_ms(20).as_nanos() - 1));
    let events_before = world.events();
    let started = wall_now();
    world.run_until(at_ms(20));
    let heal = started.elapsed().as_secs_f64() * 1e3;
    let heal_events = world.events() - events_before;
    let faults: Vec<String> = world.applied_faults().iter().map(|f| format!("{} at {}", f.kind, f.at)).collect();
    println!(
        "partition ({kind:?} links): {nodes} nodes in two halves: apply {apply:.3} ms ({apply_events} events, the fault and its link-down notices), heal {heal:.3} ms ({heal_events} events); peak RSS {}; applied: {}",
        mib(peak_rss_bytes().unwrap_or(0)),
        faults.join(", ")
    );
}

fn run_case(case: &str) {
    match case {
        "hops" => run_hops("hops", 100_000, 10_000, 10_000_000),
        "clients" => run_clients(),
        "partition" => {
            run_partition(LinkKind::Datagram);
            run_partition(LinkKind::Session);
        }
        "million" => run_hops("million", 1_000_000, 10_000, 2_000_000),
        other => {
            eprintln!("unknown case {other:?}; cases: {}", CASES.join(", "));
            std::process::exit(2);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        args.iter().for_each(|case| run_case(case));
        return;
    }
    let me = std::env::current_exe().expect("the example's own path");
    for case in CASES {
        let status = Command::new(&me).arg(case).status().expect("run a case in a child process");
        if !status.success() {
            eprintln!("case {case} failed: {status}");
            std::process::exit(1);
        }
    }
}
