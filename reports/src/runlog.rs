//! `runs.jsonl`: the journal of a batch, one [`RunRecord`] per line, appended
//! and flushed as each run finishes. It is the batch's only state: the
//! reports are rebuilt from it, and a resumed batch skips the runs it holds.
//! A crash can leave a torn last line; reading ignores it and resuming cuts it
//! off before appending.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::ReportError;
use crate::record::RunRecord;

/// The records of a journal, and how many of its bytes hold them.
pub struct Journal {
    pub records: Vec<RunRecord>,
    /// Length of the file up to the end of its last whole record.
    pub valid_len: u64,
    /// Bytes after that (a torn line), ignored.
    pub torn_bytes: u64,
}

/// Reads a journal; a missing file is an empty one.
pub fn read_journal(path: &Path) -> Result<Journal, ReportError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(ReportError::io(path, e)),
    };
    let mut records = Vec::new();
    let mut valid_len = 0usize;
    let mut start = 0usize;
    let mut line_number = 0usize;
    while let Some(newline) = bytes[start..].iter().position(|&b| b == b'\n') {
        let end = start + newline + 1;
        line_number += 1;
        let line = &bytes[start..end];
        if !line.iter().all(u8::is_ascii_whitespace) {
            match serde_json::from_slice::<RunRecord>(line) {
                Ok(record) => records.push(record),
                // A damaged last line is a torn write; one with records
                // after it is damage we must not paper over.
                Err(_) if bytes[end..].iter().all(u8::is_ascii_whitespace) => break,
                Err(e) => {
                    return Err(ReportError::BadRecord {
                        path: path.to_path_buf(),
                        line: line_number,
                        message: e.to_string(),
                    })
                }
            }
        }
        valid_len = end;
        start = end;
    }
    Ok(Journal { records, valid_len: valid_len as u64, torn_bytes: (bytes.len() - valid_len) as u64 })
}

/// A journal open for appending.
pub struct JournalWriter {
    file: File,
    path: PathBuf,
}

impl JournalWriter {
    /// Opens (or creates) the journal, first cutting it to `valid_len` bytes
    /// so a torn line from an earlier crash does not swallow the next record.
    pub fn open(path: &Path, valid_len: u64) -> Result<JournalWriter, ReportError> {
        let io = |e| ReportError::io(path, e);
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() != valid_len {
            file.set_len(valid_len).map_err(io)?;
        }
        drop(file);
        let file = OpenOptions::new().append(true).open(path).map_err(io)?;
        Ok(JournalWriter { file, path: path.to_path_buf() })
    }

    /// Appends one record as one line, in one write, and flushes it.
    pub fn append(&mut self, record: &RunRecord) -> Result<(), ReportError> {
        let mut line = serde_json::to_vec(record).map_err(|e| ReportError::io(&self.path, e.into()))?;
        line.push(b'\n');
        self.file.write_all(&line).and_then(|()| self.file.flush()).map_err(|e| ReportError::io(&self.path, e))
    }
}

/// Writes a whole journal at once, atomically (merge does this).
pub fn write_journal(path: &Path, records: &[RunRecord]) -> Result<(), ReportError> {
    let mut bytes = Vec::new();
    for record in records {
        serde_json::to_writer(&mut bytes, record).map_err(|e| ReportError::io(path, e.into()))?;
        bytes.push(b'\n');
    }
    crate::atomic::write_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seed: u64) -> RunRecord {
        RunRecord::panicked(0, "s", "s.toml", "echo", seed, "boom", 0.5)
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("faultline-runlog-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("runs.jsonl")
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_cut_before_appending() {
        let path = temp("torn");
        let mut w = JournalWriter::open(&path, 0).unwrap();
        w.append(&record(1)).unwrap();
        w.append(&record(2)).unwrap();
        drop(w);
        let whole = std::fs::read(&path).unwrap();
        let first_len = whole.iter().position(|&b| b == b'\n').unwrap() + 1;
        std::fs::write(&path, &whole[..first_len + 10]).unwrap();
        let j = read_journal(&path).unwrap();
        assert_eq!(j.records, vec![record(1)]);
        assert_eq!((j.valid_len, j.torn_bytes), (first_len as u64, 10));
        let mut w = JournalWriter::open(&path, j.valid_len).unwrap();
        w.append(&record(3)).unwrap();
        assert_eq!(read_journal(&path).unwrap().records, vec![record(1), record(3)]);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_record_without_coverage_reads_as_none_and_bad_coverage_is_an_error() {
        let path = temp("coverage");
        let mut with = record(1);
        with.coverage.insert("a point".into(), 3);
        let with_text = serde_json::to_string(&with).unwrap();
        assert!(with_text.contains(r#""coverage":{"a point":3}"#), "{with_text}");
        // A record from before coverage existed has no such key.
        let old_text = serde_json::to_string(&record(2)).unwrap();
        assert!(!old_text.contains("coverage"), "{old_text}");
        std::fs::write(&path, format!("{with_text}\n{old_text}\n")).unwrap();
        let records = read_journal(&path).unwrap().records;
        assert_eq!(records, vec![with, record(2)]);
        assert!(records[1].coverage.is_empty());
        let bad = with_text.replace(r#"{"a point":3}"#, r#"{"a point":"x"}"#);
        std::fs::write(&path, format!("{bad}\n{old_text}\n")).unwrap();
        assert!(matches!(read_journal(&path), Err(ReportError::BadRecord { line: 1, .. })));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn damage_before_the_last_line_is_an_error() {
        let path = temp("damaged");
        let good = serde_json::to_string(&record(1)).unwrap();
        std::fs::write(&path, format!("{good}\nnot json\n{good}\n")).unwrap();
        assert!(matches!(read_journal(&path), Err(ReportError::BadRecord { line: 2, .. })));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
