//! The deployed job set: what the daemon schedules, each with the file text of its last good
//! version (so it survives a restart while its file in git is broken) and its cursor.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::SqlResult;
use super::claims::Definition;
use super::time::{from_db, to_db};
use crate::job::JobId;
use crate::job_file::FileError;

/// One deployed job as stored.
#[derive(Debug, Clone, Serialize)]
pub struct DeployedRow {
    pub id: String,
    pub file: String,
    /// Text of the version that runs (the last good one when the file is now invalid).
    pub source: String,
    pub definition_hash: String,
    /// Commit that brought the running version.
    pub commit_id: String,
    pub deployed_at: DateTime<Utc>,
    /// Errors of the file at the applied commit, when it no longer validates.
    pub invalid_errors: Vec<FileError>,
    pub invalid_commit: Option<String>,
    /// The last occurrence handled; occurrences after it are due or missed.
    pub cursor: Option<DateTime<Utc>>,
}

/// The deployed text of one job.
pub fn source(conn: &Connection, id: &str) -> SqlResult<Option<String>> {
    conn.prepare_cached("SELECT source FROM deployed_jobs WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()
}

const COLUMNS: &str = "id, file, source, definition_hash, commit_id, deployed_at, invalid_errors, \
                       invalid_commit, cursor";

fn read_row(row: &rusqlite::Row<'_>) -> SqlResult<DeployedRow> {
    let invalid: Option<String> = row.get(6)?;
    Ok(DeployedRow {
        id: row.get(0)?,
        file: row.get(1)?,
        source: row.get(2)?,
        definition_hash: row.get(3)?,
        commit_id: row.get(4)?,
        deployed_at: from_db(row.get(5)?),
        invalid_errors: invalid
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default(),
        invalid_commit: row.get(7)?,
        cursor: row.get::<_, Option<i64>>(8)?.map(from_db),
    })
}

/// Every deployed job, by id.
pub fn all(conn: &Connection) -> SqlResult<Vec<DeployedRow>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM deployed_jobs ORDER BY id"))?
        .query_map([], read_row)?
        .collect()
}

/// One deployed job, with its text.
pub fn row(conn: &Connection, id: &str) -> SqlResult<Option<DeployedRow>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM deployed_jobs WHERE id = ?1"
    ))?
    .query_row([id], read_row)
    .optional()
}

/// Where a deployed job stands: all the scheduler needs of its row (no text, no errors).
#[derive(Debug, Clone)]
pub struct Placement {
    pub id: String,
    /// Commit that brought the running version.
    pub commit_id: String,
    /// That commit and the version's definition hash, by number, as its run rows name them.
    pub definition: Option<Definition>,
    pub cursor: Option<DateTime<Utc>>,
}

/// Where each deployed job stands, by id.
pub fn placements(conn: &Connection) -> SqlResult<Vec<Placement>> {
    conn.prepare_cached(
        "SELECT j.id, j.commit_id, d.definition, j.cursor FROM deployed_jobs j \
         LEFT JOIN definitions d \
             ON d.commit_id = j.commit_id AND d.definition_hash = j.definition_hash \
         ORDER BY j.id",
    )?
    .query_map([], |row| {
        Ok(Placement {
            id: row.get(0)?,
            commit_id: row.get(1)?,
            definition: row.get(2)?,
            cursor: row.get::<_, Option<i64>>(3)?.map(from_db),
        })
    })?
    .collect()
}

/// Makes the deployed set exactly `rows`. A job whose definition changed keeps its history and
/// gets the new commit and deploy time; its cursor moves to at least `rows`' cursor so the new
/// schedule does not "catch up" occurrences from before it existed.
pub(super) fn replace(tx: &Transaction<'_>, rows: &[DeployedRow]) -> SqlResult<()> {
    tx.execute(
        "CREATE TEMP TABLE IF NOT EXISTS keep (id TEXT PRIMARY KEY)",
        [],
    )?;
    tx.execute("DELETE FROM temp.keep", [])?;
    let mut keep = tx.prepare_cached("INSERT INTO temp.keep (id) VALUES (?1)")?;
    let mut upsert = tx.prepare_cached(
        "INSERT INTO deployed_jobs (id, file, source, definition_hash, commit_id, deployed_at, \
             invalid_errors, invalid_commit, cursor) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (id) DO UPDATE SET \
             file = excluded.file, \
             source = excluded.source, \
             commit_id = CASE WHEN definition_hash = excluded.definition_hash THEN commit_id ELSE excluded.commit_id END, \
             deployed_at = CASE WHEN definition_hash = excluded.definition_hash THEN deployed_at ELSE excluded.deployed_at END, \
             cursor = CASE WHEN definition_hash = excluded.definition_hash THEN coalesce(cursor, excluded.cursor) \
                      ELSE max(coalesce(cursor, 0), excluded.cursor) END, \
             definition_hash = excluded.definition_hash, \
             invalid_errors = excluded.invalid_errors, \
             invalid_commit = excluded.invalid_commit",
    )?;
    for row in rows {
        let invalid = if row.invalid_errors.is_empty() {
            None
        } else {
            serde_json::to_string(&row.invalid_errors).ok()
        };
        upsert.execute(params![
            row.id,
            row.file,
            row.source,
            row.definition_hash,
            row.commit_id,
            to_db(row.deployed_at),
            invalid,
            row.invalid_commit,
            row.cursor.map(to_db),
        ])?;
        keep.execute(params![row.id])?;
    }
    tx.execute(
        "DELETE FROM deployed_jobs WHERE id NOT IN (SELECT id FROM temp.keep)",
        [],
    )?;
    // Each deployed version gets its number here, once, for its run rows to name it by.
    tx.execute(
        "INSERT INTO definitions (commit_id, definition_hash) \
         SELECT DISTINCT commit_id, definition_hash FROM deployed_jobs WHERE true \
         ON CONFLICT (commit_id, definition_hash) DO NOTHING",
        [],
    )?;
    Ok(())
}

/// Moves each job's cursor forward to the given occurrence (never back), in one transaction.
///
/// Written after the claims, not with them: a cursor behind the claims after a crash only
/// makes the next start look at occurrences again, and each of those is already claimed
/// (its row's uniqueness turns the second claim away), so nothing runs twice.
pub fn move_cursors(conn: &mut Connection, cursors: &[(JobId, DateTime<Utc>)]) -> SqlResult<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut update = tx.prepare_cached(
            "UPDATE deployed_jobs SET cursor = max(coalesce(cursor, 0), ?2) WHERE id = ?1",
        )?;
        for (job, at) in cursors {
            update.execute(params![job.as_str(), to_db(*at)])?;
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_only_move_forward() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::Store::open(&dir.path().join("runs.db")).expect("open");
        let job = crate::job::JobId::new("a").expect("id");
        store
            .with(|c| {
                c.execute(
                    "INSERT INTO deployed_jobs (id, file, source, definition_hash, commit_id, deployed_at, cursor) \
                     VALUES ('a', 'jobs/a.toml', '', 'h', 'c', 0, 50)",
                    [],
                )?;
                move_cursors(c, &[(job.clone(), crate::store::time::from_db(40))])?;
                let back: i64 = c.query_row("SELECT cursor FROM deployed_jobs", [], |r| r.get(0))?;
                move_cursors(c, &[(job.clone(), crate::store::time::from_db(70))])?;
                let forward: i64 = c.query_row("SELECT cursor FROM deployed_jobs", [], |r| r.get(0))?;
                assert_eq!((back, forward), (50, 70));
                Ok(())
            })
            .expect("cursors");
    }
}
