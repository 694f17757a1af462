//! Which process owns a `running` run, so the next start can tell a run whose process died
//! (`interrupted`) from one another live process is still running.
//!
//! Each process that runs jobs holds an exclusive OS lock on `state/owners/<token>.lock` for
//! its whole life. The OS drops the lock when the process dies, however it dies (SIGKILL
//! included), so "can I take the lock?" answers "is the owner dead?" without pid reuse worries.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// This process's ownership token and the lock that proves it is alive.
pub struct OwnerLock {
    token: String,
    path: PathBuf,
    _file: File,
}

impl OwnerLock {
    /// Creates and locks a new owner file under `state_dir/owners`.
    pub fn acquire(state_dir: &Path) -> io::Result<OwnerLock> {
        let folder = state_dir.join("owners");
        std::fs::create_dir_all(&folder)?;
        let token = format!("{}-{:016x}", std::process::id(), fastrand::u64(..));
        let path = folder.join(format!("{token}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.try_lock().map_err(io::Error::other)?;
        Ok(OwnerLock {
            token,
            path,
            _file: file,
        })
    }

    /// The token stored in the run rows this process owns.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the process holding `token` is still alive. A missing file means it exited.
pub fn is_alive(state_dir: &Path, token: &str) -> bool {
    if token.contains(['/', '\\']) || token.starts_with('.') {
        return false;
    }
    let path = state_dir.join("owners").join(format!("{token}.lock"));
    let Ok(file) = OpenOptions::new().write(true).open(&path) else {
        return false;
    };
    match file.try_lock() {
        Ok(()) => {
            // Nobody held it: the owner died without cleaning up. Tidy for it.
            let _ = std::fs::remove_file(&path);
            false
        }
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_alive_and_a_dropped_one_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lock = OwnerLock::acquire(dir.path()).expect("acquire");
        let token = lock.token().to_string();
        assert!(is_alive(dir.path(), &token));
        drop(lock);
        assert!(!is_alive(dir.path(), &token));
        assert!(!is_alive(dir.path(), "../../etc/passwd"));
    }
}
