//! A fake incoming-webhook endpoint on 127.0.0.1 (what Slack, Discord, Teams or a chat-ops
//! bridge would give you): it records every request whole (method, path, headers, body) and
//! answers `200 ok` as Slack's incoming webhooks do, or a status a test injects.
//!
//! Public API:
//! - [`FakeWebhook::start`]; [`FakeWebhook::url`]`(path)` is `http://127.0.0.1:PORT{path}`.
//! - Behaviour: [`FakeWebhook::fail_next`]`(code)` (one-shot, in order) and
//!   [`FakeWebhook::fail_always`]`(code)`; [`FakeWebhook::clear_failures`].
//! - Inspection: [`FakeWebhook::hits`], every request as it arrived, oldest first.

// Not every item is used by every test binary that includes the fakes.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::http::read_request;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status the fake answered with.
    pub answered: u16,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct State {
    hits: Vec<Hit>,
    once: VecDeque<u16>,
    always: Option<u16>,
}

/// The running fake; it stops with the test process.
#[derive(Clone)]
pub struct FakeWebhook {
    port: u16,
    shared: Arc<Mutex<State>>,
}

impl FakeWebhook {
    /// Starts a fake answering `200 ok` to everything.
    pub fn start() -> FakeWebhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake webhook");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Mutex::new(State::default()));
        super::http::serve(listener, &shared, handle);
        FakeWebhook { port, shared }
    }

    /// The full URL of `path` (which starts with `/`) on this fake.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.lock().expect("fake webhook")
    }

    /// The next request is answered with HTTP `code`.
    pub fn fail_next(&self, code: u16) {
        self.state().once.push_back(code);
    }

    /// Every request is answered with HTTP `code` (after the one-shot failures).
    pub fn fail_always(&self, code: u16) {
        self.state().always = Some(code);
    }

    pub fn clear_failures(&self) {
        let mut state = self.state();
        state.once.clear();
        state.always = None;
    }

    /// Every request so far, oldest first.
    pub fn hits(&self) -> Vec<Hit> {
        self.state().hits.clone()
    }
}

fn handle(stream: TcpStream, shared: &Mutex<State>) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let code = {
        let mut state = shared.lock().expect("fake webhook");
        let code = state.once.pop_front().or(state.always).unwrap_or(200);
        state.hits.push(Hit {
            at: Instant::now(),
            method: request.method.clone(),
            path: request.path.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
            answered: code,
        });
        code
    };
    let (reason, body) = match code {
        200 => ("OK", "ok"),
        400 => ("Bad Request", "invalid_payload"),
        404 => ("Not Found", "no_service"),
        500 => ("Internal Server Error", "internal error"),
        502 => ("Bad Gateway", "bad gateway"),
        503 => ("Service Unavailable", "service unavailable"),
        _ => ("Status", "error"),
    };
    let response = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
}
