//! Coverage points: every point a protocol marks is declared and every
//! declared point is marked somewhere, and a run reports the points it
//! reached with their hits and the declared ones it did not with 0.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use faultline_protocols::{load_scenario, ProtocolInfo, RunOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The names passed as literals to `ctx.reached(...)` in the `.rs` files of `dirs`.
fn marked(dirs: &[&str]) -> Vec<String> {
    let mut names = Vec::new();
    for dir in dirs {
        let dir = root().join(dir);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            for (at, _) in text.match_indices("reached(") {
                let rest = &text[at + "reached(".len()..];
                let Some(literal) = rest.strip_prefix('"') else {
                    panic!("{}: `reached` takes a string literal, so this test can see the name", file.display());
                };
                let end = literal.find('"').expect("a closing quote");
                names.push(literal[..end].to_string());
            }
        }
    }
    names
}

fn assert_declared_as_marked(info: &ProtocolInfo, dirs: &[&str]) {
    let declared: Vec<&str> = info.coverage.iter().map(|p| p.name).collect();
    let unique: BTreeSet<&str> = declared.iter().copied().collect();
    assert_eq!(unique.len(), declared.len(), "{}: a point declared twice", info.name);
    for p in info.coverage {
        assert!(!p.description.is_empty(), "{}: {} has no description", info.name, p.name);
    }
    let marked: BTreeSet<String> = marked(dirs).into_iter().collect();
    let declared: BTreeSet<String> = unique.iter().map(|s| s.to_string()).collect();
    let undeclared: Vec<&String> = marked.difference(&declared).collect();
    let unmarked: Vec<&String> = declared.difference(&marked).collect();
    assert!(undeclared.is_empty(), "{}: marked but not declared in ProtocolInfo::coverage: {undeclared:?}", info.name);
    assert!(unmarked.is_empty(), "{}: declared but never marked: {unmarked:?}", info.name);
}

#[test]
fn each_protocol_declares_exactly_the_points_it_marks() {
    // Raft's deduplication point is marked by the node from what the
    // key-value store says, so kv/ marks none of its own.
    assert_declared_as_marked(&faultline_protocols::raft::INFO, &["src/raft", "src/kv"]);
    assert_declared_as_marked(&faultline_protocols::echo::INFO, &["src/echo"]);
    assert_declared_as_marked(&faultline_protocols::paxos::INFO, &["src/paxos"]);
    assert_declared_as_marked(&faultline_protocols::pingpong::INFO, &["src/pingpong"]);
    assert!(marked(&["src/client", "src/harness", "src/check"]).is_empty(), "shared code marks no point");
}

#[test]
fn a_raft_run_reports_the_points_it_reached_and_those_it_did_not() {
    let path = root().join("../scenarios/raft/chaos.toml");
    let scenario = load_scenario(Path::new(&path)).unwrap_or_else(|e| panic!("{e}"));
    let report = scenario.run(1, RunOptions::default());
    let hits = |point: &str| {
        *report.coverage.get(point).unwrap_or_else(|| panic!("{point} is declared, so the report lists it"))
    };
    // Paths this scenario (crashes, partitions, snapshots every 200 entries,
    // ReadIndex reads) takes at seed 1.
    for point in [
        "install snapshot sent",
        "log compacted into a snapshot",
        "read index read served",
        "election timed out as candidate (split vote)",
        "client redirected to the leader",
    ] {
        assert!(hits(point) > 0, "{point} not reached: {:?}", report.coverage);
    }
    // Pre-vote is off in this scenario.
    assert_eq!(hits("pre-vote refused: a leader was heard recently"), 0);
    assert_eq!(report.coverage.len(), faultline_protocols::raft::INFO.coverage.len(), "only declared points");
    // Coverage is observation only: the same seed gives the same counts and
    // the same fingerprint.
    let again = scenario.run(1, RunOptions::default());
    assert_eq!((again.fingerprint, &again.coverage), (report.fingerprint, &report.coverage));
}
