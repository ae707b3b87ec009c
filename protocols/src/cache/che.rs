//! Che's approximation of a cache's hit ratio under the independent
//! reference model (H. Che, Y. Tung, Z. Wang, "Hierarchical Web caching
//! systems: modeling, design and experimental results", IEEE JSAC 2002;
//! FIFO as in V. Martina, M. Garetto, E. Leonardi, "A unified approach to the
//! performance analysis of caching systems", INFOCOM 2014). Key `i` is
//! requested with probability `p_i` per request; the cache of `C` entries
//! behaves as if every key stayed for one characteristic time `T` (in
//! requests) after entering it.
//!
//! - LRU: `Σ (1 − e^{−p_i T}) = C`, hit ratio `Σ p_i (1 − e^{−p_i T})`.
//! - FIFO: `Σ p_i T / (1 + p_i T) = C`, hit ratio `Σ p_i · p_i T / (1 + p_i T)`.

/// The approximation at one capacity.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct CheEstimate {
    /// The characteristic time, in requests.
    pub characteristic_time: f64,
    pub hit_ratio: f64,
}

/// LRU with `capacity` entries under the popularities `p` (summing to 1).
pub fn lru(p: &[f64], capacity: f64) -> CheEstimate {
    solve(p, capacity, |q, t| -libm::expm1(-q * t))
}

/// FIFO with `capacity` entries under the popularities `p` (summing to 1).
pub fn fifo(p: &[f64], capacity: f64) -> CheEstimate {
    solve(p, capacity, |q, t| q * t / (1.0 + q * t))
}

/// Solves `Σ in_cache(p_i, T) = capacity` for `T` by bisection (the sum
/// grows with `T`), then sums the hit ratio. `in_cache(p, T)` is the
/// probability that a key of popularity `p` is in the cache.
fn solve(p: &[f64], capacity: f64, in_cache: impl Fn(f64, f64) -> f64) -> CheEstimate {
    let keys = p.iter().filter(|&&q| q > 0.0).count() as f64;
    if capacity >= keys {
        return CheEstimate { characteristic_time: f64::INFINITY, hit_ratio: 1.0 };
    }
    let occupancy = |t: f64| -> f64 { p.iter().map(|&q| in_cache(q, t)).sum() };
    let (mut lo, mut hi) = (0.0, 1.0);
    while occupancy(hi) < capacity {
        lo = hi;
        hi *= 2.0;
    }
    // Bisection to a relative width of 1e-12: about 40 halvings.
    while hi - lo > 1e-12 * hi {
        let mid = 0.5 * (lo + hi);
        if occupancy(mid) < capacity {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let t = 0.5 * (lo + hi);
    CheEstimate { characteristic_time: t, hit_ratio: p.iter().map(|&q| q * in_cache(q, t)).sum() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_che_on_uniform_popularity_is_the_fill_fraction() {
        // n equally popular keys: a cache of c holds c of them, and a request
        // hits with probability c/n whatever the policy.
        let p = vec![0.01; 100];
        for estimate in [lru(&p, 25.0), fifo(&p, 25.0)] {
            assert!((estimate.hit_ratio - 0.25).abs() < 1e-9, "{estimate:?}");
        }
        assert_eq!(lru(&p, 100.0).hit_ratio, 1.0);
    }

    #[test]
    fn cache_che_lru_beats_fifo_under_skew() {
        let p = crate::cache::zipf::popularity(1000, 0.9);
        let (l, f) = (lru(&p, 50.0), fifo(&p, 50.0));
        assert!(l.hit_ratio > f.hit_ratio && f.hit_ratio > 0.05, "{l:?} {f:?}");
    }
}
