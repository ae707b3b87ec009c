//! SWIM end to end: its detection time held to the analysis, its checks on
//! chaos, and each bug knob caught by its check.

use std::path::{Path, PathBuf};

use faultline_protocols::{load_scenario, parse_scenario, Loaded, RunOptions};
use faultline_sim::{RunReport, Verdict};

fn path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

fn text(relative: &str) -> String {
    std::fs::read_to_string(path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn load(relative: &str) -> Loaded {
    load_scenario(Path::new(&path(relative))).unwrap_or_else(|e| panic!("{e}"))
}

fn run(s: &Loaded, seed: u64) -> RunReport {
    let report = s.run(seed, RunOptions::default());
    for c in &report.checks {
        assert_eq!(c.verdict, Verdict::Pass, "seed {seed}: {} {}", c.name, c.detail);
    }
    report
}

/// Das et al. §3.1: with every member probing a uniform random other each
/// period, a failure is first detected after 1 / (1 − e^{−q_f}) periods on
/// average. Five crashes a run over 200 seeds, each just before a period
/// boundary, in lock step, so the periods to detection are whole.
#[test]
fn first_detection_takes_the_periods_the_analysis_predicts() {
    let s = load("scenarios/swim/detection.toml");
    let (mut periods, mut samples) = (0u64, 0u64);
    for seed in 1..=200 {
        let r = run(&s, seed);
        let h = r.metrics.histogram("detect_first_periods").expect("detections");
        periods += (h.mean() * h.len() as f64).round() as u64;
        samples += h.len();
    }
    assert_eq!(samples, 1_000, "every crash detected");
    let mean = periods as f64 / samples as f64;
    let q_f: f64 = 99.0 / 100.0;
    let predicted = 1.0 / (1.0 - (-q_f).exp());
    let ratio = mean / predicted;
    assert!((0.9..=1.1).contains(&ratio), "mean {mean:.3} periods vs {predicted:.3} predicted: ratio {ratio:.3}");
}

/// Crashes, partitions, one-way cuts, pauses and drift on a lossy network:
/// every member wrongly declared dead comes back, every crashed one is
/// declared dead by all, and the check judges every run.
#[test]
fn swim_keeps_its_membership_through_chaos() {
    let s = load("scenarios/swim/chaos.toml");
    for seed in 1..=200 {
        let r = run(&s, seed);
        assert_eq!(r.metrics.counter("membership_unjudged"), 0, "seed {seed}: nothing judged");
    }
}

/// The shipped scenarios pass, and what they measure is there.
#[test]
fn shipped_scenarios_pass_and_measure() {
    let r = run(&load("scenarios/swim/basic.toml"), 1);
    assert_eq!(r.metrics.counter("crashes"), 1);
    assert_eq!(r.metrics.counter("detections_complete"), 1);
    assert!(r.metrics.counter("refutations") >= 1, "the paused member refutes");
    assert_eq!(r.metrics.counter("rejoins"), 1);
    assert_eq!(r.metrics.counter("leaves"), 1);
    assert_eq!(r.metrics.counter("leaves_noted"), 1);
    assert_eq!(r.metrics.histogram("leave_all_us").map(|h| h.len()), Some(1), "every member learned of the leave");
    let per_period = r.metrics.counter("swim_messages") as f64 / r.metrics.counter("member_periods") as f64;
    assert!((2.0..4.0).contains(&per_period), "{per_period:.2} messages per member per period");
}

/// Each bug knob is caught by its check at the scenario's seed, and the
/// same scenario with the knob off passes.
#[test]
fn every_bug_knob_is_caught_by_its_check() {
    for (file, knob, check, violation) in [
        ("scenarios/swim/bugs/no-refutation.toml", "no_refutation", "membership", Some("refutation")),
        ("scenarios/swim/bugs/zero-suspicion.toml", "zero_suspicion", "metric_bounds", None),
    ] {
        let s = load(file);
        let report = s.run(s.seed, RunOptions::default());
        let failed = report.failure().unwrap_or_else(|| panic!("{file}: seed {} passed", s.seed));
        assert_eq!(failed.name, check, "{file}");
        if let Some(v) = violation {
            assert_eq!(failed.violation.as_ref().map(|x| x.check.as_str()), Some(v), "{file}");
        }
        let fixed = text(file).replace(&format!("{knob} = true"), &format!("{knob} = false"));
        let fixed = parse_scenario(&fixed, "fixed").unwrap_or_else(|e| panic!("{e}"));
        for seed in 1..=20 {
            run(&fixed, seed);
        }
    }
}

/// Bad parameters are refused with the key named.
#[test]
fn impossible_parameters_are_refused() {
    let base = text("scenarios/swim/basic.toml");
    for (from, to, key) in [
        ("ack_timeout = \"40ms\"", "ack_timeout = \"300ms\"", "ack_timeout"),
        ("period = \"200ms\"", "period = \"0s\"", "period"),
        ("[params]\n", "[params]\nk = 99\n", "k"),
        ("[params]\n", "[params]\nretransmit_mult = 0\n", "retransmit_mult"),
    ] {
        let edited = base.replace(from, to);
        let e = parse_scenario(&edited, "bad").err().unwrap_or_else(|| panic!("{key}: accepted"));
        assert!(e.to_string().contains(key), "{key}: {e}");
    }
}
