//! Multi-Paxos end to end, through the same scenario loader and runner the
//! CLI uses.

use std::path::{Path, PathBuf};

use faultline_protocols::{load_scenario, parse_scenario, Loaded, RunOptions};
use faultline_sim::{RunReport, Verdict};

fn path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

fn scenario(relative: &str) -> Loaded {
    load_scenario(Path::new(&path(relative))).unwrap_or_else(|e| panic!("{e}"))
}

fn text(relative: &str) -> String {
    std::fs::read_to_string(path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn run(s: &Loaded, seed: u64) -> RunReport {
    s.run(seed, RunOptions::default())
}

fn assert_all_pass(what: &str, report: &RunReport) {
    for c in &report.checks {
        assert_eq!(
            c.verdict,
            Verdict::Pass,
            "{what} seed {}: {} {}: {}",
            report.seed,
            c.name,
            c.verdict.as_str(),
            c.detail
        );
    }
}

fn coverage(report: &RunReport, point: &str) -> u64 {
    *report.coverage.get(point).unwrap_or_else(|| panic!("`{point}` is not a declared coverage point"))
}

/// Each bug knob's shipped scenario fails its named check at the
/// scenario's own seed (`faultline explore --swarm` finds each within the
/// first few seeds; the report of the branch lists them).
#[test]
fn every_bug_knob_is_caught_by_its_check() {
    let cases = [
        ("scenarios/multipaxos/bugs/skip-reproposal.toml", "invariants", "chosen_once"),
        ("scenarios/multipaxos/bugs/local-reads.toml", "linearizability", "linearizability"),
        ("scenarios/multipaxos/bugs/apply-out-of-order.toml", "invariants", "state_machine_safety"),
        ("scenarios/multipaxos/bugs/no-dedup.toml", "linearizability", "linearizability"),
        ("scenarios/multipaxos/bugs/forget-promise.toml", "invariants", "promise_monotonic"),
        ("scenarios/multipaxos/bugs/accept-below-promise.toml", "invariants", "accepted_within_promise"),
    ];
    for (file, check, invariant) in cases {
        let s = scenario(file);
        let report = run(&s, s.seed);
        let failed = report.failure().unwrap_or_else(|| panic!("{file}: seed {} passed", s.seed));
        assert_eq!(failed.name, check, "{file}: failed {} instead", failed.name);
        let v = failed.violation.as_ref().unwrap_or_else(|| panic!("{file}: no violation"));
        assert_eq!(v.check, invariant, "{file}: {}", v.message);
        // The same scenario with the knob off passes at that seed.
        let knob = file.rsplit('/').next().and_then(|f| f.strip_suffix(".toml")).unwrap().replace('-', "_");
        let fixed = text(file).replace(&format!("{knob} = true"), &format!("{knob} = false"));
        let fixed = parse_scenario(&fixed, "fixed").unwrap_or_else(|e| panic!("{e}"));
        assert_all_pass(&format!("{file} with the knob off"), &run(&fixed, s.seed));
    }
}

/// The correct protocol survives the chaos scenario (the acceptance run
/// covers 2000 seeds; the test suite keeps to a few dozen).
#[test]
fn correct_multipaxos_survives_chaos() {
    let s = scenario("scenarios/multipaxos/chaos.toml");
    let mut leader_changes = 0;
    for seed in 1..=24 {
        let report = run(&s, seed);
        assert_all_pass("chaos", &report);
        leader_changes += report.metrics.counter("leader_changes");
    }
    assert!(leader_changes > 24, "chaos changes leaders: {leader_changes}");
}

/// Every clean scenario passes at its own seed, with every check run, and
/// replays to the same fingerprint.
#[test]
fn shipped_multipaxos_scenarios_pass() {
    for file in [
        "scenarios/multipaxos/basic.toml",
        "scenarios/multipaxos/lossy.toml",
        "scenarios/multipaxos/crash-loop.toml",
        "scenarios/multipaxos/minority-partition.toml",
        "scenarios/multipaxos/majority-partition.toml",
        "scenarios/multipaxos/lease-reads.toml",
        "scenarios/cap/multipaxos.toml",
    ] {
        let s = scenario(file);
        let report = run(&s, s.seed);
        let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["invariants", "linearizability", "liveness"], "{file}");
        assert_all_pass(file, &report);
        assert_eq!(run(&s, s.seed).fingerprint, report.fingerprint, "{file}: same seed, same fingerprint");
    }
}

/// Restarted nodes recover their promise, accepted values and decided
/// slots from durable state: the crash loop restarts a leader again and
/// again, and each restart replays its decided slots from disk.
#[test]
fn restarted_nodes_recover_from_durable_state() {
    let s = scenario("scenarios/multipaxos/crash-loop.toml");
    let report = run(&s, s.seed);
    assert_all_pass("crash-loop", &report);
    let crashes = report.faults.iter().filter(|f| f.kind == "crash").count();
    assert!(crashes >= 5, "crashes: {crashes}");
    assert!(coverage(&report, "node restarts with decided slots on disk") >= 5);
    assert!(coverage(&report, "new leader re-proposes a reported value") > 0);
    assert!(report.metrics.counter("leader_changes") >= 5);
}

/// A node cut off while the others compact their logs catches up with a
/// snapshot of the store when it comes back.
#[test]
fn a_lagging_node_catches_up_with_a_snapshot() {
    let base = text("scenarios/multipaxos/basic.toml");
    let edited = format!(
        "{}\n[params]\nsnapshot_every = 100\n\n[[faults]]\nat = \"2s\"\nkind = \"isolate\"\nnode = 4\nheal_after = \"4s\"\n",
        base.replace("[liveness]", "[liveness_]").split("[liveness_]").next().unwrap()
    ) + "\n[liveness]\nduration = \"3s\"\n";
    let s = parse_scenario(&edited, "catch-up").unwrap_or_else(|e| panic!("{e}\n{edited}"));
    let report = run(&s, 1);
    assert_all_pass("catch-up", &report);
    assert!(coverage(&report, "catch-up answered with a snapshot") >= 1);
    assert!(report.metrics.counter("snapshots_installed") >= 1);
}

/// Lease reads pass while clocks keep within the drift bound, and a clock
/// outside it breaks them: the demonstration scenario expects the failure;
/// with reads through the log the same run passes.
#[test]
fn leases_hold_within_the_drift_bound_and_break_outside_it() {
    let clean = scenario("scenarios/multipaxos/lease-reads.toml");
    let report = run(&clean, clean.seed);
    assert_all_pass("lease-reads", &report);
    assert!(report.metrics.counter("lease_reads") > 1_000);

    let drift = scenario("scenarios/multipaxos/lease-drift.toml");
    let report = run(&drift, drift.seed);
    let failed = report.failure().expect("lease-drift must fail");
    assert_eq!(failed.name, "linearizability", "{}", failed.detail);

    let log_reads =
        text("scenarios/multipaxos/lease-drift.toml").replace("read_mode = \"lease\"", "read_mode = \"log\"");
    let s = parse_scenario(&log_reads, "lease-drift-log").unwrap_or_else(|e| panic!("{e}"));
    assert_all_pass("lease-drift with log reads", &run(&s, drift.seed));

    let within = text("scenarios/multipaxos/lease-drift.toml").replace("rate = 0.25", "rate = 0.95");
    let s = parse_scenario(&within, "lease-drift-within").unwrap_or_else(|e| panic!("{e}"));
    assert_all_pass("lease-drift within the bound", &run(&s, drift.seed));
}

/// Bad `[params]` are refused with the place of the mistake.
#[test]
fn bad_params_are_located_errors() {
    let base = "name = \"p\"\nprotocol = \"multipaxos\"\nnodes = 3\nduration = \"1s\"\n\n";
    let cases = [
        ("[params]\nmax_in_flight = 0\n", "p.toml:7:1: `max_in_flight` must be 1 to 10000"),
        ("[params]\nheartbeat_interval = \"200ms\"\n", "p.toml:7:1: `heartbeat_interval` (200ms)"),
        ("[params]\nread_mode = \"leases\"\n", "p.toml:7:"),
        ("[params]\nclock_drift_bound = -0.1\n", "p.toml:7:1: `clock_drift_bound` must be at least 0"),
        ("[params.bugs]\nno_dedupe = true\n", "did you mean `no_dedup`"),
    ];
    for (params, expected) in cases {
        let err = parse_scenario(&format!("{base}{params}"), "p.toml").expect_err(params).to_string();
        assert!(err.contains(expected), "{params}: {err}");
    }
}

/// Memory stays flat: the log is compacted, so a node never holds more than
/// about one and a half snapshot intervals of slots.
#[test]
fn the_log_stays_bounded_by_compaction() {
    let s = scenario("scenarios/multipaxos/throughput.toml");
    let edited = text("scenarios/multipaxos/throughput.toml").replace("duration = \"60s\"", "duration = \"8s\"");
    let s8 = parse_scenario(&edited, "short").unwrap_or_else(|e| panic!("{e}"));
    let report = run(&s8, s.seed);
    assert_all_pass("throughput (8s)", &report);
    let peak = report.metrics.counter("peak_log_len");
    // snapshot_every is 1,000 by default; accepted and decided both count.
    assert!(peak > 0 && peak <= 2 * 1_600, "peak_log_len {peak}");
    assert!(report.metrics.counter("snapshots") >= 5);
}

/// Every coverage point the node marks is declared, once, with a
/// description, and every declared point is marked.
#[test]
fn coverage_points_are_declared_as_marked() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/multipaxos");
    let mut marked = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("src/multipaxos") {
        let text = std::fs::read_to_string(entry.expect("an entry").path()).expect("a source file");
        for (at, _) in text.match_indices("reached(\"") {
            let rest = &text[at + "reached(\"".len()..];
            marked.insert(rest[..rest.find('"').expect("a closing quote")].to_string());
        }
    }
    let info = &faultline_protocols::multipaxos::INFO;
    let declared: std::collections::BTreeSet<String> = info.coverage.iter().map(|p| p.name.to_string()).collect();
    assert_eq!(declared.len(), info.coverage.len(), "a point declared twice");
    assert!(info.coverage.iter().all(|p| !p.description.is_empty()));
    assert_eq!(marked, declared);
}
