//! Notifications: who hears about a job's failures, recoveries, successes and missed runs.
//!
//! * [`settings`] is what job files and `jobs/_defaults.toml` say (parsed by
//!   [`crate::job_file::notify`]);
//! * [`message`] composes what is said; [`deliver`] sends it to Slack or a webhook;
//! * this module's [`Notifier`] hears from the runner and the scheduler, decides which event
//!   a run is (a recovery needs the job's previous outcome), records each message in
//!   `runs.db` and delivers it in the background, retrying with backoff.
//!
//! Delivery never touches the run: a webhook that is down is logged and shown on the
//! dashboard, and the job's status is what the job did.

pub mod deliver;
pub mod message;
pub mod settings;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::connectors::Connectors;
use crate::job::Job;
use crate::store::Store;
use crate::store::notifications::{self, Delivery, NotificationRow};
use crate::store::runs::RunStatus;
use message::{Happening, Message};
use settings::{Defaults, Event, Target};

/// Waits between delivery attempts: five attempts over about three minutes.
const BACKOFF: [Duration; 4] = [
    Duration::from_secs(2),
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(120),
];
/// The longest wait between two attempts, whatever a server asks.
const MAX_WAIT: Duration = Duration::from_secs(600);
/// Undelivered messages younger than this are sent on the next start; older ones are news
/// no longer worth a ping.
const RESUME_WITHIN: chrono::Duration = chrono::Duration::hours(1);

/// The defaults file in force, shared by the syncer (which replaces it on deploy) and the
/// notifier (which reads it for every message).
#[derive(Clone, Default)]
pub struct SharedDefaults(Arc<RwLock<Arc<Defaults>>>);

impl SharedDefaults {
    pub fn get(&self) -> Arc<Defaults> {
        Arc::clone(
            &self
                .0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub fn set(&self, defaults: Arc<Defaults>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = defaults;
    }
}

/// Reads every webhook variable the jobs and the defaults name, so their URLs are scrubbed
/// from everything (logs, errors, pages) from the first deploy on, not only from the first
/// message sent.
pub fn register_webhooks<'a>(jobs: impl IntoIterator<Item = &'a Job>, defaults: &Defaults) {
    let named = jobs
        .into_iter()
        .filter_map(|job| job.notify.webhook.as_deref())
        .chain(defaults.notify.webhook.as_deref());
    for variable in named {
        let _ = crate::connectors::Secret::from_env(variable);
    }
}

/// Something that may be worth a message.
enum Notice {
    /// A run chain's last attempt ended.
    Finished {
        job: Arc<Job>,
        /// The chain's first attempt: earlier runs are before it.
        chain: i64,
        run_id: i64,
        status: RunStatus,
        error: Option<String>,
        attempts: u32,
    },
    /// Occurrences came due while nothing ran.
    Missed {
        job: Arc<Job>,
        count: usize,
        latest: DateTime<Utc>,
    },
    /// Answer once everything before this is recorded and first attempts are done.
    Flush(oneshot::Sender<()>),
}

/// The runner's and scheduler's handle: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Notifier {
    queue: mpsc::UnboundedSender<Notice>,
}

impl Notifier {
    /// A run chain of `job` (first attempt `chain`) ended with `status` after `attempts`
    /// attempts; `run_id` is the last attempt's run.
    pub fn finished(
        &self,
        job: &Arc<Job>,
        chain: i64,
        run_id: i64,
        status: RunStatus,
        error: Option<String>,
        attempts: u32,
    ) {
        let _ = self.queue.send(Notice::Finished {
            job: Arc::clone(job),
            chain,
            run_id,
            status,
            error,
            attempts,
        });
    }

    /// `count` occurrences of `job` were missed, the latest due at `latest`.
    pub fn missed(&self, job: &Arc<Job>, count: usize, latest: DateTime<Utc>) {
        let _ = self.queue.send(Notice::Missed {
            job: Arc::clone(job),
            count,
            latest,
        });
    }

    /// Waits (at most `limit`) until every notice sent so far is recorded and its first
    /// delivery attempt made; what is still retrying is sent on the next start.
    pub async fn flush(&self, limit: Duration) {
        let (done, finished) = oneshot::channel();
        if self.queue.send(Notice::Flush(done)).is_ok() {
            let _ = tokio::time::timeout(limit, finished).await;
        }
    }
}

/// What the notifier works with.
pub struct Setup {
    pub store: Store,
    pub connectors: Arc<Connectors>,
    pub defaults: SharedDefaults,
    /// The site's address as people reach it, without a trailing slash.
    pub public_url: Option<String>,
    /// Told after a delivery attempt, so the dashboard shows failures promptly.
    pub changed: mpsc::UnboundedSender<()>,
}

/// Starts the notifier: resumes undelivered messages of the last hour, then serves notices
/// until every [`Notifier`] is dropped.
pub fn start(setup: Setup) -> (Notifier, tokio::task::JoinHandle<()>) {
    let (queue, notices) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(Arc::new(setup), notices));
    (Notifier { queue }, task)
}

async fn run(setup: Arc<Setup>, mut notices: mpsc::UnboundedReceiver<Notice>) {
    let mut deliveries = JoinSet::new();
    resume(&setup, &mut deliveries).await;
    // Whether each job's last outcome was a failure, for recoveries; read from `runs.db` the
    // first time a job is asked about, then kept up to date from the notices themselves.
    let mut failing: HashMap<String, bool> = HashMap::new();
    while let Some(notice) = notices.recv().await {
        // Finished deliveries are reaped as we go, so the set stays small.
        while deliveries.try_join_next().is_some() {}
        match notice {
            Notice::Flush(done) => {
                while deliveries.join_next().await.is_some() {}
                let _ = done.send(());
            }
            Notice::Finished {
                job,
                chain,
                run_id,
                status,
                error,
                attempts,
            } => {
                let recipients = job.notify.over(&setup.defaults.get().notify);
                let failed = matches!(status, RunStatus::Failed | RunStatus::TimedOut);
                let succeeded = status == RunStatus::Succeeded;
                if !failed && !succeeded {
                    continue;
                }
                let event = if failed {
                    Event::Failure
                } else {
                    let was_failing = if recipients.wants(Event::Recovery) {
                        was_failing(&setup.store, &mut failing, &job, chain).await
                    } else {
                        false
                    };
                    if was_failing {
                        Event::Recovery
                    } else {
                        Event::Success
                    }
                };
                // Kept for every job that notifies anyone, so turning recovery on later
                // does not read a stale outcome.
                if !recipients.targets().is_empty() {
                    failing.insert(job.id.to_string(), failed);
                }
                if !recipients.wants(event) {
                    continue;
                }
                let happening = Happening {
                    job_id: job.id.to_string(),
                    job_name: job.name.clone(),
                    event,
                    run_id: Some(run_id),
                    status: status.as_str().to_string(),
                    attempts,
                    error,
                    missed: None,
                };
                dispatch(&setup, &mut deliveries, &happening, &recipients.targets()).await;
            }
            Notice::Missed { job, count, latest } => {
                let recipients = job.notify.over(&setup.defaults.get().notify);
                if !recipients.wants(Event::Missed) {
                    continue;
                }
                let happening = Happening {
                    job_id: job.id.to_string(),
                    job_name: job.name.clone(),
                    event: Event::Missed,
                    run_id: None,
                    status: "missed".into(),
                    attempts: 0,
                    error: None,
                    missed: Some((count, latest)),
                };
                dispatch(&setup, &mut deliveries, &happening, &recipients.targets()).await;
            }
        }
    }
    while deliveries.join_next().await.is_some() {}
}

/// Whether `job`'s last outcome before the chain starting at run `chain` was a failure.
async fn was_failing(
    store: &Store,
    known: &mut HashMap<String, bool>,
    job: &Job,
    chain: i64,
) -> bool {
    if let Some(failing) = known.get(job.id.as_str()) {
        return *failing;
    }
    let id = job.id.to_string();
    match store
        .call(move |conn| notifications::previous_outcome(conn, &id, chain))
        .await
    {
        Ok(previous) => previous.is_some_and(|status| status == "failed" || status == "timed_out"),
        Err(error) => {
            tracing::warn!(job = %job.id, "cannot tell whether this success is a recovery: {error}");
            false
        }
    }
}

/// Records the message for each target and starts delivering it.
async fn dispatch(
    setup: &Arc<Setup>,
    deliveries: &mut JoinSet<()>,
    happening: &Happening,
    targets: &[Target],
) {
    let message = message::compose(happening, setup.public_url.as_deref());
    let Ok(json) = serde_json::to_string(&message) else {
        return;
    };
    for target in targets {
        let (job, run, event, key, json) = (
            happening.job_id.clone(),
            happening.run_id,
            happening.event.name(),
            target.key(),
            json.clone(),
        );
        let recorded = setup
            .store
            .call(move |conn| {
                notifications::insert(conn, &job, run, event, &key, &json, Utc::now())
            })
            .await;
        match recorded {
            Ok(id) => {
                let (setup, target, message) = (Arc::clone(setup), target.clone(), message.clone());
                deliveries.spawn(async move { attempts(&setup, id, &target, &message, 0).await });
            }
            Err(error) => tracing::error!(
                job = %happening.job_id,
                "cannot record a notification to {}, not sending it: {error}",
                target.shown()
            ),
        }
    }
}

/// Messages a stop left undelivered: those of the last hour are sent now, older ones are
/// marked failed.
async fn resume(setup: &Arc<Setup>, deliveries: &mut JoinSet<()>) {
    let now = Utc::now();
    let pending = setup
        .store
        .call(move |conn| {
            notifications::expire_pending(conn, now - RESUME_WITHIN, now)?;
            notifications::pending_since(conn, now - RESUME_WITHIN)
        })
        .await;
    let rows: Vec<NotificationRow> = match pending {
        Ok(rows) => rows,
        Err(error) => {
            tracing::error!("cannot read undelivered notifications: {error}");
            return;
        }
    };
    for row in rows {
        let (Some(target), Ok(message)) = (
            Target::from_key(&row.target),
            serde_json::from_str::<Message>(&row.message),
        ) else {
            continue;
        };
        let setup = Arc::clone(setup);
        let done = row.attempts as usize;
        deliveries.spawn(async move { attempts(&setup, row.id, &target, &message, done).await });
    }
}

/// Delivers with retries, recording each attempt; `done` attempts were made before.
async fn attempts(setup: &Setup, id: i64, target: &Target, message: &Message, done: usize) {
    let mut attempt = done;
    loop {
        let outcome = deliver::send(&setup.connectors, target, message).await;
        let last = attempt >= BACKOFF.len();
        let (status, error) = match &outcome {
            Ok(()) => (Delivery::Sent, None),
            Err(error) if error.retryable && !last => {
                (Delivery::Pending, Some(message::plain(&error.message)))
            }
            Err(error) => (Delivery::Failed, Some(message::plain(&error.message))),
        };
        match &outcome {
            Ok(()) => {
                tracing::info!(job = %message.job, event = %message.event, "notified {}", target.shown())
            }
            Err(_) => tracing::warn!(
                job = %message.job,
                event = %message.event,
                attempt = attempt + 1,
                "cannot notify {}: {}{}",
                target.shown(),
                error.as_deref().unwrap_or_default(),
                if status == Delivery::Pending { "; retrying" } else { "; giving up" }
            ),
        }
        let recorded_error = error.clone();
        if let Err(store_error) = setup
            .store
            .call(move |conn| {
                notifications::attempted(conn, id, status, recorded_error.as_deref(), Utc::now())
            })
            .await
        {
            tracing::error!("cannot record a notification attempt: {store_error}");
        }
        if error.is_some() || done > 0 {
            let _ = setup.changed.send(());
        }
        if status != Delivery::Pending {
            return;
        }
        // Jitter, so a burst of messages (missed runs after an outage) does not come back in
        // lockstep; and never sooner than a rate-limited server asked.
        let base = BACKOFF[attempt.min(BACKOFF.len() - 1)];
        let asked = outcome
            .as_ref()
            .err()
            .and_then(|e| e.retry_after)
            .unwrap_or_default();
        let wait = base
            .mul_f64(1.0 + fastrand::f64() * 0.5)
            .max(asked.min(MAX_WAIT));
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}
