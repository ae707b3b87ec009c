//! `faultline explore` and `faultline shrink`, driven through the binary: a
//! bug knob is found and its reproducer fails again in a fresh process with
//! the same fingerprint; the seed found does not depend on the thread count;
//! shrinking keeps the failure and makes the scenario smaller; mistakes exit 2.

use std::path::Path;
use std::process::Output;

mod common;
use common::{assert_exit, command, path, text};

const KNOB: &str = "scenarios/raft/bugs/truncate-on-any-append.toml";

fn faultline(args: &[&str]) -> Output {
    command(args).output().expect("run the faultline binary")
}

/// The value after `label` on the line that starts with it.
fn field<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stdout}"))
        .trim()
}

/// (reproducer path, fingerprint) from explore's `reproducer` line.
fn reproducer(stdout: &str) -> (String, String) {
    let line = field(stdout, "reproducer");
    let file = line.split_whitespace().next().expect("a path").to_string();
    let fingerprint = line.rsplit(' ').next().expect("a fingerprint").to_string();
    (file, fingerprint)
}

fn fingerprint_of_run(file: &str) -> (Output, String) {
    let out = faultline(&["run", file]);
    let stdout = text(&out.stdout);
    let fp = field(&stdout, "fingerprint").to_string();
    (out, fp)
}

#[test]
fn swarm_finds_a_bug_knob_and_its_reproducer_fails_again_with_the_same_fingerprint() {
    let dir = common::scratch("explore-tests", "swarm");
    let out = faultline(&["explore", KNOB, "--swarm", "--seeds", "1..=300", "-j", "2", "--out", path(&dir)]);
    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    assert!(field(&stdout, "failure").contains("invariants"), "{stdout}");
    assert!(stdout.contains("\nmix "), "a swarm failure names its fault mix:\n{stdout}");
    let (file, fingerprint) = reproducer(&stdout);
    assert!(Path::new(&file).exists());
    let written = std::fs::read_to_string(&file).expect("the reproducer");
    assert!(!written.lines().any(|l| l.trim() == "[chaos]"), "the drawn faults are written out explicitly");
    assert!(written.contains("[[faults]]") && written.contains("[expect]"));
    // A fresh process, plain `run`: fails again, same fingerprint.
    let (again, fp) = fingerprint_of_run(&file);
    // It fails as its [expect] pins: exit 0 (1 would say the expectation was not met).
    assert_exit(&again, 0);
    assert_eq!(fp, fingerprint);
    assert!(text(&again.stdout).contains("expected     met"), "{}", text(&again.stdout));
}

#[test]
fn the_seed_found_does_not_depend_on_the_thread_count() {
    let dir = common::scratch("explore-tests", "threads");
    // A knob whose first failing swarm seed is far into the range, so the
    // threads race past it.
    let knob = "scenarios/raft/bugs/commit-previous-term.toml";
    let found = |jobs: &str| {
        let out = faultline(&["explore", knob, "--swarm", "--seeds", "1..=300", "-j", jobs, "--out", path(&dir)]);
        assert_exit(&out, 1);
        field(&text(&out.stdout), "failure").split(':').next().expect("seed N").to_string()
    };
    let one = found("1");
    assert_eq!(one, found("2"));
    assert_eq!(one, found("8"));
}

#[test]
fn a_correct_protocol_explores_clean_and_exits_0() {
    let dir = common::scratch("explore-tests", "clean");
    let out = faultline(&["explore", "scenarios/raft/chaos.toml", "--swarm", "--seeds", "1..=20", "--out", path(&dir)]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(field(&stdout, "tried").starts_with("20 seeds"), "{stdout}");
    assert!(stdout.contains("no failure"), "{stdout}");
}

#[test]
fn shrink_keeps_the_failure_and_makes_the_scenario_smaller() {
    let dir = common::scratch("explore-tests", "shrink");
    let out = faultline(&["explore", KNOB, "--seeds", "1..=50", "--out", path(&dir)]);
    assert_exit(&out, 1);
    let (file, _) = reproducer(&text(&out.stdout));
    let seed = field(&text(&out.stdout), "failure").split(':').next().unwrap().trim_start_matches("seed ").to_string();
    let min = dir.join("min.toml");
    let out = faultline(&["shrink", &file, "--seed", &seed, "--out", path(&min), "--max-runs", "300"]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("step   1"), "shrinking prints its steps:\n{stdout}");
    let before_after = |label: &str| -> (u64, u64) {
        let v: Vec<u64> =
            field(&stdout, label).split(" -> ").map(|n| n.replace(',', "").parse().expect("a count")).collect();
        (v[0], v[1])
    };
    let (faults_before, faults_after) = before_after("faults");
    let (events_before, events_after) = before_after("events");
    assert!(faults_after <= faults_before && events_after < events_before, "{stdout}");
    let printed = field(&stdout, "reproducer").rsplit(' ').next().unwrap().to_string();
    let (again, fp) = fingerprint_of_run(path(&min));
    // It fails as its [expect] pins: exit 0.
    assert_exit(&again, 0);
    assert_eq!(fp, printed, "the minimal reproducer fails again with the fingerprint shrink printed");
}

#[test]
fn shrinking_a_passing_seed_or_a_missing_file_is_bad_input() {
    let out = faultline(&["shrink", "scenarios/raft/basic.toml", "--seed", "1"]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("nothing to shrink"), "{}", text(&out.stderr));
    let out = faultline(&["explore", "scenarios/nope.toml"]);
    assert_exit(&out, 2);
    let out = faultline(&["explore", KNOB, "--time", "0"]);
    assert_exit(&out, 2);
    let out = faultline(&["explore", KNOB, "--seeds", "9..3"]);
    assert_exit(&out, 2);
    // A reproducer could not name a seed past i64::MAX.
    let out = faultline(&["explore", KNOB, "--seeds", "9223372036854775808..=9223372036854775900"]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("largest seed"), "{}", text(&out.stderr));
}
