//! Checkpoints of a database's write-ahead log, when this process's writers pause.
//!
//! SQLite's automatic checkpoint runs inside the commit that takes the log past 1,000 pages:
//! that writer copies the log into the database file and waits for both files to reach the
//! disk before its commit returns. Measured with 10,000 jobs firing every second, a claim of
//! 1,000 runs that commits in 3 ms took 18–28 ms when it did, and every run row of that second
//! waited behind it. A checkpoint on a connection of its own, beside the writers, was worse
//! (hand-overs up to 92 ms late): its copy and syncs shared two cores and one disk with them.
//!
//! So a commit only notes that the log is long. A short-lived thread then waits until the
//! connection has been left alone for [`QUIET`] (at most [`MAX_DELAY`]) and checkpoints on
//! it, holding it like any other user, so writes and the copy never overlap; the next writer
//! starts the log afresh. It is a passive checkpoint: other processes' readers and writers
//! are never blocked by it.

use std::sync::Weak;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::Inner;

/// Log pages after which a commit asks for a checkpoint: SQLite's own threshold.
pub(super) const CHECKPOINT_PAGES: i32 = 1_000;

/// How long the connection must be left alone to count as a pause.
const QUIET: Duration = Duration::from_millis(100);

/// The longest a checkpoint waits for a pause: with writers that never pause, the log is
/// still copied every few seconds and does not grow without end.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// How the connection is used, for finding pauses; one per [`super::Database`].
pub(super) struct Activity {
    /// Checkpoint thread started and not yet done.
    running: AtomicBool,
    /// Callers holding or waiting for the connection.
    users: AtomicUsize,
    /// When the last of them let go, in nanoseconds since `epoch`.
    released: AtomicU64,
    epoch: Instant,
}

impl Activity {
    pub(super) fn new() -> Activity {
        Activity {
            running: AtomicBool::new(false),
            users: AtomicUsize::new(0),
            released: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Marks the connection in use until the guard is dropped.
    pub(super) fn using(&self) -> InUse<'_> {
        self.users.fetch_add(1, Ordering::AcqRel);
        InUse(self)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// How long until the connection has been alone for [`QUIET`]; zero once it has.
    fn until_pause(&self) -> Duration {
        if self.users.load(Ordering::Acquire) > 0 {
            return QUIET;
        }
        let alone = self
            .now()
            .saturating_sub(self.released.load(Ordering::Acquire));
        QUIET.saturating_sub(Duration::from_nanos(alone))
    }
}

/// A caller of the connection, from before it waits for the lock until after it lets go.
pub(super) struct InUse<'a>(&'a Activity);

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        self.0.released.store(self.0.now(), Ordering::Release);
        self.0.users.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Called after each commit of `database` with the pages now in its log: past the threshold,
/// starts a checkpoint unless one is on its way.
pub(super) fn committed(database: &Weak<Inner>, pages: i32) {
    if pages < CHECKPOINT_PAGES {
        return;
    }
    let Some(inner) = database.upgrade() else {
        return;
    };
    if inner.activity.running.swap(true, Ordering::AcqRel) {
        return;
    }
    let database = Weak::clone(database);
    let spawned = std::thread::Builder::new()
        .name("checkpoint".into())
        .spawn(move || checkpoint_at_pause(&database));
    if let Err(error) = spawned {
        tracing::warn!("cannot start a checkpoint thread: {error}");
        inner.activity.running.store(false, Ordering::Release);
    }
}

fn checkpoint_at_pause(database: &Weak<Inner>) {
    let started = Instant::now();
    loop {
        // Not kept alive while waiting: a database dropped meanwhile is checkpointed by
        // SQLite as its connection closes.
        let Some(inner) = database.upgrade() else {
            return;
        };
        let wait = inner.activity.until_pause();
        if wait.is_zero() || started.elapsed() >= MAX_DELAY {
            let outcome = {
                let _use = inner.activity.using();
                let conn = inner
                    .conn
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            };
            if let Err(error) = outcome {
                tracing::warn!(
                    "cannot checkpoint {}: {error}; it is tried again after a later commit",
                    inner.path.display()
                );
            }
            inner.activity.running.store(false, Ordering::Release);
            return;
        }
        drop(inner);
        std::thread::sleep(wait);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use crate::sqlite::Database;

    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    /// Waits up to 10 s for `path` to reach `bytes`.
    fn grows_to(path: &Path, bytes: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if size(path) >= bytes {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn a_long_log_is_copied_into_the_database_after_the_commit_and_then_written_from_its_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let wal = dir.path().join("t.db-wal");
        let db = Database::open(
            &path,
            Duration::from_secs(5),
            &["CREATE TABLE blobs (b BLOB NOT NULL)"],
        )
        .expect("open");
        // 5 MB in one commit: 1,280 pages of 4 KB, past the threshold.
        let write = || {
            db.with(|c| {
                let tx = c.transaction()?;
                for _ in 0..80 {
                    tx.execute("INSERT INTO blobs VALUES (zeroblob(65536))", [])?;
                }
                tx.commit()
            })
            .expect("write");
        };
        write();
        // The commit left the copy for later: the pages are in the log only.
        assert!(
            size(&path) < 1 << 20,
            "the commit copied the log itself: the database file is {} bytes",
            size(&path)
        );
        assert!(
            grows_to(&path, 5 << 20),
            "no checkpoint: the database file is {} bytes",
            size(&path)
        );
        write();
        assert!(grows_to(&path, 10 << 20), "no second checkpoint");
        // The second commit found the first log copied and wrote over it.
        assert!(
            size(&wal) < 8 << 20,
            "the log kept growing: {} bytes",
            size(&wal)
        );
    }
}
