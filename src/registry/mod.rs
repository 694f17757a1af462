//! The Context Registry: conversations from Cursor, Claude Desktop, Claude Code and others,
//! kept in `state/registry.db` and served to them over MCP.
//!
//! * [`store`] holds the data (channels, sessions, messages) and writes it idempotently;
//!   [`migrations`] versions its schema.
//! * [`tokens`] turns Korean/English text into what the full-text index sees; [`search`]
//!   ranks matches (bm25 with recency) and cuts snippets.
//! * [`channel`] decides which client platform a conversation came from.
//! * [`tools`] is the MCP server (rmcp), its schemas tidied by `schema`; [`stdio`] runs it
//!   for `backoffice mcp` behind a guard that answers malformed lines; [`http`]
//!   serves the same tools over Streamable HTTP inside `serve`.
//! * [`import`] reads Claude Code transcripts; [`connect`] writes client configurations;
//!   [`stats`] and [`activity`] give the status site its figures.
//!
//! Several processes use one file at once (every client launches its own `backoffice mcp`,
//! and the daemon reads it): WAL, a busy timeout and short `BEGIN IMMEDIATE` writes, as in
//! [`crate::store`].

pub mod activity;
pub mod channel;
pub mod connect;
pub mod http;
pub mod import;
mod migrations;
mod schema;
pub mod search;
pub mod stats;
pub mod stdio;
pub mod store;
pub mod tokens;
pub mod tools;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sqlite::Database;

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
pub type RegistryError = crate::sqlite::DbError;

/// A handle to the registry database; cheap to clone. One connection per process behind a
/// mutex: writes are small and SQLite serialises writers anyway.
#[derive(Clone)]
pub struct Registry(Database);

impl std::ops::Deref for Registry {
    type Target = Database;
    fn deref(&self) -> &Database {
        &self.0
    }
}

impl Registry {
    /// Opens (creating when needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Registry, RegistryError> {
        Database::open(path, BUSY_TIMEOUT, migrations::MIGRATIONS).map(Registry)
    }
}
