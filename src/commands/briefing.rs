//! `backoffice briefing JOB --dry-run | --replay RUN`: a briefing printed, never published.
//! A dry run reads the sources and the model like a real run but writes nothing (no page, no
//! ledger, no run row); a replay reads the items stored with a past run instead of the sources.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use super::{CommandError, known_jobs, print_json, runtime};
use crate::briefing::item::Item;
use crate::briefing::record::Briefing;
use crate::briefing::{self, Occasion, render};
use crate::cli::{BriefingArgs, Format};
use crate::connectors::Connectors;
use crate::job::Task;
use crate::store::{Store, briefings};

pub(super) fn execute(state: &Path, args: &BriefingArgs) -> Result<ExitCode, CommandError> {
    let (jobs, _) = known_jobs(state, &args.repo)?;
    let Some(known) = jobs.values().find(|k| k.job.id.as_str() == args.job) else {
        let briefings: Vec<&str> = jobs
            .values()
            .filter(|k| matches!(k.job.task, Task::Briefing(_)))
            .map(|k| k.job.id.as_str())
            .collect();
        return Err(CommandError::Message(format!(
            "no job `{}`; briefing jobs: {}",
            args.job,
            if briefings.is_empty() {
                "none (add one like jobs/daily-briefing.toml and commit it)".to_string()
            } else {
                briefings.join(", ")
            }
        )));
    };
    let job = &known.job;
    let Task::Briefing(task) = &job.task else {
        return Err(CommandError::Message(format!(
            "`{}` is a {} job, not a briefing (orchestrator = \"briefing\")",
            job.id,
            job.task.label()
        )));
    };
    let mut task = (**task).clone();
    if let Some(model) = &args.model {
        task.model = Some(model.clone());
    }
    std::fs::create_dir_all(state).map_err(|source| CommandError::Io {
        context: format!("cannot create {}", state.display()),
        source,
    })?;
    let store = Store::open(&state.join("runs.db"))?;
    let past = match args.replay {
        Some(run) => Some(stored(&store, run, job.id.as_str())?),
        None => None,
    };
    let connectors = Connectors::from_env();
    let now = Utc::now();
    let prepared = runtime()?.block_on(async {
        let occasion = Occasion {
            job,
            task: &task,
            scheduled_for: past.as_ref().map_or(now, |(b, _)| b.window.end),
            started_at: past.as_ref().map_or(now, |(b, _)| b.window.end),
            deadline: tokio::time::Instant::now() + job.timeout,
        };
        match past {
            Some((briefing, items)) => {
                briefing::replay(&occasion, &connectors, items, &briefing).await
            }
            None => briefing::prepare(&occasion, &connectors, &store).await,
        }
    });
    let prepared = prepared.map_err(|e| CommandError::Message(e.message))?;
    match args.format {
        Format::Json => print_json(&prepared.briefing)?,
        Format::Text => {
            let text = render::markdown(&prepared.briefing, job.schedule.timezone());
            say!("{text}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The record and items stored with run `run`, which must be a briefing of `job`.
fn stored(store: &Store, run: i64, job: &str) -> Result<(Briefing, Vec<Item>), CommandError> {
    let Some((owner, record, items)) = store.with(move |conn| briefings::get(conn, run))? else {
        return Err(CommandError::Message(format!(
            "run #{run} has no stored briefing (only briefing runs that got as far as summarising keep their items)"
        )));
    };
    if owner != job {
        return Err(CommandError::Message(format!(
            "run #{run} is a briefing of `{owner}`, not of `{job}`"
        )));
    }
    let unreadable = |what: &str, e: serde_json::Error| {
        CommandError::Message(format!("run #{run}'s stored {what} cannot be read: {e}"))
    };
    Ok((
        serde_json::from_str(&record).map_err(|e| unreadable("briefing", e))?,
        serde_json::from_str(&items).map_err(|e| unreadable("items", e))?,
    ))
}
