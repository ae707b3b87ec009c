//! The protocol registry: every protocol a scenario can name, with what the
//! scenario loader must know about it and how to run it.

use std::io::Write;
use std::path::Path;

use faultline_sim::scenario::{Catalog, Scenario, ScenarioError};
use faultline_sim::{LinkKind, RunReport};

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

pub struct ProtocolEntry {
    pub name: &'static str,
    pub summary: &'static str,
    /// Roles nodes report; faults may target them by name.
    pub roles: &'static [&'static str],
    /// Checks this protocol supports (all on unless the scenario turns one off).
    pub checks: &'static [&'static str],
    pub link_kind: LinkKind,
    /// Protocol-specific validation (`[params]`, workload needs, ...).
    pub validate: fn(&Scenario) -> Result<(), ScenarioError>,
    pub run: fn(&Scenario, u64, RunOptions) -> Result<RunReport, ScenarioError>,
}

pub static PROTOCOLS: &[ProtocolEntry] = &[crate::pingpong::ENTRY, crate::echo::ENTRY, crate::raft::ENTRY];

pub fn find(name: &str) -> Option<&'static ProtocolEntry> {
    PROTOCOLS.iter().find(|p| p.name == name)
}

/// The scenario loader's view of the registry.
pub struct Registry;

impl Catalog for Registry {
    fn protocols(&self) -> Vec<&'static str> {
        PROTOCOLS.iter().map(|p| p.name).collect()
    }
    fn roles(&self, protocol: &str) -> Vec<&'static str> {
        find(protocol).map(|p| p.roles.to_vec()).unwrap_or_default()
    }
    fn checks(&self, protocol: &str) -> Vec<&'static str> {
        find(protocol).map(|p| p.checks.to_vec()).unwrap_or_default()
    }
    fn default_link_kind(&self, protocol: &str) -> LinkKind {
        find(protocol).map_or(LinkKind::Datagram, |p| p.link_kind)
    }
}

/// Reads a scenario file and validates it completely, protocol parts included.
pub fn load_scenario(path: &Path) -> Result<Scenario, ScenarioError> {
    let scenario = Scenario::load(path, &Registry)?;
    validate_scenario(&scenario)?;
    Ok(scenario)
}

/// Parses scenario text (an edited scenario, say) and validates it
/// completely; `path` names it in error messages.
pub fn parse_scenario(text: &str, path: &str) -> Result<Scenario, ScenarioError> {
    let scenario = Scenario::parse(text, path, &Registry)?;
    validate_scenario(&scenario)?;
    Ok(scenario)
}

pub fn validate_scenario(scenario: &Scenario) -> Result<(), ScenarioError> {
    match find(&scenario.protocol) {
        Some(p) => (p.validate)(scenario),
        None => Err(scenario.error(format!("unknown protocol `{}`", scenario.protocol))),
    }
}

/// Runs one seed of a validated scenario.
pub fn run_scenario(scenario: &Scenario, seed: u64, options: RunOptions) -> Result<RunReport, ScenarioError> {
    match find(&scenario.protocol) {
        Some(p) => (p.run)(scenario, seed, options),
        None => Err(scenario.error(format!("unknown protocol `{}`", scenario.protocol))),
    }
}
