//! Scenario files rewritten by the bug-hunting commands. `explore --swarm`
//! draws a fault mix per seed and writes it out; both `explore` and `shrink`
//! turn a `[chaos]` section into the explicit `[[faults]]` it draws for one
//! seed, so a reproducer is self-contained; `shrink` removes and weakens
//! pieces of a scenario one edit at a time.
//!
//! Edits go through `toml_edit`, so everything a user wrote that an edit does
//! not touch — comments, key order, parameters — stays as it was. Every
//! edited document is parsed again by the scenario loader before it is run,
//! so an edit can never produce a scenario the loader would reject.

use rand::Rng;
/// A value as written in a scenario file (what the edits take).
pub use toml_edit::Value;
use toml_edit::{value, Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table};

use faultline_sim::chaos::{self, ChaosConfig, CHAOS_KINDS};
use faultline_sim::fault::{FaultAction, NodeRef, ScheduledFault};
use faultline_sim::rng::{stream, Latency, Probability, SimRng, Stream};
use faultline_sim::time::{Duration, Time};

use crate::bounds::{ParamRange, SwarmBounds};
use crate::scenario::{Catalog, Scenario, ScenarioError, MAX_FAULTS};

/// The network rates a swarm mix may switch off or lower.
pub const NETWORK_RATES: [&str; 3] = ["loss", "duplicate", "reorder"];

/// The network rates shrinking lowers: the swarm's, and held messages.
pub const SHRINK_RATES: [&str; 4] = ["loss", "duplicate", "reorder", "hold"];

/// A scenario file being rewritten.
#[derive(Clone, Debug)]
pub struct ScenarioDoc {
    doc: DocumentMut,
    header: Vec<String>,
}

/// A duration written so that it parses back to exactly the same
/// nanoseconds, in the largest unit that divides it.
pub fn exact_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    match ns {
        0 => "0s".to_string(),
        _ if ns.is_multiple_of(1_000_000_000) => format!("{}s", ns / 1_000_000_000),
        _ if ns.is_multiple_of(1_000_000) => format!("{}ms", ns / 1_000_000),
        _ if ns.is_multiple_of(1_000) => format!("{}us", ns / 1_000),
        _ => format!("{ns}ns"),
    }
}

fn id_array(ids: &[u32]) -> Array {
    ids.iter().map(|&i| i64::from(i)).collect()
}

fn node_value(node: &NodeRef) -> Value {
    match node {
        NodeRef::Id(i) => Value::from(i64::from(*i)),
        NodeRef::Role(r) => Value::from(r.as_str()),
        NodeRef::Random => Value::from("random"),
    }
}

/// A latency as the inline table a scenario writes
/// (`{ dist = "uniform", min = "1ms", max = "5ms" }`), every duration exact.
pub fn latency_value(latency: &Latency) -> Value {
    let mut t = InlineTable::new();
    t.insert("dist", Value::from(latency.family()));
    let d = |d: Duration| Value::from(exact_duration(d));
    match *latency {
        Latency::Constant { value } => {
            t.insert("value", d(value));
        }
        Latency::Uniform { min, max } => {
            t.insert("min", d(min));
            t.insert("max", d(max));
        }
        Latency::Normal { mean, std_dev } => {
            t.insert("mean", d(mean));
            t.insert("std_dev", d(std_dev));
        }
        Latency::Exponential { min, mean } => {
            t.insert("min", d(min));
            t.insert("mean", d(mean));
        }
        Latency::LogNormal { median, sigma } => {
            t.insert("median", d(median));
            t.insert("sigma", Value::from(sigma));
        }
        Latency::Pareto { scale, shape } => {
            t.insert("scale", d(scale));
            t.insert("shape", Value::from(shape));
        }
    }
    Value::InlineTable(t)
}

/// The `[[faults]]` table for one scheduled fault.
pub fn fault_table(fault: &ScheduledFault) -> Table {
    let mut t = Table::new();
    t.insert("at", value(exact_duration(fault.at.since(Time::ZERO))));
    let (kind, undo_key) = match &fault.action {
        FaultAction::Partition { groups } => {
            let groups: Array = groups.iter().map(|g| Value::Array(id_array(g))).collect();
            t.insert("groups", value(groups));
            ("partition", Some("heal_after"))
        }
        FaultAction::PartitionOneway { from, to } => {
            t.insert("from", value(id_array(from)));
            t.insert("to", value(id_array(to)));
            ("partition_oneway", Some("heal_after"))
        }
        FaultAction::Isolate { node } => {
            t.insert("node", Item::Value(node_value(node)));
            ("isolate", Some("heal_after"))
        }
        FaultAction::Heal => ("heal", None),
        FaultAction::Crash { node } => {
            t.insert("node", Item::Value(node_value(node)));
            ("crash", Some("restart_after"))
        }
        FaultAction::Restart { node } => {
            t.insert("node", Item::Value(node_value(node)));
            ("restart", None)
        }
        FaultAction::Pause { node } => {
            t.insert("node", Item::Value(node_value(node)));
            ("pause", Some("resume_after"))
        }
        FaultAction::Resume { node } => {
            t.insert("node", Item::Value(node_value(node)));
            ("resume", None)
        }
        FaultAction::ClockRate { node, rate } => {
            t.insert("node", Item::Value(node_value(node)));
            t.insert("rate", value(*rate));
            ("clock_rate", Some("reset_after"))
        }
        FaultAction::SlowDisk { node, factor } => {
            t.insert("node", Item::Value(node_value(node)));
            t.insert("factor", value(*factor));
            ("slow_disk", Some("heal_after"))
        }
    };
    // `kind` first, as people write it.
    let mut ordered = Table::new();
    ordered.insert("at", t.remove("at").unwrap_or_else(|| value("0s")));
    ordered.insert("kind", value(kind));
    for (k, v) in t.iter() {
        ordered.insert(k, v.clone());
    }
    if let (Some(key), Some(after)) = (undo_key, fault.undo_after) {
        ordered.insert(key, value(exact_duration(after)));
    }
    ordered
}

/// Rewrites the inline spellings of what edits touch into their table forms,
/// so every edit sees one shape: `faults = [{ .. }]` becomes `[[faults]]`
/// (likewise `network.links`), and `workload = { .. }` (or `network`,
/// `liveness`, `limits`, `chaos`) becomes a `[table]`. The scenario means
/// exactly the same.
fn normalize(doc: &mut DocumentMut) {
    fn to_tables(item: &mut Item) {
        if let Some(array) = item.as_array() {
            let tables: Option<Vec<Table>> =
                array.iter().map(|v| v.as_inline_table().map(|t| t.clone().into_table())).collect();
            if let Some(tables) = tables {
                let mut aot = ArrayOfTables::new();
                tables.into_iter().for_each(|t| aot.push(t));
                *item = Item::ArrayOfTables(aot);
            }
        }
    }
    for key in ["network", "workload", "liveness", "limits", "chaos"] {
        if let Some(item) = doc.get_mut(key) {
            if let Some(t) = item.as_inline_table() {
                *item = Item::Table(t.clone().into_table());
            }
        }
    }
    if let Some(item) = doc.get_mut("faults") {
        to_tables(item);
    }
    if let Some(item) = doc.get_mut("network").and_then(|n| n.get_mut("links")) {
        to_tables(item);
    }
    // A key written as `faults = ` keeps its spacing as a header otherwise
    // (`[[faults ]]`).
    for key in ["network", "workload", "liveness", "limits", "chaos", "faults"] {
        if let Some(mut k) = doc.key_mut(key) {
            k.leaf_decor_mut().clear();
        }
    }
}

/// The undo key a fault table uses, if any.
const UNDO_KEYS: [&str; 4] = ["heal_after", "restart_after", "resume_after", "reset_after"];

impl ScenarioDoc {
    pub fn parse(source: &str) -> Result<ScenarioDoc, String> {
        let mut doc = source.parse::<DocumentMut>().map_err(|e| e.to_string())?;
        normalize(&mut doc);
        Ok(ScenarioDoc { doc, header: Vec::new() })
    }

    pub fn from_scenario(scenario: &Scenario) -> ScenarioDoc {
        // The loader already accepted this text, so it parses.
        ScenarioDoc::parse(&scenario.source)
            .unwrap_or_else(|_| ScenarioDoc { doc: DocumentMut::new(), header: Vec::new() })
    }

    pub fn text(&self) -> String {
        // Every line of every header entry becomes a comment line, so a
        // multi-line message cannot break the file.
        let mut text: String = self
            .header
            .iter()
            .flat_map(|l| l.lines())
            .map(|l| format!("# {l}").trim_end().to_string() + "\n")
            .collect();
        if !text.is_empty() {
            text.push_str("#\n");
        }
        text.push_str(&self.doc.to_string());
        text
    }

    /// Parses the edited document with the scenario loader.
    pub fn load(&self, path: &str, catalog: &dyn Catalog) -> Result<Scenario, ScenarioError> {
        Scenario::parse(&self.text(), path, catalog)
    }

    /// Sets `seed`; false for a seed past `i64::MAX`, which a scenario file
    /// cannot hold (TOML integers are signed 64-bit).
    pub fn set_seed(&mut self, seed: u64) -> bool {
        match i64::try_from(seed) {
            Ok(seed) => {
                self.doc["seed"] = value(seed);
                true
            }
            Err(_) => false,
        }
    }

    /// Comment lines written above the file's own.
    pub fn set_header(&mut self, lines: &[String]) {
        self.header = lines.to_vec();
    }

    /// Pins the outcome at the scenario's own seed (`[expect]`). The
    /// table's `metrics` bounds are kept: they hold for every seed, and a
    /// failure of `metric_bounds` needs them to reproduce.
    pub fn set_expect(&mut self, verdict: &str, failed_check: Option<&str>, fingerprint: Option<&str>) {
        let mut t = Table::new();
        if let Some(metrics) = self.doc.get("expect").and_then(|e| e.get("metrics")) {
            t.insert("metrics", metrics.clone());
        }
        t.insert("verdict", value(verdict));
        if let Some(check) = failed_check {
            t.insert("failed_check", value(check));
        }
        if let Some(fingerprint) = fingerprint {
            t.insert("fingerprint", value(fingerprint));
        }
        self.doc.insert("expect", Item::Table(t));
    }

    fn faults_mut(&mut self) -> Option<&mut ArrayOfTables> {
        self.doc.get_mut("faults").and_then(Item::as_array_of_tables_mut)
    }

    pub fn fault_count(&self) -> usize {
        self.doc.get("faults").and_then(Item::as_array_of_tables).map_or(0, ArrayOfTables::len)
    }

    fn fault(&self, i: usize) -> Option<&Table> {
        self.doc.get("faults").and_then(Item::as_array_of_tables).and_then(|a| a.get(i))
    }

    fn fault_mut(&mut self, i: usize) -> Option<&mut Table> {
        self.faults_mut().and_then(|a| a.get_mut(i))
    }

    /// One line naming a fault: "crash the leader at 5.2s (restart after 300ms)".
    pub fn describe_fault(&self, i: usize) -> String {
        let Some(t) = self.fault(i) else { return format!("fault {}", i + 1) };
        let text = |k: &str| t.get(k).map(|v| v.to_string().trim().trim_matches('"').to_string());
        let mut line = text("kind").unwrap_or_else(|| "fault".into());
        match text("node") {
            Some(node) if node.parse::<u32>().is_ok() => line.push_str(&format!(" n{node}")),
            Some(node) if node == "random" => line.push_str(" a random node"),
            Some(node) => line.push_str(&format!(" the {node}")),
            None => {}
        }
        for k in ["groups", "from", "to", "rate"] {
            if let Some(v) = text(k) {
                line.push_str(&format!(" {k} {v}"));
            }
        }
        if let Some(at) = text("at").and_then(|a| Duration::parse(&a).ok()) {
            line.push_str(&format!(" at {}", Time::ZERO + at));
        }
        if let Some((k, d)) = UNDO_KEYS.iter().find_map(|k| self.fault_duration(i, k).map(|d| (*k, d))) {
            line.push_str(&format!(" ({} {d})", k.replace('_', " ")));
        }
        line
    }

    pub fn remove_fault(&mut self, i: usize) {
        if let Some(faults) = self.faults_mut() {
            if i < faults.len() {
                faults.remove(i);
            }
            if faults.is_empty() {
                self.doc.remove("faults");
            }
        }
    }

    pub fn remove_all_faults(&mut self) {
        self.doc.remove("faults");
    }

    fn fault_duration(&self, i: usize, key: &str) -> Option<Duration> {
        self.fault(i)?.get(key)?.as_str().and_then(|s| Duration::parse(s).ok())
    }

    /// Halves how long a fault lasts; false if it has no end or cannot shrink.
    pub fn halve_fault(&mut self, i: usize) -> bool {
        let Some((key, after)) = UNDO_KEYS.iter().find_map(|k| self.fault_duration(i, k).map(|d| (*k, d))) else {
            return false;
        };
        let half = Duration::from_nanos(after.as_nanos() / 2);
        if half.as_nanos() < 1_000_000 {
            return false;
        }
        match self.fault_mut(i) {
            Some(t) => {
                t.insert(key, value(exact_duration(half)));
                true
            }
            None => false,
        }
    }

    /// Moves a fault halfway towards `end`; false if it is already close.
    pub fn move_fault_later(&mut self, i: usize, end: Duration) -> bool {
        let Some(at) = self.fault_duration(i, "at") else { return false };
        if at >= end {
            return false;
        }
        let later = Duration::from_nanos(at.as_nanos() + (end.as_nanos() - at.as_nanos()) / 2);
        if later.as_nanos() - at.as_nanos() < 1_000_000 {
            return false;
        }
        match self.fault_mut(i) {
            Some(t) => {
                t.insert("at", value(exact_duration(later)));
                true
            }
            None => false,
        }
    }

    /// Faults that start at or after `end` can never fire: removes them.
    pub fn drop_faults_from(&mut self, end: Duration) {
        for i in (0..self.fault_count()).rev() {
            if self.fault_duration(i, "at").is_some_and(|at| at >= end) {
                self.remove_fault(i);
            }
        }
    }

    pub fn network_rate(&self, key: &str) -> f64 {
        self.doc.get("network").and_then(|n| n.get(key)).and_then(|v| v.as_float()).unwrap_or(0.0)
    }

    pub fn set_network_rate(&mut self, key: &str, rate: f64) {
        if !self.doc.contains_key("network") {
            self.doc.insert("network", Item::Table(Table::new()));
        }
        self.doc["network"][key] = value(rate);
    }

    /// Sets one `[network]` key to `v`.
    pub fn set_network_value(&mut self, key: &str, v: Value) {
        if !self.doc.contains_key("network") {
            self.doc.insert("network", Item::Table(Table::new()));
        }
        self.doc["network"][key] = Item::Value(v);
    }

    /// The `[network]` latency as written, if the scenario writes one.
    pub fn network_value(&self, key: &str) -> Option<&Value> {
        self.doc.get("network")?.get(key)?.as_value()
    }

    fn links_mut(&mut self) -> Option<&mut ArrayOfTables> {
        self.doc.get_mut("network")?.get_mut("links")?.as_array_of_tables_mut()
    }

    /// The scenario's `[[network.links]]` overrides.
    pub fn link_count(&self) -> usize {
        self.doc.get("network").and_then(|n| n.get("links")).and_then(Item::as_array_of_tables).map_or(0, |l| l.len())
    }

    /// Adds a `[[network.links]]` override from `from` to `to` with `keys`.
    pub fn push_link(&mut self, from: u32, to: u32, keys: Vec<(&str, Value)>) {
        if !self.doc.contains_key("network") {
            self.doc.insert("network", Item::Table(Table::new()));
        }
        if self.links_mut().is_none() {
            self.doc["network"]["links"] = Item::ArrayOfTables(ArrayOfTables::new());
        }
        let mut t = Table::new();
        t.insert("from", value(i64::from(from)));
        t.insert("to", value(i64::from(to)));
        for (k, v) in keys {
            t.insert(k, Item::Value(v));
        }
        if let Some(links) = self.links_mut() {
            links.push(t);
        }
    }

    /// Removes the `i`th link override.
    pub fn remove_link(&mut self, i: usize) {
        if let Some(links) = self.links_mut() {
            links.remove(i);
            if links.is_empty() {
                if let Some(n) = self.doc.get_mut("network").and_then(Item::as_table_mut) {
                    n.remove("links");
                }
            }
        }
    }

    /// "link 0 -> 3" for the `i`th link override.
    pub fn describe_link(&self, i: usize) -> String {
        let link = self.doc.get("network").and_then(|n| n.get("links")).and_then(Item::as_array_of_tables);
        let Some(t) = link.and_then(|l| l.get(i)) else { return format!("link override {i}") };
        let end = |k: &str| t.get(k).and_then(Item::as_integer).map_or_else(|| "?".to_string(), |v| v.to_string());
        format!("link {} -> {}", end("from"), end("to"))
    }

    /// Sets one `[params]` key (a protocol parameter) to `v`.
    pub fn set_param(&mut self, key: &str, v: Value) {
        if !self.doc.contains_key("params") {
            self.doc.insert("params", Item::Table(Table::new()));
        }
        self.doc["params"][key] = Item::Value(v);
    }

    pub fn remove_chaos(&mut self) {
        self.doc.remove("chaos");
    }

    pub fn set_duration(&mut self, key: &str, d: Duration) {
        self.doc[key] = value(exact_duration(d));
    }

    /// Lowers an explicit `[limits] max_time` to the run's natural end
    /// (safety phase plus liveness phase) when it is past it, as the loader
    /// requires after the run got shorter.
    pub fn fit_max_time(&mut self) {
        let read = |item: Option<&Item>| item.and_then(Item::as_str).and_then(|s| Duration::parse(s).ok());
        let Some(duration) = read(self.doc.get("duration")) else { return };
        let liveness = read(self.doc.get("liveness").and_then(|l| l.get("duration"))).unwrap_or(Duration::ZERO);
        let end = Duration::from_nanos(duration.as_nanos() + liveness.as_nanos());
        if let Some(limits) = self.doc.get_mut("limits").and_then(Item::as_table_mut) {
            if read(limits.get("max_time")).is_some_and(|max| max > end) {
                limits.insert("max_time", value(exact_duration(end)));
            }
        }
    }

    /// The liveness phase's length.
    pub fn set_liveness(&mut self, d: Duration) {
        if let Some(t) = self.doc.get_mut("liveness").and_then(Item::as_table_mut) {
            t.insert("duration", value(exact_duration(d)));
        }
    }

    fn workload_mut(&mut self) -> Option<&mut Table> {
        self.doc.get_mut("workload").and_then(Item::as_table_mut)
    }

    pub fn workload_int(&self, key: &str) -> Option<i64> {
        self.doc.get("workload")?.get(key)?.as_integer()
    }

    /// Sets the number of clients, keeping a `homes` list consistent.
    pub fn set_clients(&mut self, clients: u32) {
        let Some(w) = self.workload_mut() else { return };
        w.insert("clients", value(i64::from(clients)));
        if let Some(homes) = w.get_mut("homes").and_then(Item::as_array_mut) {
            while homes.len() > clients as usize {
                homes.remove(homes.len() - 1);
            }
        }
    }

    pub fn set_workload_int(&mut self, key: &str, v: i64) {
        if let Some(w) = self.workload_mut() {
            w.insert(key, value(v));
        }
    }

    /// Lowers the node count: faults, links and client homes that name a
    /// node past the new count are dropped or folded onto the nodes left.
    pub fn set_nodes(&mut self, nodes: u32) {
        self.doc["nodes"] = value(i64::from(nodes));
        let n = i64::from(nodes);
        let keep = |v: &Value| v.as_integer().is_none_or(|i| i < n);
        for i in (0..self.fault_count()).rev() {
            let Some(t) = self.fault_mut(i) else { continue };
            let mut drop = t.get("node").and_then(Item::as_value).is_some_and(|v| !keep(v));
            for key in ["from", "to"] {
                if let Some(list) = t.get_mut(key).and_then(Item::as_array_mut) {
                    list.retain(keep);
                    drop |= list.is_empty();
                }
            }
            if let Some(groups) = t.get_mut("groups").and_then(Item::as_array_mut) {
                for g in groups.iter_mut() {
                    if let Some(g) = g.as_array_mut() {
                        g.retain(keep);
                    }
                }
                groups.retain(|g| g.as_array().is_some_and(|a| !a.is_empty()));
                // Still a partition: two groups, or one plus unlisted nodes.
                let listed: usize = groups.iter().filter_map(|g| g.as_array()).map(Array::len).sum();
                let effective = groups.len() + usize::from(listed < nodes as usize);
                drop |= effective < 2;
            }
            if drop {
                self.remove_fault(i);
            }
        }
        if let Some(links) = self.doc.get_mut("network").and_then(|n| n.get_mut("links")) {
            if let Some(links) = links.as_array_of_tables_mut() {
                links.retain(|t| ["from", "to"].iter().all(|k| t.get(k).and_then(Item::as_value).is_none_or(keep)));
            }
        }
        if let Some(homes) = self.workload_mut().and_then(|w| w.get_mut("homes")).and_then(Item::as_array_mut) {
            for h in homes.iter_mut() {
                if let Some(i) = h.as_integer() {
                    *h = Value::from(i % n.max(1));
                }
            }
        }
    }

    /// Writes the faults a `[chaos]` section draws for `seed` as explicit
    /// `[[faults]]` after the scenario's own, and removes the section: the
    /// run is unchanged (the engine schedules the scenario's faults, then the
    /// drawn ones, in this same order).
    ///
    /// Drawn faults past an explicit `[limits] max_time` would never happen
    /// (the run ends first), and the loader refuses such faults when they
    /// are written out, so they are left out: the run is the same.
    ///
    /// Fails when the scenario's faults and the drawn ones together are more
    /// than a scenario file may list ([`MAX_FAULTS`]).
    pub fn write_out_chaos(
        &mut self,
        chaos: Option<&ChaosConfig>,
        nodes: u32,
        duration: Duration,
        seed: u64,
    ) -> Result<(), String> {
        let Some(chaos) = chaos else { return Ok(()) };
        let mut drawn = chaos::schedule(chaos, nodes, duration, seed);
        let max_time = self
            .doc
            .get("limits")
            .and_then(|l| l.get("max_time"))
            .and_then(Item::as_str)
            .and_then(|s| Duration::parse(s).ok());
        if let Some(end) = max_time {
            drawn.retain(|f| f.at <= Time::ZERO + end);
        }
        let total = self.fault_count() + drawn.len();
        if total > MAX_FAULTS {
            return Err(format!(
                "seed {seed}'s [chaos] section draws {} faults; with the scenario's own {} that is {total}, more \
                 than the {MAX_FAULTS} a scenario file may list, so they cannot be written out",
                drawn.len(),
                self.fault_count()
            ));
        }
        self.remove_chaos();
        if drawn.is_empty() {
            return Ok(());
        }
        if self.faults_mut().is_none() {
            self.doc.insert("faults", Item::ArrayOfTables(ArrayOfTables::new()));
        }
        if let Some(faults) = self.faults_mut() {
            for f in &drawn {
                faults.push(fault_table(f));
            }
        }
        Ok(())
    }
}

/// What `explore --swarm` drew for one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmMix {
    /// Each network rate the scenario sets: `None` off, or the drawn rate.
    pub rates: Vec<(&'static str, Option<f64>)>,
    /// Chaos kinds on, and off (empty when the scenario has no `[chaos]`).
    pub kinds_on: Vec<String>,
    pub kinds_off: Vec<String>,
    pub mean_interval: Option<Duration>,
    pub fault_duration: Option<(Duration, Duration)>,
    pub leader_bias: Option<f64>,
    /// Kinds of the scenario's own `[[faults]]` switched off for this seed.
    pub fixed_kinds_off: Vec<String>,
    /// The network's shape drawn within `[swarm]`: latency, holds, slow
    /// links, each a phrase ("latency pareto scale 2ms shape 1.4").
    pub shape: Vec<String>,
    /// Protocol parameters drawn within `[swarm.params]`, as written.
    pub params: Vec<(String, String)>,
}

impl SwarmMix {
    /// One line for a progress report or a reproducer's header.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (key, rate) in &self.rates {
            parts.push(match rate {
                Some(r) => format!("{key} {r:.4}"),
                None => format!("{key} off"),
            });
        }
        if self.mean_interval.is_some() || !self.kinds_off.is_empty() {
            let on = if self.kinds_on.is_empty() { "none".to_string() } else { self.kinds_on.join(" ") };
            let mut chaos = format!("chaos {on}");
            if !self.kinds_off.is_empty() {
                chaos.push_str(&format!(" (off: {})", self.kinds_off.join(" ")));
            }
            if let (Some(every), false) = (self.mean_interval, self.kinds_on.is_empty()) {
                chaos.push_str(&format!(" every {every}"));
            }
            if let (Some((lo, hi)), false) = (self.fault_duration, self.kinds_on.is_empty()) {
                chaos.push_str(&format!(" lasting {lo}–{hi}"));
            }
            if let (Some(b), false) = (self.leader_bias, self.kinds_on.is_empty()) {
                chaos.push_str(&format!(" leader bias {b:.2}"));
            }
            parts.push(chaos);
        }
        if !self.fixed_kinds_off.is_empty() {
            parts.push(format!("scenario faults off: {}", self.fixed_kinds_off.join(" ")));
        }
        parts.extend(self.shape.iter().cloned());
        if !self.params.is_empty() {
            let params: Vec<String> = self.params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            parts.push(format!("params {}", params.join(", ")));
        }
        if parts.is_empty() {
            "nothing to vary".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// Rounds a drawn rate down to six decimals, so the reproducer reads well
/// and the rate never exceeds its bound.
fn round_rate(r: f64) -> f64 {
    (r * 1e6).floor() / 1e6
}

/// Draws one seed's fault mix within what the scenario allows, and returns
/// the scenario with that mix written out (chaos drawn into explicit faults).
///
/// The scenario's own settings are the bounds: each network rate it sets is
/// switched off or drawn between zero and its value; each chaos kind it lists
/// is on or off (so some seeds have a kind fully off, and some have none);
/// the mean interval is drawn between half and four times its value; the
/// fault length range inside its range; the leader bias between zero and
/// one when it allows leader-aimed faults at all. Each kind of the
/// scenario's own `[[faults]]` is kept or dropped as a whole. Draws come from
/// the seed's explore stream, so a seed always draws the same mix.
///
/// Fails only when the drawn faults are too many to write out (see
/// [`ScenarioDoc::write_out_chaos`]).
pub fn swarm(scenario: &Scenario, seed: u64) -> Result<(ScenarioDoc, SwarmMix), String> {
    let mut rng = stream(seed, Stream::Explore);
    let mut doc = ScenarioDoc::from_scenario(scenario);
    let mut mix = SwarmMix {
        rates: Vec::new(),
        kinds_on: Vec::new(),
        kinds_off: Vec::new(),
        mean_interval: None,
        fault_duration: None,
        leader_bias: None,
        fixed_kinds_off: Vec::new(),
        shape: Vec::new(),
        params: Vec::new(),
    };
    let net = &scenario.network;
    for (key, bound) in NETWORK_RATES.into_iter().zip([net.loss, net.duplicate, net.reorder]) {
        if bound.is_zero() {
            continue;
        }
        if rng.gen_bool(0.5) {
            let r = round_rate(rng.gen_range(0.0..=bound.get()));
            doc.set_network_rate(key, r);
            mix.rates.push((key, Some(r)));
        } else {
            doc.set_network_rate(key, 0.0);
            mix.rates.push((key, None));
        }
    }
    // The scenario's own faults: each kind kept or dropped whole.
    let mut fixed_kinds: Vec<&str> = scenario.faults.iter().map(|f| f.action.kind_name()).collect();
    fixed_kinds.sort_unstable();
    fixed_kinds.dedup();
    for kind in fixed_kinds {
        if rng.gen_bool(0.5) {
            continue;
        }
        mix.fixed_kinds_off.push(kind.to_string());
        for i in (0..scenario.faults.len()).rev() {
            if scenario.faults[i].action.kind_name() == kind {
                doc.remove_fault(i);
            }
        }
    }
    let drawn = scenario.chaos.as_ref().map(|c| {
        let mut c = c.clone();
        let kinds: Vec<String> = c.kinds.iter().filter(|k| CHAOS_KINDS.contains(&k.as_str())).cloned().collect();
        let (on, off): (Vec<String>, Vec<String>) = kinds.into_iter().partition(|_| rng.gen_bool(0.5));
        let scale = (rng.gen_range(0.5f64.ln()..=4f64.ln())).exp();
        c.mean_interval = Duration::from_nanos(((c.mean_interval.as_nanos() as f64) * scale).max(1e6) as u64);
        let (lo, hi) = (c.fault_duration_min.as_nanos(), c.fault_duration_max.as_nanos());
        let (a, b) = (rng.gen_range(lo..=hi), rng.gen_range(lo..=hi));
        c.fault_duration_min = Duration::from_nanos(a.min(b));
        c.fault_duration_max = Duration::from_nanos(a.max(b));
        if !c.leader_bias.is_zero() {
            c.leader_bias = Probability::new(round_rate(rng.gen_range(0.0..=1.0))).unwrap_or(c.leader_bias);
            mix.leader_bias = Some(c.leader_bias.get());
        }
        c.kinds = on.clone();
        mix.kinds_on = on;
        mix.kinds_off = off;
        mix.mean_interval = Some(c.mean_interval);
        mix.fault_duration = Some((c.fault_duration_min, c.fault_duration_max));
        c
    });
    doc.write_out_chaos(drawn.as_ref(), scenario.nodes, scenario.duration, seed)?;
    // Drawn last, so a scenario without `[swarm]` draws what it always did.
    draw_shape(&mut rng, scenario, &mut doc, &mut mix);
    draw_params(&mut rng, &scenario.swarm, &mut doc, &mut mix);
    Ok((doc, mix))
}

/// A duration drawn log-uniformly in `lo..=hi` (uniformly when `lo` is zero),
/// rounded to the microsecond so reproducers read well.
fn draw_duration(rng: &mut SimRng, lo: Duration, hi: Duration) -> Duration {
    let (a, b) = (lo.as_nanos(), hi.as_nanos().max(lo.as_nanos()));
    let ns = if a == 0 || b / a < 4 {
        rng.gen_range(a..=b)
    } else {
        ((rng.gen_range((a as f64).ln()..=(b as f64).ln())).exp() as u64).clamp(a, b)
    };
    let us = (ns / 1_000 * 1_000).max(a);
    Duration::from_nanos(if us > b { ns } else { us })
}

/// One latency of `family` whose typical delay (median or mean) is `s`.
fn draw_latency(rng: &mut SimRng, family: &str, s: Duration) -> Latency {
    let s_ns = s.as_nanos() as f64;
    let at = |f: f64| Duration::from_nanos(((s_ns * f) / 1_000.0).round() as u64 * 1_000);
    let round2 = |x: f64| (x * 100.0).round() / 100.0;
    match family {
        "constant" => Latency::Constant { value: s },
        "uniform" => {
            let low = rng.gen_range(0.0..=0.9);
            Latency::Uniform { min: at(low), max: at(2.0 - low) }
        }
        "exponential" => Latency::Exponential { min: at(0.1), mean: at(0.9) },
        "lognormal" => Latency::LogNormal { median: s, sigma: round2(rng.gen_range(0.3..=1.5)) },
        // Mean `s` for the drawn shape; shapes near 1 have very heavy tails.
        _ => {
            let shape = round2(rng.gen_range(1.2..=3.0));
            Latency::Pareto { scale: at((shape - 1.0) / shape), shape }
        }
    }
}

/// Draws the network's shape within `[swarm]`: for some seeds a latency of
/// another family and scale, held messages, and a few slowed or held-back
/// links. Each part is off for about half the seeds.
fn draw_shape(rng: &mut SimRng, scenario: &Scenario, doc: &mut ScenarioDoc, mix: &mut SwarmMix) {
    let bounds = &scenario.swarm;
    let mut latency = scenario.network.latency.clone();
    if !bounds.latency.is_empty() && rng.gen_bool(0.5) {
        let family = bounds.latency[rng.gen_range(0..bounds.latency.len())].clone();
        let typical = draw_duration(rng, bounds.latency_min, bounds.latency_max);
        latency = draw_latency(rng, &family, typical);
        doc.set_network_value("latency", latency_value(&latency));
        mix.shape.push(format!("latency {}", latency_value(&latency)));
    }
    let holds = |rng: &mut SimRng| {
        let (a, b) = (
            draw_duration(rng, bounds.hold_min, bounds.hold_max),
            draw_duration(rng, bounds.hold_min, bounds.hold_max),
        );
        (a.min(b), a.max(b))
    };
    if !bounds.hold.is_zero() && rng.gen_bool(0.5) {
        let share = round_rate(rng.gen_range(0.0..=bounds.hold.get()));
        let (lo, hi) = holds(rng);
        doc.set_network_rate("hold", share);
        doc.set_network_value("hold_min", Value::from(exact_duration(lo)));
        doc.set_network_value("hold_max", Value::from(exact_duration(hi)));
        mix.shape.push(format!("hold {share} for {lo}–{hi}"));
    }
    if bounds.slow_links > 0 && scenario.nodes >= 2 && rng.gen_bool(0.5) {
        let count = rng.gen_range(1..=bounds.slow_links);
        let mut taken: Vec<(u32, u32)> = scenario.link_overrides.iter().map(|&(a, b, _)| (a, b)).collect();
        for _ in 0..count {
            let from = rng.gen_range(0..scenario.nodes);
            let to = (from + rng.gen_range(1..scenario.nodes)) % scenario.nodes;
            // Held back, or slower by a factor; drawn whether or not the
            // pair is free, so each link's draws stay put.
            let held = rng.gen_bool(0.5);
            let factor = (rng.gen_range(0.0..=bounds.slow_factor.ln())).exp();
            let share = round_rate(rng.gen_range(0.05..=0.5));
            let (lo, hi) = holds(rng);
            if taken.contains(&(from, to)) {
                continue;
            }
            taken.push((from, to));
            if held {
                doc.push_link(
                    from,
                    to,
                    vec![
                        ("hold", Value::from(share)),
                        ("hold_min", Value::from(exact_duration(lo))),
                        ("hold_max", Value::from(exact_duration(hi))),
                    ],
                );
                mix.shape.push(format!("link {from} -> {to} holds {share} for {lo}–{hi}"));
            } else {
                let factor = (factor * 10.0).round() / 10.0;
                let slow = latency.scaled(factor);
                doc.push_link(from, to, vec![("latency", latency_value(&slow))]);
                mix.shape.push(format!("link {from} -> {to} {factor}x slower"));
            }
        }
    }
}

/// Draws the protocol parameters `[swarm.params]` names, each for about half
/// the seeds, into `[params]`.
fn draw_params(rng: &mut SimRng, bounds: &SwarmBounds, doc: &mut ScenarioDoc, mix: &mut SwarmMix) {
    for p in &bounds.params {
        let (key, range) = (&p.name, &p.range);
        if !rng.gen_bool(0.5) {
            continue;
        }
        let v: Value = match range {
            ParamRange::Int { min, max } => {
                let (lo, hi) = (*min, *max);
                let v = if lo > 0 && hi / lo >= 4 {
                    ((rng.gen_range((lo as f64).ln()..=((hi as f64) + 1.0).ln())).exp() as i64).clamp(lo, hi)
                } else {
                    rng.gen_range(lo..=hi)
                };
                Value::from(v)
            }
            ParamRange::Duration { min, max } => Value::from(exact_duration(draw_duration(rng, *min, *max))),
            ParamRange::OneOf(values) => {
                let v = &values[rng.gen_range(0..values.len())];
                toml_value(v)
            }
        };
        mix.params.push((key.clone(), v.to_string().trim().to_string()));
        doc.set_param(key, v);
    }
}

/// A `toml` value as the `toml_edit` value that writes the same text.
pub fn toml_value(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::from(s.as_str()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::from(*b),
        toml::Value::Datetime(d) => Value::from(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_value).collect()),
        toml::Value::Table(t) => {
            let mut inline = InlineTable::new();
            for (k, v) in t {
                inline.insert(k, toml_value(v));
            }
            Value::InlineTable(inline)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_exactly() {
        for ns in [0, 1, 999, 1_000, 1_500_000, 2_000_000_000, 1_234_567_891] {
            let d = Duration::from_nanos(ns);
            assert_eq!(Duration::parse(&exact_duration(d)), Ok(d), "{ns} ns");
        }
        assert_eq!(exact_duration(Duration::from_nanos(1_500_000)), "1500us");
        assert_eq!(exact_duration(Duration::from_nanos(3_000_000_000)), "3s");
    }

    #[test]
    fn inline_spellings_become_tables_that_edits_reach() {
        let mut doc = ScenarioDoc::parse(
            "nodes = 3\nduration = \"5s\"\nfaults = [{ at = \"1s\", kind = \"crash\", node = 0 }]\n\
             workload = { clients = 4 }\nliveness = { duration = \"2s\" }\n",
        )
        .unwrap();
        assert_eq!(doc.fault_count(), 1);
        doc.set_clients(2);
        doc.set_liveness(Duration::from_millis(500));
        let text = doc.text();
        assert!(text.contains("[[faults]]") && text.contains("clients = 2") && text.contains("500ms"), "{text}");
    }

    #[test]
    fn fewer_nodes_drop_partitions_that_no_longer_split_anything() {
        let mut doc = ScenarioDoc::parse(
            "nodes = 3\n[[faults]]\nat = \"1s\"\nkind = \"partition\"\ngroups = [[0, 1]]\n\
             [[faults]]\nat = \"2s\"\nkind = \"partition\"\ngroups = [[0]]\n",
        )
        .unwrap();
        doc.set_nodes(2);
        // [[0, 1]] now lists every node: no second group, so it goes; [[0]]
        // still leaves node 1 on the other side.
        assert_eq!(doc.fault_count(), 1);
        assert!(doc.text().contains("groups = [[0]]"), "{}", doc.text());
    }

    /// A reproducer pins its verdict and keeps the scenario's metric
    /// bounds, without which a `metric_bounds` failure would not reproduce.
    #[test]
    fn pinning_the_outcome_keeps_metric_bounds() {
        let mut doc = ScenarioDoc::parse(
            "nodes = 3\n[expect]\nverdict = \"pass\"\nmetrics = { false_positives = { max = 0 } }\n",
        )
        .unwrap();
        doc.set_expect("fail", Some("metric_bounds"), Some("00000000000000ff"));
        let text = doc.text();
        assert!(text.contains("false_positives = { max = 0 }"), "{text}");
        assert!(text.contains("failed_check = \"metric_bounds\"") && !text.contains("\"pass\""), "{text}");
    }

    #[test]
    fn max_time_follows_a_shorter_run() {
        let mut doc =
            ScenarioDoc::parse("duration = \"20s\"\n[liveness]\nduration = \"5s\"\n[limits]\nmax_time = \"25s\"\n")
                .unwrap();
        doc.set_duration("duration", Duration::from_millis(8_000));
        doc.fit_max_time();
        assert!(doc.text().contains("max_time = \"13s\""), "{}", doc.text());
    }

    #[test]
    fn seeds_past_i64_cannot_be_written_and_rates_never_round_up() {
        let mut doc = ScenarioDoc::parse("seed = 1\n").unwrap();
        assert!(doc.set_seed(i64::MAX as u64));
        assert!(!doc.set_seed(i64::MAX as u64 + 1));
        assert!(round_rate(0.0199999999) <= 0.0199999999);
    }

    #[test]
    fn fault_tables_name_their_kind_first() {
        let f = ScheduledFault {
            at: Time::ZERO + Duration::from_nanos(1_000_000),
            action: FaultAction::Crash { node: NodeRef::Role("leader".into()) },
            undo_after: Some(Duration::from_nanos(5_000_000)),
            after: None,
        };
        let t = fault_table(&f);
        let keys: Vec<&str> = t.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["at", "kind", "node", "restart_after"]);
        assert_eq!(t["node"].as_str(), Some("leader"));
    }
}
