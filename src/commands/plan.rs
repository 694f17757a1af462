//! `backoffice plan`: what deploying a ref would do, against what is deployed now.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use serde::Serialize;

use super::{CommandError, existing_store, print_json, short};
use crate::catalog::{self, SourceContent, SourceFile};
use crate::cli::{Format, PlanArgs};
use crate::job::{Job, JobId};
use crate::reconcile::{self, Plan};
use crate::repo::{CommitInfo, Repo};
use crate::store::{deployments, jobs};
use crate::sync::{self, FileCache};

#[derive(Serialize)]
struct Report<'a> {
    reference: String,
    commit: CommitInfo,
    /// The commit deployed now, when a daemon has deployed one.
    deployed_commit: Option<String>,
    plan: &'a Plan,
    /// Daylight-saving notes for jobs added or changed, by id.
    warnings: BTreeMap<String, Vec<String>>,
}

pub(super) fn execute(state: &Path, args: &PlanArgs) -> Result<ExitCode, CommandError> {
    let repo = Repo::open(&args.repo.repo)?;
    let reference = match (&args.reference, &args.repo.branch) {
        (Some(reference), _) => reference.clone(),
        (None, Some(branch)) => branch.clone(),
        (None, None) => repo.current_branch()?,
    };
    let oid = repo.resolve(&reference)?;
    let commit = repo.commit_info(oid)?;
    let desired = sync::read_commit(&repo, oid, &mut FileCache::default())?;
    let (deployed, deployed_commit) = deployed_jobs(state)?;
    let plan = reconcile::plan(&desired.catalog, &deployed, args.allow_empty);

    let now = Utc::now();
    let year = now + chrono::Duration::days(366);
    let mut warnings = BTreeMap::new();
    let touched = plan.added.iter().chain(plan.changed.iter().map(|u| &u.id));
    for id in touched {
        if let Some(job) = desired.catalog.jobs.get(id) {
            let notes = job.schedule.dst_notes(now, year);
            if !notes.is_empty() {
                warnings.insert(id.to_string(), notes);
            }
        }
    }
    let report = Report {
        reference,
        commit,
        deployed_commit,
        plan: &plan,
        warnings,
    };
    match args.format {
        Format::Json => print_json(&report)?,
        Format::Text => print_text(&report, &desired.catalog.jobs),
    }
    Ok(if plan.invalid.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Deployed jobs by id.
type DeployedJobs = BTreeMap<JobId, Arc<Job>>;

/// The deployed jobs and commit, or nothing when no daemon has deployed with this state.
fn deployed_jobs(state: &Path) -> Result<(DeployedJobs, Option<String>), CommandError> {
    let Some(store) = existing_store(state)? else {
        return Ok((BTreeMap::new(), None));
    };
    let rows = store.with(|conn| jobs::all(conn))?;
    let applied = store
        .with(|conn| deployments::sync_state(conn))?
        .and_then(|s| s.applied_commit);
    let jobs = rows
        .into_iter()
        .filter_map(|row| {
            catalog::load_file(&SourceFile {
                path: row.file,
                id: row.id,
                content: SourceContent::Text(row.source),
            })
            .ok()
        })
        .map(|job| (job.id.clone(), job))
        .collect();
    Ok((jobs, applied))
}

fn print_text(report: &Report<'_>, jobs: &BTreeMap<JobId, Arc<Job>>) {
    let plan = report.plan;
    let against = report
        .deployed_commit
        .as_deref()
        .map_or("nothing deployed yet".to_string(), |c| {
            format!("deployed {}", short(c))
        });
    say!(
        "plan for {} ({} \"{}\" by {}) against {against}",
        report.reference,
        short(&report.commit.id),
        report.commit.message,
        report.commit.author
    );
    say!();
    let describe = |id: &JobId| {
        jobs.get(id).map_or(String::new(), |job| {
            format!(
                "  {} {}",
                job.schedule.expression(),
                job.schedule.timezone().name()
            )
        })
    };
    for id in &plan.added {
        say!("  + {id}{}", describe(id));
    }
    for update in &plan.changed {
        say!("  ~ {}  ({})", update.id, update.fields.join(", "));
    }
    for id in &plan.removed {
        say!("  - {id}");
    }
    for file in &plan.invalid {
        let kept = file.id.as_ref().is_some_and(|id| plan.kept.contains(id));
        let note = if kept {
            "the deployed version keeps running"
        } else {
            "nothing deploys from it"
        };
        say!("  ! {}  (invalid: {note})", file.path);
        for error in &file.errors {
            say!("      {error}");
        }
    }
    for (id, notes) in &report.warnings {
        for note in notes {
            say!("  warning: {id}: daylight saving: {note}");
        }
    }
    if plan.held {
        say!("\n  HELD: this would remove every job; `serve --allow-empty` deploys it anyway");
    }
    say!(
        "\n{} to add, {} to change, {} to remove, {} unchanged, {} invalid file(s)",
        plan.added.len(),
        plan.changed.len(),
        plan.removed.len(),
        plan.unchanged.len(),
        plan.invalid.len()
    );
}
