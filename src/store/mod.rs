//! `state/runs.db`: deployed jobs, deployments, sync state and runs, in SQLite.
//!
//! WAL so readers (`backoffice status`, the site) never block the daemon; a busy timeout and
//! short `BEGIN IMMEDIATE` transactions so a second process writing the same file waits instead
//! of failing. One connection per process behind a mutex: our writes are small and SQLite
//! serialises writers anyway. Async callers go through [`Store::call`], which runs the closure
//! on tokio's blocking pool so a busy database never stalls the scheduler's thread.

pub mod deployments;
pub mod jobs;
mod migrations;
pub mod runs;
pub mod time;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

pub use deployments::{Deployment, DeploymentOutcome, SyncState};
pub use jobs::DeployedRow;
pub use runs::{NewRun, RunFinish, RunRow, RunStatus, Trigger};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A storage failure, naming the database file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create the state folder {path}: {source}")]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "database {path} was written by a newer backoffice (schema {found}, this build knows {known}); upgrade backoffice"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("database task failed: {0}")]
    Task(String),
}

/// A handle to the run store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// The error type of the closures given to the store: plain rusqlite, wrapped with the path
/// by the store.
pub type SqlResult<T> = Result<T, rusqlite::Error>;

impl Store {
    /// Opens (creating when needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Folder {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let wrap = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(wrap)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(wrap)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(wrap)?;
        migrations::apply(&mut conn, path)?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                conn: Mutex::new(conn),
            }),
        })
    }

    /// A read-only connection of its own to the same file, for readers that take their time
    /// (the status site) and must not hold up the writers behind the store's lock. WAL lets
    /// it read while others write.
    pub fn reader(&self) -> Result<Connection, StoreError> {
        let wrap = |source| StoreError::Sqlite {
            path: self.inner.path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            &self.inner.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(wrap)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(wrap)?;
        Ok(conn)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` with the connection, on the calling thread.
    pub fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> SqlResult<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .inner
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&mut conn).map_err(|source| StoreError::Sqlite {
            path: self.inner.path.clone(),
            source,
        })
    }

    /// Runs `work` with the connection on tokio's blocking pool.
    pub async fn call<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> SqlResult<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.with(work))
            .await
            .map_err(|error| StoreError::Task(error.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_twice_migrates_once_and_keeps_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state/runs.db");
        let store = Store::open(&path).expect("open");
        store
            .with(|c| c.execute("INSERT INTO deployments (commit_id, author, message, committed_at, deployed_at, outcome, added, changed, removed, errors) VALUES ('c', 'a', 'm', 0, 0, 'applied', '[]', '[]', '[]', '[]')", []))
            .expect("insert");
        drop(store);
        let again = Store::open(&path).expect("reopen");
        let count: i64 = again
            .with(|c| c.query_row("SELECT count(*) FROM deployments", [], |r| r.get(0)))
            .expect("count");
        assert_eq!(count, 1);
        let mode: String = again
            .with(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
            .expect("mode");
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_newer_schema_is_refused_with_advice() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("runs.db");
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "user_version", 999)
            .expect("version");
        drop(conn);
        let error = Store::open(&path).err().expect("too new");
        assert!(error.to_string().contains("upgrade backoffice"), "{error}");
    }
}
