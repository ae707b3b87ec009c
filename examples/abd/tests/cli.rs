//! The example's own binary, driven the way a user drives it: the clean
//! scenario passes; `explore --swarm` finds the `skip_read_write_back` knob
//! and writes a reproducer; `shrink` makes it smaller and it still fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn abd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline-abd"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run the faultline-abd binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "stdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr));
}

/// The value after `label` on the line that starts with it.
fn field<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stdout}"))
        .trim()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("abd-example").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn the_clean_scenario_passes_every_check() {
    let out = abd(&["run", "scenarios/clean.toml"]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    for check in ["register_monotonic", "linearizability", "liveness"] {
        let line = stdout.lines().find(|l| l.starts_with("check") && l.contains(check));
        assert!(line.is_some_and(|l| l.contains(" pass ")), "{check} must pass:\n{stdout}");
    }
}

/// The bug scenario's `seed` is the first seed from 1 that fails, and it
/// fails by linearizability: a change that moves the run off the bug's path
/// shows here, with the seed to pin instead.
#[test]
fn the_bug_scenario_fails_first_at_its_own_seed() {
    let out =
        abd(&["explore", "scenarios/bug.toml", "--seeds", "1..=500", "-j", "1", "--out", path(&scratch("first"))]);
    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    let tried = field(&stdout, "tried");
    assert!(tried.contains("first failure at seed 50 "), "bug.toml pins seed 50:\n{stdout}");
    let out = abd(&["run", "scenarios/bug.toml"]);
    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("check") && l.contains("linearizability") && l.contains("FAIL")));
}

#[test]
fn explore_finds_the_missing_write_back_and_shrink_makes_it_smaller() {
    let dir = scratch("explore");
    let out = abd(&["explore", "scenarios/bug.toml", "--swarm", "--seeds", "1..=50", "-j", "2", "--out", path(&dir)]);
    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    let failure = field(&stdout, "failure");
    assert!(failure.contains("linearizability"), "{stdout}");
    let seed = failure.split(':').next().expect("seed N").trim_start_matches("seed ").to_string();
    let reproducer = field(&stdout, "reproducer").split_whitespace().next().expect("a path").to_string();
    assert!(Path::new(&reproducer).exists(), "{stdout}");

    let min = dir.join("min.toml");
    let out = abd(&["shrink", &reproducer, "--seed", &seed, "--out", path(&min), "--max-runs", "200"]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    let before_after = |label: &str| -> (u64, u64) {
        let v: Vec<u64> =
            field(&stdout, label).split(" -> ").map(|n| n.replace(',', "").parse().expect("a count")).collect();
        (v[0], v[1])
    };
    let sizes: Vec<(u64, u64)> = ["faults", "clients", "operations", "events"].map(before_after).to_vec();
    assert!(sizes.iter().all(|(before, after)| after <= before), "{stdout}");
    assert!(sizes.iter().any(|(before, after)| after < before), "nothing got smaller:\n{stdout}");
    assert!(sizes[3].1 < sizes[3].0, "fewer events:\n{stdout}");

    let again = abd(&["run", path(&min)]);
    // It fails as its [expect] says: exit 0.
    assert_exit(&again, 0);
    assert!(text(&again.stdout).contains("expected     met"), "{}", text(&again.stdout));
}

#[test]
fn compare_and_set_and_retries_are_refused_with_a_location() {
    let dir = scratch("refused");
    let clean = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/clean.toml")).unwrap();
    for (from, to, key) in
        [("cas_ratio = 0.0", "cas_ratio = 0.2", "cas_ratio"), ("retries = 0", "retries = 2", "retries")]
    {
        let file = dir.join(format!("{key}.toml"));
        std::fs::write(&file, clean.replace(from, to)).unwrap();
        let out = abd(&["validate", path(&file)]);
        assert_exit(&out, 2);
        let stderr = text(&out.stderr);
        let line = clean.lines().position(|l| l.starts_with(from)).unwrap() + 1;
        assert!(stderr.contains(&format!("{key}.toml:{line}:")) && stderr.contains(key), "{stderr}");
    }
}
