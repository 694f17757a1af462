//! Collecting: each configured source read concurrently into [`Item`]s, each failure kept
//! to its source. A source that fails leaves a report that says why and how to fix it; the
//! briefing goes on with the others.

mod gmail;
mod notion;
mod slack;

use std::time::Instant as Clock;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::item::{Health, Item, Source, SourceReport};
use super::spec::BriefingTask;
use super::window::Window;
use crate::connectors::Connectors;
use crate::connectors::call::{ApiError, Meter};

/// Requests in flight per source: within Notion's 3 per second and Slack's tiers, enough
/// to hide a slow server's latency.
const CONCURRENCY: usize = 4;
/// Characters of an item's text kept for `content = "snippet"`.
const SNIPPET_CHARS: usize = 400;

/// What earlier briefings of the job tell the collectors.
#[derive(Debug, Default)]
pub struct Known {
    /// The job's published pages and their parent (ids without dashes): never items.
    pub own_pages: Vec<String>,
    /// Slack threads briefed before, `(channel, ts)`, newest first: their parents are older
    /// than the window, so only asking for their replies finds what was said since.
    pub slack_threads: Vec<(String, String)>,
}

impl Known {
    /// The Slack threads among the ledger's item ids, at most `limit`, newest first.
    pub fn slack_threads_in<'a>(
        ids: impl Iterator<Item = &'a String>,
        limit: usize,
    ) -> Vec<(String, String)> {
        let mut threads: Vec<(String, String)> = ids
            .filter_map(|id| {
                let (channel, ts) = id.strip_prefix("slack:")?.split_once(':')?;
                Some((channel.to_string(), ts.to_string()))
            })
            .collect();
        threads.sort_by(|a, b| b.1.cmp(&a.1));
        threads.truncate(limit);
        threads
    }
}

/// Everything the sources gave.
#[derive(Debug, Default)]
pub struct Collected {
    pub items: Vec<Item>,
    pub reports: Vec<SourceReport>,
}

/// Reads every source of `task` for `window`; no request is sent after `deadline`.
pub async fn collect(
    task: &BriefingTask,
    connectors: &Connectors,
    window: &Window,
    known: &Known,
    deadline: Instant,
) -> Collected {
    let (slack, gmail, notion) = tokio::join!(
        timed(Source::Slack, task.slack.is_some(), async {
            let source = task.slack.as_ref()?;
            Some(slack::collect(source, connectors, window, &known.slack_threads, deadline).await)
        }),
        timed(Source::Gmail, task.gmail.is_some(), async {
            let source = task.gmail.as_ref()?;
            Some(gmail::collect(source, connectors, window, deadline).await)
        }),
        timed(Source::Notion, task.notion.is_some(), async {
            let source = task.notion.as_ref()?;
            Some(notion::collect(source, connectors, window, deadline, &known.own_pages).await)
        }),
    );
    let mut collected = Collected::default();
    for (items, report) in [slack, gmail, notion].into_iter().flatten() {
        collected.items.extend(items);
        collected.reports.push(report);
    }
    collected
}

/// What one source's collector returns: items, per-part failures, cap notes, and its meter.
pub(super) struct Gathered {
    items: Vec<Item>,
    /// The whole source failed (no token, rejected token, unreachable).
    failure: Option<ApiError>,
    /// Some parts failed (a channel, a page); the rest is in `items`.
    problems: Vec<String>,
    notes: Vec<String>,
    requests: u32,
    rate_limited: u32,
}

impl Gathered {
    /// A collector's outcome, with the requests its client made either way.
    fn metered(outcome: Result<Gathered, ApiError>, meter: &Meter) -> Gathered {
        match outcome {
            Ok(mut gathered) => {
                gathered.requests = meter.requests();
                gathered.rate_limited = meter.rate_limited();
                gathered
            }
            Err(error) => Gathered::failed(error, Some(meter)),
        }
    }

    fn failed(error: ApiError, meter: Option<&Meter>) -> Gathered {
        Gathered {
            items: Vec::new(),
            failure: Some(error),
            problems: Vec::new(),
            notes: Vec::new(),
            requests: meter.map_or(0, Meter::requests),
            rate_limited: meter.map_or(0, Meter::rate_limited),
        }
    }
}

async fn timed(
    source: Source,
    configured: bool,
    work: impl Future<Output = Option<Gathered>>,
) -> Option<(Vec<Item>, SourceReport)> {
    if !configured {
        return None;
    }
    let started = Clock::now();
    let gathered = work.await?;
    let status = match (&gathered.failure, gathered.problems.is_empty()) {
        (Some(_), _) => Health::Failed,
        (None, true) => Health::Ok,
        (None, false) if gathered.items.is_empty() => Health::Failed,
        (None, false) => Health::Partial,
    };
    let error = gathered
        .failure
        .map(|e| e.message)
        .or_else(|| (!gathered.problems.is_empty()).then(|| gathered.problems.join("; ")));
    let report = SourceReport {
        source,
        status,
        items: gathered.items.len(),
        error,
        note: (!gathered.notes.is_empty()).then(|| gathered.notes.join("; ")),
        requests: gathered.requests,
        rate_limited: gathered.rate_limited,
        ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    Some((gathered.items, report))
}

/// The first `limit` characters of `text`, marked when cut.
pub(super) fn snippet(text: &str, limit: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(limit).collect();
    cut.push('…');
    cut
}

/// Epoch seconds with microseconds, the form Slack's `ts` and `oldest` use.
pub(super) fn slack_ts(at: DateTime<Utc>) -> String {
    format!("{}.{:06}", at.timestamp(), at.timestamp_subsec_micros())
}

pub(super) fn snippet_chars() -> usize {
    SNIPPET_CHARS
}

pub(super) fn concurrency() -> usize {
    CONCURRENCY
}
