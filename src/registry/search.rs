//! `extract`: ranked full-text search over every conversation.
//!
//! FTS5 finds the newest [`CANDIDATES`] messages that contain every query word (walking its
//! index newest first and stopping there, so a common word costs the same at a million
//! messages as at a thousand); when none has them all, the newest that contain any. Those are
//! ranked here with BM25 (term frequency saturating, long messages damped, rarer words weighing
//! more within the candidates) faded by age. FTS5's own `bm25()` is not used: it counts every
//! match of every word in the whole index to weigh them, which at a million messages costs tens
//! of milliseconds for a common word.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::Serialize;

use super::store::{Role, format_time};
use super::tokens::{self, Join, QueryWord};
use crate::store::time::{from_db, to_db};

/// How many of the newest matches are ranked.
pub const CANDIDATES: usize = 500;
/// BM25's term-frequency saturation and length normalisation, at their usual values.
const K1: f64 = 1.2;
const B: f64 = 0.75;
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
    /// Higher is better: BM25 relevance faded by age.
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
    let mut candidates = newest_matches(conn, query, &words, Join::All)?;
    let mut matched_all_words = true;
    if candidates.is_empty() && words.len() > 1 {
        candidates = newest_matches(conn, query, &words, Join::Any)?;
        matched_all_words = false;
    }
    let relevance = bm25(&candidates, &words, matched_all_words);
    let now = to_db(now);
    let mut scored: Vec<(f64, Candidate)> = candidates
        .into_iter()
        .zip(relevance)
        .map(|(c, relevance)| {
            let age_days = ((now - c.at).max(0) as f64) / 86_400_000_000.0;
            (relevance / (1.0 + DECAY_PER_DAY * age_days), c)
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
    SELECT m.at, m.session_id, m.seq, m.role, m.content, s.channel, s.title, s.workspace
    FROM messages_fts
    JOIN messages m ON m.id = messages_fts.rowid
    JOIN sessions s ON s.id = m.session_id
    WHERE messages_fts MATCH ?1
      AND (?2 IS NULL OR s.channel = ?2)
      AND (?3 IS NULL OR m.session_id = ?3)
      AND (?4 IS NULL OR s.workspace = ?4)
      AND (?5 IS NULL OR m.at >= ?5)
      AND (?6 IS NULL OR m.at < ?6)
    ORDER BY messages_fts.rowid DESC
    LIMIT ?7";

/// The newest messages matching all (or any) of `words`, within the filters.
fn newest_matches(
    conn: &Connection,
    query: &ExtractQuery,
    words: &[QueryWord],
    join: Join,
) -> rusqlite::Result<Vec<Candidate>> {
    let mut statement = conn.prepare_cached(CANDIDATE_SQL)?;
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
                    at: row.get(0)?,
                    session_id: row.get(1)?,
                    seq: row.get(2)?,
                    role: row.get(3)?,
                    content: row.get(4)?,
                    channel: row.get(5)?,
                    title: row.get(6)?,
                    workspace: row.get(7)?,
                })
            },
        )?
        .collect()
}

/// BM25 of each candidate for `words`. Document frequencies come from the candidates
/// themselves (a word in fewer of them weighs more); when every word had to match, a word
/// FTS matched but the text does not spell the same way (`e-mail` for `e mail`) counts once.
fn bm25(candidates: &[Candidate], words: &[QueryWord], all_words: bool) -> Vec<f64> {
    let needles: Vec<Vec<char>> = words
        .iter()
        .map(|w| w.text.chars().map(fold).collect())
        .collect();
    let folded: Vec<Vec<char>> = candidates
        .iter()
        .map(|c| c.content.chars().map(fold).collect())
        .collect();
    let counts: Vec<Vec<usize>> = folded
        .iter()
        .map(|text| {
            needles
                .iter()
                .map(|n| {
                    let found = occurrences(text, n);
                    if all_words { found.max(1) } else { found }
                })
                .collect()
        })
        .collect();
    let total = candidates.len() as f64;
    let idf: Vec<f64> = (0..needles.len())
        .map(|w| {
            let containing = counts.iter().filter(|c| c[w] > 0).count() as f64;
            (1.0 + (total - containing + 0.5) / (containing + 0.5)).ln()
        })
        .collect();
    let average = folded.iter().map(Vec::len).sum::<usize>() as f64 / total.max(1.0);
    folded
        .iter()
        .zip(&counts)
        .map(|(text, counts)| {
            let damping = K1 * (1.0 - B + B * text.len() as f64 / average.max(1.0));
            counts
                .iter()
                .zip(&idf)
                .map(|(&tf, idf)| {
                    let tf = tf as f64;
                    idf * tf * (K1 + 1.0) / (tf + damping)
                })
                .sum()
        })
        .collect()
}

/// How often `needle` occurs in `text` (both case-folded), without overlaps.
fn occurrences(text: &[char], needle: &[char]) -> usize {
    if needle.is_empty() || needle.len() > text.len() {
        return 0;
    }
    let (mut count, mut i) = (0, 0);
    while i + needle.len() <= text.len() {
        if text[i..].starts_with(needle) {
            count += 1;
            i += needle.len();
        } else {
            i += 1;
        }
    }
    count
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
