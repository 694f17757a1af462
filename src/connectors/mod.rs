//! Clients of outside HTTP APIs, one file each, every base URL configurable so tests can
//! point them at local fakes. Secrets come from the environment and are only ever put in
//! request headers; whatever a server sends back is scrubbed of them ([`secret::scrub`]).

pub mod call;
pub mod gmail;
pub mod langgraph;
pub mod llm;
pub mod notion;
pub mod secret;
pub mod slack;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use secret::Secret;

use call::ApiError;

/// How long to wait for a TCP connection before calling a server unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client every connector shares, made at its first use: making it loads the
/// system's CA certificates (a megabyte of memory), which a daemon whose jobs have not
/// called out yet has no use for. Clones share one client.
#[derive(Debug, Clone, Default)]
pub struct HttpClient {
    client: Arc<OnceLock<Result<reqwest::Client, String>>>,
}

impl HttpClient {
    /// A client made beforehand, with settings of its own (tests shorten the connect timeout).
    pub fn with(client: reqwest::Client) -> HttpClient {
        HttpClient {
            client: Arc::new(OnceLock::from(Ok(client))),
        }
    }

    /// The client, or why it could not be made (the TLS library failed to start).
    pub fn get(&self) -> Result<&reqwest::Client, ApiError> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .user_agent(concat!("backoffice/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|error| call::describe(&error))
            })
            .as_ref()
            .map_err(|error| ApiError::permanent(format!("cannot set up HTTPS: {error}")))
    }
}

/// Everything executors need to reach the outside world.
#[derive(Debug, Clone)]
pub struct Connectors {
    pub http: HttpClient,
    pub llm: llm::LlmConfig,
    pub notion: notion::NotionConfig,
    pub slack: slack::SlackConfig,
    pub gmail: gmail::GmailConfig,
    pub langgraph: langgraph::LangGraphConfig,
}

impl Connectors {
    /// Reads every connector's settings from the environment.
    pub fn from_env() -> Connectors {
        Connectors {
            http: HttpClient::default(),
            llm: llm::LlmConfig::from_env(),
            notion: notion::NotionConfig::from_env(),
            slack: slack::SlackConfig::from_env(),
            gmail: gmail::GmailConfig::from_env(),
            langgraph: langgraph::LangGraphConfig::from_env(),
        }
    }
}

/// A base URL from `variable` (tests point it at a fake), else `default`; no trailing slash.
pub(crate) fn base_url_from_env(variable: &str, default: &str) -> String {
    std::env::var(variable)
        .ok()
        .map(|url| url.trim().trim_end_matches('/').to_string())
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// A URL with any user name, password or token replaced, fit for messages and pages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// A response's body as text, scrubbed of every known secret: the one way connectors read
/// what a server answers, so an echoed key never reaches an error, a result or a log.
///
/// At most [`MAX_BODY`] bytes are read: a broken or hostile server cannot fill the memory;
/// a longer answer is cut there (and then fails to parse, with a clear error).
pub(crate) async fn read_body(mut response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY.saturating_sub(bytes.len());
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= MAX_BODY {
            break;
        }
    }
    Ok(secret::scrub_owned(
        String::from_utf8_lossy(&bytes).into_owned(),
    ))
}

/// The largest answer read from any server: far above any page, mail list or graph state
/// we ask for.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// At most `limit` characters of a server's answer, for an error message.
pub(crate) fn excerpt(text: &str, limit: usize) -> String {
    let trimmed = text.trim();
    if trimmed.chars().count() <= limit {
        trimmed.to_string()
    } else {
        let cut: String = trimmed.chars().take(limit).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_hidden() {
        assert_eq!(
            redact_url("https://user:tok@github.com/a/b.git"),
            "https://***@github.com/a/b.git"
        );
        assert_eq!(
            redact_url("https://github.com/a/b.git"),
            "https://github.com/a/b.git"
        );
        assert_eq!(redact_url("/srv/jobs.git"), "/srv/jobs.git");
        assert_eq!(
            redact_url("https://github.com/a/b@c.git"),
            "https://github.com/a/b@c.git"
        );
    }
}
