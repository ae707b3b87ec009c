//! Miss-ratio curves: a policy's miss ratio at many capacities.
//!
//! LRU is a stack algorithm (R. Mattson, J. Gecsei, D. Slutz, I. Traiger,
//! "Evaluation techniques for storage hierarchies", IBM Systems Journal
//! 1970): a cache of `C` entries holds the `C` most recently used keys, so a
//! request hits every cache larger than its stack distance — the number of
//! distinct keys used since the key's previous request, plus one. One pass
//! finds every request's distance, with a Fenwick tree over request
//! positions marking each key's latest request (O(log n) a request), and so
//! the hit ratio at every capacity at once. This holds for entry capacities
//! without TTL; byte capacities, TTLs and the other policies are simulated
//! at each capacity, in parallel, each capacity on its own cache, so the
//! figures do not depend on how many threads ran them.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::replay::{replay, ReplayOptions, ReplayStats};
use super::trace::Trace;
use super::{Capacity, PolicyKind};

/// LRU's stack distances over a trace: the hits of every capacity.
pub struct StackDistances {
    /// `hits[c]`: requests (after the warm-up) with a distance of at most `c`.
    hits: Vec<u64>,
    /// `hit_bytes[c]`: their bytes.
    hit_bytes: Vec<u64>,
    requests: u64,
    bytes: u64,
}

/// A Fenwick (binary indexed) tree of counts over positions `0..n`.
struct Fenwick {
    tree: Vec<u32>,
}

impl Fenwick {
    fn new(n: usize) -> Fenwick {
        Fenwick { tree: vec![0; n + 1] }
    }
    fn add(&mut self, position: usize, delta: i32) {
        let mut i = position + 1;
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }
    /// The sum over positions `0..end`.
    fn prefix(&self, end: usize) -> u32 {
        let (mut i, mut sum) = (end, 0u32);
        while i > 0 {
            sum = sum.wrapping_add(self.tree[i]);
            i &= i - 1;
        }
        sum
    }
}

impl StackDistances {
    /// One pass over `trace`, counting requests from `warmup` on.
    pub fn of(trace: &Trace, warmup: u64) -> StackDistances {
        let n = trace.len();
        let warmup = warmup.min(n as u64) as usize;
        let mut latest = Fenwick::new(n);
        let mut last_seen: FxHashMap<u64, u32> = FxHashMap::default();
        // distance_count[d] for d = 1..=distinct keys; 0 holds first requests' none.
        let mut count: Vec<u64> = vec![0];
        let mut count_bytes: Vec<u64> = vec![0];
        let (mut requests, mut bytes) = (0u64, 0u64);
        for (t, &key) in trace.keys().iter().enumerate() {
            let size = u64::from(trace.size(t));
            let distance = last_seen.insert(key, t as u32).map(|previous| {
                let previous = previous as usize;
                let between = latest.prefix(t) - latest.prefix(previous + 1);
                latest.add(previous, -1);
                between as usize + 1
            });
            latest.add(t, 1);
            if distance.is_none() {
                count.push(0);
                count_bytes.push(0);
            }
            if t >= warmup {
                requests += 1;
                bytes += size;
                if let Some(d) = distance {
                    count[d] += 1;
                    count_bytes[d] += size;
                }
            }
        }
        let cumulative = |mut v: Vec<u64>| {
            for i in 1..v.len() {
                v[i] += v[i - 1];
            }
            v
        };
        StackDistances { hits: cumulative(count), hit_bytes: cumulative(count_bytes), requests, bytes }
    }

    /// What LRU with `capacity` entries counts on the trace.
    pub fn at(&self, capacity: u64) -> ReplayStats {
        let c = (capacity as usize).min(self.hits.len() - 1);
        ReplayStats { requests: self.requests, hits: self.hits[c], bytes: self.bytes, hit_bytes: self.hit_bytes[c] }
    }

    /// The distinct keys of the trace: past this capacity nothing changes.
    pub fn distinct_keys(&self) -> u64 {
        (self.hits.len() - 1) as u64
    }
}

/// One point of a curve.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Point {
    pub policy: PolicyKind,
    pub capacity: Capacity,
    pub stats: ReplayStats,
}

/// Every (policy, capacity) pair replayed over `trace`, in the order given
/// (policies outer, capacities inner), in parallel on the current rayon
/// pool. LRU with entry capacities and no TTL comes from one stack-distance
/// pass instead when there is more than one capacity.
pub fn sweep(trace: &Trace, policies: &[PolicyKind], capacities: &[Capacity], options: &ReplayOptions) -> Vec<Point> {
    let one_pass = policies.contains(&PolicyKind::Lru)
        && options.ttl.is_none()
        && capacities.iter().any(|c| c.max_bytes().is_none())
        && capacities.len() > 1;
    let distances = one_pass.then(|| StackDistances::of(trace, options.warmup));
    let pairs: Vec<(PolicyKind, Capacity)> =
        policies.iter().flat_map(|&p| capacities.iter().map(move |&c| (p, c))).collect();
    pairs
        .into_par_iter()
        .with_max_len(1)
        .map(|(policy, capacity)| {
            let stats = match &distances {
                Some(d) if policy == PolicyKind::Lru && capacity.max_bytes().is_none() => {
                    d.at(u64::from(capacity.max_entries()))
                }
                _ => replay(policy.build(capacity).as_mut(), trace, options),
            };
            Point { policy, capacity, stats }
        })
        .collect()
}

/// Capacities for a curve up to `max`: `per_decade` points in every factor
/// of ten, spaced evenly on a log scale, from `max / 10^decades` (at least 1)
/// to `max`, whole and without repeats.
pub fn capacity_grid(max: u64, decades: u32, per_decade: u32) -> Vec<u64> {
    let max = max.max(1);
    let steps = decades * per_decade;
    let mut grid: Vec<u64> = (0..=steps)
        .map(|i| {
            let exponent = f64::from(i) / f64::from(per_decade) - f64::from(decades);
            libm::round(max as f64 * libm::pow(10.0, exponent)) as u64
        })
        .filter(|&c| c >= 1)
        .collect();
    grid.push(max);
    grid.sort_unstable();
    grid.dedup();
    grid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_mrc_stack_distances_of_a_small_trace() {
        // a b c a b d a: distances -, -, -, 3, 3, -, 3.
        let trace = Trace::from_keys(vec![1, 2, 3, 1, 2, 4, 1]);
        let d = StackDistances::of(&trace, 0);
        assert_eq!(d.distinct_keys(), 4);
        assert_eq!(d.at(2).hits, 0);
        assert_eq!(d.at(3).hits, 3);
        assert_eq!(d.at(100).hits, 3);
        assert_eq!(StackDistances::of(&trace, 4).at(3), ReplayStats { requests: 3, hits: 2, bytes: 3, hit_bytes: 2 });
    }

    #[test]
    fn cache_mrc_grid_is_log_spaced_and_ends_at_the_maximum() {
        assert_eq!(capacity_grid(1000, 3, 1), vec![1, 10, 100, 1000]);
        let g = capacity_grid(10_000, 2, 4);
        assert_eq!((g[0], *g.last().unwrap(), g.len()), (100, 10_000, 9));
        assert_eq!(capacity_grid(3, 4, 10), vec![1, 2, 3]);
    }
}
