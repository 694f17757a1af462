//! `state/runs.db`: deployed jobs, deployments, sync state and runs, in SQLite.
//!
//! WAL so readers (`backoffice status`, the site) never block the daemon; a busy timeout and
//! short `BEGIN IMMEDIATE` transactions so a second process writing the same file waits instead
//! of failing. One connection per process behind a mutex: our writes are small and SQLite
//! serialises writers anyway ([`crate::sqlite`]). Async callers go through `call`, which runs the closure
//! on tokio's blocking pool so a busy database never stalls the scheduler's thread.

pub mod briefings;
pub mod claims;
pub mod deployments;
pub mod history;
pub mod jobs;
pub mod langgraph;
mod migrations;
pub mod notifications;
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
    fn the_runs_table_rebuilt_by_migration_3_keeps_every_row_and_claim() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("runs.db");
        let old = Database::open(&path, BUSY_TIMEOUT, &migrations::MIGRATIONS[..2]).expect("v2");
        old.with(|c| {
            c.execute_batch(
                "INSERT INTO runs (job_id, trigger, scheduled_for, attempt, status, started_at, finished_at, error) \
                 VALUES ('a', 'schedule', 1000, 1, 'failed', 1000, 2000, 'boom'), \
                        ('a', 'schedule', 3000, 1, 'running', 3000, NULL, NULL), \
                        ('b', 'manual', 3000, 1, 'succeeded', 3000, 4000, NULL)",
            )
        })
        .expect("v2 rows");
        drop(old);
        let store = Store::open(&path).expect("migrate");
        let a = store
            .with(|c| history::recent(c, Some("a"), 10))
            .expect("history");
        assert_eq!(
            a.iter().map(|r| (r.id, r.status)).collect::<Vec<_>>(),
            [(2, RunStatus::Running), (1, RunStatus::Failed)]
        );
        let failures = store
            .with(|c| history::recent_failures(c, 10))
            .expect("failures");
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].error.as_deref(), Some("boom"));
        // The occurrence claimed before the upgrade stays claimed after it.
        let again = NewRun::bare("a", time::from_db(3000));
        let ids = store.with(|c| claims::claim(c, &[again])).expect("claim");
        assert_eq!(ids, [None]);
    }

    #[test]
    fn migration_7_keeps_each_runs_commit_definition_and_owner_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("runs.db");
        let old = Database::open(&path, BUSY_TIMEOUT, &migrations::MIGRATIONS[..6]).expect("v6");
        old.with(|c| {
            c.execute_batch(
                "INSERT INTO deployed_jobs (id, file, source, definition_hash, commit_id, deployed_at) \
                 VALUES ('a', 'jobs/a.toml', '', 'h2', 'c2', 0); \
                 INSERT INTO runs (job_id, trigger, scheduled_for, attempt, status, started_at, \
                     finished_at, commit_id, definition_hash, owner) VALUES \
                 ('a', 'schedule', 1000, 1, 'succeeded', 1000, 2000, 'c1', 'h1', '1-aa'), \
                 ('a', 'schedule', 3000, 1, 'running', 3000, NULL, 'c2', 'h2', '2-bb'), \
                 ('a', 'schedule', 4000, 1, 'running', 4000, NULL, 'c2', 'h2', '3-cc'), \
                 ('b', 'manual', 3000, 1, 'missed', NULL, 3000, NULL, NULL, NULL)",
            )
        })
        .expect("v6 rows");
        drop(old);
        let store = Store::open(&path).expect("migrate");
        let (definitions, owners): (i64, i64) = store
            .with(|c| {
                c.query_row(
                    "SELECT (SELECT count(*) FROM definitions), (SELECT count(*) FROM owners)",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
            })
            .expect("counts");
        assert_eq!((definitions, owners), (2, 3));
        let rows = store.with(|c| history::recent(c, None, 10)).expect("rows");
        let kept: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.job_id.as_str(),
                    r.commit_id.as_deref(),
                    r.definition_hash.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            kept,
            [
                ("b", None, None),
                ("a", Some("c2"), Some("h2")),
                ("a", Some("c2"), Some("h2")),
                ("a", Some("c1"), Some("h1"))
            ]
        );
        // The deployed version has its number, and the owners are still known by token.
        let placements = store.with(|c| jobs::placements(c)).expect("placements");
        let deployed = store
            .with(|c| claims::register_definition(c, "c2", "h2"))
            .expect("number");
        assert_eq!(placements[0].definition, Some(deployed));
        let interrupted = store
            .with(|c| runs::interrupt_orphans(c, |token| token == "3-cc"))
            .expect("orphans");
        assert_eq!(
            interrupted
                .iter()
                .map(|r| r.scheduled_for)
                .collect::<Vec<_>>(),
            [time::from_db(3000)]
        );
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
