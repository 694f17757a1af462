//! Writes site files atomically (a temporary file renamed over the old one), so a reader never
//! sees half a page, and skips files whose content has not changed, so their `ETag` and
//! `Last-Modified` stay put and a phone's cached copy stays valid.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Writes into one site folder, remembering what it wrote.
pub struct Writer {
    root: PathBuf,
    /// Hash of each file's content as last written by us, by hash of its path: 16 bytes a
    /// file instead of its path's text (three files a job, thousands of jobs).
    written: HashMap<u64, u64>,
    /// Files written (not skipped) since the counter was last taken.
    pub changed: usize,
}

impl Writer {
    pub fn new(root: &Path) -> Writer {
        Writer {
            root: root.to_path_buf(),
            written: HashMap::new(),
            changed: 0,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `content` to `path` (relative to the root) unless it is already there.
    pub fn write(&mut self, path: &str, content: &[u8]) -> Result<(), WriteError> {
        let hash = fingerprint(content);
        let key = fingerprint(path.as_bytes());
        let target = self.root.join(path);
        if self.written.get(&key) == Some(&hash) && target.exists() {
            return Ok(());
        }
        let error = |source| WriteError {
            path: target.clone(),
            source,
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(error)?;
        }
        let file_name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temporary = target.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
        let result = (|| {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(content)?;
            std::fs::rename(&temporary, &target)
        })();
        if let Err(source) = result {
            let _ = std::fs::remove_file(&temporary);
            return Err(error(source));
        }
        self.written.insert(key, hash);
        self.changed += 1;
        Ok(())
    }
}

/// Enough to tell "same bytes as last time" within one process.
fn fingerprint(content: &[u8]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    content.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_whole_files_and_skip_unchanged_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut writer = Writer::new(dir.path());
        writer.write("jobs/a/b.html", b"one").expect("write");
        writer.write("jobs/a/b.html", b"one").expect("write");
        assert_eq!(writer.changed, 1);
        writer.write("jobs/a/b.html", b"two").expect("write");
        assert_eq!(writer.changed, 2);
        assert_eq!(
            std::fs::read(dir.path().join("jobs/a/b.html")).expect("read"),
            b"two"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("jobs/a"))
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
