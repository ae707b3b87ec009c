//! Mutated scenario files never make the loader panic, and every file it
//! refuses is refused at a place: `PATH:LINE:COL: message`, with LINE and
//! COL at least 1, LINE inside the file, and a message that says something.
//!
//! The inputs are every shipped scenario under `scenarios/` and every
//! fixture under `tests/fixtures/`, mutated by a seeded ChaCha stream, so a
//! failure names its case number and replays exactly: bytes flipped, lines
//! deleted, duplicated or borrowed from another file, values replaced by
//! extremes (0, -1, huge integers, 1e308, "", wrong types, durations of
//! centuries), bytes that are not UTF-8, and a sweep that truncates every
//! file at every k-th byte. The history parser behind `faultline
//! check-history` gets the same treatment with mutated JSON.
//!
//! `FAULTLINE_FUZZ_CASES` sets the number of random cases of each kind
//! (default 2,000); `FAULTLINE_FUZZ_SEED` the stream's seed (default 1).

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use faultline_protocols::check::history::History;
use faultline_protocols::check::linearizability::{check, Budget};
use faultline_protocols::load_scenario;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const DEFAULT_CASES: usize = 2_000;
/// The truncation sweep cuts each file at every `TRUNCATE_EVERY`-th byte.
const TRUNCATE_EVERY: usize = 7;
/// The most mutations stacked on one case.
const MAX_MUTATIONS: usize = 4;

/// Values a mutation writes in place of a key's value.
const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "64",
    "65",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "99999999999999999999999",
    "1e308",
    "-1e308",
    "1e-308",
    "nan",
    "inf",
    "-inf",
    "0.5",
    "1.5",
    "-0.1",
    "\"\"",
    "\" \"",
    "\"0\"",
    "\"0s\"",
    "\"1ns\"",
    "\"99999999999h\"",
    "\"18446744073709551615ns\"",
    "\"1.5s\"",
    "\"-1s\"",
    "\"5 parsecs\"",
    "\"0B\"",
    "\"1B\"",
    "\"64GiB\"",
    "\"65GiB\"",
    "\"512mib\"",
    "\"random\"",
    "\"leader\"",
    "\"follower\"",
    "\"pre_candidate\"",
    "\"session\"",
    "\"zipf\"",
    "\"fail\"",
    "\"unknown\"",
    "true",
    "false",
    "True",
    "[]",
    "[[]]",
    "[0, 0]",
    "[[0, 0], [1, 2]]",
    "[[0], [0]]",
    "[\"partition\"]",
    "[\"partition\", \"partition_oneway\", \"isolate\"]",
    "{}",
    "{ min = 5, max = 1 }",
    "{ dist = \"pareto\", scale = \"1ms\", shape = 0 }",
    "1979-05-27T07:32:00Z",
    "'literal'",
    "\"\u{0}\"",
    "\"é\"",
    "",
];

/// Lines a mutation inserts: sections and keys that reach deeper checks.
const SPLICES: &[&str] = &[
    "[limits]\nmax_memory = \"1B\"",
    "[limits]\nmax_time = \"1ns\"",
    "[limits]\nmax_events_per_instant = 1",
    "[liveness]\nduration = \"1s\"",
    "[liveness]\nduration = \"1s\"\nwithin = \"1s\"\nrate_share = 1.0",
    "[chaos]\nmean_interval = \"1ns\"\nkinds = [\"partition\", \"isolate\"]",
    "[chaos]\nmean_interval = \"1ms\"\nkinds = [\"crash\"]\nleader_bias = 1.0",
    "[[faults]]\nat = \"0s\"\nkind = \"isolate\"\nnode = 0",
    "[[faults]]\nat = \"0s\"\nkind = \"restart\"\nnode = \"leader\"",
    "[[faults]]\nat = \"0s\"\nkind = \"partition_oneway\"\nfrom = [0]\nto = [0]",
    "[[faults]]\nat = \"0s\"\nkind = \"partition\"\ngroups = [[0, 0]]",
    "[[faults]]\nat = \"0s\"\nkind = \"crash\"\nnode = \"pre_candidate\"",
    "[workload]\nclients = 10000\nconcurrency = 1000",
    "[workload]\nclients = 0",
    "[params]\nin_flight = 4294967295",
    "[params]\nelection_timeout_min = \"1ns\"",
    "[network]\nkind = \"session\"\nloss = 0.5",
    "[[network.links]]\nfrom = 0\nto = 0",
    "[expect]\nverdict = \"unknown\"\nfailed_check = \"x\"",
    "[expect]\nmetrics = { elections = {} }",
    "[swarm]\nlatency = []",
    "[swarm.params]\nx = { min = \"1s\", max = \"0s\" }",
    "[checks]\nhistory_budget_steps = 0",
    "nodes = 1",
    "nodes = 1000001",
    "duration = \"99999999999h\"",
    "name =",
    "[",
    "[[",
    "a.b.c = 1",
    "\u{feff}",
    "x = \"\\u0000\"",
];

/// Bytes that are not UTF-8 on their own.
const NOT_UTF8: &[&[u8]] = &[b"\xff", b"\xc3", b"\xe9", b"\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xef\xbb"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{name} must be a whole number; got `{v}`")),
        Err(_) => default,
    }
}

/// Every `.toml` under `dir`, recursively, sorted.
fn tomls(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            tomls(&path, out);
        } else if path.extension().and_then(|e| e.to_str()) == Some("toml") {
            out.push(path);
        }
    }
}

/// The files every case starts from.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut paths = Vec::new();
    tomls(&root().join("scenarios"), &mut paths);
    tomls(&root().join("tests/fixtures"), &mut paths);
    let files: Vec<(String, Vec<u8>)> = paths
        .iter()
        .map(|p| (p.strip_prefix(root()).unwrap_or(p).display().to_string(), fs::read(p).unwrap()))
        .collect();
    assert!(files.len() >= 20, "only {} scenario files to fuzz", files.len());
    files
}

fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect()
}

/// One random mutation of `bytes`; `others` lends lines. A `structural`
/// mutation keeps the file valid TOML more often (values, lines and
/// sections, never bytes), so the checks after parsing get their share.
fn mutate(rng: &mut ChaCha8Rng, bytes: &mut Vec<u8>, others: &[(String, Vec<u8>)], structural: bool) {
    let join = |ls: Vec<Vec<u8>>| ls.join(&b'\n');
    let kind = if structural { [1, 2, 3, 4, 5, 5][rng.gen_range(0..6)] } else { rng.gen_range(0..9) };
    match kind {
        // A byte flipped, or replaced by any byte.
        0 if !bytes.is_empty() => {
            let i = rng.gen_range(0..bytes.len());
            bytes[i] = if rng.gen_bool(0.5) { bytes[i] ^ (1 << rng.gen_range(0..8)) } else { rng.gen() };
        }
        // A line deleted.
        1 => {
            let mut ls = lines(bytes);
            let i = rng.gen_range(0..ls.len());
            ls.remove(i);
            *bytes = join(ls);
        }
        // A line duplicated (a key written twice, a header twice).
        2 => {
            let mut ls = lines(bytes);
            let i = rng.gen_range(0..ls.len());
            let copy = ls[i].clone();
            ls.insert(rng.gen_range(0..=ls.len()), copy);
            *bytes = join(ls);
        }
        // A value replaced by an extreme.
        3 | 4 => {
            let mut ls = lines(bytes);
            let with_value: Vec<usize> = (0..ls.len()).filter(|&i| ls[i].contains(&b'=')).collect();
            if let Some(&i) = with_value.choose(rng) {
                let eq = ls[i].iter().position(|&b| b == b'=').unwrap_or(0);
                let mut line = ls[i][..=eq].to_vec();
                line.push(b' ');
                line.extend_from_slice(EXTREMES.choose(rng).unwrap().as_bytes());
                ls[i] = line;
            }
            *bytes = join(ls);
        }
        // A section or key that reaches a deeper check, or another file's line.
        5 => {
            let mut ls = lines(bytes);
            let insert: Vec<u8> = if rng.gen_bool(0.6) {
                SPLICES.choose(rng).unwrap().as_bytes().to_vec()
            } else {
                let (_, other) = others.choose(rng).unwrap();
                let theirs = lines(other);
                theirs[rng.gen_range(0..theirs.len())].clone()
            };
            let at = if rng.gen_bool(0.5) { ls.len() } else { rng.gen_range(0..=ls.len()) };
            ls.insert(at, insert);
            *bytes = join(ls);
        }
        // Bytes that are not UTF-8, or a byte-order mark at the start.
        6 => {
            if rng.gen_bool(0.2) {
                bytes.splice(0..0, *b"\xef\xbb\xbf");
            } else {
                let at = rng.gen_range(0..=bytes.len());
                bytes.splice(at..at, NOT_UTF8.choose(rng).unwrap().iter().copied());
            }
        }
        // Cut short.
        7 => {
            let at = rng.gen_range(0..=bytes.len());
            bytes.truncate(at);
        }
        // Line endings changed, or a newline removed.
        _ => {
            if rng.gen_bool(0.5) {
                let text: Vec<u8> =
                    bytes.iter().flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] }).collect();
                *bytes = text;
            } else if let Some(i) = bytes.iter().rposition(|&b| b == b'\n') {
                bytes.remove(i);
            }
        }
    }
}

/// Loads `bytes` as a scenario file at `path` and checks the outcome: no
/// panic, and a refusal in the located form. Returns whether it loaded.
fn load_case(case: &str, path: &Path, bytes: &[u8]) -> bool {
    // Removed first, not truncated: ext4 flushes a file truncated and
    // rewritten on close, which would make each case wait for the disk.
    let _ = fs::remove_file(path);
    fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    let shown = path.display().to_string();
    let result = catch_unwind(AssertUnwindSafe(|| load_scenario(path).map(|_| ()).map_err(|e| e.to_string())));
    let text = String::from_utf8_lossy(bytes);
    match result {
        Err(_) => panic!("{case}: the loader panicked on:\n{text}"),
        Ok(Ok(())) => true,
        Ok(Err(message)) => {
            assert_located(case, &shown, &message, bytes, &text);
            false
        }
    }
}

fn assert_located(case: &str, path: &str, message: &str, bytes: &[u8], text: &str) {
    let fail = |why: &str| panic!("{case}: {why}:\n  {message}\nfile:\n{text}");
    let Some(rest) = message.strip_prefix(path).and_then(|r| r.strip_prefix(':')) else {
        fail("the message does not start with `PATH:`")
    };
    let mut parts = rest.splitn(3, ':');
    let line: usize = parts.next().and_then(|l| l.parse().ok()).unwrap_or_else(|| fail("no line number"));
    let column: usize = parts.next().and_then(|c| c.parse().ok()).unwrap_or_else(|| fail("no column number"));
    let said = parts.next().unwrap_or("");
    if line < 1 || column < 1 {
        fail("line and column must be at least 1");
    }
    let file_lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    if line > file_lines {
        fail(&format!("line {line} is past the file's {file_lines} lines"));
    }
    if !said.starts_with(' ') || said.trim().is_empty() {
        fail("no message after the place");
    }
    if said.contains('\n') {
        fail("the message is more than one line");
    }
}

#[test]
fn mutated_scenarios_never_panic_and_every_refusal_is_located() {
    let cases = env_number("FAULTLINE_FUZZ_CASES", DEFAULT_CASES as u64) as usize;
    let seed = env_number("FAULTLINE_FUZZ_SEED", 1);
    let files = corpus();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz_scenarios");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("case.toml");

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut loaded = 0;
    for case in 0..cases {
        let (name, original) = &files[rng.gen_range(0..files.len())];
        let mut bytes = original.clone();
        let structural = rng.gen_bool(0.5);
        for _ in 0..rng.gen_range(1..=MAX_MUTATIONS) {
            mutate(&mut rng, &mut bytes, &files, structural);
        }
        let label = format!("case {case} (FAULTLINE_FUZZ_SEED={seed}, from {name})");
        loaded += usize::from(load_case(&label, &path, &bytes));
    }

    // Every file cut at every k-th byte.
    let mut truncated = 0;
    for (name, original) in &files {
        for at in (0..original.len()).step_by(TRUNCATE_EVERY) {
            load_case(&format!("{name} cut at byte {at}"), &path, &original[..at]);
            truncated += 1;
        }
    }
    println!(
        "fuzzed {} scenario cases: {cases} random mutations (seed {seed}; {loaded} still loaded) and {truncated} \
         truncations of {} files; no panic, every refusal located",
        cases + truncated,
        files.len()
    );
}

/// A history with every kind of operation and outcome.
fn history_seed(rng: &mut ChaCha8Rng) -> String {
    let mut ops = Vec::new();
    for i in 0..rng.gen_range(1..12u64) {
        let key = rng.gen_range(0..3);
        let invoke = i * 10;
        let (kind, outcome) = match rng.gen_range(0..4) {
            0 => (format!(r#"{{ "op": "put", "key": {key}, "value": {i} }}"#), r#"{ "type": "written" }"#.to_string()),
            1 => {
                (format!(r#"{{ "op": "get", "key": {key} }}"#), format!(r#"{{ "type": "read", "value": {} }}"#, i / 2))
            }
            2 => (
                format!(r#"{{ "op": "cas", "key": {key}, "expected": {}, "new": {i} }}"#, i / 2),
                r#"{ "type": "cas", "swapped": true }"#.to_string(),
            ),
            _ => (format!(r#"{{ "op": "get", "key": {key} }}"#), r#"{ "type": "failed" }"#.to_string()),
        };
        let complete = if rng.gen_bool(0.2) {
            ops.push(format!(
                r#"{{ "client": {}, "invoke_ns": {invoke}, "kind": {kind}, "outcome": {{ "type": "unknown" }} }}"#,
                i % 3
            ));
            continue;
        } else {
            invoke + rng.gen_range(0..30)
        };
        ops.push(format!(
            r#"{{ "client": {}, "invoke_ns": {invoke}, "complete_ns": {complete}, "kind": {kind}, "outcome": {outcome} }}"#,
            i % 3
        ));
    }
    format!("{{ \"ops\": [\n{}\n] }}\n", ops.join(",\n"))
}

const JSON_EXTREMES: &[&str] = &[
    "0",
    "-1",
    "18446744073709551615",
    "18446744073709551616",
    "1e308",
    "-1e308",
    "1.5",
    "null",
    "true",
    "\"\"",
    "\"put\"",
    "\"delete\"",
    "[]",
    "{}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
];

#[test]
fn mutated_histories_never_panic() {
    let cases = env_number("FAULTLINE_FUZZ_CASES", DEFAULT_CASES as u64) as usize;
    let seed = env_number("FAULTLINE_FUZZ_SEED", 1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut parsed, mut valid) = (0, 0);
    for case in 0..cases {
        let mut text = history_seed(&mut rng).into_bytes();
        for _ in 0..rng.gen_range(0..=MAX_MUTATIONS) {
            match rng.gen_range(0..5) {
                0 if !text.is_empty() => {
                    let i = rng.gen_range(0..text.len());
                    text[i] = rng.gen();
                }
                1 => {
                    let at = rng.gen_range(0..=text.len());
                    text.truncate(at);
                }
                2 | 3 => {
                    // A number or value after a `:` replaced by an extreme.
                    let colons: Vec<usize> = (0..text.len()).filter(|&i| text[i] == b':').collect();
                    if let Some(&i) = colons.choose(&mut rng) {
                        let end = (i + 1..text.len()).find(|&j| matches!(text[j], b',' | b'}')).unwrap_or(text.len());
                        let with = format!(" {}", JSON_EXTREMES.choose(&mut rng).unwrap());
                        text.splice(i + 1..end, with.bytes());
                    }
                }
                _ => {
                    let at = rng.gen_range(0..=text.len());
                    text.splice(at..at, NOT_UTF8.choose(&mut rng).unwrap().iter().copied());
                }
            }
        }
        // `check-history` reads the file as UTF-8 first.
        let Ok(json) = String::from_utf8(text) else { continue };
        let outcome = catch_unwind(AssertUnwindSafe(|| match History::from_json_str(&json) {
            Err(e) => {
                assert!(e.line() >= 1, "case {case}: a history error without a line: {e}\n{json}");
                (false, false)
            }
            Ok(history) => {
                let ok = history.validate().is_ok();
                if ok {
                    check(&history, &Budget::new(10_000));
                }
                (true, ok)
            }
        }));
        match outcome {
            Ok((p, v)) => {
                parsed += usize::from(p);
                valid += usize::from(v);
            }
            Err(_) => {
                panic!("case {case} (FAULTLINE_FUZZ_SEED={seed}): the history parser or checker panicked on:\n{json}")
            }
        }
    }
    println!("fuzzed {cases} history cases (seed {seed}): {parsed} parsed, {valid} valid and checked; no panic");
}
