//! One run of a batch, reduced to what the reports need: the numbers of a
//! results row, the histograms to merge, and its wall time. It is one line of
//! `runs.jsonl`, so everything a report shows can be rebuilt without running
//! again. Every figure in it is an integer or a string — no float that a JSON
//! round trip could perturb — except the wall time, which only timings.csv shows.

use std::collections::BTreeMap;

use faultline_sim::report::client_metrics;
use faultline_sim::{FaultWindow, RunReport, Timeline, Verdict};
use serde::{Deserialize, Serialize};

use crate::error::ReportError;
use crate::histograms;

/// A run's verdict over all its checks.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunVerdict {
    Pass,
    Fail,
    Unknown,
}

impl RunVerdict {
    /// Fail if any check failed, else unknown if any check could not decide,
    /// else pass.
    pub fn of(report: &RunReport) -> RunVerdict {
        match report.verdict() {
            Verdict::Fail => RunVerdict::Fail,
            Verdict::Unknown => RunVerdict::Unknown,
            Verdict::Pass => RunVerdict::Pass,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunVerdict::Pass => "pass",
            RunVerdict::Fail => "fail",
            RunVerdict::Unknown => "unknown",
        }
    }
}

/// Client latency quantiles in microseconds, read from the run's
/// `client_latency_us` histogram.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyUs {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
}

/// The name `failed_check` and `end` carry for a run whose code panicked.
pub const PANIC: &str = "panic";

/// Counters shown in fixed columns of results.csv, left out of the per-counter ones.
pub const COUNTERS_IN_FIXED_COLUMNS: [&str; 3] = [client_metrics::OK, client_metrics::FAILED, client_metrics::UNKNOWN];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Position of the scenario among the batch's files (the manifest's order).
    pub scenario_index: usize,
    pub scenario: String,
    pub file: String,
    pub protocol: String,
    pub seed: u64,
    /// 16 hex digits; empty when the run panicked before producing one.
    pub fingerprint: String,
    pub verdict: RunVerdict,
    /// Name of the first failed check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_check: Option<String>,
    /// What that check said (or the panic message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_detail: Option<String>,
    /// Some check the protocol declares as a safety or consistency check
    /// failed: the system gave a wrong answer, not just a slow one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub violation: bool,
    pub end: String,
    pub events: u64,
    pub virtual_time_ns: u64,
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub client_ok: u64,
    pub client_failed: u64,
    pub client_unknown: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<LatencyUs>,
    /// Every other counter the run recorded, by name.
    pub counters: BTreeMap<String, u64>,
    /// Every histogram the run recorded, by metric name, as [`histograms::encode`] text.
    pub histograms: BTreeMap<String, String>,
    /// Client operations over virtual time (empty without clients).
    #[serde(default, skip_serializing_if = "Timeline::is_empty")]
    pub timeline: Timeline,
    /// When each fault was in force, for shading plots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fault_windows: Vec<FaultWindow>,
    /// Hits of each coverage point the protocol declares or reached (see
    /// `RunReport::coverage`); empty in records written before coverage
    /// existed, and for a run that panicked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub coverage: BTreeMap<String, u64>,
    pub wall_time_s: f64,
}

impl RunRecord {
    pub fn from_report(
        scenario_index: usize,
        file: &str,
        report: &RunReport,
        wall_time_s: f64,
    ) -> Result<RunRecord, ReportError> {
        let m = &report.metrics;
        let failure = report.failure();
        let net = &report.net;
        let latency_us = m.histogram(client_metrics::LATENCY_US).filter(|h| !h.is_empty()).map(|h| LatencyUs {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
        });
        let mut histograms = BTreeMap::new();
        for (metric, h) in m.histograms() {
            histograms.insert(metric.to_string(), histograms::encode(metric, h)?);
        }
        Ok(RunRecord {
            scenario_index,
            scenario: report.scenario.clone(),
            file: file.to_string(),
            protocol: report.protocol.clone(),
            seed: report.seed,
            fingerprint: report.fingerprint_hex(),
            verdict: RunVerdict::of(report),
            failed_check: failure.map(|c| c.name.clone()),
            failure_detail: failure.map(|c| c.detail.clone()),
            violation: report
                .checks
                .iter()
                .any(|c| c.verdict == Verdict::Fail && c.class.is_some_and(|class| class.is_violation())),
            end: serde_json::to_value(&report.end)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{:?}", report.end)),
            events: report.events,
            virtual_time_ns: report.virtual_time.as_nanos(),
            sent: net.sent,
            delivered: net.delivered,
            dropped: net.dropped_loss + net.dropped_partition + net.dropped_crashed + net.dropped_broken_session,
            duplicated: net.duplicated,
            client_ok: m.counter(client_metrics::OK),
            client_failed: m.counter(client_metrics::FAILED),
            client_unknown: m.counter(client_metrics::UNKNOWN),
            latency_us,
            counters: m
                .counters()
                .filter(|(k, _)| !COUNTERS_IN_FIXED_COLUMNS.contains(k))
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            histograms,
            timeline: report.timeline.clone(),
            fault_windows: faultline_sim::fault::windows(&report.faults, report.virtual_time),
            coverage: report.coverage.clone(),
            wall_time_s,
        })
    }

    /// A run whose code panicked: a failure of its own kind, so a batch
    /// hunting bugs goes on and reports the seed.
    pub fn panicked(
        scenario_index: usize,
        scenario: &str,
        file: &str,
        protocol: &str,
        seed: u64,
        message: &str,
        wall_time_s: f64,
    ) -> RunRecord {
        RunRecord {
            scenario_index,
            scenario: scenario.to_string(),
            file: file.to_string(),
            protocol: protocol.to_string(),
            seed,
            fingerprint: String::new(),
            verdict: RunVerdict::Fail,
            failed_check: Some(PANIC.to_string()),
            failure_detail: Some(message.to_string()),
            violation: false,
            end: PANIC.to_string(),
            events: 0,
            virtual_time_ns: 0,
            sent: 0,
            delivered: 0,
            dropped: 0,
            duplicated: 0,
            client_ok: 0,
            client_failed: 0,
            client_unknown: 0,
            latency_us: None,
            counters: BTreeMap::new(),
            histograms: BTreeMap::new(),
            timeline: Timeline::default(),
            fault_windows: Vec::new(),
            coverage: BTreeMap::new(),
            wall_time_s,
        }
    }

    /// Where this run sorts in every report: the scenario's position on the
    /// command line, then the seed.
    pub fn key(&self) -> (usize, u64) {
        (self.scenario_index, self.seed)
    }
}

/// Pass, fail and unknown counts over a set of records, and the failures in
/// report order.
pub struct Tally<'a> {
    pub pass: usize,
    pub fail: usize,
    pub unknown: usize,
    pub failures: Vec<&'a RunRecord>,
}

impl<'a> Tally<'a> {
    /// `records` must be sorted (see [`RunRecord::key`]).
    pub fn of(records: &'a [RunRecord]) -> Tally<'a> {
        let mut tally = Tally { pass: 0, fail: 0, unknown: 0, failures: Vec::new() };
        for r in records {
            match r.verdict {
                RunVerdict::Pass => tally.pass += 1,
                RunVerdict::Unknown => tally.unknown += 1,
                RunVerdict::Fail => {
                    tally.fail += 1;
                    tally.failures.push(r);
                }
            }
        }
        tally
    }
}
