//! Runs that would not end, or would end in an allocator abort, end at a named
//! limit instead: each scenario under `tests/fixtures/limits/` is run by the
//! binary and must end with its reason, exit 3 (the run was cut short, so its
//! verdict is not complete), print no backtrace, and stay under 1 GiB of
//! resident memory.

mod common;

use common::{assert_exit, command, text};

const LIMITS: &str = "tests/fixtures/limits";
const GIB: u64 = 1 << 30;

/// `(fixture, the end reason its run must report)`.
const CASES: [(&str, &str); 2] =
    [("zero-latency.toml", "time_stalled"), ("raft-history-outgrows-memory.toml", "memory_limit")];

#[test]
fn every_runaway_run_ends_at_its_limit_within_a_gib() {
    for (file, reason) in CASES {
        let path = format!("{LIMITS}/{file}");
        let out = command(&["run", &path, "--json"]).env("RUST_BACKTRACE", "1").output().expect("run faultline");
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{path} panicked:\n{stderr}");
        assert_exit(&out, 3);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        assert_eq!(json["end"], reason, "{path}: {json}");
        if let Some(rss) = json["peak_rss_bytes"].as_u64() {
            assert!(rss < GIB, "{path}: peak RSS {} MiB, want under 1 GiB", rss >> 20);
        }
    }
}

#[test]
fn a_lower_memory_limit_ends_the_run_sooner_and_the_same_way_every_time() {
    let dir = common::scratch("limits", "lower");
    let base = std::fs::read_to_string(format!("{LIMITS}/raft-history-outgrows-memory.toml")).expect("fixture");
    assert!(base.contains("\"16MiB\""), "the fixture's bound moved");
    let ended_at = |bound: &str| -> Vec<serde_json::Value> {
        let path = dir.join(format!("{bound}.toml"));
        std::fs::write(&path, base.replace("\"16MiB\"", &format!("\"{bound}\""))).expect("write");
        let path = path.to_str().expect("UTF-8 path");
        (0..2)
            .map(|_| {
                let out = command(&["run", path, "--json"]).output().expect("run faultline");
                assert_exit(&out, 3);
                let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
                assert_eq!(json["end"], "memory_limit", "{json}");
                json
            })
            .collect()
    };
    let (small, large) = (ended_at("4MiB"), ended_at("16MiB"));
    for runs in [&small, &large] {
        assert_eq!(runs[0]["fingerprint"], runs[1]["fingerprint"], "the bound cut both runs at one event");
        assert_eq!(runs[0]["events"], runs[1]["events"]);
    }
    let events = |runs: &[serde_json::Value]| runs[0]["events"].as_u64().expect("a count");
    assert!(
        events(&small) < events(&large),
        "4MiB ended after {} events, 16MiB after {}",
        events(&small),
        events(&large)
    );
}
