//! The simulated policies against theory and against each other.
//!
//! - LRU and FIFO hit ratios on IRM Zipf traces against Che's approximation
//!   (within 0.5 % absolute), measured after a warm-up of ten requests per
//!   key, for N/C = 10⁴/10² and 10⁵/10³ at α = 0.8 and 1.0; 10⁶/10⁴ is
//!   `#[ignore]`d (run it with `--ignored`).
//! - LRU's one-pass miss-ratio curve (stack distances) equals an LRU
//!   simulation at every capacity, request for request.
//! - A parallel sweep gives the same figures on one thread as on two.

use faultline_protocols::cache::mrc::{capacity_grid, sweep, StackDistances};
use faultline_protocols::cache::zipf::{popularity, ZipfSpec};
use faultline_protocols::cache::{che, replay, Capacity, PolicyKind, ReplayOptions, Trace};

/// Requests counted after the warm-up.
const MEASURED: u64 = 2_000_000;
const TOLERANCE: f64 = 0.005;

fn che_point(keys: u64, capacity: u64, alpha: f64, measured: u64) {
    let warmup = 10 * keys;
    let spec = ZipfSpec { alpha, keys, length: warmup + measured, seed: 20_140_427 };
    let trace = spec.generate();
    let p = popularity(keys as usize, alpha);
    let options = ReplayOptions { warmup, ..ReplayOptions::default() };
    let mut failures = Vec::new();
    for kind in [PolicyKind::Lru, PolicyKind::Fifo] {
        let simulated = replay(kind.build(Capacity::entries(capacity).unwrap()).as_mut(), &trace, &options).hit_ratio();
        let estimate = match kind {
            PolicyKind::Fifo => che::fifo(&p, capacity as f64),
            _ => che::lru(&p, capacity as f64),
        };
        let difference = simulated - estimate.hit_ratio;
        println!(
            "{kind:<4} N={keys:<7} C={capacity:<6} alpha={alpha}: simulated {simulated:.5}, Che {:.5} \
             (T = {:.0} requests), difference {difference:+.5}",
            estimate.hit_ratio, estimate.characteristic_time
        );
        if difference.abs() > TOLERANCE {
            failures.push(format!("{kind} N={keys} C={capacity} alpha={alpha}: {difference:+.5}"));
        }
    }
    assert!(failures.is_empty(), "more than {TOLERANCE} from Che's approximation: {failures:?}");
}

#[test]
fn cache_lru_and_fifo_match_che_at_10k_keys_100_entries() {
    for alpha in [0.8, 1.0] {
        che_point(10_000, 100, alpha, MEASURED);
    }
}

#[test]
fn cache_lru_and_fifo_match_che_at_100k_keys_1000_entries() {
    for alpha in [0.8, 1.0] {
        che_point(100_000, 1_000, alpha, MEASURED);
    }
}

#[test]
#[ignore = "about ten seconds in release: cargo test --release --test cache_fidelity -- --ignored"]
fn cache_lru_and_fifo_match_che_at_1m_keys_10k_entries() {
    for alpha in [0.8, 1.0] {
        che_point(1_000_000, 10_000, alpha, 10_000_000);
    }
}

fn mrc_trace() -> Trace {
    ZipfSpec { alpha: 0.9, keys: 2_000, length: 30_000, seed: 5 }.generate()
}

#[test]
fn cache_lru_one_pass_curve_equals_simulation_at_every_capacity() {
    let trace = mrc_trace();
    let options = ReplayOptions { warmup: 3_000, ..ReplayOptions::default() };
    let distances = StackDistances::of(&trace, options.warmup);
    let distinct = distances.distinct_keys();
    assert_eq!(distinct, trace.distinct_keys() as u64);
    let capacities: Vec<u64> = (1..=300).chain([500, 1_000, distinct - 1, distinct, distinct + 1, 10_000]).collect();
    for c in capacities {
        let simulated = replay(PolicyKind::Lru.build(Capacity::entries(c).unwrap()).as_mut(), &trace, &options);
        assert_eq!(distances.at(c), simulated, "capacity {c}");
    }
}

#[test]
fn cache_sweep_is_the_same_on_one_thread_and_two_and_matches_single_replays() {
    let trace = mrc_trace();
    let options = ReplayOptions { warmup: 1_000, ..ReplayOptions::default() };
    let capacities: Vec<Capacity> =
        capacity_grid(2_000, 3, 5).into_iter().map(|c| Capacity::entries(c).unwrap()).collect();
    let on = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| sweep(&trace, &PolicyKind::ALL, &capacities, &options))
    };
    let one = on(1);
    assert_eq!(one, on(2));
    assert_eq!(one.len(), 3 * capacities.len());
    for point in &one {
        let alone = replay(point.policy.build(point.capacity).as_mut(), &trace, &options);
        assert_eq!(point.stats, alone, "{} at {:?}", point.policy, point.capacity);
    }
    // More room never hurts LRU (a stack algorithm).
    let lru: Vec<f64> = one.iter().filter(|p| p.policy == PolicyKind::Lru).map(|p| p.stats.hit_ratio()).collect();
    assert!(lru.windows(2).all(|w| w[0] <= w[1]), "{lru:?}");
}
