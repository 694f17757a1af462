//! Knowledge Cards: an ambient job turns what Cursor, Claude Desktop and Claude Code logged to
//! the Context Registry into spaced-repetition cards, reviewed over MCP, on the terminal, on
//! the status site, or in Anki.
//!
//! Data flows [`source`] (messages past the job's watermark, grouped into exchanges) →
//! [`offline`] rules or the [`model`] → [`generate`] ([`gates`], quotes, [`dedup`], the budget)
//! → [`store`] (cards in `registry.db`); reviews go through [`review`] and [`schedule`]
//! (FSRS-6); [`export`] writes Anki's text format. [`filter`] keeps code, paths, one-off
//! values and secrets out of everything; [`card`] holds the types; [`spec`] the job's table.

pub mod card;
pub mod dedup;
pub mod export;
pub mod filter;
pub mod gates;
pub mod generate;
pub mod model;
pub mod offline;
pub mod review;
pub mod schedule;
pub mod source;
pub mod spec;
pub mod store;

use std::path::PathBuf;

use chrono::{Duration, Utc};

use crate::executors::{Context, Outcome};
use crate::registry::{self, Registry};
use crate::run_error::RunError;
use generate::{Dropped, Judged};
use source::Exchange;
use spec::{CardsTask, Generator};

/// The registry beside the job's `runs.db`: the state folder's.
pub fn registry_path(context: &Context) -> PathBuf {
    let state = context
        .store
        .path()
        .parent()
        .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
    registry::path_in(&state)
}

/// Runs one generation for the job in `context`.
pub async fn run(task: &CardsTask, context: &Context) -> Result<Outcome, RunError> {
    let job = &context.job;
    let path = registry_path(context);
    let registry = Registry::open(&path)
        .map_err(|e| RunError::permanent(format!("cannot open the Context Registry: {e}")))?;
    let failed = |e: crate::registry::RegistryError| {
        RunError::retryable(format!("the Context Registry failed: {e}"))
    };
    let now = Utc::now();
    let zone = job.schedule.timezone();
    let local_midnight = now
        .with_timezone(&zone)
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(zone).earliest())
        .map_or(now - Duration::days(1), |t| t.with_timezone(&Utc));
    let (job_id, channels, workspaces) = (
        job.id.to_string(),
        task.channels.clone(),
        task.workspaces.clone(),
    );
    let (watermark, messages, scanned, made_today, due_by_tomorrow) = registry
        .call(move |conn| {
            let watermark = store::watermark(conn, &job_id)?.unwrap_or(0);
            let (messages, scanned) = source::read(conn, watermark, &channels, &workspaces)?;
            let made_today = store::made_since(conn, &job_id, local_midnight)?;
            let due = store::due_before(conn, now + Duration::days(1))?;
            Ok((watermark, messages, scanned, made_today, due))
        })
        .await
        .map_err(failed)?;
    let read = messages.len();
    let last_read = scanned;
    let exchanges = source::exchanges(messages);
    let budget = generate::budget(task, made_today, due_by_tomorrow);
    let mut dropped = Dropped::default();
    let mut notes = Vec::new();
    let mut tokens = (None, None);
    let mut used_model: Option<String> = None;
    // The lowest message id this run leaves for a later one (what the model was not shown).
    let mut unsent: Option<i64> = None;
    let proposals = match task.generator {
        Generator::Offline => exchanges.iter().flat_map(offline::propose).collect(),
        Generator::Llm if exchanges.is_empty() => Vec::new(),
        Generator::Llm if budget.allowed == 0 => {
            // Nothing may be made now: the model is not asked, and nothing read is lost.
            unsent = exchanges
                .iter()
                .flat_map(Exchange::messages)
                .map(|m| m.id)
                .min();
            Vec::new()
        }
        Generator::Llm => {
            let model_name = task
                .model
                .clone()
                .unwrap_or_else(|| context.connectors.llm.default_model.clone());
            let (_, sent) = model::conversation(&exchanges);
            match model::propose(
                &context.connectors,
                &model_name,
                &exchanges[..sent],
                task.max_cards * 2,
            )
            .await
            {
                Ok(model::Proposed::Cards(cards, completion)) => {
                    tokens = (completion.prompt_tokens, completion.completion_tokens);
                    used_model = Some(model_name);
                    unsent = exchanges[sent..]
                        .iter()
                        .flat_map(Exchange::messages)
                        .map(|m| m.id)
                        .min();
                    cards
                }
                Ok(model::Proposed::Invalid(completion)) => {
                    tokens = (completion.prompt_tokens, completion.completion_tokens);
                    dropped.add("invalid answer");
                    notes.push(format!("the model {model_name} did not answer with JSON of the schema; these cards are by rules instead"));
                    exchanges.iter().flat_map(offline::propose).collect()
                }
                Err(error) => {
                    notes.push(format!(
                        "no model answered ({}); these cards are by rules instead",
                        error.message
                    ));
                    exchanges.iter().flat_map(offline::propose).collect()
                }
            }
        }
    };
    let generator = if used_model.is_some() {
        "llm"
    } else {
        "offline"
    };
    let (job_id, exchanges_kept, model_kept) = (job.id.to_string(), exchanges, used_model.clone());
    let retention = task.desired_retention;
    let (made, judged) = registry
        .call(move |conn| {
            let mut judged: Judged = generate::judge(conn, proposals, &exchanges_kept, budget)?;
            for (reason, count) in std::mem::take(&mut dropped.reasons) {
                *judged.dropped.reasons.entry(reason).or_default() += count;
            }
            // Up to what was read, but before anything deferred by the budget or not shown to
            // the model: a later run reads that again.
            let held = [judged.first_deferred, unsent].into_iter().flatten().min();
            let mark = held.map_or(last_read, |first| (first - 1).max(watermark).min(last_read));
            let made = generate::keep(
                conn,
                &job_id,
                retention,
                generator,
                model_kept.as_deref(),
                &judged,
                read,
                mark,
                now,
            )?;
            Ok((made, judged))
        })
        .await
        .map_err(failed)?;
    let mut result = format!(
        "Made {} card{} from {read} new message{} (generator: {generator}{}).",
        made.len(),
        if made.len() == 1 { "" } else { "s" },
        if read == 1 { "" } else { "s" },
        used_model
            .as_deref()
            .map_or(String::new(), |m| format!(", model {m}"))
    );
    if judged.dropped.total() > 0 {
        let reasons: Vec<String> = judged
            .dropped
            .reasons
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        result.push_str(&format!(
            "\nDropped {}: {}.",
            judged.dropped.total(),
            reasons.join(", ")
        ));
    }
    if let Some(why) = budget.limited_by {
        result.push_str(&format!(
            "\nBudget: at most {} new card(s) now ({why}).",
            budget.allowed
        ));
    }
    for note in notes {
        result.push_str(&format!("\nNote: {note}."));
    }
    for card in &made {
        result.push_str(&format!("\n- {}", card.question));
    }
    if !made.is_empty() {
        result.push_str(
            "\nReview them in your AI client (cards_due), or with `backoffice cards review`.",
        );
    }
    Ok(Outcome {
        result,
        links: Vec::new(),
        prompt_tokens: tokens.0,
        completion_tokens: tokens.1,
    })
}
