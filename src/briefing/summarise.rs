//! Turning ranked items into sections with the model: one call when they fit the context,
//! one per chunk when they do not (combined in code), one repair request for an unusable
//! answer, and the digest for whatever the model could not do.

use std::collections::HashMap;
use std::time::Instant;

use super::answer::{self, Reading};
use super::digest::digest;
use super::item::Item;
use super::prompt::{self, SECTIONS};
use super::record::{Bullet, Call, Section};
use crate::connectors::Connectors;
use crate::connectors::llm::{self, ChatRequest, Message};

/// Calls per briefing at most: with a small context, the rest is left out (and counted).
const MAX_CHUNKS: usize = 6;
/// Bullets per section after combining chunks.
const MAX_BULLETS: usize = 10;
/// An input budget below this cannot hold a useful set of items.
const MIN_BUDGET: u64 = 300;

/// The model's settings for one briefing.
pub struct ModelSettings<'a> {
    pub model: &'a str,
    pub temperature: f64,
    pub max_tokens: u32,
    pub context_tokens: u32,
    pub zone: chrono_tz::Tz,
    /// The local day the briefing is made, so item lines of that day need no date.
    pub today: chrono::NaiveDate,
}

/// What summarising produced.
#[derive(Debug, Default)]
pub struct Summary {
    pub sections: Vec<Section>,
    /// Why some or all of it is a digest.
    pub degraded: Option<String>,
    pub claims_dropped: usize,
    pub calls: Vec<Call>,
    pub strategy: String,
    pub shortened: usize,
    pub left_out: usize,
    pub sent_tokens: u64,
    /// Ids of the items in calls the model answered: it saw them and chose what to say.
    pub answered: Vec<String>,
}

/// Summarises `items` (ranked, best first) for `instructions` (the rendered prompt).
pub async fn summarise(
    connectors: &Connectors,
    settings: &ModelSettings<'_>,
    instructions: &str,
    items: &mut [Item],
) -> Summary {
    let mut summary = Summary::default();
    if items.is_empty() {
        summary.strategy = "none (nothing new)".into();
        return summary;
    }
    let system = prompt::system();
    let fixed = prompt::tokens(&system) + prompt::tokens(instructions) + 64;
    // Room for the answer twice: a repair request carries the unusable answer back.
    let budget = prompt::input_budget(
        settings.context_tokens,
        settings.max_tokens.saturating_mul(2),
        fixed,
    );
    if budget < MIN_BUDGET {
        summary.degraded = Some(format!(
            "the model's context ({} tokens) leaves no room for items after the instructions and \
             max_tokens = {}; raise agent.context_tokens (and the server's context) or lower max_tokens",
            settings.context_tokens, settings.max_tokens
        ));
        summary.strategy = "digest".into();
        summary.sections = digest(&items.iter().collect::<Vec<_>>());
        return summary;
    }
    let plan = prompt::plan(items, budget, MAX_CHUNKS);
    summary.shortened = plan.shortened;
    summary.left_out = plan.left_out;
    let short_ids = short_ids(items);
    let by_short: HashMap<String, &Item> = short_ids
        .iter()
        .enumerate()
        .map(|(i, short)| (short.clone(), &items[i]))
        .collect();
    summary.strategy = if plan.chunks.len() == 1 {
        "single".into()
    } else {
        format!("chunked:{}", plan.chunks.len())
    };
    let mut readings: Vec<Reading> = Vec::new();
    let mut unanswered: Vec<&Item> = Vec::new();
    let mut model_down: Option<String> = None;
    let count = plan.chunks.len();
    for (n, chunk) in plan.chunks.iter().enumerate() {
        let chunk_items: Vec<&Item> = chunk.iter().map(|&i| &items[i]).collect();
        if model_down.is_some() {
            unanswered.extend(chunk_items);
            continue;
        }
        let lines: Vec<String> = chunk
            .iter()
            .map(|&i| prompt::line(&short_ids[i], &items[i], settings.zone, settings.today))
            .collect();
        let user = format!(
            "{instructions}\n\nItems ({} of {}):\n{}",
            chunk.len(),
            items.len(),
            lines.join("\n")
        );
        summary.sent_tokens += lines.iter().map(|l| prompt::tokens(l)).sum::<u64>();
        let step = if count == 1 {
            "summary".to_string()
        } else {
            format!("chunk {}/{count}", n + 1)
        };
        match ask(
            connectors,
            settings,
            &system,
            &user,
            &step,
            &by_short,
            &mut summary.calls,
        )
        .await
        {
            Ok(reading) => {
                summary.claims_dropped += reading.dropped;
                summary
                    .answered
                    .extend(chunk_items.iter().map(|i| i.id.clone()));
                readings.push(reading);
            }
            Err(Failure::Unreachable(reason)) => {
                model_down = Some(reason);
                unanswered.extend(chunk_items);
            }
            Err(Failure::Unusable(reason)) => {
                summary.degraded.get_or_insert(format!(
                    "the model's answer was unusable twice ({reason}); those items are listed as a digest"
                ));
                unanswered.extend(chunk_items);
            }
        }
    }
    if let Some(reason) = model_down {
        summary.degraded = Some(format!("no model answered: {reason}"));
    }
    summary.sections = combine(readings, items);
    if !unanswered.is_empty() {
        summary.sections.extend(digest(&unanswered));
    }
    summary
}

/// `S1, S2, …, G1, …, N1, …` in ranking order within each source.
fn short_ids(items: &[Item]) -> Vec<String> {
    let mut counters: HashMap<char, usize> = HashMap::new();
    items
        .iter()
        .map(|item| {
            let letter = item.source.letter();
            let n = counters.entry(letter).or_default();
            *n += 1;
            format!("{letter}{n}")
        })
        .collect()
}

enum Failure {
    /// No answer at all: the server is down, the model is missing.
    Unreachable(String),
    /// An answer, twice, that is not the JSON asked for.
    Unusable(String),
}

/// One call, and one repair request when its answer is unusable.
async fn ask(
    connectors: &Connectors,
    settings: &ModelSettings<'_>,
    system: &str,
    user: &str,
    step: &str,
    ids: &HashMap<String, &Item>,
    calls: &mut Vec<Call>,
) -> Result<Reading, Failure> {
    let mut messages = vec![
        Message {
            role: "system",
            content: system.to_string(),
        },
        Message {
            role: "user",
            content: user.to_string(),
        },
    ];
    let mut first_problem = None;
    for attempt in 0..2 {
        let request = ChatRequest {
            model: settings.model.to_string(),
            messages: messages.clone(),
            temperature: settings.temperature,
            max_tokens: Some(settings.max_tokens),
            stream: false,
            response_format: Some(prompt::response_format()),
        };
        let estimated = messages.iter().map(|m| prompt::tokens(&m.content)).sum();
        let started = Instant::now();
        let completion = llm::complete(&connectors.http, &connectors.llm, &request).await;
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let completion = match completion {
            Ok(completion) => completion,
            Err(error) => {
                calls.push(Call {
                    step: step.to_string(),
                    prompt_tokens: None,
                    completion_tokens: None,
                    estimated_tokens: estimated,
                    ms,
                });
                return Err(Failure::Unreachable(error.message));
            }
        };
        calls.push(Call {
            step: if attempt == 0 {
                step.to_string()
            } else {
                format!("{step} (repair)")
            },
            prompt_tokens: completion.prompt_tokens,
            completion_tokens: completion.completion_tokens,
            estimated_tokens: estimated,
            ms,
        });
        let cut = completion.finish_reason.as_deref() == Some("length");
        match answer::read(&completion.text, ids) {
            Ok(reading) => return Ok(reading),
            Err(problem) => {
                let problem = if cut {
                    format!(
                        "{problem}; the model stopped at max_tokens = {}",
                        settings.max_tokens
                    )
                } else {
                    problem
                };
                first_problem.get_or_insert(problem);
                messages.push(Message {
                    role: "assistant",
                    content: completion.text,
                });
                messages.push(Message {
                    role: "user",
                    content: "That answer cannot be read. Reply again with only the JSON object \
                              described in the instructions: keys decisions, to_answer and updates, \
                              each a list of {\"ids\": [...], \"text\": \"...\"}. Keep it short."
                        .into(),
                });
            }
        }
    }
    Err(Failure::Unusable(first_problem.unwrap_or_default()))
}

/// Sections of all chunks merged: a bullet repeated word for word once, ordered by the best
/// rank of what they cite, at most [`MAX_BULLETS`] each.
fn combine(readings: Vec<Reading>, items: &[Item]) -> Vec<Section> {
    if readings.is_empty() {
        return Vec::new();
    }
    let rank: HashMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.id.as_str(), i))
        .collect();
    let best = |bullet: &Bullet| {
        bullet
            .items
            .iter()
            .filter_map(|id| rank.get(id.as_str()))
            .min()
            .copied()
            .unwrap_or(usize::MAX)
    };
    let single = readings.len() == 1;
    SECTIONS
        .iter()
        .map(|(key, heading)| {
            let mut bullets: Vec<Bullet> = Vec::new();
            for reading in &readings {
                for section in reading.sections.iter().filter(|s| s.key == *key) {
                    for bullet in &section.bullets {
                        // Chunks overlap in nothing but may repeat a claim word for word.
                        if !bullets
                            .iter()
                            .any(|b| b.items == bullet.items && b.text == bullet.text)
                        {
                            bullets.push(bullet.clone());
                        }
                    }
                }
            }
            if !single {
                bullets.sort_by_key(|b| best(b));
            }
            bullets.truncate(MAX_BULLETS);
            Section {
                key: (*key).to_string(),
                heading: (*heading).to_string(),
                bullets,
            }
        })
        .collect()
}
