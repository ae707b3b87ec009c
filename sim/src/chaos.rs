//! Faults at random times. A scenario's `[chaos]` section describes a fault
//! *process* — which kinds, how often, how long each lasts — and each seed
//! draws its own schedule from it with a dedicated random stream, so the same
//! seed always replays the same faults while different seeds explore
//! different ones.

use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use crate::fault::{FaultAction, NodeRef, ScheduledFault};
use crate::rng::{poisson_gap, stream, Probability, Stream};
use crate::time::{Duration, Time};

/// The fault kinds chaos can draw.
pub const CHAOS_KINDS: [&str; 7] =
    ["crash", "partition", "partition_oneway", "isolate", "pause", "clock_rate", "slow_disk"];

/// The most faults one chaos schedule may draw.
pub const MAX_CHAOS_FAULTS: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChaosConfig {
    /// No chaos fault starts before this.
    pub start: Duration,
    /// Mean time between fault starts (a Poisson process).
    pub mean_interval: Duration,
    /// Kinds to draw from, uniformly.
    pub kinds: Vec<String>,
    pub fault_duration_min: Duration,
    pub fault_duration_max: Duration,
    /// Share of node faults aimed at the current leader rather than a random
    /// node (needs a protocol that declares a primary role).
    pub leader_bias: Probability,
    /// The role those faults aim at: the protocol's primary role.
    pub leader_role: String,
    /// No chaos fault starts at or after this (the run's duration when unset).
    pub end: Option<Duration>,
    /// The schedule holds at most this many faults (`max_faults = 1` with a
    /// short `mean_interval` is "exactly one fault, soon after `start`").
    pub max_faults: Option<usize>,
}

/// Draws the fault schedule of one seed; every fault is undone before `end`.
pub fn schedule(config: &ChaosConfig, nodes: u32, end: Duration, seed: u64) -> Vec<ScheduledFault> {
    let mut rng = stream(seed, Stream::Chaos);
    let mut faults = Vec::new();
    let mut at = Time::ZERO + config.start;
    let end = Time::ZERO + config.end.map_or(end, |e| e.min(end));
    let max_faults = config.max_faults.unwrap_or(MAX_CHAOS_FAULTS);
    let per_sec = 1e9 / config.mean_interval.as_nanos().max(1) as f64;
    // Draws are counted, not faults: a kind that cannot strike (a partition
    // of one node) is skipped, and its draws still end the schedule.
    let mut drawn = 0;
    while drawn < MAX_CHAOS_FAULTS && faults.len() < max_faults && !config.kinds.is_empty() {
        drawn += 1;
        at += poisson_gap(&mut rng, per_sec);
        if at >= end {
            break;
        }
        let lasting = Duration::from_nanos(
            rng.gen_range(config.fault_duration_min.as_nanos()..=config.fault_duration_max.as_nanos()),
        )
        .min(end.since(at));
        let kind = config.kinds[rng.gen_range(0..config.kinds.len())].as_str();
        let target = if config.leader_bias.sample(&mut rng) {
            NodeRef::Role(config.leader_role.clone())
        } else {
            NodeRef::Random
        };
        let mut order: Vec<u32> = (0..nodes).collect();
        order.shuffle(&mut rng);
        let action = match kind {
            "crash" => FaultAction::Crash { node: target },
            "isolate" => FaultAction::Isolate { node: target },
            "pause" => FaultAction::Pause { node: target },
            "clock_rate" => FaultAction::ClockRate { node: target, rate: rng.gen_range(0.5..=2.0) },
            "slow_disk" => FaultAction::SlowDisk { node: target, factor: rng.gen_range(2.0..=20.0) },
            "partition" if nodes >= 2 => {
                let cut = rng.gen_range(1..nodes) as usize;
                FaultAction::Partition { groups: vec![order[..cut].to_vec()] }
            }
            "partition_oneway" if nodes >= 2 => {
                let cut = rng.gen_range(1..nodes) as usize;
                FaultAction::PartitionOneway { from: order[..cut].to_vec(), to: order[cut..].to_vec() }
            }
            _ => continue,
        };
        faults.push(ScheduledFault { at, action, undo_after: Some(lasting), after: None });
    }
    faults
}
