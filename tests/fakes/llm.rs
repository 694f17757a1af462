//! A fake OpenAI-compatible chat-completions server (Ollama's `/v1` flavour) on 127.0.0.1.
//! Each request takes the next scripted reply, or the default one; every request is recorded
//! so tests can check what was sent.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the fake answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this assistant text, `finish_reason: "stop"`, and usage figures.
    Answer(String),
    /// 200 with text cut off at the token limit.
    CutOff(String),
    /// Wait this long before answering `Answer("late")`.
    Stall(Duration),
    /// An error status with Ollama's error body, and `Retry-After` when given.
    Status {
        code: u16,
        message: String,
        retry_after: Option<u64>,
    },
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with an empty assistant message.
    Empty,
    /// 401 whose body quotes the request's `Authorization` header back, as careless
    /// servers and proxies do ("You sent: Bearer sk-…").
    EchoAuthorization,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub body: serde_json::Value,
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    default: Option<Reply>,
    requests: Vec<Recorded>,
}

/// The running fake; it stops with the test process.
#[derive(Clone)]
pub struct FakeLlm {
    port: u16,
    shared: Arc<Mutex<Shared>>,
}

impl FakeLlm {
    /// Starts a fake answering `Answer("fake answer")` unless told otherwise.
    pub fn start() -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake LLM");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Mutex::new(Shared {
            default: Some(Reply::Answer("fake answer".into())),
            ..Shared::default()
        }));
        super::http::serve(listener, &shared, handle);
        FakeLlm { port, shared }
    }

    /// The base URL to put in `BACKOFFICE_LLM_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Queues replies for the next requests.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().expect("fake").script.extend(replies);
    }

    /// The reply once the script is used up.
    pub fn set_default(&self, reply: Reply) {
        self.shared.lock().expect("fake").default = Some(reply);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().expect("fake").requests.clone()
    }
}

fn handle(stream: TcpStream, shared: &Mutex<Shared>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    let mut length = 0;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let reply = {
        let mut shared = shared.lock().expect("fake");
        shared.requests.push(Recorded {
            path: path.clone(),
            authorization,
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        });
        // Only chat requests take scripted replies: a client probing `/props` or `/api/ps`
        // for the context size must not use up the answers a test lined up.
        let scripted = if path == "/v1/chat/completions" {
            shared.script.pop_front()
        } else {
            None
        };
        scripted
            .or_else(|| shared.default.clone())
            .unwrap_or(Reply::Garbage)
    };
    let echoed = shared
        .lock()
        .expect("fake")
        .requests
        .last()
        .and_then(|r| r.authorization.clone())
        .unwrap_or_default();
    let (status, headers, body) = render(reply, &path, &echoed);
    let mut stream = stream;
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// Status line, extra headers and body of `reply`; `authorization` is what the request sent.
fn render(reply: Reply, path: &str, authorization: &str) -> (String, String, String) {
    if path == "/v1/models" {
        return (
            "200 OK".into(),
            String::new(),
            serde_json::json!({"object": "list", "data": [
                {"id": "llama3.1:8b", "object": "model", "created": 1717000000, "owned_by": "library"},
                {"id": "qwen2.5:latest", "object": "model", "created": 1717000000, "owned_by": "library"}
            ]})
            .to_string(),
        );
    }
    if path != "/v1/chat/completions" {
        return (
            "404 Not Found".into(),
            String::new(),
            r#"{"error":{"message":"404 page not found","type":"not_found_error","param":null,"code":null}}"#.into(),
        );
    }
    let completion = |content: &str, finish: &str| {
        serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1717300000,
            "model": "llama3.1:8b", "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 812, "completion_tokens": 240, "total_tokens": 1052}
        })
        .to_string()
    };
    match reply {
        Reply::Answer(text) => ("200 OK".into(), String::new(), completion(&text, "stop")),
        Reply::CutOff(text) => ("200 OK".into(), String::new(), completion(&text, "length")),
        Reply::Stall(delay) => {
            std::thread::sleep(delay);
            ("200 OK".into(), String::new(), completion("late", "stop"))
        }
        Reply::Status {
            code,
            message,
            retry_after,
        } => {
            let kind = match code {
                400 => "invalid_request_error",
                404 => "not_found_error",
                _ => "api_error",
            };
            let body = serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
            let headers = retry_after.map_or(String::new(), |s| format!("Retry-After: {s}\r\n"));
            (format!("{code} Status"), headers, body.to_string())
        }
        Reply::Garbage => (
            "200 OK".into(),
            String::new(),
            "<html>upstream proxy error</html>".into(),
        ),
        Reply::Empty => ("200 OK".into(), String::new(), completion("", "stop")),
        Reply::EchoAuthorization => (
            "401 Unauthorized".into(),
            String::new(),
            serde_json::json!({"error": {
                "message": format!("invalid api key. You sent: {authorization}"),
                "type": "invalid_request_error", "param": null, "code": "invalid_api_key"
            }})
            .to_string(),
        ),
    }
}
