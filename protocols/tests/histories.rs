//! The example histories in `tests/histories/` parse, validate, round-trip through
//! JSON and get the documented verdicts.

use std::path::PathBuf;

use faultline_protocols::check::history::History;
use faultline_protocols::check::linearizability::{check, Budget, Verdict};

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
