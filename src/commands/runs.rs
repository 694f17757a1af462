//! `backoffice runs`: recent runs, newest first.

use std::path::Path;
use std::process::ExitCode;

use super::{CommandError, existing_store, one_line, print_json};
use crate::cli::{Format, RunsArgs};
use crate::store::history;
use crate::store::runs::RunRow;

pub(super) fn execute(state: &Path, args: &RunsArgs) -> Result<ExitCode, CommandError> {
    let rows = match existing_store(state)? {
        Some(store) => {
            let job = args.job.clone();
            let limit = args.limit;
            store.with(move |conn| history::recent(conn, job.as_deref(), limit))?
        }
        None => Vec::new(),
    };
    match args.format {
        Format::Json => print_json(&rows)?,
        Format::Text => print_text(&rows, state),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(rows: &[RunRow], state: &Path) {
    if rows.is_empty() {
        say!("no runs recorded in {}", state.join("runs.db").display());
        return;
    }
    say!(
        "{:>6}  {:<24} {:<11} {:<9} {:<14} {:>9}  {:<3} DETAIL",
        "RUN",
        "JOB",
        "STATUS",
        "TRIGGER",
        "SCHEDULED",
        "DURATION",
        "TRY"
    );
    for run in rows {
        let duration = run
            .duration_ms
            .map_or("-".to_string(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
        let detail = run
            .error
            .as_deref()
            .or(run.result.as_deref())
            .map_or(String::new(), |t| one_line(t, 70));
        say!(
            "{:>6}  {:<24} {:<11} {:<9} {:<14} {:>9}  {:<3} {}",
            run.id,
            run.job_id,
            run.status.as_str(),
            run.trigger.as_str(),
            run.scheduled_for
                .with_timezone(&chrono::Local)
                .format("%m-%d %H:%M:%S"),
            duration,
            run.attempt,
            detail
        );
    }
}
