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
    // 3: Knowledge Cards. Every card ever made stays (a rejected one too, so it is never
    // proposed again), tied to the session and messages it came from; FSRS keeps stability
    // and difficulty per card and one row per review; each job reads messages past its
    // watermark (a message id, moved only by a successful run); every generation is recorded
    // with what it dropped and why. `cards_fts` finds near-duplicates in Korean and English
    // through the same bigram form as the messages' index.
    "
    CREATE TABLE cards (
        id            TEXT PRIMARY KEY,      -- c_ + 16 hex; Anki's GUID is made from it
        job_id        TEXT NOT NULL,
        session_id    TEXT NOT NULL,
        message_ids   TEXT NOT NULL,         -- JSON array of the cited messages
        kind          TEXT NOT NULL,         -- basic | cloze
        front         TEXT NOT NULL,
        back          TEXT NOT NULL,
        quote         TEXT NOT NULL,         -- from a cited message, supporting the answer
        tags          TEXT NOT NULL,         -- JSON array
        norm          TEXT NOT NULL UNIQUE,  -- the normalised question and answer
        generator     TEXT NOT NULL,         -- llm | offline
        model         TEXT,
        retention     REAL NOT NULL,         -- the job's desired_retention when it was made
        state         TEXT NOT NULL,         -- new | learning | review | suspended | rejected
        reason        TEXT,                  -- why it was rejected
        created_at    INTEGER NOT NULL,
        due_at        INTEGER NOT NULL,
        stability     REAL,
        difficulty    REAL,
        reps          INTEGER NOT NULL DEFAULT 0,
        lapses        INTEGER NOT NULL DEFAULT 0,
        last_review   INTEGER,
        updated_at    INTEGER NOT NULL
    );
    -- What is due, per state in due order: cards_due reads learning and review cards first,
    -- then new ones, each a short range of this index however many cards there are. (Not a
    -- partial index: SQLite does not see that `state = 'new'` implies an IN list.)
    CREATE INDEX cards_due ON cards (state, due_at);
    CREATE INDEX cards_by_created ON cards (created_at);
    CREATE VIRTUAL TABLE cards_fts USING fts5 (
        terms,
        content = '',
        contentless_delete = 1,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    -- How many cards hold each term: the near-match asks only about a card's rarest terms,
    -- so its cost does not grow with every card that says \"what is\".
    CREATE VIRTUAL TABLE cards_vocab USING fts5vocab (cards_fts, 'row');
    CREATE TABLE card_reviews (
        id            INTEGER PRIMARY KEY,
        card_id       TEXT NOT NULL REFERENCES cards (id),
        at            INTEGER NOT NULL,
        grade         INTEGER NOT NULL,      -- 1 again, 2 hard, 3 good, 4 easy
        elapsed_days  REAL NOT NULL,
        stability     REAL NOT NULL,
        difficulty    REAL NOT NULL,
        due_at        INTEGER NOT NULL
    );
    CREATE INDEX card_reviews_by_card ON card_reviews (card_id, at);
    CREATE INDEX card_reviews_by_time ON card_reviews (at);
    CREATE TABLE card_watermarks (
        job_id     TEXT PRIMARY KEY,
        message_id INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE card_generations (
        id           INTEGER PRIMARY KEY,
        job_id       TEXT NOT NULL,
        at           INTEGER NOT NULL,
        generator    TEXT NOT NULL,
        model        TEXT,
        messages     INTEGER NOT NULL,       -- messages read
        made         INTEGER NOT NULL,
        dropped      TEXT NOT NULL           -- JSON: reason -> count
    );
    ",
];
