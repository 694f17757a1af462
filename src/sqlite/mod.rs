//! How every SQLite file of backoffice is used (`runs.db`, `registry.db`): WAL so readers
//! never block the writer, its checkpoints off the writers' commits ([`checkpoint`]), a busy
//! timeout so several processes can share a file, versioned migrations tracked in
//! `PRAGMA user_version`, and one connection per process behind a mutex (writes are short,
//! and SQLite serialises writers anyway).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::hooks::Wal;

mod checkpoint;

use checkpoint::Activity;

/// A database failure, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
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

/// One database file of this process; cheap to clone.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    busy: Duration,
    conn: Mutex<Connection>,
    activity: Activity,
}

impl Database {
    /// Opens (creating when needed) the database at `path`, waiting up to `busy` for other
    /// processes' transactions, and applies the `migrations` it has not seen yet.
    pub fn open(path: &Path, busy: Duration, migrations: &[&str]) -> Result<Database, DbError> {
        let conn = open(path, busy, migrations)?;
        let inner = Arc::new(Inner {
            path: path.to_path_buf(),
            busy,
            conn: Mutex::new(conn),
            activity: Activity::new(),
        });
        // Replaces SQLite's automatic checkpoint, which is itself a commit hook.
        let database = Arc::downgrade(&inner);
        inner
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .wal_hook(Some(move |_: &mut Wal, pages| {
                checkpoint::committed(&database, pages);
                Ok(())
            }))
            .map_err(|source| DbError::Sqlite {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Database { inner })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A read-only connection of its own to the same file, for readers that take their time
    /// (the status site) and must not hold up the writers behind this handle's lock. WAL
    /// lets it read while others write.
    pub fn reader(&self) -> Result<Connection, DbError> {
        let wrap = |source| DbError::Sqlite {
            path: self.inner.path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            &self.inner.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(wrap)?;
        conn.busy_timeout(self.inner.busy).map_err(wrap)?;
        // A reader that walks history page by page gains little from SQLite's default 2 MB
        // page cache, and the daemon keeps it for its whole life.
        conn.pragma_update(None, "cache_size", -256).map_err(wrap)?;
        Ok(conn)
    }

    /// Runs `work` with the connection, on the calling thread.
    pub fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        let _use = self.inner.activity.using();
        let mut conn = self
            .inner
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&mut conn).map_err(|source| DbError::Sqlite {
            path: self.inner.path.clone(),
            source,
        })
    }

    /// Runs `work` with the connection on tokio's blocking pool, so a busy database never
    /// stalls an async task.
    pub async fn call<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let database = self.clone();
        tokio::task::spawn_blocking(move || database.with(work))
            .await
            .map_err(|error| DbError::Task(error.to_string()))?
    }
}

/// Opens the connection and migrates. Migrations are append only: a released one is never
/// edited.
///
/// Several processes may open a new file at the same moment (each MCP client starts its own
/// server). While one switches the file to WAL or recovers its WAL, SQLite can answer the
/// others `SQLITE_BUSY` without calling the busy handler, so the whole opening is tried
/// again until the busy timeout has passed.
fn open(path: &Path, busy: Duration, migrations: &[&str]) -> Result<Connection, DbError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| DbError::Folder {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let deadline = std::time::Instant::now() + busy;
    loop {
        match open_once(path, busy, migrations) {
            Err(DbError::Sqlite { source, .. })
                if is_busy(&source) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10 + fastrand::u64(0..20)));
            }
            outcome => return outcome,
        }
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn open_once(path: &Path, busy: Duration, migrations: &[&str]) -> Result<Connection, DbError> {
    let wrap = |source| DbError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = Connection::open(path).map_err(wrap)?;
    conn.busy_timeout(busy).map_err(wrap)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(wrap)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(wrap)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(wrap)?;
    migrate(&mut conn, path, migrations)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path, migrations: &[&str]) -> Result<(), DbError> {
    let wrap = |source| DbError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let version = |conn: &Connection| -> rusqlite::Result<i64> {
        conn.query_row("PRAGMA user_version", [], |row| row.get(0))
    };
    let known = migrations.len() as i64;
    if version(conn).map_err(wrap)? == known {
        // The common case for every process after the first: no write lock taken.
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(wrap)?;
    let found = version(&tx).map_err(wrap)?;
    if found > known {
        return Err(DbError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    for (index, sql) in migrations.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql).map_err(wrap)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .map_err(wrap)?;
    }
    tx.commit().map_err(wrap)
}
