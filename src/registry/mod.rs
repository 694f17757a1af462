//! The Context Registry: conversations from Cursor, Claude Desktop, Claude Code and others,
//! kept in `state/registry.db` and served to them over MCP.
//!
//! * [`store`] holds the data (channels, sessions, messages) and writes it idempotently;
//!   [`migrations`] versions its schema.
//! * [`tokens`] turns Korean/English text into what the full-text index sees; [`search`]
//!   ranks matches (bm25 with recency) and cuts snippets.
//! * [`channel`] decides which client platform a conversation came from.
//! * [`tools`] is the MCP server (rmcp); [`stdio`] runs it for `backoffice mcp`; [`http`]
//!   serves the same tools over Streamable HTTP inside `serve`.
//! * [`import`] reads Claude Code transcripts; [`connect`] writes client configurations;
//!   [`stats`] gives the status site its figures.
//!
//! Several processes use one file at once (every client launches its own `backoffice mcp`,
//! and the daemon reads it): WAL, a busy timeout and short `BEGIN IMMEDIATE` writes, as in
//! [`crate::store`].

pub mod channel;
pub mod connect;
pub mod http;
pub mod import;
mod migrations;
pub mod search;
pub mod stats;
pub mod stdio;
pub mod store;
pub mod tokens;
pub mod tools;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

/// The registry file inside a state folder.
pub const FILE_NAME: &str = "registry.db";

/// How long a writer waits for another process's transaction. Generous: three clients
/// logging at once must queue, never fail with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The registry database of a state folder.
pub fn path_in(state: &Path) -> PathBuf {
    state.join(FILE_NAME)
}

/// A registry failure, naming the database file.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry {path}: {source}")]
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
        "registry {path} was written by a newer backoffice (schema {found}, this build knows {known}); upgrade backoffice"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("registry task failed: {0}")]
    Task(String),
}

/// A handle to the registry database; cheap to clone. One connection per process behind a
/// mutex: writes are small and SQLite serialises writers anyway.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Registry {
    /// Opens (creating when needed) the registry at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Registry, RegistryError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| RegistryError::Folder {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let wrap = |source| RegistryError::Sqlite {
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
        Ok(Registry {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                conn: Mutex::new(conn),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` with the connection, on the calling thread.
    pub fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, RegistryError> {
        let mut conn = self
            .inner
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&mut conn).map_err(|source| RegistryError::Sqlite {
            path: self.inner.path.clone(),
            source,
        })
    }

    /// Runs `work` with the connection on tokio's blocking pool, so a busy database never
    /// stalls the protocol loop.
    pub async fn call<T, F>(&self, work: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let registry = self.clone();
        tokio::task::spawn_blocking(move || registry.with(work))
            .await
            .map_err(|error| RegistryError::Task(error.to_string()))?
    }
}
