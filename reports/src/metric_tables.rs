//! The protocols' own figures, per scenario, for the report's tables: every
//! counter summed over the seeds — per run and per virtual second — and
//! every histogram merged over the seeds. A batch of dueling proposers
//! reads its decisions per second and ballots per decision here.

use hdrhistogram::Histogram;

use crate::error::ReportError;
use crate::figures::Batch;
use crate::histograms::MergedHistograms;
use crate::record::RunRecord;

pub const COUNTER_HEADERS: [&str; 6] = ["scenario", "counter", "runs", "total", "per run", "per virtual second"];
pub const HISTOGRAM_HEADERS: [&str; 7] = ["scenario", "histogram", "samples", "mean", "p50", "p99", "max"];

/// What the columns mean, under the tables.
pub const LEGEND: &str = "Counters: summed over the runs that recorded them; per run is that sum over those runs, \
    per virtual second that sum over their virtual time (the liveness phase included). Histograms: every seed's \
    samples merged, in the unit the name gives (a name without one counts things); p50 and p99 by HdrHistogram's \
    value at quantile.";

/// The rows of both tables, unescaped, scenario by scenario in the batch's order.
pub struct MetricTables {
    pub counters: Vec<[String; 6]>,
    pub histograms: Vec<[String; 7]>,
    /// Timed trials with their censored ones ([`crate::trials`]).
    pub trials: Vec<[String; 10]>,
}

/// A figure with at most three decimals, without trailing zeros.
fn figure(x: f64) -> String {
    let text = format!("{x:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

fn histogram_row(scenario: &str, metric: &str, h: &Histogram<u64>) -> [String; 7] {
    [
        scenario.to_string(),
        metric.to_string(),
        h.len().to_string(),
        figure(h.mean()),
        h.value_at_quantile(0.5).to_string(),
        h.value_at_quantile(0.99).to_string(),
        h.max().to_string(),
    ]
}

impl MetricTables {
    pub fn of(batch: &Batch) -> Result<MetricTables, ReportError> {
        let mut counters = Vec::new();
        let mut histogram_rows = Vec::new();
        for s in &batch.scenarios {
            let names: std::collections::BTreeSet<&str> =
                s.records.iter().flat_map(|r| r.counters.keys().map(String::as_str)).collect();
            for name in names {
                let recorded: Vec<(&RunRecord, u64)> =
                    s.records.iter().filter_map(|r| r.counters.get(name).map(|&v| (r, v))).collect();
                let total = recorded.iter().fold(0u64, |sum, &(_, v)| sum.saturating_add(v));
                let seconds: f64 = recorded.iter().map(|(r, _)| r.virtual_time_ns as f64 / 1e9).sum();
                let per_second = if seconds > 0.0 { figure(total as f64 / seconds) } else { "–".to_string() };
                counters.push([
                    s.name.clone(),
                    name.to_string(),
                    recorded.len().to_string(),
                    total.to_string(),
                    figure(total as f64 / recorded.len() as f64),
                    per_second,
                ]);
            }
            let mut merged = MergedHistograms::default();
            for record in &s.records {
                merged.add_encoded(&record.histograms)?;
            }
            for (metric, h) in merged.iter().filter(|(_, h)| !h.is_empty()) {
                histogram_rows.push(histogram_row(&s.name, metric, h));
            }
        }
        let trials =
            crate::trials::all(&batch.scenarios)?.iter().map(|(i, t)| t.row(&batch.scenarios[*i].name)).collect();
        Ok(MetricTables { counters, histograms: histogram_rows, trials })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_sim::metrics::new_histogram;

    #[test]
    fn figures_drop_trailing_zeros() {
        assert_eq!(figure(2.0), "2");
        assert_eq!(figure(2.5), "2.5");
        assert_eq!(figure(1.0 / 3.0), "0.333");
        assert_eq!(figure(0.0), "0");
    }

    #[test]
    fn histogram_rows_give_count_mean_and_quantiles() {
        let mut h = new_histogram();
        for v in [1u64, 1, 2, 8] {
            h.record(v).unwrap();
        }
        let row = histogram_row("s", "ballots_per_decision", &h);
        assert_eq!(row, ["s", "ballots_per_decision", "4", "3", "1", "8", "8"].map(String::from));
    }
}
