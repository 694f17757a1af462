//! The Knowledge Cards tools on the same MCP server: review inside the AI client. `cards_due`
//! shows questions only; `card_answer` takes the person's answer and grade and returns the
//! reference answer, its source quote and the next due date; `card_feedback` rejects (for
//! good), edits or suspends. Errors are tool errors, as for the registry's tools.

use chrono::Utc;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};
use serde::{Deserialize, Serialize};

use super::{RegistryServer, internal};
use crate::cards::card::Grade;
use crate::cards::review::{self, Answered, DueCard, Feedback, ReviewError};
use crate::cards::schedule::Fsrs;
use crate::cards::store;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CardsDueArgs {
    /// How many cards (1 to 50, default 5).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CardsDueResult {
    /// Ask these one at a time; call card_answer with the person's answer and grade.
    pub cards: Vec<DueCard>,
    /// Cards due now in all, counted up to 1000.
    pub due_now: u64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CardAnswerArgs {
    /// The card, from cards_due.
    pub card_id: String,
    /// How well the person remembered: again (forgot), hard, good or easy.
    pub grade: Grade,
    /// The person's own answer, as they said it (not stored).
    pub answer: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CardAnswerResult {
    #[serde(flatten)]
    pub answered: Answered,
    /// The person's answer, to compare with the reference.
    pub your_answer: Option<String>,
}

/// What to do with a card.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Never show it again and never propose it again (give a reason).
    Reject,
    /// Replace its question and/or answer.
    Edit,
    /// Stop showing it until unsuspended.
    Suspend,
    Unsuspend,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CardFeedbackArgs {
    pub card_id: String,
    pub action: Action,
    /// Why it is rejected ("trivia", "wrong", "already know it").
    pub reason: Option<String>,
    /// For edit: the new question.
    pub front: Option<String>,
    /// For edit: the new answer.
    pub back: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CardFeedbackResult {
    pub card_id: String,
    /// new, learning, review, suspended or rejected.
    pub state: String,
    pub question: String,
}

fn refused(error: ReviewError) -> String {
    match error {
        ReviewError::Sql(error) => internal(crate::sqlite::DbError::Sqlite {
            path: std::path::PathBuf::from(crate::registry::FILE_NAME),
            source: error,
        }),
        other => other.to_string(),
    }
}

#[tool_router(router = card_router, vis = "pub(super)")]
impl RegistryServer {
    #[tool(
        description = "Knowledge Cards due for review now: flashcards made from the person's past conversations (all clients). Returns questions only, with the conversation each came from. Ask the person one question, let them answer, then call card_answer with their answer and how well they remembered.",
        annotations(title = "Cards due", read_only_hint = true, open_world_hint = false)
    )]
    async fn cards_due(
        &self,
        Parameters(args): Parameters<CardsDueArgs>,
    ) -> Result<Json<CardsDueResult>, String> {
        let limit = super::bounded("limit", args.limit, 5, 50)?;
        let now = Utc::now();
        let (cards, due_now) = self
            .registry
            .call(move |conn| {
                let cards = store::due(conn, now, limit)?;
                let due_now = store::due_count(conn, now, 1000)?;
                Ok((cards, due_now))
            })
            .await
            .map_err(super::internal)?;
        Ok(Json(CardsDueResult {
            cards: cards.iter().map(DueCard::from_row).collect(),
            due_now,
        }))
    }

    #[tool(
        description = "Record the person's answer to a Knowledge Card and how well they remembered (again, hard, good, easy). Returns the reference answer, the quote from the conversation it came from, and when the card is due next (spaced repetition, FSRS).",
        annotations(
            title = "Answer a card",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn card_answer(
        &self,
        Parameters(args): Parameters<CardAnswerArgs>,
    ) -> Result<Json<CardAnswerResult>, String> {
        let (id, grade) = (args.card_id.clone(), args.grade);
        let answered = self
            .registry
            .call(move |conn| {
                Ok(review::answer(
                    conn,
                    &Fsrs::default(),
                    &id,
                    grade,
                    Utc::now(),
                ))
            })
            .await
            .map_err(super::internal)?
            .map_err(refused)?;
        Ok(Json(CardAnswerResult {
            answered,
            your_answer: args.answer,
        }))
    }

    #[tool(
        description = "Give feedback on a Knowledge Card: reject it for good (with a reason; it is never proposed again), edit its question or answer, suspend or unsuspend it.",
        annotations(
            title = "Card feedback",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn card_feedback(
        &self,
        Parameters(args): Parameters<CardFeedbackArgs>,
    ) -> Result<Json<CardFeedbackResult>, String> {
        let feedback = match args.action {
            Action::Reject => Feedback::Reject(args.reason.unwrap_or_default()),
            Action::Suspend => Feedback::Suspend,
            Action::Unsuspend => Feedback::Unsuspend,
            Action::Edit if args.front.is_none() && args.back.is_none() => {
                return Err("edit needs `front`, `back` or both".into());
            }
            Action::Edit => Feedback::Edit {
                front: args.front,
                back: args.back,
            },
        };
        let id = args.card_id;
        let card = self
            .registry
            .call(move |conn| Ok(review::feedback(conn, &id, &feedback, Utc::now())))
            .await
            .map_err(super::internal)?
            .map_err(refused)?;
        Ok(Json(CardFeedbackResult {
            question: crate::cards::card::question_text(card.kind, &card.front),
            state: card.state.as_str().into(),
            card_id: card.id,
        }))
    }
}
