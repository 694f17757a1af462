//! Notifications that could not be delivered, for the dashboard: a person must see that the
//! Slack message about last night's failure never went out.

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;

use super::views::job_path;
use crate::display::relative;
use crate::notify::settings::Target;
use crate::store::notifications::{self, Delivery};

/// How far back the dashboard looks.
const WINDOW: chrono::Duration = chrono::Duration::hours(24);
/// At most this many are listed.
const SHOWN: usize = 10;

/// One failing or failed delivery.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeView {
    pub job: String,
    pub href: String,
    pub event: String,
    /// `Slack #ops`, `webhook BACKOFFICE_WEBHOOK_OPS`: names, never a URL.
    pub target: String,
    /// `retrying` or `failed`.
    pub state: &'static str,
    pub attempts: u32,
    pub error: String,
    pub ago: String,
}

/// Deliveries that failed (or are failing) in the last day, newest first.
pub fn failing(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<Vec<NoticeView>> {
    Ok(notifications::problems(conn, now - WINDOW, SHOWN)?
        .into_iter()
        .map(|row| NoticeView {
            href: job_path(&row.job_id),
            job: row.job_id,
            event: row.event,
            target: Target::from_key(&row.target).map_or(row.target, |t| t.shown()),
            state: if row.status == Delivery::Pending {
                "retrying"
            } else {
                "failed"
            },
            attempts: row.attempts,
            error: row.error.unwrap_or_default(),
            ago: relative(row.updated_at, now),
        })
        .collect())
}
