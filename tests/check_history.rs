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

const KV_OK: &str = "protocols/tests/histories/kv_appends.json";
const KV_BAD: &str = "protocols/tests/histories/kv_lost_append.json";

#[test]
fn kv_histories_with_appends_check() {
    let out = command(&["check-history", "--model", "kv", KV_OK]).output().unwrap();
    assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(&format!("{KV_OK}: 10 operations: linearizable (model kv)\n")), "{stdout}");
    assert!(stdout.contains("search: 2 keys, "), "{stdout}");

    let out = command(&["check-history", "--model", "kv", KV_BAD, "--json"]).output().unwrap();
    assert_exit(&out, 1);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["verdict"], "violation");
    assert_eq!(report["model"], "kv");
    let detail = report["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("key \"cart\" is not linearizable"), "{detail}");
    assert!(detail.contains("op #2: client 3 get(key=\"cart\")"), "{detail}");

    let out = command(&["check-history", "--model", "kv", KV_BAD]).output().unwrap();
    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    assert!(stdout.contains(": 3 operations: NOT linearizable (model kv)"), "{stdout}");
    assert!(stdout.contains("Value after the prefix: \"apple,pear,\""), "{stdout}");

    // Porcupine's published kv histories.
    let ok = "protocols/tests/histories/porcupine_kv_c01_ok.json";
    assert_exit(&command(&["check-history", "--model", "kv", ok]).output().unwrap(), 0);
    let bad = "protocols/tests/histories/porcupine_kv_c01_bad.json";
    assert_exit(&command(&["check-history", "--model", "kv", bad]).output().unwrap(), 1);
}

#[test]
fn malformed_kv_histories_are_bad_input_with_line_and_column() {
    let dir = scratch("check_history", "malformed_kv");
    for (name, body, position, why) in [
        (
            "unknown_field.json",
            "{\"ops\":[\n  {\"client\":1,\"invoke_ns\":0,\"complete_ns\":1,\n   \"kind\":{\"op\":\"get\",\"key\":\"x\",\"value\":\"a\"},\"outcome\":{\"type\":\"read\",\"value\":\"\"}}]}",
            ":3:",
            "unknown field `value`",
        ),
        ("number_key.json", "{\"ops\":[{\"client\":1,\"invoke_ns\":0,\"complete_ns\":1,\n\"kind\":{\"op\":\"append\",\"key\":7,\"value\":\"a\"},\"outcome\":{\"type\":\"written\"}}]}", ":2:", "expected a string"),
        ("truncated.json", "{\"ops\":[\n", ":2:", "EOF"),
    ] {
        let file = dir.join(name);
        fs::write(&file, body).unwrap();
        let out = command(&["check-history", "--model", "kv", path(&file)]).output().unwrap();
        assert_exit(&out, 2);
        let stderr = text(&out.stderr);
        assert!(stderr.contains(&format!("{}{position}", path(&file))) && stderr.contains(why), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // Valid JSON that breaks a rule: named by op.
    let file = dir.join("early.json");
    fs::write(&file, r#"{"ops":[{"client":1,"invoke_ns":5,"complete_ns":4,"kind":{"op":"get","key":"x"},"outcome":{"type":"read","value":""}}]}"#).unwrap();
    let out = command(&["check-history", "--model", "kv", path(&file)]).output().unwrap();
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("invalid history: op #0"), "{}", text(&out.stderr));
}

#[test]
fn the_model_is_named_when_the_history_is_another_models() {
    // A string history without --model: the register's parse error, and a hint.
    let out = command(&["check-history", KV_OK]).output().unwrap();
    assert_exit(&out, 2);
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("{KV_OK}:3:")), "{stderr}");
    assert!(stderr.contains("check it with --model kv"), "{stderr}");
    // Proposes without --model.
    let once = "protocols/tests/histories/write_once.json";
    let out = command(&["check-history", once]).output().unwrap();
    assert_exit(&out, 2);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("op #0 (client 1 propose(key=1, value=5)"), "{stderr}");
    assert!(
        stderr.contains("is a propose, which the register model does not have (check it with --model write-once)"),
        "{stderr}"
    );
    // A register history as write-once.
    let out = command(&["check-history", "--model", "write-once", HISTORY]).output().unwrap();
    assert_exit(&out, 2);
    assert!(text(&out.stderr).contains("which the write-once model does not have (check it with --model register)"));
    // A number history as kv.
    let out = command(&["check-history", "--model", "kv", HISTORY]).output().unwrap();
    assert_exit(&out, 2);
    assert!(
        text(&out.stderr).contains("check it with --model register or --model write-once"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn write_once_histories_check() {
    let out = command(&["check-history", "--model", "write-once", "protocols/tests/histories/write_once.json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains(": 6 operations: linearizable (model write-once)"), "{}", text(&out.stdout));
    let bad = "protocols/tests/histories/write_once_two_chosen.json";
    let out = command(&["check-history", "--model", "write-once", bad]).output().unwrap();
    assert_exit(&out, 1);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("key 4 is not linearizable") && stdout.contains("Value after the prefix: chosen 5."),
        "{stdout}"
    );
}

#[test]
fn the_bounds_hold_for_every_model() {
    for (model, file) in
        [("kv", KV_OK), ("write-once", "protocols/tests/histories/write_once.json"), ("register", HISTORY)]
    {
        let out = command(&["check-history", "--model", model, file, "--max-memory", "64B"]).output().unwrap();
        assert_exit(&out, 3);
        let stdout = text(&out.stdout);
        assert!(stdout.contains("memory budget of 64 bytes exhausted while checking key"), "{model}: {stdout}");
        let out = command(&["check-history", "--model", model, file, "--budget", "1"]).output().unwrap();
        assert_exit(&out, 3);
        assert!(text(&out.stdout).contains("step budget of 1 exhausted"), "{model}: {}", text(&out.stdout));
        let out = command(&["check-history", "--model", model, file, "--max-input", "10"]).output().unwrap();
        assert_exit(&out, 2);
        assert!(text(&out.stderr).contains("larger than 10 bytes (--max-input)"), "{model}");
    }
    // --model register prints exactly what the default does (bar the time).
    let strip = |out: &std::process::Output| {
        text(&out.stdout).lines().map(|l| l.split(" held at most").next().unwrap_or("").to_string()).collect::<Vec<_>>()
    };
    let default = command(&["check-history", HISTORY]).output().unwrap();
    let register = command(&["check-history", "--model", "register", HISTORY]).output().unwrap();
    assert_eq!(strip(&default), strip(&register));
    assert_eq!(text(&default.stdout).lines().next(), Some(format!("{HISTORY}: 12 operations: linearizable").as_str()));
}
