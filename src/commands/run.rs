//! `backoffice run JOB`: run a job now. Through the daemon's control socket when a daemon
//! runs (so its overlap rules and run tracking apply), otherwise in this process.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{CommandError, known_jobs, print_json, runtime};
use crate::cli::{Format, RunArgs};
use crate::connectors::Connectors;
use crate::control::{Client, Reply, RunRequest};
use crate::owner::OwnerLock;
use crate::runner::{Admission, Occurrence, RunEvent, Runner};
use crate::store::history;
use crate::store::runs::{RunRow, RunStatus, Trigger};
use crate::store::{Store, claims};

pub(super) fn execute(state: &Path, args: &RunArgs) -> Result<ExitCode, CommandError> {
    match Client::connect(state) {
        Some(client) => through_daemon(client, state, args),
        None => in_process(state, args),
    }
}

fn through_daemon(
    mut client: Client,
    state: &Path,
    args: &RunArgs,
) -> Result<ExitCode, CommandError> {
    let io = |source| CommandError::Io {
        context: "talking to the running daemon".into(),
        source,
    };
    client
        .send(&RunRequest {
            job: args.job.clone(),
            force: args.force,
            wait: args.wait,
        })
        .map_err(io)?;
    let admission = match client.next_reply().map_err(io)? {
        Some(Reply::Admitted { admission }) => admission,
        Some(Reply::Rejected { error }) => return Err(CommandError::Message(error)),
        Some(Reply::Event { .. }) | None => {
            return Err(CommandError::Message(
                "the daemon closed the connection without an answer".into(),
            ));
        }
    };
    if args.format == Format::Json && !args.wait {
        print_json(&admission)?;
    } else if args.format == Format::Text {
        print_admission(&args.job, admission, "the running daemon");
    }
    let Admission::Started(_) = admission else {
        return Ok(ExitCode::from(u8::from(!matches!(
            admission,
            Admission::Queued
        ))));
    };
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let mut last = None;
    while let Some(reply) = client.next_reply().map_err(io)? {
        if let Reply::Event { event } = reply {
            if args.format == Format::Text {
                print_event(&event);
            }
            let done = event.last;
            last = Some(event.run_id);
            if done {
                break;
            }
        }
    }
    let Some(run_id) = last else {
        return Err(CommandError::Message(
            "the daemon stopped before the run finished".into(),
        ));
    };
    let store = Store::open(&state.join("runs.db"))?;
    let row = store
        .with(move |conn| history::get(conn, run_id))?
        .ok_or_else(|| CommandError::Message(format!("run #{run_id} is not in the database")))?;
    print_outcome(&row, args.format)?;
    Ok(exit_for(row.status))
}

fn print_outcome(row: &RunRow, format: Format) -> Result<(), CommandError> {
    match format {
        Format::Json => print_json(row)?,
        Format::Text => {
            if let Some(result) = &row.result {
                say!("\n{result}");
            }
        }
    }
    Ok(())
}

fn in_process(state: &Path, args: &RunArgs) -> Result<ExitCode, CommandError> {
    let (jobs, _) = known_jobs(state, &args.repo)?;
    let Some(known) = jobs.values().find(|k| k.job.id.as_str() == args.job) else {
        let ids: Vec<&str> = jobs.keys().map(|id| id.as_str()).collect();
        return Err(CommandError::Message(format!(
            "no job `{}`; jobs: {}",
            args.job,
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        )));
    };
    std::fs::create_dir_all(state).map_err(|source| CommandError::Io {
        context: format!("cannot create {}", state.display()),
        source,
    })?;
    let store = Store::open(&state.join("runs.db"))?;
    let owner = OwnerLock::acquire(state).map_err(|source| CommandError::Io {
        context: format!("cannot create an owner lock in {}", state.display()),
        source,
    })?;
    let connectors = Connectors::from_env();
    let (owner_number, definition) = store.with(|conn| {
        Ok((
            claims::register_owner(conn, owner.token())?,
            claims::register_definition(conn, &known.commit, known.job.definition_hash())?,
        ))
    })?;
    let occurrence = Occurrence {
        job: Arc::clone(&known.job),
        commit: Arc::from(known.commit.as_str()),
        definition: Some(definition),
        scheduled_for: Utc::now(),
        trigger: Trigger::Manual,
    };
    let format = args.format;
    let job_id = args.job.clone();
    let force = args.force;
    let final_run = runtime()?.block_on(async move {
        let runner = Runner::new(store.clone(), Arc::new(connectors), owner_number);
        let mut events = runner.subscribe();
        let admission = runner
            .submit(vec![occurrence], vec![], vec![], force)
            .await?;
        let admission = admission
            .first()
            .copied()
            .unwrap_or(Admission::AlreadyClaimed);
        if format == Format::Text {
            print_admission(&job_id, admission, "this process (no daemon is running)");
        }
        let Admission::Started(chain) = admission else {
            return Ok::<_, CommandError>(None);
        };
        let mut last_id = chain;
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) if event.chain == chain => {
                        if format == Format::Text { print_event(&event); }
                        last_id = event.run_id;
                        if event.last { break; }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("interrupted: cancelling the run");
                    runner.shutdown(Duration::ZERO).await;
                    crate::executors::langgraph::settle(Duration::from_secs(10)).await;
                    break;
                }
            }
        }
        // A run cut off by its timeout may have left a cancel of its remote run in flight.
        crate::executors::langgraph::settle(Duration::from_secs(10)).await;
        let row = store.call(move |conn| history::get(conn, last_id)).await?;
        drop(owner);
        Ok(row)
    })?;
    let Some(row) = final_run else {
        return Ok(ExitCode::from(1));
    };
    print_outcome(&row, format)?;
    Ok(exit_for(row.status))
}

fn print_admission(job: &str, admission: Admission, by: &str) {
    match admission {
        Admission::Started(id) => say!("run #{id} of {job} started by {by}"),
        Admission::Skipped(_) => say!(
            "{job} was not started: a run is in progress (overlap = \"skip\"); use --force to run anyway"
        ),
        Admission::Queued => {
            say!("{job} is queued behind the run in progress (overlap = \"queue_one\")")
        }
        Admission::AlreadyClaimed => say!("{job}: this occurrence was already claimed"),
    }
}

fn print_event(event: &RunEvent) {
    if event.status == RunStatus::Running {
        say!("run #{} (attempt {}): started", event.run_id, event.attempt);
        return;
    }
    let more = if event.last { "" } else { "; retrying" };
    match &event.error {
        Some(error) => say!(
            "run #{} (attempt {}): {}: {error}{more}",
            event.run_id,
            event.attempt,
            event.status
        ),
        None => say!(
            "run #{} (attempt {}): {}",
            event.run_id,
            event.attempt,
            event.status
        ),
    }
}

fn exit_for(status: RunStatus) -> ExitCode {
    if status == RunStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
