//! Reviewing: what is due, answering one card, and the person's feedback (reject, edit,
//! suspend). Shared by the MCP tools and `backoffice cards`; the questions never carry the
//! answer.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;
use serde::Serialize;

use super::card::{Grade, State, answer_text, question_text};
use super::schedule::{self, Before, Memory, MemoryModel};
use super::store::{self, CardRow, Reviewed};

/// A due card as the person sees it before answering.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DueCard {
    pub card_id: String,
    /// The question (a cloze with `[...]` where the answer was).
    pub question: String,
    pub kind: String,
    pub state: String,
    pub tags: Vec<String>,
    /// The conversation it came from.
    pub session_id: String,
    pub session_title: Option<String>,
    pub channel: Option<String>,
    /// RFC 3339.
    pub due: String,
}

impl DueCard {
    pub fn from_row(row: &CardRow) -> DueCard {
        DueCard {
            card_id: row.id.clone(),
            question: question_text(row.kind, &row.front),
            kind: row.kind.as_str().into(),
            state: row.state.as_str().into(),
            tags: row.tags.clone(),
            session_id: row.session_id.clone(),
            session_title: row.session_title.clone(),
            channel: row.channel.clone(),
            due: time(row.due_at),
        }
    }
}

/// After an answer: the reference answer, its source, and when the card comes back.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Answered {
    pub card_id: String,
    pub question: String,
    /// The reference answer.
    pub answer: String,
    /// The words of the conversation that support it.
    pub quote: String,
    pub session_title: Option<String>,
    pub channel: Option<String>,
    pub grade: Grade,
    /// RFC 3339.
    pub next_due: String,
    /// How long until then, shortly: `10m`, `9d`.
    pub next_in: String,
    pub state: String,
    /// Days until recall is expected to fall to 90%.
    pub stability: f64,
}

/// Why a review or feedback could not be done, in words for the person (or model) asking.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no card `{0}`: take the card_id from cards_due or `backoffice cards due`")]
    Unknown(String),
    #[error("card `{id}` is {state}: {hint}")]
    NotReviewable {
        id: String,
        state: &'static str,
        hint: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn fetch(conn: &Connection, id: &str) -> Result<CardRow, ReviewError> {
    store::get(conn, id.trim())?.ok_or_else(|| ReviewError::Unknown(id.trim().to_string()))
}

/// Grades card `id` at `now`.
pub fn answer(
    conn: &mut Connection,
    model: &dyn MemoryModel,
    id: &str,
    grade: Grade,
    now: DateTime<Utc>,
) -> Result<Answered, ReviewError> {
    let card = fetch(conn, id)?;
    match card.state {
        State::Rejected => {
            return Err(ReviewError::NotReviewable {
                id: card.id,
                state: "rejected",
                hint: "rejected cards are never reviewed",
            });
        }
        State::Suspended => {
            return Err(ReviewError::NotReviewable {
                id: card.id,
                state: "suspended",
                hint: "unsuspend it with card_feedback first",
            });
        }
        State::New | State::Learning | State::Review => {}
    }
    let before = Before {
        state: card.state,
        memory: card
            .stability
            .zip(card.difficulty)
            .map(|(stability, difficulty)| Memory {
                stability,
                difficulty,
            }),
        last_review: card.last_review,
        reps: card.reps,
    };
    let after = schedule::review(model, &card.id, &before, grade, now, card.retention)
        .map_err(ReviewError::Invalid)?;
    store::review(
        conn,
        &card.id,
        &Reviewed {
            state: after.state,
            stability: after.memory.stability,
            difficulty: after.memory.difficulty,
            due_at: after.due,
            lapse: after.lapse,
            grade: grade.rating(),
            elapsed_days: after.elapsed_days,
        },
        now,
    )?;
    Ok(Answered {
        question: question_text(card.kind, &card.front),
        answer: answer_text(card.kind, &card.front, &card.back),
        quote: card.quote,
        session_title: card.session_title,
        channel: card.channel,
        card_id: card.id,
        grade,
        next_due: time(after.due),
        next_in: crate::display::relative(after.due, now)
            .trim_start_matches("in ")
            .to_string(),
        state: after.state.as_str().into(),
        stability: (after.memory.stability * 100.0).round() / 100.0,
    })
}

/// What the person says about a card.
#[derive(Debug, Clone, PartialEq)]
pub enum Feedback {
    /// Never show it again, nor propose anything like it.
    Reject(String),
    Suspend,
    Unsuspend,
    Edit {
        front: Option<String>,
        back: Option<String>,
    },
}

/// Applies `feedback` to card `id`; returns its state after.
pub fn feedback(
    conn: &Connection,
    id: &str,
    feedback: &Feedback,
    now: DateTime<Utc>,
) -> Result<CardRow, ReviewError> {
    let card = fetch(conn, id)?;
    if card.state == State::Rejected {
        return match feedback {
            Feedback::Reject(_) => Ok(card),
            _ => Err(ReviewError::NotReviewable {
                id: card.id,
                state: "rejected",
                hint: "a rejected card stays rejected",
            }),
        };
    }
    match feedback {
        Feedback::Reject(reason) => {
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(ReviewError::Invalid(
                    "say why in `reason` (\"trivia\", \"wrong\", \"duplicate\"...): it is kept with the card".into(),
                ));
            }
            store::set_state(conn, &card.id, State::Rejected, Some(reason), now)?;
        }
        Feedback::Suspend => store::set_state(conn, &card.id, State::Suspended, None, now)?,
        Feedback::Unsuspend => {
            let state = if card.reps == 0 {
                State::New
            } else if card.stability.is_some() && card.state == State::Suspended {
                State::Review
            } else {
                card.state
            };
            store::set_state(conn, &card.id, state, None, now)?;
        }
        Feedback::Edit { front, back } => {
            let front = front.clone().unwrap_or_else(|| card.front.clone());
            let back = back.clone().unwrap_or_else(|| card.back.clone());
            let proposal = super::card::Proposal {
                kind: card.kind,
                front: front.clone(),
                back: back.clone(),
                tags: Vec::new(),
                message_ids: card.message_ids.clone(),
                quote: card.quote.clone(),
                session_id: card.session_id.clone(),
            };
            super::gates::check(&proposal)
                .map_err(|why| ReviewError::Invalid(format!("the edited card {why}")))?;
            let norm = super::dedup::key(&front, &back);
            if norm != super::dedup::key(&card.front, &card.back) && store::has_norm(conn, &norm)? {
                return Err(ReviewError::Invalid(
                    "another card already says exactly this; reject this one instead".into(),
                ));
            }
            store::edit(
                conn,
                &card.id,
                front.trim(),
                back.trim(),
                &super::dedup::key(&front, &back),
                now,
            )?;
        }
    }
    fetch(conn, &card.id)
}
