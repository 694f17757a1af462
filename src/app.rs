//! `backoffice serve`: the composition root. Opens the state, recovers from a crash, starts
//! the scheduler, the sync loop and the control socket, and shuts them down in order.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};

use crate::connectors::Connectors;
use crate::control;
use crate::owner::{self, OwnerLock};
use crate::runner::Runner;
use crate::scheduler::{Clock, Command, Scheduler};
use crate::site::server::SiteServer;
use crate::site::{Site, live};
use crate::store::{Store, claims, runs};
use crate::sync::{Source, SyncError, Syncer};
use crate::watch::watch_refs;

/// After a ref-change event, wait this long for the rest of a burst (a push writes several
/// files) before reading the ref.
pub const DEBOUNCE: Duration = Duration::from_millis(10);
/// In local mode, look at the ref this often even without events (a missed inotify event,
/// a network file system).
const SAFETY_POLL: Duration = Duration::from_secs(30);

/// How `serve` was asked to run.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub state_dir: PathBuf,
    pub source: Source,
    /// Fetch interval in remote mode.
    pub poll: Duration,
    pub allow_empty: bool,
    /// How long running jobs get to finish on shutdown.
    pub grace: Duration,
    /// Where the status site is served; `None` only writes it.
    pub listen: Option<String>,
    /// Names besides loopback and the listen address that `Host` may carry (a proxy's).
    pub allow_hosts: Vec<String>,
    /// The user's own site templates.
    pub templates: Option<PathBuf>,
    /// Where to serve the Context Registry over MCP Streamable HTTP, if anywhere.
    pub mcp_listen: Option<SocketAddr>,
    /// The site's address as people reach it, for links in notifications.
    pub public_url: Option<String>,
    /// How much of the registry the site shows.
    pub site_registry: crate::cli::SiteRegistry,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot use state folder {path}: {source}")]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another `backoffice serve` is already using {path}{pid}; stop it or pass another --state"
    )]
    AlreadyRunning { path: PathBuf, pid: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Site(#[from] crate::site::SiteError),
    #[error(transparent)]
    SiteServer(#[from] crate::site::server::ServerError),
    #[error(transparent)]
    McpHttp(#[from] crate::registry::http::HttpError),
    #[error("cannot listen on {path}: {source}")]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The exclusive lock that makes one daemon per state folder.
pub struct DaemonLock {
    _file: File,
}

/// Takes the daemon lock of `state_dir`, writing our pid into it.
pub fn lock_daemon(state_dir: &Path) -> Result<DaemonLock, ServeError> {
    let path = state_dir.join("daemon.lock");
    let state_error = |source| ServeError::State {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(state_error)?;
    if file.try_lock().is_err() {
        return Err(ServeError::AlreadyRunning {
            path: state_dir.to_path_buf(),
            pid: daemon_pid(state_dir).map_or(String::new(), |pid| format!(" (pid {pid})")),
        });
    }
    file.set_len(0).map_err(state_error)?;
    write!(file, "{}", std::process::id()).map_err(state_error)?;
    Ok(DaemonLock { _file: file })
}

/// The pid of the daemon using `state_dir`, when one is running.
pub fn daemon_pid(state_dir: &Path) -> Option<u32> {
    let path = state_dir.join("daemon.lock");
    let file = File::open(&path).ok()?;
    if file.try_lock().is_ok() {
        return None;
    }
    std::fs::read_to_string(&path).ok()?.trim().parse().ok()
}

/// Runs the daemon until `shutdown` completes.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let state = options.state_dir.clone();
    std::fs::create_dir_all(&state).map_err(|source| ServeError::State {
        path: state.clone(),
        source,
    })?;
    let _daemon = lock_daemon(&state)?;
    let store = Store::open(&state.join("runs.db"))?;
    let owner = OwnerLock::acquire(&state).map_err(|source| ServeError::State {
        path: state.join("owners"),
        source,
    })?;
    let (recovered, owner_number) = {
        let state = state.clone();
        store.with(|conn| {
            Ok((
                runs::interrupt_orphans(conn, |token| owner::is_alive(&state, token))?,
                claims::register_owner(conn, owner.token())?,
            ))
        })?
    };
    for run in &recovered {
        tracing::warn!(job = %run.job_id, run = run.id, "marked interrupted: its process stopped before it finished");
    }
    let connectors = Arc::new(Connectors::from_env());
    // A crash left these runs' remote LangGraph runs going (they would block the server's
    // queue): cancel them, in the background.
    {
        let (connectors, store) = (Arc::clone(&connectors), store.clone());
        let ids: Vec<i64> = recovered.iter().map(|r| r.id).collect();
        tokio::spawn(async move {
            crate::executors::langgraph::cancel_orphans(&connectors, &store, ids).await;
        });
    }
    let runner = Runner::new(store.clone(), Arc::clone(&connectors), owner_number);

    let mut syncer = {
        let (source, state, store, allow_empty) = (
            options.source.clone(),
            state.clone(),
            store.clone(),
            options.allow_empty,
        );
        blocking(move || Syncer::open(&source, &state, store, allow_empty)).await?
    };
    let deployed = syncer.load_deployed()?;
    // Told after each delivery attempt: the dashboard shows failing notifications.
    let (noticed, notices) = mpsc::unbounded_channel();
    let (notifier, notifying) = crate::notify::start(crate::notify::Setup {
        store: store.clone(),
        connectors,
        defaults: syncer.defaults(),
        public_url: options.public_url.clone(),
        changed: noticed,
    });
    runner.notify_through(notifier.clone());
    let mut scheduler = Scheduler::new(runner.clone(), Clock::system());
    scheduler.deploy(deployed, Utc::now());

    // Before any task starts, so a taken port fails `serve` with nothing to undo.
    let mcp_http =
        crate::registry::http::start_in(&state, options.mcp_listen, &options.allow_hosts).await?;
    let (commands, command_queue) = mpsc::channel(256);
    let (stop, stopped) = watch::channel(false);
    let scheduling = tokio::spawn(scheduler.run(command_queue, stopped.clone()));

    let socket = control::socket_path(&state);
    let _ = std::fs::remove_file(&socket);
    let listener =
        tokio::net::UnixListener::bind(&socket).map_err(|source| ServeError::Socket {
            path: socket.clone(),
            source,
        })?;
    let (first_synced, first_sync) = watch::channel(false);
    let controlling = tokio::spawn(control::serve(
        listener,
        commands.clone(),
        runner.clone(),
        first_sync,
        stopped.clone(),
    ));

    let watch_dir = syncer.watch_dir();
    let poll = if watch_dir.is_some() {
        SAFETY_POLL
    } else {
        options.poll
    };
    tracing::info!(
        "serving jobs from {}; state in {}",
        syncer.label(),
        state.display()
    );
    let site_dir = state.join("site");
    let mut site = Site::new(
        &site_dir,
        options.templates.as_deref(),
        &crate::registry::path_in(&state),
    )?;
    site.show_registry_titles(options.site_registry == crate::cli::SiteRegistry::Titles);
    let (synced, syncs) = mpsc::unbounded_channel();
    let refreshing = tokio::spawn(live::keep_fresh(
        site,
        store.reader()?,
        runner.subscribe(),
        syncs,
        notices,
        stopped.clone(),
    ));
    let http = match &options.listen {
        Some(addr) => {
            let server = SiteServer::start(addr, &site_dir, &options.allow_hosts)?;
            tracing::info!("status site: http://{}/", server.addr());
            Some(server)
        }
        None => {
            tracing::info!("status site written to {}", site_dir.display());
            None
        }
    };
    let syncing = tokio::spawn(sync_loop(
        syncer,
        watch_dir,
        poll,
        commands,
        Synced {
            site: synced,
            first: first_synced,
        },
        stopped,
    ));

    shutdown.await;
    tracing::info!("shutting down: no new runs start");
    let _ = stop.send(true);
    let _ = tokio::join!(scheduling, controlling, syncing, refreshing);
    if let Some(server) = mcp_http {
        server.stop().await;
    }
    let active = runner.active();
    if active > 0 {
        tracing::info!(
            "waiting up to {:?} for {active} running job(s)",
            options.grace
        );
    }
    let cut = runner.shutdown(options.grace).await;
    if cut > 0 {
        tracing::warn!("{cut} run(s) cut off after the grace period; recorded as cancelled");
    }
    crate::executors::langgraph::settle(Duration::from_secs(10)).await;
    // The last runs' messages are recorded and tried once; what still retries is sent on
    // the next start.
    notifier.flush(Duration::from_secs(10)).await;
    notifying.abort();
    if let Some(server) = http {
        server.stop();
    }
    let _ = std::fs::remove_file(&socket);
    drop(owner);
    Ok(())
}

/// Whom the sync loop tells that a sync happened.
struct Synced {
    /// The site generator, after every sync.
    site: mpsc::UnboundedSender<()>,
    /// The control socket, once: the first sync's jobs are in the scheduler's queue.
    first: watch::Sender<bool>,
}

async fn sync_loop(
    mut syncer: Syncer,
    watch_dir: Option<PathBuf>,
    poll: Duration,
    commands: mpsc::Sender<Command>,
    synced: Synced,
    mut stop: watch::Receiver<bool>,
) {
    let (changed, mut changes) = mpsc::unbounded_channel();
    let _watcher = watch_dir.and_then(|dir| match watch_refs(&dir, changed) {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::warn!(
                "cannot watch {} ({error}); checking every {poll:?} instead",
                dir.display()
            );
            None
        }
    });
    loop {
        let (returned, result) = blocking(move || {
            let result = syncer.sync();
            (syncer, result)
        })
        .await;
        syncer = returned;
        match result {
            Ok(Some(set)) => {
                if commands.send(Command::Deploy(set)).await.is_err() {
                    break;
                }
            }
            Ok(None) => {}
            Err(error) => tracing::error!("sync failed, the deployed jobs keep running: {error}"),
        }
        synced.first.send_replace(true);
        // The site shows the sync state whatever happened (a held commit, a fetch time).
        let _ = synced.site.send(());
        tokio::select! {
            _ = stop.changed() => break,
            Some(()) = changes.recv() => {
                tokio::time::sleep(DEBOUNCE).await;
                while changes.try_recv().is_ok() {}
            }
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// Runs blocking work (git2, SQLite) off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed by this call, not at
/// the future's first poll: a SIGTERM arriving while serve is still starting (a service
/// manager stopping it right after a start) is then a clean shutdown, not the default kill.
/// Call it inside the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (terminate, interrupt) {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            (Ok(mut only), Err(_)) | (Err(_), Ok(mut only)) => {
                only.recv().await;
            }
            (Err(_), Err(_)) => std::future::pending::<()>().await,
        }
    }
}
