//! The `[swarm]` section: how far `explore --swarm` may move a scenario
//! beyond its own rates and chaos — the shape of the network's delays
//! (latency family and scale, slow or held-back links, messages held for
//! seconds) and the protocol's own parameters. `faultline run` ignores it;
//! only swarm draws from it, a fresh draw per seed, each part off for some
//! seeds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use faultline_sim::rng::Probability;
use faultline_sim::time::Duration;

use crate::scenario::{did_you_mean, one_of, probability, Locator, Number, ScenarioError};

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSwarm {
    latency: Option<Spanned<Vec<Spanned<String>>>>,
    latency_min: Option<Spanned<Duration>>,
    latency_max: Option<Spanned<Duration>>,
    slow_links: Option<Spanned<i64>>,
    slow_factor: Option<Spanned<Number>>,
    hold: Option<Spanned<Number>>,
    hold_min: Option<Spanned<Duration>>,
    hold_max: Option<Spanned<Duration>>,
    params: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
}

pub(crate) fn swarm_bounds(loc: &Locator, raw: &RawSwarm) -> Result<SwarmBounds, ScenarioError> {
    let mut b = SwarmBounds {
        latency_min: Duration::from_millis(1),
        latency_max: Duration::from_millis(20),
        slow_factor: 20.0,
        hold_min: Duration::from_millis(500),
        hold_max: Duration::from_secs(3),
        ..SwarmBounds::default()
    };
    if let Some(families) = &raw.latency {
        for f in families.get_ref() {
            let name = f.get_ref().as_str();
            if !LATENCY_FAMILIES.contains(&name) {
                return Err(loc.at(
                    f.span(),
                    format!(
                        "unknown latency family `{name}`{}; valid: {}",
                        did_you_mean(name, &LATENCY_FAMILIES),
                        one_of(&LATENCY_FAMILIES)
                    ),
                ));
            }
            if !b.latency.iter().any(|l| l == name) {
                b.latency.push(name.to_string());
            }
        }
        if b.latency.is_empty() {
            return Err(
                loc.at(families.span(), format!("`latency` is empty; list some of {}", one_of(&LATENCY_FAMILIES)))
            );
        }
    }
    let range = |lo: &Option<Spanned<Duration>>,
                 hi: &Option<Spanned<Duration>>,
                 names: (&str, &str),
                 default: (Duration, Duration)| {
        let (min, max) =
            (lo.as_ref().map_or(default.0, |d| *d.get_ref()), hi.as_ref().map_or(default.1, |d| *d.get_ref()));
        if min > max {
            let span = hi.as_ref().or(lo.as_ref()).map(|d| d.span()).unwrap_or(0..0);
            return Err(loc.at(span, format!("`{}` ({min}) must not be above `{}` ({max})", names.0, names.1)));
        }
        Ok((min, max))
    };
    (b.latency_min, b.latency_max) =
        range(&raw.latency_min, &raw.latency_max, ("latency_min", "latency_max"), (b.latency_min, b.latency_max))?;
    if b.latency_max == Duration::ZERO {
        if let Some(m) = &raw.latency_max {
            return Err(loc.at(m.span(), "`latency_max` must be above zero"));
        }
    }
    (b.hold_min, b.hold_max) = range(&raw.hold_min, &raw.hold_max, ("hold_min", "hold_max"), (b.hold_min, b.hold_max))?;
    if let Some(n) = &raw.slow_links {
        let v = *n.get_ref();
        if !(0..=MAX_SLOW_LINKS).contains(&v) {
            return Err(loc.at(n.span(), format!("`slow_links` must be between 0 and {MAX_SLOW_LINKS}; got {v}")));
        }
        b.slow_links = v as u32;
    }
    if let Some(f) = &raw.slow_factor {
        let v = f.get_ref().0;
        if !(1.0..=1_000.0).contains(&v) {
            return Err(loc.at(f.span(), format!("`slow_factor` must be between 1 and 1000; got {v}")));
        }
        b.slow_factor = v;
    }
    if let Some(p) = &raw.hold {
        b.hold = probability(loc, p, "hold")?;
    }
    for (key, value) in raw.params.iter().flatten() {
        let at = loc.at(key.span(), "");
        b.params.push(SwarmParam {
            name: key.get_ref().clone(),
            range: param_range(loc, key, value)?,
            line: at.line,
            column: at.column,
        });
    }
    Ok(b)
}

fn param_range(
    loc: &Locator,
    key: &Spanned<String>,
    value: &Spanned<toml::Value>,
) -> Result<ParamRange, ScenarioError> {
    let name = key.get_ref();
    let shape = || {
        loc.at(
            value.span(),
            format!(
                "`swarm.params.{name}` takes a range `{{ min = ..., max = ... }}` of integers or durations, or a \
                 list of values to choose from"
            ),
        )
    };
    match value.get_ref() {
        toml::Value::Array(values) if !values.is_empty() => Ok(ParamRange::OneOf(values.clone())),
        toml::Value::Array(_) => Err(loc.at(value.span(), format!("`swarm.params.{name}` lists no values"))),
        toml::Value::Table(t) => {
            if let Some(k) = t.keys().find(|k| *k != "min" && *k != "max") {
                return Err(loc.at(
                    value.span(),
                    format!("unknown key `{k}` in `swarm.params.{name}`; valid keys here are `min`, `max`"),
                ));
            }
            let (Some(min), Some(max)) = (t.get("min"), t.get("max")) else { return Err(shape()) };
            let order = |lo: String, hi: String| {
                loc.at(value.span(), format!("`swarm.params.{name}`: `min` ({lo}) must not be above `max` ({hi})"))
            };
            match (min, max) {
                (toml::Value::Integer(lo), toml::Value::Integer(hi)) => {
                    if lo > hi {
                        return Err(order(lo.to_string(), hi.to_string()));
                    }
                    Ok(ParamRange::Int { min: *lo, max: *hi })
                }
                (toml::Value::String(lo), toml::Value::String(hi)) => {
                    let parse = |s: &str| {
                        Duration::parse(s).map_err(|e| loc.at(value.span(), format!("`swarm.params.{name}`: {e}")))
                    };
                    let (lo, hi) = (parse(lo)?, parse(hi)?);
                    if lo > hi {
                        return Err(order(lo.to_string(), hi.to_string()));
                    }
                    Ok(ParamRange::Duration { min: lo, max: hi })
                }
                _ => Err(shape()),
            }
        }
        _ => Err(shape()),
    }
}
