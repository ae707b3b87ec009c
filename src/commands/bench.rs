//! `faultline bench`: the engine's speed on fixed workloads, in events per
//! second and simulated seconds per wall second.
//!
//! - `pingpong` (the default): 5 nodes, 1,000 messages always in flight,
//!   latency uniform 1–2 ms, identical machines without disks — the
//!   workload `ci/compare-peers.sh` also runs on a bare event loop, on
//!   turmoil and on SimPy.
//! - `pingpong-10k`, `pingpong-1m`: the same with 10⁴ and 10⁶ messages in
//!   flight, so the queue holds that many pending events.
//! - `fanout-100k`: one rumor pushed to 100,000 gossip nodes
//!   (`scenarios/gossip/push-100k.toml`).
//! - `raft-throughput`: 5-node Raft at 1,000 client operations per second
//!   for a virtual minute (`scenarios/raft/throughput.toml`), timed up to
//!   the end of the simulation (the history checks after it are not).
//! - `explore`: seeds per second over Raft's chaos scenario
//!   (`scenarios/raft/chaos.toml`), each seed run and checked as `explore`
//!   does, on one thread and on two.
//! - `cache`: requests per second through the cache policies — 10⁷
//!   requests drawn in advance from a Zipf law (alpha 0.8, 10⁶ keys) through
//!   LRU, LFU and FIFO caches of 10⁴ entries, on one thread, a miss followed
//!   by a put as `faultline cache replay` does.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use faultline_protocols::{pingpong, Loaded, RunOptions};
use faultline_scenario::Scenario;
use serde_json::json;

use super::{CliError, Outcome};
use crate::cli::{BenchArgs, BenchWorkload};
use crate::output::{thousands, wall_now};

const PINGPONG_SCENARIO: &str = r#"
name = "bench-pingpong"
protocol = "pingpong"
nodes = 5
duration = "1h"

[params]
in_flight = 1000

[network]
latency = { dist = "uniform", min = "1ms", max = "2ms" }

[limits]
max_events = 20000000

# Identical machines, so the figure compares with runs from before machines
# differed by default.
[machines]
start_jitter = "0s"
clock_offset = "0s"
clock_drift_ppm = 0
"#;

const FANOUT_SCENARIO: (&str, &str) =
    ("scenarios/gossip/push-100k.toml", include_str!("../../scenarios/gossip/push-100k.toml"));
const RAFT_THROUGHPUT_SCENARIO: (&str, &str) =
    ("scenarios/raft/throughput.toml", include_str!("../../scenarios/raft/throughput.toml"));
const RAFT_CHAOS_SCENARIO: (&str, &str) =
    ("scenarios/raft/chaos.toml", include_str!("../../scenarios/raft/chaos.toml"));
/// Seeds one `explore` measurement runs.
const EXPLORE_SEEDS: u64 = 200;

/// One timed run: what it simulated and how long that took.
struct Sample {
    events: u64,
    virtual_secs: f64,
    wall_secs: f64,
    fingerprint: Option<u64>,
}

impl Sample {
    fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.wall_secs
    }
    fn speed(&self) -> f64 {
        self.virtual_secs / self.wall_secs
    }
}

pub fn bench(args: &BenchArgs) -> Result<Outcome, CliError> {
    if args.events == 0 || args.repeat == 0 {
        return Err(CliError::input(anyhow::anyhow!("--events and --repeat must be at least 1")));
    }
    let mut workloads = args.workload.clone();
    if workloads.is_empty() {
        workloads.push(BenchWorkload::Pingpong);
    }
    if workloads.contains(&BenchWorkload::All) {
        workloads = BenchWorkload::every().to_vec();
    }
    for workload in workloads {
        match workload {
            BenchWorkload::Pingpong => pingpong_bench(args, 1_000, "pingpong-5-nodes-1000-in-flight")?,
            BenchWorkload::Pingpong10k => pingpong_bench(args, 10_000, "pingpong-5-nodes-10000-in-flight")?,
            BenchWorkload::Pingpong1m => pingpong_bench(args, 1_000_000, "pingpong-5-nodes-1000000-in-flight")?,
            BenchWorkload::Fanout100k => scenario_bench(args, FANOUT_SCENARIO, "fanout-100k-nodes")?,
            BenchWorkload::RaftThroughput => scenario_bench(args, RAFT_THROUGHPUT_SCENARIO, "raft-throughput")?,
            BenchWorkload::Explore => explore_bench(args)?,
            BenchWorkload::Cache => cache_bench(args),
            BenchWorkload::All => {}
        }
    }
    Ok(Outcome::Ok)
}

fn pingpong_bench(args: &BenchArgs, in_flight: u32, name: &str) -> Result<(), CliError> {
    let text = PINGPONG_SCENARIO.replace("in_flight = 1000", &format!("in_flight = {in_flight}"));
    let mut scenario = Scenario::parse(&text, "<bench>", crate::registry()).map_err(|e| anyhow::anyhow!("{e}"))?;
    scenario.limits.max_events = args.events;
    measure(args, name, || {
        let mut world = pingpong::build(&scenario, 1).map_err(|e| anyhow::anyhow!("{e}"))?;
        let started = wall_now();
        let outcome = world.run();
        let wall_secs = started.elapsed().as_secs_f64();
        Ok(Sample {
            events: outcome.events,
            virtual_secs: outcome.virtual_time.as_secs_f64(),
            wall_secs,
            fingerprint: Some(outcome.fingerprint),
        })
    })
}

fn load_shipped((path, text): (&str, &str)) -> Result<Loaded, CliError> {
    crate::registry()
        .parse_scenario(text, path)
        .map_err(|e| CliError::from(anyhow::anyhow!("the benchmark's copy of {path} does not load: {e}")))
}

/// Runs a shipped scenario, timed from the start to the end of its
/// simulation (the checks that follow are not counted).
fn scenario_bench(args: &BenchArgs, shipped: (&str, &str), name: &str) -> Result<(), CliError> {
    let loaded = load_shipped(shipped)?;
    let seed = loaded.seed;
    measure(args, name, || {
        let simulated: Rc<Cell<Option<std::time::Instant>>> = Rc::new(Cell::new(None));
        let mark = Rc::clone(&simulated);
        let options = RunOptions {
            on_phase: Some(Box::new(move |phase| {
                if phase == "simulated" {
                    mark.set(Some(wall_now()));
                }
            })),
            ..RunOptions::default()
        };
        let started = wall_now();
        let report = loaded.run(seed, options);
        let ended = simulated.get().unwrap_or_else(wall_now);
        Ok(Sample {
            events: report.events,
            virtual_secs: report.virtual_time.as_secs_f64(),
            wall_secs: ended.duration_since(started).as_secs_f64(),
            fingerprint: Some(report.fingerprint),
        })
    })
}

/// A speed with three significant figures at most.
fn speed(x: f64) -> String {
    match x {
        x if x >= 100.0 => format!("{x:.0}"),
        x if x >= 10.0 => format!("{x:.1}"),
        x if x >= 0.1 => format!("{x:.2}"),
        x => format!("{x:.2e}"),
    }
}

/// Takes `--repeat` samples and reports each and the best.
fn measure(args: &BenchArgs, name: &str, mut one: impl FnMut() -> Result<Sample, CliError>) -> Result<(), CliError> {
    let mut samples = Vec::new();
    for i in 0..args.repeat {
        let s = one()?;
        if !args.json {
            println!(
                "{name} run {}: {} events in {:.3}s = {:.2}M events/s, {} simulated s per wall s{}",
                i + 1,
                thousands(s.events),
                s.wall_secs,
                s.events_per_sec() / 1e6,
                speed(s.speed()),
                s.fingerprint.map_or(String::new(), |f| format!(", fingerprint {f:016x}"))
            );
        }
        samples.push(s);
    }
    let rates: Vec<f64> = samples.iter().map(Sample::events_per_sec).collect();
    let best = rates.iter().copied().fold(0.0, f64::max);
    let best_speed = samples.iter().map(Sample::speed).fold(0.0, f64::max);
    if args.json {
        println!(
            "{}",
            json!({
                "benchmark": name,
                "events_per_run": samples.first().map_or(0, |s| s.events),
                "events_per_sec": rates,
                "best_events_per_sec": best,
                "best_sim_seconds_per_wall_second": best_speed,
            })
        );
    } else {
        println!("{name} best: {:.2}M events/s ({}x real time)", best / 1e6, speed(best_speed));
    }
    Ok(())
}

/// Seeds per second over Raft's chaos scenario on one and on two threads:
/// each seed is run with its checks, as `explore` runs it.
fn explore_bench(args: &BenchArgs) -> Result<(), CliError> {
    let loaded = load_shipped(RAFT_CHAOS_SCENARIO)?;
    for threads in [1usize, 2] {
        let mut rates = Vec::new();
        for i in 0..args.repeat {
            let next = AtomicU64::new(1);
            let events = AtomicU64::new(0);
            let virtual_ns = AtomicU64::new(0);
            let failed = AtomicU64::new(0);
            let started = wall_now();
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| loop {
                        let seed = next.fetch_add(1, Ordering::Relaxed);
                        if seed > EXPLORE_SEEDS {
                            return;
                        }
                        let report = loaded.run(seed, RunOptions::default());
                        events.fetch_add(report.events, Ordering::Relaxed);
                        virtual_ns.fetch_add(report.virtual_time.as_nanos(), Ordering::Relaxed);
                        if report.checks.iter().any(|c| c.verdict != faultline_sim::Verdict::Pass) {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                }
            });
            let wall = started.elapsed().as_secs_f64();
            let rate = EXPLORE_SEEDS as f64 / wall;
            if !args.json {
                println!(
                    "explore-raft-chaos -j{threads} run {}: {EXPLORE_SEEDS} seeds in {wall:.2}s = {rate:.1} seeds/s, \
                     {:.2}M events/s, {} simulated s per wall s, {} not passing",
                    i + 1,
                    events.load(Ordering::Relaxed) as f64 / wall / 1e6,
                    speed(virtual_ns.load(Ordering::Relaxed) as f64 / 1e9 / wall),
                    failed.load(Ordering::Relaxed)
                );
            }
            rates.push(rate);
        }
        let best = rates.iter().copied().fold(0.0, f64::max);
        if args.json {
            println!(
                "{}",
                json!({"benchmark": format!("explore-raft-chaos-j{threads}"), "seeds_per_run": EXPLORE_SEEDS, "seeds_per_sec": rates, "best_seeds_per_sec": best})
            );
        } else {
            println!("explore-raft-chaos -j{threads} best: {best:.1} seeds/s");
        }
    }
    Ok(())
}

/// The cache workload: requests per measurement, keys, skew, and entries.
const CACHE_REQUESTS: u64 = 10_000_000;
const CACHE_KEYS: u64 = 1_000_000;
const CACHE_ALPHA: f64 = 0.8;
const CACHE_ENTRIES: u64 = 10_000;

/// Requests per second through each cache policy on one thread, over one
/// trace generated before the clock starts.
fn cache_bench(args: &BenchArgs) {
    use faultline_protocols::cache::zipf::ZipfSpec;
    use faultline_protocols::cache::{replay, Capacity, PolicyKind, ReplayOptions};

    let spec = ZipfSpec { alpha: CACHE_ALPHA, keys: CACHE_KEYS, length: CACHE_REQUESTS, seed: 1 };
    let trace = spec.generate();
    let capacity = Capacity::entries(CACHE_ENTRIES).expect("a valid capacity");
    for policy in PolicyKind::ALL {
        let name = format!("cache-{policy}-{CACHE_ENTRIES}-entries");
        let mut rates = Vec::new();
        let mut hit_ratio = 0.0;
        for i in 0..args.repeat {
            let mut cache = policy.build(capacity);
            let started = wall_now();
            let stats = replay(cache.as_mut(), &trace, &ReplayOptions::default());
            let wall = started.elapsed().as_secs_f64();
            let rate = stats.requests as f64 / wall;
            hit_ratio = stats.hit_ratio();
            if !args.json {
                println!(
                    "{name} run {}: {} requests in {wall:.3}s = {:.2}M requests/s, hit ratio {hit_ratio:.4}",
                    i + 1,
                    thousands(stats.requests),
                    rate / 1e6
                );
            }
            rates.push(rate);
        }
        let best = rates.iter().copied().fold(0.0, f64::max);
        if args.json {
            println!(
                "{}",
                json!({"benchmark": name, "requests_per_run": CACHE_REQUESTS, "requests_per_sec": rates, "best_requests_per_sec": best, "hit_ratio": hit_ratio})
            );
        } else {
            println!("{name} best: {:.2}M requests/s", best / 1e6);
        }
    }
}
