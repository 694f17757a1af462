//! A fake Gmail API and Google OAuth token endpoint on one 127.0.0.1 server, speaking the wire
//! format of `shared/contracts/connectors.md` §3: `historyId` and `internalDate` as JSON
//! strings, no `messages` key when nothing matches, Google's error bodies, and access tokens
//! that only the token endpoint hands out.
//!
//! Public API:
//! - [`FakeGmail::start`]`(client_id, client_secret, refresh_token)`; [`FakeGmail::base_url`]
//!   is `http://127.0.0.1:PORT/gmail/v1` (`GMAIL_BASE_URL`; the product appends
//!   `/users/me/messages`), [`FakeGmail::token_url`] is `http://127.0.0.1:PORT/token`
//!   (`GOOGLE_TOKEN_URL`).
//! - Seeds: [`FakeGmail::add_message`] ([`MessageSeed`]; [`MessageSeed::new`] fills the usual
//!   headers and labels).
//! - Tokens: every `POST /token` with the right client and refresh token issues a new
//!   `ya29.fake-<n>` ([`FakeGmail::refreshes`] counts them); [`FakeGmail::expire_tokens`]
//!   makes every token issued so far invalid (the next API call gets 401 `authError`);
//!   [`FakeGmail::revoke`] makes the refresh token answer `invalid_grant` from now on.
//! - Behaviour: [`FakeGmail::set_delay`], [`FakeGmail::set_page_cap`] (a list page holds at
//!   most this many ids, whatever `maxResults` asks), [`FakeGmail::fail_next`] /
//!   [`FakeGmail::fail_always`] / [`FakeGmail::clear_failures`] with a [`Failure`], matched as
//!   a substring of `"METHOD /path"` (`"/token"`, `"GET /gmail/v1/users/me/messages/"` for
//!   gets only, `"/users/me/messages"` for lists and gets).
//! - Inspection: [`FakeGmail::requests`], [`FakeGmail::issued_tokens`],
//!   [`FakeGmail::message_link`].
//!
//! `q` understands `after:` / `before:` (epoch seconds, or `YYYY/MM/DD` as midnight Pacific
//! time, as Gmail reads dates; after is inclusive, before exclusive), `newer_than:` /
//! `older_than:` (`2d`, `12h`), `category:`, `in:`, `label:`, `is:unread|starred`, `from:`,
//! each negatable with `-`; other terms are ignored (and recorded). Spam and trash are left
//! out unless `includeSpamTrash=true`. `maxResults` is 1..=500.

// The API is whole for the tests and benchmarks to come; not every item is used yet.
#![allow(dead_code)]

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::http::{Failures, Incoming, read_request};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

/// The address the fake mailbox belongs to.
pub const ADDRESS: &str = "me@example.com";

/// How the fake answers one request instead of serving it.
#[derive(Debug, Clone)]
pub enum Failure {
    /// 429 `rateLimitExceeded` (`RESOURCE_EXHAUSTED`) with `Retry-After`.
    RateLimited { retry_after: u64 },
    /// This status with Google's error body (`reason` such as `backendError`,
    /// `userRateLimitExceeded`); on `/token`, the OAuth body `{"error": reason,
    /// "error_description": message}`.
    Status {
        code: u16,
        reason: String,
        message: String,
    },
    /// 200 with a body that is not JSON.
    Garbage,
    /// Reads the request, then closes the connection without answering.
    DropConnection,
    /// Expires every access token issued so far and answers 401 `authError`: a token that
    /// died mid-run, so only a refresh helps.
    ExpireToken,
    /// An error that quotes the request back: the `Authorization` header on the API,
    /// the whole form (client secret and refresh token) on `/token`.
    EchoAuthorization,
}

/// A message in the mailbox.
#[derive(Debug, Clone, Default)]
pub struct MessageSeed {
    pub id: String,
    pub thread_id: String,
    /// `Jane CFO <cfo@example.com>`.
    pub from: String,
    pub subject: String,
    /// The `Date` header as sent.
    pub date_header: String,
    pub internal_date: DateTime<Utc>,
    /// As Gmail gives it: HTML entities (`&#39;`) included.
    pub snippet: String,
    pub body_text: String,
    /// `INBOX`, `UNREAD`, `CATEGORY_PERSONAL`, `CATEGORY_PROMOTIONS`, …
    pub labels: Vec<String>,
}

impl MessageSeed {
    /// An unread inbox message in the primary category, its thread its own, its `Date`
    /// header matching `internal_date`.
    pub fn new(id: &str, from: &str, subject: &str, internal_date: DateTime<Utc>) -> MessageSeed {
        MessageSeed {
            id: id.into(),
            thread_id: id.into(),
            from: from.into(),
            subject: subject.into(),
            date_header: internal_date.to_rfc2822(),
            internal_date,
            snippet: format!("{subject} &#8212; see below"),
            body_text: format!("{subject}\n\nBody of {id}."),
            labels: vec!["INBOX".into(), "UNREAD".into(), "CATEGORY_PERSONAL".into()],
        }
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When it arrived (for pacing checks: a retry after `Retry-After`).
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// Decoded query parameters, in order (repeated ones repeated).
    pub query: Vec<(String, String)>,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Form fields of a `/token` request, in order.
    pub form: Vec<(String, String)>,
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

    /// Every value of a repeated query parameter.
    pub fn query_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn form(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct State {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    revoked: bool,
    /// Every access token issued, oldest first.
    issued: Vec<String>,
    /// How many of `issued` are expired (the oldest ones).
    expired: usize,
    messages: Vec<MessageSeed>,
    requests: Vec<Recorded>,
    failures: Failures<Failure>,
    delay: Duration,
    page_cap: usize,
}

/// The running fake; it stops with the test process.
#[derive(Clone)]
pub struct FakeGmail {
    port: u16,
    shared: Arc<Mutex<State>>,
}

impl FakeGmail {
    /// Starts a fake whose token endpoint accepts this client and refresh token.
    pub fn start(client_id: &str, client_secret: &str, refresh_token: &str) -> FakeGmail {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake Gmail");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Mutex::new(State {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            refresh_token: refresh_token.into(),
            revoked: false,
            issued: Vec::new(),
            expired: 0,
            messages: Vec::new(),
            requests: Vec::new(),
            failures: Failures::default(),
            delay: Duration::ZERO,
            page_cap: 500,
        }));
        super::http::serve(listener, &shared, handle);
        FakeGmail { port, shared }
    }

    /// `GMAIL_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/gmail/v1", self.port)
    }

    /// `GOOGLE_TOKEN_URL`.
    pub fn token_url(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.lock().expect("fake Gmail")
    }

    pub fn add_message(&self, message: MessageSeed) {
        self.state().messages.push(message);
    }

    /// How many access tokens the token endpoint has issued.
    pub fn refreshes(&self) -> usize {
        self.state().issued.len()
    }

    /// Every access token issued, oldest first.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state().issued.clone()
    }

    /// Every access token issued so far stops working.
    pub fn expire_tokens(&self) {
        let mut state = self.state();
        state.expired = state.issued.len();
    }

    /// The refresh token is revoked: `invalid_grant`, and no access token works any more.
    pub fn revoke(&self) {
        let mut state = self.state();
        state.revoked = true;
        state.expired = state.issued.len();
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// A list page holds at most `cap` ids.
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

    /// Every request whose `"METHOD /path"` contains `pattern` fails this way.
    pub fn fail_always(&self, pattern: &str, failure: Failure) {
        self.state().failures.always.push((pattern.into(), failure));
    }

    pub fn clear_failures(&self) {
        self.state().failures = Failures::default();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    /// Where a person reads message `id`: `https://mail.google.com/mail/u/0/#all/<id>`
    /// (products may choose another view; the id is what matters).
    pub fn message_link(id: &str) -> String {
        format!("https://mail.google.com/mail/u/0/#all/{id}")
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: body.to_string(),
    }
}

/// Google's API error body.
fn google_error(code: u16, reason: &str, message: &str) -> Reply {
    let status = match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    };
    let domain = if reason.contains("RateLimit") || reason.contains("LimitExceeded") {
        "usageLimits"
    } else {
        "global"
    };
    let mut error = json!({"message": message, "domain": domain, "reason": reason});
    if code == 401 {
        error["location"] = json!("Authorization");
        error["locationType"] = json!("header");
    }
    let mut answer = reply(
        code,
        json!({"error": {"code": code, "message": message, "errors": [error], "status": status}}),
    );
    if code == 401 {
        answer.headers.push((
            "WWW-Authenticate".into(),
            "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"".into(),
        ));
    }
    answer
}

fn unauthenticated() -> Reply {
    google_error(401, "authError", "Invalid Credentials")
}

fn oauth_error(code: u16, error: &str, description: &str) -> Reply {
    reply(
        code,
        json!({"error": error, "error_description": description}),
    )
}

fn handle(stream: TcpStream, shared: &Mutex<State>) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let form = request.form();
    let (failure, delay) = {
        let mut state = shared.lock().expect("fake Gmail");
        state.requests.push(Recorded {
            at: Instant::now(),
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: request.headers.clone(),
            form: form.clone(),
        });
        let key = format!("{} {}", request.method, request.path);
        (state.failures.take(&key), state.delay)
    };
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    let token_endpoint = request.path == "/token";
    let answer = match failure {
        None => route(shared, &request, &form),
        Some(Failure::DropConnection) => {
            let _ = route(shared, &request, &form);
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        Some(Failure::RateLimited { retry_after }) => {
            let mut answer = if token_endpoint {
                oauth_error(429, "rate_limit_exceeded", "Rate limit exceeded.")
            } else {
                google_error(
                    429,
                    "rateLimitExceeded",
                    "Resource has been exhausted (e.g. check quota).",
                )
            };
            answer
                .headers
                .push(("Retry-After".into(), retry_after.to_string()));
            answer
        }
        Some(Failure::Status {
            code,
            reason,
            message,
        }) => {
            if token_endpoint {
                oauth_error(code, &reason, &message)
            } else {
                google_error(code, &reason, &message)
            }
        }
        Some(Failure::Garbage) => Reply {
            status: 200,
            headers: Vec::new(),
            body: "<html><body>That's an error.</body></html>".into(),
        },
        Some(Failure::ExpireToken) => {
            let mut state = shared.lock().expect("fake Gmail");
            state.expired = state.issued.len();
            unauthenticated()
        }
        Some(Failure::EchoAuthorization) => {
            if token_endpoint {
                let sent: Vec<String> = form.iter().map(|(n, v)| format!("{n}={v}")).collect();
                oauth_error(
                    400,
                    "invalid_grant",
                    &format!("Bad Request: could not use {}", sent.join("&")),
                )
            } else {
                google_error(
                    401,
                    "authError",
                    &format!(
                        "Invalid Credentials: {}",
                        request.header("authorization").unwrap_or("")
                    ),
                )
            }
        }
    };
    respond(stream, &answer);
}

fn respond(mut stream: TcpStream, answer: &Reply) {
    let reason = match answer.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let content_type = if answer.body.starts_with('<') {
        "text/html; charset=UTF-8"
    } else {
        "application/json; charset=UTF-8"
    };
    let extra: String = answer
        .headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    let response = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{}",
        answer.status,
        answer.body.len(),
        answer.body
    );
    let _ = stream.write_all(response.as_bytes());
}

fn route(shared: &Mutex<State>, request: &Incoming, form: &[(String, String)]) -> Reply {
    let mut state = shared.lock().expect("fake Gmail");
    if request.path == "/token" {
        if request.method != "POST" {
            return oauth_error(405, "invalid_request", "Method not allowed.");
        }
        return refresh(&mut state, form);
    }
    let token = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "));
    let valid = token.is_some_and(|t| state.issued[state.expired..].iter().any(|i| i == t));
    if !valid {
        return unauthenticated();
    }
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["gmail", "v1", "users", user, ..]) if *user != "me" && *user != ADDRESS => {
            google_error(
                403,
                "forbidden",
                &format!("Delegation denied for {ADDRESS}"),
            )
        }
        ("GET", ["gmail", "v1", "users", _, "profile"]) => reply(
            200,
            json!({"emailAddress": ADDRESS, "messagesTotal": state.messages.len(),
                   "threadsTotal": state.messages.len(), "historyId": "31900"}),
        ),
        ("GET", ["gmail", "v1", "users", _, "messages"]) => list(&state, request),
        ("GET", ["gmail", "v1", "users", _, "messages", id]) => get(&state, request, id),
        _ => google_error(404, "notFound", "Not Found"),
    }
}

fn refresh(state: &mut State, form: &[(String, String)]) -> Reply {
    let field = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        Some("refresh_token") => {}
        Some(other) => {
            return oauth_error(
                400,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            );
        }
        None => return oauth_error(400, "unsupported_grant_type", "Invalid grant_type: "),
    }
    if field("client_id") != Some(state.client_id.as_str()) {
        return oauth_error(401, "invalid_client", "The OAuth client was not found.");
    }
    if field("client_secret") != Some(state.client_secret.as_str()) {
        return oauth_error(401, "invalid_client", "Unauthorized");
    }
    if state.revoked || field("refresh_token") != Some(state.refresh_token.as_str()) {
        return oauth_error(400, "invalid_grant", "Token has been expired or revoked.");
    }
    let token = format!("ya29.fake-{}", state.issued.len() + 1);
    state.issued.push(token.clone());
    reply(
        200,
        json!({"access_token": token, "expires_in": 3599,
               "scope": "https://www.googleapis.com/auth/gmail.readonly",
               "token_type": "Bearer"}),
    )
}

/// Whether `message` matches the Gmail search `q` (the subset documented above).
fn matches(message: &MessageSeed, q: &str, now: DateTime<Utc>) -> bool {
    let has = |label: &str| message.labels.iter().any(|l| l.eq_ignore_ascii_case(label));
    for term in q.split_whitespace() {
        let (negated, term) = match term.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, term),
        };
        let Some((key, value)) = term.split_once(':') else {
            continue;
        };
        let value = value.trim_matches('"');
        let hit = match key.to_ascii_lowercase().as_str() {
            "after" => match instant(value) {
                Some(at) => message.internal_date >= at,
                None => continue,
            },
            "before" => match instant(value) {
                Some(at) => message.internal_date < at,
                None => continue,
            },
            "newer_than" => match span(value) {
                Some(span) => message.internal_date >= now - span,
                None => continue,
            },
            "older_than" => match span(value) {
                Some(span) => message.internal_date < now - span,
                None => continue,
            },
            "category" => {
                let label = match value.to_ascii_lowercase().as_str() {
                    "primary" => "CATEGORY_PERSONAL".to_string(),
                    other => format!("CATEGORY_{}", other.to_ascii_uppercase()),
                };
                has(&label)
            }
            "in" => match value.to_ascii_lowercase().as_str() {
                "anywhere" => true,
                other => has(other),
            },
            "label" => has(value) || has(&value.replace('-', "_")),
            "is" => match value.to_ascii_lowercase().as_str() {
                "unread" => has("UNREAD"),
                "read" => !has("UNREAD"),
                "starred" => has("STARRED"),
                "important" => has("IMPORTANT"),
                _ => continue,
            },
            "from" => message.from.to_lowercase().contains(&value.to_lowercase()),
            _ => continue,
        };
        if hit == negated {
            return false;
        }
    }
    true
}

/// `after:`/`before:` values: epoch seconds, or a date as midnight in Pacific time.
fn instant(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(secs) = value.parse::<i64>() {
        return DateTime::from_timestamp(secs, 0);
    }
    let date = NaiveDate::parse_from_str(value, "%Y/%m/%d")
        .or_else(|_| NaiveDate::parse_from_str(value, "%Y-%m-%d"))
        .ok()?;
    chrono_tz::America::Los_Angeles
        .from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn span(value: &str) -> Option<chrono::Duration> {
    let (number, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: i64 = number.parse().ok()?;
    match unit {
        "h" => Some(chrono::Duration::hours(n)),
        "d" => Some(chrono::Duration::days(n)),
        "m" => Some(chrono::Duration::days(30 * n)),
        "y" => Some(chrono::Duration::days(365 * n)),
        _ => None,
    }
}

fn list(state: &State, request: &Incoming) -> Reply {
    let max = match request.query("maxResults") {
        None => 100,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=500).contains(&n) => n,
            _ => {
                return google_error(
                    400,
                    "invalidArgument",
                    &format!("Invalid value for maxResults: {text}. Must be between 1 and 500."),
                );
            }
        },
    };
    let q = request.query("q").unwrap_or("");
    let spam_too = request.query("includeSpamTrash") == Some("true")
        || q.split_whitespace().any(|t| {
            ["in:anywhere", "in:spam", "in:trash"].contains(&t.to_ascii_lowercase().as_str())
        });
    let labels: Vec<&str> = request
        .query
        .iter()
        .filter(|(n, _)| n == "labelIds")
        .map(|(_, v)| v.as_str())
        .collect();
    let now = Utc::now();
    let mut found: Vec<&MessageSeed> = state
        .messages
        .iter()
        .filter(|m| spam_too || !m.labels.iter().any(|l| l == "SPAM" || l == "TRASH"))
        .filter(|m| labels.iter().all(|l| m.labels.iter().any(|have| have == l)))
        .filter(|m| matches(m, q, now))
        .collect();
    found.sort_by(|a, b| b.internal_date.cmp(&a.internal_date).then(b.id.cmp(&a.id)));
    let start = match request.query("pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => match token.parse::<u64>() {
            Ok(n) if n >= 10_000_000_000 => (n - 10_000_000_000) as usize,
            _ => return google_error(400, "invalidArgument", "Invalid pageToken"),
        },
    };
    let size = max.min(state.page_cap);
    let end = (start + size).min(found.len());
    let mut answer = json!({"resultSizeEstimate": found.len()});
    if start < end {
        let ids: Vec<Value> = found[start..end]
            .iter()
            .map(|m| json!({"id": m.id, "threadId": m.thread_id}))
            .collect();
        answer["messages"] = json!(ids);
    }
    if end < found.len() {
        answer["nextPageToken"] = json!(format!("{:020}", 10_000_000_000 + end as u64));
    }
    reply(200, answer)
}

fn headers_of(message: &MessageSeed) -> Vec<(String, String)> {
    vec![
        ("Delivered-To".into(), ADDRESS.into()),
        ("From".into(), message.from.clone()),
        ("To".into(), format!("Me <{ADDRESS}>")),
        ("Subject".into(), message.subject.clone()),
        ("Date".into(), message.date_header.clone()),
        (
            "Message-ID".into(),
            format!("<{}@mail.example.com>", message.id),
        ),
        ("MIME-Version".into(), "1.0".into()),
        (
            "Content-Type".into(),
            "multipart/alternative; boundary=\"000000000000fake\"".into(),
        ),
    ]
}

fn header_json(headers: &[(String, String)]) -> Value {
    headers
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect()
}

fn get(state: &State, request: &Incoming, id: &str) -> Reply {
    let Some(index) = state.messages.iter().position(|m| m.id == id) else {
        return google_error(404, "notFound", "Requested entity was not found.");
    };
    let message = &state.messages[index];
    let format = request.query("format").unwrap_or("full");
    if !["full", "metadata", "minimal", "raw"].contains(&format) {
        return google_error(
            400,
            "invalidArgument",
            &format!(
                "Invalid value at 'format' (type.googleapis.com/google.apps.gmail.v1.Format), \"{format}\""
            ),
        );
    }
    let headers = headers_of(message);
    let html = format!(
        "<div dir=\"ltr\">{}</div>",
        message
            .body_text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('\n', "<br>")
    );
    let raw = format!(
        "{}\r\n\r\n{}",
        headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect::<Vec<_>>()
            .join("\r\n"),
        message.body_text
    );
    let mut answer = json!({
        "id": message.id, "threadId": message.thread_id, "labelIds": message.labels,
        "snippet": message.snippet, "historyId": format!("{}", 31_772 + index),
        "internalDate": message.internal_date.timestamp_millis().to_string(),
        "sizeEstimate": raw.len() + html.len(),
    });
    match format {
        "minimal" => {}
        "raw" => answer["raw"] = json!(base64url(raw.as_bytes())),
        "metadata" => {
            let wanted: Vec<String> = request
                .query
                .iter()
                .filter(|(n, _)| n == "metadataHeaders")
                .map(|(_, v)| v.to_ascii_lowercase())
                .collect();
            let chosen: Vec<(String, String)> = headers
                .into_iter()
                .filter(|(n, _)| wanted.is_empty() || wanted.contains(&n.to_ascii_lowercase()))
                .collect();
            answer["payload"] = json!({"partId": "", "mimeType": "multipart/alternative",
                                       "filename": "", "headers": header_json(&chosen)});
        }
        _ => {
            let part = |id: &str, mime: &str, text: &str| {
                json!({"partId": id, "mimeType": mime, "filename": "",
                       "headers": [{"name": "Content-Type", "value": format!("{mime}; charset=\"UTF-8\"")}],
                       "body": {"size": text.len(), "data": base64url(text.as_bytes())}})
            };
            answer["payload"] = json!({
                "partId": "", "mimeType": "multipart/alternative", "filename": "",
                "headers": header_json(&headers), "body": {"size": 0},
                "parts": [part("0", "text/plain", &message.body_text), part("1", "text/html", &html)],
            });
        }
    }
    reply(200, answer)
}

/// URL-safe base64 without padding, as Gmail's `body.data` and `raw`.
pub fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
