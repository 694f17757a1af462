//! Keeps the site current inside `serve`: after every run, after every sync, and once a
//! minute. Events arriving together (a burst of runs at 07:00, a push) are handled by one
//! regeneration. The generator reads `runs.db` through a connection of its own, so writing
//! pages never holds up the scheduler's claims.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::{Report, Site, SiteError};
use crate::runner::RunEvent;

/// How long to gather events after the first one before regenerating.
const COALESCE: Duration = Duration::from_millis(100);
/// Regenerate this often even when nothing happens.
const TICK: Duration = Duration::from_secs(60);

/// What happened since the last regeneration.
#[derive(Default)]
struct Pending {
    /// Everything is to be re-read (a deployment, or run events lost under load).
    everything: bool,
    /// Runs that started or ended, with their job.
    runs: BTreeSet<(String, i64)>,
}

impl Pending {
    fn note(&mut self, event: Result<RunEvent, broadcast::error::RecvError>) {
        match event {
            Ok(event) => {
                self.runs.insert((event.job_id, event.run_id));
            }
            Err(_) => self.everything = true,
        }
    }
}

/// Regenerates until `stop` turns true: everything first, then as events arrive.
///
/// The generator lives on a thread of its own, fed one piece of work at a time: pages are
/// built by one thread only, so the allocator reuses one arena instead of growing one per
/// blocking-pool thread that happened to render.
pub async fn keep_fresh(
    site: Site,
    conn: Connection,
    mut runs: broadcast::Receiver<RunEvent>,
    mut syncs: mpsc::UnboundedReceiver<()>,
    mut notices: mpsc::UnboundedReceiver<()>,
    mut stop: watch::Receiver<bool>,
) {
    let (work_queue, work) = std::sync::mpsc::channel::<(Work, oneshot::Sender<Outcome>)>();
    let spawned = std::thread::Builder::new()
        .name("site".into())
        .spawn(move || generate(site, conn, work));
    if let Err(error) = spawned {
        tracing::error!("cannot start the status site's generator: {error}");
        return;
    }
    let mut next = Work::Full;
    loop {
        let (reply, answer) = oneshot::channel();
        if work_queue.send((next, reply)).is_err() {
            return;
        }
        // Shutdown does not wait for a regeneration (a first one over a long history takes
        // a while); the thread ends with the process.
        let outcome = tokio::select! {
            _ = stop.changed() => return,
            outcome = answer => outcome,
        };
        match outcome {
            Ok(Ok(report)) => tracing::debug!(
                files = report.written,
                took = ?report.took,
                "status site updated"
            ),
            Ok(Err(error)) => tracing::error!("cannot update the status site: {error}"),
            Err(_) => return,
        }
        let mut pending = Pending::default();
        tokio::select! {
            _ = stop.changed() => return,
            event = runs.recv() => {
                if matches!(event, Err(broadcast::error::RecvError::Closed)) {
                    return;
                }
                pending.note(event);
            }
            Some(()) = syncs.recv() => pending.everything = true,
            // A notification was tried: the dashboard's list of failing ones is redrawn.
            Some(()) = notices.recv() => {}
            () = tokio::time::sleep(TICK) => {
                // A tick re-reads the success-rate windows; nothing else is pending.
            }
        }
        tokio::time::sleep(COALESCE).await;
        loop {
            match runs.try_recv() {
                Err(
                    broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed,
                ) => break,
                Err(broadcast::error::TryRecvError::Lagged(_)) => pending.everything = true,
                Ok(event) => pending.note(Ok(event)),
            }
        }
        while syncs.try_recv().is_ok() {
            pending.everything = true;
        }
        while notices.try_recv().is_ok() {}
        next = Work::Update(pending);
    }
}

/// One regeneration's work.
enum Work {
    /// Every page, from the databases.
    Full,
    /// What changed since the last one; a tick when nothing did.
    Update(Pending),
}

type Outcome = Result<Report, SiteError>;

/// The generator thread: does each piece of work and answers, until the daemon stops.
fn generate(
    mut site: Site,
    conn: Connection,
    work: std::sync::mpsc::Receiver<(Work, oneshot::Sender<Outcome>)>,
) {
    for (job, reply) in work {
        let now = Utc::now();
        let result = match job {
            Work::Full => site.generate_all(&conn, now),
            Work::Update(pending) => update(&mut site, &conn, pending, now),
        };
        let _ = reply.send(result);
        // Rendering a thousand pages allocates and frees a lot, which would otherwise keep
        // the daemon at its high-water mark for good.
        crate::memory::release_freed();
    }
}

fn update(site: &mut Site, conn: &Connection, pending: Pending, now: DateTime<Utc>) -> Outcome {
    let changed: Vec<(String, i64)> = pending.runs.into_iter().collect();
    if pending.everything {
        // A deployment re-reads every job; runs that ended meanwhile still need their pages
        // rewritten.
        let deployed = site.deployed(conn, now)?;
        if changed.is_empty() {
            return Ok(deployed);
        }
        let runs = site.runs_changed(conn, &changed, now)?;
        Ok(Report {
            written: deployed.written + runs.written,
            took: deployed.took + runs.took,
        })
    } else if changed.is_empty() {
        site.tick(conn, now)
    } else {
        site.runs_changed(conn, &changed, now)
    }
}
