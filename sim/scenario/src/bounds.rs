//! The `[swarm]` section: how far `explore --swarm` may move a scenario
//! beyond its own rates and chaos — the shape of the network's delays
//! (latency family and scale, slow or held-back links, messages held for
//! seconds) and the protocol's own parameters. `faultline run` ignores it;
//! only swarm draws from it, a fresh draw per seed, each part off for some
//! seeds.

use serde::Serialize;

use faultline_sim::rng::Probability;
use faultline_sim::time::Duration;

/// The latency families swarm can draw.
pub const LATENCY_FAMILIES: [&str; 5] = ["constant", "uniform", "exponential", "lognormal", "pareto"];

/// The most directed links one seed may slow.
pub const MAX_SLOW_LINKS: i64 = 64;

/// What `explore --swarm` may vary, within bounds the scenario sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SwarmBounds {
    /// Latency families to draw from (with the scenario's own latency, kept
    /// for some seeds); empty: the latency is never redrawn.
    pub latency: Vec<String>,
    /// Range of the drawn latency's typical delay (its median or mean).
    pub latency_min: Duration,
    pub latency_max: Duration,
    /// Most directed links slowed or held back per seed (0: never).
    pub slow_links: u32,
    /// Largest factor a slowed link's latency is multiplied by.
    pub slow_factor: f64,
    /// Largest share of messages held; zero: messages are never held.
    pub hold: Probability,
    /// How long a held message is held: drawn per seed inside this range.
    pub hold_min: Duration,
    pub hold_max: Duration,
    /// Protocol parameters drawn per seed and written into `[params]`.
    pub params: Vec<SwarmParam>,
}

/// One `[swarm.params]` entry, with where the scenario names it (so a value
/// the protocol refuses is reported at the right line).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SwarmParam {
    pub name: String,
    pub range: ParamRange,
    pub line: usize,
    pub column: usize,
}

impl SwarmBounds {
    pub fn is_empty(&self) -> bool {
        self.latency.is_empty() && self.slow_links == 0 && self.hold.is_zero() && self.params.is_empty()
    }
}

/// The values one protocol parameter may take under swarm.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamRange {
    /// An integer in `min..=max`, drawn log-uniformly when the range spans
    /// more than a factor of four, so small values are tried as often as
    /// large ones.
    Int { min: i64, max: i64 },
    /// A duration in `min..=max`, drawn the same way.
    Duration { min: Duration, max: Duration },
    /// One of the listed values.
    OneOf(Vec<toml::Value>),
}
