//! `state/runs.db`: deployed jobs, deployments, sync state and runs, in SQLite.
//!
//! WAL so readers (`backoffice status`, the site) never block the daemon; a busy timeout and
//! short `BEGIN IMMEDIATE` transactions so a second process writing the same file waits instead
//! of failing. One connection per process behind a mutex: our writes are small and SQLite
//! serialises writers anyway ([`crate::sqlite`]). Async callers go through `call`, which runs the closure
//! on tokio's blocking pool so a busy database never stalls the scheduler's thread.

pub mod deployments;
pub mod jobs;
mod migrations;
pub mod runs;
pub mod time;

use std::path::Path;
use std::time::Duration;

use crate::sqlite::Database;

pub use deployments::{Deployment, DeploymentOutcome, SyncState};
pub use jobs::DeployedRow;
pub use runs::{NewRun, RunFinish, RunRow, RunStatus, Trigger};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A storage failure, naming the database file.
pub type StoreError = crate::sqlite::DbError;

/// A handle to the run store; cheap to clone.
#[derive(Clone)]
pub struct Store(Database);

impl std::ops::Deref for Store {
    type Target = Database;
    fn deref(&self) -> &Database {
        &self.0
    }
}

/// The error type of the closures given to the store: plain rusqlite, wrapped with the path
/// by the store.
pub type SqlResult<T> = Result<T, rusqlite::Error>;

impl Store {
    /// Opens (creating when needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Database::open(path, BUSY_TIMEOUT, migrations::MIGRATIONS).map(Store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

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
