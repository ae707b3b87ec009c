//! The summary table (one row per scenario) that both `summary.md` and
//! `index.html` show, and `summary.md` itself.

use crate::figures::{Batch, ScenarioRuns, Spread};
use crate::metric_tables::{self, MetricTables};
use crate::plot::cdf::format_ms;
use crate::report::{PlotFile, Section};

pub const HEADERS: [&str; 14] = [
    "scenario",
    "protocol",
    "runs",
    "pass",
    "fail",
    "unknown",
    "latency p50",
    "latency p99",
    "latency p999",
    "ok ops",
    "minority avail.",
    "majority avail.",
    "stale reads",
    "violations",
];

/// What the columns mean, under the table.
pub const LEGEND: &str = "Latency: client operations of every seed merged. ok ops: successful client operations \
    of all that ended. Availability: operations invoked while a partition was in force that succeeded before that \
    partition healed, by the side of the client's home node (pooled over seeds; – when no partition happened). \
    Stale reads: reads that returned a value older than the latest completed write, of all reads. Violations: \
    seeds that failed a check the protocol declares as a safety or consistency check.";

fn percent(s: Option<Spread>) -> String {
    s.map_or_else(|| "–".to_string(), |s| format!("{:.1}%", s.pooled * 100.0))
}

/// One row of the table, unescaped.
pub fn row(s: &ScenarioRuns) -> [String; 14] {
    let tally = s.tally();
    let latency = |q| s.latency_ms(q).map_or_else(|| "–".to_string(), format_ms);
    let cap = s.cap();
    [
        s.name.clone(),
        s.protocol.clone(),
        s.records.len().to_string(),
        tally.pass.to_string(),
        tally.fail.to_string(),
        tally.unknown.to_string(),
        latency(0.5),
        latency(0.99),
        latency(0.999),
        percent(s.client_success()),
        percent(cap.as_ref().and_then(|c| c.minority)),
        percent(cap.as_ref().and_then(|c| c.majority)),
        percent(s.stale_reads()),
        format!("{} of {}", s.violating_seeds(), s.records.len()),
    ]
}

/// Text safe in a Markdown table cell: no HTML tag, no emphasis or link
/// syntax, no cell break.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A Markdown table; columns from `first_numeric` on are right-aligned.
fn markdown_table<const N: usize>(md: &mut String, headers: &[&str; N], rows: &[[String; N]], first_numeric: usize) {
    md.push_str(&format!("| {} |\n", headers.join(" | ")));
    md.push_str(&format!(
        "|{}\n",
        (0..N).map(|i| if i < first_numeric { " --- |" } else { " ---: |" }).collect::<String>()
    ));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| escape_markdown(c)).collect();
        md.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
}

/// `summary.md`: the batch, the tables, the scenarios and links to every plot.
pub fn markdown(batch: &Batch, tables: &MetricTables, sections: &[Section]) -> String {
    let m = &batch.manifest;
    let mut md = String::from("# faultline report\n\n");
    md.push_str(&format!(
        "{} scenario{}, seeds {}{}, faultline {}. Data: [results.csv](../results.csv), \
         [timings.csv](../timings.csv), [manifest.json](../manifest.json).\n\n",
        m.scenarios.len(),
        if m.scenarios.len() == 1 { "" } else { "s" },
        m.seeds,
        m.shard.map(|s| format!(" (shard {s})")).unwrap_or_default(),
        escape_markdown(&m.faultline_version),
    ));
    md.push_str("## Summary\n\n");
    let rows: Vec<[String; 14]> = batch.scenarios.iter().map(row).collect();
    markdown_table(&mut md, &HEADERS, &rows, 2);
    md.push_str(&format!("\n{LEGEND}\n\n## Protocol metrics\n\n"));
    if tables.counters.is_empty() && tables.histograms.is_empty() {
        md.push_str("No run of this batch recorded a counter or a histogram.\n");
    } else {
        markdown_table(&mut md, &metric_tables::COUNTER_HEADERS, &tables.counters, 2);
        md.push('\n');
        markdown_table(&mut md, &metric_tables::HISTOGRAM_HEADERS, &tables.histograms, 2);
        md.push_str(&format!("\n{}\n", metric_tables::LEGEND));
    }
    if !tables.trials.is_empty() {
        md.push_str("\n## Timed trials\n\n");
        markdown_table(&mut md, &crate::trials::HEADERS, &tables.trials, 2);
        md.push_str(&format!("\n{}\n", crate::trials::LEGEND));
    }
    md.push_str("\n## Scenarios\n\n");
    for s in &batch.scenarios {
        md.push_str(&format!("- {}: {}\n", escape_markdown(&s.name), escape_markdown(&s.file)));
    }
    md.push_str("\n## Plots\n");
    for section in sections {
        md.push_str(&format!("\n### {}\n\n", escape_markdown(&section.title)));
        if section.plots.is_empty() {
            md.push_str(&format!("{}\n", escape_markdown(&section.empty)));
        }
        for PlotFile { stem, title, .. } in &section.plots {
            md.push_str(&format!("- {}: [SVG]({stem}.svg), [PNG]({stem}.png)\n", escape_markdown(title)));
        }
    }
    md
}
