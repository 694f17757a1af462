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
    // 3: claiming 10,000 firings of one instant touches only b-trees that grow in time
    // order. The uniqueness of an occurrence is keyed time first (all of one instant's
    // claims land side by side instead of in 10,000 places), and the per-job and
    // by-finish indexes take a row when it finishes, not when it is claimed: a run row has
    // `finished_at` NULL exactly while it is running, and those few rows have their own
    // small index. Measured on 10,000 claims into 300,000 rows: 210 ms before, 30 ms after.
    // SQLite cannot change a table's UNIQUE constraint in place, so the table is rebuilt.
    "
    CREATE TABLE runs_new (
        id                INTEGER PRIMARY KEY,
        job_id            TEXT NOT NULL,
        trigger           TEXT NOT NULL,
        scheduled_for     INTEGER NOT NULL,
        attempt           INTEGER NOT NULL,
        status            TEXT NOT NULL,
        started_at        INTEGER,
        finished_at       INTEGER,        -- NULL exactly while the run is running
        duration_ms       INTEGER,
        error             TEXT,
        result            TEXT,
        links             TEXT NOT NULL DEFAULT '[]',
        commit_id         TEXT,
        definition_hash   TEXT,
        owner             TEXT,
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        UNIQUE (scheduled_for, job_id, attempt)
    );
    INSERT INTO runs_new SELECT id, job_id, trigger, scheduled_for, attempt, status, started_at,
        finished_at, duration_ms, error, result, links, commit_id, definition_hash, owner,
        prompt_tokens, completion_tokens FROM runs;
    DROP TABLE runs;
    ALTER TABLE runs_new RENAME TO runs;
    CREATE INDEX runs_running ON runs (job_id, id) WHERE finished_at IS NULL;
    CREATE INDEX runs_by_job ON runs (job_id, id) WHERE finished_at IS NOT NULL;
    CREATE INDEX runs_by_job_finish ON runs (job_id, finished_at, status)
        WHERE finished_at IS NOT NULL;
    CREATE INDEX runs_by_finish ON runs (finished_at, status) WHERE finished_at IS NOT NULL;
    -- `finished_at` first: SQLite evaluates an IN list through a temporary table built per
    -- statement, which cost every claim 1.5 µs although a running row never matches.
    CREATE INDEX runs_failures ON runs (finished_at)
        WHERE finished_at IS NOT NULL AND status IN ('failed', 'timed_out', 'interrupted');
    ",
    // 4: the Daily Briefing. Each briefing run keeps its record (sections, source health,
    // figures) and the items it was made from, so `briefing --replay` needs no outside API;
    // the ledger holds what each job has briefed (written only after a publish succeeded);
    // a job's page of the day is kept so a retry or a second run updates it.
    "
    CREATE TABLE briefings (
        run_id       INTEGER PRIMARY KEY,
        job_id       TEXT NOT NULL,
        window_start INTEGER NOT NULL,
        window_end   INTEGER NOT NULL,
        published    INTEGER NOT NULL DEFAULT 0,
        record       TEXT NOT NULL,   -- JSON: the briefing as published
        items        TEXT NOT NULL    -- JSON: the items, as `content` allowed them
    );
    CREATE INDEX briefings_published ON briefings (job_id, window_end) WHERE published = 1;
    CREATE TABLE briefing_ledger (
        job_id     TEXT NOT NULL,
        item_id    TEXT NOT NULL,
        version    TEXT NOT NULL,
        briefed_at INTEGER NOT NULL,
        PRIMARY KEY (job_id, item_id)
    ) WITHOUT ROWID;
    CREATE TABLE briefing_pages (
        job_id  TEXT NOT NULL,
        day     TEXT NOT NULL,
        page_id TEXT NOT NULL,
        url     TEXT NOT NULL,
        PRIMARY KEY (job_id, day)
    ) WITHOUT ROWID;
    ",
    // 5: LangGraph. A job's thread on each server it used (`thread = "job"` keeps one), and
    // the remote thread and run of each of our runs: shown on the run page, and cancelled on
    // start-up when a crash left one running (`done` is 0 until our run has ended).
    "
    CREATE TABLE langgraph_threads (
        job_id    TEXT NOT NULL,
        server    TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        PRIMARY KEY (job_id, server)
    ) WITHOUT ROWID;
    CREATE TABLE langgraph_runs (
        run_id        INTEGER PRIMARY KEY,
        server        TEXT NOT NULL,
        thread_id     TEXT NOT NULL,
        remote_run_id TEXT NOT NULL,
        done          INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX langgraph_runs_open ON langgraph_runs (run_id) WHERE done = 0;
    ",
    // 6: notifications. The defaults file in force (`jobs/_defaults.toml`), kept beside the
    // deployed jobs so a restart that cannot read git still knows who hears about failures;
    // and every message sent or being sent, one row per target, holding names only (a Slack
    // channel, the name of a webhook's variable), never a URL.
    "
    CREATE TABLE deployed_defaults (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        file      TEXT NOT NULL,
        source    TEXT NOT NULL,
        commit_id TEXT NOT NULL
    );
    CREATE TABLE notifications (
        id         INTEGER PRIMARY KEY,
        job_id     TEXT NOT NULL,
        run_id     INTEGER,              -- NULL for missed occurrences
        event      TEXT NOT NULL,        -- failure | recovery | success | missed
        target     TEXT NOT NULL,        -- slack:#ops | webhook:VARIABLE
        message    TEXT NOT NULL,        -- JSON: what is sent
        status     TEXT NOT NULL,        -- pending | sent | failed
        attempts   INTEGER NOT NULL DEFAULT 0,
        error      TEXT,                 -- the last delivery error
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX notifications_by_update ON notifications (updated_at);
    CREATE INDEX notifications_pending ON notifications (id) WHERE status = 'pending';
    ",
    // 7: a run row names the definition it ran and the process that claimed it by number.
    // The commit id (40 characters), the definition hash and the owner token were copied
    // into every row; they are kept once each, in `definitions` (one row per commit and
    // definition deployed) and `owners` (one per process start). Measured under callgrind
    // with 10,000 claims a second: 14,100 instructions a claim before, 12,000 after. A row
    // written with a commit id but no hash (none is) loses its commit id here.
    "
    CREATE TABLE definitions (
        definition      INTEGER PRIMARY KEY,
        commit_id       TEXT NOT NULL,
        definition_hash TEXT NOT NULL,
        UNIQUE (commit_id, definition_hash)
    );
    CREATE TABLE owners (
        owner INTEGER PRIMARY KEY,
        token TEXT NOT NULL UNIQUE
    );
    INSERT INTO definitions (commit_id, definition_hash)
        SELECT commit_id, definition_hash FROM runs
            WHERE commit_id IS NOT NULL AND definition_hash IS NOT NULL
        UNION SELECT commit_id, definition_hash FROM deployed_jobs;
    INSERT INTO owners (token) SELECT DISTINCT owner FROM runs WHERE owner IS NOT NULL;
    CREATE TABLE runs_new (
        id                INTEGER PRIMARY KEY,
        job_id            TEXT NOT NULL,
        trigger           TEXT NOT NULL,
        scheduled_for     INTEGER NOT NULL,
        attempt           INTEGER NOT NULL,
        status            TEXT NOT NULL,
        started_at        INTEGER,
        finished_at       INTEGER,        -- NULL exactly while the run is running
        duration_ms       INTEGER,
        error             TEXT,
        result            TEXT,
        links             TEXT NOT NULL DEFAULT '[]',
        definition        INTEGER,        -- definitions.definition: commit and definition run
        owner             INTEGER,        -- owners.owner: the process that claimed it
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        UNIQUE (scheduled_for, job_id, attempt)
    );
    INSERT INTO runs_new SELECT r.id, r.job_id, r.trigger, r.scheduled_for, r.attempt, r.status,
        r.started_at, r.finished_at, r.duration_ms, r.error, r.result, r.links, d.definition,
        o.owner, r.prompt_tokens, r.completion_tokens
        FROM runs r
        LEFT JOIN definitions d ON d.commit_id = r.commit_id AND d.definition_hash = r.definition_hash
        LEFT JOIN owners o ON o.token = r.owner;
    DROP TABLE runs;
    ALTER TABLE runs_new RENAME TO runs;
    CREATE INDEX runs_running ON runs (job_id, id) WHERE finished_at IS NULL;
    CREATE INDEX runs_by_job ON runs (job_id, id) WHERE finished_at IS NOT NULL;
    CREATE INDEX runs_by_job_finish ON runs (job_id, finished_at, status)
        WHERE finished_at IS NOT NULL;
    CREATE INDEX runs_by_finish ON runs (finished_at, status) WHERE finished_at IS NOT NULL;
    CREATE INDEX runs_failures ON runs (finished_at)
        WHERE finished_at IS NOT NULL AND status IN ('failed', 'timed_out', 'interrupted');
    ",
];
