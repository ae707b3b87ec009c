//! A batch directory and its life: opened (fresh or resumed), appended to
//! run by run, turned into reports at the end; and several shard
//! directories merged into what one unsharded batch would have written.
//!
//! ```text
//! DIR/manifest.json              what the batch is (written first)
//! DIR/runs.jsonl                 one record per finished run (the state)
//! DIR/results.csv                one row per scenario x seed  } rebuilt from runs.jsonl
//! DIR/timings.csv                wall time per run            } at the end, each
//! DIR/coverage.csv               coverage points per scenario }
//! DIR/histograms/S/METRIC.hdr    per scenario, merged         } written atomically
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::atomic::{create_dir, write_atomically};
use crate::coverage::coverage_csv;
use crate::error::ReportError;
use crate::histograms::{self, MergedHistograms};
use crate::manifest::Manifest;
use crate::record::RunRecord;
use crate::results::{results_csv, timings_csv};
use crate::runlog::{read_journal, write_journal, JournalWriter};
use crate::work::WorkItem;

pub const MANIFEST_FILE: &str = "manifest.json";
pub const RUNS_FILE: &str = "runs.jsonl";
pub const RESULTS_FILE: &str = "results.csv";
pub const TIMINGS_FILE: &str = "timings.csv";
pub const COVERAGE_FILE: &str = "coverage.csv";
pub const HISTOGRAMS_DIR: &str = "histograms";

/// A batch directory opened for running.
pub struct OpenBatch {
    /// Records already in the directory, from an earlier, interrupted run.
    pub done: Vec<RunRecord>,
    /// Bytes of a torn last line that were cut off.
    pub torn_bytes: u64,
    pub journal: JournalWriter,
}

/// Opens `dir` for the batch `manifest` describes: creates it and writes the
/// manifest, or — when it already holds this batch — picks up its records.
/// A directory holding another batch is refused.
pub fn open_batch(dir: &Path, manifest: &Manifest) -> Result<OpenBatch, ReportError> {
    create_dir(dir)?;
    let manifest_path = dir.join(MANIFEST_FILE);
    let runs_path = dir.join(RUNS_FILE);
    if manifest_path.exists() {
        let found = Manifest::read(&manifest_path)?;
        if let Some(difference) = manifest.difference(&found) {
            return Err(ReportError::Mismatch {
                dir: dir.to_path_buf(),
                message: format!(
                    "this directory holds {difference}; refusing to mix batches: choose another --out, \
                     or delete the directory to start over"
                ),
            });
        }
    } else {
        for name in [RUNS_FILE, RESULTS_FILE] {
            if dir.join(name).exists() {
                return Err(ReportError::Mismatch {
                    dir: dir.to_path_buf(),
                    message: format!(
                        "this directory holds {name} but no {MANIFEST_FILE}, so it cannot be told \
                         which batch it belongs to; choose another --out"
                    ),
                });
            }
        }
        manifest.write(&manifest_path)?;
    }
    let journal = read_journal(&runs_path)?;
    let done = checked_records(dir, manifest, journal.records)?;
    let writer = JournalWriter::open(&runs_path, journal.valid_len)?;
    Ok(OpenBatch { done, torn_bytes: journal.torn_bytes, journal: writer })
}

/// The records of a journal that belong to `manifest`'s work list, first copy
/// of each run kept; a record of a run outside it means the directory was
/// tampered with, and is refused.
fn checked_records(dir: &Path, manifest: &Manifest, records: Vec<RunRecord>) -> Result<Vec<RunRecord>, ReportError> {
    let work: BTreeSet<WorkItem> = work_list(dir, manifest)?.into_iter().collect();
    let mut seen = BTreeSet::new();
    let mut kept = Vec::with_capacity(records.len());
    for record in records {
        let item = WorkItem { scenario_index: record.scenario_index, seed: record.seed };
        let file_matches = manifest.scenarios.get(record.scenario_index).is_some_and(|s| s.file == record.file);
        if !work.contains(&item) || !file_matches {
            return Err(ReportError::Mismatch {
                dir: dir.to_path_buf(),
                message: format!(
                    "{RUNS_FILE} holds a run ({} seed {}) that is not part of this batch",
                    record.file, record.seed
                ),
            });
        }
        if seen.insert(item) {
            kept.push(record);
        }
    }
    Ok(kept)
}

fn work_list(dir: &Path, manifest: &Manifest) -> Result<Vec<WorkItem>, ReportError> {
    manifest.work_list().map_err(|e| ReportError::Mismatch { dir: dir.to_path_buf(), message: e.to_string() })
}

/// The runs of `work` that `done` does not hold yet, in work-list order.
pub fn pending(work: &[WorkItem], done: &[RunRecord]) -> Vec<WorkItem> {
    let done: BTreeSet<(usize, u64)> = done.iter().map(RunRecord::key).collect();
    work.iter().filter(|w| !done.contains(&(w.scenario_index, w.seed))).copied().collect()
}

/// Sorts `records` into report order and writes results.csv, timings.csv,
/// coverage.csv and the merged histograms into `dir`, each atomically. results.csv goes
/// last, so its presence means the rest is there.
pub fn write_reports(dir: &Path, records: &mut [RunRecord]) -> Result<(), ReportError> {
    records.sort_by_key(RunRecord::key);
    write_histograms(&dir.join(HISTOGRAMS_DIR), records)?;
    write_atomically(&dir.join(TIMINGS_FILE), &timings_csv(records)?)?;
    write_atomically(&dir.join(COVERAGE_FILE), &coverage_csv(records)?)?;
    write_atomically(&dir.join(RESULTS_FILE), &results_csv(records)?)
}

/// `histograms/<scenario>/<metric>.hdr`, merged over the scenario's seeds in
/// seed order (`records` is sorted).
fn write_histograms(root: &Path, records: &[RunRecord]) -> Result<(), ReportError> {
    let mut by_scenario: BTreeMap<usize, (&str, MergedHistograms)> = BTreeMap::new();
    for record in records {
        let (_, merged) =
            by_scenario.entry(record.scenario_index).or_insert_with(|| (&record.scenario, Default::default()));
        merged.add_encoded(&record.histograms)?;
    }
    for (scenario, merged) in by_scenario.values() {
        let dir = root.join(histograms::file_name(scenario));
        for (metric, histogram) in merged.iter() {
            create_dir(&dir)?;
            let path = dir.join(format!("{}.hdr", histograms::file_name(metric)));
            write_atomically(&path, &histograms::to_v2_bytes(metric, histogram)?)?;
        }
    }
    Ok(())
}

/// What a merge produced.
pub struct Merged {
    pub manifest: Manifest,
    pub records: Vec<RunRecord>,
}

/// Combines the shard directories `dirs` into `out`, which then holds
/// exactly what one unsharded batch of the same scenarios and seeds would
/// have written (and can be resumed as such: it is complete).
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged, ReportError> {
    let mismatch = |message: String| ReportError::Merge(message);
    let mut shards = Vec::new();
    for dir in dirs {
        let path = dir.join(MANIFEST_FILE);
        if !path.exists() {
            return Err(mismatch(format!("{} is not a batch directory: it has no {MANIFEST_FILE}", dir.display())));
        }
        shards.push((dir, Manifest::read(&path)?));
    }
    let Some((first_dir, first)) = shards.first() else {
        return Err(mismatch("nothing to merge: name at least one batch directory".to_string()));
    };
    let whole = Manifest { shard: None, ..first.clone() };
    for (dir, manifest) in &shards {
        if let Some(difference) = whole.difference(&Manifest { shard: None, ..manifest.clone() }) {
            return Err(mismatch(format!(
                "{} does not belong with {}: it holds {difference}",
                dir.display(),
                first_dir.display()
            )));
        }
    }
    check_shards_cover(&shards)?;
    let mut records = Vec::new();
    for (dir, manifest) in &shards {
        let journal = read_journal(&dir.join(RUNS_FILE))?;
        let mine = checked_records(dir, manifest, journal.records)?;
        let expected = work_list(dir, manifest)?.len();
        if mine.len() < expected {
            return Err(mismatch(format!(
                "{} ({}) is incomplete: {} of its {expected} runs are recorded; finish it by running its batch \
                 command again, then merge",
                dir.display(),
                manifest.shard.map_or("the whole batch".to_string(), |s| format!("shard {s}")),
                mine.len()
            )));
        }
        records.extend(mine);
    }
    create_dir(out)?;
    let out_manifest = out.join(MANIFEST_FILE);
    if out_manifest.exists() {
        let found = Manifest::read(&out_manifest)?;
        if let Some(difference) = whole.difference(&found) {
            return Err(ReportError::Mismatch {
                dir: out.to_path_buf(),
                message: format!("this directory holds {difference}; choose another --out"),
            });
        }
    } else if out.join(RUNS_FILE).exists() || out.join(RESULTS_FILE).exists() {
        return Err(ReportError::Mismatch {
            dir: out.to_path_buf(),
            message: format!("this directory holds batch output but no {MANIFEST_FILE}; choose another --out"),
        });
    }
    records.sort_by_key(RunRecord::key);
    whole.write(&out_manifest)?;
    write_journal(&out.join(RUNS_FILE), &records)?;
    write_reports(out, &mut records)?;
    Ok(Merged { manifest: whole, records })
}

/// Either one whole batch, or shards K/N for every K in 1..=N exactly once.
fn check_shards_cover(shards: &[(&PathBuf, Manifest)]) -> Result<(), ReportError> {
    let wholes: Vec<&PathBuf> = shards.iter().filter(|(_, m)| m.shard.is_none()).map(|(d, _)| *d).collect();
    if !wholes.is_empty() {
        if shards.len() == 1 {
            return Ok(());
        }
        return Err(ReportError::Merge(format!(
            "{} holds a whole batch, not a shard: there is nothing to merge it with",
            wholes[0].display()
        )));
    }
    let count = shards[0].1.shard.map_or(1, |s| s.count);
    let mut owner: BTreeMap<u32, &PathBuf> = BTreeMap::new();
    for (dir, manifest) in shards {
        let Some(shard) = manifest.shard else { continue };
        if shard.count != count {
            return Err(ReportError::Merge(format!(
                "{} is shard {shard} but {} is shard {}: all shards must split the batch the same way",
                dir.display(),
                shards[0].0.display(),
                shards[0].1.shard.map_or(String::new(), |s| s.to_string())
            )));
        }
        if let Some(other) = owner.insert(shard.index, dir) {
            return Err(ReportError::Merge(format!(
                "{} and {} are both shard {shard}",
                other.display(),
                dir.display()
            )));
        }
    }
    let missing: Vec<String> = (1..=count).filter(|k| !owner.contains_key(k)).map(|k| format!("{k}/{count}")).collect();
    if !missing.is_empty() {
        return Err(ReportError::Merge(format!("shard {} missing: name every shard directory", missing.join(", "))));
    }
    Ok(())
}
