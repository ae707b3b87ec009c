//! `faultline bench`: the engine's speed on a fixed workload — pingpong with
//! 5 nodes, 1,000 messages always in flight, latency uniform 1–2 ms, identical
//! machines without disks — in events per second and simulated seconds per
//! wall second.

use faultline_protocols::pingpong;
use faultline_scenario::Scenario;
use serde_json::json;

use super::{CliError, Outcome};
use crate::cli::BenchArgs;
use crate::output::thousands;

const BENCH_SCENARIO: &str = r#"
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

pub fn bench(args: &BenchArgs) -> Result<Outcome, CliError> {
    if args.events == 0 || args.repeat == 0 {
        return Err(CliError::input(anyhow::anyhow!("--events and --repeat must be at least 1")));
    }
    let mut scenario =
        Scenario::parse(BENCH_SCENARIO, "<bench>", crate::registry()).map_err(|e| anyhow::anyhow!("{e}"))?;
    scenario.limits.max_events = args.events;
    let mut rates = Vec::new();
    let mut speeds = Vec::new();
    for i in 0..args.repeat {
        let mut world = pingpong::build(&scenario, 1).map_err(|e| anyhow::anyhow!("{e}"))?;
        let started = crate::output::wall_now();
        let outcome = world.run();
        let wall = started.elapsed().as_secs_f64();
        let rate = outcome.events as f64 / wall;
        let speed = outcome.virtual_time.as_secs_f64() / wall;
        if !args.json {
            println!(
                "run {}: {} events in {:.3}s = {:.2}M events/s, {:.0} simulated s per wall s, fingerprint {:016x}",
                i + 1,
                thousands(outcome.events),
                wall,
                rate / 1e6,
                speed,
                outcome.fingerprint
            );
        }
        rates.push(rate);
        speeds.push(speed);
    }
    let best = rates.iter().cloned().fold(0.0, f64::max);
    let best_speed = speeds.iter().cloned().fold(0.0, f64::max);
    if args.json {
        println!(
            "{}",
            json!({"benchmark": "pingpong-5-nodes-1000-in-flight", "events_per_run": args.events, "events_per_sec": rates, "best_events_per_sec": best, "best_sim_seconds_per_wall_second": best_speed})
        );
    } else {
        println!("best: {:.2}M events/s ({:.0}x real time)", best / 1e6, best_speed);
    }
    Ok(Outcome::Ok)
}
