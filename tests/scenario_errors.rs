//! Every malformed scenario under `tests/fixtures/bad/` must be rejected with
//! exactly the message in its `NAME.expected` file — by the loader and by the
//! `faultline` binary (exit 2, no panic). Add a fixture by adding both files.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use faultline_protocols::load_scenario;

const BAD: &str = "tests/fixtures/bad";
const MIN_FIXTURES: usize = 18;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `(relative .toml path, expected message)` for every bad fixture, sorted.
fn fixtures() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(root().join(BAD)).expect("read tests/fixtures/bad") {
        let path = entry.expect("directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).expect("UTF-8 file name").to_string();
        let expected_path = path.with_extension("expected");
        let expected = fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{name} has no readable {}: {e}", expected_path.display()));
        out.push((format!("{BAD}/{name}"), expected.trim_end_matches(['\n', '\r']).to_string()));
    }
    out.sort();
    out
}

fn faultline(args: &[&str], backtrace: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_faultline"));
    cmd.current_dir(root()).args(args).env("NO_COLOR", "1");
    if backtrace {
        cmd.env("RUST_BACKTRACE", "1");
    } else {
        cmd.env_remove("RUST_BACKTRACE");
    }
    cmd.output().expect("run the faultline binary")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_no_panic(what: &str, err: &str) {
    let lower = err.to_lowercase();
    assert!(!lower.contains("panicked") && !lower.contains("backtrace"), "{what} panicked:\n{err}");
}

#[test]
fn there_are_enough_fixtures_and_each_has_an_expected_message() {
    let dir = root().join(BAD);
    let mut tomls = Vec::new();
    for entry in fs::read_dir(&dir).expect("read tests/fixtures/bad") {
        let path = entry.expect("directory entry").path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => {
                assert!(path.with_extension("expected").is_file(), "{} has no .expected file", path.display());
                tomls.push(path);
            }
            Some("expected") => {
                assert!(path.with_extension("toml").is_file(), "{} has no .toml fixture", path.display())
            }
            _ => panic!("unexpected file in {BAD}: {}", path.display()),
        }
    }
    assert!(tomls.len() >= MIN_FIXTURES, "only {} fixtures in {BAD}; want at least {MIN_FIXTURES}", tomls.len());

    for (toml, expected) in fixtures() {
        assert!(!expected.is_empty(), "{toml}: the .expected file is empty");
        assert!(!expected.contains('\n'), "{toml}: the expected message must be one line:\n{expected}");
        assert!(
            expected.starts_with(&format!("{toml}:")),
            "{toml}: the expected message must start with `{toml}:` (got `{expected}`)"
        );
    }
}

#[test]
fn loader_gives_the_expected_message() {
    let mut failures = Vec::new();
    for (toml, expected) in fixtures() {
        // An absolute path, so the test does not depend on the working
        // directory; the message is compared with the relative one.
        let absolute = root().join(&toml);
        let got = match load_scenario(&absolute) {
            Ok(_) => "(loaded without error)".to_string(),
            Err(e) => {
                let text = e.to_string();
                let prefix = format!("{}/", root().display());
                text.strip_prefix(&prefix).map(str::to_string).unwrap_or(text)
            }
        };
        if got != expected {
            failures.push(format!("{toml}\n  expected: {expected}\n  got:      {got}"));
        }
    }
    assert!(failures.is_empty(), "{} fixture(s) gave the wrong message:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn binary_rejects_every_fixture_with_exit_2_and_no_panic() {
    for (toml, expected) in fixtures() {
        for command in ["validate", "run"] {
            for backtrace in [false, true] {
                let out = faultline(&[command, &toml], backtrace);
                let err = stderr(&out);
                let what = format!("faultline {command} {toml} (RUST_BACKTRACE={})", u8::from(backtrace));
                assert_no_panic(&what, &err);
                assert_eq!(out.status.code(), Some(2), "{what}: wrong exit status; stderr:\n{err}");
                assert!(err.contains(&expected), "{what}: stderr lacks the expected message\n{expected}\ngot:\n{err}");
            }
        }
    }
}

#[test]
fn validate_reports_every_bad_file_in_one_run() {
    let all = fixtures();
    let args: Vec<&str> = std::iter::once("validate").chain(all.iter().map(|(t, _)| t.as_str())).collect();
    let out = faultline(&args, true);
    let err = stderr(&out);
    assert_no_panic("faultline validate <all fixtures>", &err);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{err}");
    for (_, expected) in &all {
        assert!(err.contains(expected.as_str()), "missing from stderr: {expected}");
    }
    assert!(err.contains(&format!("{n} of {n} scenario files are invalid", n = all.len())), "stderr:\n{err}");
}

#[test]
fn missing_file_is_a_clear_input_error() {
    let out = faultline(&["validate", "does/not/exist.toml"], true);
    let err = stderr(&out);
    assert_no_panic("faultline validate does/not/exist.toml", &err);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{err}");
    assert!(err.contains("does/not/exist.toml: cannot read scenario file: no such file"), "stderr:\n{err}");

    let e = load_scenario(Path::new("does/not/exist.toml")).expect_err("a missing file must not load");
    assert_eq!(e.to_string(), "does/not/exist.toml: cannot read scenario file: no such file");
}

fn tomls_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn shipped_scenarios_validate() {
    let scenarios = tomls_in(&root().join("scenarios"));
    assert!(!scenarios.is_empty(), "no scenarios/*.toml");
    let mut args = vec!["validate".to_string()];
    args.extend(scenarios.iter().map(|p| p.strip_prefix(root()).unwrap_or(p).display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = faultline(&args, true);
    let err = stderr(&out);
    assert_no_panic("faultline validate scenarios/*.toml", &err);
    assert_eq!(out.status.code(), Some(0), "shipped scenarios must validate; stderr:\n{err}");
}

#[test]
fn good_fixtures_load() {
    // Valid files exercising the loader's edge cases (dotted keys, implicit
    // tables), which must keep loading.
    for path in tomls_in(&root().join("tests/fixtures/good")) {
        if let Err(e) = load_scenario(&path) {
            panic!("{} should load: {e}", path.display());
        }
    }
}

const HEAD: &str = "name = \"x\"\nprotocol = \"raft\"\nnodes = 3\nduration = \"2s\"\n";

fn loads(text: &str) -> faultline_protocols::Loaded {
    faultline_protocols::parse_scenario(text, "case.toml").unwrap_or_else(|e| panic!("should load: {e}\n{text}"))
}

#[test]
fn a_byte_order_mark_is_accepted_and_columns_count_after_it() {
    loads(&format!("\u{feff}{HEAD}"));
    let e = faultline_protocols::parse_scenario(&format!("\u{feff}{HEAD}seed = -1\n"), "case.toml")
        .expect_err("a negative seed must be refused");
    assert_eq!(e.to_string(), "case.toml:5:8: `seed` must be between 0 and 9223372036854775807; got -1");
}

#[test]
fn limits_read_sizes_and_the_events_at_one_instant() {
    let default = loads(HEAD);
    assert_eq!(default.limits.max_memory, faultline_sim::Limits::DEFAULT_MAX_MEMORY);
    assert_eq!(default.limits.max_events_per_instant, faultline_sim::Limits::DEFAULT_MAX_EVENTS_PER_INSTANT);
    for (written, bytes) in [("\"1GiB\"", 1u64 << 30), ("\"3MB\"", 3_000_000), ("4096", 4096), ("\"64GiB\"", 64 << 30)]
    {
        let s = loads(&format!("{HEAD}[limits]\nmax_memory = {written}\nmax_events_per_instant = 5\n"));
        assert_eq!(s.limits.max_memory, bytes, "{written}");
        assert_eq!(s.limits.max_events_per_instant, 5);
    }
}

#[test]
fn what_the_loader_refuses_has_valid_neighbours() {
    // `max_time` exactly at duration plus liveness; below `duration` with
    // no liveness phase and no fault after it.
    loads(&format!(
        "{HEAD}[workload]\nclients = 2\n[liveness]\nduration = \"1s\"\nwithin = \"1s\"\n[limits]\nmax_time = \"3s\"\n"
    ));
    loads(&format!("{HEAD}[[faults]]\nat = \"500ms\"\nkind = \"crash\"\nnode = 0\n[limits]\nmax_time = \"1s\"\n"));
    // A liveness phase on a protocol without a liveness check (reports show
    // the recovery), as long as it sets no bound only that check reads.
    loads(
        "name = \"x\"\nprotocol = \"echo\"\nnodes = 3\nduration = \"2s\"\n[workload]\nclients = 2\n\
         [liveness]\nduration = \"1s\"\n",
    );
    // A session link with no loss written, or a zero one; a datagram override
    // of a session network may lose.
    loads(&format!(
        "{HEAD}[network]\nkind = \"session\"\nloss = 0.0\n[[network.links]]\nfrom = 0\nto = 1\nkind = \"datagram\"\n\
         loss = 0.5\n"
    ));
    // Partition kinds on two nodes; a pre-candidate target with PreVote on.
    loads(
        "name = \"x\"\nprotocol = \"raft\"\nnodes = 2\nduration = \"2s\"\n[params]\npre_vote = true\n\
         [chaos]\nmean_interval = \"500ms\"\nkinds = [\"partition\", \"isolate\"]\n\
         [[faults]]\nat = \"1s\"\nkind = \"pause\"\nnode = \"pre_candidate\"\n",
    );
    // A one-way cut from a group into part of itself is refused, disjoint is not.
    loads(&format!("{HEAD}[[faults]]\nat = \"1s\"\nkind = \"partition_oneway\"\nfrom = [0, 1]\nto = [2]\n"));
    // failed_check naming a check that runs, with verdict fail.
    loads(&format!("{HEAD}[expect]\nverdict = \"fail\"\nfailed_check = \"invariants\"\n"));
    loads(&format!(
        "{HEAD}[expect]\nverdict = \"fail\"\nfailed_check = \"metric_bounds\"\nmetrics = {{ elections = {{ max = 3 }} }}\n"
    ));
    // Just under the memory estimate: 1,500 clients at concurrency 1,000 is
    // 1,500,000 operations at 256 bytes, 366 MiB, below the default 384 MiB.
    loads(&format!("{HEAD}[workload]\nclients = 1500\nconcurrency = 1000\n"));
}
