//! Faults at random times and machines that differ, through the scenario
//! loader: each assertion fails with the mechanism switched off.

use faultline_protocols::{parse_scenario, Loaded, RunOptions};
use faultline_sim::Time;

fn scenario(text: &str) -> Loaded {
    parse_scenario(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

const RAFT: &str = r#"
name = "t"
protocol = "raft"
nodes = 5
duration = "3s"
[network]
latency = { dist = "constant", value = "1ms" }
[workload]
clients = 1
"#;

/// Pearson's chi-square statistic of `samples` in `[0, 1)` over `bins`
/// equal bins, against the uniform distribution.
fn chi_square(samples: &[f64], bins: usize) -> f64 {
    let mut counts = vec![0usize; bins];
    for &x in samples {
        counts[((x * bins as f64) as usize).min(bins - 1)] += 1;
    }
    let expected = samples.len() as f64 / bins as f64;
    counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum()
}

/// The 0.999 quantile of chi-square with 9 degrees of freedom: a uniform
/// sample exceeds it one time in a thousand.
const CHI2_9_999: f64 = 27.877;

fn crash_times(at: &str) -> Vec<f64> {
    let s = scenario(&format!("{RAFT}\n[[faults]]\nat = {at}\nkind = \"crash\"\nnode = 2\n"));
    (1..=1000)
        .map(|seed| {
            let at = s.world_config(seed).faults[0].at;
            (at.since(Time::ZERO).as_secs_f64() - 1.0) / 0.5
        })
        .collect()
}

#[test]
fn a_fault_with_a_time_window_lands_uniformly_over_1000_seeds() {
    let windowed = crash_times(r#"{ min = "1s", max = "1.5s" }"#);
    assert!(windowed.iter().all(|x| (0.0..=1.0).contains(x)), "every draw inside the window");
    let chi2 = chi_square(&windowed, 10);
    println!("chi-square over 10 bins, 1,000 seeds: {chi2:.2} (0.999 critical value {CHI2_9_999})");
    assert!(chi2 < CHI2_9_999, "chi-square {chi2} says the draws are not uniform");
    // A fixed time puts every seed in one bin.
    let fixed = crash_times(r#""1.25s""#);
    assert!(chi_square(&fixed, 10) > CHI2_9_999);
}

#[test]
fn chaos_max_faults_and_end_bound_the_schedule() {
    let s = scenario(&format!(
        "{RAFT}\n[chaos]\nstart = \"1s\"\nend = \"2s\"\nmean_interval = \"10ms\"\nkinds = [\"crash\"]\nmax_faults = 1\n"
    ));
    for seed in 1..=50 {
        let faults = s.world_config(seed).faults;
        assert_eq!(faults.len(), 1, "seed {seed}: exactly one crash");
        let at = faults[0].at.since(Time::ZERO).as_secs_f64();
        assert!((1.0..2.0).contains(&at), "seed {seed}: inside [start, end): {at}");
    }
    let unbounded =
        scenario(&format!("{RAFT}\n[chaos]\nstart = \"1s\"\nmean_interval = \"10ms\"\nkinds = [\"crash\"]\n"));
    assert!(unbounded.world_config(1).faults.len() > 100);
}

/// Raft with no timeout randomness: every node arms the same election
/// timeout. On identical machines the five time out together, split the vote
/// in every term and never elect; real machines boot apart and do.
#[test]
fn start_up_jitter_breaks_lockstep() {
    let lockstep = |machines: &str| {
        let s = scenario(&format!(
            "{RAFT}\n[params]\nelection_timeout_min = \"150ms\"\nelection_timeout_max = \"150ms\"\n{machines}"
        ));
        (1..=20).filter(|&seed| s.run(seed, RunOptions::default()).metrics.counter("leaders_elected") > 0).count()
    };
    let ideal = "[machines]\nstart_jitter = \"0s\"\nclock_offset = \"0s\"\nclock_drift_ppm = 0\n";
    assert_eq!(lockstep(ideal), 0, "identical machines stay in lockstep");
    let typical = "[machines]\nstart_jitter = \"10ms\"\nclock_drift_ppm = 100\n";
    assert_eq!(lockstep(typical), 20, "machines that differ elect a leader");
}

/// A fault timed by a role change: the second crash waits for the next
/// leader and strikes within 5 ms of its election, so the cluster needs a
/// third election. Without `after_role` the same fault strikes at 2 s, the
/// same instant as the first crash.
#[test]
fn a_fault_after_a_role_change_strikes_the_new_leader_within_its_delay() {
    let crashes = |after: &str| {
        let s = scenario(&format!(
            "{RAFT}\n[[faults]]\nat = \"2s\"\nkind = \"crash\"\nnode = \"leader\"\n\
             [[faults]]\nat = \"2s\"\nkind = \"crash\"\nnode = \"leader\"\n{after}"
        ));
        let report = s.run(1, RunOptions::default());
        let at: Vec<f64> =
            report.faults.iter().filter(|f| f.kind == "crash").map(|f| f.at.since(Time::ZERO).as_secs_f64()).collect();
        let elections: Vec<f64> = report.metrics.histogram("elected_us").map_or(Vec::new(), |h| {
            h.iter_recorded().map(|v| h.median_equivalent(v.value_iterated_to()) as f64 / 1e6).collect()
        });
        (at, report.metrics.counter("leaders_elected"), elections)
    };
    let (timed, elected, elections) = crashes("after_role = \"leader\"\ndelay = { min = \"0ms\", max = \"5ms\" }\n");
    assert_eq!(timed.len(), 2, "both crashes struck: {timed:?}");
    let gap = timed[1] - timed[0];
    // The first crash's election, measured by the monitor, came 0-5 ms
    // before the second crash (give or take the histogram's 0.1%).
    assert!(
        elections.iter().any(|&e| (-0.0005..=0.0055).contains(&(gap - e))),
        "the second crash struck within 5 ms of the election: gap {gap} s, elections {elections:?}"
    );
    // The second leader is elected at least half an election timeout
    // (75 ms) after the first crash and well within a second.
    assert!((0.07..1.0).contains(&gap), "the second crash waited for the next leader: {gap} s");
    assert!(elected >= 3, "a third leader was needed: {elected}");
    let (fixed, _, _) = crashes("");
    assert_eq!(fixed.len(), 1, "without after_role the second crash finds no leader at 2 s: {fixed:?}");
}
