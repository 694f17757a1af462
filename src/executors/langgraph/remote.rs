//! A remote run while we wait for it: recorded on our run, cancelled when we stop waiting
//! (its `Drop`), and after a crash on the next start.

use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::connectors::Connectors;
use crate::connectors::langgraph::{LangGraph, RemoteRun};
use crate::store::{Store, langgraph as records};

/// Time a cancel may take after the run's own time is up.
const CANCEL_TIME: Duration = Duration::from_secs(10);

/// Cancels sent from `Drop`, awaited by [`settle`] before the process exits.
static CANCELLING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// A remote run while we wait for it: recorded on our run, cancelled if we stop waiting.
pub(super) struct Remote {
    client: LangGraph,
    run: RemoteRun,
    store: Store,
    run_id: i64,
    server: String,
    settled: bool,
}

impl Remote {
    pub(super) fn new(
        client: LangGraph,
        run: RemoteRun,
        store: Store,
        run_id: i64,
        server: &str,
    ) -> Remote {
        Remote {
            client,
            run,
            store,
            run_id,
            server: server.to_string(),
            settled: false,
        }
    }

    pub(super) async fn record(&self) {
        let (run_id, server, thread, remote) = (
            self.run_id,
            self.server.clone(),
            self.run.thread_id.clone(),
            self.run.run_id.clone(),
        );
        if let Err(error) = self
            .store
            .call(move |conn| records::record_run(conn, run_id, &server, &thread, &remote))
            .await
        {
            tracing::warn!(
                run = run_id,
                "cannot record the LangGraph run in runs.db: {error}"
            );
        }
    }

    pub(super) async fn finished(mut self) {
        self.settled = true;
        let run_id = self.run_id;
        let _ = self
            .store
            .call(move |conn| records::mark_done(conn, run_id))
            .await;
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.client.with_deadline(Instant::now() + CANCEL_TIME);
        let (thread, run, store, run_id) = (
            self.run.thread_id.clone(),
            self.run.run_id.clone(),
            self.store.clone(),
            self.run_id,
        );
        let handle = runtime.spawn(async move {
            match client.cancel(&thread, &run).await {
                Ok(()) => {
                    tracing::info!(
                        run = run_id,
                        "cancelled LangGraph run {run} on thread {thread}"
                    );
                    let _ = store
                        .call(move |conn| records::mark_done(conn, run_id))
                        .await;
                }
                Err(error) => {
                    tracing::warn!(run = run_id, "cannot cancel LangGraph run {run}: {error}")
                }
            }
        });
        let mut pending = CANCELLING.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|h| !h.is_finished());
        pending.push(handle);
    }
}

/// Waits (at most `limit`) for the cancels sent while runs were being cut off.
pub async fn settle(limit: Duration) {
    let handles: Vec<JoinHandle<()>> =
        std::mem::take(&mut *CANCELLING.lock().unwrap_or_else(|p| p.into_inner()));
    let _ = tokio::time::timeout(limit, async {
        for handle in handles {
            let _ = handle.await;
        }
    })
    .await;
}

/// Cancels the remote runs of `runs` (ours, interrupted by a crash) that never ended.
pub async fn cancel_orphans(connectors: &Connectors, store: &Store, runs: Vec<i64>) {
    if runs.is_empty() {
        return;
    }
    let open = match store
        .call(move |conn| records::open_among(conn, &runs))
        .await
    {
        Ok(open) => open,
        Err(error) => {
            tracing::warn!("cannot read LangGraph runs from runs.db: {error}");
            return;
        }
    };
    let default = &connectors.langgraph.default_url;
    for (run_id, server, thread, remote) in open {
        // Stored redacted: the default server's real URL is the one with its credentials.
        let url = if server == crate::connectors::redact_url(default) {
            default.as_str()
        } else {
            server.as_str()
        };
        let client = LangGraph::new(
            &connectors.http,
            url,
            connectors.langgraph.api_key.as_ref(),
            Instant::now() + CANCEL_TIME,
        );
        match client.cancel(&thread, &remote).await {
            Ok(()) => tracing::warn!(
                run = run_id,
                "cancelled LangGraph run {remote} left running by a crash"
            ),
            Err(error) => tracing::warn!(
                run = run_id,
                "cannot cancel LangGraph run {remote} left by a crash: {error}"
            ),
        }
        let _ = store
            .call(move |conn| records::mark_done(conn, run_id))
            .await;
    }
}
