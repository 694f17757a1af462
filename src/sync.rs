//! Sync: from the tracked git ref to the deployed job set.
//!
//! Resolves (or fetches) the ref, reads the committed job files, validates them, plans against
//! what is deployed and records the deployment and the new deployed set in one transaction.
//! Blocking (git2 and SQLite): the daemon calls it on tokio's blocking pool. Unchanged blobs
//! are not parsed again, so a push touching one file of 10,000 costs one parse.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use git2::Oid;

use crate::catalog::{self, Catalog, DefaultsFile, InvalidFile, SourceContent, SourceFile};
use crate::connectors::redact_url;
use crate::job::{Job, JobId};
use crate::memory::Interner;
use crate::notify::SharedDefaults;
use crate::reconcile::{self, Plan};
use crate::repo::{CommitInfo, Repo, RepoError};
use crate::scheduler::Deployed;
use crate::store::deployments::{self, Deployment, DeploymentOutcome};
use crate::store::jobs::{self, DeployedRow, Placement};
use crate::store::notifications;
use crate::store::{Store, StoreError};

/// Where the defaults file lives in the repository.
const DEFAULTS_FILE: &str = "jobs/_defaults.toml";

/// Where job files come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A repository on this machine (bare or not); `branch` defaults to its HEAD's branch.
    Local {
        path: PathBuf,
        branch: Option<String>,
    },
    /// A repository fetched into `state/remote.git`; `branch` defaults to `main`.
    Remote { url: String, branch: Option<String> },
}

/// A sync failure: the deployed jobs keep running, and the failure is recorded.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Parsed job files by path, keyed by blob so unchanged files are not parsed again.
#[derive(Default)]
pub struct FileCache {
    files: HashMap<Box<str>, CachedFile>,
}

/// One file's outcome. The rare invalid one is boxed so that each of thousands of entries is
/// two words, not an error list's size.
struct CachedFile {
    blob: Oid,
    outcome: Result<Arc<Job>, Box<InvalidFile>>,
}

/// The jobs of one commit, and each valid job's file text.
pub struct CommitJobs {
    pub catalog: Catalog,
    pub texts: HashMap<JobId, String>,
}

/// Reads and validates every job file of commit `oid`.
///
/// The cache keeps outcomes, not file texts: the texts of valid jobs are read from git again
/// for each deploy (a blob lookup each), rather than held in memory between deploys.
pub fn read_commit(repo: &Repo, oid: Oid, cache: &mut FileCache) -> Result<CommitJobs, RepoError> {
    let files = repo.job_files(oid)?;
    let mut seen = HashMap::with_capacity(files.len());
    let mut defaults = None;
    for file in &files {
        if file.id == crate::job_file::notify::DEFAULTS_ID {
            // Tiny and read on every deploy: its outcome is not cached.
            defaults = Some(catalog::load_defaults(&SourceFile {
                path: file.path.clone(),
                id: file.id.clone(),
                content: repo.read(file)?,
            }));
            continue;
        }
        seen.insert(file.path.as_str(), ());
        let unchanged = cache
            .files
            .get(file.path.as_str())
            .is_some_and(|c| c.blob == file.blob && !file.is_symlink);
        if unchanged {
            continue;
        }
        let outcome = catalog::load_file(&SourceFile {
            path: file.path.clone(),
            id: file.id.clone(),
            content: repo.read(file)?,
        });
        cache.files.insert(
            file.path.as_str().into(),
            CachedFile {
                blob: file.blob,
                outcome: outcome.map_err(Box::new),
            },
        );
    }
    cache.files.retain(|path, _| seen.contains_key(&**path));
    // The texts are read in a pass of their own, once every job is parsed. Read while
    // parsing, each text would sit between two jobs that stay; dropped after the deploy, they
    // would leave the heap full of holes that no page can be handed back from.
    let mut texts = HashMap::new();
    for file in &files {
        if let Some(Ok(job)) = cache.files.get(file.path.as_str()).map(|c| &c.outcome)
            && let SourceContent::Text(text) = repo.read(file)?
        {
            texts.insert(job.id.clone(), text);
        }
    }
    let mut catalog = catalog::assemble(
        cache
            .files
            .values()
            .map(|c| c.outcome.clone().map_err(|invalid| *invalid)),
    );
    if let Some(outcome) = defaults {
        catalog.set_defaults(outcome);
    }
    Ok(CommitJobs { catalog, texts })
}

/// Keeps the deployed set in step with the tracked ref.
pub struct Syncer {
    repo: Repo,
    url: Option<String>,
    branch: String,
    label: String,
    store: Store,
    allow_empty: bool,
    cache: FileCache,
    /// The running version of each deployed job. Only the parsed job is kept: its row (text,
    /// commit, cursor) is in `runs.db`, read back on the rare deploy that keeps a last good
    /// version, so ten thousand jobs do not hold their rows twice.
    deployed: BTreeMap<JobId, Arc<Job>>,
    last_commit: Option<Oid>,
    /// `jobs/_defaults.toml` in force: the last valid version deployed.
    defaults: SharedDefaults,
}

impl Syncer {
    /// Opens the source. Remote mode keeps its mirror in `state_dir/remote.git`.
    pub fn open(
        source: &Source,
        state_dir: &Path,
        store: Store,
        allow_empty: bool,
    ) -> Result<Syncer, SyncError> {
        let (repo, url, branch) = match source {
            Source::Local { path, branch } => {
                let repo = Repo::open(path)?;
                let branch = match branch {
                    Some(branch) => branch.clone(),
                    None => repo.current_branch()?,
                };
                (repo, None, branch)
            }
            Source::Remote { url, branch } => {
                let repo = Repo::open_mirror(&state_dir.join("remote.git"))?;
                (
                    repo,
                    Some(url.clone()),
                    branch.clone().unwrap_or_else(|| "main".into()),
                )
            }
        };
        let label = match &url {
            Some(url) => format!("{} ({branch})", redact_url(url)),
            None => {
                let path = std::fs::canonicalize(repo.path())
                    .unwrap_or_else(|_| repo.path().to_path_buf());
                format!("{} ({branch})", path.display())
            }
        };
        Ok(Syncer {
            repo,
            url,
            branch,
            label,
            store,
            allow_empty,
            cache: FileCache::default(),
            deployed: BTreeMap::new(),
            last_commit: None,
            defaults: SharedDefaults::default(),
        })
    }

    /// The defaults in force, kept current by every deploy.
    pub fn defaults(&self) -> SharedDefaults {
        self.defaults.clone()
    }

    /// What is tracked, for logs and status: `/srv/jobs.git (main)`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The git folder to watch for ref changes (local mode only).
    pub fn watch_dir(&self) -> Option<PathBuf> {
        self.url.is_none().then(|| self.repo.git_dir())
    }

    /// Loads the deployed set recorded by an earlier run, so jobs keep running even if the
    /// repository cannot be read right now.
    pub fn load_deployed(&mut self) -> Result<Vec<Deployed>, SyncError> {
        let (rows, placements, defaults) = self.store.with(|conn| {
            Ok((
                jobs::all(conn)?,
                jobs::placements(conn)?,
                notifications::defaults(conn)?,
            ))
        })?;
        if let Some((file, text)) = defaults {
            match crate::job_file::notify::parse_defaults(&file, &text) {
                Ok(defaults) => self.defaults.set(Arc::new(defaults)),
                Err(errors) => {
                    let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    tracing::error!(
                        "the deployed defaults file no longer validates and is not used: {}",
                        errors.join("; ")
                    );
                }
            }
        }
        self.deployed.clear();
        for mut row in rows {
            let parsed = catalog::load_file(&SourceFile {
                path: row.file.clone(),
                id: row.id.clone(),
                content: SourceContent::Text(std::mem::take(&mut row.source)),
            });
            match parsed {
                Ok(job) => {
                    self.deployed.insert(job.id.clone(), job);
                }
                Err(invalid) => {
                    let errors: Vec<String> =
                        invalid.errors.iter().map(ToString::to_string).collect();
                    tracing::error!(job = %row.id, "the deployed version no longer validates and is not scheduled: {}", errors.join("; "));
                }
            }
        }
        self.register_webhooks();
        Ok(self.scheduler_set(placements))
    }

    /// Makes the deployed jobs' webhook URLs known secrets.
    fn register_webhooks(&self) {
        crate::notify::register_webhooks(
            self.deployed.values().map(AsRef::as_ref),
            &self.defaults.get(),
        );
    }

    /// The deployed jobs with where each stands (id, commit, cursor as `runs.db` has them).
    fn scheduler_set(&self, placements: Vec<Placement>) -> Vec<Deployed> {
        let mut commits = Interner::default();
        placements
            .into_iter()
            .filter_map(|placement| {
                Some(Deployed {
                    job: Arc::clone(self.deployed.get(placement.id.as_str())?),
                    commit: commits.share(&placement.commit_id),
                    definition: placement.definition,
                    cursor: placement.cursor,
                })
            })
            .collect()
    }

    /// Brings the deployed set to the tracked ref. `Ok(None)` when nothing moved.
    pub fn sync(&mut self) -> Result<Option<Vec<Deployed>>, SyncError> {
        let oid = match self.resolve() {
            Ok(oid) => oid,
            Err(error) => {
                let message = error.to_string();
                let label = self.label.clone();
                self.store.with(move |conn| {
                    deployments::record_failure(conn, &label, None, Utc::now(), &message)
                })?;
                return Err(error.into());
            }
        };
        if self.last_commit == Some(oid) {
            return Ok(None);
        }
        if self.last_commit.is_none() {
            let state = self.store.with(|conn| deployments::sync_state(conn))?;
            if state.and_then(|s| s.applied_commit).as_deref() == Some(oid.to_string().as_str()) {
                self.last_commit = Some(oid);
                return Ok(None);
            }
        }
        let commit = self.repo.commit_info(oid)?;
        let jobs = read_commit(&self.repo, oid, &mut self.cache);
        self.repo.release_packs();
        let jobs = jobs?;
        let plan = reconcile::plan(&jobs.catalog, &self.deployed, self.allow_empty);
        let placements = self.apply(&commit, &jobs, &plan)?;
        self.last_commit = Some(oid);
        log_plan(&self.label, &commit, &plan);
        self.register_webhooks();
        Ok((!plan.held).then(|| self.scheduler_set(placements)))
    }

    fn resolve(&self) -> Result<Oid, RepoError> {
        match &self.url {
            Some(url) => {
                let oid = self.repo.fetch(url, &self.branch)?;
                let label = self.label.clone();
                if let Err(error) = self
                    .store
                    .with(move |conn| deployments::record_fetch(conn, &label, Utc::now()))
                {
                    tracing::warn!("cannot record the fetch time: {error}");
                }
                Ok(oid)
            }
            None => self.repo.resolve(&self.branch),
        }
    }

    /// Records the deployment; returns where each deployed job now stands (nothing when the
    /// commit was held).
    fn apply(
        &mut self,
        commit: &CommitInfo,
        jobs: &CommitJobs,
        plan: &Plan,
    ) -> Result<Vec<Placement>, SyncError> {
        let now = Utc::now();
        let mut rows = Vec::new();
        let mut next: BTreeMap<JobId, Arc<Job>> = BTreeMap::new();
        for (id, job) in &jobs.catalog.jobs {
            rows.push(DeployedRow {
                id: id.to_string(),
                file: job.file.clone(),
                source: jobs.texts.get(id).cloned().unwrap_or_default(),
                definition_hash: job.definition_hash().to_string(),
                commit_id: commit.id.clone(),
                deployed_at: now,
                invalid_errors: Vec::new(),
                invalid_commit: None,
                cursor: Some(now),
            });
            next.insert(id.clone(), Arc::clone(job));
        }
        // Kept jobs (their file no longer validates) stay at their last good version, whose
        // row only the database holds: read in the deployment's transaction below.
        let mut kept_errors = Vec::new();
        for id in &plan.kept {
            let Some(current) = self.deployed.get(id) else {
                continue;
            };
            let errors: Vec<_> = plan
                .invalid
                .iter()
                .filter(|f| f.id.as_ref() == Some(id))
                .flat_map(|f| f.errors.clone())
                .collect();
            kept_errors.push((id.clone(), errors));
            next.insert(id.clone(), Arc::clone(current));
        }
        let deployment = Deployment {
            id: 0,
            commit_id: commit.id.clone(),
            author: commit.author.clone(),
            message: commit.message.clone(),
            committed_at: commit.time,
            deployed_at: now,
            outcome: if plan.held {
                DeploymentOutcome::Held
            } else {
                DeploymentOutcome::Applied
            },
            added: plan.added.iter().map(ToString::to_string).collect(),
            changed: plan.changed.iter().map(|u| u.id.to_string()).collect(),
            removed: plan.removed.iter().map(ToString::to_string).collect(),
            errors: jobs.catalog.errors().map(ToString::to_string).collect(),
        };
        let label = self.label.clone();
        let held = plan.held;
        let defaults = match &jobs.catalog.defaults {
            DefaultsFile::Valid { defaults, text } => Some(Some((Arc::clone(defaults), text))),
            DefaultsFile::Absent => Some(None),
            // Invalid: the last good version stays in force, as for a job file.
            DefaultsFile::Invalid => None,
        }
        .filter(|_| !held);
        let commit_id = commit.id.clone();
        let stored = self.store.with(|conn| {
            for (id, errors) in kept_errors {
                if let Some(current) = jobs::row(conn, id.as_str())? {
                    rows.push(DeployedRow {
                        invalid_errors: errors,
                        invalid_commit: Some(commit_id.clone()),
                        ..current
                    });
                }
            }
            deployments::record(conn, &label, &deployment, &rows)?;
            if let Some(defaults) = &defaults {
                let kept = defaults
                    .as_ref()
                    .map(|(_, text)| (DEFAULTS_FILE, text.as_str()));
                notifications::set_defaults(conn, kept, &commit_id)?;
            }
            let placements = if held {
                Vec::new()
            } else {
                jobs::placements(conn)?
            };
            // The deployment filled the page cache with every job's text; it is not read
            // again until the next deployment.
            conn.execute_batch("PRAGMA shrink_memory")?;
            Ok(placements)
        })?;
        if let Some(defaults) = defaults {
            self.defaults
                .set(defaults.map(|(d, _)| d).unwrap_or_default());
        }
        if !held {
            self.deployed = next;
        }
        Ok(stored)
    }
}

fn log_plan(label: &str, commit: &CommitInfo, plan: &Plan) {
    let short = &commit.id[..commit.id.len().min(10)];
    if plan.held {
        tracing::warn!(
            "held commit {short} from {label}: it would remove every job; restart serve with --allow-empty to deploy it"
        );
        return;
    }
    tracing::info!(
        added = plan.added.len(),
        changed = plan.changed.len(),
        removed = plan.removed.len(),
        invalid = plan.invalid.len(),
        "deployed {short} \"{}\" from {label}",
        commit.message
    );
    for file in &plan.invalid {
        for error in &file.errors {
            tracing::warn!("{error}");
        }
    }
}
