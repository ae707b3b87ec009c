//! `faultline report DIR`: a batch directory's plots, summary table and
//! self-contained `index.html`, written into `DIR/report/`:
//!
//! ```text
//! DIR/report/index.html            every plot inlined (SVG), the summary table, links
//! DIR/report/summary.md            the same table, and links to the plots
//! DIR/report/latency-cdf.{svg,png} client latency CDF, one curve per scenario
//! DIR/report/timeline-S.{svg,png}  throughput and success rate over virtual time
//! DIR/report/cap.{svg,png}         availability under partition vs consistency
//! DIR/report/metric-M.{svg,png}    one metric across scenarios
//! ```
//!
//! Everything is a function of the batch's records: no timestamp, no path of
//! the machine, so the same batch gives the same bytes.

use std::path::{Path, PathBuf};

use crate::atomic::{create_dir, write_atomically};
use crate::error::ReportError;
use crate::figures::{self, Batch, MetricStats};
use crate::histograms::file_name;
use crate::metric_tables::MetricTables;
use crate::plot::cap::{CapChart, CapEntry};
use crate::plot::cdf::{Curve, LatencyCdf};
use crate::plot::compare::CompareChart;
use crate::plot::timeline::TimelinePlot;
use crate::plot::trials::{TrialCurve, TrialsCdf};
use crate::plot::{render, Figure, Rendered};
use crate::{html, summary};

/// The report's directory inside the batch directory.
pub const REPORT_DIR: &str = "report";
pub const INDEX_FILE: &str = "index.html";
pub const SUMMARY_FILE: &str = "summary.md";

/// The metrics each protocol declares worth comparing (the protocol
/// registry answers it), for reports where the user named none.
pub type DeclaredMetrics<'a> = &'a dyn Fn(&str) -> Vec<String>;

/// One plot of the report, drawn.
pub struct PlotFile {
    /// File name without extension.
    pub stem: String,
    pub title: String,
    /// What the plot shows, for the caption.
    pub caption: String,
    pub rendered: Rendered,
}

/// A section of the report: a heading and its plots.
pub struct Section {
    pub title: String,
    /// What to say when there is nothing to plot.
    pub empty: String,
    pub plots: Vec<PlotFile>,
}

/// Where the report went.
pub struct Written {
    pub dir: PathBuf,
    pub index: PathBuf,
}

fn draw(stem: String, title: String, caption: String, figure: &impl Figure) -> Result<PlotFile, ReportError> {
    let rendered = render(figure).map_err(|message| {
        ReportError::io(format!("{stem}.svg"), std::io::Error::other(format!("cannot draw the plot: {message}")))
    })?;
    Ok(PlotFile { stem, title, caption, rendered })
}

/// Reads the batch in `dir` and writes its report into `dir/report/`;
/// `metrics` are the counters to compare across scenarios (default: what
/// the batch's protocols declare, in scenario order).
pub fn write_report(dir: &Path, metrics: &[String], declared: DeclaredMetrics<'_>) -> Result<Written, ReportError> {
    let batch = figures::load(dir)?;
    let sections = sections(&batch, metrics, declared)?;
    let out = dir.join(REPORT_DIR);
    create_dir(&out)?;
    for plot in sections.iter().flat_map(|s| &s.plots) {
        write_atomically(&out.join(format!("{}.svg", plot.stem)), plot.rendered.svg.as_bytes())?;
        write_atomically(&out.join(format!("{}.png", plot.stem)), &plot.rendered.png)?;
    }
    let tables = MetricTables::of(&batch)?;
    write_atomically(&out.join(SUMMARY_FILE), summary::markdown(&batch, &tables, &sections).as_bytes())?;
    let index = out.join(INDEX_FILE);
    write_atomically(&index, html::index(&batch, &tables, &sections).as_bytes())?;
    Ok(Written { dir: out, index })
}

fn sections(batch: &Batch, metrics: &[String], declared: DeclaredMetrics<'_>) -> Result<Vec<Section>, ReportError> {
    let mut sections = Vec::new();

    let curves: Vec<Curve> = batch
        .scenarios
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.latency_us.as_ref().map(|h| Curve::of(s.label(), i, h)))
        .collect();
    let mut latency = Section {
        title: "Client latency".to_string(),
        empty: "No client operation completed in this batch.".to_string(),
        plots: Vec::new(),
    };
    if !curves.is_empty() {
        latency.plots.push(draw(
            "latency-cdf".to_string(),
            "Client latency CDF".to_string(),
            "Fraction of successful client operations completed within a latency (log scale), every seed of a \
             scenario merged; the dots mark p50, p99 and p99.9, whose values the legend gives."
                .to_string(),
            &LatencyCdf { curves },
        )?);
    }
    sections.push(latency);

    let mut timelines = Section {
        title: "Throughput and success rate over time".to_string(),
        empty: "No run in this batch had clients.".to_string(),
        plots: Vec::new(),
    };
    for (i, s) in batch.scenarios.iter().enumerate() {
        let Some(t) = s.timeline() else { continue };
        let faults = if t.fault_windows.is_empty() {
            format!("No fault struck seed {}.", t.fault_seed)
        } else {
            format!(
                "Shaded: the faults in force in seed {} (the first seed); a scenario with [chaos] draws \
                 different faults for every seed.",
                t.fault_seed
            )
        };
        timelines.plots.push(draw(
            format!("timeline-{}", file_name(&s.name)),
            format!("{}: throughput and success rate", s.label()),
            format!(
                "Top: successful operations per second of virtual time, the mean of {} runs, in buckets of {} ms. \
                 Bottom: of the operations invoked in a bucket, the share that succeeded (all seeds pooled). {faults}",
                t.runs,
                t.bucket_ns / 1_000_000
            ),
            &TimelinePlot { label: s.label(), colour: i, figures: &t },
        )?);
    }
    sections.push(timelines);

    let entries: Vec<CapEntry> = batch
        .scenarios
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.cap().map(|point| CapEntry { label: s.label(), colour: i, point }))
        .collect();
    let mut cap = Section {
        title: "Availability and consistency under partition".to_string(),
        empty: "No scenario of this batch had a partition, so there is no CAP chart; \
                scenarios/cap/ holds the scenarios made for it."
            .to_string(),
        plots: Vec::new(),
    };
    if !entries.is_empty() {
        cap.plots.push(draw(
            "cap".to_string(),
            "Availability under partition vs consistency".to_string(),
            "For every scenario with partitions: x is the share of operations invoked during a partition that \
             succeeded before it healed, for clients homed on the minority side (circle) and on the majority side (square), pooled \
             over seeds, with bars from the 10th to the 90th percentile of the seeds. Left, y is the share of seeds \
             that failed a safety or consistency check; right, the share of reads that were stale. \
             A CP system sits at the bottom with its circle on the left; an AP one further right and higher."
                .to_string(),
            &CapChart { entries },
        )?);
    }
    sections.push(cap);

    let mut failover = Section {
        title: "Leader failover".to_string(),
        empty: "No leader crashed in this batch, so there is no failover to time.".to_string(),
        plots: Vec::new(),
    };
    let trials = crate::trials::all(&batch.scenarios)?;
    for (histogram, what) in
        [("failover_us", "a majority of the survivors know a new leader"), ("elected_us", "a new leader is elected")]
    {
        let curves: Vec<TrialCurve> = trials
            .iter()
            .filter(|(_, t)| t.kind.histogram == histogram)
            .map(|(i, t)| TrialCurve {
                label: batch.scenarios[*i].label(),
                colour: *i,
                points: t.cdf(),
                trials: t.total(),
                censored: t.censored.len(),
                censored_after_ms: t.censored.first().copied(),
            })
            .collect();
        if curves.is_empty() {
            continue;
        }
        let stem = histogram.trim_end_matches("_us");
        for log in [true, false] {
            failover.plots.push(draw(
                format!("{stem}-cdf{}", if log { "" } else { "-linear" }),
                format!("{histogram}: time from a leader crash until {what}{}", if log { " (log scale)" } else { "" }),
                format!(
                    "Fraction of trials (one per leader crash) finished within a time{}, every seed pooled. \
                     Censored trials (not finished when the run ended) stay in the denominator: a curve with \
                     any tops out below 1 and goes on dashed, and the legend says how many and after how long.",
                    if log { ", log time axis" } else { "" }
                ),
                &TrialsCdf { title: format!("{histogram}: crash until {what}"), log, curves: curves.clone() },
            )?);
        }
    }
    sections.push(failover);

    let mut chosen: Vec<String> = Vec::new();
    let asked: Vec<String> = if metrics.is_empty() {
        batch.scenarios.iter().flat_map(|s| declared(&s.protocol)).collect()
    } else {
        metrics.to_vec()
    };
    for m in asked {
        if !chosen.contains(&m) {
            chosen.push(m);
        }
    }
    let mut compare = Section {
        title: "Metrics across scenarios".to_string(),
        empty: "No metric was asked for.".to_string(),
        plots: Vec::new(),
    };
    for metric in &chosen {
        let rows = batch
            .scenarios
            .iter()
            .enumerate()
            .map(|(i, s)| (s.label(), i, MetricStats::of(&s.records, metric)))
            .collect();
        compare.plots.push(draw(
            format!("metric-{}", file_name(metric)),
            format!("{metric} across scenarios"),
            format!(
                "{metric} per run: the dot is the mean over the seeds, the whiskers the smallest and largest \
                 value; \"not recorded\" when no run of the scenario recorded it."
            ),
            &CompareChart { metric: metric.clone(), rows },
        )?);
    }
    sections.push(compare);
    Ok(sections)
}
