//! The protocol harness: the one trait a protocol implements, and the one
//! run path every protocol shares.
//!
//! A protocol says what is its own — its node and client types, how they are
//! built from a scenario (parsed once, into [`Protocol::Config`]), its online
//! monitor, and what it declares in [`ProtocolInfo`]: roles, checks and what
//! class each is, default metrics, link kind, node limit. The harness owns
//! everything else: building the world for a seed, the trace sink, phase
//! marks, the clients' history and its export, the monitor's verdict, the
//! history checks, the CAP analysis, the timeline and the report. A new
//! protocol is one folder and one registry line; a user's protocol can live
//! in a crate of its own ([`entry`]).

mod checks;

pub use checks::{
    measure_read_linearizability, LINEARIZABILITY, LIVENESS, SEQUENTIAL_CONSISTENCY, WRITE_LINEARIZABILITY,
    WRITE_ONCE_LINEARIZABILITY,
};

use std::io::Write;
use std::ops::Deref;
use std::sync::Arc;

use faultline_scenario::{MetricBound, Recovery, Scenario, ScenarioError};
use faultline_sim::metrics::Metrics;
use faultline_sim::world::Violation;
use faultline_sim::world::{Monitor, RunOutcome};
use faultline_sim::{
    CheckClass, CheckResult, EndReason, LinkKind, Message, NodeId, Process, RoleSpec, RunReport, Timeline, World,
};

use crate::check::cap;
use crate::check::history::{History, Operation, Outcome};
use crate::idle::Idle;

/// Receives a run's client history.
pub type HistorySink = Box<dyn FnMut(&crate::check::history::History)>;

/// Per-run options that are not part of the scenario.
#[derive(Default)]
pub struct RunOptions {
    /// Write every event as a JSON line here.
    pub trace: Option<Box<dyn Write + Send>>,
    /// Called as a run moves from one phase to the next ("simulated" when
    /// the world has run, "checked" when the history checks are done), so a
    /// caller can time the phases; protocols themselves never read a clock.
    pub on_phase: Option<Box<dyn FnMut(&'static str)>>,
    /// Receives the clients' combined history (protocols with clients).
    pub history_out: Option<HistorySink>,
}

impl RunOptions {
    pub fn phase(&mut self, name: &'static str) {
        if let Some(f) = self.on_phase.as_mut() {
            f(name);
        }
    }
}

/// Validates a scenario for one protocol and parses its parts once.
pub type Prepare = fn(&'static ProtocolInfo, &Scenario) -> Result<Box<dyn Runner>, ScenarioError>;

/// A protocol as the registry holds it: what it declares, and how to prepare
/// a scenario for running ([`crate::harness::entry`] makes one).
pub struct ProtocolEntry {
    pub info: &'static ProtocolInfo,
    pub prepare: Prepare,
}

impl Deref for ProtocolEntry {
    type Target = ProtocolInfo;
    fn deref(&self) -> &ProtocolInfo {
        self.info
    }
}

/// Whether a protocol's scenarios have clients.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClientUse {
    /// No clients: a `[workload]` with clients is refused.
    None,
    /// Clients if the scenario has a `[workload]`.
    Optional,
    /// At least one client is needed.
    Required,
}

/// How a check reaches its verdict.
#[derive(Copy, Clone)]
pub enum CheckHow {
    /// From the online monitor: fails with the first violation it reports,
    /// passes with `holds` (what held) otherwise.
    Monitor { holds: &'static str },
    /// After the run, from the clients' history; `None` when the check does
    /// not apply to this scenario (liveness without a liveness phase).
    History(fn(&HistoryInput<'_>) -> Option<CheckResult>),
}

/// A check a protocol supports: on unless the scenario's `[checks]` turns it off.
#[derive(Copy, Clone)]
pub struct CheckSpec {
    pub name: &'static str,
    pub class: CheckClass,
    pub how: CheckHow,
}

/// What a history check reads.
pub struct HistoryInput<'a> {
    /// Every client operation, in client then invocation order.
    pub ops: &'a [Operation],
    pub scenario: &'a Scenario,
    pub outcome: &'a RunOutcome,
    /// How service must come back after the heal: the scenario's bounds,
    /// the protocol's ([`Protocol::recovery`]) where it sets none.
    pub recovery: Recovery,
    /// Bytes the run held when it ended ([`World::memory_held`]): what a
    /// checker may hold is what is left of `limits.max_memory`.
    pub memory_held: u64,
}

impl HistoryInput<'_> {
    /// The run reached its natural end — the end of its duration and
    /// liveness phase, or nothing left to happen — and not a limit (events,
    /// memory, a stopped clock, a full queue, a `max_time` short of that
    /// end) or a violation, so what did not happen had its chance to.
    pub fn run_complete(&self) -> bool {
        let natural_end = faultline_sim::Time::ZERO
            + self.scenario.duration
            + self.scenario.liveness.unwrap_or(faultline_sim::Duration::ZERO);
        let ended = match self.outcome.end {
            EndReason::Quiescent => true,
            EndReason::TimeLimit => self.outcome.virtual_time >= natural_end,
            _ => false,
        };
        ended && self.outcome.violation.is_none()
    }
}

/// A rare path a protocol marks with [`faultline_sim::Ctx::reached`]:
/// declared so reports can list the points a scenario never reaches.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CoveragePoint {
    /// The name the protocol passes to `reached`.
    pub name: &'static str,
    /// The path, in one line.
    pub description: &'static str,
}

/// What a protocol declares, for the loader, the harness and the reports.
pub struct ProtocolInfo {
    pub name: &'static str,
    pub summary: &'static str,
    /// Roles its nodes report; faults may target them by name.
    pub roles: &'static [RoleSpec],
    /// Its checks, in the order reports list them. At most one is a monitor.
    pub checks: &'static [CheckSpec],
    /// Metrics a report shows for it when the user names none.
    pub default_metrics: &'static [&'static str],
    /// The link kind it assumes when the scenario names none.
    pub link_kind: LinkKind,
    /// The most nodes it supports.
    pub max_nodes: u32,
    pub clients: ClientUse,
    /// The coverage points its nodes and clients mark, in the order reports
    /// list them.
    pub coverage: &'static [CoveragePoint],
}

impl ProtocolInfo {
    pub fn check(&self, name: &str) -> Option<&CheckSpec> {
        self.checks.iter().find(|c| c.name == name)
    }
    pub fn coverage_point(&self, name: &str) -> Option<&CoveragePoint> {
        self.coverage.iter().find(|p| p.name == name)
    }
    /// The role `[chaos] leader_bias` aims at.
    pub fn primary_role(&self) -> Option<&'static str> {
        self.roles.iter().find(|r| r.primary).map(|r| r.name)
    }
}

/// A client process whose operations the checkers read.
pub trait ClientHistory {
    /// Every operation, those still outstanding at the end as unknown.
    fn history_at_end(&self) -> Vec<Operation>;
}

impl<M: Message> ClientHistory for Idle<M> {
    fn history_at_end(&self) -> Vec<Operation> {
        Vec::new()
    }
}

/// A protocol faultline can run.
pub trait Protocol: 'static {
    type Node: Process;
    /// The simulated client ([`Idle`] for protocols without clients).
    type Client: Process<Msg = <Self::Node as Process>::Msg> + ClientHistory;
    /// Everything the protocol reads from a scenario, parsed and validated
    /// once; every seed's run shares it.
    type Config: Send + Sync + 'static;

    /// Parses and validates the protocol's parts of a scenario (`[params]`,
    /// `[workload]`), with located errors.
    fn configure(scenario: &Scenario) -> Result<Self::Config, ScenarioError>;
    /// A node, fresh (default durable state) or recovering after a crash.
    fn node(config: &Self::Config, id: NodeId, durable: &<Self::Node as Process>::Durable) -> Self::Node;
    /// One client per entry of `scenario.clients.homes`. `record_history`:
    /// keep every operation (some check or the caller reads the history).
    fn clients(config: &Self::Config, scenario: &Scenario, record_history: bool) -> Vec<Self::Client>;
    /// The online monitor, when the protocol has a monitor check and it is on.
    fn monitor(_config: &Self::Config, _scenario: &Scenario) -> Option<Box<dyn Monitor<Self::Node>>> {
        None
    }
    /// How soon and how fully service must be back after the faults heal,
    /// derived from the protocol's parameters (a scenario's `[liveness]
    /// within` and `rate_share` override each part). None by default: the
    /// liveness check then asks only for one success before the run ends.
    fn recovery(_config: &Self::Config) -> Recovery {
        Recovery::default()
    }
    /// Measures what the history shows beyond the checks, into the run's
    /// metrics (after the checks, and only when the history was kept).
    fn measure(_config: &Self::Config, _input: &HistoryInput<'_>, _metrics: &mut Metrics) {}
}

/// A scenario prepared for running: the protocol's configuration, parsed once.
pub trait Runner: Send + Sync {
    fn run(&self, scenario: &Scenario, seed: u64, options: RunOptions) -> RunReport;
}

struct Prepared<P: Protocol> {
    info: &'static ProtocolInfo,
    config: Arc<P::Config>,
}

impl<P: Protocol> Runner for Prepared<P> {
    fn run(&self, scenario: &Scenario, seed: u64, options: RunOptions) -> RunReport {
        run::<P>(self.info, &self.config, scenario, seed, options)
    }
}

/// Validates a scenario for protocol `P`, declared by `info`, and parses its
/// parts once.
pub fn prepare<P: Protocol>(
    info: &'static ProtocolInfo,
    scenario: &Scenario,
) -> Result<Box<dyn Runner>, ScenarioError> {
    let clients = scenario.clients.count;
    match info.clients {
        ClientUse::None if clients > 0 => {
            return Err(scenario.error(format!("{} has no clients: remove [workload] or set clients = 0", info.name)))
        }
        ClientUse::Required if clients == 0 => {
            return Err(scenario.error(format!("{} needs a [workload] with at least one client", info.name)))
        }
        _ => {}
    }
    let config = P::configure(scenario)?;
    Ok(Box::new(Prepared::<P> { info, config: Arc::new(config) }))
}

/// The registry entry of protocol `P`.
pub const fn entry<P: Protocol>(info: &'static ProtocolInfo) -> ProtocolEntry {
    ProtocolEntry { info, prepare: prepare::<P> }
}

/// The check of a scenario's `[expect] metrics`: each bounded counter within
/// its bounds at the end of the run. A run cut short can still break a
/// maximum (counters only grow), but a minimum it did not reach, or a
/// counter it never recorded, is unknown.
fn metric_bounds(bounds: &[MetricBound], metrics: &Metrics, complete: bool, end: faultline_sim::Time) -> CheckResult {
    const NAME: &str = "metric_bounds";
    let recorded: Vec<&'static str> = metrics.counters().map(|(name, _)| name).collect();
    let mut held = Vec::new();
    let mut unknown = Vec::new();
    for b in bounds {
        let value = metrics.counter(&b.name);
        let range = match (b.min, b.max) {
            (Some(lo), Some(hi)) => format!("{lo}..={hi}"),
            (Some(lo), None) => format!(">= {lo}"),
            (None, Some(hi)) => format!("<= {hi}"),
            (None, None) => String::new(),
        };
        if b.max.is_some_and(|hi| value > hi) {
            let message = format!("{} is {value}, above its bound ({range}, from [expect] metrics)", b.name);
            let violation = Violation { check: NAME.into(), at: end, nodes: Vec::new(), message };
            let mut r = CheckResult::fail(NAME, violation);
            r.class = Some(CheckClass::Liveness);
            return r;
        }
        if !recorded.contains(&b.name.as_str()) {
            unknown.push(format!(
                "{} was never recorded{}",
                b.name,
                faultline_scenario::did_you_mean(&b.name, &recorded)
            ));
            continue;
        }
        if b.min.is_some_and(|lo| value < lo) {
            if !complete {
                unknown.push(format!("{} is {value}, below {range}, but the run was cut short", b.name));
                continue;
            }
            let message = format!("{} is {value}, below its bound ({range}, from [expect] metrics)", b.name);
            let violation = Violation { check: NAME.into(), at: end, nodes: Vec::new(), message };
            let mut r = CheckResult::fail(NAME, violation);
            r.class = Some(CheckClass::Liveness);
            return r;
        }
        held.push(format!("{} {value} ({range})", b.name));
    }
    let mut r = if unknown.is_empty() {
        CheckResult::pass(NAME, held.join(", "))
    } else {
        CheckResult::unknown(NAME, unknown.join("; "))
    };
    r.class = Some(CheckClass::Liveness);
    r
}

/// Whether any fault of the scenario, listed or drawn by chaos, cuts links.
fn can_partition(scenario: &Scenario) -> bool {
    const CUTS: [&str; 3] = ["partition", "partition_oneway", "isolate"];
    scenario.faults.iter().any(|f| CUTS.contains(&f.action.kind_name()))
        || scenario.chaos.as_ref().is_some_and(|c| c.kinds.iter().any(|k| CUTS.contains(&k.as_str())))
}

/// Runs one seed and judges it: the run path every protocol shares.
pub fn run<P: Protocol>(
    info: &ProtocolInfo,
    config: &Arc<P::Config>,
    scenario: &Scenario,
    seed: u64,
    mut options: RunOptions,
) -> RunReport {
    let enabled: Vec<&CheckSpec> = info.checks.iter().filter(|c| scenario.checks.is_on(c.name)).collect();
    let reads_history = enabled.iter().any(|c| matches!(c.how, CheckHow::History(_)));
    // The CAP analysis reads the history too, but only a run that can
    // partition has anything to analyse; without a reader, clients keep no
    // history and memory stays flat however long the run.
    let record_history = reads_history || options.history_out.is_some() || can_partition(scenario);
    let clients = P::clients(config, scenario, record_history);
    let spawn_config = config.clone();
    let mut world: World<P::Node, P::Client> = World::new(
        scenario.world_config(seed),
        Box::new(move |id, durable| P::node(&spawn_config, id, durable)),
        clients,
    );
    if enabled.iter().any(|c| matches!(c.how, CheckHow::Monitor { .. })) {
        if let Some(monitor) = P::monitor(config, scenario) {
            world.set_monitor(monitor);
        }
    }
    if let Some(sink) = options.trace.take() {
        world.set_trace_sink(sink);
    }
    let outcome = world.run();
    let memory_held = world.memory_held();
    options.phase("simulated");

    let ops: Vec<Operation> = world.clients().flat_map(|c| c.history_at_end()).collect();
    if let Some(out) = options.history_out.as_mut() {
        out(&History { ops: ops.clone() });
    }
    let recovery = scenario.recovery.or(P::recovery(config));
    let input = HistoryInput { ops: &ops, scenario, outcome: &outcome, recovery, memory_held };
    let mut checks = Vec::new();
    for spec in enabled {
        let result = match spec.how {
            CheckHow::Monitor { holds } => Some(match &outcome.violation {
                Some(v) => CheckResult::fail(spec.name, v.clone()),
                None => CheckResult::pass(spec.name, holds),
            }),
            CheckHow::History(check) => check(&input),
        };
        if let Some(mut result) = result {
            result.class = Some(spec.class);
            checks.push(result);
        }
    }
    options.phase("checked");

    let mut metrics = world.metrics().clone();
    let has_clients = info.clients != ClientUse::None;
    if has_clients {
        metrics.count("client_ops_total", ops.len() as u64);
        cap::analyse(&ops, &scenario.clients.homes, scenario.nodes, &outcome.faults, outcome.virtual_time)
            .record(&mut metrics);
        if record_history && outcome.violation.is_none() {
            let input = HistoryInput { ops: &ops, scenario, outcome: &outcome, recovery, memory_held };
            P::measure(config, &input, &mut metrics);
        }
    }
    if !scenario.metric_bounds.is_empty() {
        let complete = HistoryInput { ops: &ops, scenario, outcome: &outcome, recovery, memory_held }.run_complete();
        checks.push(metric_bounds(&scenario.metric_bounds, &metrics, complete, outcome.virtual_time));
    }
    let end_ns = outcome.virtual_time.as_nanos();
    let mut report = RunReport::new(&scenario.name, &scenario.protocol, seed, outcome, metrics, checks);
    // Every declared point, reached or not, so a report of many runs knows
    // the points none of them reached without asking the protocol.
    report.coverage = info.coverage.iter().map(|p| (p.name.to_string(), 0)).collect();
    for (point, hits) in world.coverage().iter() {
        *report.coverage.entry(point.to_string()).or_insert(0) += hits;
    }
    if has_clients {
        let succeeded = |o: &Operation| {
            (!matches!(o.outcome, Outcome::Unknown | Outcome::Failed)).then_some(o.complete_ns).flatten()
        };
        report.timeline = Timeline::from_ops(end_ns, ops.iter().map(|o| (o.invoke_ns, succeeded(o))));
    }
    report
}
