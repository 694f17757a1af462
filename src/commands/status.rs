//! `backoffice status`: is the daemon up, what is deployed, and how each job is doing.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{CommandError, existing_store, local_time, one_line, print_json, relative, short};
use crate::app::daemon_pid;
use crate::catalog::{self, SourceContent, SourceFile};
use crate::cli::{Format, StatusArgs};
use crate::store::deployments::{self, Deployment, DeploymentOutcome, SyncState};
use crate::store::history;
use crate::store::jobs::{self, DeployedRow};
use crate::store::runs::RunRow;

#[derive(Serialize)]
struct Status {
    daemon_pid: Option<u32>,
    sync: Option<SyncState>,
    applied: Option<Deployment>,
    jobs: Vec<JobStatus>,
}

#[derive(Serialize)]
struct JobStatus {
    id: String,
    name: String,
    file: String,
    schedule: String,
    timezone: String,
    enabled: bool,
    commit: String,
    next: Option<DateTime<Utc>>,
    last: Option<RunRow>,
    invalid: Vec<String>,
}

pub(super) fn execute(state: &Path, args: &StatusArgs) -> Result<ExitCode, CommandError> {
    let pid = daemon_pid(state);
    let Some(store) = existing_store(state)? else {
        let status = Status {
            daemon_pid: pid,
            sync: None,
            applied: None,
            jobs: Vec::new(),
        };
        match args.format {
            Format::Json => print_json(&status)?,
            Format::Text => say!(
                "nothing deployed with state {}: start the daemon with `backoffice serve`",
                state.display()
            ),
        }
        return Ok(ExitCode::SUCCESS);
    };
    let (sync, rows, latest, recent) = store.with(|conn| {
        Ok((
            deployments::sync_state(conn)?,
            jobs::all(conn)?,
            history::latest_per_job(conn)?,
            deployments::recent(conn, 50)?,
        ))
    })?;
    let applied = sync
        .as_ref()
        .and_then(|s| s.applied_commit.as_ref())
        .and_then(|commit| {
            recent
                .into_iter()
                .find(|d| &d.commit_id == commit && d.outcome == DeploymentOutcome::Applied)
        });
    let mut last: HashMap<String, RunRow> =
        latest.into_iter().map(|r| (r.job_id.clone(), r)).collect();
    let now = Utc::now();
    let jobs = rows
        .into_iter()
        .map(|row| job_status(row, &mut last, now))
        .collect();
    let status = Status {
        daemon_pid: pid,
        sync,
        applied,
        jobs,
    };
    match args.format {
        Format::Json => print_json(&status)?,
        Format::Text => print_text(&status, now),
    }
    Ok(ExitCode::SUCCESS)
}

fn job_status(
    row: DeployedRow,
    last: &mut HashMap<String, RunRow>,
    now: DateTime<Utc>,
) -> JobStatus {
    let parsed = catalog::load_file(&SourceFile {
        path: row.file.clone(),
        id: row.id.clone(),
        content: SourceContent::Text(row.source.clone()),
    });
    let (name, schedule, timezone, enabled, next) = match &parsed {
        Ok(job) => {
            let from = row.cursor.map_or(now, |c| c.max(now));
            (
                job.name.clone(),
                job.schedule.expression().to_string(),
                job.schedule.timezone().name().to_string(),
                job.enabled,
                job.enabled.then(|| job.schedule.next_after(from)).flatten(),
            )
        }
        Err(_) => (row.id.clone(), String::new(), String::new(), false, None),
    };
    JobStatus {
        last: last.remove(&row.id),
        invalid: row.invalid_errors.iter().map(ToString::to_string).collect(),
        id: row.id,
        name,
        file: row.file,
        schedule,
        timezone,
        enabled,
        commit: row.commit_id,
        next,
    }
}

fn print_text(status: &Status, now: DateTime<Utc>) {
    match status.daemon_pid {
        Some(pid) => say!("daemon:    running (pid {pid})"),
        None => say!("daemon:    not running"),
    }
    if let Some(sync) = &status.sync {
        say!("tracking:  {}", sync.source);
        match (&status.applied, &sync.applied_commit) {
            (Some(d), _) => say!(
                "applied:   {} \"{}\" by {}, deployed {}",
                short(&d.commit_id),
                d.message,
                d.author,
                relative(d.deployed_at, now)
            ),
            (None, Some(commit)) => say!("applied:   {}", short(commit)),
            (None, None) => say!("applied:   nothing yet"),
        }
        if let Some(error) = &sync.attempt_error {
            let commit = sync
                .attempted_commit
                .as_deref()
                .map_or(String::new(), |c| format!("{} ", short(c)));
            let when = sync
                .attempted_at
                .map_or(String::new(), |at| format!(", {}", relative(at, now)));
            say!("attempted: {commit}FAILED{when}: {error}");
        }
        if let Some(at) = sync.last_fetch_at {
            say!("fetched:   {}", relative(at, now));
        }
    }
    say!();
    if status.jobs.is_empty() {
        say!("no jobs deployed: `backoffice serve` deploys the committed jobs/ of a branch");
        return;
    }
    say!("{:<24} {:<28} {:<40} LAST", "JOB", "SCHEDULE", "NEXT");
    for job in &status.jobs {
        let zone: chrono_tz::Tz = job.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
        let next = match (job.enabled, job.next) {
            (false, _) => "suspended".to_string(),
            (true, Some(at)) => format!("{} ({})", local_time(at, zone), relative(at, now)),
            (true, None) => "never".to_string(),
        };
        let last = job.last.as_ref().map_or("never run".to_string(), |run| {
            let when = run
                .finished_at
                .or(run.started_at)
                .unwrap_or(run.scheduled_for);
            let detail = run
                .error
                .as_deref()
                .map_or(String::new(), |e| format!(": {}", one_line(e, 60)));
            format!("{} {}{detail}", run.status, relative(when, now))
        });
        say!(
            "{:<24} {:<28} {:<40} {}",
            job.id,
            format!("{} {}", job.schedule, job.timezone),
            next,
            last
        );
        for error in &job.invalid {
            say!("    invalid in git, last good version keeps running: {error}");
        }
    }
}
