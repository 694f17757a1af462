//! The runner: admits due occurrences under each job's `overlap` rule, claims them in SQLite,
//! runs attempts with a timeout, retries retryable failures with backoff, and records every
//! outcome. It owns the in-memory view of what is running; the store owns the truth.
//!
//! A run holds the `Arc<Job>` it started with, so a deploy that changes or removes the job
//! never changes a run in progress.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast, mpsc, watch};

use crate::connectors::Connectors;
use crate::duration;
use crate::executors::{self, Context, Outcome};
use crate::job::{Job, JobId, Overlap};
use crate::notify::Notifier;
use crate::run_error::RunError;
use crate::store::claims::{self, Definition};
use crate::store::jobs;
use crate::store::runs::{self, NewRun, RunFinish, RunStatus, Trigger};
use crate::store::{Store, StoreError};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;

/// Longest wait between two attempts, whatever the backoff or the server's `Retry-After`.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);
/// Run rows claimed per transaction: small enough that the first runs of a large batch start
/// within milliseconds, large enough that a commit's fixed cost is spread over many rows.
pub const CLAIM_CHUNK: usize = 1_000;
/// After the grace period, how long cut-off runs get to record themselves.
const CUT_OFF_WAIT: Duration = Duration::from_secs(10);

/// One occurrence of a job to run now.
#[derive(Debug, Clone)]
pub struct Occurrence {
    pub job: Arc<Job>,
    /// Commit the job definition came from.
    pub commit: Arc<str>,
    /// That commit and definition by number, as its run rows name them.
    pub definition: Option<Definition>,
    pub scheduled_for: DateTime<Utc>,
    pub trigger: Trigger,
}

/// What became of a submitted occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "admission", content = "run_id")]
pub enum Admission {
    Started(i64),
    Skipped(Option<i64>),
    /// Waiting for the running one to finish (`overlap = "queue_one"`).
    Queued,
    /// Another process or an earlier start already claimed this occurrence.
    AlreadyClaimed,
}

/// A run changed state; the control socket and the site listen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunEvent {
    /// Id of the first attempt: retries share it.
    pub chain: i64,
    pub run_id: i64,
    pub job_id: String,
    pub attempt: u32,
    pub status: RunStatus,
    pub error: Option<String>,
    /// No further attempt follows.
    pub last: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cancel {
    Replaced,
    Shutdown(Duration),
}

struct Active {
    chain: i64,
    cancel: watch::Sender<Option<Cancel>>,
}

#[derive(Default)]
struct Activity {
    running: Vec<Active>,
    queued: Option<Occurrence>,
}

/// Runs jobs; cheap to clone.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    connectors: Arc<Connectors>,
    owner: i64,
    jobs: Mutex<HashMap<JobId, Activity>>,
    /// Queued occurrences taken off their job and on their way to start: still "active", so
    /// `wait_idle` does not see a gap between one run and the next.
    handing_over: AtomicUsize,
    ended: Notify,
    events: broadcast::Sender<RunEvent>,
    /// Told when a run chain ends and when occurrences are missed; set once at start.
    notifier: OnceLock<Notifier>,
}

enum Decision {
    Start { replace: bool },
    Skip(String),
    Queue,
}

/// The row claiming the first attempt of `occurrence` for the process numbered `owner`
/// ([`crate::store::claims::register_owner`]), started `now`.
pub fn claim_row(occurrence: &Occurrence, owner: i64, now: DateTime<Utc>) -> NewRun {
    NewRun {
        job_id: occurrence.job.id.shared(),
        trigger: occurrence.trigger,
        scheduled_for: occurrence.scheduled_for,
        attempt: 1,
        status: RunStatus::Running,
        started_at: Some(now),
        error: None,
        definition: occurrence.definition,
        owner: Some(owner),
    }
}

/// Claims `rows` [`CLAIM_CHUNK`] per transaction and hands each chunk's ids (`None` where
/// the occurrence was already claimed) to `committed` as soon as the chunk is committed.
///
/// One blocking task writes every chunk in turn, taking the connection's lock per chunk so
/// other writers can go in between, and sends each chunk's ids back over a channel; so the
/// next chunk is written while the runs of the last one start. A task per chunk cost two
/// thread hand-overs between chunks: measured with 10,000 firings, 0.6–1 ms per chunk on top
/// of the 2.4 ms a chunk takes to write. If the caller goes away, the chunks not yet written
/// are not claimed (each chunk is its own transaction, so nothing is left half-claimed).
pub async fn claim_in_chunks(
    store: &Store,
    rows: Vec<NewRun>,
    mut committed: impl FnMut(&[Option<i64>]),
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let (sender, mut receiver) = mpsc::unbounded_channel();
    let store = store.clone();
    let writer = tokio::task::spawn_blocking(move || {
        for chunk in rows.chunks(CLAIM_CHUNK) {
            let outcome = store.with(|conn| claims::claim(conn, chunk));
            let failed = outcome.is_err();
            if sender.send(outcome).is_err() || failed {
                break;
            }
        }
    });
    while let Some(outcome) = receiver.recv().await {
        committed(&outcome?);
    }
    writer
        .await
        .map_err(|error| StoreError::Task(error.to_string()))
}

impl Runner {
    /// A runner recording its runs in `store` as the process numbered `owner`
    /// ([`crate::store::claims::register_owner`]).
    pub fn new(store: Store, connectors: Arc<Connectors>, owner: i64) -> Runner {
        let (events, _) = broadcast::channel(1024);
        Runner {
            inner: Arc::new(Inner {
                store,
                connectors,
                owner,
                jobs: Mutex::new(HashMap::new()),
                handing_over: AtomicUsize::new(0),
                ended: Notify::new(),
                events,
                notifier: OnceLock::new(),
            }),
        }
    }

    /// Sends run endings and missed occurrences to `notifier` from now on.
    pub fn notify_through(&self, notifier: Notifier) {
        let _ = self.inner.notifier.set(notifier);
    }

    /// `count` occurrences of `job` came due while nothing ran, the latest at `latest`.
    pub fn missed(&self, job: &Arc<Job>, count: usize, latest: DateTime<Utc>) {
        if let Some(notifier) = self.inner.notifier.get() {
            notifier.missed(job, count, latest);
        }
    }

    /// Run state changes, as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<RunEvent> {
        self.inner.events.subscribe()
    }

    /// How many runs are in progress (retry waits included).
    pub fn active(&self) -> usize {
        let running: usize = self.lock().values().map(|a| a.running.len()).sum();
        running + self.inner.handing_over.load(Ordering::SeqCst)
    }

    /// Whether a run of `job` is in progress.
    pub fn is_running(&self, job: &JobId) -> bool {
        self.lock().get(job).is_some_and(|a| !a.running.is_empty())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<JobId, Activity>> {
        self.inner
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits `batch` under each job's overlap rule (`force` admits regardless), records its
    /// rows and those in `records` (missed occurrences), starts what was admitted, then moves
    /// `cursors`.
    ///
    /// Rows are claimed [`CLAIM_CHUNK`] at a time, and each chunk's runs start as soon as it
    /// is committed: when 10,000 jobs fire in the same second the first runs do not wait for
    /// the last rows.
    pub async fn submit(
        &self,
        batch: Vec<Occurrence>,
        records: Vec<NewRun>,
        cursors: Vec<(JobId, DateTime<Utc>)>,
        force: bool,
    ) -> Result<Vec<Admission>, StoreError> {
        let now = Utc::now();
        let decisions = self.decide(&batch, force);
        let mut rows = records;
        let mut row_of = Vec::with_capacity(batch.len());
        for (occurrence, decision) in batch.iter().zip(&decisions) {
            let (status, error) = match decision {
                Decision::Start { .. } => (RunStatus::Running, None),
                Decision::Skip(reason) => (RunStatus::Skipped, Some(reason.clone())),
                Decision::Queue => {
                    row_of.push(None);
                    continue;
                }
            };
            row_of.push(Some(rows.len()));
            rows.push(self.new_row(occurrence, 1, occurrence.trigger, status, error, now));
        }
        let mut admissions = Vec::with_capacity(batch.len());
        let mut pending = batch.into_iter().zip(decisions).zip(row_of).peekable();
        let mut claimed: Vec<Option<i64>> = Vec::with_capacity(rows.len());
        claim_in_chunks(&self.inner.store, rows, |ids| {
            claimed.extend_from_slice(ids);
            while let Some(((occurrence, decision), row)) =
                pending.next_if(|(_, row)| row.is_none_or(|index| index < claimed.len()))
            {
                let id = row.and_then(|index| claimed.get(index).copied().flatten());
                admissions.push(self.admit(occurrence, decision, id));
            }
        })
        .await?;
        for ((occurrence, decision), row) in pending {
            let id = row.and_then(|index| claimed.get(index).copied().flatten());
            admissions.push(self.admit(occurrence, decision, id));
        }
        if !cursors.is_empty() {
            self.inner
                .store
                .call(move |conn| jobs::move_cursors(conn, &cursors))
                .await?;
        }
        Ok(admissions)
    }

    /// Acts on one admission decision once its row, if it has one, is claimed (`id`).
    fn admit(&self, occurrence: Occurrence, decision: Decision, id: Option<i64>) -> Admission {
        match (decision, id) {
            (Decision::Queue, _) => {
                let id = occurrence.job.id.clone();
                self.lock().entry(id).or_default().queued = Some(occurrence);
                Admission::Queued
            }
            (Decision::Skip(_), id) => Admission::Skipped(id),
            (Decision::Start { .. }, None) => Admission::AlreadyClaimed,
            (Decision::Start { replace }, Some(id)) => {
                self.start(occurrence, id, replace);
                Admission::Started(id)
            }
        }
    }

    fn decide(&self, batch: &[Occurrence], force: bool) -> Vec<Decision> {
        let jobs = self.lock();
        let mut starting: HashMap<&JobId, usize> = HashMap::new();
        let mut queueing: HashMap<&JobId, bool> = HashMap::new();
        batch
            .iter()
            .map(|occurrence| {
                let job = &occurrence.job;
                let activity = jobs.get(&job.id);
                let running = activity.map_or(0, |a| a.running.len())
                    + starting.get(&job.id).copied().unwrap_or(0);
                let queued = activity.is_some_and(|a| a.queued.is_some())
                    || queueing.get(&job.id).copied().unwrap_or(false);
                let decision = if running == 0 || force || job.overlap == Overlap::Allow {
                    Decision::Start { replace: false }
                } else {
                    match job.overlap {
                        Overlap::Replace => Decision::Start { replace: true },
                        Overlap::QueueOne if !queued => Decision::Queue,
                        Overlap::QueueOne => Decision::Skip(
                            "skipped: a run of this job is in progress and another is already queued (overlap = \"queue_one\")".into(),
                        ),
                        Overlap::Skip | Overlap::Allow => Decision::Skip(
                            "skipped: a run of this job was still in progress (overlap = \"skip\")".into(),
                        ),
                    }
                };
                match decision {
                    Decision::Start { .. } => *starting.entry(&job.id).or_default() += 1,
                    Decision::Queue => {
                        queueing.insert(&job.id, true);
                    }
                    Decision::Skip(_) => {}
                }
                decision
            })
            .collect()
    }

    fn new_row(
        &self,
        occurrence: &Occurrence,
        attempt: u32,
        trigger: Trigger,
        status: RunStatus,
        error: Option<String>,
        now: DateTime<Utc>,
    ) -> NewRun {
        NewRun {
            trigger,
            attempt,
            status,
            error,
            ..claim_row(occurrence, self.inner.owner, now)
        }
    }

    fn start(&self, occurrence: Occurrence, run_id: i64, replace: bool) {
        let (cancel, cancelled) = watch::channel(None);
        {
            let mut jobs = self.lock();
            let activity = jobs.entry(occurrence.job.id.clone()).or_default();
            if replace {
                for active in &activity.running {
                    let _ = active.cancel.send(Some(Cancel::Replaced));
                }
            }
            activity.running.push(Active {
                chain: run_id,
                cancel,
            });
        }
        let runner = self.clone();
        tokio::spawn(async move { runner.drive(occurrence, run_id, cancelled).await });
    }

    /// Runs the attempts of one occurrence.
    async fn drive(
        self,
        occurrence: Occurrence,
        chain: i64,
        mut cancelled: watch::Receiver<Option<Cancel>>,
    ) {
        let job = Arc::clone(&occurrence.job);
        let mut run_id = chain;
        let mut attempt = 1;
        let mut last_attempt: (i64, RunStatus, Option<String>, u32);
        loop {
            let started_at = Utc::now();
            // Watchers (the status site, `run --wait`) see the attempt begin.
            self.emit(RunEvent {
                chain,
                run_id,
                job_id: job.id.to_string(),
                attempt,
                status: RunStatus::Running,
                error: None,
                last: false,
            });
            let context = Context {
                job: Arc::clone(&job),
                scheduled_for: occurrence.scheduled_for,
                started_at,
                connectors: Arc::clone(&self.inner.connectors),
                store: self.inner.store.clone(),
                run_id,
                commit: Arc::clone(&occurrence.commit),
            };
            let result = tokio::select! {
                result = tokio::time::timeout(job.timeout, AssertUnwindSafe(executors::execute(&context)).catch_unwind()) => match result {
                    Ok(Ok(result)) => Attempt::Done(result),
                    // A bug in an executor fails this run, not the runner: the run is recorded
                    // and the job's next runs are not held behind it.
                    Ok(Err(panic)) => Attempt::Done(Err(RunError::permanent(format!(
                        "backoffice hit a bug while running this job ({}); the next run will try again; please report it",
                        panic_text(&*panic)
                    )))),
                    Err(_) => Attempt::TimedOut,
                },
                reason = wait_cancel(&mut cancelled) => Attempt::Cancelled(reason),
            };
            let retry = match &result {
                Attempt::Done(Err(error)) if error.retryable => Some(error.retry_after),
                Attempt::TimedOut => Some(None),
                _ => None,
            }
            .filter(|_| attempt <= job.retries);
            let end = finish_of(&result, &job);
            let status = end.status;
            let error = end.error.clone();
            let store = self.inner.store.clone();
            if let Err(store_error) = store
                .call(move |conn| runs::finish(conn, run_id, &end))
                .await
            {
                tracing::error!(job = %job.id, run = run_id, "cannot record the end of the run: {store_error}");
            }
            if retry.is_none() {
                self.notify(&job, chain, run_id, status, error.clone(), attempt);
            }
            // If the chain ends while waiting to retry (shutdown, a replacing run, no row for
            // the retry), this attempt was its last: it is the one to tell about.
            last_attempt = (run_id, status, error.clone(), attempt);
            self.emit(RunEvent {
                chain,
                run_id,
                job_id: job.id.to_string(),
                attempt,
                status,
                error,
                last: retry.is_none(),
            });
            let Some(retry_after) = retry else { break };
            let delay = retry_delay(job.retry_delay, attempt, retry_after, fastrand::f64());
            tracing::info!(job = %job.id, attempt, "retrying in {}", duration::format(delay));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = wait_cancel(&mut cancelled) => {
                    let (run, status, error, attempts) = last_attempt;
                    self.notify(&job, chain, run, status, error, attempts);
                    break;
                }
            }
            attempt += 1;
            let row = self.new_row(
                &occurrence,
                attempt,
                Trigger::Retry,
                RunStatus::Running,
                None,
                Utc::now(),
            );
            let claimed = self
                .inner
                .store
                .call(move |conn| claims::claim(conn, &[row]))
                .await;
            match claimed {
                Ok(ids) => match ids.first().copied().flatten() {
                    Some(id) => run_id = id,
                    None => break,
                },
                Err(store_error) => {
                    tracing::error!(job = %job.id, "cannot record retry attempt {attempt}: {store_error}");
                    let (run, status, error, attempts) = last_attempt;
                    self.notify(&job, chain, run, status, error, attempts);
                    break;
                }
            }
        }
        self.ended(&job.id, chain);
    }

    /// Tells the notifier (when there is one) how a run chain ended.
    fn notify(
        &self,
        job: &Arc<Job>,
        chain: i64,
        run_id: i64,
        status: RunStatus,
        error: Option<String>,
        attempts: u32,
    ) {
        if let Some(notifier) = self.inner.notifier.get() {
            notifier.finished(job, chain, run_id, status, error, attempts);
        }
    }

    fn emit(&self, event: RunEvent) {
        match &event.error {
            None if event.status == RunStatus::Running => {
                tracing::info!(job = %event.job_id, run = event.run_id, attempt = event.attempt, "run started")
            }
            Some(error) => {
                tracing::warn!(job = %event.job_id, run = event.run_id, attempt = event.attempt, status = %event.status, "{error}")
            }
            None => {
                tracing::info!(job = %event.job_id, run = event.run_id, attempt = event.attempt, status = %event.status, "run finished")
            }
        }
        let _ = self.inner.events.send(event);
    }

    fn ended(&self, job: &JobId, chain: i64) {
        let queued = {
            let mut jobs = self.lock();
            let activity = jobs.entry(job.clone()).or_default();
            activity.running.retain(|a| a.chain != chain);
            let queued = if activity.running.is_empty() {
                activity.queued.take()
            } else {
                None
            };
            if activity.running.is_empty() && activity.queued.is_none() {
                jobs.remove(job);
            }
            queued
        };
        if let Some(occurrence) = queued {
            self.inner.handing_over.fetch_add(1, Ordering::SeqCst);
            let runner = self.clone();
            let start: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
                if let Err(error) = runner.submit(vec![occurrence], vec![], vec![], false).await {
                    tracing::error!("cannot start the queued run: {error}");
                }
                runner.inner.handing_over.fetch_sub(1, Ordering::SeqCst);
                runner.inner.ended.notify_waiters();
            });
            tokio::spawn(start);
        }
        self.inner.ended.notify_waiters();
    }

    /// Stops: drops queued occurrences, lets runs finish for `grace`, then cuts off the rest
    /// (recorded as `cancelled`). Returns how many were cut off.
    pub async fn shutdown(&self, grace: Duration) -> usize {
        for activity in self.lock().values_mut() {
            activity.queued = None;
        }
        if !self.wait_idle(grace).await {
            let mut cut = 0;
            for activity in self.lock().values() {
                for active in &activity.running {
                    let _ = active.cancel.send(Some(Cancel::Shutdown(grace)));
                    cut += 1;
                }
            }
            self.wait_idle(CUT_OFF_WAIT).await;
            return cut;
        }
        0
    }

    /// Waits until nothing runs, for at most `limit`; true when idle.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let ended = self.inner.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.active() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                return self.active() == 0;
            }
        }
    }
}

/// A panic's message, when it has one.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

enum Attempt {
    Done(Result<Outcome, RunError>),
    TimedOut,
    Cancelled(Cancel),
}

async fn wait_cancel(cancelled: &mut watch::Receiver<Option<Cancel>>) -> Cancel {
    loop {
        if let Some(reason) = *cancelled.borrow_and_update() {
            return reason;
        }
        if cancelled.changed().await.is_err() {
            // The sender is gone with the runner; never resolve.
            std::future::pending::<()>().await;
        }
    }
}

fn finish_of(result: &Attempt, job: &Job) -> RunFinish {
    let mut end = RunFinish {
        status: RunStatus::Succeeded,
        finished_at: Utc::now(),
        error: None,
        result: None,
        links: Vec::new(),
        prompt_tokens: None,
        completion_tokens: None,
    };
    match result {
        Attempt::Done(Ok(outcome)) => {
            end.result = Some(outcome.result.clone());
            end.links = outcome.links.clone();
            end.prompt_tokens = outcome.prompt_tokens;
            end.completion_tokens = outcome.completion_tokens;
        }
        Attempt::Done(Err(error)) => {
            end.status = RunStatus::Failed;
            end.error = Some(error.message.clone());
        }
        Attempt::TimedOut => {
            end.status = RunStatus::TimedOut;
            end.error = Some(format!(
                "timed out after {} (timeout = \"{}\" in {})",
                duration::format(job.timeout),
                duration::format(job.timeout),
                job.file
            ));
        }
        Attempt::Cancelled(Cancel::Replaced) => {
            end.status = RunStatus::Cancelled;
            end.error = Some("cancelled: replaced by a newer run (overlap = \"replace\")".into());
        }
        Attempt::Cancelled(Cancel::Shutdown(grace)) => {
            end.status = RunStatus::Cancelled;
            end.error = Some(format!(
                "cancelled: backoffice shut down and the run did not finish within the {} grace period",
                duration::format(*grace)
            ));
        }
    }
    end
}

/// Delay before attempt `attempt + 1`: `base · 2^(attempt-1)`, capped, with "equal jitter"
/// (half fixed, half random, so synchronised failures spread out), and never sooner than the
/// server's `Retry-After`. `random` is in `[0, 1)`.
pub fn retry_delay(
    base: Duration,
    attempt: u32,
    retry_after: Option<Duration>,
    random: f64,
) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    let exponential = base.saturating_mul(factor).min(MAX_RETRY_DELAY);
    let jittered = exponential / 2 + exponential.mul_f64(random.clamp(0.0, 1.0) / 2.0);
    jittered
        .max(retry_after.unwrap_or_default())
        .min(MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunked_claims_keep_every_id_in_place_across_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("runs.db")).expect("open");
        let at = DateTime::from_timestamp(1_800_000_000, 0).expect("instant");
        let row = |index: usize| NewRun::bare(&format!("job{index}"), at);
        // Claimed before (by another process, or by us before a restart), on both sides of a
        // chunk boundary and in the last chunk.
        let taken = [CLAIM_CHUNK - 1, CLAIM_CHUNK, 2 * CLAIM_CHUNK + 400];
        let earlier: Vec<NewRun> = taken.iter().map(|&index| row(index)).collect();
        store.with(|c| claims::claim(c, &earlier)).expect("earlier");
        let total = 2 * CLAIM_CHUNK + 500;
        let mut chunks = Vec::new();
        let mut ids = Vec::new();
        claim_in_chunks(&store, (0..total).map(row).collect(), |chunk| {
            chunks.push(chunk.len());
            ids.extend_from_slice(chunk);
        })
        .await
        .expect("claim");
        assert_eq!(chunks, [CLAIM_CHUNK, CLAIM_CHUNK, 500]);
        for (index, id) in ids.iter().enumerate() {
            assert_eq!(id.is_none(), taken.contains(&index), "row {index}: {id:?}");
        }
        let named: Option<i64> = store
            .with(|c| {
                c.query_row("SELECT id FROM runs WHERE job_id = 'job1500'", [], |r| {
                    r.get(0)
                })
            })
            .ok();
        assert_eq!(named, ids[1500], "ids belong to their own rows");
    }

    #[tokio::test]
    async fn a_failing_chunk_stops_the_claim_with_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("runs.db")).expect("open");
        store
            .with(|c| c.execute_batch("DROP TABLE runs"))
            .expect("drop");
        let row = NewRun::bare("a", Utc::now());
        let mut called = false;
        let error = claim_in_chunks(&store, vec![row], |_| called = true)
            .await
            .expect_err("no table");
        assert!(error.to_string().contains("runs.db"), "{error}");
        assert!(!called);
    }

    #[test]
    fn retry_delay_doubles_with_jitter_and_honours_retry_after() {
        let base = Duration::from_secs(60);
        assert_eq!(retry_delay(base, 1, None, 0.0), Duration::from_secs(30));
        assert_eq!(retry_delay(base, 1, None, 1.0), Duration::from_secs(60));
        assert_eq!(retry_delay(base, 2, None, 1.0), Duration::from_secs(120));
        assert_eq!(retry_delay(base, 3, None, 0.5), Duration::from_secs(180));
        assert_eq!(retry_delay(base, 30, None, 1.0), MAX_RETRY_DELAY);
        assert_eq!(
            retry_delay(base, 1, Some(Duration::from_secs(90)), 0.0),
            Duration::from_secs(90)
        );
        assert_eq!(
            retry_delay(base, 1, Some(Duration::from_secs(86_400)), 0.0),
            MAX_RETRY_DELAY
        );
    }
}
