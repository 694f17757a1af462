//! Figures for the status site and `backoffice registry stats`: sessions, messages, channels
//! with their counts and last activity, and the size of the database.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

use super::RegistryError;
use crate::store::time::from_db;

/// The whole registry at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryStats {
    pub sessions: u64,
    pub messages: u64,
    /// Busiest channel first.
    pub channels: Vec<ChannelStats>,
    /// The database and its write-ahead log, in bytes.
    pub db_bytes: u64,
    pub last_activity: Option<DateTime<Utc>>,
}

/// One client platform.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelStats {
    pub channel: String,
    pub sessions: u64,
    pub messages: u64,
    pub last_activity: Option<DateTime<Utc>>,
}

/// Opens `path` read-only (never creates it) and reads the figures. A registry that does not
/// exist yet has no sessions: all zero, not an error.
pub fn read_stats(path: &Path) -> Result<RegistryStats, RegistryError> {
    if !path.exists() {
        return Ok(RegistryStats {
            sessions: 0,
            messages: 0,
            channels: Vec::new(),
            db_bytes: 0,
            last_activity: None,
        });
    }
    let wrap = |source| RegistryError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let conn = super::activity::open_read_only(path).map_err(wrap)?;
    let channels = channel_stats(&conn).map_err(wrap)?;
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    Ok(RegistryStats {
        sessions: channels.iter().map(|c| c.sessions).sum(),
        messages: channels.iter().map(|c| c.messages).sum(),
        last_activity: channels.iter().filter_map(|c| c.last_activity).max(),
        channels,
        db_bytes: size(path) + size(Path::new(&wal)),
    })
}

fn channel_stats(conn: &Connection) -> rusqlite::Result<Vec<ChannelStats>> {
    let mut statement = conn.prepare(
        "SELECT channel, count(*), sum(message_count), max(last_at)
         FROM sessions GROUP BY channel ORDER BY sum(message_count) DESC, channel",
    )?;
    statement
        .query_map([], |row| {
            Ok(ChannelStats {
                channel: row.get(0)?,
                sessions: row.get::<_, i64>(1)? as u64,
                messages: row.get::<_, Option<i64>>(2)?.unwrap_or(0) as u64,
                last_activity: row.get::<_, Option<i64>>(3)?.map(from_db),
            })
        })?
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::registry::store::{self, LogRequest, NewMessage, Role};

    #[test]
    fn counts_per_channel_and_never_creates_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.db");
        let empty = read_stats(&path).expect("missing is empty");
        assert_eq!((empty.sessions, empty.messages, empty.db_bytes), (0, 0, 0));
        assert!(!path.exists());
        let registry = Registry::open(&path).expect("open");
        for (channel, count) in [("cursor", 3), ("claude-code", 1), ("cursor", 2)] {
            let request = LogRequest {
                session_id: None,
                channel: channel.into(),
                title: None,
                workspace: None,
                messages: (0..count)
                    .map(|i| NewMessage {
                        role: Role::User,
                        content: format!("message {i}"),
                        at: None,
                        key: None,
                    })
                    .collect(),
            };
            registry.with(|c| store::log(c, &request)).expect("log");
        }
        let stats = read_stats(&path).expect("stats");
        assert_eq!((stats.sessions, stats.messages), (3, 6));
        assert_eq!(stats.channels[0].channel, "cursor");
        assert_eq!(
            (stats.channels[0].sessions, stats.channels[0].messages),
            (2, 5)
        );
        assert!(stats.db_bytes > 0 && stats.last_activity.is_some());
    }
}
