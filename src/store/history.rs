//! Reading run history: what `status`, `runs` and the status site show.
//!
//! A run row has `finished_at` NULL exactly while it runs, and the per-job indexes hold only
//! finished rows (so claiming a run touches none of them, see migration 3). A query over
//! one job's rows therefore reads the running ones through `runs_running` and the finished
//! ones through `runs_by_job`, merged by id.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::SqlResult;
use super::runs::{COLUMNS, RUNS, RunRow, read_row};
use super::time::to_db;

/// One job's rows (job id in `?1`): the running ones, then the finished ones. Each half is
/// read through its index in id order, so an `ORDER BY id … LIMIT` after it merges the two
/// rather than sorting the job's whole history.
fn job_rows() -> String {
    format!(
        "SELECT {COLUMNS} FROM {RUNS} WHERE job_id = ?1 AND finished_at IS NULL \
         UNION ALL SELECT {COLUMNS} FROM {RUNS} WHERE job_id = ?1 AND finished_at IS NOT NULL"
    )
}

/// Most recent runs first, of one job or of all.
pub fn recent(conn: &Connection, job: Option<&str>, limit: usize) -> SqlResult<Vec<RunRow>> {
    let limit = limit as i64;
    match job {
        Some(job) => conn
            .prepare_cached(&format!("{} ORDER BY id DESC LIMIT ?2", job_rows()))?
            .query_map(params![job, limit], read_row)?
            .collect(),
        None => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM {RUNS} ORDER BY id DESC LIMIT ?1"
            ))?
            .query_map(params![limit], read_row)?
            .collect(),
    }
}

/// One run by id.
pub fn get(conn: &Connection, id: i64) -> SqlResult<Option<RunRow>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM {RUNS} WHERE id = ?1"))?
        .query_row(params![id], read_row)
        .optional()
}

/// The latest run of each job (any status).
pub fn latest_per_job(conn: &Connection) -> SqlResult<Vec<RunRow>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM {RUNS} WHERE id IN (SELECT max(id) FROM ( \
         SELECT job_id, max(id) AS id FROM runs WHERE finished_at IS NULL GROUP BY job_id \
         UNION ALL \
         SELECT job_id, max(id) FROM runs WHERE finished_at IS NOT NULL GROUP BY job_id) \
         GROUP BY job_id)"
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
        .prepare_cached(
            "SELECT (SELECT count(*) FROM runs WHERE job_id = ?1 AND finished_at IS NULL AND id <= ?2) \
             + (SELECT count(*) FROM runs WHERE job_id = ?1 AND finished_at IS NOT NULL AND id <= ?2)",
        )?
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
        "{} ORDER BY id ASC LIMIT ?2 OFFSET ?3",
        job_rows()
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
        "SELECT duration_ms FROM runs WHERE job_id = ?1 AND finished_at IS NOT NULL \
         AND duration_ms IS NOT NULL AND status IN ('succeeded', 'failed', 'timed_out') ORDER BY id DESC LIMIT ?2",
    )?
    .query_map(params![job, limit as i64], |row| row.get(0))?
    .collect()
}

/// The latest failed, timed-out or interrupted runs of every job, newest first. The index is
/// named: without statistics SQLite would walk every finished run backwards instead.
pub fn recent_failures(conn: &Connection, limit: usize) -> SqlResult<Vec<RunRow>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM runs INDEXED BY runs_failures \
         LEFT JOIN definitions USING (definition) WHERE finished_at IS NOT NULL \
         AND status IN ('failed', 'timed_out', 'interrupted') \
         ORDER BY finished_at DESC LIMIT ?1"
    ))?
    .query_map(params![limit as i64], read_row)?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::claims::claim;
    use crate::store::runs::{NewRun, RunFinish, RunStatus, finish};
    use crate::store::time::from_db;

    fn row(job: &str, at: i64, status: RunStatus) -> NewRun {
        NewRun {
            status,
            started_at: Some(from_db(at)),
            ..NewRun::bare(job, from_db(at))
        }
    }

    fn end(status: RunStatus, at: i64) -> RunFinish {
        RunFinish {
            status,
            finished_at: from_db(at),
            error: None,
            result: None,
            links: Vec::new(),
            prompt_tokens: None,
            completion_tokens: None,
        }
    }

    /// Rows 1..=6 of job `a` (2 and 5 still running, 3 skipped, the others finished) and
    /// one row of job `b` between them.
    fn history() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("runs.db")).expect("open");
        store
            .with(|c| {
                let ids = claim(
                    c,
                    &[
                        row("a", 10, RunStatus::Running),
                        row("a", 20, RunStatus::Running),
                        row("a", 30, RunStatus::Skipped),
                        row("b", 30, RunStatus::Running),
                        row("a", 40, RunStatus::Running),
                        row("a", 50, RunStatus::Running),
                        row("a", 60, RunStatus::Running),
                    ],
                )?;
                let id = |index: usize| ids[index].expect("claimed");
                finish(c, id(0), &end(RunStatus::Succeeded, 15))?;
                finish(c, id(3), &end(RunStatus::Succeeded, 35))?;
                finish(c, id(4), &end(RunStatus::Failed, 45))?;
                finish(c, id(6), &end(RunStatus::Succeeded, 65))?;
                Ok(())
            })
            .expect("history");
        (dir, store)
    }

    #[test]
    fn a_jobs_runs_mix_running_and_finished_rows_in_id_order() {
        let (_dir, store) = history();
        let ids = |rows: Vec<RunRow>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        let newest = store.with(|c| recent(c, Some("a"), 4)).expect("recent");
        assert_eq!(ids(newest), [7, 6, 5, 3]);
        let page = store
            .with(|c| job_runs_oldest_first(c, "a", 1, 3))
            .expect("page");
        assert_eq!(ids(page), [2, 3, 5]);
        assert_eq!(store.with(|c| job_run_count(c, "a", None)).expect("n"), 6);
        assert_eq!(
            store.with(|c| job_run_count(c, "a", Some(5))).expect("n"),
            4
        );
        let latest = store.with(|c| latest_per_job(c)).expect("latest");
        let mut latest: Vec<(String, i64)> = latest.into_iter().map(|r| (r.job_id, r.id)).collect();
        latest.sort();
        assert_eq!(latest, [("a".to_string(), 7), ("b".to_string(), 4)]);
    }

    #[test]
    fn counts_and_failures_see_only_finished_rows() {
        let (_dir, store) = history();
        let day = store
            .with(|c| outcomes_since(c, from_db(0)))
            .expect("outcomes");
        // The skipped row is final the moment it is written.
        assert_eq!((day.succeeded, day.failed, day.skipped), (3, 1, 1));
        let since = [from_db(0), from_db(40)];
        let per_job = store
            .with(|c| job_outcomes_since(c, "a", &since))
            .expect("job outcomes");
        assert_eq!((per_job[0].succeeded, per_job[0].failed), (2, 1));
        assert_eq!((per_job[1].succeeded, per_job[1].failed), (1, 1));
        let failures = store.with(|c| recent_failures(c, 10)).expect("failures");
        assert_eq!(failures.iter().map(|r| r.id).collect::<Vec<_>>(), [5]);
        let durations = store
            .with(|c| recent_durations(c, "a", 10))
            .expect("durations");
        assert_eq!(
            durations.len(),
            3,
            "running and skipped rows have no duration"
        );
    }
}
