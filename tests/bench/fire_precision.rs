//! Fire precision: how late each firing is against its scheduled instant, with 1, 1,000 and
//! 10,000 jobs firing every second (6-field cron) for 30 s, and APScheduler 3.11 with the
//! same workload in the same run (`tests/bench/peers/apscheduler_bench.py`, in the venv
//! `target/bench-venv` or `BENCH_PEER_PYTHON`), printed side by side.
//!
//! The production scheduler loop drives a dispatcher that does the runner's bookkeeping for
//! real: it claims every due occurrence in `runs.db` (one row each, a chunk per transaction,
//! then the cursors moved, then every run marked finished) but starts no executor, so the
//! figures are the scheduler's and the store's, not a model's. The jobs are deployed as a
//! deployment records them, from a 40-character commit id. Two latenesses per firing: when
//! the scheduler handed it over, and when its row was committed. `BENCH_TRACE=1` prints each firing's timeline: when each
//! chunk of claims committed, the cursors moved and the runs finished.

#[path = "common.rs"]
mod common;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backoffice::catalog::{SourceContent, SourceFile, load_file};
use backoffice::job::JobId;
use backoffice::runner::{Admission, Occurrence, claim_in_chunks, claim_row};
use backoffice::scheduler::{Clock, Deployed, Dispatch, Scheduler};
use backoffice::store::jobs::DeployedRow;
use backoffice::store::runs::{self, NewRun, RunFinish, RunStatus};
use backoffice::store::{Store, StoreError};
use backoffice::store::{claims, jobs};
use chrono::{DateTime, Utc};
use common::{ms, percentiles};

/// A commit id as git writes them: the run rows carry what production's do.
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Clone)]
struct Claimer {
    store: Store,
    owner: i64,
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
            rows.extend(batch.iter().map(|o| claim_row(o, this.owner, handed_at)));
            // As the runner does: a chunk per transaction, each firing's row committed with
            // its chunk, the cursors moved after the last.
            let mut ids = Vec::with_capacity(rows.len());
            let mut committed = Vec::with_capacity(rows.len());
            let started = Instant::now();
            let mut chunks = Vec::new();
            claim_in_chunks(&this.store, rows, |chunk| {
                ids.extend_from_slice(chunk);
                committed.resize(ids.len(), Utc::now());
                chunks.push(started.elapsed());
            })
            .await?;
            this.store
                .call(move |c| jobs::move_cursors(c, &cursors))
                .await?;
            let cursors_moved = started.elapsed();
            let late = |at: DateTime<Utc>, s: DateTime<Utc>| (at - s).to_std().unwrap_or_default();
            this.handed
                .lock()
                .expect("lock")
                .extend(scheduled.iter().map(|s| late(handed_at, *s)));
            this.committed.lock().expect("lock").extend(
                scheduled
                    .iter()
                    .zip(&committed[committed.len() - scheduled.len()..])
                    .map(|(s, at)| late(*at, *s)),
            );
            // Each run ends before its job's next firing, as a per-second job's must: the
            // rows leave the running index and enter the finished ones, as in production.
            let finished: Vec<i64> = ids.iter().flatten().copied().collect();
            this.store
                .call(move |c| {
                    let tx = c.transaction()?;
                    let end = RunFinish {
                        status: RunStatus::Succeeded,
                        finished_at: Utc::now(),
                        error: None,
                        result: None,
                        links: Vec::new(),
                        prompt_tokens: None,
                        completion_tokens: None,
                    };
                    for id in finished {
                        runs::finish(&tx, id, &end)?;
                    }
                    tx.commit()
                })
                .await?;
            if std::env::var_os("BENCH_TRACE").is_some() {
                let since = |d: &Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
                eprintln!(
                    "  {} late at hand-over; then in ms: chunks committed {}, cursors moved {}, runs finished {}",
                    ms(scheduled
                        .first()
                        .map_or(Duration::ZERO, |s| late(handed_at, *s))),
                    chunks.iter().map(since).collect::<Vec<_>>().join(" "),
                    since(&cursors_moved),
                    since(&started.elapsed()),
                );
            }
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
    // BENCH_JOBS=10000 measures one size alone, when working on it.
    let counts: Vec<usize> = std::env::var("BENCH_JOBS")
        .ok()
        .map(|list| {
            list.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![1, 1_000, 10_000]);
    let ours: Vec<Figures> = counts
        .into_iter()
        .map(|count| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(measure(count, seconds))
        })
        .collect();
    let peer = apscheduler(seconds);
    println!("\nside by side, lateness p50 / p99 ({seconds} s each, this machine, this run):");
    println!(
        "  {:>6}  {:>22}  {:>22}  {:>22}",
        "jobs", "APScheduler 3.11", "ours: handed over", "ours: row committed"
    );
    for figures in &ours {
        let theirs = peer
            .iter()
            .find(|(n, _, _)| *n == figures.count)
            .map_or("not measured".to_string(), |(_, p50, p99)| {
                format!("{p50:.3} / {p99:.3} ms")
            });
        println!(
            "  {:>6}  {theirs:>22}  {:>22}  {:>22}",
            figures.count,
            format!(
                "{:.3} / {:.3} ms",
                millis(figures.handed.0),
                millis(figures.handed.1)
            ),
            format!(
                "{:.3} / {:.3} ms",
                millis(figures.committed.0),
                millis(figures.committed.1)
            ),
        );
    }
}

/// Our p50 and p99 for one job count.
struct Figures {
    count: usize,
    handed: (Duration, Duration),
    committed: (Duration, Duration),
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// APScheduler's (jobs, p50 ms, p99 ms) for 1 and 1,000 jobs (10,000 is beyond it: at 1,000
/// it is already 0.2 s late), or nothing, after a loud note, when it is not installed.
fn apscheduler(seconds: u64) -> Vec<(usize, f64, f64)> {
    let Some(python) = common::peer_python() else {
        return Vec::new();
    };
    println!("APScheduler 3.11, same workload (CronTrigger(second='*'), lateness at job entry):");
    let seconds = seconds.to_string();
    let raw = common::apscheduler_report(
        &python,
        &[
            "--only",
            "precision",
            "--repeats",
            "1",
            "--precision-n",
            "1,1000",
            "--duration",
            &seconds,
        ],
    );
    common::report_figures(&raw, "precision", &["p50_ms", "p99_ms"])
        .into_iter()
        .map(|(n, figures)| (n, figures[0], figures[1]))
        .collect()
}

async fn measure(count: usize, seconds: u64) -> Figures {
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
            commit_id: COMMIT.into(),
            deployed_at: Utc::now(),
            invalid_errors: Vec::new(),
            invalid_commit: None,
            cursor: None,
        })
        .collect();
    let deployment = backoffice::store::deployments::Deployment {
        id: 0,
        commit_id: COMMIT.into(),
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
    let (placements, owner) = store
        .with(|c| {
            backoffice::store::deployments::record(c, "bench", &deployment, &rows)?;
            Ok((
                jobs::placements(c)?,
                claims::register_owner(c, "12345-0123456789abcdef")?,
            ))
        })
        .expect("deploy");
    let definitions: std::collections::HashMap<String, Option<claims::Definition>> = placements
        .into_iter()
        .map(|p| (p.id, p.definition))
        .collect();
    let claimer = Claimer {
        store,
        owner,
        handed: Arc::default(),
        committed: Arc::default(),
    };
    let mut scheduler = Scheduler::new(claimer.clone(), Clock::system());
    scheduler.deploy(
        jobs.into_iter()
            .map(|job| Deployed {
                definition: definitions[job.id.as_str()],
                job,
                commit: COMMIT.into(),
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
    Figures {
        count,
        handed: (h50, h99),
        committed: (c50, c99),
    }
}
