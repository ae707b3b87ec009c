//! `faultline cache replay` and `faultline bench --workload cache`, driven
//! through the binary: the hit ratios of a small trace (checked by hand
//! against a separate simulation), the files `--out` and `--mrc` write, the
//! same figures on any number of threads, CSV traces with sizes and TTLs,
//! and bad input refused with exit code 2 and a message naming the file and
//! line.

use std::fs;
use std::process::Output;

use faultline::protocols::cache::trace::{fnv1a64, TraceFormat};
use faultline::protocols::cache::Trace;
use faultline::sim::Time;

mod common;
use common::{assert_exit, command, path, root, scratch, text};

const LINES: &str = "tests/fixtures/cache/lines.txt";
const CSV: &str = "tests/fixtures/cache/requests.csv";

fn faultline(args: &[&str]) -> Output {
    command(args).output().expect("run the faultline binary")
}

fn replay(args: &[&str]) -> Output {
    let mut all = vec!["cache", "replay"];
    all.extend_from_slice(args);
    faultline(&all)
}

/// The (policy, capacity, hits) rows of the printed table.
fn rows(stdout: &str) -> Vec<(String, String, u64)> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("policy"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("wrote "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].to_string(), f[3].replace(',', "").parse().unwrap())
        })
        .collect()
}

#[test]
fn cache_replay_prints_the_hits_of_every_policy_and_capacity() {
    let out = replay(&[LINES, "--capacity", "2,4,8"]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("40 requests, 14 keys"), "{stdout}");
    // The same trace in a separate, obviously correct simulation.
    let expected = [("lru", [1, 15, 24]), ("lfu", [11, 19, 25]), ("fifo", [1, 11, 21])];
    let mut want = Vec::new();
    for (policy, hits) in expected {
        for (capacity, h) in ["2", "4", "8"].into_iter().zip(hits) {
            want.push((policy.to_string(), capacity.to_string(), h));
        }
    }
    assert_eq!(rows(&stdout), want, "{stdout}");
}

#[test]
fn cache_replay_writes_hit_ratios_and_curves_the_same_on_one_thread_and_two() {
    let mut written = Vec::new();
    for jobs in ["1", "2"] {
        let dir = scratch("cache_replay", &format!("out-j{jobs}"));
        let out = replay(&[LINES, "--capacity", "2,4,8", "--mrc", "--out", path(&dir), "-j", jobs]);
        assert_exit(&out, 0);
        let csv = fs::read_to_string(dir.join("hit-ratios.csv")).unwrap();
        let mrc = fs::read_to_string(dir.join("mrc.csv")).unwrap();
        assert!(fs::read_to_string(dir.join("mrc.svg")).unwrap().starts_with("<svg"));
        assert!(fs::read(dir.join("mrc.png")).unwrap().starts_with(b"\x89PNG"));
        assert!(!dir.join("byte-mrc.svg").exists(), "a trace without sizes has no byte curve of its own");
        written.push((csv, mrc));
    }
    assert_eq!(written[0], written[1]);
    let (csv, mrc) = &written[0];
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "policy,capacity,capacity_unit,requests,hits,hit_ratio,bytes,hit_bytes,byte_hit_ratio");
    assert_eq!(lines.len(), 1 + 9);
    assert!(lines.contains(&"lru,4,entries,40,15,0.375000,40,15,0.375000"), "{csv}");
    // The curve's LRU points come from stack distances and agree with the replay.
    assert!(mrc.lines().any(|l| l == "lru,4,entries,0.625000,0.625000,stack-distance"), "{mrc}");
    assert!(mrc.lines().any(|l| l == "lfu,4,entries,0.525000,0.525000,simulation"), "{mrc}");
}

#[test]
fn cache_replay_of_a_zipf_trace_repeats_with_its_seed() {
    let zipf = |seed: &str| {
        let out =
            replay(&["--zipf", &format!("alpha=0.8,keys=5000,length=50000,seed={seed}"), "--capacity", "100,500"]);
        assert_exit(&out, 0);
        text(&out.stdout)
    };
    assert_eq!(zipf("3"), zipf("3"));
    assert_ne!(rows(&zipf("3")), rows(&zipf("4")));
}

#[test]
fn cache_replay_reads_csv_traces_with_sizes_times_and_hashed_keys() {
    let trace = Trace::read(&root().join(CSV), TraceFormat::Auto).unwrap();
    assert_eq!(trace.len(), 40);
    assert_eq!(trace.keys()[0], fnv1a64(b"user:1"));
    assert_eq!(trace.sizes().unwrap()[..3], [200, 300, 400]);
    assert_eq!(
        trace.times().unwrap()[..3],
        [Time::from_nanos(0), Time::from_nanos(1_500_000_000), Time::from_nanos(2_000_000_000)]
    );
    // The same keys as the lines fixture, so the same object hits.
    let out = replay(&[CSV, "--capacity", "4", "--policy", "lru"]);
    assert_exit(&out, 0);
    assert_eq!(rows(&text(&out.stdout)), [("lru".to_string(), "4".to_string(), 15)]);
    // A byte capacity and a TTL: byte hit ratios differ from object ones, a
    // TTL only loses hits, and its jitter repeats with the seed.
    let dir = scratch("cache_replay", "csv");
    let with = |extra: &[&str]| {
        let mut args = vec![CSV, "--capacity", "1KiB,2KiB", "--bytes", "--policy", "lru,fifo", "--out", path(&dir)];
        args.extend_from_slice(extra);
        let out = replay(&args);
        assert_exit(&out, 0);
        (rows(&text(&out.stdout)), fs::read_to_string(dir.join("hit-ratios.csv")).unwrap())
    };
    let (plain, csv) = with(&[]);
    assert!(csv.lines().any(|l| l.starts_with("lru,1024,bytes,40,")), "{csv}");
    let ttl = with(&["--ttl", "5s", "--ttl-jitter", "2s", "--seed", "9"]);
    assert_eq!(ttl, with(&["--ttl", "5s", "--ttl-jitter", "2s", "--seed", "9"]));
    assert!(plain.iter().zip(&ttl.0).all(|(p, t)| t.2 <= p.2) && plain != ttl.0, "{plain:?} {:?}", ttl.0);
    let out = replay(&[CSV, "--capacity", "2KiB", "--bytes", "--mrc", "--out", path(&dir)]);
    assert_exit(&out, 0);
    assert!(dir.join("byte-mrc.png").exists() && dir.join("byte-mrc.svg").exists());
}

#[test]
fn cache_replay_refuses_bad_input_with_exit_code_2_and_says_where() {
    let f = |name: &str| format!("tests/fixtures/cache/{name}");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![f("missing.txt"), "--capacity".into(), "10".into()], "missing.txt: cannot open"),
        (
            vec![f("no-key-column.csv"), "--capacity".into(), "10".into()],
            "no-key-column.csv:1: the CSV header names no `key` column",
        ),
        (
            vec![f("bad-size.csv"), "--capacity".into(), "10".into()],
            "bad-size.csv:4: size `lots` is not a whole number of bytes",
        ),
        (vec![f("huge-size.csv"), "--capacity".into(), "10".into()], "huge-size.csv:2: size `5000000000`"),
        (vec![f("backwards.csv"), "--capacity".into(), "10".into()], "backwards.csv:4: timestamp 11 is before"),
        (
            vec![f("ragged.csv"), "--capacity".into(), "10".into()],
            "ragged.csv:3: this row has 3 fields, the header has 2",
        ),
        (vec![f("empty.txt"), "--capacity".into(), "10".into()], "empty.txt: the trace has no requests"),
        (
            vec![f("lines.txt"), "--format".into(), "csv".into(), "--capacity".into(), "10".into()],
            "lines.txt:1: the CSV header names no `key` column",
        ),
        (
            vec![LINES.into(), "--capacity".into(), "0".into()],
            "--capacity 0: a cache capacity must be at least 1 entry",
        ),
        (vec![LINES.into(), "--capacity".into(), "10,ten".into()], "--capacity ten: not a whole number of entries"),
        (vec![LINES.into(), "--capacity".into(), "99999999999".into()], "above the most a cache holds, 2147483648"),
        (
            vec![LINES.into(), "--capacity".into(), "0MiB".into(), "--bytes".into()],
            "--capacity 0MiB: must be more than zero",
        ),
        (
            vec![LINES.into(), "--capacity".into(), "10".into(), "--policy".into(), "lru,arc".into()],
            "unknown cache policy `arc`; the policies are lru, lfu and fifo",
        ),
        (vec![LINES.into(), "--capacity".into(), "10".into(), "--ttl".into(), "5s".into()], "needs request times"),
        (
            vec![LINES.into(), "--capacity".into(), "10".into(), "--warmup".into(), "40".into()],
            "--warmup 40 leaves nothing to count",
        ),
        (
            vec!["--zipf".into(), "alpha=0.8,keys=10".into(), "--capacity".into(), "10".into()],
            "the Zipf trace needs length",
        ),
        (
            vec!["--zipf".into(), "alpha=0.8,keys=10,length=1000000000000".into(), "--capacity".into(), "10".into()],
            "length 1000000000000 is out of range",
        ),
        (
            vec!["--zipf".into(), "alpha=0.8,keys=10,length=10,skew=1".into(), "--capacity".into(), "10".into()],
            "unknown Zipf parameter `skew`",
        ),
        (vec!["--capacity".into(), "10".into()], "<TRACE|--zipf <SPEC>>"),
        (
            vec![LINES.into(), "--capacity".into(), "10".into(), "--out".into(), LINES.into()],
            "exists and is not a directory",
        ),
    ];
    for (args, says) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = replay(&args);
        assert_exit(&out, 2);
        let stderr = text(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: expected {says:?} in:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn cache_replay_refuses_a_line_longer_than_a_key_may_be() {
    let dir = scratch("cache_replay", "long-line");
    let file = dir.join("long.txt");
    fs::write(&file, format!("1\n{}\n2\n", "k".repeat(70_000))).unwrap();
    let out = replay(&[path(&file), "--capacity", "10"]);
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("long.txt:2: the line is longer than 65536 bytes"), "{}", text(&out.stderr));
}

#[test]
fn cache_bench_prints_requests_per_second_for_each_policy() {
    let out = faultline(&["bench", "--workload", "cache", "--repeat", "1", "--json"]);
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    for policy in ["lru", "lfu", "fifo"] {
        let line = stdout
            .lines()
            .find(|l| l.contains(&format!("\"cache-{policy}-10000-entries\"")))
            .unwrap_or_else(|| panic!("{stdout}"));
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["requests_per_run"], 10_000_000);
        assert!(v["best_requests_per_sec"].as_f64().unwrap() > 0.0);
    }
}
