//! `backoffice next`: upcoming fire times, in each job's zone and in UTC.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;
use serde::Serialize;

use super::{CommandError, JobsOrigin, known_jobs, local_time, print_json, short, utc_time};
use crate::cli::{Format, NextArgs};

#[derive(Serialize)]
struct JobNext {
    id: String,
    schedule: String,
    timezone: String,
    enabled: bool,
    next: Vec<chrono::DateTime<Utc>>,
}

pub(super) fn execute(state: &Path, args: &NextArgs) -> Result<ExitCode, CommandError> {
    let (jobs, origin) = known_jobs(state, &args.repo)?;
    if let Some(wanted) = &args.job
        && !jobs.keys().any(|id| id.as_str() == wanted)
    {
        return Err(CommandError::Message(format!("no job `{wanted}`")));
    }
    let now = Utc::now();
    let list: Vec<JobNext> = jobs
        .values()
        .filter(|known| {
            args.job
                .as_ref()
                .is_none_or(|wanted| known.job.id.as_str() == wanted)
        })
        .map(|known| {
            let job = &known.job;
            let from = known.cursor.map_or(now, |c| c.max(now));
            JobNext {
                id: job.id.to_string(),
                schedule: job.schedule.expression().to_string(),
                timezone: job.schedule.timezone().name().to_string(),
                enabled: job.enabled,
                next: if job.enabled {
                    job.schedule.upcoming(from, args.count)
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    match args.format {
        Format::Json => print_json(&list)?,
        Format::Text => {
            match &origin {
                JobsOrigin::Deployed => say!("deployed jobs:"),
                JobsOrigin::Committed { reference, commit } => {
                    say!(
                        "nothing deployed yet; jobs committed on {reference} ({}):",
                        short(commit)
                    );
                }
            }
            for job in &list {
                say!("\n{}  ({} {})", job.id, job.schedule, job.timezone);
                if !job.enabled {
                    say!("    suspended (enabled = false)");
                }
                let zone: chrono_tz::Tz = job.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
                for at in &job.next {
                    say!("    {}   = {}", local_time(*at, zone), utc_time(*at));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
