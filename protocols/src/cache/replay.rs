//! Replaying a trace through a policy: each request is a get, and a miss is
//! followed by a put of the request's size (demand fill), expiring after the
//! TTL when one is set. Requests inside the warm-up change the cache but are
//! not counted.

use faultline_sim::{SimRng, Time};
use rand::SeedableRng;

use super::trace::Trace;
use super::{Policy, Ttl};

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Requests at the start that fill the cache and are not counted.
    pub warmup: u64,
    /// Expire-after-write for every put; needs a trace with times to mean anything.
    pub ttl: Option<Ttl>,
    /// Seeds the generator the TTL jitter is drawn from.
    pub jitter_seed: u64,
}

/// What a replay counted (after the warm-up).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    pub requests: u64,
    pub hits: u64,
    /// Bytes requested, and bytes of the requests that hit.
    pub bytes: u64,
    pub hit_bytes: u64,
}

impl ReplayStats {
    pub fn hit_ratio(&self) -> f64 {
        ratio(self.hits, self.requests)
    }
    pub fn byte_hit_ratio(&self) -> f64 {
        ratio(self.hit_bytes, self.bytes)
    }
    pub fn miss_ratio(&self) -> f64 {
        1.0 - self.hit_ratio()
    }
    pub fn byte_miss_ratio(&self) -> f64 {
        1.0 - self.byte_hit_ratio()
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Replays `trace` through `policy` (which keeps its state afterwards).
pub fn replay<P: Policy + ?Sized>(policy: &mut P, trace: &Trace, options: &ReplayOptions) -> ReplayStats {
    let warmup = (options.warmup.min(trace.len() as u64)) as usize;
    let mut stats = ReplayStats::default();
    if trace.sizes().is_none() && trace.times().is_none() && options.ttl.is_none() {
        // The common case in one tight loop: unit sizes, no time.
        let keys = trace.keys();
        for &key in &keys[..warmup] {
            if !policy.get(key, Time::ZERO) {
                policy.put(key, 1, Time::ZERO);
            }
        }
        for &key in &keys[warmup..] {
            if policy.get(key, Time::ZERO) {
                stats.hits += 1;
            } else {
                policy.put(key, 1, Time::ZERO);
            }
        }
        stats.requests = (keys.len() - warmup) as u64;
        stats.bytes = stats.requests;
        stats.hit_bytes = stats.hits;
        return stats;
    }
    let mut jitter = SimRng::seed_from_u64(options.jitter_seed);
    for (i, &key) in trace.keys().iter().enumerate() {
        let (size, now) = (trace.size(i), trace.time(i));
        let hit = policy.get(key, now);
        if !hit {
            let expires_at = options.ttl.map_or(Time::MAX, |ttl| ttl.draw_expires_at(now, &mut jitter));
            policy.put_expiring(key, size, now, expires_at);
        }
        if i >= warmup {
            stats.requests += 1;
            stats.bytes += u64::from(size);
            if hit {
                stats.hits += 1;
                stats.hit_bytes += u64::from(size);
            }
        }
    }
    stats
}
