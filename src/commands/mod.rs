//! One file per subcommand. Each returns the exit code: 0 for success, 1 when what it
//! reports is a failure (invalid files, a failed run); errors that stop it are exit code 2.

/// `println!` for lines that may carry text from outside (commit messages, job names, model
/// answers, server errors): the whole line goes through [`crate::display::terminal`], so no
/// escape sequence in it reaches the terminal. Our own text has no control characters but
/// newlines, which pass.
macro_rules! say {
    () => {
        println!()
    };
    ($($arg:tt)*) => {
        println!("{}", $crate::display::terminal(&format!($($arg)*)))
    };
}

mod briefing;
mod cards;
mod check;
mod connect;
mod doctor;
mod mcp;
mod next;
mod plan;
mod registry;
mod run;
mod runs;
mod site;
mod status;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::app::{self, ServeOptions};
use crate::catalog::{self, SourceContent, SourceFile};
use crate::cli::{Cli, Command, RepoArgs};
use crate::job::{Job, JobId};
use crate::repo::{Repo, RepoError};
use crate::store::{Store, StoreError, jobs};
use crate::sync::{self, FileCache, Source};

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// `runs.db` or `registry.db`.
    #[error(transparent)]
    Database(#[from] StoreError),
    #[error(transparent)]
    Serve(#[from] app::ServeError),
    #[error(transparent)]
    Import(#[from] crate::registry::import::ImportError),
    #[error(transparent)]
    Connect(#[from] crate::registry::connect::ConnectError),
    #[error("{0}")]
    Message(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the parsed command.
pub fn execute(cli: Cli) -> Result<ExitCode, CommandError> {
    let state = cli.state;
    match cli.command {
        Command::Serve(args) => {
            if let Some(url) = &args.remote {
                crate::connectors::secret::register_url("--remote", url);
            }
            let source = match args.remote {
                Some(url) => Source::Remote {
                    url,
                    branch: args.repo.branch,
                },
                None => Source::Local {
                    path: args.repo.repo,
                    branch: args.repo.branch,
                },
            };
            let options = ServeOptions {
                state_dir: state,
                source,
                poll: args.poll,
                allow_empty: args.allow_empty,
                grace: args.grace,
                listen: (!args.no_http).then_some(args.listen),
                allow_hosts: args.allow_hosts,
                templates: args.templates.templates,
                mcp_listen: args.mcp_listen,
                public_url: args.public_url,
                site_registry: args.site_registry,
            };
            let runtime = runtime()?;
            let shutdown = {
                let _inside = runtime.enter();
                app::shutdown_signal()
            };
            runtime.block_on(app::serve(options, shutdown))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(args) => check::execute(&args),
        Command::Plan(args) => plan::execute(&state, &args),
        Command::Run(args) => run::execute(&state, &args),
        Command::Briefing(args) => briefing::execute(&state, &args),
        Command::Doctor(args) => doctor::execute(&state, &args),
        Command::Runs(args) => runs::execute(&state, &args),
        Command::Next(args) => next::execute(&state, &args),
        Command::Status(args) => status::execute(&state, &args),
        Command::Site(args) => site::execute(&state, &args),
        Command::Mcp(_) => mcp::execute(&state),
        Command::Registry(command) => registry::execute(&state, &command),
        Command::Cards(command) => cards::execute(&state, &command),
        Command::Connect(args) => connect::execute(&state, &args),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CommandError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CommandError::Io {
            context: "cannot start the async runtime".into(),
            source,
        })
}

/// The run store of `state`, or `None` when no daemon or run ever created it.
fn existing_store(state: &Path) -> Result<Option<Store>, CommandError> {
    let path = state.join("runs.db");
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(Store::open(&path)?))
}

/// A job with the commit it came from and its cursor, wherever it was found.
struct KnownJob {
    job: Arc<Job>,
    commit: String,
    cursor: Option<DateTime<Utc>>,
}

/// Where the jobs shown came from.
enum JobsOrigin {
    Deployed,
    Committed { reference: String, commit: String },
}

/// The deployed jobs when a daemon has deployed any, else the committed jobs of the repo.
fn known_jobs(
    state: &Path,
    repo: &RepoArgs,
) -> Result<(BTreeMap<JobId, KnownJob>, JobsOrigin), CommandError> {
    if let Some(store) = existing_store(state)? {
        let rows = store.with(|conn| jobs::all(conn))?;
        if !rows.is_empty() {
            let mut known = BTreeMap::new();
            for row in rows {
                let parsed = catalog::load_file(&SourceFile {
                    path: row.file.clone(),
                    id: row.id.clone(),
                    content: SourceContent::Text(row.source.clone()),
                });
                if let Ok(job) = parsed {
                    known.insert(
                        job.id.clone(),
                        KnownJob {
                            job,
                            commit: row.commit_id.clone(),
                            cursor: row.cursor,
                        },
                    );
                }
            }
            return Ok((known, JobsOrigin::Deployed));
        }
    }
    let opened = Repo::open(&repo.repo)?;
    let reference = match &repo.branch {
        Some(branch) => branch.clone(),
        None => opened.current_branch()?,
    };
    let oid = opened.resolve(&reference)?;
    let commit = oid.to_string();
    let jobs = sync::read_commit(&opened, oid, &mut FileCache::default())?;
    let known = jobs
        .catalog
        .jobs
        .into_iter()
        .map(|(id, job)| {
            (
                id,
                KnownJob {
                    job,
                    commit: commit.clone(),
                    cursor: None,
                },
            )
        })
        .collect();
    Ok((known, JobsOrigin::Committed { reference, commit }))
}

/// The defaults file in force: the deployed one when a daemon has deployed jobs, else the
/// committed one (none when neither exists or it has errors).
fn known_defaults(
    state: &Path,
    repo: &RepoArgs,
) -> Result<std::sync::Arc<crate::notify::settings::Defaults>, CommandError> {
    if let Some(store) = existing_store(state)?
        && !store.with(|conn| jobs::all(conn))?.is_empty()
    {
        let stored = store.with(|conn| crate::store::notifications::defaults(conn))?;
        return Ok(stored
            .and_then(|(file, text)| crate::job_file::notify::parse_defaults(&file, &text).ok())
            .map(std::sync::Arc::new)
            .unwrap_or_default());
    }
    let opened = Repo::open(&repo.repo)?;
    let reference = match &repo.branch {
        Some(branch) => branch.clone(),
        None => opened.current_branch()?,
    };
    let oid = opened.resolve(&reference)?;
    let jobs = sync::read_commit(&opened, oid, &mut FileCache::default())?;
    Ok(match jobs.catalog.defaults {
        catalog::DefaultsFile::Valid { defaults, .. } => defaults,
        _ => Default::default(),
    })
}

/// Prints `value` as pretty JSON.
fn print_json(value: &impl serde::Serialize) -> Result<(), CommandError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| CommandError::Message(e.to_string()))?;
    println!("{text}");
    Ok(())
}

pub(crate) use crate::display::{local_time, one_line, relative, short, utc_time};
