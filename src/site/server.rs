//! The HTTP server of the status site: hyper on a thread (and tokio runtime) of its own,
//! serving the files under the site folder and nothing else. Read-only by construction: GET
//! and HEAD only, no path outside the folder ([`super::paths`]), revalidation with
//! `ETag`/`Last-Modified`, and a Content-Security-Policy that forbids loading anything from
//! anywhere but the site itself.
//!
//! Pages hold prompts, answers and errors, so two more rules keep them to the people they
//! are for and keep the site answering:
//! - **Host check** ([`AllowedHosts`]): a DNS-rebinding page could otherwise read the site
//!   through a browser on this machine; a foreign `Host` gets 403.
//! - **Bounded time per client.** Each connection is a task, so a client that stops reading
//!   holds nothing but its own socket; it must send its request headers within
//!   [`HEADER_TIMEOUT`] and is closed after [`CONNECTION_DEADLINE`] whatever it does, and
//!   files are streamed in chunks, so a stalled reader costs one chunk of memory. (tiny_http,
//!   used before, answers on a fixed set of threads and offers no per-connection timeouts: a
//!   read timeout on the listening socket makes `accept` fail and its server stop.)

use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::hosts::AllowedHosts;
use super::paths::{Target, content_type, resolve};

/// How long a client has to send a request's headers (the first, and each next one on a
/// kept-alive connection) before it is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection may live, reading or not: ample for a page on a slow phone,
/// and the end of a client that takes a byte now and then.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(60);
/// Connections served at once; more wait in the listen backlog. Each costs a task and one
/// chunk of a file, so the bound is about memory, not threads.
pub const MAX_CONNECTIONS: usize = 512;
/// Bytes of a file read per chunk written.
const CHUNK: usize = 64 * 1024;

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

/// A running server; [`SiteServer::stop`] ends it (dropping it leaves it running).
pub struct SiteServer {
    stop: CancellationToken,
    thread: JoinHandle<()>,
    addr: SocketAddr,
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
        let bound = listener.local_addr().map_err(|e| error(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| error(e.to_string()))?;
        let site = Arc::new(Site {
            root,
            hosts: AllowedHosts::new(bound, allowed_hosts),
        });
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("site-http".into())
            .spawn(move || runtime.block_on(accept_loop(listener, site, stopped)))
            .map_err(|e| error(e.to_string()))?;
        Ok(SiteServer {
            stop,
            thread,
            addr: bound,
        })
    }

    /// The address actually bound (port 0 picks a free one).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes the connections and waits for the thread.
    pub fn stop(self) {
        self.stop.cancel();
        let _ = self.thread.join();
    }
}

/// A listening socket with `SO_REUSEADDR`, so a restart can bind while old connections
/// linger in TIME_WAIT.
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
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// What every connection needs to answer.
struct Site {
    root: PathBuf,
    hosts: AllowedHosts,
}

async fn accept_loop(listener: std::net::TcpListener, site: Arc<Site>, stop: CancellationToken) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        tracing::error!("the status site cannot use its listening socket");
        return;
    };
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    tracing::warn!("status site: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Headers and body go out in one write or two; without NODELAY the second would
        // wait for the client's delayed ACK, 40 ms on every page.
        let _ = stream.set_nodelay(true);
        let (site, stop) = (Arc::clone(&site), stop.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |request| {
                let site = Arc::clone(&site);
                async move { Ok::<_, Infallible>(answer(&site, &request)) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = tokio::time::timeout(CONNECTION_DEADLINE, connection) => {}
                () = stop.cancelled() => {}
            }
        });
    }
}

/// A response body: a short text, or a file streamed in chunks.
enum SiteBody {
    Bytes(Option<Bytes>),
    File(std::fs::File),
}

impl Body for SiteBody {
    type Data = Bytes;
    type Error = std::io::Error;

    /// Files are read synchronously, a chunk at a time: a read of 64 KiB from the page cache
    /// takes microseconds, less than handing it to a blocking pool would.
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            SiteBody::Bytes(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            SiteBody::File(file) => {
                let mut chunk = vec![0; CHUNK];
                match file.read(&mut chunk) {
                    Ok(0) => Poll::Ready(None),
                    Ok(n) => {
                        chunk.truncate(n);
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
                    }
                    Err(error) => Poll::Ready(Some(Err(error))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, SiteBody::Bytes(None))
    }

    /// Exact for texts, so hyper sends `Content-Length`; files set the header themselves.
    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            SiteBody::Bytes(bytes) => {
                hyper::body::SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            SiteBody::File(_) => hyper::body::SizeHint::default(),
        }
    }
}

fn request_header(request: &Request<Incoming>, name: HeaderName) -> Option<&str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A response with the headers every answer carries.
fn base(status: StatusCode, body: SiteBody) -> Response<SiteBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<SiteBody> {
    let mut response = base(
        status,
        SiteBody::Bytes(Some(Bytes::from_static(body.as_bytes()))),
    );
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn answer(site: &Site, request: &Request<Incoming>) -> Response<SiteBody> {
    if !site.hosts.allows(request_header(request, header::HOST)) {
        return text(
            StatusCode::FORBIDDEN,
            "forbidden: this Host is not one the status site answers; start serve with --allow-host NAME to add it\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "the status site is read-only: GET and HEAD only\n",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let url = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let file = match resolve(&site.root, url) {
        Target::File(file) => file,
        Target::Redirect(to) => {
            let mut response = text(StatusCode::MOVED_PERMANENTLY, "moved\n");
            if let Ok(location) = HeaderValue::from_str(&to) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            return response;
        }
        Target::NotFound => return text(StatusCode::NOT_FOUND, "not found\n"),
        Target::Forbidden => return text(StatusCode::FORBIDDEN, "forbidden\n"),
    };
    match serve_file(request, &file) {
        Some(response) => response,
        None => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// The file, or 304 when the client's copy is current; `None` when it cannot be read.
fn serve_file(request: &Request<Incoming>, file: &Path) -> Option<Response<SiteBody>> {
    let opened = std::fs::File::open(file).ok()?;
    let metadata = opened.metadata().ok()?;
    let modified: DateTime<Utc> = metadata
        .modified()
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| DateTime::<Utc>::from(UNIX_EPOCH));
    let etag = format!(
        "\"{:x}-{:x}\"",
        metadata.len(),
        modified.timestamp_nanos_opt().unwrap_or_default()
    );
    let fresh = match request_header(request, header::IF_NONE_MATCH) {
        Some(tags) => tags
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == etag || t == "*"),
        None => request_header(request, header::IF_MODIFIED_SINCE)
            .and_then(|since| DateTime::parse_from_rfc2822(since).ok())
            .is_some_and(|since| modified.timestamp() <= since.timestamp()),
    };
    let mut response = if fresh {
        base(StatusCode::NOT_MODIFIED, SiteBody::Bytes(None))
    } else {
        let body = if request.method() == Method::HEAD {
            SiteBody::Bytes(None)
        } else {
            SiteBody::File(opened)
        };
        let mut response = base(StatusCode::OK, body);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(file)),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(metadata.len()));
        response
    };
    let last_modified = modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&last_modified) {
        headers.insert(header::LAST_MODIFIED, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Some(response)
}
