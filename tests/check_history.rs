//! `faultline check-history` is bounded in what it reads (`--max-input`) and
//! in the memory its search holds (`--max-memory`), and says which bound
//! stopped it.

mod common;

use std::fs;

use common::{assert_exit, command, path, scratch, text};

const HISTORY: &str = "protocols/tests/histories/history.json";

#[test]
fn a_history_within_the_bounds_checks_out() {
    let out = command(&["check-history", HISTORY, "--max-memory", "64MiB", "--max-input", "4096"]).output().unwrap();
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains("linearizable"), "{}", text(&out.stdout));
    let out = command(&["check-history", HISTORY, "--json"]).output().unwrap();
    assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["verdict"], "ok");
    assert!(report["peak_memory_bytes"].as_u64().is_some_and(|bytes| bytes > 0), "{report}");
}

#[test]
fn a_file_past_max_input_is_refused() {
    let size = fs::metadata(common::root().join(HISTORY)).unwrap().len();
    let limit = (size - 1).to_string();
    let out = command(&["check-history", HISTORY, "--max-input", &limit]).output().unwrap();
    assert_exit(&out, 2);
    let expected = format!("{HISTORY}: larger than {} bytes (--max-input)", size - 1);
    assert!(text(&out.stderr).contains(&expected), "{}", text(&out.stderr));
    // Exactly its size is enough.
    let out = command(&["check-history", HISTORY, "--max-input", &size.to_string()]).output().unwrap();
    assert_exit(&out, 0);
}

/// A stream that never ends is read only up to the bound.
#[cfg(unix)]
#[test]
fn an_endless_stream_is_read_up_to_max_input() {
    let out = command(&["check-history", "/dev/zero", "--max-input", "1MiB"]).output().unwrap();
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("/dev/zero: larger than 1 MiB (--max-input)"), "{}", text(&out.stderr));
    // The default bound holds too (256 MiB).
    let out = command(&["check-history", "/dev/zero"]).output().unwrap();
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("/dev/zero: larger than 256 MiB (--max-input)"), "{}", text(&out.stderr));
}

#[test]
fn past_max_memory_the_verdict_is_unknown() {
    let out = command(&["check-history", HISTORY, "--max-memory", "1KiB"]).output().unwrap();
    assert_exit(&out, 3);
    let stdout = text(&out.stdout);
    assert!(stdout.contains(": unknown"), "{stdout}");
    assert!(stdout.contains("memory budget of 1 KiB exhausted while checking key"), "{stdout}");
}

#[test]
fn bad_sizes_are_bad_input() {
    let dir = scratch("check_history", "bad_sizes");
    let empty = dir.join("empty.json");
    fs::write(&empty, r#"{"ops":[]}"#).unwrap();
    for (flag, value, why) in [
        ("--max-memory", "12XB", "unknown unit `XB`"),
        ("--max-memory", "2gb", "did you mean `2GB`"),
        ("--max-memory", "0", "must be more than zero"),
        ("--max-input", "lots", "has no number"),
        ("--max-input", "99999999999GiB", "too large"),
    ] {
        let out = command(&["check-history", path(&empty), flag, value]).output().unwrap();
        assert_exit(&out, 2);
        let stderr = text(&out.stderr);
        assert!(stderr.contains(&format!("{flag} {value:?}: ")) && stderr.contains(why), "{flag} {value}: {stderr}");
    }
}
