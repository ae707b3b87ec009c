//! The protocol registry: every protocol a scenario can name, with what the
//! scenario loader must know about it and how to run it. A registry is a
//! value: the CLI takes the built-in one, or the built-in one plus a user's
//! own protocols ([`Registry::with`]). Imports run one way: the registry
//! knows the protocols, a protocol knows only the harness.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use faultline_scenario::{Catalog, ClientNeed, Scenario, ScenarioError, Step};
use faultline_sim::{LinkKind, RunReport};

use crate::harness::{ClientUse, Runner};
pub use crate::harness::{HistorySink, Prepare, ProtocolEntry, RunOptions};

/// The protocols that ship with faultline.
pub static PROTOCOLS: &[&ProtocolEntry] = &[
    &crate::pingpong::ENTRY,
    &crate::echo::ENTRY,
    &crate::raft::ENTRY,
    &crate::paxos::ENTRY,
    &crate::multipaxos::ENTRY,
    &crate::zab::ENTRY,
    &crate::gossip::ENTRY,
    &crate::gossip_kv::ENTRY,
    &crate::swim::ENTRY,
];

/// A validated scenario with its protocol's configuration parsed once:
/// what every seed of it runs from. Reads as the [`Scenario`] it holds.
#[derive(Clone)]
pub struct Loaded {
    scenario: Scenario,
    runner: Arc<dyn Runner>,
}

impl Deref for Loaded {
    type Target = Scenario;
    fn deref(&self) -> &Scenario {
        &self.scenario
    }
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded").field("scenario", &self.scenario).finish_non_exhaustive()
    }
}

impl Loaded {
    /// Runs one seed.
    pub fn run(&self, seed: u64, options: RunOptions) -> RunReport {
        self.runner.run(&self.scenario, seed, options)
    }
}

/// The protocols a CLI or a test can run.
#[derive(Clone)]
pub struct Registry {
    entries: Vec<&'static ProtocolEntry>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}

impl Registry {
    /// The shipped protocols.
    pub fn builtin() -> Registry {
        Registry { entries: PROTOCOLS.to_vec() }
    }

    /// The shipped protocols plus `extra`; an extra protocol with a shipped
    /// protocol's name replaces it.
    pub fn with(extra: &[&'static ProtocolEntry]) -> Registry {
        let mut entries: Vec<&'static ProtocolEntry> =
            PROTOCOLS.iter().copied().filter(|p| !extra.iter().any(|e| e.name == p.name)).collect();
        entries.extend(extra.iter().copied());
        Registry { entries }
    }

    pub fn entries(&self) -> &[&'static ProtocolEntry] {
        &self.entries
    }

    pub fn find(&self, name: &str) -> Option<&'static ProtocolEntry> {
        self.entries.iter().copied().find(|p| p.name == name)
    }

    /// Reads a scenario file and validates it completely, protocol parts included.
    pub fn load_scenario(&self, path: &Path) -> Result<Loaded, ScenarioError> {
        self.prepare(Scenario::load(path, self)?)
    }

    /// Parses scenario text (an edited scenario, say) and validates it
    /// completely; `path` names it in error messages.
    pub fn parse_scenario(&self, text: &str, path: &str) -> Result<Loaded, ScenarioError> {
        self.prepare(Scenario::parse(text, path, self)?)
    }

    /// Validates the protocol's parts of a parsed scenario.
    pub fn prepare(&self, scenario: Scenario) -> Result<Loaded, ScenarioError> {
        let entry = self.find(&scenario.protocol).ok_or_else(|| {
            let at = scenario.value_place(&[Step::Key("protocol")]);
            scenario.error_at(at, format!("unknown protocol `{}`", scenario.protocol))
        })?;
        let runner = (entry.prepare)(entry.info, &scenario)?;
        Ok(Loaded { scenario, runner: Arc::from(runner) })
    }
}

impl Catalog for Registry {
    fn protocols(&self) -> Vec<&'static str> {
        self.entries.iter().map(|p| p.name).collect()
    }
    fn roles(&self, protocol: &str) -> Vec<&'static str> {
        self.find(protocol).map(|p| p.roles.iter().map(|r| r.name).collect()).unwrap_or_default()
    }
    fn checks(&self, protocol: &str) -> Vec<&'static str> {
        self.find(protocol).map(|p| p.checks.iter().map(|c| c.name).collect()).unwrap_or_default()
    }
    fn default_link_kind(&self, protocol: &str) -> LinkKind {
        self.find(protocol).map_or(LinkKind::Datagram, |p| p.link_kind)
    }
    fn max_nodes(&self, protocol: &str) -> u32 {
        self.find(protocol).map_or(faultline_scenario::MAX_NODES, |p| p.max_nodes)
    }
    fn primary_role(&self, protocol: &str) -> Option<&'static str> {
        self.find(protocol).and_then(|p| p.primary_role())
    }
    fn client_need(&self, protocol: &str) -> ClientNeed {
        match self.find(protocol).map(|p| p.clients) {
            Some(ClientUse::None) => ClientNeed::None,
            Some(ClientUse::Required) => ClientNeed::Required,
            _ => ClientNeed::Optional,
        }
    }
}

/// [`Registry::load_scenario`] on the shipped protocols.
pub fn load_scenario(path: &Path) -> Result<Loaded, ScenarioError> {
    Registry::builtin().load_scenario(path)
}

/// [`Registry::parse_scenario`] on the shipped protocols.
pub fn parse_scenario(text: &str, path: &str) -> Result<Loaded, ScenarioError> {
    Registry::builtin().parse_scenario(text, path)
}
