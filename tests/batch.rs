//! `faultline batch` and `faultline merge`, driven through the binary: the
//! reports do not depend on the thread count, an interrupted batch resumes to
//! the same bytes, shards merge into exactly the unsharded batch, and a
//! directory holding another batch is refused.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

const RAFT: &str = "tests/fixtures/batch/raft-short.toml";
const ECHO: &str = "tests/fixtures/batch/echo-short.toml";
const RAFT_BUGGY: &str = "tests/fixtures/batch/raft-short-no-dedup.toml";
const SEEDS: &str = "1..=12";
const RUNS: usize = 24;

mod common;
use common::{assert_exit, command, path, text};

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    common::scratch("batch-tests", name)
}

fn faultline_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args).envs(env.iter().copied()).output().expect("run the faultline binary")
}

fn faultline(args: &[&str]) -> Output {
    faultline_with_env(args, &[])
}

/// The two-scenario batch every test starts from.
fn batch(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["batch", RAFT, ECHO, "--seeds", SEEDS, "--out", path(dir)];
    args.extend_from_slice(extra);
    faultline(&args)
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every `.hdr` file under `dir/histograms`, by relative path.
fn histogram_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let root = dir.join("histograms");
    for scenario in fs::read_dir(&root).expect("read histograms/") {
        let scenario = scenario.expect("entry").path();
        for file in fs::read_dir(&scenario).expect("read a scenario's histograms") {
            let file = file.expect("entry").path();
            let relative = file.strip_prefix(&root).expect("under histograms/").to_string_lossy().into_owned();
            files.insert(relative, read(&file));
        }
    }
    files
}

/// results.csv as (header, rows of cells).
fn results(dir: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = text(&read(&dir.join("results.csv")));
    let mut lines = text.lines().map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>());
    let header = lines.next().expect("a header");
    (header, lines.collect())
}

fn column(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

#[test]
fn thread_count_does_not_change_the_reports() {
    let (one, two) = (scratch("jobs-1"), scratch("jobs-2"));
    assert_exit(&batch(&one, &["-j", "1"]), 0);
    assert_exit(&batch(&two, &["-j", "2"]), 0);
    assert_eq!(text(&read(&one.join("results.csv"))), text(&read(&two.join("results.csv"))));
    assert_eq!(histogram_files(&one), histogram_files(&two));

    let (header, rows) = results(&one);
    assert_eq!(&header[..4], ["scenario", "file", "protocol", "seed"]);
    assert_eq!(rows.len(), RUNS);
    let (scenario, seed) = (column(&header, "scenario"), column(&header, "seed"));
    let order: Vec<(String, u64)> = rows.iter().map(|r| (r[scenario].clone(), r[seed].parse().unwrap())).collect();
    let expected: Vec<(String, u64)> =
        ["raft-short", "echo-short"].iter().flat_map(|s| (1..=12).map(move |n| (s.to_string(), n))).collect();
    assert_eq!(order, expected, "rows follow the command line's scenario order, then the seed");
    assert!(header.contains(&"elections".to_string()), "counter columns follow the fixed ones: {header:?}");

    // A row's fingerprint is the one `faultline run` prints for that seed.
    let run = faultline(&["run", RAFT, "--seed", "7", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&run.stdout).expect("run --json prints JSON");
    let row = rows.iter().find(|r| r[scenario] == "raft-short" && r[seed] == "7").expect("the seed 7 row");
    assert_eq!(json["fingerprint"].as_str(), Some(row[column(&header, "fingerprint")].as_str()));

    let timings = text(&read(&one.join("timings.csv")));
    assert!(timings.starts_with("scenario,seed,wall_time_s\n"), "{timings}");
    assert_eq!(timings.lines().count(), RUNS + 1);
    assert_eq!(read(&one.join("coverage.csv")), read(&two.join("coverage.csv")));
}

/// coverage.csv as (scenario, point) -> (seeds_reached, hits, seeds_total).
fn coverage(dir: &Path) -> BTreeMap<(String, String), (u64, u64, u64)> {
    let mut reader = csv::Reader::from_path(dir.join("coverage.csv")).expect("open coverage.csv");
    let header = reader.headers().expect("a header").clone();
    assert_eq!(header.iter().collect::<Vec<_>>(), ["scenario", "point", "seeds_reached", "hits", "seeds_total"]);
    reader
        .records()
        .map(|r| {
            let r = r.expect("a whole row");
            let n = |i: usize| r[i].parse::<u64>().expect("a count");
            ((r[0].to_string(), r[1].to_string()), (n(2), n(3), n(4)))
        })
        .collect()
}

#[test]
fn coverage_csv_counts_the_seeds_that_reached_each_point() {
    let dir = scratch("coverage");
    let out = batch(&dir, &[]);
    assert_exit(&out, 0);
    let table = coverage(&dir);
    let row = |point: &str| table.get(&("raft-short".to_string(), point.to_string())).copied();
    // Every declared Raft point has a row, reached or not, out of 12 seeds.
    let served = row("read index read served").expect("a declared point has a row");
    assert!(served.0 > 0 && served.1 >= served.0 && served.2 == 12, "{served:?}");
    let never = row("install snapshot to a follower holding later entries").expect("a declared point has a row");
    assert_eq!((never.0, never.1, never.2), (0, 0, 12));
    // echo declares none and reaches none.
    assert!(!table.keys().any(|(scenario, _)| scenario == "echo-short"), "{table:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("declared points reached in 12 runs of raft-short"), "{stdout}");
    assert!(stdout.contains("never reached: "), "{stdout}");
}

#[test]
fn an_interrupted_batch_resumes_to_the_same_reports() {
    let (whole, resumed) = (scratch("resume-whole"), scratch("resume-interrupted"));
    assert_exit(&batch(&whole, &["-j", "2"]), 0);
    assert_exit(&batch(&resumed, &["-j", "2"]), 0);

    // As if killed mid-write: 5 whole records, half of the sixth, no reports.
    let journal = resumed.join("runs.jsonl");
    let bytes = read(&journal);
    let line_ends: Vec<usize> = bytes.iter().enumerate().filter(|(_, &b)| b == b'\n').map(|(i, _)| i + 1).collect();
    assert_eq!(line_ends.len(), RUNS);
    let cut = line_ends[4] + (line_ends[5] - line_ends[4]) / 2;
    fs::write(&journal, &bytes[..cut]).unwrap();
    fs::remove_file(resumed.join("results.csv")).unwrap();
    fs::remove_file(resumed.join("timings.csv")).unwrap();
    fs::remove_dir_all(resumed.join("histograms")).unwrap();

    let out = batch(&resumed, &["-j", "2"]);
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains("19 run now"), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("5 resumed"), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("torn last line"), "{}", text(&out.stderr));
    assert_eq!(text(&read(&whole.join("results.csv"))), text(&read(&resumed.join("results.csv"))));
    assert_eq!(histogram_files(&whole), histogram_files(&resumed));
    assert_eq!(coverage(&whole), coverage(&resumed));

    // Every run exactly once in the journal, every line whole.
    let journal = text(&read(&journal));
    let mut keys: Vec<(u64, u64)> = journal
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a whole JSON line");
            (v["scenario_index"].as_u64().unwrap(), v["seed"].as_u64().unwrap())
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!((keys.len(), journal.lines().count()), (RUNS, RUNS));

    // A finished batch run again runs nothing and rewrites the same bytes.
    let out = batch(&resumed, &[]);
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains(" 0 run now"), "{}", text(&out.stdout));
    assert_eq!(text(&read(&whole.join("results.csv"))), text(&read(&resumed.join("results.csv"))));
}

#[test]
fn shards_merge_into_the_unsharded_batch() {
    let (whole, first, second, merged) =
        (scratch("shard-whole"), scratch("shard-1"), scratch("shard-2"), scratch("shard-merged"));
    assert_exit(&batch(&whole, &[]), 0);
    assert_exit(&batch(&first, &["--shard", "1/2"]), 0);
    // The second shard takes its index from a Kubernetes indexed job (0-based).
    let args = ["batch", RAFT, ECHO, "--seeds", SEEDS, "--out", path(&second), "--shard-count", "2"];
    assert_exit(&faultline_with_env(&args, &[("JOB_COMPLETION_INDEX", "1")]), 0);
    assert_eq!(results(&first).1.len() + results(&second).1.len(), RUNS);

    let out = faultline(&["merge", path(&first), path(&second), "--out", path(&merged)]);
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains("24 runs: pass 24"), "{}", text(&out.stdout));
    for file in ["results.csv", "coverage.csv", "manifest.json"] {
        assert_eq!(text(&read(&whole.join(file))), text(&read(&merged.join(file))), "{file}");
    }
    assert_eq!(histogram_files(&whole), histogram_files(&merged));

    // One shard alone is not the batch.
    let out = faultline(&["merge", path(&first), "--out", path(&scratch("shard-alone"))]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("shard 2/2 missing"), "{}", text(&out.stderr));
    // Nor is a shard named twice.
    let out = faultline(&["merge", path(&first), path(&first), "--out", path(&scratch("shard-twice"))]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("are both shard 1/2"), "{}", text(&out.stderr));
}

#[test]
fn merged_histograms_hold_every_run() {
    let dir = scratch("histograms");
    assert_exit(&batch(&dir, &[]), 0);
    let (header, rows) = results(&dir);
    let (scenario, ok) = (column(&header, "scenario"), column(&header, "client_ok"));
    let files = histogram_files(&dir);
    for name in ["raft-short", "echo-short"] {
        let bytes = &files[&format!("{name}/client_latency_us.hdr")];
        let h: Histogram<u64> = Deserializer::new().deserialize(&mut bytes.as_slice()).expect("a V2 histogram");
        let ops: u64 = rows.iter().filter(|r| r[scenario] == name).map(|r| r[ok].parse::<u64>().unwrap()).sum();
        assert!(ops > 0);
        assert_eq!(h.len(), ops, "{name}: one latency per successful client operation, over all seeds");
    }
    for metric in ["commit_latency_us", "failover_us"] {
        let bytes = &files[&format!("raft-short/{metric}.hdr")];
        let h: Histogram<u64> = Deserializer::new().deserialize(&mut bytes.as_slice()).expect("a V2 histogram");
        assert!(!h.is_empty(), "{metric} is empty");
    }
}

#[test]
fn a_directory_of_another_batch_is_refused() {
    let dir = scratch("mismatch");
    assert_exit(&faultline(&["batch", RAFT, "--seeds", "1..=3", "--out", path(&dir)]), 0);
    let before = read(&dir.join("results.csv"));

    let out = faultline(&["batch", RAFT, "--seeds", "1..=4", "--out", path(&dir)]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("seeds 1..=3 (not 1..=4)"), "{}", text(&out.stderr));
    let out = faultline(&["batch", ECHO, "--seeds", "1..=3", "--out", path(&dir)]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("scenario files"), "{}", text(&out.stderr));
    let out = faultline(&["batch", RAFT, "--seeds", "1..=3", "--shard", "1/2", "--out", path(&dir)]);
    assert_exit(&out, 2);
    assert_eq!(read(&dir.join("results.csv")), before, "a refused batch leaves the directory alone");

    // The same seeds written another way are the same batch.
    assert_exit(&faultline(&["batch", RAFT, "--seeds", "1..4", "--out", path(&dir)]), 0);

    // Shards of different batches do not merge.
    let (a, b) = (scratch("mismatch-a"), scratch("mismatch-b"));
    assert_exit(&faultline(&["batch", RAFT, "--seeds", "1..=4", "--shard", "1/2", "--out", path(&a)]), 0);
    assert_exit(&faultline(&["batch", RAFT, "--seeds", "1..=5", "--shard", "2/2", "--out", path(&b)]), 0);
    let out = faultline(&["merge", path(&a), path(&b), "--out", path(&scratch("mismatch-merged"))]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("does not belong with"), "{}", text(&out.stderr));
}

#[test]
fn bad_arguments_exit_2() {
    let dir = scratch("bad-arguments");
    for (args, message) in [
        (vec!["batch", RAFT, "--seeds", "1-10"], "is not a seed range"),
        (vec!["batch", RAFT, "--seeds", "5..5"], "is empty"),
        (vec!["batch", RAFT, "--seeds", "1..=3", "--shard", "3/2"], "does not exist"),
        (vec!["batch", RAFT, "--seeds", "1..=3", "--shard-count", "2"], "needs a shard index"),
        (vec!["batch", RAFT, "tests/fixtures/bad/loss_above_one.toml", "--seeds", "1"], "loss_above_one.toml:"),
        (vec!["batch", RAFT, RAFT, "--seeds", "1"], "named twice"),
    ] {
        let mut args = args.clone();
        args.extend_from_slice(&["--out", path(&dir)]);
        let out = faultline(&args);
        assert_exit(&out, 2);
        assert!(text(&out.stderr).contains(message), "{args:?}: {}", text(&out.stderr));
    }
    assert!(!dir.join("manifest.json").exists(), "nothing is written before the input is known good");
}

#[test]
fn failed_runs_exit_1_and_print_how_to_reproduce_them() {
    let dir = scratch("failures");
    let out = faultline(&["batch", RAFT_BUGGY, "--seeds", "1..=20", "--out", path(&dir)]);
    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    let (header, rows) = results(&dir);
    let (verdict, failed_check, seed) =
        (column(&header, "verdict"), column(&header, "failed_check"), column(&header, "seed"));
    let failed: Vec<&Vec<String>> = rows.iter().filter(|r| r[verdict] == "fail").collect();
    assert!(!failed.is_empty(), "the no_dedup bug is caught on some of 20 seeds");
    assert!(stdout.contains(&format!("fail {}", failed.len())), "{stdout}");
    for row in failed {
        assert_eq!(row[failed_check], "linearizability");
        let reproduce = format!("faultline run {RAFT_BUGGY} --seed {} ", row[seed]);
        assert!(stdout.contains(&reproduce), "{reproduce:?} missing from:\n{stdout}");
    }
}
