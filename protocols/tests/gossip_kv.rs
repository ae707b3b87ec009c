//! The eventually consistent store end to end: its checks under chaos, its
//! place on the CAP chart (available on both sides, stale reads under
//! partition), replicas identical once the writes stop, each bug knob
//! caught by its check, and bad input refused.

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

/// Loss, duplication, reordering, crashes, partitions, one-way cuts,
/// pauses and drift: no write lost, no replica going back, and convergence
/// judged and held in every run.
#[test]
fn the_store_keeps_its_writes_and_converges_through_chaos() {
    let s = load("scenarios/gossip/store-chaos.toml");
    for seed in 1..=150 {
        let r = run(&s, seed);
        assert_eq!(r.metrics.counter("convergence_judged"), 1, "seed {seed}: convergence not judged");
    }
}

/// Both sides of the partition keep serving, and reads on each side miss
/// the other side's writes; the history is not linearizable, and that is
/// measured, not failed.
#[test]
fn both_sides_serve_through_a_partition_and_read_stale() {
    for file in ["scenarios/cap/gossip.toml", "scenarios/gossip/store.toml"] {
        let s = load(file);
        for seed in 1..=5 {
            let r = run(&s, seed);
            let m = &r.metrics;
            for side in ["minority", "majority"] {
                let ops = m.counter(&format!("{side}_ops"));
                let ok = m.counter(&format!("{side}_ops_ok"));
                assert!(ops > 100 && ok * 100 >= ops * 99, "{file} seed {seed}: {side} {ok} of {ops} ok");
                assert!(m.counter(&format!("{side}_stale_reads")) > 0, "{file} seed {seed}: no stale read on {side}");
            }
            assert_eq!(m.counter("histories_not_linearizable"), 1, "{file} seed {seed}");
            assert!(m.counter("minority_reads_behind") > 0, "{file} seed {seed}");
            // How far behind, in versions and in time, on each side.
            for h in ["minority_read_lag_versions", "minority_read_lag_us", "majority_read_lag_us"] {
                assert!(m.histogram(h).is_some_and(|h| !h.is_empty()), "{file} seed {seed}: no {h}");
            }
        }
    }
}

/// Once the clients stop writing, every replica ends with the same
/// version of every key: the store's state, not only the check's sample.
#[test]
fn replicas_are_identical_once_writes_stop() {
    let base = text("scenarios/gossip/store.toml");
    // Writes go on into the partition (1,000 operations a client take
    // about 6s); no liveness phase, as the clients have stopped by then.
    let quiet = base
        .replace("retries = 3\n", "retries = 3\nmax_ops_per_client = 1000\n")
        .replace("[liveness]\nduration = \"3s\"\n", "");
    assert!(!quiet.contains("[liveness]"));
    let s = parse_scenario(&quiet, "quiet").unwrap_or_else(|e| panic!("{e}"));
    for seed in 1..=20 {
        let r = run(&s, seed);
        assert_eq!(r.metrics.counter("convergence_judged"), 1, "seed {seed}");
        assert_eq!(r.metrics.counter("divergent_keys"), 0, "seed {seed}: replicas differ at the end");
        assert!(r.metrics.counter("store_reads") > 0, "seed {seed}");
    }
}

/// Each bug knob is caught by its check at the scenario's seed, and the
/// same scenario with the knob off passes.
#[test]
fn every_bug_knob_is_caught_by_its_check() {
    for (file, knob, violation) in [
        ("scenarios/gossip/bugs/lww-arrival-order.toml", "lww_arrival_order", "monotonic"),
        ("scenarios/gossip/bugs/older-over-newer.toml", "older_over_newer", "lost_write"),
    ] {
        let s = load(file);
        let report = s.run(s.seed, RunOptions::default());
        let failed = report.failure().unwrap_or_else(|| panic!("{file}: seed {} passed", s.seed));
        assert_eq!(failed.name, "invariants", "{file}");
        assert_eq!(failed.violation.as_ref().map(|x| x.check.as_str()), Some(violation), "{file}");
        let fixed = text(file).replace(&format!("{knob} = true"), &format!("{knob} = false"));
        let fixed = parse_scenario(&fixed, "fixed").unwrap_or_else(|e| panic!("{e}"));
        for seed in 1..=20 {
            run(&fixed, seed);
        }
    }
}

/// What the store cannot do, and impossible parameters, are refused with
/// the key named.
#[test]
fn impossible_scenarios_are_refused() {
    let base = text("scenarios/gossip/store.toml");
    for (from, to, key) in [
        ("read_ratio = 0.5\n", "read_ratio = 0.5\ncas_ratio = 0.1\n", "cas_ratio"),
        ("keys = 5\n", "keys = 5\nkey_distribution = \"rolling\"\nkey_lifetime = \"1s\"\n", "rolling"),
        ("keys = 5\n", "keys = 100000\n", "keys"),
        ("fanout = 2\n", "fanout = 5\n", "fanout"),
        ("[params]\n", "[params]\nclock_resolution = \"0s\"\n", "clock_resolution"),
        ("converge_within = \"2s\"", "converge_within = \"100ms\"", "converge_within"),
        ("anti_entropy = \"200ms\"", "anti_entropy = \"0s\"", "anti_entropy"),
    ] {
        assert!(base.contains(from), "{from}");
        let edited = base.replace(from, to);
        let e = parse_scenario(&edited, "bad").err().unwrap_or_else(|| panic!("{key}: accepted"));
        assert!(e.to_string().contains(key), "{key}: {e}");
    }
    let start = base.find("[workload]").expect("workload");
    let end = base.find("[[faults]]").expect("faults");
    let no_clients = format!("{}{}", &base[..start], &base[end..]);
    let e = parse_scenario(&no_clients, "bad").expect_err("no workload accepted");
    assert!(e.to_string().contains("workload"), "{e}");
}
