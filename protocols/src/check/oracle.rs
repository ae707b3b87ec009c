//! Test support: a brute-force linearizability oracle for any
//! [`SequentialSpec`] and a deterministic random-number generator.
//!
//! The oracle shares nothing with the search but the model's step
//! function: it keeps one state per key over the whole history (no
//! partitioning), tries every order of the operations that respects real
//! time and every subset of the timed-out ones, and has no forced moves;
//! it only remembers (done set, all states) configurations already found
//! to fail, so histories of a dozen operations finish at once.

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;

use super::search::{SearchOp, SequentialSpec};

/// Whether `ops` (each with its key) is linearizable against `spec`.
pub fn brute_force<K, S>(spec: &S, ops: &[(K, SearchOp<S::Op>)]) -> bool
where
    K: Ord + Clone + Hash,
    S: SequentialSpec,
{
    assert!(ops.len() <= 24, "brute force is for tiny histories");
    let mut states: BTreeMap<K, S::State> = BTreeMap::new();
    let mut failed = HashSet::new();
    go(spec, ops, 0, &mut states, &mut failed)
}

type Failed<K, St> = HashSet<(u32, Vec<(K, St)>)>;

fn go<K, S>(
    spec: &S,
    ops: &[(K, SearchOp<S::Op>)],
    done: u32,
    states: &mut BTreeMap<K, S::State>,
    failed: &mut Failed<K, S::State>,
) -> bool
where
    K: Ord + Clone + Hash,
    S: SequentialSpec,
{
    let finished = ops.iter().enumerate().all(|(i, (_, op))| op.complete_ns.is_none() || done & (1 << i) != 0);
    if finished {
        return true;
    }
    let config: Vec<(K, S::State)> = states.iter().map(|(k, s)| (k.clone(), s.clone())).collect();
    if failed.contains(&(done, config.clone())) {
        return false;
    }
    for (i, (key, op)) in ops.iter().enumerate() {
        if done & (1 << i) != 0 {
            continue;
        }
        // Every op not yet placed that completed before `op` was invoked
        // must come first.
        let blocked = ops
            .iter()
            .enumerate()
            .any(|(j, (_, other))| done & (1 << j) == 0 && other.complete_ns.is_some_and(|c| c < op.invoke_ns));
        if blocked {
            continue;
        }
        let before = states.get(key).cloned().unwrap_or_else(|| spec.init());
        let Some(after) = spec.step(&before, &op.op) else { continue };
        states.insert(key.clone(), after);
        let found = go(spec, ops, done | (1 << i), states, failed);
        states.insert(key.clone(), before);
        if found {
            return true;
        }
    }
    failed.insert((done, config));
    false
}

/// A small deterministic generator (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    /// In `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// Times for a generated op: `(invoke_ns, complete_ns, point_ns)`, where
/// the point is where a correct system would apply it (inside the interval;
/// for a timed-out op anywhere after invoke, or `None`: never).
pub struct Interval {
    pub invoke_ns: u64,
    pub complete_ns: u64,
    pub timed_out: bool,
    pub failed: bool,
    pub point_ns: Option<u64>,
}

/// Draws an op's interval on `client`'s clock: gaps up to `max_gap_ns`,
/// durations up to `max_duration_ns`, `unknown_percent` timed out and
/// `failed_percent` failed.
pub fn interval(
    rng: &mut Rng,
    clock_ns: &mut u64,
    max_gap_ns: u64,
    max_duration_ns: u64,
    unknown_percent: u64,
    failed_percent: u64,
) -> Interval {
    let invoke_ns = *clock_ns + rng.below(max_gap_ns + 1);
    let complete_ns = invoke_ns + rng.below(max_duration_ns + 1);
    *clock_ns = complete_ns;
    let roll = rng.below(100);
    let failed = roll < failed_percent;
    let timed_out = !failed && roll < failed_percent + unknown_percent;
    let point_ns = if failed {
        None
    } else if timed_out {
        Some(invoke_ns + rng.below(4 * max_duration_ns + 1)).filter(|_| rng.percent(50))
    } else {
        Some(invoke_ns + rng.below(complete_ns - invoke_ns + 1))
    };
    Interval { invoke_ns, complete_ns, timed_out, failed, point_ns }
}
