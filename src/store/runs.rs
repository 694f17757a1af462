//! Run rows: one per attempt of one occurrence of one job, keyed `(job_id, scheduled_for,
//! attempt)` so an occurrence is claimed once whatever restarts or clock jumps happen.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::SqlResult;
use super::time::{from_db, to_db};
use crate::connectors::secret::scrub;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    /// Not started because another run of the job was going (`overlap = "skip"`).
    Skipped,
    /// Came due while no daemon ran and `catchup` did not run it.
    Missed,
    /// Stopped on purpose: replaced by a newer run, or cut off by shutdown.
    Cancelled,
    /// The process running it died; set on the next start.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Skipped => "skipped",
            RunStatus::Missed => "missed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "timed_out" => RunStatus::TimedOut,
            "skipped" => RunStatus::Skipped,
            "missed" => RunStatus::Missed,
            "cancelled" => RunStatus::Cancelled,
            "interrupted" => RunStatus::Interrupted,
            other => return Err(format!("unknown run status `{other}`")),
        })
    }
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    Catchup,
    Manual,
    Retry,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Catchup => "catchup",
            Trigger::Manual => "manual",
            Trigger::Retry => "retry",
        }
    }

    fn parse(text: &str) -> Trigger {
        match text {
            "catchup" => Trigger::Catchup,
            "manual" => Trigger::Manual,
            "retry" => Trigger::Retry,
            _ => Trigger::Schedule,
        }
    }
}

/// A row to insert: a claim on an occurrence (running) or a record of one not run.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub job_id: String,
    pub trigger: Trigger,
    pub scheduled_for: DateTime<Utc>,
    pub attempt: u32,
    pub status: RunStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub commit_id: Option<String>,
    pub definition_hash: Option<String>,
    pub owner: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunFinish {
    pub status: RunStatus,
    pub finished_at: DateTime<Utc>,
    pub error: Option<String>,
    pub result: Option<String>,
    pub links: Vec<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

/// A run as stored.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub job_id: String,
    pub trigger: Trigger,
    pub scheduled_for: DateTime<Utc>,
    pub attempt: u32,
    pub status: RunStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub result: Option<String>,
    pub links: Vec<String>,
    pub commit_id: Option<String>,
    pub definition_hash: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
}

const COLUMNS: &str = "id, job_id, trigger, scheduled_for, attempt, status, started_at, finished_at, \
     duration_ms, error, result, links, commit_id, definition_hash, prompt_tokens, completion_tokens";

fn read_row(row: &Row<'_>) -> SqlResult<RunRow> {
    let links: String = row.get(11)?;
    let status: String = row.get(5)?;
    Ok(RunRow {
        id: row.get(0)?,
        job_id: row.get(1)?,
        trigger: Trigger::parse(&row.get::<_, String>(2)?),
        scheduled_for: from_db(row.get(3)?),
        attempt: row.get(4)?,
        status: status.parse().unwrap_or(RunStatus::Failed),
        started_at: row.get::<_, Option<i64>>(6)?.map(from_db),
        finished_at: row.get::<_, Option<i64>>(7)?.map(from_db),
        duration_ms: row.get(8)?,
        error: row.get(9)?,
        result: row.get(10)?,
        links: serde_json::from_str(&links).unwrap_or_default(),
        commit_id: row.get(12)?,
        definition_hash: row.get(13)?,
        prompt_tokens: row.get(14)?,
        completion_tokens: row.get(15)?,
    })
}

/// Inserts `runs` and moves each job's cursor to `cursors`, in one transaction. Returns each
/// run's id, or `None` where that occurrence was already claimed (by us before a restart, or by
/// another process).
pub fn claim(
    conn: &mut Connection,
    runs: &[NewRun],
    cursors: &[(crate::job::JobId, DateTime<Utc>)],
) -> SqlResult<Vec<Option<i64>>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut ids = Vec::with_capacity(runs.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO runs (job_id, trigger, scheduled_for, attempt, status, started_at, \
             finished_at, error, commit_id, definition_hash, owner) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING",
        )?;
        for run in runs {
            // Rows that are not `running` are final the moment they are written.
            let finished = (run.status != RunStatus::Running).then(|| to_db(Utc::now()));
            let changed = insert.execute(params![
                run.job_id,
                run.trigger.as_str(),
                to_db(run.scheduled_for),
                run.attempt,
                run.status.as_str(),
                run.started_at.map(to_db),
                finished,
                run.error.as_deref().map(scrub),
                run.commit_id,
                run.definition_hash,
                run.owner,
            ])?;
            ids.push((changed == 1).then(|| tx.last_insert_rowid()));
        }
        let mut cursor = tx.prepare_cached(
            "UPDATE deployed_jobs SET cursor = max(coalesce(cursor, 0), ?2) WHERE id = ?1",
        )?;
        for (job, at) in cursors {
            cursor.execute(params![job.as_str(), to_db(*at)])?;
        }
    }
    tx.commit()?;
    Ok(ids)
}

/// Records how a run ended; only a run still `running` can end.
pub fn finish(conn: &Connection, id: i64, end: &RunFinish) -> SqlResult<bool> {
    // The last line of defence: whatever a connector let through, no secret reaches the file.
    let links =
        scrub(&serde_json::to_string(&end.links).unwrap_or_else(|_| "[]".into())).into_owned();
    let changed = conn
        .prepare_cached(
            "UPDATE runs SET status = ?2, finished_at = ?3, \
             duration_ms = (?3 - coalesce(started_at, ?3)) / 1000, error = ?4, result = ?5, \
             links = ?6, prompt_tokens = ?7, completion_tokens = ?8 \
             WHERE id = ?1 AND status = 'running'",
        )?
        .execute(params![
            id,
            end.status.as_str(),
            to_db(end.finished_at),
            end.error.as_deref().map(scrub),
            end.result.as_deref().map(scrub),
            links,
            end.prompt_tokens.map(|t| t as i64),
            end.completion_tokens.map(|t| t as i64),
        ])?;
    Ok(changed == 1)
}

/// Marks `running` rows whose owning process is gone as `interrupted`; returns them.
pub fn interrupt_orphans(
    conn: &mut Connection,
    owner_alive: impl Fn(&str) -> bool,
) -> SqlResult<Vec<RunRow>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let running: Vec<(RunRow, Option<String>)> = {
        let mut stmt = tx.prepare(&format!(
            "SELECT {COLUMNS}, owner FROM runs WHERE status = 'running'"
        ))?;
        stmt.query_map([], |row| Ok((read_row(row)?, row.get(16)?)))?
            .collect::<SqlResult<_>>()?
    };
    let now = to_db(Utc::now());
    let mut interrupted = Vec::new();
    for (run, owner) in running {
        if owner.as_deref().is_some_and(&owner_alive) {
            continue;
        }
        tx.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?2, \
             duration_ms = (?2 - coalesce(started_at, ?2)) / 1000, \
             error = 'the backoffice process running this job stopped before it finished' \
             WHERE id = ?1 AND status = 'running'",
            params![run.id, now],
        )?;
        interrupted.push(run);
    }
    tx.commit()?;
    Ok(interrupted)
}

/// Most recent runs first, of one job or of all.
pub fn recent(conn: &Connection, job: Option<&str>, limit: usize) -> SqlResult<Vec<RunRow>> {
    let limit = limit as i64;
    match job {
        Some(job) => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM runs WHERE job_id = ?1 ORDER BY id DESC LIMIT ?2"
            ))?
            .query_map(params![job, limit], read_row)?
            .collect(),
        None => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1"
            ))?
            .query_map(params![limit], read_row)?
            .collect(),
    }
}

/// One run by id.
pub fn get(conn: &Connection, id: i64) -> SqlResult<Option<RunRow>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM runs WHERE id = ?1"))?
        .query_row(params![id], read_row)
        .optional()
}

/// The latest run of each job (any status).
pub fn latest_per_job(conn: &Connection) -> SqlResult<Vec<RunRow>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM runs WHERE id IN (SELECT max(id) FROM runs GROUP BY job_id)"
    ))?
    .query_map([], read_row)?
    .collect()
}

/// Outcomes of finished runs, counted since an instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Outcomes {
    pub succeeded: u64,
    /// Failed, timed out or interrupted.
    pub failed: u64,
    pub skipped: u64,
    pub missed: u64,
    pub cancelled: u64,
}

impl Outcomes {
    fn add(&mut self, status: &str, count: u64) {
        match status {
            "succeeded" => self.succeeded += count,
            "failed" | "timed_out" | "interrupted" => self.failed += count,
            "skipped" => self.skipped += count,
            "missed" => self.missed += count,
            "cancelled" => self.cancelled += count,
            _ => {}
        }
    }
}

/// Outcomes of every job's runs that finished at or after `since`.
pub fn outcomes_since(conn: &Connection, since: DateTime<Utc>) -> SqlResult<Outcomes> {
    let mut outcomes = Outcomes::default();
    let mut statement = conn.prepare_cached(
        "SELECT status, count(*) FROM runs WHERE finished_at >= ?1 GROUP BY status",
    )?;
    let rows = statement.query_map(params![to_db(since)], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (status, count) = row?;
        outcomes.add(&status, u64::try_from(count).unwrap_or_default());
    }
    Ok(outcomes)
}

/// Outcomes of one job's runs that finished at or after each of `since` (one count each).
pub fn job_outcomes_since(
    conn: &Connection,
    job: &str,
    since: &[DateTime<Utc>],
) -> SqlResult<Vec<Outcomes>> {
    let Some(earliest) = since.iter().min() else {
        return Ok(Vec::new());
    };
    let mut out = vec![Outcomes::default(); since.len()];
    let mut statement = conn.prepare_cached(
        "SELECT status, finished_at FROM runs WHERE job_id = ?1 AND finished_at >= ?2",
    )?;
    let rows = statement.query_map(params![job, to_db(*earliest)], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (status, finished) = row?;
        for (outcomes, from) in out.iter_mut().zip(since) {
            if finished >= to_db(*from) {
                outcomes.add(&status, 1);
            }
        }
    }
    Ok(out)
}

/// How many runs a job has, and how many of them have an id at or below `id`.
pub fn job_run_count(conn: &Connection, job: &str, up_to: Option<i64>) -> SqlResult<u64> {
    let count: i64 = conn
        .prepare_cached("SELECT count(*) FROM runs WHERE job_id = ?1 AND id <= ?2")?
        .query_row(params![job, up_to.unwrap_or(i64::MAX)], |row| row.get(0))?;
    Ok(u64::try_from(count).unwrap_or_default())
}

/// A job's runs oldest first, `limit` of them after skipping `offset`: one archive page.
pub fn job_runs_oldest_first(
    conn: &Connection,
    job: &str,
    offset: u64,
    limit: u64,
) -> SqlResult<Vec<RunRow>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM runs WHERE job_id = ?1 ORDER BY id ASC LIMIT ?2 OFFSET ?3"
    ))?
    .query_map(
        params![
            job,
            i64::try_from(limit).unwrap_or(i64::MAX),
            i64::try_from(offset).unwrap_or(i64::MAX)
        ],
        read_row,
    )?
    .collect()
}

/// Durations of a job's latest finished runs that did work, newest first.
pub fn recent_durations(conn: &Connection, job: &str, limit: usize) -> SqlResult<Vec<i64>> {
    conn.prepare_cached(
        "SELECT duration_ms FROM runs WHERE job_id = ?1 AND duration_ms IS NOT NULL \
         AND status IN ('succeeded', 'failed', 'timed_out') ORDER BY id DESC LIMIT ?2",
    )?
    .query_map(params![job, limit as i64], |row| row.get(0))?
    .collect()
}

/// The latest failed, timed-out or interrupted runs of every job, newest first.
pub fn recent_failures(conn: &Connection, limit: usize) -> SqlResult<Vec<RunRow>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM runs WHERE status IN ('failed', 'timed_out', 'interrupted') \
         ORDER BY finished_at DESC LIMIT ?1"
    ))?
    .query_map(params![limit as i64], read_row)?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn new_run(job: &str, at: DateTime<Utc>, status: RunStatus, owner: &str) -> NewRun {
        NewRun {
            job_id: job.into(),
            trigger: Trigger::Schedule,
            scheduled_for: at,
            attempt: 1,
            status,
            started_at: Some(at),
            error: None,
            commit_id: Some("abc".into()),
            definition_hash: Some("h".into()),
            owner: Some(owner.into()),
        }
    }

    #[test]
    fn an_occurrence_is_claimed_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("runs.db")).expect("open");
        let at = Utc::now();
        let first = store
            .with(|c| claim(c, &[new_run("a", at, RunStatus::Running, "o")], &[]))
            .expect("claim");
        let second = store
            .with(|c| {
                claim(
                    c,
                    &[
                        new_run("a", at, RunStatus::Running, "o"),
                        new_run("b", at, RunStatus::Skipped, "o"),
                    ],
                    &[],
                )
            })
            .expect("claim again");
        assert!(first[0].is_some());
        assert_eq!(second[0], None, "same occurrence claimed twice");
        assert!(second[1].is_some());
    }

    #[test]
    fn finishing_records_outcome_and_only_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("runs.db")).expect("open");
        let at = Utc::now();
        let id = store
            .with(|c| claim(c, &[new_run("a", at, RunStatus::Running, "o")], &[]))
            .expect("claim")[0]
            .expect("id");
        let end = RunFinish {
            status: RunStatus::Succeeded,
            finished_at: at + chrono::Duration::milliseconds(1_500),
            error: None,
            result: Some("안녕하세요".into()),
            links: vec!["https://example.com/page".into()],
            prompt_tokens: Some(10),
            completion_tokens: Some(5),
        };
        assert!(store.with(|c| finish(c, id, &end)).expect("finish"));
        assert!(!store.with(|c| finish(c, id, &end)).expect("finish again"));
        let row = store.with(|c| get(c, id)).expect("get").expect("row");
        assert_eq!(row.status, RunStatus::Succeeded);
        assert_eq!(row.duration_ms, Some(1_500));
        assert_eq!(row.result.as_deref(), Some("안녕하세요"));
        assert_eq!(row.links, ["https://example.com/page"]);
    }

    #[test]
    fn orphans_of_dead_owners_become_interrupted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("runs.db")).expect("open");
        let at = Utc::now();
        store
            .with(|c| {
                claim(
                    c,
                    &[
                        new_run("dead", at, RunStatus::Running, "gone"),
                        new_run("alive", at, RunStatus::Running, "here"),
                    ],
                    &[],
                )
            })
            .expect("claim");
        let interrupted = store
            .with(|c| interrupt_orphans(c, |owner| owner == "here"))
            .expect("interrupt");
        assert_eq!(interrupted.len(), 1);
        assert_eq!(interrupted[0].job_id, "dead");
        let latest = store.with(|c| latest_per_job(c)).expect("latest");
        let dead = latest
            .iter()
            .find(|r| r.job_id == "dead")
            .expect("dead row");
        assert_eq!(dead.status, RunStatus::Interrupted);
        let alive = latest
            .iter()
            .find(|r| r.job_id == "alive")
            .expect("alive row");
        assert_eq!(alive.status, RunStatus::Running);
    }
}
