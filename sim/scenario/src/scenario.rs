//! Scenario files: the TOML a user writes to describe a run, parsed and
//! validated into a [`Scenario`]. Every error a user can make — a typo in a
//! key, a wrong type, a probability of 1.5, a fault naming node 9 of 5 — comes
//! back as a [`ScenarioError`] that names the file, line and column and says
//! what would be valid.
//!
//! Protocol parameters (`[params]`) are the protocol's business: the scenario
//! keeps the source so the protocol can deserialize them with the same
//! spanned errors ([`Scenario::params`]).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;
pub use toml::Spanned;

use faultline_sim::chaos::{ChaosConfig, CHAOS_KINDS, MAX_CHAOS_FAULTS};
use faultline_sim::fault::{FaultAction, NodeRef, RoleTrigger, ScheduledFault};
use faultline_sim::machine::MAX_CLOCK_DRIFT_PPM;
use faultline_sim::net::{LinkConfig, LinkKind};
use faultline_sim::rng::{stream, Latency, Probability, Stream};
use faultline_sim::time::{Duration, Time};
use faultline_sim::world::{Limits, WorldConfig};
use faultline_sim::{DiskConfig, MachineConfig};
use rand::Rng;

use crate::bounds::{ParamRange, SwarmBounds, SwarmParam, LATENCY_FAMILIES, MAX_SLOW_LINKS};
use crate::bytes::Bytes;
use crate::place::{self, Step};

/// The most nodes a scenario may have, whatever the protocol (each protocol
/// declares its own, lower, limit through [`Catalog::max_nodes`]).
pub const MAX_NODES: u32 = 1_000_000;
/// The most clients a scenario may have.
pub const MAX_CLIENTS: u32 = 10_000;
/// The most faults a scenario may list.
pub const MAX_FAULTS: usize = 10_000;
/// The largest scenario file the loader reads: 16 MiB (the largest shipped
/// one is a few KiB; `MAX_FAULTS` explicit faults fit many times over).
pub const MAX_SCENARIO_BYTES: u64 = 16 << 20;
/// Default bound on events per run.
pub const DEFAULT_MAX_EVENTS: u64 = 200_000_000;
/// The largest `[limits] max_memory` a scenario may ask for.
pub const MAX_MEMORY_LIMIT: u64 = 64 << 30;

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
    /// The most nodes the protocol supports.
    fn max_nodes(&self, _protocol: &str) -> u32 {
        MAX_NODES
    }
    /// The role `[chaos] leader_bias` aims at, if the protocol has one.
    fn primary_role(&self, _protocol: &str) -> Option<&'static str> {
        None
    }
    /// Whether the protocol's scenarios have clients.
    fn client_need(&self, _protocol: &str) -> ClientNeed {
        ClientNeed::Optional
    }
}

/// Whether a protocol's scenarios have clients (`[workload] clients`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClientNeed {
    /// The protocol has no clients: `clients` above zero is refused.
    None,
    /// Clients if the scenario has a `[workload]`.
    Optional,
    /// At least one client is needed.
    Required,
}

/// The check that reads the liveness phase, whatever the protocol.
pub const LIVENESS_CHECK: &str = "liveness";
/// The check of `[expect] metrics`, run when the scenario sets bounds.
pub const METRIC_BOUNDS_CHECK: &str = "metric_bounds";

/// The simulated clients: how many, where each stands, and how many
/// operations each may issue. What the clients *do* — the rest of the
/// `[workload]` table — is the protocol's business ([`Scenario::section`]).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Clients {
    /// `[workload] clients`; 0 without a `[workload]`.
    pub count: u32,
    /// Home node of each client: its side of any partition.
    pub homes: Vec<u32>,
    /// Operations each client issues at most (`None`: until the run ends).
    pub max_ops_per_client: Option<u64>,
}

/// The outcome a regression scenario pins: its verdict at its own seed, the
/// check that fails (if it fails), and the fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Expect {
    /// "pass", "fail" or "unknown".
    pub verdict: String,
    pub failed_check: Option<String>,
    /// 16 hex digits.
    pub fingerprint: Option<String>,
}

/// A bound on one metric of every run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MetricBound {
    pub name: String,
    pub min: Option<u64>,
    pub max: Option<u64>,
}

/// How service must come back after the faults heal.
#[derive(Copy, Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Recovery {
    /// The first operation must succeed within this of the heal.
    pub within: Option<Duration>,
    /// Operations must then succeed at no less than this share of the rate
    /// before the first fault.
    pub rate_share: Option<f64>,
}

impl Recovery {
    /// These bounds, each unset one taken from `other`.
    pub fn or(self, other: Recovery) -> Recovery {
        Recovery { within: self.within.or(other.within), rate_share: self.rate_share.or(other.rate_share) }
    }
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
    /// Per fault in `faults`: the width of its time window (`at = { min,
    /// max }`), zero for a fault at a fixed time. Each seed draws the time
    /// uniformly from `[at, at + window]`.
    pub fault_windows: Vec<Duration>,
    /// Faults at random times, drawn per seed.
    pub chaos: Option<ChaosConfig>,
    /// What a run at `seed` must produce (regression scenarios).
    pub expect: Option<Expect>,
    /// Bounds every run's metrics must keep (`[expect] metrics`), whatever
    /// the seed: regressions no invariant sees, such as too many elections.
    pub metric_bounds: Vec<MetricBound>,
    /// How soon and how fully service must be back in the liveness phase,
    /// as the scenario sets it (`[liveness] within`, `rate_share`); what it
    /// leaves unset the protocol may derive from its parameters.
    pub recovery: Recovery,
    /// How far `explore --swarm` may move the scenario (empty: only its own
    /// rates, chaos and faults).
    pub swarm: SwarmBounds,
    pub clients: Clients,
    pub limits: Limits,
    pub checks: Checks,
    /// Disks, start-up jitter and clocks (`[machines]`, `[disk]`).
    pub machines: MachineConfig,
}

// ---------------------------------------------------------------- raw form

/// A number written as an integer or a float.
#[derive(Copy, Clone, Debug)]
pub struct Number(pub f64);

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

/// `at = "10s"`, or `at = { min = "10s", max = "10.025s" }`: a time drawn
/// uniformly from the window, per seed.
#[derive(Copy, Clone, Debug)]
struct RawAt {
    min: Duration,
    max: Option<Duration>,
}

impl std::fmt::Display for RawAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.max {
            None => self.min.fmt(f),
            Some(max) => write!(f, "{{ min = {}, max = {max} }}", self.min),
        }
    }
}

impl<'de> Deserialize<'de> for RawAt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RawAt, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawAt;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time like \"10s\" or a window like { min = \"10s\", max = \"10.5s\" }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawAt, E> {
                Ok(RawAt { min: Duration::parse(v).map_err(E::custom)?, max: None })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawAt, E> {
                if v == 0 {
                    return Ok(RawAt { min: Duration::ZERO, max: None });
                }
                Err(E::custom(format!(
                    "a bare number ({v}) has no unit; write it as a string like \"{v}ms\" or \"{v}s\""
                )))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawAt, E> {
                self.visit_i64(v.min(i64::MAX as u64) as i64)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawAt, A::Error> {
                let (mut min, mut max) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "min" => min = Some(map.next_value::<Duration>()?),
                        "max" => max = Some(map.next_value::<Duration>()?),
                        other => {
                            return Err(serde::de::Error::custom(format!(
                                "unknown key `{other}` in a fault's time window; it takes `min` and `max`"
                            )))
                        }
                    }
                }
                match (min, max) {
                    (Some(min), Some(max)) => Ok(RawAt { min, max: Some(max) }),
                    _ => Err(serde::de::Error::custom("a fault's time window needs both `min` and `max`")),
                }
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

// Tables are never wrapped in `Spanned`: toml gives no span for a table made
// implicitly (`[[network.links]]` with no `[network]`, or dotted keys such as
// `workload.clients = 2`), and `Spanned<T>` then fails with "expected a
// borrowed string" (toml-rs/toml#798). Errors point at a key inside instead.
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
    network: Option<RawNetwork>,
    #[serde(default)]
    faults: Vec<RawFault>,
    #[serde(default)]
    #[allow(dead_code)] // the clients part is read by `clients`, the rest by the protocol
    workload: Option<toml::Table>,
    #[serde(default)]
    chaos: Option<RawChaos>,
    #[serde(default)]
    expect: Option<RawExpect>,
    #[serde(default)]
    liveness: Option<RawLiveness>,
    #[serde(default)]
    swarm: Option<RawSwarm>,
    #[serde(default)]
    limits: Option<RawLimits>,
    #[serde(default)]
    checks: Option<BTreeMap<Spanned<String>, toml::Value>>,
    #[serde(default)]
    machines: Option<RawMachines>,
    #[serde(default)]
    disk: Option<RawDisk>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMachines {
    start_jitter: Option<Spanned<Duration>>,
    clock_offset: Option<Spanned<Duration>>,
    clock_drift_ppm: Option<Spanned<Number>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisk {
    latency: Option<RawLatency>,
    #[serde(default)]
    nodes: Vec<RawDiskNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiskNode {
    node: Spanned<i64>,
    latency: Option<RawLatency>,
    instant: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    kind: Option<Spanned<String>>,
    latency: Option<RawLatency>,
    loss: Option<Spanned<Number>>,
    duplicate: Option<Spanned<Number>>,
    reorder: Option<Spanned<Number>>,
    reorder_delay: Option<Spanned<Duration>>,
    hold: Option<Spanned<Number>>,
    hold_min: Option<Spanned<Duration>>,
    hold_max: Option<Spanned<Duration>>,
    #[serde(default)]
    links: Vec<RawLinkOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLinkOverride {
    from: Spanned<i64>,
    to: Spanned<i64>,
    #[serde(default)]
    both_ways: bool,
    kind: Option<Spanned<String>>,
    latency: Option<RawLatency>,
    loss: Option<Spanned<Number>>,
    duplicate: Option<Spanned<Number>>,
    reorder: Option<Spanned<Number>>,
    reorder_delay: Option<Spanned<Duration>>,
    hold: Option<Spanned<Number>>,
    hold_min: Option<Spanned<Duration>>,
    hold_max: Option<Spanned<Duration>>,
}

/// The keys a link is described by, in `[network]` and in each override.
struct RawLink<'a> {
    kind: &'a Option<Spanned<String>>,
    latency: &'a Option<RawLatency>,
    loss: &'a Option<Spanned<Number>>,
    duplicate: &'a Option<Spanned<Number>>,
    reorder: &'a Option<Spanned<Number>>,
    reorder_delay: &'a Option<Spanned<Duration>>,
    hold: &'a Option<Spanned<Number>>,
    hold_min: &'a Option<Spanned<Duration>>,
    hold_max: &'a Option<Spanned<Duration>>,
}

impl RawNetwork {
    fn link(&self) -> RawLink<'_> {
        RawLink {
            kind: &self.kind,
            latency: &self.latency,
            loss: &self.loss,
            duplicate: &self.duplicate,
            reorder: &self.reorder,
            reorder_delay: &self.reorder_delay,
            hold: &self.hold,
            hold_min: &self.hold_min,
            hold_max: &self.hold_max,
        }
    }
}

impl RawLinkOverride {
    fn link(&self) -> RawLink<'_> {
        RawLink {
            kind: &self.kind,
            latency: &self.latency,
            loss: &self.loss,
            duplicate: &self.duplicate,
            reorder: &self.reorder,
            reorder_delay: &self.reorder_delay,
            hold: &self.hold,
            hold_min: &self.hold_min,
            hold_max: &self.hold_max,
        }
    }
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
    at: Spanned<RawAt>,
    after_role: Option<Spanned<String>>,
    delay: Option<Spanned<RawAt>>,
    kind: Spanned<String>,
    node: Option<Spanned<RawNodeRef>>,
    groups: Option<Spanned<Vec<Vec<Spanned<i64>>>>>,
    from: Option<Spanned<Vec<Spanned<i64>>>>,
    to: Option<Spanned<Vec<Spanned<i64>>>>,
    rate: Option<Spanned<Number>>,
    factor: Option<Spanned<Number>>,
    heal_after: Option<Spanned<Duration>>,
    restart_after: Option<Spanned<Duration>>,
    resume_after: Option<Spanned<Duration>>,
    reset_after: Option<Spanned<Duration>>,
}

/// The engine's part of `[workload]`; the protocol reads (and checks the
/// keys of) the whole table.
#[derive(Deserialize)]
struct RawClients {
    clients: Spanned<i64>,
    homes: Option<Spanned<Vec<Spanned<i64>>>>,
    max_ops_per_client: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    verdict: Option<Spanned<String>>,
    failed_check: Option<Spanned<String>>,
    fingerprint: Option<Spanned<String>>,
    metrics: Option<BTreeMap<Spanned<String>, Spanned<RawBound>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBound {
    min: Option<Spanned<i64>>,
    max: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChaos {
    start: Option<Spanned<Duration>>,
    mean_interval: Spanned<Duration>,
    kinds: Spanned<Vec<Spanned<String>>>,
    fault_duration_min: Option<Spanned<Duration>>,
    fault_duration_max: Option<Spanned<Duration>>,
    leader_bias: Option<Spanned<Number>>,
    end: Option<Spanned<Duration>>,
    max_faults: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLiveness {
    duration: Spanned<Duration>,
    within: Option<Spanned<Duration>>,
    rate_share: Option<Spanned<Number>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_events: Option<Spanned<i64>>,
    max_time: Option<Spanned<Duration>>,
    max_memory: Option<Spanned<Bytes>>,
    max_events_per_instant: Option<Spanned<i64>>,
}

/// Deserializes one top-level table of a document, skipping the rest, so a
/// protocol reads its own table with the same spans as the loader.
struct Section<T> {
    name: &'static str,
    _table: std::marker::PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Section<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML document")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.name {
                found = Some(map.next_value::<T>()?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

fn section<T: DeserializeOwned>(loc: &Locator, name: &'static str) -> Result<Option<T>, ScenarioError> {
    use serde::Deserializer as _;
    toml::Deserializer::new(loc.source)
        .deserialize_map(Section { name, _table: std::marker::PhantomData })
        .map_err(|e| loc.toml_error(&e))
}

// --------------------------------------------------------------- locating

/// What a key written without its value gets.
const MISSING_VALUE: &str =
    "missing value after `=`: expected a value (a number, a string in quotes, true or false, an array or a table)";

/// The UTF-8 byte-order mark some editors write at the start of a file.
const BOM: char = '\u{feff}';

/// Turns a byte span into a located error.
pub(crate) struct Locator<'a> {
    path: &'a str,
    source: &'a str,
}

impl Locator<'_> {
    pub(crate) fn at(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        let start = self.floor(span.start);
        let before = &self.source[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.source[line_start..start].chars().count() + 1;
        ScenarioError { path: self.path.to_string(), line, column, message: one_line(message.into()) }
    }

    /// `offset` clamped to the source and moved back to a char boundary.
    fn floor(&self, offset: usize) -> usize {
        let mut at = offset.min(self.source.len());
        while !self.source.is_char_boundary(at) {
            at -= 1;
        }
        at
    }

    fn toml_error(&self, e: &toml::de::Error) -> ScenarioError {
        match e.span() {
            Some(span) => {
                let (span, message) = self.explain(span, e.message());
                self.at(span, message)
            }
            // The parser always gives a place; were it not to, the
            // document's start is the place.
            None => self.at(0..0, improve_message(e.message())),
        }
    }

    /// Rewrites the TOML parser's terser syntax errors using the text they
    /// point at, and moves the position where the parser noticed a mistake to
    /// where the user made it.
    fn explain(&self, span: Range<usize>, raw: &str) -> (Range<usize>, String) {
        let start = self.floor(span.start);
        let rest = &self.source[start..];
        let line_before = &self.source[self.source[..start].rfind('\n').map_or(0, |i| i + 1)..start];
        let at_line_end = rest.is_empty() || rest.starts_with(['\n', '\r']);
        let head = raw.lines().next().unwrap_or("").trim();
        if head.is_empty() {
            // The parser says nothing when the file ends where a value
            // should be.
            let before = self.source[..start].trim_end();
            let message = if before.ends_with('=') {
                MISSING_VALUE
            } else {
                "the file ends in the middle of a line: expected more TOML here"
            };
            return (span, message.to_string());
        }
        match head {
            "invalid basic string" | "invalid literal string" if at_line_end => {
                let quote = if head == "invalid basic string" { '"' } else { '\'' };
                return (span, format!("unterminated string: the closing `{quote}` is missing"));
            }
            "invalid basic string" | "invalid literal string" => {
                if let Some(c) = rest.chars().next().filter(|c| c.is_control()) {
                    let escape = format!("\\u{:04X}", u32::from(c));
                    let message = if head == "invalid basic string" {
                        format!(
                            "a string may not hold a control character (U+{:04X} here); write it as `{escape}`",
                            u32::from(c)
                        )
                    } else {
                        format!(
                            "a literal string ('...') may not hold a control character (U+{:04X} here); use a \
                             \"...\" string and write it as `{escape}`",
                            u32::from(c)
                        )
                    };
                    return (span, message);
                }
            }
            "invalid multiline basic string" | "invalid multiline literal string" if rest.is_empty() => {
                let quotes = if head == "invalid multiline basic string" { "\"\"\"" } else { "\'\'\'" };
                return (span, format!("unterminated multi-line string: the closing `{quotes}` is missing"));
            }
            "invalid key" => {
                return (
                    span,
                    "invalid key: a bare key is letters, digits, `_` and `-`; write any other key in quotes".into(),
                )
            }
            "number too small to fit in target type" => {
                return (span, format!("number too small: integers must be at least {}", i64::MIN))
            }
            "invalid string" => {
                let word: String =
                    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
                let message = if at_line_end || rest.starts_with('#') {
                    MISSING_VALUE.to_string()
                } else if word.eq_ignore_ascii_case("true") || word.eq_ignore_ascii_case("false") {
                    format!("TOML booleans are lowercase: write {}", word.to_ascii_lowercase())
                } else if word.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    format!("`{word}` must be in quotes: write \"{word}\"")
                } else {
                    "invalid value: expected a number, a string in quotes, true or false, an array or a table"
                        .to_string()
                };
                return (span, message);
            }
            "invalid array" if raw.contains("expected `]`") => {
                // Noticed at the start of a later line: the array was left
                // open at the end of the last non-blank line before it.
                let mut span = span;
                if line_before.trim().is_empty() {
                    let end = self.source[..start].trim_end().len();
                    if end > 0 {
                        span = end..end;
                    }
                }
                return (span, "unclosed array: expected `]` here (or `,` before another element)".to_string());
            }
            "expected `.`, `=`" => return (span, "expected `=` after the key".to_string()),
            "invalid inline table" if at_line_end => {
                return (
                    span,
                    "unclosed inline table: expected `}` (an inline table must end on the line it starts)".into(),
                )
            }
            "invalid floating-point number" if raw.contains("expected leading digit") => {
                return (span, "invalid number: write a digit before the decimal point, like 0.5".to_string())
            }
            "number too large to fit in target type" => {
                return (span, format!("number too large: integers must be at most {}", i64::MAX))
            }
            "expected newline, `#`" => {
                return (span, "unexpected text after the value: expected the end of the line or a `#` comment".into())
            }
            _ => {}
        }
        if raw.trim_end() == "invalid type: map, expected a sequence"
            && rest.starts_with('[')
            && !rest.starts_with("[[")
        {
            if let Some(name) = rest[1..].split(']').next().map(str::trim).filter(|n| !n.contains('\n')) {
                return (
                    span,
                    format!(
                        "`[{name}]` is a single table but `{name}` is a list: write `[[{name}]]`, with two brackets"
                    ),
                );
            }
        }
        let message = improve_message(raw);
        if message.is_empty() {
            return (span, "invalid TOML here".to_string());
        }
        (span, message)
    }
}

/// A message on one line: what it quotes of the file (a key or a string
/// with a newline in it, say) has its control characters escaped.
fn one_line(message: String) -> String {
    if !message.chars().any(char::is_control) {
        return message;
    }
    message.chars().flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] }).collect()
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

/// " (did you mean `x`?)" when `word` looks like a typo of a candidate.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    match suggest(word, candidates.iter().copied()) {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// "`a`, `b`, `c`": the valid choices, for messages.
pub fn one_of(candidates: &[&str]) -> String {
    candidates.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
}

/// An example to show with "missing required key".
fn example(key: &str) -> Option<&'static str> {
    Some(match key {
        "name" => "name = \"my-scenario\"",
        "protocol" => "protocol = \"pingpong\"",
        "nodes" => "nodes = 5",
        "duration" => "duration = \"10s\"",
        "clients" => "clients = 4",
        "at" => "at = \"2s\"",
        "kind" => "kind = \"crash\"",
        "dist" => "dist = \"uniform\"",
        "from" => "from = 0",
        "to" => "to = 1",
        _ => return None,
    })
}

/// Adds a did-you-mean to serde's unknown-field and unknown-variant errors,
/// rewords its type errors for people who write TOML, not Rust, and puts
/// multi-line parser messages on one line.
fn improve_message(raw: &str) -> String {
    let raw = raw.trim_end();
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        if let Some((name, tail)) = rest.split_once('`') {
            let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
            if expected.is_empty() {
                return format!("unknown key `{name}`; this table takes no keys");
            }
            let hint = did_you_mean(name, &expected);
            return format!("unknown key `{name}`{hint}; valid keys here are {}", one_of(&expected));
        }
    }
    if let Some(rest) = raw.strip_prefix("missing field `") {
        if let Some((name, _)) = rest.split_once('`') {
            return match example(name) {
                Some(e) => format!("missing required key `{name}` (for example `{e}`)"),
                None => format!("missing required key `{name}`"),
            };
        }
    }
    if let Some(number) = raw.strip_prefix("a bare number (").and_then(|r| r.split_once(')')).map(|(n, _)| n) {
        // The duration parser suggests a unit for any number; for one no
        // duration can be, say what a duration is instead.
        if number.parse::<f64>().map_or(true, |v| !v.is_finite() || v < 0.0) {
            return format!(
                "a duration is a string with a unit, like \"150ms\" or \"2s\" (zero or more); got the bare number {number}"
            );
        }
    }
    // The parser's messages are a headline and an "expected ..." line.
    let one_line = raw
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match (l.strip_prefix("expected "), l.rfind(", ")) {
            (Some(_), Some(i)) => format!("{} or {}", &l[..i], &l[i + 2..]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ");
    let mut message = one_line
        .replace("invalid type: ", "wrong type: ")
        .replace("wrong type: sequence,", "wrong type: array,")
        .replace("wrong type: map,", "wrong type: table,");
    // serde names the Rust type a table is read into.
    if let Some(i) = message.find("expected struct ") {
        let latency = message[i..].contains("RawLatency");
        if message.starts_with("invalid length ") {
            message = "wrong type: array, ".to_string();
        } else {
            message.truncate(i);
        }
        message.push_str(if latency {
            "expected a latency table like { dist = \"uniform\", min = \"1ms\", max = \"5ms\" }"
        } else {
            "expected a table"
        });
        return message;
    }
    for (rust, toml) in [
        ("expected i64", "expected an integer"),
        ("expected i32", "expected an integer"),
        ("expected u64", "expected a whole number (0 or more)"),
        ("expected u32", "expected a whole number from 0 to 4294967295"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected f64", "expected a number"),
        ("expected a borrowed string", "expected a string (in quotes)"),
        ("expected a string", "expected a string (in quotes)"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("expected usize", "expected a whole number (0 or more)"),
    ] {
        if message.ends_with(rust) {
            message.truncate(message.len() - rust.len());
            message.push_str(toml);
        }
    }
    message
}

// ------------------------------------------------------------- validation

pub(crate) fn probability(loc: &Locator, value: &Spanned<Number>, key: &str) -> Result<Probability, ScenarioError> {
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
const FAULT_KINDS: [&str; 10] = [
    "partition",
    "partition_oneway",
    "isolate",
    "heal",
    "crash",
    "restart",
    "pause",
    "resume",
    "clock_rate",
    "slow_disk",
];

/// The most a slow-disk fault may multiply write latency by.
const MAX_SLOW_DISK: f64 = 1_000_000.0;

fn latency(loc: &Locator, r: &RawLatency) -> Result<Latency, ScenarioError> {
    let dist = r.dist.get_ref().as_str();
    let span_of = |d: &Option<Spanned<Duration>>| d.as_ref().map(|s| s.span());
    let span_of_num = |n: &Option<Spanned<Number>>| n.as_ref().map(|s| s.span());
    let present: [(&str, Option<Range<usize>>); 9] = [
        ("value", span_of(&r.value)),
        ("min", span_of(&r.min)),
        ("max", span_of(&r.max)),
        ("mean", span_of(&r.mean)),
        ("std_dev", span_of(&r.std_dev)),
        ("median", span_of(&r.median)),
        ("sigma", span_of_num(&r.sigma)),
        ("scale", span_of(&r.scale)),
        ("shape", span_of_num(&r.shape)),
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
    for (key, span) in present {
        if let Some(span) = span {
            if !keys.contains(&key) {
                return Err(
                    loc.at(span, format!("`{key}` does not apply to a {dist} latency; it takes {}", one_of(keys)))
                );
            }
        }
    }
    // A missing key is reported at `dist`, the one key every latency has.
    let missing =
        |key: &str| loc.at(r.dist.span(), format!("a {dist} latency needs `{key}` (it takes {})", one_of(keys)));
    let need = |d: &Option<Spanned<Duration>>, key: &str| d.as_ref().map(|s| *s.get_ref()).ok_or_else(|| missing(key));
    let need_num = |n: &Option<Spanned<Number>>, key: &str| -> Result<f64, ScenarioError> {
        let s = n.as_ref().ok_or_else(|| missing(key))?;
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
                let span = r.min.as_ref().map_or(r.dist.span(), |s| s.span());
                return Err(loc.at(span, format!("uniform latency `min` ({min}) must not be above `max` ({max})")));
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

/// The most a machine's clock may start ahead of true time.
const MAX_CLOCK_OFFSET: Duration = Duration::from_secs(3600);

/// `[machines]` and `[disk]`: how the nodes' hosts differ. Unset keys take
/// the typical values ([`MachineConfig::typical`]).
fn machines(
    loc: &Locator,
    m: Option<&RawMachines>,
    d: Option<&RawDisk>,
    nodes: u32,
    duration: Duration,
) -> Result<MachineConfig, ScenarioError> {
    let mut config = MachineConfig::typical();
    // A run shorter than the typical start-up spread still sees every node
    // boot: by a tenth of its duration.
    config.start_jitter = config.start_jitter.min(Duration::from_nanos(duration.as_nanos() / 10));
    if let Some(m) = m {
        if let Some(j) = &m.start_jitter {
            if *j.get_ref() >= duration {
                return Err(loc.at(
                    j.span(),
                    format!(
                        "`start_jitter` ({}) must be below the run's `duration` ({duration}), or some nodes never boot",
                        j.get_ref()
                    ),
                ));
            }
            config.start_jitter = *j.get_ref();
        }
        if let Some(o) = &m.clock_offset {
            if *o.get_ref() > MAX_CLOCK_OFFSET {
                return Err(loc.at(o.span(), format!("`clock_offset` may be at most {MAX_CLOCK_OFFSET}")));
            }
            config.clock_offset = *o.get_ref();
        }
        if let Some(p) = &m.clock_drift_ppm {
            let v = p.get_ref().0;
            if !(v.is_finite() && (0.0..=MAX_CLOCK_DRIFT_PPM).contains(&v)) {
                return Err(
                    loc.at(p.span(), format!("`clock_drift_ppm` must be between 0 and {MAX_CLOCK_DRIFT_PPM}; got {v}"))
                );
            }
            config.clock_drift_ppm = v;
        }
    }
    if let Some(d) = d {
        config.disk = d.latency.as_ref().map(|l| latency(loc, l).map(|latency| DiskConfig { latency })).transpose()?;
        for n in &d.nodes {
            let node = node_id(loc, &n.node, nodes)?;
            let disk = match (&n.latency, &n.instant) {
                (Some(l), None) => Some(DiskConfig { latency: latency(loc, l)? }),
                (None, Some(i)) if *i.get_ref() => None,
                (None, Some(i)) => {
                    return Err(loc.at(i.span(), "`instant = false` says nothing: give the node a `latency` instead"))
                }
                (Some(_), Some(i)) => {
                    return Err(loc.at(i.span(), "a disk node takes `latency` or `instant = true`, not both"))
                }
                (None, None) => {
                    return Err(loc.at(n.node.span(), "a `[[disk.nodes]]` entry needs `latency` or `instant = true`"))
                }
            };
            config.disk_overrides.push((node, disk));
        }
        if config.disk.is_none() && d.nodes.is_empty() {
            let header = place::locate(loc.source, &[Step::Key("disk")]).map_or(0..0, |(span, _)| span);
            return Err(loc.at(
                header,
                "`[disk]` needs a `latency` (e.g. latency = { dist = \"constant\", value = \"10ms\" }) or `[[disk.nodes]]` entries",
            ));
        }
    }
    Ok(config)
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

fn apply_link(loc: &Locator, base: &LinkConfig, raw: RawLink<'_>) -> Result<LinkConfig, ScenarioError> {
    let mut link = base.clone();
    if let Some(k) = raw.kind {
        link.kind = link_kind(loc, k)?;
    }
    if let Some(l) = raw.latency {
        link.latency = latency(loc, l)?;
    }
    if let Some(p) = raw.loss {
        link.loss = probability(loc, p, "loss")?;
    }
    if let Some(p) = raw.duplicate {
        link.duplicate = probability(loc, p, "duplicate")?;
    }
    if let Some(p) = raw.reorder {
        link.reorder = probability(loc, p, "reorder")?;
    }
    if let Some(d) = raw.reorder_delay {
        link.reorder_delay = *d.get_ref();
    }
    if let Some(p) = raw.hold {
        link.hold = probability(loc, p, "hold")?;
    }
    // One bound given alone moves the other with it, so `hold_min = "2s"`
    // alone holds messages for exactly two seconds.
    match (raw.hold_min, raw.hold_max) {
        (Some(lo), Some(hi)) => {
            if lo.get_ref() > hi.get_ref() {
                return Err(loc.at(
                    hi.span(),
                    format!("`hold_max` ({}) must not be below `hold_min` ({})", hi.get_ref(), lo.get_ref()),
                ));
            }
            (link.hold_min, link.hold_max) = (*lo.get_ref(), *hi.get_ref());
        }
        (Some(lo), None) => (link.hold_min, link.hold_max) = (*lo.get_ref(), (*lo.get_ref()).max(link.hold_max)),
        (None, Some(hi)) => (link.hold_min, link.hold_max) = ((*hi.get_ref()).min(link.hold_min), *hi.get_ref()),
        (None, None) => {}
    }
    if link.kind == LinkKind::Session {
        session_link_rates(loc, &raw)?;
    }
    Ok(link)
}

/// A session link never loses, duplicates or reorders (it is FIFO, like
/// TCP: `Network::route` draws none of those for it), so a rate written for
/// one would be ignored; the link's kind may come from `[network]` or its
/// own `kind`.
fn session_link_rates(loc: &Locator, raw: &RawLink<'_>) -> Result<(), ScenarioError> {
    let rates = [
        ("loss", raw.loss, "loses a message"),
        ("duplicate", raw.duplicate, "duplicates a message"),
        ("reorder", raw.reorder, "reorders messages (it is FIFO)"),
    ];
    for (key, value, never) in rates {
        if let Some(v) = value.as_ref().filter(|v| v.get_ref().0 != 0.0) {
            return Err(loc.at(
                v.span(),
                format!(
                    "`{key}` ({}) would do nothing on a session link, which never {never}; set kind = \"datagram\" \
                     for this link or remove `{key}`",
                    v.get_ref().0
                ),
            ));
        }
    }
    if let Some(d) = raw.reorder_delay {
        return Err(loc.at(
            d.span(),
            "`reorder_delay` would do nothing on a session link, which never reorders messages (it is FIFO); set \
             kind = \"datagram\" for this link or remove `reorder_delay`",
        ));
    }
    Ok(())
}

/// The nodes and roles a fault may name.
struct Targets<'a> {
    nodes: u32,
    protocol: &'a str,
    roles: &'a [&'a str],
}

fn node_ref(loc: &Locator, raw: &Spanned<RawNodeRef>, targets: &Targets) -> Result<NodeRef, ScenarioError> {
    let Targets { nodes, protocol, roles } = *targets;
    match raw.get_ref() {
        RawNodeRef::Id(i) => Ok(NodeRef::Id(node_id(loc, &Spanned::new(raw.span(), *i), nodes)?)),
        RawNodeRef::Name(name) if name == "random" => Ok(NodeRef::Random),
        RawNodeRef::Name(name) if roles.contains(&name.as_str()) => Ok(NodeRef::Role(name.clone())),
        RawNodeRef::Name(name) => {
            let mut valid: Vec<&str> = roles.to_vec();
            valid.push("random");
            let hint = did_you_mean(name, &valid);
            let last = nodes - 1;
            let message = if roles.is_empty() {
                format!(
                    "unknown node `{name}`{hint}: use a node id 0 to {last} or \"random\" (protocol `{protocol}` has no roles)"
                )
            } else {
                format!(
                    "unknown node `{name}`{hint}: use a node id 0 to {last}, \"random\", or a role of protocol `{protocol}`: {}",
                    one_of(roles)
                )
            };
            Err(loc.at(raw.span(), message))
        }
    }
}

/// A fault and the width of its time window (zero for a fixed time).
fn fault(
    loc: &Locator,
    f: &RawFault,
    duration: Duration,
    targets: &Targets,
) -> Result<(ScheduledFault, Duration), ScenarioError> {
    let nodes = targets.nodes;
    let kind = f.kind.get_ref().as_str();
    if !FAULT_KINDS.contains(&kind) {
        return Err(loc.at(
            f.kind.span(),
            format!("unknown fault kind `{kind}`{}; valid: {}", did_you_mean(kind, &FAULT_KINDS), one_of(&FAULT_KINDS)),
        ));
    }
    let RawAt { min: at, max } = *f.at.get_ref();
    let latest = max.unwrap_or(at);
    if latest < at {
        return Err(loc.at(f.at.span(), format!("the window's `max` ({latest}) must not be below its `min` ({at})")));
    }
    if latest >= duration {
        return Err(loc.at(
            f.at.span(),
            format!(
                "fault at {latest} would never happen: the scenario's duration is {duration}, so `at` must be below it"
            ),
        ));
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
        "slow_disk" => &["node", "factor", "heal_after"],
        _ => &["node", "rate", "reset_after"],
    };
    let present = [
        ("node", f.node.as_ref().map(|s| s.span())),
        ("groups", f.groups.as_ref().map(|s| s.span())),
        ("from", f.from.as_ref().map(|s| s.span())),
        ("to", f.to.as_ref().map(|s| s.span())),
        ("rate", f.rate.as_ref().map(|s| s.span())),
        ("factor", f.factor.as_ref().map(|s| s.span())),
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
    // A missing key is reported at `kind`, which decides what is needed.
    let missing = |key: &str| {
        let e = match key {
            "node" => "node = 2",
            "groups" => "groups = [[0, 1], [2, 3, 4]]",
            "from" => "from = [0]",
            "to" => "to = [1, 2]",
            "factor" => "factor = 10",
            _ => "rate = 0.5",
        };
        loc.at(f.kind.span(), format!("a `{kind}` fault needs `{key}` (for example `{e}`)"))
    };
    let node = |loc: &Locator| -> Result<NodeRef, ScenarioError> {
        let n = f.node.as_ref().ok_or_else(|| missing("node"))?;
        node_ref(loc, n, targets)
    };
    let id_list = |list: &Spanned<Vec<Spanned<i64>>>, key: &str| -> Result<Vec<u32>, ScenarioError> {
        let mut ids = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for i in list.get_ref() {
            let id = node_id(loc, i, nodes)?;
            if !seen.insert(id) {
                return Err(loc.at(i.span(), format!("node {id} is listed twice in `{key}`")));
            }
            ids.push(id);
        }
        if ids.is_empty() {
            return Err(loc.at(list.span(), "the node list is empty"));
        }
        Ok(ids)
    };
    let action = match kind {
        "partition" => {
            let groups = f.groups.as_ref().ok_or_else(|| missing("groups"))?;
            // The group each node is listed in, by node id.
            let mut group_of: BTreeMap<u32, usize> = BTreeMap::new();
            let mut out = Vec::new();
            for (g, group) in groups.get_ref().iter().enumerate() {
                let mut ids = Vec::new();
                for member in group {
                    let id = node_id(loc, member, nodes)?;
                    match group_of.insert(id, g) {
                        Some(earlier) if earlier == g => {
                            return Err(loc.at(member.span(), format!("node {id} is listed twice in one group")))
                        }
                        Some(_) => return Err(loc.at(member.span(), format!("node {id} is in more than one group"))),
                        None => {}
                    }
                    ids.push(id);
                }
                out.push(ids);
            }
            let unlisted = group_of.len() < nodes as usize;
            if out.iter().filter(|g| !g.is_empty()).count() + usize::from(unlisted) < 2 {
                return Err(loc.at(
                    groups.span(),
                    "a partition needs at least two groups (nodes left unlisted form one more group)",
                ));
            }
            FaultAction::Partition { groups: out }
        }
        "partition_oneway" => {
            let from = id_list(f.from.as_ref().ok_or_else(|| missing("from"))?, "from")?;
            let to_list = f.to.as_ref().ok_or_else(|| missing("to"))?;
            let to = id_list(to_list, "to")?;
            let cut_from: std::collections::BTreeSet<u32> = from.iter().copied().collect();
            if let Some((i, id)) = to.iter().enumerate().find(|(_, id)| cut_from.contains(id)) {
                return Err(loc.at(
                    to_list.get_ref()[i].span(),
                    format!("a one-way cut runs between two different nodes, but `from` and `to` both list node {id}"),
                ));
            }
            FaultAction::PartitionOneway { from, to }
        }
        "isolate" if nodes < 2 => {
            return Err(loc.at(
                f.kind.span(),
                format!(
                    "an `isolate` fault needs at least 2 nodes (it cuts a node off from the others); this scenario \
                     has {nodes}"
                ),
            ))
        }
        "isolate" => FaultAction::Isolate { node: node(loc)? },
        "heal" => FaultAction::Heal,
        "crash" => FaultAction::Crash { node: node(loc)? },
        "restart" => match node(loc)? {
            NodeRef::Role(role) => {
                let at = f.node.as_ref().map_or(f.kind.span(), |n| n.span());
                return Err(loc.at(
                    at,
                    format!(
                        "a `restart` fault restarts a crashed node, and a crashed node has no role, so no node is \
                         ever the `{role}` it could restart; name the node by id, or \"random\" (a crashed one)"
                    ),
                ));
            }
            node => FaultAction::Restart { node },
        },
        "pause" => FaultAction::Pause { node: node(loc)? },
        "resume" => FaultAction::Resume { node: node(loc)? },
        "slow_disk" => {
            let factor = f.factor.as_ref().ok_or_else(|| missing("factor"))?;
            let x = factor.get_ref().0;
            if !(x.is_finite() && (1.0..=MAX_SLOW_DISK).contains(&x)) {
                return Err(loc.at(
                    factor.span(),
                    format!("`factor` must be between 1 and {MAX_SLOW_DISK} (it multiplies write latency); got {x}"),
                ));
            }
            FaultAction::SlowDisk { node: node(loc)?, factor: x }
        }
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
    let after = match (&f.after_role, &f.delay) {
        (None, None) => None,
        (None, Some(d)) => {
            return Err(loc.at(d.span(), "`delay` times a fault after a role change: it needs `after_role`"))
        }
        (Some(role), delay) => {
            let name = role.get_ref();
            if !targets.roles.contains(&name.as_str()) {
                let roles = targets.roles;
                let message = if roles.is_empty() {
                    format!("`after_role`: protocol `{}` reports no roles", targets.protocol)
                } else {
                    format!(
                        "unknown role `{name}`{}; protocol `{}` reports {}",
                        did_you_mean(name, roles),
                        targets.protocol,
                        one_of(roles)
                    )
                };
                return Err(loc.at(role.span(), message));
            }
            let (delay_min, delay_max) = match delay {
                None => (Duration::ZERO, Duration::ZERO),
                Some(d) => {
                    let RawAt { min, max } = *d.get_ref();
                    let max = max.unwrap_or(min);
                    if max < min {
                        return Err(
                            loc.at(d.span(), format!("the delay's `max` ({max}) must not be below its `min` ({min})"))
                        );
                    }
                    (min, max)
                }
            };
            Some(RoleTrigger { role: name.clone(), delay_min, delay_max })
        }
    };
    Ok((ScheduledFault { at: Time::ZERO + at, action, undo_after, after }, latest.saturating_sub(at)))
}

fn clients(loc: &Locator, w: &RawClients, nodes: u32) -> Result<Clients, ScenarioError> {
    let count = int_in(loc, &w.clients, "clients", 0, i64::from(MAX_CLIENTS))? as u32;
    let homes = match &w.homes {
        Some(list) => {
            let listed = list.get_ref().len();
            if listed != count as usize {
                return Err(loc.at(
                    list.span(),
                    format!(
                        "`homes` lists {listed} node(s) but there are {count} clients; give one home node per client"
                    ),
                ));
            }
            list.get_ref().iter().map(|h| node_id(loc, h, nodes)).collect::<Result<_, _>>()?
        }
        None => (0..count).map(|c| c % nodes).collect(),
    };
    let max_ops_per_client = w
        .max_ops_per_client
        .as_ref()
        .map(|m| int_in(loc, m, "max_ops_per_client", 1, 1_000_000_000).map(|v| v as u64))
        .transpose()?;
    Ok(Clients { count, homes, max_ops_per_client })
}

/// `[checks]`: which of the protocol's checks run (all by default), and the
/// history checkers' budget.
fn checks(
    loc: &Locator,
    table: Option<&BTreeMap<Spanned<String>, toml::Value>>,
    protocol: &str,
    supported: &[&'static str],
) -> Result<Checks, ScenarioError> {
    let mut enabled: Vec<String> = supported.iter().map(|s| s.to_string()).collect();
    let mut history_budget_steps = 20_000_000;
    for (spanned_key, value) in table.into_iter().flatten() {
        let (key, span) = (spanned_key.get_ref(), spanned_key.span());
        if key == "history_budget_steps" {
            match value.as_integer() {
                Some(v) if v >= 1 => history_budget_steps = v as u64,
                _ => {
                    return Err(
                        loc.at(span, format!("`checks.history_budget_steps` must be a positive integer; got {value}"))
                    )
                }
            }
            continue;
        }
        if !supported.contains(&key.as_str()) {
            let mut valid = supported.to_vec();
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
    enabled.sort();
    Ok(Checks { enabled, history_budget_steps })
}

/// What `[liveness]` is checked against.
struct LivenessContext<'a> {
    protocol: &'a str,
    catalog: &'a dyn Catalog,
    clients: &'a Clients,
    supported: &'a [&'static str],
    checks: &'a Checks,
}

/// `[liveness]`: the phase's length and the recovery bounds it sets. A phase
/// with no clients to serve again is refused, and so are bounds for a
/// liveness check that does not run.
fn liveness(loc: &Locator, l: &RawLiveness, cx: &LivenessContext<'_>) -> Result<(Duration, Recovery), ScenarioError> {
    let duration = *l.duration.get_ref();
    if duration == Duration::ZERO {
        return Err(loc.at(l.duration.span(), "the liveness phase `duration` must be above zero"));
    }
    let header = place::locate(loc.source, &[Step::Key("liveness")]).map_or(l.duration.span(), |(span, _)| span);
    let protocol = cx.protocol;
    if cx.clients.count == 0 {
        let why = match cx.catalog.client_need(protocol) {
            ClientNeed::None => format!("protocol `{protocol}` has no clients; remove [liveness]"),
            _ => "this scenario has no clients; add a [workload] with clients, or remove [liveness]".to_string(),
        };
        return Err(loc.at(
            header,
            format!("a `[liveness]` phase checks that clients are served again once the faults heal, but {why}"),
        ));
    }
    // The phase itself runs whatever the checks (faults healed, network
    // quiet: reports show service coming back); its bounds are the
    // liveness check's, and would be ignored without it.
    let unchecked = |span: Range<usize>, key: &str| {
        let why = if cx.supported.contains(&LIVENESS_CHECK) {
            "which `[checks]` turns off".to_string()
        } else {
            format!("which protocol `{protocol}` does not have")
        };
        loc.at(span, format!("`{key}` bounds the `{LIVENESS_CHECK}` check, {why}; remove `{key}`"))
    };
    let checked = cx.checks.is_on(LIVENESS_CHECK);
    let mut recovery = Recovery::default();
    if let Some(w) = &l.within {
        if !checked {
            return Err(unchecked(w.span(), "within"));
        }
        if *w.get_ref() == Duration::ZERO || *w.get_ref() > duration {
            return Err(loc.at(
                w.span(),
                format!(
                    "the liveness bound `within` ({}) must be above zero and at most the phase's `duration` ({duration})",
                    w.get_ref(),
                ),
            ));
        }
        recovery.within = Some(*w.get_ref());
    }
    if let Some(r) = &l.rate_share {
        if !checked {
            return Err(unchecked(r.span(), "rate_share"));
        }
        recovery.rate_share = Some(probability(loc, r, "rate_share")?.get());
    }
    Ok((duration, recovery))
}

/// `[limits]`: the bounds of every run, each defaulted when not written.
/// `max_time` may end the run early, but never inside a liveness phase
/// (which would then check a phase cut short).
fn limits(
    loc: &Locator,
    raw: Option<&RawLimits>,
    duration: Duration,
    liveness: Option<Duration>,
) -> Result<Limits, ScenarioError> {
    let natural_end = Time::ZERO + duration + liveness.unwrap_or(Duration::ZERO);
    let mut limits = Limits::new(natural_end, DEFAULT_MAX_EVENTS);
    let Some(l) = raw else { return Ok(limits) };
    if let Some(m) = &l.max_events {
        limits.max_events = int_in(loc, m, "max_events", 1, i64::MAX)? as u64;
    }
    if let Some(m) = &l.max_events_per_instant {
        limits.max_events_per_instant = int_in(loc, m, "max_events_per_instant", 1, i64::MAX)? as u64;
    }
    if let Some(m) = &l.max_memory {
        let bytes = *m.get_ref();
        if bytes.0 == 0 {
            return Err(loc.at(m.span(), "`max_memory` must be above zero; write it like \"512MiB\""));
        }
        if bytes.0 > MAX_MEMORY_LIMIT {
            return Err(loc.at(m.span(), format!("`max_memory` ({bytes}) must be at most {}", Bytes(MAX_MEMORY_LIMIT))));
        }
        limits.max_memory = bytes.0;
    }
    if let Some(t) = &l.max_time {
        let max_time = *t.get_ref();
        let natural = natural_end.since(Time::ZERO);
        if max_time == Duration::ZERO {
            return Err(loc.at(t.span(), "`max_time` must be above zero"));
        }
        if Time::ZERO + max_time > natural_end {
            return Err(
                loc.at(t.span(), format!("`max_time` ({max_time}) must not exceed duration plus liveness ({natural})"))
            );
        }
        if liveness.is_some() && max_time < duration {
            return Err(loc.at(
                t.span(),
                format!(
                    "`max_time` ({max_time}) is below `duration` ({duration}): the run would end before its safety \
                     phase does and the `[liveness]` phase would never run; remove `max_time` (the default is \
                     duration plus liveness, {natural})"
                ),
            ));
        }
        if liveness.is_some() && max_time < natural {
            return Err(loc.at(
                t.span(),
                format!(
                    "`max_time` ({max_time}) is below duration plus liveness ({natural}): it would cut the \
                     `[liveness]` phase short; remove `max_time` or set it to \"{natural}\""
                ),
            ));
        }
        limits.max_time = Time::ZERO + max_time;
    }
    Ok(limits)
}

/// What `[expect]` is checked against.
struct ExpectContext<'a> {
    protocol: &'a str,
    supported: &'a [&'static str],
    checks: &'a Checks,
    /// The scenario bounds metrics (so `metric_bounds` is a check it runs).
    metric_bounds: bool,
    liveness: bool,
}

/// The bounds of `[expect] metrics`, checked on every run.
fn metric_bounds(loc: &Locator, e: &RawExpect) -> Result<Vec<MetricBound>, ScenarioError> {
    let mut bounds = Vec::new();
    for (name, bound) in e.metrics.iter().flatten() {
        let b = bound.get_ref();
        let read = |v: &Option<Spanned<i64>>, key: &str| {
            v.as_ref()
                .map(|v| int_in(loc, v, &format!("metrics.{}.{key}", name.get_ref()), 0, i64::MAX).map(|v| v as u64))
                .transpose()
        };
        let (min, max) = (read(&b.min, "min")?, read(&b.max, "max")?);
        match (min, max) {
            (None, None) => {
                return Err(loc.at(bound.span(), format!("`metrics.{}` needs `min`, `max` or both", name.get_ref())))
            }
            (Some(lo), Some(hi)) if lo > hi => {
                return Err(loc.at(
                    bound.span(),
                    format!("`metrics.{}`: `min` ({lo}) must not be above `max` ({hi})", name.get_ref()),
                ))
            }
            _ => {}
        }
        bounds.push(MetricBound { name: name.get_ref().clone(), min, max });
    }
    Ok(bounds)
}

/// `[expect]` without `verdict` may only bound metrics.
fn expect(loc: &Locator, e: &RawExpect, cx: &ExpectContext<'_>) -> Result<Option<Expect>, ScenarioError> {
    const VERDICTS: [&str; 3] = ["pass", "fail", "unknown"];
    let Some(raw_verdict) = &e.verdict else {
        let pinned = e.failed_check.as_ref().or(e.fingerprint.as_ref());
        return match pinned {
            Some(p) => {
                Err(loc
                    .at(p.span(), "`[expect]` needs a `verdict` (\"pass\", \"fail\" or \"unknown\") to go with this"))
            }
            None => Ok(None),
        };
    };
    let verdict = raw_verdict.get_ref().as_str();
    if !VERDICTS.contains(&verdict) {
        return Err(loc.at(raw_verdict.span(), format!("unknown verdict `{verdict}`; valid: {}", one_of(&VERDICTS))));
    }
    if let Some(f) = &e.fingerprint {
        let hex = f.get_ref();
        if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(
                loc.at(f.span(), format!("`fingerprint` must be 16 hex digits, as `run` prints it; got `{hex}`"))
            );
        }
    }
    if let Some(c) = &e.failed_check {
        if verdict != "fail" {
            return Err(loc.at(c.span(), "`failed_check` only goes with verdict = \"fail\""));
        }
        failed_check(loc, c, cx)?;
    }
    Ok(Some(Expect {
        verdict: verdict.to_string(),
        failed_check: e.failed_check.as_ref().map(|c| c.get_ref().clone()),
        fingerprint: e.fingerprint.as_ref().map(|f| f.get_ref().to_ascii_lowercase()),
    }))
}

/// `[expect] failed_check` names a check that runs in this scenario and so
/// can fail.
fn failed_check(loc: &Locator, c: &Spanned<String>, cx: &ExpectContext<'_>) -> Result<(), ScenarioError> {
    let name = c.get_ref().as_str();
    let mut valid = cx.supported.to_vec();
    if cx.metric_bounds {
        valid.push(METRIC_BOUNDS_CHECK);
    }
    if !valid.contains(&name) {
        let hint = did_you_mean(name, &valid);
        let message = if valid.is_empty() {
            format!("protocol `{}` has no check `{name}`{hint}; it has no checks at all", cx.protocol)
        } else if name == METRIC_BOUNDS_CHECK {
            format!("`{name}` runs only with `[expect] metrics`, which this scenario does not set")
        } else {
            format!("protocol `{}` has no check `{name}`{hint}; valid: {}", cx.protocol, one_of(&valid))
        };
        return Err(loc.at(c.span(), message));
    }
    if name != METRIC_BOUNDS_CHECK && !cx.checks.is_on(name) {
        return Err(
            loc.at(c.span(), format!("`failed_check` names `{name}`, which `[checks]` turns off, so it cannot fail"))
        );
    }
    if name == LIVENESS_CHECK && !cx.liveness {
        return Err(loc.at(
            c.span(),
            format!(
                "`{name}` runs only with a `[liveness]` phase, which this scenario does not have, so it cannot fail"
            ),
        ));
    }
    Ok(())
}

/// What `[chaos]` is checked against.
struct ChaosContext {
    duration: Duration,
    /// `[limits] max_time`, or the end of the run.
    max_time: Time,
    nodes: u32,
    primary: Option<&'static str>,
}

/// Chaos kinds that cut links between nodes, and so need two of them.
const CUTTING_KINDS: [&str; 3] = ["partition", "partition_oneway", "isolate"];

fn chaos(loc: &Locator, c: &RawChaos, cx: &ChaosContext) -> Result<ChaosConfig, ScenarioError> {
    let ChaosContext { duration, max_time, nodes, primary } = *cx;
    let mean_interval = *c.mean_interval.get_ref();
    if mean_interval == Duration::ZERO {
        return Err(loc.at(c.mean_interval.span(), "`mean_interval` must be above zero"));
    }
    let start = c.start.as_ref().map_or(Duration::ZERO, |s| *s.get_ref());
    if let Some(s) = c.start.as_ref().filter(|_| start >= duration) {
        return Err(
            loc.at(s.span(), format!("chaos `start` ({start}) must be before the end of the duration ({duration})"))
        );
    }
    if let Some(s) = c.start.as_ref().filter(|_| Time::ZERO + start >= max_time) {
        return Err(loc.at(
            s.span(),
            format!("chaos `start` ({start}) must be before `[limits] max_time` ({})", max_time.since(Time::ZERO)),
        ));
    }
    let mut kinds = Vec::new();
    for k in c.kinds.get_ref() {
        let name = k.get_ref().as_str();
        if !CHAOS_KINDS.contains(&name) {
            return Err(loc.at(
                k.span(),
                format!(
                    "unknown chaos kind `{name}`{}; valid: {}",
                    did_you_mean(name, &CHAOS_KINDS),
                    one_of(&CHAOS_KINDS)
                ),
            ));
        }
        if nodes < 2 && CUTTING_KINDS.contains(&name) {
            return Err(loc.at(
                k.span(),
                format!(
                    "chaos kind `{name}` needs at least 2 nodes (it cuts nodes off from each other); this scenario \
                     has {nodes}, so it could never happen"
                ),
            ));
        }
        kinds.push(name.to_string());
    }
    if kinds.is_empty() {
        return Err(loc.at(c.kinds.span(), format!("`kinds` is empty; list some of {}", one_of(&CHAOS_KINDS))));
    }
    let min = c.fault_duration_min.as_ref().map_or(Duration::from_millis(100), |d| *d.get_ref());
    let max = c.fault_duration_max.as_ref().map_or(Duration::from_secs(1), |d| *d.get_ref());
    if min > max {
        let span = c.fault_duration_min.as_ref().or(c.fault_duration_max.as_ref()).map(|d| d.span());
        return Err(loc.at(
            span.unwrap_or(c.mean_interval.span()),
            format!("`fault_duration_min` ({min}) must not be above `fault_duration_max` ({max})"),
        ));
    }
    let leader_bias = match &c.leader_bias {
        Some(b) => {
            let p = probability(loc, b, "leader_bias")?;
            if !p.is_zero() && primary.is_none() {
                return Err(loc.at(
                    b.span(),
                    "`leader_bias` needs a protocol with a leader (a role it declares as primary); this one has none",
                ));
            }
            p
        }
        None => Probability::ZERO,
    };
    let leader_role = primary.unwrap_or("leader").to_string();
    let end = match &c.end {
        Some(e) if *e.get_ref() <= start => {
            return Err(loc.at(e.span(), format!("chaos `end` ({}) must be after its `start` ({start})", e.get_ref())))
        }
        Some(e) if *e.get_ref() > duration => {
            return Err(loc.at(
                e.span(),
                format!("chaos `end` ({}) must not be after the scenario's duration ({duration})", e.get_ref()),
            ))
        }
        Some(e) => Some(*e.get_ref()),
        None => None,
    };
    let max_faults = c
        .max_faults
        .as_ref()
        .map(|m| int_in(loc, m, "max_faults", 1, MAX_CHAOS_FAULTS as i64).map(|m| m as usize))
        .transpose()?;
    Ok(ChaosConfig {
        end,
        max_faults,
        start,
        mean_interval,
        kinds,
        fault_duration_min: min,
        fault_duration_max: max,
        leader_bias,
        leader_role,
    })
}

impl Scenario {
    /// Reads and validates a scenario file. A file that cannot be read at
    /// all is the one error without a line and column.
    pub fn load(path: &Path, catalog: &dyn Catalog) -> Result<Scenario, ScenarioError> {
        let shown = path.display().to_string();
        let whole = |message: String| ScenarioError { path: shown.clone(), line: 0, column: 0, message };
        let read = || -> std::io::Result<Vec<u8>> {
            use std::io::Read;
            // One byte past the bound tells a file at the bound from one
            // above it, without reading a device like /dev/zero forever.
            let mut bytes = Vec::new();
            std::fs::File::open(path)?.take(MAX_SCENARIO_BYTES + 1).read_to_end(&mut bytes)?;
            Ok(bytes)
        };
        let bytes = read().map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ => e.to_string(),
            };
            whole(format!("cannot read scenario file: {why}"))
        })?;
        if bytes.len() as u64 > MAX_SCENARIO_BYTES {
            return Err(whole(format!(
                "larger than {} MiB, the most a scenario file may be; is this a scenario?",
                MAX_SCENARIO_BYTES >> 20
            )));
        }
        Scenario::parse_bytes(&bytes, &shown, catalog)
    }

    /// Validates the bytes of a scenario file: UTF-8 text (a byte-order mark
    /// at the start is allowed), or an error at the first byte that is not.
    pub fn parse_bytes(bytes: &[u8], path: &str, catalog: &dyn Catalog) -> Result<Scenario, ScenarioError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Scenario::parse(text, path, catalog),
            Err(e) => {
                let good = &bytes[..e.valid_up_to()];
                // The prefix is valid UTF-8, so this cannot fail.
                let prefix = std::str::from_utf8(good).unwrap_or_default();
                let prefix = prefix.strip_prefix(BOM).unwrap_or(prefix);
                let bad = bytes[e.valid_up_to()];
                let loc = Locator { path, source: prefix };
                Err(loc.at(
                    prefix.len()..prefix.len(),
                    format!("the file is not UTF-8 text: byte 0x{bad:02x} here is not valid UTF-8; save it as UTF-8"),
                ))
            }
        }
    }

    /// Validates scenario text; `path` is only used in messages. A
    /// byte-order mark at the start is dropped (columns count from after it).
    pub fn parse(source: &str, path: &str, catalog: &dyn Catalog) -> Result<Scenario, ScenarioError> {
        let source = source.strip_prefix(BOM).unwrap_or(source);
        let loc = Locator { path, source };
        let raw: RawScenario = toml::from_str(source).map_err(|e| loc.toml_error(&e))?;

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
        let max_nodes = catalog.max_nodes(&protocol).min(MAX_NODES);
        let nodes = int_in(&loc, &raw.nodes, "nodes", 1, i64::from(max_nodes)).map_err(|mut e| {
            if max_nodes < MAX_NODES {
                e.message.push_str(&format!(" (protocol `{protocol}` supports at most {max_nodes} nodes)"));
            }
            e
        })? as u32;
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
        if let Some(n) = &raw.network {
            network = apply_link(&loc, &network, n.link())?;
            for r in &n.links {
                let from = node_id(&loc, &r.from, nodes)?;
                let to = node_id(&loc, &r.to, nodes)?;
                if from == to {
                    return Err(loc.at(
                        r.to.span(),
                        format!("a link override joins two different nodes, but `from` and `to` are both {to}"),
                    ));
                }
                let link = apply_link(&loc, &network, r.link())?;
                link_overrides.push((from, to, link.clone()));
                if r.both_ways {
                    link_overrides.push((to, from, link));
                }
            }
        }

        let roles = catalog.roles(&protocol);
        if raw.faults.len() > MAX_FAULTS {
            return Err(
                loc.at(raw.faults[MAX_FAULTS].kind.span(), format!("at most {MAX_FAULTS} faults may be listed"))
            );
        }
        let targets = Targets { nodes, protocol: &protocol, roles: &roles };
        let (faults, fault_windows): (Vec<ScheduledFault>, Vec<Duration>) = raw
            .faults
            .iter()
            .map(|f| fault(&loc, f, duration, &targets))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .unzip();

        let clients = match raw.workload {
            Some(_) => match section::<RawClients>(&loc, "workload")? {
                Some(w) => {
                    let c = clients(&loc, &w, nodes)?;
                    match catalog.client_need(&protocol) {
                        ClientNeed::None if c.count > 0 => {
                            return Err(loc.at(
                                w.clients.span(),
                                format!("{protocol} has no clients: remove [workload] or set clients = 0"),
                            ))
                        }
                        ClientNeed::Required if c.count == 0 => {
                            return Err(loc.at(
                                w.clients.span(),
                                format!("{protocol} needs a [workload] with at least one client"),
                            ))
                        }
                        _ => c,
                    }
                }
                None => Clients::default(),
            },
            None => Clients::default(),
        };
        if clients.count == 0 && catalog.client_need(&protocol) == ClientNeed::Required {
            return Err(loc.at(raw.protocol.span(), format!("{protocol} needs a [workload] with at least one client")));
        }

        let supported = catalog.checks(&protocol);
        let checks = checks(&loc, raw.checks.as_ref(), &protocol, &supported)?;

        let liveness = match &raw.liveness {
            Some(l) => Some(liveness(
                &loc,
                l,
                &LivenessContext {
                    protocol: &protocol,
                    catalog,
                    clients: &clients,
                    supported: &supported,
                    checks: &checks,
                },
            )?),
            None => None,
        };
        let recovery = liveness.map(|(_, r)| r).unwrap_or_default();
        let liveness = liveness.map(|(d, _)| d);

        let natural_end = Time::ZERO + duration + liveness.unwrap_or(Duration::ZERO);
        let limits = limits(&loc, raw.limits.as_ref(), duration, liveness)?;
        if limits.max_time < Time::ZERO + duration {
            // The run ends before the safety phase does: what is scheduled
            // after its end would never happen.
            let cut = limits.max_time.since(Time::ZERO);
            for ((f, parsed), window) in raw.faults.iter().zip(&faults).zip(&fault_windows) {
                if parsed.at + *window > limits.max_time {
                    return Err(loc.at(
                        f.at.span(),
                        format!(
                            "fault at {} would never happen: `[limits] max_time` ({cut}) ends the run first",
                            f.at.get_ref()
                        ),
                    ));
                }
            }
        }

        let primary = catalog.primary_role(&protocol);
        let chaos = raw
            .chaos
            .as_ref()
            .map(|c| chaos(&loc, c, &ChaosContext { duration, max_time: limits.max_time, nodes, primary }))
            .transpose()?;
        let metric_bounds = raw.expect.as_ref().map(|e| metric_bounds(&loc, e)).transpose()?.unwrap_or_default();
        let expect = match &raw.expect {
            Some(e) => {
                let context = ExpectContext {
                    protocol: &protocol,
                    supported: &supported,
                    checks: &checks,
                    metric_bounds: !metric_bounds.is_empty(),
                    liveness: liveness.is_some(),
                };
                expect(&loc, e, &context)?
            }
            None => None,
        };
        let swarm = raw.swarm.as_ref().map(|s| swarm_bounds(&loc, s)).transpose()?.unwrap_or_default();
        let machines = machines(&loc, raw.machines.as_ref(), raw.disk.as_ref(), nodes, duration)?;
        let any_disk = (0..nodes).any(|n| machines.disk_of(n).is_some());
        for (f, parsed) in raw.faults.iter().zip(&faults) {
            if let FaultAction::SlowDisk { node, .. } = &parsed.action {
                let has_disk = match node {
                    NodeRef::Id(n) => machines.disk_of(*n).is_some(),
                    _ => any_disk,
                };
                if !has_disk {
                    return Err(loc.at(
                        f.kind.span(),
                        "a `slow_disk` fault needs a node with a disk: add a `[disk]` with a `latency`",
                    ));
                }
            }
        }
        if let (Some(c), Some(raw_chaos)) = (&chaos, &raw.chaos) {
            if c.kinds.iter().any(|k| k == "slow_disk") && !any_disk {
                let span = raw_chaos.kinds.get_ref().iter().find(|k| k.get_ref() == "slow_disk").map(|k| k.span());
                return Err(loc.at(
                    span.unwrap_or(raw_chaos.kinds.span()),
                    "chaos kind `slow_disk` needs a node with a disk: add a `[disk]` with a `latency`",
                ));
            }
        }
        debug_assert!(limits.max_time <= natural_end);

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
            fault_windows,
            chaos,
            expect,
            metric_bounds,
            recovery,
            swarm,
            clients,
            limits,
            checks,
            machines,
        })
    }

    /// Deserializes `[params]` into the protocol's own type, with the same
    /// located errors; a missing table gives `P::default()`.
    pub fn params<P: DeserializeOwned + Default>(&self) -> Result<P, ScenarioError> {
        Ok(self.section("params")?.unwrap_or_default())
    }

    /// Deserializes the top-level table `name` (`"workload"`, say) into the
    /// protocol's own type, with errors located like the loader's; `None`
    /// when the scenario has no such table.
    pub fn section<T: DeserializeOwned>(&self, name: &'static str) -> Result<Option<T>, ScenarioError> {
        section(&Locator { path: &self.path, source: &self.source }, name)
    }

    /// `value` as a probability, or a located error naming `key`.
    pub fn probability(&self, value: &Spanned<Number>, key: &str) -> Result<Probability, ScenarioError> {
        probability(&Locator { path: &self.path, source: &self.source }, value, key)
    }

    /// `value` if it lies in `low..=high`, or a located error naming `key`.
    pub fn int_in(&self, value: &Spanned<i64>, key: &str, low: i64, high: i64) -> Result<i64, ScenarioError> {
        int_in(&Locator { path: &self.path, source: &self.source }, value, key, low, high)
    }

    /// A located error at a byte span of this scenario's source.
    pub fn error_at(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        Locator { path: &self.path, source: &self.source }.at(span, message)
    }

    /// An error about `[params].key`, located at that key when the scenario
    /// sets it (protocols use this for checks serde cannot express), else at
    /// the `[params]` header, else at the file's start.
    pub fn param_error(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        self.key_error("params", key, message)
    }

    /// An error about several `[params]` keys together (one checked against
    /// another), located at the first of `keys` the scenario sets: when the
    /// key at fault was left at its default, the written key that made the
    /// default impossible is the place.
    pub fn params_error(&self, keys: &[&str], message: impl Into<String>) -> ScenarioError {
        self.keys_error("params", keys, message)
    }

    /// An error about `key` of the top-level table `table` (`"workload"`,
    /// say), located at that key when the scenario sets it, else at the
    /// table's header, else at the file's start.
    pub fn key_error(&self, table: &str, key: &str, message: impl Into<String>) -> ScenarioError {
        self.keys_error(table, &[key], message)
    }

    /// [`Scenario::key_error`] at the first of `keys` the scenario sets.
    pub fn keys_error(&self, table: &str, keys: &[&str], message: impl Into<String>) -> ScenarioError {
        let written = keys.iter().find_map(|k| self.written(&[Step::Key(table), Step::Key(k)]));
        let span = written.unwrap_or_else(|| self.place(&[Step::Key(table)]));
        self.error_at(span, message)
    }

    /// Whether the scenario writes `[params].key` (rather than leaving it
    /// at the protocol's default).
    pub fn writes_param(&self, key: &str) -> bool {
        self.written(&[Step::Key("params"), Step::Key(key)]).is_some()
    }

    /// The span of the key `path` ends at, if the scenario writes it.
    fn written(&self, path: &[Step<'_>]) -> Option<Range<usize>> {
        place::locate(&self.source, path).filter(|(_, steps)| *steps == path.len()).map(|(span, _)| span)
    }

    /// Where `path` (`[Key("faults"), Index(2), Key("node")]`, say) is
    /// written: its key, or the deepest written part of it (a table header
    /// when the key is defaulted), or the file's start.
    pub fn place(&self, path: &[Step<'_>]) -> Range<usize> {
        place::locate(&self.source, path).map_or(0..0, |(span, _)| span)
    }

    /// Where the value at `path` is written, or [`Scenario::place`].
    pub fn value_place(&self, path: &[Step<'_>]) -> Range<usize> {
        place::locate_value(&self.source, path).unwrap_or_else(|| self.place(path))
    }

    /// An error about fault `index` of `[[faults]]`, at its `key`'s value
    /// (or the fault's header when it has no such key).
    pub fn fault_error(&self, index: usize, key: &str, message: impl Into<String>) -> ScenarioError {
        self.error_at(self.value_place(&[Step::Key("faults"), Step::Index(index), Step::Key(key)]), message)
    }

    /// An error about the scenario as a whole, at its first line (prefer an
    /// error at the key that decides it: [`Scenario::key_error`]).
    pub fn error(&self, message: impl Into<String>) -> ScenarioError {
        self.error_at(0..0, message)
    }

    /// Refuses what a scenario sizes up front that cannot fit `[limits]
    /// max_memory`: `count` items of at least `bytes_each` bytes each (a
    /// lower bound, so only what is clearly impossible is refused), blamed
    /// on `[table] keys` (the first one written). `what` says what the items
    /// are, `fix` what to lower.
    pub fn check_memory(
        &self,
        count: u64,
        bytes_each: u64,
        what: &str,
        (table, keys): (&str, &[&str]),
        fix: &str,
    ) -> Result<(), ScenarioError> {
        let need = count.saturating_mul(bytes_each);
        if need <= self.limits.max_memory {
            return Ok(());
        }
        Err(self.keys_error(
            table,
            keys,
            format!(
                "{what} need at least {} ({count} × {bytes_each}B), above `[limits] max_memory` ({}); {fix}, or raise \
                 `max_memory` (at most {})",
                Bytes(need),
                Bytes(self.limits.max_memory),
                Bytes(MAX_MEMORY_LIMIT)
            ),
        ))
    }

    /// When the liveness phase begins, if there is one.
    pub fn liveness_from(&self) -> Option<Time> {
        self.liveness.map(|_| Time::ZERO + self.duration)
    }

    /// The engine configuration for one seed.
    pub fn world_config(&self, seed: u64) -> WorldConfig {
        let mut faults = self.faults.clone();
        if self.fault_windows.iter().any(|w| !w.is_zero()) {
            let mut rng = stream(seed, Stream::FaultTimes);
            for (f, window) in faults.iter_mut().zip(&self.fault_windows) {
                if !window.is_zero() {
                    f.at += Duration::from_nanos(rng.gen_range(0..=window.as_nanos()));
                }
            }
        }
        if let Some(c) = &self.chaos {
            faults.extend(faultline_sim::chaos::schedule(c, self.nodes, self.duration, seed));
        }
        WorldConfig {
            seed,
            nodes: self.nodes,
            client_homes: self.clients.homes.clone(),
            default_link: self.network.clone(),
            link_overrides: self.link_overrides.clone(),
            faults,
            limits: self.limits,
            liveness_from: self.liveness_from(),
            machines: self.machines.clone(),
        }
    }
}

// ---------------------------------------------------------------- [swarm]

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwarm {
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

fn swarm_bounds(loc: &Locator, raw: &RawSwarm) -> Result<SwarmBounds, ScenarioError> {
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
