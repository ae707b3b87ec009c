//! Gossip dissemination end to end, held to the analyses it should obey and
//! to an independent model of synchronous push.

use std::path::{Path, PathBuf};

use faultline_protocols::{load_scenario, parse_scenario, Loaded, RunOptions};
use faultline_sim::{RunReport, Verdict};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

fn text(relative: &str) -> String {
    std::fs::read_to_string(path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// `scenarios/gossip/push.toml` with `[params]` keys replaced or added and
/// the node count set.
fn push_with(nodes: u32, params: &[(&str, &str)]) -> Loaded {
    let mut s = text("scenarios/gossip/push.toml").replace("nodes = 1000\n", &format!("nodes = {nodes}\n"));
    for (key, value) in params {
        let line = format!("{key} = {value}\n");
        match s.lines().find(|l| l.starts_with(&format!("{key} ="))) {
            Some(old) => s = s.replace(&format!("{old}\n"), &line),
            None => s = s.replace("[params]\n", &format!("[params]\n{line}")),
        }
    }
    parse_scenario(&s, "push-edited").unwrap_or_else(|e| panic!("{e}\n{s}"))
}

fn run(s: &Loaded, seed: u64) -> RunReport {
    let report = s.run(seed, RunOptions::default());
    for c in &report.checks {
        assert_eq!(c.verdict, Verdict::Pass, "seed {seed}: {} {}", c.name, c.detail);
    }
    report
}

/// Mean rounds until all know, over `seeds`, and how many runs completed.
fn mean_rounds(s: &Loaded, seeds: std::ops::RangeInclusive<u64>) -> f64 {
    let (mut sum, mut runs) = (0u64, 0u64);
    for seed in seeds {
        let r = run(s, seed);
        assert_eq!(r.metrics.counter("rumors_incomplete"), 0, "seed {seed}: the rumor did not reach everyone");
        let h = r.metrics.histogram("rumor_complete_rounds").expect("a completed rumor");
        sum += h.max();
        runs += 1;
    }
    sum as f64 / runs as f64
}

/// Residue of one rumor over `seeds`: live nodes that never learned it, as
/// a share of the live nodes.
fn residue(s: &Loaded, seeds: std::ops::RangeInclusive<u64>) -> f64 {
    let (mut missed, mut live) = (0, 0);
    for seed in seeds {
        let r = run(s, seed);
        missed += r.metrics.counter("residue_nodes");
        live += r.metrics.counter("residue_live_nodes");
    }
    missed as f64 / live as f64
}

/// Synchronous push with fanout 1, outside the engine: each round every
/// informed node tells one uniformly chosen other node; the rounds until
/// all `n` know.
fn oracle_push_rounds(n: usize, rng: &mut ChaCha8Rng) -> u64 {
    let mut knows = vec![false; n];
    knows[0] = true;
    let (mut informed, mut rounds) = (1, 0);
    while informed < n {
        rounds += 1;
        let tellers: Vec<usize> = (0..n).filter(|&i| knows[i]).collect();
        for i in tellers {
            let mut to = rng.gen_range(0..n - 1);
            if to >= i {
                to += 1;
            }
            if !knows[to] {
                knows[to] = true;
                informed += 1;
            }
        }
    }
    rounds
}

/// Push with fanout 1 in lock step takes the rounds an independent model of
/// synchronous push takes, and about log₂ n + ln n of them (Pittel 1987).
#[test]
fn push_rounds_match_an_independent_model_and_pittel() {
    let n = 1000;
    let engine = mean_rounds(&push_with(n, &[]), 1..=100);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let trials = 400;
    let oracle = (0..trials).map(|_| oracle_push_rounds(n as usize, &mut rng)).sum::<u64>() as f64 / trials as f64;
    let pittel = (n as f64).log2() + (n as f64).ln();
    assert!((engine - oracle).abs() < 0.4, "engine {engine:.2} rounds, independent model {oracle:.2}");
    assert!((engine / pittel - 1.0).abs() < 0.1, "engine {engine:.2} rounds, log2 n + ln n = {pittel:.2}");
}

/// Push-pull beats push, and pull alone finishes like push (Karp et al.):
/// all three reach everyone.
#[test]
fn push_pull_is_faster_than_push() {
    let push = mean_rounds(&push_with(1000, &[]), 1..=30);
    let push_pull = mean_rounds(&push_with(1000, &[("mode", "\"push-pull\"")]), 1..=30);
    let pull = mean_rounds(&push_with(1000, &[("mode", "\"pull\"")]), 1..=30);
    assert!(push_pull < push - 3.0, "push-pull {push_pull:.2} rounds, push {push:.2}");
    assert!(pull < push + 3.0, "pull {pull:.2} rounds, push {push:.2}");
}

/// Rumor mongering with feedback and a counter of k leaves the residue
/// s = e^{−(k+1)(1−s)} of Demers et al. (§1.4), within 10%.
#[test]
fn counter_rumor_mongering_leaves_demers_residue() {
    for k in 1..=3u32 {
        let s = push_with(1000, &[("stop", "\"counter\""), ("k", &k.to_string()), ("feedback", "true")]);
        let measured = residue(&s, 1..=100);
        let mut formula = 0.5f64;
        for _ in 0..200 {
            formula = (-(f64::from(k) + 1.0) * (1.0 - formula)).exp();
        }
        assert!((measured / formula - 1.0).abs() < 0.1, "k = {k}: residue {measured:.4}, formula {formula:.4}");
    }
}

/// Anti-entropy repairs what rumor mongering leaves behind: with k = 1 a
/// fifth of the nodes miss the rumor, and digest exchanges every 200ms
/// bring it to all of them.
#[test]
fn anti_entropy_repairs_the_residue() {
    let base = [("stop", "\"counter\""), ("k", "1")];
    assert!(residue(&push_with(1000, &base), 1..=5) > 0.1);
    let repaired = push_with(1000, &[base[0], base[1], ("anti_entropy", "\"200ms\"")]);
    for seed in 1..=5 {
        let r = run(&repaired, seed);
        assert_eq!(r.metrics.counter("residue_nodes"), 0, "seed {seed}");
        assert_eq!(r.metrics.counter("rumors_complete"), 1, "seed {seed}");
    }
}

/// A rumor due at a crashed node is lost with it; one that reached others
/// first still reaches every live node, and crashed nodes are not counted.
#[test]
fn crashed_nodes_are_left_out_of_completion() {
    let s = text("scenarios/gossip/push.toml")
        + "\n[[faults]]\nat = \"50ms\"\nkind = \"crash\"\nnode = 7\n\n[[faults]]\nat = \"50ms\"\nkind = \"crash\"\nnode = 9\n";
    let s = parse_scenario(&s, "crashes").unwrap_or_else(|e| panic!("{e}"));
    let r = run(&s, 1);
    assert_eq!(r.metrics.counter("rumors_complete"), 1);
    assert_eq!(r.metrics.counter("residue_live_nodes"), 998);
}

/// Bad `[params]` are refused with the place of the mistake.
#[test]
fn bad_params_are_located_errors() {
    let base = "name = \"g\"\nprotocol = \"gossip\"\nnodes = 10\nduration = \"1s\"\n\n";
    let cases = [
        ("[params]\nfanout = 0\n", "g:7:1: `fanout` must be 1 to 9"),
        ("[params]\nfanout = 10\n", "g:7:1: `fanout` must be 1 to 9"),
        ("[params]\njitter = 1.5\n", "g:7:1: `jitter` must be 0 to 1"),
        ("[params]\nround = \"0s\"\n", "g:7:1: `round` must be above zero"),
        ("[params]\nmode = \"shout\"\n", "push-pull"),
        ("[params]\nrumors = [{ node = 10 }]\n", "rumor 0 starts at node 10, but the nodes are 0 to 9"),
        ("[params]\nrumors = []\n", "`rumors` must list 1 to 64 rumors"),
        ("[params]\nfanuot = 2\n", "fanout"),
        ("[params]\nconverge_within = \"5s\"\n", "set `anti_entropy` too"),
        ("[params]\nanti_entropy = \"1s\"\nconverge_within = \"500ms\"\n", "at least one `anti_entropy` interval"),
    ];
    for (params, expected) in cases {
        let source = format!("{base}{params}");
        let err = match parse_scenario(&source, "g") {
            Ok(_) => panic!("accepted:\n{source}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(expected), "{params}: {err}");
    }
}

/// The shipped scenarios load and pass.
#[test]
fn shipped_scenarios_pass() {
    let s = load_scenario(Path::new(&path("scenarios/gossip/push.toml"))).unwrap_or_else(|e| panic!("{e}"));
    let r = run(&s, s.seed);
    assert_eq!(r.metrics.counter("rumors_complete"), 1);
}

/// The bug knob is caught by its check at the scenario's seed, and the same
/// scenario with the knob off passes.
#[test]
fn the_no_repair_knob_is_caught_by_convergence() {
    let file = "scenarios/gossip/bugs/no-repair.toml";
    let s = load_scenario(Path::new(&path(file))).unwrap_or_else(|e| panic!("{e}"));
    let report = s.run(s.seed, RunOptions::default());
    let failed = report.failure().unwrap_or_else(|| panic!("{file}: seed {} passed", s.seed));
    assert_eq!(failed.name, "invariants");
    let v = failed.violation.as_ref().expect("a violation");
    assert_eq!(v.check, "convergence", "{}", v.message);
    let fixed = text(file).replace("no_repair = true", "no_repair = false");
    let fixed = parse_scenario(&fixed, "fixed").unwrap_or_else(|e| panic!("{e}"));
    run(&fixed, s.seed);
}

/// Rumor mongering and anti-entropy converge through crashes, partitions,
/// pauses, drift and steady loss.
#[test]
fn gossip_converges_through_chaos() {
    let s = load_scenario(Path::new(&path("scenarios/gossip/chaos.toml"))).unwrap_or_else(|e| panic!("{e}"));
    for seed in 1..=100 {
        let r = run(&s, seed);
        assert_eq!(r.metrics.counter("convergence_unjudged"), 0, "seed {seed}: nothing judged");
    }
}
