//! Notifications in `runs.db`: each message to each target with its delivery state, and the
//! defaults file in force.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::SqlResult;
use super::time::{from_db, to_db};

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Not delivered yet; tried `attempts` times so far.
    Pending,
    Sent,
    /// Every attempt failed.
    Failed,
}

impl Delivery {
    fn as_str(self) -> &'static str {
        match self {
            Delivery::Pending => "pending",
            Delivery::Sent => "sent",
            Delivery::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Delivery {
        match text {
            "sent" => Delivery::Sent,
            "failed" => Delivery::Failed,
            _ => Delivery::Pending,
        }
    }
}

/// One message to one target.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationRow {
    pub id: i64,
    pub job_id: String,
    pub run_id: Option<i64>,
    pub event: String,
    pub target: String,
    /// JSON of what is sent.
    #[serde(skip)]
    pub message: String,
    pub status: Delivery,
    pub attempts: u32,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Records a message about to be sent; returns its id.
pub fn insert(
    conn: &Connection,
    job_id: &str,
    run_id: Option<i64>,
    event: &str,
    target: &str,
    message: &str,
    now: DateTime<Utc>,
) -> SqlResult<i64> {
    conn.execute(
        "INSERT INTO notifications (job_id, run_id, event, target, message, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
        params![job_id, run_id, event, target, message, to_db(now)],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Records an attempt's outcome.
pub fn attempted(
    conn: &Connection,
    id: i64,
    status: Delivery,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> SqlResult<()> {
    conn.execute(
        "UPDATE notifications SET status = ?2, attempts = attempts + 1, error = ?3, updated_at = ?4
         WHERE id = ?1",
        params![id, status.as_str(), error, to_db(now)],
    )?;
    Ok(())
}

const COLUMNS: &str =
    "id, job_id, run_id, event, target, message, status, attempts, error, created_at, updated_at";

fn row(row: &rusqlite::Row<'_>) -> rusqlite::Result<NotificationRow> {
    Ok(NotificationRow {
        id: row.get(0)?,
        job_id: row.get(1)?,
        run_id: row.get(2)?,
        event: row.get(3)?,
        target: row.get(4)?,
        message: row.get(5)?,
        status: Delivery::parse(&row.get::<_, String>(6)?),
        attempts: row.get::<_, i64>(7)? as u32,
        error: row.get(8)?,
        created_at: from_db(row.get(9)?),
        updated_at: from_db(row.get(10)?),
    })
}

/// Messages still to deliver that were created after `since` (a restart picks them up; older
/// ones are stale news and are marked failed by [`expire_pending`]).
pub fn pending_since(conn: &Connection, since: DateTime<Utc>) -> SqlResult<Vec<NotificationRow>> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM notifications WHERE status = 'pending' AND created_at >= ?1 ORDER BY id"
    ))?;
    statement
        .query_map([to_db(since)], row)?
        .collect::<rusqlite::Result<Vec<_>>>()
}

/// Gives up on messages created before `before` that were never delivered.
pub fn expire_pending(
    conn: &Connection,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> SqlResult<usize> {
    conn.execute(
        "UPDATE notifications SET status = 'failed', updated_at = ?2,
             error = coalesce(error || '; ', '') || 'not delivered before backoffice stopped'
         WHERE status = 'pending' AND created_at < ?1",
        params![to_db(before), to_db(now)],
    )
}

/// Deliveries that are failing or failed, updated since `since`, newest first: the dashboard
/// shows them.
pub fn problems(
    conn: &Connection,
    since: DateTime<Utc>,
    limit: usize,
) -> SqlResult<Vec<NotificationRow>> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM notifications
         WHERE updated_at >= ?1 AND error IS NOT NULL AND status != 'sent'
         ORDER BY updated_at DESC, id DESC LIMIT ?2"
    ))?;
    statement
        .query_map(params![to_db(since), limit as i64], row)?
        .collect::<rusqlite::Result<Vec<_>>>()
}

/// The outcome of the job's last run chain that started before run `before` (the current
/// chain's first attempt), as its last attempt left it: succeeded, failed, timed out or
/// interrupted; skipped, missed and cancelled runs do not count. The last attempt of a chain
/// has the highest id of the chain, so the newest such row before `before` is it.
pub fn previous_outcome(conn: &Connection, job_id: &str, before: i64) -> SqlResult<Option<String>> {
    conn.query_row(
        "SELECT status FROM runs
         WHERE job_id = ?1 AND id < ?2 AND finished_at IS NOT NULL
           AND status IN ('succeeded', 'failed', 'timed_out', 'interrupted')
         ORDER BY id DESC LIMIT 1",
        params![job_id, before],
        |row| row.get(0),
    )
    .optional()
}

/// The defaults file in force: its path and text.
pub fn defaults(conn: &Connection) -> SqlResult<Option<(String, String)>> {
    conn.query_row(
        "SELECT file, source FROM deployed_defaults WHERE id = 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .optional()
}

/// Keeps `source` as the defaults in force, or forgets them (`None`: the file was removed).
pub fn set_defaults(
    conn: &Connection,
    file_and_source: Option<(&str, &str)>,
    commit: &str,
) -> SqlResult<()> {
    match file_and_source {
        Some((file, source)) => conn.execute(
            "INSERT INTO deployed_defaults (id, file, source, commit_id) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET file = ?1, source = ?2, commit_id = ?3",
            params![file, source, commit],
        )?,
        None => conn.execute("DELETE FROM deployed_defaults", [])?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_delivery_moves_from_pending_to_failed_and_shows_as_a_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("runs.db")).expect("open");
        let now = Utc::now();
        store
            .with(|conn| {
                let id = insert(conn, "a", Some(1), "failure", "webhook:HOOK", "{}", now)?;
                assert_eq!(pending_since(conn, now)?.len(), 1);
                attempted(conn, id, Delivery::Pending, Some("connection refused"), now)?;
                let problems = problems(conn, now, 10)?;
                assert_eq!(
                    (problems[0].attempts, problems[0].status),
                    (1, Delivery::Pending)
                );
                attempted(conn, id, Delivery::Failed, Some("connection refused"), now)?;
                assert!(pending_since(conn, now)?.is_empty());
                let sent = insert(conn, "a", Some(2), "recovery", "slack:#ops", "{}", now)?;
                attempted(conn, sent, Delivery::Sent, None, now)?;
                assert_eq!(super::problems(conn, now, 10)?.len(), 1);
                let stale = insert(conn, "a", None, "missed", "slack:#ops", "{}", now)?;
                assert_eq!(
                    expire_pending(conn, now + chrono::Duration::seconds(1), now)?,
                    1
                );
                let expired = super::problems(conn, now, 10)?;
                assert!(
                    expired
                        .iter()
                        .any(|row| row.id == stale && row.status == Delivery::Failed)
                );
                set_defaults(conn, Some(("jobs/_defaults.toml", "[notify]\n")), "c1")?;
                set_defaults(
                    conn,
                    Some(("jobs/_defaults.toml", "[notify]\nslack = \"#x\"\n")),
                    "c2",
                )?;
                assert_eq!(
                    defaults(conn)?.map(|d| d.1),
                    Some("[notify]\nslack = \"#x\"\n".into())
                );
                set_defaults(conn, None, "c3")?;
                assert_eq!(defaults(conn)?, None);
                Ok(())
            })
            .expect("store");
    }
}
