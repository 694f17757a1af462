//! The registry's tools over Streamable HTTP, for `serve --mcp-listen ADDR`.
//!
//! Loopback by default. DNS rebinding is what threatens a local HTTP server, so `Host` must
//! name this machine and a browser's `Origin` must be a local page (else 403, as the MCP spec
//! requires); with `BACKOFFICE_MCP_TOKEN` set, every request also needs
//! `Authorization: Bearer <token>` (else 401). rmcp does the protocol (sessions for today's
//! clients, stateless requests for 2026-07-28 ones); hyper serves it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::tools::RegistryServer;
use super::{Registry, RegistryError};

/// The environment variable holding the bearer token HTTP clients must present.
pub const TOKEN_ENV: &str = "BACKOFFICE_MCP_TOKEN";
/// The path the MCP endpoint answers on.
pub const PATH: &str = "/mcp";
/// How long open streams get to finish on shutdown.
const DRAIN: Duration = Duration::from_secs(2);

/// Why the HTTP transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen for MCP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// A running HTTP transport; [`HttpServer::stop`] ends it.
pub struct HttpServer {
    /// Where it listens (the real port when asked for port 0).
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

impl HttpServer {
    /// Binds `addr` and serves `registry`'s tools on [`PATH`] until stopped. `token`, when
    /// given, is required as a bearer token.
    pub async fn start(
        addr: SocketAddr,
        registry: Registry,
        env_channel: Option<String>,
        token: Option<String>,
        allow_hosts: &[String],
    ) -> Result<HttpServer, HttpError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| HttpError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| HttpError::Bind { addr, source })?;
        let stop = CancellationToken::new();
        // rmcp makes a handler per request (stateless clients) or per session: clone one
        // built up front instead of generating the tool schemas again each time.
        let prototype = RegistryServer::new(registry, env_channel);
        let service = Arc::new(StreamableHttpService::new(
            move || Ok(prototype.clone()),
            LocalSessionManager::default().into(),
            config(addr, allow_hosts, stop.child_token()),
        ));
        let token = token.map(|t| Arc::new(digest(&t)));
        let task = tokio::spawn(accept_loop(listener, service, token, stop.clone()));
        Ok(HttpServer { addr, stop, task })
    }

    /// Stops accepting, ends sessions, and waits (briefly) for open connections.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(DRAIN * 2, self.task).await;
    }
}

/// Loopback hosts (and the listen address itself, when it is not loopback, and the names of
/// `--allow-host`); local origins.
fn config(
    addr: SocketAddr,
    allow_hosts: &[String],
    stop: CancellationToken,
) -> StreamableHttpServerConfig {
    let mut hosts = vec![
        "localhost".to_string(),
        "127.0.0.1".into(),
        "::1".into(),
        "[::1]".into(),
    ];
    if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
        hosts.push(addr.ip().to_string());
    }
    hosts.extend(
        allow_hosts
            .iter()
            .map(|name| name.trim().to_ascii_lowercase()),
    );
    let origins = ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .flat_map(|host| [format!("http://{host}:*"), format!("https://{host}:*")]);
    StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_cancellation_token(stop)
}

type Service = StreamableHttpService<RegistryServer, LocalSessionManager>;

async fn accept_loop(
    listener: TcpListener,
    service: Arc<Service>,
    token: Option<Arc<[u8; 32]>>,
    stop: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!("MCP HTTP accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (service, token, stop) = (service.clone(), token.clone(), stop.clone());
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |request| {
                let (service, token) = (service.clone(), token.clone());
                async move { Ok::<_, Infallible>(respond(&service, token.as_deref(), request).await) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), handler);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN, connection).await;
                }
            }
        });
    }
}

async fn respond(
    service: &Service,
    token: Option<&[u8; 32]>,
    request: Request<Incoming>,
) -> Response<BoxBody> {
    if request.uri().path() != PATH {
        return plain(StatusCode::NOT_FOUND, "not found: the MCP endpoint is /mcp");
    }
    if let Some(expected) = token
        && !authorized(&request, expected)
    {
        let mut response = plain(
            StatusCode::UNAUTHORIZED,
            "unauthorized: send Authorization: Bearer <BACKOFFICE_MCP_TOKEN>",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    service.handle(request).await
}

/// Compares digests, so the time taken says nothing about how much of the token matched.
fn authorized(request: &Request<Incoming>, expected: &[u8; 32]) -> bool {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(digest);
    presented.is_some_and(|p| {
        p.iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    })
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive
/// (RFC 9110 §11.1), so `bearer` and `BEARER` count too.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn plain(status: StatusCode, text: &'static str) -> Response<BoxBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// For `serve`: the HTTP transport over the registry of `state`, when `addr` asks for one.
/// The token comes from [`TOKEN_ENV`], the channel of new sessions from `BACKOFFICE_CHANNEL`.
pub async fn start_in(
    state: &std::path::Path,
    addr: Option<SocketAddr>,
    allow_hosts: &[String],
) -> Result<Option<HttpServer>, HttpError> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let registry = Registry::open(&super::path_in(state))?;
    let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
    let server = HttpServer::start(
        addr,
        registry,
        super::channel::from_env(),
        token.clone(),
        allow_hosts,
    )
    .await?;
    tracing::info!(
        "Context Registry over MCP at http://{}{PATH}{}",
        server.addr,
        if token.is_some() {
            " (bearer token required)"
        } else {
            ""
        }
    );
    Ok(Some(server))
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer tok", "bearer tok", "BEARER  tok ", "Bearer\ttok"] {
            assert_eq!(bearer_token(value), Some("tok"), "{value}");
        }
        for value in ["Basic tok", "Bearer", "Bearer ", "Bearertok"] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }
}
