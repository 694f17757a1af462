//! The HTTP/1.1 plumbing the fakes share: one request read from a socket (request line,
//! headers, body), and query strings and forms decoded. Each fake answers in its own API's
//! format; this only reads.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as it arrived; header names lower case.
pub struct Incoming {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn form(&self) -> Vec<(String, String)> {
        let form = self
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        if form {
            parse_form(&String::from_utf8_lossy(&self.body))
        } else {
            Vec::new()
        }
    }
}

/// Serves `listener` on a thread of its own, each connection on another, every request
/// handled by `handle` with the fake's state.
pub fn serve<S: Send + 'static>(
    listener: TcpListener,
    shared: &Arc<Mutex<S>>,
    handle: fn(TcpStream, &Mutex<S>),
) {
    let serving = Arc::clone(shared);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let shared = Arc::clone(&serving);
            std::thread::spawn(move || handle(stream, &shared));
        }
    });
}

/// Reads one request (the fakes answer one per connection); `None` when the client went away.
pub fn read_request(stream: &TcpStream) -> Option<Incoming> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim().to_string();
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            headers.push((name, value));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), parse_form(query)),
        None => (target, Vec::new()),
    };
    Some(Incoming {
        method,
        path,
        query,
        headers,
        body,
    })
}

/// `a=1&b=x%20y` as pairs, percent and `+` decoded.
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Injected failures, matched by a substring of `"METHOD /path"`: one-shot ones first (in
/// order), then the standing ones.
pub struct Failures<F> {
    pub once: VecDeque<(String, F)>,
    pub always: Vec<(String, F)>,
}

impl<F> Default for Failures<F> {
    fn default() -> Self {
        Failures {
            once: VecDeque::new(),
            always: Vec::new(),
        }
    }
}

impl<F: Clone> Failures<F> {
    /// The failure for the request `key`, if one is set; a one-shot one is used up.
    pub fn take(&mut self, key: &str) -> Option<F> {
        if let Some(at) = self.once.iter().position(|(p, _)| key.contains(p.as_str())) {
            return self.once.remove(at).map(|(_, f)| f);
        }
        self.always
            .iter()
            .find(|(p, _)| key.contains(p.as_str()))
            .map(|(_, f)| f.clone())
    }
}
