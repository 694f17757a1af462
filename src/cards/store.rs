//! Cards in `registry.db` (migration 3): kept cards with their FSRS memory, the review log,
//! each job's watermark and its generation records.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::card::{Kind, State};
use crate::registry::tokens;
use crate::store::time::{from_db, to_db};

/// A card as kept.
#[derive(Debug, Clone, Serialize)]
pub struct CardRow {
    pub id: String,
    pub job_id: String,
    pub session_id: String,
    pub message_ids: Vec<i64>,
    pub kind: Kind,
    pub front: String,
    pub back: String,
    pub quote: String,
    pub tags: Vec<String>,
    pub generator: String,
    pub model: Option<String>,
    /// The share of reviews FSRS aims to have remembered (the job's `desired_retention`).
    pub retention: f64,
    pub state: State,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub stability: Option<f64>,
    pub difficulty: Option<f64>,
    pub reps: u32,
    pub lapses: u32,
    pub last_review: Option<DateTime<Utc>>,
    /// The source session's title and channel, when it still exists.
    pub session_title: Option<String>,
    pub channel: Option<String>,
}

/// A card to keep.
#[derive(Debug, Clone)]
pub struct NewCard {
    pub job_id: String,
    pub session_id: String,
    pub message_ids: Vec<i64>,
    pub kind: Kind,
    pub front: String,
    pub back: String,
    pub quote: String,
    pub tags: Vec<String>,
    pub norm: String,
    pub generator: String,
    pub model: Option<String>,
    pub retention: f64,
}

const COLUMNS: &str =
    "c.id, c.job_id, c.session_id, c.message_ids, c.kind, c.front, c.back, c.quote,
    c.tags, c.generator, c.model, c.state, c.reason, c.created_at, c.due_at, c.stability,
    c.difficulty, c.reps, c.lapses, c.last_review, s.title, s.channel, c.retention
    FROM cards c LEFT JOIN sessions s ON s.id = c.session_id";

fn card_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CardRow> {
    fn json_list<T: serde::de::DeserializeOwned>(text: String) -> Vec<T> {
        serde_json::from_str(&text).unwrap_or_default()
    }
    Ok(CardRow {
        id: row.get(0)?,
        job_id: row.get(1)?,
        session_id: row.get(2)?,
        message_ids: json_list(row.get(3)?),
        kind: Kind::parse(&row.get::<_, String>(4)?),
        front: row.get(5)?,
        back: row.get(6)?,
        quote: row.get(7)?,
        tags: json_list(row.get(8)?),
        generator: row.get(9)?,
        model: row.get(10)?,
        state: State::parse(&row.get::<_, String>(11)?),
        reason: row.get(12)?,
        created_at: from_db(row.get(13)?),
        due_at: from_db(row.get(14)?),
        stability: row.get(15)?,
        difficulty: row.get(16)?,
        reps: row.get::<_, i64>(17)? as u32,
        lapses: row.get::<_, i64>(18)? as u32,
        last_review: row.get::<_, Option<i64>>(19)?.map(from_db),
        session_title: row.get(20)?,
        channel: row.get(21)?,
        retention: row.get(22)?,
    })
}

/// A new card id: `c_` and 16 hex digits, random (the Anki GUID is made from it).
fn mint_id() -> String {
    format!("c_{:016x}", fastrand::u64(..))
}

/// Keeps `card`, due now; returns its id.
pub fn insert(conn: &Connection, card: &NewCard, now: DateTime<Utc>) -> rusqlite::Result<String> {
    let id = mint_id();
    conn.execute(
        "INSERT INTO cards (id, job_id, session_id, message_ids, kind, front, back, quote, tags,
             norm, generator, model, retention, state, created_at, due_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?14, 'new', ?13, ?13, ?13)",
        params![
            id,
            card.job_id,
            card.session_id,
            serde_json::to_string(&card.message_ids).unwrap_or_else(|_| "[]".into()),
            card.kind.as_str(),
            card.front,
            card.back,
            card.quote,
            serde_json::to_string(&card.tags).unwrap_or_else(|_| "[]".into()),
            card.norm,
            card.generator,
            card.model,
            to_db(now),
            card.retention,
        ],
    )?;
    let rowid = conn.last_insert_rowid();
    conn.execute(
        "INSERT INTO cards_fts (rowid, terms) VALUES (?1, ?2)",
        params![
            rowid,
            tokens::index_form(&format!("{} {}", card.front, card.back))
        ],
    )?;
    Ok(id)
}

/// Whether a card with this normalised text was ever kept (rejected ones included).
pub fn has_norm(conn: &Connection, norm: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT 1 FROM cards WHERE norm = ?1", [norm], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
}

/// Terms of a card looked up for its near-matches: the rarest few among the cards kept.
const NEAR_TERMS: usize = 4;

/// The question and answer of up to `limit` kept cards sharing one of the rarest terms of
/// `text`. Common terms ("what", "is", "무엇") would match most cards; a paraphrase shares
/// the rare ones, so asking for those alone keeps this cheap at any number of cards.
pub fn similar(
    conn: &Connection,
    text: &str,
    limit: usize,
) -> rusqlite::Result<Vec<(String, String)>> {
    let mut terms: Vec<String> = tokens::index_form(text)
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    terms.sort();
    terms.dedup();
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let mut counted = Vec::with_capacity(terms.len());
    {
        let mut frequency = conn.prepare_cached("SELECT doc FROM cards_vocab WHERE term = ?1")?;
        for term in terms {
            let docs: Option<i64> = frequency.query_row([&term], |row| row.get(0)).optional()?;
            if let Some(docs) = docs.filter(|d| *d > 0) {
                counted.push((docs, term));
            }
        }
    }
    counted.sort();
    let rare: Vec<String> = counted
        .into_iter()
        .take(NEAR_TERMS)
        .map(|(_, term)| format!("\"{}\"", term.replace('"', "\"\"")))
        .collect();
    if rare.is_empty() {
        return Ok(Vec::new());
    }
    let mut statement = conn.prepare_cached(
        "SELECT c.front, c.back FROM cards_fts f JOIN cards c ON c.rowid = f.rowid
         WHERE cards_fts MATCH ?1 LIMIT ?2",
    )?;
    statement
        .query_map(params![rare.join(" OR "), limit as i64], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect()
}

/// Cards `job` made since `since`.
pub fn made_since(conn: &Connection, job: &str, since: DateTime<Utc>) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT count(*) FROM cards WHERE job_id = ?1 AND created_at >= ?2",
        params![job, to_db(since)],
        |row| row.get::<_, i64>(0).map(|n| n.max(0) as u64),
    )
}

/// Cards being learned (new, learning or in review) due before `until`.
pub fn due_before(conn: &Connection, until: DateTime<Utc>) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT count(*) FROM cards WHERE state IN ('new', 'learning', 'review') AND due_at < ?1",
        [to_db(until)],
        |row| row.get::<_, i64>(0).map(|n| n.max(0) as u64),
    )
}

/// Cards due now, earliest first: learning steps and reviews, then new cards. Each state is
/// a range of the `cards_due` index, so this costs the same with a hundred thousand cards.
pub fn due(conn: &Connection, now: DateTime<Utc>, limit: usize) -> rusqlite::Result<Vec<CardRow>> {
    let mut out = Vec::with_capacity(limit);
    for state in ["learning", "review", "new"] {
        if out.len() >= limit {
            break;
        }
        // The state is written into the statement, not bound: only a literal lets SQLite see
        // that the partial index covers the query.
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} WHERE c.state = '{state}' AND c.due_at <= ?1 ORDER BY c.due_at LIMIT ?2"
        ))?;
        let rows =
            statement.query_map(params![to_db(now), (limit - out.len()) as i64], card_row)?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}

/// How many cards are due now, counted up to `cap` (a number past it is "a lot", and
/// counting a hundred thousand index entries on every `cards_due` would cost more than the
/// answer is worth).
pub fn due_count(conn: &Connection, now: DateTime<Utc>, cap: u64) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT count(*) FROM (SELECT 1 FROM cards
         WHERE state IN ('new', 'learning', 'review') AND due_at <= ?1 LIMIT ?2)",
        params![to_db(now), cap as i64],
        |row| row.get::<_, i64>(0).map(|n| n.max(0) as u64),
    )
}

/// One card.
pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<CardRow>> {
    conn.query_row(&format!("SELECT {COLUMNS} WHERE c.id = ?1"), [id], card_row)
        .optional()
}

/// The newest `limit` cards (all states, or one).
pub fn recent(
    conn: &Connection,
    state: Option<State>,
    limit: usize,
) -> rusqlite::Result<Vec<CardRow>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} WHERE (?1 IS NULL OR c.state = ?1) ORDER BY c.created_at DESC, c.id LIMIT ?2"
    ))?;
    statement
        .query_map(params![state.map(State::as_str), limit as i64], card_row)?
        .collect()
}

/// Every card that is not rejected, oldest first: what goes to Anki.
pub fn exportable(conn: &Connection, mut each: impl FnMut(CardRow)) -> rusqlite::Result<()> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} WHERE c.state != 'rejected' ORDER BY c.created_at, c.id"
    ))?;
    let rows = statement.query_map([], card_row)?;
    for row in rows {
        each(row?);
    }
    Ok(())
}

/// What a review changed.
#[derive(Debug, Clone, Copy)]
pub struct Reviewed {
    pub state: State,
    pub stability: f64,
    pub difficulty: f64,
    pub due_at: DateTime<Utc>,
    pub lapse: bool,
    pub grade: u32,
    pub elapsed_days: f64,
}

/// Records a review and the card's new schedule, in one transaction.
pub fn review(
    conn: &mut Connection,
    id: &str,
    review: &Reviewed,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE cards SET state = ?2, stability = ?3, difficulty = ?4, due_at = ?5,
             reps = reps + 1, lapses = lapses + ?6, last_review = ?7, updated_at = ?7
         WHERE id = ?1",
        params![
            id,
            review.state.as_str(),
            review.stability,
            review.difficulty,
            to_db(review.due_at),
            i64::from(review.lapse),
            to_db(now)
        ],
    )?;
    tx.execute(
        "INSERT INTO card_reviews (card_id, at, grade, elapsed_days, stability, difficulty, due_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            to_db(now),
            review.grade,
            review.elapsed_days,
            review.stability,
            review.difficulty,
            to_db(review.due_at)
        ],
    )?;
    tx.commit()
}

/// Sets a card's state (suspend, unsuspend, reject with a reason).
pub fn set_state(
    conn: &Connection,
    id: &str,
    state: State,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE cards SET state = ?2, reason = coalesce(?3, reason), updated_at = ?4 WHERE id = ?1",
        params![id, state.as_str(), reason, to_db(now)],
    )?;
    Ok(())
}

/// Replaces a card's question and answer (an edit by the person); `norm` follows.
pub fn edit(
    conn: &Connection,
    id: &str,
    front: &str,
    back: &str,
    norm: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let rowid: i64 = conn.query_row("SELECT rowid FROM cards WHERE id = ?1", [id], |row| {
        row.get(0)
    })?;
    conn.execute(
        "UPDATE cards SET front = ?2, back = ?3, norm = ?4, updated_at = ?5 WHERE id = ?1",
        params![id, front, back, norm, to_db(now)],
    )?;
    conn.execute("DELETE FROM cards_fts WHERE rowid = ?1", [rowid])?;
    conn.execute(
        "INSERT INTO cards_fts (rowid, terms) VALUES (?1, ?2)",
        params![rowid, tokens::index_form(&format!("{front} {back}"))],
    )?;
    Ok(())
}

/// The job's watermark: the last message id a successful run read.
pub fn watermark(conn: &Connection, job: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT message_id FROM card_watermarks WHERE job_id = ?1",
        [job],
        |row| row.get(0),
    )
    .optional()
}

pub fn set_watermark(conn: &Connection, job: &str, message_id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO card_watermarks (job_id, message_id) VALUES (?1, ?2)
         ON CONFLICT (job_id) DO UPDATE SET message_id = ?2",
        params![job, message_id],
    )?;
    Ok(())
}

/// A generation's record: what one run read, made and dropped.
pub struct Generation<'a> {
    pub job: &'a str,
    pub generator: &'a str,
    pub model: Option<&'a str>,
    pub messages: usize,
    pub made: usize,
    /// Reason → count.
    pub dropped: &'a serde_json::Value,
}

pub fn record_generation(
    conn: &Connection,
    record: &Generation<'_>,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO card_generations (job_id, at, generator, model, messages, made, dropped)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            record.job,
            to_db(now),
            record.generator,
            record.model,
            record.messages as i64,
            record.made as i64,
            record.dropped.to_string()
        ],
    )?;
    Ok(())
}

/// Cards due on each of the `days` days from `from` (the first day takes everything overdue).
pub fn forecast(conn: &Connection, from: DateTime<Utc>, days: usize) -> rusqlite::Result<Vec<u64>> {
    let mut counts = vec![0u64; days];
    let day = 86_400_000_000i64;
    let start = to_db(from);
    let mut statement = conn.prepare_cached(
        "SELECT (max(due_at, ?1) - ?1) / ?2, count(*) FROM cards
         WHERE state IN ('new', 'learning', 'review') AND due_at < ?1 + ?2 * ?3
         GROUP BY 1",
    )?;
    let rows = statement.query_map(params![start, day, days as i64], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (index, count) = row?;
        if let Some(slot) = counts.get_mut(index.max(0) as usize) {
            *slot += count.max(0) as u64;
        }
    }
    Ok(counts)
}

/// Kept and rejected cards of one generator and model.
pub struct AcceptanceRow {
    pub generator: String,
    pub model: Option<String>,
    /// Not rejected (new, learning, in review or suspended).
    pub accepted: u64,
    pub rejected: u64,
}

/// Accepted (kept, not rejected) and rejected cards per generator and model.
pub fn acceptance(conn: &Connection) -> rusqlite::Result<Vec<AcceptanceRow>> {
    let mut statement = conn.prepare_cached(
        "SELECT generator, model, sum(state != 'rejected'), sum(state = 'rejected')
         FROM cards GROUP BY generator, model ORDER BY generator, model",
    )?;
    statement
        .query_map([], |row| {
            Ok(AcceptanceRow {
                generator: row.get(0)?,
                model: row.get(1)?,
                accepted: row.get::<_, i64>(2)?.max(0) as u64,
                rejected: row.get::<_, i64>(3)?.max(0) as u64,
            })
        })?
        .collect()
}

/// Counts for the page and the commands: due now, and cards per state.
pub fn counts(
    conn: &Connection,
    now: DateTime<Utc>,
) -> rusqlite::Result<(u64, Vec<(String, u64)>)> {
    let due = due_before(conn, now + chrono::Duration::microseconds(1))?;
    let mut statement =
        conn.prepare_cached("SELECT state, count(*) FROM cards GROUP BY state ORDER BY state")?;
    let states = statement
        .query_map([], |row| {
            Ok((row.get(0)?, row.get::<_, i64>(1)?.max(0) as u64))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((due, states))
}
