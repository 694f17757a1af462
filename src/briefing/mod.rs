//! The Daily Briefing: Notion, Slack and Gmail since the last good briefing → a model behind
//! an OpenAI-compatible endpoint → one Notion page a day, every bullet linked to its source.
//!
//! In the order data flows: [`spec`] is what the job file asks for; [`window`] picks the
//! time span; [`collect`] reads the sources into [`item`]s with ids and links; [`select`]
//! drops noise and what was briefed before, and ranks; [`prompt`] budgets and phrases the
//! model's input; [`summarise`] asks the model and [`answer`] checks what it cites, with
//! [`digest`] as the fallback; [`record`] is the result, [`render`] turns it into Markdown
//! and Notion blocks, and [`publish`] writes the page of the day; `deliver` runs it all for a
//! scheduled run.

pub mod answer;
pub mod collect;
mod deliver;
pub mod digest;
pub mod item;
pub mod prompt;
pub mod publish;
pub mod record;
pub mod render;
pub mod select;
pub mod spec;
pub mod summarise;
pub mod window;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant as Clock};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::connectors::Connectors;
use crate::connectors::llm;
use crate::job::Job;
use crate::run_error::RunError;
use crate::store::{Store, briefings};
use crate::template::{self, TemplateContext};
use item::{Health, Item, SourceReport};
use record::{Briefing, Stats};
use spec::BriefingTask;
use summarise::ModelSettings;
use window::Window;

pub use deliver::run;

/// Share of the attempt's timeout collection may use, at most [`COLLECT_MAX`]: a slow source
/// must leave time for the model and the page.
const COLLECT_SHARE: f64 = 0.4;
const COLLECT_MAX: Duration = Duration::from_secs(300);
/// Time kept for publishing after the model, at most [`PUBLISH_MAX`].
const PUBLISH_SHARE: f64 = 0.2;
const PUBLISH_MAX: Duration = Duration::from_secs(90);

/// Slack threads briefed before whose new replies are looked for: one request each.
const REVISITED_THREADS: usize = 50;

/// A briefing made, not yet published, with the items it was made from.
pub struct Prepared {
    pub briefing: Briefing,
    pub items: Vec<Item>,
    /// The items the reader has now seen or the model weighed: the ledger takes only these,
    /// so what a budget, a cap or a digest left out comes back next time.
    pub considered: std::collections::HashSet<String>,
}

/// What the briefing is for: the job, its occurrence and when the attempt started.
pub struct Occasion<'a> {
    pub job: &'a Job,
    pub task: &'a BriefingTask,
    pub scheduled_for: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    /// The attempt ends here (its timeout).
    pub deadline: Instant,
}

impl Occasion<'_> {
    fn variables(&self) -> TemplateContext {
        self.job
            .template_context(self.scheduled_for, self.started_at)
    }

    fn render(&self, text: &str, field: &str) -> Result<String, RunError> {
        template::render(text, &self.variables())
            .map_err(|error| RunError::permanent(format!("{}: `{field}`: {error}", self.job.file)))
    }

    /// The local day of the occurrence, `2026-12-01`: one page per job and day.
    pub fn day(&self) -> String {
        self.variables().date
    }
}

/// Collects, selects and summarises: everything but publishing.
pub async fn prepare(
    occasion: &Occasion<'_>,
    connectors: &Connectors,
    store: &Store,
) -> Result<Prepared, RunError> {
    let job_id = occasion.job.id.to_string();
    let day = occasion.day();
    let (last_end, today, own_pages) = store
        .call(move |conn| {
            Ok((
                briefings::last_complete_end(conn, &job_id)?,
                briefings::first_of_day(conn, &job_id, &day)?,
                briefings::page_ids(conn, &job_id)?,
            ))
        })
        .await
        .map_err(|e| RunError::retryable(format!("cannot read the briefing ledger: {e}")))?;
    // A second run the same day rewrites the day's page, so it covers the whole day so far
    // and sees today's items as new.
    let (window, ledger_before) = match today {
        Some((start, first_end)) if start < occasion.started_at => (
            Window {
                start,
                end: occasion.started_at,
                capped: false,
            },
            Some(first_end),
        ),
        _ => (
            window::compute(last_end, occasion.started_at, occasion.task.lookback),
            None,
        ),
    };
    // The parent page changes whenever a page of the day is added under it.
    let mut own_pages = own_pages;
    if let Some(publish) = &occasion.task.publish_notion {
        own_pages.push(publish.parent_page.replace('-', ""));
    }
    let job_id = occasion.job.id.to_string();
    let ledger = store
        .call(move |conn| briefings::ledger(conn, &job_id, ledger_before))
        .await
        .map_err(|e| RunError::retryable(format!("cannot read the briefing ledger: {e}")))?;
    let started = Clock::now();
    let remaining = occasion.deadline.saturating_duration_since(Instant::now());
    let collect_deadline = Instant::now() + remaining.mul_f64(COLLECT_SHARE).min(COLLECT_MAX);
    let known = collect::Known {
        own_pages,
        slack_threads: collect::Known::slack_threads_in(ledger.keys(), REVISITED_THREADS),
    };
    let collected =
        collect::collect(occasion.task, connectors, &window, &known, collect_deadline).await;
    let collect_ms = elapsed_ms(started);
    if collected.reports.iter().all(|r| r.status == Health::Failed) {
        return Err(every_source_failed(&collected.reports));
    }
    let mut prepared = compose(
        occasion,
        connectors,
        collected.items,
        collected.reports,
        window,
        &ledger,
    )
    .await?;
    prepared
        .briefing
        .stats
        .steps_ms
        .insert("collect".into(), collect_ms);
    Ok(prepared)
}

/// Regenerates a past briefing from its stored items and source reports, with today's prompt
/// and model: `briefing --replay`.
pub async fn replay(
    occasion: &Occasion<'_>,
    connectors: &Connectors,
    items: Vec<Item>,
    past: &Briefing,
) -> Result<Prepared, RunError> {
    compose(
        occasion,
        connectors,
        items,
        past.sources.clone(),
        past.window,
        &HashMap::new(),
    )
    .await
}

async fn compose(
    occasion: &Occasion<'_>,
    connectors: &Connectors,
    items: Vec<Item>,
    reports: Vec<SourceReport>,
    window: Window,
    ledger: &HashMap<String, String>,
) -> Result<Prepared, RunError> {
    let task = occasion.task;
    let started = Clock::now();
    let collected = items.len();
    let raw_tokens: u64 = items.iter().map(prompt::raw_tokens).sum();
    let (mut items, selection) = select::select(items, ledger, occasion.started_at);
    let select_ms = elapsed_ms(started);
    let instructions = occasion.render(&task.prompt, "agent.prompt")?;
    let title = occasion.render(
        task.publish_notion
            .as_ref()
            .map_or(spec::DEFAULT_TITLE, |p| p.title.as_str()),
        "agent.publish.notion.title",
    )?;
    let model = task
        .model
        .clone()
        .unwrap_or_else(|| connectors.llm.default_model.clone());
    let started = Clock::now();
    let probed = if items.is_empty() {
        None
    } else {
        llm::context_size(&connectors.http, &connectors.llm, &model).await
    };
    let context_tokens = probed
        .map(|(n, _)| n)
        .or(task.context_tokens)
        .unwrap_or(spec::DEFAULT_CONTEXT_TOKENS);
    let settings = ModelSettings {
        model: &model,
        temperature: task.temperature,
        max_tokens: task.max_tokens,
        context_tokens,
        zone: occasion.job.schedule.timezone(),
        today: occasion
            .started_at
            .with_timezone(&occasion.job.schedule.timezone())
            .date_naive(),
    };
    let remaining = occasion.deadline.saturating_duration_since(Instant::now());
    let model_time = remaining.saturating_sub(remaining.mul_f64(PUBLISH_SHARE).min(PUBLISH_MAX));
    let summary = match tokio::time::timeout(
        model_time,
        summarise::summarise(connectors, &settings, &instructions, &mut items),
    )
    .await
    {
        Ok(summary) => summary,
        Err(_) => summarise::Summary {
            degraded: Some(format!(
                "the model did not answer within {} s (the run's timeout leaves that much for it); \
                 raise `timeout` or use a faster model",
                model_time.as_secs()
            )),
            strategy: "digest (model timed out)".into(),
            sections: digest::digest(&items.iter().collect::<Vec<_>>()),
            ..summarise::Summary::default()
        },
    };
    let summarise_ms = elapsed_ms(started);
    let answered = summary.answered;
    let prompt_hash = {
        let digest = Sha256::digest(format!("{}\n{instructions}", prompt::system()).as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    };
    let stats = Stats {
        items_collected: collected,
        items_new: selection.new,
        items_updated: selection.updated,
        items_repeated: selection.repeated,
        noise_dropped: selection.noise_dropped,
        items_shortened: summary.shortened,
        items_left_out: summary.left_out,
        claims_dropped: summary.claims_dropped,
        model,
        context_tokens,
        context_source: record::context_label(
            probed.map(|(_, s)| s),
            task.context_tokens.is_some(),
        ),
        prompt_hash,
        strategy: summary.strategy,
        tokens_in: summary.calls.iter().filter_map(|c| c.prompt_tokens).sum(),
        tokens_out: summary
            .calls
            .iter()
            .filter_map(|c| c.completion_tokens)
            .sum(),
        calls: summary.calls,
        raw_tokens,
        sent_tokens: summary.sent_tokens,
        steps_ms: BTreeMap::from([
            ("select".to_string(), select_ms),
            ("summarise".to_string(), summarise_ms),
        ]),
    };
    let briefing = Briefing {
        job: occasion.job.id.to_string(),
        title,
        date: occasion.day(),
        window,
        degraded: summary.degraded.is_some(),
        degraded_reason: summary.degraded,
        sections: summary.sections,
        sources: reports,
        stats,
        page: None,
        warnings: Vec::new(),
    };
    let mut considered: std::collections::HashSet<String> = answered.into_iter().collect();
    for section in &briefing.sections {
        for bullet in &section.bullets {
            considered.extend(bullet.items.iter().cloned());
        }
    }
    Ok(Prepared {
        briefing,
        items,
        considered,
    })
}

fn every_source_failed(reports: &[SourceReport]) -> RunError {
    let reasons: Vec<String> = reports
        .iter()
        .map(|r| {
            format!(
                "{}: {}",
                r.source.name(),
                r.error.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    let message = format!(
        "every source failed, so there is nothing to brief: {}",
        reasons.join("; ")
    );
    // Worth another attempt unless every failure is one a retry cannot fix (a missing or
    // rejected token): those name a variable.
    let fixable_by_retry = reports.iter().any(|r| {
        r.error.as_deref().is_some_and(|e| {
            !(e.contains(" is not set") || e.contains(" are not set") || e.contains("rejected"))
        })
    });
    if fixable_by_retry {
        RunError::retryable(message)
    } else {
        RunError::permanent(message)
    }
}

fn elapsed_ms(started: Clock) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
