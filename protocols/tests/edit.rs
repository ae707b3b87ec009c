//! Loaded rewriting for the bug-hunting commands: a `[chaos]` section
//! written out as explicit faults replays the very same run, and swarm mixes
//! stay within the scenario's bounds while switching each kind fully off for
//! some seeds.

use std::path::{Path, PathBuf};

use faultline_protocols::Loaded;
use faultline_protocols::{load_scenario, parse_scenario, RunOptions};
use faultline_scenario::edit::{swarm, ScenarioDoc};

fn scenario(relative: &str) -> Loaded {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative);
    load_scenario(Path::new(&path)).unwrap_or_else(|e| panic!("{e}"))
}

fn fingerprint(s: &Loaded, seed: u64) -> u64 {
    s.run(seed, RunOptions::default()).fingerprint
}

/// Rewriting starts from the file as written: every shipped scenario comes
/// back byte for byte (comments, order, spacing) when nothing is edited.
#[test]
fn an_unedited_scenario_is_unchanged() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut dirs = vec![root];
    let mut seen = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a scenarios directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&path).expect("readable");
                let doc = ScenarioDoc::parse(&text).expect("parses");
                assert_eq!(doc.text(), text, "{}", path.display());
                seen += 1;
            }
        }
    }
    assert!(seen > 20, "scenarios seen: {seen}");
}

#[test]
fn chaos_written_out_replays_the_same_run() {
    let s = scenario("scenarios/raft/chaos.toml");
    assert!(s.chaos.is_some());
    for seed in 1..=5 {
        let mut doc = ScenarioDoc::from_scenario(&s);
        doc.write_out_chaos(s.chaos.as_ref(), s.nodes, s.duration, seed).expect("few faults");
        let text = doc.text();
        assert!(!text.contains("[chaos]") && text.contains("[[faults]]"));
        let explicit = parse_scenario(&text, "written").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(explicit.chaos.is_none());
        assert_eq!(fingerprint(&explicit, seed), fingerprint(&s, seed), "seed {seed}");
    }
}

#[test]
fn swarm_mixes_vary_within_bounds_and_switch_kinds_fully_off() {
    let s = scenario("scenarios/raft/chaos.toml");
    let chaos = s.chaos.clone().expect("a chaos section");
    let mut kind_off = vec![false; chaos.kinds.len()];
    let mut kind_on = vec![false; chaos.kinds.len()];
    let mut loss_off = false;
    let mut mixes = Vec::new();
    for seed in 1..=60 {
        let (doc, mix) = swarm(&s, seed).expect("few faults");
        let drawn = parse_scenario(&doc.text(), "swarm").unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(drawn.chaos.is_none(), "the drawn chaos is written out");
        assert!(drawn.network.loss.get() <= s.network.loss.get());
        assert!(drawn.network.duplicate.get() <= s.network.duplicate.get());
        for (i, k) in chaos.kinds.iter().enumerate() {
            kind_on[i] |= mix.kinds_on.contains(k);
            kind_off[i] |= mix.kinds_off.contains(k);
        }
        loss_off |= mix.rates.iter().any(|(k, r)| *k == "loss" && r.is_none());
        let (lo, hi) = mix.fault_duration.expect("a fault length range");
        assert!(chaos.fault_duration_min <= lo && lo <= hi && hi <= chaos.fault_duration_max);
        // The same seed draws the same mix.
        assert_eq!(swarm(&s, seed).expect("few faults").1, mix);
        mixes.push(mix);
    }
    assert!(kind_on.iter().all(|&b| b) && kind_off.iter().all(|&b| b), "every kind both on and off somewhere");
    assert!(loss_off);
    mixes.dedup();
    assert!(mixes.len() > 50, "seeds draw different mixes");
}

/// With a `[swarm]` section, seeds redraw the latency (some keep the
/// scenario's own), hold messages within the bounds, slow or hold back links
/// between distinct nodes, and draw the protocol parameters inside their
/// ranges; every drawn scenario loads, and a seed always draws the same.
#[test]
fn swarm_draws_the_network_shape_and_parameters_within_the_swarm_section() {
    let s = scenario("scenarios/raft/heavy-tails.toml");
    let bounds = s.swarm.clone();
    let (mut redrawn, mut kept, mut held, mut links, mut params) = (0, 0, 0, 0, 0);
    for seed in 1..=80 {
        let (doc, mix) = swarm(&s, seed).expect("few faults");
        let drawn = parse_scenario(&doc.text(), "swarm").unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        if drawn.network.latency == s.network.latency {
            kept += 1;
        } else {
            redrawn += 1;
            let typical = drawn.network.latency.typical();
            // The drawn scale is the median or mean; a uniform's midpoint and
            // a pareto's median sit near it.
            assert!(typical.as_nanos() <= bounds.latency_max.as_nanos() * 2, "seed {seed}: {typical}");
            assert!(bounds.latency.iter().any(|f| f == drawn.network.latency.family()));
        }
        if drawn.network.hold != s.network.hold {
            held += 1;
            assert!(drawn.network.hold.get() <= bounds.hold.get());
            assert!(bounds.hold_min <= drawn.network.hold_min && drawn.network.hold_max <= bounds.hold_max);
        }
        assert!(drawn.link_overrides.len() <= bounds.slow_links as usize);
        for (from, to, _) in &drawn.link_overrides {
            assert_ne!(from, to);
            links += 1;
        }
        for (key, value) in &mix.params {
            params += 1;
            let v: i64 = value.parse().unwrap_or_else(|_| panic!("seed {seed}: {key} = {value}"));
            let p = bounds.params.iter().find(|p| p.name == *key).expect("a declared parameter");
            match p.range {
                faultline_scenario::ParamRange::Int { min, max } => assert!(min <= v && v <= max, "{key} = {v}"),
                _ => panic!("heavy-tails draws integers"),
            }
        }
        assert_eq!(swarm(&s, seed).expect("few faults").1, mix, "seed {seed} draws the same mix again");
    }
    assert!(redrawn > 10 && kept > 10, "latency redrawn {redrawn}, kept {kept}");
    assert!(held > 10 && links > 10 && params > 20, "held {held}, links {links}, params {params}");
}
