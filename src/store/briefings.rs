//! The Daily Briefing's tables: each run's record and items, the per-job ledger of what was
//! briefed, and the page of each local day.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::SqlResult;
use super::time::{from_db, to_db};

/// Ledger entries older than this are forgotten: nothing that old comes back in a window.
const LEDGER_DAYS: i64 = 60;

/// Where the last published briefing of `job` that every source fed ended its window. A
/// briefing with a failed source does not count: the next window reaches back over the gap
/// (the ledger keeps what the others gave from coming twice).
pub fn last_complete_end(conn: &Connection, job: &str) -> SqlResult<Option<DateTime<Utc>>> {
    conn.prepare_cached(
        "SELECT max(window_end) FROM briefings INDEXED BY briefings_published \
         WHERE job_id = ?1 AND published = 1 AND NOT EXISTS (\
           SELECT 1 FROM json_each(record, '$.sources') \
           WHERE json_extract(value, '$.status') NOT IN ('ok', 'skipped'))",
    )?
    .query_row([job], |row| row.get::<_, Option<i64>>(0))
    .map(|end| end.map(from_db))
}

/// The window of the first published briefing of `job` for local day `day`, if there is one:
/// a second run that day rewrites the day's page with everything since then.
pub fn first_of_day(
    conn: &Connection,
    job: &str,
    day: &str,
) -> SqlResult<Option<(DateTime<Utc>, DateTime<Utc>)>> {
    conn.prepare_cached(
        "SELECT window_start, window_end FROM briefings INDEXED BY briefings_published \
         WHERE job_id = ?1 AND published = 1 AND json_extract(record, '$.date') = ?2 \
         ORDER BY window_end LIMIT 1",
    )?
    .query_row([job, day], |row| {
        Ok((from_db(row.get(0)?), from_db(row.get(1)?)))
    })
    .optional()
}

/// Stores (or replaces) a run's record and items.
pub fn save(
    conn: &Connection,
    run_id: i64,
    job: &str,
    window: (DateTime<Utc>, DateTime<Utc>),
    published: bool,
    record: &str,
    items: &str,
) -> SqlResult<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO briefings (run_id, job_id, window_start, window_end, published, record, items) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        run_id,
        job,
        to_db(window.0),
        to_db(window.1),
        published,
        record,
        items
    ])
    .map(drop)
}

/// A run's record and items (JSON), if it was a briefing.
pub fn get(conn: &Connection, run_id: i64) -> SqlResult<Option<(String, String, String)>> {
    conn.prepare_cached("SELECT job_id, record, items FROM briefings WHERE run_id = ?1")?
        .query_row([run_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()
}

/// Just the record of a run, for the site.
pub fn record(conn: &Connection, run_id: i64) -> SqlResult<Option<String>> {
    conn.prepare_cached("SELECT record FROM briefings WHERE run_id = ?1")?
        .query_row([run_id], |row| row.get(0))
        .optional()
}

/// The record of the newest briefing of `job`, for its job page.
pub fn latest_record(conn: &Connection, job: &str) -> SqlResult<Option<String>> {
    conn.prepare_cached(
        "SELECT record FROM briefings WHERE job_id = ?1 ORDER BY run_id DESC LIMIT 1",
    )?
    .query_row([job], |row| row.get(0))
    .optional()
}

/// The ledger of `job`: item id → version briefed, counting only what was briefed before
/// `before` (a rewrite of today's page must not drop what today's first run showed).
pub fn ledger(
    conn: &Connection,
    job: &str,
    before: Option<DateTime<Utc>>,
) -> SqlResult<HashMap<String, String>> {
    conn.prepare_cached(
        "SELECT item_id, version FROM briefing_ledger WHERE job_id = ?1 AND briefed_at < ?2",
    )?
    .query_map(params![job, before.map_or(i64::MAX, to_db)], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })?
    .collect()
}

/// Records `items` (id, version) as briefed now, forgetting entries too old to matter, and
/// marks the run published: one transaction, so the two never disagree.
pub fn commit_published(
    conn: &mut Connection,
    run_id: i64,
    job: &str,
    record: &str,
    items: &[(String, String)],
    now: DateTime<Utc>,
) -> SqlResult<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO briefing_ledger (job_id, item_id, version, briefed_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (job_id, item_id) DO UPDATE SET version = excluded.version, briefed_at = excluded.briefed_at",
        )?;
        for (id, version) in items {
            upsert.execute(params![job, id, version, to_db(now)])?;
        }
        let cutoff = now - chrono::Duration::days(LEDGER_DAYS);
        tx.prepare_cached("DELETE FROM briefing_ledger WHERE job_id = ?1 AND briefed_at < ?2")?
            .execute(params![job, to_db(cutoff)])?;
        tx.prepare_cached("UPDATE briefings SET published = 1, record = ?2 WHERE run_id = ?1")?
            .execute(params![run_id, record])?;
    }
    tx.commit()
}

/// The page of `job` for local day `day` (`2026-12-01`): (page id, URL).
pub fn page(conn: &Connection, job: &str, day: &str) -> SqlResult<Option<(String, String)>> {
    conn.prepare_cached("SELECT page_id, url FROM briefing_pages WHERE job_id = ?1 AND day = ?2")?
        .query_row([job, day], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
}

/// Remembers the page of a day, as soon as it exists (before its blocks are all written).
pub fn set_page(
    conn: &Connection,
    job: &str,
    day: &str,
    page_id: &str,
    url: &str,
) -> SqlResult<()> {
    conn.prepare_cached(
        "INSERT INTO briefing_pages (job_id, day, page_id, url) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (job_id, day) DO UPDATE SET page_id = excluded.page_id, url = excluded.url",
    )?
    .execute(params![job, day, page_id, url])
    .map(drop)
}

/// Every page `job` has published, dashes removed: the Notion source leaves them out.
pub fn page_ids(conn: &Connection, job: &str) -> SqlResult<Vec<String>> {
    conn.prepare_cached("SELECT page_id FROM briefing_pages WHERE job_id = ?1")?
        .query_map([job], |row| row.get::<_, String>(0))?
        .map(|id| id.map(|id| id.replace('-', "")))
        .collect()
}
