//! Randomness. One run seed derives an independent ChaCha stream per purpose
//! (the network, each node, each client, the fault scheduler), so adding a
//! client does not shift what the network draws.
//!
//! Distribution sampling uses `libm` rather than the platform's maths library,
//! so a draw — and therefore a fingerprint — is identical on every machine.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::time::Duration;

/// The generator every simulated component draws from.
pub type SimRng = ChaCha8Rng;

/// What a random stream is for; part of its derivation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stream {
    Network,
    Faults,
    Node(u32),
    Client(u32),
    /// Per-seed choices outside the run itself (e.g. swarm fault mixes).
    Explore,
    /// The random fault schedule of a `[chaos]` section.
    Chaos,
    /// Node `i`'s disk latencies.
    Disk(u32),
    /// Node `i`'s machine: start-up delay, clock offset and rate.
    Machine(u32),
    /// The times of faults scheduled in a window (`at = { min, max }`).
    FaultTimes,
}

impl Stream {
    fn tag(self) -> (u64, u64) {
        match self {
            Stream::Network => (1, 0),
            Stream::Faults => (2, 0),
            Stream::Node(i) => (3, u64::from(i)),
            Stream::Client(i) => (4, u64::from(i)),
            Stream::Explore => (5, 0),
            Stream::Chaos => (6, 0),
            Stream::Disk(i) => (7, u64::from(i)),
            Stream::Machine(i) => (8, u64::from(i)),
            Stream::FaultTimes => (9, 0),
        }
    }
}

/// SplitMix64 finaliser: a bijective 64-bit mix.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The generator for one purpose of one run.
pub fn stream(seed: u64, purpose: Stream) -> SimRng {
    let (kind, index) = purpose.tag();
    let derived = mix64(mix64(seed ^ 0x6a09_e667_f3bc_c908).wrapping_add(kind) ^ mix64(index));
    SimRng::seed_from_u64(derived)
}

/// A probability, checked to lie in [0, 1].
#[derive(Copy, Clone, Debug, Default, PartialEq, PartialOrd, Serialize)]
pub struct Probability(f64);

impl Probability {
    pub const ZERO: Probability = Probability(0.0);
    pub const ONE: Probability = Probability(1.0);

    pub fn new(p: f64) -> Result<Probability, String> {
        if (0.0..=1.0).contains(&p) {
            Ok(Probability(p))
        } else {
            Err(format!("{p} is not a probability; valid values are 0.0 to 1.0"))
        }
    }
    pub fn get(self) -> f64 {
        self.0
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0.0
    }
    /// One Bernoulli trial. Draws nothing when the outcome is certain, so a
    /// zero probability costs nothing in the hot loop.
    #[inline]
    pub fn sample(self, rng: &mut SimRng) -> bool {
        if self.0 <= 0.0 {
            false
        } else if self.0 >= 1.0 {
            true
        } else {
            rng.gen::<f64>() < self.0
        }
    }
}

/// A distribution of message latency.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "dist", rename_all = "snake_case")]
pub enum Latency {
    Constant {
        value: Duration,
    },
    Uniform {
        min: Duration,
        max: Duration,
    },
    /// Normal, truncated at zero.
    Normal {
        mean: Duration,
        std_dev: Duration,
    },
    /// `min` plus an exponential with the given mean.
    Exponential {
        min: Duration,
        mean: Duration,
    },
    /// exp(N(mu, sigma)) where the median is `median`.
    LogNormal {
        median: Duration,
        sigma: f64,
    },
    /// Pareto with scale `scale` (the minimum) and shape `shape`; heavy tail.
    Pareto {
        scale: Duration,
        shape: f64,
    },
}

/// Standard normal draw by Box–Muller, libm only.
fn standard_normal(rng: &mut SimRng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
    let u2: f64 = rng.gen::<f64>();
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(std::f64::consts::TAU * u2)
}

/// Time to the next arrival of a Poisson process with `rate_per_sec`.
pub fn poisson_gap(rng: &mut SimRng, rate_per_sec: f64) -> Duration {
    let u: f64 = 1.0 - rng.gen::<f64>();
    ns_from_f64(-libm::log(u) / rate_per_sec * 1e9)
}

fn ns_from_f64(ns: f64) -> Duration {
    if ns.is_nan() || ns <= 0.0 {
        Duration::ZERO
    } else if ns >= 1e18 {
        Duration::from_nanos(1_000_000_000_000_000_000)
    } else {
        Duration::from_nanos(libm::round(ns) as u64)
    }
}

/// A uniform draw from `low..=high`: the very draw `rng.gen_range(low..=high)`
/// makes (rand 0.8's widening-multiply rejection, same values and the same
/// number of words consumed, which a test holds it to), written out so it
/// is always inline: the engine draws a latency per message, and the
/// generic `gen_range`, used in many places, is not always inlined.
/// Callers pass `low <= high` (scenarios are validated so); `high < low`,
/// which `gen_range` refuses with a panic, draws from the range that wraps
/// around `u64::MAX` instead — no panic, and no test on the hot path.
#[inline(always)]
pub fn uniform_inclusive(rng: &mut SimRng, low: u64, high: u64) -> u64 {
    let range = high.wrapping_sub(low).wrapping_add(1);
    if range == 0 {
        return rng.next_u64();
    }
    let zone = (range << range.leading_zeros()).wrapping_sub(1);
    loop {
        let wide = u128::from(rng.next_u64()) * u128::from(range);
        if wide as u64 <= zone {
            return low.wrapping_add((wide >> 64) as u64);
        }
    }
}

impl Latency {
    /// One delay. The engine draws one per message: the constant and the
    /// uniform, the common shapes, are inline; the others out of line.
    #[inline(always)]
    pub fn sample(&self, rng: &mut SimRng) -> Duration {
        match *self {
            Latency::Constant { value } => value,
            Latency::Uniform { min, max } => {
                Duration::from_nanos(uniform_inclusive(rng, min.as_nanos(), max.as_nanos()))
            }
            _ => self.sample_shaped(rng),
        }
    }

    #[inline(never)]
    fn sample_shaped(&self, rng: &mut SimRng) -> Duration {
        match *self {
            Latency::Constant { value } => value,
            Latency::Uniform { min, max } => {
                Duration::from_nanos(uniform_inclusive(rng, min.as_nanos(), max.as_nanos()))
            }
            Latency::Normal { mean, std_dev } => {
                ns_from_f64(mean.as_nanos() as f64 + std_dev.as_nanos() as f64 * standard_normal(rng))
            }
            Latency::Exponential { min, mean } => {
                let u: f64 = 1.0 - rng.gen::<f64>();
                min + ns_from_f64(-libm::log(u) * mean.as_nanos() as f64)
            }
            Latency::LogNormal { median, sigma } => {
                ns_from_f64(median.as_nanos() as f64 * libm::exp(sigma * standard_normal(rng)))
            }
            Latency::Pareto { scale, shape } => {
                let u: f64 = 1.0 - rng.gen::<f64>();
                ns_from_f64(scale.as_nanos() as f64 / libm::pow(u, 1.0 / shape))
            }
        }
    }

    /// A latency that no sample falls below; used to reason about ordering.
    /// The same distribution with every delay multiplied by `factor`.
    pub fn scaled(&self, factor: f64) -> Latency {
        let f = |d: Duration| ns_from_f64(d.as_nanos() as f64 * factor);
        match *self {
            Latency::Constant { value } => Latency::Constant { value: f(value) },
            Latency::Uniform { min, max } => Latency::Uniform { min: f(min), max: f(max) },
            Latency::Normal { mean, std_dev } => Latency::Normal { mean: f(mean), std_dev: f(std_dev) },
            Latency::Exponential { min, mean } => Latency::Exponential { min: f(min), mean: f(mean) },
            Latency::LogNormal { median, sigma } => Latency::LogNormal { median: f(median), sigma },
            Latency::Pareto { scale, shape } => Latency::Pareto { scale: f(scale), shape },
        }
    }

    /// A typical delay: the median, or the mean where that is simpler to
    /// state (a uniform's midpoint, a normal's mean).
    pub fn typical(&self) -> Duration {
        match *self {
            Latency::Constant { value } => value,
            Latency::Uniform { min, max } => Duration::from_nanos(min.as_nanos() / 2 + max.as_nanos() / 2),
            Latency::Normal { mean, .. } => mean,
            Latency::Exponential { min, mean } => min + ns_from_f64(mean.as_nanos() as f64 * std::f64::consts::LN_2),
            Latency::LogNormal { median, .. } => median,
            Latency::Pareto { scale, shape } => ns_from_f64(scale.as_nanos() as f64 * libm::pow(2.0, 1.0 / shape)),
        }
    }

    /// The family's name as a scenario writes it (`dist = "..."`).
    pub fn family(&self) -> &'static str {
        match self {
            Latency::Constant { .. } => "constant",
            Latency::Uniform { .. } => "uniform",
            Latency::Normal { .. } => "normal",
            Latency::Exponential { .. } => "exponential",
            Latency::LogNormal { .. } => "lognormal",
            Latency::Pareto { .. } => "pareto",
        }
    }

    pub fn minimum(&self) -> Duration {
        match *self {
            Latency::Constant { value } => value,
            Latency::Uniform { min, .. } => min,
            Latency::Exponential { min, .. } => min,
            Latency::Pareto { scale, .. } => scale,
            Latency::Normal { .. } | Latency::LogNormal { .. } => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_draw_is_rands_own() {
        // Against rand's gen_range: the same value and the same stream
        // position after, over ranges from one value to the full width.
        let mut ranges = vec![(0, 0), (5, 5), (0, 1), (1_000_000, 3_000_000), (0, u64::MAX), (1, u64::MAX)];
        let mut pick = stream(1, Stream::Network);
        for _ in 0..200 {
            let a: u64 = pick.gen::<u64>() >> pick.gen_range(0..64);
            let b: u64 = pick.gen::<u64>() >> pick.gen_range(0..64);
            ranges.push((a.min(b), a.max(b)));
        }
        for (i, &(low, high)) in ranges.iter().enumerate() {
            let mut ours = stream(i as u64, Stream::Network);
            let mut theirs = stream(i as u64, Stream::Network);
            for _ in 0..50 {
                assert_eq!(uniform_inclusive(&mut ours, low, high), theirs.gen_range(low..=high), "{low}..={high}");
            }
            assert_eq!(ours.next_u64(), theirs.next_u64(), "stream positions differ after {low}..={high}");
        }
        // Ranges whose rejection zone is well below 2^64 reject some draws.
        let mut ours = stream(9, Stream::Network);
        let mut theirs = stream(9, Stream::Network);
        let high = (1u64 << 63) + 1;
        for _ in 0..1_000 {
            assert_eq!(uniform_inclusive(&mut ours, 0, high), theirs.gen_range(0..=high));
        }
        assert_eq!(ours.next_u64(), theirs.next_u64());
        let wrapped = uniform_inclusive(&mut ours, 9, 3);
        assert!(!(4..9).contains(&wrapped), "an inverted range draws from the wrapped range, got {wrapped}");
    }

    #[test]
    fn streams_are_independent_and_reproducible() {
        let a: u64 = stream(7, Stream::Network).gen();
        let b: u64 = stream(7, Stream::Network).gen();
        let c: u64 = stream(7, Stream::Client(0)).gen();
        let d: u64 = stream(8, Stream::Network).gen();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn distributions_have_the_right_centre() {
        let mut rng = stream(1, Stream::Network);
        let n = 20_000;
        let mean =
            |l: Latency, rng: &mut SimRng| (0..n).map(|_| l.sample(rng).as_nanos() as f64).sum::<f64>() / n as f64;
        let ms = 1e6;
        let u = mean(Latency::Uniform { min: Duration::from_millis(1), max: Duration::from_millis(3) }, &mut rng);
        assert!((u / ms - 2.0).abs() < 0.05, "uniform mean {u}");
        let e = mean(Latency::Exponential { min: Duration::ZERO, mean: Duration::from_millis(5) }, &mut rng);
        assert!((e / ms - 5.0).abs() < 0.25, "exponential mean {e}");
        let nrm =
            mean(Latency::Normal { mean: Duration::from_millis(10), std_dev: Duration::from_millis(1) }, &mut rng);
        assert!((nrm / ms - 10.0).abs() < 0.1, "normal mean {nrm}");
        let p = Latency::Pareto { scale: Duration::from_millis(1), shape: 3.0 };
        assert!((0..1000).all(|_| p.sample(&mut rng) >= Duration::from_millis(1)));
    }

    #[test]
    fn probability_bounds() {
        assert!(Probability::new(1.5).is_err());
        assert!(Probability::new(-0.1).is_err());
        assert!(Probability::new(f64::NAN).is_err());
        let mut rng = stream(3, Stream::Network);
        assert!((0..100).all(|_| Probability::ONE.sample(&mut rng)));
        assert!((0..100).all(|_| !Probability::ZERO.sample(&mut rng)));
    }
}
