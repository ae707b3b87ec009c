//! ZAB end to end, through the same scenario loader and runner the CLI uses.

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

/// `scenarios/zab/basic.toml` with `extra` added before its `[liveness]`.
fn basic_with(extra: &str) -> Loaded {
    let base = text("scenarios/zab/basic.toml");
    let (head, tail) = base.split_once("[liveness]").expect("basic.toml has a [liveness] section");
    let edited = format!("{head}{extra}\n[liveness]{tail}");
    parse_scenario(&edited, "basic-edited").unwrap_or_else(|e| panic!("{e}\n{edited}"))
}

/// The quiet run: one election, one leader for the whole run, every check
/// run and passed, the same fingerprint on every replay (pinned: a change
/// of behaviour must be a decision).
#[test]
fn basic_run_passes_every_check() {
    let s = scenario("scenarios/zab/basic.toml");
    let report = run(&s, s.seed);
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["invariants", "linearizability", "sequential_consistency", "liveness"]);
    assert_all_pass("basic", &report);
    assert_eq!(report.metrics.counter("leaders_elected"), 1);
    assert_eq!(report.metrics.counter("leader_changes"), 1);
    assert_eq!(report.metrics.counter("sync_diff"), 4, "each follower synchronized once");
    assert!(report.metrics.counter("client_ops_ok") > 10_000, "{}", report.metrics.counter("client_ops_ok"));
    assert!(report.metrics.counter("requests_forwarded") > 0, "followers forward their clients' requests");
    assert_eq!(run(&s, s.seed).fingerprint, report.fingerprint, "same seed, same fingerprint");
    assert_eq!(report.fingerprint_hex(), "60e2a99d5c3ae442");
}

/// Each bug knob's shipped scenario fails its named check at the
/// scenario's own seed (`faultline explore --swarm` finds it within the
/// first hundred seeds), and passes with the knob off.
#[test]
fn every_bug_knob_is_caught_by_its_check() {
    let cases = [
        ("scenarios/zab/bugs/ack-before-durable.toml", "invariants", "primary_integrity"),
        ("scenarios/zab/bugs/ignore-session-zxid.toml", "sequential_consistency", "session_order"),
        ("scenarios/zab/bugs/sync-skips-leader.toml", "linearizability", "linearizability"),
        ("scenarios/zab/bugs/election-ignores-zxid.toml", "invariants", "primary_integrity"),
        ("scenarios/zab/bugs/serve-before-newleader-quorum.toml", "invariants", "primary_integrity"),
        ("scenarios/zab/bugs/epoch-before-history.toml", "invariants", "primary_integrity"),
        ("scenarios/zab/bugs/diff-uncommitted-as-committed.toml", "invariants", "primary_integrity"),
        ("scenarios/zab/bugs/keep-db-across-election.toml", "invariants", "agreement"),
        ("scenarios/zab/bugs/accept-old-epoch-proposals.toml", "invariants", "primary_integrity"),
    ];
    for (file, check, invariant) in cases {
        let s = scenario(file);
        let report = run(&s, s.seed);
        let failed = report.failure().unwrap_or_else(|| panic!("{file}: seed {} passed", s.seed));
        assert_eq!(failed.name, check, "{file}: failed {} instead", failed.name);
        let v = failed.violation.as_ref().unwrap_or_else(|| panic!("{file}: no violation"));
        assert_eq!(v.check, invariant, "{file}: {}", v.message);
        let knob = file.rsplit('/').next().and_then(|f| f.strip_suffix(".toml")).unwrap().replace('-', "_");
        let fixed = text(file).replace(&format!("{knob} = true"), &format!("{knob} = false"));
        let fixed = parse_scenario(&fixed, "fixed").unwrap_or_else(|e| panic!("{e}"));
        assert_all_pass(&format!("{file} with the knob off"), &run(&fixed, s.seed));
    }
}

/// The correct protocol survives chaos — crashes, partitions, one-way
/// cuts, pauses and clock drift breaking sessions — over 200 seeds, and the
/// runs take each way of synchronizing a follower.
#[test]
fn correct_zab_survives_chaos() {
    let s = scenario("scenarios/zab/chaos.toml");
    let (mut leaders, mut diff, mut trunc, mut snap) = (0, 0, 0, 0);
    for seed in 1..=200 {
        let report = run(&s, seed);
        assert_all_pass("chaos", &report);
        leaders += report.metrics.counter("leaders_elected");
        diff += coverage(&report, "follower synchronized by DIFF");
        trunc += coverage(&report, "follower synchronized by TRUNC");
        snap += coverage(&report, "follower synchronized by SNAP");
    }
    assert!(leaders > 400, "chaos elects leaders again and again: {leaders}");
    assert!(diff > 0 && trunc > 0 && snap > 0, "DIFF {diff}, TRUNC {trunc}, SNAP {snap}");
}

/// Crashing the leader: its followers' sessions break, they elect a new
/// leader of a later epoch, and the old one, restarted, follows it after
/// synchronizing its logged transactions.
#[test]
fn a_crashed_leader_is_replaced_and_rejoins() {
    let s = basic_with("[[faults]]\nat = \"3s\"\nkind = \"crash\"\nnode = \"leader\"\nrestart_after = \"1s\"\n");
    let report = run(&s, 1);
    assert_all_pass("crashed leader", &report);
    assert_eq!(report.faults.iter().filter(|f| f.kind == "crash").count(), 1);
    assert_eq!(report.metrics.counter("leaders_elected"), 2);
    assert_eq!(report.metrics.counter("max_established_epoch"), 2, "the new leader leads a later epoch");
    assert!(coverage(&report, "follower's session to its leader broke") >= 4);
    assert_eq!(coverage(&report, "server restarts with logged transactions"), 1);
    assert!(coverage(&report, "late server joins an established leader") >= 1, "the restarted server rejoins");
    // The cluster was without an established leader only briefly.
    let leaderless = report.metrics.counter("leaderless_ms");
    assert!(leaderless > 0 && leaderless < 300, "leaderless_ms {leaderless}");
}

/// A server cut off while the others compact their histories catches up
/// with a snapshot (SNAP) when it comes back.
#[test]
fn a_lagging_follower_catches_up_with_a_snapshot() {
    let s = basic_with(
        "[params]\nsnapshot_every = 100\n\n[[faults]]\nat = \"2s\"\nkind = \"isolate\"\nnode = 0\nheal_after = \"4s\"\n",
    );
    let report = run(&s, 1);
    assert_all_pass("isolated follower", &report);
    assert!(coverage(&report, "follower synchronized by SNAP") >= 1);
    assert!(report.metrics.counter("snapshots_installed") >= 1);
    // Its clients were turned away while it was cut off, and served after.
    assert!(coverage(&report, "client turned away: server not serving") > 0);
}

/// Without a quorum the leader steps down within the sync limit, and the
/// minority stops serving: nothing it answers is stale (linearizability
/// passes) and the majority elects a leader of its own.
#[test]
fn a_leader_without_a_quorum_steps_down() {
    let s = basic_with("[[faults]]\nat = \"3s\"\nkind = \"isolate\"\nnode = \"leader\"\nheal_after = \"2s\"\n");
    let report = run(&s, 1);
    assert_all_pass("partitioned leader", &report);
    assert!(report.metrics.counter("leaders_elected") >= 2);
    assert!(report.metrics.counter("leader_step_downs") >= 1);
    assert!(coverage(&report, "leader steps down: no quorum within the sync limit") >= 1);
}

/// Bad `[params]` are refused with the place of the mistake.
#[test]
fn bad_params_are_located_errors() {
    let base = "name = \"p\"\nprotocol = \"zab\"\nnodes = 3\nduration = \"1s\"\n\n";
    let cases = [
        ("[params]\nmax_in_flight = 0\n", "p.toml:7:1: `max_in_flight` must be 1 to 10000"),
        ("[params]\ntick_interval = \"300ms\"\n", "p.toml:7:1: `tick_interval` (300ms)"),
        ("[params]\nfinalize_wait = \"1s\"\n", "p.toml:7:1: `finalize_wait` (1s)"),
        ("[params]\nsnapshot_every = 0\n", "p.toml:7:1: `snapshot_every` must be 1 to 1000000"),
        ("[params]\nsync_limt = \"1s\"\n", "did you mean `sync_limit`"),
        ("[params.bugs]\nack_before_durabl = true\n", "did you mean `ack_before_durable`"),
    ];
    for (params, expected) in cases {
        let err = parse_scenario(&format!("{base}{params}"), "p.toml").expect_err(params).to_string();
        assert!(err.contains(expected), "{params}: {err}");
    }
    // Session links never lose, so a loss rate is refused, not ignored.
    let lossy = format!("{base}[network]\nloss = 0.1\n");
    let err = parse_scenario(&lossy, "p.toml").expect_err("loss on session links").to_string();
    assert!(err.contains("would do nothing on a session link"), "{err}");
}

/// Every coverage point the node marks is declared, once, with a
/// description, and every declared point is marked.
#[test]
fn coverage_points_are_declared_as_marked() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/zab");
    let mut marked = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("src/zab") {
        let text = std::fs::read_to_string(entry.expect("an entry").path()).expect("a source file");
        for (at, _) in text.match_indices("reached(\"") {
            let rest = &text[at + "reached(\"".len()..];
            marked.insert(rest[..rest.find('"').expect("a closing quote")].to_string());
        }
    }
    let info = &faultline_protocols::zab::INFO;
    let declared: std::collections::BTreeSet<String> = info.coverage.iter().map(|p| p.name.to_string()).collect();
    assert_eq!(declared.len(), info.coverage.len(), "a point declared twice");
    assert!(info.coverage.iter().all(|p| !p.description.is_empty()));
    assert_eq!(marked, declared);
}

/// Why ZAB insists on FIFO links: on datagram links that lose, duplicate
/// and reorder, its followers keep finding proposals out of sequence and
/// synchronizations that do not close, and fall back to LOOKING. The
/// checks still pass (a follower never logs around a gap), but the cluster
/// completes a small fraction of what it does on sessions facing stalls
/// and resets.
#[test]
fn zab_on_datagram_links_stays_safe_but_stalls() {
    let datagram = scenario("scenarios/zab/datagram.toml");
    let sessions = scenario("scenarios/zab/lossy.toml");
    let (mut ok_datagram, mut ok_sessions, mut out_of_sequence, mut refused) = (0, 0, 0, 0);
    for seed in 1..=10 {
        let report = run(&datagram, seed);
        assert_all_pass("datagram", &report);
        ok_datagram += report.metrics.counter("client_ops_ok");
        out_of_sequence += coverage(&report, "proposal out of sequence: back to looking");
        refused += report.metrics.counter("sync_refused");
        ok_sessions += run(&sessions, seed).metrics.counter("client_ops_ok");
    }
    assert!(out_of_sequence > 0 && refused > 0, "{out_of_sequence} out of sequence, {refused} refused");
    assert!(ok_datagram * 5 < ok_sessions, "datagram {ok_datagram} ops vs sessions {ok_sessions}");
}
