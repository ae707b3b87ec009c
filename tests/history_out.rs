//! `run --history-out` writes the clients' history for every registered
//! protocol that has clients: the harness exports it, not each protocol.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{assert_exit, command, path, scratch, text};
use faultline_protocols::check::history::{History, OpKind};
use faultline_protocols::harness::ClientUse;
use faultline_protocols::Registry;

fn shipped_scenarios(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir).expect("read scenarios/").flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            shipped_scenarios(&p, out);
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
}

#[test]
fn every_protocol_with_clients_exports_a_history_that_checks_out() {
    let registry = Registry::builtin();
    let mut files = Vec::new();
    shipped_scenarios(&common::root().join("scenarios"), &mut files);
    let dir = scratch("history_out", "all");
    let mut tried = 0;
    for entry in registry.entries().iter().filter(|e| e.clients != ClientUse::None) {
        // The first shipped scenario of this protocol with clients that passes.
        let file = files
            .iter()
            .find(|f| {
                registry.load_scenario(f).is_ok_and(|s| {
                    s.protocol == entry.name
                        && s.clients.count > 0
                        && s.expect.is_none()
                        && !f.to_string_lossy().contains("bugs")
                })
            })
            .unwrap_or_else(|| panic!("no shipped scenario runs protocol `{}` with clients", entry.name));
        let history = dir.join(format!("{}.json", entry.name));
        let out = command(&["run", path(file), "--json", "--history-out", path(&history)]).output().expect("run");
        assert_exit(&out, 0);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("run --json prints JSON");
        let total = report["metrics"]["client_ops_total"].as_u64().expect("client_ops_total");
        let parsed: History =
            serde_json::from_slice(&fs::read(&history).expect("history written")).expect("history parses");
        assert!(!parsed.ops.is_empty(), "{}: empty history from {}", entry.name, file.display());
        assert_eq!(parsed.ops.len() as u64, total, "{}: history holds every client operation", entry.name);
        if entry.check("linearizability").is_some() {
            // A write-once protocol's history holds proposes, which only
            // the write-once model has.
            let write_once = parsed.ops.iter().any(|op| matches!(op.kind, OpKind::Propose { .. }));
            let model = if write_once { "write-once" } else { "register" };
            // Answers tagged with the state they reflect are ZooKeeper's:
            // only writes and reads after sync are promised to be
            // linearizable, and that part is what its check checks.
            let checked_file = if parsed.ops.iter().any(|op| op.at.is_some()) {
                let part =
                    History { ops: parsed.ops.iter().filter(|op| op.promised_linearizable()).cloned().collect() };
                let file = dir.join(format!("{}-linearizable-part.json", entry.name));
                fs::write(&file, serde_json::to_vec(&part).expect("history serializes")).expect("write part");
                file
            } else {
                history.clone()
            };
            let checked =
                command(&["check-history", path(&checked_file), "--model", model]).output().expect("check-history");
            assert_exit(&checked, 0);
            assert!(text(&checked.stdout).contains("linearizable"), "{}", text(&checked.stdout));
        }
        tried += 1;
    }
    assert!(tried >= 2, "echo and raft at least: {tried}");
}
