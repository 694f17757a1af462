//! Gmail → items: the mails of the window matching the job's query, one item per thread
//! (its newest mail, with how many arrived), headers and snippet or the sender's own words.

use std::collections::HashMap;

use chrono::DateTime;
use futures_util::StreamExt;
use futures_util::stream;
use tokio::time::Instant;

use super::{Gathered, concurrency, snippet, snippet_chars};
use crate::briefing::item::{Freshness, Item, Signals, Source};
use crate::briefing::select::{asks, own_words};
use crate::briefing::spec::{Content, GmailSource};
use crate::briefing::window::Window;
use crate::connectors::Connectors;
use crate::connectors::call::ApiError;
use crate::connectors::gmail::{Gmail, Mail};

/// Mails fetched at once: Gmail's per-user quota is generous, a slow link is not.
const FETCHES: usize = 8;

pub(super) async fn collect(
    source: &GmailSource,
    connectors: &Connectors,
    window: &Window,
    deadline: Instant,
) -> Gathered {
    let gmail = match Gmail::new(&connectors.http, &connectors.gmail, deadline) {
        Ok(gmail) => gmail,
        Err(error) => return Gathered::failed(error, None),
    };
    let outcome = gather(&gmail, source, window).await;
    Gathered::metered(outcome, &gmail.meter)
}

/// The job's query with the window added (Gmail reads `after:` / `before:` as epoch seconds).
pub(super) fn query(source: &GmailSource, window: &Window) -> String {
    format!(
        "{} after:{} before:{}",
        source.query,
        window.start.timestamp(),
        window.end.timestamp() + 1
    )
    .trim()
    .to_string()
}

async fn gather(
    gmail: &Gmail<'_>,
    source: &GmailSource,
    window: &Window,
) -> Result<Gathered, ApiError> {
    let cap = source.max_items as usize;
    let (ids, more) = gmail.list(&query(source, window), cap).await?;
    let full = source.content == Content::Full;
    let fetched: Vec<Result<Mail, ApiError>> = stream::iter(ids)
        .map(|id| async move { gmail.message(&id, full).await })
        .buffer_unordered(FETCHES.max(concurrency()))
        .collect()
        .await;
    let mut problems = Vec::new();
    let mut threads: HashMap<String, (Mail, u32)> = HashMap::new();
    let mut failed = 0;
    for mail in fetched {
        match mail {
            Ok(mail) => {
                let key = if mail.thread_id.is_empty() {
                    mail.id.clone()
                } else {
                    mail.thread_id.clone()
                };
                let entry = threads.entry(key).or_insert_with(|| (mail.clone(), 0));
                entry.1 += 1;
                if mail.internal_date > entry.0.internal_date {
                    entry.0 = mail;
                }
            }
            Err(error) => {
                failed += 1;
                if problems.is_empty() {
                    problems.push(error.message);
                }
            }
        }
    }
    if failed > 0 {
        problems[0] = format!("{failed} mails could not be read: {}", problems[0]);
    }
    let mut notes = Vec::new();
    if more {
        notes.push(format!(
            "the newest {cap} mails of more (max_items = {cap})"
        ));
    }
    let items = threads
        .into_iter()
        .map(|(thread, (mail, count))| item(&thread, &mail, count, source.content))
        .collect();
    Ok(Gathered {
        items,
        failure: None,
        problems,
        notes,
        requests: 0,
        rate_limited: 0,
    })
}

/// `Jane CFO <cfo@example.com>` → `Jane CFO`.
fn sender(from: &str) -> String {
    match from.split_once('<') {
        Some((name, _)) if !name.trim().is_empty() => name.trim().trim_matches('"').to_string(),
        _ => from.trim_matches(['<', '>', ' ']).to_string(),
    }
}

fn item(thread: &str, mail: &Mail, count: u32, content: Content) -> Item {
    let words = mail.body.as_deref().map(own_words);
    let whole = words.clone().unwrap_or_else(|| mail.snippet.clone());
    let text = match content {
        Content::Metadata => String::new(),
        Content::Snippet => snippet(&mail.snippet, snippet_chars()),
        Content::Full => whole.clone(),
    };
    let subject = if mail.subject.trim().is_empty() {
        "(no subject)".to_string()
    } else {
        mail.subject.trim().to_string()
    };
    let title = if count > 1 {
        format!("{subject} ({count} mails)")
    } else {
        subject
    };
    Item {
        id: format!("gmail:{thread}"),
        source: Source::Gmail,
        url: format!("https://mail.google.com/mail/u/0/#all/{thread}"),
        title,
        author: sender(&mail.from),
        at: DateTime::from_timestamp_millis(mail.internal_date).unwrap_or_default(),
        text,
        raw_chars: whole.chars().count() + mail.subject.chars().count(),
        version: mail.id.clone(),
        signals: Signals {
            mentions_me: false,
            question: asks(&whole) || asks(&mail.subject),
            replies: count.saturating_sub(1),
            flagged: mail
                .labels
                .iter()
                .any(|l| l == "UNREAD" || l == "IMPORTANT"),
        },
        freshness: Freshness::New,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn the_window_goes_into_the_query_and_senders_lose_their_address() {
        let source = GmailSource {
            query: "-category:promotions".into(),
            content: Content::Snippet,
            max_items: 10,
        };
        let window = Window {
            start: DateTime::<Utc>::from_timestamp(1_764_000_000, 0).expect("t"),
            end: DateTime::<Utc>::from_timestamp(1_764_086_400, 0).expect("t"),
            capped: false,
        };
        assert_eq!(
            query(&source, &window),
            "-category:promotions after:1764000000 before:1764086401"
        );
        assert_eq!(sender("\"Jane CFO\" <cfo@example.com>"), "Jane CFO");
        assert_eq!(sender("<cfo@example.com>"), "cfo@example.com");
    }
}
