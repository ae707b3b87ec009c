//! The event queue against the alternatives issue 18 names, in the classic
//! hold model: `n` events pending; each step pops the earliest and pushes
//! one at its time plus a delay uniform in 1–2 ms (pingpong's latency), so
//! the pending set keeps its size. Prints nanoseconds per hold (a pop and a
//! push) at 10³, 10⁴, 10⁵ and 10⁶ pending, best of three, for
//!
//! - the engine's queue (`faultline_sim::queue::EventQueue`: 16-byte keys
//!   beside a payload slab, in a binary heap up to 32,768 pending and in a
//!   radix heap beyond),
//! - a bare binary heap of `(time, sequence)` (the floor's queue),
//! - a radix heap (Ahuja, Mehlhorn, Orlin & Tarjan 1990) on the same keys,
//! - an implicit 4-ary heap on the same keys.
//!
//! Run with `cargo bench -p faultline-sim --bench queue`. Figures, not
//! assertions: they move with the machine; compare them within one run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Instant;

use faultline_sim::queue::EventQueue;
use faultline_sim::rng::{stream, uniform_inclusive, SimRng, Stream};
use faultline_sim::Time;

const MIN_DELAY: u64 = 1_000_000;
const MAX_DELAY: u64 = 2_000_000;

/// A min-queue of unique `u128` keys that never go below the last popped.
trait Queue {
    fn push(&mut self, key: u128);
    fn pop(&mut self) -> Option<u128>;
}

fn key(time: u64, seq: u64) -> u128 {
    (u128::from(time) << 64) | u128::from(seq)
}

struct Engine(EventQueue<u64>);

impl Queue for Engine {
    fn push(&mut self, key: u128) {
        let _ = self.0.push(Time::from_nanos((key >> 64) as u64), key as u64);
    }
    fn pop(&mut self) -> Option<u128> {
        self.0.pop().map(|(t, seq)| (u128::from(t.as_nanos()) << 64) | u128::from(seq))
    }
}

struct Binary(BinaryHeap<Reverse<u128>>);

impl Queue for Binary {
    fn push(&mut self, key: u128) {
        self.0.push(Reverse(key));
    }
    fn pop(&mut self) -> Option<u128> {
        self.0.pop().map(|r| r.0)
    }
}

/// Keys bucketed by the highest bit in which they differ from the last key
/// popped: bucket 0 holds keys equal to it, bucket `b` those whose highest
/// differing bit is `b - 1`.
struct Radix {
    last: u128,
    buckets: Vec<Vec<u128>>,
    occupied: u128,
}

impl Radix {
    fn new() -> Radix {
        Radix { last: 0, buckets: (0..=128).map(|_| Vec::new()).collect(), occupied: 0 }
    }
    fn put(&mut self, key: u128) {
        let b = (128 - (key ^ self.last).leading_zeros()) as usize;
        self.buckets[b].push(key);
        if b > 0 {
            self.occupied |= 1 << (b - 1);
        }
    }
}

impl Queue for Radix {
    fn push(&mut self, key: u128) {
        self.put(key);
    }
    fn pop(&mut self) -> Option<u128> {
        if self.buckets[0].is_empty() {
            if self.occupied == 0 {
                return None;
            }
            let b = self.occupied.trailing_zeros() as usize + 1;
            self.occupied &= !(1 << (b - 1));
            let mut keys = std::mem::take(&mut self.buckets[b]);
            self.last = keys.iter().copied().min()?;
            for &k in &keys {
                self.put(k);
            }
            keys.clear();
            self.buckets[b] = keys;
        }
        self.buckets[0].pop()
    }
}

/// An implicit 4-ary min-heap.
struct Quad(Vec<u128>);

impl Queue for Quad {
    fn push(&mut self, key: u128) {
        let keys = &mut self.0;
        let mut i = keys.len();
        keys.push(key);
        while i > 0 {
            let parent = (i - 1) / 4;
            if keys[parent] <= key {
                break;
            }
            keys[i] = keys[parent];
            i = parent;
        }
        keys[i] = key;
    }
    fn pop(&mut self) -> Option<u128> {
        let keys = &mut self.0;
        let last = keys.pop()?;
        let n = keys.len();
        if n == 0 {
            return Some(last);
        }
        let top = keys[0];
        let mut i = 0;
        loop {
            let first = 4 * i + 1;
            if first >= n {
                break;
            }
            let (mut best, mut best_key) = (first, keys[first]);
            for (c, &k) in keys.iter().enumerate().take((first + 4).min(n)).skip(first + 1) {
                if k < best_key {
                    best = c;
                    best_key = k;
                }
            }
            if last <= best_key {
                break;
            }
            keys[i] = best_key;
            i = best;
        }
        keys[i] = last;
        Some(top)
    }
}

/// Nanoseconds per hold with `pending` events, over `holds` holds.
fn hold(queue: &mut dyn Queue, pending: u64, holds: u64) -> f64 {
    let mut rng: SimRng = stream(1, Stream::Network);
    let mut seq = 0;
    for _ in 0..pending {
        queue.push(key(uniform_inclusive(&mut rng, MIN_DELAY, MAX_DELAY), seq));
        seq += 1;
    }
    // A benchmark times itself with the wall clock; no simulation reads it.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let mut sum = 0u64;
    for _ in 0..holds {
        let Some(k) = queue.pop() else { break };
        let now = (k >> 64) as u64;
        sum = sum.wrapping_add(now);
        queue.push(key(now + uniform_inclusive(&mut rng, MIN_DELAY, MAX_DELAY), seq));
        seq += 1;
    }
    let ns = started.elapsed().as_nanos() as f64 / holds as f64;
    black_box(sum);
    ns
}

fn main() {
    type Make = fn() -> Box<dyn Queue>;
    let candidates: [(&str, Make); 4] = [
        ("engine (keys + payload slab)", || Box::new(Engine(EventQueue::default()))),
        ("bare binary heap", || Box::new(Binary(BinaryHeap::new()))),
        ("radix heap", || Box::new(Radix::new())),
        ("4-ary heap", || Box::new(Quad(Vec::new()))),
    ];
    const SIZES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];
    println!("{:<28} {:>10} {:>10} {:>10} {:>10}", "ns per hold (pop + push)", "10^3", "10^4", "10^5", "10^6");
    for (name, make) in candidates {
        let mut row = Vec::new();
        for pending in SIZES {
            let holds = if pending >= 1_000_000 { 3_000_000 } else { 5_000_000 };
            let best = (0..3).map(|_| hold(make().as_mut(), pending, holds)).fold(f64::INFINITY, f64::min);
            row.push(best);
        }
        println!("{name:<28} {:>10.1} {:>10.1} {:>10.1} {:>10.1}", row[0], row[1], row[2], row[3]);
    }
}
