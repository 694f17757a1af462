//! Fire precision: how late each firing is against its scheduled instant, with 1, 1,000 and
//! 10,000 jobs firing every second (6-field cron) for 30 s.
//!
//! The production scheduler loop drives a dispatcher that does the runner's bookkeeping for
//! real: it claims every due occurrence in `runs.db` (one row each, cursors moved, one
//! transaction per wake) but starts no executor, so the figures are the scheduler's and the
//! store's, not a model's. Two latenesses per firing: when the scheduler handed it over, and
//! when its row was committed.

#[path = "common.rs"]
mod common;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backoffice::catalog::{SourceContent, SourceFile, load_file};
use backoffice::job::JobId;
use backoffice::runner::{Admission, Occurrence};
use backoffice::scheduler::{Clock, Deployed, Dispatch, Scheduler};
use backoffice::store::jobs::DeployedRow;
use backoffice::store::runs::{self, NewRun, RunStatus};
use backoffice::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use common::{ms, percentiles};

#[derive(Clone)]
struct Claimer {
    store: Store,
    handed: Arc<Mutex<Vec<Duration>>>,
    committed: Arc<Mutex<Vec<Duration>>>,
}

impl Dispatch for Claimer {
    fn submit(
        &self,
        batch: Vec<Occurrence>,
        records: Vec<NewRun>,
        cursors: Vec<(JobId, DateTime<Utc>)>,
        _force: bool,
    ) -> impl Future<Output = Result<Vec<Admission>, StoreError>> + Send {
        let handed_at = Utc::now();
        let this = self.clone();
        async move {
            let mut rows = records;
            let scheduled: Vec<DateTime<Utc>> = batch.iter().map(|o| o.scheduled_for).collect();
            rows.extend(batch.iter().map(|o| NewRun {
                job_id: o.job.id.to_string(),
                trigger: o.trigger,
                scheduled_for: o.scheduled_for,
                attempt: 1,
                status: RunStatus::Running,
                started_at: Some(handed_at),
                error: None,
                commit_id: Some(o.commit.to_string()),
                definition_hash: None,
                owner: Some("bench".into()),
            }));
            let ids = this
                .store
                .call(move |c| runs::claim(c, &rows, &cursors))
                .await?;
            let committed_at = Utc::now();
            let late = |at: DateTime<Utc>, s: DateTime<Utc>| (at - s).to_std().unwrap_or_default();
            this.handed
                .lock()
                .expect("lock")
                .extend(scheduled.iter().map(|s| late(handed_at, *s)));
            this.committed
                .lock()
                .expect("lock")
                .extend(scheduled.iter().map(|s| late(committed_at, *s)));
            Ok(ids
                .iter()
                .map(|id| Admission::Started(id.unwrap_or_default()))
                .collect())
        }
    }
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    println!("fire precision: jobs firing every second for {seconds} s (release build)");
    for count in [1usize, 1_000, 10_000] {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(measure(count, seconds));
    }
}

async fn measure(count: usize, seconds: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("runs.db")).expect("store");
    let jobs: Vec<_> = (0..count)
        .map(|index| {
            load_file(&SourceFile {
                path: format!("jobs/job{index}.toml"),
                id: format!("job{index}"),
                content: SourceContent::Text(common::job_text(index, "* * * * * *")),
            })
            .expect("job")
        })
        .collect();
    // The deployed rows exist so cursor updates do real work.
    let rows: Vec<DeployedRow> = jobs
        .iter()
        .map(|job| DeployedRow {
            id: job.id.to_string(),
            file: job.file.clone(),
            source: String::new(),
            definition_hash: job.definition_hash().to_string(),
            commit_id: "bench".into(),
            deployed_at: Utc::now(),
            invalid_errors: Vec::new(),
            invalid_commit: None,
            cursor: None,
        })
        .collect();
    let deployment = backoffice::store::deployments::Deployment {
        id: 0,
        commit_id: "bench".into(),
        author: "bench".into(),
        message: "bench".into(),
        committed_at: Utc::now(),
        deployed_at: Utc::now(),
        outcome: backoffice::store::deployments::DeploymentOutcome::Applied,
        added: vec![],
        changed: vec![],
        removed: vec![],
        errors: vec![],
    };
    store
        .with(|c| backoffice::store::deployments::record(c, "bench", &deployment, &rows))
        .expect("deploy");
    let claimer = Claimer {
        store,
        handed: Arc::default(),
        committed: Arc::default(),
    };
    let mut scheduler = Scheduler::new(claimer.clone(), Clock::system());
    scheduler.deploy(
        jobs.into_iter()
            .map(|job| Deployed {
                job,
                commit: "bench".into(),
                cursor: None,
            })
            .collect(),
        Utc::now(),
    );
    let (_commands, queue) = tokio::sync::mpsc::channel(1);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(scheduler.run(queue, stopped));
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let _ = stop.send(true);
    let _ = task.await;
    let mut handed = claimer.handed.lock().expect("lock").clone();
    let mut committed = claimer.committed.lock().expect("lock").clone();
    let (h50, h99, hmax) = percentiles(&mut handed);
    let (c50, c99, cmax) = percentiles(&mut committed);
    println!(
        "  {count:>6} jobs: {:>7} firings | handed over p50 {} p99 {} max {} | row committed p50 {} p99 {} max {}",
        handed.len(),
        ms(h50),
        ms(h99),
        ms(hmax),
        ms(c50),
        ms(c99),
        ms(cmax)
    );
}
