//! Versioned schema migrations, tracked in `PRAGMA user_version`. Append only: a released
//! migration is never edited, a new one is added at the end.

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the GitOps spine.
    "
    CREATE TABLE deployed_jobs (
        id              TEXT PRIMARY KEY,
        file            TEXT NOT NULL,
        source          TEXT NOT NULL,   -- text of the deployed (last good) version
        definition_hash TEXT NOT NULL,
        commit_id       TEXT NOT NULL,
        deployed_at     INTEGER NOT NULL,
        invalid_errors  TEXT,            -- JSON errors while the file in git is invalid
        invalid_commit  TEXT,
        cursor          INTEGER          -- last occurrence handled, µs UTC
    );
    CREATE TABLE deployments (
        id            INTEGER PRIMARY KEY,
        commit_id     TEXT NOT NULL,
        author        TEXT NOT NULL,
        message       TEXT NOT NULL,
        committed_at  INTEGER NOT NULL,
        deployed_at   INTEGER NOT NULL,
        outcome       TEXT NOT NULL,     -- applied | held | failed
        added         TEXT NOT NULL,
        changed       TEXT NOT NULL,
        removed       TEXT NOT NULL,
        errors        TEXT NOT NULL
    );
    CREATE TABLE sync_state (
        id               INTEGER PRIMARY KEY CHECK (id = 1),
        source           TEXT NOT NULL,
        applied_commit   TEXT,
        applied_at       INTEGER,
        attempted_commit TEXT,
        attempted_at     INTEGER,
        attempt_error    TEXT,
        last_fetch_at    INTEGER
    );
    CREATE TABLE runs (
        id                INTEGER PRIMARY KEY,
        job_id            TEXT NOT NULL,
        trigger           TEXT NOT NULL,
        scheduled_for     INTEGER NOT NULL,
        attempt           INTEGER NOT NULL,
        status            TEXT NOT NULL,
        started_at        INTEGER,
        finished_at       INTEGER,
        duration_ms       INTEGER,
        error             TEXT,
        result            TEXT,
        links             TEXT NOT NULL DEFAULT '[]',
        commit_id         TEXT,
        definition_hash   TEXT,
        owner             TEXT,
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        UNIQUE (job_id, scheduled_for, attempt)
    );
    CREATE INDEX runs_by_job ON runs (job_id, id DESC);
    CREATE INDEX runs_running ON runs (status) WHERE status = 'running';
    ",
    // 2: the status site counts outcomes per job and for the last day by finish time (status
    // in the index, so counting never visits the rows), and the feed reads failures newest
    // first.
    "
    CREATE INDEX runs_by_job_finish ON runs (job_id, finished_at, status);
    CREATE INDEX runs_by_finish ON runs (finished_at, status);
    CREATE INDEX runs_failures ON runs (finished_at)
        WHERE status IN ('failed', 'timed_out', 'interrupted');
    ",
];
