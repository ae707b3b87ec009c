//! The example histories in `tests/histories/` parse, validate, round-trip through
//! JSON and get the documented verdicts.

use std::path::PathBuf;

use faultline_protocols::check::history::History;
use faultline_protocols::check::kv::{check_kv, KvHistory};
use faultline_protocols::check::linearizability::{check, Budget, Verdict};
use faultline_protocols::check::model::check_write_once;
use faultline_protocols::check::search::SearchVerdict;

fn load(name: &str) -> History {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("histories").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    let history = History::from_json_str(&text).unwrap_or_else(|err| panic!("parsing {}: {err}", path.display()));
    assert_eq!(history.validate(), Ok(()), "{}", path.display());
    history
}

#[test]
fn example_history_is_linearizable() {
    let history = load("history.json");
    assert_eq!(history.ops.len(), 12);
    let report = check(&history, &Budget::default());
    assert_eq!(report.verdict, Verdict::Ok);
    assert_eq!(report.keys_checked, 2);
}

#[test]
fn bad_example_history_is_not_linearizable() {
    let history = load("bad_history.json");
    let report = check(&history, &Budget::default());
    match report.verdict {
        Verdict::Violation(violation) => {
            assert_eq!(violation.key, 5);
            assert_eq!(violation.stuck_ops, vec![4]);
            assert!(violation.message.contains("op #4"), "{}", violation.message);
        }
        other => panic!("expected a violation, got {other:?}"),
    }
    assert_eq!(report.keys_checked, 2);
}

#[test]
fn examples_round_trip_through_json() {
    for name in ["history.json", "bad_history.json"] {
        let history = load(name);
        let json = history.to_json_string().expect("serializes");
        assert_eq!(History::from_json_str(&json).expect("parses"), history);
    }
}

fn load_kv(name: &str) -> KvHistory {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("histories").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    let history = KvHistory::from_json_str(&text).unwrap_or_else(|err| panic!("parsing {}: {err}", path.display()));
    assert_eq!(history.validate(), Ok(()), "{}", path.display());
    history
}

#[test]
fn write_once_examples() {
    let report = check_write_once(&load("write_once.json"), &Budget::default());
    assert_eq!(report.verdict, Verdict::Ok);
    assert_eq!(report.keys_checked, 2);
    match check_write_once(&load("write_once_two_chosen.json"), &Budget::default()).verdict {
        Verdict::Violation(violation) => {
            assert_eq!((violation.key, violation.stuck_ops), (4, vec![1]));
        }
        other => panic!("expected a violation, got {other:?}"),
    }
    // The register model has no proposes.
    assert!(check(&load("write_once.json"), &Budget::default()).verdict.is_unknown());
}

#[test]
fn kv_examples() {
    let report = check_kv(&load_kv("kv_appends.json"), &Budget::default());
    assert_eq!(report.verdict, SearchVerdict::Ok);
    assert_eq!(report.keys_checked, 2);
    match check_kv(&load_kv("kv_lost_append.json"), &Budget::default()).verdict {
        SearchVerdict::Violation(violation) => {
            assert_eq!((violation.key.as_str(), violation.stuck_ops), ("cart", vec![2]));
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}

/// Porcupine's kv test histories `c01-ok` and `c01-bad` (one client),
/// translated line for line: the verdicts Porcupine's own tests expect
/// (ok, and not linearizable).
#[test]
fn porcupine_kv_histories_get_their_published_verdicts() {
    let ok = load_kv("porcupine_kv_c01_ok.json");
    assert_eq!(ok.ops.len(), 58);
    assert_eq!(check_kv(&ok, &Budget::default()).verdict, SearchVerdict::Ok);
    let bad = load_kv("porcupine_kv_c01_bad.json");
    assert_eq!(bad.ops.len(), 38);
    match check_kv(&bad, &Budget::default()).verdict {
        // Key "7": after appends of "x 0 0 y" and "x 0 3 y" a get returns
        // only the first.
        SearchVerdict::Violation(violation) => {
            assert_eq!(violation.key, "7");
            assert_eq!(violation.stuck_ops, vec![29]);
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn kv_examples_round_trip_through_json() {
    for name in ["kv_appends.json", "kv_lost_append.json", "porcupine_kv_c01_ok.json", "porcupine_kv_c01_bad.json"] {
        let history = load_kv(name);
        let json = history.to_json_string().expect("serializes");
        assert_eq!(KvHistory::from_json_str(&json).expect("parses"), history);
    }
}
