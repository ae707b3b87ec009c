//! `faultline shrink`: minimises a failing run while it keeps failing the
//! same check. Greedy passes over one-edit candidates — a shorter run, fewer
//! faults, lower network rates, fewer clients, operations and nodes, shorter
//! and later faults — keep each edit that still fails, until a whole pass
//! changes nothing or the run budget ends. Each kept edit is printed; the
//! result is written as a reproducer with its fingerprint.

use std::path::{Path, PathBuf};

use faultline_protocols::Loaded;
use faultline_scenario::edit::{latency_value, ScenarioDoc, SHRINK_RATES};
use faultline_sim::rng::Latency;
use faultline_sim::{Duration, Time};

use super::hunt::{check_seed, expected_fingerprint, run_caught, write_reproducer, Failed, Ran};
use super::run::load;
use super::{CliError, Outcome};
use crate::cli::ShrinkArgs;
use crate::output::thousands;

/// The shortest safety phase shrinking tries.
const MIN_DURATION: Duration = Duration::from_millis(100);

/// A scenario while it is being shrunk: the document, its parsed form, and
/// how its run at the seed came out.
struct Current {
    doc: ScenarioDoc,
    scenario: Loaded,
    ran: Ran,
}

impl Current {
    fn size(&self) -> Size {
        Size {
            faults: self.doc.fault_count(),
            clients: self.scenario.clients.count,
            operations: self.ran.operations(),
            events: self.ran.events(),
            nodes: self.scenario.nodes,
            duration: self.scenario.duration,
        }
    }
}

struct Size {
    faults: usize,
    clients: u32,
    operations: u64,
    events: u64,
    nodes: u32,
    duration: Duration,
}

struct Shrinker {
    seed: u64,
    target: Failed,
    path_label: String,
    runs: u32,
    max_runs: u32,
    steps: u32,
    current: Current,
}

impl Shrinker {
    fn budget_left(&self) -> bool {
        self.runs < self.max_runs
    }

    /// Tries one edit: kept (and printed) when the edited scenario still
    /// fails the same check.
    fn attempt(&mut self, what: String, edit: impl FnOnce(&mut ScenarioDoc)) -> Result<bool, CliError> {
        if !self.budget_left() {
            return Ok(false);
        }
        let mut doc = self.current.doc.clone();
        edit(&mut doc);
        let text = doc.text();
        if text == self.current.doc.text() {
            return Ok(false); // an edit that changes nothing is no step
        }
        let Ok(scenario) = crate::registry().parse_scenario(&text, &self.path_label) else {
            return Ok(false); // an edit the loader rejects is simply not a candidate
        };
        self.runs += 1;
        let ran = run_caught(&scenario, self.seed)?;
        let keeps_failing = ran.failed.as_ref().is_some_and(|f| f.same_as(&self.target));
        if !keeps_failing {
            return Ok(false);
        }
        self.steps += 1;
        let at = ran.failed.as_ref().and_then(|f| f.at).map_or_else(String::new, |t| format!(" at {t}"));
        println!("step {:>3}    {what:<52} fails{at}, {} events", self.steps, thousands(ran.events()));
        self.current = Current { doc, scenario, ran };
        Ok(true)
    }

    /// One pass over every kind of edit; true if any was kept.
    fn pass(&mut self) -> Result<bool, CliError> {
        let mut changed = false;
        changed |= self.shorten_run()?;
        changed |= self.remove_faults()?;
        changed |= self.lower_rates()?;
        changed |= self.simplify_network()?;
        changed |= self.fewer_clients()?;
        changed |= self.fewer_operations()?;
        changed |= self.fewer_nodes()?;
        changed |= self.weaken_faults()?;
        changed |= self.shorter_liveness()?;
        Ok(changed)
    }

    /// The run ends soon after the failure: first just past it, then halves.
    fn shorten_run(&mut self) -> Result<bool, CliError> {
        let mut changed = false;
        let duration = self.current.scenario.duration;
        let failed_at = self.current.ran.failed.as_ref().and_then(|f| f.at).map(|t| t.since(Time::ZERO));
        if let Some(at) = failed_at {
            // Just past the failure, rounded up to a tenth of a second.
            let tenth = 100_000_000;
            let cut = Duration::from_nanos((at.as_nanos() / tenth + 1) * tenth);
            if cut < duration {
                changed |= self.attempt(format!("duration {duration} -> {cut}"), |d| set_duration(d, cut))?;
            }
        }
        loop {
            let duration = self.current.scenario.duration;
            let half = Duration::from_nanos(duration.as_nanos() / 2);
            if half < MIN_DURATION
                || !self.attempt(format!("duration {duration} -> {half}"), |d| set_duration(d, half))?
            {
                return Ok(changed);
            }
            changed = true;
        }
    }

    /// Removes faults in chunks, halving the chunk size down to one fault at
    /// a time (as delta debugging does): a long schedule of which a few
    /// faults matter loses the rest in a few runs instead of one run each.
    fn remove_faults(&mut self) -> Result<bool, CliError> {
        let count = self.current.doc.fault_count();
        if count == 0 {
            return Ok(false);
        }
        if self.attempt(format!("remove all {count} fault(s)"), ScenarioDoc::remove_all_faults)? {
            return Ok(true);
        }
        let mut changed = false;
        let mut chunk = count.div_ceil(2);
        loop {
            // From the end: removing a chunk leaves the indices below it in place.
            let mut end = self.current.doc.fault_count();
            while end > 0 {
                let start = end.saturating_sub(chunk);
                let what = if end - start == 1 {
                    format!("remove fault {}: {}", end, self.current.doc.describe_fault(start))
                } else {
                    format!(
                        "remove faults {}-{} ({} of {})",
                        start + 1,
                        end,
                        end - start,
                        self.current.doc.fault_count()
                    )
                };
                changed |= self.attempt(what, |d| (start..end).rev().for_each(|i| d.remove_fault(i)))?;
                end = start;
            }
            if chunk == 1 {
                return Ok(changed);
            }
            chunk = chunk.div_ceil(2);
        }
    }

    fn lower_rates(&mut self) -> Result<bool, CliError> {
        let mut changed = false;
        for key in SHRINK_RATES {
            let rate = self.current.doc.network_rate(key);
            if rate <= 0.0 {
                continue;
            }
            if self.attempt(format!("{key} {rate} -> 0"), |d| d.set_network_rate(key, 0.0))? {
                changed = true;
                continue;
            }
            let half = (rate / 2.0 * 1e6).floor() / 1e6;
            if half > 0.0 && half < rate {
                changed |= self.attempt(format!("{key} {rate} -> {half}"), |d| d.set_network_rate(key, half))?;
            }
        }
        Ok(changed)
    }

    /// Link overrides removed one at a time (a slow or held-back link), then
    /// the latency made constant at its typical delay (no tail at all).
    fn simplify_network(&mut self) -> Result<bool, CliError> {
        let mut changed = false;
        for i in (0..self.current.doc.link_count()).rev() {
            let what = format!("remove {}", self.current.doc.describe_link(i));
            changed |= self.attempt(what, |d| d.remove_link(i))?;
        }
        let latency = self.current.scenario.network.latency.clone();
        if !matches!(latency, Latency::Constant { .. }) {
            let constant = Latency::Constant { value: latency.typical() };
            let what = format!("latency {} -> constant {}", latency.family(), latency.typical());
            changed |= self.attempt(what, |d| d.set_network_value("latency", latency_value(&constant)))?;
        }
        Ok(changed)
    }

    /// Smaller counts to try, smallest first: the floor and the two above
    /// it, a quarter, a half, one fewer.
    fn smaller_counts(current: u64, floor: u64) -> Vec<u64> {
        let mut c: Vec<u64> = [floor, floor + 1, floor + 2, current / 4, current / 2, current.saturating_sub(1)]
            .into_iter()
            .filter(|&n| n >= floor && n < current)
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    }

    fn fewer_clients(&mut self) -> Result<bool, CliError> {
        let clients = self.current.size().clients;
        for n in Self::smaller_counts(u64::from(clients), 1) {
            if self.attempt(format!("clients {clients} -> {n}"), |d| d.set_clients(n as u32))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn fewer_operations(&mut self) -> Result<bool, CliError> {
        let w = &self.current.scenario.clients;
        if w.count == 0 {
            return Ok(false);
        }
        let clients = u64::from(w.count);
        let per_client = w.max_ops_per_client.unwrap_or_else(|| self.current.ran.operations().div_ceil(clients));
        for n in Self::smaller_counts(per_client, 1) {
            let what = format!("operations per client {per_client} -> {n}");
            if self.attempt(what, |d| d.set_workload_int("max_ops_per_client", n as i64))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn fewer_nodes(&mut self) -> Result<bool, CliError> {
        let nodes = self.current.scenario.nodes;
        for n in Self::smaller_counts(u64::from(nodes), 1) {
            if self.attempt(format!("nodes {nodes} -> {n}"), |d| d.set_nodes(n as u32))? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Each fault shorter (half as long), then later (halfway to the end).
    fn weaken_faults(&mut self) -> Result<bool, CliError> {
        let mut changed = false;
        for i in 0..self.current.doc.fault_count() {
            let name = self.current.doc.describe_fault(i);
            let mut probe = self.current.doc.clone();
            if probe.halve_fault(i) {
                changed |= self.attempt(format!("fault {} half as long: {name}", i + 1), |d| {
                    d.halve_fault(i);
                })?;
            }
            let end = self.current.scenario.duration;
            let mut probe = self.current.doc.clone();
            if probe.move_fault_later(i, end) {
                let name = self.current.doc.describe_fault(i);
                changed |= self.attempt(format!("fault {} later: {name}", i + 1), |d| {
                    d.move_fault_later(i, end);
                })?;
            }
        }
        Ok(changed)
    }

    fn shorter_liveness(&mut self) -> Result<bool, CliError> {
        let Some(liveness) = self.current.scenario.liveness else { return Ok(false) };
        let half = Duration::from_nanos(liveness.as_nanos() / 2);
        if half < MIN_DURATION || self.target.check == "liveness" {
            return Ok(false);
        }
        self.attempt(format!("liveness phase {liveness} -> {half}"), |d| {
            d.set_liveness(half);
            d.fit_max_time();
        })
    }
}

/// A new safety-phase length; faults that would start after it go, and an
/// explicit `max_time` shrinks with the run.
fn set_duration(doc: &mut ScenarioDoc, d: Duration) {
    doc.set_duration("duration", d);
    doc.drop_faults_from(d);
    doc.fit_max_time();
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn default_out(file: &Path) -> PathBuf {
    let stem = file.file_stem().map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    file.with_file_name(format!("{stem}-min.toml"))
}

pub fn shrink(args: &ShrinkArgs) -> Result<Outcome, CliError> {
    let base = load(&args.file)?;
    let seed = args.seed.unwrap_or(base.seed);
    check_seed(seed)?;
    let ran = run_caught(&base, seed)?;
    let Some(target) = ran.failed.clone() else {
        return Err(CliError::input(anyhow::anyhow!(
            "{} does not fail at seed {seed} (every check passed or was unknown): there is nothing to shrink",
            args.file.display()
        )));
    };
    println!("shrink       {} --seed {seed}: fails {}", args.file.display(), target.describe());
    let original_fingerprint = ran.fingerprint();
    let before = Current { doc: ScenarioDoc::from_scenario(&base), scenario: base.clone(), ran };

    // Chaos drawn into explicit faults first: the same run, and faults that
    // can be removed one by one.
    let path_label = args.file.display().to_string();
    let mut shrinker =
        Shrinker { seed, target, path_label, runs: 1, max_runs: args.max_runs, steps: 0, current: before };
    if base.chaos.is_some() {
        let mut doc = ScenarioDoc::from_scenario(&base);
        doc.write_out_chaos(base.chaos.as_ref(), base.nodes, base.duration, seed)
            .map_err(|e| CliError::input(anyhow::anyhow!("{}: {e}", base.path)))?;
        let scenario = crate::registry().parse_scenario(&doc.text(), &shrinker.path_label).map_err(|e| {
            CliError::from(anyhow::anyhow!("the chaos faults written out do not load (a bug in faultline): {e}"))
        })?;
        let ran = run_caught(&scenario, seed)?;
        shrinker.runs += 1;
        if ran.fingerprint() != original_fingerprint {
            return Err(CliError::from(anyhow::anyhow!(
                "the chaos faults written out replay a different run (fingerprint {} instead of \
                 {original_fingerprint}): a bug in faultline",
                ran.fingerprint()
            )));
        }
        println!("             [chaos] written out as {} explicit faults (the same run)", doc.fault_count());
        shrinker.current = Current { doc, scenario, ran };
    }
    let size_before = shrinker.current.size();
    while shrinker.budget_left() && shrinker.pass()? {}
    let ended = if shrinker.budget_left() {
        "no single edit keeps it failing".to_string()
    } else {
        format!("the run budget ({} runs) is spent", args.max_runs)
    };
    println!("done         {} steps in {} runs; {ended}", shrinker.steps, shrinker.runs);

    let after = shrinker.current.size();
    let row = |name: &str, a: String, b: String| println!("{name:<12} {a} -> {b}");
    row("faults", size_before.faults.to_string(), after.faults.to_string());
    row("clients", size_before.clients.to_string(), after.clients.to_string());
    row("operations", thousands(size_before.operations), thousands(after.operations));
    row("events", thousands(size_before.events), thousands(after.events));
    row("nodes", size_before.nodes.to_string(), after.nodes.to_string());
    row("duration", size_before.duration.to_string(), after.duration.to_string());

    let failed = shrinker.current.ran.failed.clone().unwrap_or_else(|| shrinker.target.clone());
    let fingerprint = shrinker.current.ran.fingerprint();
    let mut doc = shrinker.current.doc.clone();
    doc.set_header(&[
        format!(
            "Minimal reproducer written by `{} shrink {} --seed {seed}`: fails {}.",
            crate::program(),
            args.file.display(),
            failed.name()
        ),
        format!("{} shrinking steps kept; the run: {}", shrinker.steps, first_line(&failed.describe())),
    ]);
    doc.set_seed(seed);
    doc.set_expect("fail", Some(&failed.check), expected_fingerprint(&shrinker.current.ran).as_deref());
    let out = args.out.clone().unwrap_or_else(|| default_out(&args.file));
    let again = write_reproducer(&doc, &out)?;
    let same = again.failed.as_ref().is_some_and(|f| f.same_as(&failed)) && again.fingerprint() == fingerprint;
    if !same {
        return Err(CliError::from(anyhow::anyhow!(
            "the written reproducer {} does not fail as the shrunk run did (a bug in faultline)",
            out.display()
        )));
    }
    println!("reproducer   {} fails {}, fingerprint {fingerprint}", out.display(), failed.name());
    println!("             run it: {} run {}", crate::program(), out.display());
    Ok(Outcome::Ok)
}
