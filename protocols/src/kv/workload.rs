//! The key-value workload: which keys clients touch and how often they read,
//! write or compare-and-set — the `[workload]` table of every protocol that
//! serves the key-value store — and the key chooser the clients share.

use serde::Deserialize;

use faultline_scenario::{did_you_mean, one_of, Number, Scenario, ScenarioError, Spanned};
use faultline_sim::{Duration, Probability, SimRng, Time};
use rand::Rng;

use crate::client::load::{ClientLoad, RawLoad};

/// The most keys a Zipf distribution may range over: its cumulative weights
/// are a table of this many entries, shared by the clients.
pub const MAX_ZIPF_KEYS: u32 = 1_000_000;
/// The most keys a uniform distribution may range over (and a rolling one
/// at once).
pub const MAX_KEYS: u32 = 1_000_000_000;
/// How long a rolling distribution's keys stay in use unless `key_lifetime` says.
pub const DEFAULT_KEY_LIFETIME: Duration = Duration::from_millis(100);
/// The shortest `key_lifetime`: shorter and keys would change within one
/// round trip, so nothing would contend.
pub const MIN_KEY_LIFETIME: Duration = Duration::from_millis(1);

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyDistribution {
    Uniform,
    Zipf {
        exponent: f64,
    },
    /// `keys` fresh keys for each `lifetime` of virtual time, uniform among
    /// them: every client works the same small set of new keys at once, and
    /// the set moves on. A write-once store keeps meeting undecided, contended
    /// keys this way, where a fixed key set is soon all decided.
    Rolling {
        lifetime: Duration,
    },
}

/// How a workload's writes are issued: chosen by the protocol, not the
/// scenario (a write-once store takes proposes, a register puts).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteKind {
    #[default]
    Put,
    /// Write-once: [`crate::kv::Command::Propose`].
    Propose,
}

/// A validated key-value `[workload]`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct KvWorkload {
    pub load: ClientLoad,
    pub read_ratio: Probability,
    pub cas_ratio: Probability,
    /// The share of reads the client precedes by a `sync` (ZooKeeper's
    /// `sync` then `getData`). Only a service whose reads may be stale
    /// does anything with it; the others' reads are linearizable anyway.
    pub sync_ratio: Probability,
    pub keys: u32,
    pub key_distribution: KeyDistribution,
    pub writes: WriteKind,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKvWorkload {
    // Read by the scenario loader (how many clients, where, how many ops).
    #[allow(dead_code)]
    clients: Spanned<i64>,
    #[allow(dead_code)]
    homes: Option<toml::Value>,
    #[allow(dead_code)]
    max_ops_per_client: Option<toml::Value>,
    concurrency: Option<Spanned<i64>>,
    rate: Option<Spanned<Number>>,
    timeout: Option<Spanned<Duration>>,
    retries: Option<Spanned<i64>>,
    read_ratio: Option<Spanned<Number>>,
    cas_ratio: Option<Spanned<Number>>,
    sync_ratio: Option<Spanned<Number>>,
    keys: Option<Spanned<i64>>,
    key_distribution: Option<Spanned<String>>,
    zipf_exponent: Option<Spanned<Number>>,
    key_lifetime: Option<Spanned<Duration>>,
}

impl KvWorkload {
    /// Reads `[workload]`; `None` when the scenario has none.
    pub fn from_scenario(scenario: &Scenario) -> Result<Option<KvWorkload>, ScenarioError> {
        let Some(w) = scenario.section::<RawKvWorkload>("workload")? else { return Ok(None) };
        let load = ClientLoad::parse(
            scenario,
            RawLoad { concurrency: &w.concurrency, rate: &w.rate, timeout: &w.timeout, retries: &w.retries },
        )?;
        let read_ratio = match &w.read_ratio {
            Some(p) => scenario.probability(p, "read_ratio")?,
            None => Probability::new(0.5).unwrap_or_default(),
        };
        let cas_ratio = match &w.cas_ratio {
            Some(p) => scenario.probability(p, "cas_ratio")?,
            None => Probability::ZERO,
        };
        if read_ratio.get() + cas_ratio.get() > 1.0 {
            let default = if w.read_ratio.is_none() { ", the default" } else { "" };
            let span = w.cas_ratio.as_ref().or(w.read_ratio.as_ref()).map_or(w.clients.span(), |s| s.span());
            return Err(scenario.error_at(
                span,
                format!(
                    "`read_ratio` ({}{default}) + `cas_ratio` ({}) is above 1.0; they are shares of all operations (the rest are writes), so together they must be at most 1.0",
                    read_ratio.get(),
                    cas_ratio.get()
                ),
            ));
        }
        let sync_ratio = match &w.sync_ratio {
            Some(p) => scenario.probability(p, "sync_ratio")?,
            None => Probability::ZERO,
        };
        let keys = match &w.keys {
            Some(k) => scenario.int_in(k, "keys", 1, i64::from(MAX_KEYS))? as u32,
            None => 10,
        };
        let distribution = w.key_distribution.as_ref().map(|s| (s.get_ref().as_str(), s.span()));
        if let (Some(l), false) = (&w.key_lifetime, matches!(distribution, Some(("rolling", _)))) {
            return Err(scenario.error_at(l.span(), "`key_lifetime` needs key_distribution = \"rolling\""));
        }
        let key_distribution = match distribution {
            None | Some(("uniform", _)) => {
                if let Some(z) = &w.zipf_exponent {
                    return Err(scenario.error_at(z.span(), "`zipf_exponent` needs key_distribution = \"zipf\""));
                }
                KeyDistribution::Uniform
            }
            Some(("zipf", span)) => {
                let exponent = w.zipf_exponent.as_ref().map_or(1.0, |z| z.get_ref().0);
                if !(exponent.is_finite() && exponent > 0.0 && exponent <= 10.0) {
                    let span = w.zipf_exponent.as_ref().map_or(span, |z| z.span());
                    return Err(scenario
                        .error_at(span, format!("`zipf_exponent` must be above 0 and at most 10; got {exponent}")));
                }
                if keys > MAX_ZIPF_KEYS {
                    let span = w.keys.as_ref().map_or(span, |k| k.span());
                    return Err(scenario.error_at(
                        span,
                        format!("a zipf key distribution supports at most {MAX_ZIPF_KEYS} keys; got {keys}"),
                    ));
                }
                KeyDistribution::Zipf { exponent }
            }
            Some(("rolling", span)) => {
                let lifetime = w.key_lifetime.as_ref().map_or(DEFAULT_KEY_LIFETIME, |l| *l.get_ref());
                if lifetime < MIN_KEY_LIFETIME {
                    let span = w.key_lifetime.as_ref().map_or(span, |l| l.span());
                    return Err(scenario.error_at(span, "`key_lifetime` must be at least 1ms"));
                }
                KeyDistribution::Rolling { lifetime }
            }
            Some((other, span)) => {
                let valid = ["uniform", "zipf", "rolling"];
                return Err(scenario.error_at(
                    span,
                    format!(
                        "unknown key_distribution `{other}`{}; valid: {}",
                        did_you_mean(other, &valid),
                        one_of(&valid)
                    ),
                ));
            }
        };
        Ok(Some(KvWorkload { load, read_ratio, cas_ratio, sync_ratio, keys, key_distribution, writes: WriteKind::Put }))
    }
}

/// Cumulative key weights for Zipf-distributed keys, shared by all clients.
#[derive(Debug)]
pub struct KeyChooser {
    keys: u32,
    zipf_cdf: Option<Vec<f64>>,
    /// Nanoseconds each rolling key set lasts.
    lifetime_ns: Option<u64>,
}

impl KeyChooser {
    pub fn new(workload: &KvWorkload) -> KeyChooser {
        let zipf_cdf = match workload.key_distribution {
            KeyDistribution::Uniform | KeyDistribution::Rolling { .. } => None,
            KeyDistribution::Zipf { exponent } => {
                let mut total = 0.0;
                let mut cdf: Vec<f64> = (1..=workload.keys)
                    .map(|rank| {
                        total += 1.0 / libm::pow(f64::from(rank), exponent);
                        total
                    })
                    .collect();
                cdf.iter_mut().for_each(|c| *c /= total);
                Some(cdf)
            }
        };
        let lifetime_ns = match workload.key_distribution {
            KeyDistribution::Rolling { lifetime } => Some(lifetime.as_nanos()),
            _ => None,
        };
        KeyChooser { keys: workload.keys, zipf_cdf, lifetime_ns }
    }

    /// The lowest key a rolling distribution still picks at `now`; keys
    /// below it are never drawn again.
    pub fn first_live(&self, now: Time) -> Option<u64> {
        self.lifetime_ns.map(|lifetime| (now.as_nanos() / lifetime).saturating_mul(u64::from(self.keys)))
    }

    /// A key for an operation drawn at `now`.
    pub fn pick(&self, rng: &mut SimRng, now: Time) -> u64 {
        if let Some(first) = self.first_live(now) {
            return first.saturating_add(rng.gen_range(0..u64::from(self.keys)));
        }
        match &self.zipf_cdf {
            None => rng.gen_range(0..u64::from(self.keys)),
            Some(cdf) => {
                let u: f64 = rng.gen();
                cdf.partition_point(|&c| c < u).min(cdf.len() - 1) as u64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn workload(keys: u32, key_distribution: KeyDistribution) -> KvWorkload {
        KvWorkload {
            load: ClientLoad::default(),
            read_ratio: Probability::new(0.0).unwrap(),
            cas_ratio: Probability::new(0.0).unwrap(),
            sync_ratio: Probability::ZERO,
            keys,
            key_distribution,
            writes: WriteKind::Put,
        }
    }

    #[test]
    fn rolling_keys_are_fresh_per_lifetime_and_shared_by_all_clients() {
        let lifetime = Duration::from_millis(50);
        let chooser = KeyChooser::new(&workload(4, KeyDistribution::Rolling { lifetime }));
        let mut rng = SimRng::seed_from_u64(7);
        let at = |ms: u64| Time::from_nanos(ms * 1_000_000);
        let mut first_window = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let key = chooser.pick(&mut rng, at(49));
            assert!(key < 4, "{key}");
            first_window.insert(key);
        }
        assert_eq!(first_window.len(), 4, "all four keys of the window are drawn");
        for _ in 0..200 {
            let key = chooser.pick(&mut rng, at(50));
            assert!((4..8).contains(&key), "{key}");
            let key = chooser.pick(&mut rng, at(1_000));
            assert!((80..84).contains(&key), "{key}");
        }
        assert_eq!(chooser.first_live(at(1_000)), Some(80));
        assert_eq!(chooser.first_live(Time::MAX).map(|k| k > 0), Some(true), "saturates, never wraps");
    }

    #[test]
    fn fixed_key_sets_have_no_first_live_key() {
        let chooser = KeyChooser::new(&workload(4, KeyDistribution::Uniform));
        let mut rng = SimRng::seed_from_u64(7);
        assert_eq!(chooser.first_live(Time::from_nanos(10_000_000_000)), None);
        assert!((0..1_000).all(|_| chooser.pick(&mut rng, Time::from_nanos(10_000_000_000)) < 4));
    }
}
