//! results.csv and timings.csv. results.csv is tidy — one row per scenario x
//! seed, one column per figure — and a pure function of the records: no wall
//! clock, rows in (scenario, seed) order, numbers printed from integers, so
//! the same batch gives the same bytes however many threads ran it and
//! however often it was interrupted. Wall-clock time goes to timings.csv.

use std::collections::BTreeSet;

use faultline_sim::metrics::{Censored, CENSORED};

use crate::error::ReportError;
use crate::record::RunRecord;

/// The columns every results.csv starts with; a column per counter follows.
pub const FIXED_COLUMNS: [&str; 20] = [
    "scenario",
    "file",
    "protocol",
    "seed",
    "fingerprint",
    "verdict",
    "failed_check",
    "end",
    "events",
    "virtual_time_s",
    "sent",
    "delivered",
    "dropped",
    "duplicated",
    "client_ok",
    "client_failed",
    "client_unknown",
    "latency_p50_ms",
    "latency_p99_ms",
    "latency_p999_ms",
];

/// Nanoseconds as seconds, exactly: `25000000001` -> `25.000000001`.
fn seconds(ns: u64) -> String {
    format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
}

/// Microseconds as milliseconds, exactly: `14543` -> `14.543`.
fn millis(us: u64) -> String {
    format!("{}.{:03}", us / 1_000, us % 1_000)
}

/// `records` must be sorted by [`RunRecord::key`].
pub fn results_csv(records: &[RunRecord]) -> Result<Vec<u8>, ReportError> {
    let counters: BTreeSet<&str> = records.iter().flat_map(|r| r.counters.keys().map(String::as_str)).collect();
    // A timed trial's median per run (the trial itself, when the run had
    // one), beside the counter of its censored trials.
    let trials: Vec<&Censored> = CENSORED.iter().filter(|c| counters.contains(c.counter)).collect();
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = FIXED_COLUMNS.iter().map(|c| c.to_string()).collect();
    // A counter never hides a fixed column of the same name.
    header.extend(
        counters.iter().map(|c| if FIXED_COLUMNS.contains(c) { format!("counter_{c}") } else { c.to_string() }),
    );
    header.extend(trials.iter().map(|c| format!("{}_p50_ms", c.histogram.trim_end_matches("_us"))));
    out.write_record(&header)?;
    for r in records {
        let latency = |q: fn(&crate::record::LatencyUs) -> u64| r.latency_us.as_ref().map(q).map(millis);
        let mut row: Vec<String> = vec![
            r.scenario.clone(),
            r.file.clone(),
            r.protocol.clone(),
            r.seed.to_string(),
            r.fingerprint.clone(),
            r.verdict.as_str().to_string(),
            r.failed_check.clone().unwrap_or_default(),
            r.end.clone(),
            r.events.to_string(),
            seconds(r.virtual_time_ns),
            r.sent.to_string(),
            r.delivered.to_string(),
            r.dropped.to_string(),
            r.duplicated.to_string(),
            r.client_ok.to_string(),
            r.client_failed.to_string(),
            r.client_unknown.to_string(),
            latency(|l| l.p50).unwrap_or_default(),
            latency(|l| l.p99).unwrap_or_default(),
            latency(|l| l.p999).unwrap_or_default(),
        ];
        row.extend(counters.iter().map(|c| r.counters.get(*c).map(u64::to_string).unwrap_or_default()));
        for c in &trials {
            let p50 = match r.histograms.get(c.histogram) {
                Some(text) => {
                    let h = crate::histograms::decode(c.histogram, text)?;
                    millis(h.median_equivalent(h.value_at_quantile(0.5)))
                }
                None => String::new(),
            };
            row.push(p50);
        }
        out.write_record(&row)?;
    }
    out.into_inner().map_err(|e| ReportError::Csv(e.into_error().into()))
}

/// scenario, seed, wall_time_s — the only file with wall-clock figures.
pub fn timings_csv(records: &[RunRecord]) -> Result<Vec<u8>, ReportError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["scenario", "seed", "wall_time_s"])?;
    for r in records {
        out.write_record([r.scenario.as_str(), &r.seed.to_string(), &format!("{:.6}", r.wall_time_s)])?;
    }
    out.into_inner().map_err(|e| ReportError::Csv(e.into_error().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_exactly() {
        assert_eq!(seconds(25_000_000_001), "25.000000001");
        assert_eq!(seconds(0), "0.000000000");
        assert_eq!(millis(14_543), "14.543");
        assert_eq!(millis(7), "0.007");
    }

    #[test]
    fn counter_columns_are_the_union_sorted_by_name() {
        let mut a = RunRecord::panicked(0, "s", "s.toml", "raft", 1, "x", 0.1);
        let mut b = RunRecord::panicked(0, "s", "s.toml", "raft", 2, "x", 0.1);
        a.counters.insert("zeta".into(), 3);
        b.counters.insert("alpha".into(), 4);
        b.counters.insert("events".into(), 5);
        let text = String::from_utf8(results_csv(&[a, b]).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with(",latency_p999_ms,alpha,counter_events,zeta"), "{}", lines[0]);
        assert!(lines[1].ends_with(",,,3"), "{}", lines[1]);
        assert!(lines[2].ends_with(",4,5,"), "{}", lines[2]);
    }
}
