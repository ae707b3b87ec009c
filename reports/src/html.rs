//! `index.html`: one self-contained page — every plot inlined as SVG, the
//! summary and metric tables, links to the batch's CSV files. No script, no external
//! style, font or image: it opens the same from a laptop, a CI artifact or
//! an air-gapped cluster. Every string that came from a user (scenario
//! names, file paths, metric names) is escaped.

use crate::figures::Batch;
use crate::metric_tables::{self, MetricTables};
use crate::report::Section;
use crate::summary::{self, HEADERS, LEGEND};

/// `text` safe anywhere in HTML text or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1150px;padding:0 1em;color:#222}\
table{border-collapse:collapse;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em}\
td.n{text-align:right}th{background:#f3f3f3}figure{margin:1.5em 0}\
figure svg{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.9em;color:#444;max-width:60em}\
.note{font-size:.9em;color:#444;max-width:60em}";

/// A table; columns from `first_numeric` on are right-aligned numbers.
fn table<const N: usize>(h: &mut String, headers: &[&str; N], rows: &[[String; N]], first_numeric: usize) {
    h.push_str("<table>\n<thead><tr>");
    for header in headers {
        h.push_str(&format!("<th>{}</th>", escape(header)));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        h.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if i >= first_numeric { " class=\"n\"" } else { "" };
            h.push_str(&format!("<td{class}>{}</td>", escape(cell)));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n");
}

/// The page, from the batch, its metric tables and its drawn sections.
pub fn index(batch: &Batch, tables: &MetricTables, sections: &[Section]) -> String {
    let m = &batch.manifest;
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<title>faultline report</title>\n");
    h.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n<h1>faultline report</h1>\n"));
    h.push_str(&format!(
        "<p>{} scenario{}, seeds {}{}, faultline {}. Data: <a href=\"../results.csv\">results.csv</a>, \
         <a href=\"../timings.csv\">timings.csv</a>, <a href=\"../manifest.json\">manifest.json</a>, \
         <a href=\"summary.md\">summary.md</a>.</p>\n",
        m.scenarios.len(),
        if m.scenarios.len() == 1 { "" } else { "s" },
        escape(&m.seeds.to_string()),
        m.shard.map(|s| format!(" (shard {})", escape(&s.to_string()))).unwrap_or_default(),
        escape(&m.faultline_version),
    ));
    h.push_str("<h2 id=\"summary\">Summary</h2>\n");
    let rows: Vec<[String; 14]> = batch.scenarios.iter().map(summary::row).collect();
    table(&mut h, &HEADERS, &rows, 2);
    h.push_str(&format!("<p class=\"note\">{}</p>\n", escape(LEGEND)));
    h.push_str("<h2 id=\"protocol-metrics\">Protocol metrics</h2>\n");
    if tables.counters.is_empty() && tables.histograms.is_empty() {
        h.push_str("<p class=\"note\">No run of this batch recorded a counter or a histogram.</p>\n");
    } else {
        table(&mut h, &metric_tables::COUNTER_HEADERS, &tables.counters, 2);
        table(&mut h, &metric_tables::HISTOGRAM_HEADERS, &tables.histograms, 2);
        h.push_str(&format!("<p class=\"note\">{}</p>\n", escape(metric_tables::LEGEND)));
    }
    if !tables.trials.is_empty() {
        h.push_str("<h2 id=\"timed-trials\">Timed trials</h2>\n");
        table(&mut h, &crate::trials::HEADERS, &tables.trials, 2);
        h.push_str(&format!("<p class=\"note\">{}</p>\n", escape(crate::trials::LEGEND)));
    }
    h.push_str("<h2 id=\"scenarios\">Scenarios</h2>\n<ul>\n");
    for s in &batch.scenarios {
        h.push_str(&format!("<li>{}: <code>{}</code></li>\n", escape(&s.name), escape(&s.file)));
    }
    h.push_str("</ul>\n");
    for (i, section) in sections.iter().enumerate() {
        h.push_str(&format!("<h2 id=\"section-{}\">{}</h2>\n", i + 1, escape(&section.title)));
        if section.plots.is_empty() {
            h.push_str(&format!("<p class=\"note\">{}</p>\n", escape(&section.empty)));
        }
        for plot in &section.plots {
            h.push_str(&format!("<figure id=\"{}\">\n", escape(&plot.stem)));
            // The SVG plotters writes escapes its text itself.
            h.push_str(plot.rendered.svg.trim());
            h.push_str(&format!(
                "\n<figcaption><b>{}</b>. {} <a href=\"{stem}.svg\">SVG</a> · <a href=\"{stem}.png\">PNG</a></figcaption>\n</figure>\n",
                escape(&plot.title),
                escape(&plot.caption),
                stem = escape(&plot.stem),
            ));
        }
    }
    h.push_str("</body>\n</html>\n");
    h
}
