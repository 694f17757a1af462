//! Cards from a model: the exchanges (secrets scrubbed, secret-looking sentences and code
//! left out) go to the OpenAI-compatible endpoint with a JSON schema; what comes back is
//! only a proposal, judged like any other.

use serde::Deserialize;
use serde_json::{Value, json};

use super::card::{Kind, Proposal};
use super::filter::{looks_secret, sentences};
use super::source::Exchange;
use crate::connectors::llm::{self, ChatRequest, Completion, Message};
use crate::connectors::{Connectors, secret::scrub};
use crate::run_error::RunError;

/// Most characters of conversation per request: a small local model's context.
const MAX_PROMPT_CHARS: usize = 12_000;

const INSTRUCTIONS: &str = "You write spaced-repetition flashcards from a person's conversations with AI assistants, so they remember what they learned, were corrected on, or decided.
Rules:
- One fact per card. The answer is short (a phrase or one sentence), never a list of more than three things.
- The question names its subject and makes sense weeks later without the conversation (never \"it\", \"this\", \"the above\").
- The answer must not appear in the question.
- Skip trivia, one-off values (ids, hashes, paths, numbers), pasted code, and anything secret.
- \"cloze\" cards are one sentence with the key term as {{c1::term}}; never nest deletions.
- Cite the message ids the card comes from in message_ids, and copy into quote a short exact phrase from a cited message that supports the answer.
- Write in the language of the conversation (Korean stays Korean).
Answer with JSON only, matching the schema.";

/// The schema the model is held to.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "cards": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "front": {"type": "string"},
                        "back": {"type": "string"},
                        "kind": {"type": "string", "enum": ["basic", "cloze"]},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "message_ids": {"type": "array", "items": {"type": "integer"}},
                        "quote": {"type": "string"}
                    },
                    "required": ["front", "back", "kind", "message_ids", "quote"]
                }
            }
        },
        "required": ["cards"]
    })
}

#[derive(Deserialize)]
struct Answer {
    cards: Vec<WireCard>,
}

#[derive(Deserialize)]
struct WireCard {
    front: String,
    #[serde(default)]
    back: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    message_ids: Vec<i64>,
    #[serde(default)]
    quote: String,
}

/// The conversation as the model sees it: each message as `[m<id>] role: text`, scrubbed,
/// code and secret-looking sentences left out, within [`MAX_PROMPT_CHARS`]; and how many of
/// `exchanges` (from the first) it holds.
pub fn conversation(exchanges: &[Exchange]) -> (String, usize) {
    let mut out = String::new();
    let mut used = 0;
    for exchange in exchanges {
        let mut block = match &exchange.title {
            Some(title) => format!("## {} ({})\n", scrub(title), exchange.channel),
            None => format!("## ({})\n", exchange.channel),
        };
        for message in exchange.messages() {
            let kept: Vec<String> = sentences(&message.content)
                .into_iter()
                .filter(|s| !looks_secret(s))
                .map(|s| scrub(&s).into_owned())
                .collect();
            if !kept.is_empty() {
                block.push_str(&format!(
                    "[m{}] {}: {}\n",
                    message.id,
                    message.role,
                    kept.join(" ")
                ));
            }
        }
        if out.len() + block.len() > MAX_PROMPT_CHARS && used > 0 {
            break;
        }
        out.push_str(&block);
        used += 1;
    }
    (out, used)
}

/// What the model proposed, or why nothing could be read from its answer.
pub enum Proposed {
    Cards(Vec<Proposal>, Completion),
    /// Not JSON of the schema: counted as one dropped answer.
    Invalid(Completion),
}

/// Asks the model for at most `wanted` cards from `exchanges`.
pub async fn propose(
    connectors: &Connectors,
    model: &str,
    exchanges: &[Exchange],
    wanted: u32,
) -> Result<Proposed, RunError> {
    let (text, _) = conversation(exchanges);
    let sessions: std::collections::HashMap<i64, String> = exchanges
        .iter()
        .flat_map(Exchange::messages)
        .map(|m| (m.id, m.session_id.clone()))
        .collect();
    let request = ChatRequest {
        model: model.to_string(),
        messages: vec![
            Message {
                role: "system",
                content: format!("{INSTRUCTIONS}\nSchema: {}", schema()),
            },
            Message {
                role: "user",
                content: format!(
                    "Write at most {wanted} cards from these conversations.\n\n{text}"
                ),
            },
        ],
        temperature: 0.2,
        max_tokens: Some(2000),
        stream: false,
        response_format: Some(
            json!({"type": "json_schema", "json_schema": {"name": "cards", "schema": schema()}}),
        ),
    };
    let completion = llm::complete(&connectors.http, &connectors.llm, &request).await?;
    let body = completion.text.trim();
    let body = body
        .strip_prefix("```json")
        .or_else(|| body.strip_prefix("```"))
        .map_or(body, |rest| rest.trim_end_matches("```").trim());
    let Ok(answer) = serde_json::from_str::<Answer>(body) else {
        return Ok(Proposed::Invalid(completion));
    };
    let cards = answer
        .cards
        .into_iter()
        .map(|card| {
            let session_id = card
                .message_ids
                .iter()
                .find_map(|id| sessions.get(id).cloned())
                .unwrap_or_default();
            let kind = match card.kind.as_deref() {
                Some("cloze") => Kind::Cloze,
                _ => Kind::Basic,
            };
            Proposal {
                kind,
                front: card.front,
                back: card.back,
                tags: card.tags.into_iter().take(5).collect(),
                message_ids: card.message_ids,
                quote: card.quote,
                session_id,
            }
        })
        .collect();
    Ok(Proposed::Cards(cards, completion))
}
