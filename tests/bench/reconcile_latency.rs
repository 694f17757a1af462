//! Reconcile latency: from a `git push` into the watched bare repository to the new schedule
//! being live, with 100 and 10,000 job files. The same path as `serve`: notify on the git
//! folder, the same debounce, `Syncer::sync` (read the tree, parse changed blobs, plan, record
//! the deployment in SQLite) and `Scheduler::deploy`.

#[path = "common.rs"]
mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use backoffice::runner::{Admission, Occurrence};
use backoffice::scheduler::{Clock, Dispatch, Scheduler};
use backoffice::store::runs::NewRun;
use backoffice::store::{Store, StoreError};
use backoffice::sync::{Source, Syncer};
use chrono::{DateTime, Utc};
use common::{git, job_text, ms, percentiles, repo_with_jobs};

struct Idle;

impl Dispatch for Idle {
    fn submit(
        &self,
        _: Vec<Occurrence>,
        _: Vec<NewRun>,
        _: Vec<(backoffice::job::JobId, DateTime<Utc>)>,
        _: bool,
    ) -> impl Future<Output = Result<Vec<Admission>, StoreError>> + Send {
        std::future::ready(Ok(Vec::new()))
    }
}

fn main() {
    let rounds = 10;
    println!(
        "reconcile latency: push of a one-file change until the new schedule is live ({rounds} pushes each)"
    );
    for count in [100usize, 10_000] {
        measure(count, rounds);
    }
}

fn measure(count: usize, rounds: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (work, bare) = repo_with_jobs(dir.path(), count, "0 7 * * *");
    let state = dir.path().join("state");
    let store = Store::open(&state.join("runs.db")).expect("store");
    let source = Source::Local {
        path: bare.clone(),
        branch: Some("main".into()),
    };
    let mut syncer = Syncer::open(&source, &state, store, false).expect("syncer");
    syncer.load_deployed().expect("load");
    let began = Instant::now();
    let first = syncer.sync().expect("first sync").expect("deployed");
    let initial = began.elapsed();
    let mut scheduler = Scheduler::new(Idle, Clock::system());
    scheduler.deploy(first, Utc::now());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let (changed, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let _watcher = backoffice::watch::watch_refs(&bare, changed).expect("watch");
    let mut from_event = Vec::new();
    let mut from_push = Vec::new();
    for round in 0..rounds {
        let file = work.join("jobs/group000/job00000.toml");
        std::fs::write(&file, job_text(0, &format!("{} 7 * * *", round + 1))).expect("write");
        git(&work, &["commit", "-q", "-am", &format!("round {round}")]);
        runtime.block_on(async { while changes.try_recv().is_ok() {} });
        let push_started = Instant::now();
        let work_dir = work.clone();
        let pusher = std::thread::spawn(move || git(&work_dir, &["push", "-q", "origin", "main"]));
        let live = runtime.block_on(async {
            loop {
                changes.recv().await.expect("event");
                let event_at = Instant::now();
                tokio::time::sleep(backoffice::app::DEBOUNCE).await;
                while changes.try_recv().is_ok() {}
                if let Some(set) = syncer.sync().expect("sync") {
                    scheduler.deploy(set, Utc::now());
                    return (event_at, Instant::now());
                }
            }
        });
        pusher.join().expect("push");
        from_event.push(live.1 - live.0);
        from_push.push(live.1 - push_started);
    }
    let (e50, e99, emax) = percentiles(&mut from_event);
    let (p50, _, pmax) = percentiles(&mut from_push);
    println!(
        "  {count:>6} files: first deploy {} | ref event → live p50 {} max {} (p99 {}) | push started → live p50 {} max {}",
        ms(initial),
        ms(e50),
        ms(emax),
        ms(e99),
        ms(p50),
        ms(pmax)
    );
    let _ = Duration::ZERO;
}
