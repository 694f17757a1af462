//! The Notion API, version pinned: search and data-source queries (pages edited since a
//! cutoff), block children (page text), and creating, finding and rewriting a page.

use crate::connectors::HttpClient;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::call::{self, ApiError, Meter};
use super::{Secret, excerpt, redact_url};

/// The real API; `NOTION_BASE_URL` points tests at a fake.
pub const DEFAULT_URL: &str = "https://api.notion.com";
/// Pinned: the shapes we read (search, blocks, pages) are those of this version.
pub const VERSION: &str = "2026-03-11";
/// The API's page size limit, for lists and for blocks in one request.
pub const PAGE: usize = 100;

#[derive(Debug, Clone)]
pub struct NotionConfig {
    pub base_url: String,
    /// `NOTION_TOKEN`: an internal integration's secret.
    pub token: Option<Secret>,
}

impl NotionConfig {
    pub fn from_env() -> NotionConfig {
        NotionConfig {
            base_url: super::base_url_from_env("NOTION_BASE_URL", DEFAULT_URL),
            token: Secret::from_env("NOTION_TOKEN"),
        }
    }
}

/// A page as search, queries and creation return it.
#[derive(Debug, Clone, Deserialize)]
pub struct Page {
    pub id: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub last_edited_time: String,
    #[serde(default)]
    pub in_trash: Option<bool>,
    #[serde(default)]
    pub archived: Option<bool>,
    #[serde(default)]
    pub parent: Value,
    #[serde(default)]
    pub properties: Value,
}

impl Page {
    /// The text of the property whose type is `title` (its key differs by parent).
    pub fn title(&self) -> String {
        self.properties
            .as_object()
            .and_then(|props| props.values().find(|p| p["type"] == "title"))
            .map(|p| plain_text(&p["title"]))
            .unwrap_or_default()
    }

    pub fn parent_page(&self) -> Option<&str> {
        self.parent["page_id"].as_str()
    }

    pub fn trashed(&self) -> bool {
        self.in_trash.or(self.archived).unwrap_or(false)
    }
}

/// One block; only the text of text-bearing types is read.
#[derive(Debug, Clone, Deserialize)]
pub struct Block {
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub has_children: bool,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

impl Block {
    /// The block's text, or `None` for types without any (images, dividers, child pages).
    pub fn text(&self) -> Option<String> {
        const TEXT_TYPES: &[&str] = &[
            "paragraph",
            "heading_1",
            "heading_2",
            "heading_3",
            "bulleted_list_item",
            "numbered_list_item",
            "quote",
            "to_do",
            "toggle",
            "callout",
            "code",
        ];
        if !TEXT_TYPES.contains(&self.kind.as_str()) {
            return None;
        }
        let text = plain_text(&self.rest.get(&self.kind)?["rich_text"]);
        Some(match self.kind.as_str() {
            "to_do" => {
                let done = self.rest[&self.kind]["checked"].as_bool().unwrap_or(false);
                format!("[{}] {text}", if done { "x" } else { " " })
            }
            "bulleted_list_item" | "numbered_list_item" => format!("- {text}"),
            _ => text,
        })
    }
}

/// Joins the `plain_text` of a rich-text array.
fn plain_text(rich: &Value) -> String {
    rich.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    item["plain_text"]
                        .as_str()
                        .or(item["text"]["content"].as_str())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct List<T> {
    #[serde(default = "Vec::new")]
    results: Vec<T>,
    #[serde(default)]
    next_cursor: Option<String>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A Notion client for one run.
pub struct Notion<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    token: &'a Secret,
    shown: String,
    deadline: Instant,
    pub meter: Meter,
}

impl<'a> Notion<'a> {
    pub fn new(
        http: &'a HttpClient,
        config: &'a NotionConfig,
        deadline: Instant,
    ) -> Result<Notion<'a>, ApiError> {
        let token = config.token.as_ref().ok_or_else(|| {
            ApiError::permanent(
                "NOTION_TOKEN is not set: create an internal integration at notion.so/my-integrations, \
                 share the pages with it, and export its secret",
            )
        })?;
        Ok(Notion {
            http: http.get()?,
            base: &config.base_url,
            token,
            shown: format!("Notion at {}", redact_url(&config.base_url)),
            deadline,
            meter: Meter::default(),
        })
    }

    async fn request<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        // Reads are POSTs too (search, queries); only creating and appending change things.
        let creates = method == reqwest::Method::POST && path == "/v1/pages";
        let appends = method == reqwest::Method::PATCH && path.ends_with("/children");
        let idempotent = !(creates || appends);
        let answer = call::send(&self.shown, self.deadline, &self.meter, idempotent, || {
            let request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.token.expose())
                .header("Notion-Version", VERSION);
            match body {
                Some(body) => request.json(body),
                None => request,
            }
        })
        .await?;
        if !(200..300).contains(&answer.status) {
            return Err(self.refusal(path, &answer));
        }
        serde_json::from_str(&answer.body).map_err(|error| {
            ApiError::permanent(format!(
                "{} answered {path} with something that is not the expected JSON ({error}): {}",
                self.shown,
                excerpt(&answer.body, 160)
            ))
        })
    }

    fn refusal(&self, path: &str, answer: &call::Answer) -> ApiError {
        let (code, message) = match serde_json::from_str::<ErrorBody>(&answer.body) {
            Ok(body) => (body.code, body.message),
            Err(_) => (String::new(), excerpt(&answer.body, 160)),
        };
        let status = answer.status;
        let mut error = match (status, code.as_str()) {
            (401, _) | (_, "unauthorized") => {
                ApiError::permanent(format!("NOTION_TOKEN rejected: unauthorized ({message})"))
            }
            (403, _) | (_, "restricted_resource") => ApiError::permanent(format!(
                "the Notion integration may not do this ({path}): {message}; give it the capability in its settings"
            )),
            (404, _) | (_, "object_not_found") => ApiError::permanent(format!(
                "Notion cannot find {path}: {message} (open the page in Notion, ••• → Connections, and add the integration)"
            )),
            (429, _) => ApiError::retryable(format!(
                "{} kept rate limiting {path}; try again later",
                self.shown
            )),
            (500..=599, _) => ApiError::retryable(format!(
                "{} failed on {path} (HTTP {status} {code}): {message}",
                self.shown
            )),
            _ => ApiError::permanent(format!(
                "{} rejected {path} (HTTP {status} {code}): {message}",
                self.shown
            )),
        };
        if error.retryable {
            error.retry_after = answer.retry_after;
        }
        error
    }

    /// Pages edited at or after `cutoff` (RFC 3339), newest first, at most `cap`, through the
    /// search endpoint (which cannot filter by date: it is sorted, and paging stops at the
    /// first older page). The flag says whether more were there.
    pub async fn edited_pages(
        &self,
        cutoff: &str,
        cap: usize,
    ) -> Result<(Vec<Page>, bool), ApiError> {
        let mut body = json!({
            "filter": {"property": "object", "value": "page"},
            "sort": {"timestamp": "last_edited_time", "direction": "descending"},
            "page_size": PAGE,
        });
        self.edited("/v1/search", &mut body, cutoff, cap).await
    }

    /// Rows of a data source edited at or after `cutoff`, newest first.
    pub async fn edited_rows(
        &self,
        data_source: &str,
        cutoff: &str,
        cap: usize,
    ) -> Result<(Vec<Page>, bool), ApiError> {
        let mut body = json!({
            "filter": {"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": cutoff}},
            "sorts": [{"timestamp": "last_edited_time", "direction": "descending"}],
            "page_size": PAGE,
        });
        let path = format!("/v1/data_sources/{data_source}/query");
        self.edited(&path, &mut body, cutoff, cap).await
    }

    async fn edited(
        &self,
        path: &str,
        body: &mut Value,
        cutoff: &str,
        cap: usize,
    ) -> Result<(Vec<Page>, bool), ApiError> {
        let cutoff = parse_time(cutoff);
        let mut pages = Vec::new();
        let mut read = 0;
        loop {
            let list: List<Page> = self
                .request(reqwest::Method::POST, path, Some(body))
                .await?;
            for page in list.results {
                if parse_time(&page.last_edited_time) < cutoff {
                    return Ok((pages, false));
                }
                if page.trashed() {
                    continue;
                }
                if pages.len() == cap {
                    return Ok((pages, true));
                }
                pages.push(page);
            }
            let current = body["start_cursor"].as_str().map(str::to_string);
            let next = list.next_cursor.filter(|_| list.has_more);
            match call::next_page(next, current.as_ref(), &mut read) {
                Some(cursor) => body["start_cursor"] = Value::String(cursor),
                None => return Ok((pages, false)),
            }
        }
    }

    /// Every child block of `block` (a page id is a block id), paged; at most `cap`.
    pub async fn children(&self, block: &str, cap: usize) -> Result<Vec<Block>, ApiError> {
        let mut blocks = Vec::new();
        let mut cursor: Option<String> = None;
        let mut read = 0;
        loop {
            let mut path = format!("/v1/blocks/{block}/children?page_size={PAGE}");
            if let Some(cursor) = &cursor {
                path.push_str("&start_cursor=");
                path.push_str(&super::secret::percent_encode(cursor));
            }
            let list: List<Block> = self.request(reqwest::Method::GET, &path, None).await?;
            blocks.extend(list.results);
            let next = list.next_cursor.filter(|_| list.has_more);
            match call::next_page(next, cursor.as_ref(), &mut read) {
                Some(next) if blocks.len() < cap => cursor = Some(next),
                _ => {
                    blocks.truncate(cap);
                    return Ok(blocks);
                }
            }
        }
    }

    /// A live page titled exactly `title` directly under `parent`, if there is one.
    pub async fn find_child(&self, parent: &str, title: &str) -> Result<Option<Page>, ApiError> {
        let body = json!({
            "query": title,
            "filter": {"property": "object", "value": "page"},
            "sort": {"timestamp": "last_edited_time", "direction": "descending"},
            "page_size": PAGE,
        });
        let list: List<Page> = self
            .request(reqwest::Method::POST, "/v1/search", Some(&body))
            .await?;
        let parent = parent.replace('-', "");
        Ok(list.results.into_iter().find(|page| {
            !page.trashed()
                && page.title() == title
                && page.parent_page().map(|p| p.replace('-', "")) == Some(parent.clone())
        }))
    }

    /// Creates a page under `parent` with at most [`PAGE`] blocks.
    pub async fn create_page(
        &self,
        parent: &str,
        title: &str,
        children: &[Value],
    ) -> Result<Page, ApiError> {
        let body = json!({
            "parent": {"page_id": parent},
            "properties": {"title": {"title": [{"type": "text", "text": {"content": title}}]}},
            "children": children,
        });
        self.request(reqwest::Method::POST, "/v1/pages", Some(&body))
            .await
    }

    /// The integration's bot user's name: the token works.
    pub async fn me(&self) -> Result<String, ApiError> {
        let user: Value = self
            .request(reqwest::Method::GET, "/v1/users/me", None)
            .await?;
        Ok(user["name"]
            .as_str()
            .unwrap_or("the integration")
            .to_string())
    }

    /// A page, if the integration can read it.
    pub async fn page(&self, id: &str) -> Result<Page, ApiError> {
        self.request(reqwest::Method::GET, &format!("/v1/pages/{id}"), None)
            .await
    }

    /// Sets a page's title.
    pub async fn retitle(&self, page: &str, title: &str) -> Result<Page, ApiError> {
        let body = json!({
            "properties": {"title": {"title": [{"type": "text", "text": {"content": title}}]}},
        });
        self.request(
            reqwest::Method::PATCH,
            &format!("/v1/pages/{page}"),
            Some(&body),
        )
        .await
    }

    /// Appends at most [`PAGE`] blocks at the end of `block`.
    pub async fn append(&self, block: &str, children: &[Value]) -> Result<(), ApiError> {
        let body = json!({"children": children});
        self.request::<Value>(
            reqwest::Method::PATCH,
            &format!("/v1/blocks/{block}/children"),
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// Moves a block to the trash.
    pub async fn delete(&self, block: &str) -> Result<(), ApiError> {
        self.request::<Value>(
            reqwest::Method::DELETE,
            &format!("/v1/blocks/{block}"),
            None,
        )
        .await
        .map(drop)
    }
}

/// Notion's timestamps, comparable; an unreadable one sorts as the oldest.
fn parse_time(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .unwrap_or_default()
}

/// The link to a page, built from its id: the form Notion resolves for any workspace member.
pub fn page_url(id: &str) -> String {
    format!("https://www.notion.so/{}", id.replace('-', ""))
}
