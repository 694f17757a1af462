//! Keeps the site current inside `serve`: after every run, after every sync, and once a
//! minute. Events arriving together (a burst of runs at 07:00, a push) are handled by one
//! regeneration. The generator reads `runs.db` through a connection of its own, so writing
//! pages never holds up the scheduler's claims.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use rusqlite::Connection;
use tokio::sync::{broadcast, mpsc, watch};

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
pub async fn keep_fresh(
    site: Site,
    conn: Connection,
    mut runs: broadcast::Receiver<RunEvent>,
    mut syncs: mpsc::UnboundedReceiver<()>,
    mut stop: watch::Receiver<bool>,
) {
    let mut generator = Some((site, conn));
    let mut pending = Pending {
        everything: true,
        runs: BTreeSet::new(),
    };
    let mut first = true;
    loop {
        if let Some((site, conn)) = generator.take() {
            let work = std::mem::take(&mut pending);
            let full = first;
            first = false;
            let (site, conn, result) = regenerate(site, conn, work, full).await;
            match result {
                Ok(report) => tracing::debug!(
                    files = report.written,
                    took = ?report.took,
                    "status site updated"
                ),
                Err(error) => tracing::error!("cannot update the status site: {error}"),
            }
            generator = Some((site, conn));
        }
        tokio::select! {
            _ = stop.changed() => return,
            event = runs.recv() => {
                if matches!(event, Err(broadcast::error::RecvError::Closed)) {
                    return;
                }
                pending.note(event);
            }
            Some(()) = syncs.recv() => pending.everything = true,
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
    }
}

/// One regeneration off the async threads; a tick when `work` is empty.
async fn regenerate(
    mut site: Site,
    conn: Connection,
    work: Pending,
    full: bool,
) -> (Site, Connection, Result<Report, SiteError>) {
    let outcome = tokio::task::spawn_blocking(move || {
        let now = Utc::now();
        let changed: Vec<(String, i64)> = work.runs.into_iter().collect();
        let result = if full {
            site.generate_all(&conn, now)
        } else if work.everything {
            // A deployment re-reads every job; runs that ended meanwhile still need their
            // pages rewritten.
            site.deployed(&conn, now).and_then(|deployed| {
                if changed.is_empty() {
                    return Ok(deployed);
                }
                let runs = site.runs_changed(&conn, &changed, now)?;
                Ok(Report {
                    written: deployed.written + runs.written,
                    took: deployed.took + runs.took,
                })
            })
        } else if changed.is_empty() {
            site.tick(&conn, now)
        } else {
            site.runs_changed(&conn, &changed, now)
        };
        (site, conn, result)
    })
    .await;
    match outcome {
        Ok(done) => done,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}
