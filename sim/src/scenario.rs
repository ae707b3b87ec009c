//! Scenario files: the TOML a user writes to describe a run, parsed and
//! validated into a [`Scenario`]. Every error a user can make — a typo in a
//! key, a wrong type, a probability of 1.5, a fault naming node 9 of 5 — comes
//! back as a [`ScenarioError`] that names the file, line and column and says
//! what would be valid.
//!
//! Protocol parameters (`[params]`) are the protocol's business: the scenario
//! keeps the source so the protocol can deserialize them with the same
//! spanned errors ([`Scenario::params`]).

use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::Spanned;

use crate::fault::{FaultAction, NodeRef, ScheduledFault};
use crate::net::{LinkConfig, LinkKind};
use crate::rng::{Latency, Probability};
use crate::time::{Duration, Time};
use crate::world::{Limits, WorldConfig};

/// The most nodes a scenario may have.
pub const MAX_NODES: u32 = 1_000;
/// The most clients a scenario may have.
pub const MAX_CLIENTS: u32 = 10_000;
/// The most faults a scenario may list.
pub const MAX_FAULTS: usize = 10_000;
/// Default bound on events per run.
pub const DEFAULT_MAX_EVENTS: u64 = 200_000_000;

/// A user's mistake in a scenario file, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path, self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.path, self.line, self.column, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

/// What the scenario loader needs to know about protocols, supplied by the
/// protocol crate so the engine stays protocol-agnostic.
pub trait Catalog {
    /// Every protocol name a scenario may use.
    fn protocols(&self) -> Vec<&'static str>;
    /// The roles a protocol's nodes report, for faults that target a role.
    fn roles(&self, protocol: &str) -> Vec<&'static str>;
    /// The checks a protocol supports.
    fn checks(&self, protocol: &str) -> Vec<&'static str>;
    /// The link kind a protocol assumes when the scenario names none.
    fn default_link_kind(&self, _protocol: &str) -> LinkKind {
        LinkKind::Datagram
    }
}

/// The client workload.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Workload {
    pub clients: u32,
    /// Home node of each client: its side of any partition.
    pub homes: Vec<u32>,
    pub mode: LoadMode,
    pub read_ratio: Probability,
    pub cas_ratio: Probability,
    pub keys: u32,
    pub key_distribution: KeyDistribution,
    pub timeout: Duration,
    pub retries: u32,
    /// Operations each client issues at most (`None`: until the run ends).
    pub max_ops_per_client: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    /// Each client keeps `concurrency` operations outstanding.
    Closed { concurrency: u32 },
    /// Each client starts operations at `rate_per_sec` (Poisson arrivals).
    Open { rate_per_sec: f64 },
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyDistribution {
    Uniform,
    Zipf { exponent: f64 },
}

/// Which checks run, with their budgets.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Checks {
    /// Names of enabled checks, sorted.
    pub enabled: Vec<String>,
    /// Search budget of history checkers (steps); past it the verdict is
    /// "unknown".
    pub history_budget_steps: u64,
}

impl Checks {
    pub fn is_on(&self, name: &str) -> bool {
        self.enabled.iter().any(|c| c == name)
    }
}

/// A validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub path: String,
    pub source: String,
    pub name: String,
    pub description: String,
    pub protocol: String,
    pub nodes: u32,
    /// Length of the safety phase (faults on).
    pub duration: Duration,
    /// Length of the liveness phase after it (faults healed), if any.
    pub liveness: Option<Duration>,
    pub seed: u64,
    pub network: LinkConfig,
    pub link_overrides: Vec<(u32, u32, LinkConfig)>,
    pub faults: Vec<ScheduledFault>,
    pub workload: Option<Workload>,
    pub limits: Limits,
    pub checks: Checks,
}

// ---------------------------------------------------------------- raw form

/// A number written as an integer or a float.
#[derive(Copy, Clone, Debug)]
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Number, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// `node = 2` or `node = "leader"`.
#[derive(Clone, Debug)]
enum RawNodeRef {
    Id(i64),
    Name(String),
}

impl<'de> Deserialize<'de> for RawNodeRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RawNodeRef, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawNodeRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a node id (0, 1, ...) or a role such as \"leader\" or \"random\"")
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawNodeRef, E> {
                Ok(RawNodeRef::Id(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawNodeRef, E> {
                Ok(RawNodeRef::Id(v.min(i64::MAX as u64) as i64))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawNodeRef, E> {
                Ok(RawNodeRef::Name(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    protocol: Spanned<String>,
    nodes: Spanned<i64>,
    duration: Spanned<Duration>,
    #[serde(default)]
    seed: Option<Spanned<i64>>,
    #[serde(default)]
    #[allow(dead_code)] // read by the protocol through `Scenario::params`
    params: Option<toml::Table>,
    #[serde(default)]
    network: Option<Spanned<RawNetwork>>,
    #[serde(default)]
    faults: Vec<Spanned<RawFault>>,
    #[serde(default)]
    workload: Option<Spanned<RawWorkload>>,
    #[serde(default)]
    liveness: Option<Spanned<RawLiveness>>,
    #[serde(default)]
    limits: Option<RawLimits>,
    #[serde(default)]
    checks: Option<Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    kind: Option<Spanned<String>>,
    latency: Option<Spanned<RawLatency>>,
    loss: Option<Spanned<Number>>,
    duplicate: Option<Spanned<Number>>,
    reorder: Option<Spanned<Number>>,
    reorder_delay: Option<Spanned<Duration>>,
    #[serde(default)]
    links: Vec<Spanned<RawLinkOverride>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLinkOverride {
    from: Spanned<i64>,
    to: Spanned<i64>,
    #[serde(default)]
    both_ways: bool,
    kind: Option<Spanned<String>>,
    latency: Option<Spanned<RawLatency>>,
    loss: Option<Spanned<Number>>,
    duplicate: Option<Spanned<Number>>,
    reorder: Option<Spanned<Number>>,
    reorder_delay: Option<Spanned<Duration>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLatency {
    dist: Spanned<String>,
    value: Option<Spanned<Duration>>,
    min: Option<Spanned<Duration>>,
    max: Option<Spanned<Duration>>,
    mean: Option<Spanned<Duration>>,
    std_dev: Option<Spanned<Duration>>,
    median: Option<Spanned<Duration>>,
    sigma: Option<Spanned<Number>>,
    scale: Option<Spanned<Duration>>,
    shape: Option<Spanned<Number>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    at: Spanned<Duration>,
    kind: Spanned<String>,
    node: Option<Spanned<RawNodeRef>>,
    groups: Option<Spanned<Vec<Vec<Spanned<i64>>>>>,
    from: Option<Spanned<Vec<Spanned<i64>>>>,
    to: Option<Spanned<Vec<Spanned<i64>>>>,
    rate: Option<Spanned<Number>>,
    heal_after: Option<Spanned<Duration>>,
    restart_after: Option<Spanned<Duration>>,
    resume_after: Option<Spanned<Duration>>,
    reset_after: Option<Spanned<Duration>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    clients: Spanned<i64>,
    homes: Option<Vec<Spanned<i64>>>,
    concurrency: Option<Spanned<i64>>,
    rate: Option<Spanned<Number>>,
    read_ratio: Option<Spanned<Number>>,
    cas_ratio: Option<Spanned<Number>>,
    keys: Option<Spanned<i64>>,
    key_distribution: Option<Spanned<String>>,
    zipf_exponent: Option<Spanned<Number>>,
    timeout: Option<Spanned<Duration>>,
    retries: Option<Spanned<i64>>,
    max_ops_per_client: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLiveness {
    duration: Spanned<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_events: Option<Spanned<i64>>,
    max_time: Option<Spanned<Duration>>,
}

/// Only the `[params]` table, for protocols to deserialize with spans.
#[derive(Deserialize)]
struct ParamsOnly<P> {
    params: Option<P>,
}

// --------------------------------------------------------------- locating

/// Turns a byte span into a located error.
struct Locator<'a> {
    path: &'a str,
    source: &'a str,
}

impl Locator<'_> {
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        let start = span.start.min(self.source.len());
        let before = &self.source[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.source[line_start..start].chars().count() + 1;
        ScenarioError { path: self.path.to_string(), line, column, message: message.into() }
    }

    fn from_toml(&self, e: &toml::de::Error) -> ScenarioError {
        let message = improve_message(e.message());
        match e.span() {
            Some(span) => self.at(span, message),
            None => ScenarioError { path: self.path.to_string(), line: 0, column: 0, message },
        }
    }
}

/// The closest candidate to `word`, if one is close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    match suggest(word, candidates.iter().copied()) {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

fn one_of(candidates: &[&str]) -> String {
    candidates.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
}

/// Adds a did-you-mean to serde's unknown-field and unknown-variant errors,
/// and rewords its type errors for people who write TOML, not Rust.
fn improve_message(raw: &str) -> String {
    let raw = raw.trim_end();
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        if let Some((name, tail)) = rest.split_once('`') {
            let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
            let hint = did_you_mean(name, &expected);
            return format!("unknown key `{name}`{hint}; valid keys here are {}", one_of(&expected));
        }
    }
    if let Some(rest) = raw.strip_prefix("missing field `") {
        if let Some((name, _)) = rest.split_once('`') {
            return format!("missing required key `{name}`");
        }
    }
    raw.replace("expected i64", "expected an integer")
        .replace("expected u64", "expected an integer")
        .replace("expected a string", "expected a string (in quotes)")
        .replace("invalid type: ", "wrong type: ")
}

// ------------------------------------------------------------- validation

fn probability(loc: &Locator, value: &Spanned<Number>, key: &str) -> Result<Probability, ScenarioError> {
    Probability::new(value.get_ref().0).map_err(|_| {
        loc.at(value.span(), format!("`{key}` must be a probability between 0.0 and 1.0; got {}", value.get_ref().0))
    })
}

fn int_in(loc: &Locator, value: &Spanned<i64>, key: &str, low: i64, high: i64) -> Result<i64, ScenarioError> {
    let v = *value.get_ref();
    if v < low || v > high {
        Err(loc.at(value.span(), format!("`{key}` must be between {low} and {high}; got {v}")))
    } else {
        Ok(v)
    }
}

fn node_id(loc: &Locator, value: &Spanned<i64>, nodes: u32) -> Result<u32, ScenarioError> {
    let v = *value.get_ref();
    if v < 0 || v >= i64::from(nodes) {
        Err(loc.at(
            value.span(),
            format!("node {v} does not exist: this scenario has {nodes} nodes, numbered 0 to {}", nodes - 1),
        ))
    } else {
        Ok(v as u32)
    }
}

const DISTRIBUTIONS: [&str; 6] = ["constant", "uniform", "normal", "exponential", "lognormal", "pareto"];
const LINK_KINDS: [&str; 2] = ["datagram", "session"];
const FAULT_KINDS: [&str; 9] =
    ["partition", "partition_oneway", "isolate", "heal", "crash", "restart", "pause", "resume", "clock_rate"];

fn latency(loc: &Locator, raw: &Spanned<RawLatency>) -> Result<Latency, ScenarioError> {
    let r = raw.get_ref();
    let dist = r.dist.get_ref().as_str();
    let present: [(&str, bool); 9] = [
        ("value", r.value.is_some()),
        ("min", r.min.is_some()),
        ("max", r.max.is_some()),
        ("mean", r.mean.is_some()),
        ("std_dev", r.std_dev.is_some()),
        ("median", r.median.is_some()),
        ("sigma", r.sigma.is_some()),
        ("scale", r.scale.is_some()),
        ("shape", r.shape.is_some()),
    ];
    let keys: &[&str] = match dist {
        "constant" => &["value"],
        "uniform" => &["min", "max"],
        "normal" => &["mean", "std_dev"],
        "exponential" => &["mean", "min"],
        "lognormal" => &["median", "sigma"],
        "pareto" => &["scale", "shape"],
        other => {
            return Err(loc.at(
                r.dist.span(),
                format!(
                    "unknown latency distribution `{other}`{}; valid: {}",
                    did_you_mean(other, &DISTRIBUTIONS),
                    one_of(&DISTRIBUTIONS)
                ),
            ))
        }
    };
    if let Some((extra, _)) = present.iter().find(|(k, on)| *on && !keys.contains(k)) {
        return Err(
            loc.at(raw.span(), format!("`{extra}` does not apply to a {dist} latency; it takes {}", one_of(keys)))
        );
    }
    let need = |d: &Option<Spanned<Duration>>, key: &str| {
        d.as_ref()
            .map(|s| *s.get_ref())
            .ok_or_else(|| loc.at(raw.span(), format!("a {dist} latency needs `{key}` (it takes {})", one_of(keys))))
    };
    let need_num = |n: &Option<Spanned<Number>>, key: &str| -> Result<f64, ScenarioError> {
        let s = n
            .as_ref()
            .ok_or_else(|| loc.at(raw.span(), format!("a {dist} latency needs `{key}` (it takes {})", one_of(keys))))?;
        let v = s.get_ref().0;
        if !(v.is_finite() && v > 0.0) {
            return Err(loc.at(s.span(), format!("`{key}` must be a positive number; got {v}")));
        }
        Ok(v)
    };
    Ok(match dist {
        "constant" => Latency::Constant { value: need(&r.value, "value")? },
        "uniform" => {
            let (min, max) = (need(&r.min, "min")?, need(&r.max, "max")?);
            if min > max {
                return Err(loc.at(raw.span(), format!("uniform latency has min {min} above max {max}")));
            }
            Latency::Uniform { min, max }
        }
        "normal" => Latency::Normal { mean: need(&r.mean, "mean")?, std_dev: need(&r.std_dev, "std_dev")? },
        "exponential" => Latency::Exponential {
            min: r.min.as_ref().map_or(Duration::ZERO, |s| *s.get_ref()),
            mean: need(&r.mean, "mean")?,
        },
        "lognormal" => Latency::LogNormal { median: need(&r.median, "median")?, sigma: need_num(&r.sigma, "sigma")? },
        _ => Latency::Pareto { scale: need(&r.scale, "scale")?, shape: need_num(&r.shape, "shape")? },
    })
}

fn link_kind(loc: &Locator, raw: &Spanned<String>) -> Result<LinkKind, ScenarioError> {
    match raw.get_ref().as_str() {
        "datagram" => Ok(LinkKind::Datagram),
        "session" => Ok(LinkKind::Session),
        other => Err(loc.at(
            raw.span(),
            format!("unknown link kind `{other}`{}; valid: {}", did_you_mean(other, &LINK_KINDS), one_of(&LINK_KINDS)),
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_link(
    loc: &Locator,
    base: &LinkConfig,
    kind: &Option<Spanned<String>>,
    lat: &Option<Spanned<RawLatency>>,
    loss: &Option<Spanned<Number>>,
    dup: &Option<Spanned<Number>>,
    reorder: &Option<Spanned<Number>>,
    reorder_delay: &Option<Spanned<Duration>>,
) -> Result<LinkConfig, ScenarioError> {
    let mut link = base.clone();
    if let Some(k) = kind {
        link.kind = link_kind(loc, k)?;
    }
    if let Some(l) = lat {
        link.latency = latency(loc, l)?;
    }
    if let Some(p) = loss {
        link.loss = probability(loc, p, "loss")?;
    }
    if let Some(p) = dup {
        link.duplicate = probability(loc, p, "duplicate")?;
    }
    if let Some(p) = reorder {
        link.reorder = probability(loc, p, "reorder")?;
    }
    if let Some(d) = reorder_delay {
        link.reorder_delay = *d.get_ref();
    }
    Ok(link)
}

fn node_ref(loc: &Locator, raw: &Spanned<RawNodeRef>, nodes: u32, roles: &[&str]) -> Result<NodeRef, ScenarioError> {
    match raw.get_ref() {
        RawNodeRef::Id(i) => Ok(NodeRef::Id(node_id(loc, &Spanned::new(raw.span(), *i), nodes)?)),
        RawNodeRef::Name(name) if name == "random" => Ok(NodeRef::Random),
        RawNodeRef::Name(name) if roles.contains(&name.as_str()) => Ok(NodeRef::Role(name.clone())),
        RawNodeRef::Name(name) => {
            let mut valid: Vec<&str> = roles.to_vec();
            valid.push("random");
            Err(loc.at(
                raw.span(),
                format!(
                    "`{name}` is not a node: use a node id 0 to {} or one of {}{}",
                    nodes - 1,
                    one_of(&valid),
                    did_you_mean(name, &valid)
                ),
            ))
        }
    }
}

fn fault(
    loc: &Locator,
    raw: &Spanned<RawFault>,
    nodes: u32,
    duration: Duration,
    roles: &[&str],
) -> Result<ScheduledFault, ScenarioError> {
    let f = raw.get_ref();
    let kind = f.kind.get_ref().as_str();
    if !FAULT_KINDS.contains(&kind) {
        return Err(loc.at(
            f.kind.span(),
            format!("unknown fault kind `{kind}`{}; valid: {}", did_you_mean(kind, &FAULT_KINDS), one_of(&FAULT_KINDS)),
        ));
    }
    let at = *f.at.get_ref();
    if at >= duration {
        return Err(
            loc.at(f.at.span(), format!("fault at {at} is not before the end of the scenario's duration ({duration})"))
        );
    }
    // Which optional keys each kind takes.
    let allowed: &[&str] = match kind {
        "partition" => &["groups", "heal_after"],
        "partition_oneway" => &["from", "to", "heal_after"],
        "isolate" => &["node", "heal_after"],
        "heal" => &[],
        "crash" => &["node", "restart_after"],
        "restart" | "resume" => &["node"],
        "pause" => &["node", "resume_after"],
        _ => &["node", "rate", "reset_after"],
    };
    let present = [
        ("node", f.node.as_ref().map(|s| s.span())),
        ("groups", f.groups.as_ref().map(|s| s.span())),
        ("from", f.from.as_ref().map(|s| s.span())),
        ("to", f.to.as_ref().map(|s| s.span())),
        ("rate", f.rate.as_ref().map(|s| s.span())),
        ("heal_after", f.heal_after.as_ref().map(|s| s.span())),
        ("restart_after", f.restart_after.as_ref().map(|s| s.span())),
        ("resume_after", f.resume_after.as_ref().map(|s| s.span())),
        ("reset_after", f.reset_after.as_ref().map(|s| s.span())),
    ];
    for (key, span) in present {
        if let Some(span) = span {
            if !allowed.contains(&key) {
                let takes = if allowed.is_empty() { "no other keys".to_string() } else { one_of(allowed) };
                return Err(loc.at(span, format!("a `{kind}` fault does not take `{key}`; it takes {takes}")));
            }
        }
    }
    let missing = |key: &str| loc.at(raw.span(), format!("a `{kind}` fault needs `{key}`"));
    let node = |loc: &Locator| -> Result<NodeRef, ScenarioError> {
        let n = f.node.as_ref().ok_or_else(|| missing("node"))?;
        node_ref(loc, n, nodes, roles)
    };
    let id_list = |list: &Spanned<Vec<Spanned<i64>>>| -> Result<Vec<u32>, ScenarioError> {
        let ids = list.get_ref().iter().map(|i| node_id(loc, i, nodes)).collect::<Result<Vec<u32>, _>>()?;
        if ids.is_empty() {
            return Err(loc.at(list.span(), "the node list is empty"));
        }
        Ok(ids)
    };
    let action = match kind {
        "partition" => {
            let groups = f.groups.as_ref().ok_or_else(|| missing("groups"))?;
            let mut seen = vec![false; nodes as usize];
            let mut out = Vec::new();
            for group in groups.get_ref() {
                let mut ids = Vec::new();
                for member in group {
                    let id = node_id(loc, member, nodes)?;
                    if std::mem::replace(&mut seen[id as usize], true) {
                        return Err(loc.at(member.span(), format!("node {id} is in more than one group")));
                    }
                    ids.push(id);
                }
                out.push(ids);
            }
            if out.iter().filter(|g| !g.is_empty()).count() + usize::from(seen.iter().any(|s| !s)) < 2 {
                return Err(loc.at(
                    groups.span(),
                    "a partition needs at least two groups (nodes left unlisted form one more group)",
                ));
            }
            FaultAction::Partition { groups: out }
        }
        "partition_oneway" => {
            let from = id_list(f.from.as_ref().ok_or_else(|| missing("from"))?)?;
            let to = id_list(f.to.as_ref().ok_or_else(|| missing("to"))?)?;
            FaultAction::PartitionOneway { from, to }
        }
        "isolate" => FaultAction::Isolate { node: node(loc)? },
        "heal" => FaultAction::Heal,
        "crash" => FaultAction::Crash { node: node(loc)? },
        "restart" => FaultAction::Restart { node: node(loc)? },
        "pause" => FaultAction::Pause { node: node(loc)? },
        "resume" => FaultAction::Resume { node: node(loc)? },
        _ => {
            let rate = f.rate.as_ref().ok_or_else(|| missing("rate"))?;
            let r = rate.get_ref().0;
            if !(r.is_finite() && (0.01..=100.0).contains(&r)) {
                return Err(
                    loc.at(rate.span(), format!("`rate` must be between 0.01 and 100 (1.0 = a true clock); got {r}"))
                );
            }
            FaultAction::ClockRate { node: node(loc)?, rate: r }
        }
    };
    let undo_after = [&f.heal_after, &f.restart_after, &f.resume_after, &f.reset_after]
        .into_iter()
        .flatten()
        .map(|d| *d.get_ref())
        .next();
    Ok(ScheduledFault { at: Time::ZERO + at, action, undo_after })
}

fn workload(loc: &Locator, raw: &Spanned<RawWorkload>, nodes: u32) -> Result<Workload, ScenarioError> {
    let w = raw.get_ref();
    let clients = int_in(loc, &w.clients, "clients", 0, i64::from(MAX_CLIENTS))? as u32;
    let homes = match &w.homes {
        Some(list) => {
            if list.len() != clients as usize {
                return Err(
                    loc.at(raw.span(), format!("`homes` lists {} nodes but there are {clients} clients", list.len()))
                );
            }
            list.iter().map(|h| node_id(loc, h, nodes)).collect::<Result<_, _>>()?
        }
        None => (0..clients).map(|c| c % nodes).collect(),
    };
    let mode = match (&w.concurrency, &w.rate) {
        (Some(c), None) => LoadMode::Closed { concurrency: int_in(loc, c, "concurrency", 1, 1_000)? as u32 },
        (None, Some(r)) => {
            let v = r.get_ref().0;
            if !(v.is_finite() && v > 0.0 && v <= 1e6) {
                return Err(loc.at(
                    r.span(),
                    format!("`rate` (operations per second per client) must be above 0 and at most 1000000; got {v}"),
                ));
            }
            LoadMode::Open { rate_per_sec: v }
        }
        (None, None) => LoadMode::Closed { concurrency: 1 },
        (Some(_), Some(r)) => {
            return Err(loc.at(r.span(), "give either `concurrency` (closed loop) or `rate` (open loop), not both"));
        }
    };
    let read_ratio = w
        .read_ratio
        .as_ref()
        .map_or(Ok(Probability::new(0.5).unwrap_or_default()), |p| probability(loc, p, "read_ratio"))?;
    let cas_ratio = w.cas_ratio.as_ref().map_or(Ok(Probability::ZERO), |p| probability(loc, p, "cas_ratio"))?;
    if read_ratio.get() + cas_ratio.get() > 1.0 {
        return Err(loc.at(
            raw.span(),
            format!("read_ratio + cas_ratio must be at most 1.0; got {}", read_ratio.get() + cas_ratio.get()),
        ));
    }
    let keys = w.keys.as_ref().map_or(Ok(10), |k| int_in(loc, k, "keys", 1, 1_000_000_000))? as u32;
    let key_distribution = match w.key_distribution.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
        None | Some(("uniform", _)) => {
            if let Some(z) = &w.zipf_exponent {
                return Err(loc.at(z.span(), "`zipf_exponent` needs key_distribution = \"zipf\""));
            }
            KeyDistribution::Uniform
        }
        Some(("zipf", _)) => {
            let exponent = w.zipf_exponent.as_ref().map_or(1.0, |z| z.get_ref().0);
            if !(exponent.is_finite() && exponent > 0.0 && exponent <= 10.0) {
                return Err(
                    loc.at(raw.span(), format!("`zipf_exponent` must be above 0 and at most 10; got {exponent}"))
                );
            }
            KeyDistribution::Zipf { exponent }
        }
        Some((other, span)) => {
            let valid = ["uniform", "zipf"];
            return Err(loc.at(
                span,
                format!("unknown key_distribution `{other}`{}; valid: {}", did_you_mean(other, &valid), one_of(&valid)),
            ));
        }
    };
    let timeout = w.timeout.as_ref().map_or(Duration::from_millis(500), |t| *t.get_ref());
    if timeout == Duration::ZERO {
        let span = w.timeout.as_ref().map_or(raw.span(), |t| t.span());
        return Err(loc.at(span, "`timeout` must be above zero"));
    }
    let retries = w.retries.as_ref().map_or(Ok(3), |r| int_in(loc, r, "retries", 0, 1_000))? as u32;
    let max_ops_per_client = w
        .max_ops_per_client
        .as_ref()
        .map(|m| int_in(loc, m, "max_ops_per_client", 1, 1_000_000_000).map(|v| v as u64))
        .transpose()?;
    Ok(Workload {
        clients,
        homes,
        mode,
        read_ratio,
        cas_ratio,
        keys,
        key_distribution,
        timeout,
        retries,
        max_ops_per_client,
    })
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path, catalog: &dyn Catalog) -> Result<Scenario, ScenarioError> {
        let shown = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            path: shown.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read scenario file: {e}"),
        })?;
        Scenario::parse(&source, &shown, catalog)
    }

    /// Validates scenario text; `path` is only used in messages.
    pub fn parse(source: &str, path: &str, catalog: &dyn Catalog) -> Result<Scenario, ScenarioError> {
        let loc = Locator { path, source };
        let raw: RawScenario = toml::from_str(source).map_err(|e| loc.from_toml(&e))?;

        let protocols = catalog.protocols();
        let protocol = raw.protocol.get_ref().clone();
        if !protocols.contains(&protocol.as_str()) {
            return Err(loc.at(
                raw.protocol.span(),
                format!(
                    "unknown protocol `{protocol}`{}; valid: {}",
                    did_you_mean(&protocol, &protocols),
                    one_of(&protocols)
                ),
            ));
        }
        let name = raw.name.get_ref().trim().to_string();
        if name.is_empty() {
            return Err(loc.at(raw.name.span(), "`name` must not be empty"));
        }
        let nodes = int_in(&loc, &raw.nodes, "nodes", 1, i64::from(MAX_NODES))? as u32;
        let duration = *raw.duration.get_ref();
        if duration == Duration::ZERO {
            return Err(loc.at(raw.duration.span(), "`duration` must be above zero"));
        }
        let seed = match &raw.seed {
            Some(s) => int_in(&loc, s, "seed", 0, i64::MAX)? as u64,
            None => 1,
        };

        let mut network = LinkConfig { kind: catalog.default_link_kind(&protocol), ..LinkConfig::default() };
        let mut link_overrides = Vec::new();
        if let Some(net) = &raw.network {
            let n = net.get_ref();
            let l = n;
            network =
                apply_link(&loc, &network, &l.kind, &l.latency, &l.loss, &l.duplicate, &l.reorder, &l.reorder_delay)?;
            for o in &n.links {
                let r = o.get_ref();
                let from = node_id(&loc, &r.from, nodes)?;
                let to = node_id(&loc, &r.to, nodes)?;
                if from == to {
                    return Err(loc.at(r.to.span(), "a link override needs two different nodes"));
                }
                let link = apply_link(
                    &loc,
                    &network,
                    &r.kind,
                    &r.latency,
                    &r.loss,
                    &r.duplicate,
                    &r.reorder,
                    &r.reorder_delay,
                )?;
                link_overrides.push((from, to, link.clone()));
                if r.both_ways {
                    link_overrides.push((to, from, link));
                }
            }
        }

        let roles = catalog.roles(&protocol);
        if raw.faults.len() > MAX_FAULTS {
            return Err(loc.at(raw.faults[MAX_FAULTS].span(), format!("at most {MAX_FAULTS} faults may be listed")));
        }
        let faults =
            raw.faults.iter().map(|f| fault(&loc, f, nodes, duration, &roles)).collect::<Result<Vec<_>, _>>()?;

        let workload = raw.workload.as_ref().map(|w| workload(&loc, w, nodes)).transpose()?;
        let liveness = raw.liveness.as_ref().map(|l| *l.get_ref().duration.get_ref());
        if let (Some(d), Some(l)) = (liveness, &raw.liveness) {
            if d == Duration::ZERO {
                return Err(loc.at(l.get_ref().duration.span(), "the liveness phase `duration` must be above zero"));
            }
        }

        let natural_end = Time::ZERO + duration + liveness.unwrap_or(Duration::ZERO);
        let mut limits = Limits { max_time: natural_end, max_events: DEFAULT_MAX_EVENTS };
        if let Some(l) = &raw.limits {
            if let Some(m) = &l.max_events {
                limits.max_events = int_in(&loc, m, "max_events", 1, i64::MAX)? as u64;
            }
            if let Some(t) = &l.max_time {
                let cap = Time::ZERO + *t.get_ref();
                if cap > natural_end {
                    return Err(loc.at(
                        t.span(),
                        format!(
                            "`max_time` ({}) must not exceed duration plus liveness ({})",
                            t.get_ref(),
                            natural_end.since(Time::ZERO)
                        ),
                    ));
                }
                limits.max_time = cap;
            }
        }

        let supported = catalog.checks(&protocol);
        let mut enabled: Vec<String> = supported.iter().map(|s| s.to_string()).collect();
        let mut history_budget_steps = 20_000_000;
        if let Some(table) = &raw.checks {
            for (key, value) in table.get_ref() {
                let span = table.span();
                if key == "history_budget_steps" {
                    match value.as_integer() {
                        Some(v) if v >= 1 => history_budget_steps = v as u64,
                        _ => {
                            return Err(loc.at(
                                span,
                                format!("`checks.history_budget_steps` must be a positive integer; got {value}"),
                            ))
                        }
                    }
                    continue;
                }
                if !supported.contains(&key.as_str()) {
                    let mut valid = supported.clone();
                    valid.push("history_budget_steps");
                    return Err(loc.at(
                        span,
                        format!(
                            "protocol `{protocol}` has no check `{key}`{}; valid: {}",
                            did_you_mean(key, &valid),
                            one_of(&valid)
                        ),
                    ));
                }
                match value.as_bool() {
                    Some(true) => {}
                    Some(false) => enabled.retain(|c| c != key),
                    None => return Err(loc.at(span, format!("`checks.{key}` must be true or false; got {value}"))),
                }
            }
        }
        enabled.sort();

        Ok(Scenario {
            path: path.to_string(),
            source: source.to_string(),
            name,
            description: raw.description,
            protocol,
            nodes,
            duration,
            liveness,
            seed,
            network,
            link_overrides,
            faults,
            workload,
            limits,
            checks: Checks { enabled, history_budget_steps },
        })
    }

    /// Deserializes `[params]` into the protocol's own type, with the same
    /// located errors; a missing table gives `P::default()`.
    pub fn params<P: DeserializeOwned + Default>(&self) -> Result<P, ScenarioError> {
        let loc = Locator { path: &self.path, source: &self.source };
        let only: ParamsOnly<P> = toml::from_str(&self.source).map_err(|e| loc.from_toml(&e))?;
        Ok(only.params.unwrap_or_default())
    }

    /// A located error at a byte span of this scenario's source.
    pub fn error_at(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        Locator { path: &self.path, source: &self.source }.at(span, message)
    }

    /// An error about the scenario as a whole (no position).
    pub fn error(&self, message: impl Into<String>) -> ScenarioError {
        ScenarioError { path: self.path.clone(), line: 0, column: 0, message: message.into() }
    }

    /// When the liveness phase begins, if there is one.
    pub fn liveness_from(&self) -> Option<Time> {
        self.liveness.map(|_| Time::ZERO + self.duration)
    }

    /// The engine configuration for one seed.
    pub fn world_config(&self, seed: u64) -> WorldConfig {
        WorldConfig {
            seed,
            nodes: self.nodes,
            client_homes: self.workload.as_ref().map(|w| w.homes.clone()).unwrap_or_default(),
            default_link: self.network.clone(),
            link_overrides: self.link_overrides.clone(),
            faults: self.faults.clone(),
            limits: self.limits,
            liveness_from: self.liveness_from(),
        }
    }
}
