//! Single-decree Paxos end to end, through the same scenario loader and
//! runner the CLI uses; and its monitor and acceptor rules on their own.

use std::path::{Path, PathBuf};

use faultline_protocols::kv::{Key, Value};
use faultline_protocols::paxos::acceptor::{self, AcceptReply, AcceptorState, PrepareReply};
use faultline_protocols::paxos::ballot::Ballot;
use faultline_protocols::paxos::invariants::PaxosMonitor;
use faultline_protocols::paxos::node::PaxosNote;
use faultline_protocols::Loaded;
use faultline_protocols::{load_scenario, parse_scenario, RunOptions};
use faultline_sim::world::Monitor;
use faultline_sim::{NodeId, RunReport, Time, Verdict};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scenario(relative: &str) -> Loaded {
    load_scenario(Path::new(&root().join(relative))).unwrap_or_else(|e| panic!("{e}"))
}

fn text(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn run(s: &Loaded, seed: u64) -> RunReport {
    s.run(seed, RunOptions::default())
}

/// The monitor and liveness pass; linearizability does not fail (it says
/// "unknown" until the checker's write-once model is built).
fn assert_clean(what: &str, report: &RunReport) {
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["invariants", "linearizability", "liveness"], "{what}");
    for c in &report.checks {
        let ok = match c.name.as_str() {
            "linearizability" => c.verdict != Verdict::Fail,
            _ => c.verdict == Verdict::Pass,
        };
        assert!(ok, "{what}: {} {}: {}", c.name, c.verdict.as_str(), c.detail);
    }
}

/// The invariant a failed run's monitor named, if the monitor failed it.
fn monitor_violation(report: &RunReport) -> Option<String> {
    let failed = report.failure()?;
    (failed.name == "invariants").then(|| failed.violation.as_ref().map(|v| v.check.clone())).flatten()
}

/// Each bug knob's shipped scenario is caught by its named invariant at a
/// seed in 1..=2000; the scenario's own `seed` is the first such seed.
#[test]
fn every_bug_knob_is_caught_by_its_check() {
    let cases = [
        ("scenarios/paxos/bugs/forget-promise.toml", "promise_monotonic"),
        ("scenarios/paxos/bugs/ignore-reported.toml", "at_most_one_chosen"),
        ("scenarios/paxos/bugs/adopt-first-reported.toml", "at_most_one_chosen"),
        ("scenarios/paxos/bugs/same-ballot.toml", "at_most_one_chosen"),
        ("scenarios/paxos/bugs/accept-below-promise.toml", "accepted_within_promise"),
        ("scenarios/paxos/bugs/mixed-ballot-majority.toml", "learned_is_chosen"),
    ];
    for (file, invariant) in cases {
        let s = scenario(file);
        let first = (1..=2000u64)
            .find(|&seed| monitor_violation(&run(&s, seed)).as_deref() == Some(invariant))
            .unwrap_or_else(|| panic!("{file}: no seed in 1..=2000 is caught by {invariant}"));
        assert_eq!(first, s.seed, "{file}: the scenario's seed should be the first one {invariant} catches");
    }
}

/// The correct protocol survives the chaos scenario (the acceptance run
/// covers 2000 swarm seeds; the test suite keeps to 30).
#[test]
fn correct_paxos_survives_chaos() {
    let s = scenario("scenarios/paxos/chaos.toml");
    for seed in 1..=30 {
        assert_clean(&format!("chaos seed {seed}"), &run(&s, seed));
    }
}

/// Every fault scenario passes at its own seed, with every check run.
#[test]
fn shipped_paxos_scenarios_pass() {
    for file in [
        "scenarios/paxos/basic.toml",
        "scenarios/paxos/lossy.toml",
        "scenarios/paxos/crash-loop.toml",
        "scenarios/paxos/partitions.toml",
        "scenarios/paxos/dueling.toml",
        "scenarios/paxos/dueling-backoff.toml",
    ] {
        let s = scenario(file);
        let report = run(&s, s.seed);
        assert_clean(file, &report);
        assert!(report.metrics.counter("decisions") > 0, "{file}: nothing decided");
    }
}

/// A restarted acceptor keeps its promises and accepted values: at the
/// seeds where acceptors that keep promises in memory only are caught
/// (`forget_promise`), the same runs with the promises on disk keep every
/// invariant, promises across restarts included.
#[test]
fn restarted_acceptors_recover_promise_and_accepted() {
    let forgetful = text("scenarios/paxos/bugs/forget-promise.toml");
    let durable = forgetful.replace("forget_promise = true", "forget_promise = false");
    assert_ne!(forgetful, durable);
    let forgetful = parse_scenario(&forgetful, "forgetful").unwrap_or_else(|e| panic!("{e}"));
    let durable = parse_scenario(&durable, "durable").unwrap_or_else(|e| panic!("{e}"));
    let mut caught = 0;
    for seed in 1..=5 {
        if monitor_violation(&run(&forgetful, seed)).is_none() {
            continue;
        }
        caught += 1;
        let report = run(&durable, seed);
        assert!(report.faults.iter().any(|f| f.kind == "crash"), "seed {seed}: no crash");
        let invariants = report.checks.iter().find(|c| c.name == "invariants").expect("invariants");
        assert_eq!(invariants.verdict, Verdict::Pass, "seed {seed}: {}", invariants.detail);
    }
    assert!(caught >= 2, "forgotten promises caught at {caught} of 5 seeds");
}

/// Dueling proposers: every decided key gives one sample of each figure,
/// proposers do duel, and the randomized back-off takes fewer ballots per
/// decision and decides more keys in the same virtual time.
#[test]
fn dueling_reports_ballots_and_messages_per_decision() {
    let mut means = Vec::new();
    for file in ["scenarios/paxos/dueling.toml", "scenarios/paxos/dueling-backoff.toml"] {
        let s = scenario(file);
        let report = run(&s, s.seed);
        let decided = report.metrics.counter("decisions");
        let ballots = report.metrics.histogram("ballots_per_decision").expect("ballots_per_decision");
        let messages = report.metrics.histogram("messages_per_decision").expect("messages_per_decision");
        let latency = report.metrics.histogram("decision_latency_us").expect("decision_latency_us");
        assert!(decided > 100, "{file}: only {decided} keys decided");
        assert_eq!(ballots.len(), decided, "{file}: one sample per decided key");
        assert_eq!(messages.len(), decided);
        assert_eq!(latency.len(), decided);
        assert!(ballots.mean() >= 1.0 && messages.mean() >= 32.0, "{file}");
        assert!(report.metrics.counter("ballots_preempted") > 0, "{file}: proposers never dueled");
        means.push((ballots.mean(), decided));
    }
    let [(dueling, dueling_decided), (backoff, backoff_decided)] = means[..] else { unreachable!() };
    assert!(dueling > backoff, "ballots per decision: {dueling:.2} without back-off, {backoff:.2} with");
    assert!(dueling_decided < backoff_decided, "decided {dueling_decided} without back-off, {backoff_decided} with");
}

/// Same scenario, same seed: same fingerprint; another seed, another run.
#[test]
fn runs_are_deterministic() {
    let s = scenario("scenarios/paxos/dueling.toml");
    let a = run(&s, 3).fingerprint;
    assert_eq!(a, run(&s, 3).fingerprint);
    assert_ne!(a, run(&s, 4).fingerprint);
}

/// Bad `[params]` and workloads get an error at the key, with file, line
/// and column.
#[test]
fn bad_params_get_located_errors() {
    let head = "name = \"x\"\nprotocol = \"paxos\"\nnodes = 3\nduration = \"2s\"\n";
    let workload = "[workload]\nclients = 2\nkeys = 100\n";
    let cases = [
        (format!("{head}[params]\nproposers = 0\n"), 6, "`proposers` (0) must be 1 to the number of nodes (3)"),
        (format!("{head}[params]\nproposers = 4\n"), 6, "`proposers` (4) must be 1 to the number of nodes (3)"),
        (format!("{head}[params]\nphase_timeout = \"0s\"\n"), 6, "`phase_timeout` (0s) must be above zero"),
        (format!("{head}[params]\nretry_backoff_max = \"2m\"\n"), 6, "`retry_backoff_max` (120s) must be at most 60s"),
        (format!("{head}[params]\nproposer = 2\n"), 6, "proposer"),
        (format!("{head}[params.bugs]\nforget_promises = true\n"), 6, "forget_promises"),
        (format!("{head}{workload}cas_ratio = 0.1\n"), 8, "`cas_ratio` (0.1) must be 0"),
        (
            format!("{head}[params]\nproposers = 3\n[[faults]]\nat = \"1s\"\nkind = \"crash\"\nnode = \"acceptor\"\n"),
            10,
            "no node is ever only an `acceptor`",
        ),
    ];
    for (source, line, message) in cases {
        let err = parse_scenario(&source, "bad.toml").expect_err(&source);
        let shown = err.to_string();
        assert!(shown.starts_with(&format!("bad.toml:{line}:")), "{shown}\n--- in ---\n{source}");
        assert!(shown.contains(message), "{shown}");
    }
}

fn b(round: u64, node: u32) -> Ballot {
    Ballot::new(round, node)
}

/// The acceptor's rules (Paxos Made Simple, §2.2), table-driven.
#[test]
fn acceptor_rules() {
    let mut s = AcceptorState::default();
    assert_eq!(acceptor::on_prepare(&mut s, b(2, 1)), PrepareReply::Promise { accepted: None });
    assert_eq!(acceptor::on_prepare(&mut s, b(1, 4)), PrepareReply::Nack { promised: b(2, 1) });
    assert_eq!(acceptor::on_accept(&mut s, b(1, 4), 9, false), AcceptReply::Nack { promised: b(2, 1) });
    assert_eq!(acceptor::on_accept(&mut s, b(2, 1), 7, false), AcceptReply::Accepted);
    assert_eq!(acceptor::on_prepare(&mut s, b(3, 0)), PrepareReply::Promise { accepted: Some((b(2, 1), 7)) });
    assert_eq!(acceptor::on_accept(&mut s, b(2, 1), 7, true), AcceptReply::Accepted, "the bug knob accepts below");
    assert!(b(2, 9) < b(3, 0) && b(3, 0) < b(3, 1), "ballots order by round, then node");
}

fn accepted(m: &mut PaxosMonitor, node: u32, key: Key, ballot: Ballot, value: Value) -> Option<String> {
    let t = Time::ZERO;
    let promised = PaxosNote::Promised { key, ballot };
    if let Some(v) = m.on_note(t, NodeId(node), &promised) {
        return Some(v.check);
    }
    let note = PaxosNote::Accepted { key, ballot, value, promise: ballot };
    m.on_note(t, NodeId(node), &note).map(|v| v.check)
}

/// The monitor computes "chosen" itself: a majority in one ballot. A value
/// accepted by a majority only across ballots is not chosen, so a learner
/// that learns it is caught; a second value chosen is caught.
#[test]
fn the_monitor_computes_chosen_from_acceptances_in_one_ballot() {
    let t = Time::ZERO;
    let mut m = PaxosMonitor::new(5);
    for value in [10, 20] {
        assert!(m.on_note(t, NodeId(0), &PaxosNote::Proposed { key: 1, value }).is_none());
    }
    assert_eq!(accepted(&mut m, 0, 1, b(1, 0), 10), None);
    assert_eq!(accepted(&mut m, 1, 1, b(1, 0), 10), None);
    assert_eq!(accepted(&mut m, 2, 1, b(2, 1), 10), None);
    let learned = m.on_note(t, NodeId(3), &PaxosNote::Learned { key: 1, value: 10 }).map(|v| v.check);
    assert_eq!(learned.as_deref(), Some("learned_is_chosen"), "three acceptors, but in two ballots");
    assert_eq!(accepted(&mut m, 3, 1, b(2, 1), 10), None);
    assert_eq!(accepted(&mut m, 4, 1, b(2, 1), 10), None, "chosen in ballot (2, n1)");
    assert!(m.on_note(t, NodeId(3), &PaxosNote::Learned { key: 1, value: 10 }).is_none());
    assert_eq!(accepted(&mut m, 0, 1, b(3, 2), 20), None);
    assert_eq!(accepted(&mut m, 1, 1, b(3, 2), 20), None);
    assert_eq!(accepted(&mut m, 2, 1, b(3, 2), 20).as_deref(), Some("at_most_one_chosen"));
    // A promise that falls, and an accept below a promise.
    let mut m = PaxosMonitor::new(3);
    assert!(m.on_note(t, NodeId(0), &PaxosNote::Promised { key: 7, ballot: b(5, 1) }).is_none());
    let fell = m.on_note(t, NodeId(0), &PaxosNote::Promised { key: 7, ballot: b(4, 2) }).map(|v| v.check);
    assert_eq!(fell.as_deref(), Some("promise_monotonic"));
    let below = PaxosNote::Accepted { key: 7, ballot: b(3, 0), value: 1, promise: b(5, 1) };
    assert_eq!(m.on_note(t, NodeId(0), &below).map(|v| v.check).as_deref(), Some("accepted_within_promise"));
}
