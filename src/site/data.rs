//! What the site is made from, read from `runs.db` (and `registry.db` when it exists). The
//! daemon keeps one [`Snapshot`] and refreshes only the jobs a run touched, so updating the
//! site after a run costs a few indexed queries, not a pass over the whole history.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;

use crate::catalog::{self, SourceContent, SourceFile};
use crate::display::one_line;
use crate::job::Job;
use crate::job_file::FileError;
use crate::memory::Interner;
use crate::schedule::Schedule;
use crate::store::SqlResult;
use crate::store::deployments::{self, Deployment, SyncState};
use crate::store::history::{self, Outcomes};
use crate::store::jobs::{self, DeployedRow};
use crate::store::runs::RunRow;

/// How much of the latest run's error the jobs table shows.
const LAST_ERROR_CHARS: usize = 160;
/// How many durations the sparkline and the chart show.
pub const DURATIONS: usize = 40;
/// How many deployments the deployments page lists.
pub const DEPLOYMENTS: usize = 100;
/// How many job ids of each list (added, changed, removed) a listed deployment keeps.
pub const IDS_LISTED: usize = 100;
/// Success-rate windows of the jobs table.
pub const WINDOWS: [(&str, i64); 3] = [("24 h", 1), ("7 d", 7), ("30 d", 30)];

/// What the pages show of a deployed job's row. Its text is read again when the job's page
/// is written, its commit is shared with every job of the same deployment, and its file is
/// its id's: ten thousand jobs are kept for the jobs table without a copy of each row.
#[derive(Debug, Clone)]
pub struct DeployedFacts {
    pub id: Arc<str>,
    /// Commit that brought the running version.
    pub commit_id: Arc<str>,
    /// A fingerprint of the definition hash: the pages only ask whether it changed.
    pub definition: u64,
    /// Errors of the file at the applied commit, when it no longer validates.
    pub invalid_errors: Vec<FileError>,
    /// The last occurrence handled.
    pub cursor: Option<DateTime<Utc>>,
}

impl DeployedFacts {
    fn of(row: DeployedRow, commits: &mut Interner) -> DeployedFacts {
        DeployedFacts {
            commit_id: commits.share(&row.commit_id),
            id: Arc::from(row.id),
            definition: {
                use std::hash::{Hash, Hasher};
                let mut hasher = std::hash::DefaultHasher::new();
                row.definition_hash.hash(&mut hasher);
                hasher.finish()
            },
            invalid_errors: row.invalid_errors,
            cursor: row.cursor,
        }
    }

    /// Its file in the repository: an id is the file's path under `jobs/` without `.toml`.
    pub fn file(&self) -> String {
        format!("jobs/{}.toml", self.id)
    }
}

/// One deployed job and how it has been doing.
#[derive(Debug, Clone)]
pub struct JobSummary {
    pub row: DeployedFacts,
    /// What the pages show of the deployed definition; `None` only if the stored text no
    /// longer parses (a newer version of backoffice wrote it).
    pub job: Option<JobFacts>,
    /// The latest run, as the tables show it: no result or links, the error's first line
    /// cut to [`LAST_ERROR_CHARS`]. A model's answer can be kilobytes, held per job.
    pub last: Option<Box<RunRow>>,
    /// Outcomes in each of [`WINDOWS`]; `None` while the job has finished no run in them
    /// (most of a large deployment on its first day), so those jobs hold nothing.
    pub windows: Option<Box<[Outcomes; WINDOWS.len()]>>,
    /// Latest durations, newest first.
    pub durations: Vec<i64>,
}

/// What the site shows of a job definition. The parsed job itself is not kept: with
/// thousands of jobs its compiled schedule would double what the scheduler already holds,
/// and the few rows that need a next fire time parse the expression again.
#[derive(Debug, Clone)]
pub struct JobFacts {
    pub name: String,
    pub description: String,
    pub kind: &'static str,
    /// Shared between the jobs with the same expression.
    pub expression: Arc<str>,
    pub timezone: chrono_tz::Tz,
    pub enabled: bool,
}

impl JobFacts {
    fn of(job: &Job, expressions: &mut Interner) -> JobFacts {
        let expression = expressions.share(job.schedule.expression());
        JobFacts {
            name: job.name.clone(),
            description: job.description.clone(),
            kind: job.task.label(),
            expression,
            timezone: job.schedule.timezone(),
            enabled: job.enabled,
        }
    }

    /// The first firing after `after`, for an enabled job.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.enabled {
            return None;
        }
        Schedule::parse(&self.expression, self.timezone)
            .ok()?
            .next_after(after)
    }
}

/// Everything the dashboard and the jobs table need.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub sync: Option<SyncState>,
    pub deployments: Vec<ListedDeployment>,
    pub jobs: BTreeMap<Arc<str>, JobSummary>,
    /// Outcomes of the last 24 hours, all jobs.
    pub last_day: Outcomes,
}

impl Snapshot {
    /// Reads everything.
    pub fn load(conn: &Connection, now: DateTime<Utc>) -> SqlResult<Snapshot> {
        let mut snapshot = Snapshot::default();
        snapshot.refresh_sync(conn, now)?;
        let mut commits = Interner::default();
        let mut expressions = Interner::default();
        // Collected from rows already in id order, the map is built full, not grown by
        // insertion into half-empty nodes.
        snapshot.jobs = jobs::all(conn)?
            .into_iter()
            .map(|mut row| {
                let facts = facts_of(&mut row, &mut expressions);
                let row = DeployedFacts::of(row, &mut commits);
                let summary = summarize(conn, row, facts, now)?;
                Ok((Arc::clone(&summary.row.id), summary))
            })
            .collect::<SqlResult<_>>()?;
        Ok(snapshot)
    }

    /// Re-reads the sync state, the deployments and the last day's figures.
    pub fn refresh_sync(&mut self, conn: &Connection, now: DateTime<Utc>) -> SqlResult<()> {
        self.sync = deployments::sync_state(conn)?;
        self.deployments = deployments::recent(conn, DEPLOYMENTS)?
            .into_iter()
            .map(ListedDeployment::of)
            .collect();
        self.refresh_last_day(conn, now)
    }

    /// Re-reads the last day's outcomes of every job.
    pub fn refresh_last_day(&mut self, conn: &Connection, now: DateTime<Utc>) -> SqlResult<()> {
        self.last_day = history::outcomes_since(conn, now - Duration::days(1))?;
        Ok(())
    }

    /// Re-reads one job after a run of it changed; false when it is not deployed. The last
    /// day's figures are the caller's to refresh, once for all the jobs that changed.
    pub fn refresh_job(
        &mut self,
        conn: &Connection,
        id: &str,
        now: DateTime<Utc>,
    ) -> SqlResult<bool> {
        let Some(existing) = self.jobs.get(id) else {
            return Ok(false);
        };
        // The row's text was dropped after the first read: keep the facts taken from it.
        let summary = summarize(conn, existing.row.clone(), existing.job.clone(), now)?;
        self.jobs.insert(Arc::clone(&summary.row.id), summary);
        Ok(true)
    }

    /// The deployment that brought the applied commit.
    pub fn applied(&self) -> Option<&Deployment> {
        let commit = self.sync.as_ref()?.applied_commit.as_ref()?;
        self.deployments.iter().map(|d| &d.deployment).find(|d| {
            &d.commit_id == commit && d.outcome == deployments::DeploymentOutcome::Applied
        })
    }
}

/// A recent deployment as the site keeps it: each list of job ids cut at [`IDS_LISTED`],
/// with its full length. A first deployment of 10,000 jobs would otherwise keep 10,000 ids
/// in memory for as long as it is among the recent ones (0.7 MB), and put every one of them
/// on the page.
#[derive(Debug, Clone)]
pub struct ListedDeployment {
    pub deployment: Deployment,
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
}

impl ListedDeployment {
    fn of(mut deployment: Deployment) -> ListedDeployment {
        let cut = |ids: &mut Vec<String>| {
            let total = ids.len();
            ids.truncate(IDS_LISTED);
            ids.shrink_to_fit();
            total
        };
        ListedDeployment {
            added: cut(&mut deployment.added),
            changed: cut(&mut deployment.changed),
            removed: cut(&mut deployment.removed),
            deployment,
        }
    }

    /// How many ids of the three lists are not kept.
    pub fn unlisted(&self) -> usize {
        let d = &self.deployment;
        self.added + self.changed + self.removed - d.added.len() - d.changed.len() - d.removed.len()
    }
}

/// Parses the row's text for what the pages show, then drops the text.
fn facts_of(row: &mut DeployedRow, expressions: &mut Interner) -> Option<JobFacts> {
    let source = std::mem::take(&mut row.source);
    catalog::load_file(&SourceFile {
        path: row.file.clone(),
        id: row.id.clone(),
        content: SourceContent::Text(source),
    })
    .ok()
    .map(|job| JobFacts::of(&job, expressions))
}

fn windows_of(outcomes: Vec<Outcomes>) -> Option<Box<[Outcomes; WINDOWS.len()]>> {
    let windows: [Outcomes; WINDOWS.len()] = outcomes.try_into().ok()?;
    windows
        .iter()
        .any(|o| *o != Outcomes::default())
        .then(|| Box::new(windows))
}

impl JobSummary {
    /// Outcomes in the `index`th of [`WINDOWS`].
    pub fn window(&self, index: usize) -> Outcomes {
        self.windows
            .as_ref()
            .and_then(|windows| windows.get(index).copied())
            .unwrap_or_default()
    }
}

fn summarize(
    conn: &Connection,
    row: DeployedFacts,
    job: Option<JobFacts>,
    now: DateTime<Utc>,
) -> SqlResult<JobSummary> {
    let since: Vec<DateTime<Utc>> = WINDOWS
        .iter()
        .map(|(_, days)| now - Duration::days(*days))
        .collect();
    Ok(JobSummary {
        last: history::recent(conn, Some(&row.id), 1)?
            .into_iter()
            .next()
            .map(|run| {
                Box::new(RunRow {
                    error: run.error.as_deref().map(|e| one_line(e, LAST_ERROR_CHARS)),
                    result: None,
                    links: Vec::new(),
                    ..run
                })
            }),
        windows: windows_of(history::job_outcomes_since(conn, &row.id, &since)?),
        durations: history::recent_durations(conn, &row.id, DURATIONS)?,
        job,
        row,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::runs::{self, NewRun, RunFinish, RunStatus};
    use crate::store::{Store, claims, deployments};

    #[test]
    fn the_snapshot_keeps_the_latest_run_without_its_answer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("runs.db")).expect("open");
        let now = Utc::now();
        let row = DeployedRow {
            id: "a".into(),
            file: "jobs/a.toml".into(),
            source: String::new(),
            definition_hash: "h".into(),
            commit_id: "c".into(),
            deployed_at: now,
            invalid_errors: Vec::new(),
            invalid_commit: None,
            cursor: None,
        };
        let deployment = Deployment {
            id: 0,
            commit_id: "c".into(),
            author: "a".into(),
            message: "m".into(),
            committed_at: now,
            deployed_at: now,
            outcome: deployments::DeploymentOutcome::Applied,
            added: vec!["a".into()],
            changed: vec![],
            removed: vec![],
            errors: vec![],
        };
        let error = format!("{}\nsecond line", "x".repeat(500));
        store
            .with(|c| {
                deployments::record(c, "test", &deployment, &[row])?;
                let id = claims::claim(c, &[NewRun::bare("a", now)])?[0].expect("claimed");
                runs::finish(
                    c,
                    id,
                    &RunFinish {
                        status: RunStatus::Failed,
                        finished_at: now,
                        error: Some(error.clone()),
                        result: Some("a long answer ".repeat(1_000)),
                        links: vec!["https://example.com/".into()],
                        prompt_tokens: None,
                        completion_tokens: None,
                    },
                )
            })
            .expect("history");
        let snapshot = store.with(|c| Snapshot::load(c, now)).expect("snapshot");
        let last = snapshot.jobs["a"].last.as_ref().expect("last run");
        assert_eq!(last.status, RunStatus::Failed);
        assert_eq!(last.result, None);
        assert!(last.links.is_empty());
        let kept = last.error.as_deref().expect("error");
        assert_eq!(kept, one_line(&error, LAST_ERROR_CHARS));
        assert_eq!(
            one_line(kept, LAST_ERROR_CHARS),
            one_line(&error, LAST_ERROR_CHARS)
        );
    }
}
