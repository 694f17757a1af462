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
    // 2: figures for the status site's registry page, kept as they happen so the page never
    // scans a million messages: messages per UTC day and channel (filled from what is there),
    // and tool calls per UTC day, tool, calling channel and channel served. Never a query's
    // text.
    "
    CREATE TABLE daily_activity (
        day      INTEGER NOT NULL,       -- days since 1970-01-01, UTC
        channel  TEXT NOT NULL,
        messages INTEGER NOT NULL,
        PRIMARY KEY (day, channel)
    ) WITHOUT ROWID;
    INSERT INTO daily_activity (day, channel, messages)
        SELECT m.at / 86400000000, s.channel, count(*)
        FROM messages m JOIN sessions s ON s.id = m.session_id
        GROUP BY 1, 2;
    CREATE TABLE tool_calls (
        day    INTEGER NOT NULL,
        tool   TEXT NOT NULL,            -- conversation_log | extract | get_session | list_sessions
        caller TEXT NOT NULL,            -- the calling client's channel
        served TEXT NOT NULL,            -- the channel of the conversations it got back
        calls  INTEGER NOT NULL,
        PRIMARY KEY (day, tool, caller, served)
    ) WITHOUT ROWID;
    ",
];
