//! Versioned schema of `registry.db`, tracked in `PRAGMA user_version`. Append only: a
//! released migration is never edited, a new one is added at the end.

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: channels, sessions, messages and the full-text index.
    "
    CREATE TABLE channels (
        name       TEXT PRIMARY KEY,     -- cursor, claude-desktop, claude-code, ...
        first_seen INTEGER NOT NULL      -- µs UTC
    );
    CREATE TABLE sessions (
        id            TEXT PRIMARY KEY,  -- minted by us, handed to the model
        channel       TEXT NOT NULL REFERENCES channels (name),
        title         TEXT,
        workspace     TEXT,
        created_at    INTEGER NOT NULL,
        first_at      INTEGER,           -- earliest message time
        last_at       INTEGER,           -- latest message time
        message_count INTEGER NOT NULL DEFAULT 0,
        next_seq      INTEGER NOT NULL DEFAULT 1,
        origin        BLOB               -- hash of the call that created it (see store::log)
    );
    CREATE INDEX sessions_by_origin ON sessions (origin) WHERE origin IS NOT NULL;
    CREATE INDEX sessions_by_last ON sessions (last_at DESC);
    CREATE INDEX sessions_by_channel ON sessions (channel, last_at DESC);
    CREATE TABLE messages (
        id         INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id),
        seq        INTEGER NOT NULL,
        role       TEXT NOT NULL,
        content    TEXT NOT NULL,
        at         INTEGER NOT NULL,     -- µs UTC: the client's timestamp, else arrival
        dedup      BLOB NOT NULL,        -- what makes a resent message the same message
        UNIQUE (session_id, seq),
        UNIQUE (session_id, dedup)
    );
    CREATE INDEX messages_by_time ON messages (at);
    -- Contentless: the index holds only the Hangul-bigram form of each message (see
    -- registry::tokens); the text itself stays in `messages`, so nothing is stored twice.
    -- The one-character prefix index serves single-syllable queries (`책*`) from one list
    -- instead of merging every bigram that starts with the syllable.
    CREATE VIRTUAL TABLE messages_fts USING fts5 (
        terms,
        content = '',
        contentless_delete = 1,
        prefix = '1',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    ",
];
