//! Run rows: one per attempt of one occurrence of one job, keyed `(job_id, scheduled_for,
//! attempt)` so an occurrence is claimed once whatever restarts or clock jumps happen.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
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

/// A row to insert: a claim on an occurrence (running) or a record of one not run. The texts
/// are shared with the job and the deployment: 10,000 rows built at one firing copy none.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub job_id: Arc<str>,
    pub trigger: Trigger,
    pub scheduled_for: DateTime<Utc>,
    pub attempt: u32,
    pub status: RunStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub commit_id: Option<Arc<str>>,
    pub definition_hash: Option<Arc<str>>,
    pub owner: Option<Arc<str>>,
}

#[cfg(test)]
impl NewRun {
    /// A claim on `job`'s occurrence at `at`, with nothing else filled in.
    pub(crate) fn bare(job: &str, at: DateTime<Utc>) -> NewRun {
        NewRun {
            job_id: job.into(),
            trigger: Trigger::Schedule,
            scheduled_for: at,
            attempt: 1,
            status: RunStatus::Running,
            started_at: None,
            error: None,
            commit_id: None,
            definition_hash: None,
            owner: None,
        }
    }
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

pub(super) const COLUMNS: &str = "id, job_id, trigger, scheduled_for, attempt, status, started_at, finished_at, \
     duration_ms, error, result, links, commit_id, definition_hash, prompt_tokens, completion_tokens";

pub(super) fn read_row(row: &Row<'_>) -> SqlResult<RunRow> {
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

/// Inserts `runs` in one transaction. Returns each run's id, or `None` where that occurrence
/// was already claimed (by us before a restart, or by another process). The uniqueness of
/// `(scheduled_for, job_id, attempt)` is what makes a claim exactly-once; the cursors that
/// record how far each job got are moved afterwards ([`super::jobs::move_cursors`]).
pub fn claim(conn: &mut Connection, runs: &[NewRun]) -> SqlResult<Vec<Option<i64>>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut ids = Vec::with_capacity(runs.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO runs (job_id, trigger, scheduled_for, attempt, status, started_at, \
             finished_at, error, commit_id, definition_hash, owner) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (scheduled_for, job_id, attempt) DO NOTHING",
        )?;
        // Rows that are not `running` are final the moment they are written.
        let now = to_db(Utc::now());
        for run in runs {
            let finished = (run.status != RunStatus::Running).then_some(now);
            let changed = insert.execute(params![
                &*run.job_id,
                run.trigger.as_str(),
                to_db(run.scheduled_for),
                run.attempt,
                run.status.as_str(),
                run.started_at.map(to_db),
                finished,
                run.error.as_deref().map(scrub),
                run.commit_id.as_deref(),
                run.definition_hash.as_deref(),
                run.owner.as_deref(),
            ])?;
            ids.push((changed == 1).then(|| tx.last_insert_rowid()));
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
            "SELECT {COLUMNS}, owner FROM runs WHERE finished_at IS NULL"
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
             WHERE id = ?1 AND finished_at IS NULL",
            params![run.id, now],
        )?;
        interrupted.push(run);
    }
    tx.commit()?;
    Ok(interrupted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::history::{get, latest_per_job};

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
            .with(|c| claim(c, &[new_run("a", at, RunStatus::Running, "o")]))
            .expect("claim");
        let second = store
            .with(|c| {
                claim(
                    c,
                    &[
                        new_run("a", at, RunStatus::Running, "o"),
                        new_run("b", at, RunStatus::Skipped, "o"),
                    ],
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
            .with(|c| claim(c, &[new_run("a", at, RunStatus::Running, "o")]))
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
