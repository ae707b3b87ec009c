//! Raft end to end, through the same scenario loader and runner the CLI uses.

use std::path::{Path, PathBuf};

use faultline_protocols::Loaded;
use faultline_protocols::{load_scenario, RunOptions};
use faultline_sim::{RunReport, Verdict};

fn scenario(relative: &str) -> Loaded {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative);
    load_scenario(Path::new(&path)).unwrap_or_else(|e| panic!("{e}"))
}

fn run(s: &Loaded, seed: u64) -> RunReport {
    s.run(seed, RunOptions::default())
}

/// Each bug knob's shipped scenario is caught by the named check at a seed
/// in 1..=2000; the scenario's own `seed` is the first such seed. (A knob may
/// also trip another check first at some seeds: a forgotten vote can surface
/// as a leader missing a committed entry before two leaders share a term.)
#[test]
fn every_bug_knob_is_caught_by_its_check() {
    let cases = [
        ("scenarios/raft/bugs/commit-previous-term.toml", "invariants", "leader_completeness"),
        ("scenarios/raft/bugs/volatile-vote.toml", "invariants", "election_safety"),
        ("scenarios/raft/bugs/truncate-on-any-append.toml", "invariants", "leader_completeness"),
        ("scenarios/raft/bugs/vote-without-log-check.toml", "invariants", "leader_completeness"),
        ("scenarios/raft/bugs/commit-without-cap.toml", "invariants", "committed_prefix"),
        ("scenarios/raft/bugs/local-reads.toml", "linearizability", "linearizability"),
        ("scenarios/raft/bugs/no-dedup.toml", "linearizability", "linearizability"),
        ("scenarios/raft/bugs/ack-before-durable.toml", "invariants", "leader_completeness"),
    ];
    for (file, check, invariant) in cases {
        let s = scenario(file);
        let caught = |seed: u64| {
            let report = run(&s, seed);
            report.failure().is_some_and(|failed| {
                failed.name == check && failed.violation.as_ref().is_some_and(|v| v.check == invariant)
            })
        };
        let first = (1..=2000u64)
            .find(|&seed| caught(seed))
            .unwrap_or_else(|| panic!("{file}: no seed in 1..=2000 is caught by {invariant}"));
        assert_eq!(first, s.seed, "{file}: the scenario's seed should be the first one {invariant} catches");
    }
}

/// The correct protocol survives the chaos scenario (the acceptance run
/// covers 2000 seeds; the test suite keeps to 200).
#[test]
fn correct_raft_survives_chaos() {
    let s = scenario("scenarios/raft/chaos.toml");
    for seed in 1..=200 {
        let report = run(&s, seed);
        for c in &report.checks {
            assert_eq!(c.verdict, Verdict::Pass, "seed {seed}: {} {}: {}", c.name, c.verdict.as_str(), c.detail);
        }
    }
}

/// Every fault scenario passes at its own seed, with every check run.
#[test]
fn shipped_raft_scenarios_pass() {
    for file in [
        "scenarios/raft/basic.toml",
        "scenarios/raft/lossy.toml",
        "scenarios/raft/crash-loop.toml",
        "scenarios/raft/minority-partition.toml",
        "scenarios/raft/majority-partition.toml",
        "scenarios/raft/asymmetric-partition.toml",
    ] {
        let s = scenario(file);
        let report = run(&s, s.seed);
        let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["invariants", "linearizability", "liveness"], "{file}");
        for c in &report.checks {
            assert_eq!(c.verdict, Verdict::Pass, "{file}: {} {}", c.name, c.detail);
        }
    }
}

/// A leader-targeted crash hits whichever node leads at that moment.
#[test]
fn faults_can_target_the_current_leader() {
    let s = scenario("scenarios/raft/crash-loop.toml");
    let report = run(&s, s.seed);
    let crashes: Vec<_> = report.faults.iter().filter(|f| f.kind == "crash").collect();
    assert_eq!(crashes.len(), 9);
    assert!(crashes.iter().all(|f| f.description.contains("(the leader)")));
    // Failover was measured for each crash of a leader.
    let failovers = report.metrics.histogram("failover_us").map_or(0, |h| h.len());
    assert!(failovers >= 8, "failovers measured: {failovers}");
}

/// Golden fingerprints pin behaviour: a change here means runs replay
/// differently, which must be deliberate (update the figures with the
/// change that explains it).
#[test]
fn golden_fingerprints() {
    let cases = [
        ("scenarios/pingpong.toml", 0xd763_2c18_289f_4462_u64),
        ("scenarios/raft/basic.toml", 0x5ab9_0b8c_9587_653c),
        ("scenarios/raft/chaos.toml", 0xba52_8637_1867_2a3e),
    ];
    for (file, expected) in cases {
        let s = scenario(file);
        let a = run(&s, s.seed).fingerprint;
        let b = run(&s, s.seed).fingerprint;
        assert_eq!(a, b, "{file}: same seed, same fingerprint");
        assert_eq!(a, expected, "{file}: fingerprint {a:016x}");
        assert_ne!(run(&s, s.seed + 1).fingerprint, a, "{file}: another seed, another run");
    }
}

/// `[expect] metrics` bounds every run: a bound the run breaks fails the
/// `metric_bounds` check, one it keeps passes, and a counter never recorded
/// is unknown (with a suggestion), never a pass.
#[test]
fn metric_bounds_fail_pass_and_say_unknown() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/raft/lossy.toml");
    let base = std::fs::read_to_string(&path).expect("lossy.toml");
    let verdict = |bounds: &str| {
        let text = format!("{base}\n[expect]\nmetrics = {{ {bounds} }}\n");
        let s = faultline_protocols::parse_scenario(&text, "lossy-bounds").unwrap_or_else(|e| panic!("{e}"));
        let report = run(&s, 1);
        let c = report.checks.iter().find(|c| c.name == "metric_bounds").expect("a metric_bounds check").clone();
        (c.verdict, c.detail)
    };
    assert_eq!(verdict("elections = { max = 0 }").0, Verdict::Fail);
    assert_eq!(verdict("elections = { max = 1000 }, leaders_elected = { min = 1 }").0, Verdict::Pass);
    let (v, detail) = verdict("elektions = { max = 3 }");
    assert_eq!(v, Verdict::Unknown);
    assert!(detail.contains("did you mean `elections`"), "{detail}");
}

/// The liveness check holds Raft to its derived recovery bound: a scenario
/// bound tighter than any recovery can meet fails it; the derived one passes.
#[test]
fn liveness_fails_past_its_recovery_bound() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/raft/minority-partition.toml");
    let base = std::fs::read_to_string(&path).expect("minority-partition.toml");
    let liveness = |s: &Loaded| run(s, 1).checks.into_iter().find(|c| c.name == "liveness").expect("liveness");
    let derived = liveness(&scenario("scenarios/raft/minority-partition.toml"));
    assert_eq!(derived.verdict, Verdict::Pass, "{}", derived.detail);
    assert!(derived.detail.contains("bound"), "{}", derived.detail);
    let tight = base.replace("[liveness]\nduration = \"5s\"", "[liveness]\nduration = \"5s\"\nwithin = \"1ns\"");
    assert_ne!(tight, base);
    let s = faultline_protocols::parse_scenario(&tight, "tight").unwrap_or_else(|e| panic!("{e}"));
    let c = liveness(&s);
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.detail);
}
