//! `extract`: ranked full-text search over every conversation.
//!
//! Ranking is bm25 mixed with recency. To keep a query fast at millions of messages, bm25 is
//! computed only for the most recent [`CANDIDATES`] messages that match every word (FTS5
//! walks its index newest first and stops there); within them the best scores win. When no
//! message has every word, any word may match, ranked by bm25 over all matches.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::Serialize;

use super::store::{Role, format_time};
use super::tokens::{self, Join, QueryWord};
use crate::store::time::{from_db, to_db};

/// How many of the newest matches are scored.
pub const CANDIDATES: usize = 500;
/// How fast relevance fades with age: a month-old message counts 1/(1 + 30·0.02) = 62%.
const DECAY_PER_DAY: f64 = 0.02;
/// Characters of context on each side of the first match in a snippet.
const SNIPPET_CONTEXT: usize = 60;

/// A search and its filters.
#[derive(Debug, Clone, Default)]
pub struct ExtractQuery {
    pub text: String,
    pub channel: Option<String>,
    pub session_id: Option<String>,
    pub workspace: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: usize,
    /// How many ranked hits to skip (the cursor of the previous page).
    pub offset: usize,
}

/// One matching message.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Hit {
    pub session_id: String,
    pub channel: String,
    pub session_title: Option<String>,
    pub workspace: Option<String>,
    /// Position of the message in its session (for `get_session`).
    pub seq: u64,
    pub role: Role,
    /// RFC 3339, UTC.
    pub at: String,
    /// The text around the first match, matches marked with `**`.
    pub snippet: String,
    /// Higher is better: bm25 relevance faded by age.
    pub score: f64,
}

/// A page of hits.
#[derive(Debug, Clone)]
pub struct ExtractPage {
    pub hits: Vec<Hit>,
    /// Offset of the next page, when there are more hits.
    pub next_offset: Option<usize>,
    /// Whether every word had to match (`false`: the any-word fallback ran).
    pub matched_all_words: bool,
}

struct Candidate {
    relevance: f64,
    at: i64,
    session_id: String,
    seq: i64,
    role: String,
    content: String,
    channel: String,
    title: Option<String>,
    workspace: Option<String>,
}

/// Runs `query`. The caller checks that it has searchable words ([`tokens::query_words`]).
pub fn extract(
    conn: &Connection,
    query: &ExtractQuery,
    now: DateTime<Utc>,
) -> rusqlite::Result<ExtractPage> {
    let words = tokens::query_words(&query.text);
    if words.is_empty() {
        return Ok(ExtractPage {
            hits: Vec::new(),
            next_offset: None,
            matched_all_words: true,
        });
    }
    let mut candidates = candidates(conn, query, &words, Join::All)?;
    let mut matched_all_words = true;
    if candidates.is_empty() && words.len() > 1 {
        candidates = candidates_any(conn, query, &words)?;
        matched_all_words = false;
    }
    let now = to_db(now);
    let mut scored: Vec<(f64, Candidate)> = candidates
        .into_iter()
        .map(|c| {
            let age_days = ((now - c.at).max(0) as f64) / 86_400_000_000.0;
            (c.relevance / (1.0 + DECAY_PER_DAY * age_days), c)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.at.cmp(&a.1.at)));
    let total = scored.len();
    let hits = scored
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .map(|(score, c)| Hit {
            snippet: snippet(&c.content, &words),
            session_id: c.session_id,
            channel: c.channel,
            session_title: c.title,
            workspace: c.workspace,
            seq: c.seq as u64,
            role: Role::from_db(&c.role),
            at: format_time(from_db(c.at)),
            score,
        })
        .collect();
    let next = query.offset + query.limit;
    Ok(ExtractPage {
        hits,
        next_offset: (next < total).then_some(next),
        matched_all_words,
    })
}

const CANDIDATE_SQL: &str = "
    SELECT bm25(messages_fts), m.at, m.session_id, m.seq, m.role, m.content,
           s.channel, s.title, s.workspace
    FROM messages_fts
    JOIN messages m ON m.id = messages_fts.rowid
    JOIN sessions s ON s.id = m.session_id
    WHERE messages_fts MATCH ?1
      AND (?2 IS NULL OR s.channel = ?2)
      AND (?3 IS NULL OR m.session_id = ?3)
      AND (?4 IS NULL OR s.workspace = ?4)
      AND (?5 IS NULL OR m.at >= ?5)
      AND (?6 IS NULL OR m.at < ?6)";

/// The newest matches of all words, with their bm25.
fn candidates(
    conn: &Connection,
    query: &ExtractQuery,
    words: &[QueryWord],
    join: Join,
) -> rusqlite::Result<Vec<Candidate>> {
    run(conn, query, words, join, "ORDER BY messages_fts.rowid DESC")
}

/// The best matches of any word, by bm25 over all of them.
fn candidates_any(
    conn: &Connection,
    query: &ExtractQuery,
    words: &[QueryWord],
) -> rusqlite::Result<Vec<Candidate>> {
    run(conn, query, words, Join::Any, "ORDER BY bm25(messages_fts)")
}

fn run(
    conn: &Connection,
    query: &ExtractQuery,
    words: &[QueryWord],
    join: Join,
    order: &str,
) -> rusqlite::Result<Vec<Candidate>> {
    let mut statement = conn.prepare_cached(&format!("{CANDIDATE_SQL} {order} LIMIT ?7"))?;
    statement
        .query_map(
            params![
                tokens::match_expression(words, join),
                query.channel,
                query.session_id,
                query.workspace,
                query.since.map(to_db),
                query.until.map(to_db),
                CANDIDATES as i64,
            ],
            |row| {
                Ok(Candidate {
                    relevance: -row.get::<_, f64>(0)?,
                    at: row.get(1)?,
                    session_id: row.get(2)?,
                    seq: row.get(3)?,
                    role: row.get(4)?,
                    content: row.get(5)?,
                    channel: row.get(6)?,
                    title: row.get(7)?,
                    workspace: row.get(8)?,
                })
            },
        )?
        .collect()
}

/// The text around the first occurrence of any query word, each occurrence in the window
/// marked with `**`. Case-insensitive for Latin text; the whole message when it is short.
pub fn snippet(content: &str, words: &[QueryWord]) -> String {
    let chars: Vec<char> = content.chars().collect();
    let lower: Vec<char> = chars.iter().map(|c| fold(*c)).collect();
    let needles: Vec<Vec<char>> = words
        .iter()
        .map(|w| w.text.chars().map(fold).collect::<Vec<_>>())
        .filter(|n| !n.is_empty())
        .collect();
    let find_at = |position: usize| {
        needles
            .iter()
            .filter(|n| lower[position..].starts_with(n))
            .map(Vec::len)
            .max()
    };
    let first = (0..lower.len())
        .find(|&i| find_at(i).is_some())
        .unwrap_or(0);
    let start = first.saturating_sub(SNIPPET_CONTEXT);
    let end = (first + 2 * SNIPPET_CONTEXT).min(chars.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut i = start;
    while i < end {
        match find_at(i) {
            Some(len) => {
                out.push_str("**");
                out.extend(&chars[i..(i + len).min(chars.len())]);
                out.push_str("**");
                i += len;
            }
            None => {
                let c = chars[i];
                out.push(if c == '\n' || c == '\r' { ' ' } else { c });
                i += 1;
            }
        }
    }
    if end < chars.len() {
        out.push('…');
    }
    out
}

fn fold(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_mark_matches_and_cut_long_text() {
        let words = tokens::query_words("retry 게임");
        assert_eq!(
            snippet("We set the Retry policy; 게임을 했다", &words),
            "We set the **Retry** policy; **게임**을 했다"
        );
        let long = format!("{}retry{}", "a".repeat(200), "b".repeat(200));
        let cut = snippet(&long, &words);
        assert!(cut.starts_with('…') && cut.ends_with('…'), "{cut}");
        assert!(cut.contains("**retry**"));
    }
}
