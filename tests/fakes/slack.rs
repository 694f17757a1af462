//! A fake Slack Web API on 127.0.0.1, speaking the wire format of
//! `shared/contracts/connectors.md` §2: HTTP 200 with `{"ok": false, "error": …}` for
//! failures, `ts` as strings, cursor paging with `response_metadata.next_cursor` = `""` on
//! the last page, 429 + `Retry-After` + `ratelimited` when rate limited.
//!
//! Public API:
//! - [`FakeSlack::start`]`(token)`; [`FakeSlack::base_url`] is `http://127.0.0.1:PORT/api` (the
//!   product appends `/auth.test`, …; `SLACK_BASE_URL`).
//! - Seeds: [`FakeSlack::add_channel`]`(id, name, is_member)`, [`FakeSlack::add_user`]`(id,
//!   name, real_name, display_name, is_bot)`, [`FakeSlack::add_message`]`(channel_id,
//!   MessageSeed)`. A message whose `thread_ts` differs from its `ts` is a reply: only
//!   `conversations.replies` returns it, and its parent gets `reply_count`, `latest_reply`
//!   and `reply_users`.
//! - Behaviour: [`FakeSlack::set_delay`], [`FakeSlack::set_page_cap`] (pages never hold more
//!   than this many items, whatever `limit` asks; Slack says "fewer than requested may be
//!   returned"), [`FakeSlack::fail_next`] / [`FakeSlack::fail_always`] /
//!   [`FakeSlack::clear_failures`] with a [`Failure`], matched as a substring of
//!   `"METHOD /api/method.name"`.
//! - Inspection: [`FakeSlack::posts`] (every `chat.postMessage` that succeeded or lost its
//!   answer), [`FakeSlack::requests`], [`FakeSlack::permalink`].
//!
//! Methods: `auth.test`, `conversations.list`, `conversations.history`,
//! `conversations.replies`, `conversations.info`, `users.info`, `users.list`,
//! `chat.postMessage`. Arguments come from the query string and from
//! `application/x-www-form-urlencoded` bodies; `chat.postMessage` also takes a JSON body (read
//! methods ignore JSON bodies, as Slack does). Authentication is `Authorization: Bearer` (or a
//! `token` argument): none → `not_authed`, another token → `invalid_auth`.
//! `conversations.history` and `.replies` take channel ids only and answer `not_in_channel`
//! for channels the bot has not joined. A posted message joins its channel's history.

// The API is whole for the tests and benchmarks to come; not every item is used yet.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::http::{Failures, Incoming, parse_form, read_request};
use serde_json::{Map, Value, json};

/// What `auth.test` says about the workspace.
pub const TEAM_URL: &str = "https://fake-team.slack.com/";
pub const BOT_USER_ID: &str = "U0BOT";
pub const BOT_ID: &str = "B0BOT";

/// How the fake answers one request instead of serving it.
#[derive(Debug, Clone)]
pub enum Failure {
    /// HTTP 429, `Retry-After`, `{"ok":false,"error":"ratelimited"}`.
    RateLimited { retry_after: u64 },
    /// `code` 200: `{"ok":false,"error":<error>}` as Slack reports nearly everything; any
    /// other code: that HTTP status with the same body (a real 5xx).
    Status { code: u16, error: String },
    /// 200 with a body that is not JSON.
    Garbage,
    /// Reads the request, performs it (a post posts), then closes the connection without
    /// answering.
    DropConnection,
    /// `invalid_auth` with a `detail` that quotes the request's token back.
    EchoAuthorization,
}

impl Failure {
    /// HTTP 200 with `ok: false` and `error`.
    pub fn error(error: &str) -> Failure {
        Failure::Status {
            code: 200,
            error: error.into(),
        }
    }
}

/// A message to seed.
#[derive(Debug, Clone, Default)]
pub struct MessageSeed {
    /// `"1764540000.000100"`: seconds, a dot, six digits.
    pub ts: String,
    pub user: Option<String>,
    pub text: String,
    /// `bot_message`, `channel_join`, …
    pub subtype: Option<String>,
    pub bot_id: Option<String>,
    /// The parent's `ts` for a reply (or the message's own `ts` for a parent).
    pub thread_ts: Option<String>,
}

impl MessageSeed {
    /// A message from `user`.
    pub fn new(ts: &str, user: &str, text: &str) -> MessageSeed {
        MessageSeed {
            ts: ts.into(),
            user: Some(user.into()),
            text: text.into(),
            ..MessageSeed::default()
        }
    }

    /// This message as a reply in the thread of `parent_ts`.
    pub fn in_thread(mut self, parent_ts: &str) -> MessageSeed {
        self.thread_ts = Some(parent_ts.into());
        self
    }
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
    /// The arguments: query and form fields (strings), or the JSON body's fields.
    pub args: Map<String, Value>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The API method (`conversations.history`).
    pub fn api_method(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }

    /// An argument as text.
    pub fn arg(&self, name: &str) -> Option<String> {
        self.args.get(name).map(value_text)
    }
}

/// A `chat.postMessage` as Slack stored it.
#[derive(Debug, Clone)]
pub struct Post {
    /// The channel id it went to.
    pub channel: String,
    pub text: String,
    /// `blocks` as sent (parsed when it came as a form string); `Null` when absent.
    pub blocks: Value,
    pub unfurl_links: Option<bool>,
    pub thread_ts: Option<String>,
    pub ts: String,
}

#[derive(Debug, Clone)]
struct Channel {
    id: String,
    name: String,
    is_member: bool,
}

#[derive(Debug, Clone)]
struct User {
    id: String,
    name: String,
    real_name: String,
    display_name: String,
    is_bot: bool,
}

struct State {
    token: String,
    channels: Vec<Channel>,
    users: Vec<User>,
    /// Messages per channel id, replies included.
    messages: HashMap<String, Vec<MessageSeed>>,
    posts: Vec<Post>,
    requests: Vec<Recorded>,
    failures: Failures<Failure>,
    delay: Duration,
    page_cap: usize,
    last_post: u64,
}

/// The running fake; it stops with the test process.
#[derive(Clone)]
pub struct FakeSlack {
    port: u16,
    shared: Arc<Mutex<State>>,
}

impl FakeSlack {
    /// Starts a fake that accepts the bot token `token`.
    pub fn start(token: &str) -> FakeSlack {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake Slack");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Mutex::new(State {
            token: token.into(),
            channels: Vec::new(),
            users: Vec::new(),
            messages: HashMap::new(),
            posts: Vec::new(),
            requests: Vec::new(),
            failures: Failures::default(),
            delay: Duration::ZERO,
            page_cap: 1000,
            last_post: 0,
        }));
        super::http::serve(listener, &shared, handle);
        FakeSlack { port, shared }
    }

    /// The base URL to put in `SLACK_BASE_URL` (ends in `/api`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.lock().expect("fake Slack")
    }

    pub fn add_channel(&self, id: &str, name: &str, is_member: bool) {
        self.state().channels.push(Channel {
            id: id.into(),
            name: name.into(),
            is_member,
        });
    }

    pub fn add_user(
        &self,
        id: &str,
        name: &str,
        real_name: &str,
        display_name: &str,
        is_bot: bool,
    ) {
        self.state().users.push(User {
            id: id.into(),
            name: name.into(),
            real_name: real_name.into(),
            display_name: display_name.into(),
            is_bot,
        });
    }

    pub fn add_message(&self, channel_id: &str, message: MessageSeed) {
        assert!(parse_ts(&message.ts).is_some(), "bad ts {}", message.ts);
        self.state()
            .messages
            .entry(channel_id.into())
            .or_default()
            .push(message);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// Pages hold at most `cap` items.
    pub fn set_page_cap(&self, cap: usize) {
        self.state().page_cap = cap.max(1);
    }

    /// The next request whose `"METHOD /api/method"` contains `pattern` fails this way.
    pub fn fail_next(&self, pattern: &str, failure: Failure) {
        self.state()
            .failures
            .once
            .push_back((pattern.into(), failure));
    }

    /// Every request whose `"METHOD /api/method"` contains `pattern` fails this way.
    pub fn fail_always(&self, pattern: &str, failure: Failure) {
        self.state().failures.always.push((pattern.into(), failure));
    }

    pub fn clear_failures(&self) {
        self.state().failures = Failures::default();
    }

    /// Every post, oldest first.
    pub fn posts(&self) -> Vec<Post> {
        self.state().posts.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    /// `https://fake-team.slack.com/archives/C…/p1764540000000100`.
    pub fn permalink(channel: &str, ts: &str) -> String {
        format!("{TEAM_URL}archives/{channel}/p{}", ts.replace('.', ""))
    }
}

/// `ts` as microseconds since the epoch; `"1764540000"` and `"1764540000.0001"` count too.
fn parse_ts(ts: &str) -> Option<u128> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    if secs.is_empty() || !secs.chars().all(|c| c.is_ascii_digit()) || frac.len() > 6 {
        return None;
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let micros = format!("{frac:0<6}").parse::<u128>().ok()?;
    Some(secs.parse::<u128>().ok()? * 1_000_000 + micros)
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn truthy(value: Option<String>) -> bool {
    matches!(value.as_deref(), Some("true" | "1"))
}

/// The arguments of a request: query, then form fields, or (for `chat.postMessage`) the
/// JSON body.
fn arguments(request: &Incoming) -> Map<String, Value> {
    let mut args = Map::new();
    for (name, value) in &request.query {
        args.insert(name.clone(), json!(value));
    }
    let content_type = request.header("content-type").unwrap_or("");
    if content_type.starts_with("application/x-www-form-urlencoded") {
        for (name, value) in parse_form(&String::from_utf8_lossy(&request.body)) {
            args.insert(name, json!(value));
        }
    } else if content_type.starts_with("application/json")
        && request.path.ends_with("/chat.postMessage")
        && let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&request.body)
    {
        args.extend(fields);
    }
    args
}

fn handle(stream: TcpStream, shared: &Mutex<State>) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let args = arguments(&request);
    let (failure, delay) = {
        let mut state = shared.lock().expect("fake Slack");
        state.requests.push(Recorded {
            at: Instant::now(),
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: request.headers.clone(),
            args: args.clone(),
        });
        let key = format!("{} {}", request.method, request.path);
        (state.failures.take(&key), state.delay)
    };
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    let (status, headers, body) = match failure {
        None => (200, Vec::new(), route(shared, &request, &args).to_string()),
        Some(Failure::DropConnection) => {
            let _ = route(shared, &request, &args);
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        Some(Failure::RateLimited { retry_after }) => (
            429,
            vec![("Retry-After".to_string(), retry_after.to_string())],
            json!({"ok": false, "error": "ratelimited"}).to_string(),
        ),
        Some(Failure::Status { code, error }) => (
            code,
            Vec::new(),
            json!({"ok": false, "error": error}).to_string(),
        ),
        Some(Failure::Garbage) => (
            200,
            Vec::new(),
            "<html><body>Slack is having trouble</body></html>".into(),
        ),
        Some(Failure::EchoAuthorization) => {
            let sent = request
                .header("authorization")
                .map(str::to_string)
                .or_else(|| args.get("token").map(value_text))
                .unwrap_or_default();
            (
                200,
                Vec::new(),
                json!({"ok": false, "error": "invalid_auth",
                       "detail": format!("token `{sent}` is not valid for this workspace")})
                .to_string(),
            )
        }
    };
    respond(stream, status, &headers, &body);
}

fn respond(mut stream: TcpStream, status: u16, headers: &[(String, String)], body: &str) {
    let reason = match status {
        200 => "OK",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let content_type = if body.starts_with('<') {
        "text/html"
    } else {
        "application/json; charset=utf-8"
    };
    let extra: String = headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

fn fail(error: &str) -> Value {
    json!({"ok": false, "error": error})
}

fn route(shared: &Mutex<State>, request: &Incoming, args: &Map<String, Value>) -> Value {
    let mut state = shared.lock().expect("fake Slack");
    let arg = |name: &str| args.get(name).map(value_text);
    let token = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_string)
        .or_else(|| arg("token"));
    match token {
        None => return fail("not_authed"),
        Some(token) if token != state.token => return fail("invalid_auth"),
        Some(_) => {}
    }
    let Some(method) = request.path.strip_prefix("/api/") else {
        return fail("unknown_method");
    };
    match method {
        "auth.test" => json!({
            "ok": true, "url": TEAM_URL, "team": "Fake", "user": "bot",
            "team_id": "T0FAKE", "user_id": BOT_USER_ID, "bot_id": BOT_ID,
        }),
        "conversations.list" => list_channels(&state, &arg),
        "conversations.info" => match find_channel(&state, arg("channel").as_deref()) {
            Some(channel) => json!({"ok": true, "channel": channel_json(channel)}),
            None => fail("channel_not_found"),
        },
        "conversations.history" => history(&state, &arg),
        "conversations.replies" => replies(&state, &arg),
        "users.info" => match state
            .users
            .iter()
            .find(|u| Some(u.id.as_str()) == arg("user").as_deref())
        {
            Some(user) => json!({"ok": true, "user": user_json(user)}),
            None => fail("user_not_found"),
        },
        "users.list" => {
            let members: Vec<(String, Value)> = state
                .users
                .iter()
                .map(|u| (u.id.clone(), user_json(u)))
                .collect();
            page(&state, &members, &arg, 1000, |items, cursor| {
                json!({"ok": true, "members": items,
                       "response_metadata": {"next_cursor": cursor}})
            })
        }
        "chat.postMessage" => post(&mut state, args),
        _ => fail("unknown_method"),
    }
}

/// One page of `items` (keyed by an id the cursor names), per `limit` and `cursor`.
fn page(
    state: &State,
    items: &[(String, Value)],
    arg: &dyn Fn(&str) -> Option<String>,
    max: usize,
    wrap: impl Fn(Vec<Value>, String) -> Value,
) -> Value {
    let limit = match limit(arg("limit"), 100, max) {
        Ok(limit) => limit.min(state.page_cap),
        Err(error) => return error,
    };
    let start = match arg("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(cursor) => {
            let key = unbase64(&cursor).and_then(|c| c.strip_prefix("next:").map(str::to_string));
            match key.and_then(|k| items.iter().position(|(id, _)| *id == k)) {
                Some(at) => at,
                None => return fail("invalid_cursor"),
            }
        }
    };
    let end = (start + limit).min(items.len());
    let next = items
        .get(end)
        .map(|(id, _)| base64(format!("next:{id}").as_bytes()))
        .unwrap_or_default();
    wrap(
        items[start..end].iter().map(|(_, v)| v.clone()).collect(),
        next,
    )
}

/// `limit` within 1..=max (default `default`), else `invalid_limit`.
fn limit(given: Option<String>, default: usize, max: usize) -> Result<usize, Value> {
    match given.filter(|g| !g.is_empty()) {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(fail("invalid_limit")),
        },
    }
}

fn find_channel<'a>(state: &'a State, given: Option<&str>) -> Option<&'a Channel> {
    let given = given?;
    let name = given.strip_prefix('#').unwrap_or(given);
    state
        .channels
        .iter()
        .find(|c| c.id == given || c.name == name)
}

fn channel_json(channel: &Channel) -> Value {
    json!({
        "id": channel.id, "name": channel.name, "name_normalized": channel.name,
        "is_channel": true, "is_group": false, "is_im": false, "is_mpim": false,
        "is_private": false, "is_archived": false, "is_general": channel.name == "general",
        "is_shared": false, "is_ext_shared": false, "is_org_shared": false,
        "is_member": channel.is_member, "created": 1_449_252_889, "creator": "U0ADMIN",
        "num_members": 4,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": format!("The {} channel", channel.name), "creator": "", "last_set": 0},
    })
}

fn user_json(user: &User) -> Value {
    json!({
        "id": user.id, "team_id": "T0FAKE", "name": user.name, "deleted": false,
        "real_name": user.real_name, "tz": "Asia/Seoul", "tz_offset": 32400,
        "is_bot": user.is_bot, "is_admin": false, "is_app_user": false,
        "profile": {"real_name": user.real_name, "real_name_normalized": user.real_name,
                    "display_name": user.display_name,
                    "display_name_normalized": user.display_name,
                    "email": format!("{}@example.com", user.name)},
    })
}

fn list_channels(state: &State, arg: &dyn Fn(&str) -> Option<String>) -> Value {
    let types = arg("types").unwrap_or_else(|| "public_channel".into());
    let public = types.split(',').any(|t| t.trim() == "public_channel");
    let channels: Vec<(String, Value)> = state
        .channels
        .iter()
        .filter(|_| public)
        .map(|c| (c.id.clone(), channel_json(c)))
        .collect();
    page(
        state,
        &channels,
        arg,
        1000,
        |items, cursor| json!({"ok": true, "channels": items, "response_metadata": {"next_cursor": cursor}}),
    )
}

/// The channel named by the `channel` argument (ids only), readable by the bot.
fn readable(state: &State, channel: Option<String>) -> Result<&Channel, Value> {
    let Some(id) = channel.filter(|c| !c.is_empty()) else {
        return Err(fail("channel_not_found"));
    };
    let Some(channel) = state.channels.iter().find(|c| c.id == id) else {
        return Err(fail("channel_not_found"));
    };
    if !channel.is_member {
        return Err(fail("not_in_channel"));
    }
    Ok(channel)
}

/// `oldest`/`latest`/`inclusive` as a filter on `ts`.
fn window(arg: &dyn Fn(&str) -> Option<String>) -> Result<impl Fn(u128) -> bool, Value> {
    let oldest = match arg("oldest").filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(parse_ts(&text).ok_or_else(|| fail("invalid_ts_oldest"))?),
    };
    let latest = match arg("latest").filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(parse_ts(&text).ok_or_else(|| fail("invalid_ts_latest"))?),
    };
    let inclusive = truthy(arg("inclusive"));
    Ok(move |ts: u128| {
        let after = oldest.is_none_or(|o| if inclusive { ts >= o } else { ts > o });
        let before = latest.is_none_or(|l| if inclusive { ts <= l } else { ts < l });
        after && before
    })
}

fn is_reply(message: &MessageSeed) -> bool {
    message
        .thread_ts
        .as_ref()
        .is_some_and(|parent| *parent != message.ts)
}

fn message_json(message: &MessageSeed, all: &[MessageSeed]) -> Value {
    let mut value = json!({"type": "message", "text": message.text, "ts": message.ts,
                           "team": "T0FAKE"});
    if let Some(user) = &message.user {
        value["user"] = json!(user);
    }
    if let Some(subtype) = &message.subtype {
        value["subtype"] = json!(subtype);
    }
    if let Some(bot) = &message.bot_id {
        value["bot_id"] = json!(bot);
    }
    if is_reply(message) {
        let parent = message.thread_ts.clone().unwrap_or_default();
        value["thread_ts"] = json!(parent);
        if let Some(p) = all.iter().find(|m| m.ts == parent) {
            value["parent_user_id"] = json!(p.user);
        }
        return value;
    }
    let mut replies: Vec<&MessageSeed> = all
        .iter()
        .filter(|m| is_reply(m) && m.thread_ts.as_deref() == Some(message.ts.as_str()))
        .collect();
    if !replies.is_empty() {
        replies.sort_by_key(|m| parse_ts(&m.ts));
        let mut users: Vec<String> = Vec::new();
        for reply in &replies {
            if let Some(user) = &reply.user
                && !users.contains(user)
            {
                users.push(user.clone());
            }
        }
        value["thread_ts"] = json!(message.ts);
        value["reply_count"] = json!(replies.len());
        value["reply_users_count"] = json!(users.len());
        users.truncate(5);
        value["reply_users"] = json!(users);
        value["latest_reply"] = json!(replies.last().map(|m| m.ts.clone()));
        value["is_locked"] = json!(false);
        value["subscribed"] = json!(false);
    }
    value
}

fn history(state: &State, arg: &dyn Fn(&str) -> Option<String>) -> Value {
    let channel = match readable(state, arg("channel")) {
        Ok(channel) => channel,
        Err(error) => return error,
    };
    let within = match window(arg) {
        Ok(within) => within,
        Err(error) => return error,
    };
    let all = state.messages.get(&channel.id).cloned().unwrap_or_default();
    let mut top: Vec<&MessageSeed> = all
        .iter()
        .filter(|m| !is_reply(m))
        .filter(|m| parse_ts(&m.ts).is_some_and(&within))
        .collect();
    top.sort_by_key(|m| std::cmp::Reverse(parse_ts(&m.ts)));
    let items: Vec<(String, Value)> = top
        .iter()
        .map(|m| (m.ts.clone(), message_json(m, &all)))
        .collect();
    page(state, &items, arg, 999, |messages, cursor| {
        json!({"ok": true, "messages": messages, "has_more": !cursor.is_empty(),
               "pin_count": 0, "channel_actions_ts": null, "channel_actions_count": 0,
               "response_metadata": {"next_cursor": cursor}})
    })
}

fn replies(state: &State, arg: &dyn Fn(&str) -> Option<String>) -> Value {
    let channel = match readable(state, arg("channel")) {
        Ok(channel) => channel,
        Err(error) => return error,
    };
    let within = match window(arg) {
        Ok(within) => within,
        Err(error) => return error,
    };
    let all = state.messages.get(&channel.id).cloned().unwrap_or_default();
    let Some(ts) = arg("ts") else {
        return fail("thread_not_found");
    };
    let Some(parent) = all.iter().find(|m| m.ts == ts && !is_reply(m)) else {
        return fail("thread_not_found");
    };
    let mut thread: Vec<&MessageSeed> = all
        .iter()
        .filter(|m| is_reply(m) && m.thread_ts.as_deref() == Some(ts.as_str()))
        .filter(|m| parse_ts(&m.ts).is_some_and(&within))
        .collect();
    thread.sort_by_key(|m| parse_ts(&m.ts));
    thread.insert(0, parent);
    let items: Vec<(String, Value)> = thread
        .iter()
        .map(|m| (m.ts.clone(), message_json(m, &all)))
        .collect();
    page(state, &items, arg, 999, |messages, cursor| {
        json!({"ok": true, "messages": messages, "has_more": !cursor.is_empty(),
               "response_metadata": {"next_cursor": cursor}})
    })
}

fn post(state: &mut State, args: &Map<String, Value>) -> Value {
    let arg = |name: &str| args.get(name).map(value_text);
    let Some(channel) = find_channel(state, arg("channel").as_deref()).cloned() else {
        return fail("channel_not_found");
    };
    if !channel.is_member {
        return fail("not_in_channel");
    }
    let blocks = match args.get("blocks") {
        None => Value::Null,
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(blocks) if blocks.is_array() => blocks,
            _ => return fail("invalid_blocks_format"),
        },
        Some(blocks @ Value::Array(_)) => blocks.clone(),
        Some(_) => return fail("invalid_blocks_format"),
    };
    let text = arg("text").unwrap_or_default();
    if text.is_empty() && blocks.is_null() {
        return fail("no_text");
    }
    if text.chars().count() > 40_000 {
        return fail("msg_too_long");
    }
    if blocks.as_array().is_some_and(|b| b.len() > 50) {
        return fail("invalid_blocks");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as u64;
    state.last_post = now.max(state.last_post + 1);
    let ts = format!(
        "{}.{:06}",
        state.last_post / 1_000_000,
        state.last_post % 1_000_000
    );
    let unfurl_links = args
        .get("unfurl_links")
        .map(|v| truthy(Some(value_text(v))));
    let thread_ts = arg("thread_ts");
    let seed = MessageSeed {
        ts: ts.clone(),
        user: Some(BOT_USER_ID.into()),
        text: text.clone(),
        subtype: None,
        bot_id: Some(BOT_ID.into()),
        thread_ts: thread_ts.clone(),
    };
    state
        .messages
        .entry(channel.id.clone())
        .or_default()
        .push(seed.clone());
    state.posts.push(Post {
        channel: channel.id.clone(),
        text: text.clone(),
        blocks: blocks.clone(),
        unfurl_links,
        thread_ts,
        ts: ts.clone(),
    });
    let all = state.messages[&channel.id].clone();
    let mut message = message_json(&seed, &all);
    if !blocks.is_null() {
        message["blocks"] = blocks;
    }
    message["app_id"] = json!("A0FAKE");
    json!({"ok": true, "channel": channel.id, "ts": ts, "message": message})
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as Slack's cursors look (`dGVhbTpDMDYxRkE1UEI=`).
fn base64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unbase64(text: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).ok()
}
