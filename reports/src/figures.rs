//! The figures a report shows, computed from a batch directory: its manifest,
//! its journal (`runs.jsonl`) and its merged histograms. Pure functions of
//! the records, in manifest then seed order, so one batch always gives the
//! same figures.

use std::collections::BTreeSet;
use std::path::Path;

use faultline_sim::report::client_metrics;
use faultline_sim::FaultWindow;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use crate::batch_dir::{HISTOGRAMS_DIR, MANIFEST_FILE, RUNS_FILE};
use crate::error::ReportError;
use crate::histograms::{self, MergedHistograms};
use crate::manifest::Manifest;
use crate::record::{RunRecord, Tally};
use crate::runlog::read_journal;

/// Counters a batch of partitioned runs records (protocols/src/check/cap.rs).
pub mod cap_counters {
    pub const MINORITY_OPS: &str = "minority_ops";
    pub const MINORITY_OK: &str = "minority_ops_ok";
    pub const MAJORITY_OPS: &str = "majority_ops";
    pub const MAJORITY_OK: &str = "majority_ops_ok";
    pub const STALE_READS: &str = "stale_reads";
    pub const READS: &str = "reads_total";
}

/// A batch directory, read for reporting.
pub struct Batch {
    pub manifest: Manifest,
    /// One per scenario file, in the manifest's (command-line) order.
    pub scenarios: Vec<ScenarioRuns>,
}

/// One scenario's runs.
pub struct ScenarioRuns {
    pub name: String,
    pub file: String,
    /// Empty when no run of it is recorded.
    pub protocol: String,
    /// In seed order.
    pub records: Vec<RunRecord>,
    /// Client latency merged over the seeds, in microseconds.
    pub latency_us: Option<Histogram<u64>>,
}

fn not_a_batch(dir: &Path, message: String) -> ReportError {
    ReportError::Mismatch { dir: dir.to_path_buf(), message }
}

/// Reads the batch in `dir`: the manifest, every recorded run (first copy
/// of each), and each scenario's merged client latency — from
/// `histograms/<scenario>/client_latency_us.hdr`, or merged from the records
/// when the batch never got as far as writing it.
pub fn load(dir: &Path) -> Result<Batch, ReportError> {
    if !dir.is_dir() {
        return Err(not_a_batch(
            dir,
            "no such directory: give the --out directory of a `faultline batch` or `faultline merge`".to_string(),
        ));
    }
    let manifest_path = dir.join(MANIFEST_FILE);
    if !manifest_path.is_file() {
        return Err(not_a_batch(
            dir,
            format!(
                "not a batch directory: it has no {MANIFEST_FILE} (write one with `faultline batch ... --out DIR`)"
            ),
        ));
    }
    let manifest = Manifest::read(&manifest_path)?;
    let mut records = read_journal(&dir.join(RUNS_FILE))?.records;
    records.sort_by_key(RunRecord::key);
    let mut seen = BTreeSet::new();
    records.retain(|r| seen.insert(r.key()));
    let mut scenarios: Vec<ScenarioRuns> = manifest
        .scenarios
        .iter()
        .map(|s| ScenarioRuns {
            name: s.name.clone(),
            file: s.file.clone(),
            protocol: String::new(),
            records: Vec::new(),
            latency_us: None,
        })
        .collect();
    for record in records {
        let Some(scenario) = scenarios.get_mut(record.scenario_index) else {
            return Err(not_a_batch(
                dir,
                format!(
                    "{RUNS_FILE} holds a run ({} seed {}) of a scenario its {MANIFEST_FILE} does not list",
                    record.file, record.seed
                ),
            ));
        };
        if scenario.protocol.is_empty() {
            scenario.protocol = record.protocol.clone();
        }
        scenario.records.push(record);
    }
    for scenario in &mut scenarios {
        scenario.latency_us = merged_latency(dir, scenario)?;
    }
    Ok(Batch { manifest, scenarios })
}

fn merged_latency(dir: &Path, scenario: &ScenarioRuns) -> Result<Option<Histogram<u64>>, ReportError> {
    let metric = client_metrics::LATENCY_US;
    let path = dir
        .join(HISTOGRAMS_DIR)
        .join(histograms::file_name(&scenario.name))
        .join(format!("{}.hdr", histograms::file_name(metric)));
    let histogram = match std::fs::read(&path) {
        Ok(bytes) => Deserializer::new().deserialize(&mut bytes.as_slice()).map_err(|e| ReportError::Histogram {
            metric: metric.to_string(),
            message: format!("{}: {e:?}", path.display()),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut merged = MergedHistograms::default();
            for record in &scenario.records {
                if let Some(text) = record.histograms.get(metric) {
                    merged.add(metric, &histograms::decode(metric, text)?)?;
                }
            }
            let first = merged.iter().next().map(|(_, h)| h.clone());
            match first {
                Some(h) => h,
                None => return Ok(None),
            }
        }
        Err(e) => return Err(ReportError::io(path, e)),
    };
    Ok((!histogram.is_empty()).then_some(histogram))
}

/// The `q`-quantile of `sorted` by nearest rank.
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// A ratio pooled over seeds (sum of numerators over sum of denominators),
/// with the spread of the per-seed ratios.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub pooled: f64,
    /// 10th and 90th percentile of the per-seed ratios.
    pub p10: f64,
    pub p90: f64,
    /// Seeds with a non-zero denominator.
    pub seeds: usize,
}

impl Spread {
    /// Over `(numerator, denominator)` per seed; seeds with a zero
    /// denominator are left out; `None` when none is left.
    pub fn of(pairs: impl Iterator<Item = (u64, u64)>) -> Option<Spread> {
        let (mut num, mut den) = (0u64, 0u64);
        let mut ratios = Vec::new();
        for (n, d) in pairs.filter(|&(_, d)| d > 0) {
            num += n;
            den += d;
            ratios.push(n as f64 / d as f64);
        }
        if ratios.is_empty() {
            return None;
        }
        ratios.sort_by(f64::total_cmp);
        Some(Spread {
            pooled: num as f64 / den as f64,
            p10: nearest_rank(&ratios, 0.1),
            p90: nearest_rank(&ratios, 0.9),
            seeds: ratios.len(),
        })
    }
}

/// One scenario's point on the CAP chart.
#[derive(Clone, Debug, PartialEq)]
pub struct CapPoint {
    /// Availability (successful / invoked operations) of clients homed on
    /// the minority side while a partition was in force.
    pub minority: Option<Spread>,
    pub majority: Option<Spread>,
    /// Stale reads as a fraction of all reads.
    pub stale: Option<Spread>,
    /// Seeds that failed a consistency check, and all seeds.
    pub violating_seeds: usize,
    pub seeds: usize,
}

impl CapPoint {
    pub fn violation_rate(&self) -> f64 {
        self.violating_seeds as f64 / self.seeds.max(1) as f64
    }
}

impl ScenarioRuns {
    pub fn tally(&self) -> Tally<'_> {
        Tally::of(&self.records)
    }

    /// The scenario's label in plots and tables: its name and protocol.
    pub fn label(&self) -> String {
        if self.protocol.is_empty() {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, self.protocol)
        }
    }

    fn counter_pairs<'a>(&'a self, num: &'a str, den: &'a str) -> impl Iterator<Item = (u64, u64)> + 'a {
        self.records.iter().filter_map(move |r| Some((*r.counters.get(num)?, *r.counters.get(den)?)))
    }

    /// Seeds where a safety or consistency check failed.
    pub fn violating_seeds(&self) -> usize {
        self.records.iter().filter(|r| r.violation).count()
    }

    /// The CAP figures, for a scenario whose runs recorded partition
    /// counters (some partition happened in some seed).
    pub fn cap(&self) -> Option<CapPoint> {
        use cap_counters::*;
        if !self.records.iter().any(|r| r.counters.contains_key(MINORITY_OPS)) {
            return None;
        }
        Some(CapPoint {
            minority: Spread::of(self.counter_pairs(MINORITY_OK, MINORITY_OPS)),
            majority: Spread::of(self.counter_pairs(MAJORITY_OK, MAJORITY_OPS)),
            stale: self.stale_reads(),
            violating_seeds: self.violating_seeds(),
            seeds: self.records.len(),
        })
    }

    /// Stale reads as a fraction of all reads.
    pub fn stale_reads(&self) -> Option<Spread> {
        Spread::of(self.counter_pairs(cap_counters::STALE_READS, cap_counters::READS))
    }

    /// Successful client operations as a fraction of all that ended.
    pub fn client_success(&self) -> Option<Spread> {
        Spread::of(self.records.iter().map(|r| (r.client_ok, r.client_ok + r.client_failed + r.client_unknown)))
    }

    /// Client latency quantile `q` in milliseconds, over every seed.
    pub fn latency_ms(&self, q: f64) -> Option<f64> {
        self.latency_us.as_ref().map(|h| h.value_at_quantile(q) as f64 / 1000.0)
    }

    /// Operations over virtual time, over every seed.
    pub fn timeline(&self) -> Option<TimelineFigures> {
        TimelineFigures::of(&self.records)
    }
}

/// One value of a metric for one run: a counter, or one of the fixed
/// columns of results.csv.
pub fn metric_value(record: &RunRecord, metric: &str) -> Option<f64> {
    let fixed = match metric {
        "events" => record.events,
        "virtual_time_s" => return Some(record.virtual_time_ns as f64 / 1e9),
        "sent" => record.sent,
        "delivered" => record.delivered,
        "dropped" => record.dropped,
        "duplicated" => record.duplicated,
        client_metrics::OK => record.client_ok,
        client_metrics::FAILED => record.client_failed,
        client_metrics::UNKNOWN => record.client_unknown,
        "latency_p50_ms" => return record.latency_us.map(|l| l.p50 as f64 / 1000.0),
        "latency_p99_ms" => return record.latency_us.map(|l| l.p99 as f64 / 1000.0),
        "latency_p999_ms" => return record.latency_us.map(|l| l.p999 as f64 / 1000.0),
        _ => return record.counters.get(metric).map(|&v| v as f64),
    };
    Some(fixed as f64)
}

/// A metric's values over one scenario's seeds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricStats {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Runs that recorded the metric.
    pub runs: usize,
}

impl MetricStats {
    pub fn of(records: &[RunRecord], metric: &str) -> Option<MetricStats> {
        let values: Vec<f64> = records.iter().filter_map(|r| metric_value(r, metric)).collect();
        if values.is_empty() {
            return None;
        }
        Some(MetricStats {
            mean: values.iter().sum::<f64>() / values.len() as f64,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            runs: values.len(),
        })
    }
}

/// Client operations over virtual time, over a scenario's seeds, in equal
/// buckets (the coarsest any seed used: runs that ended early have finer ones).
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineFigures {
    pub bucket_ns: u64,
    /// Successful completions per second of virtual time, per run (mean over
    /// the runs that lasted into the bucket).
    pub throughput_ops_s: Vec<f64>,
    /// Succeeded / invoked, over every run; `None` where nothing was invoked.
    pub success_rate: Vec<Option<f64>>,
    pub runs: usize,
    /// The faults of the first seed, and that seed.
    pub fault_windows: Vec<FaultWindow>,
    pub fault_seed: u64,
}

impl TimelineFigures {
    /// `records` in seed order; `None` when no run has a timeline.
    pub fn of(records: &[RunRecord]) -> Option<TimelineFigures> {
        let with: Vec<&RunRecord> = records.iter().filter(|r| !r.timeline.is_empty()).collect();
        let bucket_ns = with.iter().map(|r| r.timeline.bucket_ns).max()?.max(1);
        let end_ns = with.iter().map(|r| r.timeline.bucket_ns * r.timeline.invoked.len() as u64).max()?;
        let n = end_ns.div_ceil(bucket_ns) as usize;
        let mut completed = vec![0u64; n];
        let mut invoked = vec![0u64; n];
        let mut succeeded = vec![0u64; n];
        let mut runs_in = vec![0u64; n];
        for r in &with {
            let t = &r.timeline;
            let at = |i: usize| ((i as u64 * t.bucket_ns / bucket_ns) as usize).min(n - 1);
            for i in 0..t.invoked.len() {
                invoked[at(i)] += u64::from(t.invoked[i]);
                succeeded[at(i)] += u64::from(t.succeeded.get(i).copied().unwrap_or(0));
                completed[at(i)] += u64::from(t.completed.get(i).copied().unwrap_or(0));
            }
            let covered = (t.bucket_ns * t.invoked.len() as u64).div_ceil(bucket_ns) as usize;
            runs_in.iter_mut().take(covered).for_each(|c| *c += 1);
        }
        let bucket_s = bucket_ns as f64 / 1e9;
        let first = with[0];
        Some(TimelineFigures {
            bucket_ns,
            throughput_ops_s: (0..n).map(|i| completed[i] as f64 / runs_in[i].max(1) as f64 / bucket_s).collect(),
            success_rate: (0..n).map(|i| (invoked[i] > 0).then(|| succeeded[i] as f64 / invoked[i] as f64)).collect(),
            runs: with.len(),
            fault_windows: first.fault_windows.clone(),
            fault_seed: first.seed,
        })
    }

    pub fn end_s(&self) -> f64 {
        self.bucket_ns as f64 * self.throughput_ops_s.len() as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_pools_and_skips_empty_seeds() {
        let s = Spread::of([(1, 2), (0, 0), (3, 4), (10, 10)].into_iter()).unwrap();
        assert_eq!(s.seeds, 3);
        assert!((s.pooled - 14.0 / 16.0).abs() < 1e-12);
        assert_eq!(s.p10, 0.5);
        assert_eq!(s.p90, 1.0);
        assert_eq!(Spread::of([(0, 0)].into_iter()), None);
    }
}
