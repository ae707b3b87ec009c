//! `faultline report`, `batch --report` and `compare`, driven through the
//! binary: the plots come out (SVG and PNG) on a machine where no system
//! font can be found, the report is deterministic and has a fixed structure,
//! user strings are escaped, and a directory that holds no batch is refused.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

const PARTITION: &str = "tests/fixtures/report/partition.toml";
const SCRIPT_NAME: &str = "tests/fixtures/report/script-name.toml";
const SEEDS: &str = "1..=3";

mod common;
use common::{assert_exit, command, path, text};

fn scratch(name: &str) -> PathBuf {
    common::scratch("report-tests", name)
}

/// The binary, on a machine where font lookup is impossible: the plots must
/// draw with the font inside the binary.
fn faultline(args: &[&str]) -> Output {
    let mut cmd = command(args);
    for var in ["FONTCONFIG_FILE", "FONTCONFIG_PATH", "XDG_DATA_HOME", "XDG_DATA_DIRS", "HOME"] {
        cmd.env(var, "/nonexistent");
    }
    cmd.output().expect("run the faultline binary")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The plots a batch of the two fixtures must produce, with a text each SVG must hold.
const PLOTS: [(&str, &str); 7] = [
    ("latency-cdf", "latency (ms, log scale)"),
    ("timeline-report-partition", "throughput (ops/s per run)"),
    ("timeline-_script_alert_1___script_", "success rate (ok / invoked)"),
    ("cap", "availability (ok / invoked while partitioned)"),
    ("metric-leaderless_ms", "leaderless_ms"),
    ("metric-elections", "elections"),
    ("metric-client_ok", "client_ok"),
];

#[test]
fn batch_report_draws_every_plot_without_system_fonts_and_is_deterministic() {
    let dir = scratch("batch-report");
    let out =
        faultline(&["batch", PARTITION, SCRIPT_NAME, "--seeds", SEEDS, "-j", "2", "--out", path(&dir), "--report"]);
    assert_exit(&out, 0);
    let report = dir.join("report");
    assert!(text(&out.stdout).contains(&format!("report       {}", report.join("index.html").display())));
    for (stem, label) in PLOTS {
        let svg = read(&report.join(format!("{stem}.svg")));
        assert!(svg.starts_with("<svg"), "{stem}.svg is not an SVG");
        assert!(svg.contains(label), "{stem}.svg does not show `{label}`");
        let png = fs::read(report.join(format!("{stem}.png"))).expect("the PNG exists");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{stem}.png is not a PNG");
        assert!(png.len() > 10_000, "{stem}.png is only {} bytes", png.len());
    }
    let before: Vec<(PathBuf, Vec<u8>)> = files(&report);
    // Again, by the report command: the same bytes, and the path of index.html on stdout.
    let again = faultline(&["report", path(&dir)]);
    assert_exit(&again, 0);
    assert_eq!(text(&again.stdout).trim(), report.join("index.html").display().to_string());
    assert_eq!(files(&report), before, "the report is not deterministic");
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(dir)
        .expect("the report directory")
        .map(|e| e.expect("a directory entry").path())
        .map(|p| (p.clone(), fs::read(&p).expect("a report file")))
        .collect();
    all.sort();
    all
}

/// `needles` occur in `haystack` in this order.
#[track_caller]
/// A column of results.csv summed over one scenario's rows.
fn column_sum(dir: &Path, scenario: &str, column: &str) -> u64 {
    let text = read(&dir.join("results.csv"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (name_at, column_at) = (at("scenario"), at(column));
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|cells| cells[name_at] == scenario)
        .map(|cells| cells[column_at].parse::<u64>().expect("an integer"))
        .sum()
}

fn assert_in_order(haystack: &str, needles: &[&str]) {
    let mut from = 0;
    for needle in needles {
        match haystack[from..].find(needle) {
            Some(at) => from += at + needle.len(),
            None => panic!("`{needle}` missing (or out of order) after byte {from} of:\n{haystack}"),
        }
    }
}

#[test]
fn compare_writes_a_report_of_fixed_structure_with_user_strings_escaped() {
    let dir = scratch("compare");
    let out = faultline(&[
        "compare",
        PARTITION,
        SCRIPT_NAME,
        "--seeds",
        SEEDS,
        "--out",
        path(&dir),
        "--metric",
        "messages",
        "--metric",
        "<img src=x>",
        "--metric",
        "partitioned_ms",
    ]);
    assert_exit(&out, 0);
    let summary = read(&dir.join("report/summary.md"));
    assert_in_order(
        &summary,
        &[
            "# faultline report\n",
            "2 scenarios, seeds 1..=3",
            "[results.csv](../results.csv), [timings.csv](../timings.csv)",
            "\n## Summary\n",
            "| scenario | protocol | runs | pass | fail | unknown | latency p50 | latency p99 | latency p999 | ok ops \
             | minority avail. | majority avail. | stale reads | violations |\n",
            "| report-partition | raft | 3 | 3 | 0 | 0 |",
            "| &lt;script&gt;alert(1)&lt;/script&gt; | raft | 3 | 3 | 0 | 0 |",
            "\n## Protocol metrics\n",
            "| scenario | counter | runs | total | per run | per virtual second |\n",
            &format!("| report-partition | elections | 3 | {} |", column_sum(&dir, "report-partition", "elections")),
            "| scenario | histogram | samples | mean | p50 | p99 | max |\n",
            "| report-partition | client\\_latency\\_us | ",
            "\n## Scenarios\n",
            "\n## Plots\n",
            "\n### Client latency\n",
            "- Client latency CDF: [SVG](latency-cdf.svg), [PNG](latency-cdf.png)",
            "\n### Throughput and success rate over time\n",
            "\n### Availability and consistency under partition\n",
            "- Availability under partition vs consistency: [SVG](cap.svg), [PNG](cap.png)",
            "\n### Metrics across scenarios\n",
            "- messages across scenarios",
            "- &lt;img src=x&gt; across scenarios",
            "- partitioned\\_ms across scenarios",
        ],
    );
    let html = read(&dir.join("report/index.html"));
    assert_in_order(
        &html,
        &[
            "<!DOCTYPE html>",
            "<title>faultline report</title>",
            "<h1>faultline report</h1>",
            "<a href=\"../results.csv\">results.csv</a>",
            "<a href=\"../timings.csv\">timings.csv</a>",
            ">Summary</h2>",
            "<th>scenario</th><th>protocol</th><th>runs</th><th>pass</th><th>fail</th><th>unknown</th>",
            "<td>report-partition</td>",
            "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>",
            ">Protocol metrics</h2>",
            "<th>per virtual second</th>",
            "<td>elections</td>",
            ">Scenarios</h2>",
            ">Client latency</h2>",
            "<svg",
            ">Throughput and success rate over time</h2>",
            ">Availability and consistency under partition</h2>",
            ">Metrics across scenarios</h2>",
            "&lt;img src=x&gt;",
            "</html>\n",
        ],
    );
    for (name, content) in [("summary.md", &summary), ("index.html", &html)] {
        let lower = content.to_lowercase();
        assert!(!lower.contains("<script"), "{name} holds a raw <script> tag");
        assert!(!lower.contains("<img"), "{name} holds a raw <img> tag");
    }
    // Self-contained: nothing fetched from elsewhere.
    for external in ["http://", "https://", "<script", "<link", "@import", "url("] {
        let without_svg_namespace = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!without_svg_namespace.contains(external), "index.html refers to `{external}`");
    }
}

#[test]
fn report_refuses_a_directory_without_a_batch() {
    let dir = scratch("not-a-batch");
    let out = faultline(&["report", path(&dir)]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("not a batch directory: it has no manifest.json"), "{}", text(&out.stderr));
    let out = faultline(&["report", path(&dir.join("missing"))]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("no such directory"), "{}", text(&out.stderr));
}
