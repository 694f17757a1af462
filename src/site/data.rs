//! What the site is made from, read from `runs.db` (and `registry.db` when it exists). The
//! daemon keeps one [`Snapshot`] and refreshes only the jobs a run touched, so updating the
//! site after a run costs a few indexed queries, not a pass over the whole history.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;

use crate::catalog::{self, SourceContent, SourceFile};
use crate::job::Job;
use crate::store::SqlResult;
use crate::store::deployments::{self, Deployment, SyncState};
use crate::store::jobs::{self, DeployedRow};
use crate::store::runs::{self, Outcomes, RunRow};

/// How many durations the sparkline and the chart show.
pub const DURATIONS: usize = 40;
/// How many deployments the deployments page lists.
pub const DEPLOYMENTS: usize = 100;
/// Success-rate windows of the jobs table.
pub const WINDOWS: [(&str, i64); 3] = [("24 h", 1), ("7 d", 7), ("30 d", 30)];

/// One deployed job and how it has been doing.
#[derive(Debug, Clone)]
pub struct JobSummary {
    pub row: DeployedRow,
    /// The deployed definition; `None` only if the stored text no longer parses (a newer
    /// version of backoffice wrote it).
    pub job: Option<Arc<Job>>,
    pub last: Option<RunRow>,
    /// Outcomes in each of [`WINDOWS`].
    pub windows: Vec<Outcomes>,
    /// Latest durations, newest first.
    pub durations: Vec<i64>,
}

/// Everything the dashboard and the jobs table need.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub sync: Option<SyncState>,
    pub deployments: Vec<Deployment>,
    pub jobs: BTreeMap<String, JobSummary>,
    /// Outcomes of the last 24 hours, all jobs.
    pub last_day: Outcomes,
}

impl Snapshot {
    /// Reads everything.
    pub fn load(conn: &Connection, now: DateTime<Utc>) -> SqlResult<Snapshot> {
        let mut snapshot = Snapshot::default();
        snapshot.refresh_sync(conn, now)?;
        for row in jobs::all(conn)? {
            let summary = summarize(conn, row, now)?;
            snapshot.jobs.insert(summary.row.id.clone(), summary);
        }
        Ok(snapshot)
    }

    /// Re-reads the sync state, the deployments and the last day's figures.
    pub fn refresh_sync(&mut self, conn: &Connection, now: DateTime<Utc>) -> SqlResult<()> {
        self.sync = deployments::sync_state(conn)?;
        self.deployments = deployments::recent(conn, DEPLOYMENTS)?;
        self.last_day = runs::outcomes_since(conn, now - Duration::days(1))?;
        Ok(())
    }

    /// Re-reads one job after a run of it changed; false when it is not deployed.
    pub fn refresh_job(
        &mut self,
        conn: &Connection,
        id: &str,
        now: DateTime<Utc>,
    ) -> SqlResult<bool> {
        let Some(existing) = self.jobs.get(id) else {
            return Ok(false);
        };
        let summary = summarize(conn, existing.row.clone(), now)?;
        self.jobs.insert(id.to_string(), summary);
        self.last_day = runs::outcomes_since(conn, now - Duration::days(1))?;
        Ok(true)
    }

    /// The deployment that brought the applied commit.
    pub fn applied(&self) -> Option<&Deployment> {
        let commit = self.sync.as_ref()?.applied_commit.as_ref()?;
        self.deployments.iter().find(|d| {
            &d.commit_id == commit && d.outcome == deployments::DeploymentOutcome::Applied
        })
    }
}

fn summarize(conn: &Connection, row: DeployedRow, now: DateTime<Utc>) -> SqlResult<JobSummary> {
    let job = catalog::load_file(&SourceFile {
        path: row.file.clone(),
        id: row.id.clone(),
        content: SourceContent::Text(row.source.clone()),
    })
    .ok();
    let since: Vec<DateTime<Utc>> = WINDOWS
        .iter()
        .map(|(_, days)| now - Duration::days(*days))
        .collect();
    Ok(JobSummary {
        last: runs::recent(conn, Some(&row.id), 1)?.into_iter().next(),
        windows: runs::job_outcomes_since(conn, &row.id, &since)?,
        durations: runs::recent_durations(conn, &row.id, DURATIONS)?,
        job,
        row,
    })
}
