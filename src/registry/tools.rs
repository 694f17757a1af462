//! The MCP server: four tools over the registry, with JSON Schemas in and out.
//!
//! Bad arguments (an empty query, an unknown session, a limit out of range, a bad date) come
//! back as tool errors (`isError` with a sentence the model can act on), never as protocol
//! errors: since MCP 2025-11-25 that is where input validation belongs. The database work runs
//! on the blocking pool ([`Registry::call`]) so no connection is held across an `.await`.

use chrono::{DateTime, NaiveDate, Utc};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};

use super::search::{self, ExtractQuery, Hit};
use super::store::{
    self, LogRequest, NewMessage, Role, SessionFilter, SessionSummary, StoredMessage, Window,
};
use super::{Registry, RegistryError, channel, schema, tokens};

mod cards;

/// What the model is told when it connects: when to log and when to search.
pub const INSTRUCTIONS: &str = "Context Registry: a shared memory of conversations across Cursor, Claude Desktop, Claude Code and other clients.
- Call `conversation_log` after each exchange worth keeping (decisions, plans, findings, code explanations): send the user's message and your reply. The first call returns a `session_id`; pass it on every later call in this conversation. Resending the same messages is harmless.
- Call `extract` when the user refers to earlier work (\"what did I decide about...\", \"continue the ... from yesterday\", \"지난번에 정한 ...\"), or before answering a question that earlier conversations may already have settled. Korean, English and mixed queries all work; use a few distinctive keywords.
- Call `get_session` with a hit's `session_id` to read that conversation (or its last messages) and continue it here; `list_sessions` shows recent conversations per channel.
- Knowledge Cards: when the person wants to review or study (\"quiz me\", \"복습하자\"), call `cards_due`, ask one question at a time, and after they answer call `card_answer` with their answer and grade (again, hard, good, easy); show the reference answer and source quote it returns. `card_feedback` rejects, edits or suspends a card.";

/// Most messages one `conversation_log` call may carry.
const MAX_BATCH: usize = 1000;
/// Longest message accepted, in bytes.
const MAX_CONTENT: usize = 1 << 20;
/// Most messages `get_session` returns at once.
const MAX_TRANSCRIPT: usize = 1000;

/// One message to log.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct MessageArg {
    /// Who said it: user, assistant, system or tool.
    pub role: Role,
    /// The text, as said.
    pub content: String,
    /// When it was said, RFC 3339 (e.g. 2026-11-25T09:30:00Z). Defaults to now. Give it when
    /// a conversation repeats a short reply such as "ok", so both are kept.
    pub timestamp: Option<String>,
    /// Your own id for this message, if you have one: makes resending exact.
    pub id: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ConversationLogArgs {
    /// The conversation to append to, as returned by an earlier call. Leave it out to start
    /// a new conversation.
    pub session_id: Option<String>,
    /// Messages in the order they were said (1 to 1000).
    pub messages: Vec<MessageArg>,
    /// A short title for a new conversation; defaults to the first user message.
    pub title: Option<String>,
    /// The project folder or workspace the conversation is about.
    pub workspace: Option<String>,
    /// The client platform (cursor, claude-desktop, claude-code, ...). Usually left out: it is
    /// taken from the server's configuration or the client's name.
    pub channel: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ConversationLogResult {
    /// Pass this on later calls to keep appending to the same conversation.
    pub session_id: String,
    pub channel: String,
    /// Whether this call started the conversation.
    pub created: bool,
    /// Messages stored by this call.
    pub added: u64,
    /// Messages that were already stored (a resend) and were not added again.
    pub duplicates: u64,
    /// Messages in the conversation now.
    pub total_messages: u64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ExtractArgs {
    /// Topic or keywords, in any language (e.g. "retry policy", "재시도 정책", "Cursor 설정").
    pub query: String,
    /// Only conversations from this channel (cursor, claude-desktop, claude-code, ...).
    pub channel: Option<String>,
    /// Only this conversation.
    pub session_id: Option<String>,
    /// Only conversations about this workspace.
    pub workspace: Option<String>,
    /// Only messages at or after this time: RFC 3339, a date (2026-11-25), or an age such as
    /// 24h or 7d.
    pub since: Option<String>,
    /// Only messages before this time, same forms as `since`.
    pub until: Option<String>,
    /// How many hits (1 to 50, default 10).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ExtractResult {
    pub query: String,
    /// Best first: relevance (bm25) faded by age.
    pub hits: Vec<Hit>,
    /// Pass as `cursor` for more hits; absent on the last page.
    pub next_cursor: Option<String>,
    /// False when no message had every word and messages with any of them are shown.
    pub matched_all_words: bool,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct GetSessionArgs {
    /// The conversation, from `extract`, `list_sessions` or `conversation_log`.
    pub session_id: String,
    /// Only the last N messages (1 to 1000); leave out for the whole conversation (1000
    /// messages at a time).
    pub last: Option<u32>,
    /// Only messages after this position: the `next_after_seq` of the previous call, to read
    /// a conversation longer than 1000 messages.
    pub after_seq: Option<u64>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct GetSessionResult {
    pub session: SessionSummary,
    /// In order.
    pub messages: Vec<StoredMessage>,
    /// Whether `messages` is the whole conversation.
    pub complete: bool,
    /// When more messages follow these, pass this as `after_seq` to read on.
    pub next_after_seq: Option<u64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListSessionsArgs {
    /// Only this channel (cursor, claude-desktop, claude-code, ...).
    pub channel: Option<String>,
    /// Only this workspace.
    pub workspace: Option<String>,
    /// How many (1 to 100, default 20).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ListSessionsResult {
    /// Most recently active first.
    pub sessions: Vec<SessionSummary>,
    /// Pass as `cursor` for more; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The Context Registry as an MCP server. Cheap to clone: the HTTP transport makes one per
/// request.
#[derive(Clone)]
pub struct RegistryServer {
    registry: Registry,
    /// `BACKOFFICE_CHANNEL`, validated once at start.
    env_channel: Option<String>,
    tool_router: ToolRouter<RegistryServer>,
    counting: Counting,
}

/// Call counts still being written; `backoffice mcp` waits for them before it exits, so a
/// client that quits right after a call still has it counted.
#[derive(Clone, Default)]
pub struct Counting(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Counting {
    /// Waits until every count is written, or `limit` passed.
    pub async fn settle(&self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.0.load(std::sync::atomic::Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

fn internal(error: RegistryError) -> String {
    tracing::error!("{error}");
    format!("the registry failed: {error}")
}

#[tool_router]
impl RegistryServer {
    /// A server over `registry`, naming new sessions' channel from `env_channel` when the
    /// tool call does not.
    pub fn new(registry: Registry, env_channel: Option<String>) -> RegistryServer {
        let mut tool_router = Self::tool_router() + Self::card_router();
        for route in tool_router.map.values_mut() {
            schema::standard_formats(std::sync::Arc::make_mut(&mut route.attr.input_schema));
            if let Some(output) = route.attr.output_schema.as_mut() {
                schema::standard_formats(std::sync::Arc::make_mut(output));
            }
        }
        RegistryServer {
            registry,
            env_channel,
            tool_router,
            counting: Counting::default(),
        }
    }

    #[tool(
        description = "Save messages of this conversation to the shared registry so any client can find and continue it later. Starts a conversation and returns its session_id when none is given; pass that session_id on later calls. Resending messages already saved adds nothing (a resent first call returns the session it started).",
        annotations(
            title = "Log conversation",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn conversation_log(
        &self,
        Parameters(args): Parameters<ConversationLogArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<ConversationLogResult>, String> {
        let client = context.client_info().map(|info| info.name);
        let channel = channel::resolve(
            args.channel.as_deref(),
            self.env_channel.as_deref(),
            client.as_deref(),
        )
        .map_err(|e| e.to_string())?;
        let request = log_request(args, channel)?;
        let outcome = self
            .registry
            .call(move |conn| store::log(conn, &request).map(|o| (o, request.session_id)))
            .await
            .map_err(internal)?;
        if let (Some(o), _) = &outcome {
            self.count(
                "conversation_log",
                client.as_deref(),
                vec![o.channel.clone()],
            );
        }
        match outcome {
            (Some(o), _) => Ok(Json(ConversationLogResult {
                session_id: o.session_id,
                channel: o.channel,
                created: o.created,
                added: o.added as u64,
                duplicates: o.duplicates as u64,
                total_messages: o.total_messages,
            })),
            (None, id) => Err(unknown_session(id.as_deref().unwrap_or_default())),
        }
    }

    #[tool(
        description = "Search every saved conversation (all clients) by topic or keywords, in Korean, English or both. Returns ranked hits (relevance and recency) with snippets, session_id, channel and time; filter by channel, session, workspace or time range. Use get_session with a hit's session_id to read or continue that conversation.",
        annotations(
            title = "Search conversations",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn extract(
        &self,
        Parameters(args): Parameters<ExtractArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<ExtractResult>, String> {
        let now = Utc::now();
        let query = extract_query(&args, now)?;
        let text = query.text.clone();
        let page = self
            .registry
            .call(move |conn| search::extract(conn, &query, now))
            .await
            .map_err(internal)?;
        let client = context.client_info().map(|info| info.name);
        let served = page.hits.iter().map(|hit| hit.channel.clone()).collect();
        self.count("extract", client.as_deref(), served);
        Ok(Json(ExtractResult {
            query: text,
            hits: page.hits,
            next_cursor: page.next_offset.map(|o| o.to_string()),
            matched_all_words: page.matched_all_words,
        }))
    }

    #[tool(
        description = "Read one saved conversation, whole or its last N messages, to continue it here.",
        annotations(
            title = "Read a conversation",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_session(
        &self,
        Parameters(args): Parameters<GetSessionArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<GetSessionResult>, String> {
        let window = match (args.last, args.after_seq) {
            (Some(_), Some(_)) => {
                return Err("give `last` or `after_seq`, not both".into());
            }
            (Some(n @ 1..=1000), None) => Window::Last(n as usize),
            (Some(n), None) => {
                return Err(format!(
                    "`last` is {n}: give 1 to 1000, or leave it out for the whole conversation"
                ));
            }
            (None, after) => Window::After(after.unwrap_or(0)),
        };
        let id = args.session_id.trim().to_string();
        let lookup = id.clone();
        let transcript = self
            .registry
            .call(move |conn| store::transcript(conn, &lookup, window, MAX_TRANSCRIPT))
            .await
            .map_err(internal)?
            .ok_or_else(|| unknown_session(&id))?;
        let client = context.client_info().map(|info| info.name);
        self.count(
            "get_session",
            client.as_deref(),
            vec![transcript.summary.channel.clone()],
        );
        let total = transcript.summary.message_count;
        let last_seq = transcript.messages.last().map_or(0, |m| m.seq);
        let complete = transcript.messages.len() as u64 == total;
        let next_after_seq =
            (matches!(window, Window::After(_)) && last_seq < total).then_some(last_seq);
        Ok(Json(GetSessionResult {
            session: transcript.summary,
            messages: transcript.messages,
            complete,
            next_after_seq,
        }))
    }

    #[tool(
        description = "List saved conversations, most recently active first, optionally for one channel (cursor, claude-desktop, claude-code, ...) or workspace, with title, message count and last activity.",
        annotations(
            title = "List conversations",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_sessions(
        &self,
        Parameters(args): Parameters<ListSessionsArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<ListSessionsResult>, String> {
        let limit = bounded("limit", args.limit, 20, 100)?;
        let offset = parse_cursor(args.cursor.as_deref())?;
        let filter = SessionFilter {
            channel: args
                .channel
                .as_deref()
                .map(channel::normalize)
                .transpose()
                .map_err(|e| e.to_string())?,
            workspace: args.workspace,
            before: None,
            limit: offset + limit + 1,
        };
        let mut sessions = self
            .registry
            .call(move |conn| store::list(conn, &filter))
            .await
            .map_err(internal)?;
        let more = sessions.len() > offset + limit;
        let sessions: Vec<_> = sessions.drain(..).skip(offset).take(limit).collect();
        let client = context.client_info().map(|info| info.name);
        let served = sessions.iter().map(|s| s.channel.clone()).collect();
        self.count("list_sessions", client.as_deref(), served);
        Ok(Json(ListSessionsResult {
            sessions,
            next_cursor: more.then(|| (offset + limit).to_string()),
        }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for RegistryServer {
    fn get_info(&self) -> ServerConfig {
        let mut server =
            Implementation::new("backoffice-context-registry", env!("CARGO_PKG_VERSION"));
        server.title = Some("Backoffice Context Registry".into());
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(server)
            .with_instructions(INSTRUCTIONS.to_string())
    }
}

impl RegistryServer {
    /// Counts a call for the status site's cross-client figures: which channel called, and
    /// which channels' conversations it got back. In the background: an answer never waits
    /// for its count, and a count that cannot be written costs only the count.
    fn count(&self, tool: &'static str, client: Option<&str>, served: Vec<String>) {
        if served.is_empty() {
            return;
        }
        let caller = channel::resolve(None, self.env_channel.as_deref(), client)
            .unwrap_or_else(|_| channel::UNKNOWN.to_string());
        let registry = self.registry.clone();
        let pending = std::sync::Arc::clone(&self.counting.0);
        pending.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::spawn(async move {
            let counted = registry
                .call(move |conn| store::count_call(conn, Utc::now(), tool, &caller, &served))
                .await;
            pending.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            if let Err(error) = counted {
                tracing::warn!("cannot count a {tool} call: {error}");
            }
        });
    }

    /// The counts this server is still writing.
    pub fn counting(&self) -> Counting {
        self.counting.clone()
    }

    /// Each tool whose input has required fields, with their names: a call without
    /// `arguments` is invalid params for these.
    pub fn tools_needing_arguments(&self) -> Vec<(String, Vec<String>)> {
        self.tool_router
            .list_all()
            .into_iter()
            .filter_map(|tool| {
                let required: Vec<String> = tool
                    .input_schema
                    .get("required")
                    .and_then(serde_json::Value::as_array)?
                    .iter()
                    .filter_map(|name| name.as_str().map(str::to_string))
                    .collect();
                (!required.is_empty()).then(|| (tool.name.to_string(), required))
            })
            .collect()
    }
}

fn unknown_session(id: &str) -> String {
    format!(
        "no conversation with session_id `{id}`; use extract or list_sessions to find one, or leave session_id out to start a new conversation"
    )
}

/// Validates a `conversation_log` call into a store request.
fn log_request(args: ConversationLogArgs, channel: String) -> Result<LogRequest, String> {
    if args.messages.is_empty() || args.messages.len() > MAX_BATCH {
        return Err(format!(
            "`messages` has {} entries: send 1 to {MAX_BATCH} per call",
            args.messages.len()
        ));
    }
    let mut messages = Vec::with_capacity(args.messages.len());
    for (index, m) in args.messages.into_iter().enumerate() {
        if m.content.trim().is_empty() {
            return Err(format!(
                "messages[{index}].content is empty: log only what was said"
            ));
        }
        if m.content.len() > MAX_CONTENT {
            return Err(format!(
                "messages[{index}].content is {} bytes; the limit is {MAX_CONTENT}",
                m.content.len()
            ));
        }
        let at = m
            .timestamp
            .as_deref()
            .map(|t| {
                DateTime::parse_from_rfc3339(t.trim())
                    .map(|d| d.to_utc())
                    .map_err(|_| format!("messages[{index}].timestamp `{t}` is not RFC 3339: use e.g. 2026-11-25T09:30:00Z"))
            })
            .transpose()?;
        messages.push(NewMessage {
            role: m.role,
            content: m.content,
            at,
            key: m.id.filter(|k| !k.is_empty()),
        });
    }
    let clean = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    Ok(LogRequest {
        session_id: clean(args.session_id),
        channel,
        title: clean(args.title),
        workspace: clean(args.workspace),
        messages,
    })
}

/// Validates an `extract` call.
fn extract_query(args: &ExtractArgs, now: DateTime<Utc>) -> Result<ExtractQuery, String> {
    let text = args.query.trim().to_string();
    if text.is_empty() {
        return Err(
            "`query` is empty: give a topic or keywords, e.g. \"retry policy\" or \"재시도 정책\""
                .into(),
        );
    }
    if tokens::query_words(&text).is_empty() {
        return Err(format!(
            "`query` `{text}` has no letters or digits to search for: give a topic or keywords"
        ));
    }
    let since = args
        .since
        .as_deref()
        .map(|t| parse_time("since", t, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|t| parse_time("until", t, now))
        .transpose()?;
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        return Err("`since` is not before `until`: the time range is empty".into());
    }
    Ok(ExtractQuery {
        text,
        channel: args
            .channel
            .as_deref()
            .map(channel::normalize)
            .transpose()
            .map_err(|e| e.to_string())?,
        session_id: args.session_id.clone(),
        workspace: args.workspace.clone(),
        since,
        until,
        limit: bounded("limit", args.limit, 10, 50)?,
        offset: parse_cursor(args.cursor.as_deref())?,
    })
}

/// `value` within 1..=`max`, `default` when absent.
fn bounded(name: &str, value: Option<u32>, default: usize, max: usize) -> Result<usize, String> {
    match value {
        None => Ok(default),
        Some(v) if (1..=max).contains(&(v as usize)) => Ok(v as usize),
        Some(v) => Err(format!(
            "`{name}` is {v}: give 1 to {max} (default {default})"
        )),
    }
}

fn parse_cursor(cursor: Option<&str>) -> Result<usize, String> {
    match cursor {
        None => Ok(0),
        Some(c) => c
            .trim()
            .parse()
            .map_err(|_| format!("`cursor` `{c}` is not one this server gave: pass next_cursor as it came, or leave it out")),
    }
}

/// A time filter: RFC 3339, a date (midnight UTC), or an age before `now` (`24h`, `7d`).
pub fn parse_time(name: &str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.to_utc());
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    if let Ok(age) = crate::duration::parse(text)
        && let Ok(age) = chrono::Duration::from_std(age)
    {
        return Ok(now - age);
    }
    Err(format!(
        "`{name}` `{text}` is not a time: use RFC 3339 (2026-11-25T09:00:00Z), a date (2026-11-25) or an age such as 24h or 7d"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_take_three_forms_and_name_the_argument() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
            .expect("now")
            .to_utc();
        let parse = |t: &str| parse_time("since", t, now).map(store::format_time);
        assert_eq!(
            parse("2026-11-25T09:00:00+09:00"),
            Ok("2026-11-25T00:00:00Z".into())
        );
        assert_eq!(parse("2026-11-25"), Ok("2026-11-25T00:00:00Z".into()));
        assert_eq!(parse("7d"), Ok("2026-11-19T12:00:00Z".into()));
        let error = parse("yesterday").expect_err("not a time");
        assert!(
            error.starts_with("`since` `yesterday` is not a time"),
            "{error}"
        );
    }

    #[test]
    fn the_router_has_every_tool_with_object_schemas() {
        let registry_dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::open(&registry_dir.path().join("r.db")).expect("open");
        let server = RegistryServer::new(registry, None);
        let tools = server.tool_router.list_all();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "card_answer",
                "card_feedback",
                "cards_due",
                "conversation_log",
                "extract",
                "get_session",
                "list_sessions"
            ]
        );
        for tool in &tools {
            assert_eq!(
                tool.input_schema.get("type").and_then(|t| t.as_str()),
                Some("object")
            );
            let output = tool.output_schema.as_ref().expect("output schema");
            assert_eq!(output.get("type").and_then(|t| t.as_str()), Some("object"));
            let schemas = format!(
                "{} {}",
                serde_json::to_string(&*tool.input_schema).expect("json"),
                serde_json::to_string(&**output).expect("json")
            );
            for invented in ["uint", "int64", "int32", "double", "float"] {
                assert!(
                    !schemas.contains(&format!("\"format\":\"{invented}")),
                    "{}: {schemas}",
                    tool.name
                );
            }
        }
    }
}
