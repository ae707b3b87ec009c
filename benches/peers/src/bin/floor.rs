//! The floor: the pingpong workload as a bare event loop — a binary heap of
//! (time, sequence, node) and a ChaCha8 generator, nothing else. No engine
//! that models a network can run the workload much faster than this.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use faultline_peers::{args, other, report, MAX_LATENCY_NS, MIN_LATENCY_NS};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() {
    let (nodes, in_flight, total) = args(10_000_000);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut queue: BinaryHeap<Reverse<(u64, u64, u64)>> = BinaryHeap::with_capacity(in_flight as usize);
    let mut seq = 0u64;
    for i in 0..in_flight {
        queue.push(Reverse((rng.random_range(MIN_LATENCY_NS..=MAX_LATENCY_NS), seq, i % nodes)));
        seq += 1;
    }
    let started = Instant::now();
    let (mut delivered, mut now, mut checksum) = (0u64, 0u64, 0u64);
    while let Some(Reverse((at, _, node))) = queue.pop() {
        now = at;
        delivered += 1;
        checksum = checksum.wrapping_add(node);
        if delivered >= total {
            break;
        }
        let to = other(rng.random_range(0..nodes - 1), node);
        queue.push(Reverse((at + rng.random_range(MIN_LATENCY_NS..=MAX_LATENCY_NS), seq, to)));
        seq += 1;
    }
    let wall = started.elapsed();
    std::hint::black_box(checksum);
    report("floor", nodes, in_flight, delivered, Duration::from_nanos(now), wall);
}
