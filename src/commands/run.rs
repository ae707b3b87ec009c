//! `faultline run` and `faultline validate`.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use faultline_protocols::Loaded;
use faultline_protocols::RunOptions;
use faultline_reports::CoverageTally;
use faultline_sim::report::client_metrics;
use faultline_sim::{EndReason, RunReport, Verdict};
use serde_json::json;

use super::{CliError, Outcome};
use crate::cli::RunArgs;
use crate::output::{info, paint, thousands};

pub fn load(path: &Path) -> Result<Loaded, CliError> {
    crate::registry().load_scenario(path).map_err(CliError::input)
}

pub fn validate(files: &[PathBuf]) -> Result<Outcome, CliError> {
    let mut errors = Vec::new();
    for file in files {
        match crate::registry().load_scenario(file) {
            Ok(s) => println!(
                "{}: ok ({}, {} nodes, {} scheduled faults{})",
                file.display(),
                s.protocol,
                s.nodes,
                s.faults.len(),
                if s.chaos.is_some() { ", chaos" } else { "" }
            ),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        return Ok(Outcome::Ok);
    }
    let count = errors.len();
    Err(CliError::input(anyhow::anyhow!(
        "{}\n{count} of {} scenario files are invalid",
        errors.join("\n"),
        files.len()
    )))
}

/// Wall-clock time of a run's phases.
pub struct Timing {
    pub total: Duration,
    /// Simulation alone, when the protocol reports its phases.
    pub simulate: Option<Duration>,
    /// History checks alone.
    pub check: Option<Duration>,
}

fn create(path: &Path, what: &str) -> Result<BufWriter<File>, CliError> {
    File::create(path)
        .with_context(|| format!("cannot create {what} {}", path.display()))
        .map(BufWriter::new)
        .map_err(CliError::input)
}

/// A writer that keeps the first error its inner writer returns, where the
/// command can read it after the run: the trace sink swallows write errors
/// (a run goes on however its trace fares), the command must not.
struct Recording<W> {
    inner: W,
    error: Arc<Mutex<Option<std::io::Error>>>,
}

impl<W: Write> Recording<W> {
    fn keep<T>(&self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result {
            let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(std::io::Error::new(e.kind(), e.to_string()));
            }
        }
        result
    }
}

impl<W: Write> Write for Recording<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.keep(r)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.keep(r)
    }
}

fn one_run(
    scenario: &Loaded,
    seed: u64,
    trace: Option<&Path>,
    history_out: Option<&Path>,
) -> Result<(RunReport, Timing), CliError> {
    let mut options = RunOptions::default();
    let trace_error = Arc::new(Mutex::new(None));
    if let Some(path) = trace {
        let file = File::create(path)
            .with_context(|| format!("cannot create trace file {}", path.display()))
            .map_err(CliError::input)?;
        options.trace = Some(Box::new(BufWriter::new(Recording { inner: file, error: trace_error.clone() })));
    }
    let history_error = Rc::new(RefCell::new(None));
    if let Some(path) = history_out {
        let mut file = create(path, "history file")?;
        let error = history_error.clone();
        options.history_out = Some(Box::new(move |history| {
            let written = history
                .to_json_string()
                .map_err(std::io::Error::other)
                .and_then(|json| file.write_all(json.as_bytes()).and_then(|()| file.flush()));
            if let Err(e) = written {
                *error.borrow_mut() = Some(e);
            }
        }));
    }
    let marks: Rc<RefCell<Vec<(&'static str, Instant)>>> = Rc::default();
    let sink = marks.clone();
    options.on_phase = Some(Box::new(move |phase| sink.borrow_mut().push((phase, crate::output::wall_now()))));
    let started = crate::output::wall_now();
    let report = scenario.run(seed, options);
    let total = started.elapsed();
    if let (Some(path), Some(e)) = (trace, trace_error.lock().unwrap_or_else(|p| p.into_inner()).take()) {
        return Err(CliError::from(anyhow::anyhow!("cannot write the trace file {}: {e}", path.display())));
    }
    if let Some(e) = history_error.borrow_mut().take() {
        return Err(CliError::from(anyhow::anyhow!("cannot write the history file: {e}")));
    }
    let marks = marks.borrow();
    let at = |name: &str| marks.iter().find(|(p, _)| *p == name).map(|(_, t)| *t);
    let simulated = at("simulated");
    let timing = Timing {
        total,
        simulate: simulated.map(|t| t - started),
        check: simulated.zip(at("checked")).map(|(a, b)| b - a),
    };
    Ok((report, timing))
}

pub fn run(args: &RunArgs) -> Result<Outcome, CliError> {
    let scenario = load(&args.file)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    let (report, timing) = one_run(&scenario, seed, args.trace.as_deref(), args.history_out.as_deref())?;
    let mut determinism = None;
    if args.check_determinism {
        let (again, _) = one_run(&scenario, seed, None, None)?;
        determinism = Some(again.fingerprint);
    }
    let reproduce = format!("{} run {} --seed {seed}", crate::program(), args.file.display());
    if args.json {
        print_json(&scenario, &report, &timing, determinism, &reproduce);
    } else {
        print_summary(&scenario, &report, &timing, determinism, &reproduce);
    }
    if let Some(other) = determinism {
        if other != report.fingerprint {
            return Err(CliError::from(anyhow::anyhow!(
                "nondeterminism: the same scenario and seed gave fingerprints {:016x} and {other:016x}",
                report.fingerprint
            )));
        }
    }
    // With an `[expect]`, the exit code says whether the run came out as
    // expected (a scenario that pins a failure exits 0 when it still
    // fails so); without one, whether every check passed.
    Ok(match expect_misses(&scenario, &report) {
        Some(misses) if misses.is_empty() => Outcome::Ok,
        Some(_) => Outcome::CheckFailed,
        None if report.failure().is_some() => Outcome::CheckFailed,
        None if report.verdict() == Verdict::Unknown || cut_short(&report.end) => Outcome::Unknown,
        None => Outcome::Ok,
    })
}

/// The run ended at a bound of its own (events, memory, a stopped clock, a
/// full queue) before its natural end: what it did not get to is unjudged.
fn cut_short(end: &EndReason) -> bool {
    matches!(end, EndReason::EventLimit | EndReason::MemoryLimit | EndReason::TimeStalled | EndReason::QueueFull)
}

struct Latency {
    p50: f64,
    p99: f64,
    p999: f64,
    count: u64,
}

fn latency(report: &RunReport) -> Option<Latency> {
    let h = report.metrics.histogram(client_metrics::LATENCY_US)?;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Some(Latency { p50: ms(0.5), p99: ms(0.99), p999: ms(0.999), count: h.len() })
}

fn sim_speed(report: &RunReport, wall: Duration) -> f64 {
    report.virtual_time.as_secs_f64() / wall.as_secs_f64().max(1e-9)
}

/// Peak resident memory of this process, from /proc (Linux); `None` elsewhere.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn print_summary(scenario: &Loaded, r: &RunReport, timing: &Timing, determinism: Option<u64>, reproduce: &str) {
    let m = &r.metrics;
    let wall = timing.simulate.unwrap_or(timing.total);
    println!("scenario     {} ({}, {} nodes) from {}", scenario.name, scenario.protocol, scenario.nodes, scenario.path);
    println!("seed         {}", r.seed);
    println!("ended        {} at {} virtual", r.end.describe(), r.virtual_time);
    println!(
        "events       {}  simulated in {:.3}s wall  {:.1}x real time  {:.2}M events/s",
        thousands(r.events),
        wall.as_secs_f64(),
        sim_speed(r, wall),
        r.events as f64 / wall.as_secs_f64().max(1e-9) / 1e6
    );
    match (timing.check, peak_rss_bytes()) {
        (Some(check), Some(rss)) => println!(
            "wall time    checks {:.3}s  total {:.3}s  peak RSS {:.1} MiB",
            check.as_secs_f64(),
            timing.total.as_secs_f64(),
            rss as f64 / 1048576.0
        ),
        (check, rss) => println!(
            "wall time    {}total {:.3}s{}",
            check.map(|c| format!("checks {:.3}s  ", c.as_secs_f64())).unwrap_or_default(),
            timing.total.as_secs_f64(),
            rss.map(|b| format!("  peak RSS {:.1} MiB", b as f64 / 1048576.0)).unwrap_or_default()
        ),
    }
    let n = &r.net;
    println!(
        "network      sent {}  delivered {}  dropped {} (loss {}, partition {}, crashed {}, session {})  duplicated {}",
        thousands(n.sent),
        thousands(n.delivered),
        thousands(n.dropped_loss + n.dropped_partition + n.dropped_crashed + n.dropped_broken_session),
        thousands(n.dropped_loss),
        thousands(n.dropped_partition),
        thousands(n.dropped_crashed),
        thousands(n.dropped_broken_session),
        thousands(n.duplicated)
    );
    let (ok, failed, unknown) =
        (m.counter(client_metrics::OK), m.counter(client_metrics::FAILED), m.counter(client_metrics::UNKNOWN));
    match latency(r) {
        Some(l) => println!(
            "client ops   ok {}  failed {}  unknown {}   latency p50 {:.3}ms  p99 {:.3}ms  p999 {:.3}ms  (n={})",
            thousands(ok),
            thousands(failed),
            thousands(unknown),
            l.p50,
            l.p99,
            l.p999,
            l.count
        ),
        None => println!(
            "client ops   ok {}  failed {}  unknown {}   latency -",
            thousands(ok),
            thousands(failed),
            thousands(unknown)
        ),
    }
    if ok > 0 {
        let secs = r.virtual_time.as_secs_f64().max(1e-9);
        println!(
            "throughput   {:.1} ops/s (virtual)  {:.1} messages per successful op",
            ok as f64 / secs,
            r.net.sent as f64 / ok as f64
        );
    }
    for (name, h) in m.histograms().filter(|(k, _)| *k != client_metrics::LATENCY_US) {
        let ms = |v: u64| v as f64 / 1000.0;
        match name.strip_suffix("_us") {
            Some(time) => println!(
                "{:<12} p50 {:.3}ms  p99 {:.3}ms  max {:.3}ms  (n={})",
                time,
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max()),
                h.len()
            ),
            // A histogram without a time unit in its name counts something
            // (ballots per decision, say): print its figures as they are.
            None => println!(
                "{:<12} mean {:.2}  p50 {}  p99 {}  max {}  (n={})",
                name,
                h.mean(),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.max(),
                h.len()
            ),
        }
    }
    println!("faults       {} applied", r.faults.len());
    for f in r.faults.iter().take(20) {
        println!("             {}  {}", f.at, f.description);
    }
    if r.faults.len() > 20 {
        println!("             ... {} more", r.faults.len() - 20);
    }
    let skipped = m.counter("faults_skipped");
    if skipped > 0 {
        println!("             {skipped} skipped (no node matched their target)");
    }
    let counters: Vec<String> = m
        .counters()
        .filter(|(k, _)| !k.starts_with("client_ops_") && *k != "faults_skipped")
        .map(|(k, v)| format!("{k} {}", thousands(v)))
        .collect();
    if !counters.is_empty() {
        println!("metrics      {}", counters.join("  "));
    }
    if r.checks.is_empty() {
        println!("checks       none for this protocol");
    }
    for c in &r.checks {
        let verdict = match c.verdict {
            Verdict::Pass => paint("pass", "32"),
            Verdict::Fail => paint("FAIL", "31;1"),
            Verdict::Unknown => paint("unknown", "33"),
        };
        println!("check        {:<22} {verdict}  {}", c.name, c.detail);
        if let Some(v) = &c.violation {
            let nodes: Vec<String> = v.nodes.iter().map(|n| n.to_string()).collect();
            println!("             at {} nodes {}", v.at, nodes.join(", "));
        }
    }
    super::coverage::print(super::coverage::declared(&r.protocol), &run_coverage(r), "", false);
    if let Some(other) = determinism {
        let same = other == r.fingerprint;
        println!(
            "determinism  {} (second run {other:016x})",
            if same { paint("same fingerprint", "32") } else { paint("DIFFERENT fingerprint", "31;1") }
        );
    }
    println!("fingerprint  {}", r.fingerprint_hex());
    if let Some(misses) = expect_misses(scenario, r) {
        if misses.is_empty() {
            println!("expected     {}", paint("met ([expect] in the scenario)", "32"));
        } else {
            println!("expected     {}: {}", paint("NOT met", "31;1"), misses.join("; "));
        }
    }
    if r.failure().is_some() {
        println!("reproduce    {reproduce}");
        info(&format!("a check failed; reproduce with: {reproduce}"));
    }
}

/// How the run missed the scenario's `[expect]`: `None` without one, empty
/// when it is met.
fn expect_misses(scenario: &Loaded, r: &RunReport) -> Option<Vec<String>> {
    let expect = scenario.expect.as_ref()?;
    let verdict = faultline_reports::RunVerdict::of(r).as_str();
    let mut misses = Vec::new();
    if verdict != expect.verdict {
        misses.push(format!("verdict {verdict}, expected {}", expect.verdict));
    }
    let failed = r.failure().map(|c| c.name.as_str());
    if expect.failed_check.is_some() && failed != expect.failed_check.as_deref() {
        misses.push(format!(
            "failed check {}, expected {}",
            failed.unwrap_or("none"),
            expect.failed_check.as_deref().unwrap_or("")
        ));
    }
    if expect.fingerprint.as_ref().is_some_and(|f| *f != r.fingerprint_hex()) {
        misses.push(format!("fingerprint expected {}", expect.fingerprint.as_deref().unwrap_or("")));
    }
    Some(misses)
}

/// One run's coverage as a tally of one run.
fn run_coverage(r: &RunReport) -> CoverageTally {
    let mut tally = CoverageTally::default();
    tally.add_run(&r.coverage);
    tally
}

fn print_json(scenario: &Loaded, r: &RunReport, timing: &Timing, determinism: Option<u64>, reproduce: &str) {
    let m = &r.metrics;
    let wall = timing.simulate.unwrap_or(timing.total);
    let lat = latency(r);
    let counters: serde_json::Map<String, serde_json::Value> =
        m.counters().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let value = json!({
        "scenario": scenario.name,
        "file": scenario.path,
        "protocol": scenario.protocol,
        "nodes": scenario.nodes,
        "seed": r.seed,
        "end": r.end,
        "events": r.events,
        "virtual_time_s": r.virtual_time.as_secs_f64(),
        "wall_time_s": timing.total.as_secs_f64(),
        "simulate_wall_time_s": wall.as_secs_f64(),
        "check_wall_time_s": timing.check.map(|c| c.as_secs_f64()),
        "peak_rss_bytes": peak_rss_bytes(),
        "sim_seconds_per_wall_second": sim_speed(r, wall),
        "network": r.net,
        "client_ops": {
            "ok": m.counter(client_metrics::OK),
            "failed": m.counter(client_metrics::FAILED),
            "unknown": m.counter(client_metrics::UNKNOWN),
        },
        "latency_ms": lat.as_ref().map(|l| json!({"p50": l.p50, "p99": l.p99, "p999": l.p999, "count": l.count})),
        "histograms_ms": m.histograms().filter(|(k, _)| k.ends_with("_us")).map(|(k, h)| (k.to_string(), json!({
            "p50": h.value_at_quantile(0.5) as f64 / 1000.0,
            "p99": h.value_at_quantile(0.99) as f64 / 1000.0,
            "max": h.max() as f64 / 1000.0,
            "count": h.len(),
        }))).collect::<serde_json::Map<String, serde_json::Value>>(),
        // Histograms without a time unit in their name count something
        // (ballots per decision, say): their figures as recorded.
        "histograms": m.histograms().filter(|(k, _)| !k.ends_with("_us")).map(|(k, h)| (k.to_string(), json!({
            "mean": h.mean(),
            "p50": h.value_at_quantile(0.5),
            "p99": h.value_at_quantile(0.99),
            "max": h.max(),
            "count": h.len(),
        }))).collect::<serde_json::Map<String, serde_json::Value>>(),
        "faults": r.faults,
        "metrics": counters,
        "checks": r.checks,
        "coverage": super::coverage::to_json(super::coverage::declared(&r.protocol), &run_coverage(r)),
        "verdict": faultline_reports::RunVerdict::of(r).as_str(),
        "expected": expect_misses(scenario, r).map(|misses| json!({"met": misses.is_empty(), "misses": misses})),
        "deterministic": determinism.map(|d| d == r.fingerprint),
        "fingerprint": r.fingerprint_hex(),
        "reproduce": reproduce,
    });
    println!("{value}");
}
