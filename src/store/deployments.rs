//! Deployments (one row per commit the daemon synced) and the sync state: which commit is
//! applied, which was last attempted and why it failed. They are kept apart so a broken fetch
//! or a held commit leaves the old jobs running and the problem visible.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::SqlResult;
use super::jobs::{self, DeployedRow};
use super::time::{from_db, to_db};

/// What became of a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentOutcome {
    /// Valid files applied (invalid ones reported, last good versions kept).
    Applied,
    /// Not applied: it would have removed every job (`--allow-empty` deploys it).
    Held,
}

impl DeploymentOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentOutcome::Applied => "applied",
            DeploymentOutcome::Held => "held",
        }
    }
}

/// One sync of one commit.
#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub id: i64,
    pub commit_id: String,
    pub author: String,
    pub message: String,
    pub committed_at: DateTime<Utc>,
    pub deployed_at: DateTime<Utc>,
    pub outcome: DeploymentOutcome,
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// Every file error at this commit, `file:line:column: message`.
    pub errors: Vec<String>,
}

/// Where syncing stands.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncState {
    /// What is tracked, e.g. `/srv/jobs.git (main)`.
    pub source: String,
    pub applied_commit: Option<String>,
    pub applied_at: Option<DateTime<Utc>>,
    pub attempted_commit: Option<String>,
    pub attempted_at: Option<DateTime<Utc>>,
    /// Why the last attempt did not apply (fetch failure, held commit); `None` when it did.
    pub attempt_error: Option<String>,
    pub last_fetch_at: Option<DateTime<Utc>>,
}

/// Records a deployment; when it was applied, the deployed set becomes `deployed`. One
/// transaction, so status never shows a deployment without its jobs.
pub fn record(
    conn: &mut Connection,
    source: &str,
    deployment: &Deployment,
    deployed: &[DeployedRow],
) -> SqlResult<i64> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let json = |list: &Vec<String>| serde_json::to_string(list).unwrap_or_else(|_| "[]".into());
    tx.execute(
        "INSERT INTO deployments (commit_id, author, message, committed_at, deployed_at, outcome, \
         added, changed, removed, errors) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            deployment.commit_id,
            deployment.author,
            deployment.message,
            to_db(deployment.committed_at),
            to_db(deployment.deployed_at),
            deployment.outcome.as_str(),
            json(&deployment.added),
            json(&deployment.changed),
            json(&deployment.removed),
            json(&deployment.errors),
        ],
    )?;
    let id = tx.last_insert_rowid();
    let at = to_db(deployment.deployed_at);
    ensure_sync_row(&tx, source)?;
    match deployment.outcome {
        DeploymentOutcome::Applied => {
            jobs::replace(&tx, deployed)?;
            tx.execute(
                "UPDATE sync_state SET applied_commit = ?1, applied_at = ?2, attempted_commit = ?1, \
                 attempted_at = ?2, attempt_error = NULL WHERE id = 1",
                params![deployment.commit_id, at],
            )?;
        }
        DeploymentOutcome::Held => {
            tx.execute(
                "UPDATE sync_state SET attempted_commit = ?1, attempted_at = ?2, attempt_error = ?3 \
                 WHERE id = 1",
                params![
                    deployment.commit_id,
                    at,
                    "held: this commit would remove every job; restart serve with --allow-empty to deploy it"
                ],
            )?;
        }
    }
    tx.commit()?;
    Ok(id)
}

/// Records an attempt that could not even read a commit (fetch failed, branch missing).
pub fn record_failure(
    conn: &Connection,
    source: &str,
    commit: Option<&str>,
    at: DateTime<Utc>,
    error: &str,
) -> SqlResult<()> {
    ensure_sync_row(conn, source)?;
    conn.execute(
        "UPDATE sync_state SET attempted_commit = coalesce(?1, attempted_commit), attempted_at = ?2, \
         attempt_error = ?3 WHERE id = 1",
        // A fetch error can quote a remote URL with its token.
        params![commit, to_db(at), crate::connectors::secret::scrub(error)],
    )?;
    Ok(())
}

/// Notes a successful fetch in remote mode.
pub fn record_fetch(conn: &Connection, source: &str, at: DateTime<Utc>) -> SqlResult<()> {
    ensure_sync_row(conn, source)?;
    conn.execute(
        "UPDATE sync_state SET last_fetch_at = ?1 WHERE id = 1",
        params![to_db(at)],
    )?;
    Ok(())
}

fn ensure_sync_row(conn: &Connection, source: &str) -> SqlResult<()> {
    conn.execute(
        "INSERT INTO sync_state (id, source) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET source = excluded.source",
        params![source],
    )?;
    Ok(())
}

/// The sync state, if the daemon ever synced.
pub fn sync_state(conn: &Connection) -> SqlResult<Option<SyncState>> {
    conn.query_row(
        "SELECT source, applied_commit, applied_at, attempted_commit, attempted_at, attempt_error, \
         last_fetch_at FROM sync_state WHERE id = 1",
        [],
        |row| {
            Ok(SyncState {
                source: row.get(0)?,
                applied_commit: row.get(1)?,
                applied_at: row.get::<_, Option<i64>>(2)?.map(from_db),
                attempted_commit: row.get(3)?,
                attempted_at: row.get::<_, Option<i64>>(4)?.map(from_db),
                attempt_error: row.get(5)?,
                last_fetch_at: row.get::<_, Option<i64>>(6)?.map(from_db),
            })
        },
    )
    .optional()
}

/// The most recent deployments first.
pub fn recent(conn: &Connection, limit: usize) -> SqlResult<Vec<Deployment>> {
    let list = |text: String| serde_json::from_str::<Vec<String>>(&text).unwrap_or_default();
    conn.prepare_cached(
        "SELECT id, commit_id, author, message, committed_at, deployed_at, outcome, added, \
         changed, removed, errors FROM deployments ORDER BY id DESC LIMIT ?1",
    )?
    .query_map(params![limit as i64], |row| {
        Ok(Deployment {
            id: row.get(0)?,
            commit_id: row.get(1)?,
            author: row.get(2)?,
            message: row.get(3)?,
            committed_at: from_db(row.get(4)?),
            deployed_at: from_db(row.get(5)?),
            outcome: if row.get::<_, String>(6)? == "held" {
                DeploymentOutcome::Held
            } else {
                DeploymentOutcome::Applied
            },
            added: list(row.get(7)?),
            changed: list(row.get(8)?),
            removed: list(row.get(9)?),
            errors: list(row.get(10)?),
        })
    })?
    .collect()
}
