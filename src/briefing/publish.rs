//! Publishing: one Notion page per job and local day (a retry, a catch-up or a second run
//! rewrites that day's page), and an optional short Slack post with its link.

use futures_util::StreamExt;
use futures_util::stream;
use serde_json::Value;
use tokio::time::Instant;

use super::record::PageRef;
use super::spec::NotionPublish;
use crate::connectors::Connectors;
use crate::connectors::call::ApiError;
use crate::connectors::notion::{self, Notion, Page};
use crate::connectors::slack::Slack;
use crate::store::{Store, briefings};

/// Old blocks trashed at once when a page is rewritten (Notion's rate is about 3 a second).
const DELETES_AT_ONCE: usize = 3;
/// Blocks of an old page read before rewriting it.
const OLD_BLOCKS: usize = 1000;

/// Where the page goes and what it is.
pub struct PageDraft<'a> {
    pub job: &'a str,
    /// The local day, `2026-12-01`.
    pub day: &'a str,
    pub title: &'a str,
    pub blocks: &'a [Value],
}

/// Writes the day's page: finds it (by the id kept from an earlier run, or by its title under
/// the parent, which covers a create whose answer was lost), rewrites it, or creates it.
pub async fn notion_page(
    connectors: &Connectors,
    target: &NotionPublish,
    store: &Store,
    draft: &PageDraft<'_>,
    deadline: Instant,
) -> Result<PageRef, ApiError> {
    let notion = Notion::new(&connectors.http, &connectors.notion, deadline)?;
    let (job, day) = (draft.job.to_string(), draft.day.to_string());
    let kept = store
        .call(move |conn| briefings::page(conn, &job, &day))
        .await
        .map_err(|e| {
            ApiError::retryable(format!("cannot read the page of the day from runs.db: {e}"))
        })?;
    let mut existing: Option<Page> = None;
    if let Some((id, _)) = kept {
        match notion.retitle(&id, draft.title).await {
            Ok(page) if !page.trashed() => existing = Some(page),
            Ok(_) => {}
            // Deleted or moved out of the integration's reach: make a new one.
            Err(error) if !error.retryable => {}
            Err(error) => return Err(error),
        }
    }
    if existing.is_none() {
        existing = notion.find_child(&target.parent_page, draft.title).await?;
    }
    let page = match existing {
        Some(page) => {
            clear(&notion, &page.id).await?;
            remember(store, draft, &page).await?;
            for chunk in draft.blocks.chunks(notion::PAGE) {
                notion.append(&page.id, chunk).await?;
            }
            page
        }
        None => {
            let (first, rest) = draft.blocks.split_at(draft.blocks.len().min(notion::PAGE));
            let page = match notion
                .create_page(&target.parent_page, draft.title, first)
                .await
            {
                Ok(page) => page,
                Err(error) if error.retryable => {
                    // The page may exist although the answer was lost: look before trying again.
                    match notion.find_child(&target.parent_page, draft.title).await? {
                        Some(page) => {
                            clear(&notion, &page.id).await?;
                            for chunk in first.chunks(notion::PAGE) {
                                notion.append(&page.id, chunk).await?;
                            }
                            page
                        }
                        None => {
                            notion
                                .create_page(&target.parent_page, draft.title, first)
                                .await?
                        }
                    }
                }
                Err(error) => return Err(error),
            };
            remember(store, draft, &page).await?;
            for chunk in rest.chunks(notion::PAGE) {
                notion.append(&page.id, chunk).await?;
            }
            page
        }
    };
    Ok(PageRef {
        url: if page.url.is_empty() {
            notion::page_url(&page.id)
        } else {
            page.url.clone()
        },
        id: page.id,
    })
}

/// Trashes every block of a page, so it can be written again.
async fn clear(notion: &Notion<'_>, page: &str) -> Result<(), ApiError> {
    let blocks = notion.children(page, OLD_BLOCKS).await?;
    let results: Vec<Result<(), ApiError>> = stream::iter(blocks)
        .map(|block| async move { notion.delete(&block.id).await })
        .buffer_unordered(DELETES_AT_ONCE)
        .collect()
        .await;
    results.into_iter().collect()
}

async fn remember(store: &Store, draft: &PageDraft<'_>, page: &Page) -> Result<(), ApiError> {
    let (job, day, id) = (
        draft.job.to_string(),
        draft.day.to_string(),
        page.id.clone(),
    );
    let url = if page.url.is_empty() {
        notion::page_url(&page.id)
    } else {
        page.url.clone()
    };
    store
        .call(move |conn| briefings::set_page(conn, &job, &day, &id, &url))
        .await
        .map_err(|e| ApiError::retryable(format!("cannot record the page in runs.db: {e}")))
}

/// Posts `text` to `channel`.
pub async fn slack_post(
    connectors: &Connectors,
    channel: &str,
    text: &str,
    deadline: Instant,
) -> Result<(), ApiError> {
    let slack = Slack::new(&connectors.http, &connectors.slack, deadline)?;
    slack.post(channel, text).await.map(drop)
}
