//! Synthetic traces under the independent reference model (IRM): every
//! request draws a key independently from a Zipf law, key `i` (0-based, 0
//! the most popular) with probability proportional to `1 / (i + 1)^alpha`.
//! `alpha = 0` is uniform. Draws use Walker's alias method (O(1) each, built
//! in O(keys) by Vose's procedure) on a ChaCha8 stream from the seed, and
//! the weights use `libm`, so a spec gives the same trace on every machine.

use faultline_sim::SimRng;
use rand::{Rng, SeedableRng};

use super::trace::{Trace, MAX_REQUESTS};

/// The most keys a Zipf law here has (its alias table takes 12 bytes a key).
pub const MAX_KEYS: u64 = 1 << 26;
/// The largest exponent accepted; far past it every request is key 0.
pub const MAX_ALPHA: f64 = 10.0;

/// `alpha=0.8,keys=100000,length=1000000,seed=1`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ZipfSpec {
    pub alpha: f64,
    pub keys: u64,
    pub length: u64,
    pub seed: u64,
}

impl ZipfSpec {
    /// Parses `alpha=A,keys=N,length=L[,seed=S]` (seed 1 when left out).
    pub fn parse(text: &str) -> Result<ZipfSpec, String> {
        const EXPECTED: &str = "expected alpha=A,keys=N,length=L[,seed=S], e.g. alpha=0.8,keys=100000,length=1000000";
        let (mut alpha, mut keys, mut length, mut seed) = (None, None, None, None);
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, value)) = part.split_once('=') else {
                return Err(format!("`{part}` is not name=value; {EXPECTED}"));
            };
            let (name, value) = (name.trim(), value.trim());
            let whole = |what: &str| {
                value.replace('_', "").parse::<u64>().map_err(|_| format!("{what} `{value}` is not a whole number"))
            };
            match name {
                "alpha" => alpha = Some(value.parse::<f64>().map_err(|_| format!("alpha `{value}` is not a number"))?),
                "keys" => keys = Some(whole("keys")?),
                "length" => length = Some(whole("length")?),
                "seed" => seed = Some(whole("seed")?),
                other => {
                    return Err(format!(
                        "unknown Zipf parameter `{other}`; the parameters are alpha, keys, length and seed"
                    ))
                }
            }
        }
        let missing = |what: &str| format!("the Zipf trace needs {what}; {EXPECTED}");
        let spec = ZipfSpec {
            alpha: alpha.ok_or_else(|| missing("alpha"))?,
            keys: keys.ok_or_else(|| missing("keys"))?,
            length: length.ok_or_else(|| missing("length"))?,
            seed: seed.unwrap_or(1),
        };
        spec.validate()?;
        Ok(spec)
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(self.alpha.is_finite() && (0.0..=MAX_ALPHA).contains(&self.alpha)) {
            return Err(format!("alpha {} is out of range: from 0 (uniform) to {MAX_ALPHA}", self.alpha));
        }
        if !(1..=MAX_KEYS).contains(&self.keys) {
            return Err(format!("keys {} is out of range: from 1 to {MAX_KEYS}", self.keys));
        }
        if !(1..=MAX_REQUESTS as u64).contains(&self.length) {
            return Err(format!("length {} is out of range: from 1 to {MAX_REQUESTS} requests", self.length));
        }
        Ok(())
    }

    /// The trace: `length` keys drawn from the law.
    pub fn generate(&self) -> Trace {
        let zipf = Zipf::new(self.keys as usize, self.alpha);
        let mut rng = SimRng::seed_from_u64(self.seed);
        Trace::from_keys((0..self.length).map(|_| zipf.sample(&mut rng)).collect())
    }
}

/// The Zipf law's probabilities, key 0 first: `p_i = (i + 1)^-alpha / H`.
pub fn popularity(keys: usize, alpha: f64) -> Vec<f64> {
    let weights: Vec<f64> = (1..=keys).map(|rank| libm::pow(rank as f64, -alpha)).collect();
    // Summed smallest first, for accuracy.
    let total: f64 = weights.iter().rev().sum();
    weights.into_iter().map(|w| w / total).collect()
}

/// An alias table for a Zipf law.
pub struct Zipf {
    /// Column `i` keeps key `i` with probability `keep[i]`, else gives `alias[i]`.
    keep: Vec<f64>,
    alias: Vec<u32>,
}

impl Zipf {
    pub fn new(keys: usize, alpha: f64) -> Zipf {
        assert!(keys >= 1 && keys as u64 <= MAX_KEYS, "1..=MAX_KEYS keys");
        let n = keys as f64;
        let mut scaled: Vec<f64> = popularity(keys, alpha).into_iter().map(|p| p * n).collect();
        let mut keep = vec![1.0; keys];
        let mut alias: Vec<u32> = (0..keys as u32).collect();
        let (mut small, mut large): (Vec<u32>, Vec<u32>) = (0..keys as u32).partition(|&i| scaled[i as usize] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            keep[s as usize] = scaled[s as usize];
            alias[s as usize] = l;
            scaled[l as usize] = (scaled[l as usize] + scaled[s as usize]) - 1.0;
            if scaled[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // What is left has probability 1 up to rounding.
        Zipf { keep, alias }
    }

    #[inline]
    pub fn sample(&self, rng: &mut SimRng) -> u64 {
        let column = rng.gen_range(0..self.keep.len());
        if rng.gen::<f64>() < self.keep[column] {
            column as u64
        } else {
            u64::from(self.alias[column])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_zipf_spec_parses_and_refuses_what_is_out_of_range() {
        assert_eq!(
            ZipfSpec::parse("alpha=0.8,keys=100000,length=1_000_000"),
            Ok(ZipfSpec { alpha: 0.8, keys: 100_000, length: 1_000_000, seed: 1 })
        );
        for (bad, says) in [
            ("alpha=0.8,keys=10", "needs length"),
            ("alpha=-1,keys=10,length=5", "alpha -1 is out of range"),
            ("alpha=nan,keys=10,length=5", "out of range"),
            ("alpha=1,keys=0,length=5", "keys 0 is out of range"),
            ("alpha=1,keys=10,length=0", "length 0"),
            ("alpha=1,keys=10,length=99999999999999", "length 99999999999999"),
            ("alpha=1,keys=10,length=5,skew=2", "unknown Zipf parameter `skew`"),
            ("alpha", "not name=value"),
        ] {
            let e = ZipfSpec::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn cache_zipf_draws_follow_the_law_and_repeat_with_the_seed() {
        let spec = ZipfSpec { alpha: 1.0, keys: 100, length: 200_000, seed: 7 };
        let trace = spec.generate();
        assert_eq!(trace, spec.generate());
        let p = popularity(100, 1.0);
        let mut counts = vec![0u64; 100];
        for &k in trace.keys() {
            counts[k as usize] += 1;
        }
        for i in [0usize, 1, 9, 99] {
            let seen = counts[i] as f64 / spec.length as f64;
            assert!(
                (seen - p[i]).abs() < 4.0 * (p[i] / spec.length as f64).sqrt() + 1e-4,
                "key {i}: {seen} vs {}",
                p[i]
            );
        }
        let uniform = ZipfSpec { alpha: 0.0, keys: 4, length: 40_000, seed: 1 }.generate();
        let zeros = uniform.keys().iter().filter(|&&k| k == 0).count();
        assert!((9_500..10_500).contains(&zeros), "{zeros}");
    }
}
