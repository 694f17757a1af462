//! Clients of outside HTTP APIs, one file each, every base URL configurable so tests can
//! point them at local fakes. Secrets come from the environment and are only ever put in
//! request headers, never in messages.

pub mod llm;

use std::fmt;
use std::time::Duration;

/// How long to wait for a TCP connection before calling a server unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A secret from the environment; `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value obtained elsewhere (tests, a future secrets file).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Reads `name` from the environment; empty counts as unset.
    pub fn from_env(name: &str) -> Option<Secret> {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
            .map(Secret)
    }

    /// The value, for a request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything executors need to reach the outside world.
#[derive(Debug, Clone)]
pub struct Connectors {
    pub http: reqwest::Client,
    pub llm: llm::LlmConfig,
}

impl Connectors {
    /// Reads every connector's settings from the environment.
    pub fn from_env() -> Result<Connectors, reqwest::Error> {
        Ok(Connectors {
            http: reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .user_agent(concat!("backoffice/", env!("CARGO_PKG_VERSION")))
                .build()?,
            llm: llm::LlmConfig::from_env(),
        })
    }
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

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret("sk-very-secret".into());
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }
}
