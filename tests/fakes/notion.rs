//! A fake Notion API on 127.0.0.1, speaking the wire format of
//! `shared/contracts/connectors.md` §1 (versions `2025-09-03` and `2026-03-11`), strict where
//! Notion is strict: every request needs `Authorization: Bearer <token>` (else 401
//! `unauthorized`) and a `Notion-Version` header (else 400 `missing_version`); request
//! bodies are validated against the documented limits with Notion's own error messages.
//!
//! Public API:
//! - [`FakeNotion::start`]`(token)`; [`FakeNotion::base_url`] is `http://127.0.0.1:PORT` (the
//!   product appends `/v1/...`; `NOTION_BASE_URL`).
//! - Seeds: [`FakeNotion::add_page`] ([`PageSeed`] with [`BlockSeed`]s, `has_children` is true
//!   when a block has children), [`FakeNotion::add_shared_parent`] (a page that
//!   `POST /v1/pages` may use as its parent; any seeded page may be one too),
//!   [`FakeNotion::touch_page`] (an edit: new `last_edited_time` and new blocks),
//!   [`FakeNotion::trash_page`].
//! - Behaviour: [`FakeNotion::set_delay`] (before every answer), [`FakeNotion::set_page_cap`]
//!   (lists never hold more than this many results, whatever `page_size` asks: Notion may
//!   return fewer), [`FakeNotion::fail_next`] / [`FakeNotion::fail_always`] /
//!   [`FakeNotion::clear_failures`] with a [`Failure`], matched as a substring of
//!   `"METHOD /path"` (no query): `fail_next("POST /v1/pages", Failure::DropConnection)` loses
//!   only the create's answer, `fail_next("/v1/search", …)` the next search.
//! - Inspection: [`FakeNotion::created_pages`] (pages made through the API, with their
//!   current blocks flattened depth first), [`FakeNotion::requests`], [`FakeNotion::page_url`].
//!
//! Endpoints: `POST /v1/search`, `GET /v1/blocks/{id}/children`, `GET /v1/blocks/{id}`,
//! `PATCH /v1/blocks/{id}/children`, `DELETE /v1/blocks/{id}`, `POST /v1/pages`,
//! `GET /v1/pages/{id}`, `PATCH /v1/pages/{id}`, `GET /v1/users/me`. Ids in paths and bodies
//! may come with or without dashes; answers always carry dashes. Cursors are the id of the next
//! result, as Notion's are. Timestamps keep their milliseconds (real Notion rounds
//! `last_edited_time` down to the minute; tests that edit a page seconds after a run would
//! otherwise depend on the wall clock's minute).

// The API is whole for the tests and benchmarks to come; not every item is used yet.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::http::{Failures, Incoming, read_request};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The bot user every request acts as.
pub const BOT_USER_ID: &str = "b0b0b0b0-0000-4000-8000-000000000b07";

/// Versions the fake accepts in `Notion-Version`.
const VERSIONS: &[&str] = &["2022-02-22", "2022-06-28", "2025-09-03", "2026-03-11"];

/// Block types whose content is `{"rich_text": [...], "color": ...}`.
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

/// Block types without text that requests may create.
const PLAIN_TYPES: &[&str] = &["divider", "table_of_contents", "bookmark", "breadcrumb"];

/// How the fake answers one request instead of serving it.
#[derive(Debug, Clone)]
pub enum Failure {
    /// 429 `rate_limited` with `Retry-After`.
    RateLimited { retry_after: u64 },
    /// This status with Notion's error body (`code` is Notion's code name, e.g.
    /// `service_unavailable`).
    Status {
        code: u16,
        error: String,
        message: String,
    },
    /// 200 with a body that is not JSON.
    Garbage,
    /// Reads the request, performs it (a create creates), then closes the connection
    /// without answering.
    DropConnection,
    /// 401 `unauthorized` whose message quotes the request's `Authorization` header back.
    EchoAuthorization,
}

impl Failure {
    /// `Status` with a generic message.
    pub fn status(code: u16, error: &str) -> Failure {
        Failure::Status {
            code,
            error: error.into(),
            message: format!("fake failure: {error}"),
        }
    }
}

/// A block of a seeded page.
#[derive(Debug, Clone)]
pub struct BlockSeed {
    /// `paragraph`, `heading_2`, `bulleted_list_item`, `to_do`, `child_page`, `divider`, …
    pub kind: String,
    /// The text; longer than 2,000 characters comes back as several rich-text items, as
    /// Notion stores it.
    pub text: String,
    pub children: Vec<BlockSeed>,
}

impl BlockSeed {
    pub fn new(kind: &str, text: &str) -> BlockSeed {
        BlockSeed {
            kind: kind.into(),
            text: text.into(),
            children: Vec::new(),
        }
    }

    pub fn paragraph(text: &str) -> BlockSeed {
        BlockSeed::new("paragraph", text)
    }

    pub fn with_children(mut self, children: Vec<BlockSeed>) -> BlockSeed {
        self.children = children;
        self
    }
}

/// A page that exists before the test starts (shared with the integration).
#[derive(Debug, Clone)]
pub struct PageSeed {
    /// 32 hex digits, dashes optional.
    pub id: String,
    pub title: String,
    /// `None`: a workspace page.
    pub parent_page_id: Option<String>,
    pub last_edited: DateTime<Utc>,
    pub blocks: Vec<BlockSeed>,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When it arrived (for pacing checks: a retry after `Retry-After`).
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Null` when empty or not JSON).
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn notion_version(&self) -> Option<&str> {
        self.header("notion-version")
    }
}

/// A block of a page created through the API, as it stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedBlock {
    pub kind: String,
    /// Plain text: the rich-text items joined.
    pub text: String,
    /// `text.link.url` of the items that have one.
    pub links: Vec<String>,
}

/// A page created through `POST /v1/pages`.
#[derive(Debug, Clone)]
pub struct CreatedPage {
    pub id: String,
    /// The parent page's id, with dashes.
    pub parent: String,
    pub title: String,
    pub url: String,
    pub in_trash: bool,
    /// The non-trashed blocks, depth first.
    pub blocks: Vec<CreatedBlock>,
}

#[derive(Debug, Clone)]
struct Rich {
    content: String,
    link: Option<String>,
    annotations: Value,
}

#[derive(Debug, Clone)]
enum Parent {
    Workspace,
    Page(String),
    Block(String),
}

#[derive(Debug, Clone)]
struct Page {
    id: String,
    title: String,
    parent: Parent,
    created: DateTime<Utc>,
    last_edited: DateTime<Utc>,
    in_trash: bool,
    by_api: bool,
}

#[derive(Debug, Clone)]
struct Block {
    id: String,
    kind: String,
    rich: Vec<Rich>,
    /// Other fields of the type object (`checked`, `language`, `url`, `title`, …).
    extra: Map<String, Value>,
    parent: Parent,
    created: DateTime<Utc>,
    last_edited: DateTime<Utc>,
    in_trash: bool,
}

/// A block as a request describes it, validated.
struct NewBlock {
    kind: String,
    rich: Vec<Rich>,
    extra: Map<String, Value>,
    children: Vec<NewBlock>,
}

struct State {
    token: String,
    port: u16,
    pages: Vec<Page>,
    blocks: HashMap<String, Block>,
    /// Child block ids of a page or block, in order (trashed ones included).
    children: HashMap<String, Vec<String>>,
    shared_parents: HashSet<String>,
    requests: Vec<Recorded>,
    failures: Failures<Failure>,
    delay: Duration,
    page_cap: usize,
    next_id: u64,
}

/// The running fake; it stops with the test process.
#[derive(Clone)]
pub struct FakeNotion {
    port: u16,
    shared: Arc<Mutex<State>>,
}

impl FakeNotion {
    /// Starts a fake that accepts `Authorization: Bearer <token>`.
    pub fn start(token: &str) -> FakeNotion {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake Notion");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Mutex::new(State {
            token: token.into(),
            port,
            pages: Vec::new(),
            blocks: HashMap::new(),
            children: HashMap::new(),
            shared_parents: HashSet::new(),
            requests: Vec::new(),
            failures: Failures::default(),
            delay: Duration::ZERO,
            page_cap: 100,
            next_id: 0,
        }));
        super::http::serve(listener, &shared, handle);
        FakeNotion { port, shared }
    }

    /// The base URL to put in `NOTION_BASE_URL` (without `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.lock().expect("fake Notion")
    }

    /// Adds a page with its blocks; returns its id with dashes.
    pub fn add_page(&self, seed: PageSeed) -> String {
        let id = dashed(&seed.id).unwrap_or_else(|| panic!("not a Notion id: {}", seed.id));
        let parent = match &seed.parent_page_id {
            Some(p) => Parent::Page(dashed(p).unwrap_or_else(|| panic!("not a Notion id: {p}"))),
            None => Parent::Workspace,
        };
        let mut state = self.state();
        state.pages.push(Page {
            id: id.clone(),
            title: seed.title,
            parent,
            created: seed.last_edited - chrono::Duration::days(1),
            last_edited: seed.last_edited,
            in_trash: false,
            by_api: false,
        });
        state.seed_blocks(&id, true, &seed.blocks, seed.last_edited);
        id
    }

    /// Makes `id` a page the integration may create pages under.
    pub fn add_shared_parent(&self, id: &str) {
        let id = dashed(id).unwrap_or_else(|| panic!("not a Notion id: {id}"));
        self.state().shared_parents.insert(id);
    }

    /// An edit: the page's blocks are replaced by `blocks` and `last_edited_time` set.
    pub fn touch_page(&self, id: &str, last_edited: DateTime<Utc>, blocks: Vec<BlockSeed>) {
        let id = dashed(id).unwrap_or_else(|| panic!("not a Notion id: {id}"));
        let mut state = self.state();
        let old = state.children.remove(&id).unwrap_or_default();
        for block in old {
            if let Some(b) = state.blocks.get_mut(&block) {
                b.in_trash = true;
            }
        }
        state.seed_blocks(&id, true, &blocks, last_edited);
        let page = state
            .pages
            .iter_mut()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("no page {id}"));
        page.last_edited = last_edited;
    }

    /// Moves a page to the trash: search stops returning it.
    pub fn trash_page(&self, id: &str) {
        let id = dashed(id).unwrap_or_else(|| panic!("not a Notion id: {id}"));
        if let Some(page) = self.state().pages.iter_mut().find(|p| p.id == id) {
            page.in_trash = true;
        }
    }

    /// Waits this long before answering every request.
    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// Lists (search, block children) hold at most `cap` results a page.
    pub fn set_page_cap(&self, cap: usize) {
        self.state().page_cap = cap.max(1);
    }

    /// The next request whose `"METHOD /path"` contains `pattern` fails this way.
    pub fn fail_next(&self, pattern: &str, failure: Failure) {
        self.state()
            .failures
            .once
            .push_back((pattern.into(), failure));
    }

    /// Every request whose `"METHOD /path"` contains `pattern` fails this way (after the
    /// one-shot failures are used up).
    pub fn fail_always(&self, pattern: &str, failure: Failure) {
        self.state().failures.always.push((pattern.into(), failure));
    }

    pub fn clear_failures(&self) {
        self.state().failures = Failures::default();
    }

    /// The `url` Notion gives the page `id` (as search and create answer it).
    pub fn page_url(&self, id: &str) -> Option<String> {
        let id = dashed(id)?;
        let state = self.state();
        state.pages.iter().find(|p| p.id == id).map(page_url)
    }

    /// Pages created through `POST /v1/pages`, oldest first.
    pub fn created_pages(&self) -> Vec<CreatedPage> {
        let state = self.state();
        state
            .pages
            .iter()
            .filter(|p| p.by_api)
            .map(|p| {
                let mut blocks = Vec::new();
                state.flatten(&p.id, &mut blocks);
                CreatedPage {
                    id: p.id.clone(),
                    parent: match &p.parent {
                        Parent::Page(id) | Parent::Block(id) => id.clone(),
                        Parent::Workspace => String::new(),
                    },
                    title: p.title.clone(),
                    url: page_url(p),
                    in_trash: p.in_trash,
                    blocks,
                }
            })
            .collect()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }
}

impl State {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        dashed(&format!("{:08x}b10c4000{:016x}", self.port, self.next_id)).expect("hex id")
    }

    fn seed_blocks(&mut self, parent: &str, is_page: bool, seeds: &[BlockSeed], at: DateTime<Utc>) {
        for seed in seeds {
            let id = self.new_id();
            let mut extra = Map::new();
            let rich = if seed.kind == "child_page" {
                extra.insert("title".into(), json!(seed.text));
                Vec::new()
            } else {
                chunks(&seed.text, 2000)
                    .into_iter()
                    .map(|content| Rich {
                        content,
                        link: None,
                        annotations: default_annotations(),
                    })
                    .collect()
            };
            self.insert_block(Block {
                id: id.clone(),
                kind: seed.kind.clone(),
                rich,
                extra,
                parent: if is_page {
                    Parent::Page(parent.into())
                } else {
                    Parent::Block(parent.into())
                },
                created: at,
                last_edited: at,
                in_trash: false,
            });
            self.seed_blocks(&id, false, &seed.children, at);
        }
    }

    fn insert_block(&mut self, block: Block) {
        let parent = match &block.parent {
            Parent::Page(id) | Parent::Block(id) => id.clone(),
            Parent::Workspace => String::new(),
        };
        self.children
            .entry(parent)
            .or_default()
            .push(block.id.clone());
        self.blocks.insert(block.id.clone(), block);
    }

    fn live_children(&self, id: &str) -> Vec<&Block> {
        self.children
            .get(id)
            .map(|ids| {
                ids.iter()
                    .filter_map(|b| self.blocks.get(b))
                    .filter(|b| !b.in_trash)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn flatten(&self, id: &str, out: &mut Vec<CreatedBlock>) {
        for block in self.live_children(id) {
            out.push(CreatedBlock {
                kind: block.kind.clone(),
                text: block.rich.iter().map(|r| r.content.as_str()).collect(),
                links: block.rich.iter().filter_map(|r| r.link.clone()).collect(),
            });
            self.flatten(&block.id, out);
        }
    }

    fn page(&self, id: &str) -> Option<&Page> {
        self.pages.iter().find(|p| p.id == id)
    }

    /// Stores validated blocks under `parent`; returns the new top-level ids.
    fn store(&mut self, parent: Parent, blocks: Vec<NewBlock>, now: DateTime<Utc>) -> Vec<String> {
        let mut ids = Vec::new();
        for block in blocks {
            let id = self.new_id();
            self.insert_block(Block {
                id: id.clone(),
                kind: block.kind,
                rich: block.rich,
                extra: block.extra,
                parent: parent.clone(),
                created: now,
                last_edited: now,
                in_trash: false,
            });
            self.store(Parent::Block(id.clone()), block.children, now);
            ids.push(id);
        }
        ids
    }

    /// The page a block belongs to, for `last_edited_time`.
    fn owning_page(&self, id: &str) -> Option<String> {
        let mut current = id.to_string();
        for _ in 0..64 {
            if self.page(&current).is_some() {
                return Some(current);
            }
            match &self.blocks.get(&current)?.parent {
                Parent::Page(p) => return Some(p.clone()),
                Parent::Block(b) => current = b.clone(),
                Parent::Workspace => return None,
            }
        }
        None
    }

    fn edited(&mut self, id: &str, now: DateTime<Utc>) {
        if let Some(page) = self.owning_page(id)
            && let Some(p) = self.pages.iter_mut().find(|p| p.id == page)
        {
            p.last_edited = now;
        }
    }
}

/// An answer: status, extra headers, body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: json!({
            "object": "error", "status": status, "code": code, "message": message,
            "request_id": format!("{:08x}-fake-req", fastrand::u32(..)),
        })
        .to_string(),
    }
}

fn validation(message: &str) -> Reply {
    error(400, "validation_error", message)
}

fn not_found(kind: &str, id: &str) -> Reply {
    error(
        404,
        "object_not_found",
        &format!(
            "Could not find {kind} with ID: {id}. Make sure the relevant pages and databases are shared with your integration."
        ),
    )
}

fn archived() -> Reply {
    validation("Can't edit block that is archived. You must unarchive the block before editing.")
}

fn handle(stream: TcpStream, shared: &Mutex<State>) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let (failure, delay) = {
        let mut state = shared.lock().expect("fake Notion");
        state.requests.push(Recorded {
            at: Instant::now(),
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: request.headers.clone(),
            body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
        });
        let key = format!("{} {}", request.method, request.path);
        (state.failures.take(&key), state.delay)
    };
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    let reply = match failure {
        None => route(shared, &request),
        Some(Failure::DropConnection) => {
            let _ = route(shared, &request);
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        Some(Failure::RateLimited { retry_after }) => {
            let mut reply = error(
                429,
                "rate_limited",
                "You have been rate limited. Please try again in a few minutes.",
            );
            reply
                .headers
                .push(("Retry-After".into(), retry_after.to_string()));
            reply
        }
        Some(Failure::Status {
            code,
            error: name,
            message,
        }) => error(code, &name, &message),
        Some(Failure::Garbage) => Reply {
            status: 200,
            headers: Vec::new(),
            body: "<html><body>upstream connect error</body></html>".into(),
        },
        Some(Failure::EchoAuthorization) => error(
            401,
            "unauthorized",
            &format!(
                "API token is invalid. You sent: {}",
                request.header("authorization").unwrap_or("")
            ),
        ),
    };
    respond(stream, &reply);
}

fn respond(mut stream: TcpStream, reply: &Reply) {
    let reason = match reply.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let content_type = if reply.body.starts_with('<') {
        "text/html"
    } else {
        "application/json; charset=utf-8"
    };
    let extra: String = reply
        .headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    let response = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{}",
        reply.status,
        reply.body.len(),
        reply.body
    );
    let _ = stream.write_all(response.as_bytes());
}

fn route(shared: &Mutex<State>, request: &Incoming) -> Reply {
    let mut state = shared.lock().expect("fake Notion");
    let expected = format!("Bearer {}", state.token);
    if request.header("authorization") != Some(expected.as_str()) {
        return error(401, "unauthorized", "API token is invalid.");
    }
    let Some(version) = request.header("notion-version").map(str::to_string) else {
        return error(
            400,
            "missing_version",
            "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
        );
    };
    if !VERSIONS.contains(&version.as_str()) {
        return validation(&format!(
            "Notion-Version header failed validation: Notion-Version header should be one of {VERSIONS:?}, instead was `{version}`."
        ));
    }
    let body = if request.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice::<Value>(&request.body) {
            Ok(value) if value.is_object() => value,
            _ => return error(400, "invalid_json", "Error parsing JSON body."),
        }
    };
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let now = Utc::now();
    match (request.method.as_str(), segments.as_slice()) {
        ("POST", ["v1", "search"]) => search(&state, &body, &version),
        ("GET", ["v1", "users", "me"]) => Reply::ok(json!({
            "object": "user", "id": BOT_USER_ID, "name": "Backoffice", "avatar_url": null,
            "type": "bot", "bot": {"owner": {"type": "workspace", "workspace": true},
            "workspace_name": "Fake workspace"}, "request_id": "fake"})),
        ("GET", ["v1", "blocks", id, "children"]) => with_id(id, "block_id", |id| {
            list_children(&state, &id, request, &version)
        }),
        ("PATCH", ["v1", "blocks", id, "children"]) => with_id(id, "block_id", |id| {
            append_children(&mut state, &id, &body, &version, now)
        }),
        ("GET", ["v1", "blocks", id]) => {
            with_id(id, "block_id", |id| match state.blocks.get(&id) {
                Some(block) => Reply::ok(block_json(&state, block, &version)),
                None => match state.page(&id) {
                    Some(page) => Reply::ok(page_as_block(page, &version)),
                    None => not_found("block", &id),
                },
            })
        }
        ("DELETE", ["v1", "blocks", id]) => with_id(id, "block_id", |id| {
            delete_block(&mut state, &id, &version, now)
        }),
        ("POST", ["v1", "pages"]) => create_page(&mut state, &body, &version, now),
        ("GET", ["v1", "pages", id]) => with_id(id, "page_id", |id| match state.page(&id) {
            Some(page) => Reply::ok(page_json(page, &version)),
            None => not_found("page", &id),
        }),
        ("PATCH", ["v1", "pages", id]) => with_id(id, "page_id", |id| {
            update_page(&mut state, &id, &body, &version, now)
        }),
        _ => error(400, "invalid_request_url", "Invalid request URL."),
    }
}

fn with_id(raw: &str, name: &str, then: impl FnOnce(String) -> Reply) -> Reply {
    match dashed(raw) {
        Some(id) => then(id),
        None => validation(&format!(
            "path failed validation: path.{name} should be a valid uuid, instead was `\"{raw}\"`."
        )),
    }
}

/// Reads `page_size` (1..=100, default 100) from a JSON body or a query.
fn page_size(value: Option<&Value>, prefix: &str) -> Result<usize, Reply> {
    let Some(value) = value else {
        return Ok(100);
    };
    let size = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    match size {
        Some(n) if (1..=100).contains(&n) => Ok(n as usize),
        Some(n) if n > 100 => Err(validation(&format!(
            "{prefix} failed validation: {prefix}.page_size should be ≤ `100`, instead was `{n}`."
        ))),
        _ => Err(validation(&format!(
            "{prefix} failed validation: {prefix}.page_size should be a positive integer, instead was `{value}`."
        ))),
    }
}

/// One page of `ids` starting at the cursor (the id of the first result).
fn paginate<T: Clone>(
    items: &[(String, T)],
    cursor: Option<&str>,
    size: usize,
) -> Result<(Vec<T>, Option<String>), Reply> {
    let start = match cursor {
        None => 0,
        Some(c) => match dashed(c).and_then(|c| items.iter().position(|(id, _)| *id == c)) {
            Some(at) => at,
            None => {
                return Err(validation(&format!(
                    "start_cursor provided is invalid: {c}"
                )));
            }
        },
    };
    let end = (start + size).min(items.len());
    let page = items[start..end].iter().map(|(_, t)| t.clone()).collect();
    let next = items.get(end).map(|(id, _)| id.clone());
    Ok((page, next))
}

fn list_envelope(results: Vec<Value>, next: Option<String>, kind: &str) -> Value {
    let mut envelope = json!({
        "object": "list", "results": results, "has_more": next.is_some(),
        "next_cursor": next, "type": kind, "request_id": "fake",
    });
    envelope[kind] = json!({});
    envelope
}

fn search(state: &State, body: &Value, version: &str) -> Reply {
    let new_api = version >= "2025-09-03";
    let mut wanted = "page";
    if let Some(filter) = body.get("filter") {
        if filter.get("property").and_then(Value::as_str) != Some("object") {
            return validation(&format!(
                "body failed validation: body.filter.property should be `\"object\"`, instead was `{}`.",
                filter.get("property").unwrap_or(&Value::Null)
            ));
        }
        let allowed: &[&str] = if new_api {
            &["page", "data_source"]
        } else {
            &["page", "database"]
        };
        match filter.get("value").and_then(Value::as_str) {
            Some(value) if allowed.contains(&value) => wanted = value,
            _ => {
                return validation(&format!(
                    "body failed validation: body.filter.value should be `\"{}\"` or `\"{}\"`, instead was `{}`.",
                    allowed[0],
                    allowed[1],
                    filter.get("value").unwrap_or(&Value::Null)
                ));
            }
        }
    }
    let mut ascending = false;
    if let Some(sort) = body.get("sort") {
        if sort.get("timestamp").and_then(Value::as_str) != Some("last_edited_time") {
            return validation(&format!(
                "body failed validation: body.sort.timestamp should be `\"last_edited_time\"`, instead was `{}`.",
                sort.get("timestamp").unwrap_or(&Value::Null)
            ));
        }
        match sort.get("direction").and_then(Value::as_str) {
            Some("ascending") => ascending = true,
            Some("descending") => {}
            _ => {
                return validation(&format!(
                    "body failed validation: body.sort.direction should be `\"ascending\"` or `\"descending\"`, instead was `{}`.",
                    sort.get("direction").unwrap_or(&Value::Null)
                ));
            }
        }
    }
    let size = match page_size(body.get("page_size"), "body") {
        Ok(size) => size.min(state.page_cap),
        Err(reply) => return reply,
    };
    let query = body
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase();
    let mut pages: Vec<&Page> = if wanted == "page" {
        state
            .pages
            .iter()
            .filter(|p| !p.in_trash)
            .filter(|p| query.is_empty() || p.title.to_lowercase().contains(&query))
            .collect()
    } else {
        Vec::new()
    };
    pages.sort_by(|a, b| b.last_edited.cmp(&a.last_edited).then(a.id.cmp(&b.id)));
    if ascending {
        pages.reverse();
    }
    let items: Vec<(String, Value)> = pages
        .iter()
        .map(|p| (p.id.clone(), page_json(p, version)))
        .collect();
    let cursor = body.get("start_cursor").and_then(Value::as_str);
    match paginate(&items, cursor, size) {
        Ok((results, next)) => {
            let kind = if new_api {
                "page_or_data_source"
            } else {
                "page_or_database"
            };
            Reply::ok(list_envelope(results, next, kind))
        }
        Err(reply) => reply,
    }
}

fn list_children(state: &State, id: &str, request: &Incoming, version: &str) -> Reply {
    let exists = state.page(id).is_some() || state.blocks.contains_key(id);
    if !exists {
        return not_found("block", id);
    }
    let size = match page_size(
        request.query("page_size").map(|s| json!(s)).as_ref(),
        "query",
    ) {
        Ok(size) => size.min(state.page_cap),
        Err(reply) => return reply,
    };
    let items: Vec<(String, Value)> = state
        .live_children(id)
        .into_iter()
        .map(|b| (b.id.clone(), block_json(state, b, version)))
        .collect();
    match paginate(&items, request.query("start_cursor"), size) {
        Ok((results, next)) => Reply::ok(list_envelope(results, next, "block")),
        Err(reply) => reply,
    }
}

fn append_children(
    state: &mut State,
    id: &str,
    body: &Value,
    version: &str,
    now: DateTime<Utc>,
) -> Reply {
    let parent = if let Some(page) = state.page(id) {
        if page.in_trash {
            return archived();
        }
        Parent::Page(id.into())
    } else if let Some(block) = state.blocks.get(id) {
        if block.in_trash {
            return archived();
        }
        if !TEXT_TYPES.contains(&block.kind.as_str()) {
            return validation(&format!(
                "Block type {} does not support children.",
                block.kind
            ));
        }
        Parent::Block(id.into())
    } else {
        return not_found("block", id);
    };
    if version >= "2026-03-11"
        && let Some(after) = body.get("after")
    {
        return validation(&format!(
            "body failed validation: body.after should be not present, instead was `{after}`."
        ));
    }
    let Some(children) = body.get("children") else {
        return validation(
            "body failed validation: body.children should be defined, instead was `undefined`.",
        );
    };
    let blocks = match parse_blocks(children, "body.children", 1) {
        Ok(blocks) => blocks,
        Err(message) => return validation(&format!("body failed validation: {message}")),
    };
    // Where the new blocks go: the end unless `position` (or, before 2026-03-11, `after`)
    // says otherwise.
    let after = body
        .get("position")
        .and_then(|p| match p.get("type").and_then(Value::as_str) {
            Some("after_block") => p["after_block"]["id"].as_str().and_then(dashed),
            Some("start") => Some(String::new()),
            _ => None,
        })
        .or_else(|| body.get("after").and_then(Value::as_str).and_then(dashed));
    let ids = state.store(parent, blocks, now);
    if let Some(after) = after {
        let list = state.children.entry(id.to_string()).or_default();
        list.retain(|b| !ids.contains(b));
        let at = if after.is_empty() {
            0
        } else {
            list.iter()
                .position(|b| *b == after)
                .map_or(list.len(), |i| i + 1)
        };
        for (offset, new) in ids.iter().enumerate() {
            list.insert(at + offset, new.clone());
        }
    }
    state.edited(id, now);
    let results = ids
        .iter()
        .filter_map(|b| state.blocks.get(b))
        .map(|b| block_json(state, b, version))
        .collect();
    Reply::ok(list_envelope(results, None, "block"))
}

fn delete_block(state: &mut State, id: &str, version: &str, now: DateTime<Utc>) -> Reply {
    if let Some(page) = state.pages.iter_mut().find(|p| p.id == id) {
        if page.in_trash {
            return archived();
        }
        page.in_trash = true;
        page.last_edited = now;
        let page = page.clone();
        return Reply::ok(page_as_block(&page, version));
    }
    match state.blocks.get_mut(id) {
        None => not_found("block", id),
        Some(block) if block.in_trash => archived(),
        Some(block) => {
            block.in_trash = true;
            block.last_edited = now;
            state.edited(id, now);
            let block = state.blocks[id].clone();
            Reply::ok(block_json(state, &block, version))
        }
    }
}

fn create_page(state: &mut State, body: &Value, version: &str, now: DateTime<Utc>) -> Reply {
    let Some(parent) = body.get("parent").filter(|p| p.is_object()) else {
        return validation(
            "body failed validation: body.parent should be an object, instead was `undefined`.",
        );
    };
    let parent_id = if let Some(raw) = parent.get("page_id") {
        let Some(id) = raw.as_str().and_then(dashed) else {
            return validation(&format!(
                "body failed validation: body.parent.page_id should be a valid uuid, instead was `{raw}`."
            ));
        };
        let known = state.shared_parents.contains(&id) || state.page(&id).is_some();
        if !known {
            return not_found("page", &id);
        }
        if state.page(&id).is_some_and(|p| p.in_trash) {
            return archived();
        }
        id
    } else if let Some(raw) = parent
        .get("database_id")
        .or_else(|| parent.get("data_source_id"))
    {
        return not_found("database", raw.as_str().unwrap_or(""));
    } else if parent.get("workspace").is_some() {
        return validation("Workspace level pages are only supported for public integrations.");
    } else {
        return validation(
            "body failed validation: body.parent.page_id should be defined, instead was `undefined`.",
        );
    };
    let Some(properties) = body.get("properties").and_then(Value::as_object) else {
        return validation(
            "body failed validation: body.properties should be defined, instead was `undefined`.",
        );
    };
    if let Some(other) = properties.keys().find(|k| *k != "title") {
        return validation(&format!("{other} is not a property that exists."));
    }
    let Some(title) = properties.get("title") else {
        return validation(
            "body failed validation: body.properties.title should be defined, instead was `undefined`.",
        );
    };
    let title = match title_text(title) {
        Ok(text) => text,
        Err(message) => return validation(&format!("body failed validation: {message}")),
    };
    let blocks = match body.get("children") {
        None => Vec::new(),
        Some(children) => match parse_blocks(children, "body.children", 1) {
            Ok(blocks) => blocks,
            Err(message) => return validation(&format!("body failed validation: {message}")),
        },
    };
    let id = state.new_id();
    state.pages.push(Page {
        id: id.clone(),
        title,
        parent: Parent::Page(parent_id),
        created: now,
        last_edited: now,
        in_trash: false,
        by_api: true,
    });
    state.store(Parent::Page(id.clone()), blocks, now);
    let page = state.page(&id).expect("just created").clone();
    Reply::ok(page_json(&page, version))
}

/// The title's plain text from `{"title": [...]}` or a bare rich-text array.
fn title_text(title: &Value) -> Result<String, String> {
    let (items, path) = match title {
        Value::Array(_) => (title, "body.properties.title"),
        Value::Object(o) => match o.get("title") {
            Some(items) => (items, "body.properties.title.title"),
            None => {
                return Err(
                    "body.properties.title.title should be defined, instead was `undefined`."
                        .into(),
                );
            }
        },
        other => {
            return Err(format!(
                "body.properties.title should be an object, instead was `{other}`."
            ));
        }
    };
    let rich = parse_rich(items, path)?;
    Ok(rich.iter().map(|r| r.content.as_str()).collect())
}

fn update_page(
    state: &mut State,
    id: &str,
    body: &Value,
    version: &str,
    now: DateTime<Utc>,
) -> Reply {
    let Some(page) = state.page(id).cloned() else {
        return not_found("page", id);
    };
    if version >= "2026-03-11"
        && let Some(value) = body.get("archived")
    {
        return validation(&format!(
            "body failed validation: body.archived should be not present, instead was `{value}`."
        ));
    }
    let trash = body
        .get("in_trash")
        .or_else(|| body.get("archived"))
        .map(|v| v.as_bool().ok_or(v.clone()));
    let trash = match trash {
        None => None,
        Some(Ok(flag)) => Some(flag),
        Some(Err(value)) => {
            return validation(&format!(
                "body failed validation: body.in_trash should be a boolean, instead was `{value}`."
            ));
        }
    };
    if page.in_trash && trash != Some(false) {
        return archived();
    }
    let mut title = None;
    if let Some(properties) = body.get("properties") {
        let Some(properties) = properties.as_object() else {
            return validation(&format!(
                "body failed validation: body.properties should be an object, instead was `{properties}`."
            ));
        };
        if let Some(other) = properties.keys().find(|k| *k != "title") {
            return validation(&format!("{other} is not a property that exists."));
        }
        if let Some(value) = properties.get("title") {
            match title_text(value) {
                Ok(text) => title = Some(text),
                Err(message) => return validation(&format!("body failed validation: {message}")),
            }
        }
    }
    let page = state
        .pages
        .iter_mut()
        .find(|p| p.id == id)
        .expect("page exists");
    if let Some(text) = title {
        page.title = text;
    }
    if let Some(flag) = trash {
        page.in_trash = flag;
    }
    page.last_edited = now;
    let page = page.clone();
    Reply::ok(page_json(&page, version))
}

/// Validates a `children` array (depth 1 is the request's top level; Notion allows 2).
fn parse_blocks(value: &Value, path: &str, depth: usize) -> Result<Vec<NewBlock>, String> {
    let Some(items) = value.as_array() else {
        return Err(format!("{path} should be an array, instead was `{value}`."));
    };
    if items.len() > 100 {
        return Err(format!(
            "{path}.length should be ≤ `100`, instead was `{}`.",
            items.len()
        ));
    }
    let mut blocks = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let here = format!("{path}[{index}]");
        let Some(object) = item.as_object() else {
            return Err(format!("{here} should be an object, instead was `{item}`."));
        };
        if let Some(kind) = object.get("object")
            && kind != "block"
        {
            return Err(format!(
                "{here}.object should be `\"block\"`, instead was `{kind}`."
            ));
        }
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind.clone(),
            Some(other) => {
                return Err(format!(
                    "{here}.type should be a string, instead was `{other}`."
                ));
            }
            None => {
                let keys: Vec<&String> = object
                    .keys()
                    .filter(|k| *k != "object" && *k != "type")
                    .collect();
                match keys.as_slice() {
                    [one] => (*one).clone(),
                    _ => {
                        return Err(format!(
                            "{here} should have exactly one block type, instead had {keys:?}."
                        ));
                    }
                }
            }
        };
        if !TEXT_TYPES.contains(&kind.as_str()) && !PLAIN_TYPES.contains(&kind.as_str()) {
            return Err(format!(
                "{here}.type should be a supported block type, instead was `\"{kind}\"`."
            ));
        }
        let Some(content) = object.get(&kind).and_then(Value::as_object) else {
            return Err(format!(
                "{here}.{kind} should be defined, instead was `undefined`."
            ));
        };
        let inner = format!("{here}.{kind}");
        let mut extra = Map::new();
        let mut rich = Vec::new();
        let mut children = Vec::new();
        for (key, field) in content {
            match key.as_str() {
                "rich_text" if TEXT_TYPES.contains(&kind.as_str()) => {
                    rich = parse_rich(field, &format!("{inner}.rich_text"))?;
                }
                "children" => {
                    if depth >= 2 {
                        return Err(format!(
                            "{inner}.children should be not present, instead was `[…]`."
                        ));
                    }
                    children = parse_blocks(field, &format!("{inner}.children"), depth + 1)?;
                }
                "url" if kind == "bookmark" => {
                    extra.insert(key.clone(), field.clone());
                }
                "color" | "checked" | "is_toggleable" | "language" | "caption" | "icon" => {
                    extra.insert(key.clone(), field.clone());
                }
                other => {
                    return Err(format!(
                        "{inner}.{other} should be not present, instead was `{field}`."
                    ));
                }
            }
        }
        if TEXT_TYPES.contains(&kind.as_str()) && content.get("rich_text").is_none() {
            return Err(format!(
                "{inner}.rich_text should be defined, instead was `undefined`."
            ));
        }
        if kind == "bookmark" && content.get("url").and_then(Value::as_str).is_none() {
            return Err(format!(
                "{inner}.url should be defined, instead was `undefined`."
            ));
        }
        blocks.push(NewBlock {
            kind,
            rich,
            extra,
            children,
        });
    }
    Ok(blocks)
}

/// Validates a rich-text array: at most 100 items, `text.content` at most 2,000 characters,
/// `text.link.url` at most 2,000 and an absolute URL.
fn parse_rich(value: &Value, path: &str) -> Result<Vec<Rich>, String> {
    let Some(items) = value.as_array() else {
        return Err(format!("{path} should be an array, instead was `{value}`."));
    };
    if items.len() > 100 {
        return Err(format!(
            "{path}.length should be ≤ `100`, instead was `{}`.",
            items.len()
        ));
    }
    let mut rich = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let here = format!("{path}[{index}]");
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("text");
        let annotations = match item.get("annotations") {
            None => default_annotations(),
            Some(Value::Object(given)) => {
                let mut all = default_annotations();
                for (key, value) in given {
                    all[key] = value.clone();
                }
                all
            }
            Some(other) => {
                return Err(format!(
                    "{here}.annotations should be an object, instead was `{other}`."
                ));
            }
        };
        match kind {
            "text" => {
                let Some(text) = item.get("text").and_then(Value::as_object) else {
                    return Err(format!(
                        "{here}.text should be defined, instead was `undefined`."
                    ));
                };
                let Some(content) = text.get("content").and_then(Value::as_str) else {
                    return Err(format!(
                        "{here}.text.content should be defined, instead was `undefined`."
                    ));
                };
                let length = content.chars().count();
                if length > 2000 {
                    return Err(format!(
                        "{here}.text.content.length should be ≤ `2000`, instead was `{length}`."
                    ));
                }
                let link = match text.get("link") {
                    None | Some(Value::Null) => None,
                    Some(link) => {
                        let Some(url) = link.get("url").and_then(Value::as_str) else {
                            return Err(format!(
                                "{here}.text.link.url should be defined, instead was `undefined`."
                            ));
                        };
                        let length = url.chars().count();
                        if length > 2000 {
                            return Err(format!(
                                "{here}.text.link.url.length should be ≤ `2000`, instead was `{length}`."
                            ));
                        }
                        let absolute = ["http://", "https://", "mailto:"]
                            .iter()
                            .any(|scheme| url.starts_with(scheme));
                        if !absolute || url.contains(char::is_whitespace) {
                            return Err(format!("Invalid URL for link: {url}"));
                        }
                        Some(url.to_string())
                    }
                };
                rich.push(Rich {
                    content: content.to_string(),
                    link,
                    annotations,
                });
            }
            "equation" => {
                let Some(expression) = item["equation"]["expression"].as_str() else {
                    return Err(format!(
                        "{here}.equation.expression should be defined, instead was `undefined`."
                    ));
                };
                if expression.chars().count() > 1000 {
                    return Err(format!(
                        "{here}.equation.expression.length should be ≤ `1000`, instead was `{}`.",
                        expression.chars().count()
                    ));
                }
                rich.push(Rich {
                    content: expression.to_string(),
                    link: None,
                    annotations,
                });
            }
            other => {
                return Err(format!(
                    "{here}.type should be `\"text\"` or `\"equation\"`, instead was `\"{other}\"`."
                ));
            }
        }
    }
    Ok(rich)
}

fn default_annotations() -> Value {
    json!({"bold": false, "italic": false, "strikethrough": false, "underline": false,
           "code": false, "color": "default"})
}

fn rich_json(rich: &[Rich]) -> Value {
    rich.iter()
        .map(|r| {
            json!({
                "type": "text",
                "text": {"content": r.content, "link": r.link.as_ref().map(|u| json!({"url": u}))},
                "annotations": r.annotations,
                "plain_text": r.content,
                "href": r.link,
            })
        })
        .collect()
}

fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn parent_json(parent: &Parent) -> Value {
    match parent {
        Parent::Workspace => json!({"type": "workspace", "workspace": true}),
        Parent::Page(id) => json!({"type": "page_id", "page_id": id}),
        Parent::Block(id) => json!({"type": "block_id", "block_id": id}),
    }
}

fn page_url(page: &Page) -> String {
    let words: Vec<String> = page
        .title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let hex = page.id.replace('-', "");
    if words.is_empty() {
        format!("https://www.notion.so/{hex}")
    } else {
        format!("https://www.notion.so/{}-{hex}", words.join("-"))
    }
}

fn user() -> Value {
    json!({"object": "user", "id": BOT_USER_ID})
}

fn page_json(page: &Page, version: &str) -> Value {
    let mut value = json!({
        "object": "page", "id": page.id,
        "created_time": stamp(page.created), "last_edited_time": stamp(page.last_edited),
        "created_by": user(), "last_edited_by": user(),
        "cover": null, "icon": null, "parent": parent_json(&page.parent),
        "in_trash": page.in_trash, "is_locked": false,
        "properties": {"title": {"id": "title", "type": "title", "title": rich_json(&[Rich {
            content: page.title.clone(), link: None, annotations: default_annotations(),
        }])}},
        "url": page_url(page), "public_url": null,
    });
    if version < "2026-03-11" {
        value["archived"] = json!(page.in_trash);
    }
    value
}

/// A page seen as a block (`child_page`), as `DELETE /v1/blocks/{page}` answers.
fn page_as_block(page: &Page, version: &str) -> Value {
    let mut value = json!({
        "object": "block", "id": page.id, "parent": parent_json(&page.parent),
        "created_time": stamp(page.created), "last_edited_time": stamp(page.last_edited),
        "created_by": user(), "last_edited_by": user(),
        "has_children": true, "in_trash": page.in_trash, "type": "child_page",
        "child_page": {"title": page.title},
    });
    if version < "2026-03-11" {
        value["archived"] = json!(page.in_trash);
    }
    value
}

fn block_json(state: &State, block: &Block, version: &str) -> Value {
    let mut content = Map::new();
    if TEXT_TYPES.contains(&block.kind.as_str()) {
        content.insert("rich_text".into(), rich_json(&block.rich));
        content.insert("color".into(), json!("default"));
        match block.kind.as_str() {
            "to_do" => {
                content.insert("checked".into(), json!(false));
            }
            "code" => {
                content.insert("language".into(), json!("plain text"));
                content.insert("caption".into(), json!([]));
            }
            kind if kind.starts_with("heading_") => {
                content.insert("is_toggleable".into(), json!(false));
            }
            _ => {}
        }
    }
    if block.kind == "bookmark" {
        content.insert("caption".into(), json!([]));
    }
    for (key, value) in &block.extra {
        content.insert(key.clone(), value.clone());
    }
    let mut value = json!({
        "object": "block", "id": block.id, "parent": parent_json(&block.parent),
        "created_time": stamp(block.created), "last_edited_time": stamp(block.last_edited),
        "created_by": user(), "last_edited_by": user(),
        "has_children": !state.live_children(&block.id).is_empty(),
        "in_trash": block.in_trash, "type": block.kind,
    });
    value[block.kind.as_str()] = Value::Object(content);
    if version < "2026-03-11" {
        value["archived"] = json!(block.in_trash);
    }
    value
}

/// `id` (32 hex digits, dashes anywhere) as Notion prints it: 8-4-4-4-12, lower case.
pub fn dashed(id: &str) -> Option<String> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// `text` cut into pieces of at most `size` characters (never inside a character).
fn chunks(text: &str, size: usize) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}
