//! What a Knowledge Cards job's file asks for, validated by `job_file::ambient`; serialised
//! into the job's definition.

use serde::Serialize;

/// Cards made per run when the job sets no `max_cards`.
pub const DEFAULT_MAX_CARDS: u32 = 10;
/// New cards per day when the job sets no `daily_new_limit`.
pub const DEFAULT_DAILY_NEW: u32 = 20;
/// The share of reviews FSRS aims to have remembered.
pub const DEFAULT_RETENTION: f64 = 0.9;

/// Who writes the cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Generator {
    /// The OpenAI-compatible endpoint, with a JSON schema; rules when no model answers.
    Llm,
    /// Rules only: definitions, decisions, commands, error → fix. No model needed.
    Offline,
}

impl Generator {
    pub fn name(self) -> &'static str {
        match self {
            Generator::Llm => "llm",
            Generator::Offline => "offline",
        }
    }
}

/// `kind = "ambient"`, `[ambient] task = "knowledge-cards"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CardsTask {
    /// Only conversations of these channels; empty means all.
    pub channels: Vec<String>,
    /// Only conversations about these workspaces; empty means all.
    pub workspaces: Vec<String>,
    pub max_cards: u32,
    pub daily_new_limit: u32,
    pub generator: Generator,
    /// `None`: `BACKOFFICE_LLM_MODEL`, else the built-in default.
    pub model: Option<String>,
    pub desired_retention: f64,
}
