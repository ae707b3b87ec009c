//! Every scenario in `scenarios/regressions/` replays at its own seed to the
//! verdict, failed check and fingerprint its `[expect]` table pins. Each one
//! is a failure found and fixed while building the protocols.

use std::path::PathBuf;

use faultline_protocols::{load_scenario, RunOptions};

#[test]
fn regressions_replay_exactly() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/regressions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/regressions exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "regressions found: {}", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let scenario = load_scenario(file).unwrap_or_else(|e| panic!("{e}"));
        let expect = scenario.expect.clone().unwrap_or_else(|| panic!("{}: no [expect] table", file.display()));
        let report = scenario.run(scenario.seed, RunOptions::default());
        let verdict = report.verdict().as_str().to_ascii_lowercase();
        let failed = report.failure().map(|c| c.name.clone());
        let fingerprint = report.fingerprint_hex();
        let mut wrong = Vec::new();
        if verdict != expect.verdict {
            wrong.push(format!("verdict {verdict}, expected {}", expect.verdict));
        }
        if expect.failed_check.is_some() && failed != expect.failed_check {
            wrong.push(format!("failed check {failed:?}, expected {:?}", expect.failed_check));
        }
        if expect.fingerprint.as_ref().is_some_and(|f| *f != fingerprint) {
            wrong.push(format!("fingerprint {fingerprint}, expected {}", expect.fingerprint.as_deref().unwrap_or("")));
        }
        if !wrong.is_empty() {
            problems.push(format!(
                "{}: {} (reproduce: faultline run {} --seed {})",
                file.display(),
                wrong.join("; "),
                file.display(),
                scenario.seed
            ));
        }
    }
    assert!(problems.is_empty(), "regressions changed:\n{}", problems.join("\n"));
}
