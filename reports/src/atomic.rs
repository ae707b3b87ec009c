//! Atomic file replacement: write a temporary file beside the target, flush it
//! to disk, then rename it over the target, so a reader (or a crash) sees the
//! old file or the new one, never half of one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::ReportError;

pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), ReportError> {
    let temp = temp_path(path);
    let written = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(contents)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(ReportError::io(&temp, e));
    }
    fs::rename(&temp, path).map_err(|e| {
        let _ = fs::remove_file(&temp);
        ReportError::io(path, e)
    })
}

/// `dir/.name.tmp`, in the target's own directory so the rename never crosses
/// file systems. One batch writes each target from one thread only.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

pub fn create_dir(path: &Path) -> Result<(), ReportError> {
    fs::create_dir_all(path).map_err(|e| {
        // "File exists" would not say what is wrong with it.
        let e = if path.exists() && !path.is_dir() {
            std::io::Error::new(e.kind(), "exists and is not a directory; name a directory to write into")
        } else {
            e
        };
        ReportError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("faultline-atomic-{}", std::process::id()));
        create_dir(&dir).unwrap();
        let target = dir.join("out.csv");
        write_atomically(&target, b"one").unwrap();
        write_atomically(&target, b"two").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
