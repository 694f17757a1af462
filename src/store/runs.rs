//! Run rows: one per attempt of one occurrence of one job, keyed `(scheduled_for, job_id,
//! attempt)` so an occurrence is claimed once ([`super::claims`]) whatever restarts or clock
//! jumps happen.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use serde::{Deserialize, Serialize};

use super::SqlResult;
use super::claims::Definition;
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

/// A row to insert: a claim on an occurrence (running) or a record of one not run. The job id
/// is shared with the job: 10,000 rows built at one firing copy no text.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub job_id: Arc<str>,
    pub trigger: Trigger,
    pub scheduled_for: DateTime<Utc>,
    pub attempt: u32,
    pub status: RunStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// The commit and definition it runs, by number ([`super::claims::register_definition`]).
    pub definition: Option<Definition>,
    /// The process claiming it, by number ([`super::claims::register_owner`]).
    pub owner: Option<i64>,
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
            definition: None,
            owner: None,
        }
    }

    /// The first attempt of `job`'s occurrence at `at`, started then, claimed by `owner`.
    pub(crate) fn started(job: &str, at: DateTime<Utc>, status: RunStatus, owner: i64) -> NewRun {
        NewRun {
            started_at: Some(at),
            status,
            owner: Some(owner),
            ..NewRun::bare(job, at)
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

/// The rows [`COLUMNS`] are read from: a run with the commit and definition it ran.
pub(super) const RUNS: &str = "runs LEFT JOIN definitions USING (definition)";

/// A [`RunRow`]'s columns, from [`RUNS`].
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
            "SELECT {COLUMNS}, token FROM {RUNS} LEFT JOIN owners USING (owner) \
             WHERE finished_at IS NULL"
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
    use crate::store::claims::{claim, register_owner};
    use crate::store::history::{get, latest_per_job};

    #[test]
    fn finishing_records_outcome_and_only_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("runs.db")).expect("open");
        let at = Utc::now();
        let id = store
            .with(|c| claim(c, &[NewRun::started("a", at, RunStatus::Running, 1)]))
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
                let gone = register_owner(c, "gone")?;
                let here = register_owner(c, "here")?;
                claim(
                    c,
                    &[
                        NewRun::started("dead", at, RunStatus::Running, gone),
                        NewRun::started("alive", at, RunStatus::Running, here),
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
