//! What the status site's registry page shows over time: messages per channel per day, tool
//! calls per calling and served channel, and the most recently active sessions. Read from
//! the figures kept as conversations and calls arrive (migration 2), so a million messages
//! cost no more to show than a hundred.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, params};
use serde::Serialize;

use super::store::{MICROS_PER_DAY, SUMMARY_COLUMNS, SessionSummary, summary_row};
use super::{Registry, RegistryError, migrations};
use crate::store::time::to_db;

/// Days the charts cover, today included.
pub const DAYS: usize = 30;

/// Calls of one tool by one channel that got one channel's conversations back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallCount {
    pub tool: String,
    pub caller: String,
    pub served: String,
    /// In the last 7 days, today included.
    pub week: u64,
    /// In the last [`DAYS`] days.
    pub month: u64,
}

/// The registry's activity.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    /// Messages per day for each channel, oldest day first, [`DAYS`] entries each.
    pub daily: BTreeMap<String, Vec<u64>>,
    /// Busiest first.
    pub calls: Vec<CallCount>,
    /// Most recently active first.
    pub recent: Vec<SessionSummary>,
}

/// Reads the activity up to `now`, with the `recent` most recently active sessions. Never
/// creates the file; brings an older schema up to date first (once).
pub fn read_activity(
    path: &Path,
    now: DateTime<Utc>,
    recent: usize,
) -> Result<Activity, RegistryError> {
    if !path.exists() {
        return Ok(Activity::default());
    }
    let wrap = |source| RegistryError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = open_read_only(path).map_err(wrap)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(wrap)?;
    if version < migrations::MIGRATIONS.len() as i64 {
        // A registry last written by an older `backoffice mcp`: the figures' tables come
        // with the migration, which any writer runs; this one does.
        drop(conn);
        drop(Registry::open(path)?);
        conn = open_read_only(path).map_err(wrap)?;
    }
    read(&conn, now, recent).map_err(wrap)
}

/// The registry read-only (a reader never creates or migrates it by accident).
pub fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn read(conn: &Connection, now: DateTime<Utc>, recent: usize) -> rusqlite::Result<Activity> {
    let today = to_db(now).div_euclid(MICROS_PER_DAY);
    let first = today - (DAYS as i64 - 1);
    let week = today - 6;
    let mut daily: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut statement = conn
        .prepare("SELECT day, channel, messages FROM daily_activity WHERE day BETWEEN ?1 AND ?2")?;
    let rows = statement.query_map(params![first, today], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (day, channel, messages) = row?;
        let counts = daily.entry(channel).or_insert_with(|| vec![0; DAYS]);
        if let Some(slot) = counts.get_mut((day - first) as usize) {
            *slot += messages.max(0) as u64;
        }
    }
    let mut statement = conn.prepare(
        "SELECT tool, caller, served, sum(CASE WHEN day >= ?2 THEN calls ELSE 0 END), sum(calls)
         FROM tool_calls WHERE day BETWEEN ?1 AND ?3
         GROUP BY tool, caller, served ORDER BY sum(calls) DESC, tool, caller, served",
    )?;
    let calls = statement
        .query_map(params![first, week, today], |row| {
            Ok(CallCount {
                tool: row.get(0)?,
                caller: row.get(1)?,
                served: row.get(2)?,
                week: row.get::<_, i64>(3)?.max(0) as u64,
                month: row.get::<_, i64>(4)?.max(0) as u64,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut statement = conn.prepare(&format!(
        "SELECT {SUMMARY_COLUMNS} INDEXED BY sessions_by_last
         WHERE last_at IS NOT NULL ORDER BY last_at DESC LIMIT ?1"
    ))?;
    let recent = statement
        .query_map([recent as i64], summary_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Activity {
        daily,
        calls,
        recent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::store::{self, LogRequest, NewMessage, Role};

    fn log(registry: &Registry, channel: &str, at: DateTime<Utc>, count: usize) -> String {
        let request = LogRequest {
            session_id: None,
            channel: channel.into(),
            title: Some(format!("{channel} at {at}")),
            workspace: None,
            messages: (0..count)
                .map(|i| NewMessage {
                    role: Role::User,
                    content: format!("message {i} of {channel}"),
                    at: Some(at),
                    key: None,
                })
                .collect(),
        };
        registry
            .with(|c| store::log(c, &request))
            .expect("log")
            .expect("session")
            .session_id
    }

    #[test]
    fn days_calls_and_recent_sessions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.db");
        assert!(
            read_activity(&path, Utc::now(), 10)
                .expect("missing")
                .recent
                .is_empty()
        );
        assert!(!path.exists(), "reading never creates the registry");
        let registry = Registry::open(&path).expect("open");
        let now: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().expect("time");
        let day = chrono::Duration::days(1);
        log(&registry, "cursor", now, 3);
        log(&registry, "cursor", now - day, 2);
        let newest = log(
            &registry,
            "claude-code",
            now + chrono::Duration::hours(1),
            1,
        );
        log(&registry, "cursor", now - day * 40, 5);
        registry
            .with(|c| {
                let cursor = vec!["cursor".to_string()];
                store::count_call(c, now, "get_session", "claude-desktop", &cursor)?;
                store::count_call(c, now - day * 10, "get_session", "claude-desktop", &cursor)?;
                store::count_call(c, now - day * 50, "get_session", "claude-desktop", &cursor)?;
                let both = vec!["cursor".into(), "claude-code".into(), "cursor".into()];
                store::count_call(c, now, "extract", "claude-code", &both)
            })
            .expect("count");
        let activity = read_activity(&path, now + chrono::Duration::hours(2), 2).expect("read");
        let cursor = &activity.daily["cursor"];
        assert_eq!(cursor.len(), DAYS);
        assert_eq!((cursor[DAYS - 1], cursor[DAYS - 2]), (3, 2));
        assert_eq!(
            cursor.iter().sum::<u64>(),
            5,
            "40 days ago is off the chart"
        );
        assert_eq!(activity.daily["claude-code"][DAYS - 1], 1);
        let reads = activity
            .calls
            .iter()
            .find(|c| c.tool == "get_session")
            .expect("get_session");
        assert_eq!((reads.week, reads.month), (1, 2));
        let extract: Vec<&CallCount> = activity
            .calls
            .iter()
            .filter(|c| c.tool == "extract")
            .collect();
        assert_eq!(
            extract.len(),
            2,
            "one count per channel served: {extract:?}"
        );
        assert_eq!(activity.recent.len(), 2);
        assert_eq!(activity.recent[0].session_id, newest);
    }
}
