//! `manifest.json`: what a batch directory holds — which faultline, which
//! scenario files (with a hash of their content), which seeds, which shard.
//! A batch writes it before its first run; resuming and merging compare
//! manifests so records of different batches never mix.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomically;
use crate::error::ReportError;
use crate::work::{work_list, SeedRange, Shard, WorkItem, WorkSpecError};

/// Bumped when the layout of a batch directory changes.
pub const BATCH_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioFile {
    /// The path as given on the command line (results.csv's `file` column).
    pub file: String,
    pub name: String,
    /// FNV-1a 64 of the file's bytes: enough to notice an edited file, not a
    /// defence against a forged one.
    pub content_hash: String,
}

impl ScenarioFile {
    pub fn new(file: &str, name: &str, content: &[u8]) -> ScenarioFile {
        ScenarioFile { file: file.to_string(), name: name.to_string(), content_hash: content_hash(content) }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub faultline_version: String,
    pub scenarios: Vec<ScenarioFile>,
    pub seeds: SeedRange,
    /// `None` for a whole batch.
    pub shard: Option<Shard>,
}

pub fn content_hash(bytes: &[u8]) -> String {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = bytes.iter().fold(OFFSET_BASIS, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    format!("fnv1a64:{hash:016x}")
}

impl Manifest {
    pub fn new(
        faultline_version: &str,
        scenarios: Vec<ScenarioFile>,
        seeds: SeedRange,
        shard: Option<Shard>,
    ) -> Manifest {
        Manifest { format: BATCH_FORMAT, faultline_version: faultline_version.to_string(), scenarios, seeds, shard }
    }

    /// Refuses batches whose reports would be ambiguous: a file named twice,
    /// or two scenarios whose histograms would share a directory.
    pub fn check_unambiguous(&self) -> Result<(), WorkSpecError> {
        for (i, a) in self.scenarios.iter().enumerate() {
            for b in &self.scenarios[..i] {
                if a.file == b.file {
                    return Err(WorkSpecError(format!("{} is named twice; name each scenario file once", a.file)));
                }
                if crate::histograms::file_name(&a.name) == crate::histograms::file_name(&b.name) {
                    return Err(WorkSpecError(format!(
                        "{} and {} are both named `{}`: a batch keys its rows and histograms by scenario name, \
                         so give them different names",
                        b.file, a.file, a.name
                    )));
                }
            }
        }
        crate::work::check_size(self.scenarios.len(), self.seeds)
    }

    /// The runs this manifest's batch (or shard) consists of, in report order.
    pub fn work_list(&self) -> Result<Vec<WorkItem>, WorkSpecError> {
        work_list(self.scenarios.len(), self.seeds, self.shard)
    }

    pub fn read(path: &Path) -> Result<Manifest, ReportError> {
        let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| ReportError::BadManifest { path: path.to_path_buf(), message: e.to_string() })
    }

    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| ReportError::BadManifest { path: path.to_path_buf(), message: e.to_string() })?;
        text.push('\n');
        write_atomically(path, text.as_bytes())
    }

    /// What sets `found` (a directory's manifest) apart from `self` (the batch
    /// asked for), in words; `None` when they describe the same batch.
    pub fn difference(&self, found: &Manifest) -> Option<String> {
        if found.format != self.format {
            return Some(format!("batch format {} (this faultline writes format {})", found.format, self.format));
        }
        if found.faultline_version != self.faultline_version {
            return Some(format!(
                "a batch of faultline {} (this is faultline {})",
                found.faultline_version, self.faultline_version
            ));
        }
        let files = |m: &Manifest| m.scenarios.iter().map(|s| s.file.clone()).collect::<Vec<_>>().join(" ");
        if found.scenarios.len() != self.scenarios.len()
            || found.scenarios.iter().zip(&self.scenarios).any(|(a, b)| a.file != b.file)
        {
            return Some(format!("a batch of the scenario files [{}], not [{}]", files(found), files(self)));
        }
        for (a, b) in found.scenarios.iter().zip(&self.scenarios) {
            if a.content_hash != b.content_hash || a.name != b.name {
                return Some(format!(
                    "a batch of {} as it was before it changed (content hash {}, now {})",
                    b.file, a.content_hash, b.content_hash
                ));
            }
        }
        if found.seeds != self.seeds {
            return Some(format!("a batch of seeds {} (not {})", found.seeds, self.seeds));
        }
        if found.shard != self.shard {
            let shard = |s: Option<Shard>| s.map_or("no shard (the whole batch)".to_string(), |s| format!("shard {s}"));
            return Some(format!("{} (not {})", shard(found.shard), shard(self.shard)));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(seeds: &str, shard: Option<&str>, content: &str) -> Manifest {
        Manifest::new(
            "0.1.0",
            vec![ScenarioFile::new("a.toml", "a", content.as_bytes())],
            seeds.parse().unwrap(),
            shard.map(|s| s.parse().unwrap()),
        )
    }

    #[test]
    fn differences_are_named() {
        let m = manifest("1..=10", None, "x");
        assert_eq!(m.difference(&manifest("1..11", None, "x")), None);
        assert!(m.difference(&manifest("1..=9", None, "x")).unwrap().contains("seeds 1..=9"));
        assert!(m.difference(&manifest("1..=10", Some("1/2"), "x")).unwrap().contains("shard 1/2"));
        assert!(m.difference(&manifest("1..=10", None, "y")).unwrap().contains("changed"));
    }

    #[test]
    fn content_hash_is_fnv1a() {
        assert_eq!(content_hash(b""), "fnv1a64:cbf29ce484222325");
        assert_eq!(content_hash(b"a"), "fnv1a64:af63dc4c8601ec8c");
    }
}
