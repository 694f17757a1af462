//! The HTTP server of the status site: tiny_http on threads of its own, serving the files
//! under the site folder and nothing else. Read-only by construction: GET and HEAD only, no
//! path outside the folder (encoded dot segments, encoded slashes and symlinks pointing out are
//! refused), revalidation with `ETag`/`Last-Modified`, and a Content-Security-Policy that
//! forbids loading anything from anywhere but the site itself.
//!
//! Pages hold prompts, answers and errors, so two more rules keep them to the people they
//! are for and keep the site answering:
//! - **Host check.** A DNS-rebinding page (a name of the attacker's that resolves to
//!   127.0.0.1) could read the site through a browser on this machine. A request whose
//!   `Host` is not a loopback name or address, the listen address, or a name allowed with
//!   `--allow-host` (a reverse proxy's) gets 403.
//! - **Bounded time per client.** Every socket has read and write timeouts, and an answer
//!   must be written within [`ANSWER_DEADLINE`]; [`WORKERS`] threads answer, so a few
//!   clients that ask for a large page and never read it cannot starve the rest.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use tiny_http::{Header, Method, Request, Response, Server};

pub use super::hosts::AllowedHosts;

/// Threads answering requests. Each answer is a file read and a write, so one thread could
/// serve everyone, but a client that stops reading holds its thread until a timeout: with
/// sixteen, a handful of stalled or hostile clients leave plenty for a phone and a laptop.
pub const WORKERS: usize = 16;
/// Stack of each worker: an answer needs little, and sixteen default 2 MiB stacks would be
/// address space for nothing.
const WORKER_STACK: usize = 256 * 1024;
/// How long one read or write on a socket may block: a client that sends nothing, or takes
/// nothing, is dropped after this. Accepted sockets inherit it from the listening one.
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole answer may take to write, so a client taking a byte now and then cannot
/// hold a worker forever.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(30);

/// What every answer carries.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on {addr} for the status site: {message} (pass another --listen, or --no-http)"
)]
pub struct ServerError {
    pub addr: String,
    pub message: String,
}

/// A running server; dropping it without [`SiteServer::stop`] leaves the threads running.
pub struct SiteServer {
    server: Arc<Server>,
    workers: Vec<JoinHandle<()>>,
    addr: std::net::SocketAddr,
}

impl SiteServer {
    /// Listens on `addr` and serves `root`; `allowed_hosts` are the names besides loopback
    /// and the listen address that `Host` may carry.
    pub fn start(
        addr: &str,
        root: &Path,
        allowed_hosts: &[String],
    ) -> Result<SiteServer, ServerError> {
        let error = |message: String| ServerError {
            addr: addr.to_string(),
            message,
        };
        std::fs::create_dir_all(root).map_err(|e| error(e.to_string()))?;
        let root = root.canonicalize().map_err(|e| error(e.to_string()))?;
        let listener = listen(addr).map_err(|e| error(e.to_string()))?;
        let server =
            Arc::new(Server::from_listener(listener, None).map_err(|e| error(e.to_string()))?);
        let bound = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| error("not an IP address".into()))?;
        let hosts = Arc::new(AllowedHosts::new(bound, allowed_hosts));
        let mut workers = Vec::with_capacity(WORKERS);
        for index in 0..WORKERS {
            let server = Arc::clone(&server);
            let root = root.clone();
            let hosts = Arc::clone(&hosts);
            let worker = std::thread::Builder::new()
                .name(format!("site-http-{index}"))
                .stack_size(WORKER_STACK)
                .spawn(move || {
                    while let Ok(request) = server.recv() {
                        answer(request, &root, &hosts);
                    }
                })
                .map_err(|e| error(e.to_string()))?;
            workers.push(worker);
        }
        Ok(SiteServer {
            server,
            workers,
            addr: bound,
        })
    }

    /// The address actually bound (port 0 picks a free one).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the threads.
    pub fn stop(self) {
        for _ in &self.workers {
            self.server.unblock();
        }
        for worker in self.workers {
            let _ = worker.join();
        }
    }
}

/// A listening socket with `TCP_NODELAY` and the socket timeouts, which accepted
/// connections inherit (tiny_http gives no other way to set them): tiny_http
/// writes the headers and the body of an answer separately, and with Nagle's algorithm the
/// body would wait for the client's delayed ACK, 40 ms on every page.
fn listen(addr: &str) -> std::io::Result<std::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let address = addr.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to listen on")
    })?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    socket.set_write_timeout(Some(SOCKET_TIMEOUT))?;
    socket.bind(&address.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// Where a request path leads.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    /// A folder asked for without its trailing slash: relative links need it.
    Redirect(String),
    NotFound,
    /// An attempt to leave the site folder, or a path that cannot be a file of ours.
    Forbidden,
}

/// Resolves the path of `url` inside `root` (canonical). Each segment is percent-decoded on
/// its own, so `%2f` cannot make a separator and `%2e%2e` is as refused as `..`.
pub fn resolve(root: &Path, url: &str) -> Target {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let Some(rest) = path.strip_prefix('/') else {
        return Target::Forbidden;
    };
    let mut target = root.to_path_buf();
    for raw in rest.split('/').filter(|s| !s.is_empty()) {
        let Some(segment) = percent_decode(raw) else {
            return Target::Forbidden;
        };
        if segment == "."
            || segment == ".."
            || segment.contains(['/', '\\', '\0'])
            || segment.contains(':')
        {
            return Target::Forbidden;
        }
        if segment.starts_with('.') {
            // Dotfiles (our temporary files among them) are not part of the site.
            return Target::NotFound;
        }
        target.push(segment);
    }
    if target.is_dir() {
        if !path.ends_with('/') {
            return Target::Redirect(format!("{path}/"));
        }
        target.push("index.html");
    }
    match target.canonicalize() {
        Ok(real) if real.starts_with(root) && real.is_file() => Target::File(real),
        Ok(real) if !real.starts_with(root) => Target::Forbidden,
        _ => Target::NotFound,
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or bytes that are not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = segment.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/atom+xml; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn request_header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// A body that stops yielding bytes once its deadline has passed, ending the answer.
struct Deadline<R> {
    inner: R,
    until: Instant,
}

impl<R: std::io::Read> std::io::Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if Instant::now() > self.until {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client took too long to read the answer",
            ));
        }
        self.inner.read(buf)
    }
}

fn answer(request: Request, root: &Path, hosts: &AllowedHosts) {
    let until = Instant::now() + ANSWER_DEADLINE;
    let response = if hosts.allows(request_header(&request, "Host")) {
        respond(&request, root)
    } else {
        refused_host()
    };
    let (status, headers, length) = (
        response.status_code(),
        response.headers().to_vec(),
        response.data_length(),
    );
    let body = Deadline {
        inner: response.into_reader(),
        until,
    };
    let _ = request.respond(Response::new(status, headers, body, length, None));
}

fn refused_host() -> Response<std::io::Cursor<Vec<u8>>> {
    let mut response = Response::from_data(
        b"forbidden: this Host is not one the status site answers; start serve with --allow-host NAME to add it\n"
            .to_vec(),
    )
    .with_status_code(403);
    if let Some(kind) = header("Content-Type", "text/plain; charset=utf-8") {
        response.add_header(kind);
    }
    response
}

fn respond(request: &Request, root: &Path) -> Response<std::io::Cursor<Vec<u8>>> {
    let common = |response: Response<std::io::Cursor<Vec<u8>>>| {
        [
            ("Content-Security-Policy", CSP),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
        ]
        .iter()
        .filter_map(|(name, value)| header(name, value))
        .fold(response, Response::with_header)
    };
    let text = |status: u16, body: &str| {
        let mut response =
            common(Response::from_data(body.as_bytes().to_vec()).with_status_code(status));
        if let Some(kind) = header("Content-Type", "text/plain; charset=utf-8") {
            response.add_header(kind);
        }
        response
    };
    if !matches!(request.method(), Method::Get | Method::Head) {
        let mut response = text(405, "the status site is read-only: GET and HEAD only\n");
        if let Some(allow) = header("Allow", "GET, HEAD") {
            response.add_header(allow);
        }
        return response;
    }
    let file = match resolve(root, request.url()) {
        Target::File(file) => file,
        Target::Redirect(to) => {
            let mut response = text(301, "moved\n");
            if let Some(location) = header("Location", &to) {
                response.add_header(location);
            }
            return response;
        }
        Target::NotFound => return text(404, "not found\n"),
        Target::Forbidden => return text(403, "forbidden\n"),
    };
    let Ok(metadata) = std::fs::metadata(&file) else {
        return text(404, "not found\n");
    };
    let modified: DateTime<Utc> = metadata
        .modified()
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| DateTime::<Utc>::from(UNIX_EPOCH));
    let etag = format!(
        "\"{:x}-{:x}\"",
        metadata.len(),
        modified.timestamp_nanos_opt().unwrap_or_default()
    );
    let last_modified = modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let fresh = match request_header(request, "If-None-Match") {
        Some(tags) => tags
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag || t == "*"),
        None => request_header(request, "If-Modified-Since")
            .and_then(|since| DateTime::parse_from_rfc2822(since).ok())
            .is_some_and(|since| modified.timestamp() <= since.timestamp()),
    };
    let validators = [
        ("ETag", etag.as_str()),
        ("Last-Modified", last_modified.as_str()),
        ("Cache-Control", "no-cache"),
    ];
    let with_validators = |response: Response<std::io::Cursor<Vec<u8>>>| {
        validators
            .iter()
            .filter_map(|(name, value)| header(name, value))
            .fold(common(response), Response::with_header)
    };
    if fresh {
        return with_validators(Response::from_data(Vec::new()).with_status_code(304));
    }
    match std::fs::read(&file) {
        Ok(body) => {
            let mut response = with_validators(Response::from_data(body));
            if let Some(kind) = header("Content-Type", content_type(&file)) {
                response.add_header(kind);
            }
            response
        }
        Err(_) => text(404, "not found\n"),
    }
}
