//! Sessions and messages: appending (idempotently), reading a conversation back, listing.
//!
//! Every write is one short `BEGIN IMMEDIATE` transaction, so a second process waits for the
//! lock up front (busy timeout) instead of failing halfway through a batch.

use crate::connectors::secret::{scrub, scrub_owned};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::tokens;
use crate::store::time::{from_db, to_db};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    System,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
            Role::Tool => "tool",
        }
    }

    pub(super) fn from_db(text: &str) -> Role {
        match text {
            "assistant" => Role::Assistant,
            "system" => Role::System,
            "tool" => Role::Tool,
            _ => Role::User,
        }
    }
}

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub role: Role,
    pub content: String,
    /// When it was said, if the client knows; else the time it arrives.
    pub at: Option<DateTime<Utc>>,
    /// The client's own id for the message, when it has one (Claude Code's record uuid).
    pub key: Option<String>,
}

/// Where to append, and what to call a new session.
#[derive(Debug, Clone)]
pub struct LogRequest {
    /// Append to this session; `None` starts a new one.
    pub session_id: Option<String>,
    /// Channel of a new session (an existing session keeps its own).
    pub channel: String,
    pub title: Option<String>,
    pub workspace: Option<String>,
    pub messages: Vec<NewMessage>,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOutcome {
    pub session_id: String,
    pub channel: String,
    pub created: bool,
    pub added: usize,
    /// Messages already in the session (a client resending), not added again.
    pub duplicates: usize,
    pub total_messages: u64,
}

/// One conversation, as listed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SessionSummary {
    pub session_id: String,
    pub channel: String,
    pub title: Option<String>,
    pub workspace: Option<String>,
    /// RFC 3339, UTC.
    pub first_activity: Option<String>,
    /// RFC 3339, UTC.
    pub last_activity: Option<String>,
    pub message_count: u64,
}

/// One message, as read back.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StoredMessage {
    /// Position in the session, from 1.
    pub seq: u64,
    pub role: Role,
    pub content: String,
    /// RFC 3339, UTC.
    pub at: String,
}

/// A session with (some of) its messages.
#[derive(Debug, Clone)]
pub struct SessionTranscript {
    pub summary: SessionSummary,
    pub messages: Vec<StoredMessage>,
}

/// RFC 3339 with seconds, `Z` for UTC: what every tool result shows.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A new session id: random, short enough for a model to copy, unique across processes.
fn mint_session_id() -> String {
    let mut hasher = Sha256::new();
    hasher.update(fastrand::u128(..).to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(
        Utc::now()
            .timestamp_nanos_opt()
            .unwrap_or_default()
            .to_le_bytes(),
    );
    let digest = hasher.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("s_{hex}")
}

/// What makes a resent message the same message: the client's id when it gives one, else
/// role, content and the client's timestamp (so a repeated "ok" at another time is kept).
fn dedup_key(message: &NewMessage) -> Vec<u8> {
    let mut hasher = Sha256::new();
    match &message.key {
        Some(key) => {
            hasher.update(b"key\0");
            hasher.update(key.as_bytes());
        }
        None => {
            hasher.update(message.role.as_str().as_bytes());
            hasher.update([0]);
            hasher.update(message.content.as_bytes());
            hasher.update([0]);
            if let Some(at) = message.at {
                hasher.update(to_db(at).to_le_bytes());
            }
        }
    }
    hasher.finalize()[..16].to_vec()
}

/// How long a call that starts a session counts as the same call when it comes again: a
/// client that timed out and resent it gets the session the first one created.
const RESEND_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

/// What identifies a session-starting call: its channel and its messages.
fn origin_key(request: &LogRequest) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(request.channel.as_bytes());
    for message in &request.messages {
        hasher.update([0]);
        hasher.update(dedup_key(message));
    }
    hasher.finalize()[..16].to_vec()
}

/// A title from the first user message: its first line, at most 80 characters.
fn derived_title(messages: &[NewMessage]) -> Option<String> {
    let first = messages.iter().find(|m| m.role == Role::User)?;
    let line = first
        .content
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())?;
    let mut title: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        title.push('…');
    }
    Some(title)
}

/// Microseconds in a day: message times are µs UTC, activity is counted per UTC day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Counts one call of `tool` by a client of channel `caller` that was served conversations
/// of each channel in `served` (once per channel, however many it got).
pub fn count_call(
    conn: &Connection,
    at: DateTime<Utc>,
    tool: &str,
    caller: &str,
    served: &[String],
) -> rusqlite::Result<()> {
    let day = to_db(at).div_euclid(MICROS_PER_DAY);
    let mut statement = conn.prepare_cached(
        "INSERT INTO tool_calls (day, tool, caller, served, calls) VALUES (?1, ?2, ?3, ?4, 1)
         ON CONFLICT (day, tool, caller, served) DO UPDATE SET calls = calls + 1",
    )?;
    let mut seen: Vec<&str> = Vec::with_capacity(served.len());
    for channel in served {
        if !seen.contains(&channel.as_str()) {
            seen.push(channel);
            statement.execute(params![day, tool, caller, channel])?;
        }
    }
    Ok(())
}

/// Appends `request.messages` in one transaction. `Ok(None)` when `request.session_id`
/// names no session.
pub fn log(conn: &mut Connection, request: &LogRequest) -> rusqlite::Result<Option<LogOutcome>> {
    let now = Utc::now();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (session_id, channel, mut next_seq, created) = match &request.session_id {
        Some(id) => {
            let found = tx
                .query_row(
                    "SELECT channel, next_seq FROM sessions WHERE id = ?1",
                    [id],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
                )
                .optional()?;
            match found {
                Some((channel, next_seq)) => (id.clone(), channel, next_seq, false),
                None => return Ok(None),
            }
        }
        None => {
            let origin = origin_key(request);
            let resent = tx
                .query_row(
                    "SELECT id, channel, next_seq FROM sessions
                     WHERE origin = ?1 AND created_at >= ?2 ORDER BY created_at DESC LIMIT 1",
                    params![origin, to_db(now - RESEND_WINDOW)],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, i64>(2)?,
                        ))
                    },
                )
                .optional()?;
            match resent {
                Some((id, channel, next_seq)) => (id, channel, next_seq, false),
                None => {
                    let id = mint_session_id();
                    create_session(&tx, &id, &request.channel, now, Some(&origin))?;
                    (id, request.channel.clone(), 1, true)
                }
            }
        }
    };
    let mut added = 0usize;
    let mut first_at: Option<i64> = None;
    let mut last_at: Option<i64> = None;
    let mut per_day: Vec<(i64, i64)> = Vec::new();
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO messages (session_id, seq, role, content, at, dedup)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut index =
            tx.prepare_cached("INSERT INTO messages_fts (rowid, terms) VALUES (?1, ?2)")?;
        for message in &request.messages {
            let at = to_db(message.at.unwrap_or(now));
            // Every way into the registry (MCP, transcript import) passes here: a key a user
            // pasted into a chat is kept out of the file, its search index and its titles.
            let content = scrub(&message.content);
            let inserted = insert.execute(params![
                session_id,
                next_seq,
                message.role.as_str(),
                content,
                at,
                dedup_key(message),
            ])?;
            if inserted == 0 {
                continue;
            }
            index.execute(params![
                tx.last_insert_rowid(),
                tokens::index_form(&content)
            ])?;
            next_seq += 1;
            added += 1;
            let day = at.div_euclid(MICROS_PER_DAY);
            match per_day.iter_mut().find(|(d, _)| *d == day) {
                Some((_, count)) => *count += 1,
                None => per_day.push((day, 1)),
            }
            first_at = Some(first_at.map_or(at, |v| v.min(at)));
            last_at = Some(last_at.map_or(at, |v| v.max(at)));
        }
    }
    let title = request
        .title
        .clone()
        .or_else(|| derived_title(&request.messages))
        .map(scrub_owned);
    tx.execute(
        "UPDATE sessions SET
            next_seq = ?2,
            message_count = message_count + ?3,
            first_at = CASE WHEN ?4 IS NULL THEN first_at ELSE min(coalesce(first_at, ?4), ?4) END,
            last_at = CASE WHEN ?5 IS NULL THEN last_at ELSE max(coalesce(last_at, ?5), ?5) END,
            title = coalesce(title, ?6),
            workspace = coalesce(workspace, ?7)
         WHERE id = ?1",
        params![
            session_id,
            next_seq,
            added as i64,
            first_at,
            last_at,
            title,
            request.workspace
        ],
    )?;
    {
        let mut count = tx.prepare_cached(
            "INSERT INTO daily_activity (day, channel, messages) VALUES (?1, ?2, ?3)
             ON CONFLICT (day, channel) DO UPDATE SET messages = messages + excluded.messages",
        )?;
        for (day, messages) in per_day {
            count.execute(params![day, channel, messages])?;
        }
    }
    let total: i64 = tx.query_row(
        "SELECT message_count FROM sessions WHERE id = ?1",
        [&session_id],
        |row| row.get(0),
    )?;
    tx.commit()?;
    Ok(Some(LogOutcome {
        session_id,
        channel,
        created,
        added,
        duplicates: request.messages.len() - added,
        total_messages: total as u64,
    }))
}

/// Creates a session row (and its channel on first sight). `origin` identifies the call that
/// created it, when a resend of that call should find it again.
pub(super) fn create_session(
    conn: &Connection,
    id: &str,
    channel: &str,
    now: DateTime<Utc>,
    origin: Option<&[u8]>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO channels (name, first_seen) VALUES (?1, ?2)",
        params![channel, to_db(now)],
    )?;
    conn.execute(
        "INSERT OR IGNORE INTO sessions (id, channel, created_at, origin) VALUES (?1, ?2, ?3, ?4)",
        params![id, channel, to_db(now), origin],
    )?;
    Ok(())
}

pub(super) const SUMMARY_COLUMNS: &str =
    "id, channel, title, workspace, first_at, last_at, message_count FROM sessions";

pub(super) fn summary_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SessionSummary> {
    let time = |value: Option<i64>| value.map(|v| format_time(from_db(v)));
    Ok(SessionSummary {
        session_id: row.get(0)?,
        channel: row.get(1)?,
        title: row.get(2)?,
        workspace: row.get(3)?,
        first_activity: time(row.get(4)?),
        last_activity: time(row.get(5)?),
        message_count: row.get::<_, i64>(6)? as u64,
    })
}

/// One session, `None` when there is none with that id.
pub fn session(conn: &Connection, id: &str) -> rusqlite::Result<Option<SessionSummary>> {
    conn.query_row(
        &format!("SELECT {SUMMARY_COLUMNS} WHERE id = ?1"),
        [id],
        summary_row,
    )
    .optional()
}

/// Which messages of a session to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// From the start, or after this `seq` (paging through a long conversation).
    After(u64),
    /// The last N.
    Last(usize),
}

/// A session and its messages in order: at most `cap` of them, chosen by `window`.
pub fn transcript(
    conn: &Connection,
    id: &str,
    window: Window,
    cap: usize,
) -> rusqlite::Result<Option<SessionTranscript>> {
    let Some(summary) = session(conn, id)? else {
        return Ok(None);
    };
    let (sql, take, after) = match window {
        Window::Last(n) => (
            "SELECT seq, role, content, at FROM
               (SELECT seq, role, content, at FROM messages WHERE session_id = ?1 AND seq > ?3
                ORDER BY seq DESC LIMIT ?2)
             ORDER BY seq",
            n.min(cap),
            0,
        ),
        Window::After(after) => (
            "SELECT seq, role, content, at FROM messages WHERE session_id = ?1 AND seq > ?3
             ORDER BY seq LIMIT ?2",
            cap,
            after,
        ),
    };
    let mut statement = conn.prepare_cached(sql)?;
    let messages = statement
        .query_map(params![id, take as i64, after as i64], |row| {
            Ok(StoredMessage {
                seq: row.get::<_, i64>(0)? as u64,
                role: Role::from_db(&row.get::<_, String>(1)?),
                content: row.get(2)?,
                at: format_time(from_db(row.get(3)?)),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(SessionTranscript { summary, messages }))
}

/// Which sessions to list.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub channel: Option<String>,
    pub workspace: Option<String>,
    /// Only sessions active before this instant (the cursor of the previous page).
    pub before: Option<DateTime<Utc>>,
    pub limit: usize,
}

/// Sessions, most recently active first.
pub fn list(conn: &Connection, filter: &SessionFilter) -> rusqlite::Result<Vec<SessionSummary>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS}
         WHERE (?1 IS NULL OR channel = ?1) AND (?2 IS NULL OR workspace = ?2)
           AND (?3 IS NULL OR coalesce(last_at, created_at) < ?3)
         ORDER BY coalesce(last_at, created_at) DESC, id
         LIMIT ?4"
    ))?;
    statement
        .query_map(
            params![
                filter.channel,
                filter.workspace,
                filter.before.map(to_db),
                filter.limit as i64
            ],
            summary_row,
        )?
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: Role, content: &str) -> NewMessage {
        NewMessage {
            role,
            content: content.into(),
            at: None,
            key: None,
        }
    }

    fn registry() -> (tempfile::TempDir, super::super::Registry) {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = super::super::Registry::open(&dir.path().join("registry.db")).expect("open");
        (dir, registry)
    }

    #[test]
    fn resending_adds_nothing_and_sessions_keep_their_channel() {
        let (_dir, registry) = registry();
        let mut request = LogRequest {
            session_id: None,
            channel: "cursor".into(),
            title: None,
            workspace: Some("/work/app".into()),
            messages: vec![
                message(Role::User, "재시도 정책은 지수 백오프로 하자\nsecond line"),
                message(Role::Assistant, "Agreed: exponential backoff, max 1h."),
            ],
        };
        let first = registry
            .with(|c| log(c, &request))
            .expect("log")
            .expect("session");
        assert!(first.created);
        assert_eq!(
            (first.added, first.duplicates, first.total_messages),
            (2, 0, 2)
        );
        let resent = registry
            .with(|c| log(c, &request))
            .expect("log")
            .expect("session");
        assert_eq!(
            resent.session_id, first.session_id,
            "a resent first call finds its session"
        );
        assert!(!resent.created && resent.added == 0);
        request.session_id = Some(first.session_id.clone());
        request.channel = "claude-desktop".into();
        let again = registry
            .with(|c| log(c, &request))
            .expect("log")
            .expect("session");
        assert_eq!(
            (again.added, again.duplicates, again.total_messages),
            (0, 2, 2)
        );
        assert_eq!(again.channel, "cursor");
        let transcript = registry
            .with(|c| transcript(c, &first.session_id, Window::Last(1), 100))
            .expect("read")
            .expect("found");
        assert_eq!(
            transcript.summary.title.as_deref(),
            Some("재시도 정책은 지수 백오프로 하자")
        );
        assert_eq!(transcript.messages.len(), 1);
        assert_eq!(transcript.messages[0].seq, 2);
        request.session_id = Some("s_nope".into());
        assert!(registry.with(|c| log(c, &request)).expect("log").is_none());
    }

    #[test]
    fn a_repeated_short_reply_with_another_timestamp_is_kept() {
        let (_dir, registry) = registry();
        let at = |s: &str| Some(DateTime::parse_from_rfc3339(s).expect("time").to_utc());
        let request = LogRequest {
            session_id: None,
            channel: "cursor".into(),
            title: Some("t".into()),
            workspace: None,
            messages: vec![
                NewMessage {
                    at: at("2026-11-25T10:00:00Z"),
                    ..message(Role::User, "ok")
                },
                NewMessage {
                    at: at("2026-11-25T10:05:00Z"),
                    ..message(Role::User, "ok")
                },
            ],
        };
        let outcome = registry
            .with(|c| log(c, &request))
            .expect("log")
            .expect("session");
        assert_eq!(outcome.added, 2);
        let sessions = registry
            .with(|c| {
                list(
                    c,
                    &SessionFilter {
                        limit: 10,
                        ..SessionFilter::default()
                    },
                )
            })
            .expect("list");
        assert_eq!(
            sessions[0].first_activity.as_deref(),
            Some("2026-11-25T10:00:00Z")
        );
        assert_eq!(
            sessions[0].last_activity.as_deref(),
            Some("2026-11-25T10:05:00Z")
        );
    }
}
