//! A scheduled briefing end to end: prepare it, keep its record, publish the page of the day
//! (and the Slack post), and only then write the ledger.

use std::time::Instant as Clock;

use chrono::Utc;

use super::item::Item;
use super::record::{Briefing, PageRef};
use super::{Occasion, Prepared, elapsed_ms, prepare, publish, render};
use crate::connectors::Connectors;
use crate::connectors::call::ApiError;
use crate::executors::Outcome;
use crate::run_error::RunError;
use crate::store::{Store, briefings};

/// Runs one attempt of a briefing job: prepare, keep the record, publish, then write the
/// ledger (only now: an unpublished briefing must not hide its items from the next one).
pub async fn run(
    occasion: &Occasion<'_>,
    connectors: &Connectors,
    store: &Store,
    run_id: i64,
) -> Result<Outcome, RunError> {
    let Prepared {
        mut briefing,
        items,
        considered,
    } = prepare(occasion, connectors, store).await?;
    let zone = occasion.job.schedule.timezone();
    save(store, run_id, &briefing, &items, false).await?;
    let started = Clock::now();
    let mut page: Option<PageRef> = None;
    if let Some(target) = &occasion.task.publish_notion {
        let blocks = render::notion_blocks(&briefing, zone);
        let day = occasion.day();
        let draft = publish::PageDraft {
            job: occasion.job.id.as_str(),
            day: &day,
            title: &briefing.title,
            blocks: &blocks,
        };
        match publish::notion_page(connectors, target, store, &draft, occasion.deadline).await {
            Ok(published) => page = Some(published),
            Err(error) => {
                let message = format!("publishing to Notion failed: {}", error.message);
                briefing.warnings.push(message.clone());
                save(store, run_id, &briefing, &items, false).await?;
                return Err(RunError::from(ApiError { message, ..error }));
            }
        }
    }
    briefing.page = page.clone();
    if let Some(target) = &occasion.task.publish_slack {
        let text = slack_text(&briefing);
        if let Err(error) =
            publish::slack_post(connectors, &target.channel, &text, occasion.deadline).await
        {
            let message = format!(
                "posting to Slack #{} failed: {}",
                target.channel, error.message
            );
            if page.is_none() {
                save(store, run_id, &briefing, &items, false).await?;
                return Err(RunError::from(ApiError { message, ..error }));
            }
            briefing.warnings.push(message);
        }
    }
    briefing
        .stats
        .steps_ms
        .insert("publish".into(), elapsed_ms(started));
    let record = serde_json::to_string(&briefing).unwrap_or_default();
    let ledger: Vec<(String, String)> = items
        .iter()
        .filter(|i| considered.contains(&i.id))
        .map(|i| (i.id.clone(), i.version.clone()))
        .collect();
    let job = occasion.job.id.to_string();
    let now = Utc::now();
    let kept = record.clone();
    store
        .call(move |conn| briefings::commit_published(conn, run_id, &job, &kept, &ledger, now))
        .await
        .map_err(|e| RunError::retryable(format!("cannot record the briefing in runs.db: {e}")))?;
    Ok(Outcome {
        result: render::markdown(&briefing, zone),
        links: page.map(|p| p.url).into_iter().collect(),
        prompt_tokens: Some(briefing.stats.tokens_in).filter(|n| *n > 0),
        completion_tokens: Some(briefing.stats.tokens_out).filter(|n| *n > 0),
    })
}

async fn save(
    store: &Store,
    run_id: i64,
    briefing: &Briefing,
    items: &[Item],
    published: bool,
) -> Result<(), RunError> {
    let record = serde_json::to_string(briefing).unwrap_or_default();
    let items = serde_json::to_string(items).unwrap_or_default();
    let job = briefing.job.clone();
    let window = (briefing.window.start, briefing.window.end);
    store
        .call(move |conn| briefings::save(conn, run_id, &job, window, published, &record, &items))
        .await
        .map_err(|e| RunError::retryable(format!("cannot record the briefing in runs.db: {e}")))
}

/// The Slack post: the title, the counts and the page's link.
fn slack_text(briefing: &Briefing) -> String {
    let counts: Vec<String> = briefing
        .sections
        .iter()
        .filter(|s| !s.bullets.is_empty())
        .map(|s| format!("{} {}", s.bullets.len(), s.heading.to_lowercase()))
        .collect();
    let summary = if counts.is_empty() {
        "nothing new".to_string()
    } else {
        counts.join(", ")
    };
    let degraded = if briefing.degraded {
        " (degraded: no model summary)"
    } else {
        ""
    };
    match &briefing.page {
        Some(page) => format!(
            "*{}*: {summary}{degraded}\n<{}|Open the briefing in Notion>",
            briefing.title, page.url
        ),
        None => format!("*{}*: {summary}{degraded}", briefing.title),
    }
}
