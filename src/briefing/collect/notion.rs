//! Notion → items: pages edited in the window (workspace search and the job's data sources),
//! their text from block children, nested one level. The job's own briefing pages (every
//! page it recorded publishing) are left out; other pages under the same parent are not.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream;
use tokio::time::Instant;

use super::{Gathered, snippet, snippet_chars};
use crate::briefing::item::{Freshness, Item, Signals, Source};
use crate::briefing::select::asks;
use crate::briefing::spec::{Content, NotionSource};
use crate::briefing::window::Window;
use crate::connectors::Connectors;
use crate::connectors::call::ApiError;
use crate::connectors::notion::{Block, Notion, Page, page_url};

/// Pages read at once: Notion allows about three requests a second per integration.
const PAGES_AT_ONCE: usize = 3;
/// Blocks read per page, and nested blocks per parent block.
const BLOCKS_PER_PAGE: usize = 300;
const NESTED_PER_BLOCK: usize = 100;
/// Parents whose children are read, per page: deep outlines cost a request each.
const NESTED_PARENTS: usize = 20;

pub(super) async fn collect(
    source: &NotionSource,
    connectors: &Connectors,
    window: &Window,
    deadline: Instant,
    own_pages: &[String],
) -> Gathered {
    let notion = match Notion::new(&connectors.http, &connectors.notion, deadline) {
        Ok(notion) => notion,
        Err(error) => return Gathered::failed(error, None),
    };
    let outcome = gather(&notion, source, window, own_pages).await;
    Gathered::metered(outcome, &notion.meter)
}

async fn gather(
    notion: &Notion<'_>,
    source: &NotionSource,
    window: &Window,
    own_pages: &[String],
) -> Result<Gathered, ApiError> {
    // Notion rounds `last_edited_time` down to the minute: a minute's margin keeps an edit
    // just after the window's start (the ledger drops what comes twice).
    let cutoff = (window.start - chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let cap = source.max_items as usize;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let (mut pages, more) = notion.edited_pages(&cutoff, cap).await?;
    if more {
        notes.push(format!(
            "the {cap} most recently edited pages of more (max_items = {cap})"
        ));
    }
    for data_source in &source.data_sources {
        match notion.edited_rows(data_source, &cutoff, cap).await {
            Ok((rows, more)) => {
                if more {
                    notes.push(format!(
                        "data source {data_source}: the {cap} most recent rows of more"
                    ));
                }
                pages.extend(rows);
            }
            Err(error) => problems.push(format!("data source {data_source}: {}", error.message)),
        }
    }
    let mut seen = HashMap::new();
    pages.retain(|page| {
        let ours = own_pages.contains(&page.id.replace('-', ""));
        !ours && seen.insert(page.id.clone(), ()).is_none()
    });
    let read_text = source.content != Content::Metadata;
    let texts: Vec<(Page, Result<String, ApiError>)> = stream::iter(pages)
        .map(|page| async move {
            let text = if read_text {
                page_text(notion, &page.id).await
            } else {
                Ok(String::new())
            };
            (page, text)
        })
        .buffer_unordered(PAGES_AT_ONCE)
        .collect()
        .await;
    let mut items = Vec::new();
    let mut unreadable = 0;
    for (page, text) in texts {
        let whole = match text {
            Ok(text) => text,
            Err(error) => {
                unreadable += 1;
                if unreadable == 1 {
                    problems.push(error.message);
                }
                continue;
            }
        };
        items.push(item(&page, &whole, source.content));
    }
    if unreadable > 1 {
        problems[0] = format!("{unreadable} pages could not be read: {}", problems[0]);
    }
    Ok(Gathered {
        items,
        failure: None,
        problems,
        notes,
        requests: 0,
        rate_limited: 0,
    })
}

/// A page's text: its blocks, and the children of blocks that have them, one level down.
async fn page_text(notion: &Notion<'_>, page: &str) -> Result<String, ApiError> {
    let blocks = notion.children(page, BLOCKS_PER_PAGE).await?;
    // Owned ids, not references: a stream of borrowed items trips the compiler's proof
    // that the future is `Send` (rust-lang/rust#102211).
    let parents: Vec<String> = blocks
        .iter()
        .filter(|b| b.has_children && b.kind != "child_page" && b.kind != "child_database")
        .take(NESTED_PARENTS)
        .map(|b| b.id.clone())
        .collect();
    let nested: HashMap<String, Vec<Block>> = stream::iter(parents)
        .map(|id| async move {
            let children = notion.children(&id, NESTED_PER_BLOCK).await;
            (id, children.unwrap_or_default())
        })
        .buffer_unordered(PAGES_AT_ONCE)
        .collect()
        .await;
    let mut lines = Vec::new();
    for block in &blocks {
        if let Some(text) = block.text().filter(|t| !t.trim().is_empty()) {
            lines.push(text);
        }
        for child in nested.get(&block.id).map(Vec::as_slice).unwrap_or_default() {
            if let Some(text) = child.text().filter(|t| !t.trim().is_empty()) {
                lines.push(format!("  {text}"));
            }
        }
    }
    Ok(lines.join("\n"))
}

fn item(page: &Page, whole: &str, content: Content) -> Item {
    let title = page.title();
    let text = match content {
        Content::Metadata => String::new(),
        Content::Snippet => snippet(whole, snippet_chars()),
        Content::Full => whole.to_string(),
    };
    Item {
        id: format!("notion:{}", page.id),
        source: Source::Notion,
        url: page_url(&page.id),
        title: if title.trim().is_empty() {
            "(untitled page)".into()
        } else {
            title
        },
        author: String::new(),
        at: DateTime::parse_from_rfc3339(&page.last_edited_time)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default(),
        text,
        raw_chars: whole.chars().count(),
        version: page.last_edited_time.clone(),
        signals: Signals {
            question: asks(whole),
            ..Signals::default()
        },
        freshness: Freshness::New,
    }
}
