//! The daemon's control socket, `state/backoffice.sock`: how `backoffice run` asks a running
//! daemon to run a job now, and hears how it went. One JSON request line, then JSON reply
//! lines. A Unix socket in the state folder: only users who can write the state can use it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::runner::{Admission, RunEvent, Runner};
use crate::scheduler::Command;

/// The socket's file name in the state folder.
pub const SOCKET: &str = "backoffice.sock";
/// Longest request line accepted.
const MAX_REQUEST: u64 = 64 * 1024;

/// "Run this job now."
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRequest {
    pub job: String,
    pub force: bool,
    /// Keep the connection open and report each attempt until the last.
    pub wait: bool,
}

/// One reply line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Admitted { admission: Admission },
    Rejected { error: String },
    Event { event: RunEvent },
}

/// The socket path for a state folder.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET)
}

/// How long a request waits for the daemon's first sync before it is answered anyway.
const FIRST_SYNC_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Accepts requests until `stop` turns true. `synced` turns true once the first sync has
/// handed its jobs to the scheduler: a `backoffice run` sent right after `serve` started
/// waits for it instead of being told the job is not deployed.
pub async fn serve(
    listener: UnixListener,
    commands: mpsc::Sender<Command>,
    runner: Runner,
    synced: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let commands = commands.clone();
                let runner = runner.clone();
                let mut synced = synced.clone();
                tokio::spawn(async move {
                    // The first deploy is queued before `synced` turns true, so the run
                    // request below reaches the scheduler after it.
                    let _ =
                        tokio::time::timeout(FIRST_SYNC_WAIT, synced.wait_for(|done| *done)).await;
                    if let Err(error) = handle(stream, commands, runner).await {
                        tracing::debug!("control connection ended: {error}");
                    }
                });
            }
            Err(error) => tracing::warn!("control socket: {error}"),
        }
    }
}

async fn handle(
    stream: tokio::net::UnixStream,
    commands: mpsc::Sender<Command>,
    runner: Runner,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    tokio::io::AsyncReadExt::take(tokio::io::BufReader::new(read), MAX_REQUEST)
        .read_line(&mut line)
        .await?;
    let request: RunRequest = match serde_json::from_str(&line) {
        Ok(request) => request,
        Err(error) => {
            return send(
                &mut write,
                &Reply::Rejected {
                    error: format!("bad request: {error}"),
                },
            )
            .await;
        }
    };
    // Subscribe first so a fast run's events are not missed.
    let mut events = runner.subscribe();
    let (reply, answer) = oneshot::channel();
    let sent = commands
        .send(Command::RunNow {
            job: request.job.clone(),
            force: request.force,
            reply,
        })
        .await;
    let admission = match sent {
        Ok(()) => answer
            .await
            .unwrap_or_else(|_| Err("the daemon is shutting down".into())),
        Err(_) => Err("the daemon is shutting down".into()),
    };
    let admission = match admission {
        Ok(admission) => admission,
        Err(error) => return send(&mut write, &Reply::Rejected { error }).await,
    };
    send(&mut write, &Reply::Admitted { admission }).await?;
    let Admission::Started(chain) = admission else {
        return Ok(());
    };
    if !request.wait {
        return Ok(());
    }
    loop {
        match events.recv().await {
            Ok(event) if event.chain == chain => {
                let last = event.last;
                send(&mut write, &Reply::Event { event }).await?;
                if last {
                    return Ok(());
                }
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
        }
    }
}

async fn send(write: &mut tokio::net::unix::OwnedWriteHalf, reply: &Reply) -> std::io::Result<()> {
    let mut line = serde_json::to_string(reply).map_err(std::io::Error::other)?;
    line.push('\n');
    write.write_all(line.as_bytes()).await
}

/// A connection to a running daemon, from the command line.
pub struct Client {
    reader: BufReader<UnixStream>,
}

impl Client {
    /// Connects to the daemon of `state_dir`; `None` when no daemon is listening.
    pub fn connect(state_dir: &Path) -> Option<Client> {
        UnixStream::connect(socket_path(state_dir))
            .ok()
            .map(|stream| Client {
                reader: BufReader::new(stream),
            })
    }

    /// Sends a request.
    pub fn send(&mut self, request: &RunRequest) -> std::io::Result<()> {
        let mut line = serde_json::to_string(request).map_err(std::io::Error::other)?;
        line.push('\n');
        self.reader.get_mut().write_all(line.as_bytes())
    }

    /// The next reply, or `None` when the daemon closed the connection.
    pub fn next_reply(&mut self) -> std::io::Result<Option<Reply>> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        serde_json::from_str(&line)
            .map(Some)
            .map_err(std::io::Error::other)
    }
}
